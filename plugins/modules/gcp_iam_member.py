#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: gcp_iam_member
short_description: One member of one role in the IAM policy of a Google Cloud project, Artifact Registry repository or service account
version_added: 0.1.0
description:
  - Adds (O(state=present)) or removes (O(state=absent)) one O(member) in the binding of one O(role) (and
    optional O(condition)) in the IAM policy of a project, an Artifact Registry repository or a service
    account. Every other binding, member, condition and the audit configuration stay as they are.
  - "Read-modify-write with the policy C(etag): the policy is read as version 3 (so conditions are seen and
    kept), changed, and written back with the etag that was read. When someone else changed the policy in
    between, Google refuses the stale etag (HTTP 409 C(ABORTED)); the module then reads, plans and writes
    again (up to 6 times, with growing pauses), so no concurrent change is lost."
  - google.cloud has no module for IAM policy bindings; this one is deliberately small. It is used by the
    C(registrylink.k8s.gke_artifact_registry) role.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.actiongroup_gcp
  - registrylink.k8s.gcp
attributes:
  check_mode:
    support: full
    details: Reads the policy and reports what would change; writes nothing.
  diff_mode:
    support: full
    details: The members of the binding before and after (principals are not secrets).
  idempotent:
    support: full
options:
  project:
    description:
      - The project ID. The policy is the project's, or with O(repository) that of a repository in it.
      - Required unless O(service_account) is given.
    type: str
  repository:
    description:
      - An Artifact Registry repository ID (for C(europe-west1-docker.pkg.dev/my-proj/team/app), V(team)); the
        policy is the repository's. Needs O(project) and O(location).
      - The repositories that serve C(gcr.io) hosts are V(gcr.io) (location V(us)), V(us.gcr.io) (V(us)),
        V(eu.gcr.io) (V(europe)) and V(asia.gcr.io) (V(asia)).
    type: str
  location:
    description:
      - The repository's location (V(europe-west1), or a multi-region such as V(us), V(europe)).
    type: str
  service_account:
    description:
      - A service account e-mail; the policy is the service account's (who may act as it, for example
        C(roles/iam.workloadIdentityUser) for a Kubernetes ServiceAccount). Not with O(repository).
    type: str
  member:
    description:
      - "The principal: C(user:EMAIL), C(group:EMAIL), C(serviceAccount:EMAIL), C(domain:DOMAIN),
        C(serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]) (a Kubernetes ServiceAccount through Workload
        Identity), C(principal://iam.googleapis.com/...) or C(principalSet://iam.googleapis.com/...) (Workload
        Identity Federation for GKE without a Google service account)."
    type: str
    required: true
  role:
    description:
      - The role, C(roles/NAME) (for example V(roles/artifactregistry.reader)), C(projects/P/roles/NAME) or
        C(organizations/N/roles/NAME).
    type: str
    required: true
  condition:
    description:
      - An IAM condition; the member is added to (or removed from) the binding of O(role) with exactly this
        condition (title, description and expression compared). Unset means the unconditional binding.
    type: dict
    suboptions:
      title:
        description: The condition's title.
        type: str
        required: true
      expression:
        description: A CEL expression.
        type: str
        required: true
      description:
        description: The condition's description.
        type: str
  state:
    description:
      - V(present) adds the member, V(absent) removes it (a binding left without members is removed).
    type: str
    choices: [present, absent]
    default: present
notes:
  - "Errors, all before any call: a malformed O(member), O(role), O(project), O(location), O(repository) or
    O(service_account); O(repository) without O(location); a C(gcr.io) repository with another O(location) than its own (the
    message explains the Container Registry shutdown); O(service_account) together with O(repository);
    a O(condition) without title or expression; an unreadable O(credentials_file); an endpoint that is not an
    http(s) URL. Google errors (no credentials, C(PERMISSION_DENIED), C(NOT_FOUND)) name the resource and the
    call; 6 conflicts in a row fail the task with nothing written."
  - "O(role=roles/storage.objectViewer) gets a warning: it was the Container Registry pull grant, and Container
    Registry is shut down; C(gcr.io) pulls are authorised by V(roles/artifactregistry.reader) on the C(gcr.io)
    repository. The binding is still made (a Cloud Storage role is right for buckets)."
  - The caller needs the permission to read and set the policy (C(resourcemanager.projects.setIamPolicy),
    C(artifactregistry.repositories.setIamPolicy), C(iam.serviceAccounts.setIamPolicy)).
seealso:
  - name: Policy versions and the etag
    description: Why conditions need version 3 and the etag for read-modify-write.
    link: https://cloud.google.com/iam/docs/policies
'''

EXAMPLES = r'''
- name: The node pool's service account may pull from one repository
  registrylink.k8s.gcp_iam_member:
    project: my-proj
    location: europe-west1
    repository: team
    role: roles/artifactregistry.reader
    member: serviceAccount:gke-nodes@my-proj.iam.gserviceaccount.com

- name: A Kubernetes ServiceAccount acts as a Google service account (Workload Identity)
  registrylink.k8s.gcp_iam_member:
    service_account: refresher@my-proj.iam.gserviceaccount.com
    role: roles/iam.workloadIdentityUser
    member: serviceAccount:my-proj.svc.id.goog[ops/refresher]

- name: Until the end of the year only
  registrylink.k8s.gcp_iam_member:
    project: my-proj
    role: roles/artifactregistry.reader
    member: group:contractors@example.com
    condition:
      title: until-2027
      expression: request.time < timestamp("2027-01-01T00:00:00Z")

- name: Take it away again
  registrylink.k8s.gcp_iam_member:
    project: my-proj
    role: roles/artifactregistry.reader
    member: group:contractors@example.com
    condition:
      title: until-2027
      expression: request.time < timestamp("2027-01-01T00:00:00Z")
    state: absent
'''

RETURN = r'''
changed:
  description: Whether the member was (or, in check mode, would be) added or removed.
  returned: always
  type: bool
action:
  description: C(added), C(removed), C(unchanged) (present and already there) or C(absent) (nothing to remove).
  returned: always
  type: str
  sample: added
resource:
  description: The IAM resource name.
  returned: always
  type: str
  sample: projects/my-proj/locations/europe-west1/repositories/team
role:
  description: The role.
  returned: always
  type: str
member:
  description: The member.
  returned: always
  type: str
before:
  description: The binding's members (and condition) and the policy version before the task.
  returned: always
  type: dict
  sample: {role: roles/artifactregistry.reader, members: [], version: 1}
after:
  description: The same after the task (in check mode, what it would be).
  returned: always
  type: dict
  sample: {role: roles/artifactregistry.reader, members: ["serviceAccount:gke-nodes@my-proj.iam.gserviceaccount.com"], version: 1}
etag:
  description: The policy's etag after the task (the one read when nothing was written).
  returned: always
  type: str
bindings_count:
  description: The number of bindings in the policy after the task.
  returned: always
  type: int
conflicts_retried:
  description: How many times a concurrent change made the write start over.
  returned: always
  type: int
'''

from ansible_collections.registrylink.k8s.plugins.module_utils._gcp import GCP_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._gcp_iam_member import GcpIamMemberRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module


def argument_spec():
    spec = dict(
        project=dict(type='str'),
        repository=dict(type='str'),
        location=dict(type='str'),
        service_account=dict(type='str'),
        member=dict(type='str', required=True),
        role=dict(type='str', required=True),
        condition=dict(type='dict', options=dict(
            title=dict(type='str', required=True),
            expression=dict(type='str', required=True),
            description=dict(type='str'),
        )),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
    )
    spec.update(GCP_ARGSPEC)
    return spec


def main():
    run_module(GcpIamMemberRunner, argument_spec(), requires=('google.auth',))


if __name__ == '__main__':
    main()
