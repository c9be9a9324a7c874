# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of gke_cluster_info: validation, the pure description of node pools and Workload
Identity, and the runner against an in-memory GKE / Resource Manager API."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._gke_cluster_info import (
    GkeClusterInfoRunner,
    describe_node_pools,
    validate_params,
    workload_identity_problems,
    workload_principals,
)

NODES = 'gke-nodes@my-proj.iam.gserviceaccount.com'


def params(**kw):
    base = dict(project='my-proj', location='europe-west1', cluster='prod', workload_service_accounts=[],
                credentials_file=None, token_uri=None, resource_manager_endpoint=None, artifact_registry_endpoint=None,
                iam_endpoint=None, container_endpoint=None)
    base.update(kw)
    return base


def pool(name, account=None, mode=None):
    config = {}
    if account is not None:
        config['serviceAccount'] = account
    if mode is not None:
        config['workloadMetadataConfig'] = {'mode': mode}
    return {'name': name, 'config': config}


class FakeGoogle(object):
    def __init__(self, cluster, pools, number='123456789012'):
        self.cluster, self.pools, self.number = cluster, pools, number
        self.calls = []

    def call(self, method, url, body=None, params=None, action=None):
        self.calls.append((method, url))
        assert method == 'GET'
        if url.endswith('/nodePools'):
            return {'nodePools': self.pools}
        if '/v3/projects/' in url:
            return {'name': 'projects/%s' % self.number, 'projectId': url.rsplit('/', 1)[1]}
        return self.cluster


@pytest.mark.parametrize('kw, field', [
    ({'project': 'My_Proj'}, 'project'),
    ({'project': '123456789012'}, 'project'),
    ({'location': 'Europe West'}, 'location'),
    ({'cluster': 'Prod'}, 'cluster'),
    ({'cluster': 'a' * 41}, 'cluster'),
    ({'workload_service_accounts': [{'namespace': 'Team A', 'name': 'ci'}]}, 'workload_service_accounts'),
    ({'workload_service_accounts': [{'namespace': 'ci', 'name': 'CI_Bot'}]}, 'workload_service_accounts'),
    ({'container_endpoint': 'container.googleapis.com'}, 'container_endpoint'),
    ({'credentials_file': '/nonexistent/key.json'}, 'credentials_file'),
])
def test_validation_names_the_option(kw, field):
    with pytest.raises(ValidationError) as err:
        validate_params(params(**kw))
    assert err.value.details.get('field') == field or field in err.value.msg


def test_validation_defaults_the_endpoints():
    out = validate_params(params())
    assert out['container_endpoint'] == 'https://container.googleapis.com'
    assert out['resource_manager_endpoint'] == 'https://cloudresourcemanager.googleapis.com'


def test_default_account_is_named_with_the_project_number():
    pools = describe_node_pools([pool('default-pool'), pool('a', 'default'), pool('b', NODES, 'GKE_METADATA'),
                                 pool('c', '42-compute@developer.gserviceaccount.com')], '123')
    assert [p['service_account'] for p in pools] == ['123-compute@developer.gserviceaccount.com'] * 2 + [
        NODES, '42-compute@developer.gserviceaccount.com']
    assert [p['compute_default_account'] for p in pools] == [True, True, False, True]
    assert pools[2] == {'name': 'b', 'service_account': NODES, 'member': 'serviceAccount:' + NODES,
                        'compute_default_account': False, 'workload_metadata_mode': 'GKE_METADATA'}
    with pytest.raises(ProviderError):
        describe_node_pools([pool('x')], '')


def test_workload_identity_problems_name_the_fix():
    ready = describe_node_pools([pool('a', NODES, 'GKE_METADATA')])
    assert workload_identity_problems('my-proj', 'my-proj.svc.id.goog', ready) == []
    unready = describe_node_pools([pool('a', NODES, 'GCE_METADATA'), pool('b', NODES)])
    problems = workload_identity_problems('my-proj', '', unready)
    assert len(problems) == 3
    assert '--workload-pool=my-proj.svc.id.goog' in problems[0]
    assert 'node pool a' in problems[1] and '--workload-metadata=GKE_METADATA' in problems[1]
    assert 'mode unset' in problems[2]
    assert 'not my-proj.svc.id.goog' in workload_identity_problems('my-proj', 'other.svc.id.goog', ready)[0]


def test_workload_principals_use_the_number_in_the_path_and_the_id_in_the_pool():
    (one,) = workload_principals('my-proj', '123456789012', [{'namespace': 'ci', 'name': 'pusher'}])
    assert one['principal'] == ('principal://iam.googleapis.com/projects/123456789012/locations/global/'
                                'workloadIdentityPools/my-proj.svc.id.goog/subject/ns/ci/sa/pusher')
    assert one['member'] == 'serviceAccount:my-proj.svc.id.goog[ci/pusher]'


def test_runner_reads_the_number_only_when_needed_and_warns_for_the_default_account():
    cluster = {'name': 'prod', 'location': 'europe-west1', 'workloadIdentityConfig': {'workloadPool': 'my-proj.svc.id.goog'}}
    api = FakeGoogle(cluster, [pool('a', NODES, 'GKE_METADATA'), pool('b', NODES, 'GKE_METADATA')])
    warnings = []
    out = GkeClusterInfoRunner(params(), warn=warnings.append, api=api).run()
    assert not any('/v3/' in url for _m, url in api.calls)
    assert out['changed'] is False and out['project_number'] == '' and warnings == []
    assert out['node_service_accounts'] == [NODES]
    assert out['workload_identity'] == {'ready': True, 'problems': []}
    assert out['cluster']['resource'] == 'projects/my-proj/locations/europe-west1/clusters/prod'

    api = FakeGoogle(cluster, [pool('default-pool', None, 'GKE_METADATA')], number='555')
    out = GkeClusterInfoRunner(params(), warn=warnings.append, api=api).run()
    assert ('GET', 'https://cloudresourcemanager.googleapis.com/v3/projects/my-proj') in api.calls
    assert out['node_service_accounts'] == ['555-compute@developer.gserviceaccount.com']
    assert len(warnings) == 1 and 'Compute Engine default service account' in warnings[0]
    assert 'roles/artifactregistry.reader' in warnings[0]

    api = FakeGoogle(cluster, [pool('a', NODES, 'GKE_METADATA')], number='777')
    out = GkeClusterInfoRunner(params(workload_service_accounts=[{'namespace': 'ci', 'name': 'bot'}]),
                               warn=warnings.append, api=api).run()
    assert out['project_number'] == '777'
    assert out['workload_principals'][0]['principal'].startswith('principal://iam.googleapis.com/projects/777/')


def test_runner_refuses_an_answer_without_a_project_number():
    api = FakeGoogle({'name': 'prod'}, [pool('default-pool')], number='not-a-number')
    with pytest.raises(ProviderError) as err:
        GkeClusterInfoRunner(params(), warn=lambda m: None, api=api).run()
    assert 'project number' in err.value.msg
