# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``artifactory_token`` credential provider: JFrog Artifactory scoped access tokens. Private to this collection.

API (JFrog Access API, docs/vendor-registries.md): ``POST /access/api/v1/tokens`` with
``username``, ``scope`` (``applied-permissions/user``: the user's own permissions), ``expires_in``
(seconds), ``refreshable: false`` and ``description`` -> ``{token_id, access_token, expires_in,
scope, token_type}``; ``GET /access/api/v1/tokens`` (``{"tokens": [...]}``, no token values) and
``GET|DELETE /access/api/v1/tokens/{token_id}``. The caller authenticates with a bearer token
(``api_token``) of an admin, or of the user itself.

Rules the code relies on:

* With Docker, an access token is the password and the user name is the token's subject, the
  user it was created for (``token_username``).
* Tokens whose ``expires_in`` is below the platform's persistency threshold (default 10800 s) are
  not stored and so cannot be listed or revoked: the lifetime here is at least 3 hours.
* No rotate call for access tokens without a refresh token: rotation creates a new token, the runner
  writes every Secret, then revokes the old one.
* Ownership: the description carries ``registrylink.k8s owner=<owner>``.
* Docker access methods (``access_method``, Artifactory's ``dockerReverseProxyMethod``): repository
  path (``<host>/<repo-key>/<image>``: the key is the host), subdomain (``<repo-key>.<host>/<image>``,
  on JFrog SaaS ``<name>-<repo-key>.jfrog.io/<image>``: the key is that host) and port
  (``<host>:<port>/<image>``: the key is ``host:port``). Images given in ``images`` must be of the
  chosen shape, checked before any call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._common import parse_duration
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._vendor_api import (
    OWNER_MARKER,
    VendorApi,
    check_api_url,
    check_ca_path,
    owned_label as description,  # The token's description
)
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import parse_image_reference, require_registry
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import image_host, secret_key, split_server

DEFAULT_LIFETIME = 30 * 86400
MIN_LIFETIME = 10800
MAX_LIFETIME = 365 * 86400
_USER_RE = re.compile(r'^[^\s:/\\]{1,255}$')
_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$')
ACCESS_METHODS = ('repository_path', 'subdomain', 'port')
_REPO_KEY_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
_LABEL_RE = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')


def docker_registry_key(method, server, repository_key):
    """The registry key (``host[:port]``) the kubelet matches for images of an Artifactory Docker repository
    reached by ``method``; ``server`` is the Artifactory host (normalised key), ``repository_key`` the repository.

    :raises ValidationError: naming ``server`` or ``repository_key`` and the shape the method needs.
    """
    _scheme, hostport, path = split_server(server)
    if path:
        raise ValidationError('server: with access_method %s give the Artifactory host only (%s), not a path: the '
                              'Docker client cannot use a context path in the registry host' % (method, hostport),
                              field='server')
    host, _sep, port = hostport.partition(':')
    if method == 'port':
        if not port:
            raise ValidationError('server: access_method port needs the repository\'s port in server (host:port, '
                                  'for example artifactory.example.com:8876)', field='server')
        return hostport
    if not repository_key or not _REPO_KEY_RE.match(repository_key):
        raise ValidationError('repository_key: access_method %s needs the Docker repository key (for example '
                              'docker-local), got %r' % (method, repository_key), field='repository_key')
    if method == 'repository_path':
        return hostport
    if not _LABEL_RE.match(repository_key):
        raise ValidationError('repository_key: %r cannot be a host name label for access_method subdomain '
                              '(lowercase letters, digits and -)' % repository_key, field='repository_key')
    if host.endswith('.jfrog.io') and host.count('.') == 2:  # JFrog SaaS: <name>-<repo>.jfrog.io
        name, rest = host.split('.', 1)
        return '%s-%s.%s%s' % (name, repository_key, rest, ':' + port if port else '')
    return '%s.%s' % (repository_key, hostport)


def check_images(method, key, repository_key, images):
    """Each image must be pulled from ``key`` the way ``method`` lays images out; no network.

    :raises ValidationError: naming ``images``, the image and the shape expected.
    """
    if images in (None, []):
        return
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise ValidationError('images: a list of image references, got %r' % (images,), field='images')
    shape = {'repository_path': '%s/%s/<image>' % (key, repository_key), 'subdomain': '%s/<image>' % key,
             'port': '%s/<image>' % key}[method]
    for image in images:
        ref = require_registry(parse_image_reference(image, field='images'), field='images')
        host_ok = image_host(ref.registry) == image_host(key)
        path_ok = method != 'repository_path' or ref.repository.startswith(repository_key + '/')
        if not (host_ok and path_ok):
            raise ValidationError('images: %s (registry %s) is not pulled through access method %s of this entry, '
                                  'which writes the registry key %s for images %s: fix access_method, repository_key '
                                  'or server, or the image' % (image, ref.registry, method, key, shape),
                                  field='images')


class ArtifactoryTokenProvider(Provider):
    """Artifactory access tokens of one user, scoped to that user's permissions."""

    name = 'artifactory_token'
    options = ('api_url', 'api_token', 'api_ca_path', 'token_username', 'credential_name', 'credential_lifetime',
               'access_method', 'repository_key', 'images')
    secret_options = ('api_token',)
    lifetime = DEFAULT_LIFETIME
    default_refresh_before = DEFAULT_LIFETIME // 2
    stateful = True

    def validate(self, options):
        """Check and normalise the options without network access: ``api_url``, ``api_token``,
        ``token_username`` and ``server`` (the Docker registry key) are required; the lifetime is 3h..365d."""
        out = dict((k, options.get(k)) for k in ('server',) + self.options)
        images = out.pop('images')  # checked below, not recorded: another image list is no reason to mint again
        for key, value in out.items():
            if value is not None and not isinstance(value, str):
                raise ValidationError('%s: must be a string, got %s' % (key, type(value).__name__), field=key)
            if isinstance(value, str) and key != 'api_token':
                out[key] = value.strip() or None
        out['api_url'] = check_api_url(out['api_url'], 'api_url')
        if not out['api_token']:
            raise ValidationError('api_token: provider artifactory_token needs an access token (admin, or of '
                                  'token_username itself) to create tokens with', field='api_token')
        if not out['token_username'] or not _USER_RE.match(out['token_username']):
            raise ValidationError('token_username: provider artifactory_token needs the Artifactory user the token is '
                                  'for (it becomes the registry user name; no spaces, colons or slashes)',
                                  field='token_username')
        if not out['server']:
            raise ValidationError('server: provider artifactory_token needs the Docker registry key: the host for the '
                                  'repository path method (acme.jfrog.io), <repo>.<host> for the subdomain method, '
                                  'host:port for the port method', field='server')
        out['server'] = secret_key(out['server'])[0]
        if out['access_method'] is not None:
            if out['access_method'] not in ACCESS_METHODS:
                raise ValidationError('access_method: %r is not an Artifactory Docker access method; use one of %s'
                                      % (out['access_method'], ', '.join(ACCESS_METHODS)), field='access_method')
            out['server'] = docker_registry_key(out['access_method'], out['server'], out['repository_key'])
            check_images(out['access_method'], out['server'], out['repository_key'], images)
        elif out['repository_key'] is not None or images not in (None, []):
            raise ValidationError('access_method: repository_key and images need access_method (repository_path, '
                                  'subdomain or port), which says how the images reach Artifactory',
                                  field='access_method')
        if out['credential_name'] is not None and not _NAME_RE.match(out['credential_name']):
            raise ValidationError('credential_name: %r is not a valid token description prefix (letters, digits, '
                                  'space, . _ -; at most 100 characters)' % out['credential_name'],
                                  field='credential_name')
        out['api_ca_path'] = check_ca_path(out['api_ca_path'], 'api_ca_path')
        seconds = DEFAULT_LIFETIME
        if out['credential_lifetime'] is not None:
            seconds = parse_duration(out['credential_lifetime'], field='credential_lifetime')
            if seconds < MIN_LIFETIME or seconds > MAX_LIFETIME:
                raise ValidationError('credential_lifetime: an Artifactory token minted here lives from 3h (shorter '
                                      'tokens are not stored by Artifactory and cannot be revoked) to 365d; got %r'
                                      % out['credential_lifetime'], field='credential_lifetime')
        out['credential_lifetime'] = '%ds' % seconds
        self.lifetime = seconds
        self.default_refresh_before = seconds // 2
        return out

    def _call(self, options, method, path, label, **kwargs):
        session = self.session_factory(options) if self.session_factory is not None else None
        api = VendorApi(options['api_url'] + '/access/api/v1', 'Artifactory %s' % options['api_url'],
                        headers={'Authorization': 'Bearer %s' % options['api_token']},
                        ca_path=options.get('api_ca_path'), session=session)
        try:
            return api.call(method, path, label, **kwargs)
        except ProviderError as exc:
            status = exc.details.get('status')
            msg = exc.msg
            if status == 401:
                msg += ': Artifactory refused api_token (expired, revoked, or not an access token)'
            elif status == 403:
                msg += ('. The owner of api_token may not create tokens for %s: use an admin token, or a token of '
                        'that user' % options['token_username'])
            elif status == 400:
                msg += '. Artifactory refused the request as invalid; nothing was changed'
            raise ProviderError(msg, **exc.details)

    def check(self, options, ref, now):
        """None when the token ``ref`` is still stored at Artifactory, ours, and not expired."""
        try:
            token = self._call(options, 'GET', '/tokens/%s' % ref['id'], 'read token %s' % ref['id']).body or {}
        except ProviderError as exc:
            if exc.details.get('status') == 404:
                return 'token %s no longer exists at Artifactory (revoked)' % ref['id']
            raise
        if OWNER_MARKER + options['owner'] not in (token.get('description') or ''):
            return 'token %s was not created for this Secret and cluster' % ref['id']
        expiry = token.get('expiry')
        if isinstance(expiry, int) and 0 < expiry <= _unix(now):
            return 'token %s has expired' % ref['id']
        return None

    def preview(self, options, current):
        now = datetime.datetime.now(datetime.timezone.utc)
        return Credentials(options['server'], options['token_username'], None,
                           now + datetime.timedelta(seconds=self.lifetime), now, ref=None)

    def mint(self, options, now, current=None):
        """Create a token for ``token_username`` (rotation too: the runner revokes the old one after the writes)."""
        body = {'grant_type': 'client_credentials', 'username': options['token_username'],
                'scope': 'applied-permissions/user', 'expires_in': self.lifetime, 'refreshable': False,
                'description': description(options)}
        label = 'create an access token for user %s' % options['token_username']
        created = self._call(options, 'POST', '/tokens', label, json_body=body).body or {}
        if not created.get('access_token') or not isinstance(created.get('token_id'), str):
            raise ProviderError('Artifactory: %s: the answer lacks token_id or access_token' % label)
        reported = None
        if isinstance(created.get('expires_in'), int) and created['expires_in'] > 0:
            reported = now + datetime.timedelta(seconds=created['expires_in'])
        expires = self.checked_expiry(reported, now, 'Artifactory ' + label)
        return Credentials(options['server'], options['token_username'], created['access_token'], expires, now,
                           ref={'id': created['token_id'], 'name': options['token_username']})

    def owned(self, options):
        """Refs of every stored token whose description carries this owner."""
        resp = self._call(options, 'GET', '/tokens', 'list tokens')
        tokens = (resp.body or {}).get('tokens') if isinstance(resp.body, dict) else None
        marker = OWNER_MARKER + options['owner']
        return [{'id': t['token_id'], 'name': options['token_username']} for t in tokens or []
                if isinstance(t, dict) and isinstance(t.get('token_id'), str) and marker in (t.get('description') or '')]

    def retire(self, options, ref):
        """Revoke the token ``ref``; already gone is fine."""
        try:
            self._call(options, 'DELETE', '/tokens/%s' % ref['id'], 'revoke token %s' % ref['id'], expect=(200, 204))
        except ProviderError as exc:
            if exc.details.get('status') == 404:
                return False
            raise
        return True


def _unix(when):
    return (when - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()
