# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker config build / parse / normalise: one section per way pull secrets go wrong in practice
(helper-only config.json, base64 applied twice, wrong Secret type, entry shape variants, Docker Hub
aliases, schemes and paths in keys, short-lived tokens...), plus property tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import random

import pytest
from hypothesis import assume, given, settings, strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils import _dockerconfig as dc
from ansible_collections.registrylink.k8s.plugins.module_utils._dockerconfig import (
    RegistryEntry, SecretDecodeError, build_config, canonical, decode_secret, entry_from_params, entry_key,
    entry_server, merge_configs, parse_docker_config, redacted_view, serialize_config,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._kubelet import (
    explain_near_misses, inspect_config, kubelet_keyring, kubelet_lookup, match_credentials,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import ACR_NULL_GUID, DOCKER_HUB_KEY, secret_key
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError

REG = 'registry.example.test'
AUTH = 'Y2ktcHVsbGVyOlMzY3IzdC1FeGFtcGxl'  # ci-puller:S3cr3t-Example
SECRET = 'S3cr3t-Example'
TWICE_B64 = ('eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLnRlc3QiOnsidXNlcm5hbWUiOiJjaS1wdWxsZXIiLCJwYXNzd29yZCI6IlMzY3Iz'
             'dC1FeGFtcGxlIiwiYXV0aCI6Ilkya3RjSFZzYkdWeU9sTXpZM0l6ZEMxRmVHRnRjR3hsIn19fQ==')
FLAT_B64 = ('eyJyZWdpc3RyeS5leGFtcGxlLnRlc3QiOnsidXNlcm5hbWUiOiJjaS1wdWxsZXIiLCJwYXNzd29yZCI6IlMzY3IzdC1FeGF'
            'tcGxlIiwiYXV0aCI6Ilkya3RjSFZzYkdWeU9sTXpZM0l6ZEMxRmVHRnRjR3hsIn19')


def b64(data):
    if isinstance(data, str):
        data = data.encode('utf-8')
    return base64.b64encode(data).decode('ascii')


def store(config, secret_type=dc.SECRET_TYPE_DOCKERCONFIGJSON):
    """What the API returns for a Secret we wrote: data values are base64 of serialize_config."""
    return {dc.DATA_KEYS[secret_type]: b64(serialize_config(config))}


def entry(**params):
    params.setdefault('server', REG)
    return entry_from_params(params)


def creds(entries):
    return [(e.key, e.username, e.password) for e in entries]


# ---------------------------------------------------------------------------------------- helper-only config.json
def test_BR_01_creds_store_config_is_refused_with_every_registry_listed():
    config = {
        'auths': {REG: {}, 'https://index.docker.io/v1/': {}},
        'credsStore': 'desktop',
        'credHelpers': {'111122223333.dkr.ecr.eu-west-1.amazonaws.com': 'ecr-login'},
    }
    with pytest.raises(ValidationError) as exc:
        parse_docker_config(config)
    err = exc.value
    assert err.field == 'docker_config'
    listed = dict((m['registry'], m['reason']) for m in err.details['registries_without_credentials'])
    assert listed == {
        REG: 'no inline credentials (delegated to helper "desktop")',
        'https://index.docker.io/v1/': 'no inline credentials (delegated to helper "desktop")',
        '111122223333.dkr.ecr.eu-west-1.amazonaws.com': 'no inline credentials (delegated to helper "ecr-login")',
    }
    assert '3 registries' in err.msg


def test_BR_01_explicit_credentials_for_helper_registries_lift_the_refusal():
    config = {'auths': {REG: {}, 'other.example.test': {'auth': AUTH}}, 'credsStore': 'desktop'}
    entries, _w = parse_docker_config(config, provided=['https://' + REG])
    assert creds(entries) == [('other.example.test', 'ci-puller', SECRET)]
    only_helpers = {'auths': {REG: {}}, 'credsStore': 'osxkeychain'}
    assert parse_docker_config(only_helpers, provided=[REG]) == ([], [])


def test_BR_01_never_writes_empty_entries():
    with pytest.raises(ValidationError):
        build_config([])
    # a secret someone else wrote with {} entries is diagnosed
    codes = [i['code'] for i in inspect_config(dc.SECRET_TYPE_DOCKERCONFIGJSON, {'auths': {REG: {}}})]
    assert codes == ['empty_credentials']


# ---------------------------------------------------------------------------------------- base64 applied twice
def test_BR_02_base64_config_is_decoded_once_and_stored_encoded_once():
    entries, warnings = parse_docker_config(TWICE_B64)
    assert creds(entries) == [(REG, 'ci-puller', SECRET)]
    assert any('decoded it once' in w for w in warnings)
    data = store(build_config(entries))
    once = base64.b64decode(data['.dockerconfigjson'])
    assert once.startswith(b'{')
    assert json.loads(once) == json.loads(base64.b64decode(TWICE_B64))
    with pytest.raises(Exception):
        json.loads(base64.b64decode(once))
    assert not data['.dockerconfigjson'].startswith('ZXlK')


def test_BR_02_twice_encoded_values_are_named():
    with pytest.raises(ValidationError) as exc:
        parse_docker_config(b64(TWICE_B64))
    assert 'twice' in exc.value.msg
    with pytest.raises(SecretDecodeError) as exc:
        decode_secret(dc.SECRET_TYPE_DOCKERCONFIGJSON, {'.dockerconfigjson': b64(TWICE_B64)})
    assert 'twice' in exc.value.msg and isinstance(exc.value, ValueError)
    assert SECRET not in exc.value.msg and TWICE_B64 not in exc.value.msg


@pytest.mark.parametrize('value, fragment', [
    ('not json', 'not valid JSON'),
    ('[1, 2]', 'JSON object'),
    ('', 'empty'),
    (42, 'expected a dict'),
])
def test_BR_02_garbage_fails_before_any_api_call(value, fragment):
    with pytest.raises(ValidationError) as exc:
        parse_docker_config(value)
    assert fragment in exc.value.msg


@pytest.mark.parametrize('data, fragment', [
    ({}, 'missing'),
    ({'.dockerconfigjson': ''}, 'missing or empty'),
    ({'.dockerconfigjson': '%%%'}, 'not valid base64'),
    ({'.dockerconfigjson': b64(b'\xff\xfe')}, 'UTF-8'),
    ({'.dockerconfigjson': b64('{"auths": ')}, 'not valid JSON'),
    ({'.dockerconfigjson': b64('["x"]')}, 'not an object'),
    ({'.dockerconfigjson': b64('{"a": NaN}')}, 'not valid JSON'),
])
def test_decode_secret_errors(data, fragment):
    with pytest.raises(SecretDecodeError) as exc:
        decode_secret(dc.SECRET_TYPE_DOCKERCONFIGJSON, data)
    assert fragment in exc.value.msg and exc.value.field == 'data'


# ---------------------------------------------------------------------------------------- shape stored under the wrong Secret type
def test_BR_03_auths_wrapper_under_dockercfg_type_is_a_shape_mismatch():
    stype = dc.SECRET_TYPE_DOCKERCFG
    config = decode_secret(stype, {'.dockercfg': TWICE_B64})
    issues = inspect_config(stype, config)
    assert [i['code'] for i in issues][0] == 'shape_mismatch'
    assert REG in issues[0]['message']
    assert match_credentials(REG + '/app', [('regcred', config, stype)]) == []
    assert kubelet_keyring([('regcred', config, stype)])['index'] == ['auths']


def test_BR_03_flat_map_under_dockerconfigjson_type_is_a_shape_mismatch():
    stype = dc.SECRET_TYPE_DOCKERCONFIGJSON
    config = decode_secret(stype, {'.dockerconfigjson': FLAT_B64})
    assert [i['code'] for i in inspect_config(stype, config)] == ['shape_mismatch']
    assert match_credentials(REG + '/app', [('regcred', config, stype)]) == []
    # the same content under the matching legacy type is fine
    assert inspect_config(dc.SECRET_TYPE_DOCKERCFG, config) == []
    assert match_credentials(REG + '/app', [('regcred', config, dc.SECRET_TYPE_DOCKERCFG)])


def test_BR_03_writer_always_wraps_in_auths_and_canonical_sees_the_shape():
    e, _w = entry(username='ci-puller', password=SECRET)
    written = build_config([e])
    assert list(written) == ['auths']
    legacy = build_config([e], legacy=True)
    assert list(legacy) == [REG]
    assert canonical(written) != canonical(legacy)
    broken = decode_secret(dc.SECRET_TYPE_DOCKERCFG, {'.dockercfg': TWICE_B64})
    assert canonical(broken) != canonical(legacy)


# ---------------------------------------------------------------------------------------- Secret type is immutable
def test_BR_04_opaque_secret_with_docker_key_is_read_but_ignored_by_the_kubelet():
    e, _w = entry(username='ci-puller', password=SECRET)
    data = store(build_config([e]))
    config = decode_secret('Opaque', data)
    assert config['auths'][REG]['username'] == 'ci-puller'
    assert [i['code'] for i in inspect_config('Opaque', config)] == ['wrong_secret_type']
    assert match_credentials(REG + '/app', [('regcred', config, 'Opaque')]) == []


# ---------------------------------------------------------------------------------------- special characters in credentials
JSON_KEY = ('{\n  "type": "service_account",\n  "private_key": "-----BEGIN PRIVATE KEY-----\\nAAAA\\n'
            '-----END PRIVATE KEY-----\\n"\n}')


@pytest.mark.parametrize('username, password, auth', [
    ('ci-puller', 'p"a\\ss{w}rd', 'Y2ktcHVsbGVyOnAiYVxzc3t3fXJk'),
    ('_json_key', JSON_KEY, None),
])
def test_BR_06_special_characters_survive_byte_for_byte(username, password, auth):
    assert len('p"a\\ss{w}rd') == 11
    e, _w = entry(username=username, password=password)
    if auth:
        assert e.auth == auth
    raw = serialize_config(build_config([e]))
    if username == 'ci-puller':
        assert b'"password":"p\\"a\\\\ss{w}rd"' in raw
    back = decode_secret(dc.SECRET_TYPE_DOCKERCONFIGJSON, {'.dockerconfigjson': b64(raw)})
    assert back['auths'][REG]['password'] == password
    assert base64.b64decode(back['auths'][REG]['auth']) == ('%s:%s' % (username, password)).encode('utf-8')
    parsed, _w = parse_docker_config(back)
    assert creds(parsed) == [(REG, username, password)]


# ---------------------------------------------------------------------------------------- Harbor robot name with $
def test_BR_07_harbor_robot_name_is_stored_verbatim():
    e, warnings = entry(server='harbor.example.test', username='robot$team+puller', password='ROBOT-TOKEN-EXAMPLE')
    assert e.auth == 'cm9ib3QkdGVhbStwdWxsZXI6Uk9CT1QtVE9LRU4tRVhBTVBMRQ=='
    raw = serialize_config(build_config([e]))
    assert b'robot$team+puller' in raw
    assert b'cm9ib3QrcHVsbGVyOlJPQk9ULVRPS0VOLUVYQU1QTEU=' not in raw
    assert b64(raw) .find('cm9ib3QrcHVsbGVy') == -1
    assert warnings == []


@pytest.mark.parametrize('username', ['robot', 'robot+puller'])
def test_BR_07_mangled_robot_name_gets_a_hint(username):
    _e, warnings = entry(server='harbor.example.test', username=username, password='ROBOT-TOKEN-EXAMPLE')
    assert any('$' in w and 'shell' in w for w in warnings)
    assert all('ROBOT-TOKEN' not in w for w in warnings)


# ---------------------------------------------------------------------------------------- entry shape variants
ENTRY_SHAPES = [
    {'auths': {REG: {'Username': 'ci-puller', 'Password': SECRET, 'Email': 'ci@example.test'}}},
    {'auths': {REG: {'auth': AUTH}}},
    {'auths': {REG: {'username': 'ci-puller', 'password': SECRET}}},
]


@pytest.mark.parametrize('config', ENTRY_SHAPES)
def test_BR_09_all_shapes_resolve_to_the_same_credentials(config):
    entries, _w = parse_docker_config(config)
    assert creds(entries) == [(REG, 'ci-puller', SECRET)]
    # the kubelet model reads them the same way
    assert [m['username'] for m in match_credentials(REG + '/app', [('s', config)])] == ['ci-puller']
    # the writer emits lowercase fields and auth; email only when given
    written = build_config(entries)['auths'][REG]
    assert written['auth'] == AUTH
    assert set(written) == ({'username', 'password', 'auth', 'email'} if 'Email' in config['auths'][REG]
                            else {'username', 'password', 'auth'})


def test_BR_09_disagreeing_auth_wins_on_read_with_a_warning():
    config = {'auths': {REG: {'username': 'someone-else', 'password': 'old-password', 'auth': AUTH}}}
    entries, warnings = parse_docker_config(config)
    assert creds(entries) == [(REG, 'ci-puller', SECRET)]
    assert any('disagree' in w for w in warnings)
    assert all('old-password' not in w and SECRET not in w for w in warnings)


def test_BR_09_reapplying_over_capitalised_keys_is_one_change_then_stable():
    live = ENTRY_SHAPES[0]
    entries, _w = parse_docker_config(live)
    desired = build_config(entries)
    assert canonical(live) != canonical(desired)              # run 1: normalisation is a change
    stored = decode_secret(dc.SECRET_TYPE_DOCKERCONFIGJSON, store(desired))
    assert canonical(stored) == canonical(build_config(parse_docker_config(stored)[0]))   # run 2: unchanged


# ---------------------------------------------------------------------------------------- Docker Hub key aliases
@pytest.mark.parametrize('server', [
    'docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://docker.io', 'https://index.docker.io/v1/',
    'https://index.docker.io/v1', 'https://registry-1.docker.io/v2/', 'registry-1.docker.io/v1/',
    'HTTPS://INDEX.DOCKER.IO/V1/', 'index.docker.io:443',
])
def test_BR_10_every_docker_hub_spelling_is_written_as_the_hub_key(server):
    key, warnings = secret_key(server)
    assert key == DOCKER_HUB_KEY
    if 'registry-1' in server:
        assert any('never uses a key spelled that way' in w for w in warnings)


@pytest.mark.parametrize('key, matched, via', [
    ('registry-1.docker.io', False, None),
    ('docker.io', True, 'match'),
    ('https://index.docker.io/v1/', True, 'docker_hub_fallback'),
])
def test_BR_10_diagnosis_for_team_app(key, matched, via):
    config = {'auths': {key: {'auth': AUTH}}}
    matches = match_credentials('team/app:1.0', [('regcred', config)])
    assert bool(matches) is matched
    if matched:
        assert matches[0]['via'] == via
    else:
        misses = explain_near_misses('team/app:1.0', [('regcred', config)])
        assert [(m['config_key'], m['reason']) for m in misses] == [(key, 'docker_hub_alias')]
        assert 'never used for Docker Hub images' in misses[0]['detail']


def test_BR_10_written_hub_key_is_used_for_hub_images():
    e, _w = entry(server='registry-1.docker.io', username='ci-puller', password=SECRET)
    assert e.key == DOCKER_HUB_KEY
    assert match_credentials('team/app:1.0', [('regcred', build_config([e]))])


# ---------------------------------------------------------------------------------------- scheme, /v1/ and /v2/ in keys
SCHEMES_AND_PATHS = {'auths': {
    'https://quay.example.test/v1/': {'auth': AUTH},
    'ghcr.example.test': {'auth': AUTH},
    'http://10.0.0.5:5000/v2/': {'auth': AUTH},
    '10.0.0.5:5000': {'auth': 'Y2ktcHVsbGVyOlMzY3IzdC1FeGFtcGw='},
    'harbor.example.test/team-a': {'auth': AUTH},
}}


def test_BR_11_two_spellings_with_different_credentials_are_a_conflict():
    with pytest.raises(ValidationError) as exc:
        parse_docker_config(SCHEMES_AND_PATHS)
    msg = exc.value.msg
    assert "'http://10.0.0.5:5000/v2/'" in msg and "'10.0.0.5:5000'" in msg and 'different credentials' in msg
    assert SECRET not in msg and 'S3cr3t' not in msg


def test_BR_11_keys_normalise_like_the_kubelet():
    config = copy_without(SCHEMES_AND_PATHS, '10.0.0.5:5000')
    entries, _w = parse_docker_config(config)
    assert [e.key for e in entries] == ['quay.example.test', 'ghcr.example.test', '10.0.0.5:5000',
                                        'harbor.example.test/team-a']
    written = build_config(entries)
    assert match_credentials('harbor.example.test/team-a/app', [('s', written)])
    assert match_credentials('harbor.example.test/team-b/app', [('s', written)]) == []
    assert match_credentials('10.0.0.5:5000/app', [('s', written)])
    assert match_credentials('quay.example.test/org/app', [('s', written)])


def test_BR_11_same_credentials_under_two_spellings_are_deduplicated():
    config = {'auths': {'https://reg.example.test/v2/': {'auth': AUTH}, 'reg.example.test': {'auth': AUTH}}}
    entries, warnings = parse_docker_config(config)
    assert creds(entries) == [('reg.example.test', 'ci-puller', SECRET)]
    assert any('kept one' in w for w in warnings)


def test_BR_11_build_config_names_both_spellings():
    a, _w = entry(server='https://reg.example.test/v2/', username='a', password='pw-aaaaaa')
    b, _w = entry(server='reg.example.test', username='b', password='pw-bbbbbb')
    with pytest.raises(ValidationError) as exc:
        build_config([a, b])
    assert "'https://reg.example.test/v2/'" in exc.value.msg and "'reg.example.test'" in exc.value.msg
    assert 'pw-' not in exc.value.msg


def copy_without(config, key):
    return {'auths': dict((k, v) for k, v in config['auths'].items() if k != key)}


# ---------------------------------------------------------------------------------------- stringData always changed
def test_BR_14_second_run_compares_decoded_content():
    e, _w = entry(username='ci-puller', password=SECRET)
    desired = build_config([e])
    live = decode_secret(dc.SECRET_TYPE_DOCKERCONFIGJSON, store(desired))
    assert canonical(live) == canonical(desired)
    # the same content written by someone else with other whitespace, key order, escapes, unpadded auth
    text = json.dumps({'auths': {REG: {'password': SECRET, 'auth': AUTH.rstrip('='), 'username': 'ci-puller'}}},
                      indent=4, ensure_ascii=True)
    assert canonical(text) == canonical(desired)
    assert canonical(b64(text)) == canonical(desired)
    # a password change is a change, visible in the diff only as a hash
    e2, _w = entry(username='ci-puller', password='N3w-Example')
    desired2 = build_config([e2])
    assert canonical(live) != canonical(desired2)
    before, after = redacted_view(live), redacted_view(desired2)
    assert before[REG]['content_hash'] != after[REG]['content_hash']
    assert dict(before[REG], content_hash=None) == dict(after[REG], content_hash=None)
    assert SECRET not in repr(before) and 'N3w-Example' not in repr(after) and AUTH not in repr(before)


def test_BR_14_redacted_view_shape():
    e, _w = entry(username='ci-puller', password=SECRET, email='ci@example.test')
    view = redacted_view(build_config([e]))
    assert view == {REG: {'username': 'ci-puller', 'password': '<redacted>', 'auth': '<redacted>',
                          'email': 'ci@example.test', 'content_hash': view[REG]['content_hash']}}
    assert view[REG]['content_hash'].startswith('hmac-sha256:')
    legacy = redacted_view(build_config([e], legacy=True))
    assert legacy[REG]['username'] == 'ci-puller'
    token_only = redacted_view({'auths': {REG: {'auth': 'MDAwOg==', 'identitytoken': 'TOKEN-X'}}})
    assert token_only[REG]['identitytoken'] == '<redacted>' and 'TOKEN-X' not in repr(token_only)


# ---------------------------------------------------------------------------------------- pull secret in another namespace
def test_BR_15_a_missing_secret_contributes_nothing():
    # the kubelet pulls without a secret it cannot retrieve; the probe passes only the secrets it found
    assert kubelet_keyring([])['index'] == []
    assert match_credentials(REG + '/app', []) == []


# ---------------------------------------------------------------------------------------- ECR tokens expire after 12 h
def test_BR_18_ecr_token_warns_about_12_hours():
    e, warnings = entry(server='111122223333.dkr.ecr.eu-west-1.amazonaws.com', username='AWS',
                        password='ECR-TOKEN-EXAMPLE')
    assert e.auth == 'QVdTOkVDUi1UT0tFTi1FWEFNUExF'
    assert any('12 hours' in w for w in warnings)
    assert all('ECR-TOKEN' not in w for w in warnings)


# ---------------------------------------------------------------------------------------- ACR identitytoken
ACR_IDENTITYTOKEN = {'auths': {'exampleregistry.azurecr.io': {
    'auth': 'MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==', 'identitytoken': 'ACR-TOKEN-EXAMPLE'}}}


def test_BR_19_identitytoken_only_is_refused_by_default():
    with pytest.raises(ValidationError) as exc:
        parse_docker_config(ACR_IDENTITYTOKEN)
    assert 'identitytoken only' in exc.value.msg and 'ACR-TOKEN' not in exc.value.msg
    codes = [i['code'] for i in inspect_config(dc.SECRET_TYPE_DOCKERCONFIGJSON, ACR_IDENTITYTOKEN)]
    assert codes == ['identitytoken_only']


def test_BR_19_identitytoken_rewrite():
    entries, warnings = parse_docker_config(ACR_IDENTITYTOKEN, identity_token='rewrite')
    (e,) = entries
    assert (e.username, e.password) == (ACR_NULL_GUID, 'ACR-TOKEN-EXAMPLE')
    assert e.auth == 'MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOkFDUi1UT0tFTi1FWEFNUExF'
    written = serialize_config(build_config(entries))
    assert b'MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==' not in written
    assert b'identitytoken' not in written
    assert any('short-lived' in w for w in warnings) and all('ACR-TOKEN' not in w for w in warnings)


def test_BR_19_empty_password_auth_is_refused_as_a_parameter():
    with pytest.raises(ValidationError) as exc:
        entry(server='exampleregistry.azurecr.io', auth='MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==')
    assert exc.value.field == 'password' and 'empty' in exc.value.msg


def test_BR_19_identitytoken_next_to_a_real_password_is_dropped():
    config = {'auths': {REG: {'auth': AUTH, 'identitytoken': 'T'}}}
    entries, warnings = parse_docker_config(config)
    assert creds(entries) == [(REG, 'ci-puller', SECRET)]
    assert any('dropped the identitytoken' in w for w in warnings)


# ---------------------------------------------------------------------------------------- GitLab CI job token
def test_BR_20_ci_job_token_warns_or_fails_under_strict():
    params = dict(server='registry.gitlab.example.test', username='gitlab-ci-token', password='JOB-TOKEN-EXAMPLE')
    _e, warnings = entry_from_params(params)
    assert any('deploy token with read_registry' in w for w in warnings)
    with pytest.raises(ValidationError) as exc:
        entry_from_params(params, strict=True)
    assert 'JOB-TOKEN' not in exc.value.msg
    e, warnings = entry_from_params(dict(params, username='gitlab+deploy-token-42', password='DEPLOY-TOKEN-EXAMPLE'))
    assert e.auth == 'Z2l0bGFiK2RlcGxveS10b2tlbi00MjpERVBMT1ktVE9LRU4tRVhBTVBMRQ==' and warnings == []


# ---------------------------------------------------------------------------------------- rate limit, not a bad password
def test_BR_22_unused_hub_secret_means_the_pull_is_anonymous():
    config = {'auths': {'registry-1.docker.io': {'auth': AUTH}}}
    result = kubelet_lookup('team/app:1.0', [('regcred', config)])
    assert result['anonymous'] is True
    assert [m['reason'] for m in result['near_misses']] == ['docker_hub_alias']


# ------------------------------------------------------------------------------- entry validation
def test_auth_and_username_password_may_both_be_given_when_they_agree():
    e, _w = entry(username='ci-puller', password=SECRET, auth=AUTH)
    assert e.auth == AUTH


@pytest.mark.parametrize('params, field, fragment', [
    ({'username': 'ci-puller', 'password': 'other-password', 'auth': AUTH}, 'auth', 'disagree'),
    ({'username': 'other', 'auth': AUTH}, 'auth', 'disagree'),
    ({'auth': 'not base64!'}, 'auth', 'not valid base64'),
    ({'auth': b64('no-colon-here')}, 'auth', 'does not contain ":"'),
    ({'auth': b64(AUTH)}, 'auth', 'twice'),
    ({'auth': 'Basic ' + AUTH}, 'auth', 'Basic'),
    ({'username': 'ci-puller'}, 'password', 'without password'),
    ({'password': SECRET}, 'username', 'without username'),
    ({}, 'username', 'give username and password'),
    ({'username': '', 'password': SECRET}, 'username', 'empty'),
    ({'username': 'ci-puller', 'password': ''}, 'password', 'empty'),
    ({'username': 'ci:puller', 'password': SECRET}, 'username', ':'),
    ({'username': 'ci-puller\n', 'password': SECRET}, 'username', 'whitespace'),
    ({'username': 'ci-puller', 'password': SECRET + '\n'}, 'password', 'copy/paste'),
    ({'username': 'ci-puller', 'password': ' ' + SECRET}, 'password', 'copy/paste'),
    ({'username': 'ci-puller', 'password': 'Bearer ' + SECRET}, 'password', 'Bearer'),
    ({'username': 'ci-puller', 'password': AUTH}, 'password', 'base64 "auth" value'),
    ({'username': 'ci-puller', 'password': 123456}, None, 'must be a string'),
    ({'username': 'ci-puller', 'password': '{"auths": {}}'}, 'password', 'docker config'),
    ({'username': 'ci-puller', 'password': 'a\ud800b'}, None, 'UTF-8'),
])
def test_copy_paste_accidents_are_validation_errors(params, field, fragment):
    with pytest.raises(ValidationError) as exc:
        entry(**params)
    assert fragment in exc.value.msg
    if field:
        assert exc.value.field == field
    for value in (SECRET, AUTH, 'other-password'):
        assert value not in exc.value.msg
        assert value not in repr(exc.value.details)


@pytest.mark.parametrize('server, fragment', [
    ('', 'required'), ('   ', 'empty'), (None, 'required'), ('https://', 'no host'), ('oci://reg.example.test', 'https://'),
    ('reg example.test', 'whitespace'), ('user:pw@reg.example.test', 'user info'), ('reg.example.test?x', '"?"'),
    ('reg.example.test:abc', 'not a number'), ('reg.example.test:0', '1-65535'), ('reg.example.test:05000', 'leading'),
    ('reg..example.test', 'empty label'), ('reg.example.test.', 'empty label'), ('k8s[a.io', 'malformed glob'),
    ('r\u00e9g.example.test', 'characters'), ('reg.example.test/Team Space', 'whitespace'), ('a:b:c', 'more than one'),
    ('reg.example.test/te~am', 'never prefix'), (5000, 'expected a registry host'),
])
def test_secret_key_rejects_garbage(server, fragment):
    with pytest.raises(ValidationError) as exc:
        entry_from_params({'server': server, 'username': 'u', 'password': 'pw-example'})
    assert fragment in exc.value.msg
    assert exc.value.field == 'server'


def test_user_info_in_server_is_never_echoed():
    with pytest.raises(ValidationError) as exc:
        secret_key('https://ci-puller:' + SECRET + '@reg.example.test')
    assert SECRET not in exc.value.msg


@pytest.mark.parametrize('server, key, warned', [
    ('reg.example.test', 'reg.example.test', False),
    ('https://reg.example.test', 'reg.example.test', False),
    ('http://reg.example.test/', 'reg.example.test', False),
    ('https://reg.example.test/v2/', 'reg.example.test', False),
    ('https://reg.example.test/v1/', 'reg.example.test', False),
    ('https://reg.example.test/v2', 'reg.example.test', True),
    ('https://reg.example.test/v2/team', 'reg.example.test/team', True),
    ('reg.example.test:5000', 'reg.example.test:5000', False),
    ('reg.example.test:', 'reg.example.test', False),
    ('reg.example.test:443', 'reg.example.test:443', True),
    ('Reg.Example.TEST', 'reg.example.test', True),
    ('reg.example.test/Team', 'reg.example.test/team', True),
    (' reg.example.test\n', 'reg.example.test', True),
    ('harbor.example.test/team-a', 'harbor.example.test/team-a', False),
    ('harbor.example.test/team-a/', 'harbor.example.test/team-a/', False),
    ('*.azurecr.io', '*.azurecr.io', False),
    ('[2001:DB8::10]:5000', '[2001:db8::10]:5000', True),
    ('docker.io/myorg', 'docker.io/myorg', False),
    ('index.docker.io/myorg', 'docker.io/myorg', True),
])
def test_secret_key_keys(server, key, warned):
    got, warnings = secret_key(server)
    assert got == key
    assert bool(warnings) is warned


def test_port_443_warning_names_the_fix():
    _key, warnings = secret_key('reg.example.test:443')
    assert 'use server reg.example.test' in warnings[0]


def test_entry_repr_and_accessors_never_show_secrets():
    e, _w = entry(server='https://reg.example.test/v2/', username='ci-puller', password=SECRET)
    assert SECRET not in repr(e) and e.auth not in repr(e)
    assert entry_key(e) == 'reg.example.test' and entry_server(e) == 'https://reg.example.test/v2/'
    assert entry_key({'server': 'https://reg.example.test'}) == 'reg.example.test'
    assert isinstance(e, RegistryEntry) and e == entry(server='reg.example.test', username='ci-puller', password=SECRET)[0]
    assert e != entry(server='reg.example.test', username='ci-puller', password='other-pw-x')[0]


def test_whitespace_in_password_allowed_for_json_key_and_on_request():
    e, _w = entry(username='_json_key', password=JSON_KEY + '\n')
    assert e.password.endswith('\n')
    e, _w = entry_from_params({'server': REG, 'username': 'u', 'password': ' pw '}, allow_surrounding_whitespace=True)
    assert e.password == ' pw '


# ------------------------------------------------------------------------------- parse / build / merge
def test_parse_accepts_json_text_bytes_and_legacy_form():
    text = json.dumps({'auths': {REG: {'auth': AUTH}}})
    assert creds(parse_docker_config(text)[0]) == creds(parse_docker_config(text.encode())[0])
    legacy, warnings = parse_docker_config({REG: {'auth': AUTH}, 'other.example.test': None}, on_missing='warn')
    assert creds(legacy) == [(REG, 'ci-puller', SECRET)]
    assert any('legacy' in w for w in warnings) and any('skipped' in w for w in warnings)
    assert parse_docker_config({'Auths': {REG: {'auth': AUTH}}})[0][0].username == 'ci-puller'


def test_parse_ignores_fields_the_kubelet_ignores():
    config = {'auths': {REG: {'auth': AUTH, 'serveraddress': 'x', 'registrytoken': 'R'}},
              'HttpHeaders': {'User-Agent': 'x'}, 'psFormat': 'table', 'credHelpers': {}}
    entries, _w = parse_docker_config(config)
    assert build_config(entries) == {'auths': {REG: {'username': 'ci-puller', 'password': SECRET, 'auth': AUTH}}}


@pytest.mark.parametrize('config, fragment', [
    ({'auths': []}, '"auths" must be an object'),
    ({'auths': {REG: 'x'}}, 'must be an object'),
    ({'auths': {REG: {'username': 1, 'password': 'x'}}}, 'must be a string'),
    ({'auths': {REG: {'auth': 'pants'}}}, 'not valid base64'),
    ({'auths': {}}, 'holds no registries'),
    ({'psFormat': 'table'}, 'holds no registries'),
    ({'HttpHeaders': {'User-Agent': 'x'}}, 'holds no registries'),
    ({'reg.example.test': 'x'}, 'not a docker config'),
    ({'auths': {'reg.example.test?x': {'auth': AUTH}}}, '"?"'),
])
def test_parse_rejects_bad_shapes(config, fragment):
    with pytest.raises(ValidationError) as exc:
        parse_docker_config(config)
    assert fragment in exc.value.msg and exc.value.field == 'docker_config'
    assert SECRET not in exc.value.msg


def test_merge_keeps_other_registries_and_replaces_every_spelling_of_ours():
    current = {'auths': {'docker.io': {'auth': AUTH}, 'quay.example.test': {'auth': AUTH},
                         'https://reg.example.test/v2/': {'auth': AUTH}}, 'HttpHeaders': {'X': 'y'}}
    e1, _w = entry(server='reg.example.test', username='new', password='pw-new-example')
    e2, _w = entry(server='docker.io', username='hub', password='pw-hub-example')
    desired = build_config([e1, e2])
    merged = merge_configs(current, desired, merge=True)
    assert list(merged['auths']) == ['quay.example.test', 'reg.example.test', DOCKER_HUB_KEY]
    assert merged['HttpHeaders'] == {'X': 'y'}
    assert merge_configs(current, desired, merge=False) == desired
    assert merge_configs(None, desired, merge=True) == desired
    assert 'docker.io' in current['auths']   # inputs untouched
    legacy = merge_configs({'quay.example.test': {'auth': AUTH}}, build_config([e1], legacy=True), merge=True)
    assert sorted(legacy) == ['quay.example.test', 'reg.example.test']
    # the kubelet now uses the new Hub credentials for Hub images
    assert [m['username'] for m in match_credentials('team/app', [('s', merged)])] == ['hub']


def test_build_config_accepts_param_dicts():
    config = build_config([{'server': REG, 'username': 'ci-puller', 'password': SECRET}])
    assert config == {'auths': {REG: {'username': 'ci-puller', 'password': SECRET, 'auth': AUTH}}}
    assert serialize_config(config) == (
        b'{"auths":{"registry.example.test":{"auth":"Y2ktcHVsbGVyOlMzY3IzdC1FeGFtcGxl",'
        b'"password":"S3cr3t-Example","username":"ci-puller"}}}')


def test_serialize_keeps_non_ascii_as_utf8():
    e, _w = entry(username='ci-puller', password='p\u00e4ss-\u4e2d\u6587')
    raw = serialize_config(build_config([e]))
    assert 'p\u00e4ss-\u4e2d\u6587'.encode('utf-8') in raw


def test_canonical_sees_inconsistent_auth_and_extra_fields():
    good = {'auths': {REG: {'username': 'ci-puller', 'password': SECRET, 'auth': AUTH}}}
    stale = {'auths': {REG: {'username': 'ci-puller', 'password': 'old-password-x', 'auth': AUTH}}}
    extra = {'auths': {REG: {'username': 'ci-puller', 'password': SECRET, 'auth': AUTH, 'identitytoken': 'T'}}}
    assert canonical(good) != canonical(stale)
    assert canonical(good) != canonical(extra)
    assert canonical({'auths': {REG: {'auth': 'pants'}}}) != canonical(good)


# ------------------------------------------------------------------------------- properties
_username = st.text(st.characters(blacklist_categories=('Cs', 'Cc'), blacklist_characters=':'),
                    min_size=1, max_size=30).map(lambda u: 'robot$' + u)
_password = st.text(st.characters(blacklist_categories=('Cs',)), min_size=1, max_size=60)


def _ok_username(u):
    return u == u.strip()


def _ok_password(p):
    return (p == p.strip() and p[:7].lower() != 'bearer ' and p[:6].lower() != 'basic ' and '"auths"' not in p)


@settings(max_examples=200)
@given(_username, _password)
def test_property_round_trip_survives_unicode_and_dollar(username, password):
    assume(_ok_username(username) and _ok_password(password))
    e, _w = entry_from_params({'server': REG, 'username': username, 'password': password})
    data = store(build_config([e]))
    live = decode_secret(dc.SECRET_TYPE_DOCKERCONFIGJSON, data)
    parsed, _w = parse_docker_config(live)
    assert creds(parsed) == [(REG, username, password)]
    keyring = kubelet_keyring([('s', live)])
    cred = keyring['creds'][REG][0]
    assert (cred['username'], cred['password']) == (username, password)
    assert canonical(live) == canonical(build_config(parsed))


def _reorder(value, rnd):
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return dict((k, _reorder(v, rnd)) for k, v in items)
    return value


@given(st.lists(st.tuples(st.sampled_from(['a.example.test', 'b.example.test:5000', 'c.example.test/team']),
                          st.text(st.characters(blacklist_categories=('Cs',)), min_size=1, max_size=10)),
                min_size=1, max_size=3, unique_by=lambda t: t[0]),
       st.integers(0, 2 ** 16), st.sampled_from([None, 0, 2, '\t']), st.booleans())
def test_property_canonical_ignores_order_whitespace_and_escaping(items, seed, indent, ascii_only):
    config = {'auths': dict((k, {'username': 'u', 'password': p, 'auth': dc.encode_auth('u', p)})
                            for k, p in items)}
    text = json.dumps(_reorder(config, random.Random(seed)), indent=indent, ensure_ascii=ascii_only)
    assert canonical(text) == canonical(config)
    assert canonical(json.loads(text)) == canonical(config)


_server = st.tuples(
    st.sampled_from(['', 'https://', 'http://', 'HTTPS://']),
    st.sampled_from(['reg.example.test', 'Reg.Example.Test', '*.azurecr.io', '10.0.0.5', 'docker.io',
                     'registry-1.docker.io', 'index.docker.io', 'localhost', '[2001:db8::10]']),
    st.sampled_from(['', ':5000', ':443', ':']),
    st.sampled_from(['', '/', '/v1/', '/v2/', '/v2', '/team', '/Team/app/', '/v2/team']),
).map(''.join)


@given(_server)
def test_property_normalize_is_idempotent(server):
    key, _w = secret_key(server)
    again, warnings = secret_key(key)
    assert again == key
    # only the kept-port advice repeats: every other warning is about something normalisation removed
    assert all('compares ports exactly' in w for w in warnings)
    assert bool(warnings) == (key.endswith(':443') or key.endswith(':80') or ':443/' in key or ':80/' in key)
