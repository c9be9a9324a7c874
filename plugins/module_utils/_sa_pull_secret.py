# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner and runner of the sa_pull_secret module. Private to this collection.

Flow: validate every input (no network) -> resolve the namespace selection (1 LIST) ->
LIST ServiceAccounts across namespaces (1 LIST) -> when needed, LIST Secret names (metadata
only: 1 LIST per requested name with a field selector, or 1 LIST of all when pruning) ->
LIST unfinished pods (1 LIST, for stuck-pod detection; ``_k8s.UNFINISHED_PODS``) -> plan per ServiceAccount (pure:
:func:`plan_service_account`) -> apply with bounded concurrency, each write a
read-modify-write of the whole object with its ``resourceVersion`` (a 409 re-reads that one
ServiceAccount and re-plans) -> restart stuck pods owned by a controller, when asked.

The number of requests of a no-op run does not depend on the number of namespaces or
ServiceAccounts. ``imagePullSecrets`` is never merge-patched: the API replaces the whole
list on a patch (ServiceAccount patch replaces the list).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import fnmatch
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._bulk import (
    run_bounded, summarize, write_outcome, write_report,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._common import MANAGED_BY_LABEL, MANAGED_BY_VALUE, is_glob
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    ConflictError,
    ItemsFailed,
    NotFoundError,
    ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._imagepullsecrets import (
    entry_names,
    merge_pull_secrets,
    normalize_names,
    platform_patterns,
    validate_platform_patterns,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import UNFINISHED_PODS, KubeClient, retry_on_conflict
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner
from ansible_collections.registrylink.k8s.plugins.module_utils._rbac import Needs, check_writes
from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import (
    NamespaceScope,
    is_qualified_name,
    parse_label_selector,
    require_literal_namespaces,
    selector_matches,
    validate_selection,
)

ACTIONS = ('created', 'updated', 'unchanged', 'missing', 'failed')
STUCK_REASONS = ('ErrImagePull', 'ImagePullBackOff')
WORKLOAD_IDENTITY_ANNOTATIONS = (
    'eks.amazonaws.com/role-arn',
    'iam.gke.io/gcp-service-account',
    'azure.workload.identity/client-id',
)
# Ask for metadata only: Secret data never crosses the wire (and never sits in this process).
METADATA_ONLY_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json'
MAX_WARNED_NAMESPACES = 20

_SA_NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')


class Spec(object):
    """The validated task: what to attach or remove, on which ServiceAccounts.

    ``names``: list of pull secret names, or None when the list is not managed (annotations only).
    ``patterns``: ServiceAccount names and globs; ``selector``: parsed label requirements.
    ``annotations``: dict (state=present: values to set; state=absent: a value, or None for any value).
    """

    def __init__(self, **kwargs):
        self.names = kwargs.get('names')
        self.patterns = kwargs.get('patterns') or []
        self.selector = kwargs.get('selector') or []
        self.state = kwargs.get('state', 'present')
        self.purge = bool(kwargs.get('purge'))
        self.annotations = kwargs.get('annotations') or {}
        self.prune_missing = bool(kwargs.get('prune_missing'))
        self.create = bool(kwargs.get('create'))
        self.restart = bool(kwargs.get('restart'))
        self.on_missing_secret = kwargs.get('on_missing_secret') or 'warn'
        self.platform = list(kwargs.get('platform') or [])

    @property
    def literal_names(self):
        return [p for p in self.patterns if not is_glob(p)]

    def matches(self, sa_name, labels):
        """True when a ServiceAccount with this name and labels is in scope."""
        if not any(p == sa_name if not is_glob(p) else fnmatch.fnmatchcase(sa_name, p) for p in self.patterns):
            return False
        return selector_matches(self.selector, labels or {})


def validate_params(params):
    """Validate the module's parameters without any network access (pure).

    :returns: a :class:`Spec`.
    :raises ValidationError: naming the field and the fix.
    """
    state = params.get('state') or 'present'
    if state not in ('present', 'absent'):
        raise ValidationError('state must be present or absent, got %r' % (state,), field='state')
    validate_selection(params.get('namespaces'), params.get('namespace_selector'), params.get('exclude_namespaces'))
    if params.get('max_concurrent_writes') is not None and params['max_concurrent_writes'] < 1:
        raise ValidationError('max_concurrent_writes must be at least 1', field='max_concurrent_writes')

    raw_names = params.get('pull_secrets')
    names = normalize_names(raw_names) if raw_names is not None else None
    annotations = _validate_annotations(params.get('annotations'), state)
    if names is None and not annotations:
        raise ValidationError(
            'pull_secrets is required (the names of the image pull Secrets to %s), unless only annotations '
            'are managed' % ('attach' if state == 'present' else 'detach'), field='pull_secrets')
    purge = bool(params.get('purge'))
    if purge and state != 'present':
        raise ValidationError('purge applies to state=present only (absent already removes exactly the named '
                              'entries)', field='purge')
    if purge and not names:
        # An empty list with purge would strip every entry, other people's included, from every
        # ServiceAccount in scope: almost always an unset variable, never worth the risk.
        raise ValidationError('purge needs a non-empty pull_secrets: it makes the list exactly pull_secrets, and an '
                              'empty list would remove every entry, including ones this collection did not add',
                              field='purge')

    selector_raw = params.get('service_account_selector')
    selector = parse_label_selector(selector_raw, field='service_account_selector')
    patterns = params.get('service_accounts')
    if patterns is None:
        patterns = ['*'] if selector else ['default']
    if not patterns:
        raise ValidationError('service_accounts is empty: name at least one ServiceAccount or glob ("*" for all)',
                              field='service_accounts')
    for entry in patterns:
        if not isinstance(entry, str) or not entry:
            raise ValidationError('service_accounts: empty entry', field='service_accounts')
        if not is_glob(entry) and (len(entry) > 253 or not _SA_NAME_RE.match(entry)):
            raise ValidationError('service_accounts: %r is neither a valid ServiceAccount name (lowercase RFC 1123 '
                                  'subdomain) nor a glob' % entry, field='service_accounts')
    create = bool(params.get('create_service_accounts'))
    if create and state != 'present':
        raise ValidationError('create_service_accounts applies to state=present only', field='create_service_accounts')
    if create and selector:
        raise ValidationError('create_service_accounts cannot be combined with service_account_selector: a new '
                              'ServiceAccount has no labels to match', field='create_service_accounts')
    on_missing = params.get('on_missing_secret') or 'warn'
    if on_missing not in ('warn', 'fail', 'ignore'):
        raise ValidationError('on_missing_secret must be warn, fail or ignore', field='on_missing_secret')
    platform = validate_platform_patterns(params.get('platform_pull_secrets'))
    return Spec(names=names, patterns=list(patterns), selector=selector, state=state, purge=purge,
                annotations=annotations, prune_missing=params.get('prune_missing'), create=create,
                restart=params.get('restart_stuck_pods'), on_missing_secret=on_missing, platform=platform)


def _validate_annotations(annotations, state):
    if annotations in (None, {}):
        return {}
    if not isinstance(annotations, dict):
        raise ValidationError('annotations must be a dictionary of annotation keys to values', field='annotations')
    out = {}
    for key, value in annotations.items():
        if not is_qualified_name(key):
            raise ValidationError('annotations: %r is not a valid annotation key ([prefix/]name, name at most 63 '
                                  'characters)' % (key,), field='annotations')
        if value is None and state == 'absent':
            out[key] = None
            continue
        if not isinstance(value, str):
            raise ValidationError('annotations: the value of %r must be a string (quote it in YAML)%s'
                                  % (key, '; with state=absent use null to remove any value'
                                     if state == 'absent' else ''), field='annotations')
        out[key] = value
    return out


def merge_annotations(current, desired, state):
    """New annotations of one ServiceAccount (pure).

    present: set every desired key to its value. absent: remove a key when its current value
    equals the given one, or whatever its value when the given one is None; a key holding
    another value is kept (it is someone else's) and reported in ``kept``.
    :returns: ``(new dict, changed keys list, kept keys list)``.
    """
    current = dict(current or {})
    new = dict(current)
    changed, kept = [], []
    for key, value in sorted(desired.items()):
        if state == 'present':
            if current.get(key) != value:
                new[key] = value
                changed.append(key)
        elif key in current:
            if value is None or current[key] == value:
                del new[key]
                changed.append(key)
            else:
                kept.append(key)
    return new, changed, kept


def _view(names, annotations, managed_keys):
    view = {'image_pull_secrets': list(names)}
    if managed_keys:
        view['annotations'] = dict((k, annotations[k]) for k in sorted(managed_keys) if k in annotations)
    return view


def plan_service_account(namespace, name, sa, spec, prune=None):
    """Decide what to do with one ServiceAccount (pure).

    :param sa: the live ServiceAccount as a dict, or None when it does not exist.
    :param spec: the :class:`Spec`.
    :param prune: names of referenced Secrets that do not exist in the namespace (only used
        with ``spec.prune_missing``).
    :returns: dict ``{namespace, service_account, action (create|update|unchanged|missing), body,
        before, after, added, removed, annotations_changed, annotations_kept}``; ``body`` is the
        object to write (the one read, with ``resourceVersion``), None when nothing is written.
    """
    plan = {'namespace': namespace, 'service_account': name, 'action': None, 'body': None,
            'before': {}, 'after': {}, 'added': [], 'removed': [], 'annotations_changed': [],
            'annotations_kept': []}
    managed_keys = list(spec.annotations)
    prune = list(prune or []) if spec.prune_missing else []
    if sa is None:
        if not spec.create:
            plan['action'] = 'missing'
            return plan
        names = list(spec.names or [])
        annotations = dict(spec.annotations)
        body = {'apiVersion': 'v1', 'kind': 'ServiceAccount',
                'metadata': {'name': name, 'namespace': namespace,
                             'labels': {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}}
        if annotations:
            body['metadata']['annotations'] = annotations
        if names:
            body['imagePullSecrets'] = [{'name': n} for n in names]
        plan.update(action='create', body=body, added=names, annotations_changed=sorted(annotations),
                    after=_view(names, annotations, managed_keys))
        return plan

    meta = sa.get('metadata') or {}
    current_list = sa.get('imagePullSecrets') or []
    current_ann = meta.get('annotations') or {}
    plan['before'] = _view(entry_names(current_list), current_ann, managed_keys)
    if spec.names is not None:
        merged = merge_pull_secrets(current_list, spec.names, state=spec.state, purge=spec.purge, prune=prune,
                                    keep=platform_patterns(spec.platform, name))
    elif prune:
        merged = merge_pull_secrets(current_list, [], state='absent', prune=prune)
    else:
        merged = {'image_pull_secrets': current_list, 'changed': False, 'added': [], 'removed': []}
    new_ann, ann_changed, ann_kept = merge_annotations(current_ann, spec.annotations, spec.state)
    plan.update(added=merged['added'], removed=merged['removed'], annotations_changed=ann_changed,
                annotations_kept=ann_kept,
                after=_view(entry_names(merged['image_pull_secrets']), new_ann, managed_keys))
    if not merged['changed'] and not ann_changed:
        plan['action'] = 'unchanged'
        return plan
    body = copy.deepcopy(sa)
    body.setdefault('apiVersion', 'v1')
    body.setdefault('kind', 'ServiceAccount')
    body_meta = body.setdefault('metadata', {})
    body_meta.pop('managedFields', None)  # omitted = kept as they are by the server
    if merged['image_pull_secrets']:
        body['imagePullSecrets'] = merged['image_pull_secrets']
    else:
        body.pop('imagePullSecrets', None)
    if new_ann:
        body_meta['annotations'] = new_ann
    else:
        body_meta.pop('annotations', None)
    plan.update(action='update', body=body)
    return plan


def _pod_service_account(pod):
    spec = pod.get('spec') or {}
    return spec.get('serviceAccountName') or spec.get('serviceAccount') or 'default'


def find_stuck_pods(pods, targets):
    """Pods that wait on an image pull and lack a pull secret we attach (pure).

    A pod copies its ServiceAccount's ``imagePullSecrets`` once, at admission, and only when
    its own spec has none; a pod created before the attach keeps failing until it is recreated.

    :param pods: pod dicts (from one LIST).
    :param targets: ``{(namespace, service_account): {'attach': [names], 'before': [names the
        ServiceAccount had before this run]}}``.
    :returns: list of dicts ``{namespace, name, uid, service_account, reasons, containers,
        missing_pull_secrets, controller, restartable, restart_skipped}`` sorted by namespace/name.
        ``restartable`` is True when recreating the pod would pick up the secrets: it has a
        controller owner and its ``imagePullSecrets`` came from the ServiceAccount (they are a
        subset of what the ServiceAccount had), not from its own pod template.
    """
    stuck = []
    for pod in pods:
        meta = pod.get('metadata') or {}
        if meta.get('deletionTimestamp'):
            continue
        key = (meta.get('namespace'), _pod_service_account(pod))
        target = targets.get(key)
        if not target or not target.get('attach'):
            continue
        status = pod.get('status') or {}
        waiting = []
        for field in ('initContainerStatuses', 'containerStatuses'):
            for cs in status.get(field) or []:
                reason = (((cs.get('state') or {}).get('waiting')) or {}).get('reason')
                if reason in STUCK_REASONS:
                    waiting.append((cs.get('name'), reason))
        if not waiting:
            continue
        pod_secrets = entry_names((pod.get('spec') or {}).get('imagePullSecrets'))
        missing = [n for n in target['attach'] if n not in pod_secrets]
        if not missing:
            continue
        controller = None
        for ref in meta.get('ownerReferences') or []:
            if ref.get('controller'):
                controller = '%s/%s' % (ref.get('kind'), ref.get('name'))
                break
        skipped = None
        if controller is None:
            skipped = 'a bare pod (no controller owner) is never deleted: recreate it yourself'
        elif not set(pod_secrets) <= set(target.get('before') or []):
            skipped = ('its imagePullSecrets come from its own pod template, so a new pod would not get the '
                       "ServiceAccount's: add the secret to the template of %s" % controller)
        stuck.append({
            'namespace': meta.get('namespace'),
            'name': meta.get('name'),
            'uid': meta.get('uid'),
            'service_account': key[1],
            'reasons': sorted(set(r for _c, r in waiting)),
            'containers': sorted(set(c for c, _r in waiting if c)),
            'missing_pull_secrets': missing,
            'controller': controller,
            'restartable': skipped is None,
            'restart_skipped': skipped,
        })
    return sorted(stuck, key=lambda p: (p['namespace'], p['name']))


def missing_secret_report(attach_by_namespace, secret_names, limit_found_in=5):
    """Pull secrets referenced in a namespace where no Secret of that name exists (pull secret in another namespace, pure).

    :param attach_by_namespace: ``{namespace: [names we attach there]}``.
    :param secret_names: ``{namespace: set(existing Secret names)}`` for at least those names.
    :returns: list of ``{namespace, pull_secrets: [missing names], found_in: {name: [namespaces]}}``.
    """
    where = {}
    for ns, names in secret_names.items():
        for n in names:
            where.setdefault(n, []).append(ns)
    report = []
    for ns in sorted(attach_by_namespace):
        missing = [n for n in attach_by_namespace[ns] if n not in secret_names.get(ns, ())]
        if missing:
            report.append({'namespace': ns, 'pull_secrets': missing,
                           'found_in': dict((n, sorted(where.get(n, []))[:limit_found_in]) for n in missing)})
    return report


def metadata_lister(api_client, path):
    """A LIST function for ``KubeClient.list_all`` that asks the API server for metadata only.

    The generated API methods always overwrite the ``Accept`` header, so the request is built
    here with ``api_client.call_api``; the server answers with a ``PartialObjectMetadataList``
    (object data, e.g. Secret values, never crosses the wire), or a full list if it cannot.
    """
    def list_metadata(field_selector=None, label_selector=None, limit=None, _continue=None,
                      _preload_content=False, namespace=None, **_ignored):
        url = path
        if namespace:  # /api/v1/secrets -> /api/v1/namespaces/<namespace>/secrets
            base, _sep, resource = path.rpartition('/')
            url = '%s/namespaces/%s/%s' % (base, namespace, resource)
        query = []
        if field_selector:
            query.append(('fieldSelector', field_selector))
        if label_selector:
            query.append(('labelSelector', label_selector))
        if limit:
            query.append(('limit', limit))
        if _continue:
            query.append(('continue', _continue))
        return api_client.call_api(url, 'GET', query_params=query, header_params={'Accept': METADATA_ONLY_ACCEPT},
                                   auth_settings=['BearerToken'], _return_http_data_only=True,
                                   _preload_content=_preload_content)
    return list_metadata


def write_needs(plans, stuck):
    """The rights the planned writes need (``_rbac.Needs``): create or update (and the GET that re-reads
    after a 409) on ``serviceaccounts``, and delete on ``pods`` for the stuck pods to restart."""
    needs = Needs()
    for plan in plans:
        if plan['action'] in ('create', 'update'):
            needs.add(plan['action'], 'serviceaccounts', plan['namespace'])
            needs.add('get', 'serviceaccounts', plan['namespace'])
    for pod in stuck:
        if pod['restartable']:
            needs.add('delete', 'pods', pod['namespace'])
    return needs


class SaPullSecretRunner(Runner):
    """Apply sa_pull_secret across a namespace selection; see the module docs for the contract."""

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, kube=None):
        super(SaPullSecretRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self.kube = kube
        self.spec = None
        self._secret_names = {}
        self._prune_by_ns = {}
        self.scope = None

    # ------------------------------------------------------------------ reads
    def _list_secret_names(self, names=None):
        """Existing Secret names per namespace, metadata only. ``names``: only these (1 LIST each)."""
        kube = self.kube
        found = {}
        selectors = ['metadata.name=%s' % n for n in names] if names is not None else [None]
        lister = metadata_lister(kube.api_client, '/api/v1/secrets')
        for selector in selectors:
            kwargs = {'field_selector': selector} if selector else {}
            for item in self.scope.list('secrets', lister, lister, **kwargs):
                meta = item.get('metadata') or {}
                found.setdefault(meta.get('namespace'), set()).add(meta.get('name'))
        return found

    def _plan(self, ns, name, sa):
        return plan_service_account(ns, name, sa, self.spec, prune=self._prune_by_ns.get((ns, name)))

    def _prune_for(self, ns, sa):
        if not self.spec.prune_missing or sa is None:
            return []
        existing = self._secret_names.get(ns, set())
        return [n for n in entry_names(sa.get('imagePullSecrets')) if n not in existing]

    # ------------------------------------------------------------------ run
    def run(self):
        """Validate, plan and apply.

        :returns: the module result dict.
        :raises ValidationError: bad input, before any write.
        :raises ItemsFailed: some ServiceAccounts or pods failed; ``details`` carry the
            full result (``changed``, ``results``, ``summary``, ``stuck_pods``).
        """
        params = self.params
        spec = self.spec = validate_params(params)
        if self.kube is None:
            self.kube = KubeClient.from_params(params, pool_size=params.get('max_concurrent_writes') or 16)
        workers = params.get('max_concurrent_writes') or 16
        # reads and plans
        namespaces, by_ns = self._read_service_accounts()
        attaching = spec.state == 'present' and bool(spec.names)
        if spec.prune_missing:
            self._secret_names = self._list_secret_names()
        elif attaching:
            self._secret_names = self._list_secret_names(spec.names)
        plans = self._plans(namespaces, by_ns)
        missing_secrets = self._check_missing_secrets(plans) if attaching else []
        # Pods are listed before any write: a stuck pod is one created before this run's attach.
        stuck = self._stuck_before_writes(plans, set(namespaces)) if attaching else []
        # writes
        if not self.check_mode or self.params.get('check_rights'):
            # check_rights: a check-mode pass of a role asks too, so that the role fails before its first write
            check_writes(self.kube, write_needs(plans, stuck if spec.restart else []), 'sa_pull_secret',
                         warn=self.warn)
        results, final_plans = self._write(plans, workers)
        ok_accounts = set((r['namespace'], r['service_account']) for r in results
                          if r['action'] in ('created', 'updated', 'unchanged'))
        stuck_results = self._restart(stuck, ok_accounts, workers)
        self._warn_after(missing_secrets, final_plans, stuck_results)
        return self._final(results, final_plans, stuck_results, missing_secrets, namespaces)

    def _read_service_accounts(self):
        """The selected namespaces and their matching ServiceAccounts (one LIST)."""
        params, spec, kube = self.params, self.spec, self.kube
        scope = self.scope = NamespaceScope(kube, params.get('namespaces'), params.get('namespace_selector'),
                                            params.get('exclude_namespaces'), warn=self.warn)
        selection = scope.resolve()
        if spec.state == 'present':
            require_literal_namespaces(selection, params.get('namespaces'))
        elif selection['missing']:
            self.warn('namespaces not found (nothing to remove there): %s' % ', '.join(selection['missing']))
        namespaces = selection['selected']
        ns_set = set(namespaces)
        by_ns = {}
        for sa in scope.list('serviceaccounts', kube.core.list_service_account_for_all_namespaces,
                             kube.core.list_namespaced_service_account):
            meta = sa.get('metadata') or {}
            if meta.get('namespace') in ns_set and spec.matches(meta.get('name') or '', meta.get('labels')):
                by_ns.setdefault(meta['namespace'], {})[meta['name']] = sa
        return namespaces, by_ns

    def _plans(self, namespaces, by_ns):
        plans = []
        for ns in namespaces:
            existing = by_ns.get(ns, {})
            names = set(existing)
            for literal in self.spec.literal_names:
                names.add(literal)
            for name in sorted(names):
                sa = existing.get(name)
                self._prune_by_ns[(ns, name)] = self._prune_for(ns, sa)
                plans.append(self._plan(ns, name, sa))
        return plans

    def _check_missing_secrets(self, plans):
        """Pull secrets missing where they would be attached; fails before any write with
        ``on_missing_secret=fail``."""
        attach_by_ns = {}
        for p in plans:
            if p['action'] != 'missing':
                attach_by_ns.setdefault(p['namespace'], self.spec.names)
        missing_secrets = missing_secret_report(attach_by_ns, self._secret_names)
        if missing_secrets and self.spec.on_missing_secret == 'fail':
            raise ValidationError(
                'nothing was changed: pull secret(s) missing in %d namespace(s): %s; create them first '
                '(registrylink.k8s.registry_secret) or set on_missing_secret=warn'
                % (len(missing_secrets), _describe_missing(missing_secrets)), field='pull_secrets',
                missing_pull_secrets=missing_secrets)
        return missing_secrets

    def _stuck_before_writes(self, plans, ns_set):
        kube = self.kube
        pods = self.scope.list('pods', kube.core.list_pod_for_all_namespaces, kube.core.list_namespaced_pod,
                               field_selector=UNFINISHED_PODS)
        targets = {}
        for p in plans:
            if p['action'] != 'missing':
                targets[(p['namespace'], p['service_account'])] = {
                    'attach': list(self.spec.names), 'before': (p['before'] or {}).get('image_pull_secrets', [])}
        return find_stuck_pods([pod for pod in pods if (pod.get('metadata') or {}).get('namespace') in ns_set],
                               targets)

    def _write(self, plans, workers):
        """Apply the creates and updates (not in check mode); one result per plan."""
        outcomes = {}
        if not self.check_mode:
            to_write = [p for p in plans if p['action'] in ('create', 'update')]
            for plan, final, exc in run_bounded(self._apply, to_write, workers):
                outcomes[(plan['namespace'], plan['service_account'])] = (final, exc)
        results = []
        final_plans = []
        for plan in plans:
            final, exc = outcomes.get((plan['namespace'], plan['service_account']), (plan, None))
            final = final or plan
            final_plans.append(final)
            results.append(self._result(final, exc))
        return results, final_plans

    def _warn_after(self, missing_secrets, final_plans, stuck_results):
        for warning in _missing_warnings(missing_secrets) if self.spec.on_missing_secret != 'ignore' else []:
            if self.check_mode:
                warning += ' (check mode: a Secret that an earlier task would create is reported missing too)'
            self.warn(warning)
        kept = [(p['namespace'], p['service_account'], k) for p in final_plans for k in p['annotations_kept']]
        if kept:
            self.warn('annotations left in place because they hold another value than the one given (use null to '
                      'remove any value): %s' % ', '.join('%s/%s %s' % k for k in kept[:10])
                      + (' and %d more' % (len(kept) - 10) if len(kept) > 10 else ''))
        not_restarted = [s for s in stuck_results if s['action'] == 'reported']
        if not_restarted:
            self.warn('%d pod(s) are stuck in ErrImagePull/ImagePullBackOff without the pull secret(s) just attached '
                      '(a pod copies its ServiceAccount\'s imagePullSecrets only when it is created): %s%s'
                      % (len(not_restarted), ', '.join('%s/%s' % (s['namespace'], s['name'])
                                                       for s in not_restarted[:10]),
                         '' if self.spec.restart else '; set restart_stuck_pods=true to recreate those owned by a '
                         'controller'))

    def _final(self, results, final_plans, stuck_results, missing_secrets, namespaces):
        changed = any(r['action'] in ('created', 'updated') for r in results) or \
            any(s['action'] == 'restarted' for s in stuck_results)
        result = {
            'changed': changed,
            'results': results,
            'summary': summarize(results),
            'stuck_pods': stuck_results,
            'missing_pull_secrets': missing_secrets,
            'namespaces': namespaces,
        }
        if self.diff:
            result['diff'] = [
                {'before_header': 'serviceaccount %s/%s' % (p['namespace'], p['service_account']),
                 'after_header': 'serviceaccount %s/%s' % (p['namespace'], p['service_account']),
                 'before': p['before'], 'after': p['after']}
                for p in final_plans if p['action'] in ('create', 'update')]
        failed_sa = ['%s/%s: %s' % (r['namespace'], r['service_account'], r.get('msg')) for r in results
                     if r['action'] == 'failed']
        failed_pods = ['pod %s/%s: %s' % (s['namespace'], s['name'], s.get('msg')) for s in stuck_results
                       if s['action'] == 'failed']
        if failed_sa:
            result['write_outcomes'] = write_report(results, lambda r: '%s/%s' % (r['namespace'], r['service_account']),
                                                    ('created', 'updated'))
        if failed_sa or failed_pods:
            msg = '%d ServiceAccount(s) and %d pod(s) failed: %s' % (
                len(failed_sa), len(failed_pods), '; '.join(failed_sa + failed_pods)[:2000])
            raise ItemsFailed(msg, **result)
        return result

    # ------------------------------------------------------------------ apply
    def _apply(self, plan):
        """Write one ServiceAccount; on 409 re-read it and re-plan. :returns: the plan applied last."""
        kube = self.kube
        ns, name = plan['namespace'], plan['service_account']
        state = {'plan': plan, 'fresh': True}

        def attempt():
            if not state['fresh']:
                # Someone else wrote in between (or created it first): re-read this one object, merge again.
                try:
                    sa = kube.call('get', 'serviceaccounts', kube.core.read_namespaced_service_account,
                                   namespace=ns, name=name)
                except NotFoundError:
                    sa = None
                self._prune_by_ns[(ns, name)] = self._prune_for(ns, sa)
                state['plan'] = self._plan(ns, name, sa)
            state['fresh'] = False
            current = state['plan']
            if current['action'] == 'create':
                kube.call('create', 'serviceaccounts', kube.core.create_namespaced_service_account,
                          namespace=ns, body=current['body'])
            elif current['action'] == 'update':
                kube.call('update', 'serviceaccounts', kube.core.replace_namespaced_service_account,
                          namespace=ns, name=name, body=current['body'])
            elif current['action'] == 'missing':
                raise NotFoundError('serviceaccounts/%s in namespace %s was deleted while being updated' % (name, ns),
                                    status=404, namespace=ns, name=name)
            return current

        try:
            return retry_on_conflict(attempt)
        except Exception as exc:
            exc.last_plan = state['plan']
            raise

    def _restart(self, stuck, ok_accounts, workers):
        """Delete stuck pods owned by a controller (when asked) so they are recreated with the secrets."""
        spec = self.spec
        kube = self.kube
        for pod in stuck:
            pod['action'] = 'reported'
            if not spec.restart:
                pod['restart_skipped'] = pod['restart_skipped'] or 'restart_stuck_pods is false'
            elif pod['restartable'] and (pod['namespace'], pod['service_account']) not in ok_accounts:
                pod['restart_skipped'] = 'its ServiceAccount was not updated'
            elif pod['restartable']:
                pod['action'] = 'restarted'
        to_delete = [p for p in stuck if p['action'] == 'restarted']
        if to_delete and not self.check_mode:
            def delete(pod):
                body = {'apiVersion': 'v1', 'kind': 'DeleteOptions', 'preconditions': {'uid': pod['uid']}}
                try:
                    kube.call('delete', 'pods', kube.core.delete_namespaced_pod, namespace=pod['namespace'],
                              name=pod['name'], body=body)
                except (NotFoundError, ConflictError):
                    return False  # already gone or replaced
                return True

            for pod, deleted, exc in run_bounded(delete, to_delete, workers):
                if exc is not None:
                    pod['action'] = 'failed'
                    pod['msg'] = getattr(exc, 'msg', None) or str(exc)
                elif not deleted:
                    pod['action'] = 'reported'
                    pod['restart_skipped'] = 'the pod was already deleted or replaced'
        out = []
        for pod in stuck:
            entry = dict((k, v) for k, v in pod.items() if k not in ('uid', 'restartable'))
            if entry['action'] != 'reported' or entry.get('restart_skipped') is None:
                entry.pop('restart_skipped', None)
            out.append(entry)
        return out

    def _result(self, plan, error=None):
        mapping = {'create': 'created', 'update': 'updated', 'unchanged': 'unchanged', 'missing': 'missing'}
        if error is not None:
            plan = getattr(error, 'last_plan', None) or plan
        after = plan['after'] or plan['before'] or {}
        res = {'namespace': plan['namespace'], 'service_account': plan['service_account'],
               'action': mapping.get(plan['action'], plan['action']),
               'image_pull_secrets': list(after.get('image_pull_secrets', [])),
               'added': list(plan['added']), 'removed': list(plan['removed'])}
        if self.spec.annotations:
            res['annotations'] = dict(after.get('annotations', {}))
        if plan['action'] == 'missing':
            res['image_pull_secrets'] = []
            res['added'] = []
            res['msg'] = 'ServiceAccount not found; set create_service_accounts=true to create it'
        if error is not None:
            res['action'] = 'failed'
            res['image_pull_secrets'] = list((plan['before'] or {}).get('image_pull_secrets', []))
            res['added'] = []
            res['removed'] = []
            res['msg'] = getattr(error, 'msg', None) or str(error)
            res['write_outcome'] = write_outcome(error)
        return res


def _describe_missing(report, limit=10):
    parts = ['%s: %s' % (r['namespace'], ', '.join(r['pull_secrets'])) for r in report[:limit]]
    if len(report) > limit:
        parts.append('and %d more' % (len(report) - limit))
    return '; '.join(parts)


def _missing_warnings(report):
    """One warning per namespace (pull secret in another namespace), then one line for the rest."""
    out = []
    for r in report[:MAX_WARNED_NAMESPACES]:
        found = ['%s (found in: %s)' % (n, ', '.join(r['found_in'][n])) if r['found_in'].get(n) else n
                 for n in r['pull_secrets']]
        out.append('namespace %s: pull secret(s) %s do not exist in this namespace; an imagePullSecrets entry '
                   'only names a Secret of the pod\'s own namespace, so the kubelet will log '
                   'FailedToRetrieveImagePullSecret and pull anonymously' % (r['namespace'], ', '.join(found)))
    if len(report) > MAX_WARNED_NAMESPACES:
        out.append('pull secret(s) also missing in %d more namespace(s): %s' % (
            len(report) - MAX_WARNED_NAMESPACES,
            ', '.join(r['namespace'] for r in report[MAX_WARNED_NAMESPACES:MAX_WARNED_NAMESPACES + 30])))
    return out
