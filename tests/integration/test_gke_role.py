"""Role ``gke_artifact_registry`` through playbooks/setup.yml and playbooks/rotate.yml, against the
Google STAND-IN (tests/support/gcp_standin.py: OAuth2, IAM policies with etag semantics, GKE cluster
and node pool reads, Resource Manager project numbers, and an Artifact Registry token realm in front
of the real distribution registry with token auth).

Google cannot run here. What is read back independently of the role's output: the IAM policies in
the stand-in's store, Secrets and ServiceAccounts with the kubernetes client, and pulls through the
realm and the real registry with a plain HTTP client, with a token of the node pool's service
account. The real kubelet's own pull with a node pool's service account (GKE's credential provider
plugin auth-provider-gcp and a GCE metadata server stand-in) is test_gke_node_pull.py; here the
node's kubelet runs without it. Token mode is proven by the real kubelet (pull_canary).
Needs `make up CLUSTERS=1`; fails when it is down.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from pathlib import Path

import pytest
import requests
import yaml
from kubernetes import client as k8s

from tests.support.ansible_run import run_module, run_playbook
from tests.support.azure_standin import NodeTrust
from tests.support.gcp_standin import ArtifactRegistryRealm, GoogleStandIn
from tests.support.images import push_busybox
from tests.support.localenv import make_ca, start_registry

LOCATION = "europe-west1"
NUMBER = "246813579024"
READER = "roles/artifactregistry.reader"
WI_USER = "roles/iam.workloadIdentityUser"
ANNOTATION = "iam.gke.io/gcp-service-account"
EXPIRES = "registrylink.k8s/expires-at"


@pytest.fixture(scope="module")
def gke(localenv, tmp_path_factory):
    """The stand-in with a project, a repository ``team`` holding busybox, a GKE cluster ``prod`` (workload
    pool, a node pool on a dedicated service account and one on the Compute Engine default account), a
    cluster ``legacy`` without Workload Identity, an admin key the role uses, a Google service account for
    the classic Workload Identity form, the realm and registry, and the node trusting the registry."""
    tmp = tmp_path_factory.mktemp("gke")
    ca = make_ca(tmp, "gke-ca")
    project = "rl-gke-" + secrets.token_hex(3)
    with GoogleStandIn(tmp / "google", ca) as google:
        google.add_project(project, NUMBER)
        repo = google.add_repository(project, LOCATION, "team")
        admin = google.add_service_account(f"iam-admin@{project}.iam.gserviceaccount.com", project)
        google.iam_admins.add("serviceAccount:" + admin.email)
        nodes = f"gke-nodes@{project}.iam.gserviceaccount.com"
        gsa = google.add_service_account(f"ci-pusher@{project}.iam.gserviceaccount.com", project)
        puller = google.add_service_account(f"puller@{project}.iam.gserviceaccount.com", project)
        google.grant(f"projects/{project}", READER, "serviceAccount:" + puller.email)
        google.add_cluster(project, LOCATION, {
            "name": "prod", "location": LOCATION, "status": "RUNNING",
            "workloadIdentityConfig": {"workloadPool": f"{project}.svc.id.goog"},
            "nodePools": [
                {"name": "pool-nodes", "config": {"serviceAccount": nodes,
                                                  "workloadMetadataConfig": {"mode": "GKE_METADATA"}}},
                {"name": "default-pool", "config": {"serviceAccount": "default",
                                                    "workloadMetadataConfig": {"mode": "GKE_METADATA"}}},
            ]})
        google.add_cluster(project, LOCATION, {
            "name": "legacy", "location": LOCATION, "status": "RUNNING",
            "nodePools": [{"name": "pool-old", "config": {"serviceAccount": nodes,
                                                          "workloadMetadataConfig": {"mode": "GCE_METADATA"}}}]})
        google.grant(repo, "roles/artifactregistry.writer", "user:pusher@example.com")
        with ArtifactRegistryRealm(tmp / "realm", google, LOCATION, ca=ca, expires_in=300) as realm:
            with start_registry(tmp / "reg", auth="token", ca=ca, token_realm=realm.realm,
                                token_service=realm.service, token_issuer=realm.issuer,
                                token_rootcertbundle=realm.rootcertbundle) as reg:
                image, digest = push_busybox(reg.url, repo=f"{project}/team/busybox",
                                             auth=("oauth2accesstoken", google.issue_token("user:pusher@example.com")),
                                             ca=ca.cert)
                with NodeTrust(localenv.clusters[0]["node"], reg.host, ca.cert):
                    yield {"google": google, "realm": realm, "reg": reg, "project": project, "repo": repo,
                           "admin_key": admin.write(tmp / "admin.json"), "nodes": nodes,
                           "puller_key": puller.write(tmp / "puller.json"),
                           "default_sa": f"{NUMBER}-compute@developer.gserviceaccount.com", "gsa": gsa.email,
                           "image": image, "digest": digest, "ca": ca.cert, "env": {"REQUESTS_CA_BUNDLE": ca.cert}}


def can_pull(gke, principal):
    """Pull busybox's manifest through the realm with an access token of ``principal`` (what the kubelet of
    a GKE node does with its node pool's service account): challenge -> realm with Basic -> manifest."""
    token = gke["google"].issue_token(principal)
    repo = f"{gke['project']}/team/busybox"
    url = f"{gke['reg'].url}/v2/{repo}/manifests/1.35"
    first = requests.get(url, verify=gke["ca"], timeout=10)
    assert first.status_code == 401 and "Bearer" in first.headers.get("WWW-Authenticate", "")
    tok = requests.get(gke["realm"].realm, params={"service": gke["realm"].service, "scope": f"repository:{repo}:pull"},
                       auth=("oauth2accesstoken", token), verify=gke["ca"], timeout=10)
    assert tok.status_code == 200, tok.text
    got = requests.get(url, headers={"Authorization": "Bearer " + tok.json()["access_token"],
                                     "Accept": "application/vnd.oci.image.manifest.v1+json"},
                       verify=gke["ca"], timeout=10)
    return got.status_code == 200 and got.headers.get("Docker-Content-Digest") == gke["digest"]


def members(gke, resource, role):
    for b in gke["google"].policy(resource)["bindings"]:
        if b["role"] == role and not b.get("condition"):
            return sorted(b["members"])
    return []


def recap_changed(output):
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", output, re.M))


def common(gke):
    url = gke["google"].url
    return {"gke_artifact_registry_project": gke["project"], "gke_artifact_registry_location": LOCATION,
            "gke_artifact_registry_cluster": "prod", "gke_artifact_registry_credentials_file": gke["admin_key"],
            "gke_artifact_registry_resource_manager_endpoint": url,
            "gke_artifact_registry_artifact_registry_endpoint": url, "gke_artifact_registry_iam_endpoint": url,
            "gke_artifact_registry_container_endpoint": url}


def inventory(localenv, tmp_path, hosts):
    inv = {"clusters": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "kube_context": "local-1",
        "registrylink_integration": "gke_artifact_registry"}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    return str(path)


def setup(localenv, gke, inv, **kw):
    proc = run_playbook(localenv, "playbooks/setup.yml", inventory=inv, extra_env=gke["env"], **kw)
    return proc, proc.stdout + proc.stderr


def minted_since(gke, before):
    return set(gke["google"].tokens) - before


def test_node_and_token_modes_check_real_rerun_rotate_absent(localenv, gke, kube_client, unique_ns, tmp_path):
    """Two inventory hosts through setup.yml: node mode (reader on the repository for both node pool service
    accounts, the default-account warning) and token mode (a gar Secret attached to the default ServiceAccount,
    pulled by the real kubelet); check mode, real (-vvv --diff, no token or key in the output), rerun unchanged,
    rotate.yml (still valid, then refreshed), absent, absent again."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("gke-token")
    repo = gke["repo"]
    node_members = sorted(["serviceAccount:" + gke["nodes"], "serviceAccount:" + gke["default_sa"]])
    hosts = {
        "gke-node": dict(common(gke), gke_artifact_registry_mode="node", gke_artifact_registry_repository="team",
                         gke_artifact_registry_repository_location=LOCATION),
        "gar-token": dict(gke_artifact_registry_mode="token", gke_artifact_registry_server=gke["reg"].host,
                          gke_artifact_registry_credentials_file=gke["puller_key"],
                          gke_artifact_registry_namespaces=[ns]),
    }
    inv = inventory(localenv, tmp_path, hosts)
    seeded = gke["google"].policy(repo)
    assert not can_pull(gke, "serviceAccount:" + gke["nodes"])
    key_lines = [line for key in ("admin_key", "puller_key")
                 for line in json.loads(Path(gke[key]).read_text())["private_key"].splitlines()[1:3]]
    outputs = []
    try:
        # check mode: reads the cluster, plans the grants, writes nothing
        proc, out = setup(localenv, gke, inv, check=True, diff=True)
        outputs.append(out)
        assert proc.returncode == 0, out[-4000:]
        assert recap_changed(proc.stdout)["gke-node"] > 0 and recap_changed(proc.stdout)["gar-token"] > 0
        assert gke["google"].policy(repo) == seeded
        assert core.list_namespaced_secret(ns).items == [] or all(
            s.metadata.name != "gar-pull" for s in core.list_namespaced_secret(ns).items)

        # real, at -vvv --diff
        before = set(gke["google"].tokens)
        proc, out = setup(localenv, gke, inv, diff=True, verbosity=3)
        outputs.append(out)
        assert proc.returncode == 0, out[-4000:]
        assert members(gke, repo, READER) == node_members
        assert members(gke, repo, "roles/artifactregistry.writer") == ["user:pusher@example.com"]
        assert can_pull(gke, "serviceAccount:" + gke["nodes"]) and can_pull(gke, "serviceAccount:" + gke["default_sa"])
        assert "Compute Engine default service account " + gke["default_sa"] in out
        assert "node pools on the Compute Engine default account: default-pool" in out
        assert f"role {READER} on {repo}" in out
        sec = core.read_namespaced_secret("gar-pull", ns)
        entry = json.loads(base64.b64decode(sec.data[".dockerconfigjson"]))["auths"][gke["reg"].host]
        assert entry["username"] == "oauth2accesstoken"
        assert gke["google"].token_principal(entry["password"]) is not None
        assert [r.name for r in core.read_namespaced_service_account("default", ns).image_pull_secrets] == ["gar-pull"]
        assert "token expires " + sec.metadata.annotations[EXPIRES] in out
        minted = minted_since(gke, before)
        assert entry["password"] in minted
        for value in list(minted) + key_lines + [entry["auth"]]:
            assert value not in out, "a token or key line is in the -vvv --diff output"

        # the real kubelet pulls with the token-mode Secret
        canary = run_module(localenv, "registrylink.k8s.pull_canary",
                            {"namespace": ns, "image": [gke["image"]], "registry_ca_path": gke["ca"], "timeout": 90},
                            extra_env=gke["env"])
        (item,) = canary.result["results"]
        assert item["verdict"] == "pulled", json.dumps(item, indent=1)

        # rerun: nothing changes, no token minted for the Secret (the node host's modules mint their own to read)
        puller = "serviceAccount:" + json.loads(Path(gke["puller_key"]).read_text())["client_email"]

        def puller_tokens():
            return sum(1 for principal, _exp in list(gke["google"].tokens.values()) if principal == puller)

        tokens = puller_tokens()
        proc, out = setup(localenv, gke, inv)
        outputs.append(out)
        assert proc.returncode == 0, out[-4000:]
        assert recap_changed(proc.stdout) == {"gke-node": 0, "gar-token": 0}, out[-3000:]
        assert puller_tokens() == tokens

        # rotate: still valid, then (refresh_before longer than the hour) refreshed
        proc = run_playbook(localenv, "playbooks/rotate.yml", inventory=inv, extra_env=gke["env"])
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert "gke-node: no provider-minted secrets configured" in proc.stdout
        assert "2 cluster(s), 1 with provider token secrets: 0 namespace(s) refreshed, 1 still valid" in proc.stdout
        proc = run_playbook(localenv, "playbooks/rotate.yml", inventory=inv, extra_env=gke["env"],
                            extra_vars={"gke_artifact_registry_refresh_before": "2h"})
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0 and "1 namespace(s) refreshed" in proc.stdout, proc.stdout[-3000:]
        new = json.loads(base64.b64decode(core.read_namespaced_secret("gar-pull", ns).data[".dockerconfigjson"]))
        assert new["auths"][gke["reg"].host]["password"] != entry["password"]
    finally:
        proc, out = setup(localenv, gke, inv, extra_vars={"gke_artifact_registry_state": "absent"})
        outputs.append(out)
    assert proc.returncode == 0, out[-4000:]
    assert gke["google"].policy(repo)["bindings"] == seeded["bindings"]
    assert not can_pull(gke, "serviceAccount:" + gke["nodes"])
    assert all(s.metadata.name != "gar-pull" for s in core.list_namespaced_secret(ns).items)
    assert not core.read_namespaced_service_account("default", ns).image_pull_secrets
    proc, out = setup(localenv, gke, inv, extra_vars={"gke_artifact_registry_state": "absent"})
    assert proc.returncode == 0 and recap_changed(proc.stdout) == {"gke-node": 0, "gar-token": 0}, out[-3000:]
    for out in outputs:
        for line in key_lines:
            assert line not in out


def test_node_mode_explains_storage_object_viewer_and_grants_on_the_project(localenv, gke, tmp_path):
    """The old Container Registry recipe (roles/storage.objectViewer) gets the shutdown explanation and the
    Artifact Registry role to use; without a repository the grant is on the project."""
    project = f"projects/{gke['project']}"
    seeded = gke["google"].policy(project)
    hosts = {"gke-old": dict(common(gke), gke_artifact_registry_mode="node",
                             gke_artifact_registry_role="roles/storage.objectViewer")}
    inv = inventory(localenv, tmp_path, hosts)
    try:
        proc, out = setup(localenv, gke, inv)
        assert proc.returncode == 0, out[-4000:]
        assert "Container Registry is shut down" in out and "grant roles/artifactregistry.reader" in out
        assert members(gke, project, "roles/storage.objectViewer") == sorted(
            ["serviceAccount:" + gke["nodes"], "serviceAccount:" + gke["default_sa"]])
    finally:
        proc, out = setup(localenv, gke, inv, extra_vars={"gke_artifact_registry_state": "absent"})
    assert proc.returncode == 0, out[-4000:]
    assert gke["google"].policy(project)["bindings"] == seeded["bindings"]


def test_workload_identity_direct_and_classic_forms(localenv, gke, kube_client, unique_ns, tmp_path):
    """Direct form: the reader role for the ServiceAccount's own principal (project NUMBER in the path, from
    Resource Manager). Classic form: the role for a Google service account, roles/iam.workloadIdentityUser for
    the ServiceAccount on it, and the iam.gke.io/gcp-service-account annotation. Check, real, rerun, absent."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("gke-wi")
    repo, gsa = gke["repo"], gke["gsa"]
    gsa_resource = f"projects/{gke['project']}/serviceAccounts/{gsa}"
    principal = (f"principal://iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/"
                 f"{gke['project']}.svc.id.goog/subject/ns/{ns}/sa/builder")
    ksa_member = f"serviceAccount:{gke['project']}.svc.id.goog[{ns}/pusher]"
    wi = dict(common(gke), gke_artifact_registry_mode="workload_identity", gke_artifact_registry_repository="team",
              gke_artifact_registry_repository_location=LOCATION)
    hosts = {
        "wi-direct": dict(wi, gke_artifact_registry_workload_service_accounts=[{"namespace": ns, "name": "builder"}]),
        "wi-classic": dict(wi, gke_artifact_registry_google_service_account=gsa,
                           gke_artifact_registry_create_service_accounts=True,
                           gke_artifact_registry_workload_service_accounts=[{"namespace": ns, "name": "pusher"}]),
    }
    inv = inventory(localenv, tmp_path, hosts)
    seeded = {r: gke["google"].policy(r) for r in (repo, gsa_resource)}
    assert not can_pull(gke, principal) and not can_pull(gke, "serviceAccount:" + gsa)

    def pusher_annotations():
        try:
            return core.read_namespaced_service_account("pusher", ns).metadata.annotations or {}
        except k8s.exceptions.ApiException as exc:
            assert exc.status == 404
            return None

    try:
        proc, out = setup(localenv, gke, inv, check=True, diff=True)
        assert proc.returncode == 0, out[-4000:]
        assert recap_changed(proc.stdout)["wi-direct"] > 0 and recap_changed(proc.stdout)["wi-classic"] > 0
        assert {r: gke["google"].policy(r) for r in seeded} == seeded
        assert pusher_annotations() is None

        proc, out = setup(localenv, gke, inv, diff=True)
        assert proc.returncode == 0, out[-4000:]
        assert members(gke, repo, READER) == sorted([principal, "serviceAccount:" + gsa])
        assert members(gke, gsa_resource, WI_USER) == [ksa_member]
        assert pusher_annotations() == {ANNOTATION: gsa}
        # what the realm (standing in for Artifact Registry) grants a token of each identity
        assert can_pull(gke, principal) and can_pull(gke, "serviceAccount:" + gsa)

        proc, out = setup(localenv, gke, inv)
        assert proc.returncode == 0, out[-4000:]
        assert recap_changed(proc.stdout) == {"wi-direct": 0, "wi-classic": 0}, out[-3000:]
    finally:
        proc, out = setup(localenv, gke, inv, extra_vars={"gke_artifact_registry_state": "absent"})
    assert proc.returncode == 0, out[-4000:]
    assert {r: gke["google"].policy(r)["bindings"] for r in seeded} == {r: p["bindings"] for r, p in seeded.items()}
    assert ANNOTATION not in (pusher_annotations() or {})
    assert not can_pull(gke, principal)
    proc, out = setup(localenv, gke, inv, extra_vars={"gke_artifact_registry_state": "absent"})
    assert proc.returncode == 0 and recap_changed(proc.stdout) == {"wi-direct": 0, "wi-classic": 0}, out[-3000:]


def test_workload_identity_on_a_cluster_without_it_fails_naming_the_fix(localenv, gke, tmp_path):
    repo = gke["repo"]
    seeded = gke["google"].policy(repo)
    hosts = {"wi-legacy": dict(common(gke), gke_artifact_registry_mode="workload_identity",
                               gke_artifact_registry_cluster="legacy", gke_artifact_registry_repository="team",
                               gke_artifact_registry_repository_location=LOCATION,
                               gke_artifact_registry_workload_service_accounts=[{"namespace": "ci", "name": "bot"}])}
    proc, out = setup(localenv, gke, inventory(localenv, tmp_path, hosts))
    assert proc.returncode != 0
    assert "Workload Identity is not ready" in out and f"--workload-pool={gke['project']}.svc.id.goog" in out
    assert "node pool pool-old does not use the GKE metadata server" in out
    assert "Traceback" not in out
    assert gke["google"].policy(repo) == seeded


def test_node_mode_canary_reports_the_kubelets_refusal(localenv, gke, unique_ns, tmp_path):
    """The canary is the kubelet's own verdict, not a formality: here the node's kubelet runs without GKE's
    credential provider (test_gke_node_pull.py runs it), so after the grant its pull of the private image is refused and
    the role fails at the canary with the image named. The grant itself was made (it precedes the canary) and
    absent takes it away."""
    ns = unique_ns("gke-canary")
    repo = gke["repo"]
    seeded = gke["google"].policy(repo)
    hosts = {"gke-canary": dict(common(gke), gke_artifact_registry_mode="node", gke_artifact_registry_repository="team",
                                gke_artifact_registry_repository_location=LOCATION,
                                gke_artifact_registry_canary_image=gke["image"], gke_artifact_registry_canary_namespace=ns,
                                gke_artifact_registry_canary_timeout=60, gke_artifact_registry_registry_ca_path=gke["ca"])}
    inv = inventory(localenv, tmp_path, hosts)
    try:
        proc, out = setup(localenv, gke, inv)
        assert proc.returncode != 0, out[-4000:]
        assert "Prove the pull from the cluster" in out and "did not pull" in out, out[-4000:]
        assert gke["image"] in out
        granted = sorted(["serviceAccount:" + gke["nodes"], "serviceAccount:" + gke["default_sa"]])
        assert members(gke, repo, READER) == granted
    finally:
        proc, out = setup(localenv, gke, inv, extra_vars={"gke_artifact_registry_state": "absent"})
    assert proc.returncode == 0, out[-4000:]
    assert gke["google"].policy(repo)["bindings"] == seeded["bindings"]
