"""Fuzzing every parser the modules expose to user input: none may raise anything but the
collection's own typed errors (``_errors.RegistryLinkError`` and its subclasses).

A module catches ``RegistryLinkError`` once and fails with its ``msg``; any other exception is a
crash (a traceback for the user). The kubelet-model functions documented as "raises nothing"
(``kubelet_key``, ``urls_match``, ``kubelet_keyring``, ``inspect_config``, ...) must not raise at
all: the probe uses them to explain a failure, and a crash there hides the explanation.

The strategies mix arbitrary text with alphabets of the characters that matter to each grammar
(separators, globs, brackets, case-folding letters such as ``ß``, ``ſ`` and ``K``, control
characters, NUL), so that the interesting corners are hit in a few hundred examples.
"""

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils import _common
from ansible_collections.registrylink.k8s.plugins.module_utils import _dockerconfig as dc
from ansible_collections.registrylink.k8s.plugins.module_utils import _registry_gc as _gc
from ansible_collections.registrylink.k8s.plugins.module_utils import _iam_oidc_provider as oidc
from ansible_collections.registrylink.k8s.plugins.module_utils import _imageref
from ansible_collections.registrylink.k8s.plugins.module_utils import _kubelet as kl
from ansible_collections.registrylink.k8s.plugins.module_utils import _namespaces
from ansible_collections.registrylink.k8s.plugins.module_utils import _registry_host
from ansible_collections.registrylink.k8s.plugins.module_utils import _registry_secret
from ansible_collections.registrylink.k8s.plugins.module_utils import _retention
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryLinkError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers import get_provider

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

# Characters that carry meaning in at least one grammar, plus letters whose Unicode case folding is tricky.
_SPECIAL = list('abcxyzAZ019_-.:/@[]*?!%#\\ \t\n=,()^${}"\'+~')
_SPECIAL += ['\u00df', '\u017f', '\u212a', '\x00', '\x7f', '\u00e9', '\ufeff']
text = st.one_of(st.text(alphabet=st.sampled_from(_SPECIAL), max_size=40), st.text(max_size=30))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2 ** 70, max_value=2 ** 70),
                    st.floats(allow_nan=True), text)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12)

_hosts = st.one_of(text, st.sampled_from([
    'registry.example.com', 'REG.example.com', 'reg_example.com', 'reg.example.com:5000', 'reg.example.com:0',
    'reg.example.com:99999', '[::1]:5000', '[abc]:5000', 'a[b.example.com', '*.example.com', 'h?st.example.com',
    'https://index.docker.io/v1/', 'docker.io', 'localhost', 'localhost:5000', '127.0.0.1:5000', '',
    'https://reg.example.com/v2/team', 'reg.example.com/Team', 'ftp://reg.example.com', 'user:pw@reg.example.com',
]))
_field_names = st.sampled_from(['username', 'password', 'auth', 'email', 'identitytoken', 'registrytoken',
                                'Username', 'PASSWORD', 'Auth', 'u\u017fername', 'user'])
_field_values = st.one_of(text, scalars, st.just(base64.b64encode(b'user:pass').decode()),
                          st.just('dXNlcg'), st.just('dXNlcjpwYXNz'), json_values)
entries = st.one_of(st.none(), json_values, st.dictionaries(_field_names, _field_values, max_size=5))
docker_configs = st.one_of(
    json_values,
    st.builds(lambda auths: {'auths': auths}, st.dictionaries(_hosts, entries, max_size=4)),
    st.builds(lambda w, auths: {w: auths}, st.sampled_from(['auths', 'AUTHS', 'Auths', 'credsStore', 'credHelpers']),
              st.one_of(json_values, st.dictionaries(_hosts, entries, max_size=3))),
    st.dictionaries(_hosts, entries, max_size=3),
)
secret_types = st.sampled_from(['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg', 'Opaque', ''])


def _component():
    return st.one_of(text, st.sampled_from(['app', 'team', 'reg_example.com', 'a__b', 'a--b', 'UP', '', '..', 'x' * 300]))


images = st.one_of(
    text,
    st.builds(lambda host, parts, tag, digest: (host + '/' if host else '') + '/'.join(parts) + tag + digest,
              st.one_of(st.just(''), _hosts), st.lists(_component(), min_size=1, max_size=3),
              st.sampled_from(['', ':1.0', ':', ':latest', ':' + 'x' * 129, ':-bad']),
              st.sampled_from(['', '@sha256:' + 'a' * 64, '@sha256:abc', '@md5:' + 'a' * 32, '@sha512:' + 'A' * 128])),
)
selectors = st.one_of(
    text, json_values, st.dictionaries(text, scalars, max_size=3),
    st.lists(st.sampled_from(['env=prod', 'env==prod', 'env!=dev', 'tier in (a,b)', 'tier notin (a)', '!legacy',
                              'team', 'in', '(', ')', ',', '=', '!', 'a/b=c', 'example.com/x=y', 'x in ()', ' ',
                              'k=' + 'v' * 64, 'a' * 64, '\u00df=1']), max_size=6).map(''.join),
)
durations = st.one_of(text, scalars, st.lists(st.sampled_from(['1', '30', '-1', 'w', 'd', 'h', 'm', 's', ' ', 'x',
                                                               '\u0661', '99999999999999999999']),
                                              max_size=8).map(''.join))
regexes = st.one_of(text, st.sampled_from(['(', '[', '*', 'a{2,1}', '(?P<a>x)(?P<a>y)', '[[:alpha:]]', '\\', '(?<=a+)b',
                                           '[c-_]', 'x{99999999999}']))


def _typed_only(func, *args, **kwargs):
    """Call ``func``; typed errors are fine, anything else fails the test with the input."""
    try:
        return func(*args, **kwargs)
    except RegistryLinkError as exc:
        assert isinstance(exc.msg, str) and exc.msg
        return None


# --------------------------------------------------------------------------- docker config


@FUZZ
@given(st.one_of(docker_configs, docker_configs.map(json.dumps), text,
                 docker_configs.map(lambda c: base64.b64encode(json.dumps(c).encode()).decode())),
       st.sampled_from(['refuse', 'rewrite']), st.sampled_from(['fail', 'warn']))
def test_parse_docker_config_only_typed_errors(value, identity_token, on_missing):
    _typed_only(dc.parse_docker_config, value, identity_token=identity_token, on_missing=on_missing)


@FUZZ
@given(secret_types, st.one_of(
    docker_configs.map(lambda c: base64.b64encode(json.dumps(c).encode()).decode()),
    text, st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())))
def test_decode_secret_only_typed_errors(secret_type, payload):
    for key in ('.dockerconfigjson', '.dockercfg'):
        _typed_only(dc.decode_secret, secret_type, {key: payload})


@FUZZ
@given(_hosts)
def test_registry_host_rules_only_typed_errors(server):
    out = _typed_only(_registry_host.secret_key, server)
    if out is not None:
        key, warnings = out
        assert isinstance(key, str) and key and all(isinstance(w, str) for w in warnings)
    assert isinstance(_registry_host.same_secret_key(server), str)
    _typed_only(_registry_host.check_registry_host, server)
    _typed_only(_registry_host.api_host, server)
    assert isinstance(_registry_host.image_host(server), str)


@FUZZ
@given(st.one_of(text, json_values))
def test_provider_records_annotation_never_raises(text_value):
    assert isinstance(_registry_secret.load_records(text_value if isinstance(text_value, str) else json.dumps(text_value)),
                      list)


@FUZZ
@given(_hosts, st.one_of(text, scalars), st.one_of(text, scalars), st.one_of(text, scalars), st.one_of(text, scalars))
def test_entry_from_params_only_typed_errors(server, username, password, auth, email):
    _typed_only(dc.entry_from_params, {'server': server, 'username': username, 'password': password,
                                       'auth': auth, 'email': email})


@FUZZ
@given(st.one_of(text, scalars))
def test_decode_auth_only_typed_errors(auth):
    _typed_only(dc.decode_auth, auth)


@FUZZ
@given(st.one_of(_hosts, text), st.one_of(images, text))
def test_kubelet_key_and_urls_match_never_raise(key, target):
    derived = kl.kubelet_key(key)
    assert derived is None or isinstance(derived, str)
    assert kl.urls_match(key, target) in (True, False)
    if derived is not None:
        assert kl.urls_match(derived, target) in (True, False)


@FUZZ
@given(images, st.lists(st.tuples(st.sampled_from(['s1', 's2']), docker_configs, secret_types), max_size=3))
def test_kubelet_model_only_typed_errors(image, secrets):
    keyring = kl.kubelet_keyring(secrets)  # raises nothing
    assert set(keyring) == {'index', 'creds', 'skipped', 'ignored', 'error'}
    for _name, config, stype in secrets:
        assert isinstance(kl.inspect_config(stype, config), list)
    _typed_only(kl.match_credentials, image, secrets)
    _typed_only(kl.kubelet_lookup, image, secrets)
    _typed_only(kl.explain_near_misses, image, secrets)


@FUZZ
@given(docker_configs, st.sampled_from([None, True, False]))
def test_canonical_and_redacted_view_only_typed_errors(config, legacy):
    _typed_only(dc.canonical, config, legacy=legacy)
    _typed_only(dc.redacted_view, config, legacy=legacy)


# --------------------------------------------------------------------------- images


@FUZZ
@given(st.one_of(images, scalars))
def test_parse_image_reference_only_typed_errors(image):
    ref = _typed_only(_imageref.parse_image_reference, image)
    if ref is not None:
        assert isinstance(ref.name, str) and ref.name
        assert _imageref.format_reference(ref)


# --------------------------------------------------------------------------- selection


@FUZZ
@given(selectors)
def test_parse_label_selector_only_typed_errors(selector):
    reqs = _typed_only(_namespaces.parse_label_selector, selector)
    if reqs is not None:
        assert _namespaces.selector_matches(reqs, {'env': 'prod'}) in (True, False)


@FUZZ
@given(st.one_of(st.none(), st.lists(st.one_of(text, scalars), max_size=3)), selectors,
       st.one_of(st.none(), st.lists(st.one_of(text, scalars), max_size=3)))
def test_namespace_selection_only_typed_errors(namespaces, selector, exclude):
    cluster = [{'metadata': {'name': 'team-a', 'labels': {'env': 'prod'}}, 'status': {'phase': 'Active'}}]
    _typed_only(_namespaces.select_namespaces, cluster, namespaces, selector, exclude)


# --------------------------------------------------------------------------- durations, retention, globs


@FUZZ
@given(durations)
def test_parse_duration_only_typed_errors(value):
    seconds = _typed_only(_common.parse_duration, value)
    assert seconds is None or (isinstance(seconds, int) and seconds >= 0)


@FUZZ
@given(st.one_of(st.none(), scalars), st.one_of(st.none(), durations),
       st.one_of(st.none(), regexes, st.lists(st.one_of(regexes, scalars), max_size=3), scalars),
       st.one_of(st.none(), regexes, st.lists(st.one_of(regexes, scalars), max_size=3), scalars),
       st.one_of(st.none(), st.lists(st.one_of(text, scalars), max_size=3), scalars))
def test_retention_rules_only_typed_errors(keep_last, older_than, tag_include, tag_exclude, keep_tags):
    rules = _typed_only(_retention.Rules, keep_last=keep_last, older_than=older_than, tag_include=tag_include,
                        tag_exclude=tag_exclude, keep_tags=keep_tags)
    if rules is not None:
        assert rules.in_scope('v1.0')[0] in (True, False)


@FUZZ
@given(st.one_of(text, st.lists(st.sampled_from(['*', '**', '?', '[', ']', '!', '^', '-', 'a', 'z', '/', '\\', '[]',
                                                 '[!]', '[a-]', '[z-a]', '[c-_]']), max_size=8).map(''.join)))
def test_repository_globs_only_typed_errors(pattern):
    rx = _typed_only(_gc.glob_to_regex, pattern)
    if rx is not None:
        assert rx.match('team/app') is None or rx.match('team/app').group(0) == 'team/app'


# --------------------------------------------------------------------------- provider and AWS options


@FUZZ
@given(st.one_of(text, scalars, st.sampled_from([
    'https://oidc.eks.eu-west-1.amazonaws.com/id/X', 'http://x', 'https://', 'https://h:99999999/x'])))
def test_oidc_issuer_url_only_typed_errors(url):
    _typed_only(oidc.normalize_url, url)


@FUZZ
@given(st.dictionaries(st.sampled_from(['server', 'region', 'registry_id', 'aws_profile', 'role_arn', 'endpoint_url']),
                       st.one_of(text, scalars, _hosts), max_size=6))
def test_ecr_provider_options_only_typed_errors(options):
    _typed_only(get_provider('ecr').validate, options)


@FUZZ
@given(st.one_of(text, scalars))
def test_provider_name_only_typed_errors(name):
    _typed_only(get_provider, name)


# --------------------------------------------------------------------------- named crash classes


def _nested(depth, open_='[', close=']'):
    return open_ * depth + close * depth


@pytest.mark.parametrize('depth', [2000, 100000])
def test_deeply_nested_docker_config_is_a_typed_error(depth):
    """Deep JSON nesting: Python's json raises RecursionError; it must be a typed error naming the option."""
    value = '{"auths": {"a": ' + _nested(depth) + '}}'
    with pytest.raises(RegistryLinkError) as info:
        dc.parse_docker_config(value)
    assert 'docker_config' in info.value.msg


@pytest.mark.parametrize('depth', [2000, 100000])
def test_deeply_nested_secret_payload_is_a_typed_error(depth):
    payload = base64.b64encode(('{"auths": {"a": ' + _nested(depth, '{"x":', '}') + '}}').encode()).decode()
    with pytest.raises(RegistryLinkError):
        dc.decode_secret('kubernetes.io/dockerconfigjson', {'.dockerconfigjson': payload})


def test_deeply_nested_provider_records_are_unrecorded():
    assert _registry_secret.load_records('[' * 100000 + ']' * 100000) == []


def test_dockercfg_secret_with_a_non_object_auths_is_a_finding_not_a_crash():
    issues = kl.inspect_config('kubernetes.io/dockercfg', {'auths': True})
    assert [i['code'] for i in issues][:1] == ['shape_mismatch']


def test_deeply_nested_dict_config_is_a_typed_error():
    value = inner = {}
    for _i in range(900):
        inner['x'] = {}
        inner = inner['x']
    _typed_only(dc.parse_docker_config, {'auths': {'reg.example.com': value}})
    _typed_only(dc.canonical, {'auths': {'reg.example.com': value}})
    _typed_only(dc.redacted_view, {'auths': {'reg.example.com': value}})


@pytest.mark.parametrize('image, name', [('reg_example.com/app', 'reg_example.com/app'),
                                         ('a_b.example.com/team/app:1', 'a_b.example.com/team/app')])
def test_underscore_in_first_component_does_not_crash(image, name):
    """``reg_example.com`` is not a valid host, so distribution/reference reads it as a path component
    (no domain): ``Name()`` is the path itself, which is what the kubelet looks up in its keyring."""
    ref = _imageref.parse_image_reference(image)
    assert ref.registry is None and ref.name == name
    secrets = [('s', {'auths': {'reg_example.com': {'username': 'u', 'password': 'p'}}})]
    assert isinstance(kl.match_credentials(image, secrets), list)
    assert isinstance(kl.kubelet_lookup(image, secrets)['matches'], list)
    # nothing can pull it, so the options that name an image to probe or protect refuse it
    with pytest.raises(RegistryLinkError) as info:
        _imageref.require_registry(_imageref.parse_image_reference(image), field='in_use_images[0]')
    assert 'in_use_images[0]' in info.value.msg and 'host' in info.value.msg


def test_underscore_host_with_port_is_refused():
    # "reg_example.com:5000/app": the ":" makes it a domain, which the reference grammar refuses
    with pytest.raises(RegistryLinkError):
        _imageref.parse_image_reference('reg_example.com:5000/app')


@pytest.mark.parametrize('pattern', ['[c-_]', 'team/[z-a]*'])
def test_bad_character_class_in_repository_glob_is_a_typed_error(pattern):
    with pytest.raises(RegistryLinkError) as info:
        _gc.glob_to_regex(pattern)
    assert 'repositories' in info.value.msg


# --------------------------------------------------------------------------- whole parameter sets, as the argspec hands them over

_names = st.one_of(text, st.sampled_from(['regcred', 'Bad_Name', '', 'a' * 254, 'team-a', '*', 'team-*', '[']))
_str_lists = st.one_of(st.none(), st.lists(_names, max_size=3))
_raw = st.one_of(scalars, json_values, text)


@FUZZ
@given(st.fixed_dictionaries({
    'name': _names, 'state': st.sampled_from(['present', 'absent']), 'namespaces': _str_lists,
    'namespace_selector': st.one_of(selectors, _raw), 'exclude_namespaces': _str_lists,
    'registries': st.one_of(st.just([]), st.lists(st.fixed_dictionaries({
        'server': st.one_of(st.none(), _hosts), 'username': _raw, 'password': _raw, 'auth': _raw,
        'email': st.one_of(st.none(), text), 'provider': st.one_of(st.none(), st.sampled_from(['ecr', 'acme', ''])),
        'region': st.one_of(st.none(), text), 'registry_id': st.one_of(st.none(), text),
        'aws_profile': st.none(), 'role_arn': st.one_of(st.none(), text), 'endpoint_url': st.one_of(st.none(), text),
    }), max_size=2)),
    'refresh_before': st.one_of(st.none(), durations), 'docker_config': st.one_of(st.none(), docker_configs, text),
    'merge': st.booleans(), 'type': st.sampled_from(['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg']),
    'labels': st.dictionaries(text, st.one_of(text, scalars), max_size=2),
    'annotations': st.dictionaries(text, st.one_of(text, scalars), max_size=2),
    'force': st.booleans(), 'max_concurrent_writes': st.integers(min_value=-2, max_value=64),
}))
def test_registry_secret_params_only_typed_errors(params):
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_secret import validate_params
    _typed_only(validate_params, params)


@FUZZ
@given(st.fixed_dictionaries({
    'pull_secrets': st.one_of(st.none(), st.lists(st.one_of(_names, _raw, st.dictionaries(text, _raw, max_size=2)),
                                                  max_size=3)),
    'service_accounts': _str_lists, 'service_account_selector': st.one_of(selectors, _raw),
    'state': st.sampled_from(['present', 'absent']), 'purge': st.booleans(),
    'annotations': st.one_of(st.none(), st.dictionaries(text, st.one_of(text, scalars), max_size=2)),
    'prune_missing': st.booleans(), 'on_missing_secret': st.sampled_from(['warn', 'fail']),
    'create_service_accounts': st.booleans(), 'restart_stuck_pods': st.booleans(),
    'namespaces': _str_lists, 'namespace_selector': st.one_of(selectors, _raw), 'exclude_namespaces': _str_lists,
    'max_concurrent_writes': st.integers(min_value=-2, max_value=64),
}))
def test_sa_pull_secret_params_only_typed_errors(params):
    from ansible_collections.registrylink.k8s.plugins.module_utils._sa_pull_secret import validate_params
    _typed_only(validate_params, params)


@FUZZ
@given(st.fixed_dictionaries({
    'url': st.one_of(text, st.sampled_from(['https://oidc.example.com/id/X', 'https://OIDC.example.com/'])),
    'state': st.sampled_from(['present', 'absent']),
    'client_ids': st.one_of(st.none(), st.lists(st.one_of(text, scalars), max_size=3)),
    'thumbprints': st.one_of(st.none(), st.lists(st.one_of(text, st.just('a' * 40)), max_size=6)),
    'tags': st.dictionaries(text, st.one_of(text, scalars), max_size=3),
    'purge_client_ids': st.booleans(), 'purge_tags': st.booleans(), 'force': st.booleans(),
}))
def test_iam_oidc_provider_params_only_typed_errors(params):
    _typed_only(oidc.validate_params, params)
