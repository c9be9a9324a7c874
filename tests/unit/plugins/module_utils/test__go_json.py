# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_go_json: Go's encoding/json as the kubelet applies it to pull secrets.

Every expectation here was checked against the kubelet's own code through the oracle
(tests/oracle); these are the fast, readable rows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils._go_json import (
    MAX_DEPTH, GoJSONError, JSONObject, go_fold, go_json_loads, go_unmarshal_docker_config as _unmarshal, go_utf8,
)


def _auth(value):
    if value == 'bad':
        raise ValueError('not valid base64')
    return tuple(value.split(':', 1))


def go_unmarshal_docker_config(payload, legacy):
    return _unmarshal(payload, legacy, _auth)


@pytest.mark.parametrize('data', [
    b'', b'{', b'{"a":1', b'{"a":1}x', b'{"a":1}{}', b'\xef\xbb\xbf{}', b'NaN', b'{"a":NaN}', b'{"a":Infinity}',
    b'{"a":01}', b'{"a":1.}', b'{"a":-}', b'{"a":"\x01"}', b'{"a":"\\x"}', b"{'a':1}", b'{"a":1,}', b'[1,]',
    b'{"a" 1}', b'tru', b'nul', b'\x00', b'{"a":"\\u12"}',
])
def test_syntax_go_rejects(data):
    with pytest.raises(GoJSONError):
        go_json_loads(data)


def test_objects_keep_duplicates_in_order():
    doc = go_json_loads(b' {"a":1,"A":[true,null],"a":"x"} \n')
    assert isinstance(doc, JSONObject)
    assert doc == [('a', '1'), ('A', [True, None]), ('a', 'x')]


def test_strings_follow_go():
    assert go_json_loads(b'"\\ud83d\\ude00"') == '\U0001f600'
    assert go_json_loads(b'"\\ud800"') == '\ufffd'
    assert go_json_loads(b'"\\udc00x"') == '\ufffdx'
    assert go_json_loads(b'"\\ud83d\\u0041"') == '\ufffdA'
    assert go_json_loads(b'"u\xff"') == 'u\ufffd'
    # one U+FFFD per invalid byte, unlike Python's "replace"
    assert go_utf8(b'a\xe2\x82b') == 'a\ufffd\ufffdb'
    assert go_utf8(b'\xed\xa0\x80') == '\ufffd\ufffd\ufffd'


def test_depth_limit_and_no_recursion():
    ok = b'[' * MAX_DEPTH + b']' * MAX_DEPTH
    assert go_json_loads(ok) is not None
    with pytest.raises(GoJSONError):
        go_json_loads(b'[' * (MAX_DEPTH + 1) + b']' * (MAX_DEPTH + 1))


def test_fold_is_go_not_python():
    assert go_fold('u\u017fername') == 'USERNAME'
    assert go_fold('\u212aey') == 'KEY'
    assert go_fold('pa\u00dfword') != 'PASSWORD'       # Python's upper() would give PASSSWORD-like matches
    assert go_fold('\u0131auths') != 'IAUTHS'


@pytest.mark.parametrize('payload,entries', [
    (b'{"auths":{"r":{"username":"u","password":"p"}}}', {'r': ('u', 'p')}),
    (b'{"AUTHS":{"r":{"Username":"u","PASSWORD":"p","auth":"a:b"}}}', {'r': ('a', 'b')}),
    (b'{"auths":{"r":{"username":"u"}},"auths":{"s":{"username":"v"}}}', {'r': ('u', ''), 's': ('v', '')}),
    (b'{"auths":{"r":{"username":"u"}},"auths":null}', {}),
    (b'{"auths":{"r":{"username":"u","username":null}}}', {'r': ('u', '')}),
    (b'{"auths":{"r":null}}', {'r': ('', '')}),
    (b'{"auths":{"r":{"pa\xc3\x9fword":"p"}}}', {'r': ('', '')}),
    (b'null', {}),
    (b'{"x":' + b'[' * 5000 + b']' * 5000 + b',"auths":{}}', {}),
])
def test_unmarshal_docker_config(payload, entries):
    assert go_unmarshal_docker_config(payload, legacy=False) == entries


@pytest.mark.parametrize('payload', [
    b'[]', b'"x"', b'{"auths":[]}', b'{"auths":5,"auths":{}}', b'{"auths":{"r":"u:p"}}',
    b'{"auths":{"r":{"username":5,"Username":"u"}}}', b'{"HttpHeaders":{"a":1}}', b'{"auths":{"r":{"auth":{}}}}',
    b'{"auths":{"r":{"auth":"bad"},"r":{"username":"u"}}}',
])
def test_unmarshal_type_errors_fail(payload):
    with pytest.raises(GoJSONError):
        go_unmarshal_docker_config(payload, legacy=False)


def test_unmarshal_legacy_flat_map():
    assert go_unmarshal_docker_config(b'{"r":{"username":"a"},"r":{"password":"b"}}', legacy=True) == {
        'r': ('', 'b')}
    with pytest.raises(GoJSONError):
        go_unmarshal_docker_config(b'{"auths":1}', legacy=True)


@given(st.binary(max_size=64))
def test_never_raises_anything_but_gojsonerror(data):
    for legacy in (False, True):
        try:
            go_unmarshal_docker_config(data, legacy=legacy)
        except GoJSONError:
            pass
