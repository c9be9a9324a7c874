# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the iam_oidc_provider planner (pure) and runner (moto in process)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryLinkError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._iam_oidc_provider import (
    OidcProviderRunner,
    normalize_url,
    plan_provider,
    validate_params,
)

URL = 'https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123'
IDENT = 'oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123'
OURS = {'app.kubernetes.io/managed-by': 'registrylink.k8s'}
TP = 'a' * 40


def params(**kw):
    base = dict(url=URL, state='present', client_ids=['sts.amazonaws.com'], purge_client_ids=False, thumbprints=None,
                tags={}, purge_tags=False, force=False, region='us-east-1', profile=None, endpoint_url=None)
    base.update(kw)
    return base


def current(client_ids=('sts.amazonaws.com',), thumbprints=(), tags=None):
    return {'url': URL, 'client_ids': list(client_ids), 'thumbprints': list(thumbprints), 'tags': dict(tags or {})}


@pytest.mark.parametrize('url, expected', [
    (URL, (URL, IDENT)),
    (URL + '/', (URL, IDENT)),
    ('https://OIDC.EKS.eu-west-1.amazonaws.com/id/EXAMPLE0123', (URL, IDENT)),
    ('https://token.actions.example.test', ('https://token.actions.example.test', 'token.actions.example.test')),
])
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


@pytest.mark.parametrize('kw, field', [
    ({'url': 'http://oidc.example.test'}, 'url'),
    ({'url': ''}, 'url'),
    ({'url': URL + '?x=1'}, 'url'),
    ({'thumbprints': ['abc']}, 'thumbprints'),
    ({'thumbprints': [TP] * 6}, 'thumbprints'),
    ({'client_ids': ['']}, 'client_ids'),
    ({'tags': {'a': 1}}, 'tags'),
    ({'tags': {'app.kubernetes.io/managed-by': 'someone'}}, 'tags'),
])
def test_validation(kw, field):
    with pytest.raises(ValidationError) as err:
        validate_params(params(**kw))
    assert err.value.field == field


@pytest.mark.parametrize('cur, kw, action, ops', [
    (None, {}, 'create', ['create']),
    (current(tags=OURS), {}, 'unchanged', []),
    (current(tags=OURS), {'client_ids': ['sts.amazonaws.com', 'other']}, 'update', ['add_client_id']),
    (current(client_ids=['sts.amazonaws.com', 'other'], tags=OURS), {}, 'unchanged', []),
    (current(client_ids=['sts.amazonaws.com', 'other'], tags=OURS), {'purge_client_ids': True}, 'update',
     ['remove_client_id']),
    (current(tags=OURS), {'thumbprints': [TP]}, 'update', ['thumbprints']),
    (current(tags=OURS), {'tags': {'team': 'a'}}, 'update', ['tag']),
    (current(tags=dict(OURS, old='x')), {'purge_tags': True}, 'update', ['untag']),
    # a provider someone else created: additive changes only, never our ownership tag
    (current(), {}, 'unchanged', []),
    (current(), {'client_ids': ['sts.amazonaws.com', 'other']}, 'update', ['add_client_id']),
    (current(client_ids=['sts.amazonaws.com', 'other']), {'purge_client_ids': True}, 'conflict', []),
    (current(thumbprints=[TP]), {'thumbprints': ['b' * 40]}, 'conflict', []),
    (current(tags={'old': 'x'}), {'purge_tags': True}, 'conflict', []),
    (current(), {'tags': {'team': 'a'}}, 'unchanged', []),
    (current(), {'tags': dict(OURS, team='a')}, 'unchanged', []),
    (current(), {'force': True}, 'update', ['tag']),
    # absent
    (None, {'state': 'absent'}, 'absent', []),
    (current(tags=OURS), {'state': 'absent'}, 'delete', ['delete']),
    (current(), {'state': 'absent'}, 'kept', []),
    (current(), {'state': 'absent', 'force': True}, 'delete', ['delete']),
])
def test_plan(cur, kw, action, ops):
    plan = plan_provider(cur, validate_params(params(**kw)))
    assert plan['action'] == action
    assert [op for op, _arg in plan['ops']] == ops
    if action == 'create':
        assert plan['after']['tags'] == OURS
    if action == 'conflict':
        assert 'force=true' in plan['reason']


@pytest.fixture
def iam(monkeypatch, tmp_path):
    moto = pytest.importorskip('moto')
    boto3 = pytest.importorskip('boto3')
    for var in ('AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_IAM', 'AWS_ENDPOINT_URL_STS', 'AWS_PROFILE'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'config'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'credentials'))
    with moto.mock_aws():
        yield boto3.client('iam', region_name='us-east-1')


def run(check_mode=False, **kw):
    warnings = []
    result = OidcProviderRunner(params(**kw), check_mode=check_mode, warn=warnings.append).run()
    return result, warnings


def test_cycle_against_moto(iam):
    arn = 'arn:aws:iam::123456789012:oidc-provider/' + IDENT
    result, _w = run(check_mode=True, tags={'registrylink.k8s/cluster': 'c1'})
    assert result['changed'] and result['action'] == 'created' and result['arn'] == arn
    assert iam.list_open_id_connect_providers()['OpenIDConnectProviderList'] == []
    result, _w = run(tags={'registrylink.k8s/cluster': 'c1'})
    assert result['changed'] and result['arn'] == arn and result['managed']
    tags = dict((t['Key'], t['Value']) for t in iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)['Tags'])
    assert tags == dict(OURS, **{'registrylink.k8s/cluster': 'c1'})
    for check in (True, False):
        result, _w = run(check_mode=check, tags={'registrylink.k8s/cluster': 'c1'})
        assert not result['changed'] and result['action'] == 'unchanged'
    # moto does not implement AddClientIDToOpenIDConnectProvider; updates are covered by test_update_calls
    result, _w = run(state='absent', check_mode=True)
    assert result['changed'] and len(iam.list_open_id_connect_providers()['OpenIDConnectProviderList']) == 1
    result, _w = run(state='absent')
    assert result['changed'] and result['action'] == 'deleted'
    assert iam.list_open_id_connect_providers()['OpenIDConnectProviderList'] == []
    result, _w = run(state='absent')
    assert not result['changed'] and result['action'] == 'absent'


def test_a_provider_someone_else_created_is_kept(iam):
    iam.create_open_id_connect_provider(Url=URL, ClientIDList=['sts.amazonaws.com', 'x'])
    result, _w = run()
    assert not result['changed'] and not result['managed']
    with pytest.raises(RegistryLinkError) as err:
        run(purge_client_ids=True)
    assert 'force=true' in err.value.msg
    result, warnings = run(state='absent')
    assert not result['changed'] and result['action'] == 'kept' and 'left in place' in warnings[0]
    assert len(iam.list_open_id_connect_providers()['OpenIDConnectProviderList']) == 1


class RecordingIam(object):
    """Records the IAM calls of an update (what moto cannot answer)."""

    def __init__(self, existing):
        self.existing = existing
        self.calls = []

    def list_open_id_connect_providers(self):
        return {'OpenIDConnectProviderList': [{'Arn': 'arn:aws:iam::111122223333:oidc-provider/' + IDENT}]}

    def get_open_id_connect_provider(self, OpenIDConnectProviderArn):
        return {'Url': IDENT, 'ClientIDList': self.existing['client_ids'],
                'ThumbprintList': self.existing['thumbprints'],
                'Tags': [{'Key': k, 'Value': v} for k, v in self.existing['tags'].items()]}

    def __getattr__(self, name):
        def method(**kwargs):
            self.calls.append((name, kwargs))
            return {}
        return method


def test_update_calls():
    iam = RecordingIam(current(client_ids=['sts.amazonaws.com', 'old'], thumbprints=[TP], tags=dict(OURS, x='1')))
    runner = OidcProviderRunner(params(client_ids=['sts.amazonaws.com', 'new'], purge_client_ids=True,
                                       thumbprints=['B' * 40], tags={'y': '2'}, purge_tags=True), iam=iam, sts=object())
    result = runner.run()
    assert result['changed'] and result['action'] == 'updated'
    arn = 'arn:aws:iam::111122223333:oidc-provider/' + IDENT
    assert iam.calls == [
        ('add_client_id_to_open_id_connect_provider', {'OpenIDConnectProviderArn': arn, 'ClientID': 'new'}),
        ('remove_client_id_from_open_id_connect_provider', {'OpenIDConnectProviderArn': arn, 'ClientID': 'old'}),
        ('update_open_id_connect_provider_thumbprint', {'OpenIDConnectProviderArn': arn, 'ThumbprintList': ['b' * 40]}),
        ('tag_open_id_connect_provider', {'OpenIDConnectProviderArn': arn, 'Tags': [{'Key': 'y', 'Value': '2'}]}),
        ('untag_open_id_connect_provider', {'OpenIDConnectProviderArn': arn, 'TagKeys': ['x']}),
    ]
    assert result['tags'] == dict(OURS, y='2') and result['client_ids'] == ['new', 'sts.amazonaws.com']
