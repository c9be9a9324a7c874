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
    ConflictError,
    ItemsFailed,
    KubernetesAPIError,
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
    assert {'acr', 'artifactory_token', 'ecr', 'gar', 'gitlab_deploy_token', 'harbor_robot'} <= set(
        _providers.provider_names())
    for name, cls in _providers.PROVIDERS.items():
        assert issubclass(cls, Provider) and cls.name == name
        assert cls.lifetime > 0 and 0 < cls.default_refresh_before < cls.lifetime
        assert 'server' not in cls.options
        for method in ('validate', 'mint', 'known_server'):
            assert callable(getattr(cls, method))
        if cls.stateful:
            for method in ('check', 'preview', 'owned', 'retire'):
                assert getattr(cls, method) is not getattr(Provider, method), (name, method)
        assert set(cls.secret_options) <= set(cls.options)
    assert {'aws_profile', 'endpoint_url', 'region', 'registry_id', 'role_arn'} <= set(_providers.option_names())
    assert {'credentials_file', 'token_uri'} <= set(_providers.option_names())
    assert {'api_ca_path', 'api_password', 'api_token', 'api_url', 'api_username', 'credential_lifetime',
            'credential_name', 'group', 'project', 'token_username'} <= set(_providers.option_names())


@pytest.mark.parametrize('name', ['ecrr', 'ECR', '', None, 'azure'])
def test_unknown_provider_names_the_known_ones(name):
    with pytest.raises(ValidationError) as err:
        _providers.get_provider(name, field='registries[3].provider')
    assert err.value.field == 'registries[3].provider'
    assert 'unknown provider %r' % (name,) in err.value.msg and 'known providers: ' in err.value.msg
    assert 'acr' in err.value.msg and 'ecr' in err.value.msg
    assert 'gar' in err.value.msg
    assert 'artifactory_token' in err.value.msg and 'gitlab_deploy_token' in err.value.msg
    assert 'harbor_robot' in err.value.msg


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


def test_check_mode_asks_for_the_rights_only_with_check_rights():
    h = Harness()
    h.run(check_mode=True)
    assert h.kube.reviews == []
    result = h.run(check_mode=True, check_rights=True)
    assert h.kube.writes == [] and result['summary'] == {'created': 2}
    assert [(r['verb'], r['resource']) for r in h.kube.reviews] == [('create', 'secrets')]


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


# --------------------------------------------------------------------------- harbor_robot (stateful provider)
# The HTTP flows (create, rotate in place, 409 adoption, errors) run against the Harbor stand-in in
# tests/integration/test_harbor_robot.py; here: validation, naming, and the runner's stateful path
# with an in-memory provider.

from ansible_collections.registrylink.k8s.plugins.module_utils._providers import _harbor  # noqa: E402
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_secret import shared_status  # noqa: E402

HARBOR = {'api_url': 'https://harbor.example.test/', 'api_username': 'admin', 'api_password': 'Adm1n-pw',
          'project': 'team-a'}


def test_harbor_validate_normalises_and_defaults():
    warnings = []
    provider = _harbor.HarborRobotProvider(warn=warnings.append)
    out = provider.validate(dict(HARBOR))
    assert out['api_url'] == 'https://harbor.example.test'
    assert out['server'] == 'harbor.example.test'  # Harbor serves its registry on the API host
    assert out['credential_lifetime'] == '30d' and provider.lifetime == 30 * 86400
    assert provider.default_refresh_before == 15 * 86400
    out = provider.validate(dict(HARBOR, credential_lifetime='36h', server='registry.example.test:5000'))
    assert out['credential_lifetime'] == '2d' and out['server'] == 'registry.example.test:5000'
    assert warnings and 'rounded up to 2 days' in warnings[0]


@pytest.mark.parametrize('override, field, words', [
    ({'api_url': 'http://harbor.example.test'}, 'api_url', 'plain HTTP'),
    ({'api_url': 'https://user:pw@harbor.example.test'}, 'api_url', 'not an https:// URL'),
    ({'api_url': None}, 'api_url', 'base URL of the API is required'),
    ({'api_password': None}, 'api_password', 'project admin'),
    ({'api_username': ''}, 'api_username', 'api_username'),
    ({'project': None}, 'project', 'needs the Harbor project'),
    ({'project': 'Team A'}, 'project', 'not a Harbor project name'),
    ({'credential_name': 'Bad Name'}, 'credential_name', 'not a valid robot name'),
    ({'credential_lifetime': '12h'}, 'credential_lifetime', 'from 1d to 3650d'),
    ({'credential_lifetime': '4000d'}, 'credential_lifetime', 'from 1d to 3650d'),
    ({'credential_lifetime': 'soon'}, 'credential_lifetime', 'expected a duration'),
    ({'api_ca_path': '/nonexistent/ca.pem'}, 'api_ca_path', 'does not exist'),
    ({'project': 5}, 'project', 'must be a string'),
])
def test_harbor_validate_refuses_bad_options(override, field, words):
    with pytest.raises(ValidationError) as err:
        _harbor.HarborRobotProvider().validate(dict(HARBOR, **override))
    assert err.value.field == field and words in err.value.msg
    assert 'Adm1n-pw' not in err.value.msg


def test_harbor_fingerprint_ignores_the_api_password_and_the_owner():
    options = _harbor.HarborRobotProvider().validate(dict(HARBOR))
    fp = _providers.options_fingerprint('harbor_robot', options)
    other = dict(options, api_password='Other-pw1', owner='x@y')
    assert fp == _providers.options_fingerprint('harbor_robot', other)
    assert fp != _providers.options_fingerprint('harbor_robot', dict(options, project='team-b'))


def test_harbor_robot_name_and_times():
    assert _harbor.robot_name({'owner': 'regcred@4f1c2d3e-aaaa-bbbb'}) == 'rl-regcred-4f1c2d3e'
    assert _harbor.robot_name({'owner': 'pull.secret@UID', 'credential_name': 'mine'}) == 'mine'
    assert _harbor._short_name('robot$team-a+rl-x') == 'rl-x' and _harbor._short_name('bot-p+n') == 'n'
    parse = _harbor._parse_time
    assert parse('2026-03-01T08:00:00.123Z') == NOW
    assert parse('2026-03-01T09:30:00+01:30') == NOW
    assert parse('2026-03-01 08:00:00') == NOW
    assert parse('yesterday') is None and parse(None) is None


def test_records_keep_the_credential_reference_and_drop_malformed_ones():
    text = json.dumps([
        {'server': 'a', 'provider': 'harbor_robot', 'options': 'sha256:1', 'expires_at': '2026-03-02T00:00:00Z',
         'credential': {'id': 7, 'name': 'robot$p+n'}},
        {'server': 'b', 'provider': 'harbor_robot', 'options': 'sha256:2', 'expires_at': '2026-03-02T00:00:00Z',
         'credential': {'id': True, 'name': 'x'}},
    ])
    first, second = load_records(text)
    assert first['credential'] == {'id': 7, 'name': 'robot$p+n'} and 'credential' not in second


def test_shared_status_decides_per_namespace():
    record = {'server': 'a', 'credential': {'id': 1, 'name': 'n'}}
    raw = {'username': 'n', 'password': 'pw'}
    shared = {'shared': (record, raw)}
    stale = {'fresh': False, 'reason': 'no secret yet', 'record': None, 'raw': None}
    assert shared_status(stale, shared)['fresh'] is True and shared_status(stale, shared)['raw'] == raw
    own_fresh = {'fresh': True, 'reason': None, 'record': record, 'raw': raw}
    got = shared_status(own_fresh, {'shared': None, 'reason': 'robot account n no longer exists at Harbor'})
    assert got['fresh'] is False and 'no longer exists' in got['reason']
    assert shared_status(stale, {'shared': None}) is stale


class FakeRobots(Provider):
    """An in-memory stateful provider: credential objects with ids, secrets and owners."""

    name = 'harbor_robot'
    options = _harbor.HarborRobotProvider.options
    secret_options = ('api_password',)
    lifetime = 30 * 86400
    default_refresh_before = 15 * 86400
    stateful = True

    def __init__(self, store, warn=None):
        super(FakeRobots, self).__init__(warn=warn)
        self.store = store

    def validate(self, options):
        return _harbor.HarborRobotProvider().validate(options)

    def check(self, options, ref, now):
        robot = self.store['robots'].get(ref['id'])
        return None if robot and not robot.get('disable') else 'gone'

    def preview(self, options, current):
        self.store['calls'].append('preview')
        return Credentials(options['server'], current['name'] if current else '(new)', None, NOW, NOW, ref=current)

    def mint(self, options, now, current=None):
        if self.store.get('fail'):
            raise ProviderError('Harbor: create robot account: HTTP 403')
        if current and current['id'] in self.store['robots']:
            robot = self.store['robots'][current['id']]
            self.store['calls'].append('rotate')
        else:
            self.store['next'] += 1
            robot = {'id': self.store['next'], 'name': 'robot$p+r%d' % self.store['next'], 'owner': options['owner']}
            self.store['robots'][robot['id']] = robot
            self.store['calls'].append('create')
        robot['secret'] = 'S3cret-%d-%d' % (robot['id'], len(self.store['calls']))
        expires = None if options.get('credential_lifetime') == 'never' else now + datetime.timedelta(days=30)
        return Credentials(options['server'], robot['name'], robot['secret'], expires, now,
                           ref={'id': robot['id'], 'name': robot['name']})

    def owned(self, options):
        robots = sorted(self.store['robots'].values(), key=lambda r: r['id'])
        return [{'id': r['id'], 'name': r['name']} for r in robots if r['owner'] == options['owner']]

    def retire(self, options, ref):
        self.store['calls'].append('retire %d' % ref['id'])
        return self.store['robots'].pop(ref['id'], None) is not None


class ClusterKube(FakeKube):
    """FakeKube whose namespaces have UIDs and honour a name field selector (kube-system's UID)."""

    def __init__(self, namespaces):
        super(ClusterKube, self).__init__(list(namespaces) + ['kube-system'])
        for item in self.namespaces:
            item['metadata']['uid'] = 'uid-' + item['metadata']['name']

    def list_all(self, resource, func, namespace=None, **kwargs):
        if resource == 'namespaces' and kwargs.get('field_selector'):
            self.requests.append(('list', resource))
            name = kwargs['field_selector'].split('=', 1)[1]
            return [copy.deepcopy(n) for n in self.namespaces if n['metadata']['name'] == name]
        return super(ClusterKube, self).list_all(resource, func, namespace=namespace, **kwargs)


class StatefulHarness(object):
    def __init__(self):
        self.kube = ClusterKube(['team-a', 'team-b', 'team-c'])
        self.store = {'robots': {}, 'calls': [], 'next': 0}
        self.warnings = []

    def factory(self, name, field='provider', warn=None):
        return FakeRobots(self.store, warn=warn)

    def run(self, check_mode=False, **kw):
        kw.setdefault('name', 'harbor-pull')
        kw.setdefault('registries', [dict(HARBOR)])
        kw['registries'] = [dict(r, provider='harbor_robot') for r in kw['registries']]
        kw.setdefault('refresh_before', None)
        runner = RegistrySecretRunner(params(**kw), check_mode=check_mode, warn=self.warnings.append,
                                      kube=self.kube, provider_factory=self.factory, now=NOW,
                                      register_secret=self.registered.append if hasattr(self, 'registered') else None)
        return runner.run()


def test_stateful_check_mode_previews_and_writes_nothing():
    h = StatefulHarness()
    result = h.run(check_mode=True)
    assert result['changed'] and h.store['calls'] == ['preview'] and h.kube.writes == []
    assert h.store['robots'] == {}


def test_stateful_reuse_rotation_cleanup_and_owner():
    h = StatefulHarness()
    h.registered = []
    first = h.run(namespaces=['team-a'])
    assert h.store['calls'] == ['create'] and first['credentials'][0]['action'] == 'created'
    assert h.registered == [h.store['robots'][1]['secret']]  # masked in every output by Ansible
    assert h.store['robots'][1]['owner'] == 'harbor-pull@uid-kube-system'
    # rerun and a namespace joining: the same robot, copied from team-a's Secret, no mint
    again = h.run(namespaces=['team-a', 'team-b'])
    assert h.store['calls'] == ['create'] and again['credentials'][0]['action'] == 'kept'
    assert h.kube.config('team-b', 'harbor-pull') == h.kube.config('team-a', 'harbor-pull')
    # rotation in place when every record is within refresh_before
    rotated = h.run(namespaces=['team-a', 'team-b'], refresh_before='30d')
    assert h.store['calls'] == ['create', 'rotate'] and rotated['credentials'][0]['action'] == 'rotated'
    secret = h.store['robots'][1]['secret']
    assert all(h.kube.config(ns, 'harbor-pull')['auths']['harbor.example.test']['password'] == secret
               for ns in ('team-a', 'team-b'))
    # the robot vanished at the registry: a new one is created, and nothing leaks into the result
    del h.store['robots'][1]
    result = h.run(namespaces=['team-a', 'team-b'])
    assert h.store['calls'][-1] == 'create' and sorted(h.store['robots']) == [2]
    assert 'S3cret' not in json.dumps(result) + ' '.join(h.warnings)


def test_stateful_cleanup_is_skipped_when_a_namespace_failed_and_keeps_outside_users():
    h = StatefulHarness()
    h.run(namespaces=['team-a', 'team-c'])
    h.run(namespaces=['team-a'], registries=[dict(HARBOR, credential_name='renamed')])
    # robot 1 is still in team-c's Secret (outside this selection): kept
    assert sorted(h.store['robots']) == [1, 2]
    # an unowned robot of another Secret name is never touched
    h.store['robots'][9] = {'id': 9, 'name': 'robot$p+other', 'owner': 'other@uid-kube-system'}
    real_call = h.kube.call

    def failing(verb, resource, func, namespace=None, name=None, **kwargs):
        if namespace == 'team-c' and verb == 'update':
            raise ConflictError('conflict', status=409)
        return real_call(verb, resource, func, namespace=namespace, name=name, **kwargs)

    h.kube.call = failing
    with pytest.raises(ItemsFailed):
        h.run(namespaces=['team-a', 'team-c'], registries=[dict(HARBOR, credential_name='renamed')])
    assert sorted(h.store['robots']) == [1, 2, 9]
    assert any('no credential of this entry is deleted' in w for w in h.warnings)
    h.kube.call = real_call
    result = h.run(namespaces=['team-a', 'team-c'], registries=[dict(HARBOR, credential_name='renamed')])
    assert sorted(h.store['robots']) == [2, 9]
    assert {'provider': 'harbor_robot', 'server': 'harbor.example.test', 'name': 'robot$p+r1', 'id': 1,
            'action': 'deleted'} in result['credentials']


def test_stateful_absent_deletes_owned_credentials_only():
    h = StatefulHarness()
    h.run(namespaces=['team-a', 'team-b'])
    h.store['robots'][9] = {'id': 9, 'name': 'robot$p+other', 'owner': 'other@uid-kube-system'}
    result = h.run(namespaces=['team-a'], state='absent')
    # team-b still uses robot 1: kept
    assert sorted(h.store['robots']) == [1, 9] and result['credentials'][0]['action'] == 'kept'
    result = h.run(namespaces=['team-a', 'team-b'], state='absent', check_mode=True)
    assert sorted(h.store['robots']) == [1, 9] and result['credentials'][0]['action'] == 'deleted'
    h.run(namespaces=['team-a', 'team-b'], state='absent')
    assert sorted(h.store['robots']) == [9]


def test_stateful_mint_failure_writes_nothing():
    h = StatefulHarness()
    h.store['fail'] = True
    with pytest.raises(ProviderError) as err:
        h.run(namespaces=['team-a', 'team-b'])
    assert 'HTTP 403' in err.value.msg and h.kube.writes == []


def test_harbor_validate_system_robot_and_never():
    provider = _harbor.HarborRobotProvider()
    out = provider.validate(dict(HARBOR, project=None, projects=['team-b', 'team-a', 'team-b'],
                                 credential_lifetime='Never'))
    assert out['projects'] == ['team-a', 'team-b'] and out['project'] is None
    assert out['credential_lifetime'] == 'never' and provider._days(out) == -1
    assert provider.validate(dict(HARBOR))['projects'] is None
    fp = _providers.options_fingerprint('harbor_robot', out)
    assert fp != _providers.options_fingerprint('harbor_robot', dict(out, projects=['team-a']))


@pytest.mark.parametrize('override, field, words', [
    ({'projects': ['team-b']}, 'projects', 'not both'),
    ({'project': None, 'projects': 'team-a'}, 'projects', 'a list of Harbor project names'),
    ({'project': None, 'projects': ['Team B']}, 'projects', 'not a Harbor project name'),
    ({'project': None, 'projects': [5]}, 'projects', 'a list of Harbor project names'),
    ({'project': None, 'projects': []}, 'project', 'or projects (a list) for a system robot'),
    ({'credential_lifetime': 'forever'}, 'credential_lifetime', 'expected a duration'),
])
def test_harbor_validate_refuses_bad_projects(override, field, words):
    with pytest.raises(ValidationError) as err:
        _harbor.HarborRobotProvider().validate(dict(HARBOR, **override))
    assert err.value.field == field and words in err.value.msg


class FakeHarborApi(object):
    """A requests.Session stand-in for HarborRobotProvider: answers create/get/list, records the bodies."""

    def __init__(self, expires_at):
        self.expires_at = expires_at
        self.sent = []

    def request(self, method, url, json=None, params=None, headers=None, auth=None, timeout=None, verify=None,
                allow_redirects=None):
        path = url.split('/api/v2.0', 1)[1]
        self.sent.append((method, path, json, params))
        if method == 'POST' and path == '/robots':
            return FakeHttpResponse(201, {'id': 3, 'name': 'robot$' + json['name'], 'secret': 'S3cret-sys',
                                          'creation_time': '2026-03-01T08:00:00Z', 'expires_at': self.expires_at})
        if method == 'GET' and path == '/robots':
            return FakeHttpResponse(200, [])
        return FakeHttpResponse(404, {'errors': [{'code': 'NOT_FOUND', 'message': 'no'}]})


class FakeHttpResponse(object):
    def __init__(self, status, body):
        self.status_code = status
        self.headers = {}
        self.reason = ''
        self._body = body
        self.content = json.dumps(body).encode()

    def json(self):
        return self._body


def test_harbor_system_robot_never_expires_body_and_credentials():
    api = FakeHarborApi(expires_at=-1)
    provider = _harbor.HarborRobotProvider(session_factory=lambda options: api)
    options = provider.validate(dict(HARBOR, project=None, projects=['team-a', 'team-b'], credential_lifetime='never'))
    options['owner'] = 'regcred@uid-1'
    creds = provider.mint(options, NOW)
    method, path, body, _params = api.sent[0]
    assert (method, path) == ('POST', '/robots')  # no project lookup for a system robot
    assert body['level'] == 'system' and body['duration'] == -1
    assert body['permissions'] == [
        {'kind': 'project', 'namespace': p, 'access': [{'resource': 'repository', 'action': 'pull'}]}
        for p in ('team-a', 'team-b')]
    assert creds.expires_at is None and creds.username == 'robot$rl-regcred-uid1'
    assert provider.preview(options, None).expires_at is None
    assert provider.owned(options) == [] and api.sent[-1][3]['q'] == 'Level=system'
    # a dated robot answered with -1 is an error, not a silent "never"
    dated = _harbor.HarborRobotProvider(session_factory=lambda options: FakeHarborApi(expires_at=-1))
    options = dated.validate(dict(HARBOR, project=None, projects=['team-a']))
    options['owner'] = 'regcred@uid-1'
    with pytest.raises(ProviderError) as err:
        dated.mint(options, NOW)
    assert 'has no expiry' in err.value.msg


def test_never_expiring_record_is_kept_without_expiry_and_never_refreshed():
    h = StatefulHarness()
    entry = dict(HARBOR, credential_lifetime='never')
    first = h.run(namespaces=['team-a'], registries=[entry])
    assert h.store['calls'] == ['create']
    annotations = h.kube.annotations('team-a', 'harbor-pull')
    assert 'registrylink.k8s/expires-at' not in annotations
    records = load_records(annotations['registrylink.k8s/providers'])
    assert records[0]['expires_at'] is None and records[0]['credential']['id'] == 1
    row = first['results'][0]
    assert (row['expires_at'], row['expires_in'], row['time_left']) == (None, None, 'never')
    assert 'expires_at' not in first
    # a refresh_before of ten years still keeps it: no expiry, no rotation
    again = h.run(namespaces=['team-a', 'team-b'], registries=[entry], refresh_before='3650d')
    assert h.store['calls'] == ['create'] and again['credentials'][0]['action'] == 'kept'
    assert not any('every run mints' in w for w in h.warnings)
    # disabled at the registry: rotated in place (the only reason besides a changed entry)
    h.store['robots'][1]['disable'] = True
    h.run(namespaces=['team-a', 'team-b'], registries=[entry])
    assert h.store['calls'] == ['create', 'rotate']
    # an expiry set by hand on the Secret forces a refresh, as for dated tokens
    h.store['robots'][1]['disable'] = False
    for ns in ('team-a', 'team-b'):
        h.kube.annotations(ns, 'harbor-pull')[EXPIRES_AT_ANNOTATION] = '2026-03-01T07:00:00Z'
    h.run(namespaces=['team-a', 'team-b'], registries=[entry])
    assert h.store['calls'] == ['create', 'rotate', 'rotate']


class NamespacedKube(object):
    """Namespaced mode: the cluster-wide LIST of namespaces is denied; GET namespaces/kube-system as ``allow_get``."""

    core = FakeCore()

    def __init__(self, allow_get):
        self.allow_get = allow_get
        self.requests = []

    def list_all(self, resource, func, namespace=None, **kwargs):
        self.requests.append(('list', resource, kwargs.get('field_selector')))
        raise KubernetesAPIError('forbidden: the credentials cannot list namespaces cluster-wide. API server said: '
                                 'namespaces is forbidden', status=403, reason='Forbidden')

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        self.requests.append((verb, resource, name))
        if self.allow_get:
            return {'metadata': {'name': name, 'uid': 'uid-of-' + name}}
        raise KubernetesAPIError('forbidden: the credentials cannot get namespaces/kube-system. API server said: '
                                 'namespaces "kube-system" is forbidden: User "bot" cannot get resource',
                                 status=403, reason='Forbidden')


def test_cluster_identity_in_namespaced_mode_falls_back_to_a_get_and_names_the_right():
    kube = NamespacedKube(allow_get=True)
    runner = RegistrySecretRunner(params(), kube=kube)
    assert runner._cluster_uid(['harbor_robot']) == 'uid-of-kube-system'
    assert kube.requests == [('list', 'namespaces', 'metadata.name=kube-system'), ('get', 'namespaces', 'kube-system')]
    runner = RegistrySecretRunner(params(), kube=NamespacedKube(allow_get=False))
    with pytest.raises(KubernetesAPIError) as err:
        runner._cluster_uid(['gitlab_deploy_token', 'harbor_robot'])
    msg = err.value.msg
    assert msg.startswith('forbidden: provider gitlab_deploy_token, harbor_robot records the cluster')
    assert 'get on namespaces/kube-system' in msg and 'resourceNames: [kube-system], verbs: [get]' in msg
    assert 'kubectl create clusterrole registrylink-cluster-identity' in msg
    assert msg.endswith('namespaces "kube-system" is forbidden: User "bot" cannot get resource')
    assert err.value.details == {'status': 403, 'verb': 'get', 'resource': 'namespaces', 'name': 'kube-system'}


def test_records_allow_no_expiry_only_for_credential_objects():
    text = json.dumps([{'server': 'a', 'provider': 'harbor_robot', 'options': 'sha256:1', 'expires_at': None,
                        'credential': {'id': 4, 'name': 'robot$x'}},
                       {'server': 'b', 'provider': 'ecr', 'options': 'sha256:2', 'expires_at': None},
                       {'server': 'c', 'provider': 'harbor_robot', 'options': 'sha256:3', 'expires_at': None,
                        'credential': {'id': True, 'name': 'x'}},
                       {'server': 'd', 'provider': 'harbor_robot', 'options': 'sha256:4',
                        'credential': {'id': 5, 'name': 'robot$y'}}])
    assert [r['server'] for r in load_records(text)] == ['a']


# --------------------------------------------------------------------------- gitlab_deploy_token
# The HTTP flows run against the GitLab stand-in in tests/integration/test_gitlab_deploy_token.py.

from ansible_collections.registrylink.k8s.plugins.module_utils._providers import _gitlab  # noqa: E402

GITLAB = {'api_url': 'https://gitlab.example.test', 'api_token': 'glpat-S3cret', 'project': 'team/app',
          'server': 'registry.gitlab.example.test'}


def test_gitlab_validate_normalises_and_defaults():
    provider = _gitlab.GitlabDeployTokenProvider()
    out = provider.validate(dict(GITLAB, project='/team/app/'))
    assert out['project'] == 'team/app' and out['server'] == 'registry.gitlab.example.test'
    assert out['credential_lifetime'] == '%ds' % (30 * 86400) and provider.default_refresh_before == 15 * 86400
    out = provider.validate(dict(GITLAB, project=None, group='42', credential_lifetime='12h'))
    assert out['group'] == '42' and provider.lifetime == 12 * 3600
    assert provider._base(out) == '/groups/42/deploy_tokens'
    assert provider._base(dict(out, project='team/sub app', group=None)) == '/projects/team%2Fsub%20app/deploy_tokens'


@pytest.mark.parametrize('override, field, words', [
    ({'api_url': 'http://gitlab.example.test'}, 'api_url', 'plain HTTP'),
    ({'api_token': None}, 'api_token', 'Not the CI job token'),
    ({'project': None}, 'project', 'exactly one of project or group'),
    ({'group': 'team'}, 'project', 'exactly one of project or group'),
    ({'project': 'team//app'}, 'project', 'not a GitLab full path'),
    ({'server': None}, 'server', 'container registry host'),
    ({'credential_name': '-x'}, 'credential_name', 'not a valid deploy token name'),
    ({'credential_lifetime': '30m'}, 'credential_lifetime', 'from 1h to 3650d'),
])
def test_gitlab_validate_refuses_bad_options(override, field, words):
    with pytest.raises(ValidationError) as err:
        _gitlab.GitlabDeployTokenProvider().validate(dict(GITLAB, **override))
    assert err.value.field == field and words in err.value.msg
    assert 'glpat-S3cret' not in err.value.msg


def test_gitlab_token_name_carries_the_owner_and_the_fingerprint_not_the_token():
    options = _gitlab.GitlabDeployTokenProvider().validate(dict(GITLAB))
    assert _gitlab.token_name(dict(options, owner='regcred@uid-1')) == 'rl-regcred (registrylink.k8s owner=regcred@uid-1)'
    assert _gitlab.token_name(dict(options, owner='r@u', credential_name='pull')) == 'pull (registrylink.k8s owner=r@u)'
    fp = _providers.options_fingerprint('gitlab_deploy_token', options)
    assert fp == _providers.options_fingerprint('gitlab_deploy_token', dict(options, api_token='other'))


# --------------------------------------------------------------------------- artifactory_token
# The HTTP flows run against the Artifactory stand-in in tests/integration/test_artifactory_token.py.

from ansible_collections.registrylink.k8s.plugins.module_utils._providers import _artifactory  # noqa: E402

ARTIFACTORY = {'api_url': 'https://acme.jfrog.example.test', 'api_token': 'eyJ-S3cret', 'token_username': 'k8s',
               'server': 'acme.jfrog.example.test'}


def test_artifactory_validate_normalises_and_defaults():
    provider = _artifactory.ArtifactoryTokenProvider()
    out = provider.validate(dict(ARTIFACTORY, credential_lifetime='3h'))
    assert out['server'] == 'acme.jfrog.example.test' and provider.lifetime == 10800
    assert provider.default_refresh_before == 5400
    assert _artifactory.description(dict(out, owner='s@u')) == 'rl-s (registrylink.k8s owner=s@u)'


@pytest.mark.parametrize('override, field, words', [
    ({'api_url': 'http://acme'}, 'api_url', 'plain HTTP'),
    ({'api_token': ''}, 'api_token', 'needs an access token'),
    ({'token_username': None}, 'token_username', 'the Artifactory user'),
    ({'token_username': 'a:b'}, 'token_username', 'no spaces, colons'),
    ({'server': None}, 'server', 'repository path method'),
    ({'credential_lifetime': '2h'}, 'credential_lifetime', 'cannot be revoked'),
    ({'credential_lifetime': '400d'}, 'credential_lifetime', 'to 365d'),
])
def test_artifactory_validate_refuses_bad_options(override, field, words):
    with pytest.raises(ValidationError) as err:
        _artifactory.ArtifactoryTokenProvider().validate(dict(ARTIFACTORY, **override))
    assert err.value.field == field and words in err.value.msg
    assert 'eyJ-S3cret' not in err.value.msg


@pytest.mark.parametrize('server, method, repo, key, good, bad', [
    ('artifactory.example.test', 'repository_path', 'docker-local', 'artifactory.example.test',
     'artifactory.example.test/docker-local/team/app:1.0', 'artifactory.example.test/docker-remote/app:1.0'),
    ('artifactory.example.test', 'subdomain', 'docker-local', 'docker-local.artifactory.example.test',
     'docker-local.artifactory.example.test/team/app:1.0', 'artifactory.example.test/docker-local/app:1.0'),
    ('acme.jfrog.io', 'subdomain', 'docker-local', 'acme-docker-local.jfrog.io',
     'acme-docker-local.jfrog.io/app@sha256:' + 'a' * 64, 'docker-local.acme.jfrog.io/app:1.0'),
    ('artifactory.example.test:8876', 'port', None, 'artifactory.example.test:8876',
     'artifactory.example.test:8876/app:1.0', 'artifactory.example.test:8877/app:1.0'),
])
def test_artifactory_access_method_maps_to_the_registry_key_and_checks_the_images(
        server, method, repo, key, good, bad):
    provider = _artifactory.ArtifactoryTokenProvider()
    entry = dict(ARTIFACTORY, server=server, access_method=method, repository_key=repo)
    out = provider.validate(dict(entry, images=[good]))
    assert out['server'] == key and provider.known_server(out) == key
    assert 'images' not in out  # checked, not recorded: the fingerprint ignores the image list
    assert _providers.options_fingerprint('artifactory_token', out) == _providers.options_fingerprint(
        'artifactory_token', provider.validate(dict(entry)))
    with pytest.raises(ValidationError) as err:
        provider.validate(dict(entry, images=[good, bad]))
    assert err.value.field == 'images' and bad in err.value.msg and key in err.value.msg
    assert 'eyJ-S3cret' not in err.value.msg


@pytest.mark.parametrize('override, field, words', [
    ({'access_method': 'path'}, 'access_method', 'repository_path, subdomain, port'),
    ({'access_method': 'repository_path'}, 'repository_key', 'needs the Docker repository key'),
    ({'access_method': 'subdomain', 'repository_key': 'Docker_Local'}, 'repository_key', 'host name label'),
    ({'access_method': 'port'}, 'server', 'needs the repository\'s port'),
    ({'access_method': 'repository_path', 'repository_key': 'docker-local', 'server': 'acme.example.test/artifactory'},
     'server', 'not a path'),
    ({'repository_key': 'docker-local'}, 'access_method', 'need access_method'),
    ({'images': ['acme.jfrog.example.test/docker-local/app:1']}, 'access_method', 'need access_method'),
    ({'access_method': 'repository_path', 'repository_key': 'docker-local', 'images': 'app'}, 'images', 'a list'),
    ({'access_method': 'repository_path', 'repository_key': 'docker-local', 'images': ['UPPER/App']}, 'images',
     'images'),
    ({'access_method': 'repository_path', 'repository_key': 'docker-local', 'images': ['nginx:1.25']}, 'images',
     'docker.io'),
])
def test_artifactory_access_method_refuses_bad_options(override, field, words):
    with pytest.raises(ValidationError) as err:
        _artifactory.ArtifactoryTokenProvider().validate(dict(ARTIFACTORY, **override))
    assert err.value.field == field and words in err.value.msg, err.value.msg


def test_records_accept_string_credential_ids():
    text = json.dumps([{'server': 'a', 'provider': 'artifactory_token', 'options': 'sha256:1',
                        'expires_at': '2026-03-02T00:00:00Z', 'credential': {'id': 'a1b2-c3', 'name': 'k8s'}},
                       {'server': 'b', 'provider': 'artifactory_token', 'options': 'sha256:2',
                        'expires_at': '2026-03-02T00:00:00Z', 'credential': {'id': '', 'name': 'k8s'}}])
    first, second = load_records(text)
    assert first['credential'] == {'id': 'a1b2-c3', 'name': 'k8s'} and 'credential' not in second
