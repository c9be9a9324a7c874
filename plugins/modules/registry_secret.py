#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: registry_secret
short_description: Image pull secrets (C(.dockerconfigjson)) across namespaces, idempotent and leak-free
version_added: 0.1.0
description:
  - Ensures a Secret of type C(kubernetes.io/dockerconfigjson) (or the legacy
    C(kubernetes.io/dockercfg)) named O(name) exists, or is absent, in every namespace of a
    selection, holding credentials for one or more registries. One task covers the whole selection.
  - Registry keys are written the way the kubelet matches them
    (C(pkg/credentialprovider/keyring.go) in kubernetes/kubernetes). Docker Hub in any spelling
    (C(docker.io), C(index.docker.io), C(https://index.docker.io/v1/)) becomes
    C(https://index.docker.io/v1/), the key the kubelet reads for Docker Hub images.
  - Spellings the kubelet reads the same way are written in their plain form without a warning
    (C(https://registry.example.com/v2/) and C(http://registry.example.com) become
    C(registry.example.com), since the kubelet drops the scheme and a leading C(/v1/) or C(/v2/)).
  - Spellings the kubelet would never match for the images you likely mean are rewritten with a
    warning naming the fix (C(registry-1.docker.io), uppercase letters, C(/v2) without the slash).
    An explicit C(:443) is kept, with a warning, because the kubelet compares ports as text and
    images named C(host:443/...) exist.
  - The C(auth) field is always written, computed from C(username:password) when not given.
    The JSON is produced by a serializer, so usernames with C($) (Harbor robot accounts) and
    passwords with quotes, backslashes, braces or non-ASCII characters survive byte for byte.
  - Idempotency compares the decoded, canonical configuration; key order, whitespace and
    C(stringData) versus C(data) never cause a change. A second run reports C(changed=false)
    and makes no write.
  - Cost does not grow with the number of namespaces on the read side. One LIST resolves the
    namespace selection and one LIST (paginated by 5000) reads the named Secret in every
    namespace with a field selector. Writes go out concurrently, at most
    O(max_concurrent_writes) at a time.
  - Every input is validated before the first write. When any selected namespace holds a
    same-named Secret that this collection did not create, or one of another C(type), the
    task fails before writing anything and lists those namespaces; O(force) takes them over.
  - Passwords, C(auth) values and the rendered configuration never appear in results, warnings,
    errors or diffs. Diffs show registry keys, usernames and a content fingerprint.
  - "A registry entry may name a credential provider (O(registries[].provider)) instead of static
    credentials: the provider mints a short-lived token (for V(ecr), Amazon ECR C(GetAuthorizationToken)
    with the standard AWS credential chain; for V(gar), a Google OAuth2 access token for Artifact Registry).
    The Secret records, per minted registry key, the provider,
    a fingerprint of its options and the token's expiry (annotation C(registrylink.k8s/providers)), the
    earliest expiry (C(registrylink.k8s/expires-at), RFC 3339 UTC) and the time of the last mint
    (C(registrylink.k8s/issued-at))."
  - "O(refresh_before) makes rotation idempotent: in a namespace whose recorded token has more than that
    left, the token is kept (no mint, no write when nothing else changed); a token closer to its expiry,
    expired, not recorded, or minted for other provider options is replaced. Each provider entry is minted
    at most once per run and only when some namespace needs it; every namespace that needs it gets the
    same token. Static entries are compared as usual in every namespace, so a change of a static entry
    updates a namespace without replacing its still-valid token."
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
    details:
      - Reads the cluster and reports per namespace what would be created, updated or deleted; writes nothing.
      - When a namespace needs a provider token, check mode still mints it (a read-only call such as ECR
        C(GetAuthorizationToken)), so that missing AWS permissions show up; the token is not written.
  diff_mode:
    support: full
    details:
      - One diff per namespace with registry keys, usernames, labels, annotations (including the recorded expiry)
        and a content hash; never a password, token or C(auth).
  idempotent:
    support: full
options:
  name:
    description:
      - Name of the Secret in every selected namespace (a lowercase RFC 1123 subdomain).
    type: str
    required: true
  state:
    description:
      - V(present) ensures the Secret exists with the declared content; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  registries:
    description:
      - Registries whose credentials the Secret holds.
      - Each static entry needs O(registries[].server) and either O(registries[].username) with
        O(registries[].password), or O(registries[].auth).
      - An entry with O(registries[].provider) gets its credentials minted instead; it takes the provider's
        options (for V(ecr) O(registries[].region), O(registries[].registry_id), O(registries[].aws_profile),
        O(registries[].role_arn), O(registries[].endpoint_url); for V(acr) O(registries[].tenant_id),
        O(registries[].client_id), O(registries[].client_secret), O(registries[].authority_host),
        O(registries[].token_scope), O(registries[].endpoint_url), O(registries[].ca_path); for V(gar)
        O(registries[].credentials_file), O(registries[].token_uri);
        for V(harbor_robot) O(registries[].api_url),
        O(registries[].api_username), O(registries[].api_password), O(registries[].api_ca_path),
        O(registries[].project) or O(registries[].projects), O(registries[].credential_name),
        O(registries[].credential_lifetime); for V(gitlab_deploy_token) O(registries[].api_url), O(registries[].api_token), O(registries[].api_ca_path),
        O(registries[].project) or O(registries[].group), O(registries[].credential_name),
        O(registries[].credential_lifetime), and O(registries[].server), the registry host, which it requires;
        for V(artifactory_token) O(registries[].api_url), O(registries[].api_token), O(registries[].api_ca_path),
        O(registries[].token_username), O(registries[].credential_name), O(registries[].credential_lifetime),
        O(registries[].access_method), O(registries[].repository_key), O(registries[].images) and the
        required O(registries[].server); for V(acr_token) O(registries[].registry_resource_id),
        O(registries[].token_name), O(registries[].arm_endpoint) and the Azure credential options of V(acr)) and no
        username, password or auth.
      - With O(state=absent), entries of V(harbor_robot), V(gitlab_deploy_token) or V(artifactory_token) name the
        credentials to delete (revoke) at the registry with the Secrets (only those this Secret name and cluster
        minted, and only when no Secret outside the selection uses them).
      - Two entries that normalise to the same registry key are an error.
    type: list
    elements: dict
    default: []
    suboptions:
      server:
        description:
          - The registry, as C(host[:port][/path]), with or without C(https://).
            Docker Hub in any spelling is written as C(https://index.docker.io/v1/).
          - Required for static entries. With O(registries[].provider=ecr) it may be omitted; the registry key
            is then the token's proxy endpoint (C(<account>.dkr.ecr.<region>.amazonaws.com)).
          - Required with O(registries[].provider=gar) (the Artifact Registry host, such as
            C(europe-west1-docker.pkg.dev)); a host that is neither C(LOCATION-docker.pkg.dev) nor a C(gcr.io)
            host gets a warning, since the Google access token is given to it. A C(gcr.io) host gets a warning
            explaining that Container Registry is shut down (2025) and that C(gcr.io) pulls now need
            C(roles/artifactregistry.reader) on the Artifact Registry C(gcr.io) repository or its project.
        type: str
      username:
        description:
          - User name, a string. Robot accounts such as Harbor's C(robot$project+name) are kept byte for byte.
          - A static entry (no O(registries[].provider)) that gives none of O(registries[].username),
            O(registries[].password) and O(registries[].auth) takes the user name from the environment
            variable E(REGISTRYLINK_PULL_USERNAME) and the password from E(REGISTRYLINK_PULL_PASSWORD) when both
            are set on the host that runs the module (an AWX credential of the collection's credential type
            injects them; see docs/awx.md).
          - A value YAML reads as a number or boolean is refused (quote it), never converted.
        type: raw
      password:
        description:
          - Password or token, a string. Never logged or returned.
          - Can come from the environment variable E(REGISTRYLINK_PULL_PASSWORD), see O(registries[].username).
          - A value YAML reads as a number (C(0123) is the number 83 to YAML) is refused with
            "quote the value", never converted, so the secret never holds a mangled password.
        type: raw
      auth:
        description:
          - Base64 of C(username:password). When given with O(registries[].username) and
            O(registries[].password) the three must agree. Never logged or returned.
        type: raw
      email:
        description:
          - Optional e-mail address; the kubelet ignores it.
        type: str
      provider:
        description:
          - Mint the credentials with this provider instead of giving them. V(ecr) is Amazon ECR
            (C(GetAuthorizationToken); the user name is C(AWS), the token lasts 12 hours).
          - V(acr) is Azure Container Registry, a Microsoft Entra ID access token exchanged at the registry's
            C(/oauth2/exchange) for an ACR refresh token, written with the user name
            C(00000000-0000-0000-0000-000000000000) (never as C(identitytoken), which the kubelet ignores);
            its expiry is the token's C(exp), about 3 hours. It needs the Python package C(azure-identity).
            Entra credentials are O(registries[].client_secret) with O(registries[].tenant_id) and
            O(registries[].client_id), else azure-identity's C(DefaultAzureCredential) chain (C(AZURE_*)
            environment variables, workload identity, managed identity, Azure CLI). See C(docs/aks-acr.md).
          - V(harbor_robot) is a Harbor project robot account with C(repository:pull) in O(registries[].project),
            created through Harbor's API with O(registries[].api_username). The robot's name is read from
            Harbor's answer (the C(robot$) prefix is a server setting). Rotation (when the recorded expiry is
            within O(refresh_before), or the robot is disabled or expired) extends the robot's lifetime and
            refreshes its secret in place; the old secret stops working at once, so every selected Secret is
            written in the same run. A rerun whose Secrets hold a still-valid robot reuses it (one read at
            Harbor, no new credential). Robots this Secret and cluster minted that no Secret uses any more are
            deleted after a successful run, and with O(state=absent). With O(registries[].projects) it is a system
            robot account (level C(system), created by a Harbor system admin) that may pull from each listed project.
            See C(docs/vendor-registries.md).
          - V(gitlab_deploy_token) is a GitLab project or group deploy token with scope C(read_registry), created with
            O(registries[].api_token); the user name is GitLab's answer (C(gitlab+deploy-token-N)). GitLab cannot
            rotate a deploy token, so rotation creates a new one, writes every selected Secret, and only then revokes
            the old one (both work in between). Reruns, clean-up and O(state=absent) work as for V(harbor_robot).
          - V(artifactory_token) is a JFrog Artifactory access token for O(registries[].token_username) with that
            user's permissions, created with O(registries[].api_token); the registry user name is that user.
            Rotation creates a new token, writes every Secret, then revokes the old one. O(registries[].server) is
            required and is the registry key the kubelet matches, which depends on Artifactory's Docker access
            method (repository path C(acme.jfrog.io), subdomain C(docker-local.acme.jfrog.io), port
            C(acme.jfrog.io:8876)); with O(registries[].access_method) the key is derived from the Artifactory host
            in O(registries[].server) and checked against O(registries[].images).
          - V(acr_token) rotates the passwords of a repository-scoped ACR token (scope map) over Azure Resource
            Manager; the user name is the token's name. The provider record on the Secret names the slot its
            password came from and that slot's creation time; each mint regenerates the other slot (without a
            record, a missing one, else the one created earlier) with a 30-day expiry, so the Secrets never hold
            only a dead password. Check mode reads the token and generates nothing.
          - Use one ACR token per cluster and Secret name with V(acr_token). A second consumer of the token (another
            cluster, another Secret name) regenerates slots by its own record and kills the password this Secret
            holds; when the recorded slot was created after the record, every run (check mode too) warns that the
            token is used by another consumer and its password in this Secret is dead, and mints a new password.
          - An unknown provider fails the task before anything is read or written, naming the known ones.
          - AWS credentials come from the standard chain of the host that runs the module (environment,
            C(AWS_PROFILE) or O(registries[].aws_profile), IRSA web identity, container or instance role);
            the module takes no AWS key as an option.
          - V(gar) is Google Artifact Registry (an OAuth2 access token, user name C(oauth2accesstoken), the
            token lasts one hour). Google credentials come from O(registries[].credentials_file) or
            Application Default Credentials (C(GOOGLE_APPLICATION_CREDENTIALS), gcloud's application default
            credentials, or the metadata server on GCE and GKE with Workload Identity).
        type: str
      region:
        description:
          - For V(ecr), the AWS region of the registry. Required unless O(registries[].server) is the ECR host,
            from which it is then read. The environment's default region is deliberately not used.
        type: str
      registry_id:
        description:
          - For V(ecr), the 12-digit AWS account ID of the registry; default the account of the credentials.
        type: str
      aws_profile:
        description:
          - For V(ecr), the profile of the AWS shared config files to take the credentials from.
        type: str
      role_arn:
        description:
          - For V(ecr), an IAM role to assume (STS C(AssumeRole)) before minting, for example for a registry
            in another account.
        type: str
      endpoint_url:
        description:
          - For V(ecr), the URL of the ECR API (a VPC endpoint, or a test endpoint such as moto). STS (for
            O(registries[].role_arn)) follows the standard configuration (C(AWS_ENDPOINT_URL_STS),
            C(AWS_ENDPOINT_URL)).
          - For V(acr), the https:// base URL of the registry's token service (C(/oauth2/exchange)); default
            C(https://<server>). Plain HTTP is refused.
        type: str
      tenant_id:
        description:
          - For V(acr) and V(acr_token), the Microsoft Entra tenant (directory) ID or domain. Default the environment variable
            C(AZURE_TENANT_ID); when neither is set the tenant is read from the Entra token (C(tid)).
        type: str
      client_id:
        description:
          - For V(acr) and V(acr_token), the application (client) ID of the service principal, or of the user-assigned managed
            identity or workload identity the credential chain should use. Default C(AZURE_CLIENT_ID).
        type: str
      client_secret:
        description:
          - For V(acr) and V(acr_token), the service principal's client secret; needs O(registries[].tenant_id) and
            O(registries[].client_id). Never logged, returned or recorded (not even in the options fingerprint).
          - When unset, azure-identity's C(DefaultAzureCredential) chain is used (C(AZURE_CLIENT_SECRET) or
            C(AZURE_CLIENT_CERTIFICATE_PATH) from the environment, workload identity, managed identity, Azure CLI).
        type: str
      authority_host:
        description:
          - For V(acr) and V(acr_token), the Microsoft Entra authority (sovereign clouds such as V(https://login.microsoftonline.us),
            Azure Stack, a test stand-in). Default C(AZURE_AUTHORITY_HOST), else the public cloud.
        type: str
      token_scope:
        description:
          - For V(acr), the scope of the Entra token exchanged at the registry. Default
            V(https://management.azure.com/.default) (the ARM audience, as C(az acr login)); a registry that has
            ARM-audience authentication disabled needs V(https://containerregistry.azure.net/.default).
        type: str
      ca_path:
        description:
          - For V(acr) and V(acr_token), a PEM bundle of the certificate authorities to trust for the Entra
            authority, the registry's token service and Resource Manager (private clouds, tests). Default the
            system trust store.
        type: path
      registry_resource_id:
        description:
          - For V(acr_token), the registry's resource ID (C(az acr show -n <name> --query id)).
        type: str
      token_name:
        description:
          - For V(acr_token), the name of the ACR token (5 to 50 letters, digits and dashes), created with its scope
            map beforehand (C(az acr token create)); it is also the user name written. One ACR token per cluster
            and Secret name (see O(registries[].provider)).
        type: str
      arm_endpoint:
        description:
          - For V(acr_token), the Azure Resource Manager endpoint (also the token audience). Default
            V(https://management.azure.com).
        type: str
      credentials_file:
        description:
          - For V(gar), the path of a Google credentials file on the host that runs the module (a service
            account key, or gcloud's application default credentials). Default Application Default Credentials.
          - Checked before anything is written (readable, JSON, a known credentials C(type)); its content is
            never logged or returned, only the access token minted with it goes into the Secret.
        type: path
      token_uri:
        description:
          - For V(gar), replaces the OAuth2 token endpoint the credentials file names (a private endpoint, or a
            test endpoint). Only for service account keys and gcloud user credentials.
          - A private CA for it is trusted through C(REQUESTS_CA_BUNDLE).
        type: str
      api_url:
        description:
          - For V(harbor_robot), the base URL of Harbor (C(https://harbor.example.com)); the module calls its
            C(/api/v2.0) API there. For V(gitlab_deploy_token), the base URL of GitLab
            (C(https://gitlab.example.com)); the module calls C(/api/v4) there. For V(artifactory_token), the base
            URL of the JFrog platform (C(https://acme.jfrog.io)); the module calls C(/access/api/v1) there.
            Only C(https://) is accepted.
        type: str
      api_username:
        description:
          - For V(harbor_robot), the Harbor user that manages the robot accounts (project admin of
            O(registries[].project), or a system admin).
        type: str
      api_password:
        description:
          - For V(harbor_robot), the password (or CLI secret) of O(registries[].api_username). Never logged or returned.
        type: str
      api_token:
        description:
          - For V(gitlab_deploy_token), a GitLab personal, project or group access token with scope C(api) of a user
            who is Maintainer of O(registries[].project) (Owner of O(registries[].group)). Never the CI job token,
            which stops working when its job ends. Never logged or returned.
          - For V(artifactory_token), an Artifactory access token (bearer) of an admin, or of
            O(registries[].token_username) itself, that may create access tokens.
        type: str
      api_ca_path:
        description:
          - CA bundle that signs the certificate of O(registries[].api_url); default the system trust store.
        type: path
      project:
        description:
          - For V(harbor_robot), the Harbor project whose repositories the robot account may pull (a project robot).
            Exclusive with O(registries[].projects).
          - For V(gitlab_deploy_token), the GitLab project (full path such as C(team/app), or numeric id) whose
            container registry the deploy token may read. Exclusive with O(registries[].group).
        type: str
      access_method:
        description:
          - For V(artifactory_token), how the Docker clients reach the repository (Artifactory's Docker access
            method), which decides the registry key written. O(registries[].server) is then the Artifactory host.
          - V(repository_path) for images C(<host>/<repository_key>/<image>) (key C(<host>)); V(subdomain) for
            C(<repository_key>.<host>/<image>) (key C(<repository_key>.<host>); on JFrog SaaS C(acme.jfrog.io)
            the host C(acme-<repository_key>.jfrog.io)); V(port) for C(<host>:<port>/<image>) with the port in
            O(registries[].server) (key C(<host>:<port>)).
          - Unset, O(registries[].server) is the key as given.
        type: str
        choices: [repository_path, subdomain, port]
      repository_key:
        description:
          - For V(artifactory_token) with O(registries[].access_method) V(repository_path) or V(subdomain), the
            Docker repository key (for example C(docker-local)); for V(subdomain) it must be a host name label.
        type: str
      images:
        description:
          - For V(artifactory_token) with O(registries[].access_method), images the workloads pull with this entry.
            Each must have the access method's shape on the derived key (for V(repository_path) also the
            O(registries[].repository_key) path); a mismatch fails the task before anything is read or written.
            Not recorded (another list does not mint a new token).
        type: list
        elements: str
      projects:
        description:
          - For V(harbor_robot), several Harbor projects. The robot account is then a system robot (level C(system)) with
            C(repository:pull) in each of them, and its name has no project part (C(robot$NAME)). Creating and rotating
            it needs a Harbor system admin as O(registries[].api_username). Exclusive with O(registries[].project).
        type: list
        elements: str
      token_username:
        description:
          - For V(artifactory_token), the Artifactory user the access token is created for (its subject). It is the
            registry user name in the Secret; the token has that user's permissions (scope
            C(applied-permissions/user)).
        type: str
      group:
        description:
          - For V(gitlab_deploy_token), a GitLab group (full path or numeric id); a group deploy token reads the
            container registries of every project in the group.
        type: str
      credential_name:
        description:
          - For V(harbor_robot), the short name of the robot account (Harbor adds its prefix and the project,
            as in C(robot$team-a+NAME)). Default C(rl-<Secret name>-<first 8 characters of the cluster's
            kube-system UID>), so that two clusters running the same task never share (and rotate) one robot.
          - For V(gitlab_deploy_token), the first part of the deploy token's name (default C(rl-<Secret name>));
            the name always ends with C((registrylink.k8s owner=<Secret name>@<kube-system UID>)).
        type: str
      credential_lifetime:
        description:
          - For V(harbor_robot), how long the robot account lives (a duration such as V(30d); whole days,
            rounded up; V(1d) to V(3650d)), or V(never) (Harbor C(duration) C(-1)); the robot never expires, its
            expiry is recorded as none (no C(registrylink.k8s/expires-at) for it) and it is not refreshed for its age,
            only when it is disabled or deleted at Harbor or its entry changes. Default V(30d). The default
            O(refresh_before) is half of it.
          - For V(gitlab_deploy_token), how long each deploy token lives (V(1h) to V(3650d), default V(30d)).
          - For V(artifactory_token), how long each access token lives (V(3h) to V(365d), default V(30d)); Artifactory
            does not store shorter tokens, which then could not be revoked.
        type: str
  refresh_before:
    description:
      - For provider entries, replace a namespace's token when it has this much time left or less (a duration
        such as V(6h), V(90m), V(1d)); a token with more left is kept and the namespace is not written.
      - Default half the provider's token lifetime (V(6h) for V(ecr), V(90m) for V(acr), V(30m) for V(gar)), V(10d) for
        V(acr_token). A value not shorter than the lifetime
        makes every run mint (with a warning).
      - "For a schedule every I hours, O(refresh_before) of at least 2 x I + 1h survives one failed run
        (V(9h) with the 4-hour schedule of C(playbooks/rotate.yml) and ECR's 12-hour tokens)."
      - Ignored when no entry has a provider.
    type: str
  docker_config:
    description:
      - The content of a Docker C(config.json) to import, as a dictionary or a JSON string
        (base64 of the JSON is accepted once, with a warning). Both the C({"auths":{...}})
        form and the legacy C(.dockercfg) form are read.
      - Combined with O(registries); an entry in O(registries) wins for the same registry key.
      - Entries that only name a credential helper (C(credsStore), C(credHelpers)) or hold no
        inline credentials are refused with the list of those registries, because the kubelet
        cannot run a helper from a Secret.
      - Never logged or returned.
    type: raw
  merge:
    description:
      - V(false) makes the Secret hold exactly the declared registries.
      - V(true) adds or updates the declared registries and keeps other registries already in the Secret.
    type: bool
    default: false
  type:
    description:
      - The Secret type. The legacy C(kubernetes.io/dockercfg) stores the inner C(auths) map under C(.dockercfg).
    type: str
    choices: [kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg]
    default: kubernetes.io/dockerconfigjson
  labels:
    description:
      - Labels to set on the Secret, in addition to C(app.kubernetes.io/managed-by=registrylink.k8s),
        which is always set. Labels already on the Secret and not named here are kept.
    type: dict
    default: {}
  annotations:
    description:
      - Annotations to set on the Secret. Annotations already on the Secret and not named here are kept.
    type: dict
    default: {}
  force:
    description:
      - Take over (update) or delete a same-named Secret that this collection did not create
        (it lacks C(app.kubernetes.io/managed-by=registrylink.k8s)).
      - Delete and recreate a Secret whose C(type) differs; the API forbids changing C(type) in place.
      - Without it such namespaces make the task fail before any write.
    type: bool
    default: false
  check_rights:
    description:
      - In check mode, also ask the API server (SelfSubjectAccessReviews) whether the credentials may do every
        write the plan holds, and fail as a real run would when one is not allowed, naming the rule to add.
        For a play or role that checks a later task's rights in check mode before its first write (the role
        C(registrylink.k8s.cleanup) does). Outside check mode the rights are always checked.
    type: bool
    default: false
notes:
  - "Errors a user can hit, all before any write unless stated: C(name) is not a valid Secret name;
    no namespace selection, or a literal namespace that does not exist (state=present);
    a registry entry without C(server) or credentials, with C(auth) that is not base64 of C(user:pass),
    or whose C(auth) disagrees with C(username)/C(password); two entries that normalise to the same
    registry key; a C(docker_config) that is not JSON or holds only credential helpers; a same-named
    Secret not created by this collection, or of another type, without O(force)."
  - "API errors name the verb, resource and namespace (403, 404, 409, 422 with the field). A write that
    fails in one namespace does not stop the others; the task then fails at the end naming the failed namespaces."
  - "Rights: check mode needs C(list) on C(namespaces) and C(secrets); writing adds C(get), C(create), C(update)
    and C(delete) on C(secrets) (ClusterRole manifests C(docs/rbac/registry_secret-read.yml) and
    C(docs/rbac/registry_secret-write.yml)). Before the first write the module asks the API server
    (SelfSubjectAccessReview) whether every planned write is allowed; if one is not, it fails with nothing
    written, naming the verb, the resource, the namespaces and the RBAC rule to add. A denied read fails the
    same way, naming the rule."
  - "Namespaced mode: when RBAC denies the cluster-wide LIST of namespaces and O(namespaces) lists names only,
    each listed namespace is read on its own (a GET of the namespace, one LIST per resource in it), with a warning.
    Bind C(docs/rbac/registry_secret-namespaced-read.yml) or C(-namespaced-write.yml) with a RoleBinding in each namespace.
    A glob in O(namespaces) or a O(namespace_selector) needs the cluster-wide LIST: without it the task fails
    before any write, saying so."
  - The kubelet only reads C(username), C(password) and C(auth) of each entry (C(pkg/credentialprovider/config.go)).
    It never uses C(identitytoken) or C(registrytoken), so such entries are rewritten or refused on import.
  - "Provider errors, all before any write: an unknown O(registries[].provider); V(ecr) without
    O(registries[].region) and without an ECR host in O(registries[].server); a region or account that
    disagrees with the ECR host; username, password or auth on a provider entry; a provider option on a
    static entry; a malformed O(registries[].role_arn) or O(registries[].registry_id); V(acr) without
    O(registries[].server) or with a path in it, a malformed O(registries[].tenant_id), O(registries[].client_id),
    O(registries[].authority_host), O(registries[].token_scope) or O(registries[].endpoint_url), a
    O(registries[].client_secret) without tenant and client ID, a missing O(registries[].ca_path) file. Minting
    happens before the first write too, so missing AWS or Azure credentials or permissions fail the task with
    nothing changed (V(acr): C(category) V(azure_credentials), V(unauthorized) with a C(hint), or
    V(unreachable))."
  - "V(gar) errors, all before any write: no O(registries[].server); an O(registries[].credentials_file) that
    cannot be read or is not a Google credentials file; an O(registries[].token_uri) that is not an http(s)
    URL or is given for credentials without a token endpoint; no Application Default Credentials; the token
    endpoint refusing the credentials (a deleted or disabled key)."
  - "A static entry with user C(_json_key) or C(_json_key_base64) puts a long-lived service account key into
    every selected namespace: the module warns and suggests O(registries[].provider=gar), whose token lasts
    an hour."
  - "A static entry for an ECR host with user C(AWS) is a 12-hour token: the module warns, and records
    the time the token was written in C(registrylink.k8s/issued-at). Use O(registries[].provider=ecr) and a
    schedule instead (C(playbooks/rotate.yml), C(docs/rotate.md))."
  - "Provider V(harbor_robot) errors: before any network call, an O(registries[].api_url) that is not https, a
    missing O(registries[].api_username), O(registries[].api_password) or O(registries[].project) (or
    O(registries[].projects)), both of them, a O(registries[].credential_lifetime) outside 1d..3650d (and not
    V(never)), an invalid O(registries[].credential_name); from
    Harbor, before any Secret is written and with nothing changed at Harbor: HTTP 401 (API credentials refused),
    403 (the user is not project admin; for O(registries[].projects), not system admin), 404 (no such project),
    409 (the robot name is taken by a robot this
    collection did not create for this Secret and cluster: set O(registries[].credential_name)), 400 (Harbor's
    message), an untrusted certificate (O(registries[].api_ca_path)) or an unreachable host."
  - "V(harbor_robot) rotation refreshes the robot's only secret: the old one stops working at once. Secrets of the
    same name outside the selected namespaces that hold the same robot stop working too (the module warns and
    names them). The module never creates or rotates a robot in check mode."
  - "The ECR expiry: when GetAuthorizationToken reports an expiry that is not in the future (clock skew on
    the host, or an endpoint such as moto that answers 2015-01-01), the documented 12 hours from the mint
    are recorded and a warning names both causes; an expiry beyond 12 hours is capped to it."
seealso:
  - module: registrylink.k8s.sa_pull_secret
  - name: Harbor robot accounts
    description: Project and system robot accounts, their lifetime and secret refresh.
    link: https://goharbor.io/docs/main/working-with-projects/project-configuration/create-robot-accounts/
  - name: ECR private registry authentication
    description: Authorization tokens, their 12-hour lifetime, GetAuthorizationToken.
    link: https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html
  - name: Kubelet credential matching (keyring.go)
    description: How the kubelet picks a registry key for an image.
    link: https://github.com/kubernetes/kubernetes/blob/master/pkg/credentialprovider/keyring.go
'''

EXAMPLES = r'''
- name: Pull secret for a private registry in every team namespace
  registrylink.k8s.registry_secret:
    name: regcred
    namespaces: ['team-*']
    registries:
      - server: registry.example.com
        username: ci-puller
        password: "{{ vault_registry_password }}"

- name: Two registries in one secret, namespaces chosen by label, kube-* left out by default
  registrylink.k8s.registry_secret:
    name: regcred
    namespaces: ['*']
    namespace_selector: 'registrylink/pull=enabled'
    registries:
      - server: docker.io
        username: myhubuser
        password: "{{ vault_hub_token }}"
      - server: harbor.example.com
        username: robot$project+puller
        password: "{{ vault_harbor_robot_secret }}"

- name: Import a workstation config.json, keeping registries already in the secret
  registrylink.k8s.registry_secret:
    name: regcred
    namespaces: [apps]
    merge: true
    docker_config: "{{ lookup('ansible.builtin.file', 'files/config.json') }}"

- name: Preview a rotation across the fleet (check mode, with diff)
  registrylink.k8s.registry_secret:
    name: regcred
    namespaces: ['*']
    registries:
      - server: registry.example.com
        username: ci-puller
        password: "{{ new_password }}"
  check_mode: true
  diff: true

- name: ECR pull secret minted with the controller's AWS credentials, refreshed when 6h or less are left
  registrylink.k8s.registry_secret:
    name: ecr-pull
    namespaces: ['team-*']
    refresh_before: 6h
    registries:
      - provider: ecr
        region: eu-west-1
        registry_id: "111122223333"

- name: ECR in another account through a role, plus a static registry in the same secret
  registrylink.k8s.registry_secret:
    name: regcred
    namespaces: [apps]
    registries:
      - provider: ecr
        server: 444455556666.dkr.ecr.us-east-1.amazonaws.com
        role_arn: arn:aws:iam::444455556666:role/ecr-pull-from-fleet
      - server: harbor.example.com
        username: robot$project+puller
        password: "{{ vault_harbor_robot_secret }}"

- name: ACR pull secret from a service principal (Entra token -> ACR refresh token), refreshed every run with 90m left
  registrylink.k8s.registry_secret:
    name: acr-pull
    namespaces: ['team-*']
    registries:
      - provider: acr
        server: myregistry.azurecr.io
        tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
        client_id: 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0
        client_secret: "{{ vault_acr_sp_secret }}"

- name: ACR in a registry that refuses ARM-audience tokens, credentials from the AZURE_* environment
  registrylink.k8s.registry_secret:
    name: acr-pull
    namespaces: [apps]
    registries:
      - provider: acr
        server: myregistry.azurecr.io
        token_scope: https://containerregistry.azure.net/.default
- name: Artifact Registry pull secret for a cluster outside GKE, a one-hour token refreshed every run with 30m or less left
  registrylink.k8s.registry_secret:
    name: gar-pull
    namespaces: ['team-*']
    registries:
      - provider: gar
        server: europe-west1-docker.pkg.dev
        credentials_file: /etc/registrylink/gar-reader.json

- name: Harbor robot account with pull access to project team-a, rotated when half its 30 days are left
  registrylink.k8s.registry_secret:
    name: harbor-pull
    namespaces: ['team-a-*']
    registries:
      - provider: harbor_robot
        api_url: https://harbor.example.com
        api_username: "{{ harbor_admin_user }}"
        api_password: "{{ harbor_admin_password }}"
        project: team-a
        credential_lifetime: 30d

- name: Remove the Harbor pull secrets and the robot account minted for them
  registrylink.k8s.registry_secret:
    name: harbor-pull
    namespaces: ['team-a-*']
    state: absent
    registries:
      - provider: harbor_robot
        api_url: https://harbor.example.com
        api_username: "{{ harbor_admin_user }}"
        api_password: "{{ harbor_admin_password }}"
        project: team-a

- name: Remove the secrets this collection created
  registrylink.k8s.registry_secret:
    name: regcred
    namespaces: ['team-*']
    state: absent
'''

RETURN = r'''
changed:
  description: Whether any namespace was (or, in check mode, would be) written.
  returned: always
  type: bool
results:
  description: One entry per selected namespace.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: The namespace.
      type: str
      sample: team-a
    name:
      description: The Secret name.
      type: str
      sample: regcred
    action:
      description:
        - What happened (or would happen in check mode) - C(created), C(updated), C(unchanged),
          C(deleted), C(absent) (nothing to delete), C(failed) (see C(msg)), or C(skipped)
          (not attempted because another namespace needs O(force)).
      type: str
      sample: created
    servers:
      description: Registry keys in the Secret after the task (before it, for deletions).
      type: list
      elements: str
      sample: [registry.example.com]
    recreated:
      description: Present and true when the Secret was deleted and created again to change its type.
      type: bool
      returned: when the type changed
    refreshed:
      description: Whether provider tokens were (or, in check mode, would be) minted for this namespace.
      type: bool
      returned: when an entry has a provider
    refresh_reason:
      description: Why the token was replaced (C(no secret yet), C(expires in 2h10m, within refresh_before (6h00m)), ...).
      type: str
      returned: when RV(results[].refreshed) is true
    expires_at:
      description:
        - The earliest expiry of the provider tokens in the Secret after the task (RFC 3339 UTC).
        - Null when every provider credential of the Secret never expires (V(harbor_robot) with
          O(registries[].credential_lifetime=never)).
      type: str
      returned: when an entry has a provider
      sample: '2026-01-01T12:00:00Z'
    expires_in:
      description: Seconds from now until RV(results[].expires_at) (negative when expired); null when it is null.
      type: int
      returned: when an entry has a provider
    time_left:
      description: RV(results[].expires_in) in a short human form; V(never) when RV(results[].expires_at) is null.
      type: str
      returned: when an entry has a provider
      sample: 11h59m
    msg:
      description: Why the namespace failed. Never holds a secret.
      type: str
      returned: when action is failed
    write_outcome:
      description:
        - Whether the failed write may have been applied. V(not_written) when the API server refused it or it
          was never sent; V(unknown) when the connection broke or timed out after it was sent (read back, or
          run the task again, which writes only what is missing).
      type: str
      returned: when action is failed after a write was tried
      sample: unknown
summary:
  description: Number of namespaces per action.
  returned: always
  type: dict
  sample: {created: 3, unchanged: 997}
servers:
  description: The normalised registry keys written (empty for state=absent).
  returned: always
  type: list
  elements: str
  sample: ["https://index.docker.io/v1/", "registry.example.com"]
expires_at:
  description: The earliest provider token expiry over all namespaces after the task (RFC 3339 UTC).
  returned: when an entry has a provider whose credentials expire
  type: str
  sample: '2026-01-01T12:00:00Z'
credentials:
  description:
    - For entries of a provider whose credential is an object at the registry (V(harbor_robot)), one item per
      such credential this run used or touched. Never holds a secret.
  returned: when an entry has such a provider
  type: list
  elements: dict
  contains:
    provider:
      description: The provider.
      type: str
      sample: harbor_robot
    server:
      description: The registry key of the entry.
      type: str
      sample: harbor.example.com
    name:
      description: The credential's name at the registry (for Harbor the robot's full name, as Harbor answered it).
      type: str
      sample: robot$team-a+rl-harbor-pull-4f1c2d3e
    id:
      description: The credential's id at the registry.
      type: int
      sample: 42
    action:
      description:
        - C(created), C(rotated) (new secret, same credential), C(kept) (reused, or still used by a Secret outside
          the selection), or C(deleted) (minted for this Secret and cluster, no longer used). In check mode, what
          would happen.
      type: str
      sample: kept
    msg:
      description: Why a credential that is no longer used by the selection was kept.
      type: str
      returned: sometimes
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
  sample: {"written": ["team-a"], "not_written": ["team-c"], "unknown": ["team-b"]}
failed_namespaces:
  description: Namespaces whose write failed, or that need O(force).
  returned: on failure
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

from ansible_collections.registrylink.k8s.plugins.module_utils._cluster_args import (
    BULK_ARGSPEC,
    CLUSTER_ARGSPEC,
    NAMESPACES_ARGSPEC,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import RETRY_ARGSPEC
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_secret import RegistrySecretRunner


def argument_spec():
    spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        registries=dict(type='list', elements='dict', default=[], options=dict(
            server=dict(type='str'),
            # raw, not str: Ansible would silently turn an unquoted YAML number such as 0123
            # into '83'; the runner refuses non-strings with "quote the value in YAML".
            username=dict(type='raw'),
            password=dict(type='raw', no_log=True),
            auth=dict(type='raw', no_log=True),
            email=dict(type='str'),
            provider=dict(type='str'),
            region=dict(type='str'),
            registry_id=dict(type='str'),
            aws_profile=dict(type='str'),
            role_arn=dict(type='str'),
            endpoint_url=dict(type='str'),
            tenant_id=dict(type='str'),
            client_id=dict(type='str'),
            client_secret=dict(type='str', no_log=True),
            authority_host=dict(type='str'),
            # a scope URL such as https://management.azure.com/.default, not a token
            token_scope=dict(type='str', no_log=False),
            ca_path=dict(type='path'),
            credentials_file=dict(type='path'),
            token_uri=dict(type='str', no_log=False),
            api_url=dict(type='str'),
            api_username=dict(type='str'),
            api_password=dict(type='str', no_log=True),
            api_token=dict(type='str', no_log=True),
            api_ca_path=dict(type='path'),
            project=dict(type='str'),
            projects=dict(type='list', elements='str'),
            group=dict(type='str'),
            token_username=dict(type='str', no_log=False),  # a user name, not a secret
            access_method=dict(type='str', choices=['repository_path', 'subdomain', 'port']),
            repository_key=dict(type='str', no_log=False),  # an Artifactory repository name, not a secret
            images=dict(type='list', elements='str'),
            credential_name=dict(type='str'),
            credential_lifetime=dict(type='str'),
            registry_resource_id=dict(type='str'),
            token_name=dict(type='str', no_log=False),
            arm_endpoint=dict(type='str'),
        )),
        refresh_before=dict(type='str'),
        docker_config=dict(type='raw', no_log=True),
        merge=dict(type='bool', default=False),
        type=dict(type='str', choices=['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg'],
                  default='kubernetes.io/dockerconfigjson'),
        labels=dict(type='dict', default={}),
        annotations=dict(type='dict', default={}),
        force=dict(type='bool', default=False),
        check_rights=dict(type='bool', default=False),
    )
    spec.update(CLUSTER_ARGSPEC)
    spec.update(RETRY_ARGSPEC)
    spec.update(NAMESPACES_ARGSPEC)
    spec.update(BULK_ARGSPEC)
    return spec


def main():
    run_module(RegistrySecretRunner, argument_spec(), requires=('kubernetes',))


if __name__ == '__main__':
    main()
