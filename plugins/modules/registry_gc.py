#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: registry_gc
short_description: Delete registry images by retention rules, never one that a cluster still runs
version_added: 0.1.0
description:
  - Applies retention rules to repositories of an OCI distribution registry (Docker registry v2 API)
    and deletes the manifests (by digest) that the rules, taken together, allow to go.
  - "Rules are judged per tag, and a tag is a B(candidate) only when every rule that is set says so:
    O(keep_tags) never; O(tag_include) (when set) only tags it matches; O(tag_exclude) never tags it
    matches; O(keep_last) never the tags of the newest N images; O(older_than) only images older than
    that. Exact semantics, with examples next to C(acr purge), are in the collection's C(docs/cleanup.md)."
  - "Deleting a manifest deletes every tag that points at it. So a digest is deleted only when B(all)
    of its tags are candidates; otherwise it is kept and reported with the tag that kept it
    ('shares its digest with kept tag(s) ...')."
  - "In-use protection (on by default): the Pods and the workload templates (Deployments, StatefulSets,
    DaemonSets, ReplicaSets, Jobs, CronJobs; containers, init containers and ephemeral containers) of
    every cluster in O(clusters) are read, and every image of this registry they name, by tag or by
    digest, is protected, as are the images in O(in_use_images). A tag reference is resolved to its
    digest through the registry. If any cluster, or any kind in it, cannot be read completely, the
    task fails and nothing is deleted."
  - "Also never deleted: the children of a kept or protected multi-arch index (recursively), manifests
    whose C(subject) is not deleted (signatures, SBOMs), and referrers tags (C(sha256-<hex>),
    C(sha256-<hex>.sig)) whose subject stays. Untagged manifests are never touched."
  - "Every repository is read completely before anything is deleted: the whole tag list (following
    pagination), the digest of every tag from the C(Docker-Content-Digest) header of a C(HEAD) with all
    four manifest media types in C(Accept), every manifest, and the image configuration blobs (for the
    creation time). A repository or cluster that cannot be read fails the task with nothing deleted."
  - "The real run deletes exactly the plan it computed: before each C(DELETE) it repeats the C(HEAD) of
    one of the entry's tags and deletes only when it still gives the planned digest; a tag pushed onto a
    planned digest after planning removes that digest from the deletions. A multi-arch index is deleted
    before its children and a subject before its referrers."
  - "The first C(405 UNSUPPORTED) answer to a C(DELETE) (C(storage.delete.enabled=false), or a
    pull-through cache) stops the run: no further C(DELETE) is sent anywhere, nothing is retried, and
    the task fails listing every planned deletion in RV(not_deleted)."
  - "Deleting through the API does not free storage. Run the registry's own garbage collection
    afterwards (distribution: C(registry garbage-collect) with the registry stopped or read-only;
    Harbor: the GC schedule); see C(docs/cleanup.md)."
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.cluster
  - registrylink.k8s.retries
  - registrylink.k8s.registry_auth
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.actiongroup_registrylink
attributes:
  check_mode:
    support: full
    details: >-
      Check mode reads everything the real run reads and returns the plan (RV(plan)): every digest
      that would be deleted and every one kept, each with its tags and reason. No C(DELETE) is sent.
      Pass RV(plan.fingerprint) as O(plan_fingerprint) to make the real run refuse to delete anything
      unless its plan is the reviewed one.
  diff_mode:
    support: full
    details: The tags of every repository before and after the plan (RV(diff)).
  idempotent:
    support: full
    details: >-
      A second run with the same rules finds nothing left to delete and reports C(changed=false),
      unless images aged past O(older_than) in between, or new images were pushed.
options:
  registry:
    description:
      - The registry to clean up, as C(host), C(host:port) or C(https://host[:port]). Required.
      - Deleting needs a token with the C(delete) action on each repository (the task asks for
        C(repository:<name>:pull,delete)); reading the catalog (globs in O(repositories)) needs
        C(registry:catalog:*).
    type: str
    required: true
  pull_secret:
    description:
      - Read the registry credentials from this image pull secret (in the cluster of the task's
        connection options) instead of O(username)/O(password). The entry is chosen the way the kubelet
        would choose it for an image C(<registry>/<first repository>).
      - Mutually exclusive with O(username).
    type: dict
    suboptions:
      namespace:
        description: Namespace of the Secret.
        type: str
        required: true
      name:
        description: Name of the Secret.
        type: str
        required: true
  repositories:
    description:
      - Repositories to clean up, by name (C(team/app)) or glob.
      - "In a glob, C(*) and C(?) match within one path component, C(**) matches across C(/), and
        C([...]) is a character class (C([!...]) negates); the whole name must match. C(team/*) matches
        C(team/app) but not C(team/app/cache); C(team/**) matches both."
      - Globs are resolved through the registry catalog (C(GET /v2/_catalog), all pages). When the
        registry does not offer it (Docker Hub, pull-through caches, some cloud registries), or the
        credentials may not read it, the task fails with that message before anything is read; list
        the repositories by name then. A glob that matches nothing gives a warning.
      - A repository that does not exist is reported with C(action=absent).
    type: list
    elements: str
    required: true
  keep_last:
    description:
      - Keep the tags of the newest N images (distinct digests) of each repository. Only images with at
        least one tag in scope of O(tag_include)/O(tag_exclude) are ranked.
      - "Ranked by the image creation time (C(created) in the image configuration; for a multi-arch index
        its C(org.opencontainers.image.created) annotation, else the newest of its images); when that is
        unknown for any ranked image, by push order (when the registry reports it); when neither is known
        for every image, nothing is ranked and keep_last keeps every tag (fail safe). RV(results[].ordering)
        says which was used."
      - C(0) keeps none by count (the other rules still apply).
    type: int
  older_than:
    description:
      - Only images older than this are candidates, for example C(30d), C(12h), C(1d12h), C(90m) (units
        C(w), C(d), C(h), C(m), C(s); a bare number is seconds).
      - Age is counted from the image creation time (see O(keep_last)); an image of unknown age is kept.
    type: str
  tag_include:
    description:
      - Regular expressions (Python C(re)) matched against the B(whole) tag (as if anchored with C(^...$)).
        When set, only tags that at least one of them matches are candidates; others are kept.
      - C(v1) matches the tag C(v1) only, not C(v10) nor C(xv1). Use C(v1.*) for a prefix.
      - At least one of O(keep_last), O(older_than) or O(tag_include) must be set; C([".*"]) makes every
        tag a candidate explicitly.
    type: list
    elements: str
  tag_exclude:
    description:
      - Regular expressions matched against the whole tag; a tag any of them matches is kept.
    type: list
    elements: str
  keep_tags:
    description:
      - Tags that are always kept (exact names), for example C(latest), C(stable).
    type: list
    elements: str
    default: []
  in_use_protection:
    description:
      - Scan O(clusters) for the images they use and never delete those.
      - When false, no cluster is read (a warning says so) and only O(in_use_images) are protected.
    type: bool
    default: true
  clusters:
    description:
      - The clusters whose Pods and workload templates are scanned. Each entry is laid over the task's own
        cluster connection options (so O(kubeconfig) can be set once and each entry name a O(context)).
      - Default is the task's own connection (one cluster).
      - The credentials need C(list) on pods, deployments, statefulsets, daemonsets, replicasets, jobs and
        cronjobs in all namespaces.
    type: list
    elements: dict
    suboptions:
      kubeconfig:
        description: Path to a kubeconfig file, or the kubeconfig as a dictionary.
        type: raw
      context:
        description: The kubeconfig context.
        type: str
  in_use_images:
    description:
      - Image references that are protected as if a cluster ran them (for clusters this task cannot
        read, CI pipelines, other platforms), for example C(reg.example.com/team/app:1.4) or
        C(reg.example.com/team/app@sha256:...). Each must be a valid image reference.
    type: list
    elements: str
    default: []
  registry_aliases:
    description:
      - Other host names under which workloads refer to this registry (a DNS alias, C(host:port) forms,
        a mirror that serves the same content). Image references with these hosts are treated as
        references to O(registry). C(host:443) and C(host) are always the same registry.
    type: list
    elements: str
    default: []
  max_concurrency:
    description:
      - Registry requests in flight at a time, for reads and for deletes (1 to 32). 429 and 5xx answers
        are retried with backoff, honouring C(Retry-After).
    type: int
    default: 4
  plan_fingerprint:
    description:
      - The RV(plan.fingerprint) of a reviewed check-mode run. The real run computes its plan again and
        deletes nothing (and fails) when the fingerprint differs, for example because images aged past
        O(older_than) or were pushed in between.
    type: str
notes:
  - Semantics, the comparison with C(acr purge --filter --ago --keep --untagged), and how to reclaim
    storage afterwards (distribution's C(registry garbage-collect), Harbor's GC schedule) are in the
    collection's C(docs/cleanup.md).
  - Docker Hub and GHCR do not offer the registry C(DELETE); the task then fails with the 405 message.
  - Tags pushed between the read and the delete are caught only when they are new tags; a kept tag
    that is moved onto a planned digest in that window is not. Run clean-ups when nothing is being
    promoted, as for the registry's own garbage collection.
  - "Rights in each scanned cluster: C(list), cluster-wide, on C(pods), C(deployments), C(statefulsets),
    C(daemonsets), C(replicasets), C(jobs) and C(cronjobs) (ClusterRole manifest C(docs/rbac/registry_gc-read.yml),
    bound with a ClusterRoleBinding); the module writes nothing in Kubernetes. A kind it may not list fails the
    task before any delete, naming the rule to add. With O(pull_secret), C(list) on C(secrets) in that Secret's
    namespace (C(docs/rbac/registry_gc_pull_secret-read.yml), bound there with a RoleBinding)."
seealso:
  - module: registrylink.k8s.registry_probe
  - name: OCI distribution specification
    description: Deleting manifests, error codes, referrers.
    link: https://github.com/opencontainers/distribution-spec/blob/main/spec.md
  - name: distribution garbage collection
    description: Reclaiming storage after deletes.
    link: https://distribution.github.io/distribution/about/garbage-collection/
'''

EXAMPLES = r'''
- name: Preview what a 30-day retention keeping the 10 newest images would delete
  registrylink.k8s.registry_gc:
    registry: registry.example.com
    username: cleaner
    password: "{{ vault_registry_cleaner_password }}"
    repositories: [team/app, team/worker]
    keep_last: 10
    older_than: 30d
    keep_tags: [latest, stable]
  check_mode: true
  register: preview

- name: Delete exactly the reviewed plan (fails and deletes nothing if the plan changed)
  registrylink.k8s.registry_gc:
    registry: registry.example.com
    username: cleaner
    password: "{{ vault_registry_cleaner_password }}"
    repositories: [team/app, team/worker]
    keep_last: 10
    older_than: 30d
    keep_tags: [latest, stable]
    plan_fingerprint: "{{ preview.plan.fingerprint }}"

- name: Only CI builds (pr-123-abc), older than 7 days, never what two clusters run
  registrylink.k8s.registry_gc:
    registry: registry.example.com:5000
    pull_secret: {namespace: ci, name: registry-cleaner}
    repositories: ["team/**"]
    tag_include: ['pr-[0-9]+-[0-9a-f]+']
    older_than: 7d
    kubeconfig: ~/.kube/fleet
    clusters:
      - context: prod-eu
      - context: prod-us
    in_use_images:
      - registry.example.com:5000/team/app:pr-42-deadbee   # pinned by a pipeline

- name: Keep only the 3 newest of each repository, except release tags
  registrylink.k8s.registry_gc:
    registry: registry.example.com
    repositories: ["*"]
    keep_last: 3
    tag_exclude: ['v[0-9]+\.[0-9]+\.[0-9]+']
'''

RETURN = r'''
changed:
  description: True when something was deleted (in check mode, when something would be).
  returned: always
  type: bool
registry:
  description: The registry host (C(host[:port])) that was cleaned.
  returned: always
  type: str
  sample: registry.example.com:5000
plan:
  description:
    - The retention plan, computed before any delete. In check mode it is all there is.
    - C(fingerprint) is a sha256 over the sorted list of repository, digest and tags to delete.
  returned: always
  type: dict
  contains:
    fingerprint:
      description: Identifies the deletions; pass it as O(plan_fingerprint).
      type: str
      sample: sha256:4a9c...
    now:
      description: The time the ages were computed at (RFC 3339 UTC).
      type: str
    rules:
      description: The rules as applied (C(older_than) in seconds).
      type: dict
    repositories:
      description: One entry per repository.
      type: list
      elements: dict
      contains:
        repository:
          description: Repository name.
          type: str
        ordering:
          description: C(created) (image creation time), C(push_order), or C(none) (could not rank; keep_last kept everything).
          type: str
        delete:
          description: The digests to delete, each C(repository), C(digest), C(tags), C(reason), C(tag_reasons) (per tag), C(created), C(media_type).
          type: list
          elements: dict
          sample:
            - repository: team/app
              digest: sha256:1b2c...
              tags: [v1.0.3]
              reason: "every tag is a candidate: not among the newest 10 (by created); created 2026-01-02T10:00:00Z is older than 30d"
              tag_reasons: {v1.0.3: "not among the newest 10 (by created); created 2026-01-02T10:00:00Z is older than 30d"}
              created: "2026-01-02T10:00:00Z"
              media_type: application/vnd.oci.image.manifest.v1+json
        keep:
          description:
            - The digests kept, same fields.
            - C(reason) says why, for example C(listed in keep_tags), C(protected, in use ...),
              "shares its digest with kept tag(s) ...", C(child of kept index ...), C(keep_last ...), C(older_than ...).
          type: list
          elements: dict
        notes:
          description: Remarks about the repository (for example why keep_last could not rank).
          type: list
          elements: str
deleted:
  description: What was deleted, C(repository), C(digest), C(tags). Empty in check mode. Equal to the plan's deletions on success.
  returned: always
  type: list
  elements: dict
not_deleted:
  description:
    - Planned deletions that did not happen, with C(status) (C(failed), C(unknown), C(not_attempted), C(skipped), C(absent))
      and C(reason).
    - C(skipped) means a tag moved since planning; C(absent) that it was already gone.
    - C(unknown) means the C(DELETE) was sent and its connection broke (or timed out) before the answer, so the
      registry may have deleted the manifest. Read back (check mode) or run the task again; the rerun deletes only
      what is still there. C(failed) means the registry answered with an error, or the request never reached it.
  returned: always
  type: list
  elements: dict
results:
  description: One entry per repository.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: Repository name.
      type: str
    action:
      description:
        - C(deleted), C(partially_deleted), C(not_deleted), C(failed), C(unknown) (a deletion with an unknown outcome and
          none failed), C(unchanged), C(would_delete) (check mode), C(absent) (no such repository).
      type: str
    ordering:
      description: See RV(plan.repositories[].ordering).
      type: str
    tags:
      description: Number of tags read.
      type: int
    digests:
      description: Number of distinct tagged digests read.
      type: int
    planned:
      description: Number of digests planned for deletion.
      type: int
    deleted:
      description: Deleted digests of this repository.
      type: list
      elements: dict
    not_deleted:
      description: Planned but not deleted digests of this repository.
      type: list
      elements: dict
    kept:
      description: Number of digests kept.
      type: int
    in_use:
      description: Number of digests kept because a cluster or O(in_use_images) uses them.
      type: int
    notes:
      description: Remarks (ranking, tags that disappeared while reading).
      type: list
      elements: str
summary:
  description: Counts over all repositories.
  returned: always
  type: dict
  sample: {repositories: 2, tags: 40, digests: 31, planned: 12, deleted: 12, kept: 19, not_deleted: 0, failed: 0, unknown: 0,
           protected_in_use: 3}
delete_outcomes:
  description:
    - What is known about each planned deletion, as C(repository@digest) lists, like C(write_outcomes) of the Kubernetes
      modules. C(deleted) (the registry answered 202), C(not_deleted) (not deleted, see RV(not_deleted)), C(unknown)
      (the C(DELETE) was sent and no answer came; it may have been applied).
  returned: when not in check mode and the plan has deletions
  type: dict
  sample: {deleted: ["team/app@sha256:4f1c..."], not_deleted: ["team/app@sha256:9a0b..."], unknown: ["team/app@sha256:77d2..."]}
repositories_matched:
  description: Each entry of O(repositories) with the repository names it stands for.
  returned: always
  type: dict
  sample: {"team/*": [team/app, team/worker]}
in_use:
  description: What the in-use scan found.
  returned: always
  type: dict
  contains:
    clusters:
      description: Per cluster C(cluster) (context or kubeconfig), C(images) (distinct references), C(complete).
      type: list
      elements: dict
    protected_digests:
      description: Number of (repository, digest) pairs protected by in-use references.
      type: int
credentials:
  description: Where the credentials came from with O(pull_secret) (C(secret), C(key), C(username)); never a password.
  returned: when O(pull_secret) is set
  type: dict
diff:
  description: Tags per repository before and after the plan.
  returned: in diff mode
  type: dict
  contains:
    before:
      description: Repository name to its tags, as read.
      type: dict
    after:
      description: Repository name to the tags that remain after the plan.
      type: dict
msg:
  description:
    - On failure, what went wrong. Failures before the first delete (nothing was deleted) include a registry or
      repository that cannot be read (with C(category) and C(hint), as in registry_probe), a glob without a
      catalog, a cluster that cannot be read (with C(unreadable), every failed read), an invalid rule or image
      reference (with C(field)), and a O(plan_fingerprint) mismatch.
    - "Failures while deleting: 'the registry refuses deletes (storage.delete.enabled=false, or the registry
      is a pull-through cache): DELETE answered 405 UNSUPPORTED' (no further DELETE is sent), or the failed
      deletions and those with an unknown outcome ('N deletion(s) have an unknown outcome (the DELETE was sent
      and the connection broke before the answer ...'); RV(deleted), RV(not_deleted) and RV(delete_outcomes) then
      say exactly what happened."
  returned: failure
  type: str
retries:
  description:
    - The retries this task made after retryable failures of the Kubernetes API server or a registry
      (O(request_retries), O(retry_max_wait)), also when the task failed.
  returned: always
  type: dict
  contains:
    count:
      description: Retries made.
      type: int
      sample: 2
    waited_seconds:
      description: Seconds spent waiting before retries (the servers' C(Retry-After), else backoff).
      type: float
      sample: 2.0
    by_reason:
      description: Retries per reason (C(HTTP 429), C(HTTP 503), C(connection refused), C(connection broken),
        C(HTTP 409 conflict)).
      type: dict
      sample: {"HTTP 429": 2}
    by_target:
      description: Retries per server kind, C(kubernetes) or C(registry).
      type: dict
      sample: {"kubernetes": 2}
'''

from ansible_collections.registrylink.k8s.plugins.module_utils._cluster_args import CLUSTER_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import RETRY_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_gc import RegistryGcRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_args import (
    REGISTRY_AUTH_ARGSPEC, REGISTRY_AUTH_REQUIRED_TOGETHER,
)


def argument_spec():
    spec = dict(CLUSTER_ARGSPEC)
    spec.update(RETRY_ARGSPEC)
    spec.update(REGISTRY_AUTH_ARGSPEC)
    spec['registry'] = dict(type='str', required=True)
    spec.update(
        pull_secret=dict(type='dict', no_log=False, options=dict(
            namespace=dict(type='str', required=True),
            name=dict(type='str', required=True))),
        repositories=dict(type='list', elements='str', required=True),
        keep_last=dict(type='int'),
        older_than=dict(type='str'),
        tag_include=dict(type='list', elements='str'),
        tag_exclude=dict(type='list', elements='str'),
        keep_tags=dict(type='list', elements='str', default=[]),
        in_use_protection=dict(type='bool', default=True),
        clusters=dict(type='list', elements='dict', options=dict(kubeconfig=dict(type='raw'),
                                                                 context=dict(type='str'))),
        in_use_images=dict(type='list', elements='str', default=[]),
        registry_aliases=dict(type='list', elements='str', default=[]),
        max_concurrency=dict(type='int', default=4),
        plan_fingerprint=dict(type='str'),
    )
    return spec


def main():
    run_module(RegistryGcRunner, argument_spec(), requires=('requests',),
               mutually_exclusive=[['pull_secret', 'username']], required_together=REGISTRY_AUTH_REQUIRED_TOGETHER)


if __name__ == '__main__':
    main()
