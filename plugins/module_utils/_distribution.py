# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OCI distribution (Docker registry v2) client over ``requests``. Private to this collection: not a public API.

What it does (facts and sources in ``../shared/reference/registry-protocol.md``):

* ``ping()`` ``GET /v2/`` and parse every ``WWW-Authenticate`` challenge (RFC 7235 grammar:
  several challenges per header, quoted strings with backslash escapes, token68);
* token exchange for one scope per call (``repository:<name>:pull``, ``...:pull,delete``,
  ``registry:catalog:*``), with HTTP Basic to the realm, tokens cached per scope until expiry;
* manifests by HEAD/GET with the four manifest media types in ``Accept``; blobs by GET;
* tags list / catalog pagination that follows ``Link`` verbatim (relative URLs resolved
  against the request URL) and synthesises ``last=`` only when there is no ``Link``;
* ``DELETE`` of a manifest by digest (digests are checked against ``^sha256:[0-9a-f]{64}$``
  after stripping whitespace and CR);
* retries with backoff on 429 / 5xx honouring ``Retry-After`` in exactly one place
  (``RegistryClient._send``);
* secure by default: credentials are never sent over plain HTTP, never to a token realm on
  another host, and ``Authorization`` is never carried over a redirect to another host,
  unless the caller allows it explicitly.

Every failure is a ``RegistryError(msg, category, hint)``; the categories are listed in
``CATEGORIES``. Nothing in a message, detail or trace is ever a password or a token.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import collections
import email.utils
import hashlib
import json
import random
import re
import socket
import ssl
import time
import warnings

from urllib.parse import quote, urlencode, urljoin, urlsplit, urlunsplit

try:
    import requests
    import requests.exceptions
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = exc

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryError

USER_AGENT = 'registrylink.k8s/0.1.0'

DOCKER_HUB_API_HOST = 'registry-1.docker.io'
DOCKER_HUB_ALIASES = ('docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com')

#: The manifest media types sent in ``Accept`` on every manifest HEAD/GET (registry-protocol.md §1.3).
#: Without the list types a registry may down-convert a manifest list to schema 1 or answer 404.
MANIFEST_MEDIA_TYPES = (
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
)
MANIFEST_ACCEPT = ', '.join(MANIFEST_MEDIA_TYPES)

DIGEST_RE = re.compile(r'^sha256:[0-9a-f]{64}$')
TAG_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$')
REPOSITORY_RE = re.compile(r'^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$')

#: Stable failure categories (shared with ``_probe.py``); each one has a default hint.
CATEGORIES = {
    'dns': 'The host name does not resolve. Check the registry name, /etc/hosts and the DNS servers used by this host.',
    'connect': 'The TCP connection failed (refused, reset or unreachable). Check the port, firewalls and proxy settings.',
    'timeout': 'The registry did not answer within the timeout. Check network reachability or raise timeout.',
    'tls_untrusted': 'The server certificate is not signed by a trusted CA. Pass the registry CA in ca_path; nodes need it'
                     ' too (containerd certs.d/<host>/ca.crt or hosts.toml). Credentials were not sent.',
    'tls_hostname': 'The server certificate does not name this host. Use the host name the certificate was issued for.',
    'tls_expired': 'The server certificate has expired or is not yet valid.',
    'tls_error': 'The TLS handshake failed. Check the TLS version and cipher support of the registry or proxy.',
    'plain_http': 'The registry (or its token realm) speaks plain HTTP. Credentials are never sent in clear unless'
                  ' allow_insecure_http is true; nodes need the registry configured as insecure as well.',
    'cross_host_realm': 'The registry asks for a token from a realm on another host. Credentials are only sent there'
                        ' when allow_cross_host_realm is true.',
    'not_a_registry': 'GET /v2/ did not answer like an OCI distribution registry. Check the host, port and path'
                      ' (registries cannot live under a context path).',
    'token_service_error': 'The token service (realm) failed or answered with something that is not a token.',
    'unauthorized': 'The registry rejected the credentials (or none were sent). Check username and password, and'
                    ' that the password has not been rotated.',
    'denied': 'The credentials are valid but not allowed to do this on this repository (registries also answer'
              ' this way for repositories that do not exist).',
    'expired_credentials': 'The credentials have expired. Mint a new token (ECR tokens last 12 hours, GAR access'
                           ' tokens 1 hour, ACR tokens about 3 hours) and update the pull secret.',
    'not_found': 'The repository or tag does not exist. Note that some registries answer 401 for both a missing'
                 ' repository and missing permission.',
    'rate_limited': 'The registry is rate limiting this client. Wait for Retry-After, authenticate, or use a mirror.',
    'unsupported': 'The registry does not support this operation (for deletes: storage.delete.enabled is false, or'
                   ' the registry is a pull-through cache).',
    'invalid_digest': 'A digest is not of the form sha256:<64 lowercase hex>.',
    'invalid_request': 'The registry rejected the request as invalid.',
    'invalid_response': 'The registry answered with something this client cannot use (bad JSON, digest mismatch).',
    'server_error': 'The registry failed with a server error. Retry later or check the registry logs.',
    'no_credentials_matched': 'No pull secret entry matches this image the way the kubelet matches keys, so the'
                              ' kubelet pulls anonymously.',
}

#: Token realms on another host that are operated by the same party as the registry and so
#: receive credentials without allow_cross_host_realm (Docker Hub: registry-protocol.md §1.8).
KNOWN_REALM_HOSTS = {
    'registry-1.docker.io': ('auth.docker.io',),
}

RETRY_STATUSES = (429, 500, 502, 503, 504)
# DELETE is retried only where the request was almost certainly not processed.
RETRY_STATUSES_UNSAFE = (429, 502, 503, 504)

ManifestInfo = collections.namedtuple('ManifestInfo', ['digest', 'media_type', 'size', 'headers'])
Challenge = collections.namedtuple('Challenge', ['scheme', 'params', 'token68'])

_SAFE_RESPONSE_HEADERS = (
    'content-type', 'content-length', 'docker-content-digest', 'docker-distribution-api-version',
    'etag', 'last-modified', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset',
    'docker-ratelimit-source', 'retry-after', 'warning', 'oci-filters-applied', 'link', 'location',
)


def _category_error(msg, category, hint=None, **details):
    return RegistryError(msg, category=category, hint=hint or CATEGORIES.get(category), **details)


# ---------------------------------------------------------------------------------------------
# Pure helpers: challenge parsing, Link headers, digests, rate limits, JWTs
# ---------------------------------------------------------------------------------------------

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


def check_digest(value, field='digest'):
    """Return ``value`` with surrounding whitespace and CR/LF stripped if it is ``sha256:<64 lowercase hex>``.

    Raises ``RegistryError`` (category ``invalid_digest``) otherwise (BR-25: a trailing ``\\r``
    copied from a header line, a digest of another algorithm, upper-case hex).
    """
    if not isinstance(value, str):
        raise _category_error('%s: expected a string sha256:<64 hex digits>, got %s' % (field, type(value).__name__),
                              'invalid_digest', field=field)
    text = value.strip(' \t\r\n')
    if not DIGEST_RE.match(text):
        shown = text if len(text) <= 80 else text[:77] + '...'
        raise _category_error('%s: %r is not a digest of the form sha256:<64 lowercase hex digits>' % (field, shown),
                              'invalid_digest', field=field)
    return text


def is_digest(ref):
    return isinstance(ref, str) and ref.startswith('sha256:')


def sha256_digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


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
    h = _lower_headers(headers)
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


def _b64url_decode(part):
    part = part.strip()
    part += '=' * (-len(part) % 4)
    return base64.urlsafe_b64decode(part.encode('ascii'))


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
        header = json.loads(_b64url_decode(parts[0]).decode('utf-8'))
        claims = json.loads(_b64url_decode(parts[1]).decode('utf-8'))
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


def _lower_headers(headers):
    if headers is None:
        return {}
    return dict((str(k).lower(), v) for k, v in headers.items())


def safe_headers(headers):
    """The response headers worth reporting, lower-cased; never cookies or auth headers."""
    h = _lower_headers(headers)
    return dict((k, v) for k, v in h.items() if k in _SAFE_RESPONSE_HEADERS)


def parse_error_body(body_text):
    """``(codes, messages)`` from an OCI error envelope ``{"errors":[{code,message,detail}]}``; empty when not JSON."""
    codes, messages = [], []
    if not body_text:
        return codes, messages
    try:
        data = json.loads(body_text)
    except (ValueError, TypeError):
        return codes, messages
    if isinstance(data, dict) and isinstance(data.get('errors'), list):
        for item in data['errors']:
            if isinstance(item, dict):
                if item.get('code'):
                    codes.append(str(item['code']))
                if item.get('message'):
                    messages.append(str(item['message'])[:300])
    elif isinstance(data, dict) and isinstance(data.get('details'), str):
        messages.append(data['details'][:300])
    return codes, messages


def normalize_registry(base_url_or_host):
    """``(scheme_or_None, netloc)`` for a registry given as host, host:port, URL or a config key.

    Docker Hub aliases (``docker.io``, ``index.docker.io``, ``https://index.docker.io/v1/``) map to
    the API host ``registry-1.docker.io``. A path (``/v1/``, ``/v2/``, a kubelet path-scoped key) is dropped.
    """
    text = (base_url_or_host or '').strip()
    if not text:
        raise _category_error('registry: a registry host is required', 'invalid_request', field='registry')
    scheme = None
    m = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*)://', text)
    if m:
        scheme = m.group(1).lower()
        if scheme not in ('http', 'https'):
            raise _category_error('registry: unsupported URL scheme %r (use https:// or a bare host)' % scheme,
                                  'invalid_request', field='registry')
        text = text[m.end():]
    netloc = text.split('/', 1)[0]
    if '@' in netloc:
        raise _category_error('registry: user information in the registry URL is not supported; use username'
                              ' and password', 'invalid_request', field='registry')
    if not netloc:
        raise _category_error('registry: no host in %r' % base_url_or_host, 'invalid_request', field='registry')
    host_only = netloc.rsplit(':', 1)[0] if not netloc.endswith(']') else netloc
    if host_only.lower() in DOCKER_HUB_ALIASES and ':' not in netloc.replace(host_only, '', 1):
        netloc = DOCKER_HUB_API_HOST
    return scheme, netloc.lower()


def _host_port(url):
    parts = urlsplit(url)
    port = parts.port
    if port is None:
        port = 443 if parts.scheme == 'https' else 80
    return (parts.hostname or '').lower(), port


def _redact_url(url):
    """Scheme, host and path only: no query (it carries scope/account) and no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ''
    if parts.port:
        host = '%s:%d' % (host, parts.port)
    return urlunsplit((parts.scheme, host, parts.path, '', ''))


def _exc_chain(exc):
    seen = set()
    stack = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        stack.append(getattr(cur, '__cause__', None))
        stack.append(getattr(cur, '__context__', None))
        stack.append(getattr(cur, 'reason', None))
        for arg in getattr(cur, 'args', ()) or ():
            if isinstance(arg, BaseException):
                stack.append(arg)


def classify_exception(exc):
    """Map a transport exception to ``(category, detail_text, extra)`` without any secret in it.

    ``extra`` may carry ``verify_code`` / ``verify_message`` for TLS verification failures.
    """
    extra = {}
    text = ' '.join(str(e) for e in _exc_chain(exc))
    lowered = text.lower()
    for e in _exc_chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            code = getattr(e, 'verify_code', None)
            extra['verify_code'] = code
            extra['verify_message'] = getattr(e, 'verify_message', None)
            if code == 62 or 'hostname mismatch' in str(e).lower() or "doesn't match" in str(e).lower():
                return 'tls_hostname', 'certificate verify failed: %s' % (e.verify_message or 'hostname mismatch'), extra
            if code in (9, 10):
                return 'tls_expired', 'certificate verify failed: %s' % e.verify_message, extra
            return 'tls_untrusted', 'certificate verify failed: %s' % (e.verify_message or 'untrusted'), extra
    if requests is not None:
        if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout)) or \
                isinstance(exc, requests.exceptions.Timeout):
            return 'timeout', 'timed out', extra
    if isinstance(exc, socket.timeout) or 'timed out' in lowered:
        return 'timeout', 'timed out', extra
    if 'wrong version number' in lowered or 'http request' in lowered or 'record layer failure' in lowered \
            or 'packet length too long' in lowered or 'unknown protocol' in lowered:
        return 'plain_http', 'the server answered the TLS handshake with plain HTTP', extra
    if 'certificate verify failed' in lowered:
        if 'hostname' in lowered or "doesn't match" in lowered:
            return 'tls_hostname', 'certificate verify failed: hostname mismatch', extra
        if 'expired' in lowered:
            return 'tls_expired', 'certificate verify failed: certificate has expired', extra
        return 'tls_untrusted', 'certificate verify failed', extra
    if any(isinstance(e, socket.gaierror) for e in _exc_chain(exc)) or any(s in lowered for s in (
            'name or service not known', 'nodename nor servname', 'temporary failure in name resolution',
            'no address associated', 'getaddrinfo failed', 'nameresolutionerror', 'failed to resolve',
            'no such host')):
        return 'dns', 'the host name does not resolve', extra
    if requests is not None and isinstance(exc, requests.exceptions.SSLError):
        return 'tls_error', 'TLS handshake failed: %s' % _short(text), extra
    if 'connection refused' in lowered:
        return 'connect', 'connection refused', extra
    if 'connection reset' in lowered or 'remotedisconnected' in lowered or 'connection aborted' in lowered:
        return 'connect', 'connection reset by the server', extra
    if 'network is unreachable' in lowered or 'no route to host' in lowered:
        return 'connect', 'network unreachable', extra
    return 'connect', 'connection failed: %s' % _short(text), extra


def _short(text, limit=200):
    text = re.sub(r'\s+', ' ', str(text))
    # object reprs carry memory addresses that make messages unstable
    text = re.sub(r' object at 0x[0-9a-f]+', '', text)
    return text if len(text) <= limit else text[:limit - 3] + '...'


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------

class _Token(object):
    __slots__ = ('value', 'expires_at', 'claims', 'granted')

    def __init__(self, value, expires_at, claims):
        self.value = value
        self.expires_at = expires_at
        self.claims = claims
        self.granted = None
        if claims and isinstance(claims.get('access'), list):
            self.granted = [a for a in claims['access'] if isinstance(a, dict)]


class RegistryClient(object):
    """A client for one registry.

    ``base_url_or_host``: ``host``, ``host:port``, ``https://host[:port]`` or ``http://host[:port]``
    (a path such as ``/v1/`` is ignored; Docker Hub aliases map to ``registry-1.docker.io``). Without a
    scheme HTTPS is used; with ``allow_insecure_http`` a host that answers HTTPS with plain HTTP is
    retried over HTTP.

    Credentials (``username``/``password``) are sent only when the registry asks for them (a 401
    challenge), only over HTTPS (unless ``allow_insecure_http``), and to a Bearer realm only when
    its host is the registry host (unless ``allow_cross_host_realm``). TLS uses ``ca_path`` (a
    CA bundle file or directory) when given, else the system trust store; ``validate_certs=False``
    disables verification. ``timeout`` is seconds per connect and per read.

    ``trace`` records each HTTP exchange as ``{step, method, url, status, elapsed_ms}`` (URLs
    without query strings) and ``warnings`` collects ``Warning`` response headers.
    """

    def __init__(self, base_url_or_host, username=None, password=None, ca_path=None, validate_certs=True,
                 timeout=10, allow_insecure_http=False, allow_cross_host_realm=False,
                 max_retries=3, max_retry_wait=30.0, session=None, sleep=None, page_size=1000):
        if not HAS_REQUESTS:
            raise _category_error('the Python library "requests" is required', 'invalid_request')
        scheme, netloc = normalize_registry(base_url_or_host)
        if scheme == 'http' and not allow_insecure_http:
            raise _category_error(
                'registry %s: plain HTTP was requested but allow_insecure_http is false' % netloc, 'plain_http',
                registry=netloc)
        self.netloc = netloc
        self.scheme = scheme or 'https'
        self._scheme_explicit = scheme is not None
        self.username = username or None
        self._password = password if password else None
        if (self.username is None) != (self._password is None):
            if self._password is None:
                raise _category_error('registry %s: username given without a password' % netloc, 'invalid_request',
                                      field='password')
            raise _category_error('registry %s: password given without a username' % netloc, 'invalid_request',
                                  field='username')
        self.ca_path = ca_path
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.allow_insecure_http = allow_insecure_http
        self.allow_cross_host_realm = allow_cross_host_realm
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.page_size = page_size
        self._sleep = sleep if sleep is not None else time.sleep
        self.session = session or requests.Session()
        self.session.headers['User-Agent'] = USER_AGENT
        # Never let requests pick credentials from ~/.netrc: credentials come from the task only.
        self.session.trust_env = True
        self.session.auth = _no_netrc_auth
        # Passed on every request: a session-level verify would lose against REQUESTS_CA_BUNDLE.
        if ca_path and validate_certs:
            self._verify = ca_path
        else:
            self._verify = bool(validate_certs)
        self.trace = []
        self.warnings = []
        self.challenge = None        # the Challenge chosen at ping (None: anonymous access allowed)
        self.challenges = []         # every challenge the registry offered
        self.auth_scheme = None      # 'bearer' | 'basic' | None
        self.api_version = None
        self._pinged = False
        self._tokens = {}            # scope string -> _Token
        self.last_token = None       # the last _Token used (claims are reportable, the value is not)
        self.token_requests = 0

    # -- properties ---------------------------------------------------------------------------

    @property
    def base_url(self):
        return '%s://%s' % (self.scheme, self.netloc)

    @property
    def has_credentials(self):
        return self.username is not None

    def _url(self, path):
        return self.base_url + path

    # -- transport: the one place that sends, retries and follows redirects -------------------

    def _send(self, method, url, step, headers=None, auth_header=None, data=None, allow_retry=True,
              max_redirects=5):
        """Send one logical request: retries on 429/5xx (honouring Retry-After), redirects followed by hand.

        ``auth_header`` (an ``Authorization`` value) is attached only while the request stays on the
        same scheme, host and port as ``url``; a redirect elsewhere drops it (registry-protocol.md §1.2).
        Transport failures become ``RegistryError`` with a stable category.
        """
        origin = _host_port(url)
        origin_scheme = urlsplit(url).scheme
        attempt = 0
        current = url
        redirects = 0
        retry_statuses = RETRY_STATUSES if method in ('GET', 'HEAD') else RETRY_STATUSES_UNSAFE
        while True:
            req_headers = dict(headers or {})
            same_origin = _host_port(current) == origin and urlsplit(current).scheme == origin_scheme
            if auth_header and same_origin:
                if urlsplit(current).scheme != 'https' and not self.allow_insecure_http:
                    raise _category_error('refusing to send credentials over plain HTTP to %s' % _redact_url(current),
                                          'plain_http', url=_redact_url(current))
                req_headers['Authorization'] = auth_header
            start = time.time()
            try:
                with warnings.catch_warnings():
                    if self._verify is False:
                        # asked for explicitly and reported in the result; urllib3's warning would only
                        # pollute the module's output
                        warnings.simplefilter('ignore')
                    resp = self.session.request(method, current, headers=req_headers, data=data,
                                                timeout=(self.timeout, self.timeout), verify=self._verify,
                                                allow_redirects=False)
            except Exception as exc:  # requests raises many types; classify them all
                if requests is None or not isinstance(exc, (requests.exceptions.RequestException, OSError,
                                                            ssl.SSLError, ValueError)):
                    raise
                elapsed = int((time.time() - start) * 1000)
                category, detail, extra = classify_exception(exc)
                self.trace.append({'step': step, 'method': method, 'url': _redact_url(current), 'status': None,
                                   'elapsed_ms': elapsed, 'error': category})
                host = urlsplit(current).netloc
                raise _category_error('%s %s: %s' % (method, _redact_url(current), detail), category,
                                      url=_redact_url(current), host=host, step=step, **extra)
            elapsed = int((time.time() - start) * 1000)
            self.trace.append({'step': step, 'method': method, 'url': _redact_url(current),
                               'status': resp.status_code, 'elapsed_ms': elapsed})
            for warning in _header_values(resp.headers, 'Warning'):
                if warning not in self.warnings and len(self.warnings) < 20:
                    self.warnings.append(warning)

            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get('Location'):
                redirects += 1
                if redirects > max_redirects:
                    raise _category_error('%s %s: too many redirects' % (method, _redact_url(url)),
                                          'invalid_response', url=_redact_url(url), step=step)
                target = urljoin(current, resp.headers['Location'])
                if urlsplit(target).scheme == 'http' and urlsplit(current).scheme == 'https' \
                        and not self.allow_insecure_http:
                    raise _category_error('%s %s: redirected to plain HTTP (%s), refused' % (
                        method, _redact_url(current), _redact_url(target)), 'plain_http', url=_redact_url(target),
                        step=step)
                resp.close()
                if resp.status_code == 303:
                    method, data = 'GET', None
                current = target
                continue

            if allow_retry and resp.status_code in retry_statuses and attempt < self.max_retries:
                wait = parse_retry_after(resp.headers.get('Retry-After'))
                if wait is None:
                    wait = min(self.max_retry_wait, (0.5 * (2 ** attempt)) * (1 + random.random() * 0.25))
                if wait <= self.max_retry_wait:
                    attempt += 1
                    resp.close()
                    self._sleep(wait)
                    continue
            return resp

    # -- authentication ------------------------------------------------------------------------

    def _basic_header(self):
        raw = ('%s:%s' % (self.username, self._password)).encode('utf-8')
        return 'Basic ' + base64.b64encode(raw).decode('ascii')

    def ping(self):
        """``GET /v2/``: learn the auth scheme. Returns a dict ``status``, ``auth_scheme``, ``challenges``
        (scheme + realm/service, never secret), ``api_version``.

        A 200 means anonymous access to ``/v2/`` (or no auth at all); a 401 carries the challenge. With
        ``allow_insecure_http`` and no explicit scheme, a host that answers HTTPS with HTTP is retried over HTTP.
        """
        try:
            resp = self._send('GET', self._url('/v2/'), 'ping')
        except RegistryError as err:
            if err.category == 'plain_http' and self.allow_insecure_http and not self._scheme_explicit \
                    and self.scheme == 'https':
                self.scheme = 'http'
                resp = self._send('GET', self._url('/v2/'), 'ping')
            else:
                raise
        self.api_version = resp.headers.get('Docker-Distribution-API-Version')
        status = resp.status_code
        body = _safe_text(resp)
        if status == 401:
            self.challenges = parse_www_authenticate(_header_values(resp.headers, 'WWW-Authenticate'))
            self.challenge = pick_challenge(self.challenges)
            if self.challenge is None:
                offered = ', '.join(c.scheme for c in self.challenges) or 'none'
                raise _category_error('GET %s/v2/: 401 without a Basic or Bearer challenge (offered: %s)' % (
                    self.base_url, offered), 'unauthorized', step='ping')
            self.auth_scheme = self.challenge.scheme
        elif status == 200:
            self.challenge = None
            self.auth_scheme = None
        elif status == 404:
            raise _category_error('GET %s/v2/: 404, this is not an OCI distribution registry endpoint' % self.base_url,
                                  'not_a_registry', step='ping', status=status)
        else:
            raise self._error_for(resp, 'GET', '/v2/', 'ping', body=body)
        self._pinged = True
        return {
            'status': status,
            'url': self.base_url + '/v2/',
            'auth_scheme': self.auth_scheme,
            'challenges': [_public_challenge(c) for c in self.challenges],
            'api_version': self.api_version,
        }

    def login(self):
        """Check that the credentials authenticate, the way ``docker login`` does, without any scope.

        Bearer: a token request with no scope (the token service authenticates the account; a 200 does
        not prove pull rights). Basic: ``GET /v2/`` with the credentials. Returns a dict ``authenticated``
        (True / False when anonymous), ``scheme``; raises ``RegistryError`` (``unauthorized``,
        ``expired_credentials``, ...) when the credentials are refused.
        """
        self._ensure_pinged()
        if not self.has_credentials:
            return {'authenticated': False, 'scheme': self.auth_scheme}
        if self.auth_scheme == 'bearer':
            token = self._fetch_token('')
            self.last_token = token
            return {'authenticated': True, 'scheme': 'bearer'}
        if self.auth_scheme == 'basic':
            resp = self._send('GET', self._url('/v2/'), 'login', auth_header=self._basic_header())
            if resp.status_code == 200:
                return {'authenticated': True, 'scheme': 'basic'}
            raise self._error_for(resp, 'GET', self.netloc + '/v2/', 'login')
        # the registry did not ask for credentials at all
        return {'authenticated': False, 'scheme': None}

    def _ensure_pinged(self):
        if not self._pinged:
            self.ping()

    def _check_realm(self, realm):
        parts = urlsplit(realm)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise _category_error('the registry advertised an unusable token realm %r' % _redact_url(realm),
                                  'token_service_error', realm=_redact_url(realm))
        if not self.has_credentials:
            if parts.scheme == 'http' and not self.allow_insecure_http:
                raise _category_error('the token realm %s is plain HTTP; refused (allow_insecure_http is false)' %
                                      _redact_url(realm), 'plain_http', realm=_redact_url(realm))
            return
        if parts.scheme == 'http' and not self.allow_insecure_http:
            raise _category_error(
                'the token realm %s is plain HTTP; credentials are not sent in clear (allow_insecure_http is false)'
                % _redact_url(realm), 'plain_http', realm=_redact_url(realm),
                hint='The registry advertises an http:// realm, often a proxy misconfiguration (Harbor externalURL,'
                     ' Gitea ROOT_URL). Fix the advertised URL, or set allow_insecure_http if you accept sending'
                     ' the password in clear.')
        registry_host = urlsplit(self.base_url).hostname
        realm_host = (parts.hostname or '').lower()
        if realm_host != registry_host and realm_host not in KNOWN_REALM_HOSTS.get(registry_host, ()):
            if not self.allow_cross_host_realm:
                raise _category_error(
                    'the token realm %s is on another host than the registry %s; credentials are not sent there'
                    ' (allow_cross_host_realm is false)' % (_redact_url(realm), self.netloc), 'cross_host_realm',
                    realm=_redact_url(realm))

    def _fetch_token(self, scope):
        """GET the realm for ``scope`` (space-separated resourcescopes) with Basic credentials if any."""
        ch = self.challenge
        realm = ch.params.get('realm')
        if not realm:
            raise _category_error('the Bearer challenge has no realm', 'token_service_error', step='token')
        self._check_realm(realm)
        query = []
        if ch.params.get('service'):
            query.append(('service', ch.params['service']))
        for one in (scope or '').split():
            query.append(('scope', one))
        if self.username:
            query.append(('account', self.username))
        query.append(('client_id', 'registrylink.k8s'))
        sep = '&' if urlsplit(realm).query else '?'
        url = realm + (sep + urlencode(query) if query else '')
        auth = self._basic_header() if self.has_credentials else None
        self.token_requests += 1
        resp = self._send('GET', url, 'token', auth_header=auth)
        body = _safe_text(resp)
        if resp.status_code in (401, 403):
            codes, messages = parse_error_body(body)
            text = ' '.join(messages)
            if _looks_expired(text):
                raise _category_error('token service %s: credentials expired (%s)' % (_redact_url(realm), text),
                                      'expired_credentials', step='token', status=resp.status_code)
            if resp.status_code == 401 or not self.has_credentials:
                who = 'user %r' % self.username if self.has_credentials else 'anonymous access'
                raise _category_error('token service %s rejected %s (HTTP %d)%s' % (
                    _redact_url(realm), who, resp.status_code, (': ' + text) if text else ''),
                    'unauthorized', step='token', status=resp.status_code, codes=codes)
            raise _category_error('token service %s denied the request (HTTP 403)%s' % (
                _redact_url(realm), (': ' + text) if text else ''), 'denied', step='token', status=403, codes=codes)
        if resp.status_code == 429:
            raise self._error_for(resp, 'GET', _redact_url(realm), 'token', body=body)
        if resp.status_code != 200:
            raise _category_error('token service %s answered HTTP %d' % (_redact_url(realm), resp.status_code),
                                  'token_service_error', step='token', status=resp.status_code)
        try:
            data = json.loads(body)
        except ValueError:
            raise _category_error('token service %s answered 200 without JSON' % _redact_url(realm),
                                  'token_service_error', step='token')
        if not isinstance(data, dict):
            raise _category_error('token service %s answered 200 with unexpected JSON' % _redact_url(realm),
                                  'token_service_error', step='token')
        value = data.get('token') or data.get('access_token')
        if not value or not isinstance(value, str):
            raise _category_error('token service %s answered 200 without a token' % _redact_url(realm),
                                  'token_service_error', step='token')
        try:
            expires_in = int(data.get('expires_in') or 60)
        except (TypeError, ValueError):
            expires_in = 60
        expires_in = max(expires_in, 60)  # "a token should never be returned with less than 60 seconds to live"
        issued = None
        if data.get('issued_at'):
            from ansible_collections.registrylink.k8s.plugins.module_utils._common import parse_rfc3339
            when = parse_rfc3339(data['issued_at'])
            if when is not None:
                issued = when.timestamp()
        now = time.time()
        if issued is None or issued > now + 300:
            issued = now
        token = _Token(value, issued + expires_in, decode_jwt_claims(value))
        return token

    def _auth_header_for(self, scope, force_refresh=False):
        """The ``Authorization`` value to use for ``scope`` (None: anonymous)."""
        if self.auth_scheme == 'basic':
            if not self.has_credentials:
                return None
            return self._basic_header()
        if self.auth_scheme == 'bearer':
            cached = self._tokens.get(scope)
            if cached and not force_refresh and cached.expires_at - 10 > time.time():
                self.last_token = cached
                return 'Bearer ' + cached.value
            token = self._fetch_token(scope)
            self._tokens[scope] = token
            self.last_token = token
            return 'Bearer ' + token.value
        return None

    def _request(self, method, path_or_url, scope, step, headers=None, allow_retry=True):
        """Send an authenticated request: proactive auth from the ping, one reactive retry on a fresh 401."""
        self._ensure_pinged()
        url = path_or_url if '://' in path_or_url else self._url(path_or_url)
        auth = self._auth_header_for(scope)
        resp = self._send(method, url, step, headers=headers, auth_header=auth, allow_retry=allow_retry)
        if resp.status_code != 401:
            return resp
        # A 401 now: the registry may want a different scheme/scope than the ping suggested.
        challenges = parse_www_authenticate(_header_values(resp.headers, 'WWW-Authenticate'))
        ch = pick_challenge(challenges)
        retry = False
        if ch is not None and ch.scheme == 'bearer':
            new_scope = merge_scopes(scope, ch.params.get('scope'))
            if self.auth_scheme != 'bearer' or new_scope != scope or auth is None:
                self.challenge, self.auth_scheme = ch, 'bearer'
                scope = new_scope
                retry = True
            elif ch.params.get('error') == 'invalid_token':
                retry = True  # token expired server-side: fetch a fresh one once
        elif ch is not None and ch.scheme == 'basic' and self.auth_scheme != 'basic' and self.has_credentials:
            self.challenge, self.auth_scheme = ch, 'basic'
            retry = True
        if not retry:
            resp._registrylink_challenge = ch
            return resp
        resp.close()
        auth = self._auth_header_for(scope, force_refresh=True)
        resp = self._send(method, url, step, headers=headers, auth_header=auth, allow_retry=allow_retry)
        if resp.status_code == 401:
            resp._registrylink_challenge = pick_challenge(
                parse_www_authenticate(_header_values(resp.headers, 'WWW-Authenticate')))
        return resp

    # -- error mapping -------------------------------------------------------------------------

    def _error_for(self, resp, method, what, step, body=None, repository=None, reference=None):
        """Build the RegistryError for a non-success response."""
        status = resp.status_code
        if body is None:
            body = _safe_text(resp)
        codes, messages = parse_error_body(body)
        text = '; '.join(messages)
        detail = ': %s' % ', '.join(codes) if codes else ''
        if text:
            detail += ' (%s)' % text
        where = '%s %s' % (method, what)
        extra = {'status': status, 'step': step}
        if codes:
            extra['codes'] = codes
        if repository:
            extra['repository'] = repository
        if reference:
            extra['reference'] = reference
        if status == 401:
            ch = getattr(resp, '_registrylink_challenge', None)
            scope_error = ch.params.get('error') if ch is not None else None
            if _looks_expired(text):
                return _category_error('%s: HTTP 401%s' % (where, detail), 'expired_credentials', **extra)
            if self.auth_scheme == 'bearer' and self.has_credentials:
                granted = _granted_text(self.last_token)
                msg = '%s: HTTP 401%s after a successful token exchange%s' % (where, detail, granted)
                if scope_error:
                    extra['challenge_error'] = scope_error
                return _category_error(
                    msg, 'denied', ambiguous_not_found=True,
                    hint='The token service accepted the credentials but the token does not allow this on the'
                         ' repository. Either the account lacks permission, or the repository does not exist:'
                         ' registries answer 401 for both by design.', **extra)
            if not self.has_credentials:
                return _category_error(
                    '%s: HTTP 401%s, no credentials were sent' % (where, detail), 'unauthorized',
                    hint='The registry requires authentication for this repository (or the repository does not'
                         ' exist: registries answer 401 for both). Provide credentials.', **extra)
            return _category_error('%s: HTTP 401%s, the registry rejected the credentials' % (where, detail),
                                   'unauthorized', **extra)
        if status == 403:
            if _looks_expired(text):
                return _category_error('%s: HTTP 403%s' % (where, detail), 'expired_credentials', **extra)
            return _category_error('%s: HTTP 403%s' % (where, detail), 'denied', **extra)
        if status == 404:
            what_missing = 'repository or tag'
            if 'NAME_UNKNOWN' in codes:
                what_missing = 'repository'
            elif 'MANIFEST_UNKNOWN' in codes:
                what_missing = 'manifest (tag or digest)'
            elif 'BLOB_UNKNOWN' in codes:
                what_missing = 'blob'
            extra['missing'] = what_missing
            return _category_error('%s: HTTP 404%s, %s not found' % (where, detail, what_missing), 'not_found',
                                   **extra)
        if status == 405:
            return _category_error('%s: HTTP 405%s' % (where, detail), 'unsupported', **extra)
        if status == 429:
            retry_after = parse_retry_after(resp.headers.get('Retry-After'))
            if retry_after is not None:
                extra['retry_after'] = int(retry_after)
            rate = parse_rate_limit(resp.headers)
            if rate:
                extra['rate_limit'] = rate
            unauth = 'unauthenticated' in text.lower()
            if unauth:
                extra['unauthenticated'] = True
            return _category_error('%s: HTTP 429%s' % (where, detail), 'rate_limited', **extra)
        if 500 <= status < 600:
            return _category_error('%s: HTTP %d%s' % (where, status, detail), 'server_error', **extra)
        if status == 400:
            if 'DIGEST_INVALID' in codes:
                return _category_error('%s: HTTP 400%s' % (where, detail), 'invalid_digest', **extra)
            return _category_error('%s: HTTP 400%s' % (where, detail), 'invalid_request', **extra)
        return _category_error('%s: unexpected HTTP %d%s' % (where, status, detail), 'invalid_response', **extra)

    # -- operations ----------------------------------------------------------------------------

    @staticmethod
    def _check_repository(repo):
        if not isinstance(repo, str) or not REPOSITORY_RE.match(repo):
            raise _category_error('repository %r is not a valid repository name (lowercase path components)' % (repo,),
                                  'invalid_request', field='repository')
        return repo

    @staticmethod
    def _check_reference(ref):
        if is_digest(ref):
            return check_digest(ref, field='reference')
        if not isinstance(ref, str) or not TAG_RE.match(ref):
            raise _category_error('reference %r is neither a tag nor a sha256 digest' % (ref,), 'invalid_request',
                                  field='reference')
        return ref

    def _manifest_info(self, resp, ref):
        headers = safe_headers(resp.headers)
        digest = None
        raw = resp.headers.get('Docker-Content-Digest')
        if raw:
            digest = check_digest(raw, field='Docker-Content-Digest')
        elif is_digest(ref):
            digest = ref
        media_type = (resp.headers.get('Content-Type') or '').split(';')[0].strip() or None
        size = None
        if resp.headers.get('Content-Length'):
            try:
                size = int(resp.headers['Content-Length'])
            except ValueError:
                size = None
        return ManifestInfo(digest, media_type, size, headers)

    def head_manifest(self, repo, ref):
        """``HEAD /v2/<repo>/manifests/<ref>`` with every manifest media type in Accept (pull scope).

        Returns ``ManifestInfo(digest, media_type, size, headers)``; ``digest`` is the checked
        ``Docker-Content-Digest`` (None if the registry omitted it for a tag). HEAD does not count
        against Docker Hub pull limits.
        """
        repo = self._check_repository(repo)
        ref = self._check_reference(ref)
        path = '/v2/%s/manifests/%s' % (repo, quote(ref, safe=':'))
        resp = self._request('HEAD', path, format_scope('repository', repo, 'pull'), 'manifest',
                             headers={'Accept': MANIFEST_ACCEPT})
        if resp.status_code != 200:
            raise self._error_for(resp, 'HEAD', '%s/v2/%s/manifests/%s' % (self.netloc, repo, ref), 'manifest',
                                  repository=repo, reference=ref)
        return self._manifest_info(resp, ref)

    def get_manifest(self, repo, ref):
        """``GET`` the manifest; returns ``(ManifestInfo, body_dict)``.

        The body's sha256 is checked against ``Docker-Content-Digest`` (and against ``ref`` when it is a
        digest); when the header is absent the computed digest is reported. A ``mediaType`` field that
        disagrees with ``Content-Type`` is rejected (registry-protocol.md §1.3).
        """
        repo = self._check_repository(repo)
        ref = self._check_reference(ref)
        path = '/v2/%s/manifests/%s' % (repo, quote(ref, safe=':'))
        resp = self._request('GET', path, format_scope('repository', repo, 'pull'), 'manifest',
                             headers={'Accept': MANIFEST_ACCEPT})
        where = '%s/v2/%s/manifests/%s' % (self.netloc, repo, ref)
        if resp.status_code != 200:
            raise self._error_for(resp, 'GET', where, 'manifest', repository=repo, reference=ref)
        content = resp.content
        info = self._manifest_info(resp, ref)
        computed = sha256_digest(content)
        if info.digest and info.digest != computed:
            raise _category_error('GET %s: body digest %s does not match Docker-Content-Digest %s' % (
                where, computed, info.digest), 'invalid_response', repository=repo, reference=ref)
        if is_digest(ref) and ref != computed:
            raise _category_error('GET %s: body digest %s does not match the requested digest' % (where, computed),
                                  'invalid_response', repository=repo, reference=ref)
        try:
            body = json.loads(content.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise _category_error('GET %s: the manifest is not JSON' % where, 'invalid_response',
                                  repository=repo, reference=ref)
        if not isinstance(body, dict):
            raise _category_error('GET %s: the manifest is not a JSON object' % where, 'invalid_response',
                                  repository=repo, reference=ref)
        media_type = info.media_type
        if body.get('mediaType') and media_type and body['mediaType'] != media_type:
            raise _category_error('GET %s: manifest mediaType %s disagrees with Content-Type %s' % (
                where, body['mediaType'], media_type), 'invalid_response', repository=repo, reference=ref)
        if not media_type and body.get('mediaType'):
            media_type = body['mediaType']
        info = ManifestInfo(computed, media_type, len(content), info.headers)
        return info, body

    def get_blob(self, repo, digest):
        """``GET /v2/<repo>/blobs/<digest>`` (redirects followed without Authorization to other hosts);
        returns the bytes after checking their sha256."""
        repo = self._check_repository(repo)
        digest = check_digest(digest)
        path = '/v2/%s/blobs/%s' % (repo, digest)
        resp = self._request('GET', path, format_scope('repository', repo, 'pull'), 'blob')
        where = '%s/v2/%s/blobs/%s' % (self.netloc, repo, digest)
        if resp.status_code != 200:
            raise self._error_for(resp, 'GET', where, 'blob', repository=repo, reference=digest)
        content = resp.content
        if sha256_digest(content) != digest:
            raise _category_error('GET %s: content digest mismatch' % where, 'invalid_response', repository=repo,
                                  reference=digest)
        return content

    def _paginate(self, first_path, scope, step, key):
        """Follow ``Link: <...>; rel="next"`` verbatim; synthesise ``last=`` only when no Link is sent."""
        url = self._url(first_path)
        if self.page_size:
            url += '?' + urlencode([('n', str(self.page_size))])
        out = []
        seen_items = set()
        seen_urls = set()
        pages = 0
        while url:
            if url in seen_urls:
                break  # a registry pointing back at a page we read: stop rather than loop
            seen_urls.add(url)
            pages += 1
            resp = self._request('GET', url, scope, step)
            if resp.status_code != 200:
                raise self._error_for(resp, 'GET', _redact_url(url), step)
            try:
                data = json.loads(_safe_text(resp))
            except ValueError:
                raise _category_error('GET %s: the answer is not JSON' % _redact_url(url), 'invalid_response',
                                      step=step)
            items = (data.get(key) or []) if isinstance(data, dict) else []
            new = 0
            for item in items:
                if isinstance(item, str) and item not in seen_items:
                    seen_items.add(item)
                    out.append(item)
                    new += 1
            link = next_link(resp.headers.get('Link'), url)
            if link:
                url = link
                continue
            url = None
            if self.page_size and new and len(items) >= self.page_size:
                url = self._url(first_path) + '?' + urlencode([('n', str(self.page_size)), ('last', items[-1])])
        return out

    def list_tags(self, repo):
        """All tags of ``repo`` (``GET /v2/<repo>/tags/list``, every page), in the registry's order."""
        repo = self._check_repository(repo)
        return self._paginate('/v2/%s/tags/list' % repo, format_scope('repository', repo, 'pull'), 'tags', 'tags')

    def first_tags(self, repo, n=10):
        """The first page (at most ``n``) of ``repo``'s tags: a cheap existence check for a repository."""
        repo = self._check_repository(repo)
        url = self._url('/v2/%s/tags/list' % repo) + '?' + urlencode([('n', str(n))])
        resp = self._request('GET', url, format_scope('repository', repo, 'pull'), 'tags')
        if resp.status_code != 200:
            raise self._error_for(resp, 'GET', '%s/v2/%s/tags/list' % (self.netloc, repo), 'tags', repository=repo)
        try:
            data = json.loads(_safe_text(resp))
        except ValueError:
            data = {}
        tags = (data.get('tags') or []) if isinstance(data, dict) else []
        return [t for t in tags if isinstance(t, str)][:n]

    def catalog(self):
        """All repositories the registry lists (``GET /v2/_catalog``, scope ``registry:catalog:*``).

        The catalog may be filtered by the caller's access: presence proves existence, absence does not.
        """
        return self._paginate('/v2/_catalog', 'registry:catalog:*', 'catalog', 'repositories')

    def delete_manifest(self, repo, digest):
        """``DELETE /v2/<repo>/manifests/<digest>`` (scope ``pull,delete``); the manifest and every tag on it go.

        Only digests are accepted (deleting by tag is not portable). 202 (or 200) is success. 405 raises
        category ``unsupported`` (deletes disabled or a pull-through cache, BR-24) and is never retried.
        """
        repo = self._check_repository(repo)
        digest = check_digest(digest)
        path = '/v2/%s/manifests/%s' % (repo, digest)
        resp = self._request('DELETE', path, format_scope('repository', repo, ['pull', 'delete']), 'delete')
        where = '%s/v2/%s/manifests/%s' % (self.netloc, repo, digest)
        if resp.status_code in (200, 202, 204):
            return {'status': resp.status_code, 'digest': digest}
        err = self._error_for(resp, 'DELETE', where, 'delete', repository=repo, reference=digest)
        if err.category == 'unsupported':
            err.hint = ('The registry refuses deletes (storage.delete.enabled is false, or the registry is a'
                        ' pull-through cache). No retry will help.')
            err.details['hint'] = err.hint
        elif err.category == 'denied' and self.last_token is not None and self.last_token.granted is not None:
            err.hint = 'The token granted %s; deleting needs the "delete" action on %s.' % (
                _granted_text(self.last_token).strip(' ;()') or 'nothing', repo)
            err.details['hint'] = err.hint
        raise err

    # -- reporting -----------------------------------------------------------------------------

    def token_facts(self):
        """Secret-free facts about the last bearer token: ``expires_at`` (epoch), ``granted`` access, issuer."""
        tok = self.last_token
        if tok is None:
            return None
        facts = {'expires_at': tok.expires_at}
        if tok.granted is not None:
            facts['granted'] = tok.granted
        if tok.claims:
            for claim in ('iss', 'aud', 'sub'):
                if claim in tok.claims:
                    facts[claim] = tok.claims[claim]
        return facts


def _no_netrc_auth(request):
    """A no-op requests auth hook: setting it stops ``requests`` from reading ``~/.netrc``."""
    return request


def _header_values(headers, name):
    """The value of a header as a one-item list ([] when absent).

    urllib3 joins repeated header lines with ", ", which both the challenge and the Link parsers
    accept (RFC 7230 3.2.2), so a list of one joined value is all there is to pass on.
    """
    if headers is None:
        return []
    value = headers.get(name)
    return [] if value is None else [value]


def _safe_text(resp):
    try:
        content = resp.content
    except Exception:  # a broken stream: treat as empty
        return ''
    if not content:
        return ''
    try:
        return content[:65536].decode('utf-8', 'replace')
    except Exception:
        return ''


_EXPIRED_RE = re.compile(r'(authorization token has expired|token (is )?expired|expired token|credentials? (have|has)'
                         r' expired)', re.I)


def _looks_expired(text):
    return bool(text and _EXPIRED_RE.search(text))


def _granted_text(token):
    if token is None or token.granted is None:
        return ''
    parts = []
    for entry in token.granted:
        parts.append('%s:%s:%s' % (entry.get('type'), entry.get('name'), ','.join(entry.get('actions') or [])))
    return ' (token granted: %s)' % (', '.join(parts) if parts else 'nothing')


def _public_challenge(ch):
    out = {'scheme': ch.scheme}
    for key in ('realm', 'service', 'scope', 'error'):
        if key in ch.params:
            out[key] = ch.params[key]
    return out
