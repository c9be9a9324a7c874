#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pull_canary
short_description: Ask the cluster's kubelet whether an image pulls, with a short-lived Pod that never runs the image
version_added: 0.1.0
description:
  - Proves a pull the only way that is certain, by letting a kubelet do it, the way C(kubectl run --image=...)
    is used by hand, but safely. For each image in O(image) it creates one short-lived Pod in O(namespace),
    waits for the verdict of the kubelet (or of the scheduler), reports it, and deletes the Pod.
  - The Pod uses O(service_account) (its C(imagePullSecrets) are copied into the Pod by the API server, as
    for any workload), or exactly the Secrets in O(pull_secrets). It has C(imagePullPolicy=Always), so an
    image already on the node cannot pass for working credentials; C(restartPolicy=Never); an
    C(activeDeadlineSeconds) of O(timeout) + 60; requests of 1m CPU / 4Mi memory (limits 10m / 16Mi); no
    ServiceAccount token; a non-root user without privileges; the labels
    C(app.kubernetes.io/managed-by=registrylink.k8s), C(registrylink.k8s/canary=true) and
    C(registrylink.k8s/canary-run=<run id>).
  - "The image never runs. The container's C(command) is C(/dev/null), which replaces the image's entrypoint
    and C(CMD). The container runtime mounts its own C(/dev) over the image's, so C(/dev/null) is always a
    character device without an execute bit, whatever the image contains: the runtime refuses to start the
    process (C(exec: \"/dev/null\": permission denied)) after the kubelet has pulled the image. A failing
    init container would not do, because the kubelet pulls the app container's image only after every init
    container succeeded. The Pod requires C(kubernetes.io/os=linux), where this holds."
  - "Verdicts (RV(results[].verdict)): C(pulled), from the kubelet's C(Pulled) event (with the pull time
    it measured, RV(results[].pull_seconds)); C(pull_failed), from C(ErrImagePull) / C(ImagePullBackOff)
    with the kubelet's message; C(unschedulable), when the scheduler finds no node (with its reason);
    C(node_rejected), when the node refuses the Pod; C(pod_rejected), when the API server refuses it
    (Pod Security admission, quota, a webhook); C(timeout), when no verdict came within O(timeout)."
  - "The kubelet reports the same C(401 Unauthorized) for a wrong password, no pull secret, a key that does
    not match and a Secret that does not exist. So each failed pull is joined with the diagnosis of the
    same Pod by M(registrylink.k8s.registry_probe) (C(pod) mode: which Secrets and keys the kubelet
    considered, near misses, a registry probe with exactly those credentials), and reported with a stable
    RV(results[].category) and RV(results[].hint)."
  - Every Pod of the run is deleted when the task ends, also when it fails or times out, and read back to
    prove it is gone. Canary Pods that an interrupted earlier run left in O(namespace) are deleted at the
    start of each run once they are older than O(gc_older_than).
  - "Rights, all in O(namespace) (ClusterRole manifest C(docs/rbac/pull_canary-write.yml), bound there with a
    RoleBinding): C(list) on C(serviceaccounts); C(list), C(create) and C(delete) on C(pods); C(list) on C(events)
    (without it a warning says so and the pull time and the kubelet's message are missing); C(list) on C(secrets)
    for the diagnosis of a failed pull (without it a warning names the rule). Check mode needs C(list) on
    C(serviceaccounts) and C(pods) and C(create) on C(pods), since the API server authorizes the server-side dry
    run as a create (C(docs/rbac/pull_canary-check.yml)). With O(node_name), C(get) on C(nodes) (cluster-wide,
    optional) tells a missing node from a timeout. Before the first write the module asks the API server
    (SelfSubjectAccessReview) whether it may create and delete Pods in O(namespace), so a run that could not
    delete its Pods creates none."
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.cluster
  - registrylink.k8s.retries
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.actiongroup_registrylink
attributes:
  check_mode:
    support: full
    details: >-
      Validates the inputs, checks the ServiceAccount and sends each Pod to the API server as a server-side dry run
      (admission sees it, nothing is stored); creates nothing, deletes nothing, and returns the Pod it would run in
      RV(results[].manifest) with RV(results[].verdict=would_run). Leftover canaries that would be deleted are listed
      in RV(garbage_collected).
  diff_mode:
    support: none
  idempotent:
    support: full
    details: >-
      The Pods of a run are created and deleted within the task and leave nothing behind, so they do not count as a
      change: RV(changed) is true only when canary Pods left by an interrupted earlier run were deleted. A second run
      reports C(changed=false).
options:
  namespace:
    description:
      - The namespace the canary Pods run in, normally the namespace of the workloads whose pulls are in question
        (its ServiceAccount and pull secrets are what the canary uses).
    type: str
    required: true
  image:
    description:
      - The image(s) to pull, as a Pod names them (C(registry.example.com:5000/team/app:1.0),
        C(team/app@sha256:...)). One Pod per distinct image; they run at the same time.
    type: list
    elements: str
    required: true
  service_account:
    description:
      - The ServiceAccount of the canary Pods. Without O(pull_secrets), the API server copies its
        C(imagePullSecrets) into each Pod, exactly as for a workload created now. It must exist.
    type: str
    default: default
  pull_secrets:
    description:
      - Names of image pull Secrets in O(namespace) to put in the Pods' C(imagePullSecrets) instead of the
        ServiceAccount's (the API server adds the ServiceAccount's list only to Pods that name none).
      - A name that does not exist is allowed; the canary then shows what the kubelet does
        (C(FailedToRetrieveImagePullSecret), category C(pull_secret_missing)).
    type: list
    elements: str
  node_name:
    description:
      - Put the Pods on this node directly, bypassing the scheduler (to test one node's runtime and network).
    type: str
  node_selector:
    description:
      - Node labels the Pods require, for example C(topology.kubernetes.io/zone=eu-1a) written as a dictionary.
        Values are strings. C(kubernetes.io/os=linux) is always added (another value is refused).
    type: dict
  tolerations:
    description:
      - Tolerations of the Pods, as in a Pod spec (C(key), C(operator), C(value), C(effect), C(tolerationSeconds)),
        to let them land on tainted nodes.
    type: list
    elements: dict
  timeout:
    description:
      - Seconds to wait for the verdicts of all images, from the creation of the Pods (5 to 3600). A small image
        pulls in seconds; a failed pull is reported after about 3 seconds, as soon as the kubelet says
        C(ErrImagePull). The Pods' own C(activeDeadlineSeconds) is this plus 60.
    type: int
    default: 120
  gc_older_than:
    description:
      - Canary Pods of earlier runs in O(namespace) (both labels C(app.kubernetes.io/managed-by=registrylink.k8s) and
        C(registrylink.k8s/canary=true)) older than this are deleted at the start of the run. A duration such as
        C(15m), C(1h) or a number of seconds; at least O(timeout) + 60 seconds. A Pod is also spared until it is older
        than its own C(activeDeadlineSeconds) (its run's O(timeout) + 60), so that the canaries of a run still in
        progress elsewhere, also one with a longer O(timeout), are never touched.
    type: str
    default: 15m
  diagnose:
    description:
      - Diagnose each failed pull on its Pod before the Pod is deleted (reads the Pod's pull Secrets and probes the
        registry from the controller with the credentials the kubelet would use). Without it, a failure is only
        reported with the kubelet's message and category C(node_pull_failed).
    type: bool
    default: true
  fail_on_error:
    description:
      - Fail the task when an image did not pull. The result keeps every field.
    type: bool
    default: false
  registry_ca_path:
    description:
      - For the diagnosis probe from the controller; a CA bundle (PEM) or directory that signs the registry's
        certificate. The nodes trust their own CAs; this option does not change them.
    type: path
  registry_validate_certs:
    description:
      - For the diagnosis probe; verify the registry's TLS certificate.
    type: bool
    default: true
  registry_timeout:
    description:
      - For the diagnosis probe; seconds to wait for each connect and read from the registry, between 1 and 3600.
    type: int
    default: 10
  allow_insecure_http:
    description:
      - For the diagnosis probe; allow plain HTTP to the registry (credentials in clear).
    type: bool
    default: false
  allow_cross_host_realm:
    description:
      - For the diagnosis probe; send credentials to a token realm on another host than the registry.
    type: bool
    default: false
notes:
  - No password, token or C(auth) value appears in any result, warning or error, also at C(-vvv); credentials read
    from Secrets for the diagnosis are masked by Ansible's C(no_log) machinery as soon as they are read.
  - An unschedulable verdict is given as soon as the scheduler reports it; a cluster autoscaler adding a node later
    is not waited for.
  - "Errors (the task fails, nothing is left behind): C(namespace: namespace X does not exist);
    C(service_account: ServiceAccount X does not exist in namespace Y); C(node_name: node X does not exist);
    invalid O(image), O(namespace), O(pull_secrets), O(node_selector), O(tolerations), O(timeout) or
    O(gc_older_than) (before any request); C(forbidden: ...) when RBAC denies a needed verb (the message names
    the verb, the resource, the namespace and the rule to add), also C(forbidden, nothing was written: ...)
    before the first write when the credentials may not create or delete Pods there; C(cannot reach the
    Kubernetes API server ...); C(canary Pod(s) may be left ...) when the clean-up could not delete or read
    back a Pod (the next run deletes it); with O(fail_on_error=true), C(N of M image(s) did not pull on the
    cluster ...)."
seealso:
  - module: registrylink.k8s.registry_probe
  - module: registrylink.k8s.sa_pull_secret
'''

EXAMPLES = r'''
- name: Will the kubelet pull our images with the ServiceAccount's pull secrets?
  registrylink.k8s.pull_canary:
    namespace: payments
    image:
      - registry.example.com:5000/team/api:2.3.1
      - registry.example.com:5000/team/worker:2.3.1
    timeout: 60
  register: canary

- name: Show the verdicts
  ansible.builtin.debug:
    msg: "{{ canary.table }}"

- name: Test one secret on one node, and fail the play when the pull does not work
  registrylink.k8s.pull_canary:
    kubeconfig: ~/.kube/prod
    context: prod-eu
    namespace: payments
    image: registry.example.com:5000/team/api:2.3.1
    pull_secrets: [regcred-new]
    node_name: worker-7
    tolerations:
      - key: dedicated
        operator: Equal
        value: payments
        effect: NoSchedule
    fail_on_error: true

- name: What would run (check mode creates nothing)
  registrylink.k8s.pull_canary:
    namespace: payments
    image: registry.example.com:5000/team/api:2.3.1
  check_mode: true
  register: planned
'''

RETURN = r'''
changed:
  description: True only when canary Pods left by an interrupted earlier run were deleted (in check mode, would be).
  returned: always
  type: bool
ok:
  description: Every image pulled (in check mode, every Pod was accepted by the dry run) and the clean-up succeeded.
  returned: always
  type: bool
msg:
  description: Which images did not pull, and any clean-up problem. Null when RV(ok).
  returned: always
  type: str
category:
  description: The category of the first image that did not pull; null when RV(ok).
  returned: always
  type: str
  sample: unauthorized
hint:
  description: The image and the hint of the first image that did not pull; null when RV(ok).
  returned: always
  type: str
results:
  description: One entry per distinct image, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    image:
      description: The image as given.
      type: str
      sample: registry.example.com:5000/team/api:2.3.1
    verdict:
      description: >-
        V(pulled), V(pull_failed), V(unschedulable), V(node_rejected), V(pod_rejected), V(timeout), V(vanished) (the
        Pod was deleted by someone else), or V(would_run) in check mode.
      type: str
    pulled:
      description: The kubelet pulled the image. Null in check mode.
      type: bool
    node:
      description: The node the Pod was on; null when it was never scheduled.
      type: str
    pull_seconds:
      description: The pull time the kubelet measured and reported in its C(Pulled) event, in seconds.
      type: float
      returned: when pulled (null when the event could not be read)
      sample: 0.215
    kubelet_message:
      description:
        - The kubelet's own words. For V(pulled) its C(Pulled) event; for V(pull_failed) its
          C(Failed to pull image ...) event (or the container's waiting message); for V(timeout) what the Pod was
          doing when time ran out; for V(pod_rejected) the API server's answer.
      type: str
      sample: >-
        Failed to pull image "registry.example.com:5000/team/api:2.3.1": failed to pull and unpack image ...:
        401 Unauthorized
    kubelet_reason:
      description: The container's waiting reason (V(ErrImagePull), V(ImagePullBackOff), V(InvalidImageName), ...) or the Pod's failure reason.
      type: str
    scheduler_message:
      description: Why no node could take the Pod, as the scheduler said it.
      type: str
      returned: when verdict is unschedulable
      sample: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    container_start:
      description: How the container runtime refused to start the never-running command after the pull (expected).
      type: str
      returned: when pulled
    missing_pull_secrets_event:
      description: The kubelet's C(FailedToRetrieveImagePullSecret) warning (names the Secrets it could not read), if any.
      type: str
    first_attempt:
      description:
        - When the kubelet's first pull failed for a reason the diagnosis could not explain (the same credentials work
          from the controller, category V(node_pull_failed)), the canary waits within O(timeout) for the kubelet's own
          retry (after its 10 s back-off). If the retry pulled, the verdict is V(pulled) and this holds the first
          attempt's C(kubelet_message), C(category), C(hint) and C(diagnosis); a warning says so.
      type: dict
      returned: when a retry of the kubelet pulled (else null)
    kubelet_retried:
      description: The kubelet's retry of a V(node_pull_failed) pull failed too (the failure is not transient).
      type: bool
    workload_started:
      description: Whether the container ever started. Always false; a true value is also reported as a warning.
      type: bool
    image_id:
      description: The image ID (digest) the kubelet reported for the pulled image.
      type: str
      returned: when pulled
    category:
      description:
        - Null when pulled. Otherwise a stable category. From M(registrylink.k8s.registry_probe) (the diagnosis of the
          Pod with the credentials the kubelet would send) - V(unauthorized) (credentials sent and rejected - a wrong
          password, a revoked token), V(denied), V(expired_credentials), V(not_found), V(tls_untrusted),
          V(rate_limited), V(dns), V(plain_http), V(no_credentials_matched) and the others of its RV(category).
        - Added by this module - V(no_pull_secret) (the Pod had no image pull secret), V(pull_secret_missing) (a named
          Secret does not exist, C(FailedToRetrieveImagePullSecret)), V(key_port_mismatch) (an entry for the host with
          another port or none), V(key_path_mismatch) (an entry scoped to another repository path),
          V(node_pull_failed) (the same credentials work from the controller, so the node differs), V(unschedulable),
          V(node_rejected), V(pod_rejected), V(timeout), V(vanished), V(invalid_reference) (the kubelet or the node's
          container runtime cannot parse the image reference, so no registry was asked).
      type: str
      sample: key_port_mismatch
    hint:
      description:
        - What to do about it, with the diagnosis' details (which Secret, which key, what the registry said).
        - For an image on a C(gcr.io) host, also why such a pull may fail today (Container Registry is shut down since
          2025; C(gcr.io) is served by Artifact Registry, which needs C(roles/artifactregistry.reader) on the C(gcr.io)
          repository or its project).
      type: str
    diagnosis:
      description:
        - The diagnosis of the failed Pod (as M(registrylink.k8s.registry_probe) C(pod) mode), for V(pull_failed) only.
          No secret in it.
      type: dict
      returned: when verdict is pull_failed and O(diagnose=true)
      contains:
        category:
          description: The category registry_probe gives (before this module splits V(no_credentials_matched) by cause).
          type: str
        hint:
          description: registry_probe's hint.
          type: str
        pod_pull_secrets:
          description: The Pod's C(imagePullSecrets) names.
          type: list
          elements: str
        service_account:
          description: The ServiceAccount, whether it exists and the pull secrets it lists.
          type: dict
        pull_secrets:
          description: Per pull secret - C(name), C(found), C(type), C(usable), C(problem), C(detail), C(found_in).
          type: list
          elements: dict
        matched:
          description: The entry the kubelet uses first (C(secret), C(key), C(config_key), C(username), C(via)), or null.
          type: dict
        near_misses:
          description: Entries that almost matched, with C(reason) (V(port_mismatch), V(scheme_or_path), ...) and C(detail).
          type: list
          elements: dict
        probe:
          description: The registry probe with those credentials - C(ok), C(category), C(msg), C(steps), C(credentials) (source, secret, key, username).
          type: dict
        node_evidence:
          description: The kubelet text that decided the category (x509, rate limit, ...), when one did.
          type: str
    pull_secrets:
      description: The names given in O(pull_secrets) (the ServiceAccount's list is in RV(results[].diagnosis)); null without them.
      type: list
      elements: str
    pod:
      description: The name of the canary Pod (deleted by now). Null in check mode.
      type: str
    deleted:
      description: The Pod was deleted and read back as gone.
      type: bool
    events:
      description: The Pod's Events when the verdict was taken (C(type), C(reason), C(message), C(count)).
      type: list
      elements: dict
    elapsed_seconds:
      description: Seconds from the creation of the Pod to the verdict.
      type: float
    manifest:
      description: The Pod that would be created.
      type: dict
      returned: in check mode
summary:
  description: C(images) and the number of images per verdict.
  returned: always
  type: dict
  sample: {images: 2, pulled: 1, pull_failed: 1}
garbage_collected:
  description: Canary Pods of earlier runs deleted (in check mode, that would be deleted) - C(name), C(run), C(image), C(age_seconds).
  returned: always
  type: list
  elements: dict
run_id:
  description: The value of the C(registrylink.k8s/canary-run) label of this run's Pods.
  returned: always
  type: str
namespace:
  description: The namespace the canaries ran in.
  returned: always
  type: str
cleanup_failed:
  description: A Pod of this run could not be deleted or read back (the task then fails).
  returned: always
  type: bool
table:
  description: Fixed-width lines, one per image (image, verdict, category, pull seconds, node).
  returned: always
  type: list
  elements: str
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
from ansible_collections.registrylink.k8s.plugins.module_utils._pull_canary import PullCanaryRunner


def argument_spec():
    spec = dict(CLUSTER_ARGSPEC)
    spec.update(RETRY_ARGSPEC)
    spec.update(
        namespace=dict(type='str', required=True),
        image=dict(type='list', elements='str', required=True),
        service_account=dict(type='str', default='default'),
        pull_secrets=dict(type='list', elements='str', no_log=False),
        node_name=dict(type='str'),
        node_selector=dict(type='dict'),
        tolerations=dict(type='list', elements='dict'),
        timeout=dict(type='int', default=120),
        gc_older_than=dict(type='str', default='15m'),
        diagnose=dict(type='bool', default=True),
        fail_on_error=dict(type='bool', default=False),
        registry_ca_path=dict(type='path'),
        registry_validate_certs=dict(type='bool', default=True),
        registry_timeout=dict(type='int', default=10),
        allow_insecure_http=dict(type='bool', default=False),
        allow_cross_host_realm=dict(type='bool', default=False),
    )
    return spec


def main():
    run_module(PullCanaryRunner, argument_spec(), requires=('kubernetes',))


if __name__ == '__main__':
    main()
