# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Go ``encoding/json`` as the kubelet uses it on pull secrets. Private to this collection.

Pure: bytes in, data out, no recursion (any nesting depth is safe). Python's ``json`` module
disagrees with Go on exactly the inputs people get wrong, so the kubelet model reads a
Secret's payload with this port instead:

* syntax (``checkValid``): the whole input is checked first; a UTF-8 BOM, trailing data,
  ``NaN``/``Infinity``, a control character in a string or more than 10000 nested levels
  make ``json.Unmarshal`` fail;
* strings (``unquote``): every invalid UTF-8 byte becomes U+FFFD (one per byte), a lone or
  mismatched UTF-16 surrogate escape becomes U+FFFD;
* objects keep every member in order, duplicates included (``JSONObject``), because the
  struct decoding below depends on them;
* ``go_unmarshal_docker_config``: ``json.Unmarshal`` into the kubelet's ``DockerConfigJSON``
  (``.dockerconfigjson``) or ``DockerConfig`` (``.dockercfg``) with
  ``DockerConfigEntry.UnmarshalJSON`` (pkg/credentialprovider/config.go): struct fields
  match exactly or case-insensitively with Go's folding (ASCII letters, and U+017F / U+212A
  which fold to ``S`` / ``K``; ``ß`` is not ``SS``), the last member wins, a ``null`` leaves a
  string field alone and empties a map field, a field given twice as an object is merged
  into the same map, and any type error fails the whole decode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

MAX_DEPTH = 10000  # encoding/json scanner maxNestingDepth

_WS = frozenset(b' \t\r\n')
_NUMBER_RE = re.compile(br'-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')
_STRING_RE = re.compile(br'"((?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*)"')
_ESCAPES = {ord('"'): '"', ord('\\'): '\\', ord('/'): '/', ord('b'): '\b', ord('f'): '\f', ord('n'): '\n',
            ord('r'): '\r', ord('t'): '\t'}
# non-ASCII runes whose Go fold (smallest rune of the fold orbit) is an ASCII letter
_NON_ASCII_FOLD = {'\u017f': 'S', '\u212a': 'K'}


class GoJSONError(ValueError):
    """Where Go's ``json.Unmarshal`` returns an error. The message never quotes the input."""


class JSONObject(list):
    """A JSON object as Go's decoder sees it: the ``(name, value)`` members in order,
    duplicates kept."""


class JSONNumber(str):
    """A JSON number, kept as its text (the kubelet's types never hold numbers)."""


def go_fold(name):
    """encoding/json ``foldName`` for comparing with ASCII field names: ASCII letters fold to
    upper case, U+017F to ``S`` and U+212A to ``K``; every other rune stays itself (its fold
    orbit holds no ASCII letter, so it can never match an ASCII field name)."""
    return ''.join(ch.upper() if ch < '\x80' else _NON_ASCII_FOLD.get(ch, ch) for ch in name)


def go_utf8(data):
    """``string`` of bytes as Go's JSON decoder builds it: each byte that does not start a
    valid UTF-8 sequence becomes one U+FFFD (Python's ``replace`` handler would merge them)."""
    out = []
    while data:
        try:
            out.append(data.decode('utf-8'))
            break
        except UnicodeDecodeError as exc:
            out.append(data[:exc.start].decode('utf-8'))
            out.append('\ufffd')
            data = data[exc.start + 1:]
    return ''.join(out)


def _unquote(raw):
    if b'\\' not in raw:
        return go_utf8(raw)
    out = []
    i, n = 0, len(raw)
    while i < n:
        j = raw.find(b'\\', i)
        if j < 0:
            out.append(go_utf8(raw[i:]))
            break
        out.append(go_utf8(raw[i:j]))
        esc = raw[j + 1]
        if esc != ord('u'):
            out.append(_ESCAPES[esc])
            i = j + 2
            continue
        rune = int(raw[j + 2:j + 6], 16)
        i = j + 6
        if 0xD800 <= rune < 0xE000:
            if rune < 0xDC00 and raw[i:i + 2] == b'\\u':
                low = int(raw[i + 2:i + 6], 16)
                if 0xDC00 <= low < 0xE000:
                    out.append(chr(0x10000 + ((rune - 0xD800) << 10) + (low - 0xDC00)))
                    i += 6
                    continue
            out.append('\ufffd')
            continue
        out.append(chr(rune))
    return ''.join(out)


def _skip_ws(data, pos):
    n = len(data)
    while pos < n and data[pos] in _WS:
        pos += 1
    return pos


def _char(data, pos):
    if pos >= len(data):
        return 'unexpected end of JSON input'
    return 'invalid character %r at offset %d' % (chr(data[pos]) if data[pos] < 0x80 else '\\x%02x' % data[pos],
                                                  pos + 1)


def _string(data, pos):
    m = _STRING_RE.match(data, pos)
    if not m:
        end = pos + 1
        while end < len(data) and data[end] != ord('"'):
            end += 2 if data[end] == ord('\\') else 1
        raise GoJSONError('invalid string literal at offset %d' % (pos + 1) if end < len(data)
                          else 'unexpected end of JSON input')
    return _unquote(m.group(1)), m.end()


def _member_name(data, pos):
    """A member name, the ':' and the whitespace after it; returns (name, pos of the value)."""
    if pos >= len(data) or data[pos] != ord('"'):
        raise GoJSONError(_char(data, pos) + ' looking for beginning of object key string')
    name, pos = _string(data, pos)
    pos = _skip_ws(data, pos)
    if pos >= len(data) or data[pos] != ord(':'):
        raise GoJSONError(_char(data, pos) + ' after object key')
    return name, _skip_ws(data, pos + 1)


def _scalar(data, pos):
    c = data[pos]
    if c == ord('"'):
        return _string(data, pos)
    if c == ord('-') or ord('0') <= c <= ord('9'):
        m = _NUMBER_RE.match(data, pos)
        if not m:
            raise GoJSONError(_char(data, pos + 1) + ' in numeric literal')
        return JSONNumber(m.group().decode('ascii')), m.end()
    for word, value in ((b'true', True), (b'false', False), (b'null', None)):
        if data.startswith(word, pos):
            return value, pos + len(word)
        if word.startswith(data[pos:pos + 1]):
            raise GoJSONError('invalid literal at offset %d' % (pos + 1) if len(data) > pos + len(word)
                              else 'unexpected end of JSON input')
    raise GoJSONError(_char(data, pos) + ' looking for beginning of value')


def go_json_loads(data):
    """Parse ``data`` (bytes) as Go's ``json.Unmarshal`` does before it fills any value.

    Returns the value: ``JSONObject`` (list of ``(name, value)``), ``list``, ``str``,
    ``JSONNumber``, ``bool`` or ``None``. Raises ``GoJSONError`` for anything Go's scanner
    rejects (including more than ``MAX_DEPTH`` nested arrays/objects). Never recurses.
    """
    if isinstance(data, str):
        data = data.encode('utf-8', 'surrogateescape')
    n = len(data)
    pos = _skip_ws(data, 0)
    stack = []  # [container, pending member name]
    while True:
        if pos >= n:
            raise GoJSONError('unexpected end of JSON input')
        c = data[pos]
        if c in (ord('{'), ord('[')):
            if len(stack) >= MAX_DEPTH:
                raise GoJSONError('exceeded max depth')
            container = JSONObject() if c == ord('{') else []
            pos = _skip_ws(data, pos + 1)
            if pos < n and data[pos] == (ord('}') if c == ord('{') else ord(']')):
                value, pos = container, pos + 1
            else:
                stack.append([container, None])
                if c == ord('{'):
                    stack[-1][1], pos = _member_name(data, pos)
                continue
        else:
            value, pos = _scalar(data, pos)
        # a complete value: hand it to its container, closing containers as they end
        while True:
            if not stack:
                pos = _skip_ws(data, pos)
                if pos != n:
                    raise GoJSONError(_char(data, pos) + ' after top-level value')
                return value
            container, name = stack[-1]
            is_object = isinstance(container, JSONObject)
            container.append((name, value) if is_object else value)
            pos = _skip_ws(data, pos)
            if pos >= n:
                raise GoJSONError('unexpected end of JSON input')
            if data[pos] == ord(','):
                pos = _skip_ws(data, pos + 1)
                if is_object:
                    stack[-1][1], pos = _member_name(data, pos)
                break
            if data[pos] == (ord('}') if is_object else ord(']')):
                stack.pop()
                value, pos = container, pos + 1
                continue
            raise GoJSONError(_char(data, pos) + (' after object key:value pair' if is_object
                                                  else ' after array element'))


def _kind(value):
    if isinstance(value, JSONObject):
        return 'object'
    if isinstance(value, list):
        return 'array'
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, JSONNumber):
        return 'number'
    return 'string'


def _entry(loc, value, decode_auth):
    """``DockerConfigEntry.UnmarshalJSON``: (username, password) or raises GoJSONError. A
    ``null`` entry is an entry with empty credentials."""
    if value is None:
        return '', ''
    if not isinstance(value, JSONObject):
        raise GoJSONError('json: cannot unmarshal %s into Go value of type credentialprovider.dockerConfigEntryWithAuth'
                          % _kind(value))
    fields = {'USERNAME': '', 'PASSWORD': '', 'EMAIL': '', 'AUTH': ''}
    error = None
    for name, item in value:
        folded = go_fold(name)
        if folded not in fields or item is None:
            continue
        if isinstance(item, str) and not isinstance(item, JSONNumber):
            fields[folded] = item
        elif error is None:
            error = 'json: cannot unmarshal %s into Go struct field dockerConfigEntryWithAuth.%s of type string' % (
                _kind(item), folded.lower())
    if error:
        raise GoJSONError(error)
    if not fields['AUTH']:
        return fields['USERNAME'], fields['PASSWORD']
    try:
        return decode_auth(fields['AUTH'])
    except ValueError as exc:
        raise GoJSONError('entry %r: auth field: %s' % (loc, exc))


def _entries_into(target, value, decode_auth):
    # every occurrence is decoded (and may fail) before a later duplicate replaces it
    for loc, item in value:
        target[loc] = _entry(loc, item, decode_auth)


def go_unmarshal_docker_config(payload, legacy, decode_auth):
    """``json.Unmarshal`` of a pull secret's payload into the kubelet's types.

    Args: ``payload`` (bytes), ``legacy`` (True: ``.dockercfg`` into ``DockerConfig``, the
    flat map; False: ``.dockerconfigjson`` into ``DockerConfigJSON``, the ``auths`` form),
    ``decode_auth`` (``decodeDockerConfigFieldAuth``: a non-empty ``auth`` string ->
    ``(username, password)``, or ValueError; it runs for every occurrence of an entry, as
    ``UnmarshalJSON`` does, so a bad ``auth`` fails even if a later duplicate replaces it).
    Returns: dict ``{config key: (username, password)}``.
    Raises: ``GoJSONError`` when Go's ``json.Unmarshal`` returns an error (then
    ``MakeDockerKeyring`` fails and the kubelet tries no credentials at all).
    """
    doc = go_json_loads(payload)
    entries = {}
    if doc is None:
        return entries
    target = 'DockerConfig' if legacy else 'DockerConfigJSON'
    if not isinstance(doc, JSONObject):
        raise GoJSONError('json: cannot unmarshal %s into Go value of type credentialprovider.%s' % (_kind(doc), target))
    if legacy:
        _entries_into(entries, doc, decode_auth)
        return entries
    error = None
    auths = None  # a nil map until the first "auths" object
    for name, value in doc:
        folded = go_fold(name)
        if folded == 'AUTHS':
            if value is None:
                auths = None
            elif isinstance(value, JSONObject):
                auths = {} if auths is None else auths
                _entries_into(auths, value, decode_auth)
            elif error is None:
                error = 'json: cannot unmarshal %s into Go struct field DockerConfigJSON.auths' % _kind(value)
        elif folded == 'HTTPHEADERS' and value is not None:
            if not isinstance(value, JSONObject):
                error = error or 'json: cannot unmarshal %s into Go struct field DockerConfigJSON.HttpHeaders' % _kind(
                    value)
                continue
            for _header, item in value:
                if item is not None and (not isinstance(item, str) or isinstance(item, JSONNumber)):
                    error = error or ('json: cannot unmarshal %s into Go struct field DockerConfigJSON.HttpHeaders '
                                      'of type string' % _kind(item))
    if error:
        raise GoJSONError(error)
    return auths or entries
