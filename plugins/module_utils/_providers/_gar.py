# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``gar`` credential provider: a Google OAuth2 access token for Artifact Registry. Private to this collection.

Artifact Registry (``LOCATION-docker.pkg.dev``, and ``gcr.io`` hosts served by Artifact
Registry) accepts the user name ``oauth2accesstoken`` with an OAuth2 access token as the
password. The token comes from Application Default Credentials or ``credentials_file``
(``_gcp.credentials``); Google's access tokens live one hour, and the expiry the token
endpoint reports is recorded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.registrylink.k8s.plugins.module_utils import _gcp
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import (
    GAR_HOST_RE, gcr_shutdown_note, secret_key)


class GarProvider(Provider):
    """Artifact Registry access tokens (``gcloud auth print-access-token``), valid for one hour."""

    name = 'gar'
    options = ('credentials_file', 'token_uri')
    lifetime = 3600
    default_refresh_before = 30 * 60
    username = 'oauth2accesstoken'

    def validate(self, options):
        """Check and normalise the options (no network): ``server`` is required (the Artifact
        Registry host, such as ``europe-west1-docker.pkg.dev``); ``credentials_file`` must be a
        readable Google credentials file; ``token_uri`` an http(s) URL.

        A server that is not an Artifact Registry host gets a warning: the access token is
        good for every Google API the credentials may call, and it is given to that host. A
        ``gcr.io`` host gets the explanation of the Container Registry shutdown as a warning.
        """
        out = dict((k, options.get(k)) for k in ('server',) + self.options)
        server = out['server']
        if server is not None and not isinstance(server, str):
            raise ValidationError('server: must be a string, got %s' % type(server).__name__, field='server')
        if not (server or '').strip():
            raise ValidationError('server: provider gar needs the Artifact Registry host the token is for '
                                  '(for example server: europe-west1-docker.pkg.dev)', field='server')
        key, _warnings = secret_key(server.strip())
        out['server'] = key
        host = key.split('/')[0].split(':')[0]
        if not GAR_HOST_RE.match(host):
            self.warn('registries: provider gar gives a Google access token (good for every API the credentials may '
                      'call, for an hour) to %s, which is not an Artifact Registry host (LOCATION-docker.pkg.dev or '
                      'a gcr.io host); use it only for a private endpoint of Artifact Registry' % key)
        gcr_note = gcr_shutdown_note(host)
        if gcr_note:
            self.warn('registries: server %s works only where Artifact Registry serves it. %s' % (key, gcr_note))
        if out['credentials_file'] is not None:
            if not isinstance(out['credentials_file'], str) or not out['credentials_file'].strip():
                raise ValidationError('credentials_file: give the path of a Google credentials file, or leave it '
                                      'unset for Application Default Credentials', field='credentials_file')
            out['credentials_file'] = out['credentials_file'].strip()
            _gcp.check_credentials_file(out['credentials_file'])
        out['token_uri'] = _gcp.check_url(out['token_uri'], 'token_uri')
        return out

    def mint(self, options, now):
        """An OAuth2 access token for the normalised ``options``; returns Credentials.

        :raises ProviderError: google-auth missing, no credentials, the token endpoint refused.
        """
        creds, _project = _gcp.credentials(options.get('credentials_file'), options.get('token_uri'),
                                           what='provider gar')
        token, expiry = _gcp.access_token(creds, what='provider gar')
        expires_at = self.checked_expiry(expiry, now, 'Google OAuth2 token')
        return Credentials(options['server'], self.username, token, expires_at, now)
