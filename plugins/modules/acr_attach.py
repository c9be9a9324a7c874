#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: acr_attach
short_description: Let an AKS cluster's kubelet identity (or any principal) pull from an Azure Container Registry
version_added: 0.1.0
description:
  - What C(az aks update --attach-acr) should have been. Grants the pull role on the registry's scope to the
    cluster's B(kubelet identity) (C(properties.identityProfile.kubeletidentity.objectId) of the managed
    cluster; the identity the kubelet pulls with), or to O(principal_id).
  - The role follows the registry's role assignment permissions mode (C(properties.roleAssignmentMode)) - V(AcrPull),
    or C(Container Registry Repository Reader) on a registry in ABAC mode (C(AbacRepositoryPermissions)), where
    AcrPull is not honoured. The role definition is looked up by name at the registry's scope.
  - The assignment has a deterministic name (a UUID derived from scope, principal and role), so a rerun finds it
    (C(changed=false)) and O(state=absent) removes only the assignment this module made. It is created with
    C(principalType) set, which avoids the C(PrincipalNotFound) error for identities that are still replicating.
    An assignment of the same role to the same principal under another name (made by the CLI or the portal) counts
    as present and is never removed; a C(409 RoleAssignmentExists) answer is success.
  - After creating the assignment the module waits, with back-off (2 s doubling to 30 s), until Resource Manager
    returns it, at most O(wait_timeout). Azure RBAC changes can take minutes to reach the registry; the
    C(registrylink.k8s.aks_acr) role proves the pull afterwards with M(registrylink.k8s.pull_canary).
  - Talks to Azure Resource Manager over REST with azure-identity credentials. C(azure.azcollection.azure_rm_roleassignment)
    is not used because it names assignments with a random UUID, sends no C(principalType) and does not wait.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.actiongroup_azure
  - registrylink.k8s.azure
attributes:
  check_mode:
    support: full
    details: Reads the cluster, the registry, the role definition and the assignments; reports the assignment that would be made or removed.
  diff_mode:
    support: full
    details: The assignment before and after (IDs, role, principal, scope).
  idempotent:
    support: full
options:
  registry_id:
    description:
      - The resource ID of the registry (C(az acr show -n <name> --query id)).
    type: str
    required: true
  cluster_id:
    description:
      - The resource ID of the AKS cluster whose kubelet identity pulls (C(az aks show -n <name> -g <group> --query id)).
      - A cluster with a service principal instead of a kubelet identity fails with the command that finds the
        principal's object ID for O(principal_id).
      - Exactly one of O(cluster_id) and O(principal_id).
    type: str
  principal_id:
    description:
      - The object ID of the principal to grant (a managed identity's principal ID, a service principal's object ID).
    type: str
  principal_type:
    description:
      - The principal's type, sent with the assignment.
    type: str
    choices: [ServicePrincipal, User, Group, ForeignGroup]
    default: ServicePrincipal
  role:
    description:
      - V(auto) picks the pull role the registry honours. Otherwise a role name (V(AcrPull)) or a role definition GUID.
      - V(AcrPull) on an ABAC-mode registry is made with a warning that the registry does not honour it.
    type: str
    default: auto
  state:
    description:
      - V(present) grants; V(absent) removes the assignment this module made (by its deterministic name).
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description:
      - How long to wait for a new assignment to be returned by Resource Manager (a duration such as V(10m), V(90s));
        V(0) does not wait.
      - When it is not visible in time the task fails with a hint; the assignment stays and a rerun reports it.
    type: str
    default: 10m
notes:
  - "Errors (before any write unless said): a malformed O(registry_id), O(cluster_id), O(principal_id), O(role),
    O(wait_timeout), O(arm_endpoint), O(tenant_id), O(client_id) or O(authority_host); both or neither of
    O(cluster_id) and O(principal_id); a cluster without kubelet identity; an unknown role; Azure credentials
    refused (C(category=azure_credentials)); any Resource Manager error (C(status), C(code), for example
    C(AuthorizationFailed) when the caller may not write role assignments - it needs Owner, User Access
    Administrator or Role Based Access Control Administrator on the registry); after the write, an assignment
    not visible within O(wait_timeout) (C(code=RoleAssignmentNotPropagated), C(changed=true))."
  - Azure cannot run in this collection's tests; they run against a local stand-in of the documented Resource
    Manager API (docs/aks-acr.md).
seealso:
  - name: Integrate Azure Container Registry with AKS
    description: What C(--attach-acr) does and why the kubelet identity needs the role.
    link: https://learn.microsoft.com/azure/aks/cluster-container-registry-integration
  - name: ABAC repository permissions in Azure Container Registry
    description: Which roles a registry in ABAC mode honours.
    link: https://learn.microsoft.com/azure/container-registry/container-registry-rbac-abac-repository-permissions
'''

EXAMPLES = r'''
- name: Let the cluster's kubelet identity pull from the registry (AcrPull, or the ABAC role)
  registrylink.k8s.acr_attach:
    registry_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/myregistry
    cluster_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/prod-eu-1

- name: Detach (removes only the assignment made above)
  registrylink.k8s.acr_attach:
    registry_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/myregistry
    cluster_id: /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/prod-eu-1
    state: absent

- name: Grant a pre-created (BYO) kubelet identity in the US government cloud, with a service principal
  registrylink.k8s.acr_attach:
    registry_id: "{{ acr_id }}"
    principal_id: 6f1d2c3b-4a59-4e68-9f7a-8b9c0d1e2f30
    arm_endpoint: https://management.usgovcloudapi.net
    authority_host: https://login.microsoftonline.us
    tenant_id: "{{ azure_tenant }}"
    client_id: "{{ azure_sp_app_id }}"
    client_secret: "{{ vault_azure_sp_secret }}"
'''

RETURN = r'''
action:
  description: C(create), C(unchanged), C(delete), C(absent), or C(kept) (O(state=absent) found only an assignment this module did not make).
  returned: always
  type: str
role:
  description: The role name granted (or that would be).
  returned: always
  type: str
  sample: AcrPull
role_assignment_mode:
  description: The registry's C(roleAssignmentMode) (C(LegacyRegistryPermissions) when the registry does not report one).
  returned: always
  type: str
principal_id:
  description: The object ID granted.
  returned: always
  type: str
principal_source:
  description: Where the principal came from (C(kubelet identity of <cluster>) or C(principal_id)).
  returned: always
  type: str
scope:
  description: The registry's resource ID (the assignment's scope).
  returned: always
  type: str
managed:
  description: Whether the assignment is (or would be) the one with this module's deterministic name.
  returned: always
  type: bool
assignment:
  description:
    - The assignment found, made or that would be made (C(id), C(name), C(role_definition_id), C(principal_id),
      C(principal_type), C(scope)); null when there is none.
  returned: always
  type: dict
propagated:
  description: Whether a new assignment became visible within O(wait_timeout); null when nothing was created or waiting is off.
  returned: always
  type: bool
waited_seconds:
  description: Seconds spent waiting for the new assignment.
  returned: always
  type: int
'''

from ansible_collections.registrylink.k8s.plugins.module_utils._acr_attach import AcrAttachRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._azure import AZURE_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module


def argument_spec():
    spec = dict(
        registry_id=dict(type='str', required=True),
        cluster_id=dict(type='str'),
        principal_id=dict(type='str'),
        principal_type=dict(type='str', choices=['ServicePrincipal', 'User', 'Group', 'ForeignGroup'],
                            default='ServicePrincipal'),
        role=dict(type='str', default='auto'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        wait_timeout=dict(type='str', default='10m'),
    )
    spec.update(AZURE_ARGSPEC)
    return spec


def main():
    run_module(AcrAttachRunner, argument_spec(), requires=('requests',))


if __name__ == '__main__':
    main()
