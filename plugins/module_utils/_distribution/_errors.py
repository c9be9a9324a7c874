# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failure categories of registry calls, transport error classification and redaction.

Private to this collection. Every failure of a registry call is a ``RegistryError(msg, category,
hint)``; ``CATEGORIES`` lists the categories with their default hint. Nothing in a message,
detail or trace is ever a password or a token: URLs are reduced to scheme, host and path
(``redact_url``) and only the response headers in ``_SAFE_RESPONSE_HEADERS`` are reported.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import socket
import ssl

from urllib.parse import urlsplit, urlunsplit

try:
    import requests.exceptions
except ImportError:  # pragma: no cover - the client reports the missing library
    requests = None

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._headers import lower_headers
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryError

#: Stable failure categories (shared with ``_registry_probe.py``); each one has a default hint.
CATEGORIES = {
    'dns': 'The host name does not resolve. Check the registry name, /etc/hosts and the DNS servers used by this host.',
    'connect': 'The TCP connection failed (refused, reset or unreachable). Check the port, firewalls and proxy settings.',
    'timeout': 'The registry did not answer within the timeout. Check network reachability or raise timeout.',
    'tls_untrusted': 'The server certificate is not signed by a trusted CA. Pass the registry CA in ca_path; nodes need it'
                     ' too (containerd hosts.toml: the role registrylink.k8s.node_registry_config installs it).'
                     ' Credentials were not sent.',
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
    'rate_limited': 'The registry is rate limiting this client. Wait for Retry-After, authenticate, or use a mirror'
                    ' (on the nodes: role registrylink.k8s.node_registry_config with mirrors).',
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

_SAFE_RESPONSE_HEADERS = (
    'content-type', 'content-length', 'docker-content-digest', 'docker-distribution-api-version',
    'etag', 'last-modified', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset',
    'docker-ratelimit-source', 'retry-after', 'warning', 'oci-filters-applied', 'link', 'location',
)


def category_error(msg, category, hint=None, **details):
    return RegistryError(msg, category=category, hint=hint or CATEGORIES.get(category), **details)


def safe_headers(headers):
    """The response headers worth reporting, lower-cased; never cookies or auth headers."""
    h = lower_headers(headers)
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


def redact_url(url):
    """Scheme, host and path only: no query (it carries scope/account) and no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ''
    try:
        port = parts.port
    except ValueError:  # not a number: shown as given
        port = parts.netloc.rpartition(':')[2]
    if port:
        host = '%s:%s' % (host, port)
    return urlunsplit((parts.scheme, host, parts.path, '', ''))


def exc_chain(exc):
    """Every exception ``exc`` was raised from or wraps (causes, contexts, urllib3 reasons, arguments)."""
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
    text = ' '.join(str(e) for e in exc_chain(exc))
    lowered = text.lower()
    for e in exc_chain(exc):
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
    if any(isinstance(e, socket.gaierror) for e in exc_chain(exc)) or any(s in lowered for s in (
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


def safe_text(resp):
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


def looks_expired(text):
    return bool(text and _EXPIRED_RE.search(text))


def granted_text(token):
    if token is None or token.granted is None:
        return ''
    parts = []
    for entry in token.granted:
        parts.append('%s:%s:%s' % (entry.get('type'), entry.get('name'), ','.join(entry.get('actions') or [])))
    return ' (token granted: %s)' % (', '.join(parts) if parts else 'nothing')
