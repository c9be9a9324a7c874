"""Node mode of role ``gke_artifact_registry`` proven by the real kubelet pulling with GKE's real
credential provider plugin.

On GKE the kubelet gets Artifact Registry credentials for the node pool's service account from the
kubelet image credential provider plugin ``auth-provider-gcp`` (built from its source by
hack/build-gcp-credential-provider.sh), which reads the account's access token from the GCE metadata
server. Here (Google cannot run here):

* the local node's real kubelet v1.33.13 is restarted with GKE's ``CredentialProviderConfig`` for
  ``auth-provider-gcp`` (matchImages ``*.pkg.dev``, ``gcr.io``, ...), and the plugin's ``HTTP_PROXY``
  points at the GCE metadata server stand-in (tests/support/gce_metadata_standin.py), which hands out
  access tokens of the node pool's service account issued by the OAuth2/IAM stand-in;
* the image is named like Artifact Registry, ``europe-west1-docker.pkg.dev/PROJECT/team/busybox:1.35``;
  the node's containerd reaches the real distribution registry (token auth) for that host through a
  ``hosts.toml`` whose ``server`` is the registry; its token realm is the Artifact Registry realm
  stand-in, which grants ``pull`` only by the IAM policies (``roles/artifactregistry.reader`` on the
  repository or project).

Before the grant the real Pod's pull is refused (the kubelet's own error); the role in node mode
(against the GKE/IAM stand-ins) grants the node pool's account and its pull canary pulls; after
``state: absent`` a fresh pull (the canary's imagePullPolicy is Always) is refused again. Needs
`make up` (one cluster is used); fails when it or the plugin binary is missing.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from tests.support.ansible_run import run_module, run_playbook
from tests.support.gce_metadata_standin import GceMetadataStandIn
from tests.support.gcp_standin import CLOUD_PLATFORM, ArtifactRegistryRealm, GoogleStandIn
from tests.support.images import push_busybox
from tests.support.kubelet_credential_provider import KubeletCredentialProviders
from tests.support.localenv import REPO_ROOT, LocalEnvError, make_ca, start_registry
from tests.support.node_hosts import NodeHostsToml, host_entry

LOCATION = "europe-west1"
AR_HOST = f"{LOCATION}-docker.pkg.dev"
NUMBER = "135792468013"
READER = "roles/artifactregistry.reader"
# GKE's own configuration of the plugin on its nodes
GKE_PROVIDER = {"name": "auth-provider-gcp", "defaultCacheDuration": "1m", "args": ["get-credentials", "--v=3"],
                "matchImages": ["container.cloud.google.com", "gcr.io", "*.gcr.io", "*.pkg.dev"]}


def plugin_binary() -> Path:
    """The auth-provider-gcp binary hack/bootstrap.sh built; a missing one fails the test loudly."""
    script = REPO_ROOT / "hack" / "build-gcp-credential-provider.sh"
    path = Path(subprocess.run([str(script), "--path"], capture_output=True, text=True, check=True).stdout.strip())
    if not path.is_file():
        raise LocalEnvError(f"auth-provider-gcp is not built ({path} is missing): run `make bootstrap` "
                            f"(or {script})")
    return path


class ArtifactRegistryHost(NodeHostsToml):
    """``certs.d/<LOCATION>-docker.pkg.dev/hosts.toml`` on the node: containerd sends that host's pulls
    to ``mirror`` (the stand-in registry, a ``[host]`` with pull and resolve), trusting ``ca``; removed
    on exit. containerd reads certs.d at every pull. (containerd 1.6 refuses a hosts.toml without a
    ``[host]`` table, "invalid `host` tree", and then ignores the file.)"""

    def __init__(self, node, name: str, mirror: str, ca: str):
        super().__init__(node, name, f'server = "https://{name}"\n\n' + host_entry(mirror, ca))


@pytest.fixture(scope="module")
def node_pull(localenv, tmp_path_factory):
    """Stand-ins (project, repository ``team`` with busybox, cluster ``prod`` whose one node pool runs as a
    dedicated service account, an IAM admin key for the role), the realm and registry, the metadata
    stand-in for that node pool's account, the node's containerd routing the Artifact Registry host to
    the registry, and the node's kubelet running auth-provider-gcp."""
    binary = plugin_binary()
    tmp = tmp_path_factory.mktemp("gke-node-pull")
    ca = make_ca(tmp, "gke-node-ca")
    project = "rl-node-" + secrets.token_hex(3)
    with GoogleStandIn(tmp / "google", ca) as google:
        google.add_project(project, NUMBER)
        repo = google.add_repository(project, LOCATION, "team")
        admin = google.add_service_account(f"iam-admin@{project}.iam.gserviceaccount.com", project)
        google.iam_admins.add("serviceAccount:" + admin.email)
        nodes = f"gke-pool@{project}.iam.gserviceaccount.com"
        google.add_cluster(project, LOCATION, {
            "name": "prod", "location": LOCATION, "status": "RUNNING",
            "nodePools": [{"name": "pool-a", "config": {"serviceAccount": nodes, "oauthScopes": [CLOUD_PLATFORM]}}]})
        google.grant(repo, "roles/artifactregistry.writer", "user:pusher@example.com")
        with ArtifactRegistryRealm(tmp / "realm", google, LOCATION, ca=ca, expires_in=300) as realm, \
                start_registry(tmp / "reg", auth="token", ca=ca, token_realm=realm.realm, token_service=realm.service,
                               token_issuer=realm.issuer, token_rootcertbundle=realm.rootcertbundle) as reg:
            _ref, digest = push_busybox(reg.url, repo=f"{project}/team/busybox",
                                        auth=("oauth2accesstoken", google.issue_token("user:pusher@example.com")),
                                        ca=ca.cert)
            with GceMetadataStandIn(google, nodes, project, NUMBER) as metadata, \
                    ArtifactRegistryHost(localenv.clusters[0]["node"], AR_HOST, reg.host, ca.cert), \
                    ArtifactRegistryHost(localenv.clusters[0]["node"], "gcr.io", reg.host, ca.cert), \
                    KubeletCredentialProviders(localenv, "local-1", [dict(GKE_PROVIDER, env={"HTTP_PROXY": metadata.url})],
                                               binary.parent, tmp) as kubelet:
                yield {"google": google, "realm": realm, "reg": reg, "metadata": metadata, "kubelet": kubelet,
                       "project": project, "repo": repo, "nodes": nodes, "ca": ca.cert, "digest": digest,
                       "image": f"{AR_HOST}/{project}/team/busybox:1.35",
                       "gcr_image": f"gcr.io/{project}/busybox:1.35",
                       "admin_key": admin.write(tmp / "admin.json"), "env": {"REQUESTS_CA_BUNDLE": ca.cert}}


def canary(localenv, node_pull, ns, images=None, outputs=None):
    run = run_module(localenv, "registrylink.k8s.pull_canary",
                     {"namespace": ns, "image": images or [node_pull["image"]], "timeout": 60, "diagnose": False},
                     extra_env=node_pull["env"], verbosity=3)
    if outputs is not None:
        outputs.append(run.output)
    items = run.result["results"]
    return items if images else items[0]


def members(node_pull, role):
    for b in node_pull["google"].policy(node_pull["repo"])["bindings"]:
        if b["role"] == role and not b.get("condition"):
            return sorted(b["members"])
    return []


def setup(localenv, node_pull, tmp_path, ns, **kw):
    url = node_pull["google"].url
    host = {"gke_artifact_registry_mode": "node", "gke_artifact_registry_project": node_pull["project"],
            "gke_artifact_registry_location": LOCATION, "gke_artifact_registry_cluster": "prod",
            "gke_artifact_registry_credentials_file": node_pull["admin_key"],
            "gke_artifact_registry_repository": "team", "gke_artifact_registry_repository_location": LOCATION,
            "gke_artifact_registry_resource_manager_endpoint": url,
            "gke_artifact_registry_artifact_registry_endpoint": url, "gke_artifact_registry_iam_endpoint": url,
            "gke_artifact_registry_container_endpoint": url,
            "gke_artifact_registry_canary_image": node_pull["image"], "gke_artifact_registry_canary_namespace": ns,
            "gke_artifact_registry_canary_timeout": 60}
    inv = {"clusters": {"hosts": {"gke-node": host}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "kube_context": "local-1",
        "registrylink_integration": "gke_artifact_registry"}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(path), extra_env=node_pull["env"], **kw)
    return proc, proc.stdout + proc.stderr


AUTH_REFUSED = re.compile(r"401 Unauthorized|authorization failed|insufficient_scope|pull access denied", re.I)


def test_kubelet_pulls_with_the_node_pool_account_only_while_granted(localenv, node_pull, unique_ns, tmp_path):
    """Before the grant the kubelet's pull (credentials from auth-provider-gcp for the node pool's account) is
    refused; node mode grants the reader role and its canary pulls; absent takes it away and a fresh pull is
    refused again. No token appears in the -vvv output."""
    ns = unique_ns("gke-node-pull")
    google, metadata, realm = node_pull["google"], node_pull["metadata"], node_pull["realm"]
    principal = "serviceAccount:" + node_pull["nodes"]
    seeded = google.policy(node_pull["repo"])
    outputs = []

    # 1. before the grant: the plugin ran (the metadata stand-in handed out the account's token), containerd sent
    # it to the realm through the host the hosts.toml names, and the realm granted nothing: the kubelet refuses
    md_before, realm_before = len(metadata.requests), len(realm.requests)
    item, gcr = canary(localenv, node_pull, ns, [node_pull["image"], node_pull["gcr_image"]], outputs)
    assert item["verdict"] == "pull_failed", json.dumps(item, indent=1)
    assert AUTH_REFUSED.search(item["kubelet_message"]), item["kubelet_message"]
    assert node_pull["image"] in item["kubelet_message"]
    token_paths = [r["path"] for r in metadata.requests[md_before:] if r["status"] == 200]
    assert "/computeMetadata/v1/instance/service-accounts/default/token" in token_paths
    asked = realm.requests[realm_before:]
    assert any(r.get("user") == principal for r in asked), asked   # the plugin's credentials reached the realm
    assert all(not r["refused"] and realm._grant(principal, r["scope"]) == [] for r in asked
               if r.get("user") == principal), asked   # authenticated as the account, and no pull for it
    # a gcr.io image (the plugin matches gcr.io too) is refused as well, and its hint explains the shutdown
    assert gcr["verdict"] == "pull_failed" and AUTH_REFUSED.search(gcr["kubelet_message"]), json.dumps(gcr, indent=1)
    assert "gcr.io is a Container Registry host, and Container Registry is shut down" in gcr["hint"], gcr["hint"]
    assert "roles/artifactregistry.reader" in gcr["hint"]
    assert "Container Registry" not in (item["hint"] or "")

    # 2. node mode: the reader role for the node pool's account, then the canary pulls (the role fails otherwise)
    proc, out = setup(localenv, node_pull, tmp_path, ns, verbosity=3, diff=True)
    outputs.append(out)
    assert proc.returncode == 0, out[-4000:]
    assert members(node_pull, READER) == [principal]
    assert "Prove the pull from the cluster" in out
    m = re.search(r'"verdict": "(\w+)"', out[out.index("Prove the pull from the cluster"):])
    assert m and m.group(1) == "pulled", out[-4000:]
    assert node_pull["digest"] in out   # the image ID the kubelet reported

    # 3. absent: the grant goes, the rest of the policy is as it was, and a fresh pull is refused again
    proc, out = setup(localenv, node_pull, tmp_path, ns, extra_vars={"gke_artifact_registry_state": "absent"},
                      verbosity=3)
    outputs.append(out)
    assert proc.returncode == 0, out[-4000:]
    assert google.policy(node_pull["repo"])["bindings"] == seeded["bindings"]
    item = canary(localenv, node_pull, ns, outputs=outputs)
    assert item["verdict"] == "pull_failed", json.dumps(item, indent=1)
    assert AUTH_REFUSED.search(item["kubelet_message"]), item["kubelet_message"]

    # no access token of the node pool's account, of the realm or of the role's admin in any output
    secrets_seen = metadata.tokens_issued() + list(google.tokens)
    assert metadata.tokens_issued() and len(outputs) == 4
    for out in outputs:
        for value in secrets_seen:
            assert value not in out, "an access token is in the -vvv output"


def test_metadata_stand_in_answers_as_the_documented_server(tmp_path):
    """The stand-in's shape, as auth-provider-gcp and Google's clients see it: Metadata-Flavor required and echoed,
    proxied requests (X-Forwarded-For) and other hosts refused, the account's e-mail, scopes and a cached token."""
    ca = make_ca(tmp_path, "md-ca")
    with GoogleStandIn(tmp_path / "google", ca) as google, \
            GceMetadataStandIn(google, "pool@p-12345.iam.gserviceaccount.com", "p-12345", NUMBER) as md:
        proxies = {"http": md.url}
        base = "http://metadata.google.internal./computeMetadata/v1/"
        flavor = {"Metadata-Flavor": "Google"}

        def get(path, headers=None, **kw):
            return requests.get(base + path, headers=flavor if headers is None else headers, proxies=proxies,
                                timeout=5, **kw)

        missing = get("instance/service-accounts/default/token", headers={})
        assert missing.status_code == 403 and "Missing Metadata-Flavor:Google header" in missing.text
        assert get("project/project-id", headers=dict(flavor, **{"X-Forwarded-For": "10.0.0.1"})).status_code == 403
        other = requests.get("http://example.test/", headers=flavor, proxies=proxies, timeout=5)
        assert other.status_code == 403
        assert get("instance/service-accounts/default/email").text == "pool@p-12345.iam.gserviceaccount.com"
        assert get("instance/service-accounts/default/scopes", params={"alt": "json"}).json() == [CLOUD_PLATFORM]
        assert get("project/numeric-project-id").text == NUMBER
        assert get("instance/attributes/google-dockercfg").status_code == 404
        first = get("instance/service-accounts/default/token")
        assert first.headers["Metadata-Flavor"] == "Google"
        token = first.json()
        assert token["token_type"] == "Bearer" and 3000 < token["expires_in"] <= 3599
        assert google.token_principal(token["access_token"]) == "serviceAccount:pool@p-12345.iam.gserviceaccount.com"
        again = get("instance/service-accounts/pool@p-12345.iam.gserviceaccount.com/token").json()
        assert again["access_token"] == token["access_token"]   # cached, as the real server does
        direct = requests.get(f"{md.url}/computeMetadata/v1/instance/hostname", headers=flavor, timeout=5)
        assert direct.status_code == 200 and direct.text == "gke-node-1"
