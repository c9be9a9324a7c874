# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _gcp (google-auth credentials, access tokens, the REST client) and the ``gar`` provider.

Minting runs real google-auth code (a real RSA service account key, the real JWT grant) against a
fake HTTP transport that checks what google-auth sends, so the token endpoint override, the grant and
the expiry are tested without a network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import json

import pytest

import google.auth
import google.auth.transport.requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ansible_collections.registrylink.k8s.plugins.module_utils import _gcp
from ansible_collections.registrylink.k8s.plugins.module_utils._dockerconfig import credential_hints
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers import get_provider

UTC = datetime.timezone.utc
TOKEN = 'ya29.unit-test-access-token-secret'


@pytest.fixture(scope='module')
def key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def key_file(tmp_path, key_pem):
    path = tmp_path / 'key.json'
    path.write_text(json.dumps({
        'type': 'service_account', 'project_id': 'p', 'private_key_id': 'abc', 'private_key': key_pem,
        'client_email': 'puller@p.iam.gserviceaccount.com', 'client_id': '1',
        'token_uri': 'https://oauth2.googleapis.com/token'}))
    return str(path)


class FakeResponse(object):
    def __init__(self, status, body):
        self.status = status
        self.headers = {'content-type': 'application/json'}
        self.data = json.dumps(body).encode()


class FakeTransport(object):
    """google-auth's transport interface; answers the token endpoint like Google."""

    def __init__(self, status=200, body=None):
        self.calls = []
        self.status = status
        self.body = body if body is not None else {'access_token': TOKEN, 'expires_in': 3599, 'token_type': 'Bearer'}

    def __call__(self, url, method='GET', body=None, headers=None, timeout=None, **kwargs):
        self.calls.append({'url': url, 'method': method, 'body': body})
        return FakeResponse(self.status, self.body)


@pytest.fixture
def transport(monkeypatch):
    fake = FakeTransport()
    monkeypatch.setattr(google.auth.transport.requests, 'Request', lambda *a, **k: fake)
    return fake


# --------------------------------------------------------------------------- pure checks

@pytest.mark.parametrize('value, expected', [
    (None, None), ('', None), ('  ', None), ('https://oauth2.example.test/token/', 'https://oauth2.example.test/token'),
    ('http://127.0.0.1:8080/token', 'http://127.0.0.1:8080/token')])
def test_check_url_accepts(value, expected):
    assert _gcp.check_url(value, 'token_uri') == expected


@pytest.mark.parametrize('value', ['ftp://x', 'oauth2.googleapis.com/token', 'https://', 5])
def test_check_url_refuses_naming_the_field(value):
    with pytest.raises(ValidationError) as err:
        _gcp.check_url(value, 'token_uri')
    assert err.value.field == 'token_uri' and err.value.msg.startswith('token_uri: ')


def test_check_credentials_file(tmp_path, key_file):
    assert _gcp.check_credentials_file(key_file) == 'service_account'
    cases = {
        'missing': (str(tmp_path / 'nope.json'), 'cannot read'),
        'yaml': ('key: value\n', 'not a JSON credentials file'),
        'kind': (json.dumps({'type': 'api_key'}), 'not a Google credentials file'),
        'nokey': (json.dumps({'type': 'service_account', 'client_email': 'a@b'}), 'without client_email or private_key'),
    }
    for name, (content, text) in cases.items():
        path = content if name == 'missing' else str(tmp_path / (name + '.json'))
        if name != 'missing':
            (tmp_path / (name + '.json')).write_text(content)
        with pytest.raises(ValidationError) as err:
            _gcp.check_credentials_file(path)
        assert err.value.field == 'credentials_file' and text in err.value.msg, name


def test_a_file_that_is_not_json_is_never_quoted(tmp_path):
    path = tmp_path / 'secret.txt'
    path.write_text('-----BEGIN PRIVATE KEY-----\nMIIsecretmaterial\n')
    with pytest.raises(ValidationError) as err:
        _gcp.check_credentials_file(str(path))
    assert 'MIIsecretmaterial' not in err.value.msg


def test_error_text_redacts_access_tokens():
    assert TOKEN not in _gcp.error_text(ValueError('bad token %s here' % TOKEN))


# --------------------------------------------------------------------------- the gar provider

def _gar(warnings=None):
    return get_provider('gar', warn=(warnings.append if warnings is not None else None))


@pytest.mark.parametrize('server, warned', [
    ('europe-west1-docker.pkg.dev', False), ('https://us-docker.pkg.dev/', False), ('gcr.io', False),
    ('eu.gcr.io', False), ('127.0.0.1:5000', True), ('registry.example.com', True)])
def test_gar_validate_server_and_the_warning_for_other_hosts(server, warned):
    warnings = []
    out = _gar(warnings).validate({'server': server})
    assert out['server'] == server.replace('https://', '').rstrip('/')
    assert any('not an Artifact Registry host' in w for w in warnings) == warned


@pytest.mark.parametrize('options, field, text', [
    ({}, 'server', 'needs the Artifact Registry host'),
    ({'server': '  '}, 'server', 'needs the Artifact Registry host'),
    ({'server': 5}, 'server', 'must be a string'),
    ({'server': 'us-docker.pkg.dev', 'credentials_file': '/nonexistent/key.json'}, 'credentials_file', 'cannot read'),
    ({'server': 'us-docker.pkg.dev', 'credentials_file': ' '}, 'credentials_file', 'Application Default'),
    ({'server': 'us-docker.pkg.dev', 'token_uri': 'ftp://x'}, 'token_uri', 'not an http(s) URL'),
])
def test_gar_validate_refuses_naming_the_field(options, field, text):
    with pytest.raises(ValidationError) as err:
        _gar().validate(options)
    assert err.value.field == field and text in err.value.msg


def test_gar_mint_runs_the_jwt_grant_against_the_overridden_token_uri(transport, key_file):
    gar = _gar()
    options = gar.validate({'server': 'europe-west1-docker.pkg.dev', 'credentials_file': key_file,
                            'token_uri': 'https://token.example.test/token'})
    now = datetime.datetime.now(UTC)
    creds = gar.mint(options, now)
    assert (creds.server, creds.username, creds.password) == ('europe-west1-docker.pkg.dev', 'oauth2accesstoken', TOKEN)
    assert 3590 <= (creds.expires_at - now).total_seconds() <= 3600
    (call,) = transport.calls
    assert call['url'] == 'https://token.example.test/token' and call['method'] == 'POST'
    body = dict(p.split('=', 1) for p in call['body'].decode().split('&'))
    assert body['grant_type'] == 'urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer'
    claims = json.loads(base64.urlsafe_b64decode(body['assertion'].split('.')[1] + '=='))
    assert claims['iss'] == 'puller@p.iam.gserviceaccount.com' and claims['scope'] == _gcp.CLOUD_PLATFORM_SCOPE
    assert TOKEN not in repr(creds)


def test_gar_mint_refused_grant_is_a_provider_error_naming_the_account(monkeypatch, key_file, key_pem):
    fake = FakeTransport(400, {'error': 'invalid_grant', 'error_description': 'Invalid JWT Signature.'})
    monkeypatch.setattr(google.auth.transport.requests, 'Request', lambda *a, **k: fake)
    gar = _gar()
    options = gar.validate({'server': 'us-docker.pkg.dev', 'credentials_file': key_file})
    with pytest.raises(ProviderError) as err:
        gar.mint(options, datetime.datetime.now(UTC))
    assert 'invalid_grant' in err.value.msg and 'puller@p.iam.gserviceaccount.com' in err.value.msg
    assert key_pem.splitlines()[1] not in err.value.msg


def test_gar_mint_without_adc_says_how_to_get_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv('GOOGLE_APPLICATION_CREDENTIALS', str(tmp_path / 'missing.json'))
    with pytest.raises(ProviderError) as err:
        _gar().mint({'server': 'us-docker.pkg.dev', 'credentials_file': None, 'token_uri': None},
                    datetime.datetime.now(UTC))
    assert 'cannot load Google credentials' in err.value.msg and 'GOOGLE_APPLICATION_CREDENTIALS' in err.value.msg


def test_gar_expiry_beyond_an_hour_is_capped_with_a_warning(monkeypatch, key_file):
    fake = FakeTransport(body={'access_token': TOKEN, 'expires_in': 86400})
    monkeypatch.setattr(google.auth.transport.requests, 'Request', lambda *a, **k: fake)
    warnings = []
    gar = _gar(warnings)
    now = datetime.datetime.now(UTC)
    creds = gar.mint(gar.validate({'server': 'us-docker.pkg.dev', 'credentials_file': key_file}), now)
    assert creds.expires_at == now + datetime.timedelta(hours=1)
    assert any('later than its documented 1h lifetime' in w for w in warnings)


def test_token_uri_for_metadata_credentials_is_refused(monkeypatch):
    import google.auth.compute_engine

    monkeypatch.setattr(google.auth, 'default', lambda scopes=None: (google.auth.compute_engine.Credentials(), 'p'))
    with pytest.raises(ValidationError) as err:
        _gcp.credentials(token_uri='https://x.test/token')
    assert err.value.field == 'token_uri'


@pytest.mark.parametrize('username', ['_json_key', '_json_key_base64'])
def test_static_json_key_gets_the_long_lived_key_warning(username):
    (hint,) = credential_hints('europe-west1-docker.pkg.dev', username)
    assert 'long-lived Google service account key' in hint and 'gar' in hint


# --------------------------------------------------------------------------- GoogleApi

class FakeHttpResponse(object):
    def __init__(self, status, body=None, headers=None, reason='', raw=None):
        self.status_code = status
        self.headers = headers or {}
        self.reason = reason
        self.content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b'')

    def json(self):
        return json.loads(self.content)


class FakeSession(object):
    def __init__(self, *responses):
        self.responses = list(responses)
        self.calls = []

    def request(self, method, url, json=None, params=None, timeout=None):
        self.calls.append((method, url, json, params))
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def test_api_retries_429_and_5xx_honouring_retry_after():
    sleeps = []
    session = FakeSession(FakeHttpResponse(429, {}, {'Retry-After': '3'}), FakeHttpResponse(503, {}),
                          FakeHttpResponse(200, {'etag': 'x'}))
    api = _gcp.GoogleApi(session=session, sleep=sleeps.append)
    assert api.call('POST', 'https://x.test/v1/p:getIamPolicy', body={'a': 1}) == {'etag': 'x'}
    assert len(session.calls) == 3 and sleeps[0] == 3.0 and len(sleeps) == 2


def test_api_409_is_not_retried_and_carries_status_and_reason():
    session = FakeSession(FakeHttpResponse(409, {'error': {'code': 409, 'status': 'ABORTED', 'message': 'concurrent'}}))
    with pytest.raises(_gcp.GoogleAPIError) as err:
        _gcp.GoogleApi(session=session, sleep=lambda s: None).call('POST', 'https://x.test/a', action='setIamPolicy')
    assert err.value.status == 409 and err.value.reason == 'ABORTED' and len(session.calls) == 1
    assert err.value.details['http_status'] == 409 and 'setIamPolicy failed: HTTP 409 ABORTED' in err.value.msg


def test_api_gives_up_after_max_attempts_and_maps_non_json():
    session = FakeSession(*[FakeHttpResponse(503, {}) for _attempt in range(_gcp.MAX_ATTEMPTS)])
    with pytest.raises(_gcp.GoogleAPIError) as err:
        _gcp.GoogleApi(session=session, sleep=lambda s: None).call('GET', 'https://x.test/a')
    assert err.value.status == 503 and len(session.calls) == _gcp.MAX_ATTEMPTS
    with pytest.raises(_gcp.GoogleAPIError) as err:
        _gcp.GoogleApi(session=FakeSession(FakeHttpResponse(200, raw=b'<html>')), sleep=lambda s: None).call(
            'GET', 'https://x.test/a')
    assert 'not a JSON object' in err.value.msg


def test_api_transport_errors_are_retried_then_mapped():
    session = FakeSession(*[IOError('connection refused') for _attempt in range(_gcp.MAX_ATTEMPTS)])
    with pytest.raises(_gcp.GoogleAPIError) as err:
        _gcp.GoogleApi(session=session, sleep=lambda s: None).call('GET', 'https://x.test/a', action='GKE get')
    assert 'GKE get failed' in err.value.msg and err.value.status == 0


@pytest.mark.parametrize('server', ['gcr.io', 'eu.gcr.io', 'https://asia.gcr.io/', 'us.gcr.io/my-proj'])
def test_gar_with_a_gcr_io_server_explains_the_container_registry_shutdown(server):
    warnings = []
    _gar(warnings).validate({'server': server})
    (warning,) = warnings
    assert 'Container Registry is shut down' in warning and 'roles/artifactregistry.reader' in warning
    assert 'gcr.io repositories' in warning and 'storage.objectViewer grants nothing' in warning


def test_gar_with_an_artifact_registry_host_gets_no_shutdown_note():
    warnings = []
    _gar(warnings).validate({'server': 'europe-west1-docker.pkg.dev'})
    assert warnings == []
