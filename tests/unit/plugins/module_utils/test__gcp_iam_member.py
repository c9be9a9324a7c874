# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of gcp_iam_member: validation, the pure planner, and the read-modify-write runner
against an in-memory policy store with etag semantics (a stale etag is refused with 409)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import itertools

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _gcp
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._gcp_iam_member import (
    GcpIamMemberRunner,
    plan_member,
    validate_params,
)

NODE_SA = 'serviceAccount:gke-nodes@my-proj.iam.gserviceaccount.com'
READER = 'roles/artifactregistry.reader'
COND = {'title': 'until-2027', 'expression': 'request.time < timestamp("2027-01-01T00:00:00Z")'}


def params(**kw):
    base = dict(project='my-proj', repository=None, location=None, service_account=None, member=NODE_SA,
                role=READER, condition=None, state='present', credentials_file=None, token_uri=None,
                resource_manager_endpoint=None, artifact_registry_endpoint=None, iam_endpoint=None,
                container_endpoint=None)
    base.update(kw)
    return base


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize('kw, kind, resource', [
    ({}, 'project', 'projects/my-proj'),
    ({'repository': 'team', 'location': 'europe-west1'}, 'repository',
     'projects/my-proj/locations/europe-west1/repositories/team'),
    ({'project': None, 'service_account': 'refresher@my-proj.iam.gserviceaccount.com'}, 'service_account',
     'projects/-/serviceAccounts/refresher@my-proj.iam.gserviceaccount.com'),
    ({'repository': 'eu.gcr.io', 'location': 'europe'}, 'repository',
     'projects/my-proj/locations/europe/repositories/eu.gcr.io'),
])
def test_validate_resource(kw, kind, resource):
    out = validate_params(params(**kw))
    assert (out['kind'], out['resource']) == (kind, resource)
    assert out['resource_manager_endpoint'] == 'https://cloudresourcemanager.googleapis.com'


@pytest.mark.parametrize('kw, field', [
    ({'project': None}, 'project'),
    ({'project': 'My_Proj'}, 'project'),
    ({'repository': 'team'}, 'location'),
    ({'location': 'europe-west1'}, 'location'),
    ({'repository': 'europe-docker.pkg.dev/my-proj/team', 'location': 'europe'}, 'repository'),
    ({'service_account': 'refresher', 'project': None}, 'service_account'),
    ({'service_account': 'a@my-proj.iam.gserviceaccount.com', 'repository': 'team', 'location': 'us'},
     'service_account'),
    ({'member': 'gke-nodes@my-proj.iam.gserviceaccount.com'}, 'member'),
    ({'member': 'serviceAccount:'}, 'member'),
    ({'member': 'deleted:serviceAccount:x@y.iam.gserviceaccount.com?uid=1'}, 'member'),
    ({'role': 'artifactregistry.reader'}, 'role'),
    ({'condition': {'title': 't'}}, 'condition'),
    ({'condition': {'title': 't', 'expression': 'true', 'colour': 'red'}}, 'condition'),
    ({'iam_endpoint': 'iam.googleapis.com'}, 'iam_endpoint'),
    ({'repository': 'eu.gcr.io', 'location': 'europe-west1'}, 'location'),
    ({'repository': 'gcr.io', 'location': 'europe'}, 'location'),
])
def test_validate_refuses_naming_the_field(kw, field):
    with pytest.raises(ValidationError) as err:
        validate_params(params(**kw))
    assert err.value.field == field and err.value.msg.startswith(field + ':')


@pytest.mark.parametrize('member', [
    NODE_SA, 'user:a@example.com', 'group:g@example.com', 'domain:example.com',
    'serviceAccount:my-proj.svc.id.goog[ops/refresher]',
    'principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/my-proj.svc.id.goog/subject/ns/ops/sa/refresher',
    'principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/my-proj.svc.id.goog/namespace/ops'])
def test_validate_accepts_member_forms(member):
    assert validate_params(params(member=member))['member'] == member


# --------------------------------------------------------------------------- planner

def policy(*bindings, **kw):
    out = {'version': kw.get('version', 1), 'etag': kw.get('etag', 'BwE1'), 'bindings': list(bindings)}
    if 'auditConfigs' in kw:
        out['auditConfigs'] = kw['auditConfigs']
    return out


def test_add_to_an_existing_binding_keeps_everything_else():
    other = {'role': 'roles/owner', 'members': ['user:boss@example.com']}
    cond = {'role': READER, 'members': ['group:c@example.com'], 'condition': COND}
    audit = [{'service': 'allServices', 'auditLogConfigs': [{'logType': 'DATA_READ'}]}]
    before = policy(other, {'role': READER, 'members': ['user:a@example.com']}, cond, version=3, auditConfigs=audit)
    frozen = copy.deepcopy(before)
    action, new = plan_member(before, READER, NODE_SA, None, 'present')
    assert action == 'added' and before == frozen
    assert new['bindings'][0] == other and new['bindings'][2] == cond
    assert new['bindings'][1]['members'] == ['user:a@example.com', NODE_SA]
    assert new['etag'] == 'BwE1' and new['version'] == 3 and new['auditConfigs'] == audit


def test_add_new_binding_and_the_conditional_one_is_separate():
    before = policy({'role': READER, 'members': [NODE_SA]})
    action, new = plan_member(before, READER, NODE_SA, COND, 'present')
    assert action == 'added'
    assert new['bindings'][1] == {'role': READER, 'members': [NODE_SA], 'condition': COND}
    assert new['version'] == 3


def test_present_twice_is_unchanged_and_absent_of_missing_is_absent():
    before = policy({'role': READER, 'members': [NODE_SA]})
    assert plan_member(before, READER, NODE_SA, None, 'present') == ('unchanged', None)
    assert plan_member(before, READER, 'user:x@example.com', None, 'absent') == ('absent', None)
    assert plan_member(before, READER, NODE_SA, COND, 'absent') == ('absent', None)


def test_remove_drops_an_empty_binding_and_keeps_the_conditional_one():
    cond = {'role': READER, 'members': [NODE_SA], 'condition': COND}
    before = policy({'role': READER, 'members': [NODE_SA]}, cond, version=3)
    action, new = plan_member(before, READER, NODE_SA, None, 'absent')
    assert action == 'removed' and new['bindings'] == [cond] and new['version'] == 3


# --------------------------------------------------------------------------- runner with etag semantics

class PolicyStore(object):
    """getIamPolicy / setIamPolicy over one policy, with Google's etag rule; ``interfere`` runs
    before the next N sets (a concurrent writer)."""

    def __init__(self, initial):
        self.policy = copy.deepcopy(initial)
        self.etags = itertools.count(2)
        self.interfere = []
        self.calls = []

    def call(self, method, url, body=None, params=None, action=None):
        self.calls.append((method, url, body, params))
        if url.endswith(':getIamPolicy'):
            return copy.deepcopy(self.policy)
        if self.interfere:
            self.interfere.pop(0)(self)
        new = body['policy']
        if new.get('etag') != self.policy['etag']:
            raise _gcp.GoogleAPIError('setIamPolicy failed: HTTP 409 ABORTED', status=409, reason='ABORTED')
        self.policy = dict(copy.deepcopy(new), etag='BwE%d' % next(self.etags))
        return copy.deepcopy(self.policy)

    def add(self, role, member):
        for b in self.policy['bindings']:
            if b['role'] == role and not b.get('condition'):
                b['members'].append(member)
                break
        else:
            self.policy['bindings'].append({'role': role, 'members': [member]})
        self.policy['etag'] = 'BwE%d' % next(self.etags)


def run(store, check_mode=False, **kw):
    runner = GcpIamMemberRunner(params(**kw), check_mode=check_mode, diff=True, api=store, sleep=lambda s: None)
    return runner.run()


def test_check_mode_reads_only_then_real_then_rerun_unchanged_then_absent():
    store = PolicyStore(policy({'role': 'roles/owner', 'members': ['user:boss@example.com']}))
    check = run(store, check_mode=True)
    assert check['changed'] and check['action'] == 'added' and [c[0] for c in store.calls] == ['POST']
    assert store.policy['etag'] == 'BwE1'
    real = run(store)
    assert real['changed'] and real['after']['members'] == [NODE_SA] and real['etag'] == store.policy['etag']
    assert real['diff']['before']['members'] == [] and real['diff']['after']['members'] == [NODE_SA]
    again = run(store)
    assert not again['changed'] and again['action'] == 'unchanged' and 'diff' not in again
    gone = run(store, state='absent')
    assert gone['changed'] and gone['action'] == 'removed'
    assert store.policy['bindings'] == [{'role': 'roles/owner', 'members': ['user:boss@example.com']}]
    assert not run(store, state='absent')['changed']


def test_a_concurrent_change_is_retried_and_both_bindings_survive():
    store = PolicyStore(policy())
    store.interfere = [lambda s: s.add('roles/viewer', 'user:other@example.com'),
                       lambda s: s.add(READER, 'user:third@example.com')]
    result = run(store)
    assert result['changed'] and result['conflicts_retried'] == 2
    members = dict((b['role'], b['members']) for b in store.policy['bindings'])
    assert members == {'roles/viewer': ['user:other@example.com'], READER: ['user:third@example.com', NODE_SA]}


def test_the_concurrent_writer_added_our_member_already():
    store = PolicyStore(policy())
    store.interfere = [lambda s: s.add(READER, NODE_SA)]
    result = run(store)
    assert result['action'] == 'unchanged' and not result['changed'] and result['conflicts_retried'] == 1


def test_endless_conflicts_fail_with_nothing_written():
    store = PolicyStore(policy())
    store.interfere = [lambda s: s.add('roles/viewer', 'user:u%d@example.com' % n) for n in range(10)]
    with pytest.raises(ProviderError) as err:
        run(store)
    assert 'changed between read and write 6 times' in err.value.msg
    assert all(NODE_SA not in b['members'] for b in store.policy['bindings'])


def test_other_errors_are_not_retried():
    class Denied(PolicyStore):
        def call(self, method, url, body=None, params=None, action=None):
            self.calls.append(url)
            raise _gcp.GoogleAPIError('getIamPolicy on projects/my-proj failed: HTTP 403 PERMISSION_DENIED', status=403)

    store = Denied(policy())
    with pytest.raises(_gcp.GoogleAPIError):
        run(store)
    assert len(store.calls) == 1


@pytest.mark.parametrize('kw, method, url, body, query', [
    ({}, 'POST', 'https://cloudresourcemanager.googleapis.com/v1/projects/my-proj:getIamPolicy',
     {'options': {'requestedPolicyVersion': 3}}, None),
    ({'repository': 'team', 'location': 'us'}, 'GET',
     'https://artifactregistry.googleapis.com/v1/projects/my-proj/locations/us/repositories/team:getIamPolicy',
     None, {'options.requestedPolicyVersion': 3}),
    ({'project': None, 'service_account': 'refresher@my-proj.iam.gserviceaccount.com'}, 'POST',
     'https://iam.googleapis.com/v1/projects/-/serviceAccounts/refresher@my-proj.iam.gserviceaccount.com:getIamPolicy',
     None, {'options.requestedPolicyVersion': 3}),
])
def test_each_resource_kind_uses_its_api_shape(kw, method, url, body, query):
    store = PolicyStore(policy())
    run(store, **kw)
    assert store.calls[0] == (method, url, body, query)
    set_body = store.calls[1][2]
    assert set_body['policy']['etag'] == 'BwE1'
    assert ('updateMask' in set_body) == (not kw)


@pytest.mark.parametrize('repository, location', [('gcr.io', 'us'), ('us.gcr.io', 'us'), ('eu.gcr.io', 'europe'),
                                                  ('asia.gcr.io', 'asia')])
def test_gcr_repositories_take_their_own_location(repository, location):
    assert validate_params(params(repository=repository, location=location))['resource'].endswith(
        '/locations/%s/repositories/%s' % (location, repository))
    with pytest.raises(ValidationError) as err:
        validate_params(params(repository=repository, location='asia-east1'))
    assert 'location %s, not asia-east1' % location in err.value.msg and 'Container Registry is shut down' in err.value.msg


def test_storage_object_viewer_gets_the_gcr_shutdown_explanation_and_is_still_granted():
    store = PolicyStore(policy())
    warnings = []
    runner = GcpIamMemberRunner(params(role='roles/storage.objectViewer'), warn=warnings.append, api=store,
                                sleep=lambda s: None)
    assert runner.run()['changed']
    (warning,) = warnings
    assert 'Container Registry is shut down' in warning and 'roles/artifactregistry.reader' in warning
    warnings[:] = []
    GcpIamMemberRunner(params(), warn=warnings.append, api=PolicyStore(policy()), sleep=lambda s: None).run()
    GcpIamMemberRunner(params(role='roles/storage.objectViewer', state='absent'), warn=warnings.append,
                       api=store, sleep=lambda s: None).run()
    assert warnings == []
