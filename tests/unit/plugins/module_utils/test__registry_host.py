# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the registry host rules (_registry_host.py): the three spellings of a registry
(the Secret key, the API host, the host images are compared by), parsing that refuses and the
kubelet rewrites that warn, and the vendor host patterns. The Secret key cases live with the
docker config tests (test__dockerconfig.py) and the kubelet model (test__kubelet.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import (
    DOCKER_HUB_ALIASES, DOCKER_HUB_KEY, DOCKER_HUB_NEVER_MATCHED, ParsedServer, api_host, ecr_host, image_host,
    is_ecr_host, kubelet_rewrites, parse_ecr_host, parse_server, same_secret_key, secret_key, split_server,
)


# ------------------------------------------------------------------------------------------------ the API host


@pytest.mark.parametrize('given, expected', [
    ('reg.example.test', (None, 'reg.example.test')),
    ('reg.example.test:5000', (None, 'reg.example.test:5000')),
    ('https://reg.example.test:5000/v2/', ('https', 'reg.example.test:5000')),
    ('http://10.0.0.5:5000/v2/', ('http', '10.0.0.5:5000')),
    ('harbor.example.test/team-a', (None, 'harbor.example.test')),
    ('docker.io', (None, 'registry-1.docker.io')),
    ('https://index.docker.io/v1/', ('https', 'registry-1.docker.io')),
    ('index.docker.io', (None, 'registry-1.docker.io')),
    ('Reg.Example.Test', (None, 'reg.example.test')),
    ('[2001:db8::10]:5000', (None, '[2001:db8::10]:5000')),
])
def test_api_host(given, expected):
    assert api_host(given) == expected


@pytest.mark.parametrize('given', ['', 'ftp://reg.example.test', 'https://user:pw@reg.example.test'])
def test_api_host_rejects(given):
    with pytest.raises(RegistryError) as exc:
        api_host(given)
    assert exc.value.category == 'invalid_request'
    assert 'pw' not in str(exc.value) or given == ''

# ------------------------------------------------------------------------------------------------ image comparison


@pytest.mark.parametrize('host, expected', [
    ('REG.example.com:5000', 'reg.example.com:5000'),
    ('https://reg.example.com/', 'reg.example.com'),
    ('reg.example.com:443', 'reg.example.com'),
    ('index.docker.io', 'docker.io'),
    ('registry-1.docker.io', 'docker.io'),
])
def test_image_host(host, expected):
    assert image_host(host) == expected

# ------------------------------------------------------------------------------------------------ one Docker Hub table


@pytest.mark.parametrize('alias', DOCKER_HUB_ALIASES)
def test_every_docker_hub_alias_has_the_three_spellings(alias):
    assert secret_key(alias)[0] == DOCKER_HUB_KEY
    assert api_host(alias) == (None, 'registry-1.docker.io')
    assert image_host(alias) == 'docker.io'


def test_hosts_the_kubelet_never_matches_are_rewritten_with_a_warning():
    for host in DOCKER_HUB_NEVER_MATCHED:
        key, warnings = secret_key(host + '/team')
        assert key == 'docker.io/team' and any('never uses a key spelled that way' in w for w in warnings)


# ------------------------------------------------------------------------------------------------ parse, then rewrite


def test_parse_server_splits_without_rewriting():
    assert parse_server(' HTTPS://Reg.Example.Test:5000/V2/Team ') == ParsedServer(
        'HTTPS://Reg.Example.Test:5000/V2/Team', 'Reg.Example.Test', '5000', '/V2/Team', True)


@pytest.mark.parametrize('server', ['', 'ftp://reg.example.test', 'reg.example.test?x', 'a..b', 'reg:0', 'reg/UP/../x y'])
def test_parse_server_refuses_what_can_never_be_a_key(server):
    with pytest.raises(ValidationError) as exc:
        parse_server(server, field='registries[0].server')
    assert exc.value.field == 'registries[0].server'


def test_kubelet_rewrites_warn_for_each_change():
    key, warnings = kubelet_rewrites(parse_server(' Reg.Example.Test/v2/Team '))
    assert key == 'reg.example.test/team'
    assert len(warnings) == 4  # whitespace, host case, path case, /v2/ prefix


def test_same_secret_key_falls_back_to_the_spelling():
    assert same_secret_key('https://index.docker.io/v1/') == DOCKER_HUB_KEY
    assert same_secret_key('not a key') == 'not a key'


def test_split_server_is_lenient():
    assert split_server('https://reg:5000/a/b') == ('https', 'reg:5000', '/a/b')
    assert split_server('reg') == ('', 'reg', '')


# ------------------------------------------------------------------------------------------------ vendor hosts


@pytest.mark.parametrize('host, parsed', [
    ('111122223333.dkr.ecr.eu-west-1.amazonaws.com', ('111122223333', 'eu-west-1')),
    ('111122223333.dkr.ecr-fips.us-east-1.amazonaws.com', ('111122223333', 'us-east-1')),
    ('111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn', ('111122223333', 'cn-north-1')),
    ('111122223333.dkr.ecr.eu-west-1.amazonaws.com:443', None),
    ('11112222333.dkr.ecr.eu-west-1.amazonaws.com', None),
    ('registry.example.test', None),
])
def test_one_ecr_pattern(host, parsed):
    assert parse_ecr_host(host) == parsed
    assert is_ecr_host(host) is (parsed is not None)
    assert is_ecr_host(host, allow_port=True) is (parsed is not None or host.endswith(':443'))


def test_ecr_host_round_trips():
    for region in ('eu-west-1', 'cn-northwest-1'):
        assert parse_ecr_host(ecr_host('111122223333', region)) == ('111122223333', region)
