# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner and runner of the acr_attach module. Private to this collection.

Flow: validate (no network) -> resolve the principal (an AKS cluster's kubelet identity, or the
given object ID) -> read the registry's role assignment permissions mode and pick the pull role
(AcrPull, or Container Registry Repository Reader on an ABAC-mode registry) -> find assignments
of that role for that principal at the registry's scope -> plan (pure: :func:`plan_assignment`) ->
PUT (409 ``RoleAssignmentExists`` is success) or DELETE -> wait until the assignment is readable
(bounded back-off). The assignment this module makes has a deterministic name
(:func:`assignment_name`), so reruns find it and ``state=absent`` removes only it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import uuid

from ansible_collections.registrylink.k8s.plugins.module_utils import _azure
from ansible_collections.registrylink.k8s.plugins.module_utils._common import parse_duration
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import AzureAPIError, ValidationError

AUTH_API = '2022-04-01'
AKS_API = '2024-09-01'
#: roleAssignmentMode is in the registry model of this (preview) API version
ACR_API = '2025-03-01-preview'
ACR_PULL = 'AcrPull'
REPO_READER = 'Container Registry Repository Reader'
ABAC_MODE = 'AbacRepositoryPermissions'
#: uuid5 namespace of the deterministic assignment names (a fixed, arbitrary UUID; never change it)
NAME_NAMESPACE = uuid.UUID('4f0c6a1e-5b7d-4c52-9a43-2e1d7c9b8a60')
PRINCIPAL_TYPES = ('ServicePrincipal', 'User', 'Group', 'ForeignGroup')

_SEG = r'[A-Za-z0-9._()-]+'
_REGISTRY_RE = re.compile(r'^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>%s)/providers/'
                          r'Microsoft\.ContainerRegistry/registries/(?P<name>[A-Za-z0-9]{5,50})$' % _SEG, re.I)
_CLUSTER_RE = re.compile(r'^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>%s)/providers/'
                         r'Microsoft\.ContainerService/managedClusters/(?P<name>[A-Za-z0-9_-]{1,63})$' % _SEG, re.I)
_ROLE_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}$')


def assignment_name(scope, principal_id, role_definition_guid):
    """The deterministic role assignment name: uuid5 of ``scope|principal|role`` (lower case), so that
    every rerun, from any controller, names the same assignment (the CLI uses a random uuid4)."""
    text = '%s|%s|%s' % (scope.lower(), principal_id.lower(), role_definition_guid.lower())
    return str(uuid.uuid5(NAME_NAMESPACE, text))


def validate_params(params):
    """Check the parameters (no network); returns a normalised dict."""
    out = {}
    reg = (params.get('registry_id') or '').strip().rstrip('/')
    if not _REGISTRY_RE.match(reg):
        raise ValidationError('registry_id: %r is not the resource ID of a container registry '
                              '(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/'
                              'registries/<name>; az acr show -n <name> --query id)' % params.get('registry_id'),
                              field='registry_id')
    out['registry_id'] = reg
    cluster = (params.get('cluster_id') or '').strip().rstrip('/') or None
    principal = (params.get('principal_id') or '').strip() or None
    if (cluster is None) == (principal is None):
        raise ValidationError('cluster_id: give exactly one of cluster_id (the AKS cluster whose kubelet identity '
                              'pulls) and principal_id (an object ID)', field='cluster_id')
    if cluster is not None and not _CLUSTER_RE.match(cluster):
        raise ValidationError('cluster_id: %r is not the resource ID of an AKS cluster (/subscriptions/<id>/'
                              'resourceGroups/<group>/providers/Microsoft.ContainerService/managedClusters/<name>; '
                              'az aks show -n <name> -g <group> --query id)' % cluster, field='cluster_id')
    if principal is not None and not _azure.GUID_RE.match(principal):
        raise ValidationError('principal_id: %r is not an object ID (a GUID; for a service principal: '
                              'az ad sp show --id <appId> --query id)' % principal, field='principal_id')
    out['cluster_id'], out['principal_id'] = cluster, principal.lower() if principal else None
    ptype = params.get('principal_type') or 'ServicePrincipal'
    if ptype not in PRINCIPAL_TYPES:
        raise ValidationError('principal_type: %r is not one of %s' % (ptype, ', '.join(PRINCIPAL_TYPES)),
                              field='principal_type')
    out['principal_type'] = ptype
    role = (params.get('role') or 'auto').strip()
    if role != 'auto' and not (_azure.GUID_RE.match(role) or _ROLE_NAME_RE.match(role)):
        raise ValidationError('role: %r is neither auto, a role name (AcrPull) nor a role definition GUID' % role,
                              field='role')
    out['role'] = role
    out['state'] = params.get('state') or 'present'
    out['wait_timeout'] = parse_duration(params.get('wait_timeout') if params.get('wait_timeout') is not None
                                         else '10m', field='wait_timeout')
    arm = params.get('arm_endpoint')
    if arm is not None and not _azure.HTTPS_BASE_RE.match(arm.strip()):
        raise ValidationError('arm_endpoint: %r is not an https:// URL without a path (for example '
                              'https://management.usgovcloudapi.net)' % arm, field='arm_endpoint')
    out['arm_endpoint'] = (arm.strip().rstrip('/') if arm else None) or _azure.ARM_ENDPOINT
    creds = dict((k, params.get(k)) for k in ('tenant_id', 'client_id', 'client_secret', 'authority_host', 'ca_path'))
    out['azure'] = _azure.validate_credential_options(creds)
    return out


def view(assignment):
    """The secret-free view of an ARM role assignment."""
    props = assignment.get('properties') or {}
    return {'id': assignment.get('id'), 'name': assignment.get('name'),
            'role_definition_id': props.get('roleDefinitionId'), 'principal_id': props.get('principalId'),
            'principal_type': props.get('principalType'), 'scope': props.get('scope')}


def plan_assignment(state, wanted_name, existing):
    """What to do (pure). ``existing``: views of the assignments of the role for the principal at the
    scope. Returns ``(action, target)``: ``create`` / ``unchanged`` (ours or another one grants it) /
    ``delete`` (ours) / ``absent`` / ``kept`` (only someone else's grants it: left alone)."""
    ours = [a for a in existing if (a.get('name') or '').lower() == wanted_name]
    others = [a for a in existing if (a.get('name') or '').lower() != wanted_name]
    if state == 'present':
        if ours:
            return 'unchanged', ours[0]
        if others:
            return 'unchanged', others[0]
        return 'create', None
    if ours:
        return 'delete', ours[0]
    if others:
        return 'kept', others[0]
    return 'absent', None


class AcrAttachRunner(_azure.ArmRunner):
    """Apply acr_attach; see the module docs for the contract."""

    MODULE = 'acr_attach'

    def principal(self, opts):
        """``(object id, source)``: the given one, or the cluster's kubelet identity."""
        if opts['principal_id']:
            return opts['principal_id'], 'principal_id'
        _s, cluster, _h = self.arm.request('GET', opts['cluster_id'], AKS_API, what='read the AKS cluster')
        props = cluster.get('properties') or {}
        kubelet = ((props.get('identityProfile') or {}).get('kubeletidentity') or {})
        if kubelet.get('objectId'):
            return kubelet['objectId'].lower(), 'kubelet identity of %s' % cluster.get('name', opts['cluster_id'])
        sp = (props.get('servicePrincipalProfile') or {}).get('clientId')
        if sp and sp != 'msi':
            raise ValidationError('cluster_id: %s uses a service principal (client ID %s), not a kubelet identity; '
                                  'give its object ID as principal_id (az ad sp show --id %s --query id)'
                                  % (opts['cluster_id'], sp, sp), field='cluster_id')
        raise ValidationError('cluster_id: %s has no kubelet identity (properties.identityProfile.kubeletidentity); '
                              'give the object ID of the identity that pulls as principal_id' % opts['cluster_id'],
                              field='cluster_id')

    def role(self, opts, registry):
        """``(role name, role definition ID, registry mode)``."""
        mode = (registry.get('properties') or {}).get('roleAssignmentMode') or 'LegacyRegistryPermissions'
        role = opts['role']
        if role == 'auto':
            role = REPO_READER if mode == ABAC_MODE else ACR_PULL
        elif role.lower() == ACR_PULL.lower() and mode == ABAC_MODE:
            self.warn('role: %s is not honoured by registry %s, which is in ABAC mode (%s); use role: auto or %s'
                      % (ACR_PULL, opts['registry_id'], mode, REPO_READER))
        if _azure.GUID_RE.match(role):
            return role, '/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s' % (
                _REGISTRY_RE.match(opts['registry_id']).group('sub'), role.lower()), mode
        path = opts['registry_id'] + '/providers/Microsoft.Authorization/roleDefinitions'
        _s, data, _h = self.arm.request('GET', path + "?$filter=roleName eq '%s'" % role.replace("'", "''"),
                                        AUTH_API, what='look up role %s' % role)
        found = [d for d in data.get('value') or [] if (d.get('properties') or {}).get('roleName', '').lower()
                 == role.lower()]
        if not found:
            raise ValidationError('role: no role definition named %r is visible at %s' % (role, opts['registry_id']),
                                  field='role')
        return found[0]['properties']['roleName'], found[0]['id'], mode

    def existing(self, scope, principal, role_definition_id):
        path = scope + "/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()"
        _s, data, _h = self.arm.request('GET', path, AUTH_API, what='list role assignments')
        guid = role_definition_id.rsplit('/', 1)[-1].lower()
        return [view(a) for a in data.get('value') or []
                if ((a.get('properties') or {}).get('principalId') or '').lower() == principal
                and ((a.get('properties') or {}).get('roleDefinitionId') or '').rsplit('/', 1)[-1].lower() == guid
                and ((a.get('properties') or {}).get('scope') or '').lower() == scope.lower()]

    def run(self):
        opts = validate_params(self.params)
        self._client(opts)
        principal, source = self.principal(opts)
        _s, registry, _h = self.arm.request('GET', opts['registry_id'], ACR_API, what='read the registry')
        role_name, role_id, mode = self.role(opts, registry)
        scope = registry.get('id') or opts['registry_id']
        name = assignment_name(scope, principal, role_id.rsplit('/', 1)[-1])
        existing = self.existing(scope, principal, role_id)
        action, target = plan_assignment(opts['state'], name, existing)
        desired = {'id': '%s/providers/Microsoft.Authorization/roleAssignments/%s' % (scope, name), 'name': name,
                   'role_definition_id': role_id, 'principal_id': principal,
                   'principal_type': opts['principal_type'], 'scope': scope}
        result = {'changed': action in ('create', 'delete'), 'action': action, 'role': role_name,
                  'role_assignment_mode': mode, 'principal_id': principal, 'principal_source': source,
                  'scope': scope, 'assignment': target or (desired if opts['state'] == 'present' else None),
                  'managed': bool(target and (target.get('name') or '').lower() == name) or action == 'create',
                  'propagated': None, 'waited_seconds': 0}
        if action == 'unchanged' and not result['managed']:
            result['msg'] = 'an assignment named %s (not made by this module) already grants %s' % (
                target.get('name'), role_name)
        if action == 'kept':
            self.warn('the %s assignment %s at %s was not made by this module (its name is not the deterministic '
                      'one); left in place' % (role_name, target.get('name'), scope))
        result['diff'] = {'before': {'assignment': target},
                          'after': {'assignment': None if action in ('delete', 'absent') else (target or desired)}}
        if self.check_mode or action not in ('create', 'delete'):
            return result
        if action == 'delete':
            self.arm.request('DELETE', target['id'], AUTH_API, what='delete role assignment %s' % name)
            return result
        body = {'properties': {'roleDefinitionId': role_id, 'principalId': principal,
                               'principalType': opts['principal_type'],
                               'description': 'registrylink.k8s: %s pulls from this registry' % source}}
        try:
            _s, created, _h = self.arm.request('PUT', desired['id'], AUTH_API, body=body,
                                               what='create role assignment %s' % name)
            result['assignment'] = view(created) if created else desired
        except AzureAPIError as exc:
            if exc.code != 'RoleAssignmentExists':
                raise
            # another writer made the same grant under another name between our list and our PUT
            result.update(changed=False, action='unchanged', managed=False,
                          msg='the role assignment already exists (%s)' % exc.msg)
            return result
        if opts['wait_timeout'] > 0:
            self.wait(desired['id'], opts['wait_timeout'], result)
        return result

    def wait(self, assignment_id, timeout, result):
        """Poll GET on the assignment with back-off (2 s doubling, at most 30 s) until ARM returns it."""
        start = self.clock()
        delay = 2
        while True:
            try:
                self.arm.request('GET', assignment_id, AUTH_API, what='read role assignment')
                result['propagated'] = True
                result['waited_seconds'] = int(round(self.clock() - start))
                return
            except AzureAPIError as exc:
                if exc.status != 404:
                    raise
            elapsed = self.clock() - start
            if elapsed >= timeout:
                result['propagated'] = False
                result['waited_seconds'] = int(round(elapsed))
                raise AzureAPIError(
                    'role assignment %s was created but is still not visible after %ds' % (
                        assignment_id.rsplit('/', 1)[-1], int(elapsed)),
                    status=404, code='RoleAssignmentNotPropagated',
                    hint='Azure RBAC changes can take up to 10 minutes (Microsoft documents up to 30 in rare cases) '
                         'to take effect; the assignment stays in place: rerun later (or raise wait_timeout). Until '
                         'then the kubelet gets 401 Unauthorized from the registry', changed=True,
                    assignment=result['assignment'])
            self.sleep(min(delay, max(timeout - elapsed, 0.1)))
            delay = min(delay * 2, 30)
