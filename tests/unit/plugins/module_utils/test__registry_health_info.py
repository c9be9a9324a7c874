"""registry_health_info: validation before any call, the pure assessments, and the runner with a fake HTTP
session (what is sent where, 403 reported as not readable, no credential in the result or the warnings).
The same flows run against the Harbor, GitLab and Artifactory stand-ins in
tests/integration/test_registry_health_info.py."""

from __future__ import annotations

import json

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _registry_health_info as health
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError

PASSWORD = 'Harbor-pw-s3cret'
TOKEN = 'glpat-s3cret-token'
HARBOR = {'provider': 'harbor_robot', 'api_url': 'https://harbor.example.test/', 'api_username': 'admin',
          'api_password': PASSWORD, 'project': 'team-a'}
GITLAB = {'provider': 'gitlab_deploy_token', 'api_url': 'https://gitlab.example.test', 'api_token': TOKEN,
          'project': 'team/app', 'server': 'registry.gitlab.example.test'}
ARTIFACTORY = {'provider': 'artifactory_token', 'api_url': 'https://acme.jfrog.test', 'api_token': TOKEN}


class FakeResponse(object):
    def __init__(self, status, body):
        self.status_code = status
        self.headers = {}
        self.content = json.dumps(body).encode() if body is not None else b''
        self.reason = 'Forbidden' if status == 403 else 'OK'
        self._body = body

    def json(self):
        return self._body


class FakeSession(object):
    """A requests.Session stand-in: answers by (method, path) and records every request."""

    def __init__(self, answers):
        self.answers = answers
        self.requests = []

    def request(self, method, url, json=None, params=None, headers=None, auth=None, timeout=None, verify=None,
                allow_redirects=None):
        path = url.split('://', 1)[1].split('/', 1)[1]
        self.requests.append({'method': method, 'path': '/' + path, 'params': params, 'headers': dict(headers),
                              'auth': auth, 'timeout': timeout})
        status, body = self.answers.get((method, '/' + path), (404, {'message': 'not found'}))
        return FakeResponse(status, body)


def run(entries, answers, **params):
    warnings = []
    session = FakeSession(answers)
    runner = health.RegistryHealthInfoRunner(dict({'registries': entries, 'usage_warn_percent': 90, 'timeout': 5},
                                                  **params), warn=warnings.append, session=session)
    return runner.run(), warnings, session


HARBOR_OK = {
    ('GET', '/api/v2.0/statistics'): (200, {'total_project_count': 3, 'total_repo_count': 7,
                                            'private_project_count': 2, 'public_project_count': 1,
                                            'private_repo_count': 5, 'public_repo_count': 2,
                                            'total_storage_consumption': 123456}),
    ('GET', '/api/v2.0/projects/team-a'): (200, {'project_id': 4, 'name': 'team-a'}),
    ('GET', '/api/v2.0/quotas'): (200, [{'id': 9, 'ref': {'id': 4, 'name': 'team-a'},
                                         'hard': {'storage': 1000}, 'used': {'storage': 400}}]),
    ('GET', '/api/v2.0/system/gc/schedule'): (200, {'schedule': {'type': 'Daily', 'cron': '0 0 0 * * *',
                                                                 'next_scheduled_time': '2026-12-07T00:00:00Z'}}),
}


# -- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize('entry, field, words', [
    ({'provider': 'ecr', 'api_url': 'https://x.test'}, 'registries[0].provider', 'harbor_robot'),
    (dict(HARBOR, api_url='http://harbor.example.test'), 'registries[0].api_url', 'plain HTTP'),
    (dict(HARBOR, api_url=None), 'registries[0].api_url', 'required'),
    (dict(HARBOR, api_password=None), 'registries[0].api_password', 'needs api_password'),
    (dict(HARBOR, project=''), 'registries[0].project', 'needs project'),
    (dict(HARBOR, project='Team A'), 'registries[0].project', 'not a Harbor project name'),
    (dict(HARBOR, api_token='x'), 'registries[0].api_token', 'does not take api_token'),
    (dict(GITLAB, api_token=None), 'registries[0].api_token', 'Maintainer'),
    (dict(GITLAB, project='team//app'), 'registries[0].project', 'not a GitLab project'),
    (dict(GITLAB, api_username='root'), 'registries[0].api_username', 'does not take api_username'),
    (dict(ARTIFACTORY, project='docker-local'), 'registries[0].project', 'does not take project'),
    (dict(ARTIFACTORY, api_ca_path='/nonexistent/ca.pem'), 'registries[0].api_ca_path', 'does not exist'),
])
def test_bad_entries_name_the_option_before_any_call(entry, field, words):
    session = FakeSession({})
    with pytest.raises(ValidationError) as err:
        health.RegistryHealthInfoRunner({'registries': [entry]}, session=session).run()
    assert err.value.details['field'] == field
    assert words in err.value.msg
    assert session.requests == []
    assert PASSWORD not in err.value.msg and TOKEN not in err.value.msg


@pytest.mark.parametrize('params, field', [
    ({'registries': []}, 'registries'),
    ({'registries': [HARBOR], 'usage_warn_percent': 0}, 'usage_warn_percent'),
    ({'registries': [HARBOR], 'usage_warn_percent': 101}, 'usage_warn_percent'),
    ({'registries': [HARBOR], 'timeout': 0}, 'timeout'),
])
def test_bad_module_options(params, field):
    with pytest.raises(ValidationError) as err:
        health.validate_params(params)
    assert err.value.details['field'] == field


def test_second_entry_is_named_by_its_index():
    with pytest.raises(ValidationError) as err:
        health.validate_params({'registries': [HARBOR, dict(GITLAB, project=None)]})
    assert err.value.details['field'] == 'registries[1].project'


# -- assessments (pure) ----------------------------------------------------------------------------

@pytest.mark.parametrize('hard, used, status, percent', [
    (1000, 900, 'ok', 90.0),          # exactly at the threshold: not above it
    (1000, 901, 'warning', 90.1),
    (-1, 5000, 'ok', None),           # unlimited
    (0, 0, 'warning', None),          # a zero quota refuses every push
])
def test_harbor_quota_threshold(hard, used, status, percent):
    check, findings = health.assess_harbor_quota([{'hard': {'storage': hard}, 'used': {'storage': used}}],
                                                 'team-a', 90)
    assert check['status'] == status
    assert check['used_percent'] == percent
    assert check['used_bytes'] == used
    assert check['unlimited'] is (hard < 0)
    assert [code for code, _text in findings] == (['quota_nearly_full'] if status == 'warning' else [])


def test_harbor_quota_missing_is_failed():
    assert health.assess_harbor_quota([], 'team-a', 90)[0]['status'] == 'failed'
    assert health.assess_harbor_quota({'x': 1}, 'team-a', 90)[0]['status'] == 'failed'


@pytest.mark.parametrize('body, status, kind', [
    ({'schedule': {'type': 'Weekly', 'cron': '0 0 0 * * 0'}}, 'ok', 'Weekly'),
    ({'schedule': {'type': 'Custom', 'cron': '0 30 2 * * *'}}, 'ok', 'Custom'),
    ({'schedule': {'type': 'None'}}, 'warning', 'None'),
    ({'schedule': {'type': 'Manual'}}, 'warning', 'Manual'),
    ({}, 'warning', None),
    (None, 'warning', None),  # Harbor answers 200 with an empty body when no schedule was ever set
])
def test_harbor_gc_schedule(body, status, kind):
    check, findings = health.assess_harbor_gc_schedule(body)
    assert (check['status'], check['schedule_type']) == (status, kind)
    assert [code for code, _text in findings] == (['no_gc_schedule'] if status == 'warning' else [])


@pytest.mark.parametrize('policy, status', [
    ({'enabled': True, 'cadence': '7d', 'keep_n': 10, 'older_than': '90d', 'name_regex': '.*'}, 'ok'),
    ({'enabled': False, 'cadence': '1d', 'keep_n': 10, 'older_than': '90d'}, 'warning'),
    (None, 'warning'),
])
def test_gitlab_cleanup_policy(policy, status):
    check, findings = health.assess_gitlab_cleanup_policy({'id': 1, 'container_expiration_policy': policy}, 'team/app')
    assert check['status'] == status
    assert [code for code, _text in findings] == (['cleanup_policy_disabled'] if status == 'warning' else [])


def test_gitlab_cleanup_policy_hidden_is_not_readable():
    check, findings = health.assess_gitlab_cleanup_policy({'id': 1, 'name': 'app'}, 'team/app')
    assert check['status'] == 'not_readable' and 'Maintainer' in check['msg'] and findings == []


@pytest.mark.parametrize('used, percent, status', [
    ('32.22 GB (15.77%)', 15.77, 'ok'),
    ('190 GB (93.1%)', 93.1, 'warning'),
    ('12 GB', None, 'ok'),
])
def test_artifactory_storage(used, percent, status):
    body = {'fileStoreSummary': {'storageType': 'filesystem', 'totalSpace': '204 GB', 'usedSpace': used,
                                 'freeSpace': '1 GB'},
            'binariesSummary': {'binariesSize': '3.48 GB', 'artifactsSize': '59.77 GB'},
            'repositoriesSummaryList': [{'repoKey': 'docker-local'}, {'repoKey': 'TOTAL'}]}
    check, findings = health.assess_artifactory_storage(body, 90)
    assert (check['status'], check['used_percent'], check['repositories_count']) == (status, percent, 1)
    assert [code for code, _text in findings] == (['storage_nearly_full'] if status == 'warning' else [])


def test_registry_status_not_readable_is_not_worse_than_ok():
    assert health.registry_status({'a': {'status': 'ok'}, 'b': {'status': 'not_readable'}}) == 'ok'
    assert health.registry_status({'a': {'status': 'warning'}, 'b': {'status': 'not_readable'}}) == 'warning'
    assert health.registry_status({'a': {'status': 'warning'}, 'b': {'status': 'failed'}}) == 'failed'


# -- runner -------------------------------------------------------------------------------------

def test_harbor_reads_the_three_checks_with_the_project_id():
    result, warnings, session = run([HARBOR], HARBOR_OK)
    reg = result['registries'][0]
    assert result['changed'] is False
    assert reg['status'] == 'ok' and reg['findings'] == [] and warnings == []
    assert reg['checks']['statistics']['storage_bytes'] == 123456
    assert reg['checks']['statistics']['total_repo_count'] == 7
    assert reg['checks']['quota']['used_percent'] == 40.0
    assert reg['checks']['gc_schedule']['cron'] == '0 0 0 * * *'
    quota_call = [r for r in session.requests if r['path'] == '/api/v2.0/quotas'][0]
    assert quota_call['params'] == {'reference': 'project', 'reference_id': '4'}
    project_call = [r for r in session.requests if r['path'] == '/api/v2.0/projects/team-a'][0]
    assert project_call['headers']['X-Is-Resource-Name'] == 'true'
    assert all(r['method'] == 'GET' for r in session.requests)
    assert all(r['auth'] == ('admin', PASSWORD) and r['timeout'] == 5 for r in session.requests)
    assert result['summary'] == {'registries': 1, 'ok': 1, 'warning': 0, 'failed': 0, 'not_readable_checks': 0}


def test_403_is_not_readable_and_other_errors_fail_the_check_only():
    answers = dict(HARBOR_OK)
    answers[('GET', '/api/v2.0/system/gc/schedule')] = (403, {'errors': [{'code': 'FORBIDDEN',
                                                                          'message': 'forbidden'}]})
    answers[('GET', '/api/v2.0/quotas')] = (500, {'errors': [{'code': 'INTERNAL', 'message': 'boom'}]})
    result, warnings, _session = run([HARBOR], answers)
    reg = result['registries'][0]
    assert reg['checks']['gc_schedule']['status'] == 'not_readable'
    assert reg['checks']['gc_schedule']['http_status'] == 403
    assert reg['checks']['quota']['status'] == 'failed' and reg['checks']['quota']['http_status'] == 500
    assert reg['checks']['statistics']['status'] == 'ok'
    assert reg['status'] == 'failed'
    assert [f['code'] for f in reg['findings']] == ['check_failed']
    assert len(warnings) == 1 and 'quota' in warnings[0]
    assert result['summary']['not_readable_checks'] == 1


def test_gitlab_and_artifactory_findings_become_warnings_without_secrets():
    answers = {
        ('GET', '/api/v4/projects/team%2Fapp'): (200, {'id': 7, 'container_expiration_policy': {
            'enabled': False, 'cadence': '1d', 'keep_n': 10, 'older_than': '90d'}}),
        ('GET', '/artifactory/api/storageinfo'): (200, {'fileStoreSummary': {
            'usedSpace': '95 GB (95.0%)', 'totalSpace': '100 GB'}}),
    }
    result, warnings, session = run([GITLAB, ARTIFACTORY], answers)
    gitlab, artifactory = result['registries']
    assert gitlab['checks']['cleanup_policy']['status'] == 'warning'
    assert gitlab['server'] == 'registry.gitlab.example.test'
    assert artifactory['checks']['storage']['used_percent'] == 95.0
    codes = [f['code'] for f in gitlab['findings'] + artifactory['findings']]
    assert codes == ['cleanup_policy_disabled', 'storage_nearly_full']
    assert len(warnings) == 2
    assert session.requests[0]['headers']['PRIVATE-TOKEN'] == TOKEN
    assert session.requests[1]['headers']['Authorization'] == 'Bearer ' + TOKEN
    text = json.dumps(result) + json.dumps(warnings)
    assert TOKEN not in text and PASSWORD not in text
    assert result['summary']['warning'] == 2
    assert len(result['table']) == 3


def test_artifactory_403_is_reported_not_fatal():
    answers = {('GET', '/artifactory/api/storageinfo'): (403, {'errors': [{'status': 403, 'message': 'Forbidden'}]})}
    result, warnings, _session = run([ARTIFACTORY], answers)
    reg = result['registries'][0]
    assert reg['checks']['storage']['status'] == 'not_readable'
    assert reg['status'] == 'ok' and warnings == []
    assert 'not_readable' in result['table'][1]
