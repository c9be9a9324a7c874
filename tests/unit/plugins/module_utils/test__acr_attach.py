# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of acr_attach's planner and runner (_acr_attach.py) and of the ARM client (_azure.ArmClient).

The runner runs against an in-memory Resource Manager (FakeArm, on fake_arm.FakeArmBase): cluster, registry,
role definitions and role assignments with a propagation window counted in GET calls. The HTTP shapes are checked end to end
against the stand-in in tests/integration/test_acr.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _azure
from ansible_collections.registrylink.k8s.plugins.module_utils._acr_attach import (
    AcrAttachRunner,
    assignment_name,
    plan_assignment,
    validate_params,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import AzureAPIError, ValidationError
from ansible_collections.registrylink.k8s.tests.unit.plugins.module_utils.fake_arm import AKS, PULL, READER, REG, FakeArmBase

KUBELET = '6f1d2c3b-4a59-4e68-9f7a-8b9c0d1e2f30'


def params(**kw):
    base = dict(registry_id=REG, cluster_id=AKS, principal_id=None, principal_type='ServicePrincipal', role='auto',
                state='present', wait_timeout='10m', tenant_id=None, client_id=None, client_secret=None,
                authority_host=None, arm_endpoint=None, ca_path=None)
    base.update(kw)
    return base


class FakeArm(FakeArmBase):
    """The base's registry and role assignments, and a managed cluster with a kubelet identity (or,
    ``kubelet=None``, a service principal)."""

    def __init__(self, mode='LegacyRegistryPermissions', invisible_gets=0, kubelet=KUBELET):
        super(FakeArm, self).__init__(mode=mode, invisible_gets=invisible_gets)
        self.kubelet = kubelet

    def route(self, method, path, body):
        if path == AKS:
            props = {'servicePrincipalProfile': {'clientId': 'msi' if self.kubelet else 'sp-app-id'}}
            if self.kubelet:
                props['identityProfile'] = {'kubeletidentity': {'objectId': self.kubelet}}
            return 200, {'id': AKS, 'name': 'prod', 'properties': props}, {}
        return None


class Clock(object):
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s


def run(arm, check_mode=False, warnings=None, clock=None, **kw):
    clock = clock or Clock()
    runner = AcrAttachRunner(params(**kw), check_mode=check_mode, warn=(warnings if warnings is not None else []).append, arm=arm,
                             sleep=clock.sleep, clock=clock)
    return runner.run()


# --------------------------------------------------------------------------- pure parts

def test_assignment_name_is_deterministic_and_case_insensitive():
    a = assignment_name(REG, KUBELET, PULL)
    assert a == assignment_name(REG.lower(), KUBELET.upper(), PULL.upper())
    assert a != assignment_name(REG, KUBELET, READER) and a != assignment_name(REG, PULL, PULL)
    assert len(a) == 36 and a[14] == '5'  # a version-5 UUID


@pytest.mark.parametrize('state, names, action', [
    ('present', [], 'create'), ('present', ['ours'], 'unchanged'), ('present', ['cli'], 'unchanged'),
    ('absent', ['ours', 'cli'], 'delete'), ('absent', ['cli'], 'kept'), ('absent', [], 'absent'),
])
def test_plan_assignment(state, names, action):
    assert plan_assignment(state, 'ours', [{'name': n} for n in names])[0] == action


@pytest.mark.parametrize('kw, field', [
    (dict(registry_id='myregistry'), 'registry_id'),
    (dict(registry_id=REG.replace('registries', 'vaults')), 'registry_id'),
    (dict(cluster_id=None), 'cluster_id'),
    (dict(principal_id=KUBELET), 'cluster_id'),
    (dict(cluster_id='prod'), 'cluster_id'),
    (dict(cluster_id=None, principal_id='kubelet'), 'principal_id'),
    (dict(principal_type='robot'), 'principal_type'),
    (dict(role='Acr;Pull'), 'role'),
    (dict(wait_timeout='soon'), 'wait_timeout'),
    (dict(arm_endpoint='http://management.azure.com'), 'arm_endpoint'),
    (dict(tenant_id='not a tenant'), 'tenant_id'),
    (dict(client_secret='s3cret'), 'tenant_id'),
])
def test_validate_refuses_with_the_field(kw, field):
    with pytest.raises(ValidationError) as err:
        validate_params(params(**kw))
    assert err.value.field == field and 's3cret' not in err.value.msg


def test_validate_defaults():
    out = validate_params(params(wait_timeout='90s', registry_id=REG + '/'))
    assert out['registry_id'] == REG and out['wait_timeout'] == 90 and out['arm_endpoint'] == _azure.ARM_ENDPOINT


# --------------------------------------------------------------------------- runner

def test_create_waits_for_propagation_then_reruns_unchanged():
    arm, clock = FakeArm(invisible_gets=3), Clock()
    r = run(arm, clock=clock)
    assert r['changed'] and r['action'] == 'create' and r['role'] == 'AcrPull' and r['managed']
    assert r['principal_id'] == KUBELET and r['principal_source'] == 'kubelet identity of prod'
    assert r['propagated'] is True and clock.sleeps == [2, 4, 8] and r['waited_seconds'] == 14
    assert len(arm.assignments) == 1
    a = next(iter(arm.assignments.values()))
    assert a['name'] == assignment_name(REG, KUBELET, PULL)
    assert a['properties']['principalType'] == 'ServicePrincipal' and a['properties']['roleDefinitionId'].endswith(PULL)
    before = len(arm.writes())
    again = run(arm)
    assert not again['changed'] and again['action'] == 'unchanged' and len(arm.writes()) == before


def test_check_mode_writes_nothing_and_shows_the_assignment():
    arm = FakeArm()
    r = run(arm, check_mode=True)
    assert r['changed'] and r['diff']['after']['assignment']['name'] == assignment_name(REG, KUBELET, PULL)
    assert r['diff']['before']['assignment'] is None and arm.writes() == []


def test_propagation_timeout_fails_with_a_hint_and_changed():
    arm, clock = FakeArm(invisible_gets=1000), Clock()
    with pytest.raises(AzureAPIError) as err:
        run(arm, clock=clock, wait_timeout='60s')
    assert err.value.code == 'RoleAssignmentNotPropagated' and err.value.details['changed'] is True
    assert 'up to 10 minutes' in err.value.details['hint'] and 60 <= clock.now <= 61
    assert max(clock.sleeps) <= 30


def test_abac_registry_gets_the_reader_role_and_acrpull_warns():
    arm = FakeArm(mode='AbacRepositoryPermissions')
    assert run(arm)['role'] == 'Container Registry Repository Reader'
    warnings = []
    r = run(arm, role='AcrPull', warnings=warnings)
    assert r['role'] == 'AcrPull' and 'not honoured' in warnings[0]


def test_someone_elses_assignment_is_present_but_never_removed():
    arm = FakeArm()
    other = REG + '/providers/Microsoft.Authorization/roleAssignments/00000000-aaaa-bbbb-cccc-000000000001'
    arm.assignments[other] = {'id': other, 'name': other.rsplit('/', 1)[1], 'properties': {
        'principalId': KUBELET, 'roleDefinitionId': '/x/roleDefinitions/' + PULL, 'scope': REG}}
    r = run(arm)
    assert not r['changed'] and not r['managed'] and r['assignment']['id'] == other
    warnings = []
    r = run(arm, state='absent', warnings=warnings)
    assert r['action'] == 'kept' and not r['changed'] and other in arm.assignments and warnings
    assert arm.writes() == []


def test_conflict_on_put_is_success():
    arm = FakeArm()
    arm.conflict_on_put = True
    r = run(arm)
    assert not r['changed'] and r['action'] == 'unchanged'


def test_principal_id_and_service_principal_cluster():
    arm = FakeArm(kubelet=None)
    with pytest.raises(ValidationError) as err:
        run(arm)
    assert err.value.field == 'cluster_id' and 'principal_id' in err.value.msg and 'az ad sp show' in err.value.msg
    r = run(arm, cluster_id=None, principal_id=KUBELET.upper(), principal_type='Group')
    assert r['principal_id'] == KUBELET and r['principal_source'] == 'principal_id'
    assert list(arm.assignments.values())[0]['properties']['principalType'] == 'Group'


# --------------------------------------------------------------------------- ArmClient

class FakeResponse(object):
    def __init__(self, status, body=None, headers=None):
        self.status_code = status
        self._body = body
        self.headers = headers or {}
        self.content = b'x' if body is not None else b''

    def json(self):
        return self._body


class FakeSession(object):
    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []

    def request(self, method, url, **kw):
        self.requests.append((method, url, kw))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_arm_client_retries_429_and_5xx_then_maps_errors():
    clock = Clock()
    session = FakeSession([FakeResponse(429, {}, {'Retry-After': '7'}), FakeResponse(503, {}),
                           FakeResponse(200, {'id': 'x'})])
    arm = _azure.ArmClient(lambda: 'tok', endpoint='https://arm.test', session=session, sleep=clock.sleep)
    assert arm.request('GET', '/subscriptions/x', '2022-04-01')[1] == {'id': 'x'}
    assert clock.sleeps == [7, 4]
    method, url, kw = session.requests[0]
    assert url == 'https://arm.test/subscriptions/x' and kw['params'] == {'api-version': '2022-04-01'}
    assert kw['headers']['Authorization'] == 'Bearer tok' and kw['allow_redirects'] is False
    session.answers = [FakeResponse(403, {'error': {'code': 'AuthorizationFailed', 'message': 'no  write'}})]
    with pytest.raises(AzureAPIError) as err:
        arm.request('PUT', '/subscriptions/x', '2022-04-01', body={})
    assert err.value.status == 403 and err.value.code == 'AuthorizationFailed' and 'no write' in err.value.msg
    assert 'tok' not in err.value.msg


def test_arm_client_unreachable_and_long_running_operations():
    clock = Clock()
    session = FakeSession([IOError('refused')] * 5)
    arm = _azure.ArmClient(lambda: 'tok', endpoint='https://arm.test', session=session, sleep=clock.sleep, clock=clock)
    with pytest.raises(AzureAPIError) as err:
        arm.request('GET', '/subscriptions/x', 'v')
    assert err.value.code == 'unreachable' and len(session.requests) == 5
    session.answers = [FakeResponse(200, {'status': 'InProgress'}), FakeResponse(200, {'status': 'Succeeded', 'x': 1})]
    done = arm.wait_operation({'Azure-AsyncOperation': 'https://arm.test/op/1?api-version=v'}, 'v')
    assert done['x'] == 1
    session.answers = [FakeResponse(200, {'status': 'Failed', 'error': {'code': 'Boom', 'message': 'broke'}})]
    with pytest.raises(AzureAPIError) as err:
        arm.wait_operation({'Location': 'https://arm.test/op/2'}, 'v')
    assert err.value.code == 'Boom'
