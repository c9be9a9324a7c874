# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ``acr`` credential provider (_providers/_acr.py) and of registry_secret with it.

* AcrProvider.validate: normalisation, the AZURE_* environment fallbacks, every refusal with its field;
* AcrProvider.mint with a fake azure-identity credential and a fake HTTP POST: the exchange request,
  the null-GUID user, expiry from the refresh token's ``exp``, tenant from ``tid``, every error mapped
  to a ProviderError with no secret in it;
* registry_secret with an ``acr`` entry over the in-memory Kubernetes API of test__providers.py: one
  exchange per run, refresh_before 90m by default, the client secret outside the recorded fingerprint,
  the minted token registered as a secret for Ansible's output masking.
The HTTP shapes are checked end to end against the stand-in in tests/integration/test_acr.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import json

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _providers
from ansible_collections.registrylink.k8s.plugins.module_utils._common import format_rfc3339
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._acr import (
    ACR_SCOPE,
    ARM_SCOPE,
    AcrProvider,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_secret import (
    PROVIDERS_ANNOTATION,
    RegistrySecretRunner,
    load_records,
)

from ansible_collections.registrylink.k8s.tests.unit.plugins.module_utils.test__providers import FakeKube, params

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
NULL = '00000000-0000-0000-0000-000000000000'
TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
CLIENT = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0'
SECRET = 'sp-Secret~value.123'
SERVER = 'myregistry.azurecr.io'


def jwt(claims):
    def enc(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b'=').decode()
    return enc({'alg': 'RS256', 'typ': 'JWT'}) + '.' + enc(claims) + '.c2lnbmF0dXJl'


class FakeToken(object):
    def __init__(self, token):
        self.token = token
        self.expires_on = 0


class FakeCredential(object):
    """Stands in for an azure-identity credential (session_factory): records the options and scopes."""

    def __init__(self, tid=TENANT, error=None):
        self.tid = tid
        self.error = error
        self.made = []
        self.scopes = []
        self.closed = 0

    def __call__(self, options):
        self.made.append(dict(options))
        return self

    def get_token(self, scope):
        self.scopes.append(scope)
        if self.error is not None:
            raise self.error
        return FakeToken(jwt({'aud': scope.rsplit('/.default', 1)[0], 'tid': self.tid, 'oid': 'o-1'}))

    def close(self):
        self.closed += 1


class FakeResponse(object):
    def __init__(self, status, body):
        self.status_code = status
        self._body = body

    def json(self):
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class FakePost(object):
    """Stands in for requests.post against /oauth2/exchange: a new refresh token per call."""

    def __init__(self, exp=None, status=200, body=None, error=None):
        self.exp = exp if exp is not None else (lambda: int((NOW + datetime.timedelta(hours=3)).timestamp()))
        self.status = status
        self.body = body
        self.error = error
        self.calls = []
        self.count = 0

    def __call__(self, url, data=None, verify=None, timeout=None, allow_redirects=None):
        self.calls.append({'url': url, 'data': dict(data), 'verify': verify, 'allow_redirects': allow_redirects})
        if self.error is not None:
            raise self.error
        if self.body is not None:
            return FakeResponse(self.status, self.body)
        self.count += 1
        claims = {'grant_type': 'refresh_token', 'n': self.count}
        exp = self.exp() if callable(self.exp) else self.exp
        if exp != 'none':
            claims['exp'] = exp
        return FakeResponse(self.status, {'refresh_token': jwt(claims)})


def provider(cred=None, post=None, warnings=None):
    return AcrProvider(warn=(warnings.append if warnings is not None else None),
                       session_factory=cred or FakeCredential(), http_post=post or FakePost())


@pytest.fixture(autouse=True)
def no_azure_env(monkeypatch):
    for name in ('AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_AUTHORITY_HOST'):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- validate

def test_validate_normalises_and_defaults():
    out = provider().validate({'server': ' https://MyRegistry.azurecr.io/ ', 'tenant_id': TENANT, 'client_id': CLIENT,
                               'client_secret': SECRET, 'authority_host': 'https://login.microsoftonline.us/',
                               'endpoint_url': 'https://proxy.example.test/'})
    assert out['server'] == SERVER
    assert out['token_scope'] == ARM_SCOPE
    assert out['authority_host'] == 'https://login.microsoftonline.us'
    assert out['endpoint_url'] == 'https://proxy.example.test'
    assert out['client_secret'] == SECRET and out['ca_path'] is None


def test_validate_takes_tenant_client_and_authority_from_the_environment(monkeypatch):
    monkeypatch.setenv('AZURE_TENANT_ID', TENANT)
    monkeypatch.setenv('AZURE_CLIENT_ID', CLIENT)
    monkeypatch.setenv('AZURE_AUTHORITY_HOST', 'https://login.chinacloudapi.cn')
    out = provider().validate({'server': SERVER, 'client_secret': SECRET})
    assert (out['tenant_id'], out['client_id'], out['authority_host']) == (
        TENANT, CLIENT, 'https://login.chinacloudapi.cn')
    # an option wins over the environment
    assert provider().validate({'server': SERVER, 'tenant_id': 'contoso.onmicrosoft.com'})['tenant_id'] == \
        'contoso.onmicrosoft.com'


@pytest.mark.parametrize('options, field, text', [
    ({}, 'server', 'login server'),
    ({'server': SERVER + '/team'}, 'server', 'has a path'),
    ({'server': SERVER, 'tenant_id': 'not a tenant'}, 'tenant_id', 'tenant'),
    ({'server': SERVER, 'client_id': 'app-name'}, 'client_id', 'GUID'),
    ({'server': SERVER, 'client_secret': SECRET}, 'tenant_id', 'needs tenant_id and client_id'),
    ({'server': SERVER, 'client_secret': SECRET, 'tenant_id': TENANT}, 'client_id', 'needs tenant_id and client_id'),
    ({'server': SERVER, 'authority_host': 'http://login.microsoftonline.com'}, 'authority_host', 'https://'),
    ({'server': SERVER, 'authority_host': 'https://login.example/tenant'}, 'authority_host', 'https://'),
    ({'server': SERVER, 'endpoint_url': 'http://myregistry.azurecr.io'}, 'endpoint_url', 'plain HTTP'),
    ({'server': SERVER, 'token_scope': 'no scope'}, 'token_scope', ACR_SCOPE),
    ({'server': SERVER, 'ca_path': '/nonexistent/ca.pem'}, 'ca_path', 'not a readable file'),
    ({'server': SERVER, 'tenant_id': 5}, 'tenant_id', 'must be a string'),
])
def test_validate_refuses_with_the_field(options, field, text):
    with pytest.raises(ValidationError) as err:
        provider().validate(options)
    assert err.value.field == field and text in err.value.msg
    assert SECRET not in err.value.msg


def test_the_client_secret_is_not_part_of_the_fingerprint():
    p = provider()
    a = p.validate({'server': SERVER, 'tenant_id': TENANT, 'client_id': CLIENT, 'client_secret': SECRET})
    b = dict(a, client_secret='another-secret')
    fp = _providers.options_fingerprint
    assert fp('acr', a, p.secret_options) == fp('acr', b, p.secret_options)
    assert fp('acr', a, p.secret_options) != fp('acr', dict(a, token_scope=ACR_SCOPE), p.secret_options)


# --------------------------------------------------------------------------- mint

def test_mint_exchanges_and_writes_the_null_guid_user_with_the_token_exp():
    cred, post = FakeCredential(), FakePost()
    p = provider(cred, post)
    opts = p.validate({'server': SERVER, 'tenant_id': TENANT, 'client_id': CLIENT, 'client_secret': SECRET})
    creds = p.mint(opts, NOW)
    assert creds.server == SERVER and creds.username == NULL == p.username
    assert creds.expires_at == NOW + datetime.timedelta(hours=3) and creds.issued_at == NOW
    assert cred.scopes == [ARM_SCOPE] and cred.closed == 1
    (call,) = post.calls
    assert call['url'] == 'https://%s/oauth2/exchange' % SERVER and call['verify'] is True
    assert call['allow_redirects'] is False
    assert call['data']['grant_type'] == 'access_token' and call['data']['service'] == SERVER
    assert call['data']['tenant'] == TENANT and call['data']['access_token'].count('.') == 2
    assert SECRET not in repr(creds) and creds.password not in repr(creds)


def test_mint_takes_the_tenant_from_the_token_endpoint_and_ca_from_options(tmp_path):
    ca = tmp_path / 'ca.pem'
    ca.write_text('x')
    cred, post = FakeCredential(tid='tenant-from-token'), FakePost()
    p = provider(cred, post)
    opts = p.validate({'server': SERVER, 'endpoint_url': 'https://127.0.0.1:8443', 'ca_path': str(ca),
                       'token_scope': ACR_SCOPE})
    p.mint(opts, NOW)
    assert post.calls[0]['url'] == 'https://127.0.0.1:8443/oauth2/exchange'
    assert post.calls[0]['verify'] == str(ca) and post.calls[0]['data']['tenant'] == 'tenant-from-token'
    assert cred.scopes == [ACR_SCOPE]


def test_mint_without_exp_records_the_documented_lifetime_and_warns():
    warnings = []
    p = provider(post=FakePost(exp='none'), warnings=warnings)
    creds = p.mint(p.validate({'server': SERVER}), NOW)
    assert creds.expires_at == NOW + datetime.timedelta(hours=3)
    assert len(warnings) == 1 and 'reported no expiry' in warnings[0]


def test_mint_caps_an_exp_beyond_the_lifetime():
    warnings = []
    p = provider(post=FakePost(exp=int((NOW + datetime.timedelta(hours=30)).timestamp())), warnings=warnings)
    creds = p.mint(p.validate({'server': SERVER}), NOW)
    assert creds.expires_at == NOW + datetime.timedelta(hours=3) and 'later than' in warnings[0]


class AuthError(Exception):
    pass


@pytest.mark.parametrize('cred, post, text, category', [
    (FakeCredential(error=AuthError('AADSTS7000215: Invalid client secret provided.')), None,
     'could not get a Microsoft Entra token', 'azure_credentials'),
    (None, FakePost(status=401, body={'errors': [{'code': 'UNAUTHORIZED', 'message': 'audience not allowed'}]}),
     'answered HTTP 401: audience not allowed', 'unauthorized'),
    (None, FakePost(status=503, body=ValueError('not json')), 'answered HTTP 503', 'registry_error'),
    (None, FakePost(error=IOError('connection refused')), 'failed: OSError', 'unreachable'),
    (None, FakePost(body={'access_token': 'x'}), 'no refresh_token', None),
])
def test_mint_errors_are_provider_errors_without_secrets(cred, post, text, category):
    p = provider(cred, post)
    opts = p.validate({'server': SERVER, 'tenant_id': TENANT, 'client_id': CLIENT, 'client_secret': SECRET})
    with pytest.raises(ProviderError) as err:
        p.mint(opts, NOW)
    assert text in err.value.msg
    assert err.value.details.get('category') == category
    assert SECRET not in err.value.msg + json.dumps(err.value.details)
    if category in ('azure_credentials', 'unauthorized'):
        assert err.value.details['hint']
    if category == 'unauthorized':
        assert ACR_SCOPE in err.value.details['hint'] and 'AcrPull' in err.value.details['hint']


def test_missing_azure_identity_is_a_provider_error_with_the_pip_hint(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith('azure'):
            raise ImportError('No module named %r' % name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', fake_import)
    p = AcrProvider(http_post=FakePost())
    with pytest.raises(ProviderError) as err:
        p.mint(p.validate({'server': SERVER}), NOW)
    assert 'pip install azure-identity' in err.value.msg


# --------------------------------------------------------------------------- registry_secret with acr

class AcrHarness(object):
    def __init__(self, namespaces=('team-a', 'team-b')):
        self.kube = FakeKube(list(namespaces))
        self.now = NOW
        self.cred = FakeCredential()
        self.post = FakePost(exp=lambda: int((self.now + datetime.timedelta(hours=3)).timestamp()))
        self.warnings = []
        self.registered = []

    def factory(self, name, field='provider', warn=None):
        assert name == 'acr'
        return AcrProvider(warn=warn, session_factory=self.cred, http_post=self.post)

    def run(self, **kw):
        kw.setdefault('refresh_before', None)
        kw.setdefault('registries', [{'provider': 'acr', 'server': SERVER, 'tenant_id': TENANT,
                                      'client_id': CLIENT, 'client_secret': SECRET}])
        runner = RegistrySecretRunner(params(name='acr-pull', **kw), warn=self.warnings.append, kube=self.kube,
                                      provider_factory=self.factory, now=self.now,
                                      register_secret=self.registered.append)
        result = runner.run()
        result['_mints'] = runner.mint_count
        return result


def test_registry_secret_mints_once_keeps_the_token_for_90m_then_remints():
    h = AcrHarness()
    first = h.run()
    assert first['changed'] and first['summary'] == {'created': 2} and first['_mints'] == 1
    entry = h.kube.config('team-a', name='acr-pull')['auths'][SERVER]
    assert entry['username'] == NULL and 'identitytoken' not in entry
    assert h.registered == [entry['password']]
    record = load_records(h.kube.annotations('team-a', name='acr-pull')[PROVIDERS_ANNOTATION])[0]
    assert record['provider'] == 'acr' and record['expires_at'] == format_rfc3339(NOW + datetime.timedelta(hours=3))
    text = json.dumps(first, default=str) + json.dumps(h.kube.annotations('team-a', name='acr-pull'))
    assert SECRET not in text and entry['password'] not in text
    # 1h later: 2h left > 90m: unchanged, nothing minted
    h.now = NOW + datetime.timedelta(hours=1)
    again = h.run()
    assert not again['changed'] and again['_mints'] == 0 and len(h.post.calls) == 1
    # 1h40m later: 80m left <= 90m: one new exchange for both namespaces
    h.now = NOW + datetime.timedelta(minutes=100)
    third = h.run()
    assert third['changed'] and third['summary'] == {'updated': 2} and third['_mints'] == 1
    assert h.kube.config('team-b', name='acr-pull')['auths'][SERVER]['password'] != entry['password']


def test_registry_secret_check_mode_mints_but_writes_nothing():
    h = AcrHarness()
    runner = RegistrySecretRunner(params(name='acr-pull', refresh_before=None, registries=[
        {'provider': 'acr', 'server': SERVER}]), check_mode=True, kube=h.kube, provider_factory=h.factory, now=NOW)
    result = runner.run()
    assert result['changed'] and runner.mint_count == 1 and h.kube.writes == []


def test_registry_secret_refuses_acr_options_on_static_and_ecr_entries():
    h = AcrHarness()
    with pytest.raises(ValidationError) as err:
        h.run(registries=[{'server': 'r.example.test', 'username': 'u', 'password': 'p', 'tenant_id': TENANT}])
    assert 'tenant_id' in err.value.msg and 'provider' in err.value.msg
    with pytest.raises(ValidationError) as err:
        RegistrySecretRunner(params(registries=[{'provider': 'ecr', 'region': 'eu-west-1', 'client_id': CLIENT}]),
                             kube=h.kube, now=NOW).run()
    assert 'client_id is not an option of provider ecr' in err.value.msg
    assert h.kube.writes == []
