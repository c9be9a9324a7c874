# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ``acr_token`` provider (_providers/_acr_token.py) and of registry_secret with it:
which slot is regenerated (the one the Secret's record does not name), a token shared by several
consumers (detected and warned), validation, the generateCredentials call (long-running), check mode reading
the token without generating, and alternating slots over rotations. End to end (a pull keeps working
through rotations): tests/integration/test_acr.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import AzureAPIError, ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._acr_token import (
    PREVIEW_PASSWORD,
    AcrTokenProvider,
    slot_to_regenerate,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_secret import RegistrySecretRunner
from ansible_collections.registrylink.k8s.tests.unit.plugins.module_utils.test__providers import FakeKube, params

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
REG = ('/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/'
       'Microsoft.ContainerRegistry/registries/myregistry')
SERVER = 'myregistry.azurecr.io'


@pytest.mark.parametrize('passwords, slot', [
    (None, 'password1'),
    ([], 'password1'),
    ([{'name': 'password1', 'creationTime': '2026-01-01T00:00:00Z'}], 'password2'),
    ([{'name': 'password2', 'creationTime': '2026-01-01T00:00:00Z'}], 'password1'),
    ([{'name': 'password1', 'creationTime': '2026-01-02T00:00:00.5Z'},
      {'name': 'password2', 'creationTime': '2026-01-01T00:00:00Z'}], 'password2'),
    ([{'name': 'password1', 'creationTime': '2026-01-01T00:00:00Z'},
      {'name': 'password2', 'creationTime': '2026-01-02T00:00:00.123456Z'}], 'password1'),
    ([{'name': 'password1', 'creationTime': 'garbage'},
      {'name': 'password2', 'creationTime': '2026-01-02T00:00:00Z'}], 'password1'),
])
def test_slot_to_regenerate_is_the_one_not_in_use(passwords, slot):
    assert slot_to_regenerate(passwords) == slot


class FakeArm(object):
    """The token resource and generateCredentials (202, then the result from the operation)."""

    def __init__(self, status='enabled'):
        self.passwords = []
        self.status = status
        self.count = 0
        self.calls = []
        self.result_times = True

    def request(self, method, path, api_version, body=None, ok=None, what=None):
        self.calls.append((method, path, body))
        if method == 'GET' and path.endswith('/tokens/ci-puller'):
            return 200, {'id': path, 'properties': {'status': self.status,
                                                    'credentials': {'passwords': list(self.passwords)}}}, {}
        if method == 'POST' and path.endswith('/generateCredentials'):
            self.count += 1
            created = (NOW + datetime.timedelta(minutes=self.count)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
            self.passwords = [p for p in self.passwords if p['name'] != body['name']] + [
                {'name': body['name'], 'creationTime': created, 'expiry': body['expiry']}]
            self.last = {'username': 'ci-puller', 'passwords': [{'name': body['name'], 'creationTime': created,
                                                                 'value': 'pw-%d-%s' % (self.count, body['name'])}]}
            if not self.result_times:
                del self.last['passwords'][0]['creationTime']
            return 202, {}, {'Location': 'https://arm.test/op/%d' % self.count}
        if path == 'https://arm.test/op/missing':
            raise AzureAPIError('GET: HTTP 404', status=404, code='NotFound')
        raise AssertionError((method, path))

    def wait_operation(self, headers, api_version, timeout=300, what=None):
        return self.last


def provider(arm=None, warn=None):
    return AcrTokenProvider(arm=arm or FakeArm(), warn=warn)


def valid(**kw):
    base = {'server': SERVER, 'registry_resource_id': REG, 'token_name': 'ci-puller'}
    base.update(kw)
    return provider().validate(base)


@pytest.mark.parametrize('kw, field', [
    (dict(server=None), 'server'),
    (dict(registry_resource_id='myregistry'), 'registry_resource_id'),
    (dict(token_name='ci'), 'token_name'),
    (dict(token_name='ci_puller'), 'token_name'),
    (dict(arm_endpoint='http://arm.test'), 'arm_endpoint'),
    (dict(client_secret='s3cret'), 'tenant_id'),
])
def test_validate_refuses_with_the_field(kw, field):
    with pytest.raises(ValidationError) as err:
        valid(**kw)
    assert err.value.field == field and 's3cret' not in err.value.msg


def test_mint_alternates_slots_with_an_expiry():
    arm = FakeArm()
    p = provider(arm)
    opts = valid()
    first = p.mint(opts, NOW)
    assert (first.username, first.password, first.server) == ('ci-puller', 'pw-1-password1', SERVER)
    assert first.expires_at == NOW + datetime.timedelta(days=30)
    post = [c for c in arm.calls if c[0] == 'POST'][0][2]
    assert post == {'tokenId': REG + '/tokens/ci-puller', 'name': 'password1', 'expiry': '2026-03-31T08:00:00Z'}
    assert p.mint(opts, NOW).password == 'pw-2-password2'
    assert p.mint(opts, NOW).password == 'pw-3-password1'
    assert p.mint(opts, NOW).password == 'pw-4-password2'


def test_preview_reads_but_never_generates():
    arm = FakeArm()
    creds = provider(arm).preview_mint(valid(), NOW)
    assert creds.password == PREVIEW_PASSWORD and [c[0] for c in arm.calls] == ['GET']


def test_disabled_token_is_a_provider_error():
    with pytest.raises(ProviderError) as err:
        provider(FakeArm(status='disabled')).mint(valid(), NOW)
    assert 'disabled' in err.value.msg


def test_registry_secret_check_mode_generates_nothing_and_a_real_run_rotates():
    arm = FakeArm()
    kube = FakeKube(['team-a', 'team-b'])

    def factory(name, field='provider', warn=None):
        return AcrTokenProvider(warn=warn, arm=arm)

    regs = [{'provider': 'acr_token', 'server': SERVER, 'registry_resource_id': REG, 'token_name': 'ci-puller'}]
    registered = []

    def run(check_mode=False, now=NOW, refresh_before=None):
        return RegistrySecretRunner(params(name='acr-token', registries=regs, refresh_before=refresh_before),
                                    check_mode=check_mode, kube=kube, provider_factory=factory, now=now,
                                    register_secret=registered.append).run()

    r = run(check_mode=True)
    assert r['changed'] and kube.writes == [] and arm.count == 0
    r = run()
    assert r['summary'] == {'created': 2} and arm.count == 1
    entry = kube.config('team-a', name='acr-token')['auths'][SERVER]
    assert (entry['username'], entry['password']) == ('ci-puller', 'pw-1-password1')
    assert registered == ['pw-1-password1'] and PREVIEW_PASSWORD not in str(kube.writes)
    assert not run()['changed'] and arm.count == 1  # 30 days left > 10 days
    later = NOW + datetime.timedelta(days=21)
    r = run(now=later)
    assert r['summary'] == {'updated': 2} and arm.count == 2
    assert kube.config('team-b', name='acr-token')['auths'][SERVER]['password'] == 'pw-2-password2'


@pytest.mark.parametrize('recorded, passwords, slot', [
    ('password1', [{'name': 'password1', 'creationTime': '2026-01-02T00:00:00Z'},
                   {'name': 'password2', 'creationTime': '2026-01-01T00:00:00Z'}], 'password2'),
    # the record wins over creationTime: the Secret holds password2 although password1 is newer
    ('password2', [{'name': 'password1', 'creationTime': '2026-01-02T00:00:00Z'},
                   {'name': 'password2', 'creationTime': '2026-01-01T00:00:00Z'}], 'password1'),
    ('password1', [], 'password2'),
    ('bogus', [{'name': 'password1', 'creationTime': '2026-01-01T00:00:00Z'}], 'password2'),
])
def test_slot_to_regenerate_is_never_the_recorded_one(recorded, passwords, slot):
    assert slot_to_regenerate(passwords, recorded) == slot


def test_mint_records_the_slot_and_its_creation_time_without_a_secret():
    arm = FakeArm()
    creds = provider(arm).mint(valid(), NOW)
    assert creds.record == {'slot': 'password1', 'issued_at': '2026-03-01T08:01:00.000000Z'}
    assert 'pw-' not in str(creds.record)
    arm.result_times = False  # a result without creationTime: read back from the token (2 GETs)
    creds = provider(arm).mint(valid(), NOW, records=[dict(creds.record)])
    assert creds.record == {'slot': 'password2', 'issued_at': '2026-03-01T08:02:00.000000Z'}
    assert [c[0] for c in arm.calls[2:]] == ['GET', 'POST', 'GET']


def test_three_consumers_of_one_token_never_regenerate_their_own_slot_and_are_warned():
    """A, B and C (clusters or Secret names) share one ACR token. Without records they regenerate
    password1, password2, password1 (C kills A). With records, each consumer's own rotation never
    regenerates the slot it holds, and a consumer whose slot someone else regenerated is warned."""
    arm = FakeArm()
    opts = valid()
    records = {}
    warnings = {}

    def rotate(who):
        warnings[who] = []
        p = provider(arm, warn=warnings[who].append)
        mine = [records[who]] if who in records else []
        reason = p.check_records(opts, mine, NOW) if mine else None
        creds = p.mint(opts, NOW, records=mine)
        if mine:
            assert creds.record['slot'] != mine[0]['slot']  # never the slot this consumer's Secrets hold
        records[who] = dict(creds.record)
        return reason

    assert [rotate(who) for who in 'ABC'] == [None, None, None]
    assert [records[w]['slot'] for w in 'ABC'] == ['password1', 'password2', 'password1']
    assert warnings == {'A': [], 'B': [], 'C': []}
    # A holds password1, which C regenerated: A is warned and gets password2 (B's, so B is warned next)
    reason = rotate('A')
    assert records['A']['slot'] == 'password2'
    assert reason and len(warnings['A']) == 1 and warnings['A'][0] == reason
    for text in ('ACR token ci-puller', 'password1', 'regenerated', 'another consumer',
                 'one ACR token per cluster and Secret name'):
        assert text in reason
    assert 'pw-' not in reason
    assert rotate('B') and records['B']['slot'] == 'password1'
    # one consumer alone: its own rotations are never reported as a shared token
    solo = FakeArm()
    mine = []
    for _i in range(4):
        p = provider(solo, warn=pytest.fail)
        assert not mine or p.check_records(opts, mine, NOW) is None
        creds = p.mint(opts, NOW, records=mine)
        assert not mine or creds.record['slot'] != mine[0]['slot']
        mine = [dict(creds.record)]


def test_a_recorded_slot_that_is_gone_is_dead():
    arm = FakeArm()
    record = dict(provider(arm).mint(valid(), NOW).record)
    arm.passwords = []  # az acr token credential delete --password1
    assert 'no longer exists' in provider(arm).check_records(valid(), [record], NOW)
    # a record from before slots were recorded is never judged
    assert provider(arm).check_records(valid(), [{'server': SERVER}], NOW) is None


def test_registry_secret_with_a_shared_token_warns_and_mints_the_other_slot():
    arm = FakeArm()
    kube = FakeKube(['team-a'])
    warnings = []

    def factory(name, field='provider', warn=None):
        return AcrTokenProvider(warn=warn, arm=arm)

    regs = [{'provider': 'acr_token', 'server': SERVER, 'registry_resource_id': REG, 'token_name': 'ci-puller'}]

    def run(check_mode=False, name='acr-token'):
        return RegistrySecretRunner(params(name=name, registries=regs, namespaces=['team-a']),
                                    check_mode=check_mode, kube=kube,
                                    provider_factory=factory, now=NOW, warn=warnings.append,
                                    register_secret=lambda s: None).run()

    assert run()['summary'] == {'created': 1}
    record = json.loads(kube.annotations('team-a', 'acr-token')['registrylink.k8s/providers'])
    assert [(r['slot'], r['issued_at']) for r in record] == [('password1', '2026-03-01T08:01:00.000000Z')]
    assert not run()['changed'] and arm.count == 1 and warnings == []  # fresh and still valid: one GET, no mint
    # a second Secret name on the same token: its first mint takes password2, its second password1
    assert run(name='other')['summary'] == {'created': 1}
    assert run(name='other')['summary'] == {'unchanged': 1} and arm.count == 2
    arm.passwords = [p for p in arm.passwords if p['name'] != 'password1'] + [
        {'name': 'password1', 'creationTime': '2026-03-01T09:00:00Z'}]  # someone regenerated password1
    r = run(check_mode=True)
    assert r['changed'] and arm.count == 2 and len(warnings) == 1 and 'another consumer' in warnings[0]
    r = run()
    assert r['summary'] == {'updated': 1} and arm.count == 3
    assert len(warnings) == 2 and warnings[-1].endswith(r['results'][0]['refresh_reason'])
    entry = kube.config('team-a', name='acr-token')['auths'][SERVER]
    assert entry['password'] == 'pw-3-password2'
    assert not run()['changed']
