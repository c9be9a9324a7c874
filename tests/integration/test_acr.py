"""Provider ``acr`` of registry_secret end to end, against the local Azure STAND-IN
(tests/support/azure_standin.py: Entra client credentials, the ACR token service) in front of
the real distribution registry with token auth, and the real kubelet pulling with the Secret.

Everything is read back independently: the Secret with the kubernetes client (decoded), the
stand-in's request log, the registry with a plain HTTP client, and the kubelet's verdict through
``pull_canary``. Needs `make up CLUSTERS=1`; fails when it is down.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import secrets
import threading
import uuid

import pytest
import requests
import yaml
from kubernetes import client as k8s

from tests.support.ansible_run import run_module, run_playbook
from tests.support.azure_standin import (
    ABAC_MODE,
    ACR_AUDIENCE,
    LEGACY_MODE,
    NULL_USER,
    AzureStandIn,
    NodeTrust,
    start_acr,
)
from tests.support.images import push_busybox
from tests.support.localenv import make_ca

PROVIDERS = "registrylink.k8s/providers"
ACR_PULL_GUID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
REPO_READER_GUID = "b93aa761-3e63-49ed-ac28-beffa264f7ac"
ACR_PULL = "AcrPull"
REPO_READER = "Container Registry Repository Reader"
EXPIRES = "registrylink.k8s/expires-at"


@pytest.fixture(scope="module")
def acr(localenv, tmp_path_factory):
    """The stand-in (Entra + ACR token service), the real registry behind it with busybox pushed,
    a service principal with pull rights and one without, and the node trusting the registry."""
    tmp = tmp_path_factory.mktemp("acr")
    ca = make_ca(tmp / "ca", cn="registrylink ACR stand-in CA")
    ids = {"puller": str(uuid.uuid4()), "stranger": str(uuid.uuid4()), "pusher": str(uuid.uuid4()),
           "admin": str(uuid.uuid4()), "kubelet": str(uuid.uuid4())}
    pw = dict((k, secrets.token_urlsafe(24)) for k in ids)
    standin = AzureStandIn(tmp / "standin", ca, clients=dict((ids[k], pw[k]) for k in ids)).start()
    reg = start_acr(tmp / "registry", standin, ca)
    standin.acr_pull.add(standin.object_ids[ids["puller"]])
    standin.acr_push.add(standin.object_ids[ids["pusher"]])
    image, digest = push_busybox(reg.url, auth=(NULL_USER, standin.refresh_token(standin.object_ids[ids["pusher"]])),
                                 ca=ca.cert)
    node = localenv.clusters[0]["node"]
    with NodeTrust(node, reg.host, ca.cert):
        yield {"standin": standin, "registry": reg, "ca": ca.cert, "ids": ids, "pw": pw, "image": image,
               "digest": digest}
    reg.stop()
    standin.stop()


def entry(acr, who="puller", **extra):
    e = {"provider": "acr", "server": acr["registry"].host, "tenant_id": acr["standin"].tenant_id,
         "client_id": acr["ids"][who], "client_secret": acr["pw"][who],
         "authority_host": acr["standin"].authority, "endpoint_url": acr["standin"].url, "ca_path": acr["ca"]}
    e.update(extra)
    return e


def secret_task(localenv, acr, ns, check=False, diff=True, verbosity=0, extra_env=None, **extra):
    args = {"name": "acr-pull", "namespaces": [ns], "registries": [entry(acr, **extra)]}
    return run_module(localenv, "registrylink.k8s.registry_secret", args, check=check, diff=diff,
                      verbosity=verbosity, extra_env=extra_env)


def read_secret(core, ns, name="acr-pull"):
    try:
        return core.read_namespaced_secret(name, ns)
    except k8s.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def jwt_claims(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def registry_pull_ok(acr, username, password):
    """Pull the manifest with a plain client: GET /v2/ challenge -> GET realm with Basic -> manifest."""
    reg = acr["registry"]
    repo, tag = acr["image"].split("/", 1)[1].rsplit(":", 1)
    url = f"{reg.url}/v2/{repo}/manifests/{tag}"
    first = requests.get(url, verify=acr["ca"], timeout=10)
    assert first.status_code == 401 and "Bearer" in first.headers.get("WWW-Authenticate", "")
    tok = requests.get(acr["standin"].realm, params={"service": acr["standin"].service,
                                                     "scope": f"repository:{repo}:pull"},
                       auth=(username, password), verify=acr["ca"], timeout=10)
    assert tok.status_code == 200, tok.text
    got = requests.get(url, headers={"Authorization": "Bearer " + tok.json()["access_token"],
                                     "Accept": "application/vnd.oci.image.manifest.v1+json"},
                       verify=acr["ca"], timeout=10)
    return got.status_code == 200 and got.headers.get("Docker-Content-Digest") == acr["digest"]


def test_check_mode_real_rerun_and_a_real_pull_by_the_kubelet(localenv, acr, kube_client, unique_ns):
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("acr")
    standin = acr["standin"]
    before = len(standin.log("exchange"))

    # check mode: mints (read-only calls) but writes nothing
    run = secret_task(localenv, acr, ns, check=True)
    assert not run.failed, run.output[-3000:]
    assert run.changed and run.result["results"][0]["action"] == "created"
    assert read_secret(core, ns) is None

    # real run at -vvv --diff: the Secret, with the null GUID user and the refresh token as password
    run = secret_task(localenv, acr, ns, verbosity=3)
    assert not run.failed, run.output[-3000:]
    assert run.changed and run.result["results"][0]["action"] == "created"
    sec = read_secret(core, ns)
    cfg = json.loads(base64.b64decode(sec.data[".dockerconfigjson"]))
    host = acr["registry"].host
    assert list(cfg["auths"]) == [host]
    e = cfg["auths"][host]
    assert e["username"] == NULL_USER and "identitytoken" not in e
    assert base64.b64decode(e["auth"]).decode() == f"{NULL_USER}:{e['password']}"
    claims = jwt_claims(e["password"])
    assert claims["grant_type"] == "refresh_token" and claims["aud"] == standin.service
    assert claims["sub"] == standin.object_ids[acr["ids"]["puller"]]
    # expiry from the token's exp, recorded on the Secret and returned
    exp = datetime.datetime.fromtimestamp(claims["exp"], datetime.timezone.utc)
    record = json.loads(sec.metadata.annotations[PROVIDERS])
    assert record[0]["provider"] == "acr" and record[0]["server"] == host
    assert record[0]["expires_at"] == exp.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sec.metadata.annotations[EXPIRES] == record[0]["expires_at"]
    assert run.result["results"][0]["expires_at"] == record[0]["expires_at"]
    # the stand-in saw one Entra token (ARM audience by default) and one exchange with the registry service
    exchanges = standin.log("exchange")[before:]
    assert [x["ok"] for x in exchanges] == [True, True]  # check mode minted too
    assert exchanges[-1]["service"] == host and exchanges[-1]["tenant"] == standin.tenant_id
    assert exchanges[-1]["audience"] == "https://management.azure.com"
    # no secret in any output (-vvv --diff): client secret, refresh token, auth
    for value in (acr["pw"]["puller"], e["password"], e["auth"]):
        assert value not in run.output
    assert acr["pw"]["puller"] not in json.dumps(sec.metadata.annotations)

    # rerun: the token has > refresh_before (90m) left: unchanged, nothing minted
    n = len(standin.log("exchange"))
    run = secret_task(localenv, acr, ns)
    assert not run.failed and not run.changed, run.output[-3000:]
    assert len(standin.log("exchange")) == n
    assert read_secret(core, ns).metadata.resource_version == sec.metadata.resource_version

    # a real client pulls with what the Secret holds
    assert registry_pull_ok(acr, e["username"], e["password"])

    # the real kubelet pulls with it (pull_canary, default ServiceAccount with the Secret)
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "acr-pull"}]})
    canary = run_module(localenv, "registrylink.k8s.pull_canary",
                        {"namespace": ns, "image": [acr["image"]], "registry_ca_path": acr["ca"], "timeout": 90})
    assert not canary.failed, canary.output[-3000:]
    (item,) = canary.result["results"]
    assert item["verdict"] == "pulled" and item["pulled"] is True, json.dumps(item, indent=1)
    assert acr["digest"] in (item["image_id"] or "")
    assert e["password"] not in canary.output
    # containerd asked the ACR token service with the null GUID user and the refresh token
    tokens = [t for t in standin.log("token") if t.get("oid") == claims["sub"]]
    assert tokens and all(t["ok"] for t in tokens)
    assert {"get", "post"} <= {t["form"] for t in tokens}, tokens  # our client: GET + Basic; containerd: POST

    # absent removes it
    run = run_module(localenv, "registrylink.k8s.registry_secret",
                     {"name": "acr-pull", "namespaces": [ns], "state": "absent"})
    assert run.changed and read_secret(core, ns) is None


def test_an_identity_without_a_pull_role_gets_a_token_the_kubelet_cannot_pull_with(
        localenv, acr, kube_client, unique_ns):
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("acr-no")
    run = secret_task(localenv, acr, ns, who="stranger")
    assert not run.failed, run.output[-3000:]
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "acr-pull"}]})
    canary = run_module(localenv, "registrylink.k8s.pull_canary",
                        {"namespace": ns, "image": [acr["image"]], "registry_ca_path": acr["ca"], "timeout": 60})
    (item,) = canary.result["results"]
    assert item["pulled"] is False and item["verdict"] != "pulled", json.dumps(item, indent=1)


def test_wrong_client_secret_fails_before_any_write_without_echoing_it(localenv, acr, kube_client, unique_ns):
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("acr-bad")
    wrong = "wrong-" + secrets.token_urlsafe(16)
    run = secret_task(localenv, acr, ns, client_secret=wrong, verbosity=3)
    assert run.failed
    assert "Microsoft Entra token" in run.result["msg"] and "registries[0]" in run.result["msg"]
    assert run.result.get("category") == "azure_credentials" and run.result.get("hint")
    assert wrong not in run.output
    assert read_secret(core, ns) is None


def test_registry_refusing_arm_audience_needs_the_acr_scope(localenv, acr, kube_client, unique_ns):
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("acr-aud")
    standin = acr["standin"]
    standin.arm_audience_allowed = False
    try:
        run = secret_task(localenv, acr, ns)
        assert run.failed and "HTTP 401" in run.result["msg"], run.result
        assert "containerregistry.azure.net" in run.result["hint"]
        assert read_secret(core, ns) is None
        run = secret_task(localenv, acr, ns, token_scope=ACR_AUDIENCE + "/.default")
        assert not run.failed and run.changed, run.output[-3000:]
        assert standin.log("exchange")[-1]["audience"] == ACR_AUDIENCE
    finally:
        standin.arm_audience_allowed = True


def test_credentials_from_the_environment_through_the_default_chain(localenv, acr, kube_client, unique_ns):
    """No credential options: azure-identity's DefaultAzureCredential finds AZURE_* (EnvironmentCredential)."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("acr-env")
    standin = acr["standin"]
    args = {"name": "acr-pull", "namespaces": [ns], "registries": [{
        "provider": "acr", "server": acr["registry"].host, "endpoint_url": standin.url, "ca_path": acr["ca"]}]}
    env = {"AZURE_TENANT_ID": standin.tenant_id, "AZURE_CLIENT_ID": acr["ids"]["puller"],
           "AZURE_CLIENT_SECRET": acr["pw"]["puller"], "AZURE_AUTHORITY_HOST": standin.authority}
    run = run_module(localenv, "registrylink.k8s.registry_secret", args, extra_env=env, verbosity=3)
    assert not run.failed, run.output[-3000:]
    e = json.loads(base64.b64decode(read_secret(core, ns).data[".dockerconfigjson"]))["auths"][acr["registry"].host]
    assert jwt_claims(e["password"])["sub"] == standin.object_ids[acr["ids"]["puller"]]
    assert registry_pull_ok(acr, e["username"], e["password"])
    assert e["password"] not in run.output


# --------------------------------------------------------------------------- acr_attach (attach mode)

@pytest.fixture
def arm(acr):
    """A fresh AKS cluster in the stand-in whose kubelet identity is the 'kubelet' principal, the
    registry back in legacy mode, no role assignments; restored afterwards."""
    standin = acr["standin"]
    kubelet_oid = standin.object_ids[acr["ids"]["kubelet"]]
    cluster = standin.add_cluster(f"aks-{secrets.token_hex(3)}", kubelet_object_id=kubelet_oid)
    standin.registries[standin.registry_id.lower()]["properties"]["roleAssignmentMode"] = LEGACY_MODE
    standin.assignments.clear()
    standin.propagation_seconds = 0
    yield {"cluster": cluster, "kubelet_oid": kubelet_oid, "registry_id": standin.registry_id}
    standin.assignments.clear()
    standin.propagation_seconds = 0
    standin.registries[standin.registry_id.lower()]["properties"]["roleAssignmentMode"] = LEGACY_MODE


def attach(localenv, acr, arm, check=False, verbosity=0, **extra):
    standin = acr["standin"]
    args = {"registry_id": arm["registry_id"], "cluster_id": arm["cluster"], "tenant_id": standin.tenant_id,
            "client_id": acr["ids"]["admin"], "client_secret": acr["pw"]["admin"], "authority_host": standin.authority,
            "arm_endpoint": standin.url, "ca_path": acr["ca"], "wait_timeout": "60s"}
    args.update(extra)
    args = dict((k, v) for k, v in args.items() if v is not None)
    return run_module(localenv, "registrylink.k8s.acr_attach", args, check=check, diff=True, verbosity=verbosity)


def kubelet_can_pull(acr):
    """What the kubelet identity's pull would get: its Entra token -> /oauth2/exchange -> a manifest pull
    from the real registry with the refresh token (the ACR credential provider of an AKS node does the same)."""
    standin = acr["standin"]
    entra = standin.entra_token(acr["ids"]["kubelet"], "https://management.azure.com")
    resp = requests.post(standin.url + "/oauth2/exchange", data={
        "grant_type": "access_token", "service": standin.service, "tenant": standin.tenant_id,
        "access_token": entra}, verify=acr["ca"], timeout=10)
    assert resp.status_code == 200, resp.text
    reg = acr["registry"]
    repo, tag = acr["image"].split("/", 1)[1].rsplit(":", 1)
    tok = requests.get(standin.realm, params={"service": standin.service, "scope": f"repository:{repo}:pull"},
                       auth=(NULL_USER, resp.json()["refresh_token"]), verify=acr["ca"], timeout=10).json()
    got = requests.get(f"{reg.url}/v2/{repo}/manifests/{tag}", verify=acr["ca"], timeout=10,
                       headers={"Authorization": "Bearer " + tok["access_token"],
                                "Accept": "application/vnd.oci.image.manifest.v1+json"})
    return got.status_code == 200


def test_attach_check_real_rerun_absent_with_a_propagation_window(localenv, acr, arm):
    standin = acr["standin"]
    standin.propagation_seconds = 5
    assert not kubelet_can_pull(acr)

    run = attach(localenv, acr, arm, check=True)
    assert not run.failed, run.output[-3000:]
    r = run.result
    assert r["changed"] and r["action"] == "create" and r["role"] == ACR_PULL
    assert r["principal_id"] == arm["kubelet_oid"] and r["principal_source"].startswith("kubelet identity of aks-")
    assert r["diff"]["before"]["assignment"] is None and r["diff"]["after"]["assignment"]["name"]
    assert standin.all_assignments() == []

    run = attach(localenv, acr, arm, verbosity=3)
    assert not run.failed, run.output[-3000:]
    r = run.result
    assert r["changed"] and r["action"] == "create" and r["managed"] and r["propagated"] is True
    assert 3 <= r["waited_seconds"] <= 40, r
    (made,) = standin.all_assignments()
    p = made["properties"]
    assert made["name"] == r["assignment"]["name"] == run.result["diff"]["after"]["assignment"]["name"]
    assert p["principalId"] == arm["kubelet_oid"] and p["principalType"] == "ServicePrincipal"
    assert p["roleDefinitionId"].endswith("/" + ACR_PULL_GUID) and p["scope"] == arm["registry_id"]
    assert acr["pw"]["admin"] not in run.output
    assert kubelet_can_pull(acr)

    # rerun: the same deterministic name is found; nothing written
    puts = len([x for x in standin.log("arm") if x["method"] == "PUT"])
    run = attach(localenv, acr, arm)
    assert not run.failed and not run.changed and run.result["action"] == "unchanged", run.result
    assert run.result["managed"] and run.result["assignment"]["name"] == made["name"]
    assert len([x for x in standin.log("arm") if x["method"] == "PUT"]) == puts

    # absent: check mode keeps it, then it goes; the rerun is a no-op
    run = attach(localenv, acr, arm, check=True, state="absent")
    assert run.changed and run.result["action"] == "delete" and len(standin.all_assignments()) == 1
    run = attach(localenv, acr, arm, state="absent")
    assert run.changed and run.result["action"] == "delete" and standin.all_assignments() == []
    run = attach(localenv, acr, arm, state="absent")
    assert not run.changed and run.result["action"] == "absent"
    assert not kubelet_can_pull(acr)


def test_attach_fails_with_a_hint_when_the_grant_never_propagates(localenv, acr, arm):
    standin = acr["standin"]
    standin.propagation_seconds = 3600
    run = attach(localenv, acr, arm, wait_timeout="6s")
    assert run.failed
    r = run.result
    assert r["code"] == "RoleAssignmentNotPropagated" and r["changed"] is True, r
    assert "still not visible after" in r["msg"] and "up to 10 minutes" in r["hint"] and "rerun" in r["hint"]
    assert len(standin.all_assignments()) == 1  # it was made, and stays


def test_attach_abac_registry_gets_the_repository_reader_role(localenv, acr, arm):
    standin = acr["standin"]
    standin.registries[standin.registry_id.lower()]["properties"]["roleAssignmentMode"] = ABAC_MODE
    # an AcrPull grant (what --attach-acr makes) is not honoured in ABAC mode
    run = attach(localenv, acr, arm, role="AcrPull")
    assert not run.failed and run.result["role"] == ACR_PULL
    assert "not honoured" in run.output and "ABAC" in run.output
    assert not kubelet_can_pull(acr)
    run = attach(localenv, acr, arm)
    assert not run.failed, run.output[-3000:]
    assert run.changed and run.result["role"] == REPO_READER and run.result["role_assignment_mode"] == ABAC_MODE
    assert {a["properties"]["roleDefinitionId"].rsplit("/", 1)[1] for a in standin.all_assignments()} == {
        ACR_PULL_GUID, REPO_READER_GUID}
    assert kubelet_can_pull(acr)


def test_attach_sends_principal_type_and_leaves_foreign_assignments_alone(localenv, acr, arm):
    standin = acr["standin"]
    oid = str(uuid.uuid4())
    standin.replicating.add(oid)  # a new identity: the stand-in refuses a PUT without principalType
    token = standin.entra_token(acr["ids"]["admin"], "https://management.azure.com")
    foreign = f"{arm['registry_id']}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    body = {"properties": {"roleDefinitionId": standin.role_definition_id(ACR_PULL_GUID), "principalId": oid}}
    raw = requests.put(standin.url + foreign, params={"api-version": "2022-04-01"}, json=body, verify=acr["ca"],
                       headers={"Authorization": "Bearer " + token}, timeout=10)
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "PrincipalNotFound"
    run = attach(localenv, acr, arm, cluster_id=None, principal_id=oid)
    assert not run.failed and run.changed, run.output[-3000:]
    assert run.result["principal_source"] == "principal_id"
    # an assignment made by someone else (random name, like the CLI's) for the kubelet identity
    body["properties"]["principalId"] = arm["kubelet_oid"]
    body["properties"]["principalType"] = "ServicePrincipal"
    raw = requests.put(standin.url + foreign, params={"api-version": "2022-04-01"}, json=body, verify=acr["ca"],
                       headers={"Authorization": "Bearer " + token}, timeout=10)
    assert raw.status_code == 201, raw.text
    run = attach(localenv, acr, arm)
    assert not run.failed and not run.changed and run.result["action"] == "unchanged", run.result
    assert run.result["managed"] is False and run.result["assignment"]["id"] == foreign
    run = attach(localenv, acr, arm, state="absent")
    assert not run.failed and not run.changed and run.result["action"] == "kept"
    assert foreign.lower() in {a["id"].lower() for a in standin.all_assignments()}


def test_attach_service_principal_cluster_names_principal_id(localenv, acr, arm):
    standin = acr["standin"]
    sp_cluster = standin.add_cluster(f"aks-sp-{secrets.token_hex(3)}", service_principal=str(uuid.uuid4()))
    run = attach(localenv, acr, arm, cluster_id=sp_cluster)
    assert run.failed and "principal_id" in run.result["msg"] and "az ad sp show" in run.result["msg"]
    assert standin.all_assignments() == []


# --------------------------------------------------------------------------- role aks_acr via setup.yml / rotate.yml

def verify_vars(acr, ns):
    """Inputs of playbooks/verify.yml for the namespace of the token-mode Secret (report only)."""
    return {"verify_namespaces": [ns], "verify_images": [acr["image"]], "verify_secret_name": "acr-pull",
            "verify_service_accounts": [], "verify_registry_ca_path": acr["ca"], "verify_fail_on_error": False}


def recap_changed(output):
    """host -> changed count from the PLAY RECAP."""
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", output, re.M))


def test_setup_and_rotate_playbooks_take_the_azure_path_per_cluster(
        localenv, acr, arm, kube_client, unique_ns, tmp_path):
    """Two inventory hosts: one in attach mode (the role assignment), one in token mode (ACR token
    Secret attached to the default ServiceAccount); setup, rerun, rotate, absent."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    standin = acr["standin"]
    ns = unique_ns("acr-role")
    common = {"aks_acr_tenant_id": standin.tenant_id, "aks_acr_client_id": acr["ids"]["admin"],
              "aks_acr_client_secret": acr["pw"]["admin"], "aks_acr_authority_host": standin.authority,
              "aks_acr_ca_path": acr["ca"]}
    standin.acr_pull.add(standin.object_ids[acr["ids"]["admin"]])
    hosts = {
        "aks-attach": dict(common, aks_acr_mode="attach", aks_acr_registry_id=arm["registry_id"],
                           aks_acr_cluster_id=arm["cluster"], aks_acr_arm_endpoint=standin.url,
                           aks_acr_wait_timeout="60s"),
        "acr-token": dict(common, aks_acr_mode="token", aks_acr_server=acr["registry"].host,
                          aks_acr_token_endpoint=standin.url, aks_acr_namespaces=[ns]),
    }
    inv = {"clusters": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "kube_context": "local-1", "registrylink_integration": "aks_acr"}}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(inv))
    outputs = []
    try:
        proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory), verbosity=3)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert recap_changed(proc.stdout)["aks-attach"] > 0 and recap_changed(proc.stdout)["acr-token"] > 0
        # attach: the assignment, read back from the stand-in
        (made,) = standin.all_assignments()
        assert made["properties"]["principalId"] == arm["kubelet_oid"]
        assert "role AcrPull (LegacyRegistryPermissions) for kubelet identity of" in proc.stdout
        assert f"assignment {made['name']} create" in proc.stdout
        # token: the Secret with the null GUID user, attached to the default ServiceAccount
        sec = core.read_namespaced_secret("acr-pull", ns)
        e = json.loads(base64.b64decode(sec.data[".dockerconfigjson"]))["auths"][acr["registry"].host]
        assert e["username"] == NULL_USER and registry_pull_ok(acr, e["username"], e["password"])
        sa = core.read_namespaced_service_account("default", ns)
        assert [r.name for r in sa.image_pull_secrets or []] == ["acr-pull"]
        assert "token expires " + sec.metadata.annotations[EXPIRES] in proc.stdout

        proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory))
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert recap_changed(proc.stdout) == {"aks-attach": 0, "acr-token": 0}, proc.stdout[-3000:]

        # verify reports each cluster's Azure path: the assignment found, the token expiry; nothing written
        writes, n = arm_writes(standin), len(standin.log("exchange"))
        proc = run_playbook(localenv, "playbooks/verify.yml", inventory=str(inventory), verbosity=3,
                            extra_vars=verify_vars(acr, ns))
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        text = " ".join(proc.stdout.split())
        # the Azure path is in the fleet line
        assert 'Azure path: 2 cluster(s), needing setup []' in text, proc.stdout[-4000:]
        assert (f"cluster aks-attach (aks_acr, mode attach): ok; role AcrPull for {arm['kubelet_oid']}: "
                f"assignment {made['name']} found") in text, proc.stdout[-4000:]
        assert ("cluster acr-token (aks_acr, mode token): ok; token expires "
                + sec.metadata.annotations[EXPIRES]) in text, proc.stdout[-4000:]
        assert arm_writes(standin) == writes and len(standin.log("exchange")) == n
        assert recap_changed(proc.stdout) == {"aks-attach": 0, "acr-token": 0}
        # and in fleet.json for a later workflow node (writing the report files is the run's only change)
        report = tmp_path / "report"
        proc = run_playbook(localenv, "playbooks/verify.yml", inventory=str(inventory),
                            extra_vars=dict(verify_vars(acr, ns), verify_report_dir=str(report)))
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        azure = json.loads((report / "fleet.json").read_text())["azure"]
        assert sorted(azure) == ["acr-token", "aks-attach"] and all(a["ok"] for a in azure.values()), azure
        assert azure["aks-attach"]["mode"] == "attach" and azure["aks-attach"]["assignment"]["name"] == made["name"]
        assert azure["acr-token"]["expires_at"] == sec.metadata.annotations[EXPIRES]
        assert arm_writes(standin) == writes and len(standin.log("exchange")) == n

        n = len(standin.log("exchange"))
        proc = run_playbook(localenv, "playbooks/rotate.yml", inventory=str(inventory))
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert "aks-attach: no provider-minted secrets configured" in proc.stdout
        # (the debug output escapes the JSON quotes)
        assert f'still valid (time left): {{\\"{ns}\\": \\"2h' in proc.stdout, proc.stdout[-3000:]
        assert "2 cluster(s), 1 with provider token secrets: 0 namespace(s) refreshed, 1 still valid" in proc.stdout
        assert len(standin.log("exchange")) == n
        # refresh_before longer than what is left: rotate re-mints
        proc = run_playbook(localenv, "playbooks/rotate.yml", inventory=str(inventory),
                            extra_vars={"aks_acr_refresh_before": "3h"})
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0 and "1 namespace(s) refreshed" in proc.stdout, proc.stdout[-3000:]
        assert len(standin.log("exchange")) == n + 1
    finally:
        proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory),
                            extra_vars={"aks_acr_state": "absent"})
        outputs.append(proc.stdout + proc.stderr)
        standin.acr_pull.discard(standin.object_ids[acr["ids"]["admin"]])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert standin.all_assignments() == []
    assert read_secret(core, ns) is None
    assert not core.read_namespaced_service_account("default", ns).image_pull_secrets
    for out in outputs:
        assert acr["pw"]["admin"] not in out


def test_verify_reports_a_failed_azure_check_as_needing_setup(localenv, acr, arm, kube_client, unique_ns, tmp_path):
    """An aks_acr host whose Azure check cannot run (Resource Manager unreachable) stays in the fleet report:
    "check failed" in its line, in the fleet summary's needing-setup list, in fleet.json and set_stats."""
    standin = acr["standin"]
    ns = unique_ns("acr-vfail")
    host = {"aks_acr_mode": "attach", "aks_acr_registry_id": arm["registry_id"], "aks_acr_cluster_id": arm["cluster"],
            "aks_acr_arm_endpoint": "https://127.0.0.1:9", "aks_acr_tenant_id": standin.tenant_id,
            "aks_acr_client_id": acr["ids"]["admin"], "aks_acr_client_secret": acr["pw"]["admin"],
            "aks_acr_authority_host": standin.authority, "aks_acr_ca_path": acr["ca"]}
    inv = {"clusters": {"hosts": {"aks-down": host}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "kube_context": "local-1", "registrylink_integration": "aks_acr"}}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(inv))
    report = tmp_path / "report"
    proc = run_playbook(localenv, "playbooks/verify.yml", inventory=str(inventory),
                        extra_vars=dict(verify_vars(acr, ns), verify_report_dir=str(report)))
    assert proc.returncode == 0, proc.stdout[-4000:]
    text = " ".join(proc.stdout.split())
    assert "cluster aks-down (aks_acr, mode attach): check failed:" in text, proc.stdout[-4000:]
    # (the debug output escapes the JSON quotes)
    assert 'Azure path: 1 cluster(s), needing setup [\\"aks-down\\"]' in text, proc.stdout[-4000:]
    azure = json.loads((report / "fleet.json").read_text())["azure"]
    assert azure["aks-down"]["ok"] is False and azure["aks-down"]["error"], azure
    assert acr["pw"]["admin"] not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- provider acr_token (scope-map token)

def test_acr_token_rotation_never_leaves_a_window(localenv, acr, kube_client, unique_ns):
    """A repository-scoped ACR token: check mode generates nothing; each rotation regenerates the slot the
    Secret does not use, so a client that reads the Secret before every pull never fails; the password of
    two rotations ago is dead; the real kubelet pulls with the rotated Secret."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    standin = acr["standin"]
    repo = acr["image"].split("/", 1)[1].rsplit(":", 1)[0]
    name = f"ci-{secrets.token_hex(3)}"
    standin.add_scope_map(f"{name}-map", [f"repositories/{repo}/content/read", f"repositories/{repo}/metadata/read"])
    standin.add_token(name, f"{name}-map")
    ns = unique_ns("acr-tok")
    args = {"name": "acr-token", "namespaces": [ns], "registries": [{
        "provider": "acr_token", "server": acr["registry"].host, "registry_resource_id": standin.registry_id,
        "token_name": name, "tenant_id": standin.tenant_id, "client_id": acr["ids"]["admin"],
        "client_secret": acr["pw"]["admin"], "authority_host": standin.authority, "arm_endpoint": standin.url,
        "ca_path": acr["ca"]}]}

    def generated():
        return [g["slots"] for g in standin.log("generate_credentials") if g["token"] == name]

    def secret_entry():
        sec = read_secret(core, ns, "acr-token")
        return json.loads(base64.b64decode(sec.data[".dockerconfigjson"]))["auths"][acr["registry"].host]

    run = run_module(localenv, "registrylink.k8s.registry_secret", args, check=True, diff=True)
    assert not run.failed and run.changed, run.output[-3000:]
    assert generated() == [] and read_secret(core, ns, "acr-token") is None

    run = run_module(localenv, "registrylink.k8s.registry_secret", args, diff=True, verbosity=3)
    assert not run.failed and run.changed, run.output[-3000:]
    first = secret_entry()
    assert first["username"] == name and registry_pull_ok(acr, name, first["password"])
    assert generated() == [["password1"]]
    assert first["password"] not in run.output and acr["pw"]["admin"] not in run.output
    run = run_module(localenv, "registrylink.k8s.registry_secret", args)
    assert not run.failed and not run.changed and len(generated()) == 1

    # rotations (refresh_before longer than the 30-day lifetime forces one per run) while a client pulls
    stop, results = threading.Event(), []

    def puller():
        while not stop.is_set():
            try:
                e = secret_entry()
                results.append(registry_pull_ok(acr, e["username"], e["password"]))
            except Exception as exc:  # noqa: BLE001 - any failure is a window
                results.append(repr(exc))

    thread = threading.Thread(target=puller, daemon=True)
    thread.start()
    passwords = [first["password"]]
    try:
        for _rotation in range(3):
            run = run_module(localenv, "registrylink.k8s.registry_secret", dict(args, refresh_before="31d"))
            assert not run.failed and run.changed, run.output[-3000:]
            passwords.append(secret_entry()["password"])
            # the previous password is still alive right after the switch
            assert registry_pull_ok(acr, name, passwords[-2])
    finally:
        stop.set()
        thread.join(30)
    assert len(set(passwords)) == 4
    assert generated() == [
        ["password1"], ["password2"], ["password1"], ["password2"]]
    assert len(results) >= 5 and all(r is True for r in results), results[:20]
    # the password of two rotations ago was regenerated away: dead
    reg = acr["registry"]
    tok = requests.get(standin.realm, params={"service": standin.service, "scope": f"repository:{repo}:pull"},
                       auth=(name, passwords[-3]), verify=acr["ca"], timeout=10)
    assert tok.status_code == 401

    # the real kubelet pulls with the rotated Secret
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "acr-token"}]})
    canary = run_module(localenv, "registrylink.k8s.pull_canary",
                        {"namespace": ns, "image": [acr["image"]], "registry_ca_path": acr["ca"], "timeout": 90})
    (item,) = canary.result["results"]
    assert item["verdict"] == "pulled", json.dumps(item, indent=1)
    assert passwords[-1] not in canary.output
    assert reg.host in item.get("image", acr["image"])


def test_role_token_mode_with_a_repository_token_through_setup_rotate_verify(
        localenv, acr, kube_client, unique_ns, tmp_path):
    """Role aks_acr, token mode with aks_acr_token_provider=acr_token through the playbooks: check mode
    generates nothing; setup writes the token's password (user = the token's name) and attaches it; the
    rerun changes nothing and generates nothing; rotate inside the 10-day window leaves it, a longer
    window regenerates the other slot while the old password still pulls; verify reports the expiry;
    absent removes the Secret and the entry. No password in any output at -vvv."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    standin = acr["standin"]
    repo = acr["image"].split("/", 1)[1].rsplit(":", 1)[0]
    name = f"ci-{secrets.token_hex(3)}"
    standin.add_scope_map(f"{name}-map", [f"repositories/{repo}/content/read", f"repositories/{repo}/metadata/read"])
    standin.add_token(name, f"{name}-map")
    ns = unique_ns("acr-role-tok")
    host = {"aks_acr_mode": "token", "aks_acr_token_provider": "acr_token", "aks_acr_token_name": name,
            "aks_acr_registry_id": standin.registry_id, "aks_acr_server": acr["registry"].host,
            "aks_acr_arm_endpoint": standin.url, "aks_acr_tenant_id": standin.tenant_id,
            "aks_acr_client_id": acr["ids"]["admin"], "aks_acr_client_secret": acr["pw"]["admin"],
            "aks_acr_authority_host": standin.authority, "aks_acr_ca_path": acr["ca"],
            "aks_acr_namespaces": [ns], "aks_acr_secret_name": "acr-repo-token"}
    inv = {"clusters": {"hosts": {"acr-scoped": host}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "kube_context": "local-1", "registrylink_integration": "aks_acr"}}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(inv))
    outputs, passwords = [], []

    def play(playbook, **kw):
        proc = run_playbook(localenv, playbook, inventory=str(inventory), **kw)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        return proc

    def generated():
        return [g["slots"] for g in standin.log("generate_credentials") if g["token"] == name]

    def entry():
        sec = read_secret(core, ns, "acr-repo-token")
        return json.loads(base64.b64decode(sec.data[".dockerconfigjson"]))["auths"][acr["registry"].host]

    try:
        proc = play("playbooks/setup.yml", check=True, diff=True, verbosity=3)
        assert recap_changed(proc.stdout)["acr-scoped"] > 0
        assert generated() == [] and read_secret(core, ns, "acr-repo-token") is None

        play("playbooks/setup.yml", verbosity=3)
        first = entry()
        passwords.append(first["password"])
        assert first["username"] == name and registry_pull_ok(acr, name, first["password"])
        assert generated() == [["password1"]]
        sa = core.read_namespaced_service_account("default", ns)
        assert [r.name for r in sa.image_pull_secrets or []] == ["acr-repo-token"]

        proc = play("playbooks/setup.yml")
        assert recap_changed(proc.stdout) == {"acr-scoped": 0}, proc.stdout[-3000:]
        assert len(generated()) == 1

        # the default window is the provider's 10 days: a 30-day password is still valid
        proc = play("playbooks/rotate.yml")
        assert "0 namespace(s) refreshed, 1 still valid" in proc.stdout, proc.stdout[-3000:]
        assert len(generated()) == 1
        proc = play("playbooks/rotate.yml", extra_vars={"aks_acr_refresh_before": "31d"})
        assert "1 namespace(s) refreshed" in proc.stdout, proc.stdout[-3000:]
        second = entry()
        passwords.append(second["password"])
        assert second["password"] != first["password"] and registry_pull_ok(acr, name, second["password"])
        assert registry_pull_ok(acr, name, first["password"])  # the other slot is still alive
        assert generated() == [["password1"], ["password2"]]

        verify = dict(verify_vars(acr, ns), verify_secret_name="acr-repo-token")
        proc = play("playbooks/verify.yml", verbosity=3, extra_vars=verify)
        sec = read_secret(core, ns, "acr-repo-token")
        assert ("cluster acr-scoped (aks_acr, mode token): ok; token expires " + sec.metadata.annotations[EXPIRES]
                in " ".join(proc.stdout.split())), proc.stdout[-4000:]
        assert len(generated()) == 2
    finally:
        proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory),
                            extra_vars={"aks_acr_state": "absent"})
        outputs.append(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert read_secret(core, ns, "acr-repo-token") is None
    assert not core.read_namespaced_service_account("default", ns).image_pull_secrets
    assert len(passwords) == 2
    for out in outputs:
        assert acr["pw"]["admin"] not in out and not any(p in out for p in passwords)


# --------------------------------------------------------------------------- workload identity (azure_workload_identity)

WI_AUDIENCE = "api://AzureADTokenExchange"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"


@pytest.fixture
def wi(localenv, acr, arm):
    """An AKS cluster in the stand-in whose OIDC issuer is the local API server's own issuer (so the stand-in's
    Entra verifies real ServiceAccount tokens with the API server's key), and the resource ID of a
    user-assigned identity that does not exist yet. Identities and credentials are removed afterwards."""
    standin = acr["standin"]
    c = localenv.clusters[0]
    issuer = f"https://127.0.0.1:{c['api_port']}"
    with open(c["sa_pub"], encoding="utf-8") as f:
        standin.trusted_issuers[issuer] = f.read()
    cluster = standin.add_cluster(f"aks-wi-{secrets.token_hex(3)}", kubelet_object_id=arm["kubelet_oid"],
                                  oidc_issuer=issuer)
    ident = (f"/subscriptions/{standin.subscription}/resourceGroups/{standin.resource_group}/providers/"
             f"Microsoft.ManagedIdentity/userAssignedIdentities/scanner-{secrets.token_hex(3)}")
    yield {"cluster": cluster, "issuer": issuer, "identity_id": ident, "registry_id": arm["registry_id"]}
    standin.identities.clear()
    standin.federated.clear()


def wi_task(localenv, acr, wi, ns, check=False, verbosity=0, **extra):
    standin = acr["standin"]
    args = {"identity_id": wi["identity_id"], "cluster_id": wi["cluster"], "namespace": ns,
            "service_account": "default", "registry_id": wi["registry_id"], "tenant_id": standin.tenant_id,
            "client_id": acr["ids"]["admin"], "client_secret": acr["pw"]["admin"],
            "authority_host": standin.authority, "arm_endpoint": standin.url, "ca_path": acr["ca"],
            "wait_timeout": "60s"}
    args.update(extra)
    args = dict((k, v) for k, v in args.items() if v is not None)
    return run_module(localenv, "registrylink.k8s.azure_workload_identity", args, check=check, diff=True,
                      verbosity=verbosity)


def sa_token(core, ns, name="default"):
    """A ServiceAccount token from the real API server for the audience the AKS webhook projects."""
    body = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[WI_AUDIENCE],
                                                                        expiration_seconds=600))
    return core.create_namespaced_service_account_token(name, ns, body).status.token


def workload_can_pull(acr, client_id, token):
    """What an in-cluster tool does with workload identity: azure-identity's ClientAssertionCredential presents
    the ServiceAccount token to Entra for the identity's client ID, then /oauth2/exchange and a manifest pull."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientAssertionCredential
    standin = acr["standin"]
    cred = ClientAssertionCredential(standin.tenant_id, client_id, lambda: token, authority=standin.authority,
                                     disable_instance_discovery=True, connection_verify=acr["ca"])
    try:
        entra = cred.get_token("https://management.azure.com/.default").token
    except ClientAuthenticationError:
        return False
    finally:
        cred.close()
    return entra_token_can_pull(acr, entra)


def entra_token_can_pull(acr, entra):
    standin = acr["standin"]
    resp = requests.post(standin.url + "/oauth2/exchange", data={
        "grant_type": "access_token", "service": standin.service, "tenant": standin.tenant_id,
        "access_token": entra}, verify=acr["ca"], timeout=10)
    assert resp.status_code == 200, resp.text
    reg = acr["registry"]
    repo, tag = acr["image"].split("/", 1)[1].rsplit(":", 1)
    tok = requests.get(standin.realm, params={"service": standin.service, "scope": f"repository:{repo}:pull"},
                       auth=(NULL_USER, resp.json()["refresh_token"]), verify=acr["ca"], timeout=10).json()
    got = requests.get(f"{reg.url}/v2/{repo}/manifests/{tag}", verify=acr["ca"], timeout=10,
                       headers={"Authorization": "Bearer " + tok["access_token"],
                                "Accept": "application/vnd.oci.image.manifest.v1+json"})
    return got.status_code == 200


def only(values):
    """The one element of ``values`` (fails when there are none or several)."""
    values = list(values)
    assert len(values) == 1, values
    return values[0]


def arm_writes(standin):
    return len([x for x in standin.log("arm") if x["method"] in ("PUT", "DELETE", "POST")])


def test_workload_identity_check_real_rerun_absent_and_a_tool_pulls_with_it(localenv, acr, wi, kube_client,
                                                                            unique_ns):
    core = k8s.CoreV1Api(kube_client("local-1"))
    standin = acr["standin"]
    ns = unique_ns("acr-wi")
    core.create_namespaced_service_account(ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="other")))

    # check mode: reads only; the credential and the role that would be made are shown
    writes = arm_writes(standin)
    run = wi_task(localenv, acr, wi, ns, check=True)
    assert not run.failed, run.output[-3000:]
    r = run.result
    assert r["changed"] and r["identity"]["action"] == "create" and r["federated_credential"]["action"] == "create"
    assert r["role_assignment"]["action"] == "create" and r["role_assignment"]["role"] == ACR_PULL
    assert r["diff"]["after"]["federated_credential"]["subject"] == f"system:serviceaccount:{ns}:default"
    assert arm_writes(standin) == writes and not standin.identities and not standin.federated
    assert standin.all_assignments() == []

    # real run at -vvv --diff: read everything back from the stand-in
    run = wi_task(localenv, acr, wi, ns, verbosity=3)
    assert not run.failed, run.output[-3000:]
    r = run.result
    ident = only(standin.identities.values())
    assert ident["id"] == wi["identity_id"] and ident["tags"] == {"managed-by": "registrylink.k8s"}
    assert ident["location"] == "westeurope"
    fic = only(standin.federated.values())
    assert fic["name"] == f"registrylink-{ns}-default"
    assert fic["properties"] == {"issuer": wi["issuer"], "subject": f"system:serviceaccount:{ns}:default",
                                 "audiences": [WI_AUDIENCE]}
    (made,) = standin.all_assignments()
    assert made["properties"]["principalId"] == ident["properties"]["principalId"]
    assert made["properties"]["principalType"] == "ServicePrincipal"
    assert made["properties"]["roleDefinitionId"].endswith("/" + ACR_PULL_GUID)
    client_id = ident["properties"]["clientId"]
    assert r["service_account_annotations"] == {CLIENT_ID_ANNOTATION: client_id, TENANT_ID_ANNOTATION: standin.tenant_id}
    assert r["identity"]["client_id"] == client_id and r["role_assignment"]["propagated"] is True
    assert acr["pw"]["admin"] not in run.output
    # the in-cluster tool's path: the real API server's ServiceAccount token -> Entra -> ACR -> a pull
    assert workload_can_pull(acr, client_id, sa_token(core, ns))
    # another ServiceAccount's token does not match the federated credential
    assert not workload_can_pull(acr, client_id, sa_token(core, ns, "other"))

    # rerun: nothing written
    writes = arm_writes(standin)
    run = wi_task(localenv, acr, wi, ns)
    assert not run.failed and not run.changed, run.result
    assert run.result["identity"]["action"] == "unchanged" and run.result["federated_credential"]["action"] == "unchanged"
    assert run.result["role_assignment"]["action"] == "unchanged"
    assert arm_writes(standin) == writes

    # the credential drifts (another issuer): the rerun puts it back, and only it
    standin.federated[fic["id"].lower()]["properties"]["issuer"] = "https://drifted.example/"
    run = wi_task(localenv, acr, wi, ns)
    assert run.changed and run.result["federated_credential"]["action"] == "update", run.result
    assert run.result["identity"]["action"] == "unchanged"
    assert standin.federated[fic["id"].lower()]["properties"]["issuer"] == wi["issuer"]

    # absent: check mode keeps everything; the real run removes the credential, the grant and the identity
    run = wi_task(localenv, acr, wi, ns, check=True, state="absent")
    assert run.changed and run.result["identity"]["action"] == "delete"
    assert len(standin.identities) == 1 and len(standin.federated) == 1 and len(standin.all_assignments()) == 1
    run = wi_task(localenv, acr, wi, ns, state="absent", verbosity=3)
    assert not run.failed and run.changed, run.output[-3000:]
    assert not standin.identities and not standin.federated and standin.all_assignments() == []
    assert acr["pw"]["admin"] not in run.output
    assert not workload_can_pull(acr, client_id, sa_token(core, ns))
    run = wi_task(localenv, acr, wi, ns, state="absent")
    assert not run.failed and not run.changed and run.result["identity"]["action"] == "absent"


@pytest.mark.parametrize("oidc, webhook, words", [
    (False, None, "has no OIDC issuer"),
    (True, False, "workload identity turned off"),
])
def test_workload_identity_needs_the_oidc_issuer_and_writes_nothing_without_it(
        localenv, acr, wi, unique_ns, oidc, webhook, words):
    standin = acr["standin"]
    cluster = standin.add_cluster(f"aks-nowi-{secrets.token_hex(3)}", kubelet_object_id=str(uuid.uuid4()),
                                  oidc_issuer=wi["issuer"] if oidc else None, workload_identity=webhook)
    writes = arm_writes(standin)
    run = wi_task(localenv, acr, wi, "tools", cluster_id=cluster, verbosity=3)
    assert run.failed and run.result["field"] == "cluster_id", run.result
    assert words in run.result["msg"] and "--enable-oidc-issuer --enable-workload-identity" in run.result["msg"]
    assert "Traceback" not in run.output and acr["pw"]["admin"] not in run.output
    assert arm_writes(standin) == writes and not standin.identities and standin.all_assignments() == []


def test_role_workload_identity_mode_through_setup_and_verify(localenv, acr, wi, kube_client, unique_ns, tmp_path):
    """setup.yml in workload_identity mode: check mode writes nothing; the real run makes the identity, the
    federated credential, the pull role and the ServiceAccount annotations; the rerun changes nothing; verify.yml
    reports it; absent removes it all. No client secret in any output at -vvv --diff."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    standin = acr["standin"]
    ns = unique_ns("acr-wirole")
    host = {"aks_acr_mode": "workload_identity", "aks_acr_registry_id": wi["registry_id"],
            "aks_acr_cluster_id": wi["cluster"], "aks_acr_identity_id": wi["identity_id"],
            "aks_acr_workload_namespace": ns, "aks_acr_workload_service_account": "default",
            "aks_acr_tenant_id": standin.tenant_id, "aks_acr_client_id": acr["ids"]["admin"],
            "aks_acr_client_secret": acr["pw"]["admin"], "aks_acr_authority_host": standin.authority,
            "aks_acr_arm_endpoint": standin.url, "aks_acr_ca_path": acr["ca"], "aks_acr_wait_timeout": "60s"}
    inv = {"clusters": {"hosts": {"aks-wi": host}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "kube_context": "local-1", "registrylink_integration": "aks_acr"}}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(inv))
    outputs = []

    def annotations():
        return core.read_namespaced_service_account("default", ns).metadata.annotations or {}

    try:
        proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory), check=True, diff=True,
                            verbosity=3)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert not standin.identities and not standin.federated and standin.all_assignments() == []
        assert CLIENT_ID_ANNOTATION not in annotations()

        proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory), diff=True, verbosity=3)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        ident = only(standin.identities.values())
        fic = only(standin.federated.values())
        (made,) = standin.all_assignments()
        client_id = ident["properties"]["clientId"]
        assert fic["properties"]["subject"] == f"system:serviceaccount:{ns}:default"
        assert made["properties"]["principalId"] == ident["properties"]["principalId"]
        got = annotations()
        assert got[CLIENT_ID_ANNOTATION] == client_id and got[TENANT_ID_ANNOTATION] == standin.tenant_id
        text = " ".join(proc.stdout.split())
        assert (f"identity {ident['name']} (client ID {client_id}) create, federated credential {fic['name']} create "
                f"for system:serviceaccount:{ns}:default from {wi['issuer']}; role AcrPull (LegacyRegistryPermissions): "
                f"assignment {made['name']} create") in text, proc.stdout[-4000:]
        assert workload_can_pull(acr, client_id, sa_token(core, ns))

        writes = arm_writes(standin)
        proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory))
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0 and recap_changed(proc.stdout) == {"aks-wi": 0}, proc.stdout[-4000:]
        assert arm_writes(standin) == writes

        proc = run_playbook(localenv, "playbooks/verify.yml", inventory=str(inventory), verbosity=3,
                            extra_vars=verify_vars(acr, ns))
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:]
        text = " ".join(proc.stdout.split())
        # the Azure path is in the fleet line
        assert 'Azure path: 1 cluster(s), needing setup []' in text, proc.stdout[-4000:]
        assert (f"cluster aks-wi (aks_acr, mode workload_identity): ok; role AcrPull for "
                f"{ident['properties']['principalId']}: assignment {made['name']} found, identity {ident['name']} "
                f"unchanged, federated credential {fic['name']} unchanged") in text, proc.stdout[-4000:]
        assert arm_writes(standin) == writes
    finally:
        proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory), diff=True, verbosity=3,
                            extra_vars={"aks_acr_state": "absent"})
        outputs.append(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert not standin.identities and not standin.federated and standin.all_assignments() == []
    assert CLIENT_ID_ANNOTATION not in annotations() and TENANT_ID_ANNOTATION not in annotations()
    for out in outputs:
        assert acr["pw"]["admin"] not in out
