# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the probe runner and its failure classification (fake registry transport, fake TLS step)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import json
import time

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _registry_probe as probe
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import RegistryClient
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._errors import CATEGORIES
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryError
from ansible_collections.registrylink.k8s.tests.unit.plugins.module_utils.fake_registry_transport import (
    FakeRegistry, fake_jwt,
)

USER = 'ci-puller'
PASSWORD = 'S3cr3t-Example'


def ok_tls(host, port, ca_path=None, validate_certs=True, timeout=10):
    return ({'verified': True, 'protocol': 'TLSv1.3', 'validate_certs': validate_certs, 'ca_path': ca_path},
            {'dns': 1, 'connect': 1, 'tls': 2}, None)


def factory_for(reg):
    def factory(registry, **kwargs):
        client = RegistryClient(registry, sleep=lambda s: None, **kwargs)
        reg.mount(client)
        return client
    return factory


def run(reg, repository='team/app', reference='1.0', tls=ok_tls, **kwargs):
    target = probe.ProbeTarget(reg.host, repository, reference)
    return probe.run_probe(target, client_factory=factory_for(reg), tls_checker=tls, **kwargs)


def assert_no_secret(result, *secrets):
    text = json.dumps(result)
    for secret in (PASSWORD,) + secrets:
        assert secret not in text
    assert base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode() not in text


# ---- credential facts ----------------------------------------------------------------------------

def test_jwt_password_with_past_exp_is_expired():
    now = 1700000000
    token = fake_jwt({'exp': now - 60, 'sub': 'x'})
    facts = probe.credential_facts('exampleregistry.azurecr.io', '00000000-0000-0000-0000-000000000000', token,
                                   now=now)
    assert facts['password_kind'] == 'jwt'
    assert facts['expired'] is True
    assert facts['token_expires_at'] == '2023-11-14T22:12:20Z'
    assert any('ACR' in a for a in facts['advice'])
    assert token not in json.dumps(facts)


def test_jwt_password_in_the_future_is_not_expired():
    now = 1700000000
    facts = probe.credential_facts('r.test', 'u', fake_jwt({'exp': now + 3600}), now=now)
    assert facts['expired'] is False and facts['token_expires_at'] == '2023-11-14T23:13:20Z'


def test_ecr_token_expiration_is_read():
    now = 1700000000
    password = base64.b64encode(json.dumps({'payload': 'x', 'datakey': 'y', 'version': '2', 'type': 'DATA_KEY',
                                            'expiration': now - 1}).encode()).decode()
    facts = probe.credential_facts('111122223333.dkr.ecr.eu-west-1.amazonaws.com', 'AWS', password, now=now)
    assert facts['password_kind'] == 'ecr_token' and facts['expired'] is True
    assert any('12 hours' in a for a in facts['advice'])


@pytest.mark.parametrize('username, needle', [
    ('robot+puller', 'Harbor robot'),          # Harbor robot name with $: '$team' lost to shell expansion
    ('robot', 'Harbor robot'),
    ('gitlab-ci-token', 'deploy token'),       # GitLab CI job token
])
def test_credential_advice(username, needle):
    facts = probe.credential_facts('r.test', username, 'x')
    assert any(needle in a for a in facts['advice'])


def test_opaque_password_has_no_expiry():
    facts = probe.credential_facts('r.test', USER, PASSWORD)
    assert facts['password_kind'] == 'opaque' and facts['token_expires_at'] is None and not facts['expired']


# ---- classification ------------------------------------------------------------------------------

def test_refine_expired_jwt_turns_unauthorized_into_expired_credentials():
    err = RegistryError('401', category='unauthorized', hint=CATEGORIES['unauthorized'])
    category, hint = probe.refine(err, {'expired': True, 'token_expires_at': '2023-01-01T00:00:00Z', 'advice': []})
    assert category == 'expired_credentials'
    assert '2023-01-01T00:00:00Z' in hint


def test_refine_rate_limited_unauthenticated():
    err = RegistryError('429', category='rate_limited', unauthenticated=True)
    category, hint = probe.refine(err, {'expired': False, 'advice': []}, anonymous=False)
    assert category == 'rate_limited'
    assert 'not a bad password' in hint


# ---- run_probe against the fake registry -----------------------------------------------------------

def test_good_credentials_report_digest_token_and_latency():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'team/app': ['pull']}})
    digest = reg.add_tag('team/app', '1.0')
    result = run(reg, username=USER, password=PASSWORD)
    assert result['ok'] is True, result
    assert result['category'] is None
    assert result['manifest']['digest'] == digest
    assert result['auth']['scheme'] == 'bearer' and result['auth']['authenticated'] is True
    assert result['token']['granted'] == [{'type': 'repository', 'name': 'team/app', 'actions': ['pull']}]
    assert result['token']['expires_at'].endswith('Z')
    for step in ('dns', 'connect', 'tls', 'ping', 'token', 'manifest', 'total'):
        assert step in result['latency_ms'], step
    assert [s['step'] for s in result['steps']] == ['dns', 'connect', 'tls', 'ping', 'login', 'manifest']
    assert result['rate_limit'] is None
    assert result['credentials']['source'] == 'explicit'
    assert_no_secret(result, *reg.tokens)


def test_wrong_password_is_unauthorized():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {'team/app': ['pull']}})
    reg.add_tag('team/app', '1.0')
    result = run(reg, username=USER, password='not-the-' + PASSWORD)
    assert result['ok'] is False
    assert result['category'] == 'unauthorized'
    assert result['steps'][-1]['step'] == 'token'
    assert 'not-the-' not in json.dumps(result)


def test_basic_wrong_password_is_unauthorized_at_login():
    reg = FakeRegistry(auth='basic', users={USER: PASSWORD}, acl={USER: {'*': ['pull']}})
    reg.add_tag('team/app', '1.0')
    result = run(reg, username=USER, password='nope')
    assert result['category'] == 'unauthorized'
    assert result['steps'][-1]['step'] == 'login'


def test_missing_tag_is_not_found_and_names_the_tag():
    reg = FakeRegistry(auth='basic', users={USER: PASSWORD}, acl={USER: {'*': ['pull']}})
    reg.add_tag('team/app', '1.0')
    result = run(reg, reference='2.0', username=USER, password=PASSWORD)
    assert result['category'] == 'not_found'
    assert result['steps'][-1]['missing'] == 'tag'
    assert '1.0' in result['hint']


def test_missing_repository_is_not_found_and_names_the_repository():
    reg = FakeRegistry()
    result = run(reg, repository='team/none')
    assert result['category'] == 'not_found'
    assert result['steps'][-1]['missing'] == 'repository'


def test_tls_untrusted_reports_certificate_and_stops_before_credentials():
    def untrusted(host, port, ca_path=None, validate_certs=True, timeout=10):
        return ({'verified': False, 'certificate': {'subject': 'CN=localhost', 'issuer': 'CN=registrylink local CA'}},
                {'dns': 1, 'connect': 1, 'tls': 1}, ('tls_untrusted', 'certificate verify failed'))
    reg = FakeRegistry(auth='basic', users={USER: PASSWORD})
    result = run(reg, tls=untrusted, username=USER, password=PASSWORD)
    assert result['category'] == 'tls_untrusted'
    assert 'CN=registrylink local CA' in result['hint'] and 'ca_path' in result['hint']
    assert reg.requests == [], 'nothing (and no credential) was sent'
    assert [s['step'] for s in result['steps']] == ['dns', 'connect', 'tls']


@pytest.mark.parametrize('category, step', [('dns', 'dns'), ('connect', 'connect'), ('timeout', 'connect'),
                                            ('tls_hostname', 'tls')])
def test_network_failures_stop_at_their_step(category, step):
    def failing(host, port, ca_path=None, validate_certs=True, timeout=10):
        return {}, {'dns': 1}, (category, 'boom')
    reg = FakeRegistry()
    result = run(reg, tls=failing)
    assert result['category'] == category
    assert result['steps'][-1] == {'step': step, 'ok': False, 'category': category}
    assert result['hint'] == CATEGORIES[category]


def test_plain_http_is_refused_by_default_and_allowed_explicitly():
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    target = probe.ProbeTarget('http://' + reg.host, 'team/app', '1.0')
    result = probe.run_probe(target, client_factory=factory_for(reg), tls_checker=ok_tls)
    assert result['category'] == 'plain_http'
    result = probe.run_probe(target, client_factory=factory_for(reg), tls_checker=ok_tls, allow_insecure_http=True)
    assert result['ok'] is True and result['tls'] == {'enabled': False}


def test_ecr_expired_token_message_is_expired_credentials():
    # ECR tokens expire after 12 h: 403 DENIED "Your authorization token has expired."
    reg = FakeRegistry(auth='basic', users={'AWS': 'ECR-TOKEN-EXAMPLE'}, acl={'AWS': {'*': ['pull']}})
    reg.add_tag('team/app', '1.0')
    body = {'errors': [{'code': 'DENIED', 'message': 'Your authorization token has expired. Reauthenticate and try again.'}]}
    reg.queue(lambda r: r.url.endswith('/v2/') and r.headers.get('Authorization'), (403, {}, body))
    result = run(reg, username='AWS', password='ECR-TOKEN-EXAMPLE')
    assert result['category'] == 'expired_credentials'
    assert 'ECR-TOKEN-EXAMPLE' not in json.dumps(result)


def test_expired_jwt_password_rejected_by_registry_is_expired_credentials():
    reg = FakeRegistry(auth='basic', users={USER: PASSWORD})
    reg.add_tag('team/app', '1.0')
    token = fake_jwt({'exp': int(time.time()) - 3600})
    result = run(reg, username=USER, password=token)
    assert result['category'] == 'expired_credentials'
    assert result['token_expires_at'] is not None
    assert token not in json.dumps(result)


def test_rate_limited_reports_limits_and_retry_after():
    # rate limit, not a bad password: HEAD is used (never GET), limits parsed with their window
    reg = FakeRegistry()
    reg.add_tag('team/app', '1.0')
    reg.queue(lambda r: r.method == 'HEAD', (429, {'Retry-After': '3600', 'ratelimit-limit': '100;w=21600',
                                                   'ratelimit-remaining': '0;w=21600'}, b''))
    result = run(reg)
    assert result['category'] == 'rate_limited'
    assert result['rate_limit'] == {'limit': 100, 'remaining': 0, 'window_seconds': 21600}
    assert result['retry_after'] == 3600
    assert not [r for r in reg.requests if r['method'] == 'GET' and '/manifests/' in r['url']]


def test_rate_limit_headers_on_success():
    reg = FakeRegistry()
    digest = reg.add_tag('team/app', '1.0')
    reg.queue(lambda r: r.method == 'HEAD', (200, {'Docker-Content-Digest': digest, 'ratelimit-limit': '100;w=21600',
                                                   'ratelimit-remaining': '76;w=21600',
                                                   'docker-ratelimit-source': '192.0.2.1'}, b''))
    result = run(reg)
    assert result['ok'] and result['rate_limit']['remaining'] == 76 and result['rate_limit']['source'] == '192.0.2.1'


def test_registry_only_probe_checks_login_without_manifest():
    reg = FakeRegistry(auth='basic', users={USER: PASSWORD})
    result = run(reg, repository=None, reference=None, username=USER, password=PASSWORD)
    assert result['ok'] is True
    assert result['manifest'] is None
    assert [s['step'] for s in result['steps']][-1] == 'login'


def test_denied_after_token_exchange_mentions_both_causes():
    reg = FakeRegistry(auth='bearer', users={USER: PASSWORD}, acl={USER: {}})
    reg.add_tag('team/app', '1.0')
    result = run(reg, username=USER, password=PASSWORD)
    assert result['category'] == 'denied'
    assert result['steps'][-1]['ambiguous_not_found'] is True


def test_invalid_registry_is_an_input_failure():
    result = probe.run_probe(probe.ProbeTarget('ftp://x'), tls_checker=ok_tls)
    assert result['category'] == 'invalid_request' and result['steps'][-1]['step'] == 'input'


def test_every_category_has_a_hint():
    for name in ('dns', 'connect', 'timeout', 'tls_untrusted', 'tls_hostname', 'plain_http', 'unauthorized',
                 'denied', 'not_found', 'rate_limited', 'server_error', 'expired_credentials',
                 'no_credentials_matched'):
        assert CATEGORIES[name]


def test_describe_certificate():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'reg.example.test')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName('reg.example.test')]), critical=False)
            .sign(key, hashes.SHA256()))
    facts = probe.describe_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert facts['subject'] == 'CN=reg.example.test' and facts['self_signed'] is True
    assert facts['sans'] == ['reg.example.test']
    assert len(facts['sha256_fingerprint']) == 64


def test_tls_check_of_a_host_that_refused_every_retry_fails_at_once_for_the_rest_of_the_task(monkeypatch):
    """A registry that is down costs one retry cycle per task, not one per image (every probe makes a client)."""
    import socket
    from ansible_collections.registrylink.k8s.plugins.module_utils import _retry
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens: connecting is refused
    sleeps = []
    monkeypatch.setattr(probe.time, 'sleep', sleeps.append)
    before = _retry.current_policy()
    policy = _retry.set_policy(_retry.RetryPolicy(retries=2))
    try:
        _facts, _latency, error = probe.tls_check('127.0.0.1', port, timeout=2)
        assert error[0] == 'connect' and 'gave up after 2 retries, request_retries=2' in error[1]
        assert len(sleeps) == 2 and policy.stats()['by_reason'] == {'connection refused': 2}
        started = time.time()
        _facts, _latency, error = probe.tls_check('127.0.0.1', port, timeout=2)
        assert time.time() - started < 1 and len(sleeps) == 2 and policy.stats()['count'] == 2
        assert error[0] == 'connect'
        assert 'it was found unreachable earlier in this task' in error[1] and '127.0.0.1:%d' % port in error[1]
        # the registry client of the same task does not try that host:port again either
        client = RegistryClient('127.0.0.1:%d' % port)
        with pytest.raises(RegistryError) as exc:
            client.ping()
        assert 'not sent: the registry 127.0.0.1:%d was found unreachable earlier in this task' % port \
            in exc.value.msg
        assert exc.value.request_sent is False and client.trace == []
    finally:
        _retry.set_policy(before)
