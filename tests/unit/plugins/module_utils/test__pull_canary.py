# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of pull_canary: the pure planning / verdict / category functions, and the runner against a
FAKE Kubernetes API whose fake kubelet replays status and Events shaped like the real kubelet's (v1.33).
The real kubelet runs in tests/integration/test_pull_canary.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import itertools

import pytest
from hypothesis import given, strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils import _kubelet_verdict as kv
from ansible_collections.registrylink.k8s.plugins.module_utils import _pull_canary as pc
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    KubernetesAPIError, NotFoundError, RegistryLinkError, ValidationError,
)

IMG = 'reg.example.test:5000/private/busybox:1.35'
IMG2 = 'reg.example.test:5000/private/busybox:1.36'
UNAUTHORIZED = ('Failed to pull image "%s": failed to pull and unpack image "%s": failed to resolve reference "%s":'
                ' pulling from host reg.example.test:5000 failed with status code [manifests 1.35]: 401 Unauthorized'
                % (IMG, IMG, IMG))
PULLED = 'Successfully pulled image "%s" in 215ms (215ms including waiting). Image size: 1048576 bytes.' % IMG


def params(**kw):
    out = {'namespace': 'apps', 'image': [IMG], 'service_account': 'default', 'pull_secrets': None,
           'node_name': None, 'node_selector': None, 'tolerations': None, 'timeout': 30, 'gc_older_than': '15m',
           'diagnose': True}
    out.update(kw)
    return out


# ---------------------------------------------------------------------------------------------
# plan_canary
# ---------------------------------------------------------------------------------------------

def test_plan_defaults_and_normalisation():
    plan = pc.plan_canary(params(image=IMG, timeout=None, gc_older_than=None))
    assert plan.images == [IMG]
    assert plan.timeout == 120
    assert plan.gc_older_than == 900
    assert plan.node_selector == {'kubernetes.io/os': 'linux'}
    assert plan.pull_secrets is None
    plan = pc.plan_canary(params(image=[IMG, IMG2, IMG], pull_secrets=['a', {'name': 'b'}, 'a'],
                                 node_selector={'zone': 'eu-1a'}))
    assert plan.images == [IMG, IMG2]
    assert plan.pull_secrets == ['a', 'b']
    assert plan.node_selector == {'zone': 'eu-1a', 'kubernetes.io/os': 'linux'}


@pytest.mark.parametrize('override, field', [
    ({'namespace': ''}, 'namespace'),
    ({'namespace': 'Apps'}, 'namespace'),
    ({'image': []}, 'image'),
    ({'image': ['reg.example.test/Team/App:1']}, 'image[0]'),
    ({'image': [IMG, 'bad image']}, 'image[1]'),
    ({'service_account': 'Not_Valid'}, 'service_account'),
    ({'pull_secrets': []}, 'pull_secrets'),
    ({'pull_secrets': [{'name': 'a', 'namespace': 'b'}]}, 'pull_secrets'),
    ({'pull_secrets': ['UPPER']}, 'pull_secrets[0]'),
    ({'node_name': 'bad node'}, 'node_name'),
    ({'node_selector': {'zone': 5}}, 'node_selector'),
    ({'node_selector': {'bad key!': 'x'}}, 'node_selector'),
    ({'node_selector': {'kubernetes.io/os': 'windows'}}, 'node_selector'),
    ({'tolerations': ['x']}, 'tolerations'),
    ({'tolerations': [{'key': 'a', 'colour': 'red'}]}, 'tolerations'),
    ({'tolerations': [{'key': 'a', 'operator': 'Like'}]}, 'tolerations'),
    ({'tolerations': [{'key': 'a', 'operator': 'Exists', 'value': 'x'}]}, 'tolerations'),
    ({'tolerations': [{'key': 'a', 'effect': 'Sometimes'}]}, 'tolerations'),
    ({'tolerations': [{'key': 'a', 'effect': 'NoSchedule', 'tolerationSeconds': 5}]}, 'tolerations'),
    # what the API server would refuse: caught before any request, naming the option
    ({'tolerations': [{'key': 'a', 'value': 'bad value!'}]}, 'tolerations'),
    ({'tolerations': [{'key': 'a', 'value': 'x' * 64}]}, 'tolerations'),
    ({'tolerations': [{'operator': 'Equal'}]}, 'tolerations'),
    ({'tolerations': [{'effect': 'NoExecute', 'operator': 'Exists', 'tolerationSeconds': 10 ** 30}]}, 'tolerations'),
    ({'node_selector': {'zone': 'a\n'}}, 'node_selector'),
    # the diagnosis probe's timeout: a ValueError deep in the HTTP library otherwise
    ({'registry_timeout': 0}, 'registry_timeout'),
    ({'registry_timeout': -1}, 'registry_timeout'),
    ({'gc_older_than': '\u00b9'}, 'gc_older_than'),  # a digit to str.isdigit(), a ValueError to int()
    ({'timeout': 4}, 'timeout'),
    ({'timeout': 3601}, 'timeout'),
    ({'timeout': True}, 'timeout'),
    ({'gc_older_than': 'soon'}, 'gc_older_than'),
    ({'gc_older_than': '1m', 'timeout': 30}, 'gc_older_than'),
])
def test_plan_refuses_bad_input_naming_the_option(override, field):
    with pytest.raises(ValidationError) as err:
        pc.plan_canary(params(**override))
    assert err.value.field == field
    assert field.split('[')[0] in err.value.msg


def test_plan_keeps_valid_tolerations():
    plan = pc.plan_canary(params(tolerations=[{'key': 'dedicated', 'operator': 'Equal', 'value': 'x',
                                               'effect': 'NoExecute', 'tolerationSeconds': '30'},
                                              {'operator': 'Exists'}]))
    assert plan.tolerations == [{'key': 'dedicated', 'operator': 'Equal', 'value': 'x', 'effect': 'NoExecute',
                                 'tolerationSeconds': 30}, {'operator': 'Exists'}]


# ---------------------------------------------------------------------------------------------
# build_pod
# ---------------------------------------------------------------------------------------------

def test_pod_never_runs_the_image_and_always_pulls():
    plan = pc.plan_canary(params())
    pod = pc.build_pod(plan, IMG, 'run1')
    spec = pod['spec']
    (container,) = spec['containers']
    assert container['image'] == IMG
    assert container['imagePullPolicy'] == 'Always'
    # command replaces the entrypoint, no args so CMD is unused; /dev/null is never executable
    assert container['command'] == ['/dev/null']
    assert 'args' not in container
    assert 'initContainers' not in spec
    assert spec['restartPolicy'] == 'Never'
    assert spec['activeDeadlineSeconds'] == 30 + pc.DEADLINE_MARGIN
    assert spec['automountServiceAccountToken'] is False
    assert spec['serviceAccountName'] == 'default'
    assert 'imagePullSecrets' not in spec  # the API server copies the ServiceAccount's list
    assert spec['nodeSelector'] == {'kubernetes.io/os': 'linux'}
    assert container['resources']['requests'] == {'cpu': '1m', 'memory': '4Mi'}
    assert container['securityContext']['allowPrivilegeEscalation'] is False
    assert spec['securityContext']['runAsNonRoot'] is True
    labels = pod['metadata']['labels']
    assert labels == {'app.kubernetes.io/managed-by': 'registrylink.k8s', 'registrylink.k8s/canary': 'true',
                      'registrylink.k8s/canary-run': 'run1'}
    assert pod['metadata']['generateName'] == 'registrylink-canary-'
    assert pod['metadata']['annotations'] == {'registrylink.k8s/canary-image': IMG}
    assert not any(k in spec for k in ('nodeName', 'tolerations'))


def test_pod_with_explicit_secrets_node_and_tolerations():
    plan = pc.plan_canary(params(pull_secrets=['wrong', 'right'], node_name='node-1',
                                 tolerations=[{'operator': 'Exists'}], timeout=10, gc_older_than=600))
    spec = pc.build_pod(plan, IMG, 'r')['spec']
    assert spec['imagePullSecrets'] == [{'name': 'wrong'}, {'name': 'right'}]
    assert spec['nodeName'] == 'node-1'
    assert spec['tolerations'] == [{'operator': 'Exists'}]
    assert spec['activeDeadlineSeconds'] == 70


# ---------------------------------------------------------------------------------------------
# durations and the Pulled event
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('text, seconds', [
    ('215ms', 0.215), ('1.5s', 1.5), ('1m2.5s', 62.5), ('2h', 7200.0), ('750\xb5s', 0.00075), ('12us', 0.000012),
    ('0s', 0.0), ('', None), ('5', None), ('ms', None), ('1.5 s', None), ('1sx', None),
])
def test_parse_go_duration(text, seconds):
    value = kv.parse_go_duration(text)
    if seconds is None:
        assert value is None
    else:
        assert value == pytest.approx(seconds)


@given(st.integers(min_value=0, max_value=10 ** 6))
def test_parse_go_duration_milliseconds_roundtrip(ms):
    assert kv.parse_go_duration('%dms' % ms) == pytest.approx(ms / 1000.0)


@pytest.mark.parametrize('message, seconds', [
    (PULLED, 0.215),
    ('Successfully pulled image "x" in 1.204s (3.5s including waiting). Image size: 5 bytes.', 1.204),
    ('Successfully pulled image "x" in 1m3.2s (1m3.2s including waiting)', 63.2),
    ('Container image "x" already present on machine', None),
    (None, None),
])
def test_pull_seconds_from_event(message, seconds):
    value = kv.pull_seconds_from_event(message)
    assert value == (pytest.approx(seconds) if seconds is not None else None)


# ---------------------------------------------------------------------------------------------
# kubelet_verdict
# ---------------------------------------------------------------------------------------------

def ev(reason, message, etype='Normal', ts='2026-01-01T00:00:01Z'):
    return {'type': etype, 'reason': reason, 'message': message, 'count': 1, 'last_timestamp': ts}


def kpod(node='node-1', phase='Pending', state=None, image_id='', conditions=None, reason=None, message=None):
    status = {'phase': phase, 'conditions': conditions or []}
    if state is not None:
        status['containerStatuses'] = [{'name': 'canary', 'image': IMG, 'imageID': image_id, 'state': state}]
    if reason:
        status['reason'] = reason
        status['message'] = message
    spec = {'containers': [{'name': 'canary', 'image': IMG}]}
    if node:
        spec['nodeName'] = node
    return {'metadata': {'name': 'p', 'uid': 'u'}, 'spec': spec, 'status': status}


START_ERROR = {'terminated': {'reason': 'StartError', 'exitCode': 128, 'message': 'failed to create containerd task:'
               ' ... exec: "/dev/null": permission denied: unknown'}}


def test_verdict_pending_is_none():
    assert kv.kubelet_verdict(kpod(node=None), []) is None
    assert kv.kubelet_verdict(kpod(state={'waiting': {'reason': 'ContainerCreating'}}),
                              [ev('Pulling', 'Pulling image "x"')]) is None


def test_verdict_pulled_with_the_kubelets_time():
    v = kv.kubelet_verdict(kpod(phase='Failed', state=START_ERROR, image_id='reg/x@sha256:' + 'a' * 64),
                           [ev('Pulling', 'Pulling image'), ev('Pulled', PULLED),
                            ev('Failed', 'Error: failed to create containerd task: exec: "/dev/null"', 'Warning')])
    assert v['verdict'] == 'pulled' and v['pulled'] is True and v['complete'] is True
    assert v['pull_seconds'] == pytest.approx(0.215)
    assert v['node'] == 'node-1'
    assert v['kubelet_message'] == PULLED
    assert '/dev/null' in v['container_start']
    assert v['workload_started'] is False


def test_verdict_pulled_waits_for_the_start_refusal():
    pod = kpod(state={'waiting': {'reason': 'ContainerCreating'}})
    v = kv.kubelet_verdict(pod, [ev('Pulled', PULLED), ev('Created', 'Created container: canary')])
    assert v['verdict'] == 'pulled' and v['complete'] is False and v['grace'] == kv.START_GRACE
    pod = kpod(phase='Failed', state=START_ERROR, image_id='reg/x@sha256:' + 'a' * 64)
    refused = ('Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc'
               ' create failed: unable to start container process: exec: "/dev/null": permission denied: unknown')
    v = kv.kubelet_verdict(pod, [ev('Pulled', PULLED), ev('Failed', refused, 'Warning')])
    assert v['complete'] is True and 'permission denied' in v['container_start']
    assert v['pull_seconds'] == pytest.approx(0.215)


def test_verdict_pulled_waits_for_the_event_then_settles():
    pod = kpod(phase='Failed', state=START_ERROR, image_id='reg/x@sha256:' + 'a' * 64)
    v = kv.kubelet_verdict(pod, [])
    assert v['verdict'] == 'pulled' and v['complete'] is False
    v = kv.kubelet_verdict(pod, [], settled=True)
    assert v['complete'] is True and v['pull_seconds'] is None


def test_verdict_pull_failed_prefers_the_event_text():
    waiting = {'waiting': {'reason': 'ErrImagePull', 'message': 'short'}}
    v = kv.kubelet_verdict(kpod(state=waiting), [])
    assert v['verdict'] == 'pull_failed' and v['complete'] is False and v['kubelet_message'] == 'short'
    events = [ev('FailedToRetrieveImagePullSecret', 'Unable to retrieve some image pull secrets (nope); attempting'
                 ' to pull the image may not succeed.', 'Warning'),
              ev('Failed', UNAUTHORIZED, 'Warning'), ev('Failed', 'Error: ErrImagePull', 'Warning')]
    v = kv.kubelet_verdict(kpod(state={'waiting': {'reason': 'ImagePullBackOff', 'message': 'Back-off'}}), events)
    assert v['verdict'] == 'pull_failed' and v['complete'] is True
    assert v['kubelet_message'] == UNAUTHORIZED
    assert v['kubelet_reason'] == 'ImagePullBackOff'
    assert 'nope' in v['missing_pull_secrets_event']


def test_verdict_unschedulable_with_the_schedulers_reason():
    cond = [{'type': 'PodScheduled', 'status': 'False', 'reason': 'Unschedulable',
             'message': "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}]
    v = kv.kubelet_verdict(kpod(node=None, conditions=cond), [])
    assert v['verdict'] == 'unschedulable' and v['pulled'] is False
    assert 'node affinity/selector' in v['scheduler_message']


def test_verdict_deadline_and_node_rejection():
    v = kv.kubelet_verdict(kpod(phase='Failed', reason='DeadlineExceeded', message='Pod was active too long'), [])
    assert v['verdict'] == 'timeout'
    v = kv.kubelet_verdict(kpod(phase='Failed', reason='OutOfcpu', message='Node didn\'t have enough resource'), [])
    assert v['verdict'] == 'node_rejected' and v['kubelet_reason'] == 'OutOfcpu'
    assert kv.kubelet_verdict(None, [])['verdict'] == 'vanished'


def test_verdict_notices_a_started_workload():
    v = kv.kubelet_verdict(kpod(phase='Running', state={'running': {'startedAt': 'x'}}, image_id='i'),
                           [ev('Pulled', PULLED)])
    assert v['workload_started'] is True


@pytest.mark.parametrize('events, outcome', [
    ([ev('Failed', UNAUTHORIZED, 'Warning')], None),
    ([dict(ev('Failed', UNAUTHORIZED, 'Warning'), count=2)], 'failed_again'),
    ([ev('Failed', UNAUTHORIZED, 'Warning'), ev('Failed', UNAUTHORIZED + ' again', 'Warning')], 'failed_again'),
    ([ev('Failed', UNAUTHORIZED, 'Warning'), ev('BackOff', 'Back-off pulling image'), ev('Pulled', PULLED)], 'pulled'),
    ([ev('Failed', 'Error: ErrImagePull', 'Warning'), ev('Failed', 'Error: ImagePullBackOff', 'Warning')], None),
])
def test_retry_outcome(events, outcome):
    assert kv.retry_outcome(events) == outcome


def test_timeout_verdict_says_what_the_pod_was_doing():
    assert 'not scheduled' in kv.timeout_verdict(kpod(node=None), [], 30)['kubelet_message']
    v = kv.timeout_verdict(kpod(state={'waiting': {'reason': 'ContainerCreating'}}),
                           [ev('Pulling', 'Pulling image "big"')], 30)
    assert v['verdict'] == 'timeout' and 'still pulling' in v['kubelet_message'] and '30 s' in v['kubelet_message']
    assert 'no verdict within 30 s' == kv.timeout_verdict(None, [], 30)['kubelet_message']


# ---------------------------------------------------------------------------------------------
# classify_failure: the same "401 Unauthorized" becomes a distinct category per cause
# ---------------------------------------------------------------------------------------------

def diag(category, pod_secrets=('regcred',), secrets=None, near=None, hint='detail'):
    return {'namespace': 'apps', 'category': category, 'hint': hint, 'pod_pull_secrets': list(pod_secrets),
            'pull_secrets': secrets if secrets is not None else [{'name': s, 'found': True} for s in pod_secrets],
            'near_misses': near or [], 'matched': None}


FAILED = {'verdict': 'pull_failed', 'kubelet_message': UNAUTHORIZED, 'missing_pull_secrets_event': None}


@pytest.mark.parametrize('diagnosis, verdict, category', [
    (diag('unauthorized'), FAILED, 'unauthorized'),
    (diag('no_credentials_matched', pod_secrets=()), FAILED, 'no_pull_secret'),
    (diag('no_credentials_matched', secrets=[{'name': 'regcred', 'found': False, 'problem': 'missing',
                                              'found_in': ['default']}]), FAILED, 'pull_secret_missing'),
    (diag('no_credentials_matched'), dict(FAILED, missing_pull_secrets_event='Unable to retrieve some image pull'
                                          ' secrets (regcred); attempting'), 'pull_secret_missing'),
    (diag('no_credentials_matched', near=[{'reason': 'port_mismatch', 'key': 'reg.example.test'}]), FAILED,
     'key_port_mismatch'),
    (diag('no_credentials_matched', near=[{'reason': 'scheme_or_path', 'key': 'reg.example.test:5000/other'}]),
     FAILED, 'key_path_mismatch'),
    (diag('no_credentials_matched', near=[{'reason': 'label_count', 'key': 'example.test'}]), FAILED,
     'no_credentials_matched'),
    (diag(None), FAILED, 'node_pull_failed'),
    (None, FAILED, 'node_pull_failed'),
    (diag('tls_untrusted'), FAILED, 'tls_untrusted'),
    # containerd 1.6 refuses a bracketed IPv6 host the kubelet accepts: no registry was asked, so the
    # diagnosis' "no key for [::1]:5000" is not the cause (seen on the real node)
    (diag('no_credentials_matched'), dict(FAILED, kubelet_message='Failed to pull image "[::1]:5000/a/b:c": failed'
                                          ' to parse image reference "[::1]:5000/a/b:c": invalid reference format'),
     'invalid_reference'),
    (diag('no_credentials_matched'), dict(FAILED, kubelet_reason='InvalidImageName'), 'invalid_reference'),
    (diag('not_found'), FAILED, 'not_found'),
    (None, {'verdict': 'unschedulable'}, 'unschedulable'),
    (None, {'verdict': 'timeout'}, 'timeout'),
    (None, {'verdict': 'node_rejected'}, 'node_rejected'),
])
def test_classify_failure(diagnosis, verdict, category):
    got, hint = pc.classify_failure(verdict, diagnosis)
    assert got == category
    assert hint


def test_the_five_auth_failures_have_five_categories():
    cases = [
        diag('unauthorized'),
        diag('no_credentials_matched', pod_secrets=()),
        diag('no_credentials_matched', secrets=[{'name': 'regcred', 'problem': 'missing'}]),
        diag('no_credentials_matched', near=[{'reason': 'port_mismatch', 'key': 'reg.example.test'}]),
        diag('no_credentials_matched', near=[{'reason': 'scheme_or_path', 'key': 'reg.example.test:5000/x'}]),
    ]
    assert len(set(pc.classify_failure(FAILED, d)[0] for d in cases)) == 5


@pytest.mark.parametrize('image, explained', [
    ('gcr.io/my-proj/app:1', True), ('eu.gcr.io/my-proj/app:1', True), ('asia.gcr.io/p/a@sha256:' + 'a' * 64, True),
    ('europe-west1-docker.pkg.dev/p/r/app:1', False), ('registry.example.test/gcr.io/app:1', False)])
def test_a_gcr_io_image_that_did_not_pull_gets_the_container_registry_shutdown_explained(image, explained):
    for diagnosis in (None, diag('unauthorized'), diag('not_found')):
        category, hint = pc.classify_failure(dict(FAILED, image=image), diagnosis)
        assert category == pc.classify_failure(dict(FAILED, image='registry.example.test/a:1'), diagnosis)[0]
        assert ('Container Registry is shut down' in hint) == explained
        if explained:
            assert 'roles/artifactregistry.reader' in hint and image.split('/')[0] + ' is a Container Registry' in hint


def test_a_gcr_io_image_held_by_the_scheduler_gets_no_shutdown_note():
    _c, hint = pc.classify_failure({'verdict': 'unschedulable', 'image': 'gcr.io/p/a:1'}, None)
    assert 'Container Registry' not in hint


def test_missing_secret_hint_names_where_it_exists():
    _c, hint = pc.classify_failure(FAILED, diag('no_credentials_matched', secrets=[
        {'name': 'regcred', 'problem': 'missing', 'found_in': ['default']}]))
    assert 'regcred' in hint and 'default' in hint


def test_compact_diagnosis_keeps_no_trace_or_token():
    full = {'pod': {'namespace': 'apps', 'name': 'p'}, 'pod_pull_secrets': ['regcred'],
            'service_account': {'name': 'default'}, 'warnings': [],
            'containers': [{'category': 'unauthorized', 'hint': 'h', 'pull_secrets': [{'name': 'regcred'}],
                            'matched': {'secret': 'regcred'}, 'near_misses': [], 'normalized': 'x',
                            'probe': {'ok': False, 'category': 'unauthorized', 'trace': [{'url': 'u'}],
                                      'token': {'expires_at': 'x'}, 'steps': [{'step': 'login', 'ok': False}],
                                      'auth': {'scheme': 'basic', 'authenticated': False, 'challenges': []}}}]}
    out = pc.compact_diagnosis(full)
    assert out['category'] == 'unauthorized' and out['namespace'] == 'apps'
    assert 'trace' not in out['probe'] and 'token' not in out['probe']
    assert out['probe']['auth'] == {'scheme': 'basic', 'authenticated': False}


# ---------------------------------------------------------------------------------------------
# gc_candidates, summary, table
# ---------------------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def meta_pod(name, age_seconds, labels=None):
    created = NOW - datetime.timedelta(seconds=age_seconds)
    lab = {'app.kubernetes.io/managed-by': 'registrylink.k8s', 'registrylink.k8s/canary': 'true',
           'registrylink.k8s/canary-run': 'old'}
    if labels is not None:
        lab = labels
    return {'metadata': {'name': name, 'labels': lab, 'annotations': {'registrylink.k8s/canary-image': IMG},
                         'creationTimestamp': created.strftime('%Y-%m-%dT%H:%M:%SZ')}}


def test_gc_candidates_only_old_canaries_of_ours():
    pods = [meta_pod('old', 1000), meta_pod('young', 100), meta_pod('foreign', 5000, labels={'app': 'x'}),
            meta_pod('unmanaged', 5000, labels={'registrylink.k8s/canary': 'true'})]
    got = pc.gc_candidates(pods, NOW, 900)
    assert [g['name'] for g in got] == ['old']
    assert got[0]['image'] == IMG and got[0]['age_seconds'] == 1000


def test_gc_candidates_spare_a_run_with_a_longer_timeout():
    # a run with timeout 3600 (activeDeadlineSeconds 3660) is still waiting for its 1000 s old Pod: a run with
    # gc_older_than 900 must not delete it; once older than its own deadline it is a leftover
    running = meta_pod('running', 1000)
    running['spec'] = {'activeDeadlineSeconds': 3660}
    dead = meta_pod('dead', 3700)
    dead['spec'] = {'activeDeadlineSeconds': 3660}
    got = pc.gc_candidates([running, dead], NOW, 900)
    assert [g['name'] for g in got] == ['dead']


def test_summary_and_table():
    results = [{'image': IMG, 'verdict': 'pulled', 'category': None, 'pull_seconds': 0.2, 'node': 'n'},
               {'image': IMG2, 'verdict': 'pull_failed', 'category': 'unauthorized', 'pull_seconds': None,
                'node': 'n'}]
    assert pc.summarize(results) == {'images': 2, 'pulled': 1, 'pull_failed': 1}
    lines = pc.table(results)
    assert len(lines) == 3 and '0.20' in lines[1] and 'unauthorized' in lines[2]


# ---------------------------------------------------------------------------------------------
# the runner against a fake API with a fake kubelet
# ---------------------------------------------------------------------------------------------

class FakeClock(object):
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


class FakeCore(object):
    """Pods, Events, ServiceAccounts and Nodes in memory. ``kubelet(image, tick)`` returns (status, events)
    of a canary Pod at its ``tick``-th observation (None keeps it Pending with no events)."""

    def __init__(self, kubelet, service_accounts=('default',), namespaces=('apps',), nodes=('node-1',),
                 existing_pods=None, fail_create=None):
        self.kubelet = kubelet
        self.service_accounts = set(service_accounts)
        self.namespaces = set(namespaces)
        self.nodes = set(nodes)
        self.pods = dict((p['metadata']['name'], p) for p in existing_pods or [])
        self.ticks = {}
        self.counter = itertools.count(1)
        self.calls = []
        self.fail_create = fail_create

    def _sel(self, pod, selector):
        labels = pod['metadata'].get('labels') or {}
        for part in (selector or '').split(','):
            if part:
                k, v = part.split('=')
                if labels.get(k) != v:
                    return False
        return True

    def list_namespaced_service_account(self, namespace, field_selector=None, **kw):
        self.calls.append(('list', 'serviceaccounts'))
        name = field_selector.split('=', 1)[1]
        ok = namespace in self.namespaces and name in self.service_accounts
        return {'items': [{'metadata': {'name': name}, 'imagePullSecrets': [{'name': 'regcred'}]}] if ok else []}

    def read_namespace(self, name, **kw):
        if name not in self.namespaces:
            raise NotFoundError('not found: namespaces/%s' % name, status=404)
        return {'metadata': {'name': name}}

    def read_node(self, name, **kw):
        if name not in self.nodes:
            raise NotFoundError('not found: nodes/%s' % name, status=404)
        return {'metadata': {'name': name}}

    def create_namespaced_pod(self, namespace, body, dry_run=None, **kw):
        self.calls.append(('create', dry_run))
        if self.fail_create:
            raise self.fail_create
        name = 'registrylink-canary-%d' % next(self.counter)
        pod = {'metadata': dict(body['metadata'], name=name, uid='uid-' + name,
                                creationTimestamp=NOW.strftime('%Y-%m-%dT%H:%M:%SZ')),
               'spec': dict(body['spec']), 'status': {'phase': 'Pending'}}
        if dry_run != 'All':
            self.pods[name] = pod
            self.ticks[name] = 0
        return pod

    def list_namespaced_pod(self, namespace, label_selector=None, **kw):
        self.calls.append(('list', 'pods'))
        out = []
        for name, pod in sorted(self.pods.items()):
            if not self._sel(pod, label_selector):
                continue
            if name in self.ticks:
                self.ticks[name] += 1
                state = self.kubelet(pod['spec']['containers'][0]['image'], self.ticks[name])
                if state:
                    pod['status'], pod['_events'] = state
                    pod['spec']['nodeName'] = pod['status'].pop('_node', 'node-1')
            out.append(pod)
        return {'items': out}

    def list_namespaced_event(self, namespace, field_selector=None, **kw):
        name = field_selector.split('involvedObject.name=')[1]
        pod = self.pods.get(name) or {}
        return {'items': [dict(e, involvedObject={'kind': 'Pod', 'name': name, 'uid': pod['metadata']['uid']})
                          for e in pod.get('_events') or []]}

    def delete_namespaced_pod(self, namespace, name, **kw):
        self.calls.append(('delete', name))
        assert kw.get('grace_period_seconds') == 0
        if name not in self.pods:
            raise NotFoundError('not found: pods/%s' % name, status=404)
        del self.pods[name]


class FakeKube(object):
    api_client = None

    def __init__(self, core, denied=()):
        self.core = core
        self.denied = denied  # (verb, resource) the SelfSubjectAccessReviews answer "no" to
        self.reviews = []

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        if resource == 'selfsubjectaccessreviews':
            attrs = kwargs['body']['spec']['resourceAttributes']
            self.reviews.append(attrs)
            return {'status': {'allowed': (attrs['verb'], attrs['resource']) not in self.denied}}
        kwargs.pop('_preload_content', None)
        if namespace is not None:
            kwargs['namespace'] = namespace
        if name is not None:
            kwargs['name'] = name
        return func(**kwargs)

    def list_all(self, resource, func, namespace=None, **kwargs):
        return (self.call('list', resource, func, namespace=namespace, **kwargs) or {}).get('items') or []


def kube_event(reason, message, etype='Normal'):
    return {'type': etype, 'reason': reason, 'message': message, 'lastTimestamp': '2026-01-01T00:00:02Z'}


def real_kubelet(image, tick):
    """Pulled on tick 3 for IMG, ErrImagePull on tick 2 (event on tick 3) for IMG2, like the real kubelet."""
    if tick < 2:
        return None
    if image == IMG:
        if tick < 3:
            return {'phase': 'Pending', 'containerStatuses': [{'name': 'canary', 'imageID': '',
                                                               'state': {'waiting': {'reason': 'ContainerCreating'}}}]}, [
                kube_event('Pulling', 'Pulling image "%s"' % image)]
        return ({'phase': 'Failed', 'containerStatuses': [{'name': 'canary', 'imageID': 'sha256:' + 'b' * 64,
                                                           'state': START_ERROR}]},
                [kube_event('Pulling', 'Pulling image'), kube_event('Pulled', PULLED),
                 kube_event('Failed', 'Error: failed to create containerd task: exec: "/dev/null"', 'Warning')])
    status = {'phase': 'Pending', 'containerStatuses': [{'name': 'canary', 'imageID': '', 'state': {
        'waiting': {'reason': 'ErrImagePull', 'message': 'failed to pull: 401 Unauthorized'}}}]}
    events = [kube_event('Pulling', 'Pulling image')]
    if tick >= 3:
        events.append(kube_event('Failed', UNAUTHORIZED.replace(IMG, image), 'Warning'))
    return status, events


def runner(core, check_mode=False, diagnose=None, denied=(), **kw):
    clock = FakeClock()
    core.warned = []
    core.kube = FakeKube(core, denied)
    r = pc.PullCanaryRunner(params(**kw), check_mode=check_mode, warn=core.warned.append, kube_client=core.kube,
                            diagnose=diagnose or (lambda *a, **k: fake_diagnosis('unauthorized')),
                            clock=clock, sleep=clock.sleep, now=lambda: NOW, poll_interval=0.5)
    return r


def fake_diagnosis(category, pod_secrets=('regcred',)):
    return {'pod': {'namespace': 'apps', 'name': 'x'}, 'pod_pull_secrets': list(pod_secrets),
            'service_account': {'name': 'default'}, 'warnings': ['pull secret regcred: something'],
            'containers': [{'category': category, 'hint': 'registry said no', 'pull_secrets': [],
                            'near_misses': [], 'probe': {'ok': False, 'category': category, 'steps': []}}]}


def test_runner_pulls_and_diagnoses_and_deletes_everything():
    core = FakeCore(real_kubelet)
    seen = []

    def diagnose(p, conn, register_secret=None, kube_client=None):
        seen.append((p['pod'], conn['validate_certs'], p.get('kubeconfig', 'unset')))
        assert p['pod']['name'] in core.pods  # diagnosed while the Pod still exists
        return fake_diagnosis('unauthorized')

    result = runner(core, diagnose=diagnose, image=[IMG, IMG2]).run()
    pulled, failed = result['results']
    assert pulled['verdict'] == 'pulled' and pulled['pulled'] is True
    assert pulled['pull_seconds'] == pytest.approx(0.215)
    assert pulled['diagnosis'] is None and pulled['category'] is None and pulled['deleted'] is True
    assert failed['verdict'] == 'pull_failed' and failed['kubelet_message'].startswith('Failed to pull image')
    assert failed['category'] == 'unauthorized' and failed['diagnosis']['category'] == 'unauthorized'
    assert failed['deleted'] is True
    assert len(seen) == 1 and seen[0][1] is True
    assert core.pods == {}
    assert result['changed'] is False and result['ok'] is False
    assert result['summary'] == {'images': 2, 'pulled': 1, 'pull_failed': 1}
    assert result['category'] == 'unauthorized'
    # a dry run of every Pod before the first real create
    creates = [c for c in core.calls if c[0] == 'create']
    assert creates == [('create', 'All'), ('create', 'All'), ('create', None), ('create', None)]
    assert 'pull secret regcred: something' in core.warned


def test_runner_times_out_and_still_deletes():
    core = FakeCore(lambda image, tick: None)
    result = runner(core, timeout=5, gc_older_than='10m').run()
    (item,) = result['results']
    assert item['verdict'] == 'timeout' and item['category'] == 'timeout'
    assert 'not scheduled' in item['kubelet_message']
    assert item['elapsed_seconds'] >= 5
    assert core.pods == {}


def test_runner_deletes_its_pods_when_terminated():
    # ansible-playbook stopped with SIGTERM: the default action would skip the cleanup and leave the Pod
    import os
    import signal

    core = FakeCore(lambda image, tick: None)
    r = runner(core, timeout=60)
    clock_sleep = r.sleep

    def sleep_then_terminated(seconds):
        clock_sleep(seconds)
        if core.pods:
            os.kill(os.getpid(), signal.SIGTERM)

    r.sleep = sleep_then_terminated
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exc:
        r.run()
    assert exc.value.code == 128 + signal.SIGTERM
    assert core.pods == {}
    assert signal.getsignal(signal.SIGTERM) is before


def test_runner_unschedulable():
    def kubelet(image, tick):
        return {'phase': 'Pending', '_node': None, 'conditions': [
            {'type': 'PodScheduled', 'status': 'False', 'reason': 'Unschedulable',
             'message': "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}]}, []
    core = FakeCore(kubelet)
    result = runner(core, node_selector={'registrylink.test/none': 'x'}).run()
    (item,) = result['results']
    assert item['verdict'] == 'unschedulable' and item['category'] == 'unschedulable'
    assert 'node affinity' in item['scheduler_message']
    assert core.pods == {}


def test_runner_deletes_its_pods_when_the_diagnosis_blows_up():
    core = FakeCore(real_kubelet)

    def boom(*a, **k):
        raise RuntimeError('bug')

    with pytest.raises(RuntimeError):
        runner(core, diagnose=boom, image=[IMG2]).run()
    assert core.pods == {}


def test_runner_check_mode_creates_nothing():
    core = FakeCore(real_kubelet, existing_pods=[meta_pod('registrylink-canary-old', 5000)])
    result = runner(core, check_mode=True, image=[IMG, IMG2]).run()
    assert [r['verdict'] for r in result['results']] == ['would_run', 'would_run']
    assert result['results'][0]['manifest']['spec']['containers'][0]['command'] == ['/dev/null']
    assert all(c[1] == 'All' for c in core.calls if c[0] == 'create')
    assert not [c for c in core.calls if c[0] == 'delete']
    assert list(core.pods) == ['registrylink-canary-old']
    assert result['changed'] is True and [g['name'] for g in result['garbage_collected']] == [
        'registrylink-canary-old']
    assert result['ok'] is True


def test_runner_collects_leftovers_of_an_interrupted_run():
    core = FakeCore(real_kubelet, existing_pods=[meta_pod('registrylink-canary-old', 5000),
                                                 meta_pod('registrylink-canary-young', 60)])
    result = runner(core).run()
    assert result['changed'] is True
    assert [g['name'] for g in result['garbage_collected']] == ['registrylink-canary-old']
    assert list(core.pods) == ['registrylink-canary-young']  # a run in progress elsewhere is left alone


def test_runner_validates_before_any_write():
    core = FakeCore(real_kubelet, service_accounts=())
    with pytest.raises(ValidationError) as err:
        runner(core).run()
    assert err.value.field == 'service_account'
    core = FakeCore(real_kubelet, namespaces=())
    with pytest.raises(ValidationError) as err:
        runner(core, namespace='gone').run()
    assert err.value.field == 'namespace'
    core = FakeCore(real_kubelet)
    with pytest.raises(ValidationError) as err:
        runner(core, node_name='node-9').run()
    assert err.value.field == 'node_name'
    assert not [c for c in core.calls if c[0] in ('create', 'delete')]


def test_runner_checks_it_may_create_and_delete_pods_before_the_first_write():
    # a leftover to collect, so the garbage collection's delete would be the first write
    core = FakeCore(real_kubelet, existing_pods=[meta_pod('registrylink-canary-old', 5000)])
    with pytest.raises(KubernetesAPIError) as err:
        runner(core, denied=[('delete', 'pods')]).run()
    assert err.value.msg.startswith('forbidden, nothing was written: pull_canary needs to delete pods in namespace'
                                    ' apps'), err.value.msg
    assert '{apiGroups: [""], resources: [pods], verbs: [delete]}' in err.value.msg
    assert not [c for c in core.calls if c[0] in ('create', 'delete')]
    assert list(core.pods) == ['registrylink-canary-old']
    # allowed: one review per verb at the cluster scope; check mode asks none
    core = FakeCore(real_kubelet)
    runner(core).run()
    assert [(a['verb'], a['resource']) for a in core.kube.reviews] == [('create', 'pods'), ('delete', 'pods')]
    core = FakeCore(real_kubelet)
    runner(core, check_mode=True).run()
    assert core.kube.reviews == []


def test_runner_reports_admission_refusal_per_image_and_fails_on_rbac():
    psa = KubernetesAPIError('forbidden: pods "x" is forbidden: violates PodSecurity "restricted:latest"',
                             status=403, reason='Forbidden')
    core = FakeCore(real_kubelet, fail_create=psa)
    result = runner(core).run()
    assert result['results'][0]['verdict'] == 'pod_rejected' and result['results'][0]['category'] == 'pod_rejected'
    rbac = KubernetesAPIError('forbidden: User "u" cannot create resource "pods"', status=403, reason='Forbidden')
    core = FakeCore(real_kubelet, fail_create=rbac)
    with pytest.raises(RegistryLinkError):
        runner(core).run()


def flaky_kubelet(image, tick):
    """The first pull fails (ErrImagePull), the kubelet's retry after its back-off pulls."""
    if tick < 2:
        return None
    failed = kube_event('Failed', UNAUTHORIZED, 'Warning')
    if tick < 6:
        return {'phase': 'Pending', 'containerStatuses': [{'name': 'canary', 'imageID': '', 'state': {
            'waiting': {'reason': 'ErrImagePull' if tick < 4 else 'ImagePullBackOff'}}}]}, [failed]
    return ({'phase': 'Failed', 'containerStatuses': [{'name': 'canary', 'imageID': 'sha256:' + 'c' * 64,
                                                       'state': START_ERROR}]},
            [failed, kube_event('BackOff', 'Back-off pulling image'), kube_event('Pulled', PULLED)])


def test_runner_believes_the_kubelets_retry_when_the_diagnosis_finds_nothing():
    core = FakeCore(flaky_kubelet)
    result = runner(core, diagnose=lambda *a, **k: fake_diagnosis(None)).run()
    (item,) = result['results']
    assert item['verdict'] == 'pulled' and item['category'] is None, item
    assert item['first_attempt']['category'] == 'node_pull_failed'
    assert 'retry succeeded' in ' '.join(core.warned)
    assert result['ok'] is True and core.pods == {}


def test_runner_does_not_wait_for_a_retry_of_an_explained_failure():
    core = FakeCore(flaky_kubelet)
    result = runner(core).run()  # the diagnosis says unauthorized: no reason to wait
    (item,) = result['results']
    assert item['verdict'] == 'pull_failed' and item['category'] == 'unauthorized'
    assert item['first_attempt'] is None
    assert core.pods == {}


def test_runner_reports_a_failed_retry():
    core = FakeCore(real_kubelet)

    def twice(image, tick):
        state = real_kubelet(IMG2, tick)
        if state and tick >= 5:
            state[1][-1] = dict(state[1][-1], count=2)
        return state
    core.kubelet = twice
    result = runner(core, image=[IMG2], diagnose=lambda *a, **k: fake_diagnosis(None)).run()
    (item,) = result['results']
    assert item['verdict'] == 'pull_failed' and item['category'] == 'node_pull_failed'
    assert item['kubelet_retried'] is True
