# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ports of the Go standard library behaviour the kubelet relies on. Private to this collection.

Pure: data in, data out. Each function reproduces one Go function closely enough that the
kubelet model (``_kubelet.py``) and the Secret key rules (``_registry_host.py``) give the
same answer the kubelet does:

* ``go_fold`` / ``go_field``: ``encoding/json`` case-insensitive field matching;
* ``go_b64_auth`` / ``split_auth``: ``decodeDockerConfigFieldAuth`` (pkg/credentialprovider/config.go);
* ``go_url_parse``: the parts of ``net/url.Parse`` that decide ``Host`` and ``Path``, with the
  host rules of Go 1.25 (the toolchain Kubernetes v1.33.13 is built with: a ``[`` only opens an
  IPv6 address, checked with ``netip.ParseAddr``); ``is_ipv6_literal`` for callers;
* ``go_split_host_port``: ``net.SplitHostPort``;
* ``go_filepath_match``: ``path/filepath.Match`` (unix).

Errors are ``GoURLError`` (where Go returns an error from url.Parse / SplitHostPort) and
``BadPattern`` (``filepath.ErrBadPattern``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import ipaddress
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._go_json import go_fold as _go_json_fold

MISSING = object()


def go_fold(name):
    """encoding/json ``foldName`` for matching ASCII field names: ASCII letters fold to upper
    case, U+017F to ``S`` and U+212A to ``K``; any other rune stays itself (``ß`` is not ``SS``,
    ``ı`` is not ``I``: their fold orbits hold no ASCII letter). Same as ``_go_json.go_fold``."""
    return _go_json_fold(name)


def go_field(obj, name):
    """The value Go's ``json.Unmarshal`` stores in the struct field ``name``: keys match
    case-insensitively and a later key overwrites an earlier one. ``MISSING`` if absent."""
    want = go_fold(name)
    found = MISSING
    for key, value in obj.items():
        if isinstance(key, str) and go_fold(key) == want:
            found = value
    return found


def go_b64_auth(field):
    """``decodeDockerConfigFieldAuth`` (config.go) up to the split: padded -> StdEncoding,
    unpadded -> RawStdEncoding; Go's decoder skips ``\\r`` and ``\\n``; non-strict trailing bits.

    Returns the decoded bytes; raises ValueError with a secret-free message.
    """
    padded = field.strip().endswith('=')
    data = field.replace('\r', '').replace('\n', '')
    if not re.match(r'^[A-Za-z0-9+/]*={0,2}$', data):
        raise ValueError('not valid base64')
    if padded:
        if len(data) % 4:
            raise ValueError('not valid base64 (bad padding)')
    else:
        if '=' in data or len(data) % 4 == 1:
            raise ValueError('not valid base64')
        data += '=' * (-len(data) % 4)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError('not valid base64')


def split_auth(decoded):
    """``strings.SplitN(string(decoded), ":", 2)``; returns (user, password) as text
    (undecodable bytes kept with surrogateescape) or raises ValueError."""
    text = decoded.decode('utf-8', 'surrogateescape')
    if ':' not in text:
        raise ValueError("unable to find ':' in decoded auth field")
    user, password = text.split(':', 1)
    return user, password


class GoURLError(Exception):
    pass


_HEX = '0123456789abcdefABCDEF'


def _go_unescape(s, mode):
    """net/url ``unescape`` for the modes the kubelet hits ('host', 'zone', 'path', 'userinfo', 'fragment')."""
    out = bytearray()
    i = 0
    raw = s.encode('utf-8', 'surrogateescape')
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            if i + 2 >= len(raw) or chr(raw[i + 1]) not in _HEX or chr(raw[i + 2]) not in _HEX:
                raise GoURLError('invalid URL escape')
            if mode == 'host' and int(chr(raw[i + 1]), 16) < 8 and raw[i:i + 3] != b'%25':
                raise GoURLError('invalid URL escape in host')
            value = int(raw[i + 1:i + 3], 16)
            if mode == 'zone' and raw[i:i + 3] != b'%25' and value != 0x20 and _go_should_escape_host(value):
                raise GoURLError('invalid URL escape in zone')
            out.append(value)
            i += 3
            continue
        if mode in ('host', 'zone') and c < 0x80 and _go_should_escape_host(c):
            raise GoURLError('invalid character in host name')
        out.append(c)
        i += 1
    return out.decode('utf-8', 'surrogateescape')


def _go_should_escape_host(c):
    ch = chr(c)
    if ch.isalnum() and c < 0x80:
        return False
    return ch not in "-_.~!$&'()*+,;=:[]<>\""


def _go_valid_optional_port(port):
    if port == '':
        return True
    if port[0] != ':':
        return False
    return all('0' <= ch <= '9' for ch in port[1:])


def _go_is_ipv6(text):
    """``netip.ParseAddr(text)`` succeeds and is not IPv4: an IPv6 address, with an optional
    non-empty ``%zone``."""
    addr, sep, zone = text.partition('%')
    if sep and not zone:
        return False
    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return True


def _go_parse_host(host):
    """net/url ``parseHost`` (Go 1.25): a ``[`` anywhere but at the start is an error; a
    bracketed host must be an IPv6 address (not IPv4), its ``%25`` zone unescaped."""
    if host.rfind('[') > 0:
        raise GoURLError('invalid IP-literal')
    if host.startswith('['):
        i = host.rfind(']')
        if i < 0:
            raise GoURLError("missing ']' in host")
        colon_port = host[i + 1:]
        if not _go_valid_optional_port(colon_port):
            raise GoURLError('invalid port after host')
        hostname = host[1:i]
        zone = hostname.find('%25')
        if zone >= 0:
            hostname = _go_unescape(hostname[:zone], 'host') + _go_unescape(hostname[zone:], 'zone')
        else:
            hostname = _go_unescape(hostname, 'host')
        if not _go_is_ipv6(hostname):
            raise GoURLError('invalid host: not an IPv6 address')
        return '[' + hostname + ']' + colon_port
    i = host.rfind(':')
    if i != -1 and not _go_valid_optional_port(host[i:]):
        raise GoURLError('invalid port after host')
    return _go_unescape(host, 'host')


def is_ipv6_literal(text):
    """True when ``text`` (without brackets) may be written in brackets in a URL host: an IPv6
    address as Go's ``netip.ParseAddr`` reads it (IPv4, names and anything else are refused)."""
    return _go_is_ipv6(text)


def go_url_parse(raw):
    """The parts of net/url ``Parse`` that decide ``Host`` and ``Path`` for ``scheme://...``
    strings. Returns (host, path); raises GoURLError where Go returns an error."""
    rest, _sep, fragment = raw.partition('#')
    # url.Parse cuts the fragment off first: control characters only matter before it
    if any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in rest):
        raise GoURLError('invalid control character in URL')
    _go_unescape(fragment, 'fragment')
    m = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*):', rest)
    if not m:
        raise GoURLError('missing scheme')
    rest = rest[m.end():]
    if rest.endswith('?') and rest.count('?') == 1:
        rest = rest[:-1]
    else:
        rest = rest.split('?', 1)[0]
    if not rest.startswith('//'):
        return '', _go_unescape(rest, 'path')
    authority, path = rest[2:], ''
    if '/' in authority:
        i = authority.index('/')
        authority, path = authority[:i], authority[i:]
    at = authority.rfind('@')
    if at >= 0:
        userinfo = authority[:at]
        if any(not (ch.isalnum() and ord(ch) < 0x80) and ch not in "-._:~!$&'()*+,;=%@" for ch in userinfo):
            raise GoURLError('net/url: invalid userinfo')
        _go_unescape(userinfo, 'userinfo')
        authority = authority[at + 1:]
    host = _go_parse_host(authority)
    return host, _go_unescape(path, 'path')


def go_split_host_port(hostport):
    """net ``SplitHostPort``; raises GoURLError on the errors Go reports."""
    i = hostport.rfind(':')
    if i < 0:
        raise GoURLError('missing port in address')
    j = k = 0
    if hostport.startswith('['):
        end = hostport.find(']')
        if end < 0:
            raise GoURLError("missing ']' in address")
        if end + 1 == len(hostport):
            raise GoURLError('missing port in address')
        if end + 1 != i:
            if hostport[end + 1] == ':':
                raise GoURLError('too many colons in address')
            raise GoURLError('missing port in address')
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ':' in host:
            raise GoURLError('too many colons in address')
    if '[' in hostport[j:]:
        raise GoURLError("unexpected '[' in address")
    if ']' in hostport[k:]:
        raise GoURLError("unexpected ']' in address")
    return host, hostport[i + 1:]


class BadPattern(Exception):
    pass


def _go_scan_chunk(pattern):
    star = False
    while pattern and pattern[0] == '*':
        pattern = pattern[1:]
        star = True
    inrange = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == '\\':
            if i + 1 < len(pattern):
                i += 1
        elif ch == '[':
            inrange = True
        elif ch == ']':
            inrange = False
        elif ch == '*' and not inrange:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _go_get_esc(chunk):
    if not chunk or chunk[0] in '-]':
        raise BadPattern()
    if chunk[0] == '\\':
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern()
    r, nchunk = chunk[0], chunk[1:]
    if not nchunk:
        raise BadPattern()
    return r, nchunk


def _go_match_chunk(chunk, s):
    """filepath ``matchChunk``: returns (rest, ok); raises BadPattern."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        ch = chunk[0]
        if ch == '[':
            r = ''
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = False
            if chunk and chunk[0] == '^':
                negated = True
                chunk = chunk[1:]
            matched = False
            nrange = 0
            while True:
                if chunk and chunk[0] == ']' and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _go_get_esc(chunk)
                hi = lo
                if chunk[0] == '-':
                    hi, chunk = _go_get_esc(chunk[1:])
                if not failed and lo <= r <= hi:
                    matched = True
                nrange += 1
            if matched == negated:
                failed = True
        elif ch == '?':
            if not failed:
                if s[0] == '/':
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if ch == '\\':
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern()
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return '', False
    return s, True


def go_filepath_match(pattern, name):
    """path/filepath ``Match`` (unix): ``*``, ``?``, ``[...]`` with ``^`` negation and ``\\``
    escapes. Returns bool; raises BadPattern for a malformed pattern (Go's ErrBadPattern)."""
    while pattern:
        star, chunk, pattern = _go_scan_chunk(pattern)
        if star and chunk == '':
            return '/' not in name
        t, ok = _go_match_chunk(chunk, name)
        if ok and (len(t) == 0 or len(pattern) > 0):
            name = t
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != '/':
                t, ok = _go_match_chunk(chunk, name[i + 1:])
                if ok:
                    if len(pattern) == 0 and len(t) > 0:
                        i += 1
                        continue
                    name = t
                    found = True
                    break
                i += 1
            if found:
                continue
        while pattern:
            _star, chunk, pattern = _go_scan_chunk(pattern)
            _go_match_chunk(chunk, '')
        return False
    return len(name) == 0
