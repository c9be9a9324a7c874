#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: azure_workload_identity
short_description: An Azure user-assigned managed identity that one AKS ServiceAccount signs in as, with the ACR pull role
version_added: 0.1.0
description:
  - Sets up Azure Workload Identity for one ServiceAccount of an AKS cluster, over the Azure Resource Manager REST API
    - the user-assigned managed identity (created when missing, tagged C(managed-by=registrylink.k8s)); a
    B(federated identity credential) on it that trusts the cluster's OIDC issuer
    (C(properties.oidcIssuerProfile.issuerURL) of the managed cluster) for the subject
    C(system:serviceaccount:<namespace>:<service_account>) and the audience C(api://AzureADTokenExchange); and, with
    O(registry_id), the pull role on the registry for the identity's principal (AcrPull, or Container Registry
    Repository Reader on a registry in ABAC mode), made exactly as M(registrylink.k8s.acr_attach) makes it
    (deterministic name, C(principalType), the wait until it is visible).
  - Returns the ServiceAccount annotations (RV(service_account_annotations)) to set with
    M(registrylink.k8s.sa_pull_secret); the C(registrylink.k8s.aks_acr) role with C(aks_acr_mode=workload_identity)
    does both. Pods also need the label C(azure.workload.identity/use=true).
  - B(Image pulls do not use workload identity.) The kubelet pulls with the cluster's kubelet identity
    (M(registrylink.k8s.acr_attach)) before any container runs. Workload identity is for in-cluster tools that
    talk to the registry themselves (scanners, cache warmers, CI runners that push).
  - Idempotent - the identity is only created (an existing one is used as it is, never updated); the federated
    credential is written when it is missing or its issuer, subject or audiences differ; each is read first and
    compared with what the task asks for.
  - O(state=absent) removes only what this module made - the federated credential of that name when its subject
    (and issuer, while the cluster has one) is the task's; the role assignment with the deterministic name; and the
    identity when it carries the C(managed-by=registrylink.k8s) tag and has no other federated credential.
  - C(azure.azcollection) 3.12.0 has no module for user-assigned identities or federated credentials, hence this one.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.actiongroup_azure
  - registrylink.k8s.azure
attributes:
  check_mode:
    support: full
    details: >-
      Reads the cluster, the registry, the identity, its federated credential and the role assignments; reports what
      would be created, updated or removed.
  diff_mode:
    support: full
    details: >-
      The identity, the federated credential and the role assignment before and after (IDs, issuer, subject,
      audiences, role, principal).
  idempotent:
    support: full
options:
  identity_id:
    description:
      - The resource ID of the user-assigned managed identity
        (C(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)).
        Created when it does not exist; the resource group must exist.
    type: str
    required: true
  cluster_id:
    description:
      - The resource ID of the AKS cluster whose ServiceAccount tokens the identity trusts. Its OIDC issuer and its
        workload identity webhook must be on (C(az aks update --enable-oidc-issuer --enable-workload-identity));
        otherwise the task fails before any write.
      - With O(state=absent) a cluster that no longer exists or has no issuer is allowed (the credential is then
        matched by its subject only).
    type: str
    required: true
  namespace:
    description: The namespace of the ServiceAccount.
    type: str
    required: true
  service_account:
    description: The name of the ServiceAccount whose pods sign in as the identity.
    type: str
    required: true
  credential_name:
    description:
      - The name of the federated identity credential on the identity (3-120 letters, digits, C(-) and C(_)).
      - Default C(registrylink-<namespace>-<service_account>), other characters replaced by C(-), a hash at the end
        when longer than 120 characters.
    type: str
  audiences:
    description:
      - The audience of the federated credential. Microsoft Entra accepts exactly one; the AKS workload identity
        webhook projects tokens for C(api://AzureADTokenExchange).
    type: list
    elements: str
    default: [api://AzureADTokenExchange]
  location:
    description:
      - The region of a new identity. Default the cluster's region. Not used for an existing identity.
    type: str
  registry_id:
    description:
      - The resource ID of the registry the identity gets the pull role on. Unset, no role assignment is made or removed.
      - Give it with O(state=absent) too, so the role assignment is removed before the identity.
    type: str
  role:
    description:
      - As in M(registrylink.k8s.acr_attach) - V(auto) (the pull role the registry honours), a role name or a role
        definition GUID. Needs O(registry_id).
    type: str
    default: auto
  wait_timeout:
    description:
      - How long to wait for a new role assignment to be returned by Resource Manager (a duration, V(0) does not wait).
    type: str
    default: 10m
  state:
    description:
      - V(present) sets everything up; V(absent) removes what this module made (see above).
    type: str
    choices: [present, absent]
    default: present
notes:
  - "Errors, before any write: a malformed O(identity_id), O(cluster_id), O(namespace), O(service_account),
    O(credential_name), O(audiences) (not exactly one), O(location), O(registry_id), O(role), O(wait_timeout),
    O(arm_endpoint), O(tenant_id), O(client_id) or O(authority_host); O(role) other than V(auto) without
    O(registry_id); a cluster without OIDC issuer or with workload identity off (C(field=cluster_id), with the
    C(az aks update) command); a cluster or registry that does not exist; an unknown role; Azure credentials refused
    (C(category=azure_credentials)). Any Resource Manager error (C(status), C(code)), for example
    C(AuthorizationFailed) when the caller may not write identities (Managed Identity Contributor) or role
    assignments (Owner, User Access Administrator or Role Based Access Control Administrator on the registry).
    After the writes, a role assignment not visible within O(wait_timeout) (C(code=RoleAssignmentNotPropagated))."
  - Microsoft documents that a token request made right after a federated credential is added may fail for a
    couple of minutes (C(AADSTS70021)); the module does not wait for that.
  - Azure cannot run in this collection's tests; they run against a local stand-in of the documented Resource
    Manager API (docs/aks-acr.md).
seealso:
  - name: Azure Workload Identity on AKS
    description: The OIDC issuer, the federated credential and the ServiceAccount annotations.
    link: https://learn.microsoft.com/azure/aks/workload-identity-deploy-cluster
  - module: registrylink.k8s.acr_attach
  - module: registrylink.k8s.sa_pull_secret
'''

EXAMPLES = r'''
- name: Identity for the image scanner's ServiceAccount, with the pull role on the registry
  registrylink.k8s.azure_workload_identity:
    identity_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-aks/providers/Microsoft.ManagedIdentity/userAssignedIdentities/scanner
    cluster_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/prod-eu-1
    namespace: security
    service_account: scanner
    registry_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/myregistry
  register: scanner_identity

- name: Annotate the ServiceAccount with the identity's client ID (and tenant)
  registrylink.k8s.sa_pull_secret:
    namespaces: [security]
    service_accounts: [scanner]
    annotations: "{{ scanner_identity.service_account_annotations }}"

- name: Remove it again (the credential, the role assignment, then the identity this module created)
  registrylink.k8s.azure_workload_identity:
    identity_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-aks/providers/Microsoft.ManagedIdentity/userAssignedIdentities/scanner
    cluster_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/prod-eu-1
    namespace: security
    service_account: scanner
    registry_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/myregistry
    state: absent
'''

RETURN = r'''
issuer:
  description: The cluster's OIDC issuer URL (null with O(state=absent) when the cluster has none).
  returned: always
  type: str
  sample: https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/
subject:
  description: The subject the federated credential trusts.
  returned: always
  type: str
  sample: system:serviceaccount:security:scanner
identity:
  description:
    - The identity (C(id), C(name), C(location), C(client_id), C(principal_id), C(tenant_id), C(managed) - whether it
      carries this collection's tag) and C(action) - C(create), C(unchanged), C(delete), C(kept) (absent, but not
      ours or still holding other federated credentials) or C(absent).
    - C(client_id), C(principal_id) and C(tenant_id) are null in check mode for an identity not created yet.
  returned: always
  type: dict
federated_credential:
  description:
    - The federated credential (C(id), C(name), C(issuer), C(subject), C(audiences)) and C(action) - C(create),
      C(update), C(unchanged), C(delete), C(kept) (its subject or issuer is not the task's) or C(absent).
  returned: always
  type: dict
role_assignment:
  description:
    - With O(registry_id), the pull role for the identity's principal as M(registrylink.k8s.acr_attach) returns it
      (C(action), C(role), C(role_assignment_mode), C(principal_id), C(managed), C(assignment), C(propagated),
      C(waited_seconds), C(changed)); null without O(registry_id), or with O(state=absent) when the identity does
      not exist.
  returned: always
  type: dict
service_account_annotations:
  description:
    - The ServiceAccount annotations C(azure.workload.identity/client-id) and C(azure.workload.identity/tenant-id) for
      M(registrylink.k8s.sa_pull_secret). In check mode, for an identity not created yet, the client ID is a
      placeholder text and the tenant is left out. Empty with O(state=absent) when the identity does not exist.
  returned: always
  type: dict
  sample:
    azure.workload.identity/client-id: 5b3f1c2d-0e4a-4b6c-9d8e-7f6a5b4c3d2e
    azure.workload.identity/tenant-id: 72f988bf-86f1-41af-91ab-2d7cd011db47
'''

from ansible_collections.registrylink.k8s.plugins.module_utils._azure import AZURE_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._azure_workload_identity import (
    AzureWorkloadIdentityRunner,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module


def argument_spec():
    spec = dict(
        identity_id=dict(type='str', required=True),
        cluster_id=dict(type='str', required=True),
        namespace=dict(type='str', required=True),
        service_account=dict(type='str', required=True),
        credential_name=dict(type='str'),
        audiences=dict(type='list', elements='str', default=['api://AzureADTokenExchange']),
        location=dict(type='str'),
        registry_id=dict(type='str'),
        role=dict(type='str', default='auto'),
        wait_timeout=dict(type='str', default='10m'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
    )
    spec.update(AZURE_ARGSPEC)
    return spec


def main():
    run_module(AzureWorkloadIdentityRunner, argument_spec(), requires=('requests',))


if __name__ == '__main__':
    main()
