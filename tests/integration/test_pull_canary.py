"""pull_canary against the real control plane, kube-scheduler and the real node (containerd + kubelet).

Every case runs the module through ``ansible-playbook`` as a user would, then reads the namespace
back with the kubernetes client: no canary Pod may be left, whatever the verdict. The private image
is the registry's busybox (``private_image``); pulling it needs the registry's credentials.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time

import pytest
from kubernetes import client as k

from tests.support.ansible_run import run_module, run_playbook

CANARY_SELECTOR = "app.kubernetes.io/managed-by=registrylink.k8s,registrylink.k8s/canary=true"


@pytest.fixture
def core(kube_client):
    return k.CoreV1Api(kube_client("local-1"))


def _dockerconfig(key, username, password):
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"auths": {key: {"username": username, "password": password, "auth": auth}}}


def _secret(core, ns, name, config):
    core.create_namespaced_secret(ns, k.V1Secret(
        metadata=k.V1ObjectMeta(name=name), type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}))


def _attach(core, ns, *names):
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": n} for n in names]})


def _canaries(core, ns):
    return core.list_namespaced_pod(ns, label_selector=CANARY_SELECTOR).items


def _canary(localenv, registry, ns, image, check=False, verbosity=0, **args):
    params = {"namespace": ns, "image": image, "registry_ca_path": registry.ca, "timeout": 60}
    params.update(args)
    return run_module(localenv, "registrylink.k8s.pull_canary", params, check=check, verbosity=verbosity)


def _node_name(core):
    nodes = core.list_node().items
    assert nodes, "the local environment has no node"
    return nodes[0].metadata.name


# A leftover of an "interrupted earlier run", created first so that it is old enough for the GC test
# at the end of this file without sleeping through the whole bound.
@pytest.fixture(scope="module")
def leftover(kube_client, localenv):
    core = k.CoreV1Api(kube_client("local-1"))
    ns = f"canary-gc-{secrets.token_hex(3)}"
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns, labels={"registrylink.test/canary": "1"})))
    deadline = time.monotonic() + 30
    while not core.list_namespaced_service_account(ns, field_selector="metadata.name=default").items:
        assert time.monotonic() < deadline, "no default ServiceAccount"
        time.sleep(0.2)
    labels = {"app.kubernetes.io/managed-by": "registrylink.k8s", "registrylink.k8s/canary": "true",
              "registrylink.k8s/canary-run": "interrupted"}
    # never schedulable, so it just sits there like a canary whose run was killed
    core.create_namespaced_pod(ns, k.V1Pod(
        metadata=k.V1ObjectMeta(name="registrylink-canary-old", labels=labels),
        spec=k.V1PodSpec(restart_policy="Never", node_selector={"registrylink.test/none": "x"},
                         containers=[k.V1Container(name="canary", image="busybox", command=["/dev/null"])])))
    yield ns, time.monotonic()
    core.delete_namespace(ns, propagation_policy="Background")


def test_pulled_with_the_right_secret(localenv, registry, private_image, core, unique_ns, leftover):
    # the canary Pod passes the strictest Pod Security level
    ns = unique_ns("cny", labels={"pod-security.kubernetes.io/enforce": "restricted"})
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    _attach(core, ns, "regcred")
    run = _canary(localenv, registry, ns, [private_image], verbosity=3)
    r = run.result
    assert not run.failed, run.output[-3000:]
    (item,) = r["results"]
    assert item["verdict"] == "pulled" and item["pulled"] is True, json.dumps(item, indent=1)
    assert item["pull_seconds"] is not None and item["pull_seconds"] > 0
    assert item["node"] == _node_name(core)
    assert item["category"] is None and item["diagnosis"] is None
    # the image never ran: the runtime refused the never-running command after the pull
    assert item["workload_started"] is False
    assert "/dev/null" in (item["container_start"] or ""), item
    assert "Successfully pulled image" in item["kubelet_message"]
    assert item["image_id"] and "sha256:" in item["image_id"]
    assert item["deleted"] is True
    assert r["ok"] is True and r["changed"] is False and r["summary"] == {"images": 1, "pulled": 1}
    assert _canaries(core, ns) == []
    assert registry.password not in run.output


FAILURES = [
    # (case, how the namespace is set up, expected category)
    ("wrong_password", "wrong", "unauthorized"),
    ("no_secret", "none", "no_pull_secret"),
    ("key_without_port", "noport", "key_port_mismatch"),
    ("key_for_another_path", "otherpath", "key_path_mismatch"),
    ("secret_does_not_exist", "missing", "pull_secret_missing"),
]


@pytest.mark.parametrize("case, setup, category", FAILURES, ids=[f[0] for f in FAILURES])
def test_each_failure_has_its_category(localenv, registry, private_image, core, unique_ns, case, setup, category):
    ns = unique_ns("cnf")
    host = registry.host
    args = {}
    if setup == "wrong":
        _secret(core, ns, "regcred", _dockerconfig(host, registry.username, "Wr0ng-" + registry.password))
        _attach(core, ns, "regcred")
    elif setup == "noport":
        _secret(core, ns, "regcred", _dockerconfig(host.rsplit(":", 1)[0], registry.username, registry.password))
        _attach(core, ns, "regcred")
    elif setup == "otherpath":
        _secret(core, ns, "regcred", _dockerconfig(host + "/other", registry.username, registry.password))
        _attach(core, ns, "regcred")
    elif setup == "missing":
        args["pull_secrets"] = ["regcred"]
    run = _canary(localenv, registry, ns, private_image, verbosity=3, **args)
    r = run.result
    assert not run.failed, run.output[-3000:]
    (item,) = r["results"]
    assert item["verdict"] == "pull_failed" and item["pulled"] is False, item
    # the kubelet says the same thing for all five; the category tells them apart
    assert "401 Unauthorized" in item["kubelet_message"], item["kubelet_message"]
    assert item["category"] == category, (item["category"], item["hint"], item["diagnosis"])
    assert item["hint"]
    assert item["diagnosis"]["pod_pull_secrets"] == ([] if setup == "none" else ["regcred"])
    if setup == "missing":
        assert "regcred" in item["hint"]
        assert any(e["reason"] == "FailedToRetrieveImagePullSecret" for e in item["events"])
    assert item["deleted"] is True
    assert r["ok"] is False and r["category"] == category and r["changed"] is False
    assert _canaries(core, ns) == []
    assert registry.password not in run.output


def test_two_secrets_first_wrong_pulls(localenv, registry, private_image, core, unique_ns):
    ns = unique_ns("cn2")
    _secret(core, ns, "wrong", _dockerconfig(registry.host, registry.username, "Wr0ng-" + registry.password))
    _secret(core, ns, "right", _dockerconfig(registry.host, registry.username, registry.password))
    run = _canary(localenv, registry, ns, private_image, pull_secrets=["wrong", "right"])
    (item,) = run.result["results"]
    assert item["verdict"] == "pulled" and item["pull_seconds"] > 0, item
    assert item["pull_secrets"] == ["wrong", "right"]
    assert _canaries(core, ns) == []


def test_unschedulable_with_the_schedulers_reason(localenv, registry, private_image, core, unique_ns):
    ns = unique_ns("cnu")
    run = _canary(localenv, registry, ns, private_image, node_selector={"registrylink.test/none": "x"})
    (item,) = run.result["results"]
    assert item["verdict"] == "unschedulable" and item["category"] == "unschedulable", item
    assert "didn't match Pod's node affinity/selector" in item["scheduler_message"]
    assert item["node"] is None
    assert _canaries(core, ns) == []


@pytest.fixture
def silent_registry():
    """A TCP server that accepts and never answers: a pull from it hangs in the container runtime."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield "127.0.0.1:%d" % srv.getsockname()[1]
    stop.set()
    t.join(2)
    for c in conns:
        c.close()
    srv.close()


def test_timeout_still_deletes_the_pod(localenv, registry, core, unique_ns, silent_registry):
    ns = unique_ns("cnt")
    started = time.monotonic()
    run = _canary(localenv, registry, ns, f"{silent_registry}/hangs/forever:1", timeout=8, diagnose=False)
    (item,) = run.result["results"]
    assert item["verdict"] == "timeout" and item["category"] == "timeout", item
    assert "no verdict within 8 s" in item["kubelet_message"]
    assert 8 <= item["elapsed_seconds"] < 30
    assert time.monotonic() - started < 60
    assert _canaries(core, ns) == []


def test_a_stopped_playbook_still_deletes_its_pod(localenv, registry, core, unique_ns, silent_registry, tmp_path):
    """ansible-playbook stopped with SIGTERM while the canary waits: the module's cleanup still runs
    (it used to die by the signal's default action and leave its Pod until the next run's GC)."""
    import signal
    import subprocess

    from tests.support.ansible_run import REPO_ROOT, _ansible_env

    ns = unique_ns("cnterm")
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"registrylink.k8s.pull_canary": {"namespace": ns, "image": f"{silent_registry}/hangs/term:1",
                                          "timeout": 300, "diagnose": False}}]}]))
    proc = subprocess.Popen([str(REPO_ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", str(play)],
                            env=_ansible_env(localenv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _canaries(core, ns):
            assert time.monotonic() < deadline and proc.poll() is None, "the canary Pod never appeared"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    deadline = time.monotonic() + 30
    while _canaries(core, ns) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _canaries(core, ns) == []


def test_check_mode_creates_nothing(localenv, registry, private_image, core, unique_ns):
    ns = unique_ns("cnc")
    run = _canary(localenv, registry, ns, [private_image, private_image + "-other"], check=True)
    r = run.result
    assert not run.failed, run.output[-3000:]
    assert [i["verdict"] for i in r["results"]] == ["would_run", "would_run"]
    manifest = r["results"][0]["manifest"]
    assert manifest["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert manifest["spec"]["containers"][0]["command"] == ["/dev/null"]
    assert r["changed"] is False
    assert core.list_namespaced_pod(ns).items == []
    assert [e for e in core.list_namespaced_event(ns).items if e.involved_object.kind == "Pod"] == []


def test_bad_input_fails_before_any_write(localenv, registry, private_image, core, unique_ns):
    ns = unique_ns("cnv")
    run = _canary(localenv, registry, ns, private_image, service_account="nobody")
    assert run.failed and "service_account" in run.result["msg"] and "nobody" in run.result["msg"]
    run = _canary(localenv, registry, ns, "reg.example.test/UPPER:1")
    assert run.failed and "image" in run.result["msg"]
    assert "Traceback" not in run.output
    assert core.list_namespaced_pod(ns).items == []


def test_leftovers_of_an_interrupted_run_are_collected(localenv, registry, private_image, core, leftover):
    ns, created_at = leftover
    gc_bound = 70  # the smallest allowed with timeout=10: timeout + 60
    time.sleep(max(0.0, created_at + gc_bound + 2 - time.monotonic()))
    labels = {"app.kubernetes.io/managed-by": "registrylink.k8s", "registrylink.k8s/canary": "true",
              "registrylink.k8s/canary-run": "in-progress-elsewhere"}
    core.create_namespaced_pod(ns, k.V1Pod(
        metadata=k.V1ObjectMeta(name="registrylink-canary-young", labels=labels),
        spec=k.V1PodSpec(restart_policy="Never", node_selector={"registrylink.test/none": "x"},
                         containers=[k.V1Container(name="canary", image="busybox", command=["/dev/null"])])))
    run = _canary(localenv, registry, ns, private_image, timeout=10, gc_older_than=str(gc_bound), check=True)
    assert [g["name"] for g in run.result["garbage_collected"]] == ["registrylink-canary-old"]
    assert run.result["changed"] is True
    assert len(_canaries(core, ns)) == 2  # check mode deleted nothing
    run = _canary(localenv, registry, ns, private_image, timeout=10, gc_older_than=str(gc_bound))
    assert run.result["changed"] is True
    assert [g["name"] for g in run.result["garbage_collected"]] == ["registrylink-canary-old"]
    assert [p.metadata.name for p in _canaries(core, ns)] == ["registrylink-canary-young"]
    run = _canary(localenv, registry, ns, private_image, timeout=10, gc_older_than=str(gc_bound))
    assert run.result["changed"] is False and run.result["garbage_collected"] == []


def test_verify_playbook_with_the_canary(localenv, registry, private_image, core, unique_ns, tmp_path):
    label = {"registrylink.test/verify-canary": secrets.token_hex(3)}
    ns = unique_ns("cvp", labels=label)
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, registry.password))
    _attach(core, ns, "regcred")
    extra = {
        "verify_images": [private_image],
        "verify_namespace_selector": ",".join(f"{k_}={v}" for k_, v in label.items()),
        "verify_registry_ca_path": registry.ca,
        "verify_report_dir": str(tmp_path / "report"),
        "verify_canary": True,
        "verify_canary_namespace": ns,
        "verify_canary_timeout": 60,
        "registrylink_verify_hosts": "local-1",
    }
    from tests.support.ansible_run import REPO_ROOT
    proc = run_playbook(localenv, "playbooks/verify.yml", extra_vars=extra,
                        inventory=str(REPO_ROOT / "inventories" / "local"), verbosity=3)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "IMAGE (canary Pod)" in out and "canary 1/1 pulled" in out
    report = json.loads((tmp_path / "report" / "local-1.json").read_text())
    assert report["ok"] is True
    assert report["canary"]["summary"] == {"images": 1, "pulled": 1}
    assert report["canary"]["results"][0]["pull_seconds"] > 0
    assert registry.password not in out
    assert _canaries(core, ns) == []
    # the same secret with a wrong password: the canary fails the cluster, with its category
    core.delete_namespaced_secret("regcred", ns)
    _secret(core, ns, "regcred", _dockerconfig(registry.host, registry.username, "Wr0ng-" + registry.password))
    proc = run_playbook(localenv, "playbooks/verify.yml", extra_vars=dict(extra, verify_images=[private_image]),
                        inventory=str(REPO_ROOT / "inventories" / "local"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-4000:]
    fleet = json.loads((tmp_path / "report" / "fleet.json").read_text())
    (cluster,) = fleet["clusters"]
    assert cluster["ok"] is False
    assert cluster["canary"]["results"][0]["verdict"] == "pull_failed"
    assert _canaries(core, ns) == []
