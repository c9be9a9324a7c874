# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Token authentication for the registry client: ping, login, token fetch and realm checks.

Private to this collection. ``TokenAuth`` is a mixin of ``RegistryClient`` (``_client.py``): it
reads the client's credentials and transport (``_send``, ``_error_for``) and owns the
challenge chosen at ping time and the token cache (one token per scope until it expires). See
docs/reference/registry-protocol.md (token auth, realm rules).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import time

from urllib.parse import urlencode, urlsplit

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._errors import (
    category_error, looks_expired, parse_error_body, redact_url, safe_text,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._headers import (
    decode_jwt_claims, header_values, merge_scopes, parse_www_authenticate, pick_challenge,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryError

#: Token realms on another host that are operated by the same party as the registry and so
#: receive credentials without allow_cross_host_realm (Docker Hub: registry-protocol.md §1.8).
KNOWN_REALM_HOSTS = {
    'registry-1.docker.io': ('auth.docker.io',),
}


class Token(object):
    __slots__ = ('value', 'expires_at', 'claims', 'granted')

    def __init__(self, value, expires_at, claims):
        self.value = value
        self.expires_at = expires_at
        self.claims = claims
        self.granted = None
        if claims and isinstance(claims.get('access'), list):
            self.granted = [a for a in claims['access'] if isinstance(a, dict)]


class TokenAuth(object):
    """Mixin of ``RegistryClient``: the authentication half (see the module docstring)."""

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
        body = safe_text(resp)
        if status == 401:
            self.challenges = parse_www_authenticate(header_values(resp.headers, 'WWW-Authenticate'))
            self.challenge = pick_challenge(self.challenges)
            if self.challenge is None:
                offered = ', '.join(c.scheme for c in self.challenges) or 'none'
                raise category_error('GET %s/v2/: 401 without a Basic or Bearer challenge (offered: %s)' % (
                    self.base_url, offered), 'unauthorized', step='ping')
            self.auth_scheme = self.challenge.scheme
        elif status == 200:
            self.challenge = None
            self.auth_scheme = None
        elif status == 404:
            raise category_error('GET %s/v2/: 404, this is not an OCI distribution registry endpoint' % self.base_url,
                                 'not_a_registry', step='ping', status=status)
        else:
            raise self._error_for(resp, 'GET', '/v2/', 'ping', body=body)
        self._pinged = True
        return {
            'status': status,
            'url': self.base_url + '/v2/',
            'auth_scheme': self.auth_scheme,
            'challenges': [public_challenge(c) for c in self.challenges],
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
            raise category_error('the registry advertised an unusable token realm %r' % redact_url(realm),
                                 'token_service_error', realm=redact_url(realm))
        if not self.has_credentials:
            if parts.scheme == 'http' and not self.allow_insecure_http:
                raise category_error('the token realm %s is plain HTTP; refused (allow_insecure_http is false)' %
                                     redact_url(realm), 'plain_http', realm=redact_url(realm))
            return
        if parts.scheme == 'http' and not self.allow_insecure_http:
            raise category_error(
                'the token realm %s is plain HTTP; credentials are not sent in clear (allow_insecure_http is false)'
                % redact_url(realm), 'plain_http', realm=redact_url(realm),
                hint='The registry advertises an http:// realm, often a proxy misconfiguration (Harbor externalURL,'
                     ' Gitea ROOT_URL). Fix the advertised URL, or set allow_insecure_http if you accept sending'
                     ' the password in clear.')
        registry_host = urlsplit(self.base_url).hostname
        realm_host = (parts.hostname or '').lower()
        if realm_host != registry_host and realm_host not in KNOWN_REALM_HOSTS.get(registry_host, ()):
            if not self.allow_cross_host_realm:
                raise category_error(
                    'the token realm %s is on another host than the registry %s; credentials are not sent there'
                    ' (allow_cross_host_realm is false)' % (redact_url(realm), self.netloc), 'cross_host_realm',
                    realm=redact_url(realm))

    def _fetch_token(self, scope):
        """GET the realm for ``scope`` (space-separated resourcescopes) with Basic credentials if any."""
        ch = self.challenge
        realm = ch.params.get('realm')
        if not realm:
            raise category_error('the Bearer challenge has no realm', 'token_service_error', step='token')
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
        body = safe_text(resp)
        if resp.status_code in (401, 403):
            codes, messages = parse_error_body(body)
            text = ' '.join(messages)
            if looks_expired(text):
                raise category_error('token service %s: credentials expired (%s)' % (redact_url(realm), text),
                                     'expired_credentials', step='token', status=resp.status_code)
            if resp.status_code == 401 or not self.has_credentials:
                who = 'user %r' % self.username if self.has_credentials else 'anonymous access'
                raise category_error('token service %s rejected %s (HTTP %d)%s' % (
                    redact_url(realm), who, resp.status_code, (': ' + text) if text else ''),
                    'unauthorized', step='token', status=resp.status_code, codes=codes)
            raise category_error('token service %s denied the request (HTTP 403)%s' % (
                redact_url(realm), (': ' + text) if text else ''), 'denied', step='token', status=403, codes=codes)
        if resp.status_code == 429:
            raise self._error_for(resp, 'GET', redact_url(realm), 'token', body=body)
        if resp.status_code != 200:
            raise category_error('token service %s answered HTTP %d' % (redact_url(realm), resp.status_code),
                                 'token_service_error', step='token', status=resp.status_code)
        try:
            data = json.loads(body)
        except ValueError:
            raise category_error('token service %s answered 200 without JSON' % redact_url(realm),
                                 'token_service_error', step='token')
        if not isinstance(data, dict):
            raise category_error('token service %s answered 200 with unexpected JSON' % redact_url(realm),
                                 'token_service_error', step='token')
        value = data.get('token') or data.get('access_token')
        if not value or not isinstance(value, str):
            raise category_error('token service %s answered 200 without a token' % redact_url(realm),
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
        token = Token(value, issued + expires_in, decode_jwt_claims(value))
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
        challenges = parse_www_authenticate(header_values(resp.headers, 'WWW-Authenticate'))
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
                parse_www_authenticate(header_values(resp.headers, 'WWW-Authenticate')))
        return resp


def public_challenge(ch):
    out = {'scheme': ch.scheme}
    for key in ('realm', 'service', 'scope', 'error'):
        if key in ch.params:
            out[key] = ch.params[key]
    return out
