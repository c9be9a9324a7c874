# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image reference normalisation, mirroring distribution/reference normalize_test.go and
the kubelet's pkg/util/parsers/parsers_test.go."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import (
    ImageRef, format_reference, is_valid_tag, parse_image_reference,
)

SHA = 'sha256:' + 'a' * 64


@pytest.mark.parametrize('image, registry, repository, tag, digest', [
    # familiar names -> docker.io (normalize.go splitDockerDomain)
    ('nginx', 'docker.io', 'library/nginx', 'latest', None),
    ('nginx:1.25', 'docker.io', 'library/nginx', '1.25', None),
    ('team/app:1.0', 'docker.io', 'team/app', '1.0', None),
    ('a/b/c', 'docker.io', 'a/b/c', 'latest', None),
    ('docker.io/nginx', 'docker.io', 'library/nginx', 'latest', None),
    ('docker.io/library/nginx', 'docker.io', 'library/nginx', 'latest', None),
    ('index.docker.io/team/app', 'docker.io', 'team/app', 'latest', None),
    ('index.docker.io/nginx', 'docker.io', 'library/nginx', 'latest', None),
    # registry-1.docker.io is NOT rewritten: it contains '.', so it is a domain of its own
    ('registry-1.docker.io/team/app', 'registry-1.docker.io', 'team/app', 'latest', None),
    # first component is a registry if it has '.' or ':' or is localhost, or has uppercase
    ('localhost/app', 'localhost', 'app', 'latest', None),
    ('localhost:5000/app', 'localhost:5000', 'app', 'latest', None),
    ('localhost', 'docker.io', 'library/localhost', 'latest', None),
    ('localhost:5000', 'docker.io', 'library/localhost', '5000', None),
    ('reg.example.test/team/app', 'reg.example.test', 'team/app', 'latest', None),
    ('reg:5000/app', 'reg:5000', 'app', 'latest', None),
    ('Reg/app', 'Reg', 'app', 'latest', None),
    ('10.0.0.5:5000/app:v1', '10.0.0.5:5000', 'app', 'v1', None),
    ('[2001:db8::10]:5000/app', '[2001:db8::10]:5000', 'app', 'latest', None),
    ('harbor.example.test/team-a/app', 'harbor.example.test', 'team-a/app', 'latest', None),
    ('reg.example.test/a__b/c-d--e.f_g', 'reg.example.test', 'a__b/c-d--e.f_g', 'latest', None),
    # digests: no default tag when a digest is present (parsers.go ParseImageName)
    ('nginx@' + SHA, 'docker.io', 'library/nginx', None, SHA),
    ('nginx:1.25@' + SHA, 'docker.io', 'library/nginx', '1.25', SHA),
    ('reg.example.test/app@sha512:' + 'b' * 128, 'reg.example.test', 'app', None, 'sha512:' + 'b' * 128),
])
def test_parse_normalises_like_docker(image, registry, repository, tag, digest):
    ref = parse_image_reference(image)
    assert ref == ImageRef(registry, repository, tag, digest, image)
    assert ref.name == registry + '/' + repository


@pytest.mark.parametrize('image', [
    '',
    ' nginx',
    'nginx\n',
    'Nginx',                       # uppercase repository
    'team/App',
    'reg.example.test/Team/app',
    'docker.io/Library/nginx',
    'nginx:',                      # empty tag
    'nginx:-bad',                  # tag must start with [\w]
    'nginx:' + 'a' * 129,          # tag too long
    'nginx@sha256:abc',            # digest too short
    'nginx@sha256:' + 'A' * 64,    # uppercase hex
    'nginx@md5:' + 'a' * 32,       # unsupported algorithm
    'a' * 64,                      # bare identifier
    'reg.example.test/' + 'a' * 256,  # repository path > 255 (registry + path may be longer)
    'reg.example.test//app',
    'reg.example.test/app/',
    '-reg.example.test/app',
    'reg.example.test/-app',
    'reg.example.test:port/app',
    'https://reg.example.test/app',
    'app name',
    'caf\u00e9',
    12,
    None,
])
def test_invalid_references_raise_validation_error(image):
    with pytest.raises(ValidationError) as exc:
        parse_image_reference(image)
    assert exc.value.field == 'image'


def test_error_names_the_field():
    with pytest.raises(ValidationError) as exc:
        parse_image_reference('Bad', field='images[0]')
    assert exc.value.field == 'images[0]'
    assert 'lowercase' in exc.value.msg


@pytest.mark.parametrize('image, full, familiar', [
    ('nginx', 'docker.io/library/nginx:latest', 'nginx:latest'),
    ('team/app:1.0', 'docker.io/team/app:1.0', 'team/app:1.0'),
    ('docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'),
    ('nginx@' + SHA, 'docker.io/library/nginx@' + SHA, 'nginx@' + SHA),
    ('reg.example.test:5000/x:1@' + SHA, 'reg.example.test:5000/x:1@' + SHA, 'reg.example.test:5000/x:1@' + SHA),
])
def test_format_reference(image, full, familiar):
    ref = parse_image_reference(image)
    assert format_reference(ref) == full
    assert format_reference(ref, familiar=True) == familiar
    assert format_reference(image) == full


def test_is_valid_tag():
    assert is_valid_tag('v1.2.3-rc_1')
    assert not is_valid_tag('.hidden')
    assert not is_valid_tag('t\u00e9')
    assert not is_valid_tag(None)


_component = st.from_regex(r'\A[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z', fullmatch=True).filter(lambda s: len(s) < 40)
_domain = st.sampled_from(['', 'reg.example.test/', 'reg.example.test:5000/', 'localhost/', 'docker.io/',
                           'index.docker.io/', '10.0.0.5:5000/'])
_tag = st.one_of(st.none(), st.from_regex(r'\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z', fullmatch=True))
_digest = st.one_of(st.none(), st.text('0123456789abcdef', min_size=64, max_size=64).map(lambda h: 'sha256:' + h))


@given(_domain, st.lists(_component, min_size=1, max_size=3), _tag, _digest)
def test_property_format_parse_round_trip(domain, comps, tag, digest):
    image = domain + '/'.join(comps) + (':' + tag if tag else '') + ('@' + digest if digest else '')
    if len(comps) > 1 and '.' in comps[0] and domain in ('', 'docker.io/', 'index.docker.io/'):
        # a first component with '.' is a registry (splitDockerDomain): without an explicit
        # registry it must be a valid host, and docker's familiar form of docker.io/a.b/c
        # (FamiliarName -> a.b/c) is ambiguous in exactly that case
        if domain == '':
            return
        familiar_ok = False
    else:
        familiar_ok = True
    ref = parse_image_reference(image)
    again = parse_image_reference(format_reference(ref))
    assert again[:4] == ref[:4]
    # normalising twice is a no-op, and the familiar form maps back to the same name
    if familiar_ok:
        assert parse_image_reference(format_reference(ref, familiar=True))[:4] == ref[:4]
    assert ref.registry != 'index.docker.io'
    assert (ref.tag is None) == (digest is not None and tag is None)
