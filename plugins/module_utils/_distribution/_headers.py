# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parsers for the headers and strings of the distribution API. Private to this collection.

``WWW-Authenticate`` challenges (RFC 7235), ``Link`` (RFC 8288), ``Retry-After``, Docker Hub style
``ratelimit-*``, token scopes (``repository:<name>:<actions>``) and the claims of a JWT. Nothing
here raises on malformed input: what can be understood is returned. See
docs/reference/registry-protocol.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import email.utils
import json
import re
import time

from urllib.parse import urljoin

from ansible_collections.registrylink.k8s.plugins.module_utils._common import b64decode_lenient

Challenge = collections.namedtuple('Challenge', ['scheme', 'params', 'token68'])


_TCHAR = "!#$%&'*+-.^_`|~" + '0123456789' + 'abcdefghijklmnopqrstuvwxyz' + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
_TOKEN68_CHARS = '-._~+/' + '0123456789' + 'abcdefghijklmnopqrstuvwxyz' + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
_WS = ' \t'


class _Scanner(object):
    def __init__(self, text):
        self.text = text
        self.pos = 0

    def eof(self):
        return self.pos >= len(self.text)

    def peek(self):
        return self.text[self.pos] if self.pos < len(self.text) else ''

    def skip_ws(self):
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def skip_ows_commas(self):
        while self.pos < len(self.text) and self.text[self.pos] in _WS + ',':
            self.pos += 1

    def token(self, chars=_TCHAR):
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1
        return self.text[start:self.pos]

    def quoted(self):
        """Read a quoted-string (the opening quote is at pos); unterminated strings run to the end."""
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '\\' and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return ''.join(out)
            out.append(ch)
            self.pos += 1
        return ''.join(out)

    def skip_to_comma(self):
        while self.pos < len(self.text) and self.text[self.pos] != ',':
            if self.text[self.pos] == '"':
                self.quoted()
            else:
                self.pos += 1


def _looks_like_param(sc):
    """True when the scanner is at ``token BWS "="`` followed by a value (an auth-param), not at a new challenge."""
    save = sc.pos
    try:
        name = sc.token()
        if not name:
            return False
        sc.skip_ws()
        if sc.peek() != '=':
            return False
        sc.pos += 1
        # "token68" ends in "=" padding followed by "," or the end; a param has a value after "=".
        sc.skip_ws()
        return sc.peek() not in ('', ',', '=')
    finally:
        sc.pos = save


def parse_www_authenticate(value):
    """Parse one or more ``WWW-Authenticate`` header values into a list of ``Challenge``.

    ``value`` is a string or a list of strings (one per header line). Grammar per RFC 7235
    section 4.1 / 2.1: ``1#challenge``, ``challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]``,
    ``auth-param = token BWS "=" BWS ( token / quoted-string )``. Schemes and parameter names
    are lower-cased; values keep their case, quoted-pairs are unescaped. Parameter values may
    contain commas inside quotes (``scope="repository:x:pull,push"``). Malformed input never
    raises: what can be understood is returned, the rest is skipped.
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out.extend(parse_www_authenticate(item))
        return out
    sc = _Scanner(str(value))
    challenges = []
    while True:
        sc.skip_ows_commas()
        if sc.eof():
            break
        scheme = sc.token()
        if not scheme:
            # Garbage where a scheme should be: skip to the next comma.
            sc.pos += 1
            sc.skip_to_comma()
            continue
        params = collections.OrderedDict()
        token68 = None
        sc.skip_ws()
        if not sc.eof() and sc.peek() != ',':
            if _looks_like_param(sc):
                pass
            else:
                # token68: token68 chars then "=" padding, then the end or a comma.
                save = sc.pos
                t68 = sc.token(_TOKEN68_CHARS)
                pad = sc.token('=')
                sc.skip_ws()
                if t68 and (sc.eof() or sc.peek() == ','):
                    token68 = t68 + pad
                else:
                    sc.pos = save
                    sc.skip_to_comma()
        # auth-params, comma separated, until something that is not a param (the next challenge).
        while True:
            save = sc.pos
            sc.skip_ows_commas()
            if sc.eof():
                break
            if not _looks_like_param(sc):
                sc.pos = save
                break
            name = sc.token().lower()
            sc.skip_ws()
            sc.pos += 1  # '='
            sc.skip_ws()
            if sc.peek() == '"':
                val = sc.quoted()
            else:
                val = sc.token(_TCHAR + '/:@[]?=')
            # RFC 7235: each parameter name MUST only occur once per challenge; keep the first.
            if name not in params:
                params[name] = val
            sc.skip_ws()
            if not sc.eof() and sc.peek() != ',':
                # junk after a value: skip it
                sc.skip_to_comma()
        challenges.append(Challenge(scheme.lower(), dict(params), token68))
    return challenges


def format_challenge(scheme, params):
    """Render a challenge (for tests and fixtures): values always quoted, ``"`` and ``\\`` escaped."""
    parts = []
    for name, val in params.items():
        parts.append('%s="%s"' % (name, val.replace('\\', '\\\\').replace('"', '\\"')))
    return scheme + (' ' + ', '.join(parts) if parts else '')


def pick_challenge(challenges):
    """Choose the challenge to answer: Bearer first (token auth), then Basic; None when neither is offered."""
    for wanted in ('bearer', 'basic'):
        for ch in challenges:
            if ch.scheme == wanted:
                return ch
    return None


def parse_link_header(value):
    """Parse an RFC 8288 ``Link`` header into a list of ``(url, params)``; ``params['rel']`` is lower-cased.

    Commas inside ``<...>`` or quoted parameter values do not split links.
    """
    links = []
    if not value:
        return links
    text = str(value)
    pos = 0
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in _WS + ',':
            pos += 1
        if pos >= n:
            break
        if text[pos] != '<':
            # not a link-value: skip to the next comma outside quotes
            while pos < n and text[pos] != ',':
                pos += 1
            continue
        end = text.find('>', pos + 1)
        if end < 0:
            break
        url = text[pos + 1:end].strip()
        pos = end + 1
        params = {}
        while pos < n:
            while pos < n and text[pos] in _WS:
                pos += 1
            if pos >= n or text[pos] != ';':
                break
            pos += 1
            while pos < n and text[pos] in _WS:
                pos += 1
            start = pos
            while pos < n and text[pos] not in '=;,' + _WS:
                pos += 1
            name = text[start:pos].lower()
            while pos < n and text[pos] in _WS:
                pos += 1
            val = ''
            if pos < n and text[pos] == '=':
                pos += 1
                while pos < n and text[pos] in _WS:
                    pos += 1
                if pos < n and text[pos] == '"':
                    sc = _Scanner(text)
                    sc.pos = pos
                    val = sc.quoted()
                    pos = sc.pos
                else:
                    start = pos
                    while pos < n and text[pos] not in ';,' + _WS:
                        pos += 1
                    val = text[start:pos]
            if name:
                params.setdefault(name, val.lower() if name == 'rel' else val)
        while pos < n and text[pos] != ',':
            pos += 1
        links.append((url, params))
    return links


def next_link(value, request_url):
    """The absolute URL of the ``rel="next"`` link (resolved against ``request_url``), or None."""
    for url, params in parse_link_header(value):
        rels = (params.get('rel') or '').split()
        if 'next' in rels:
            return urljoin(request_url, url)
    return None


def parse_retry_after(value, now=None):
    """``Retry-After`` as seconds (float >= 0): delta-seconds or an HTTP-date. None when absent or unparsable."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if re.match(r'^\d+(\.\d+)?$', text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        import datetime
        when = when.replace(tzinfo=datetime.timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _parse_ratelimit_value(text):
    """``100;w=21600`` -> (100, 21600). Several comma-separated policies: the first number wins."""
    if text is None:
        return None, None
    first = str(text).split(',', maxsplit=1)[0]
    parts = [p.strip() for p in first.split(';')]
    number = None
    window = None
    try:
        number = int(parts[0])
    except (TypeError, ValueError):
        return None, None
    for part in parts[1:]:
        if part.lower().startswith('w='):
            try:
                window = int(part[2:])
            except ValueError:
                window = None
    return number, window


def parse_rate_limit(headers):
    """Rate-limit facts from response headers (Docker Hub style ``ratelimit-limit: 100;w=21600``).

    Returns ``None`` when the registry sent no ``ratelimit-*`` headers (unknown or unlimited, never 0),
    else a dict ``limit``, ``remaining``, ``window_seconds``, ``source`` (``docker-ratelimit-source``),
    ``reset`` (``ratelimit-reset`` as sent).
    """
    h = lower_headers(headers)
    if 'ratelimit-limit' not in h and 'ratelimit-remaining' not in h:
        return None
    limit, window = _parse_ratelimit_value(h.get('ratelimit-limit'))
    remaining, window2 = _parse_ratelimit_value(h.get('ratelimit-remaining'))
    result = {
        'limit': limit,
        'remaining': remaining,
        'window_seconds': window if window is not None else window2,
    }
    if h.get('docker-ratelimit-source'):
        result['source'] = h['docker-ratelimit-source'].strip()
    if h.get('ratelimit-reset'):
        result['reset'] = h['ratelimit-reset'].strip()
    return result


def decode_jwt_claims(token):
    """Decode the claims of a JWT without verifying its signature; None when ``token`` is not JWT-shaped.

    Used only to read ``exp`` / ``access`` for reporting (registry-protocol.md §1.9). The claims
    of a pull token (iss, sub, aud, exp, access) are not secret; the token itself is.
    """
    if not isinstance(token, str):
        return None
    parts = token.strip().split('.')
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return None
    try:
        header = json.loads(b64decode_lenient(parts[0]).decode('utf-8'))
        claims = json.loads(b64decode_lenient(parts[1]).decode('utf-8'))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return claims


def format_scope(resource_type, name, actions):
    """``repository:team/app:pull,delete`` (registry-protocol.md §1.9 scope grammar)."""
    if isinstance(actions, (list, tuple)):
        actions = ','.join(actions)
    return '%s:%s:%s' % (resource_type, name, actions)


def parse_scope(scope):
    """Split a resourcescope into ``(type, name, [actions])``: type up to the first ``:``, actions after the last.

    The name may itself contain ``:`` (a host with a port), so a naive split is wrong.
    """
    first = scope.find(':')
    last = scope.rfind(':')
    if first < 0 or last == first:
        return None
    return scope[:first], scope[first + 1:last], [a for a in scope[last + 1:].split(',') if a]


def merge_scopes(*scopes):
    """Merge resourcescope strings (space-separated lists allowed), joining actions per (type, name)."""
    merged = collections.OrderedDict()
    for scope_list in scopes:
        if not scope_list:
            continue
        for scope in str(scope_list).split():
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            key = (parsed[0], parsed[1])
            actions = merged.setdefault(key, [])
            for action in parsed[2]:
                if action not in actions:
                    actions.append(action)
    return ' '.join(format_scope(t, n, a) for (t, n), a in merged.items())


def lower_headers(headers):
    if headers is None:
        return {}
    return dict((str(k).lower(), v) for k, v in headers.items())


def header_values(headers, name):
    """The value of a header as a one-item list ([] when absent).

    urllib3 joins repeated header lines with ", ", which both the challenge and the Link parsers
    accept (RFC 7230 3.2.2), so a list of one joined value is all there is to pass on.
    """
    if headers is None:
        return []
    value = headers.get(name)
    return [] if value is None else [value]
