# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``acr`` credential provider: Microsoft Entra token -> ACR refresh token. Private to this collection.

Steps (docs/aks-acr.md, "Provider acr"):

1. an Entra ID access token for ``token_scope`` from ``azure-identity``: a service principal
   secret when ``client_secret`` is given, else the ``DefaultAzureCredential`` chain
   (environment, workload identity, managed identity, Azure CLI, ...);
2. ``POST <endpoint_url>/oauth2/exchange`` (``grant_type=access_token``, ``service``,
   ``tenant``, ``access_token``), which answers an ACR refresh token (a JWT);
3. the pull secret entry: user ``00000000-0000-0000-0000-000000000000`` and the refresh token as
   password (the kubelet ignores ``identitytoken``), expiring at the token's ``exp``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.registrylink.k8s.plugins.module_utils import _azure
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._headers import decode_jwt_claims
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import ACR_NULL_GUID, secret_key

try:
    import requests
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - registry_secret checks its libraries first
    HAS_REQUESTS = False

#: The Entra scope of the access token exchanged at /oauth2/exchange, as ``az acr login`` asks for it.
ARM_SCOPE = 'https://management.azure.com/.default'
#: The registry audience, for registries that refuse ARM-audience tokens.
ACR_SCOPE = 'https://containerregistry.azure.net/.default'
_HTTPS_RE = _azure.HTTPS_BASE_RE
_SCOPE_RE = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:\S+$')
TIMEOUT = 30


class AcrProvider(Provider):
    """ACR refresh tokens exchanged from a Microsoft Entra ID access token (about 3 hours)."""

    name = 'acr'
    options = ('tenant_id', 'client_id', 'client_secret', 'authority_host', 'token_scope', 'endpoint_url',
               'ca_path')
    #: options that hold a secret: never part of the recorded fingerprint
    secret_options = ('client_secret',)
    lifetime = 3 * 3600
    default_refresh_before = 90 * 60
    username = ACR_NULL_GUID

    def __init__(self, warn=None, session_factory=None, http_post=None):
        super(AcrProvider, self).__init__(warn=warn, session_factory=session_factory)
        self.http_post = http_post

    def validate(self, options):
        """Check and normalise the options (no network); fills ``tenant_id``, ``client_id`` and
        ``authority_host`` from ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_AUTHORITY_HOST``."""
        out = dict((k, options.get(k)) for k in ('server',) + self.options)
        for key, value in out.items():
            if value is not None and not isinstance(value, str):
                raise ValidationError('%s: must be a string, got %s' % (key, type(value).__name__), field=key)
            if isinstance(value, str):
                out[key] = value.strip() or None
        if not out['server']:
            raise ValidationError('server: provider acr needs the registry login server (for example '
                                  'server: myregistry.azurecr.io)', field='server')
        key, _warnings = secret_key(out['server'])
        if '/' in key:
            raise ValidationError('server: %r has a path; provider acr needs the login server alone (for example '
                                  'myregistry.azurecr.io), the token is valid for every repository the identity may '
                                  'pull' % out['server'], field='server')
        out['server'] = key
        _azure.validate_credential_options(out)
        if out['token_scope'] is None:
            out['token_scope'] = ARM_SCOPE
        elif not _SCOPE_RE.match(out['token_scope']):
            raise ValidationError('token_scope: %r is not an Entra scope (for example %s)'
                                  % (out['token_scope'], ACR_SCOPE), field='token_scope')
        if out['endpoint_url'] is not None:
            if not _HTTPS_RE.match(out['endpoint_url']):
                raise ValidationError('endpoint_url: %r is not an https:// URL without a path (the token service '
                                      'of the registry; the token is never sent over plain HTTP)'
                                      % out['endpoint_url'], field='endpoint_url')
            out['endpoint_url'] = out['endpoint_url'].rstrip('/')
        return out

    def credential(self, options):
        """The azure-identity credential for ``options`` (tests inject ``session_factory``)."""
        if self.session_factory is not None:
            return self.session_factory(options)
        return _azure.credential(options, what='provider acr')

    def entra_token(self, options):
        """An Entra access token string for ``token_scope``. :raises ProviderError: (no secret in it)."""
        return _azure.get_token(self.credential(options), options['token_scope'])

    def _post(self, url, data, verify):
        if self.http_post is not None:
            return self.http_post(url, data=data, verify=verify, timeout=TIMEOUT, allow_redirects=False)
        if not HAS_REQUESTS:  # pragma: no cover
            raise ProviderError('provider acr needs the Python package requests')
        return requests.post(url, data=data, verify=verify, timeout=TIMEOUT, allow_redirects=False)

    def exchange(self, options, access_token, tenant):
        """``POST /oauth2/exchange``: the ACR refresh token for an Entra access token."""
        endpoint = options.get('endpoint_url') or 'https://%s' % options['server']
        url = endpoint + '/oauth2/exchange'
        data = {'grant_type': 'access_token', 'service': options['server'], 'access_token': access_token}
        if tenant:
            data['tenant'] = tenant
        try:
            resp = self._post(url, data, options.get('ca_path') or True)
        except Exception as exc:  # requests' connection, TLS and timeout errors
            raise ProviderError('ACR token exchange at %s failed: %s' % (url, type(exc).__name__),
                                category='unreachable',
                                hint='check that %s is reachable and its certificate trusted (ca_path)' % endpoint)
        if resp.status_code != 200:
            message = _acr_message(resp)
            hint = None
            if resp.status_code in (401, 403):
                hint = ('the identity needs a pull role on the registry (AcrPull, or Container Registry Repository '
                        'Reader on an ABAC-mode registry); a registry that refuses ARM-audience tokens needs '
                        'token_scope: %s' % ACR_SCOPE)
            raise ProviderError('ACR token exchange at %s answered HTTP %d%s' % (
                url, resp.status_code, (': ' + message) if message else ''),
                category='unauthorized' if resp.status_code in (401, 403) else 'registry_error', hint=hint)
        try:
            refresh = resp.json().get('refresh_token')
        except (ValueError, AttributeError):
            refresh = None
        if not isinstance(refresh, str) or not refresh:
            raise ProviderError('ACR token exchange at %s answered no refresh_token' % url)
        return refresh

    def mint(self, options, now):
        """The Entra token, the exchange, and Credentials(server, 00000000-..., refresh token, exp)."""
        access = self.entra_token(options)
        tenant = options.get('tenant_id') or (decode_jwt_claims(access) or {}).get('tid')
        refresh = self.exchange(options, access, tenant)
        claims = decode_jwt_claims(refresh) or {}
        exp = claims.get('exp')
        reported = None
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            try:
                reported = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc)
            except (OverflowError, OSError, ValueError):
                reported = None
        expires_at = self.checked_expiry(reported, now, 'ACR refresh token')
        return Credentials(options['server'], ACR_NULL_GUID, refresh, expires_at, now)


def _acr_message(resp):
    """The registry's error text (``{"errors": [{"message": ...}]}`` or OAuth2 ``error_description``)."""
    try:
        body = resp.json()
    except ValueError:
        return ''
    if isinstance(body, dict):
        errors = body.get('errors')
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get('message') or errors[0].get('code') or '')[:300]
        if body.get('error_description') or body.get('error'):
            return str(body.get('error_description') or body.get('error'))[:300]
    return ''
