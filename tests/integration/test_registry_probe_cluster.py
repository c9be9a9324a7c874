"""registry_probe ``pull_secret`` and ``pod`` modes against the real local control plane and registry.

Most Pods here are about what the diagnosis reads from the spec, the Secrets and Events, so
they are held off the node with a scheduling gate and kubelet Events are written by the test
where a case needs them, shaped like the kubelet's. The verify-mode stuck Pod is real: the
kubelet fails to pull it and reports ErrImagePull / ImagePullBackOff itself.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from kubernetes import client as k

from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import probe_for_params as probe_task
from tests.support.images import push_image
from tests.support.node import NO_NODE_GATE


def _params(localenv, **kw):
    base = dict(registry=None, username=None, password=None, registry_validate_certs=True, registry_ca_path=None,
                timeout=5, allow_insecure_http=False, allow_cross_host_realm=False, image=None, repository=None,
                reference='latest', pull_secret=None, pod=None, fail_on_error=False,
                kubeconfig=localenv.kubeconfig, context='local-1', host=None, api_key=None, validate_certs=None,
                ca_cert=None, client_cert=None, client_key=None, proxy=None)
    base.update(kw)
    return base


def _dockerconfig(key, username, password):
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"auths": {key: {"username": username, "password": password, "auth": auth}}}


def _secret(core, ns, name, config, stype="kubernetes.io/dockerconfigjson", data_key=".dockerconfigjson"):
    body = k.V1Secret(metadata=k.V1ObjectMeta(name=name), type=stype,
                      data={data_key: base64.b64encode(json.dumps(config).encode()).decode()})
    core.create_namespaced_secret(ns, body)


def _pod(core, ns, name, image, pull_secrets=None, sa=None, on_node=False):
    spec = k.V1PodSpec(containers=[k.V1Container(name="app", image=image)],
                       image_pull_secrets=[k.V1LocalObjectReference(name=s) for s in pull_secrets or []] or None,
                       service_account_name=sa,
                       scheduling_gates=None if on_node else [k.V1PodSchedulingGate(name=NO_NODE_GATE)])
    core.create_namespaced_pod(ns, k.V1Pod(metadata=k.V1ObjectMeta(name=name), spec=spec))


def _wait_waiting(core, ns, name, reasons, timeout=90):
    """Wait until the kubelet reports one of ``reasons`` for the Pod's container."""
    import time
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        for st in core.read_namespaced_pod(name, ns).status.container_statuses or []:
            seen = st.state.waiting.reason if st.state and st.state.waiting else st.state
            if st.state and st.state.waiting and st.state.waiting.reason in reasons:
                return st.state.waiting
        time.sleep(0.5)
    raise AssertionError(f"pod {ns}/{name} not in {reasons} after {timeout}s (last: {seen})")


def _no_secret(result, *values):
    text = json.dumps(result)
    for v in values:
        assert v not in text


@pytest.fixture(scope="module")
def image(registry):
    repo = f"it/diag-{secrets.token_hex(3)}"
    digest = push_image(registry, repo, ["1.0"])
    return f"{registry.host}/{repo}:1.0", digest


@pytest.fixture
def core(kube_client):
    return k.CoreV1Api(kube_client("local-1"))


# ---- pull_secret mode --------------------------------------------------------------------------

def test_pull_secret_good(localenv, registry, image, core, unique_ns):
    ns = unique_ns("probe")
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    seen = []
    result = probe_task(_params(localenv, image=image[0], pull_secret={"namespace": ns, "name": "regcred"},
                                registry_ca_path=registry.ca), register_secret=seen.append)
    assert result["ok"] is True, result
    assert result["manifest"]["digest"] == image[1]
    assert result["credentials"]["source"] == "pull_secret"
    assert result["credentials"]["key"] == registry.host
    assert result["credentials"]["secret"] == f"{ns}/regcred"
    assert result["matched"]["key"] == registry.host
    assert registry.password in seen, "the password is registered for no_log masking"
    _no_secret(result, registry.password)


def test_pull_secret_wrong_password(localenv, registry, image, core, unique_ns):
    ns = unique_ns("probe")
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, "stale-password"))
    result = probe_task(_params(localenv, image=image[0], pull_secret={"namespace": ns, "name": "regcred"},
                                registry_ca_path=registry.ca))
    assert result["category"] == "unauthorized"
    _no_secret(result, "stale-password")


def test_pull_secret_port_mismatch(localenv, registry, image, core, unique_ns):
    ns = unique_ns("probe")
    host_only = registry.host.split(":")[0]
    _secret(core, ns, "regcred", _dockerconfig(host_only, registry.username, registry.password))
    result = probe_task(_params(localenv, image=image[0], pull_secret={"namespace": ns, "name": "regcred"},
                                registry_ca_path=registry.ca))
    assert result["category"] == "no_credentials_matched"
    assert [m["reason"] for m in result["near_misses"]] == ["port_mismatch"]
    assert "port" in result["hint"]
    _no_secret(result, registry.password)


# ---- pod mode -----------------------------------------------------------------------------------

def _diagnose(localenv, registry, ns, name):
    return probe_task(_params(localenv, pod={"namespace": ns, "name": name}, registry_ca_path=registry.ca))


def test_pod_good(localenv, registry, image, core, unique_ns):
    ns = unique_ns("diag")
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    _pod(core, ns, "web", image[0], ["regcred"])
    result = _diagnose(localenv, registry, ns, "web")
    assert result["ok"] is True, result
    c = result["containers"][0]
    assert c["matched"]["secret"] == "regcred" and c["matched"]["key"] == registry.host
    assert c["probe"]["manifest"]["digest"] == image[1]
    assert result["summary"] == {"ok": 1}
    _no_secret(result, registry.password)


def test_pod_missing_secret_found_in_other_namespace(localenv, registry, image, core, unique_ns):
    other = unique_ns("diag")
    ns = unique_ns("diag")
    _secret(core, other, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    _pod(core, ns, "web-0", image[0], ["regcred"])
    result = _diagnose(localenv, registry, ns, "web-0")
    c = result["containers"][0]
    assert c["category"] == "no_credentials_matched"
    assert c["pull_secrets"][0]["problem"] == "missing"
    assert other in c["pull_secrets"][0]["found_in"]
    assert f"found in: {other}" in c["hint"] or other in c["hint"]
    _no_secret(result, registry.password)


def test_pod_opaque_secret_is_wrong_type(localenv, registry, image, core, unique_ns):
    ns = unique_ns("diag")
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, registry.password), stype="Opaque")
    _pod(core, ns, "web", image[0], ["regcred"])
    result = _diagnose(localenv, registry, ns, "web")
    c = result["containers"][0]
    assert c["category"] == "no_credentials_matched"
    assert c["pull_secrets"][0]["problem"] == "wrong_secret_type"
    assert "Opaque" in c["hint"]
    _no_secret(result, registry.password)


def test_pod_key_with_port_mismatch(localenv, registry, image, core, unique_ns):
    ns = unique_ns("diag")
    key = registry.host.split(":")[0] + ":443"
    _secret(core, ns, "regcred", _dockerconfig(key, registry.username, registry.password))
    _pod(core, ns, "web", image[0], ["regcred"])
    result = _diagnose(localenv, registry, ns, "web")
    c = result["containers"][0]
    assert c["category"] == "no_credentials_matched"
    assert c["near_misses"][0]["reason"] == "port_mismatch"


def test_pod_docker_hub_image_with_registry_1_key(localenv, registry, core, unique_ns):
    # Docker Hub key aliases: credentials keyed registry-1.docker.io never apply to docker.io images
    ns = unique_ns("diag")
    _secret(core, ns, "hubcred", _dockerconfig("registry-1.docker.io", "hubuser", "hub-" + secrets.token_hex(4)))
    _pod(core, ns, "web", "team/app:1.0", ["hubcred"])
    result = probe_task(_params(localenv, pod={"namespace": ns, "name": "web"}, timeout=2))
    c = result["containers"][0]
    assert c["normalized"] == "docker.io/team/app"
    assert c["category"] == "no_credentials_matched"
    assert c["near_misses"][0]["reason"] == "docker_hub_alias"
    assert "registry-1.docker.io" in c["hint"]


def test_pod_created_before_service_account_was_patched(localenv, registry, image, core, unique_ns):
    ns = unique_ns("diag")
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    _pod(core, ns, "early", image[0])
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "regcred"}]})
    result = _diagnose(localenv, registry, ns, "early")
    assert result["service_account"]["admission_race"] is True
    c = result["containers"][0]
    assert c["category"] == "no_credentials_matched"
    assert "Recreate the Pod" in c["hint"]
    # a pod created after the patch gets the list from admission and pulls
    _pod(core, ns, "late", image[0])
    late = _diagnose(localenv, registry, ns, "late")
    assert late["pod_pull_secrets"] == ["regcred"] and late["ok"] is True, late


def test_pod_events_x509_on_the_node(localenv, registry, image, core, unique_ns):
    # x509 on the node: the controller trusts the CA (ca_path), the node does not: the kubelet's event says x509
    ns = unique_ns("diag")
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    _pod(core, ns, "web", image[0], ["regcred"])
    pod = core.read_namespaced_pod("web", ns)
    message = (f'Failed to pull image "{image[0]}": rpc error: code = Unknown desc = failed to pull and unpack '
               f'image "{image[0]}": failed to resolve reference: Head "https://{registry.host}/v2/": '
               'tls: failed to verify certificate: x509: certificate signed by unknown authority')
    core.create_namespaced_event(ns, k.CoreV1Event(
        metadata=k.V1ObjectMeta(generate_name="web."), type="Warning", reason="Failed", message=message,
        involved_object=k.V1ObjectReference(kind="Pod", name="web", namespace=ns, uid=pod.metadata.uid),
        source=k.V1EventSource(component="kubelet"), count=3))
    result = _diagnose(localenv, registry, ns, "web")
    c = result["containers"][0]
    assert c["probe"]["ok"] is True, "the registry and the credentials are fine from here"
    assert c["category"] == "tls_untrusted"
    assert "not the cause" in c["hint"]
    assert result["events"][0]["reason"] == "Failed"


# ---- verify mode --------------------------------------------------------------------------------

def test_verify_mode_over_a_namespace_selection(localenv, registry, image, core, unique_ns):
    label = {"registrylink.test/verify": secrets.token_hex(3)}
    good = unique_ns("vfy", labels=label)
    good2 = unique_ns("vfy", labels=label)
    missing = unique_ns("vfy", labels=label)
    opaque = unique_ns("vfy", labels=label)
    unwired = unique_ns("vfy", labels=label)
    creds = _dockerconfig(registry.host, registry.username, registry.password)
    for ns in (good, good2, unwired):
        _secret(core, ns, "regcred", creds)
    _secret(core, opaque, "regcred", creds, stype="Opaque")
    for ns in (good, good2, missing, opaque):
        core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "regcred"}]})
    # a real stuck pod: its pull secret does not exist, the kubelet pulls without credentials
    _pod(core, missing, "stuck", image[0], on_node=True)
    _wait_waiting(core, missing, "stuck", ("ErrImagePull", "ImagePullBackOff"))
    selector = ",".join(f"{k}={v}" for k, v in label.items())
    seen = []
    result = probe_task(_params(localenv, verify={"secret_name": "regcred", "images": [image[0]],
                                                  "service_accounts": ["default"], "diagnose_stuck_pods": True,
                                                  "max_pod_diagnoses": 5},
                                namespaces=None, namespace_selector=selector,
                                exclude_namespaces=["kube-system", "kube-public", "kube-node-lease"],
                                registry_ca_path=registry.ca), register_secret=seen.append)
    by_ns = {r["namespace"]: r for r in result["namespaces"]}
    assert set(by_ns) == {good, good2, missing, opaque, unwired}
    assert by_ns[good]["ok"] and by_ns[good2]["ok"]
    assert [p["code"] for p in by_ns[missing]["problems"]] == ["secret_missing"]
    assert [p["code"] for p in by_ns[opaque]["problems"]] == ["secret_wrong_type"]
    assert [p["code"] for p in by_ns[unwired]["problems"]] == ["service_account_not_wired"]
    # one live probe for the three namespaces that share the same credential
    assert len(result["probes"]) == 1 and result["probes"][0]["ok"]
    assert sorted(result["probes"][0]["namespaces"]) == sorted([good, good2, unwired])
    assert result["stuck_pods"][0]["name"] == "stuck"
    assert result["stuck_pods"][0]["category"] == "no_credentials_matched"
    assert result["summary"]["namespaces_broken"] == 3 and result["summary"]["stuck_pods"] == 1
    assert result["ok"] is False and result["table"][0].startswith("NAMESPACE")
    assert registry.password in seen
    _no_secret(result, registry.password)


# ---- the verify playbook ---------------------------------------------------------------------------

def test_verify_playbook_reports_and_fails_the_broken_cluster(localenv, registry, image, core, unique_ns, tmp_path):
    import subprocess
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    label = {"registrylink.test/verify-pb": secrets.token_hex(3)}
    ready = unique_ns("vpb", labels=label)
    broken = unique_ns("vpb", labels=label)
    _secret(core, ready, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    core.patch_namespaced_service_account("default", ready, {"imagePullSecrets": [{"name": "regcred"}]})
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        "verify_images": [image[0]],
        "verify_namespace_selector": ",".join(f"{k_}={v}" for k_, v in label.items()),
        "verify_registry_ca_path": registry.ca,
        "verify_report_dir": str(tmp_path / "report"),
    }))
    cmd = [str(root / ".venv" / "bin" / "ansible-playbook"), "-i", str(root / "inventories" / "local"),
           str(root / "playbooks" / "verify.yml"), "--limit", "local-1", "-e", "@" + str(extra)]
    proc = subprocess.run(cmd, env=localenv.subprocess_env(), capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Fleet summary" in out and "local-1=no_credentials_matched" in out
    assert registry.password not in out
    report = json.loads((tmp_path / "report" / "local-1.json").read_text())
    rows = {r["namespace"]: r for r in report["namespaces"]}
    assert rows[ready]["ok"] is True
    assert [p["code"] for p in rows[broken]["problems"]] == ["secret_missing", "service_account_not_wired"]
    fleet = json.loads((tmp_path / "report" / "fleet.json").read_text())
    assert fleet["ready"] == []
    assert registry.password not in (tmp_path / "report" / "local-1.json").read_text()
    # the broken namespace fixed: the next run passes
    _secret(core, broken, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    core.patch_namespaced_service_account("default", broken, {"imagePullSecrets": [{"name": "regcred"}]})
    proc = subprocess.run(cmd, env=localenv.subprocess_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


# ---- the real kubelet agrees with the oracle ------------------------------------------------------
# Two rules the kubelet oracle (tests/oracle) pinned down, checked once more on the local node's
# real kubelet, with the diagnosis run on the same Pod.

def _raw_secret(core, ns, name, payload):
    core.create_namespaced_secret(ns, k.V1Secret(metadata=k.V1ObjectMeta(name=name),
                                                 type="kubernetes.io/dockerconfigjson",
                                                 data={".dockerconfigjson": base64.b64encode(payload).decode()}))


def _pod_always(core, ns, name, image, pull_secrets):
    """A Pod on the node that pulls ``image`` every time (imagePullPolicy Always)."""
    core.create_namespaced_pod(ns, k.V1Pod(metadata=k.V1ObjectMeta(name=name), spec=k.V1PodSpec(
        image_pull_secrets=[k.V1LocalObjectReference(name=s) for s in pull_secrets],
        termination_grace_period_seconds=1,
        containers=[k.V1Container(name="app", image=image, image_pull_policy="Always")])))


def _wait_pod(core, ns, name, timeout=90):
    """Until the kubelet runs the container (returns None) or reports it waiting for a reason
    other than ContainerCreating (returns that waiting state)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for st in core.read_namespaced_pod(name, ns).status.container_statuses or []:
            if st.state and st.state.running:
                return None
            if st.state and st.state.waiting and st.state.waiting.reason not in (None, "ContainerCreating"):
                return st.state.waiting
        time.sleep(0.5)
    raise AssertionError(f"pod {ns}/{name}: no verdict from the kubelet after {timeout}s")


def test_real_kubelet_fails_the_pull_on_a_secret_it_cannot_decode_even_next_to_a_good_one(
        localenv, registry, private_image, core, unique_ns):
    """The API server accepts the Secret (it only checks that the payload is a JSON object), the
    kubelet's MakeDockerKeyring fails on the bad ``auth`` and the pull fails although ``regcred``
    holds working credentials; the diagnosis says exactly that."""
    ns = unique_ns("oracle")
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    _raw_secret(core, ns, "broken", b'{"auths":{"' + registry.host.encode() + b'":{"auth":"!!not-base64"}}}')
    _pod_always(core, ns, "web", private_image, ["regcred", "broken"])
    waiting = _wait_pod(core, ns, "web")
    assert waiting is not None, "the kubelet ran the container although a pull secret cannot be decoded"
    assert "base64" in f"{waiting.reason} {waiting.message}", waiting
    result = _diagnose(localenv, registry, ns, "web")
    c = result["containers"][0]
    assert result["ok"] is False and c["category"] == "no_credentials_matched", c
    assert "cannot decode pull secret broken" in c["hint"]
    assert [s["problem"] for s in c["pull_secrets"]] == [None, "unreadable"]
    _no_secret(result, registry.password)


def test_real_kubelet_merges_auths_given_twice(localenv, registry, private_image, core, unique_ns):
    """Go's decoder merges an ``auths`` object given twice (Python's json keeps only the last):
    the kubelet pulls with the credentials from the first one, and the diagnosis agrees."""
    ns = unique_ns("oracle")
    good = json.dumps(_dockerconfig(registry.host, registry.username, registry.password)["auths"]).encode()
    other = b'{"other.example.test":{"username":"o","password":"o"}}'
    _raw_secret(core, ns, "regcred", b'{"auths":' + good + b',"auths":' + other + b'}')
    _pod_always(core, ns, "web", private_image, ["regcred"])
    waiting = _wait_pod(core, ns, "web")
    assert waiting is None, f"the kubelet did not pull: {waiting}"
    result = _diagnose(localenv, registry, ns, "web")
    assert result["ok"] is True, result
    assert result["containers"][0]["matched"]["secret"] == "regcred"
    _no_secret(result, registry.password)
