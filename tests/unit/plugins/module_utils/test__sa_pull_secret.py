# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the pure parts of the sa_pull_secret runner (_sa_pull_secret.py):
validation, per-ServiceAccount planning, annotations, stuck-pod detection, pull secret in another namespace report.
The runner itself is tested against a fake client at the end (request counting, conflict retry)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import threading
import time

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    ConflictError,
    KubernetesAPIError,
    RegistryLinkError,
    ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._sa_pull_secret import (
    SaPullSecretRunner,
    find_stuck_pods,
    merge_annotations,
    missing_secret_report,
    plan_service_account,
    validate_params,
)

IRSA = 'eks.amazonaws.com/role-arn'


def params(**kw):
    base = dict(pull_secrets=['regcred'], service_accounts=None, service_account_selector=None,
                namespaces=['apps'], namespace_selector=None, exclude_namespaces=['kube-system'],
                state='present', purge=False, annotations=None, prune_missing=False,
                on_missing_secret='warn', create_service_accounts=False, restart_stuck_pods=False,
                max_concurrent_writes=4)
    base.update(kw)
    return base


def sa(name='default', ns='apps', secrets=(), labels=None, annotations=None, rv='100'):
    obj = {'metadata': {'name': name, 'namespace': ns, 'resourceVersion': rv, 'uid': 'u-' + name,
                        'managedFields': [{'manager': 'kubectl'}]},
           'secrets': [{'name': 'legacy-token'}]}
    if secrets:
        obj['imagePullSecrets'] = [{'name': s} for s in secrets]
    if labels:
        obj['metadata']['labels'] = dict(labels)
    if annotations:
        obj['metadata']['annotations'] = dict(annotations)
    return obj


# --------------------------------------------------------------------------- validation

def test_defaults():
    spec = validate_params(params())
    assert spec.names == ['regcred']
    assert spec.patterns == ['default']
    assert spec.state == 'present' and not spec.purge


def test_selector_widens_default_service_accounts():
    spec = validate_params(params(service_account_selector='team=a'))
    assert spec.patterns == ['*']
    assert spec.matches('builder', {'team': 'a'})
    assert not spec.matches('builder', {'team': 'b'})


def test_strings_and_dicts_normalised():
    assert validate_params(params(pull_secrets=['a', {'name': 'b'}, 'a'])).names == ['a', 'b']


def test_annotations_only():
    spec = validate_params(params(pull_secrets=None, annotations={IRSA: 'arn:aws:iam::111122223333:role/x'}))
    assert spec.names is None


@pytest.mark.parametrize('override, field, fragment', [
    (dict(pull_secrets=None), 'pull_secrets', 'pull_secrets is required'),
    (dict(pull_secrets=[{'name': 'regcred', 'namespace': 'default'}]), 'pull_secrets', 'has no namespace'),  # pull secret in another namespace
    (dict(purge=True, state='absent'), 'purge', 'state=present only'),
    (dict(purge=True, pull_secrets=None, annotations={'a': 'b'}), 'purge', 'purge needs a non-empty pull_secrets'),
    (dict(service_accounts=['Bad_Name']), 'service_accounts', 'neither a valid ServiceAccount name'),
    (dict(service_accounts=[]), 'service_accounts', 'service_accounts is empty'),
    (dict(service_account_selector='team in ()'), 'service_account_selector', 'needs at least one value'),
    (dict(create_service_accounts=True, state='absent'), 'create_service_accounts', 'state=present only'),
    (dict(create_service_accounts=True, service_account_selector='a=b'), 'create_service_accounts', 'selector'),
    (dict(annotations={'bad key': 'x'}), 'annotations', 'not a valid annotation key'),
    (dict(annotations={IRSA: 5}), 'annotations', 'must be a string'),
    (dict(annotations={IRSA: None}), 'annotations', 'must be a string'),
    (dict(annotations='x=y'), 'annotations', 'must be a dictionary'),
    (dict(namespaces=None, namespace_selector=None), 'namespaces', 'no namespaces selected'),
    (dict(max_concurrent_writes=0), 'max_concurrent_writes', 'at least 1'),
    (dict(state='latest'), 'state', 'present or absent'),
])
def test_validation_errors(override, field, fragment):
    with pytest.raises(ValidationError) as err:
        validate_params(params(**override))
    assert err.value.field == field
    assert fragment in err.value.msg


def test_absent_annotation_may_be_null():
    spec = validate_params(params(state='absent', pull_secrets=None, annotations={IRSA: None}))
    assert spec.annotations == {IRSA: None}


# --------------------------------------------------------------------------- annotations

@pytest.mark.parametrize('current, desired, state, new, changed, kept', [
    ({}, {IRSA: 'r1'}, 'present', {IRSA: 'r1'}, [IRSA], []),
    ({IRSA: 'r1', 'x': 'y'}, {IRSA: 'r1'}, 'present', {IRSA: 'r1', 'x': 'y'}, [], []),
    ({IRSA: 'r0'}, {IRSA: 'r1'}, 'present', {IRSA: 'r1'}, [IRSA], []),
    ({IRSA: 'r1', 'x': 'y'}, {IRSA: 'r1'}, 'absent', {'x': 'y'}, [IRSA], []),
    ({IRSA: 'other'}, {IRSA: 'r1'}, 'absent', {IRSA: 'other'}, [], [IRSA]),   # someone else's value stays
    ({IRSA: 'other'}, {IRSA: None}, 'absent', {}, [IRSA], []),
    ({}, {IRSA: None}, 'absent', {}, [], []),
])
def test_merge_annotations(current, desired, state, new, changed, kept):
    assert merge_annotations(current, desired, state) == (new, changed, kept)


# --------------------------------------------------------------------------- planning

def test_plan_appends_and_keeps_object():
    """ServiceAccount patch replaces the list: [old-secret] + regcred -> [old-secret, regcred], whole object with resourceVersion."""
    live = sa(secrets=['old-secret'])
    spec = validate_params(params())
    plan = plan_service_account('apps', 'default', live, spec)
    assert plan['action'] == 'update'
    body = plan['body']
    assert body['imagePullSecrets'] == [{'name': 'old-secret'}, {'name': 'regcred'}]
    assert body['metadata']['resourceVersion'] == '100'
    assert body['secrets'] == [{'name': 'legacy-token'}]        # other fields untouched
    assert 'managedFields' not in body['metadata']
    assert body['kind'] == 'ServiceAccount' and body['apiVersion'] == 'v1'
    assert plan['before'] == {'image_pull_secrets': ['old-secret']}
    assert plan['after'] == {'image_pull_secrets': ['old-secret', 'regcred']}
    assert plan['added'] == ['regcred']
    assert live['imagePullSecrets'] == [{'name': 'old-secret'}], 'the live object must not be mutated'


def test_plan_rerun_unchanged():
    plan = plan_service_account('apps', 'default', sa(secrets=['old-secret', 'regcred']), validate_params(params()))
    assert plan['action'] == 'unchanged' and plan['body'] is None


def test_plan_absent_removes_only_named():
    spec = validate_params(params(state='absent', pull_secrets=['b']))
    plan = plan_service_account('apps', 'default', sa(secrets=['a', 'b', 'c']), spec)
    assert plan['body']['imagePullSecrets'] == [{'name': 'a'}, {'name': 'c'}]
    assert plan['removed'] == ['b']


def test_plan_absent_last_entry_drops_key():
    spec = validate_params(params(state='absent', pull_secrets=['b']))
    plan = plan_service_account('apps', 'default', sa(secrets=['b']), spec)
    assert plan['action'] == 'update' and 'imagePullSecrets' not in plan['body']


def test_plan_purge():
    spec = validate_params(params(purge=True, pull_secrets=['b']))
    plan = plan_service_account('apps', 'default', sa(secrets=['a', 'b', 'c']), spec)
    assert plan['body']['imagePullSecrets'] == [{'name': 'b'}]
    assert plan['removed'] == ['a', 'c']


def test_plan_missing_and_create():
    spec = validate_params(params(service_accounts=['ci']))
    assert plan_service_account('apps', 'ci', None, spec)['action'] == 'missing'
    spec = validate_params(params(service_accounts=['ci'], create_service_accounts=True,
                                  annotations={IRSA: 'arn:aws:iam::111122223333:role/ci'}))
    plan = plan_service_account('apps', 'ci', None, spec)
    assert plan['action'] == 'create'
    meta = plan['body']['metadata']
    assert meta['labels'] == {'app.kubernetes.io/managed-by': 'registrylink.k8s'}
    assert meta['annotations'] == {IRSA: 'arn:aws:iam::111122223333:role/ci'}
    assert plan['body']['imagePullSecrets'] == [{'name': 'regcred'}]
    assert plan['after'] == {'image_pull_secrets': ['regcred'], 'annotations': {IRSA: 'arn:aws:iam::111122223333:role/ci'}}


def test_plan_annotations_only_leaves_list():
    spec = validate_params(params(pull_secrets=None, annotations={IRSA: 'r1'}))
    plan = plan_service_account('apps', 'default', sa(secrets=['a', 'a']), spec)
    assert plan['action'] == 'update'
    assert plan['body']['imagePullSecrets'] == [{'name': 'a'}, {'name': 'a'}]
    assert plan['body']['metadata']['annotations'] == {IRSA: 'r1'}
    assert plan['before'] == {'image_pull_secrets': ['a', 'a'], 'annotations': {}}
    assert plan['after'] == {'image_pull_secrets': ['a', 'a'], 'annotations': {IRSA: 'r1'}}


def test_plan_annotation_removed_on_absent():
    spec = validate_params(params(state='absent', pull_secrets=None, annotations={IRSA: None}))
    plan = plan_service_account('apps', 'default', sa(annotations={IRSA: 'r1', 'keep': 'me'}), spec)
    assert plan['body']['metadata']['annotations'] == {'keep': 'me'}
    plan = plan_service_account('apps', 'default', sa(annotations={IRSA: 'r1'}), spec)
    assert 'annotations' not in plan['body']['metadata']


def test_plan_prune_missing():
    spec = validate_params(params(prune_missing=True))
    plan = plan_service_account('apps', 'default', sa(secrets=['gone', 'ok']), spec, prune=['gone', 'regcred'])
    assert plan['body']['imagePullSecrets'] == [{'name': 'ok'}, {'name': 'regcred'}]
    assert plan['removed'] == ['gone']
    # prune is ignored unless prune_missing is set
    plan = plan_service_account('apps', 'default', sa(secrets=['gone', 'regcred']), validate_params(params()),
                                prune=['gone'])
    assert plan['action'] == 'unchanged'


# --------------------------------------------------------------------------- stuck pods

def pod(name, ns='apps', sa_name='default', secrets=(), reason='ImagePullBackOff', owner=None, init=False,
        deleting=False):
    obj = {'metadata': {'name': name, 'namespace': ns, 'uid': 'uid-' + name},
           'spec': {'serviceAccountName': sa_name, 'containers': [{'name': 'app', 'image': 'r.example.test/app'}]},
           'status': {'phase': 'Pending'}}
    if secrets:
        obj['spec']['imagePullSecrets'] = [{'name': s} for s in secrets]
    statuses = [{'name': 'app', 'state': {'waiting': {'reason': reason}}}]
    obj['status']['initContainerStatuses' if init else 'containerStatuses'] = statuses
    if owner:
        obj['metadata']['ownerReferences'] = [{'kind': 'ReplicaSet', 'name': owner, 'controller': True, 'uid': 'x'}]
    if deleting:
        obj['metadata']['deletionTimestamp'] = '2026-01-01T00:00:00Z'
    return obj


TARGETS = {('apps', 'default'): {'attach': ['regcred'], 'before': ['old-secret']}}


def test_stuck_pods_found():
    pods = [
        pod('bare', secrets=['old-secret']),
        pod('owned', secrets=['old-secret'], owner='web-1'),
        pod('init', owner='web-2', init=True, reason='ErrImagePull'),
        pod('template', secrets=['own-secret'], owner='web-3'),
        pod('has-it', secrets=['old-secret', 'regcred'], owner='web-4'),      # not lacking: not ours
        pod('running', secrets=['old-secret'], reason='ContainerCreating', owner='web-5'),
        pod('other-sa', sa_name='builder', owner='web-6'),
        pod('other-ns', ns='else', owner='web-7'),
        pod('going', owner='web-8', deleting=True),
    ]
    stuck = find_stuck_pods(pods, TARGETS)
    by_name = dict((p['name'], p) for p in stuck)
    assert sorted(by_name) == ['bare', 'init', 'owned', 'template']
    assert by_name['bare']['controller'] is None and not by_name['bare']['restartable']
    assert 'bare pod' in by_name['bare']['restart_skipped']
    assert by_name['owned']['restartable'] and by_name['owned']['controller'] == 'ReplicaSet/web-1'
    assert by_name['owned']['reasons'] == ['ImagePullBackOff'] and by_name['owned']['missing_pull_secrets'] == ['regcred']
    assert by_name['init']['reasons'] == ['ErrImagePull'] and by_name['init']['restartable']
    assert not by_name['template']['restartable'] and 'pod template' in by_name['template']['restart_skipped']


def test_stuck_pod_default_service_account():
    p = pod('x', owner='w')
    del p['spec']['serviceAccountName']
    assert [s['name'] for s in find_stuck_pods([p], TARGETS)] == ['x']


# --------------------------------------------------------------------------- pull secret in another namespace report

def test_missing_secret_report():
    report = missing_secret_report({'apps': ['regcred', 'mirror'], 'web': ['regcred']},
                                   {'default': {'regcred'}, 'web': {'regcred'}, 'apps': {'mirror'}})
    assert report == [{'namespace': 'apps', 'pull_secrets': ['regcred'], 'found_in': {'regcred': ['default', 'web']}}]


# --------------------------------------------------------------------------- runner with a fake client

class FakeCore(object):
    """Names of the CoreV1Api methods the runner uses; the fake client dispatches on them."""

    def __getattr__(self, name):
        def method(**kwargs):
            raise AssertionError('called directly')
        method.__name__ = name
        return method


def _phase_selected(pod_obj, selector):
    """The API server's pods field selector on ``status.phase`` (``=`` / ``!=``, ANDed by commas)."""
    phase = pod_obj['status']['phase']
    for requirement in (selector or '').split(','):
        if not requirement:
            continue
        if '!=' in requirement:
            field, value = requirement.split('!=', 1)
            ok = phase != value
        else:
            field, value = requirement.split('=', 1)
            ok = phase == value
        assert field == 'status.phase', requirement
        if not ok:
            return False
    return True


class FakeKube(object):
    """Stands in for _k8s.KubeClient: an in-memory cluster with request counting and 409 injection."""

    def __init__(self, namespaces, accounts, secrets=(), pods=()):
        self.core = FakeCore()
        self.api_client = None
        self.request_count = 0
        self.namespaces = [{'metadata': {'name': n, 'labels': {}}, 'status': {'phase': 'Active'}} for n in namespaces]
        self.accounts = dict(((a['metadata']['namespace'], a['metadata']['name']), a) for a in accounts)
        self.secrets = list(secrets)
        self.pods = list(pods)
        self.calls = []
        self.conflict_once = set()
        self.deleted_pods = []
        self.reviews = []  # SelfSubjectAccessReviews (always allowed here; test__rbac.py covers denials)

    def list_all(self, resource, func, namespace=None, **kwargs):
        self.request_count += 1
        self.calls.append(('list', resource, kwargs.get('field_selector')))
        if resource == 'namespaces':
            return copy.deepcopy(self.namespaces)
        if resource == 'serviceaccounts':
            return copy.deepcopy(list(self.accounts.values()))
        if resource == 'secrets':
            sel = kwargs.get('field_selector')
            out = [{'metadata': {'namespace': ns, 'name': n}} for ns, n in self.secrets]
            if sel:
                out = [s for s in out if s['metadata']['name'] == sel.split('=', 1)[1]]
            return out
        if resource == 'pods':
            return [copy.deepcopy(p) for p in self.pods if _phase_selected(p, kwargs.get('field_selector'))]
        raise AssertionError(resource)

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        if resource == 'selfsubjectaccessreviews':
            self.reviews.append(kwargs['body']['spec']['resourceAttributes'])
            return {'status': {'allowed': True}}
        self.request_count += 1
        kwargs.update(namespace=namespace, name=name)
        self.calls.append((verb, resource, kwargs.get('namespace'), kwargs.get('name')))
        key = (kwargs['namespace'], kwargs.get('name') or kwargs.get('body', {}).get('metadata', {}).get('name'))
        if resource == 'pods' and verb == 'delete':
            self.deleted_pods.append(key)
            return {}
        if verb == 'get':
            return copy.deepcopy(self.accounts[key])
        if verb == 'update':
            body = kwargs['body']
            live = self.accounts[key]
            if key in self.conflict_once:
                # a concurrent writer adds its own entry and bumps the resourceVersion
                self.conflict_once.discard(key)
                live.setdefault('imagePullSecrets', []).append({'name': 'theirs'})
                live['metadata']['resourceVersion'] = str(int(live['metadata']['resourceVersion']) + 1)
            if body['metadata']['resourceVersion'] != live['metadata']['resourceVersion']:
                raise ConflictError('conflict', status=409)
            body = copy.deepcopy(body)
            body['metadata']['resourceVersion'] = str(int(live['metadata']['resourceVersion']) + 1)
            self.accounts[key] = body
            return body
        if verb == 'create':
            body = copy.deepcopy(kwargs['body'])
            body['metadata']['resourceVersion'] = '1'
            self.accounts[key] = body
            return body
        raise AssertionError(verb)


def test_runner_constant_lists_on_noop():
    names = ['ns-%03d' % i for i in range(200)]
    kube = FakeKube(names, [sa(ns=n, secrets=['regcred']) for n in names], secrets=[(n, 'regcred') for n in names])
    result = SaPullSecretRunner(params(namespaces=['ns-*']), kube=kube).run()
    assert result['changed'] is False
    assert result['summary'] == {'unchanged': 200}
    assert kube.request_count == 4      # namespaces, serviceaccounts, secrets (1 name), unfinished pods
    assert all(c[0] == 'list' for c in kube.calls)


def test_runner_conflict_is_retried_and_both_entries_survive():
    kube = FakeKube(['apps'], [sa(secrets=['a'])], secrets=[('apps', 'regcred')])
    kube.conflict_once.add(('apps', 'default'))
    result = SaPullSecretRunner(params(), kube=kube).run()
    assert result['results'][0]['action'] == 'updated'
    assert result['results'][0]['image_pull_secrets'] == ['a', 'theirs', 'regcred']
    written = kube.accounts[('apps', 'default')]['imagePullSecrets']
    assert written == [{'name': 'a'}, {'name': 'theirs'}, {'name': 'regcred'}]
    verbs = [c[0] for c in kube.calls if c[0] != 'list']
    assert verbs == ['update', 'get', 'update']


def test_runner_check_mode_writes_nothing():
    kube = FakeKube(['apps'], [sa(secrets=['a'])], secrets=[('apps', 'regcred')])
    result = SaPullSecretRunner(params(), kube=kube, check_mode=True, diff=True).run()
    assert result['changed'] is True
    assert result['results'][0]['action'] == 'updated'
    assert result['diff'] == [{'before_header': 'serviceaccount apps/default',
                               'after_header': 'serviceaccount apps/default',
                               'before': {'image_pull_secrets': ['a']},
                               'after': {'image_pull_secrets': ['a', 'regcred']}}]
    assert all(c[0] == 'list' for c in kube.calls)


def test_runner_check_mode_asks_for_the_rights_only_with_check_rights():
    kube = FakeKube(['apps'], [sa(secrets=['a'])], secrets=[('apps', 'regcred')])
    SaPullSecretRunner(params(), kube=kube, check_mode=True).run()
    assert kube.reviews == []
    kube = FakeKube(['apps'], [sa(secrets=['a'])], secrets=[('apps', 'regcred')])
    result = SaPullSecretRunner(params(check_rights=True), kube=kube, check_mode=True).run()
    assert result['changed'] is True and all(c[0] == 'list' for c in kube.calls)
    assert sorted((r['verb'], r['resource']) for r in kube.reviews) == [('get', 'serviceaccounts'),
                                                                        ('update', 'serviceaccounts')]


def test_runner_missing_secret_ignored_is_reported_without_a_warning():
    kube = FakeKube(['apps'], [sa()], secrets=[])
    warnings = []
    result = SaPullSecretRunner(params(on_missing_secret='ignore'), kube=kube, check_mode=True,
                                warn=warnings.append).run()
    assert result['missing_pull_secrets'][0]['pull_secrets'] == ['regcred']
    assert warnings == []


def test_runner_warns_missing_secret_and_can_fail():
    kube = FakeKube(['apps'], [sa()], secrets=[('default', 'regcred')])
    warnings = []
    result = SaPullSecretRunner(params(), kube=kube, warn=warnings.append).run()
    assert result['missing_pull_secrets'] == [{'namespace': 'apps', 'pull_secrets': ['regcred'],
                                               'found_in': {'regcred': ['default']}}]
    assert any('namespace apps' in w and 'found in: default' in w for w in warnings)
    kube = FakeKube(['apps'], [sa()], secrets=[('default', 'regcred')])
    with pytest.raises(ValidationError) as err:
        SaPullSecretRunner(params(on_missing_secret='fail'), kube=kube).run()
    assert 'nothing was changed' in err.value.msg
    assert all(c[0] == 'list' for c in kube.calls)


def test_runner_missing_and_create():
    kube = FakeKube(['apps'], [], secrets=[('apps', 'regcred')])
    result = SaPullSecretRunner(params(service_accounts=['ci']), kube=kube).run()
    assert result['results'][0]['action'] == 'missing' and result['changed'] is False
    result = SaPullSecretRunner(params(service_accounts=['ci'], create_service_accounts=True), kube=kube).run()
    assert result['results'][0]['action'] == 'created'
    assert kube.accounts[('apps', 'ci')]['metadata']['labels'] == {'app.kubernetes.io/managed-by': 'registrylink.k8s'}


def test_runner_restarts_only_controller_owned_pods():
    pods = [pod('bare', secrets=['a']), pod('owned', secrets=['a'], owner='web-1')]
    kube = FakeKube(['apps'], [sa(secrets=['a'])], secrets=[('apps', 'regcred')], pods=pods)
    result = SaPullSecretRunner(params(), kube=kube).run()
    assert [(p['name'], p['action']) for p in result['stuck_pods']] == [('bare', 'reported'), ('owned', 'reported')]
    assert kube.deleted_pods == []
    kube = FakeKube(['apps'], [sa(secrets=['a'])], secrets=[('apps', 'regcred')], pods=pods)
    result = SaPullSecretRunner(params(restart_stuck_pods=True), kube=kube).run()
    assert [(p['name'], p['action']) for p in result['stuck_pods']] == [('bare', 'reported'), ('owned', 'restarted')]
    assert kube.deleted_pods == [('apps', 'owned')]


def test_runner_restarts_a_running_phase_pod_whose_restart_cannot_pull():
    # as the kubelet reports it: the container ran, exited, and its image cannot be pulled again,
    # so the Pod stays in phase Running while the container waits in ImagePullBackOff
    restarting = pod('restarting', owner='web-1')
    restarting['status']['phase'] = 'Running'
    restarting['status']['containerStatuses'][0]['lastState'] = {'terminated': {'exitCode': 1}}
    done = pod('done', owner='job-1')
    done['status']['phase'] = 'Failed'
    kube = FakeKube(['apps'], [sa()], secrets=[('apps', 'regcred')], pods=[restarting, done])
    result = SaPullSecretRunner(params(restart_stuck_pods=True), kube=kube).run()
    assert [(p['name'], p['action']) for p in result['stuck_pods']] == [('restarting', 'restarted')]
    assert kube.deleted_pods == [('apps', 'restarting')]


def test_runner_failure_is_reported_at_the_end():
    kube = FakeKube(['apps', 'web'], [sa(secrets=['a']), sa(ns='web')], secrets=[('apps', 'regcred'), ('web', 'regcred')])
    original = kube.call

    def failing(verb, resource, func, namespace=None, name=None, **kwargs):
        if verb == 'update' and namespace == 'apps':
            raise KubernetesAPIError('forbidden: the credentials cannot update serviceaccounts/default in namespace apps',
                                     status=403)
        return original(verb, resource, func, namespace=namespace, name=name, **kwargs)

    kube.call = failing
    with pytest.raises(RegistryLinkError) as err:
        SaPullSecretRunner(params(namespaces=['apps', 'web']), kube=kube).run()
    details = err.value.details
    assert [(r['namespace'], r['action']) for r in details['results']] == [('apps', 'failed'), ('web', 'updated')]
    assert details['results'][0]['image_pull_secrets'] == ['a']
    assert details['changed'] is True
    assert 'apps/default' in err.value.msg


def test_runner_writes_are_bounded():
    names = ['ns-%02d' % i for i in range(40)]
    kube = FakeKube(names, [sa(ns=n) for n in names], secrets=[(n, 'regcred') for n in names])
    lock = threading.Lock()
    state = {'now': 0, 'peak': 0}
    original = kube.call

    def slow(verb, resource, func, namespace=None, name=None, **kwargs):
        if verb != 'update':
            return original(verb, resource, func, namespace=namespace, name=name, **kwargs)
        with lock:
            state['now'] += 1
            state['peak'] = max(state['peak'], state['now'])
        time.sleep(0.01)
        try:
            with lock:
                return original(verb, resource, func, namespace=namespace, name=name, **kwargs)
        finally:
            with lock:
                state['now'] -= 1

    kube.call = slow
    result = SaPullSecretRunner(params(namespaces=['ns-*'], max_concurrent_writes=3), kube=kube).run()
    assert result['summary'] == {'updated': 40}
    assert 1 < state['peak'] <= 3


@pytest.mark.parametrize('annotations', [None, {'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/r'}])
def test_purge_refuses_an_empty_list(annotations):
    # An empty list with purge would strip other people's entries from every ServiceAccount in scope.
    params = {'pull_secrets': [], 'purge': True, 'state': 'present', 'namespaces': ['a'], 'annotations': annotations}
    with pytest.raises(ValidationError) as err:
        validate_params(params)
    assert err.value.field == 'purge'
