# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner and runner of the azure_workload_identity module. Private to this collection.

Flow (present): validate (no network) -> read the AKS cluster (its OIDC issuer and workload identity
webhook must be on) -> with ``registry_id``, read the registry and resolve the pull role exactly as
acr_attach does (a bad role fails here, before any write) -> read the user-assigned identity and its
federated identity credential -> plan (pure: :func:`plan_identity`, :func:`plan_credential`) -> PUT
the identity (only when it does not exist; tagged ``managed-by: registrylink.k8s``) -> PUT the
federated credential when it is missing or differs -> the pull role for the identity's principal
through :class:`AcrAttachRunner` (deterministic name, ``principalType``, propagation wait).

Flow (absent): the federated credential is deleted when its subject (and issuer, when the cluster
still has one) is the one this task describes; the role assignment with the deterministic name is
deleted; the identity is deleted only when it carries our tag and has no other federated credential.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible_collections.registrylink.k8s.plugins.module_utils import _azure
from ansible_collections.registrylink.k8s.plugins.module_utils import _acr_attach
from ansible_collections.registrylink.k8s.plugins.module_utils._common import parse_duration
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import AzureAPIError, ValidationError

#: Microsoft.ManagedIdentity API version (user-assigned identities and their federated credentials, GA)
MSI_API = '2023-01-31'
AKS_API = _acr_attach.AKS_API
DEFAULT_AUDIENCE = 'api://AzureADTokenExchange'
#: the tag that marks an identity this collection created (ARM tag names cannot hold '/')
OWNER_TAG = 'managed-by'
OWNER_VALUE = 'registrylink.k8s'
CLIENT_ID_ANNOTATION = 'azure.workload.identity/client-id'
TENANT_ID_ANNOTATION = 'azure.workload.identity/tenant-id'
#: the annotation value shown in check mode when the identity (and so its client ID) does not exist yet
PENDING = '(client ID of the identity, known once it is created)'

_SEG = r'[A-Za-z0-9._()-]+'
_IDENTITY_RE = re.compile(r'^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>%s)/providers/'
                          r'Microsoft\.ManagedIdentity/userAssignedIdentities/(?P<name>[A-Za-z0-9][A-Za-z0-9_-]{2,127})$'
                          % _SEG, re.I)
_CREDENTIAL_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$')
_DNS_LABEL_RE = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')
_DNS_SUBDOMAIN_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
_LOCATION_RE = re.compile(r'^[A-Za-z0-9]{2,40}$')


def subject_of(namespace, service_account):
    """The ``sub`` claim of a ServiceAccount token: ``system:serviceaccount:<namespace>:<name>``."""
    return 'system:serviceaccount:%s:%s' % (namespace, service_account)


def credential_name(namespace, service_account):
    """The default federated credential name: ``registrylink-<namespace>-<service account>`` with the
    characters Azure refuses turned into ``-``; names over 120 characters end in a hash of the subject."""
    name = re.sub(r'[^A-Za-z0-9_-]', '-', 'registrylink-%s-%s' % (namespace, service_account))
    if len(name) > 120:
        digest = hashlib.sha256(subject_of(namespace, service_account).encode('utf-8')).hexdigest()[:10]
        name = name[:109] + '-' + digest
    return name


def validate_params(params):
    """Check the parameters (no network); returns a normalised dict. :raises ValidationError: naming the option."""
    out = {}
    ident = (params.get('identity_id') or '').strip().rstrip('/')
    if not _IDENTITY_RE.match(ident):
        raise ValidationError('identity_id: %r is not the resource ID of a user-assigned managed identity '
                              '(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/'
                              'userAssignedIdentities/<name>, the name 3-128 letters, digits, - and _, starting with a '
                              'letter or digit)' % params.get('identity_id'), field='identity_id')
    out['identity_id'] = ident
    cluster = (params.get('cluster_id') or '').strip().rstrip('/')
    if not _acr_attach._CLUSTER_RE.match(cluster):
        raise ValidationError('cluster_id: %r is not the resource ID of an AKS cluster (/subscriptions/<id>/'
                              'resourceGroups/<group>/providers/Microsoft.ContainerService/managedClusters/<name>; '
                              'az aks show -n <name> -g <group> --query id)' % params.get('cluster_id'),
                              field='cluster_id')
    out['cluster_id'] = cluster
    ns = params.get('namespace')
    if not isinstance(ns, str) or not _DNS_LABEL_RE.match(ns):
        raise ValidationError('namespace: %r is not a namespace name (a DNS label: lower-case letters, digits and '
                              '-, at most 63 characters)' % (ns,), field='namespace')
    sa = params.get('service_account')
    if not isinstance(sa, str) or len(sa) > 253 or not _DNS_SUBDOMAIN_RE.match(sa):
        raise ValidationError('service_account: %r is not a ServiceAccount name (lower-case letters, digits, - and '
                              '., at most 253 characters)' % (sa,), field='service_account')
    out['namespace'], out['service_account'] = ns, sa
    out['subject'] = subject_of(ns, sa)
    name = params.get('credential_name')
    if name is None or (isinstance(name, str) and not name.strip()):
        name = credential_name(ns, sa)
    if not isinstance(name, str) or not _CREDENTIAL_RE.match(name.strip()):
        raise ValidationError('credential_name: %r is not a federated identity credential name (3-120 letters, '
                              'digits, - and _, starting with a letter or digit)' % (name,), field='credential_name')
    out['credential_name'] = name.strip()
    audiences = params.get('audiences')
    if audiences is None:
        audiences = [DEFAULT_AUDIENCE]
    if (not isinstance(audiences, list) or len(audiences) != 1 or not isinstance(audiences[0], str)
            or not audiences[0].strip()):
        raise ValidationError('audiences: must be a list of exactly one audience (Microsoft Entra accepts one per '
                              'federated credential); the AKS workload identity webhook asks for %s'
                              % DEFAULT_AUDIENCE, field='audiences')
    out['audiences'] = [audiences[0].strip()]
    location = params.get('location')
    if location is not None and (not isinstance(location, str) or not _LOCATION_RE.match(location.strip())):
        raise ValidationError('location: %r is not an Azure region name (for example westeurope; '
                              'az account list-locations --query [].name)' % (location,), field='location')
    out['location'] = location.strip().lower() if location else None
    out['state'] = params.get('state') or 'present'
    reg = (params.get('registry_id') or '').strip() or None
    out['registry_id'] = reg
    out['role'] = (params.get('role') or 'auto').strip()
    out['wait_timeout'] = parse_duration(params.get('wait_timeout') if params.get('wait_timeout') is not None
                                         else '10m', field='wait_timeout')
    if reg is not None:
        # the same checks acr_attach makes (registry_id, role, wait_timeout), with a stand-in principal
        _acr_attach.validate_params(dict(attach_params(params, out), principal_id='00000000-0000-0000-0000-000000000000'))
    elif out['role'] != 'auto':
        raise ValidationError('role: a pull role needs registry_id (the registry the identity pulls from)', field='role')
    arm = params.get('arm_endpoint')
    if arm is not None and not _azure.HTTPS_BASE_RE.match(arm.strip()):
        raise ValidationError('arm_endpoint: %r is not an https:// URL without a path (for example '
                              'https://management.usgovcloudapi.net)' % arm, field='arm_endpoint')
    out['arm_endpoint'] = (arm.strip().rstrip('/') if arm else None) or _azure.ARM_ENDPOINT
    creds = dict((k, params.get(k)) for k in ('tenant_id', 'client_id', 'client_secret', 'authority_host', 'ca_path'))
    out['azure'] = _azure.validate_credential_options(creds)
    return out


def attach_params(params, opts, principal_id=None, state=None):
    """The acr_attach parameters of the pull role for the identity."""
    out = dict((k, params.get(k)) for k in ('tenant_id', 'client_id', 'client_secret', 'authority_host',
                                            'arm_endpoint', 'ca_path', 'wait_timeout'))
    out.update(registry_id=opts['registry_id'], principal_id=principal_id, principal_type='ServicePrincipal',
               role=opts['role'], state=state or opts['state'])
    return out


def identity_view(body, managed=None):
    """The view of a user-assigned identity (IDs only; nothing secret)."""
    if not body:
        return None
    props = body.get('properties') or {}
    tags = body.get('tags') or {}
    return {'id': body.get('id'), 'name': body.get('name'), 'location': body.get('location'),
            'client_id': props.get('clientId'), 'principal_id': props.get('principalId'),
            'tenant_id': props.get('tenantId'),
            'managed': tags.get(OWNER_TAG) == OWNER_VALUE if managed is None else managed}


def credential_view(body):
    """The view of a federated identity credential."""
    if not body:
        return None
    props = body.get('properties') or {}
    return {'id': body.get('id'), 'name': body.get('name'), 'issuer': props.get('issuer'),
            'subject': props.get('subject'), 'audiences': list(props.get('audiences') or [])}


def plan_identity(state, current, other_credentials):
    """What to do with the identity (pure). ``current``: its view or None; ``other_credentials``: names of
    federated credentials on it that this task does not remove. Returns ``create`` / ``unchanged``
    (present), ``delete`` / ``kept`` / ``absent`` (absent: only a tagged identity with no other
    credential is deleted)."""
    if state == 'present':
        return 'unchanged' if current else 'create'
    if not current:
        return 'absent'
    if not current['managed'] or other_credentials:
        return 'kept'
    return 'delete'


def plan_credential(state, current, desired, issuer_known=True):
    """What to do with the federated credential (pure). ``desired``: ``{issuer, subject, audiences}``.
    present: ``create`` / ``update`` (issuer, subject or audiences differ) / ``unchanged``.
    absent: ``delete`` when the credential's subject (and issuer, when ``issuer_known``) are the desired
    ones, ``kept`` when it trusts something else (not ours), ``absent`` when there is none."""
    if state == 'present':
        if current is None:
            return 'create'
        same = (current['issuer'] == desired['issuer'] and current['subject'] == desired['subject']
                and sorted(current['audiences']) == sorted(desired['audiences']))
        return 'unchanged' if same else 'update'
    if current is None:
        return 'absent'
    if current['subject'] != desired['subject'] or (issuer_known and current['issuer'] != desired['issuer']):
        return 'kept'
    return 'delete'


def cluster_issuer(cluster, cluster_id):
    """The OIDC issuer URL of a managed cluster. :raises ValidationError: no issuer, or the workload
    identity webhook is off (pods would get no token), with the command that turns them on."""
    props = cluster.get('properties') or {}
    oidc = props.get('oidcIssuerProfile') or {}
    issuer = oidc.get('issuerURL') or oidc.get('issuerUrl')
    m = _acr_attach._CLUSTER_RE.match(cluster_id)
    fix = 'az aks update -g %s -n %s --enable-oidc-issuer --enable-workload-identity' % (m.group('rg'), m.group('name'))
    if not oidc.get('enabled') or not issuer:
        raise ValidationError('cluster_id: %s has no OIDC issuer (properties.oidcIssuerProfile is not enabled), so no '
                              'federated credential can trust its ServiceAccount tokens; turn it on: %s'
                              % (cluster_id, fix), field='cluster_id')
    wi = ((props.get('securityProfile') or {}).get('workloadIdentity') or {})
    if not wi.get('enabled'):
        raise ValidationError('cluster_id: %s has workload identity turned off (properties.securityProfile.'
                              'workloadIdentity.enabled), so pods get no federated token; turn it on: %s'
                              % (cluster_id, fix), field='cluster_id')
    return issuer


class AzureWorkloadIdentityRunner(_azure.ArmRunner):
    """Apply azure_workload_identity; see the module docs for the contract."""

    MODULE = 'azure_workload_identity'

    def _attach(self, opts, principal_id, state, check_mode=None):
        return _acr_attach.AcrAttachRunner(
            attach_params(self.params, opts, principal_id, state), check_mode=self.check_mode if check_mode is None
            else check_mode, diff=True, warn=self.warn, arm=self.arm, sleep=self.sleep, clock=self.clock)

    def run(self):
        opts = validate_params(self.params)
        self._client(opts)
        present = opts['state'] == 'present'
        fic_path = '%s/federatedIdentityCredentials/%s' % (opts['identity_id'], opts['credential_name'])
        cluster = self._get(opts['cluster_id'], AKS_API, 'read the AKS cluster')
        if cluster is None and present:
            raise AzureAPIError('read the AKS cluster: %s was not found' % opts['cluster_id'], status=404,
                                code='ResourceNotFound', hint='check cluster_id (az aks show -n <name> -g <group> '
                                                              '--query id)')
        issuer = None
        if present:
            issuer = cluster_issuer(cluster, opts['cluster_id'])
        elif cluster is not None:
            oidc = (cluster.get('properties') or {}).get('oidcIssuerProfile') or {}
            issuer = (oidc.get('issuerURL') or oidc.get('issuerUrl')) if oidc.get('enabled') else None
        role = None
        if opts['registry_id'] and present:
            # resolve the pull role before any write: an unknown role or registry fails here
            _s, registry, _h = self.arm.request('GET', opts['registry_id'], _acr_attach.ACR_API,
                                                what='read the registry')
            pre = self._attach(opts, None, 'present', check_mode=True)
            pre.warn = lambda msg: None  # acr_attach warns again when it makes the grant
            role = pre.role(_acr_attach.validate_params(dict(attach_params(self.params, opts),
                                                             principal_id='00000000-0000-0000-0000-000000000000')),
                            registry)
        identity = identity_view(self._get(opts['identity_id'], MSI_API, 'read the managed identity'))
        fic = credential_view(self._get(fic_path, MSI_API, 'read the federated credential')) if identity else None
        desired_fic = {'id': fic_path, 'name': opts['credential_name'], 'issuer': issuer, 'subject': opts['subject'],
                       'audiences': opts['audiences']}
        fic_action = plan_credential(opts['state'], fic, desired_fic, issuer_known=issuer is not None)
        others = []
        if identity and not present:
            _s, listed, _h = self.arm.request('GET', opts['identity_id'] + '/federatedIdentityCredentials', MSI_API,
                                              what='list the federated credentials')
            others = sorted(c.get('name') for c in listed.get('value') or []
                            if (c.get('name') or '').lower() != opts['credential_name'].lower() or fic_action == 'kept')
        id_action = plan_identity(opts['state'], identity, others)
        location = opts['location'] or (cluster or {}).get('location')
        if id_action == 'create' and not location:
            raise ValidationError('location: the cluster reports no location; set location to create the identity',
                                  field='location')
        if id_action == 'kept' and not identity['managed']:
            self.warn('identity %s does not carry the tag %s=%s (this collection did not create it); left in place'
                      % (opts['identity_id'], OWNER_TAG, OWNER_VALUE))
        elif id_action == 'kept':
            self.warn('identity %s still has other federated credentials (%s); left in place'
                      % (opts['identity_id'], ', '.join(others)))
        if fic_action == 'kept':
            self.warn('federated credential %s trusts %s from %s, not %s; left in place' % (
                opts['credential_name'], fic['subject'], fic['issuer'], opts['subject']))
        if id_action == 'create':
            after_identity = {'id': opts['identity_id'], 'name': _IDENTITY_RE.match(opts['identity_id']).group('name'),
                              'location': location, 'client_id': None, 'principal_id': None, 'tenant_id': None,
                              'managed': True}
        else:
            after_identity = None if id_action == 'delete' else identity
        result = {
            'changed': id_action in ('create', 'delete') or fic_action in ('create', 'update', 'delete'),
            'issuer': issuer, 'subject': opts['subject'],
            'identity': dict((after_identity if id_action == 'create' else identity) or {'id': opts['identity_id']},
                             action=id_action),
            'federated_credential': dict(desired_fic if fic_action in ('create', 'update') else (fic or {'id': fic_path}),
                                         action=fic_action),
            'role_assignment': None,
        }
        result['diff'] = {
            'before': {'identity': identity, 'federated_credential': fic},
            'after': {'identity': after_identity,
                      'federated_credential': None if fic_action in ('delete', 'absent') else
                      (fic if fic_action in ('unchanged', 'kept') else desired_fic)}}
        if present and not self.check_mode:
            if id_action == 'create':
                body = {'location': location, 'tags': {OWNER_TAG: OWNER_VALUE}}
                _s, made, _h = self.arm.request('PUT', opts['identity_id'], MSI_API, body=body,
                                                what='create the managed identity')
                identity = identity_view(made, managed=True)
                result['identity'] = dict(identity, action=id_action)
                result['diff']['after']['identity'] = identity
            if fic_action in ('create', 'update'):
                body = {'properties': {'issuer': issuer, 'subject': opts['subject'], 'audiences': opts['audiences']}}
                self.arm.request('PUT', fic_path, MSI_API, body=body, what='write the federated credential')
        principal = (identity or {}).get('principal_id')
        if opts['registry_id'] and (principal or present):
            if principal:
                grant = self._attach(opts, principal, opts['state']).run()
            else:  # check mode, identity not created yet: the role it would get
                grant = {'changed': True, 'action': 'create', 'role': role[0], 'role_assignment_mode': role[2],
                         'principal_id': None, 'assignment': None, 'managed': True, 'propagated': None,
                         'waited_seconds': 0, 'diff': {'before': {'assignment': None}, 'after': {'assignment': None}}}
            diff = grant.pop('diff', {})
            for key in ('principal_source', 'msg'):
                grant.pop(key, None)
            result['role_assignment'] = grant
            result['changed'] = result['changed'] or grant['changed']
            result['diff']['before']['role_assignment'] = diff.get('before', {}).get('assignment')
            result['diff']['after']['role_assignment'] = diff.get('after', {}).get('assignment')
        if not present and not self.check_mode:
            if fic_action == 'delete':
                self.arm.request('DELETE', fic_path, MSI_API, what='delete the federated credential')
            if id_action == 'delete':
                self.arm.request('DELETE', opts['identity_id'], MSI_API, what='delete the managed identity')
        ident = result['identity']
        client_id = ident.get('client_id') or (PENDING if present else None)
        result['service_account_annotations'] = {}
        if client_id:
            result['service_account_annotations'][CLIENT_ID_ANNOTATION] = client_id
            if ident.get('tenant_id'):
                result['service_account_annotations'][TENANT_ID_ANNOTATION] = ident['tenant_id']
        return result
