# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``gitlab_deploy_token`` credential provider: GitLab deploy tokens. Private to this collection.

API (GitLab REST v4, docs/vendor-registries.md): ``POST /projects/:id/deploy_tokens`` or
``POST /groups/:id/deploy_tokens`` with ``name``, ``scopes`` and ``expires_at`` -> 201 with the
``token`` (shown only then) and the ``username`` (``gitlab+deploy-token-N`` unless given);
``GET .../deploy_tokens`` and ``GET .../deploy_tokens/:token_id`` (no token in them);
``DELETE .../deploy_tokens/:token_id`` -> 204 (the token is revoked). ``:id`` is the numeric id
or the URL-encoded full path. Creating needs the Maintainer role on a project, Owner on a group.

Rules the code relies on:

* GitLab has no rotate call for deploy tokens: rotation creates a new token, the runner writes
  every Secret, and only then the old token is revoked (the runner's clean-up). Both work in
  between, so rotation has no window in which pulls fail.
* Scope ``read_registry`` is what ``docker login`` / the kubelet need to pull.
* Never the CI job token: it is valid only while its job runs.
* Ownership: the token's name ends with ``(registrylink.k8s owner=<owner>)``; only such tokens
  are reused or revoked.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._common import (
    format_rfc3339,
    parse_duration,
    parse_rfc3339,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._vendor_api import (
    OWNER_MARKER,
    VendorApi,
    check_api_url,
    check_ca_path,
    owned_label as token_name,  # The deploy token's name
)
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import secret_key

HOUR = 3600
DEFAULT_LIFETIME = 30 * 86400
MAX_LIFETIME = 3650 * 86400
# A GitLab full path: namespaces and the project, each of letters, digits, _ . - (and + in old paths)
_PATH_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$')
_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$')


def _quote(path):
    out = []
    for ch in path:
        if ch.isalnum() or ch in '_.-':
            out.append(ch)
        else:
            out.append('%%%02X' % ord(ch))
    return ''.join(out)


class GitlabDeployTokenProvider(Provider):
    """GitLab project or group deploy tokens with scope ``read_registry``."""

    name = 'gitlab_deploy_token'
    options = ('api_url', 'api_token', 'api_ca_path', 'project', 'group', 'credential_name', 'credential_lifetime')
    secret_options = ('api_token',)
    lifetime = DEFAULT_LIFETIME
    default_refresh_before = DEFAULT_LIFETIME // 2
    stateful = True

    def validate(self, options):
        """Check and normalise the options without network access.

        ``api_url`` (GitLab's base URL), ``api_token`` (a personal, project or group access token
        with scope ``api``), ``server`` (the container registry host, often not GitLab's own host)
        and exactly one of ``project`` / ``group`` (full path or numeric id) are required.
        """
        out = dict((k, options.get(k)) for k in ('server',) + self.options)
        for key, value in out.items():
            if value is not None and not isinstance(value, str):
                raise ValidationError('%s: must be a string, got %s' % (key, type(value).__name__), field=key)
            if isinstance(value, str) and key != 'api_token':
                out[key] = value.strip().strip('/') if key in ('project', 'group') else value.strip()
                out[key] = out[key] or None
        out['api_url'] = check_api_url(out['api_url'], 'api_url')
        if not out['api_token']:
            raise ValidationError('api_token: provider gitlab_deploy_token needs a GitLab access token with scope api '
                                  'of a user who is Maintainer of the project (Owner of the group). Not the CI job '
                                  'token: it stops working when its job ends', field='api_token')
        if bool(out['project']) == bool(out['group']):
            raise ValidationError('project: provider gitlab_deploy_token needs exactly one of project or group (the '
                                  'full path such as team/app, or the numeric id)', field='project')
        for key in ('project', 'group'):
            if out[key] is not None and not (out[key].isdigit() or _PATH_RE.match(out[key])):
                raise ValidationError('%s: %r is not a GitLab full path (group/subgroup/project) or numeric id'
                                      % (key, out[key]), field=key)
        if not out['server']:
            raise ValidationError('server: provider gitlab_deploy_token needs the container registry host the token '
                                  'is for (for example registry.gitlab.example.com); GitLab often serves it on '
                                  'another host or port than its web address', field='server')
        out['server'] = secret_key(out['server'])[0]
        if out['credential_name'] is not None and not _NAME_RE.match(out['credential_name']):
            raise ValidationError('credential_name: %r is not a valid deploy token name here (letters, digits, space, '
                                  '. _ -; at most 100 characters)' % out['credential_name'], field='credential_name')
        out['api_ca_path'] = check_ca_path(out['api_ca_path'], 'api_ca_path')
        seconds = DEFAULT_LIFETIME
        if out['credential_lifetime'] is not None:
            seconds = parse_duration(out['credential_lifetime'], field='credential_lifetime')
            if seconds < HOUR or seconds > MAX_LIFETIME:
                raise ValidationError('credential_lifetime: a deploy token minted here lives from 1h to 3650d; got %r'
                                      % out['credential_lifetime'], field='credential_lifetime')
        out['credential_lifetime'] = '%ds' % seconds
        self.lifetime = seconds
        self.default_refresh_before = seconds // 2
        return out

    # -- API -----------------------------------------------------------------------------

    def _base(self, options):
        if options.get('project'):
            return '/projects/%s/deploy_tokens' % _quote(options['project'])
        return '/groups/%s/deploy_tokens' % _quote(options['group'])

    def _where(self, options):
        return 'project %s' % options['project'] if options.get('project') else 'group %s' % options['group']

    def _call(self, options, method, path, label, **kwargs):
        session = self.session_factory(options) if self.session_factory is not None else None
        api = VendorApi(options['api_url'] + '/api/v4', 'GitLab %s' % options['api_url'],
                        headers={'PRIVATE-TOKEN': options['api_token']}, ca_path=options.get('api_ca_path'),
                        session=session)
        try:
            return api.call(method, path, label, **kwargs)
        except ProviderError as exc:
            status = exc.details.get('status')
            msg = exc.msg
            if status == 401:
                msg += ': GitLab refused api_token (expired, revoked, or without scope api)'
            elif status == 403:
                msg += ('. The owner of api_token may not manage deploy tokens of %s: it needs the Maintainer role '
                        'on a project, Owner on a group' % self._where(options))
            elif status == 404 and path == self._base(options):
                msg += '. %s does not exist, or api_token cannot see it' % self._where(options)
            elif status == 400:
                msg += '. GitLab refused the request as invalid; nothing was changed'
            raise ProviderError(msg, **exc.details)

    def _view(self, token):
        return isinstance(token, dict) and isinstance(token.get('id'), int) and not isinstance(token.get('id'), bool)

    def check(self, options, ref, now):
        """None when the deploy token ``ref`` still exists, is ours, not revoked and not expired."""
        try:
            token = self._call(options, 'GET', '%s/%d' % (self._base(options), ref['id']),
                               'read deploy token %d' % ref['id']).body
        except ProviderError as exc:
            if exc.details.get('status') == 404:
                return 'deploy token %s no longer exists at GitLab' % ref.get('name')
            raise
        if not self._view(token) or token.get('username') != ref.get('name'):
            return 'deploy token %d is not the recorded one any more' % ref['id']
        if OWNER_MARKER + options['owner'] not in (token.get('name') or ''):
            return 'deploy token %d was not created for this Secret and cluster' % ref['id']
        if token.get('revoked'):
            return 'deploy token %s was revoked' % ref.get('name')
        expires = parse_rfc3339(token.get('expires_at'))
        if token.get('expired') or (expires is not None and expires <= now):
            return 'deploy token %s has expired' % ref.get('name')
        return None

    def preview(self, options, current):
        now = datetime.datetime.now(datetime.timezone.utc)
        return Credentials(options['server'], '(deploy token user name assigned by GitLab)', None,
                           now + datetime.timedelta(seconds=self.lifetime), now, ref=None)

    def mint(self, options, now, current=None):
        """Create a deploy token (rotation too: the old one is revoked by the runner after the writes).

        :raises ProviderError: 401, 403 (role), 404 (project/group), 400, unreachable API.
        """
        expires = now + datetime.timedelta(seconds=self.lifetime)
        body = {'name': token_name(options), 'scopes': ['read_registry'], 'expires_at': format_rfc3339(expires)}
        label = 'create a deploy token for %s' % self._where(options)
        created = self._call(options, 'POST', self._base(options), label, json_body=body, expect=(201,)).body or {}
        if not self._view(created) or not created.get('token') or not created.get('username'):
            raise ProviderError('GitLab: %s: the answer lacks id, username or token' % label)
        reported = parse_rfc3339(created.get('expires_at'))
        if reported is None:
            raise ProviderError('GitLab: %s: the answer has no readable expires_at' % label)
        return Credentials(options['server'], created['username'], created['token'],
                           self.checked_expiry(reported, now, 'GitLab ' + label), now,
                           ref={'id': created['id'], 'name': created['username']})

    def owned(self, options):
        """Refs of every deploy token of the project/group whose name carries this owner (revoked ones left out)."""
        marker = OWNER_MARKER + options['owner']
        out = []
        page = 1
        while page <= 100:
            resp = self._call(options, 'GET', self._base(options), 'list deploy tokens of %s' % self._where(options),
                              params={'page': page, 'per_page': 100})
            batch = resp.body if isinstance(resp.body, list) else []
            out.extend({'id': t['id'], 'name': t.get('username')} for t in batch
                       if self._view(t) and marker in (t.get('name') or '') and not t.get('revoked'))
            if len(batch) < 100:
                break
            page += 1
        return out

    def retire(self, options, ref):
        """Revoke (delete) the deploy token ``ref``; already gone is fine."""
        try:
            self._call(options, 'DELETE', '%s/%d' % (self._base(options), ref['id']),
                       'revoke deploy token %s' % ref.get('name'), expect=(204, 200))
        except ProviderError as exc:
            if exc.details.get('status') == 404:
                return False
            raise
        return True
