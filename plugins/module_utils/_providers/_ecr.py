# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``ecr`` credential provider: Amazon ECR GetAuthorizationToken. Private to this collection.

The token is minted with the standard AWS credential chain (environment, profile, IRSA web
identity, instance role), optionally after assuming ``role_arn``. ECR documents a 12 hour
lifetime for authorization tokens; the registry user name is always ``AWS``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re

from ansible_collections.registrylink.k8s.plugins.module_utils import _aws
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import ecr_host, parse_ecr_host, secret_key

_REGION_RE = re.compile(r'^[a-z]{2}(-[a-z0-9]+)+-\d+$')
_ACCOUNT_RE = re.compile(r'^\d{12}$')
_ROLE_ARN_RE = re.compile(r'^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$')
_URL_RE = re.compile(r'^https?://[^/\s?#]+(/[^\s]*)?$')


class EcrProvider(Provider):
    """Amazon ECR authorization tokens (``aws ecr get-login-password``), valid for 12 hours."""

    name = 'ecr'
    options = ('region', 'registry_id', 'aws_profile', 'role_arn', 'endpoint_url')
    lifetime = 12 * 3600
    default_refresh_before = 6 * 3600
    username = 'AWS'

    def validate(self, options):
        """Check and normalise the options (no network). See the class and module docs.

        ``region`` is required unless ``server`` is an ECR host (``<account>.dkr.ecr.<region>.amazonaws.com``),
        from which region and ``registry_id`` are then taken; given both ways they must agree.
        """
        out = dict((k, options.get(k)) for k in ('server',) + self.options)
        for key, value in out.items():
            if value is not None and not isinstance(value, str):
                raise ValidationError('%s: must be a string, got %s' % (key, type(value).__name__), field=key)
            if isinstance(value, str):
                out[key] = value.strip() or None
        from_host = None
        if out['server']:
            key, _warnings = secret_key(out['server'])
            out['server'] = key
            from_host = parse_ecr_host(key)
        region, registry_id = out['region'], out['registry_id']
        if region is not None and not _REGION_RE.match(region):
            raise ValidationError('region: %r is not an AWS region name (for example eu-west-1)' % region,
                                  field='region')
        if registry_id is not None and not _ACCOUNT_RE.match(registry_id):
            raise ValidationError('registry_id: %r is not a 12-digit AWS account ID' % registry_id,
                                  field='registry_id')
        if from_host:
            host_account, host_region = from_host
            if region is not None and region != host_region:
                raise ValidationError('region: %s disagrees with server %s (region %s); drop one of them'
                                      % (region, out['server'], host_region), field='region')
            if registry_id is not None and registry_id != host_account:
                raise ValidationError('registry_id: %s disagrees with server %s (account %s); drop one of them'
                                      % (registry_id, out['server'], host_account), field='registry_id')
            out['region'], out['registry_id'] = host_region, host_account
        if out['region'] is None:
            raise ValidationError(
                'region: provider ecr needs the AWS region of the registry (for example region: eu-west-1), or '
                'server set to the ECR host <account>.dkr.ecr.<region>.amazonaws.com. The environment\'s default '
                'region is not used: it would silently decide which registry the token is for', field='region')
        if out['role_arn'] is not None and not _ROLE_ARN_RE.match(out['role_arn']):
            raise ValidationError('role_arn: %r is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)'
                                  % out['role_arn'], field='role_arn')
        if out['endpoint_url'] is not None and not _URL_RE.match(out['endpoint_url']):
            raise ValidationError('endpoint_url: %r is not an http(s) URL' % out['endpoint_url'], field='endpoint_url')
        return out

    def known_server(self, options):
        if options.get('server'):
            return options['server']
        if options.get('registry_id'):
            return ecr_host(options['registry_id'], options['region'])
        return None

    def _session(self, options):
        if self.session_factory is not None:
            return self.session_factory(region=options['region'], profile=options.get('aws_profile'),
                                        role_arn=options.get('role_arn'))
        return _aws.session(region=options['region'], profile=options.get('aws_profile'),
                            role_arn=options.get('role_arn'), what='provider ecr')

    def mint(self, options, now):
        """GetAuthorizationToken for the normalised ``options``; returns Credentials.

        The registry key is ``server`` when given, else the token's ``proxyEndpoint`` (with the
        account replaced by ``registry_id`` when that names another account).
        :raises ProviderError: no credentials, access denied, unreachable endpoint, malformed answer.
        """
        sess = self._session(options)
        client = _aws.client(sess, 'ecr', endpoint_url=options.get('endpoint_url'), region=options['region'])
        kwargs = {}
        if options.get('registry_id'):
            kwargs['registryIds'] = [options['registry_id']]
        resp = _aws.call('ECR GetAuthorizationToken (region %s)' % options['region'],
                         client.get_authorization_token, **kwargs)
        data = (resp.get('authorizationData') or [None])[0]
        if not data or not data.get('authorizationToken'):
            raise ProviderError('ECR GetAuthorizationToken returned no authorization data')
        try:
            decoded = base64.b64decode(data['authorizationToken'], validate=True).decode('utf-8')
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ProviderError('ECR GetAuthorizationToken returned a token that is not base64 of "user:password"')
        username, sep, password = decoded.partition(':')
        if not sep or not username or not password:
            raise ProviderError('ECR GetAuthorizationToken returned a token that is not base64 of "user:password"')
        server = options.get('server') or self._server_from_endpoint(data.get('proxyEndpoint'), options)
        expires_at = self.checked_expiry(data.get('expiresAt'), now, 'ECR GetAuthorizationToken')
        return Credentials(server, username, password, expires_at, now)

    @staticmethod
    def _server_from_endpoint(endpoint, options):
        if not endpoint:
            if options.get('registry_id'):
                return ecr_host(options['registry_id'], options['region'])
            raise ProviderError('ECR GetAuthorizationToken returned no proxyEndpoint; set server (the ECR host)')
        key = secret_key(endpoint)[0]
        parsed = parse_ecr_host(key)
        if parsed and options.get('registry_id') and parsed[0] != options['registry_id']:
            key = options['registry_id'] + key[len(parsed[0]):]
        return key
