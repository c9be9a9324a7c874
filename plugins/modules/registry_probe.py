#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: registry_probe
short_description: Prove that image pulls will work, and explain why they do not
version_added: 0.1.0
description:
  - "Talks the OCI distribution (Docker registry v2) protocol itself, step by step, the way a pull does,
    and stops at the first step that fails. Steps are C(dns), C(connect), C(tls), C(ping) (C(GET /v2/)
    and its C(WWW-Authenticate) challenge), C(login) (the credentials authenticate: a token request
    without scope, or C(GET /v2/) with Basic), C(token) (a token scoped C(repository:<name>:pull)),
    C(manifest) (C(HEAD /v2/<name>/manifests/<reference>) with the four manifest media types in C(Accept))."
  - The manifest is checked with C(HEAD), never C(GET), so a probe spends no Docker Hub pull.
  - "Every failure gets one stable RV(category) with a C(hint) a person can act on: C(dns), C(connect),
    C(timeout), C(tls_untrusted), C(tls_hostname), C(tls_expired), C(tls_error), C(plain_http),
    C(cross_host_realm), C(not_a_registry), C(token_service_error), C(unauthorized), C(denied),
    C(expired_credentials), C(not_found), C(rate_limited), C(server_error), C(unsupported),
    C(invalid_digest), C(invalid_request), C(invalid_response), C(no_credentials_matched). See RV(category)."
  - "Credentials come from one of: O(username)/O(password); O(pull_secret), a Secret read from the
    cluster whose entry is chosen exactly as the kubelet would choose it for the image; or none
    (anonymous)."
  - "O(pod) diagnoses a Pod: for every container image it lists the pull secrets the kubelet
    considers (the Pod's own C(imagePullSecrets), and the ServiceAccount's current list when they
    differ, which flags the admission race), which of them are missing or of the wrong type, which
    registry key matched and which keys almost matched and why not, then probes the registry with the
    matched credentials and correlates with the container's waiting reason and the Pod's Events."
  - The module never changes anything; RV(changed) is always false.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.cluster
  - registrylink.k8s.retries
  - registrylink.k8s.registry_auth
  - registrylink.k8s.namespaces
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.info_module
  - registrylink.k8s.attributes.actiongroup_registrylink
attributes:
  check_mode:
    details: The module only reads; check mode runs the same probe.
  idempotent:
    details: Read-only; the result depends on the registry and the cluster at the time of the run.
options:
  image:
    description:
      - The image to probe, as a Pod would name it (C(nginx), C(team/app:1.0),
        C(reg.example.com:5000/team/app@sha256:...)). It is normalised like the kubelet does
        (C(docker.io/library/nginx:latest)).
      - Sets the registry, the repository and the reference; mutually exclusive with O(registry) and O(repository).
      - With O(pull_secret), the key matching uses this image.
    type: str
  repository:
    description:
      - The repository to check on O(registry), for example C(team/app). Without it (and without
        O(image)) only the registry and the credentials are checked.
    type: str
  reference:
    description:
      - Tag or C(sha256:) digest in O(repository).
    type: str
    default: latest
    aliases: [tag]
  pull_secret:
    description:
      - Read the credentials from this image pull secret instead of O(username)/O(password).
      - The entry is chosen the way the kubelet chooses it for O(image) (key normalisation, port,
        label count, globs, path prefix, Docker Hub fallback, C(auth) taking precedence over
        C(username)/C(password), C(identitytoken) ignored).
      - Needs O(image) and the cluster connection options.
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
  pod:
    description:
      - Diagnose this Pod's image pulls (see the description). Every container, init container and
        ephemeral container image is checked; the cluster connection options are needed.
      - The registry options (O(registry_ca_path), O(registry_validate_certs), O(timeout),
        O(allow_insecure_http), O(allow_cross_host_realm)) apply to every image of the Pod.
    type: dict
    suboptions:
      namespace:
        description: Namespace of the Pod.
        type: str
        required: true
      name:
        description: Name of the Pod.
        type: str
        required: true
  verify:
    description:
      - Verify a whole cluster (the C(verify) playbook's module call). For every namespace selected by
        O(namespaces) / O(namespace_selector) / O(exclude_namespaces) (only used in this mode), check that
        the pull secret O(verify.secret_name) exists, is of a type the kubelet reads, decodes, and has an
        entry the kubelet matches for each image in O(verify.images), and that the ServiceAccounts in
        O(verify.service_accounts) list it; probe each distinct (image, credential) pair once; diagnose
        Pods stuck in C(ErrImagePull) / C(ImagePullBackOff) as O(pod) does.
      - Reads are a constant number of LIST requests whatever the number of namespaces, plus a few reads
        per diagnosed Pod.
    type: dict
    suboptions:
      secret_name:
        description: Name of the image pull secret expected in every selected namespace.
        type: str
        required: true
      images:
        description:
          - Images the workloads pull (one per registry is enough), used for key matching and the live probe.
        type: list
        elements: str
        required: true
      service_accounts:
        description: ServiceAccounts that must list the secret in every selected namespace; C([]) to skip.
        type: list
        elements: str
        default: [default]
      diagnose_stuck_pods:
        description: Diagnose Pods stuck in C(ErrImagePull) / C(ImagePullBackOff) in the selected namespaces.
        type: bool
        default: true
      max_pod_diagnoses:
        description: Diagnose at most this many stuck Pods (a warning names how many were left out).
        type: int
        default: 20
  fail_on_error:
    description:
      - Fail the task when the probe finds a problem. By default the task succeeds and reports
        RV(ok) and RV(category), so that a play can gather the results of many probes.
    type: bool
    default: false
notes:
  - "Rights of O(verify): C(list) on C(namespaces), C(secrets), C(serviceaccounts) and C(pods) (ClusterRole manifest
    C(docs/rbac/registry_probe_verify-read.yml)); a stuck Pod's Events are read when allowed. When RBAC denies the
    cluster-wide LIST of namespaces and O(namespaces) lists names only, each listed namespace is read on its own
    (a GET of the namespace, one LIST per resource in it), with a warning (namespaced mode,
    C(docs/rbac/registry_probe_verify-namespaced-read.yml) bound with a RoleBinding in each namespace); a glob or a
    O(namespace_selector) then fails, saying why."
  - "Rights of O(pull_secret): C(list) on C(secrets) in the Secret's namespace (C(docs/rbac/registry_probe_pull_secret-read.yml),
    bound there with a RoleBinding). Rights of O(pod), all in the Pod's namespace: C(list) on C(pods),
    C(serviceaccounts), C(secrets) and C(events) (C(docs/rbac/registry_probe_pod-read.yml), bound there with a
    RoleBinding); without C(events) a warning names the rule and the kubelet's own messages are not used. When a
    pull secret does not exist, a cluster-wide C(list) of C(secrets), when allowed, says where it does. A denied
    read fails the task naming the verb, the resource, the namespace and the rule to add."
  - Facts behind the checks are in the collection's C(docs/verify.md), drawn from the OCI
    distribution spec (C(spec.md), Endpoints table and "Pulling manifests"), distribution's token
    specification (C(docs/spec/auth/token.md), C(scope.md), C(jwt.md)), RFC 7235 (challenge grammar)
    and the kubelet's credential matching (C(pkg/credentialprovider/keyring.go)).
  - Some registries answer C(401) both for a repository that does not exist and for one the
    credentials may not read. When a token exchange succeeded and the registry still answers 401,
    the category is C(denied) with C(ambiguous_not_found=true) in the failing step of RV(steps).
  - The node that pulls may see a different network, DNS and trust store than the controller that
    runs this task; a success here proves the registry and the credentials, not the node's path.
seealso:
  - module: registrylink.k8s.registry_secret
  - name: OCI distribution specification
    description: Endpoints, manifests, error codes.
    link: https://github.com/opencontainers/distribution-spec/blob/main/spec.md
  - name: Docker registry token authentication
    description: The Bearer token flow, scopes and the token response.
    link: https://distribution.github.io/distribution/spec/auth/token/
  - name: RFC 7235
    description: HTTP authentication, the WWW-Authenticate grammar.
    link: https://www.rfc-editor.org/rfc/rfc7235
'''

EXAMPLES = r'''
- name: Registry reachable, TLS trusted, credentials good, tag present
  registrylink.k8s.registry_probe:
    registry: registry.example.com
    repository: team/app
    reference: "1.4.2"
    username: ci-puller
    password: "{{ vault_registry_password }}"
    registry_ca_path: /etc/pki/registry-ca.pem
  register: probe

- name: Show the verdict
  ansible.builtin.debug:
    msg: "{{ probe.ok | ternary('pull will work', probe.category ~ ': ' ~ probe.hint) }}"

- name: Will the pull secret in namespace apps work for this image?
  registrylink.k8s.registry_probe:
    image: registry.example.com:5000/team/app:1.4.2
    pull_secret:
      namespace: apps
      name: regcred
    kubeconfig: ~/.kube/config
    fail_on_error: true

- name: Why is this pod in ImagePullBackOff?
  registrylink.k8s.registry_probe:
    pod:
      namespace: apps
      name: web-7d9f8b6c5-x2x8q
  register: diagnosis

- name: Anonymous Docker Hub check that spends no pull (HEAD) and shows the rate limit
  registrylink.k8s.registry_probe:
    image: ratelimitpreview/test:latest
  register: hub
'''

RETURN = r'''
changed:
  description: Always false; the module only reads.
  returned: always
  type: bool
  sample: false
ok:
  description: True when every step passed (for O(pod), when every image's check passed).
  returned: always
  type: bool
  sample: false
category:
  description:
    - The stable class of the first failure, or null when RV(ok) is true.
    - "C(dns): the host name does not resolve. C(connect): TCP refused, reset or unreachable.
      C(timeout): no answer within O(timeout) seconds."
    - "C(tls_untrusted): the certificate is not signed by a trusted CA (RV(tls.certificate) shows its
      subject and issuer; credentials were not sent). C(tls_hostname): the certificate does not name
      the host. C(tls_expired): the certificate expired. C(tls_error): another handshake failure."
    - "C(plain_http): the registry or its token realm is plain HTTP and O(allow_insecure_http) is false.
      C(cross_host_realm): the token realm is on another host and O(allow_cross_host_realm) is false.
      C(not_a_registry): C(GET /v2/) answered 404. C(token_service_error): the realm failed or sent no token."
    - "C(unauthorized): the credentials were rejected, or none were sent and the registry needs some.
      C(denied): authenticated but not permitted (also the answer of some registries for a repository that
      does not exist). C(expired_credentials): the token used as password has expired (JWT C(exp) in the
      past, or ECR's \"Your authorization token has expired\")."
    - "C(not_found): the repository, tag or digest does not exist (C(missing) in the failing step of RV(steps) says which).
      C(rate_limited): HTTP 429 (RV(rate_limit), RV(retry_after)). C(server_error): HTTP 5xx after retries."
    - "C(no_credentials_matched): O(pull_secret) or the Pod's secrets hold no entry the kubelet would use
      for the image, so the kubelet pulls anonymously."
    - "C(unsupported), C(invalid_digest), C(invalid_request), C(invalid_response): the registry refused
      the operation, or the input or the answer is malformed."
  returned: always
  type: str
  sample: tls_untrusted
hint:
  description: What to do about RV(category), in one or two sentences. Null when RV(ok) is true.
  returned: always
  type: str
  sample: Pass the registry CA in ca_path; nodes need it too (containerd certs.d/<host>/ca.crt or hosts.toml).
msg:
  description: The failure as the registry or the network reported it (never a secret). Null when RV(ok) is true.
  returned: always
  type: str
image:
  description: The image given in O(image), as given.
  returned: always
  type: str
registry:
  description: The registry API host (C(host[:port])) that was probed; Docker Hub is C(registry-1.docker.io).
  returned: when the registry could be determined
  type: str
  sample: registry.example.com:5000
repository:
  description: The repository checked, or null when only the registry was checked.
  returned: always
  type: str
reference:
  description: The tag or digest checked.
  returned: always
  type: str
api_url:
  description: The C(/v2/) URL that answered.
  returned: always
  type: str
  sample: https://registry.example.com:5000/v2/
credentials:
  description: Where the credentials came from; never the password.
  returned: always
  type: dict
  contains:
    source:
      description: C(explicit), C(pull_secret), or C(anonymous).
      type: str
    username:
      description: The user name used, or null.
      type: str
    password_kind:
      description: C(jwt), C(ecr_token), C(opaque) or C(none).
      type: str
    token_expires_at:
      description: Expiry (RFC 3339 UTC) read from a JWT or ECR token password, else null.
      type: str
    expired:
      description: True when RV(credentials.token_expires_at) is in the past.
      type: bool
    secret:
      description: C(namespace/name) of the pull secret (pull_secret mode).
      type: str
    key:
      description: The registry key of the entry that matched (pull_secret mode).
      type: str
token_expires_at:
  description: Expiry of a JWT-shaped or ECR password (RFC 3339 UTC), null when it is opaque.
  returned: always
  type: str
  sample: "2026-05-01T12:00:00Z"
auth:
  description: How the registry authenticates.
  returned: when C(/v2/) answered
  type: dict
  contains:
    scheme:
      description: C(bearer), C(basic), or null when C(/v2/) needs no credentials.
      type: str
    challenges:
      description: Every challenge offered (scheme, realm, service, scope, error), parsed per RFC 7235.
      type: list
      elements: dict
    authenticated:
      description: True when the credentials were accepted by the login step.
      type: bool
    api_version:
      description: The C(Docker-Distribution-API-Version) header, when sent.
      type: str
token:
  description: Facts about the pull token the token service issued (never the token).
  returned: when a Bearer token was obtained
  type: dict
  contains:
    expires_at:
      description: When the token expires (RFC 3339 UTC), from C(expires_in) (default 60 s).
      type: str
    granted:
      description: The C(access) claim of a JWT token (type, name, actions), when the token is a JWT.
      type: list
      elements: dict
    issuer:
      description: The C(iss) claim.
      type: str
    requests:
      description: How many token requests were made.
      type: int
manifest:
  description: The manifest found by C(HEAD).
  returned: when the manifest exists
  type: dict
  contains:
    digest:
      description: C(Docker-Content-Digest), checked to be C(sha256:<64 hex>).
      type: str
    media_type:
      description: The C(Content-Type) without parameters.
      type: str
    size:
      description: C(Content-Length) in bytes.
      type: int
rate_limit:
  description:
    - The C(ratelimit-limit) / C(ratelimit-remaining) headers with their window (C(;w=) in seconds) and
      C(docker-ratelimit-source). Null means the registry sent none (unknown or unlimited, not zero).
  returned: always
  type: dict
  sample: {limit: 100, remaining: 76, window_seconds: 21600, source: 192.0.2.1}
retry_after:
  description: Seconds the registry asked to wait (C(Retry-After)) with a 429.
  returned: when rate limited with Retry-After
  type: int
tls:
  description: TLS facts of the registry connection.
  returned: always
  type: dict
  contains:
    enabled:
      description: False for a plain HTTP registry.
      type: bool
    verified:
      description: True when the certificate chain and host name were verified.
      type: bool
    validate_certs:
      description: The value of O(registry_validate_certs).
      type: bool
    ca_path:
      description: The value of O(registry_ca_path).
      type: str
    protocol:
      description: TLS version, for example C(TLSv1.3).
      type: str
    cipher:
      description: Negotiated cipher suite.
      type: str
    addresses:
      description: Addresses the host name resolved to.
      type: list
      elements: str
    certificate:
      description: The server certificate (subject, issuer, not_before, not_after, sans, self_signed, sha256_fingerprint).
      type: dict
proxy:
  description: The proxy (scheme and host, never its credentials) used for the registry, from the environment.
  returned: always
  type: str
latency_ms:
  description:
    - Milliseconds per step (C(dns), C(connect), C(tls), C(ping), C(login), C(token), C(manifest), C(tags)) and C(total).
      Steps include retries.
  returned: always
  type: dict
  sample: {dns: 1, connect: 0, tls: 4, ping: 6, token: 9, manifest: 3, total: 31}
steps:
  description: The steps run, in order, each with C(ok); the failing one carries C(category) and details
    such as C(status), C(codes) (OCI error codes), C(missing) (C(repository), C(tag), C(digest)), C(ambiguous_not_found).
  returned: always
  type: list
  elements: dict
trace:
  description: Every HTTP exchange (step, method, URL without query string, status, elapsed_ms).
  returned: when the registry was contacted
  type: list
  elements: dict
pull_secret:
  description:
    - The pull secret as the kubelet reads it (O(pull_secret) mode); never its content. C(name), C(found), C(type),
      C(usable), C(problem) (C(missing), C(wrong_secret_type), C(unreadable), C(shape_mismatch), C(no_entries)),
      C(detail), C(found_in) (other namespaces holding a Secret of that name) and C(issues) (code, message).
  returned: with O(pull_secret)
  type: dict
matched:
  description: The entry the kubelet uses first for the image (C(secret), C(key), C(config_key), C(username), C(via)
    = C(match) or C(docker_hub_fallback)), or null when none applies (O(pull_secret) mode).
  returned: with O(pull_secret)
  type: dict
near_misses:
  description: Keys that almost applied to the image and why not (C(secret), C(config_key), C(key), C(reason) among
    C(port_mismatch), C(docker_hub_alias), C(label_count), C(case), C(scheme_or_path), C(glob), and C(detail)).
  returned: with O(pull_secret)
  type: list
  elements: dict
attempts:
  description: How many matched credentials were tried, in kubelet order, until one worked (O(pull_secret) mode).
  returned: with O(pull_secret) when an entry matched
  type: int
anonymous_probe_ok:
  description: When no entry matched, whether the anonymous pull the kubelet falls back to would work.
  returned: with O(pull_secret) when no entry matched
  type: bool
pod:
  description: The Pod diagnosed (C(namespace), C(name), C(phase), C(node) = the node it is scheduled on, or null).
  returned: with O(pod)
  type: dict
containers:
  description: Per container image of the Pod (O(pod) mode).
  returned: with O(pod)
  type: list
  elements: dict
  contains:
    container:
      description: Container name.
      type: str
    kind:
      description: C(container), C(init_container) or C(ephemeral_container).
      type: str
    image:
      description: The image as written in the Pod.
      type: str
    registry_host:
      description:
        - The image's registry as C(host[:port]) (C(docker.io) for Docker Hub), the directory name of its containerd
          C(hosts.toml) on the nodes.
      type: str
    waiting_reason:
      description: The container's waiting reason (C(ImagePullBackOff), C(ErrImagePull), ...), if any.
      type: str
    waiting_message:
      description: The waiting message.
      type: str
    pull_secrets:
      description: The secrets the kubelet considers, each with C(name), C(found), C(type), C(usable), C(problem).
      type: list
      elements: dict
    matched:
      description: The secret and key that the kubelet would use first (C(secret), C(key)), or null.
      type: dict
    near_misses:
      description: Keys that almost matched and why not.
      type: list
      elements: dict
    probe:
      description: The live check with the matched credentials (same keys as the top-level result).
      type: dict
    category:
      description: The category for this image (see RV(category)).
      type: str
    hint:
      description: The hint for this image.
      type: str
pod_pull_secrets:
  description: The Pod's C(imagePullSecrets) names (O(pod) mode).
  returned: with O(pod)
  type: list
  elements: str
service_account:
  description: The Pod's ServiceAccount, its current C(imagePullSecrets), and C(admission_race=true) when they
    differ from the Pod's (the Pod was created before the ServiceAccount was patched).
  returned: with O(pod)
  type: dict
events:
  description: Warning Events of the Pod about pulls (reason, message, count, last_timestamp).
  returned: with O(pod)
  type: list
  elements: dict
summary:
  description:
    - With O(pod), counts of images per category (C(ok) for passing ones).
    - With O(verify), C(namespaces), C(namespaces_ok), C(namespaces_broken), C(probes), C(probes_ok),
      C(stuck_pods), C(problems) (count per problem code) and C(api_requests).
  returned: with O(pod) or O(verify)
  type: dict
namespaces:
  description:
    - Per selected namespace (O(verify) mode), C(namespace), C(ok), C(secret) (found, type, issues),
      C(images) (image, normalized, matched_key, via, near_misses, probe), C(service_accounts) (name, found,
      wired) and C(problems), each with C(code) (C(secret_missing), C(secret_wrong_type), C(secret_unreadable),
      C(secret_shape), C(no_key_match), C(probe_failed), C(service_account_missing),
      C(service_account_not_wired)), C(detail) and C(hint).
  returned: with O(verify)
  type: list
  elements: dict
probes:
  description: One live probe per distinct (image, credential) pair (O(verify) mode), with the namespaces sharing it.
  returned: with O(verify)
  type: list
  elements: dict
stuck_pods:
  description:
    - Diagnosis of Pods stuck in C(ErrImagePull) / C(ImagePullBackOff) (O(verify) mode). Each has C(namespace),
      C(name), C(node) (the node it is scheduled on), C(category), C(hint) and C(containers) (C(container), C(image),
      C(registry_host), C(waiting_reason), C(category), C(hint)).
  returned: with O(verify)
  type: list
  elements: dict
table:
  description: The O(verify) result as fixed-width lines for a person to read.
  returned: with O(verify)
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

from ansible_collections.registrylink.k8s.plugins.module_utils._cluster_args import CLUSTER_ARGSPEC, NAMESPACES_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import RETRY_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import RegistryProbeRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_args import (
    REGISTRY_AUTH_ARGSPEC, REGISTRY_AUTH_REQUIRED_TOGETHER,
)


def argument_spec():
    spec = dict(CLUSTER_ARGSPEC)
    spec.update(RETRY_ARGSPEC)
    spec.update(REGISTRY_AUTH_ARGSPEC)
    spec.update(NAMESPACES_ARGSPEC)
    ref = dict(namespace=dict(type='str', required=True), name=dict(type='str', required=True))
    spec.update(
        image=dict(type='str'),
        repository=dict(type='str'),
        reference=dict(type='str', default='latest', aliases=['tag']),
        pull_secret=dict(type='dict', no_log=False, options=dict(ref)),
        pod=dict(type='dict', options=dict(ref)),
        verify=dict(type='dict', options=dict(
            secret_name=dict(type='str', required=True),
            images=dict(type='list', elements='str', required=True),
            service_accounts=dict(type='list', elements='str', default=['default']),
            diagnose_stuck_pods=dict(type='bool', default=True),
            max_pod_diagnoses=dict(type='int', default=20),
        )),
        fail_on_error=dict(type='bool', default=False),
    )
    return spec


def main():
    run_module(
        RegistryProbeRunner, argument_spec(), requires=('requests',),
        mutually_exclusive=[
            ['image', 'repository'], ['image', 'registry'], ['pod', 'image'], ['pod', 'registry'], ['pod', 'pull_secret'],
            ['pod', 'username'], ['pull_secret', 'username'], ['pull_secret', 'registry'],
            ['verify', 'pod'], ['verify', 'image'], ['verify', 'registry'], ['verify', 'pull_secret'],
            ['verify', 'username'],
        ],
        required_one_of=[['registry', 'image', 'pod', 'verify']],
        required_together=REGISTRY_AUTH_REQUIRED_TOGETHER,
        required_by={'pull_secret': 'image'},
    )


if __name__ == '__main__':
    main()
