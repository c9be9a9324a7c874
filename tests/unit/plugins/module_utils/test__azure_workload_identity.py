# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of azure_workload_identity's planner and runner (_azure_workload_identity.py).

The runner runs against an in-memory Resource Manager (FakeArm, on fake_arm.FakeArmBase): a cluster, a registry, role definitions,
role assignments, user-assigned identities and their federated credentials. The HTTP shapes are checked
end to end against the stand-in in tests/integration/test_acr.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils._azure_workload_identity import (
    CLIENT_ID_ANNOTATION,
    PENDING,
    TENANT_ID_ANNOTATION,
    AzureWorkloadIdentityRunner,
    credential_name,
    plan_credential,
    plan_identity,
    validate_params,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.tests.unit.plugins.module_utils.fake_arm import (
    AKS, READER, REG, SUB, FakeArmBase, not_found,
)

TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
UAMI = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/scanner' % SUB
ISSUER = 'https://oidc.prod-aks.azure.com/abc/'


def params(**kw):
    base = dict(identity_id=UAMI, cluster_id=AKS, namespace='tools', service_account='scanner', credential_name=None,
                audiences=['api://AzureADTokenExchange'], location=None, registry_id=REG, role='auto',
                wait_timeout='10m', state='present', tenant_id=None, client_id=None, client_secret=None,
                authority_host=None, arm_endpoint=None, ca_path=None)
    base.update(kw)
    return base


class FakeArm(FakeArmBase):
    """The base's registry and role assignments, a managed cluster with its OIDC issuer and workload
    identity switches, user-assigned identities and their federated credentials."""

    def __init__(self, oidc=True, workload_identity=True, mode='LegacyRegistryPermissions'):
        super(FakeArm, self).__init__(mode=mode)
        self.oidc, self.wi = oidc, workload_identity
        self.identities, self.fics = {}, {}

    def route(self, method, path, body):
        if path == AKS:
            return 200, {'id': AKS, 'name': 'prod', 'location': 'westeurope', 'properties': {
                'oidcIssuerProfile': {'enabled': self.oidc, 'issuerURL': ISSUER if self.oidc else None},
                'securityProfile': {'workloadIdentity': {'enabled': self.wi}}}}, {}
        if path == UAMI + '/federatedIdentityCredentials':
            return 200, {'value': [f for p, f in self.fics.items() if p.startswith(UAMI + '/')]}, {}
        if '/federatedIdentityCredentials/' in path:
            if method == 'PUT':
                self.fics[path] = {'id': path, 'name': path.rsplit('/', 1)[1], 'properties': body['properties']}
                return 201, self.fics[path], {}
            if method == 'DELETE':
                self.fics.pop(path, None)
                return 200, {}, {}
            if path in self.fics:
                return 200, self.fics[path], {}
            raise not_found(path)
        if path == UAMI:
            if method == 'PUT':
                self.identities[path] = {'id': path, 'name': 'scanner', 'location': body['location'],
                                         'tags': body.get('tags'), 'properties': {
                                             'clientId': 'c1c1c1c1-0000-4000-8000-000000000001',
                                             'principalId': 'b2b2b2b2-0000-4000-8000-000000000002',
                                             'tenantId': TENANT}}
                return 201, self.identities[path], {}
            if method == 'DELETE':
                self.identities.pop(path, None)
                self.fics = dict((p, f) for p, f in self.fics.items() if not p.startswith(UAMI + '/'))
                return 200, {}, {}
            if path in self.identities:
                return 200, self.identities[path], {}
            raise not_found(path)
        return None


def run(arm, check_mode=False, warnings=None, **kw):
    runner = AzureWorkloadIdentityRunner(params(**kw), check_mode=check_mode,
                                         warn=(warnings if warnings is not None else []).append, arm=arm,
                                         sleep=lambda s: None, clock=lambda: 0.0)
    return runner.run()


# --------------------------------------------------------------------------- pure parts

def test_credential_name_default_and_long_names():
    assert credential_name('tools', 'scanner') == 'registrylink-tools-scanner'
    assert credential_name('tools', 'a.b') == 'registrylink-tools-a-b'
    long_sa = 'x' * 200
    name = credential_name('tools', long_sa)
    assert len(name) == 120 and name != credential_name('tools', 'x' * 199)
    assert validate_params(params(service_account=long_sa))['credential_name'] == name


@pytest.mark.parametrize('state, current, others, action', [
    ('present', None, [], 'create'),
    ('present', {'managed': False}, [], 'unchanged'),
    ('absent', None, [], 'absent'),
    ('absent', {'managed': True}, [], 'delete'),
    ('absent', {'managed': True}, ['someone-else'], 'kept'),
    ('absent', {'managed': False}, [], 'kept'),
])
def test_plan_identity(state, current, others, action):
    assert plan_identity(state, current, others) == action


DESIRED = {'issuer': ISSUER, 'subject': 'system:serviceaccount:tools:scanner', 'audiences': ['api://AzureADTokenExchange']}


@pytest.mark.parametrize('state, current, issuer_known, action', [
    ('present', None, True, 'create'),
    ('present', dict(DESIRED), True, 'unchanged'),
    ('present', dict(DESIRED, issuer='https://old/'), True, 'update'),
    ('present', dict(DESIRED, audiences=['other']), True, 'update'),
    ('absent', None, True, 'absent'),
    ('absent', dict(DESIRED), True, 'delete'),
    ('absent', dict(DESIRED, subject='system:serviceaccount:x:y'), True, 'kept'),
    ('absent', dict(DESIRED, issuer='https://other/'), True, 'kept'),
    ('absent', dict(DESIRED, issuer='https://other/'), False, 'delete'),
])
def test_plan_credential(state, current, issuer_known, action):
    assert plan_credential(state, current, DESIRED, issuer_known) == action


@pytest.mark.parametrize('kw, field', [
    (dict(identity_id='/subscriptions/x/identities/y'), 'identity_id'),
    (dict(identity_id=UAMI.replace('/scanner', '/ab')), 'identity_id'),
    (dict(cluster_id=REG), 'cluster_id'),
    (dict(namespace='Tools'), 'namespace'),
    (dict(namespace=None), 'namespace'),
    (dict(service_account='bad_name'), 'service_account'),
    (dict(credential_name='-bad'), 'credential_name'),
    (dict(credential_name='a' * 121), 'credential_name'),
    (dict(audiences=[]), 'audiences'),
    (dict(audiences=['a', 'b']), 'audiences'),
    (dict(location='west europe'), 'location'),
    (dict(registry_id='/subscriptions/x'), 'registry_id'),
    (dict(role='bad\nrole'), 'role'),
    (dict(registry_id=None, role='AcrPull'), 'role'),
    (dict(wait_timeout='soon'), 'wait_timeout'),
    (dict(arm_endpoint='http://arm.example'), 'arm_endpoint'),
    (dict(client_id='not-a-guid'), 'client_id'),
])
def test_validate_refuses_with_the_field(kw, field):
    with pytest.raises(ValidationError) as err:
        validate_params(params(**kw))
    assert err.value.field == field and field in err.value.msg


# --------------------------------------------------------------------------- runner

def test_check_real_rerun_absent_cycle():
    arm = FakeArm()
    r = run(arm, check_mode=True)
    assert r['changed'] and r['identity']['action'] == 'create' and r['federated_credential']['action'] == 'create'
    assert r['role_assignment']['action'] == 'create' and r['role_assignment']['role'] == 'AcrPull'
    assert r['service_account_annotations'] == {CLIENT_ID_ANNOTATION: PENDING}
    assert r['diff']['after']['federated_credential']['issuer'] == ISSUER
    assert arm.writes() == []

    r = run(arm)
    assert r['changed'] and r['identity']['client_id'] == 'c1c1c1c1-0000-4000-8000-000000000001'
    assert arm.identities[UAMI]['tags'] == {'managed-by': 'registrylink.k8s'}
    fic = list(arm.fics.values())[0]
    assert len(arm.fics) == 1
    assert fic['name'] == 'registrylink-tools-scanner'
    assert fic['properties'] == {'issuer': ISSUER, 'subject': 'system:serviceaccount:tools:scanner',
                                 'audiences': ['api://AzureADTokenExchange']}
    assert len(arm.assignments) == 1
    grant = list(arm.assignments.values())[0]
    assert grant['properties']['principalId'] == 'b2b2b2b2-0000-4000-8000-000000000002'
    assert grant['properties']['principalType'] == 'ServicePrincipal'
    assert r['service_account_annotations'] == {CLIENT_ID_ANNOTATION: 'c1c1c1c1-0000-4000-8000-000000000001',
                                                TENANT_ID_ANNOTATION: TENANT}

    writes = len(arm.writes())
    r = run(arm)
    assert not r['changed'] and r['identity']['action'] == 'unchanged'
    assert r['federated_credential']['action'] == 'unchanged' and r['role_assignment']['action'] == 'unchanged'
    assert len(arm.writes()) == writes

    r = run(arm, check_mode=True, state='absent')
    assert r['changed'] and r['identity']['action'] == 'delete' and len(arm.writes()) == writes
    r = run(arm, state='absent')
    assert r['changed'] and r['federated_credential']['action'] == 'delete' and r['role_assignment']['action'] == 'delete'
    assert arm.identities == {} and arm.fics == {} and arm.assignments == {}
    r = run(arm, state='absent')
    assert not r['changed'] and r['identity']['action'] == 'absent' and r['role_assignment'] is None


def test_changed_issuer_updates_the_credential_only():
    arm = FakeArm()
    run(arm)
    path = list(arm.fics)[0]
    arm.fics[path]['properties']['issuer'] = 'https://old-issuer/'
    r = run(arm)
    assert r['changed'] and r['federated_credential']['action'] == 'update' and r['identity']['action'] == 'unchanged'
    assert r['diff']['before']['federated_credential']['issuer'] == 'https://old-issuer/'
    assert arm.fics[path]['properties']['issuer'] == ISSUER


@pytest.mark.parametrize('oidc, wi, words', [
    (False, False, 'has no OIDC issuer'),
    (True, False, 'workload identity turned off'),
])
def test_cluster_without_issuer_or_webhook_fails_before_any_write(oidc, wi, words):
    arm = FakeArm(oidc=oidc, workload_identity=wi)
    with pytest.raises(ValidationError) as err:
        run(arm)
    assert err.value.field == 'cluster_id' and words in err.value.msg
    assert 'az aks update -g rg -n prod --enable-oidc-issuer --enable-workload-identity' in err.value.msg
    assert arm.writes() == []


def test_unknown_role_fails_before_any_write():
    arm = FakeArm()
    with pytest.raises(ValidationError) as err:
        run(arm, role='NoSuchRole')
    assert err.value.field == 'role' and arm.writes() == []


def test_abac_registry_grants_the_reader_role():
    arm = FakeArm(mode='AbacRepositoryPermissions')
    r = run(arm)
    assert r['role_assignment']['role'] == 'Container Registry Repository Reader'
    assert len(arm.assignments) == 1
    grant = list(arm.assignments.values())[0]
    assert grant['properties']['roleDefinitionId'].endswith(READER)


def test_foreign_identity_and_credentials_are_left_in_place():
    arm = FakeArm()
    # an identity someone else made (no tag), with their own federated credential
    arm.identities[UAMI] = {'id': UAMI, 'name': 'scanner', 'location': 'westeurope', 'tags': {},
                            'properties': {'clientId': 'c1', 'principalId': 'b2b2b2b2-0000-4000-8000-000000000002',
                                           'tenantId': TENANT}}
    theirs = UAMI + '/federatedIdentityCredentials/github'
    arm.fics[theirs] = {'id': theirs, 'name': 'github', 'properties': {
        'issuer': 'https://token.actions.githubusercontent.com', 'subject': 'repo:x/y:ref:refs/heads/main',
        'audiences': ['api://AzureADTokenExchange']}}
    r = run(arm, registry_id=None)
    assert r['identity']['action'] == 'unchanged' and r['identity']['managed'] is False
    assert r['federated_credential']['action'] == 'create' and r['role_assignment'] is None
    warnings = []
    r = run(arm, registry_id=None, state='absent', warnings=warnings)
    assert r['federated_credential']['action'] == 'delete' and r['identity']['action'] == 'kept'
    assert UAMI in arm.identities and list(arm.fics) == [theirs]
    assert any('does not carry the tag' in w for w in warnings)


def test_a_credential_of_that_name_trusting_another_subject_is_kept_on_absent():
    arm = FakeArm()
    run(arm, registry_id=None)
    path = list(arm.fics)[0]
    arm.fics[path]['properties']['subject'] = 'system:serviceaccount:other:sa'
    warnings = []
    r = run(arm, registry_id=None, state='absent', warnings=warnings)
    assert r['federated_credential']['action'] == 'kept' and r['identity']['action'] == 'kept'
    assert path in arm.fics and UAMI in arm.identities
    assert any('left in place' in w for w in warnings)


def test_absent_with_the_cluster_gone_matches_the_subject_only():
    arm = FakeArm()
    run(arm, registry_id=None)
    arm.oidc = False
    r = run(arm, registry_id=None, state='absent')
    assert r['issuer'] is None and r['federated_credential']['action'] == 'delete'
    assert r['identity']['action'] == 'delete' and arm.identities == {}
