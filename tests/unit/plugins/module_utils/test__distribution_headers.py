# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WWW-Authenticate parsing (RFC 7235 section 2.1 / 4.1): real-world challenges and property tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._headers import (
    Challenge, format_challenge, parse_www_authenticate, pick_challenge,
)


# Challenges as registries send them (registry-protocol.md §1.8, §1.9, §2).
REAL_WORLD = [
    # Docker Hub (distribution token.md example)
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
     [Challenge('bearer', {'realm': 'https://auth.docker.io/token', 'service': 'registry.docker.io',
                           'scope': 'repository:samalba/my-app:pull,push'}, None)]),
    # Docker Hub for a missing/private repo: error=insufficient_scope (distribution#2376)
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
     'scope="repository:library/alpine2:pull",error="insufficient_scope"',
     [Challenge('bearer', {'realm': 'https://auth.docker.io/token', 'service': 'registry.docker.io',
                           'scope': 'repository:library/alpine2:pull', 'error': 'insufficient_scope'}, None)]),
    # GAR: no service parameter at all
    ('Bearer realm="https://us-docker.pkg.dev/v2/token"',
     [Challenge('bearer', {'realm': 'https://us-docker.pkg.dev/v2/token'}, None)]),
    # ECR: Basic with a realm and a service
    ('Basic realm="https://111122223333.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"',
     [Challenge('basic', {'realm': 'https://111122223333.dkr.ecr.eu-west-1.amazonaws.com/',
                          'service': 'ecr.amazonaws.com'}, None)]),
    # Artifactory in some modes; distribution htpasswd
    ('Basic realm="Artifactory Realm"', [Challenge('basic', {'realm': 'Artifactory Realm'}, None)]),
    ('Basic realm="Registry Realm"', [Challenge('basic', {'realm': 'Registry Realm'}, None)]),
    # Harbor, GitLab, ACR
    ('Bearer realm="https://harbor.example.test/service/token",service="harbor-registry"',
     [Challenge('bearer', {'realm': 'https://harbor.example.test/service/token', 'service': 'harbor-registry'}, None)]),
    ('Bearer realm="https://gitlab.example.test/jwt/auth",service="container_registry"',
     [Challenge('bearer', {'realm': 'https://gitlab.example.test/jwt/auth', 'service': 'container_registry'}, None)]),
    ('Bearer realm="https://exampleregistry.azurecr.io/oauth2/token",service="exampleregistry.azurecr.io",'
     'scope="registry:catalog:*"',
     [Challenge('bearer', {'realm': 'https://exampleregistry.azurecr.io/oauth2/token',
                           'service': 'exampleregistry.azurecr.io', 'scope': 'registry:catalog:*'}, None)]),
    # lower-case scheme, spaces around '=' and after commas (BWS / OWS)
    ('bearer realm = "https://r.test/token" , service = r.test',
     [Challenge('bearer', {'realm': 'https://r.test/token', 'service': 'r.test'}, None)]),
    # several challenges in one header (RFC 7235 example, shape-wise)
    ('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
     [Challenge('newauth', {'realm': 'apps', 'type': '1', 'title': 'Login to "apps"'}, None),
      Challenge('basic', {'realm': 'simple'}, None)]),
    # token68 challenges next to a Bearer one
    ('Negotiate, Bearer realm="https://r.test/t"',
     [Challenge('negotiate', {}, None), Challenge('bearer', {'realm': 'https://r.test/t'}, None)]),
    ('Negotiate YIIBzgYGKwYBBQUCoIIBwjCCAb6g==, Basic realm="x"',
     [Challenge('negotiate', {}, 'YIIBzgYGKwYBBQUCoIIBwjCCAb6g=='), Challenge('basic', {'realm': 'x'}, None)]),
    # escaped backslash inside a quoted string
    ('Bearer realm="https://r.test/t", note="a\\\\b"',
     [Challenge('bearer', {'realm': 'https://r.test/t', 'note': 'a\\b'}, None)]),
    # two header lines (urllib3 joins them with ", ")
    (['Basic realm="one"', 'Bearer realm="https://r.test/t",service="s"'],
     [Challenge('basic', {'realm': 'one'}, None),
      Challenge('bearer', {'realm': 'https://r.test/t', 'service': 's'}, None)]),
    # a duplicated parameter keeps the first value
    ('Bearer realm="a", realm="b"', [Challenge('bearer', {'realm': 'a'}, None)]),
    ('', []),
    (None, []),
]


@pytest.mark.parametrize('header, expected', REAL_WORLD)
def test_real_world_challenges(header, expected):
    assert parse_www_authenticate(header) == expected


@pytest.mark.parametrize('header, scheme', [
    ('Negotiate, Basic realm="x", Bearer realm="https://r/t"', 'bearer'),
    ('Basic realm="x"', 'basic'),
    ('Negotiate abc==', None),
    ('', None),
])
def test_pick_prefers_bearer_then_basic(header, scheme):
    ch = pick_challenge(parse_www_authenticate(header))
    assert (ch.scheme if ch else None) == scheme


@pytest.mark.parametrize('header', [
    'Bearer realm="unterminated',
    '"just a string"',
    ',,,',
    '=,=,=',
    'Bearer ,,, realm="x"',
    'Bearer realm=',
    'Bearer realm="x" garbage, Basic realm="y"',
    '\\\\\\',
])
def test_malformed_input_never_raises(header):
    result = parse_www_authenticate(header)
    assert isinstance(result, list)


def test_junk_after_value_does_not_swallow_next_challenge():
    result = parse_www_authenticate('Bearer realm="x" garbage, Basic realm="y"')
    assert [c.scheme for c in result][-1] == 'basic'
    assert result[-1].params == {'realm': 'y'}


# ---- property tests -------------------------------------------------------------------------------

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHAR, min_size=1, max_size=12)
# Any printable value, including quotes, backslashes, commas, '=' and spaces.
values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40)
params = st.dictionaries(tokens.map(str.lower), values, max_size=5)
challenges = st.tuples(tokens, params)


@settings(max_examples=300, deadline=None)
@given(challenges)
def test_roundtrip_single_challenge(challenge):
    scheme, prm = challenge
    parsed = parse_www_authenticate(format_challenge(scheme, prm))
    assert parsed == [Challenge(scheme.lower(), prm, None)]


@settings(max_examples=200, deadline=None)
@given(st.lists(challenges, min_size=1, max_size=4), st.sampled_from([', ', ',', ' , ', ',\t']))
def test_roundtrip_several_challenges_in_one_header(chs, sep):
    header = sep.join(format_challenge(scheme, prm) for scheme, prm in chs)
    parsed = parse_www_authenticate(header)
    assert parsed == [Challenge(scheme.lower(), prm, None) for scheme, prm in chs]


@settings(max_examples=200, deadline=None)
@given(st.lists(challenges, min_size=1, max_size=3))
def test_roundtrip_several_header_lines(chs):
    lines = [format_challenge(scheme, prm) for scheme, prm in chs]
    assert parse_www_authenticate(lines) == [Challenge(s.lower(), p, None) for s, p in chs]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text):
    for ch in parse_www_authenticate(text):
        assert ch.scheme == ch.scheme.lower()
        assert all(k == k.lower() for k in ch.params)


@settings(max_examples=200, deadline=None)
@given(tokens, values)
def test_scheme_case_is_ignored(scheme, realm):
    upper = parse_www_authenticate(format_challenge(scheme.upper(), {'realm': realm}))
    lower = parse_www_authenticate(format_challenge(scheme.lower(), {'realm': realm}))
    assert upper == lower
