#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: sa_pull_secret
short_description: Attach image pull secrets and workload-identity annotations to ServiceAccounts, without clobbering
version_added: 0.1.0
description:
  - Adds image pull secrets to (or removes them from) the C(imagePullSecrets) list of the
    ServiceAccounts of a namespace selection, and sets or removes ServiceAccount annotations such
    as the workload-identity ones (C(eks.amazonaws.com/role-arn), C(iam.gke.io/gcp-service-account),
    C(azure.workload.identity/client-id)). One task covers the whole selection.
  - Entries someone else put in the list stay, in their order. The Kubernetes API has no merge
    strategy for C(ServiceAccount.imagePullSecrets) (kubernetes/kubernetes#72475), and a strategic-merge
    or merge patch replaces the whole list. So each ServiceAccount is read, merged and written back
    whole with the C(resourceVersion) it was read at; when another writer changed it in between
    (HTTP 409), that one ServiceAccount is read again and merged again.
  - O(state=present) appends the named secrets that are missing, in the order given, after the
    existing entries; O(state=absent) removes exactly the named entries. O(purge=true) makes the
    list exactly O(pull_secrets), except for the entries a platform controller manages (O(platform_pull_secrets)).
    An entry is never added twice. Duplicates already in a list are
    collapsed (first one kept) only when the list is written anyway, or with O(purge=true).
  - An image pull secret reference names a Secret in the ServiceAccount's own namespace; it has no
    C(namespace) field. A referenced Secret that does not exist in a namespace produces a warning for
    that namespace (the kubelet would log C(FailedToRetrieveImagePullSecret) and pull anonymously),
    or a failure before any write with O(on_missing_secret=fail).
  - A pod copies its ServiceAccount's pull secrets once, when it is created. Pods created before the
    attach that wait in C(ErrImagePull) or C(ImagePullBackOff) and lack an attached secret are always
    reported in RV(stuck_pods); with O(restart_stuck_pods=true) the ones owned by a controller are
    deleted so that their controller recreates them with the secrets. Bare pods are never deleted.
  - Reads do not grow with the number of namespaces or ServiceAccounts. A run costs one LIST of
    namespaces, one LIST of ServiceAccounts, one LIST of Secret metadata per name in O(pull_secrets)
    (one LIST of all Secret metadata with O(prune_missing=true); none for O(state=absent)) and one LIST
    of pods not yet finished (only when attaching); more only when a LIST has more than 5000 items (one page).
    Secret data is never read. Writes go out concurrently, at most O(max_concurrent_writes) at a time.
  - Every input is validated before the first write.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.cluster
  - registrylink.k8s.retries
  - registrylink.k8s.namespaces
  - registrylink.k8s.namespaces.bulk
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.actiongroup_registrylink
attributes:
  check_mode:
    support: full
    details: Reads the cluster and reports per ServiceAccount what would be created or updated, and which stuck pods would be restarted; writes nothing.
  diff_mode:
    support: full
    details: One diff per ServiceAccount written, with its image pull secret names and the annotations the task manages.
  idempotent:
    support: full
    details: >-
      A second run reports C(changed=false) and makes no write. With O(restart_stuck_pods=true), a controller
      whose new pods are stuck again for another reason gets them restarted again on the next run only when they
      still lack an attached secret.
options:
  pull_secrets:
    description:
      - Names of the image pull Secrets to attach (O(state=present)) or detach (O(state=absent)).
      - Each entry is a name, or a dictionary whose only key is C(name); both mean the same. A C(namespace)
        key is refused, because a reference always names a Secret of the ServiceAccount's own namespace.
      - Required unless only O(annotations) are managed; then the list is left as it is.
    type: list
    elements: raw
  service_accounts:
    description:
      - ServiceAccount names or shell-style globs (C(ci-*)) in every selected namespace.
      - Defaults to C([default]), or to C(['*']) when O(service_account_selector) is set.
      - A literal name that does not exist in a namespace is reported with RV(results[].action=missing),
        or created with O(create_service_accounts=true). A glob only matches existing ServiceAccounts.
    type: list
    elements: str
  service_account_selector:
    description:
      - A label selector for ServiceAccounts (C(team=payments,tier in (web,api))), or a dictionary of labels
        that must all match. A ServiceAccount must match O(service_accounts) as well.
    type: raw
  state:
    description:
      - V(present) attaches the secrets and sets the annotations; V(absent) removes exactly the named
        secrets and annotations, and nothing else.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), make the list exactly O(pull_secrets) (entries not named are removed; the
        kept ones keep their order). Off by default, so the module only adds.
      - O(pull_secrets) must then name at least one Secret; an empty list (often an unset variable)
        is refused, because it would remove every entry, other people's included.
      - Entries that match O(platform_pull_secrets) are left alone.
    type: bool
    default: false
  platform_pull_secrets:
    description:
      - Patterns (shell globs) of the C(imagePullSecrets) entries that a platform controller manages and puts
        back whenever they are removed. O(purge=true) leaves them in the list; they are removed only when
        named, with O(state=absent).
      - C({service_account}) in a pattern stands for the name of the ServiceAccount being changed.
      - The default is OpenShift's entry for its internal registry, C(<ServiceAccount>-dockercfg-<suffix>),
        which OpenShift adds to every ServiceAccount. Purging it would break pulls from the internal
        registry until the controller adds it back, and every later run would remove it again and
        report C(changed) (a flapping loop).
      - Set V([]) to purge every entry not in O(pull_secrets).
    type: list
    elements: str
    default: ['{service_account}-dockercfg-*']
  annotations:
    description:
      - Annotations to set on each ServiceAccount (O(state=present)), or to remove (O(state=absent)).
      - Values must be strings. With O(state=absent) a key is removed only when it holds the given value,
        or whatever it holds when the given value is V(null); a key holding another value is left in place
        with a warning.
      - For workload identity, C(eks.amazonaws.com/role-arn) (IRSA), C(iam.gke.io/gcp-service-account)
        (GKE Workload Identity) and C(azure.workload.identity/client-id) (Azure Workload Identity, whose pods
        also need the label C(azure.workload.identity/use=true)).
    type: dict
  prune_missing:
    description:
      - Also remove references to Secrets that do not exist in the ServiceAccount's namespace. They make the
        kubelet log C(FailedToRetrieveImagePullSecret) and pull anonymously. A name in O(pull_secrets) is never
        pruned.
    type: bool
    default: false
  on_missing_secret:
    description:
      - What to do when a secret in O(pull_secrets) does not exist in a namespace where it is attached, either
        V(warn) (one warning per namespace, and RV(missing_pull_secrets)), V(fail) before any write, or
        V(ignore) (only RV(missing_pull_secrets); for a check-mode pass that runs before the task that writes
        the Secret).
    type: str
    choices: [warn, fail, ignore]
    default: warn
  check_rights:
    description:
      - In check mode, also ask the API server (SelfSubjectAccessReviews) whether the credentials may do every
        write the plan holds, and fail as a real run would when one is not allowed, naming the rule to add.
        For a play or role that checks a later task's rights in check mode before its first write (the role
        C(registrylink.k8s.registry_credentials) does). Outside check mode the rights are always checked.
    type: bool
    default: false
  create_service_accounts:
    description:
      - Create a ServiceAccount named literally in O(service_accounts) that does not exist in a selected
        namespace, labelled C(app.kubernetes.io/managed-by=registrylink.k8s). Only with O(state=present) and
        without O(service_account_selector).
    type: bool
    default: false
  restart_stuck_pods:
    description:
      - Delete the pods listed in RV(stuck_pods) that are owned by a controller (an C(ownerReferences) entry
        with C(controller=true)), so that the controller recreates them and the new pods get the ServiceAccount's
        pull secrets. The delete carries the pod's UID as a precondition.
      - Never deletes a bare pod, a pod whose own template sets C(imagePullSecrets) (a new pod would not get the
        ServiceAccount's), or a pod whose ServiceAccount failed to update.
      - Stuck pods are reported whatever this option says.
    type: bool
    default: false
notes:
  - "Errors a user can hit, all before any write: no pull_secrets and no annotations; a pull_secrets entry
    with a C(namespace) key, another key, or an invalid Secret name; O(purge) with O(state=absent);
    an invalid ServiceAccount name, glob, label selector or annotation key; a non-string annotation value;
    a namespace listed by name that does not exist (O(state=present)); a referenced Secret missing with
    O(on_missing_secret=fail)."
  - "API errors name the verb, resource and namespace (403, 404, 409, 422 with the field). A write that fails
    for one ServiceAccount does not stop the others; the task then fails at the end naming them, with the full
    RV(results)."
  - "Rights: check mode needs C(list) on C(namespaces), C(serviceaccounts), C(secrets) (metadata only) and C(pods);
    writing adds C(get) and C(update) on C(serviceaccounts), C(create) on them for O(create_service_accounts) and
    C(delete) on C(pods) for O(restart_stuck_pods) (ClusterRole manifests C(docs/rbac/sa_pull_secret-read.yml)
    and C(docs/rbac/sa_pull_secret-write.yml)). Before the first write the module asks the API server
    (SelfSubjectAccessReview) whether every planned write is allowed; if one is not, it fails with nothing
    written, naming the verb, the resource, the namespaces and the RBAC rule to add."
  - "Namespaced mode: when RBAC denies the cluster-wide LIST of namespaces and O(namespaces) lists names only,
    each listed namespace is read on its own (a GET of the namespace, one LIST per resource in it), with a warning.
    Bind C(docs/rbac/sa_pull_secret-namespaced-read.yml) or C(-namespaced-write.yml) with a RoleBinding in each namespace.
    A glob in O(namespaces) or a O(namespace_selector) needs the cluster-wide LIST: without it the task fails
    before any write, saying so."
  - Stuck pods are found among pods in any phase but C(Succeeded) and C(Failed). A pod waits in phase C(Pending)
    until every container has started once; a pod whose container already ran and cannot be pulled again when
    it restarts (the node no longer has the image) is kept in phase C(Running) by the kubelet while it waits in
    C(ImagePullBackOff).
seealso:
  - module: registrylink.k8s.registry_secret
  - name: Add ImagePullSecrets to a service account
    description: The Kubernetes documentation of the mechanism.
    link: https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#add-imagepullsecrets-to-a-service-account
  - name: kubernetes/kubernetes#72475
    description: Why a patch of imagePullSecrets replaces the whole list on a ServiceAccount.
    link: https://github.com/kubernetes/kubernetes/issues/72475
'''

EXAMPLES = r'''
- name: Attach regcred to the default ServiceAccount of every team namespace
  registrylink.k8s.sa_pull_secret:
    pull_secrets: [regcred]
    namespaces: ['team-*']

- name: Attach to every ServiceAccount labelled for it, and restart pods stuck before the attach
  registrylink.k8s.sa_pull_secret:
    pull_secrets: [regcred, mirror-cred]
    namespaces: ['*']
    service_account_selector: 'registrylink/pull=enabled'
    restart_stuck_pods: true

- name: Make the list exact on CI ServiceAccounts, creating them where they are missing
  registrylink.k8s.sa_pull_secret:
    pull_secrets: [regcred]
    purge: true
    service_accounts: [ci-runner]
    create_service_accounts: true
    namespaces: [ci]

- name: IRSA - annotate a ServiceAccount with its IAM role (no static credentials)
  registrylink.k8s.sa_pull_secret:
    service_accounts: [app]
    namespaces: [payments]
    annotations:
      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/payments-ecr-pull

- name: Drop references to Secrets that no longer exist, and detach an old one
  registrylink.k8s.sa_pull_secret:
    pull_secrets: [old-regcred]
    state: absent
    prune_missing: true
    service_accounts: ['*']
    namespaces: ['*']

- name: Preview across the fleet (check mode, with diff)
  registrylink.k8s.sa_pull_secret:
    pull_secrets: [regcred]
    namespaces: ['*']
  check_mode: true
  diff: true
'''

RETURN = r'''
changed:
  description: Whether any ServiceAccount was (or, in check mode, would be) created or updated, or any pod restarted.
  returned: always
  type: bool
results:
  description: One entry per ServiceAccount in scope, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: The namespace.
      type: str
      sample: apps
    service_account:
      description: The ServiceAccount name.
      type: str
      sample: default
    action:
      description:
        - V(created), V(updated), V(unchanged), V(missing) (a literal name that does not exist and was not
          created) or V(failed). In check mode, what would happen.
      type: str
      sample: updated
    image_pull_secrets:
      description: The names in C(imagePullSecrets) after the run (before it, when the write failed).
      type: list
      elements: str
      sample: [old-secret, regcred]
    added:
      description: Names appended by this run.
      type: list
      elements: str
      sample: [regcred]
    removed:
      description: Names removed by this run.
      type: list
      elements: str
      sample: []
    annotations:
      description: The values after the run of the annotation keys named in O(annotations).
      type: dict
      returned: when O(annotations) is set
      sample: {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/payments-ecr-pull"}
    msg:
      description: Why the ServiceAccount is missing or failed.
      type: str
      returned: when action is missing or failed
    write_outcome:
      description:
        - Whether the failed write may have been applied. V(not_written) when the API server refused it or it
          was never sent; V(unknown) when the connection broke or timed out after it was sent (read back, or
          run the task again, which writes only what is missing).
      type: str
      returned: when action is failed after a write was tried
      sample: unknown
summary:
  description: Number of ServiceAccounts per action.
  returned: always
  type: dict
  sample: {unchanged: 198, updated: 2}
stuck_pods:
  description:
    - Pods of a ServiceAccount in scope that wait in C(ErrImagePull) or C(ImagePullBackOff) and lack a secret
      this task attaches. Empty for O(state=absent).
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: The namespace.
      type: str
    name:
      description: The pod name.
      type: str
    service_account:
      description: The pod's ServiceAccount.
      type: str
    reasons:
      description: The waiting reasons seen.
      type: list
      elements: str
      sample: [ImagePullBackOff]
    containers:
      description: The containers waiting on an image pull.
      type: list
      elements: str
    missing_pull_secrets:
      description: The attached secrets the pod lacks.
      type: list
      elements: str
    controller:
      description: The controller owner as C(Kind/name), or null for a bare pod.
      type: str
      sample: ReplicaSet/web-7d9c8
    action:
      description: V(restarted) (deleted for its controller to recreate; in check mode, would be), V(reported) or V(failed).
      type: str
    restart_skipped:
      description: Why a reported pod was not restarted.
      type: str
      returned: when action is reported
      sample: restart_stuck_pods is false
missing_pull_secrets:
  description: Namespaces where a secret of O(pull_secrets) does not exist (pull secret in another namespace), with where it was found.
  returned: always
  type: list
  elements: dict
  sample: [{namespace: apps, pull_secrets: [regcred], found_in: {regcred: [default]}}]
namespaces:
  description: The namespaces the selection resolved to.
  returned: always
  type: list
  elements: str
write_outcomes:
  description:
    - What the writes of a task that failed did, for a rerun or a read back. V(written) were applied,
      V(not_written) were refused or never sent, V(unknown) may have been applied (see RV(results[].write_outcome)).
  returned: when some write failed
  type: dict
  sample: {"written": ["team-a/default"], "not_written": ["team-c/default"], "unknown": ["team-b/default"]}
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

from ansible_collections.registrylink.k8s.plugins.module_utils._cluster_args import (
    BULK_ARGSPEC,
    CLUSTER_ARGSPEC,
    NAMESPACES_ARGSPEC,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import RETRY_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module
from ansible_collections.registrylink.k8s.plugins.module_utils._sa_pull_secret import SaPullSecretRunner


def argument_spec():
    spec = dict(
        pull_secrets=dict(type='list', elements='raw', no_log=False),
        service_accounts=dict(type='list', elements='str'),
        service_account_selector=dict(type='raw'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        purge=dict(type='bool', default=False),
        platform_pull_secrets=dict(type='list', elements='str', no_log=False, default=['{service_account}-dockercfg-*']),
        annotations=dict(type='dict'),
        prune_missing=dict(type='bool', default=False),
        on_missing_secret=dict(type='str', choices=['warn', 'fail', 'ignore'], default='warn'),
        check_rights=dict(type='bool', default=False),
        create_service_accounts=dict(type='bool', default=False),
        restart_stuck_pods=dict(type='bool', default=False),
    )
    spec.update(CLUSTER_ARGSPEC)
    spec.update(RETRY_ARGSPEC)
    spec.update(NAMESPACES_ARGSPEC)
    spec.update(BULK_ARGSPEC)
    return spec


def main():
    run_module(SaPullSecretRunner, argument_spec(), requires=('kubernetes',))


if __name__ == '__main__':
    main()
