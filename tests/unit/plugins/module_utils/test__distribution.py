# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the OCI distribution client against a FAKE registry transport (no network)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import socket
import ssl
import time

import pytest
import requests
import urllib3

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import MANIFEST_MEDIA_TYPES, RegistryClient, check_digest, sha256_digest
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._errors import classify_exception, parse_error_body
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._headers import (
    decode_jwt_claims, merge_scopes, next_link, parse_rate_limit, parse_retry_after, parse_scope,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryError

from ansible_collections.registrylink.k8s.tests.unit.plugins.module_utils.fake_registry_transport import FakeRegistry, ConnectionError_, fake_jwt

PASSWORD = 'S3cr3t-Example'
USER = 'ci-puller'


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def make_client(reg, **kwargs):
    sleeps = kwargs.pop('sleep', None) or Sleeps()
    client = RegistryClient(kwargs.pop('base', reg.host), sleep=sleeps, **kwargs)
    reg.mount(client)
    client._test_sleeps = sleeps
    return client


def no_secret_anywhere(client, *errors):
    """Neither the password nor any issued token appears in the trace, warnings or errors."""
    texts = [repr(client.trace), repr(client.warnings), repr(client.token_facts())]
    for err in errors:
        texts.append(str(err))
        texts.append(repr(err.details))
        texts.append(repr(err.hint))
    blob = '\n'.join(texts)
    assert PASSWORD not in blob
    assert base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode() not in blob
    return blob


# ------------------------------------------------------------------------------------------------
# pure helpers
# ------------------------------------------------------------------------------------------------


GOOD = 'sha256:' + 'ab' * 32


@pytest.mark.parametrize('given', [GOOD, GOOD + '\r', ' ' + GOOD + '\r\n', GOOD + '\n', '\t' + GOOD])
def test_check_digest_strips_whitespace_and_cr(given):
    # wrong digest on delete: a trailing \r copied from a header line must not reach the DELETE URL
    assert check_digest(given) == GOOD


@pytest.mark.parametrize('given', [
    'sha256:' + 'AB' * 32,          # upper-case hex
    'sha256:' + 'ab' * 31,          # too short
    'sha512:' + 'ab' * 64,          # other algorithm
    'ab' * 32,                      # no algorithm
    'sha256:' + 'ab' * 31 + 'zz',   # not hex
    'latest',
    GOOD + 'x',
    None,
])
def test_check_digest_rejects(given):
    with pytest.raises(RegistryError) as exc:
        check_digest(given)
    assert exc.value.category == 'invalid_digest'


@pytest.mark.parametrize('header, request_url, expected', [
    # distribution emits a relative URL (registry/handlers/api_test.go)
    ('</v2/team/app/tags/list?last=b&n=2>; rel="next"', 'https://r.test/v2/team/app/tags/list?n=2',
     'https://r.test/v2/team/app/tags/list?last=b&n=2'),
    ('<https://r.test/v2/x/tags/list?n=2&last=b>; rel=next', 'https://r.test/v2/x/tags/list',
     'https://r.test/v2/x/tags/list?n=2&last=b'),
    # Quay: opaque next_page token, followed verbatim
    ('</v2/x/tags/list?n=50&next_page=gAAAAABk%3D%3D>; rel="next"', 'https://quay.test/v2/x/tags/list?n=50',
     'https://quay.test/v2/x/tags/list?n=50&next_page=gAAAAABk%3D%3D'),
    # several links, next is not first; commas inside <> do not split
    ('<https://r.test/a?x=1,2>; rel="prev", <https://r.test/b?y=1,2>; rel="next"', 'https://r.test/', 'https://r.test/b?y=1,2'),
    ('<https://r.test/b>; title="a, b; c"; rel="next"', 'https://r.test/', 'https://r.test/b'),
    ('<https://r.test/b>; rel="prev next"', 'https://r.test/', 'https://r.test/b'),
    ('<https://r.test/b>; rel="prev"', 'https://r.test/', None),
    ('', 'https://r.test/', None),
    (None, 'https://r.test/', None),
    ('garbage without brackets', 'https://r.test/', None),
])
def test_next_link(header, request_url, expected):
    assert next_link(header, request_url) == expected


@pytest.mark.parametrize('value, expected', [
    ('120', 120.0), (' 3 ', 3.0), ('0', 0.0), ('1.5', 1.5), ('', None), (None, None), ('soon', None),
])
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1700000000.0
    date = 'Tue, 14 Nov 2023 22:14:20 GMT'  # = 1700000060
    assert parse_retry_after(date, now=now) == pytest.approx(60.0)
    assert parse_retry_after('Tue, 14 Nov 2023 22:10:00 GMT', now=now) == 0.0


@pytest.mark.parametrize('headers, expected', [
    ({'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600', 'docker-ratelimit-source': '192.0.2.1'},
     {'limit': 100, 'remaining': 76, 'window_seconds': 21600, 'source': '192.0.2.1'}),
    ({'RateLimit-Limit': '200;w=3600', 'RateLimit-Remaining': '0;w=3600'},
     {'limit': 200, 'remaining': 0, 'window_seconds': 3600}),
    ({'ratelimit-limit': '100, 100;w=21600', 'ratelimit-remaining': '5'},
     {'limit': 100, 'remaining': 5, 'window_seconds': None}),
    ({'content-type': 'x'}, None),  # rate limit, not a bad password: no headers means unknown/unlimited, never 0
])
def test_parse_rate_limit(headers, expected):
    assert parse_rate_limit(headers) == expected


def test_decode_jwt_claims():
    token = fake_jwt({'exp': 123, 'access': [{'type': 'repository', 'name': 'a', 'actions': ['pull']}]})
    assert decode_jwt_claims(token)['exp'] == 123
    for not_jwt in ('ECR-TOKEN-EXAMPLE', 'a.b', 'a.b.c', '', None, '...', 'eyJ.eyJ.x'):
        assert decode_jwt_claims(not_jwt) is None


@pytest.mark.parametrize('scope, expected', [
    ('repository:team/app:pull', ('repository', 'team/app', ['pull'])),
    ('repository:reg.test:5000/team/app:pull,push', ('repository', 'reg.test:5000/team/app', ['pull', 'push'])),
    ('registry:catalog:*', ('registry', 'catalog', ['*'])),
    ('repository(plugin):x:pull', ('repository(plugin)', 'x', ['pull'])),
    ('nonsense', None),
])
def test_parse_scope_uses_first_and_last_colon(scope, expected):
    assert parse_scope(scope) == expected


def test_merge_scopes():
    assert merge_scopes('repository:a:pull', 'repository:a:push,pull repository:b:pull') == \
        'repository:a:pull,push repository:b:pull'
    assert merge_scopes(None, '') == ''


def test_parse_error_body():
    assert parse_error_body('{"errors":[{"code":"DENIED","message":"no"}]}') == (['DENIED'], ['no'])
    assert parse_error_body('<html>') == ([], [])
    assert parse_error_body('') == ([], [])


def _ssl_verify_error(code, message):
    err = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s' % message)
    err.verify_code = code
    err.verify_message = message
    return err


@pytest.mark.parametrize('exc, category', [
    (requests.exceptions.SSLError(_ssl_verify_error(20, 'unable to get local issuer certificate')), 'tls_untrusted'),
    (requests.exceptions.SSLError(_ssl_verify_error(19, 'self-signed certificate in certificate chain')),
     'tls_untrusted'),
    (requests.exceptions.SSLError(_ssl_verify_error(62, "Hostname mismatch, certificate is not valid for 'x'")),
     'tls_hostname'),
    (requests.exceptions.SSLError(_ssl_verify_error(10, 'certificate has expired')), 'tls_expired'),
    (requests.exceptions.SSLError('[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)'), 'plain_http'),
    (requests.exceptions.SSLError('[SSL: RECORD_LAYER_FAILURE] record layer failure (_ssl.c:1000)'), 'plain_http'),
    (requests.exceptions.ConnectionError(socket.gaierror(-2, 'Name or service not known')), 'dns'),
    (requests.exceptions.ConnectionError("NameResolutionError: Failed to resolve 'x.invalid'"), 'dns'),
    (requests.exceptions.ConnectTimeout('timed out'), 'timeout'),
    (requests.exceptions.ReadTimeout('read timed out'), 'timeout'),
    (requests.exceptions.ConnectionError('[Errno 111] Connection refused'), 'connect'),
    (requests.exceptions.ConnectionError('something odd'), 'connect'),
])
def test_classify_exception(exc, category):
    assert classify_exception(exc)[0] == category


# ------------------------------------------------------------------------------------------------
# client against the fake registry
# ------------------------------------------------------------------------------------------------

def test_plain_http_is_refused_by_default():
    with pytest.raises(RegistryError) as exc:
        RegistryClient('http://reg.example.test:5000')
    assert exc.value.category == 'plain_http'
    assert RegistryClient('http://reg.example.test:5000', allow_insecure_http=True).base_url == \
        'http://reg.example.test:5000'


def test_username_without_password_is_rejected():
    with pytest.raises(RegistryError) as exc:
        RegistryClient('reg.example.test', username=USER)
    assert exc.value.details['field'] == 'password'


def test_ping_anonymous_and_head_manifest_sends_all_media_types():
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg)
    assert client.ping()['auth_scheme'] is None
    info = client.head_manifest('team/app', '1.0')
    assert info.digest == digest
    assert info.media_type == 'application/vnd.oci.image.manifest.v1+json'
    assert info.size > 0
    head = [r for r in reg.requests if r['method'] == 'HEAD'][0]
    for media_type in MANIFEST_MEDIA_TYPES:
        assert media_type in head['headers']['Accept']
    assert 'Authorization' not in head['headers']
    assert [t['step'] for t in client.trace] == ['ping', 'manifest']


def test_head_manifest_strips_cr_from_digest_header_and_rejects_garbage():
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    client = make_client(reg)
    reg.queue(lambda r: r.method == 'HEAD', (200, {'Docker-Content-Digest': GOOD + '\r',
                                                   'Content-Type': 'application/vnd.oci.image.manifest.v1+json'}, b''))
    assert client.head_manifest('team/app', '1.0').digest == GOOD
    reg.queue(lambda r: r.method == 'HEAD', (200, {'Docker-Content-Digest': 'md5:abc'}, b''))
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert exc.value.category == 'invalid_digest'


def test_ping_404_is_not_a_registry():
    reg = FakeRegistry()
    reg.queue(lambda r: r.url.endswith('/v2/'), (404, {}, b'not here'))
    with pytest.raises(RegistryError) as exc:
        make_client(reg).ping()
    assert exc.value.category == 'not_a_registry'


def test_bearer_flow_scope_service_and_token_cache():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'team/app': ['pull'], 'team/b': ['pull']}})
    digest = reg.add_tag('team/app', '1.0')
    reg.add_tag('team/b', 'x')
    client = make_client(reg, username=USER, password=PASSWORD)
    ping = client.ping()
    assert ping['status'] == 401 and ping['auth_scheme'] == 'bearer'
    assert ping['challenges'] == [{'scheme': 'bearer', 'realm': 'https://reg.example.test/token',
                                   'service': 'reg.example.test'}]
    assert client.head_manifest('team/app', '1.0').digest == digest
    assert client.head_manifest('team/app', '1.0').digest == digest
    assert len(reg.token_requests) == 1, 'the token for one scope is reused until it expires'
    query = reg.token_requests[0]['query']
    assert query['scope'] == ['repository:team/app:pull']
    assert query['service'] == ['reg.example.test']
    assert query['account'] == [USER]
    assert reg.token_requests[0]['authorization'].startswith('Basic ')
    client.head_manifest('team/b', 'x')
    assert reg.token_requests[1]['query']['scope'] == ['repository:team/b:pull']
    facts = client.token_facts()
    assert facts['granted'] == [{'type': 'repository', 'name': 'team/b', 'actions': ['pull']}]
    assert facts['expires_at'] > time.time()
    no_secret_anywhere(client)
    for token in reg.tokens:
        assert token not in repr(client.trace)


def test_bearer_without_service_parameter_omits_it():
    # GAR sometimes sends only a realm: send no service= at all
    reg = FakeRegistry(auth='bearer', service='', acl={None: {'team/app': ['pull']}})
    reg.add_tag('team/app', '1.0')
    client = make_client(reg)
    client.head_manifest('team/app', '1.0')
    assert 'service' not in reg.token_requests[0]['query']
    assert reg.token_requests[0]['authorization'] is None, 'anonymous: no Authorization to the realm'


def test_wrong_password_is_unauthorized_at_the_token_service():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'team/app': ['pull']}})
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, username=USER, password='wrong-' + PASSWORD)
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert exc.value.category == 'unauthorized'
    assert exc.value.details['step'] == 'token'
    assert 'wrong-' not in str(exc.value)


def test_login_checks_credentials_without_scope():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD})
    assert make_client(reg, username=USER, password=PASSWORD).login() == {'authenticated': True, 'scheme': 'bearer'}
    assert 'scope' not in reg.token_requests[0]['query']
    with pytest.raises(RegistryError) as exc:
        make_client(reg, username=USER, password='nope').login()
    assert exc.value.category == 'unauthorized'
    basic = FakeRegistry(auth='basic', users={USER: PASSWORD})
    assert make_client(basic, username=USER, password=PASSWORD).login()['authenticated'] is True
    with pytest.raises(RegistryError) as exc:
        make_client(basic, username=USER, password='nope').login()
    assert exc.value.category == 'unauthorized'


def test_401_after_successful_token_is_denied_and_flagged_ambiguous():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'other': ['pull']}})
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, username=USER, password=PASSWORD)
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert exc.value.category == 'denied'
    assert exc.value.details['ambiguous_not_found'] is True
    assert 'token granted: nothing' in exc.value.msg
    assert 'do not exist' in exc.value.hint or 'does not exist' in exc.value.hint
    no_secret_anywhere(client, exc.value)


def test_anonymous_401_is_unauthorized_with_hint():
    reg = FakeRegistry(auth='bearer', acl={})
    reg.add_tag('team/app', '1.0')
    with pytest.raises(RegistryError) as exc:
        make_client(reg).head_manifest('team/app', '1.0')
    assert exc.value.category == 'unauthorized'
    assert 'no credentials were sent' in exc.value.msg


def test_basic_auth_good_and_wrong_password():
    reg = FakeRegistry(auth='basic', users={USER: PASSWORD}, acl={USER: {'*': ['pull', 'delete']}})
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg, username=USER, password=PASSWORD)
    assert client.head_manifest('team/app', '1.0').digest == digest
    assert client.auth_scheme == 'basic'
    bad = make_client(reg, username=USER, password='nope')
    with pytest.raises(RegistryError) as exc:
        bad.head_manifest('team/app', '1.0')
    assert exc.value.category == 'unauthorized'
    assert 'rejected the credentials' in exc.value.msg


def test_basic_credentials_never_sent_over_plain_http_without_opt_in():
    reg = FakeRegistry(auth='basic', users={USER: PASSWORD}, acl={USER: {'*': ['pull']}})
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, base='http://reg.example.test', username=USER, password=PASSWORD,
                         allow_insecure_http=True)
    assert client.head_manifest('team/app', '1.0').digest
    # and with the flag off the client cannot even be built for http://
    with pytest.raises(RegistryError):
        RegistryClient('http://reg.example.test', username=USER, password=PASSWORD)


def test_realm_on_another_host_gets_no_credentials_unless_allowed():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, realm='https://auth.example.test/token',
                       acl={USER: {'team/app': ['pull']}, None: {'team/app': ['pull']}})
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, username=USER, password=PASSWORD)
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert exc.value.category == 'cross_host_realm'
    assert reg.token_requests == []
    # anonymous: nothing to protect, the token is fetched without Authorization
    anon = make_client(reg)
    anon.head_manifest('team/app', '1.0')
    assert reg.token_requests[-1]['authorization'] is None
    allowed = make_client(reg, username=USER, password=PASSWORD, allow_cross_host_realm=True)
    allowed.head_manifest('team/app', '1.0')
    assert reg.token_requests[-1]['authorization'].startswith('Basic ')


def test_realm_on_same_host_other_port_is_same_host():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, realm='https://reg.example.test:5001/auth',
                       acl={USER: {'team/app': ['pull']}})
    reg.add_tag('team/app', '1.0')
    make_client(reg, username=USER, password=PASSWORD).head_manifest('team/app', '1.0')
    assert reg.token_requests[0]['authorization'].startswith('Basic ')


def test_plain_http_realm_is_refused_with_credentials():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, realm='http://reg.example.test/token',
                       acl={USER: {'team/app': ['pull']}})
    reg.add_tag('team/app', '1.0')
    with pytest.raises(RegistryError) as exc:
        make_client(reg, username=USER, password=PASSWORD).head_manifest('team/app', '1.0')
    assert exc.value.category == 'plain_http'
    assert reg.token_requests == []


def test_blob_redirect_to_other_host_drops_authorization():
    reg = FakeRegistry(auth='basic', users={USER: PASSWORD}, acl={USER: {'*': ['pull']}})
    reg.add_tag('team/app', '1.0')
    blob = b'layer-bytes'
    digest = sha256_digest(blob)
    reg.redirect_blobs_to = 'https://storage.example.test/bucket/'
    reg.extra_routes['storage.example.test'] = lambda r: (200, {}, blob)
    client = make_client(reg, username=USER, password=PASSWORD)
    assert client.get_blob('team/app', digest) == blob
    storage = [r for r in reg.requests if 'storage.example.test' in r['url']]
    assert storage and 'Authorization' not in storage[0]['headers']
    registry_get = [r for r in reg.requests if '/blobs/' in r['url'] and 'reg.example.test' in r['url']][0]
    assert registry_get['headers']['Authorization'].startswith('Basic ')


def test_blob_digest_mismatch_is_invalid_response():
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    reg.redirect_blobs_to = 'https://storage.example.test/'
    reg.extra_routes['storage.example.test'] = lambda r: (200, {}, b'tampered')
    with pytest.raises(RegistryError) as exc:
        make_client(reg).get_blob('team/app', GOOD)
    assert exc.value.category == 'invalid_response'


def test_redirect_to_plain_http_is_refused():
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    reg.redirect_blobs_to = 'http://storage.example.test/'
    with pytest.raises(RegistryError) as exc:
        make_client(reg).get_blob('team/app', GOOD)
    assert exc.value.category == 'plain_http'


def test_retry_429_honours_retry_after_in_one_place():
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg)
    client.ping()
    reg.queue(lambda r: r.method == 'HEAD', (429, {'Retry-After': '2'}, b''))
    reg.queue(lambda r: r.method == 'HEAD', (503, {}, b''))
    assert client.head_manifest('team/app', '1.0').digest == digest
    assert client._test_sleeps[0] == 2.0
    assert 1.0 <= client._test_sleeps[1] <= 1.25  # exponential backoff with jitter when no Retry-After
    assert [t['status'] for t in client.trace if t['step'] == 'manifest'] == [429, 503, 200]


def test_retry_after_beyond_cap_fails_fast_as_rate_limited():
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, max_retry_wait=30)
    client.ping()
    reg.queue(lambda r: r.method == 'GET' and '/manifests/' in r.url, (429, {
        'Retry-After': '3600', 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '0;w=21600'},
        b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your unauthenticated pull rate limit."}]}'))
    with pytest.raises(RegistryError) as exc:
        client.get_manifest('team/app', '1.0')
    assert exc.value.category == 'rate_limited'
    assert exc.value.details['retry_after'] == 3600
    assert exc.value.details['rate_limit'] == {'limit': 100, 'remaining': 0, 'window_seconds': 21600}
    assert exc.value.details['unauthenticated'] is True
    assert client._test_sleeps == []


def test_retries_run_out_on_5xx():
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, max_retries=2)
    client.ping()
    for _attempt in range(3):
        reg.queue(lambda r: r.method == 'HEAD', (500, {}, b'oops'))
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert exc.value.category == 'server_error'
    assert len(client._test_sleeps) == 2


def test_delete_is_not_retried_on_500():
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg)
    client.ping()
    reg.queue(lambda r: r.method == 'DELETE', (500, {}, b''))
    with pytest.raises(RegistryError) as exc:
        client.delete_manifest('team/app', digest)
    assert exc.value.category == 'server_error'
    assert client._test_sleeps == []


@pytest.mark.parametrize('pagination', ['link-relative', 'link-absolute', 'opaque', 'no-link', 'ignore-n'])
def test_list_tags_every_pagination_style(pagination):
    reg = FakeRegistry(pagination=pagination)
    tags = ['t%03d' % i for i in range(7)]
    for tag in tags:
        reg.add_tag('team/app', tag)
    client = make_client(reg, page_size=3)
    assert client.list_tags('team/app') == tags
    urls = [r['url'] for r in reg.requests if '/tags/list' in r['url']]
    if pagination in ('link-relative', 'link-absolute', 'opaque'):
        assert all('last=' not in u or pagination != 'opaque' for u in urls), 'Link followed verbatim'
        assert len(urls) == 3
    if pagination == 'opaque':
        assert all('next_page=' in u for u in urls[1:])
    if pagination == 'no-link':
        assert 'last=t002' in urls[1] and 'last=t005' in urls[2]
    if pagination == 'ignore-n':
        assert len(urls) == 2  # one synthesised follow-up that brings nothing new, then stop


def test_link_pointing_back_does_not_loop():
    reg = FakeRegistry()
    reg.add_tag('team/app', 'a')
    client = make_client(reg)
    client.ping()
    reg.queue(lambda r: '/tags/list' in r.url, (200, {'Link': '</v2/team/app/tags/list?n=1000>; rel="next"'},
                                                {'tags': ['a']}))
    reg.queue(lambda r: '/tags/list' in r.url, (200, {'Link': '</v2/team/app/tags/list?n=1000>; rel="next"'},
                                                {'tags': ['a']}))
    assert client.list_tags('team/app') == ['a']


def test_list_tags_of_missing_repository_is_not_found():
    reg = FakeRegistry()
    with pytest.raises(RegistryError) as exc:
        make_client(reg).list_tags('team/none')
    assert exc.value.category == 'not_found'


def test_catalog_asks_for_registry_catalog_scope():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'catalog': ['*']}})
    for repo in ('a', 'b/c', 'd'):
        reg.add_tag(repo, '1')
    client = make_client(reg, username=USER, password=PASSWORD, page_size=2)
    assert client.catalog() == ['a', 'b/c', 'd']
    assert reg.token_requests[0]['query']['scope'] == ['registry:catalog:*']


def test_delete_manifest_by_digest_with_delete_scope():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'team/app': ['pull', 'delete']}})
    digest = reg.add_tag('team/app', '1.0')
    reg.add_tag('team/app', 'keep')
    client = make_client(reg, username=USER, password=PASSWORD)
    assert client.delete_manifest('team/app', digest + '\r') == {'status': 202, 'digest': digest}
    assert reg.token_requests[-1]['query']['scope'] == ['repository:team/app:pull,delete']
    assert '1.0' not in reg.repos['team/app']
    delete = [r for r in reg.requests if r['method'] == 'DELETE'][0]
    assert delete['url'].endswith('/manifests/' + digest)


def test_delete_refuses_a_tag():
    reg = FakeRegistry()
    with pytest.raises(RegistryError) as exc:
        make_client(reg).delete_manifest('team/app', 'latest')
    assert exc.value.category == 'invalid_digest'
    assert reg.requests == []


def test_delete_405_is_unsupported_with_a_hint():
    reg = FakeRegistry(delete_enabled=False)
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg)
    with pytest.raises(RegistryError) as exc:
        client.delete_manifest('team/app', digest)
    assert exc.value.category == 'unsupported'
    assert 'storage.delete.enabled' in exc.value.hint
    assert exc.value.details['codes'] == ['UNSUPPORTED']
    assert client._test_sleeps == []


def test_delete_without_delete_grant_is_denied_with_granted_actions():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'team/app': ['pull']}})
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg, username=USER, password=PASSWORD)
    with pytest.raises(RegistryError) as exc:
        client.delete_manifest('team/app', digest)
    assert exc.value.category == 'denied'
    assert 'repository:team/app:pull' in exc.value.hint and '"delete"' in exc.value.hint


def test_get_manifest_checks_digest_and_media_type():
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg)
    info, body = client.get_manifest('team/app', '1.0')
    assert info.digest == digest and body['schemaVersion'] == 2
    info, body = client.get_manifest('team/app', digest)
    assert info.digest == digest
    reg.queue(lambda r: r.method == 'GET' and '/manifests/' in r.url, (200, {
        'Docker-Content-Digest': GOOD, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json'}, b'{}'))
    with pytest.raises(RegistryError) as exc:
        client.get_manifest('team/app', '1.0')
    assert exc.value.category == 'invalid_response'
    content = b'{"mediaType": "application/vnd.oci.image.index.v1+json"}'
    reg.queue(lambda r: r.method == 'GET' and '/manifests/' in r.url, (200, {
        'Docker-Content-Digest': sha256_digest(content),
        'Content-Type': 'application/vnd.oci.image.manifest.v1+json'}, content))
    with pytest.raises(RegistryError) as exc:
        client.get_manifest('team/app', '1.0')
    assert 'disagrees' in exc.value.msg


def test_missing_accept_types_would_give_another_digest():
    """wrong digest on delete: the fake converts when Accept lacks a type; the client always sends all four, so it never sees it."""
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    assert make_client(reg).head_manifest('team/app', '1.0').digest == digest != 'sha256:' + '1' * 64


@pytest.mark.parametrize('status, body, category, missing', [
    (404, '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}', 'not_found',
     'repository'),
    (404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', 'not_found',
     'manifest (tag or digest)'),
    (404, 'not json', 'not_found', 'repository or tag'),
    # ECR tokens expire after 12 h: ECR's expired token
    (403, '{"errors":[{"code":"DENIED","message":"Your authorization token has expired. Reauthenticate and try again."}]}',
     'expired_credentials', None),
    (403, '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', 'denied', None),
    (400, '{"errors":[{"code":"NAME_INVALID","message":"invalid repository name"}]}', 'invalid_request', None),
    (502, '', 'server_error', None),
    (418, '', 'invalid_response', None),
])
def test_error_mapping(status, body, category, missing):
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, max_retries=0)
    client.ping()
    reg.queue(lambda r: r.method == 'HEAD', (status, {'Content-Type': 'application/json'}, body))
    # HEAD has no body: error bodies come with GET; use get_manifest to see the envelope
    reg.queue(lambda r: r.method == 'GET' and '/manifests/' in r.url, (status, {}, body))
    with pytest.raises(RegistryError):
        client.head_manifest('team/app', '1.0')
    with pytest.raises(RegistryError) as exc:
        client.get_manifest('team/app', '1.0')
    assert exc.value.category == category
    if missing:
        assert exc.value.details['missing'] == missing


@pytest.mark.parametrize('raised, category', [
    (ConnectionError_(socket.gaierror(-2, 'Name or service not known')), 'dns'),
    (requests.exceptions.ConnectTimeout('timed out'), 'timeout'),
    (requests.exceptions.SSLError(_ssl_verify_error(20, 'unable to get local issuer certificate')), 'tls_untrusted'),
    (requests.exceptions.SSLError(_ssl_verify_error(62, 'Hostname mismatch')), 'tls_hostname'),
    (ConnectionError_('[Errno 111] Connection refused'), 'connect'),
])
def test_transport_failures_become_categories(raised, category):
    reg = FakeRegistry()
    reg.queue(lambda r: True, raised)
    client = make_client(reg, max_retries=0)  # a refused connection is retried (below)
    with pytest.raises(RegistryError) as exc:
        client.ping()
    assert exc.value.category == category
    assert exc.value.details['step'] == 'ping'
    assert client.trace[-1]['error'] == category
    assert exc.value.request_sent is False  # none of these reached the server


def _refused():
    return ConnectionError_(urllib3.exceptions.MaxRetryError(None, '/v2/', urllib3.exceptions.NewConnectionError(
        None, 'Failed to establish a new connection: [Errno 111] Connection refused')))


def _reset():
    return ConnectionError_(urllib3.exceptions.ProtocolError(
        'Connection aborted.', ConnectionResetError(104, 'Connection reset by peer')))


def test_refused_connection_is_retried_for_every_method_and_counted():
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg, max_retries=3)
    client.ping()
    for _attempt in range(2):
        reg.queue(lambda r: r.method == 'DELETE', _refused())
    assert client.delete_manifest('team/app', digest)['status'] == 202
    assert [r['method'] for r in reg.requests].count('DELETE') == 3
    assert client.policy.stats()['by_reason'] == {'connection refused': 2}
    assert len(client._test_sleeps) == 2


def test_connection_broken_after_sending_retries_reads_but_never_a_delete():
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg, max_retries=3)
    client.ping()
    reg.queue(lambda r: r.method == 'HEAD', _reset())
    assert client.head_manifest('team/app', '1.0').digest == digest
    assert client.policy.stats()['by_reason'] == {'connection broken': 1}
    reg.queue(lambda r: r.method == 'DELETE', _reset())
    with pytest.raises(RegistryError) as exc:
        client.delete_manifest('team/app', digest)
    assert exc.value.category == 'connect' and exc.value.request_sent is True
    assert 'the request was sent, so it may have been processed' in exc.value.msg
    assert [r['method'] for r in reg.requests].count('DELETE') == 1
    assert client.policy.stats()['count'] == 1


def test_registry_refusing_every_retry_fails_later_requests_at_once():
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, max_retries=2)
    client.ping()
    for _attempt in range(3):
        reg.queue(lambda r: r.method == 'HEAD', _refused())
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert 'connection refused (gave up after 2 retries, request_retries=2)' in exc.value.msg
    assert exc.value.details['retried'] == 2
    sent = len(reg.requests)
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert 'not sent: the registry reg.example.test was found unreachable earlier in this task' in exc.value.msg
    assert exc.value.request_sent is False and len(reg.requests) == sent


def test_plain_http_fallback_only_with_opt_in_and_no_explicit_scheme():
    reg = FakeRegistry()
    reg.queue(lambda r: r.url.startswith('https://'),
              requests.exceptions.SSLError('[SSL: WRONG_VERSION_NUMBER] wrong version number'))
    with pytest.raises(RegistryError) as exc:
        make_client(reg).ping()
    assert exc.value.category == 'plain_http'
    reg.queue(lambda r: r.url.startswith('https://'),
              requests.exceptions.SSLError('[SSL: WRONG_VERSION_NUMBER] wrong version number'))
    client = make_client(reg, allow_insecure_http=True)
    client.ping()
    assert client.base_url == 'http://reg.example.test'


def test_ca_path_and_validate_certs_reach_every_request():
    reg = FakeRegistry()
    make_client(reg, ca_path='/tmp/ca.pem').ping()
    assert reg.requests[-1]['verify'] == '/tmp/ca.pem'
    make_client(reg, validate_certs=False).ping()
    assert reg.requests[-1]['verify'] is False
    make_client(reg).ping()
    # True, or the bundle that REQUESTS_CA_BUNDLE names: the system trust either way
    assert reg.requests[-1]['verify'] not in (False, '/tmp/ca.pem', None)


def test_warning_headers_are_collected():
    reg = FakeRegistry()
    reg.queue(lambda r: True, (200, {'Warning': '299 - "Your auth token will expire in 30 seconds."'}, b'{}'))
    client = make_client(reg)
    client.ping()
    assert client.warnings == ['299 - "Your auth token will expire in 30 seconds."']


def test_invalid_repository_and_reference_are_rejected_before_any_request():
    reg = FakeRegistry()
    client = make_client(reg)
    for repo, ref in (('Team/App', '1.0'), ('team/app', 'bad tag'), ('team/app', 'sha256:xyz')):
        with pytest.raises(RegistryError):
            client.head_manifest(repo, ref)
    assert reg.requests == []


def test_expired_bearer_token_is_refreshed_once_on_invalid_token():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'team/app': ['pull']}})
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg, username=USER, password=PASSWORD)
    client.head_manifest('team/app', '1.0')
    reg.tokens.clear()  # the registry no longer accepts the old token
    reg.queue(lambda r: r.method == 'HEAD', (401, {'WWW-Authenticate': 'Bearer realm="https://reg.example.test/token",'
                                                   'service="reg.example.test",scope="repository:team/app:pull",'
                                                   'error="invalid_token"'}, b''))
    assert client.head_manifest('team/app', '1.0').digest == digest
    assert len(reg.token_requests) == 2


def _proxy_502():
    return requests.exceptions.ProxyError(urllib3.exceptions.MaxRetryError(None, '/v2/', urllib3.exceptions.ProxyError(
        'Unable to connect to proxy', OSError('Tunnel connection failed: 502 Bad Gateway'))))


@pytest.mark.parametrize('raised, category', [
    (requests.exceptions.InvalidURL('Failed to parse: https://reg.example.test:99999/v2/'), 'invalid_request'),
    (requests.exceptions.InvalidHeader('Invalid return character or leading space in header: Authorization'),
     'invalid_request'),
    (ValueError('Invalid header value b"Bearer abc\\n"'), 'invalid_request'),
    (_proxy_502(), 'connect'),
])
@pytest.mark.parametrize('method', ['HEAD', 'DELETE'])
def test_errors_before_anything_was_sent_are_not_sent_and_not_retried(raised, category, method):
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    client = make_client(reg, max_retries=3)
    client.ping()
    reg.queue(lambda r: r.method == method, raised)
    with pytest.raises(RegistryError) as exc:
        if method == 'HEAD':
            client.head_manifest('team/app', '1.0')
        else:
            client.delete_manifest('team/app', digest)
    assert exc.value.category == category
    assert exc.value.request_sent is False
    assert 'may have been processed' not in exc.value.msg
    assert 'Bearer abc' not in exc.value.msg
    assert [r['method'] for r in reg.requests].count(method) == 1
    assert client.policy.stats()['count'] == 0 and client._test_sleeps == []
    # not a refusal: the registry is not given up for the rest of the task
    assert client.head_manifest('team/app', '1.0').digest == digest


def test_token_with_a_newline_is_rejected_by_requests_before_sending_and_not_shown():
    reg = FakeRegistry(auth='bearer', acl={None: {'team/app': ['pull']}})
    reg.add_tag('team/app', '1.0')
    client = make_client(reg, max_retries=3)
    reg.queue(lambda r: '/token' in r.url, (200, {}, {'token': 'tok-SECRET\nX-Injected: 1'}))
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert exc.value.category == 'invalid_request' and exc.value.request_sent is False
    assert 'a request header is not valid' in exc.value.msg
    assert 'tok-SECRET' not in exc.value.msg and 'tok-SECRET' not in repr(exc.value.details)
    assert client.policy.stats()['count'] == 0


def test_refused_host_fails_fast_for_every_client_of_the_task():
    from ansible_collections.registrylink.k8s.plugins.module_utils import _retry
    before = _retry.current_policy()
    policy = _retry.set_policy(_retry.RetryPolicy(retries=2))
    try:
        reg = FakeRegistry()
        reg.add_tag('team/app', '1.0')
        first = make_client(reg)
        for _attempt in range(3):
            reg.queue(lambda r: True, _refused())
        with pytest.raises(RegistryError):
            first.ping()
        sent = len(reg.requests)
        second = make_client(reg)  # another image of the same task: no second retry cycle
        with pytest.raises(RegistryError) as exc:
            second.head_manifest('team/app', '1.0')
        assert 'not sent: the registry reg.example.test was found unreachable earlier in this task' in exc.value.msg
        assert exc.value.request_sent is False and len(reg.requests) == sent
        assert second._test_sleeps == [] and policy.stats()['count'] == 2
        other = FakeRegistry(host='other.example.test')
        other.add_tag('team/app', '1.0')
        make_client(other).head_manifest('team/app', '1.0')  # another host:port is not affected
    finally:
        _retry.set_policy(before)


def test_refused_token_realm_is_named_and_remembered_by_its_host():
    reg = FakeRegistry(auth='bearer', realm='https://auth.example.test:8443/token',
                       acl={None: {'team/app': ['pull'], 'team/other': ['pull']}})
    reg.add_tag('team/app', '1.0')
    reg.add_tag('team/other', '1.0')
    client = make_client(reg, max_retries=1)
    for _attempt in range(2):
        reg.queue(lambda r: 'auth.example.test' in r.url, _refused())
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/app', '1.0')
    assert 'https://auth.example.test:8443/token: connection refused (gave up after 1 retries' in exc.value.msg
    assert client.policy.unreachable('auth.example.test:8443') is not None
    assert client.policy.unreachable('reg.example.test:443') is None
    with pytest.raises(RegistryError) as exc:
        client.head_manifest('team/other', '1.0')  # another scope: a new token from the same realm
    assert 'not sent: the host auth.example.test:8443 was found unreachable earlier in this task' in exc.value.msg
    assert 'the registry' not in exc.value.msg
