# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the credential providers (_providers) and of registry_secret's provider path.

* the table and the interface (get_provider, option_names, options_fingerprint, Credentials);
* EcrProvider.validate (no network) and EcrProvider.mint, against moto in process (real boto3
  calls, moto's fixed 2015-01-01 expiry) and against a fake session (expiries, errors);
* registry_secret with provider entries over an in-memory Kubernetes API: refresh_before
  idempotency, one mint per run, mixed static + provider entries, fresh and stale namespaces,
  validation before any request, static ECR tokens that expire after 12 h, and no token in any result, warning or diff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import datetime
import json

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _providers
from ansible_collections.registrylink.k8s.plugins.module_utils._common import format_rfc3339, parse_rfc3339
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    NotFoundError,
    ProviderError,
    RegistryLinkError,
    ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._ecr import EcrProvider, ecr_host
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_secret import (
    EXPIRES_AT_ANNOTATION,
    ISSUED_AT_ANNOTATION,
    PROVIDERS_ANNOTATION,
    RegistrySecretRunner,
    format_time_left,
    load_records,
    token_status,
    validate_params,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)
ECR_KEY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com'
STATIC_PASSWORD = 'static-S3cret-pw'
MANAGED = {'app.kubernetes.io/managed-by': 'registrylink.k8s'}


# --------------------------------------------------------------------------- fakes

class FakeEcrClient(object):
    """GetAuthorizationToken like ECR: a new token per call, a configurable expiry."""

    def __init__(self, owner):
        self.owner = owner

    def get_authorization_token(self, **kwargs):
        owner = self.owner
        owner.calls.append(kwargs)
        if owner.error is not None:
            raise owner.error
        owner.count += 1
        token = owner.token_format % owner.count
        account = (kwargs.get('registryIds') or [owner.account])[0]
        data = {'authorizationToken': base64.b64encode(token.encode()).decode(),
                'proxyEndpoint': 'https://%s.dkr.ecr.%s.amazonaws.com' % (account, owner.region)}
        expires = owner.expires(owner.now_fn()) if callable(owner.expires) else owner.expires
        if expires is not None:
            data['expiresAt'] = expires
        return {'authorizationData': [data]}


class FakeSession(object):
    """Stands in for boto3.Session (session_factory): records how it was made."""

    def __init__(self, region='eu-west-1', account='123456789012', expires=None, now_fn=None):
        self.region = region
        self.account = account
        self.count = 0
        self.calls = []
        self.made = []
        self.error = None
        self.token_format = 'AWS:minted-token-%04d-Zq'
        self.expires = expires if expires is not None else (lambda now: now + 12 * HOUR)
        self.now_fn = now_fn or (lambda: NOW)
        self.region_name = region

    def __call__(self, region=None, profile=None, role_arn=None):
        self.made.append({'region': region, 'profile': profile, 'role_arn': role_arn})
        self.region = region
        return self

    def client(self, service, endpoint_url=None, region_name=None, config=None):
        assert service == 'ecr'
        self.endpoint_url = endpoint_url
        return FakeEcrClient(self)


class FakeCore(object):
    def __getattr__(self, name):
        def method(**kwargs):
            raise AssertionError('the runner must go through kube.call / kube.list_all')
        method.__name__ = name
        return method


class FakeKube(object):
    """An in-memory Kubernetes API for Secrets and Namespaces, counting every request."""

    def __init__(self, namespaces):
        self.core = FakeCore()
        self.api_client = None
        self.namespaces = [{'metadata': {'name': n, 'labels': {}}} for n in namespaces]
        self.secrets = {}
        self.requests = []
        self.reviews = []  # SelfSubjectAccessReviews (always allowed here; test__rbac.py covers denials)
        self.rv = 1000

    def list_all(self, resource, func, namespace=None, **kwargs):
        self.requests.append(('list', resource))
        if resource == 'namespaces':
            return copy.deepcopy(self.namespaces)
        assert resource == 'secrets'
        name = kwargs['field_selector'].split('=', 1)[1]
        return [copy.deepcopy(s) for (ns, n), s in sorted(self.secrets.items()) if n == name]

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        if resource == 'selfsubjectaccessreviews':
            self.reviews.append(kwargs['body']['spec']['resourceAttributes'])
            return {'status': {'allowed': True}}
        self.requests.append((verb, resource, namespace))
        assert resource == 'secrets'
        body = copy.deepcopy(kwargs.get('body'))
        key = (namespace, name or (body or {}).get('metadata', {}).get('name'))
        if verb == 'create':
            self.rv += 1
            body['metadata']['resourceVersion'] = str(self.rv)
            self.secrets[key] = body
        elif verb == 'update':
            self.rv += 1
            body['metadata']['resourceVersion'] = str(self.rv)
            self.secrets[key] = body
        elif verb == 'get':
            if key not in self.secrets:
                raise NotFoundError('not found')
            return copy.deepcopy(self.secrets[key])
        elif verb == 'delete':
            if key not in self.secrets:
                raise NotFoundError('not found')
            del self.secrets[key]
        return copy.deepcopy(body)

    @property
    def writes(self):
        return [r for r in self.requests if r[0] in ('create', 'update', 'delete')]

    def config(self, ns, name='ecr-pull'):
        secret = self.secrets[(ns, name)]
        return json.loads(base64.b64decode(secret['data']['.dockerconfigjson']))

    def annotations(self, ns, name='ecr-pull'):
        return self.secrets[(ns, name)]['metadata'].get('annotations') or {}

    def set_record_expiry(self, ns, expires_at, name='ecr-pull'):
        """What the integration test does with kubectl: set the recorded expiry back."""
        ann = self.secrets[(ns, name)]['metadata']['annotations']
        records = json.loads(ann[PROVIDERS_ANNOTATION])
        for r in records:
            r['expires_at'] = format_rfc3339(expires_at)
        ann[PROVIDERS_ANNOTATION] = json.dumps(records)
        ann[EXPIRES_AT_ANNOTATION] = format_rfc3339(expires_at)


class ExplodingKube(object):
    """Any API request is a test failure: for validation that must happen before any request."""

    core = FakeCore()

    def list_all(self, *args, **kwargs):
        raise AssertionError('no request may be made')

    def call(self, *args, **kwargs):
        raise AssertionError('no request may be made')


def params(**kw):
    base = dict(name='ecr-pull', state='present', namespaces=['team-a', 'team-b'], namespace_selector=None,
                exclude_namespaces=[], registries=[{'provider': 'ecr', 'region': 'eu-west-1'}], docker_config=None,
                merge=False, type='kubernetes.io/dockerconfigjson', labels={}, annotations={}, force=False,
                max_concurrent_writes=4, refresh_before='6h')
    base.update(kw)
    regs = []
    for reg in base['registries']:
        full = dict((k, None) for k in ('server', 'username', 'password', 'auth', 'email', 'provider')
                    + tuple(_providers.option_names()))
        full.update(reg)
        regs.append(full)
    base['registries'] = regs
    return base


def static(server='registry.example.test', username='puller', password=STATIC_PASSWORD):
    return {'server': server, 'username': username, 'password': password}


class Harness(object):
    """Runs RegistrySecretRunner like the module does, with a fake AWS session and a movable clock."""

    def __init__(self, namespaces=('team-a', 'team-b'), **session_kw):
        self.kube = FakeKube(list(namespaces))
        self.now = NOW
        self.session = FakeSession(now_fn=lambda: self.now, **session_kw)
        self.warnings = []

    def factory(self, name, field='provider', warn=None):
        return _providers.get_provider(name, field=field, warn=warn, session_factory=self.session)

    def run(self, check_mode=False, kube=None, **kw):
        runner = RegistrySecretRunner(params(**kw), check_mode=check_mode, warn=self.warnings.append,
                                      kube=kube or self.kube, provider_factory=self.factory, now=self.now)
        result = runner.run()
        result['_mints'] = runner.mint_count
        return result


def no_token_in(obj, harness):
    text = json.dumps(obj, default=str) + '\n'.join(harness.warnings)
    for n in range(1, harness.session.count + 1):
        token = (harness.session.token_format % n).split(':', 1)[1]
        assert token not in text
        assert base64.b64encode(('AWS:' + token).encode()).decode() not in text
    assert STATIC_PASSWORD not in text


# --------------------------------------------------------------------------- the table and the interface

def test_table_lists_ecr_and_every_provider_follows_the_interface():
    assert {'acr', 'ecr', 'gar'} <= set(_providers.provider_names())
    for name, cls in _providers.PROVIDERS.items():
        assert issubclass(cls, Provider) and cls.name == name
        assert cls.lifetime > 0 and 0 < cls.default_refresh_before < cls.lifetime
        assert 'server' not in cls.options
        for method in ('validate', 'mint', 'known_server'):
            assert callable(getattr(cls, method))
        assert set(cls.secret_options) <= set(cls.options)
    assert {'aws_profile', 'endpoint_url', 'region', 'registry_id', 'role_arn'} <= set(_providers.option_names())
    assert {'credentials_file', 'token_uri'} <= set(_providers.option_names())


@pytest.mark.parametrize('name', ['ecrr', 'ECR', '', None, 'azure'])
def test_unknown_provider_names_the_known_ones(name):
    with pytest.raises(ValidationError) as err:
        _providers.get_provider(name, field='registries[3].provider')
    assert err.value.field == 'registries[3].provider'
    assert 'unknown provider %r' % (name,) in err.value.msg and 'known providers: ' in err.value.msg
    assert 'acr' in err.value.msg and 'ecr' in err.value.msg
    assert 'gar' in err.value.msg


def test_options_fingerprint_is_stable_and_ignores_unset_options():
    fp = _providers.options_fingerprint
    a = fp('ecr', {'region': 'eu-west-1', 'registry_id': None})
    assert a == fp('ecr', {'region': 'eu-west-1'}) == fp('ecr', {'registry_id': None, 'region': 'eu-west-1'})
    assert a.startswith('sha256:') and len(a) == len('sha256:') + 16
    assert a != fp('ecr', {'region': 'eu-west-2'})
    assert a != fp('ecr', {'region': 'eu-west-1', 'role_arn': 'arn:aws:iam::111122223333:role/x'})


def test_credentials_repr_never_shows_the_password():
    creds = Credentials('r.example.test', 'AWS', 'tok-secret-1', NOW, NOW)
    assert 'tok-secret-1' not in repr(creds) and '<redacted>' in repr(creds)


# --------------------------------------------------------------------------- EcrProvider.validate

@pytest.mark.parametrize('options, expected', [
    ({'region': 'eu-west-1'}, {'region': 'eu-west-1', 'registry_id': None, 'server': None}),
    ({'region': ' us-gov-west-1 '}, {'region': 'us-gov-west-1'}),
    ({'server': 'https://111122223333.dkr.ecr.eu-west-1.amazonaws.com'},
     {'server': '111122223333.dkr.ecr.eu-west-1.amazonaws.com', 'region': 'eu-west-1', 'registry_id': '111122223333'}),
    ({'server': '111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn', 'region': 'cn-north-1'},
     {'region': 'cn-north-1', 'registry_id': '111122223333'}),
    ({'server': '111122223333.dkr.ecr-fips.us-east-1.amazonaws.com'}, {'region': 'us-east-1'}),
    ({'region': 'eu-west-1', 'registry_id': '111122223333', 'aws_profile': 'ci',
      'role_arn': 'arn:aws:iam::111122223333:role/path/ecr-pull', 'endpoint_url': 'http://127.0.0.1:5000'},
     {'aws_profile': 'ci', 'endpoint_url': 'http://127.0.0.1:5000'}),
    ({'region': 'eu-west-1', 'server': 'ecr-proxy.example.test'}, {'server': 'ecr-proxy.example.test'}),
])
def test_ecr_validate_accepts_and_normalises(options, expected):
    out = EcrProvider().validate(options)
    for key, value in expected.items():
        assert out[key] == value


@pytest.mark.parametrize('options, field, text', [
    ({}, 'region', 'needs the AWS region'),
    ({'region': '  '}, 'region', 'needs the AWS region'),
    ({'server': 'ecr-proxy.example.test'}, 'region', 'needs the AWS region'),
    ({'region': 'Europe'}, 'region', 'not an AWS region'),
    ({'region': 'eu-west-1', 'registry_id': '12345'}, 'registry_id', '12-digit'),
    ({'server': '111122223333.dkr.ecr.eu-west-1.amazonaws.com', 'region': 'us-east-1'}, 'region', 'disagrees'),
    ({'server': '111122223333.dkr.ecr.eu-west-1.amazonaws.com', 'registry_id': '444455556666'},
     'registry_id', 'disagrees'),
    ({'region': 'eu-west-1', 'role_arn': 'arn:aws:iam::111122223333:user/bob'}, 'role_arn', 'not an IAM role ARN'),
    ({'region': 'eu-west-1', 'endpoint_url': 'ecr.example.test'}, 'endpoint_url', 'http(s) URL'),
    ({'region': 42}, 'region', 'must be a string'),
])
def test_ecr_validate_rejects_with_the_field(options, field, text):
    with pytest.raises(ValidationError) as err:
        EcrProvider().validate(options)
    assert err.value.field == field and text in err.value.msg


def test_ecr_known_server():
    p = EcrProvider()
    assert p.known_server(p.validate({'region': 'eu-west-1'})) is None
    assert p.known_server(p.validate({'region': 'eu-west-1', 'registry_id': '111122223333'})) == \
        '111122223333.dkr.ecr.eu-west-1.amazonaws.com'
    assert ecr_host('111122223333', 'cn-northwest-1') == '111122223333.dkr.ecr.cn-northwest-1.amazonaws.com.cn'


# --------------------------------------------------------------------------- EcrProvider.mint against moto (in process)

@pytest.fixture
def moto_aws(monkeypatch, tmp_path):
    moto = pytest.importorskip('moto')
    for var in ('AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_ECR', 'AWS_ENDPOINT_URL_STS', 'AWS_PROFILE',
                'AWS_SESSION_TOKEN', 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'config'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'credentials'))
    monkeypatch.setenv('AWS_EC2_METADATA_DISABLED', 'true')
    with moto.mock_aws():
        yield


def test_ecr_mint_against_moto_falls_back_to_12h_and_warns_naming_both_causes(moto_aws):
    warnings = []
    p = EcrProvider(warn=warnings.append)
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    creds = p.mint(p.validate({'region': 'eu-west-1'}), now)
    assert creds.username == 'AWS' and creds.password == '123456789012-auth-token'
    assert creds.server == '123456789012.dkr.ecr.eu-west-1.amazonaws.com'
    assert creds.issued_at == now and creds.expires_at == now + 12 * HOUR
    assert len(warnings) == 1
    text = warnings[0]
    assert '2015-01-01T00:00:00Z' in text and 'clock' in text and 'moto' in text and '12h' in text
    assert creds.password not in text


def test_ecr_mint_against_moto_with_registry_id_server_and_role(moto_aws):
    p = EcrProvider()
    creds = p.mint(p.validate({'region': 'eu-west-1', 'registry_id': '111122223333'}), NOW)
    assert creds.server == '111122223333.dkr.ecr.eu-west-1.amazonaws.com'
    assert creds.password == '111122223333-auth-token'
    creds = p.mint(p.validate({'server': '444455556666.dkr.ecr.us-east-2.amazonaws.com'}), NOW)
    assert creds.server == '444455556666.dkr.ecr.us-east-2.amazonaws.com'
    creds = p.mint(p.validate({'region': 'eu-west-1', 'role_arn': 'arn:aws:iam::123456789012:role/ecr-pull'}), NOW)
    assert creds.username == 'AWS' and creds.server.endswith('.dkr.ecr.eu-west-1.amazonaws.com')


def test_ecr_mint_without_credentials_is_a_provider_error_with_a_hint(moto_aws, monkeypatch):
    monkeypatch.delenv('AWS_ACCESS_KEY_ID')
    monkeypatch.delenv('AWS_SECRET_ACCESS_KEY')
    p = EcrProvider()
    with pytest.raises(ProviderError) as err:
        p.mint(p.validate({'region': 'eu-west-1'}), NOW)
    assert 'ECR GetAuthorizationToken' in err.value.msg and 'no AWS credentials found' in err.value.msg


def test_ecr_unknown_profile_is_a_validation_error(moto_aws):
    p = EcrProvider()
    with pytest.raises(ValidationError) as err:
        p.mint(p.validate({'region': 'eu-west-1', 'aws_profile': 'no-such-profile'}), NOW)
    assert err.value.field == 'aws_profile' and 'no-such-profile' in err.value.msg


# --------------------------------------------------------------------------- EcrProvider.mint with a fake session

def test_ecr_mint_uses_a_reported_expiry_in_the_future_without_warning():
    session = FakeSession(expires=lambda now: now + 11 * HOUR)
    warnings = []
    p = EcrProvider(warn=warnings.append, session_factory=session)
    creds = p.mint(p.validate({'region': 'eu-west-1', 'aws_profile': 'ci', 'endpoint_url': 'http://127.0.0.1:9'}),
                   NOW)
    assert creds.expires_at == NOW + 11 * HOUR and warnings == []
    assert session.made == [{'region': 'eu-west-1', 'profile': 'ci', 'role_arn': None}]
    assert session.endpoint_url == 'http://127.0.0.1:9'
    assert session.calls == [{}]


@pytest.mark.parametrize('reported, expected, warned', [
    (NOW - HOUR, NOW + 12 * HOUR, 'not in the future'),
    (NOW, NOW + 12 * HOUR, 'not in the future'),
    (NOW + 14 * HOUR, NOW + 12 * HOUR, 'later than'),
    (NOW + 12 * HOUR + datetime.timedelta(minutes=4), NOW + 12 * HOUR + datetime.timedelta(minutes=4), None),
    (datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
     datetime.datetime(2026, 3, 1, 14, 0, tzinfo=UTC), None),
])
def test_checked_expiry(reported, expected, warned):
    warnings = []
    p = EcrProvider(warn=warnings.append)
    assert p.checked_expiry(reported, NOW, 'x') == expected
    if warned:
        assert len(warnings) == 1 and warned in warnings[0]
    else:
        assert warnings == []


def test_ecr_mint_errors_never_quote_the_token():
    session = FakeSession()
    session.token_format = 'no-colon-in-this-token-%d'
    p = EcrProvider(session_factory=session)
    with pytest.raises(ProviderError) as err:
        p.mint(p.validate({'region': 'eu-west-1'}), NOW)
    assert 'not base64 of "user:password"' in err.value.msg and 'no-colon' not in err.value.msg


def test_ecr_mint_maps_aws_errors():
    botocore = pytest.importorskip('botocore.exceptions')
    session = FakeSession()
    session.error = botocore.ClientError({'Error': {'Code': 'AccessDeniedException',
                                                    'Message': 'not authorized to perform ecr:GetAuthorizationToken'}},
                                         'GetAuthorizationToken')
    p = EcrProvider(session_factory=session)
    with pytest.raises(ProviderError) as err:
        p.mint(p.validate({'region': 'eu-west-1'}), NOW)
    assert 'AccessDeniedException' in err.value.msg and err.value.details['aws_error_code'] == 'AccessDeniedException'


# --------------------------------------------------------------------------- registry_secret: validation before any request

@pytest.mark.parametrize('registries, text', [
    ([{'provider': 'ecrr', 'region': 'eu-west-1'}], "registries[0].provider: unknown provider 'ecrr'; known providers: "),
    ([static(), {'provider': 'ecr'}], 'registries[1].region: provider ecr needs the AWS region'),
    ([{'provider': 'ecr', 'region': 'eu-west-1', 'password': 'x'}], 'provider ecr mints the credentials; remove password'),
    ([dict(static(), region='eu-west-1')], 'registries[0]: region only applies to an entry with a provider'),
    ([{'provider': 'ecr', 'server': ECR_KEY}, static(server=ECR_KEY, username='AWS')], 'list each registry once'),
    ([{'provider': 'ecr', 'region': 'eu-west-1'}, {'provider': 'ecr', 'region': 'eu-west-1'}],
     'name the same provider registry'),
    ([{'server': 'registry.example.test'}], 'registries[0]'),
])
def test_bad_provider_entries_fail_before_any_request(registries, text):
    h = Harness()
    with pytest.raises(ValidationError) as err:
        h.run(kube=ExplodingKube(), registries=registries)
    assert text in err.value.msg
    assert h.session.count == 0 and h.session.made == []


def test_bad_refresh_before_fails_before_any_request():
    with pytest.raises(ValidationError) as err:
        Harness().run(kube=ExplodingKube(), refresh_before='soon')
    assert err.value.field == 'refresh_before'


def test_refresh_before_defaults_and_warns_when_not_shorter_than_the_lifetime():
    spec = validate_params(params(refresh_before=None))
    assert spec.refresh_before == 6 * 3600
    warnings = []
    spec = validate_params(params(refresh_before='12h'), warn=warnings.append)
    assert spec.refresh_before == 12 * 3600 and 'every run mints' in warnings[0]
    assert validate_params(params(registries=[static()], refresh_before='1h')).provider_specs == []


# --------------------------------------------------------------------------- token_status (pure)

def _secret_with_record(expires_at, fingerprint, server=ECR_KEY, entry=True):
    auths = {server: {'username': 'AWS', 'password': 'tok', 'auth': 'QVdTOnRvaw=='}} if entry else {}
    records = [{'server': server, 'provider': 'ecr', 'options': fingerprint, 'expires_at': format_rfc3339(expires_at)}]
    return {'type': 'kubernetes.io/dockerconfigjson',
            'metadata': {'name': 'ecr-pull', 'namespace': 'team-a', 'labels': dict(MANAGED),
                         'annotations': {PROVIDERS_ANNOTATION: json.dumps(records),
                                         EXPIRES_AT_ANNOTATION: format_rfc3339(expires_at)}},
            'data': {'.dockerconfigjson': base64.b64encode(json.dumps({'auths': auths}).encode()).decode()}}


@pytest.mark.parametrize('case, fresh, reason', [
    ('missing', False, 'no secret yet'),
    ('fresh', True, None),
    ('near', False, 'expires in 5h59m, within refresh_before (6h00m)'),
    ('expired', False, 'expired 1h00m ago'),
    ('other-options', False, 'the provider entry changed'),
    ('no-entry', False, 'holds no credentials'),
    ('no-record', False, 'no token recorded'),
])
def test_token_status(case, fresh, reason):
    desired = validate_params(params(registries=[{'provider': 'ecr', 'region': 'eu-west-1'}]))
    fp = desired.provider_specs[0].fingerprint
    existing = {
        'missing': None,
        'fresh': _secret_with_record(NOW + 7 * HOUR, fp),
        'near': _secret_with_record(NOW + 6 * HOUR - datetime.timedelta(seconds=30), fp),
        'expired': _secret_with_record(NOW - HOUR, fp),
        'other-options': _secret_with_record(NOW + 7 * HOUR, 'sha256:0000000000000000'),
        'no-entry': _secret_with_record(NOW + 7 * HOUR, fp, entry=False),
        'no-record': dict(_secret_with_record(NOW + 7 * HOUR, fp), metadata={'name': 'ecr-pull', 'labels': MANAGED}),
    }[case]
    status = token_status(existing, desired, NOW)[0]
    assert status['fresh'] is fresh
    if reason:
        assert reason in status['reason']
    else:
        assert status['raw']['password'] == 'tok'


def test_records_are_read_leniently():
    assert load_records(None) == [] and load_records('not json') == [] and load_records('{"a": 1}') == []
    assert load_records('[{"server": "x", "provider": "ecr", "options": "o", "expires_at": "bad"}]') == []
    assert format_time_left(43199) == '11h59m' and format_time_left(59) == '0m' and format_time_left(-3700) == '-1h01m'


# --------------------------------------------------------------------------- registry_secret runner with providers

def test_first_run_mints_once_for_every_namespace_then_a_rerun_changes_nothing():
    h = Harness(namespaces=['team-a', 'team-b', 'team-c'])
    result = h.run(namespaces=['team-*'])
    assert result['changed'] and result['summary'] == {'created': 3} and result['_mints'] == 1
    for ns in ('team-a', 'team-b', 'team-c'):
        entry = h.kube.config(ns)['auths'][ECR_KEY]
        assert entry['username'] == 'AWS' and entry['password'] == 'minted-token-0001-Zq'
        assert base64.b64decode(entry['auth']).decode() == 'AWS:minted-token-0001-Zq'
        ann = h.kube.annotations(ns)
        assert ann[EXPIRES_AT_ANNOTATION] == format_rfc3339(NOW + 12 * HOUR)
        assert ann[ISSUED_AT_ANNOTATION] == format_rfc3339(NOW)
        assert load_records(ann[PROVIDERS_ANNOTATION])[0]['server'] == ECR_KEY
    assert [r['refresh_reason'] for r in result['results']] == ['no secret yet'] * 3
    assert result['results'][0]['time_left'] == '12h00m' and result['expires_at'] == format_rfc3339(NOW + 12 * HOUR)
    assert result['servers'] == [ECR_KEY]
    writes = len(h.kube.writes)
    h.now = NOW + 5 * HOUR
    again = h.run(namespaces=['team-*'])
    assert not again['changed'] and again['summary'] == {'unchanged': 3} and again['_mints'] == 0
    assert len(h.kube.writes) == writes
    assert [r['refreshed'] for r in again['results']] == [False] * 3
    assert again['results'][0]['time_left'] == '7h00m' and again['results'][0]['expires_in'] == 7 * 3600
    no_token_in([result, again], h)


def test_a_namespace_near_expiry_is_reminted_and_the_fresh_one_is_left_alone():
    h = Harness()
    h.run()
    h.kube.set_record_expiry('team-b', NOW + 2 * HOUR)
    rv_a = h.kube.secrets[('team-a', 'ecr-pull')]['metadata']['resourceVersion']
    h.now = NOW + HOUR
    result = h.run()
    assert result['_mints'] == 1
    by_ns = dict((r['namespace'], r) for r in result['results'])
    assert by_ns['team-a']['action'] == 'unchanged' and not by_ns['team-a']['refreshed']
    assert by_ns['team-b']['action'] == 'updated' and by_ns['team-b']['refreshed']
    assert by_ns['team-b']['refresh_reason'] == 'expires in 1h00m, within refresh_before (6h00m)'
    assert h.kube.secrets[('team-a', 'ecr-pull')]['metadata']['resourceVersion'] == rv_a
    assert h.kube.config('team-a')['auths'][ECR_KEY]['password'] == 'minted-token-0001-Zq'
    assert h.kube.config('team-b')['auths'][ECR_KEY]['password'] == 'minted-token-0002-Zq'
    assert h.kube.annotations('team-b')[EXPIRES_AT_ANNOTATION] == format_rfc3339(NOW + 13 * HOUR)
    assert h.kube.annotations('team-b')[ISSUED_AT_ANNOTATION] == format_rfc3339(NOW + HOUR)
    assert h.run()['changed'] is False


def test_check_mode_mints_but_writes_nothing():
    h = Harness()
    result = h.run(check_mode=True)
    assert result['changed'] and result['summary'] == {'created': 2} and h.kube.writes == []
    assert result['_mints'] == 1 and all(r['refreshed'] for r in result['results'])
    diff_after = result['diff'][0]['after']
    assert diff_after['servers'][ECR_KEY]['password'] == '<redacted>'
    assert diff_after['annotations'][EXPIRES_AT_ANNOTATION] == format_rfc3339(NOW + 12 * HOUR)
    no_token_in(result, h)


def test_static_change_in_a_fresh_namespace_keeps_the_token_and_its_expiry():
    h = Harness()
    regs = [{'provider': 'ecr', 'region': 'eu-west-1'}, static()]
    h.run(registries=regs)
    before = h.kube.annotations('team-a')
    h.now = NOW + HOUR
    result = h.run(registries=[regs[0], static(password='rotated-static-pw')])
    assert result['summary'] == {'updated': 2} and result['_mints'] == 0
    assert not any(r['refreshed'] for r in result['results'])
    config = h.kube.config('team-a')['auths']
    assert config[ECR_KEY]['password'] == 'minted-token-0001-Zq'
    assert config['registry.example.test']['password'] == 'rotated-static-pw'
    after = h.kube.annotations('team-a')
    for key in (EXPIRES_AT_ANNOTATION, ISSUED_AT_ANNOTATION, PROVIDERS_ANNOTATION):
        assert after[key] == before[key]


def test_mixed_fresh_and_stale_namespaces_with_a_static_change():
    h = Harness(namespaces=['team-a', 'team-b', 'team-c'])
    regs = [{'provider': 'ecr', 'region': 'eu-west-1'}, static()]
    h.run(registries=regs, namespaces=['team-a', 'team-b'])
    h.kube.set_record_expiry('team-b', NOW + HOUR)
    result = h.run(registries=[regs[0], static(password='rotated-static-pw')], namespaces=['team-*'])
    by_ns = dict((r['namespace'], r) for r in result['results'])
    assert result['_mints'] == 1
    assert (by_ns['team-a']['action'], by_ns['team-a']['refreshed']) == ('updated', False)
    assert (by_ns['team-b']['action'], by_ns['team-b']['refreshed']) == ('updated', True)
    assert (by_ns['team-c']['action'], by_ns['team-c']['refreshed']) == ('created', True)
    assert h.kube.config('team-a')['auths'][ECR_KEY]['password'] == 'minted-token-0001-Zq'
    assert h.kube.config('team-b')['auths'][ECR_KEY]['password'] == 'minted-token-0002-Zq'
    assert h.kube.config('team-c')['auths'][ECR_KEY]['password'] == 'minted-token-0002-Zq'
    for ns in ('team-a', 'team-b', 'team-c'):
        assert h.kube.config(ns)['auths']['registry.example.test']['password'] == 'rotated-static-pw'
    assert h.run(registries=[regs[0], static(password='rotated-static-pw')], namespaces=['team-*'])['changed'] is False


def test_changed_provider_options_remint():
    h = Harness()
    h.run()
    result = h.run(registries=[{'provider': 'ecr', 'region': 'eu-west-1', 'registry_id': '111122223333'}])
    assert result['_mints'] == 1 and result['summary'] == {'updated': 2}
    assert list(h.kube.config('team-a')['auths']) == ['111122223333.dkr.ecr.eu-west-1.amazonaws.com']
    assert h.session.calls[-1] == {'registryIds': ['111122223333']}
    assert 'provider entry changed' in result['results'][0]['refresh_reason']


def test_mint_failure_writes_nothing():
    botocore = pytest.importorskip('botocore.exceptions')
    h = Harness()
    h.session.error = botocore.NoCredentialsError()
    with pytest.raises(ProviderError) as err:
        h.run()
    assert err.value.msg.startswith('registries[0] (provider ecr): ECR GetAuthorizationToken')
    assert h.kube.writes == []


def test_unmanaged_secret_refuses_the_run_before_minting():
    h = Harness()
    h.kube.secrets[('team-b', 'ecr-pull')] = {
        'type': 'kubernetes.io/dockerconfigjson', 'metadata': {'name': 'ecr-pull', 'namespace': 'team-b'},
        'data': {'.dockerconfigjson': base64.b64encode(b'{"auths":{}}').decode()}}
    with pytest.raises(RegistryLinkError) as err:
        h.run()
    assert 'need force=true' in err.value.msg and h.session.count == 0 and h.kube.writes == []
    actions = dict((r['namespace'], r['action']) for r in err.value.details['results'])
    assert actions == {'team-a': 'skipped', 'team-b': 'failed'}


def test_switching_to_static_credentials_drops_the_provider_records():
    h = Harness()
    h.run()
    result = h.run(registries=[static()])
    assert result['summary'] == {'updated': 2}
    ann = h.kube.annotations('team-a')
    assert not set(ann) & {EXPIRES_AT_ANNOTATION, ISSUED_AT_ANNOTATION, PROVIDERS_ANNOTATION}
    assert 'expires_at' not in result['results'][0]


def test_merge_keeps_the_records_of_tokens_another_task_minted():
    h = Harness()
    h.run()
    record_before = h.kube.annotations('team-a')[PROVIDERS_ANNOTATION]
    result = h.run(registries=[static()], merge=True)
    assert result['summary'] == {'updated': 2}
    ann = h.kube.annotations('team-a')
    assert ann[PROVIDERS_ANNOTATION] == record_before and EXPIRES_AT_ANNOTATION in ann
    assert sorted(h.kube.config('team-a')['auths']) == [ECR_KEY, 'registry.example.test']
    # and the provider task, also with merge, keeps the static entry and its token: no change at all
    assert h.run(merge=True)['changed'] is False
    assert h.run(registries=[static()], merge=True)['changed'] is False


def test_two_provider_entries_record_one_expiry_each_and_the_earliest_on_the_secret():
    h = Harness()
    regs = [{'provider': 'ecr', 'region': 'eu-west-1'},
            {'provider': 'ecr', 'region': 'eu-west-1', 'registry_id': '111122223333'}]
    result = h.run(registries=regs)
    assert result['_mints'] == 2
    records = load_records(h.kube.annotations('team-a')[PROVIDERS_ANNOTATION])
    assert sorted(r['server'] for r in records) == ['111122223333.dkr.ecr.eu-west-1.amazonaws.com', ECR_KEY]
    assert h.run(registries=regs)['changed'] is False


def test_static_ecr_token_warns_records_issued_at_and_updates_without_recreate():
    h = Harness(namespaces=['apps'])
    regs = [static(server='111122223333.dkr.ecr.eu-west-1.amazonaws.com', username='AWS',
                   password='ECR-TOKEN-EXAMPLE')]
    result = h.run(registries=regs, namespaces=['apps'], name='regcred')
    assert result['summary'] == {'created': 1}
    assert any('ECR authorization tokens last 12 hours' in w for w in h.warnings)
    ann = h.kube.annotations('apps', 'regcred')
    assert ann[ISSUED_AT_ANNOTATION] == format_rfc3339(NOW) and EXPIRES_AT_ANNOTATION not in ann
    h.now = NOW + HOUR
    assert h.run(registries=regs, namespaces=['apps'], name='regcred')['changed'] is False
    assert h.kube.annotations('apps', 'regcred')[ISSUED_AT_ANNOTATION] == format_rfc3339(NOW)
    regs[0]['password'] = 'ECR-TOKEN-EXAMPLE-2'
    h.now = NOW + 2 * HOUR
    result = h.run(registries=regs, namespaces=['apps'], name='regcred')
    assert result['results'][0]['action'] == 'updated' and 'recreated' not in result['results'][0]
    assert [r[0] for r in h.kube.writes] == ['create', 'update']
    assert h.kube.annotations('apps', 'regcred')[ISSUED_AT_ANNOTATION] == format_rfc3339(NOW + 2 * HOUR)


def test_absent_needs_no_provider_and_deletes():
    h = Harness()
    h.run()
    result = h.run(state='absent', registries=[])
    assert result['summary'] == {'deleted': 2} and h.kube.secrets == {}


def test_recorded_expiry_parses_back():
    h = Harness()
    h.run()
    assert parse_rfc3339(h.kube.annotations('team-a')[EXPIRES_AT_ANNOTATION]) == NOW + 12 * HOUR


def test_setting_back_only_the_secret_level_expiry_forces_a_refresh():
    h = Harness()
    h.run()
    ann = h.kube.secrets[('team-a', 'ecr-pull')]['metadata']['annotations']
    ann[EXPIRES_AT_ANNOTATION] = format_rfc3339(NOW + HOUR)
    del h.kube.secrets[('team-b', 'ecr-pull')]['metadata']['annotations'][EXPIRES_AT_ANNOTATION]
    result = h.run()
    by_ns = dict((r['namespace'], r) for r in result['results'])
    assert by_ns['team-a']['refreshed'] and 'expires in 1h00m' in by_ns['team-a']['refresh_reason']
    assert by_ns['team-b']['refreshed'] and 'no expiry recorded' in by_ns['team-b']['refresh_reason']
    assert result['_mints'] == 1 and h.run()['changed'] is False


def test_env_credentials_fill_only_static_entries_without_any(monkeypatch):
    from ansible_collections.registrylink.k8s.plugins.module_utils import _registry_secret as rs
    env = {'REGISTRYLINK_PULL_USERNAME': 'awx-user', 'REGISTRYLINK_PULL_PASSWORD': 's3cr3t-from-awx'}
    registered = []
    params = {'name': 'regcred', 'namespaces': ['team-a'], 'registries': [
        {'server': 'a.example.com'},
        {'server': 'b.example.com', 'username': 'u'},           # half given: left to fail validation
        {'server': 'c.example.com', 'auth': 'dTpw'},
        {'provider': 'ecr', 'region': 'eu-west-1'},
    ]}
    out = rs.with_env_credentials(params, env, registered.append)
    assert out['registries'][0] == {'server': 'a.example.com', 'username': 'awx-user', 'password': 's3cr3t-from-awx'}
    assert out['registries'][1:] == params['registries'][1:]
    assert params['registries'][0] == {'server': 'a.example.com'}  # the input is not changed
    assert registered == ['s3cr3t-from-awx']
    # one of the two unset: nothing is filled, nothing registered
    assert rs.with_env_credentials(params, {'REGISTRYLINK_PULL_PASSWORD': 'x'}, registered.append) is params
    # the filled entry validates; the half-given one still fails naming the password
    desired = rs.validate_params(dict(out, registries=out['registries'][:1]))
    assert desired is not None
    with pytest.raises(rs.ValidationError, match='password'):
        rs.validate_params(dict(out, registries=out['registries'][1:2]))
