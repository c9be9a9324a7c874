# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner and runner of the ``pull_canary`` module: ask the kubelet itself whether a pull works. Private to this collection.

Flow: validate every input (no network: :func:`plan_canary`) -> check the ServiceAccount (and the
node, with ``node_name``) exists -> ask the API server whether these credentials may create and
delete Pods in the namespace (SelfSubjectAccessReviews, ``_rbac.check_writes``; not in check mode),
so that a run that could not delete its Pods fails before creating one -> garbage-collect canary Pods an interrupted earlier run left
behind (older than ``gc_older_than``) -> one server-side dry-run create per image (admission and
validation see the real Pod before anything is written; check mode stops here) -> create one Pod
per image -> poll the Pods and their Events until the kubelet (or the scheduler) has a verdict for
each, or ``timeout`` -> diagnose each failed pull on its Pod (``_diagnose.diagnose_pod``) -> delete
every Pod of the run in a ``finally``.

Why the workload can never run (:func:`build_pod`): the container's ``command`` is ``/dev/null``.
The container runtime mounts its own ``/dev`` (a tmpfs holding device nodes) over whatever the
image has there, so ``/dev/null`` always exists and is always a character device without an
execute bit: the runtime refuses to start the process (``exec: "/dev/null": permission denied``)
whatever the image contains, and the image's entrypoint and ``CMD`` are never used because
``command`` replaces them. The image is still pulled, because the kubelet pulls an image before it
creates the container. A failing init container would not do: the kubelet starts (and pulls for)
the app container only after every init container succeeded, so the image would never be pulled.
``restartPolicy: Never`` keeps the kubelet from retrying the start, the Pod runs with a non-root
user, no privileges, no ServiceAccount token and a deadline, and ``kubernetes.io/os: linux`` is
required because the ``/dev/null`` argument only holds on Linux nodes.

The pure functions (planning, the Pod manifest, the kubelet's verdict from Pod status and Events,
the failure category, the garbage-collection choice) take data and return data and are unit-tested
without a cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import functools
import os
import re
import signal
import time

from ansible_collections.registrylink.k8s.plugins.module_utils._cluster_args import cluster_params
from ansible_collections.registrylink.k8s.plugins.module_utils._common import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, parse_duration, parse_rfc3339, utcnow,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._diagnose import event_dicts
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    ItemsFailed, KubernetesAPIError, NotFoundError, RegistryLinkError, ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import parse_image_reference, require_registry
from ansible_collections.registrylink.k8s.plugins.module_utils._kubelet_verdict import (
    CONTAINER_NAME, EVENT_GRACE, kubelet_verdict, retry_outcome, timeout_verdict,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner
from ansible_collections.registrylink.k8s.plugins.module_utils._pull_canary_category import (
    CANARY_CATEGORIES, classify_failure, compact_diagnosis,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import is_qualified_name
from ansible_collections.registrylink.k8s.plugins.module_utils._rbac import Needs, check_writes
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_args import check_registry_options

CANARY_LABEL = 'registrylink.k8s/canary'
RUN_LABEL = 'registrylink.k8s/canary-run'
IMAGE_ANNOTATION = 'registrylink.k8s/canary-image'
CANARY_SELECTOR = '%s=%s,%s=true' % (MANAGED_BY_LABEL, MANAGED_BY_VALUE, CANARY_LABEL)
GENERATE_NAME = 'registrylink-canary-'
#: The command that can never run (see the module docstring).
NEVER_RUNS_COMMAND = ['/dev/null']
OS_LABEL = 'kubernetes.io/os'
MIN_TIMEOUT, MAX_TIMEOUT = 5, 3600
#: The kubelet's own deadline is ours plus this margin, so the Pod stops itself if this task dies.
DEADLINE_MARGIN = 60
POLL_INTERVAL = 0.5
RESOURCES = {'requests': {'cpu': '1m', 'memory': '4Mi'}, 'limits': {'cpu': '10m', 'memory': '16Mi'}}
TOLERATION_KEYS = ('key', 'operator', 'value', 'effect', 'tolerationSeconds')


# ---------------------------------------------------------------------------------------------
# planning (pure)
# ---------------------------------------------------------------------------------------------

class CanaryPlan(object):
    """The validated inputs of one run (no secret in it)."""

    def __init__(self, namespace, images, service_account, pull_secrets, node_name, node_selector, tolerations,
                 timeout, gc_older_than):
        self.namespace = namespace
        self.images = images
        self.service_account = service_account
        self.pull_secrets = pull_secrets
        self.node_name = node_name
        self.node_selector = node_selector
        self.tolerations = tolerations
        self.timeout = timeout
        self.gc_older_than = gc_older_than


def _dns_label(value, field):
    if not isinstance(value, str) or not re.match(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', value) or len(value) > 63:
        raise ValidationError('%s: %r is not a valid name (lowercase letters, digits and -, at most 63 characters)'
                              % (field, value), field=field)


def _dns_subdomain(value, field):
    if not isinstance(value, str) or len(value) > 253 or not re.match(
            r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', value):
        raise ValidationError('%s: %r is not a valid name (a lowercase DNS subdomain, at most 253 characters)'
                              % (field, value), field=field)


_LABEL_VALUE_RE = re.compile(r'^(?=.{0,63}\Z)(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z')


def _validate_tolerations(tolerations):
    out = []
    for index, tol in enumerate(tolerations or []):
        field = 'tolerations[%d]' % index
        if not isinstance(tol, dict):
            raise ValidationError('%s: expected a dictionary with key, operator, value, effect, tolerationSeconds'
                                  % field, field='tolerations')
        unknown = sorted(set(tol) - set(TOLERATION_KEYS))
        if unknown:
            raise ValidationError('%s: unknown key(s) %s; a toleration has %s' % (
                field, ', '.join(unknown), ', '.join(TOLERATION_KEYS)), field='tolerations')
        operator = tol.get('operator') or 'Equal'
        if operator not in ('Equal', 'Exists'):
            raise ValidationError('%s: operator must be Equal or Exists, got %r' % (field, operator),
                                  field='tolerations')
        if operator == 'Exists' and tol.get('value'):
            raise ValidationError('%s: operator Exists takes no value' % field, field='tolerations')
        if tol.get('effect') not in (None, '', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'):
            raise ValidationError('%s: effect must be NoSchedule, PreferNoSchedule or NoExecute, got %r'
                                  % (field, tol.get('effect')), field='tolerations')
        if tol.get('key') and not is_qualified_name(tol['key']):
            raise ValidationError('%s: %r is not a valid taint key' % (field, tol['key']), field='tolerations')
        if not tol.get('key') and operator != 'Exists':
            raise ValidationError('%s: without a key the operator must be Exists (tolerates every taint)' % field,
                                  field='tolerations')
        value = tol.get('value')
        if value not in (None, '') and (not isinstance(value, str) or not _LABEL_VALUE_RE.match(value)):
            raise ValidationError('%s: value %r is not a valid taint value (at most 63 letters, digits, -, _ and .,'
                                  ' starting and ending with a letter or digit)' % (field, value), field='tolerations')
        if tol.get('tolerationSeconds') is not None:
            if tol.get('effect') != 'NoExecute':
                raise ValidationError('%s: tolerationSeconds only applies to effect NoExecute' % field,
                                      field='tolerations')
            try:
                seconds = int(tol['tolerationSeconds'])
            except (TypeError, ValueError):
                raise ValidationError('%s: tolerationSeconds must be an integer' % field, field='tolerations')
            if not -2 ** 63 <= seconds < 2 ** 63:
                raise ValidationError('%s: tolerationSeconds %d is out of range (a 64-bit integer)' % (field, seconds),
                                      field='tolerations')
            tol = dict(tol, tolerationSeconds=seconds)
        out.append(dict((k, v) for k, v in tol.items() if v not in (None, '')))
    return out


def plan_canary(params):
    """Validate the module parameters before any request; returns a :class:`CanaryPlan`.

    :param params: the module's params (``namespace``, ``image`` (str or list), ``service_account``,
        ``pull_secrets``, ``node_name``, ``node_selector``, ``tolerations``, ``timeout``, ``gc_older_than``).
    :raises ValidationError: naming the option and what a valid value looks like.
    """
    namespace = params.get('namespace')
    if not namespace:
        raise ValidationError('namespace: required, the namespace the canary Pods run in', field='namespace')
    _dns_label(namespace, 'namespace')
    raw_images = params.get('image')
    if isinstance(raw_images, str):
        raw_images = [raw_images]
    if not raw_images:
        raise ValidationError('image: give at least one image reference, for example registry.example.com/team/app:1.0',
                              field='image')
    images = []
    for index, image in enumerate(raw_images):
        field = 'image[%d]' % index
        require_registry(parse_image_reference(image, field=field), field=field)
        if image not in images:
            images.append(image)
    service_account = params.get('service_account') or 'default'
    _dns_subdomain(service_account, 'service_account')
    pull_secrets = None
    if params.get('pull_secrets') is not None:
        pull_secrets = []
        for index, name in enumerate(params['pull_secrets']):
            if isinstance(name, dict) and set(name) == set(['name']):
                name = name['name']
            if isinstance(name, dict):
                raise ValidationError('pull_secrets[%d]: a pull secret reference is a name (or {name: ...}); it names a'
                                      ' Secret in the canary\'s own namespace' % index, field='pull_secrets')
            _dns_subdomain(name, 'pull_secrets[%d]' % index)
            if name not in pull_secrets:
                pull_secrets.append(name)
        if not pull_secrets:
            raise ValidationError('pull_secrets: an empty list would test nothing; leave it unset to use the'
                                  ' ServiceAccount\'s image pull secrets', field='pull_secrets')
    node_name = params.get('node_name') or None
    if node_name is not None:
        _dns_subdomain(node_name, 'node_name')
    node_selector = {}
    for key, value in (params.get('node_selector') or {}).items():
        value = '' if value is None else value
        if not isinstance(value, str):
            raise ValidationError('node_selector: the value of %s must be a string (quote numbers and booleans), got %r'
                                  % (key, value), field='node_selector')
        if not is_qualified_name(key) or not _LABEL_VALUE_RE.match(value):
            raise ValidationError('node_selector: %s=%s is not a valid label' % (key, value), field='node_selector')
        node_selector[key] = value
    if node_selector.get(OS_LABEL, 'linux') != 'linux':
        raise ValidationError('node_selector: the canary only runs on Linux nodes (%s=linux); its guarantee that the'
                              ' image never runs relies on the Linux container runtime' % OS_LABEL,
                              field='node_selector')
    node_selector[OS_LABEL] = 'linux'
    tolerations = _validate_tolerations(params.get('tolerations'))
    timeout = params.get('timeout')
    timeout = 120 if timeout is None else timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise ValidationError('timeout: seconds to wait for the kubelet, between %d and %d, got %r' % (
            MIN_TIMEOUT, MAX_TIMEOUT, timeout), field='timeout')
    registry_timeout = params.get('registry_timeout')
    if registry_timeout is not None and (isinstance(registry_timeout, bool) or not isinstance(registry_timeout, int)
                                         or not 1 <= registry_timeout <= MAX_TIMEOUT):
        raise ValidationError('registry_timeout: seconds for each connect and read of the diagnosis probe, between 1'
                              ' and %d, got %r' % (MAX_TIMEOUT, registry_timeout), field='registry_timeout')
    gc_older_than = parse_duration(params.get('gc_older_than') or '15m', field='gc_older_than')
    if gc_older_than < timeout + DEADLINE_MARGIN:
        raise ValidationError('gc_older_than: must be at least timeout + %d seconds (%d s), or a canary of a run still'
                              ' in progress could be deleted; got %d s' % (
                                  DEADLINE_MARGIN, timeout + DEADLINE_MARGIN, gc_older_than), field='gc_older_than')
    check_registry_options(params, timeout_field='registry_timeout')
    return CanaryPlan(namespace, images, service_account, pull_secrets, node_name, node_selector, tolerations,
                      timeout, gc_older_than)


def build_pod(plan, image, run_id):
    """The canary Pod for ``image`` (a dict for ``create_namespaced_pod``); see the module docstring.

    ``imagePullPolicy: Always`` so that an image already on the node cannot pass for working
    credentials; ``command: [/dev/null]`` so that the image never runs.
    """
    spec = {
        'restartPolicy': 'Never',
        'activeDeadlineSeconds': plan.timeout + DEADLINE_MARGIN,
        'terminationGracePeriodSeconds': 0,
        'serviceAccountName': plan.service_account,
        'automountServiceAccountToken': False,
        'enableServiceLinks': False,
        'nodeSelector': dict(plan.node_selector),
        'securityContext': {'runAsNonRoot': True, 'runAsUser': 65534, 'runAsGroup': 65534,
                            'seccompProfile': {'type': 'RuntimeDefault'}},
        'containers': [{
            'name': CONTAINER_NAME,
            'image': image,
            'imagePullPolicy': 'Always',
            'command': list(NEVER_RUNS_COMMAND),
            'resources': {'requests': dict(RESOURCES['requests']), 'limits': dict(RESOURCES['limits'])},
            'securityContext': {'allowPrivilegeEscalation': False, 'privileged': False,
                                'readOnlyRootFilesystem': True, 'capabilities': {'drop': ['ALL']}},
        }],
    }
    if plan.pull_secrets is not None:
        spec['imagePullSecrets'] = [{'name': name} for name in plan.pull_secrets]
    if plan.node_name:
        spec['nodeName'] = plan.node_name
    if plan.tolerations:
        spec['tolerations'] = [dict(t) for t in plan.tolerations]
    return {
        'apiVersion': 'v1',
        'kind': 'Pod',
        'metadata': {
            'generateName': GENERATE_NAME,
            'namespace': plan.namespace,
            'labels': {MANAGED_BY_LABEL: MANAGED_BY_VALUE, CANARY_LABEL: 'true', RUN_LABEL: run_id},
            'annotations': {IMAGE_ANNOTATION: image},
        },
        'spec': spec,
    }


# ---------------------------------------------------------------------------------------------
# garbage collection and results (pure)
# ---------------------------------------------------------------------------------------------

def gc_candidates(pods, now, older_than):
    """Canary Pods of earlier runs to delete: ours (both labels) and created more than ``older_than`` seconds
    before ``now`` (an aware datetime), and more than the Pod's own ``activeDeadlineSeconds`` (its run's
    ``timeout`` + 60): a run with a longer ``timeout`` than this one's ``gc_older_than`` may still be waiting
    for it. Returns ``[{"name", "run", "image", "age_seconds"}]``."""
    out = []
    for pod in pods or []:
        meta = pod.get('metadata') or {}
        labels = meta.get('labels') or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or labels.get(CANARY_LABEL) != 'true':
            continue
        created = parse_rfc3339(meta.get('creationTimestamp'))
        if created is None:
            continue
        age = (now - created).total_seconds()
        own_deadline = (pod.get('spec') or {}).get('activeDeadlineSeconds')
        if not isinstance(own_deadline, int) or isinstance(own_deadline, bool):
            own_deadline = 0
        if age > max(older_than, own_deadline):
            out.append({'name': meta.get('name'), 'run': labels.get(RUN_LABEL),
                        'image': (meta.get('annotations') or {}).get(IMAGE_ANNOTATION), 'age_seconds': int(age)})
    out.sort(key=lambda p: p['name'] or '')
    return out


def summarize(results):
    """Counts per verdict, plus ``images``."""
    summary = {'images': len(results)}
    for r in results:
        summary[r['verdict']] = summary.get(r['verdict'], 0) + 1
    return summary


def table(results):
    """Fixed-width lines, one per image, for the verify role's per-cluster table."""
    lines = ['%-50s %-14s %-20s %-8s %s' % ('IMAGE (canary Pod)', 'VERDICT', 'CATEGORY', 'SECONDS', 'NODE')]
    for r in results:
        seconds = '-' if r.get('pull_seconds') is None else '%.2f' % r['pull_seconds']
        lines.append('%-50s %-14s %-20s %-8s %s' % (r['image'], r['verdict'], r.get('category') or '-', seconds,
                                                    r.get('node') or '-'))
    return lines


# ---------------------------------------------------------------------------------------------
# runner
# ---------------------------------------------------------------------------------------------

def _registry_conn(params):
    return dict(ca_path=params.get('registry_ca_path'),
                validate_certs=params.get('registry_validate_certs', True) is not False,
                timeout=params.get('registry_timeout') or 10,
                allow_insecure_http=bool(params.get('allow_insecure_http')),
                allow_cross_host_realm=bool(params.get('allow_cross_host_realm')))


#: Signals that end a run (``ansible-playbook`` stopped with SIGTERM, a closed terminal): the default action
#: kills the process without running ``finally`` blocks, which would leave the canary Pods behind.
TERMINATION_SIGNALS = ('SIGTERM', 'SIGHUP')


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)


def _exit_on_termination():
    """Turn the termination signals into ``SystemExit`` while Pods exist, so that the cleanup runs; returns the
    previous handlers for :func:`_restore_handlers` (none when not in the main thread)."""
    previous = {}
    for name in TERMINATION_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            previous[signum] = signal.signal(signum, _terminate)
        except ValueError:  # not the main thread: signals cannot be handled here
            break
    return previous


def _restore_handlers(previous):
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


class PullCanaryRunner(Runner):
    """Runs one ``pull_canary`` task. ``run()`` returns the result dict; it raises ``ItemsFailed``
    (with the whole result) when the canary Pods could not all be deleted, or with
    ``fail_on_error`` when an image did not pull. ``kube_client``, ``diagnose``, ``clock``,
    ``sleep`` and ``now`` may be injected by tests."""

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, kube_client=None,
                 diagnose=None, clock=time.monotonic, sleep=time.sleep, now=utcnow, poll_interval=POLL_INTERVAL):
        super(PullCanaryRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self._kube = kube_client
        self._diagnose = diagnose
        self.clock = clock
        self.sleep = sleep
        self.now = now
        self.poll_interval = poll_interval
        self.warnings = []
        self.run_id = binascii.hexlify(os.urandom(5)).decode('ascii')

    @property
    def kube(self):
        if self._kube is None:
            from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import KubeClient
            self._kube = KubeClient.from_params(cluster_params(self.params))
        return self._kube

    # -- reads -----------------------------------------------------------------------------

    def _find(self, resource, method, namespace, name):
        page = self.kube.call('list', resource, functools.partial(method, field_selector='metadata.name=%s' % name),
                              namespace=namespace) or {}
        items = page.get('items') or []
        return items[0] if items else None

    def _preflight(self, plan):
        core = self.kube.core
        sa = self._find('serviceaccounts', core.list_namespaced_service_account, plan.namespace,
                        plan.service_account)
        if sa is None:
            try:
                self.kube.call('get', 'namespaces', core.read_namespace, name=plan.namespace)
            except NotFoundError:
                raise ValidationError('namespace: namespace %s does not exist' % plan.namespace, field='namespace')
            except KubernetesAPIError:
                pass  # not allowed to read namespaces: the ServiceAccount message below still holds
            raise ValidationError('service_account: ServiceAccount %s does not exist in namespace %s; create it or name'
                                  ' another (the API server refuses Pods of a missing ServiceAccount)'
                                  % (plan.service_account, plan.namespace), field='service_account')
        if plan.node_name:
            try:
                self.kube.call('get', 'nodes', core.read_node, name=plan.node_name)
            except NotFoundError:
                raise ValidationError('node_name: node %s does not exist' % plan.node_name, field='node_name')
            except KubernetesAPIError as exc:
                if exc.status != 403:
                    raise
                self.warnings.append('cannot read node %s (%s); a missing node shows as a timeout'
                                     % (plan.node_name, exc.reason))
        return sa

    def _list_canaries(self, namespace, selector):
        return self.kube.list_all('pods', functools.partial(self.kube.core.list_namespaced_pod, label_selector=selector),
                                  namespace=namespace)

    def _events(self, namespace, name, uid):
        try:
            items = self.kube.list_all('events', functools.partial(
                self.kube.core.list_namespaced_event,
                field_selector='involvedObject.kind=Pod,involvedObject.name=%s' % name), namespace=namespace)
        except KubernetesAPIError as exc:
            if exc.status != 403:
                raise
            if not any('cannot list events' in w for w in self.warnings):
                self.warnings.append('cannot list events in %s: the pull time and the kubelet\'s full message come'
                                     ' from Events; only Pod status is used' % namespace)
            return []
        return event_dicts(items, uid)

    # -- writes ----------------------------------------------------------------------------

    def _delete(self, namespace, name):
        try:
            self.kube.call('delete', 'pods', self.kube.core.delete_namespaced_pod, namespace=namespace, name=name,
                           grace_period_seconds=0, propagation_policy='Background')
        except NotFoundError:
            pass

    def _garbage_collect(self, plan):
        pods = self._list_canaries(plan.namespace, CANARY_SELECTOR)
        stale = gc_candidates(pods, self.now(), plan.gc_older_than)
        for item in stale:
            if not self.check_mode:
                self._delete(plan.namespace, item['name'])
        return stale

    def _dry_run(self, plan, manifest):
        return self.kube.call('create', 'pods', self.kube.core.create_namespaced_pod, namespace=plan.namespace,
                              body=manifest, dry_run='All')

    def _admission_error(self, exc, plan):
        """A create error that concerns the whole task (raised) rather than one image (returned text)."""
        if isinstance(exc, NotFoundError):
            return ValidationError('namespace: namespace %s does not exist' % plan.namespace, field='namespace')
        if exc.status in (401, 0) or (exc.status == 403 and 'cannot create resource' in exc.msg):
            return exc
        return None

    # -- the run ---------------------------------------------------------------------------

    def run(self):
        """Plan, dry-run, create the canary Pods, watch the kubelet, diagnose, delete; returns the result."""
        result = self._canary()
        for warning in result.pop('warnings'):
            self.warn(warning)
        if result['cleanup_failed'] or (self.params.get('fail_on_error') and not result['ok']):
            details = dict((k, v) for k, v in result.items() if k != 'msg')
            raise ItemsFailed(result['msg'] or 'pull canary failed', **details)
        return result

    def _canary(self):
        plan = plan_canary(self.params)
        sa = self._preflight(plan)
        if plan.pull_secrets is None and not (sa.get('imagePullSecrets') or []):
            self.warnings.append('ServiceAccount %s/%s lists no image pull secrets: the canary pulls anonymously'
                                 % (plan.namespace, plan.service_account))
        if not self.check_mode:
            # a run that may create its Pods but not delete them would leave them behind: both are
            # checked before the first write (the leftovers' deletion below is one)
            needs = Needs()
            needs.add('create', 'pods', plan.namespace)
            needs.add('delete', 'pods', plan.namespace)
            check_writes(self.kube, needs, 'pull_canary', warn=self.warnings.append)
        garbage = self._garbage_collect(plan)
        results = []
        manifests = []
        for image in plan.images:
            manifest = build_pod(plan, image, self.run_id)
            item = self._new_result(image, manifest)
            try:
                self._dry_run(plan, manifest)
            except KubernetesAPIError as exc:
                fatal = self._admission_error(exc, plan)
                if fatal is not None:
                    raise fatal
                item.update(verdict='pod_rejected', pulled=False, kubelet_message=exc.msg)
                item['category'], item['hint'] = 'pod_rejected', CANARY_CATEGORIES['pod_rejected']
            results.append(item)
            manifests.append(manifest)
        if self.check_mode:
            for item, manifest in zip(results, manifests):
                if item['verdict'] is None:
                    item['verdict'] = 'would_run'
                    item['manifest'] = manifest
        else:
            self._run_pods(plan, results, manifests)
        return self._result(plan, results, garbage)

    def _new_result(self, image, manifest):
        return {'image': image, 'verdict': None, 'pod': None, 'node': None, 'pulled': None, 'pull_seconds': None,
                'kubelet_message': None, 'kubelet_reason': None, 'scheduler_message': None, 'category': None,
                'hint': None, 'diagnosis': None, 'events': [], 'elapsed_seconds': None, 'deleted': None,
                'image_id': None, 'container_start': None, 'workload_started': False,
                'missing_pull_secrets_event': None, 'first_attempt': None, 'kubelet_retried': False,
                'pull_secrets': [s['name'] for s in manifest['spec'].get('imagePullSecrets') or []] or None}

    def _run_pods(self, plan, results, manifests):
        created = {}
        started = self.clock()
        previous = _exit_on_termination()
        try:
            for item, manifest in zip(results, manifests):
                if item['verdict'] is not None:
                    continue
                try:
                    pod = self.kube.call('create', 'pods', self.kube.core.create_namespaced_pod,
                                         namespace=plan.namespace, body=manifest) or {}
                except KubernetesAPIError as exc:
                    fatal = self._admission_error(exc, plan)
                    if fatal is not None:
                        raise fatal
                    item.update(verdict='pod_rejected', pulled=False, kubelet_message=exc.msg,
                                category='pod_rejected', hint=CANARY_CATEGORIES['pod_rejected'])
                    continue
                meta = pod.get('metadata') or {}
                item['pod'] = meta.get('name')
                created[meta.get('name')] = (item, meta.get('uid'), self.clock())
            self._wait(plan, created, started)
            for name, (item, uid, _t) in created.items():
                if item['verdict'] == 'pull_failed':
                    self._diagnose_item(plan, item)
                elif item['category'] is None and item['verdict'] != 'pulled':
                    item['category'], item['hint'] = classify_failure(item, None)
            self._await_retries(plan, created, started + plan.timeout)
        finally:
            try:
                self._cleanup(plan, created)
            finally:
                _restore_handlers(previous)

    def _wait(self, plan, created, started):
        deadline = started + plan.timeout
        pending = dict((name, None) for name in created)  # name -> clock when a verdict first appeared
        last = {}
        while pending:
            pods = dict(((p.get('metadata') or {}).get('name'), p) for p in self._list_canaries(
                plan.namespace, '%s=%s' % (RUN_LABEL, self.run_id)))
            now = self.clock()
            for name in list(pending):
                item, uid, t0 = created[name]
                pod = pods.get(name)
                events = self._events(plan.namespace, name, uid) if pod is not None else []
                last[name] = (pod, events)
                first_seen = pending[name]
                verdict = kubelet_verdict(pod, events)
                if verdict is None:
                    continue
                grace = verdict.get('grace', EVENT_GRACE)
                if first_seen is not None and now - first_seen >= grace or now >= deadline:
                    verdict = kubelet_verdict(pod, events, settled=True)
                if not verdict['complete']:
                    if first_seen is None:
                        pending[name] = now
                    continue
                self._apply_verdict(item, verdict, events, now - t0)
                del pending[name]
            if not pending:
                break
            if self.clock() >= deadline:
                for name in list(pending):
                    item, uid, t0 = created[name]
                    pod, events = last.get(name, (None, []))
                    self._apply_verdict(item, timeout_verdict(pod, events, plan.timeout), events, self.clock() - t0)
                    del pending[name]
                break
            self.sleep(self.poll_interval)

    def _await_retries(self, plan, created, deadline):
        """A failure the diagnosis cannot explain (the same credentials work from here) may be transient:
        wait, within ``timeout``, for the kubelet's own retry, and believe the retry."""
        pending = [name for name, (item, _uid, _t) in created.items()
                   if item['verdict'] == 'pull_failed' and item['category'] == 'node_pull_failed']
        while pending and self.clock() < deadline:
            self.sleep(self.poll_interval)
            pods = dict(((p.get('metadata') or {}).get('name'), p) for p in self._list_canaries(
                plan.namespace, '%s=%s' % (RUN_LABEL, self.run_id)))
            for name in list(pending):
                item, uid, t0 = created[name]
                pod = pods.get(name)
                if pod is None:  # deleted by someone else: nothing more to learn
                    pending.remove(name)
                    continue
                events = self._events(plan.namespace, name, uid)
                outcome = retry_outcome(events)
                if outcome == 'pulled':
                    verdict = kubelet_verdict(pod, events)
                    if verdict is None or verdict['verdict'] != 'pulled' or (
                            not verdict['complete'] and self.clock() < deadline):
                        continue
                    first = {'kubelet_message': item['kubelet_message'], 'category': item['category'],
                             'hint': item['hint'], 'diagnosis': item['diagnosis']}
                    self._apply_verdict(item, verdict, events, self.clock() - t0)
                    item.update(category=None, hint=None, diagnosis=None, first_attempt=first)
                    self.warnings.append('the kubelet\'s first pull of %s failed (%s) and its retry succeeded: a'
                                         ' transient problem on the node' % (item['image'], (
                                             first['kubelet_message'] or '')[:300]))
                    pending.remove(name)
                elif outcome == 'failed_again':
                    item['kubelet_retried'] = True
                    pending.remove(name)

    def _apply_verdict(self, item, verdict, events, elapsed):
        for key in ('verdict', 'node', 'pulled', 'pull_seconds', 'kubelet_message', 'kubelet_reason',
                    'scheduler_message', 'image_id', 'container_start'):
            item[key] = verdict.get(key)
        item['missing_pull_secrets_event'] = verdict.get('missing_pull_secrets_event')
        item['workload_started'] = verdict.get('workload_started', False)
        item['elapsed_seconds'] = round(max(elapsed, 0.0), 2)
        item['events'] = [{'type': e['type'], 'reason': e['reason'], 'message': (e.get('message') or '')[:1000],
                           'count': e['count']} for e in events]
        if item['workload_started']:
            self.warnings.append('the canary container for %s started, which must never happen; report this'
                                 % item['image'])

    def _diagnose_item(self, plan, item):
        diagnosis = None
        if self.params.get('diagnose', True):
            try:
                diag = self._run_diagnosis(plan, item['pod'])
                diagnosis = compact_diagnosis(diag)
                for warning in diag.get('warnings') or []:
                    if warning not in self.warnings:
                        self.warnings.append(warning)
            except RegistryLinkError as exc:
                self.warnings.append('diagnosis of %s failed: %s' % (item['image'], exc.msg))
        item['diagnosis'] = diagnosis
        item['category'], item['hint'] = classify_failure(item, diagnosis)

    def _run_diagnosis(self, plan, pod_name):
        diagnose = self._diagnose
        if diagnose is None:
            from ansible_collections.registrylink.k8s.plugins.module_utils._diagnose import diagnose_pod
            diagnose = diagnose_pod
        params = dict(cluster_params(self.params), pod={'namespace': plan.namespace, 'name': pod_name})
        return diagnose(params, _registry_conn(self.params), register_secret=self.register_secret,
                        kube_client=self.kube)

    def _cleanup(self, plan, created):
        """Delete every Pod this run created, then read back that none is left."""
        errors = []
        for name, (item, _uid, _t) in created.items():
            try:
                self._delete(plan.namespace, name)
                item['deleted'] = True
            except RegistryLinkError as exc:
                item['deleted'] = False
                errors.append('%s: %s' % (name, exc.msg))
        if not created:
            return
        try:
            left = [(p.get('metadata') or {}).get('name') for p in self._list_canaries(
                plan.namespace, '%s=%s' % (RUN_LABEL, self.run_id))]
        except RegistryLinkError as exc:
            left = []
            errors.append('cannot read back the canary Pods: %s' % exc.msg)
        for name in left:
            if name in created:
                created[name][0]['deleted'] = False
        if errors or left:
            self.cleanup_error = ('canary Pod(s) may be left in namespace %s (label %s=%s): %s; the next run deletes'
                                  ' them once older than gc_older_than' % (
                                      plan.namespace, RUN_LABEL, self.run_id,
                                      '; '.join(errors + ['%s still exists' % n for n in left])))

    cleanup_error = None

    def _result(self, plan, results, garbage):
        summary = summarize(results)
        not_pulled = [r for r in results if r['verdict'] not in ('pulled', 'would_run')]
        ok = not not_pulled and not self.cleanup_error
        msg = None
        if not_pulled:
            msg = '%d of %d image(s) did not pull on the cluster: %s' % (
                len(not_pulled), len(results), ', '.join('%s (%s)' % (r['image'], r['category']) for r in not_pulled))
        if self.cleanup_error:
            msg = '%s%s' % (msg + '; ' if msg else '', self.cleanup_error)
        first = not_pulled[0] if not_pulled else None
        return {
            'changed': bool(garbage),
            'ok': ok,
            'msg': msg,
            'category': first['category'] if first else None,
            'hint': ('%s: %s' % (first['image'], first['hint'])) if first else None,
            'results': results,
            'summary': summary,
            'garbage_collected': garbage,
            'run_id': self.run_id,
            'namespace': plan.namespace,
            'cleanup_failed': bool(self.cleanup_error),
            'table': table(results),
            'warnings': list(self.warnings),
        }
