# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner and runner of the gcp_iam_member module. Private to this collection.

Flow: validate (no network) -> read the resource's IAM policy (version 3) -> plan (pure:
:func:`plan_member`: add or remove one member of one (role, condition) binding, every other
binding, member, condition and the audit configuration left as they are) -> ``setIamPolicy``
with the ``etag`` that was read. A concurrent change makes Google refuse the stale etag
(HTTP 409 ``ABORTED``; 412 is treated the same): the whole read-plan-write cycle runs again,
so nobody's binding is lost, up to ``MAX_CYCLES`` times with growing pauses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import random
import re

from ansible_collections.registrylink.k8s.plugins.module_utils import _gcp
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError

DEFAULT_ENDPOINTS = dict((k, v['default']) for k, v in _gcp.GCP_ARGSPEC.items() if k.endswith('_endpoint'))
MAX_CYCLES = 6
STORAGE_OBJECT_VIEWER = 'roles/storage.objectViewer'
GCR_SHUTDOWN_HINT = (
    'role: roles/storage.objectViewer does not grant image pulls any more. Container Registry is shut down (writes '
    'stopped in March 2025, reads in May 2025); gcr.io hosts are served by Artifact Registry, which authorises pulls '
    'with Artifact Registry roles: grant roles/artifactregistry.reader on the gcr.io repository (repository: gcr.io, '
    'eu.gcr.io, us.gcr.io or asia.gcr.io with location us, europe, us or asia) or on the project instead. Granting it '
    'anyway: a Cloud Storage role is still right for Cloud Storage buckets')
CONFLICT_STATUSES = (409, 412)
#: the Artifact Registry repositories that serve the gcr.io hosts, and their (multi-region) locations
GCR_LOCATIONS = {'gcr.io': 'us', 'us.gcr.io': 'us', 'eu.gcr.io': 'europe', 'asia.gcr.io': 'asia'}

_PROJECT_RE = re.compile(r'^[a-z][a-z0-9-]{4,28}[a-z0-9]$')
_LOCATION_RE = re.compile(r'^[a-z][a-z0-9-]{1,62}$')
# repository IDs, plus the gcr.io repositories Artifact Registry serves gcr.io hosts from
_REPOSITORY_RE = re.compile(r'^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$|^((eu|us|asia)\.)?gcr\.io$')
_SA_EMAIL_RE = re.compile(r'^[a-z0-9][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.gserviceaccount\.com$|^\d+-compute@developer\.gserviceaccount\.com$')
_ROLE_RE = re.compile(r'^(roles/[A-Za-z0-9_.]+|projects/[a-z0-9-]+/roles/[A-Za-z0-9_.]+|organizations/\d+/roles/[A-Za-z0-9_.]+)$')
_MEMBER_RE = re.compile(
    r'^(user|group|serviceAccount|domain):[^\s:]+$'
    r'|^serviceAccount:[a-z][a-z0-9-]+\.svc\.id\.goog\[[a-z0-9-]+/[a-z0-9.-]+\]$'
    r'|^principal(Set)?://iam\.googleapis\.com/\S+$'
    r'|^allUsers$|^allAuthenticatedUsers$')


def validate_params(params):
    """Check the module's parameters (no network); returns a normalised dict with ``resource`` (the
    IAM resource name), ``kind`` (project, repository, service_account) and the endpoints.

    :raises ValidationError: naming the option and the fix.
    """
    out = dict(params)
    project, repository, location, account = (params.get('project'), params.get('repository'),
                                              params.get('location'), params.get('service_account'))
    if account:
        if repository or location:
            raise ValidationError('service_account: give either service_account (a policy on the service account) or '
                                  'repository with location (a policy on a repository), not both',
                                  field='service_account')
        if not _SA_EMAIL_RE.match(account):
            raise ValidationError('service_account: %r is not a service account e-mail (NAME@PROJECT.iam.'
                                  'gserviceaccount.com)' % account, field='service_account')
        out.update(kind='service_account', resource='projects/-/serviceAccounts/%s' % account)
    else:
        if not project:
            raise ValidationError('project: the project ID is required (the policy is on the project, or on a '
                                  'repository of it), unless service_account is given', field='project')
        if not _PROJECT_RE.match(project):
            raise ValidationError('project: %r is not a project ID (6 to 30 lowercase letters, digits and hyphens, '
                                  'starting with a letter)' % project, field='project')
        if repository:
            if not location:
                raise ValidationError('location: a repository policy needs the repository\'s location (for example '
                                      'europe-west1, or us for a multi-region)', field='location')
            if not _LOCATION_RE.match(location):
                raise ValidationError('location: %r is not a location name' % location, field='location')
            if not _REPOSITORY_RE.match(repository):
                raise ValidationError('repository: %r is not an Artifact Registry repository ID (lowercase letters, '
                                      'digits and hyphens; give the ID, not a docker.pkg.dev path)' % repository,
                                      field='repository')
            if repository in GCR_LOCATIONS and location != GCR_LOCATIONS[repository]:
                raise ValidationError('location: the %s host is served by the Artifact Registry repository %s in '
                                      'location %s, not %s (Container Registry is shut down since 2025; its gcr.io '
                                      'hosts are Artifact Registry repositories now, authorised by Artifact Registry '
                                      'roles)' % (repository, repository, GCR_LOCATIONS[repository], location),
                                      field='location')
            out.update(kind='repository', resource='projects/%s/locations/%s/repositories/%s'
                       % (project, location, repository))
        elif location:
            raise ValidationError('location: only for a repository policy; give repository too, or drop location',
                                  field='location')
        else:
            out.update(kind='project', resource='projects/%s' % project)
    out['member'] = validate_member(params.get('member'))
    role = params.get('role')
    if not isinstance(role, str) or not _ROLE_RE.match(role.strip()):
        raise ValidationError('role: %r is not an IAM role name (roles/NAME, projects/P/roles/NAME or '
                              'organizations/N/roles/NAME)' % (role,), field='role')
    out['role'] = role.strip()
    out['condition'] = validate_condition(params.get('condition'))
    for key in DEFAULT_ENDPOINTS:
        out[key] = _gcp.check_url(params.get(key), key, example=DEFAULT_ENDPOINTS[key]) or DEFAULT_ENDPOINTS[key]
    out['token_uri'] = _gcp.check_url(params.get('token_uri'), 'token_uri')
    if params.get('credentials_file'):
        _gcp.check_credentials_file(params['credentials_file'])
    return out


def validate_member(member):
    """The member, stripped; refuses what IAM would refuse (and ``deleted:`` members, which can only be removed
    by IAM itself). :raises ValidationError: (field ``member``)."""
    if not isinstance(member, str) or not _MEMBER_RE.match(member.strip()):
        raise ValidationError('member: %r is not an IAM principal: user:EMAIL, group:EMAIL, serviceAccount:EMAIL, '
                              'domain:DOMAIN, serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA], '
                              'principal://iam.googleapis.com/..., principalSet://iam.googleapis.com/...'
                              % (member,), field='member')
    return member.strip()


def validate_condition(condition):
    """``{title, expression[, description]}`` or None. :raises ValidationError: (field ``condition``)."""
    if condition in (None, {}):
        return None
    if not isinstance(condition, dict):
        raise ValidationError('condition: must be a dict with title and expression', field='condition')
    unknown = sorted(set(condition) - set(['title', 'expression', 'description']))
    if unknown:
        raise ValidationError('condition: unknown key(s) %s (title, expression, description)' % ', '.join(unknown),
                              field='condition')
    out = {}
    for key in ('title', 'expression', 'description'):
        value = condition.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ValidationError('condition: %s must be a non-empty string' % key, field='condition')
        out[key] = value
    if 'title' not in out or 'expression' not in out:
        raise ValidationError('condition: title and expression are required (a CEL expression such as '
                              'request.time < timestamp("2030-01-01T00:00:00Z"))', field='condition')
    return out


def same_condition(a, b):
    """Whether two binding conditions are the same (IAM compares title, description and expression)."""
    def norm(c):
        c = c or {}
        return (c.get('title') or '', c.get('description') or '', c.get('expression') or '')
    return (not a and not b) or (bool(a) and bool(b) and norm(a) == norm(b))


def find_binding(policy, role, condition):
    for binding in policy.get('bindings') or []:
        if binding.get('role') == role and same_condition(binding.get('condition'), condition):
            return binding
    return None


def plan_member(policy, role, member, condition, state):
    """Pure: ``(action, new_policy)`` for one member of one (role, condition) binding.

    ``action`` is ``added``, ``removed``, ``unchanged`` (present and there) or ``absent`` (nothing to
    remove); ``new_policy`` is None when nothing changes, else a copy of ``policy`` with only that
    binding changed (the etag kept, version 3 when any binding has a condition).
    """
    binding = find_binding(policy, role, condition)
    present = binding is not None and member in (binding.get('members') or [])
    if state == 'present' and present:
        return 'unchanged', None
    if state == 'absent' and not present:
        return 'absent', None
    new = copy.deepcopy(policy)
    bindings = new.setdefault('bindings', [])
    target = find_binding(new, role, condition)
    if state == 'present':
        if target is None:
            target = {'role': role, 'members': []}
            if condition:
                target['condition'] = dict(condition)
            bindings.append(target)
        target['members'] = list(target.get('members') or []) + [member]
        action = 'added'
    else:
        target['members'] = [m for m in target['members'] if m != member]
        if not target['members']:
            bindings.remove(target)
        action = 'removed'
    if any(b.get('condition') for b in bindings) or (policy.get('version') or 1) >= 3:
        new['version'] = 3
    return action, new


def binding_view(policy, role, condition):
    """The members of the (role, condition) binding, for results and diffs (no secrets in a policy)."""
    binding = find_binding(policy or {}, role, condition)
    view = {'role': role, 'members': sorted((binding or {}).get('members') or [])}
    if condition:
        view['condition'] = dict(condition)
    return view


class PolicyClient(object):
    """getIamPolicy / setIamPolicy of one resource, the URL and body shapes of its API."""

    def __init__(self, api, params):
        self.api = api
        self.kind = params['kind']
        self.resource = params['resource']
        if self.kind == 'project':
            self.base = '%s/v1/%s' % (params['resource_manager_endpoint'], self.resource)
        elif self.kind == 'repository':
            self.base = '%s/v1/%s' % (params['artifact_registry_endpoint'], self.resource)
        else:
            self.base = '%s/v1/%s' % (params['iam_endpoint'], self.resource)

    def get(self):
        action = 'getIamPolicy on %s' % self.resource
        if self.kind == 'project':
            return self.api.call('POST', self.base + ':getIamPolicy', body={'options': {'requestedPolicyVersion': 3}},
                                 action=action)
        if self.kind == 'repository':
            return self.api.call('GET', self.base + ':getIamPolicy', params={'options.requestedPolicyVersion': 3},
                                 action=action)
        return self.api.call('POST', self.base + ':getIamPolicy', params={'options.requestedPolicyVersion': 3},
                             action=action)

    def set(self, policy):
        body = {'policy': policy}
        if self.kind == 'project':
            body['updateMask'] = 'bindings,etag'
        return self.api.call('POST', self.base + ':setIamPolicy', body=body, action='setIamPolicy on %s' % self.resource)


class GcpIamMemberRunner(_gcp.GoogleRunner):
    """Runs gcp_iam_member; ``api`` and ``sleep`` may be injected (see ``_gcp.GoogleRunner``)."""

    MODULE = 'gcp_iam_member'

    def run(self):
        p = validate_params(self.params)
        if p['role'] == STORAGE_OBJECT_VIEWER and (p.get('state') or 'present') == 'present':
            self.warn(GCR_SHUTDOWN_HINT)
        client = PolicyClient(self._api(p), p)
        state = p.get('state') or 'present'
        conflicts = 0
        for cycle in range(1, MAX_CYCLES + 1):
            policy = client.get()
            if not isinstance(policy.get('bindings', []), list):
                raise ProviderError('getIamPolicy on %s: the answer has no bindings list' % p['resource'])
            action, new = plan_member(policy, p['role'], p['member'], p['condition'], state)
            result = self._result(p, action, policy, new, conflicts)
            if new is None or self.check_mode:
                return result
            try:
                written = client.set(new)
            except _gcp.GoogleAPIError as exc:
                if exc.status in CONFLICT_STATUSES and cycle < MAX_CYCLES:
                    conflicts += 1
                    self.sleep(min(0.5 * 2 ** cycle, 8) * (0.5 + random.random() / 2))
                    continue
                if exc.status in CONFLICT_STATUSES:
                    raise ProviderError('setIamPolicy on %s: the policy changed between read and write %d times in a '
                                        'row (HTTP %d); nothing was written, run the task again'
                                        % (p['resource'], MAX_CYCLES, exc.status), conflicts=conflicts + 1)
                raise
            result['etag'] = written.get('etag')
            result['after']['version'] = written.get('version')
            return result
        raise ProviderError('unreachable')  # pragma: no cover

    def _result(self, p, action, policy, new, conflicts):
        before = binding_view(policy, p['role'], p['condition'])
        after = binding_view(new if new is not None else policy, p['role'], p['condition'])
        before['version'] = policy.get('version') or 1
        after['version'] = (new or policy).get('version') or 1
        result = {
            'changed': new is not None, 'action': action, 'resource': p['resource'], 'role': p['role'],
            'member': p['member'], 'before': before, 'after': after, 'etag': policy.get('etag'),
            'bindings_count': len((new or policy).get('bindings') or []), 'conflicts_retried': conflicts,
        }
        if new is not None:
            result['diff'] = {'before': before, 'after': after,
                              'before_header': '%s %s' % (p['resource'], p['role']),
                              'after_header': '%s %s' % (p['resource'], p['role'])}
        return result
