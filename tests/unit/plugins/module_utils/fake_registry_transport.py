# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A FAKE registry behind a ``requests`` transport adapter, for unit tests of the ``_distribution`` client.

It is a fake, not a mock of any real registry: fixed, documented behaviour shaped like the
OCI distribution spec and the Docker token spec (see docs/reference/registry-protocol.md,
with switches for the quirks the client must survive (Link styles, Retry-After, redirects,
realm placement). Integration tests use the real distribution registry instead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import io
import json
import time

from urllib.parse import parse_qs, urlsplit

import requests
import requests.adapters
from requests.structures import CaseInsensitiveDict

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import MANIFEST_MEDIA_TYPES

OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def fake_jwt(claims):
    """An unsigned JWT-shaped string (the client never verifies signatures; it only reads claims)."""
    header = b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())
    body = b64url(json.dumps(claims).encode())
    return '%s.%s.%s' % (header, body, b64url(b'fake-signature'))


def manifest_bytes(name, media_type=OCI_MANIFEST):
    doc = {'schemaVersion': 2, 'mediaType': media_type,
           'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'size': 2,
                      'digest': 'sha256:' + hashlib.sha256(name.encode()).hexdigest()},
           'layers': []}
    return json.dumps(doc, sort_keys=True).encode()


class FakeTransportAdapter(requests.adapters.BaseAdapter):
    """Routes every request to ``handler(prepared_request) -> (status, headers, body)`` or raises what it returns."""

    def __init__(self, handler):
        super(FakeTransportAdapter, self).__init__()
        self.handler = handler
        self.requests = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.requests.append({'method': request.method, 'url': request.url, 'headers': dict(request.headers),
                              'verify': verify, 'timeout': timeout})
        result = self.handler(request)
        if isinstance(result, BaseException):
            raise result
        status, headers, body = result
        resp = requests.Response()
        resp.status_code = status
        resp.headers = CaseInsensitiveDict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        resp._content = b'' if request.method == 'HEAD' else (body or b'')
        resp.raw = io.BytesIO(resp._content)
        resp.url = request.url
        resp.request = request
        resp.reason = 'fake'
        return resp

    def close(self):
        pass


class FakeRegistry(object):
    """An in-memory registry at ``https://<host>``.

    ``auth``: None (anonymous), 'basic', or 'bearer' (token realm at ``realm``).
    ``users``: {username: password}. ``acl``: {username or None: {repository: [actions]}}.
    ``pagination``: 'link-relative' (distribution), 'link-absolute', 'opaque' (Quay-style next_page),
    'no-link' (honours n/last but never sends Link), 'ignore-n' (always everything, no Link).
    """

    def __init__(self, host='reg.example.test', auth=None, users=None, acl=None, realm=None, service=None,
                 pagination='link-relative', delete_enabled=True, token_expires_in=300):
        self.host = host
        self.auth = auth
        self.users = users or {}
        self.acl = acl or {}
        self.realm = realm or 'https://%s/token' % host
        self.service = service if service is not None else host
        self.pagination = pagination
        self.delete_enabled = delete_enabled
        self.token_expires_in = token_expires_in
        self.repos = {}
        self.manifests = {}  # digest -> (media_type, bytes)
        self.tokens = {}     # token -> granted list
        self.token_requests = []
        self.queued = []     # (predicate, response) consumed in order before normal routing
        self.redirect_blobs_to = None
        self.extra_routes = {}
        self.adapter = FakeTransportAdapter(self.handle)

    # -- setup ---------------------------------------------------------------------------------

    def add_tag(self, repo, tag, content=None, media_type=OCI_MANIFEST):
        content = content if content is not None else manifest_bytes('%s:%s' % (repo, tag), media_type)
        digest = 'sha256:' + hashlib.sha256(content).hexdigest()
        self.manifests[digest] = (media_type, content)
        self.repos.setdefault(repo, {})[tag] = digest
        return digest

    def queue(self, predicate, response):
        self.queued.append((predicate, response))

    def mount(self, client):
        client.session.mount('https://', self.adapter)
        client.session.mount('http://', self.adapter)
        return client

    @property
    def requests(self):
        return self.adapter.requests

    # -- auth ----------------------------------------------------------------------------------

    def _basic_user(self, request):
        value = request.headers.get('Authorization') or ''
        if not value.startswith('Basic '):
            return None, False
        user, _sep, password = base64.b64decode(value[6:]).decode().partition(':')
        return user, self.users.get(user) == password

    def _challenge(self, scope=None, error=None):
        if self.auth == 'basic':
            return 'Basic realm="fake registry"'
        parts = ['realm="%s"' % self.realm]
        if self.service:
            parts.append('service="%s"' % self.service)
        if scope:
            parts.append('scope="%s"' % scope)
        if error:
            parts.append('error="%s"' % error)
        return 'Bearer ' + ','.join(parts)

    def _granted(self, user, scopes):
        granted = []
        rules = self.acl.get(user, {})
        for scope in scopes:
            rtype, _sep, rest = scope.partition(':')
            name, _sep, actions = rest.rpartition(':')
            allowed = rules.get(name, rules.get('*', []))
            ok = [a for a in actions.split(',') if a in allowed or '*' in allowed]
            if ok:
                granted.append({'type': rtype, 'name': name, 'actions': ok})
        return granted

    def _token_endpoint(self, request):
        query = parse_qs(urlsplit(request.url).query)
        self.token_requests.append({'query': query, 'authorization': request.headers.get('Authorization')})
        user = None
        if request.headers.get('Authorization'):
            user, ok = self._basic_user(request)
            if not ok:
                return 401, {'Content-Type': 'application/json'}, {'details': 'incorrect username or password'}
        granted = self._granted(user, query.get('scope', []))
        now = int(time.time())
        token = fake_jwt({'iss': 'fake-issuer', 'sub': user or '', 'aud': self.service, 'iat': now,
                          'exp': now + self.token_expires_in, 'access': granted})
        self.tokens[token] = granted
        return 200, {'Content-Type': 'application/json'}, {'token': token, 'expires_in': self.token_expires_in}

    def _authorize(self, request, rtype, name, action):
        """None when allowed, else the 401 response."""
        if self.auth is None:
            return None
        value = request.headers.get('Authorization') or ''
        scope = '%s:%s:%s' % (rtype, name, action)
        if self.auth == 'basic':
            user, ok = self._basic_user(request)
            if ok and action in self.acl.get(user, {}).get(name, self.acl.get(user, {}).get('*', [])):
                return None
            if ok:
                return 403, {'Content-Type': 'application/json'}, {
                    'errors': [{'code': 'DENIED', 'message': 'requested access to the resource is denied'}]}
            return 401, {'WWW-Authenticate': self._challenge(), 'Content-Type': 'application/json'}, {
                'errors': [{'code': 'UNAUTHORIZED', 'message': 'authentication required'}]}
        token = value[7:] if value.startswith('Bearer ') else None
        granted = self.tokens.get(token) if token else None
        if granted is not None:
            for entry in granted:
                if entry['type'] == rtype and entry['name'] == name and action in entry['actions']:
                    return None
        error = 'insufficient_scope' if granted is not None else None
        return 401, {'WWW-Authenticate': self._challenge(scope, error), 'Content-Type': 'application/json'}, {
            'errors': [{'code': 'UNAUTHORIZED', 'message': 'authentication required',
                        'detail': [{'Type': rtype, 'Name': name, 'Action': action}]}]}

    # -- routing -------------------------------------------------------------------------------

    def handle(self, request):
        for i, (predicate, response) in enumerate(self.queued):
            if predicate(request):
                del self.queued[i]
                return response
        parts = urlsplit(request.url)
        if parts.netloc in self.extra_routes:
            return self.extra_routes[parts.netloc](request)
        if request.url.split('?')[0] == self.realm.split('?')[0]:
            return self._token_endpoint(request)
        if parts.hostname != self.host.split(':')[0]:
            return ConnectionError_('unknown host %s' % parts.hostname)
        path = parts.path
        query = parse_qs(parts.query)
        if path == '/v2/':
            if self.auth is None:
                return 200, {'Docker-Distribution-API-Version': 'registry/2.0'}, b'{}'
            if self.auth == 'basic':
                user, ok = self._basic_user(request)
                if ok:
                    return 200, {'Docker-Distribution-API-Version': 'registry/2.0'}, b'{}'
            value = request.headers.get('Authorization') or ''
            if self.auth == 'bearer' and value.startswith('Bearer ') and value[7:] in self.tokens:
                return 200, {}, b'{}'
            return 401, {'WWW-Authenticate': self._challenge(),
                         'Docker-Distribution-API-Version': 'registry/2.0'}, {
                'errors': [{'code': 'UNAUTHORIZED', 'message': 'authentication required'}]}
        if path == '/v2/_catalog':
            denied = self._authorize(request, 'registry', 'catalog', '*')
            if denied:
                return denied
            return self._page(request, '/v2/_catalog', sorted(self.repos), query, 'repositories')
        if '/manifests/' in path:
            name, _sep, ref = path[4:].partition('/manifests/')
            action = 'delete' if request.method == 'DELETE' else 'pull'
            denied = self._authorize(request, 'repository', name, action)
            if denied:
                return denied
            return self._manifest(request, name, ref)
        if '/blobs/' in path:
            name, _sep, digest = path[4:].partition('/blobs/')
            denied = self._authorize(request, 'repository', name, 'pull')
            if denied:
                return denied
            if self.redirect_blobs_to:
                return 307, {'Location': self.redirect_blobs_to + digest}, b''
            return 404, {}, {'errors': [{'code': 'BLOB_UNKNOWN', 'message': 'blob unknown to registry'}]}
        if path.endswith('/tags/list'):
            name = path[4:-len('/tags/list')]
            denied = self._authorize(request, 'repository', name, 'pull')
            if denied:
                return denied
            if name not in self.repos:
                return 404, {}, {'errors': [{'code': 'NAME_UNKNOWN', 'message': 'repository name not known'}]}
            return self._page(request, path, sorted(self.repos[name]), query, 'tags', name=name)
        return 404, {}, b'404 page not found'

    def _manifest(self, request, name, ref):
        tags = self.repos.get(name)
        if tags is None:
            return 404, {'Content-Type': 'application/json'}, {
                'errors': [{'code': 'NAME_UNKNOWN', 'message': 'repository name not known to registry'}]}
        digest = ref if ref.startswith('sha256:') else tags.get(ref)
        if digest is None or digest not in self.manifests or digest not in tags.values():
            return 404, {'Content-Type': 'application/json'}, {
                'errors': [{'code': 'MANIFEST_UNKNOWN', 'message': 'manifest unknown'}]}
        if request.method == 'DELETE':
            if not self.delete_enabled:
                return 405, {'Content-Type': 'application/json'}, {
                    'errors': [{'code': 'UNSUPPORTED', 'message': 'The operation is unsupported.'}]}
            if not ref.startswith('sha256:'):
                return 400, {}, {'errors': [{'code': 'DIGEST_INVALID', 'message': 'provided digest did not match'}]}
            for tag in [t for t, d in tags.items() if d == digest]:
                del tags[tag]
            return 202, {'Content-Length': '0'}, b''
        media_type, content = self.manifests[digest]
        accept = request.headers.get('Accept') or ''
        if not all(mt in accept for mt in MANIFEST_MEDIA_TYPES):
            # a converted (schema 1 style) answer with another digest, as old registries did (wrong digest on delete)
            return 200, {'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
                         'Docker-Content-Digest': 'sha256:' + '1' * 64}, b'{"schemaVersion": 1}'
        return 200, {'Content-Type': media_type, 'Docker-Content-Digest': digest,
                     'Content-Length': str(len(content))}, content

    def _page(self, request, path, items, query, key, name=None):
        n = int(query['n'][0]) if 'n' in query else None
        last = query.get('last', [None])[0]
        mode = self.pagination
        if mode == 'ignore-n':
            return 200, {'Content-Type': 'application/json'}, {key: items, 'name': name}
        start = 0
        if mode == 'opaque' and 'next_page' in query:
            start = int(base64.b64decode(query['next_page'][0]).decode())
        elif last is not None:
            start = len([i for i in items if i <= last])
        page = items[start:start + n] if n else items[start:]
        headers = {'Content-Type': 'application/json'}
        more = n is not None and start + n < len(items)
        if more and mode != 'no-link':
            if mode == 'opaque':
                token = base64.b64encode(str(start + n).encode()).decode()
                url = '%s?n=%d&next_page=%s' % (path, n, token)
            else:
                url = '%s?last=%s&n=%d' % (path, page[-1], n)
            if mode == 'link-absolute':
                url = 'https://%s%s' % (self.host, url)
            headers['Link'] = '<%s>; rel="next"' % url
        return 200, headers, {key: page, 'name': name}


class ConnectionError_(requests.exceptions.ConnectionError):
    """A transport failure returned by a handler (raised by the adapter)."""
