#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: registry_health_info
short_description: Registry-side health of Harbor, GitLab and Artifactory, read-only
version_added: 0.1.0
description:
  - Reads, through each vendor's API, what the registry itself knows about its health, per registry entry, the way
    a person troubleshooting a registry looks it up by hand. Nothing is written at the registry or in a cluster.
  - "Harbor (O(registries[].provider=harbor_robot)): C(statistics) (C(GET /api/v2.0/statistics): project and
    repository counts and the storage used; Harbor fills the totals only for a system admin), C(quota) (the storage
    quota of O(registries[].project): C(GET /api/v2.0/quotas?reference=project&reference_id=<project id>), used and
    hard limit in bytes, C(-1) = unlimited) and C(gc_schedule) (C(GET /api/v2.0/system/gc/schedule): the garbage
    collection schedule type, cron and next run)."
  - "GitLab (O(registries[].provider=gitlab_deploy_token)): C(cleanup_policy), the container registry cleanup
    policy of O(registries[].project) (C(container_expiration_policy) of C(GET /api/v4/projects/:id)). GitLab
    shows it only to users who may administer the project; otherwise it is reported as C(not_readable)."
  - "Artifactory (O(registries[].provider=artifactory_token)): C(storage), the storage summary of
    C(GET /artifactory/api/storageinfo) (file store type, total, used and free space as Artifactory words them,
    the used percentage, binaries and artifacts size, the number of repositories). Artifactory serves it to admins."
  - "Every check ends as C(ok), C(warning) (a finding, see RV(registries[].findings)), C(not_readable) (HTTP 403,
    or the answer hides the field: reported, never a failure) or C(failed) (unreachable, HTTP 401, 404, 5xx, or an
    answer of another shape). Each finding is also a warning of the task. The task fails only on bad input."
  - The role M(registrylink.k8s.verify) runs this module for the entries in its C(verify_registry_health) input and
    adds the result to its report.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.info_module
  - registrylink.k8s.attributes.actiongroup_vendor
options:
  registries:
    description:
      - The registries to read, one entry each. The keys are those of a M(registrylink.k8s.registry_secret)
        provider entry that the health reads need (an entry of that module can be reduced to them).
    type: list
    elements: dict
    required: true
    suboptions:
      provider:
        description:
          - The vendor, named as the M(registrylink.k8s.registry_secret) provider of that registry.
        type: str
        required: true
        choices: [harbor_robot, gitlab_deploy_token, artifactory_token]
      api_url:
        description:
          - Base URL of the vendor API, C(https://) only (Harbor C(https://harbor.example.com), GitLab
            C(https://gitlab.example.com), Artifactory C(https://acme.jfrog.io)).
        type: str
        required: true
      api_ca_path:
        description: CA bundle that signs the certificate of O(registries[].api_url); default the system trust store.
        type: path
      server:
        description: The registry host, only to label the results (default O(registries[].api_url)).
        type: str
      api_username:
        description:
          - For V(harbor_robot), the Harbor user. A system admin can read all three checks; other users get
            C(not_readable) for what Harbor does not show them.
        type: str
      api_password:
        description: For V(harbor_robot), the password (or CLI secret) of O(registries[].api_username). Never logged or returned.
        type: str
      api_token:
        description:
          - For V(gitlab_deploy_token), a GitLab access token with scope C(read_api) or C(api) of a Maintainer of
            O(registries[].project). For V(artifactory_token), an access token that may read storage information
            (an admin token). Never logged or returned.
        type: str
      project:
        description:
          - For V(harbor_robot), the Harbor project whose storage quota is read (required).
          - For V(gitlab_deploy_token), the GitLab project (full path such as C(team/app), or numeric id) whose cleanup
            policy is read (required).
        type: str
  usage_warn_percent:
    description:
      - A Harbor project quota or the Artifactory file store used above this percentage is a finding
        (C(quota_nearly_full), C(storage_nearly_full)).
    type: int
    default: 90
  timeout:
    description: Seconds to wait for each API answer.
    type: int
    default: 30
notes:
  - "Rights: read-only API calls. Harbor: a system admin sees statistics totals, quotas and the GC schedule; a project
    admin typically gets C(not_readable) for the quota list and the GC schedule. GitLab: Maintainer of the project.
    Artifactory: an admin token for C(storageinfo)."
  - Bad input (an unknown provider, a missing credential or project, a non-https URL, an option the provider does not
    take) fails before any call, naming C(registries[<index>].<option>).
  - Facts behind the calls are in the collection's C(docs/vendor-registries.md), from Harbor's v2.0 OpenAPI document,
    GitLab's project API and cleanup policy documentation, and JFrog's storage summary documentation.
seealso:
  - module: registrylink.k8s.registry_secret
  - module: registrylink.k8s.registry_probe
'''

EXAMPLES = r'''
- name: Health of the Harbor, GitLab and Artifactory registries behind the clusters
  registrylink.k8s.registry_health_info:
    registries:
      - provider: harbor_robot
        api_url: https://harbor.example.com
        api_username: admin
        api_password: "{{ vault_harbor_admin_password }}"
        project: team-a
      - provider: gitlab_deploy_token
        api_url: https://gitlab.example.com
        server: registry.gitlab.example.com
        api_token: "{{ vault_gitlab_token }}"
        project: team/app
      - provider: artifactory_token
        api_url: https://acme.jfrog.io
        api_token: "{{ vault_artifactory_admin_token }}"
    usage_warn_percent: 85
  register: health

- name: Show the table
  ansible.builtin.debug:
    msg: "{{ health.table }}"

- name: Stop when a Harbor quota is nearly full
  ansible.builtin.assert:
    that: health.registries | map(attribute='findings') | flatten | selectattr('code', 'equalto', 'quota_nearly_full') | list | length == 0
'''

RETURN = r'''
changed:
  description: Always false; the module only reads.
  returned: always
  type: bool
  sample: false
registries:
  description: One result per entry of O(registries), in order.
  returned: always
  type: list
  elements: dict
  contains:
    provider:
      description: The entry's provider.
      type: str
      sample: harbor_robot
    api_url:
      description: The API base URL read.
      type: str
    server:
      description: The entry's O(registries[].server), or null.
      type: str
    project:
      description: The entry's project, or null.
      type: str
    status:
      description:
        - The worst status of the checks, C(ok), C(warning) or C(failed); a C(not_readable) check counts as C(ok).
      type: str
      sample: warning
    checks:
      description:
        - The checks by name (C(statistics), C(quota), C(gc_schedule) for Harbor; C(cleanup_policy) for GitLab;
          C(storage) for Artifactory). Each has C(status) (C(ok), C(warning), C(not_readable), C(failed)),
          C(http_status) (the API's status code, null when none was received) and C(msg) (null when C(ok)), plus the
          figures listed below when the answer was read.
        - "C(statistics): C(total_project_count), C(total_repo_count), C(private_project_count),
          C(public_project_count), C(private_repo_count), C(public_repo_count), C(storage_bytes) (bytes)."
        - "C(quota): C(used_bytes), C(hard_bytes) (null when unlimited), C(used_percent) (one decimal), C(unlimited)."
        - "C(gc_schedule): C(schedule_type) (C(Hourly), C(Daily), C(Weekly), C(Custom), C(Schedule); C(None),
          C(Manual) or null mean no schedule), C(cron), C(next_scheduled_time)."
        - "C(cleanup_policy): C(enabled), C(cadence), C(keep_n), C(older_than), C(name_regex), C(name_regex_keep),
          C(next_run_at)."
        - "C(storage): C(storage_type), C(total_space), C(used_space), C(free_space) (text as Artifactory gives it),
          C(used_percent) (parsed from C(used_space)), C(binaries_size), C(artifacts_size), C(repositories_count)."
      type: dict
      sample: {quota: {status: warning, http_status: 200, used_bytes: 95000, hard_bytes: 100000, used_percent: 95.0,
               unlimited: false, msg: "project team-a uses 92.8 KiB of its 97.7 KiB storage quota ..."}}
    findings:
      description:
        - What deserves attention, each with C(code), C(check) and C(msg). Codes are C(quota_nearly_full) (above
          O(usage_warn_percent)), C(no_gc_schedule), C(cleanup_policy_disabled), C(storage_nearly_full) and
          C(check_failed).
      type: list
      elements: dict
summary:
  description: Counts of registries per status (C(ok), C(warning), C(failed)), C(registries) and C(not_readable_checks).
  returned: always
  type: dict
  sample: {registries: 3, ok: 1, warning: 1, failed: 0, not_readable_checks: 1}
table:
  description: The result as fixed-width lines (registry, provider, check, status, detail) for a person to read.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_health_info import RegistryHealthInfoRunner


def argument_spec():
    return dict(
        registries=dict(type='list', elements='dict', required=True, options=dict(
            provider=dict(type='str', required=True, choices=['harbor_robot', 'gitlab_deploy_token',
                                                              'artifactory_token']),
            api_url=dict(type='str', required=True),
            api_ca_path=dict(type='path'),
            server=dict(type='str'),
            api_username=dict(type='str'),
            api_password=dict(type='str', no_log=True),
            api_token=dict(type='str', no_log=True),
            project=dict(type='str'),
        )),
        usage_warn_percent=dict(type='int', default=90),
        timeout=dict(type='int', default=30),
    )


def main():
    run_module(RegistryHealthInfoRunner, argument_spec(), requires=('requests',))


if __name__ == '__main__':
    main()
