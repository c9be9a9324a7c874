#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: gke_cluster_info
short_description: Who pulls images on a GKE cluster - node pool service accounts and Workload Identity readiness
version_added: 0.1.0
description:
  - Reads a GKE cluster and its node pools (GKE API v1) and reports the service account each node pool runs as.
    On GKE the kubelet pulls images with the B(node pool's service account), never with a Pod's Workload
    Identity, so these are the accounts that need C(roles/artifactregistry.reader).
  - A node pool without a service account of its own (C(serviceAccount) V(default)) runs as the Compute Engine
    default service account C(NUMBER-compute@developer.gserviceaccount.com); the project number is read from
    Resource Manager (C(GET /v3/projects/ID)) to name it, and the module warns.
  - Reports whether Workload Identity is ready (the cluster's workload pool C(PROJECT.svc.id.goog), every node pool
    on the GKE metadata server, C(GKE_METADATA)) and, for O(workload_service_accounts), the principals that name
    those Kubernetes ServiceAccounts in IAM policies.
  - Reads only. Used by the C(registrylink.k8s.gke_artifact_registry) role.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.info_module
  - registrylink.k8s.attributes.actiongroup_gcp
  - registrylink.k8s.gcp
options:
  project:
    description: The ID of the project the cluster is in.
    type: str
    required: true
  location:
    description: The cluster's location, a region (regional cluster) or a zone (zonal cluster).
    type: str
    required: true
  cluster:
    description: The cluster's name.
    type: str
    required: true
  workload_service_accounts:
    description:
      - Kubernetes ServiceAccounts whose Workload Identity principals are returned in RV(workload_principals).
        Giving any makes the module read the project number.
    type: list
    elements: dict
    default: []
    suboptions:
      namespace:
        description: The ServiceAccount's namespace.
        type: str
        required: true
      name:
        description: The ServiceAccount's name.
        type: str
        required: true
notes:
  - "Errors before any call: a malformed O(project), O(location), O(cluster) or O(workload_service_accounts) entry,
    an unreadable O(credentials_file), an endpoint that is not an http(s) URL. Google errors (no credentials,
    C(PERMISSION_DENIED), C(NOT_FOUND) for an unknown cluster) name the call and the resource."
  - The caller needs C(container.clusters.get), and C(resourcemanager.projects.get) when the project number is read.
'''

EXAMPLES = r'''
- name: Which service accounts pull images on this cluster
  registrylink.k8s.gke_cluster_info:
    project: my-proj
    location: europe-west1
    cluster: prod
  register: gke

- name: The node pools' accounts may read the repository
  registrylink.k8s.gcp_iam_member:
    project: my-proj
    location: europe-west1
    repository: team
    role: roles/artifactregistry.reader
    member: "serviceAccount:{{ item }}"
  loop: "{{ gke.node_service_accounts }}"

- name: Workload Identity principal of a ServiceAccount
  registrylink.k8s.gke_cluster_info:
    project: my-proj
    location: europe-west1
    cluster: prod
    workload_service_accounts:
      - {namespace: ci, name: pusher}
  register: gke_wi
'''

RETURN = r'''
changed:
  description: Always false (reads only).
  returned: always
  type: bool
cluster:
  description: The cluster (C(name), C(project), C(location), C(resource), C(workload_pool); an empty workload pool
    means Workload Identity is off).
  returned: always
  type: dict
  sample: {name: prod, project: my-proj, location: europe-west1, resource: projects/my-proj/locations/europe-west1/clusters/prod,
           workload_pool: my-proj.svc.id.goog}
project_number:
  description: The project number, when it was read (a node pool on the default account, or O(workload_service_accounts)); else empty.
  returned: always
  type: str
  sample: '123456789012'
node_pools:
  description: One entry per node pool.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The node pool's name.
      type: str
    service_account:
      description: The e-mail of the service account its nodes (and so the kubelet's image pulls) run as.
      type: str
      sample: gke-nodes@my-proj.iam.gserviceaccount.com
    member:
      description: The same as an IAM member, C(serviceAccount:EMAIL).
      type: str
    compute_default_account:
      description: Whether it is the Compute Engine default service account (a warning is given).
      type: bool
    workload_metadata_mode:
      description: The node pool's C(workloadMetadataConfig.mode) (V(GKE_METADATA) for Workload Identity), empty when unset.
      type: str
node_service_accounts:
  description: The distinct node pool service accounts (e-mails), sorted.
  returned: always
  type: list
  elements: str
workload_identity:
  description: C(ready) (bool) and C(problems) (what stops Workload Identity, each naming the fix).
  returned: always
  type: dict
  sample: {ready: false, problems: ["node pool pool-1 does not use the GKE metadata server (mode GCE_METADATA; ...)"]}
workload_principals:
  description:
    - One entry per O(workload_service_accounts) item, C(namespace), C(name), C(principal) (Workload Identity
      Federation for GKE, C(principal://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/PROJECT.svc.id.goog/subject/ns/NS/sa/KSA))
      and C(member) (C(serviceAccount:PROJECT.svc.id.goog[NS/KSA]), for C(roles/iam.workloadIdentityUser) on a Google
      service account).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.registrylink.k8s.plugins.module_utils._gcp import GCP_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._gke_cluster_info import GkeClusterInfoRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module


def argument_spec():
    spec = dict(
        project=dict(type='str', required=True),
        location=dict(type='str', required=True),
        cluster=dict(type='str', required=True),
        workload_service_accounts=dict(type='list', elements='dict', default=[], options=dict(
            namespace=dict(type='str', required=True),
            name=dict(type='str', required=True),
        )),
    )
    spec.update(GCP_ARGSPEC)
    return spec


def main():
    run_module(GkeClusterInfoRunner, argument_spec(), requires=('google.auth',))


if __name__ == '__main__':
    main()
