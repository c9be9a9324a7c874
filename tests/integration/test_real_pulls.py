"""Real pulls on the real node: the kubelet is the judge.

Each case is a real Pod on the local environment's node that pulls a private image (Debian's
static busybox, pushed to the shared registry, which answers anonymous requests with 401) with
``imagePullPolicy: Always``, so a copy already on the node never hides a credential failure. The
kubelet really runs it or really fails to pull it; then the collection's own views of the same
Pods must agree with what the kubelet did:

* ``registry_probe`` ``pod``: ``ok`` exactly for the Pods the kubelet runs, and the category of
  the cause the kubelet's message does not tell (it says ``401 Unauthorized`` for all of them);
* ``registry_probe`` ``verify`` and ``playbooks/verify.yml``: the stuck pods are exactly the Pods
  the kubelet holds in ``ImagePullBackOff``;
* ``sa_pull_secret``: a Deployment's Pod stuck because its ServiceAccount had no pull secret is
  reported, restarted, and its replacement really runs (also when the Pod is in phase Running
  because its container already ran); a bare Pod is reported only; a Pod that already lists the
  Secret is not stuck for it (the kubelet reads the fixed Secret at its next attempt);
* ``registry_gc``: the digest a running container runs (its status ``imageID``) survives its
  tag being pushed again to another digest.

Cases (one namespace each): good secret; wrong password; no secret; a key without the image's
port; a key scoped to another path; a Secret that does not exist (``FailedToRetrieveImagePullSecret``);
two secrets of which the first is wrong (the kubelet tries each: Running).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from kubernetes import client as k
from kubernetes.client.rest import ApiException

from tests.support.ansible_run import run_module as run_task
from tests.support.images import manifest_digest, list_tags
from tests.support.realpods import (
    BACKOFF, RUNNING, Verdict, busybox_deployment, busybox_pod, delete_pods, push_busybox_build, wait_gone,
    wait_verdict,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_hex(3)


def _probe_runner():
    """registry_probe's Python entry point: everything the module does for its params."""
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import probe_for_params
    return probe_for_params


def _probe_params(localenv, registry, **kw):
    base = dict(registry=None, username=None, password=None, registry_validate_certs=True,
                registry_ca_path=registry.ca, timeout=5, allow_insecure_http=False, allow_cross_host_realm=False,
                image=None, repository=None, reference="latest", pull_secret=None, pod=None, verify=None,
                fail_on_error=False, namespaces=None, namespace_selector=None, exclude_namespaces=[],
                kubeconfig=localenv.kubeconfig, context="local-1", host=None, api_key=None, validate_certs=None,
                ca_cert=None, client_cert=None, client_key=None, proxy=None)
    base.update(kw)
    return base


def _dockerconfig(entries: Dict[str, tuple]) -> Dict[str, Any]:
    auths = {}
    for key, (username, password) in entries.items():
        auths[key] = {"username": username, "password": password,
                      "auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    return {"auths": auths}


def _secret(core, ns, name, config):
    core.create_namespaced_secret(ns, k.V1Secret(
        metadata=k.V1ObjectMeta(name=name), type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}))


def _namespace(core, name, labels):
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(
        name=name, labels={"registrylink.test/session": TOKEN, **labels})))
    deadline = time.monotonic() + 30
    while True:  # Pods are refused until the ServiceAccount admission finds "default"
        try:
            core.read_namespaced_service_account("default", name)
            return name
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _delete_namespaces(core, names):
    for ns in names:
        delete_pods(core, ns)
        try:
            core.delete_namespace(ns, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise


def _no_secret(text_or_obj, *values):
    text = text_or_obj if isinstance(text_or_obj, str) else json.dumps(text_or_obj)
    for v in values:
        assert v not in text


@pytest.fixture(scope="module")
def core(kube_client):
    return k.CoreV1Api(kube_client("local-1"))


@pytest.fixture(scope="module")
def private_image(registry):
    """A private busybox image in its own repository: (reference, digest)."""
    repo = f"private/rp-{TOKEN}/busybox"
    digest = push_busybox_build(registry, repo, ["1.35"], "2024-01-01T00:00:00Z")
    return f"{registry.host}/{repo}:1.35", digest


# ---------------------------------------------------------------------------------------------
# the seven cases, run once on the node, then judged by every view
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    name: str
    secrets: Dict[str, Dict[str, tuple]]      # Secret name -> {key: (username, password)}
    pod_secrets: List[str]                   # the Pod's imagePullSecrets
    kubelet: str                             # what the kubelet must do: Running / ImagePullBackOff
    category: Optional[str]                  # registry_probe pod mode's category
    ns: str = ""
    verdict: Optional[Verdict] = None
    diagnosis: Optional[Dict[str, Any]] = None


def _cases(registry):
    host, port = registry.host.rsplit(":", 1)
    good = (registry.username, registry.password)
    wrong = (registry.username, "not-the-password-" + TOKEN)
    return [
        Case("good", {"regcred": {registry.host: good}}, ["regcred"], RUNNING, None),
        Case("wrong-password", {"regcred": {registry.host: wrong}}, ["regcred"], BACKOFF, "unauthorized"),
        Case("no-secret", {}, [], BACKOFF, "no_credentials_matched"),
        Case("key-without-port", {"regcred": {host: good}}, ["regcred"], BACKOFF, "no_credentials_matched"),
        Case("key-other-path", {"regcred": {f"{registry.host}/other-team": good}}, ["regcred"], BACKOFF,
             "no_credentials_matched"),
        Case("secret-missing", {}, ["regcred"], BACKOFF, "no_credentials_matched"),
        Case("first-wrong", {"a-wrong": {registry.host: wrong}, "b-good": {registry.host: good}},
             ["a-wrong", "b-good"], RUNNING, None),
    ]


@pytest.fixture(scope="module")
def pulls(localenv, registry, core, private_image):
    """Every case as a real Pod, created at once, each waited on until the kubelet's verdict."""
    label = {"registrylink.test/real-pulls": TOKEN}
    cases = _cases(registry)
    made = []
    try:
        for case in cases:
            case.ns = _namespace(core, f"rp-{TOKEN}-{case.name}", label)
            made.append(case.ns)
            for name, entries in case.secrets.items():
                _secret(core, case.ns, name, _dockerconfig(entries))
            core.create_namespaced_pod(case.ns, busybox_pod("app", private_image[0], case.pod_secrets))
        for case in cases:
            # wait for the expected state first, then for the other one if it is not reached
            try:
                case.verdict = wait_verdict(core, case.ns, "app", want=(case.kubelet,), timeout=60)
            except AssertionError:
                case.verdict = wait_verdict(core, case.ns, "app", timeout=30)
        yield {"cases": dict((c.name, c) for c in cases), "label": label, "image": private_image}
    finally:
        _delete_namespaces(core, made)


def test_the_kubelet_runs_or_refuses_each_case(pulls):
    """The judge itself: what the real kubelet did, as the reference describes it."""
    for case in pulls["cases"].values():
        v = case.verdict
        assert v.state == case.kubelet, (case.name, v)
        assert v.node, (case.name, "scheduled on the real node")
        if case.kubelet == RUNNING:
            assert "Pulled" in v.events and "Started" in v.events, (case.name, v.events)
            # the digest pulled; the repository is the first name the node holds for that image
            # (the same image pushed to another registry and pulled earlier, by another test or
            # workload, gives another name: containerd reports the name it stored first)
            assert v.image_id.endswith("@" + pulls["image"][1]), (case.name, v)
        else:
            # one message for every cause: the kubelet never says which one it was
            assert "401 Unauthorized" in v.message, (case.name, v.message)
            assert "ErrImagePull" in v.events or "Failed" in v.events, (case.name, v.events)
            assert "Started" not in v.events
    assert "FailedToRetrieveImagePullSecret" in pulls["cases"]["secret-missing"].verdict.events
    for name in ("wrong-password", "no-secret", "key-without-port", "key-other-path"):
        assert "FailedToRetrieveImagePullSecret" not in pulls["cases"][name].verdict.events


def test_pod_diagnosis_agrees_with_the_kubelet(localenv, registry, pulls):
    run = _probe_runner()
    for case in pulls["cases"].values():
        seen = []
        result = run(_probe_params(localenv, registry, pod={"namespace": case.ns, "name": "app"}),
                     register_secret=seen.append)
        c = result["containers"][0]
        assert result["ok"] is (case.verdict.state == RUNNING), (case.name, case.verdict, result["hint"])
        assert c["category"] == case.category, (case.name, c["category"], c["hint"])
        assert c["waiting_reason"] == (None if case.kubelet == RUNNING else BACKOFF), case.name
        _no_secret(result, registry.password)
        pulls["cases"][case.name].diagnosis = result
    cases = pulls["cases"]
    # what the kubelet's message cannot tell, the diagnosis does
    assert cases["wrong-password"].diagnosis["containers"][0]["matched"]["key"] == registry.host
    assert "no imagePullSecrets" in cases["no-secret"].diagnosis["containers"][0]["hint"]
    assert [m["reason"] for m in cases["key-without-port"].diagnosis["containers"][0]["near_misses"]] == [
        "port_mismatch"]
    other = cases["key-other-path"].diagnosis["containers"][0]
    assert [m["reason"] for m in other["near_misses"]] == ["scheme_or_path"] and "/other-team" in other["hint"]
    missing = cases["secret-missing"].diagnosis
    assert missing["containers"][0]["pull_secrets"][0]["problem"] == "missing"
    assert "FailedToRetrieveImagePullSecret" in [e["reason"] for e in missing["events"]]
    # two secrets: the first matching one is wrong, the kubelet went on to the second, and so did the probe
    both = cases["first-wrong"].diagnosis["containers"][0]
    assert both["matched"]["secret"] == "a-wrong"
    assert both["probe"]["ok"] is True and both["probe"]["credentials"]["secret"] == f"{cases['first-wrong'].ns}/b-good"


def test_verify_reports_exactly_the_pods_the_kubelet_holds(localenv, registry, pulls):
    run = _probe_runner()
    selector = ",".join(f"{a}={b}" for a, b in pulls["label"].items())
    result = run(_probe_params(localenv, registry, verify={
        "secret_name": "regcred", "images": [pulls["image"][0]], "service_accounts": [],
        "diagnose_stuck_pods": True, "max_pod_diagnoses": 20}, namespace_selector=selector))
    stuck = dict((s["namespace"], s) for s in result["stuck_pods"])
    backoff = dict((c.ns, c) for c in pulls["cases"].values() if c.verdict.state != RUNNING)
    assert sorted(stuck) == sorted(backoff)
    for ns, row in stuck.items():
        assert row["category"] == backoff[ns].category, (backoff[ns].name, row)
        assert row["containers"][0]["waiting_reason"] in ("ErrImagePull", BACKOFF)
    assert result["summary"]["stuck_pods"] == len(backoff) and result["ok"] is False
    assert any(line.startswith("STUCK POD") for line in result["table"])
    _no_secret(result, registry.password)


def test_verify_playbook_report_lists_the_stuck_pods(localenv, registry, pulls, tmp_path):
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        "verify_images": [pulls["image"][0]],
        "verify_namespace_selector": ",".join(f"{a}={b}" for a, b in pulls["label"].items()),
        "verify_registry_ca_path": registry.ca,
        "verify_report_dir": str(tmp_path / "report"),
    }))
    cmd = [str(REPO_ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(REPO_ROOT / "inventories" / "local"),
           str(REPO_ROOT / "playbooks" / "verify.yml"), "--limit", "local-1", "-e", "@" + str(extra)]
    proc = subprocess.run(cmd, env=localenv.subprocess_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    _no_secret(out, registry.password)
    report = json.loads((tmp_path / "report" / "local-1.json").read_text())
    backoff = sorted((c.ns, c.category) for c in pulls["cases"].values() if c.verdict.state != RUNNING)
    assert sorted((s["namespace"], s["category"]) for s in report["stuck_pods"]) == backoff
    for c in pulls["cases"].values():
        if c.verdict.state != RUNNING:
            assert f"{c.ns}/app" in out, f"the table names the stuck pod {c.ns}/app"


def test_sa_pull_secret_reports_the_pods_attaching_would_fix(localenv, registry, pulls):
    """Over the seven cases, attaching regcred (check mode) reports exactly the Pod the kubelet
    refuses and that lacks regcred; Pods that already list it (wrong password, wrong key, missing
    Secret) are fixed by fixing the Secret, not by recreating them."""
    cases = pulls["cases"]
    run = run_task(localenv, "registrylink.k8s.sa_pull_secret",
                   {"pull_secrets": ["regcred"], "namespaces": sorted(c.ns for c in cases.values()),
                    "restart_stuck_pods": True}, check=True)
    assert run.rc == 0, run.output
    assert [(p["namespace"], p["name"], p["action"]) for p in run.result["stuck_pods"]] == [
        (cases["no-secret"].ns, "app", "reported")]
    assert cases["no-secret"].verdict.state == BACKOFF
    assert "bare pod" in run.result["stuck_pods"][0]["restart_skipped"]
    missing = sorted(m["namespace"] for m in run.result["missing_pull_secrets"])
    assert missing == sorted(cases[n].ns for n in ("no-secret", "secret-missing", "first-wrong"))
    _no_secret(run.output, registry.password)


def test_registry_gc_protects_the_image_of_running_and_of_stuck_pods(localenv, registry, pulls):
    """Check mode over the seven cases' repository with a rule that selects every tag: nothing is
    planned. Running Pods protect the digest they run (imageID), Pods the kubelet refuses protect the
    digest their tag resolves to (they will pull it once their Secret is fixed)."""
    repo = pulls["image"][0].split("/", 1)[1].rsplit(":", 1)[0]
    run = run_task(localenv, "registrylink.k8s.registry_gc", _gc_args(localenv, registry, repo, tag_include=[".*"]),
                   check=True)
    assert not run.failed and not run.changed, run.result.get("msg")
    plan = run.result["plan"]["repositories"][0]
    assert plan["delete"] == []
    reason = [e["reason"] for e in plan["keep"] if e["digest"] == pulls["image"][1]][0]
    assert reason.startswith("protected: in use: local-1: Pod "), reason
    cases = pulls["cases"]
    # reasons are listed by source, at most five: first-wrong, good (running: spec and imageID), then
    # key-other-path (refused by the kubelet: its spec's tag). The imageID names whichever repository
    # the node stored that digest under first (maybe another registry's): it protects the digest here
    # all the same, because a resolved imageID also protects it in the spec image's repository.
    assert f"Pod {cases['good'].ns}/app container app (imageID) (" in reason, reason
    assert "@" + pulls["image"][1] + ")" in reason, reason
    assert f"Pod {cases['key-other-path'].ns}/app container app ({pulls['image'][0]})" in reason, reason
    assert run.result["summary"]["protected_in_use"] == 1


def test_verify_reports_a_running_pod_whose_restart_cannot_pull(localenv, registry, core, private_image, unique_ns):
    """A container that ran once and cannot be pulled again when it restarts (the password in its
    Secret changed): the kubelet keeps the Pod in phase Running, waiting in ImagePullBackOff. It is a
    stuck pod all the same, and the diagnosis names the wrong password."""
    ns = unique_ns("rprst")
    try:
        _secret(core, ns, "regcred", _dockerconfig({registry.host: (registry.username, registry.password)}))
        core.create_namespaced_pod(ns, busybox_pod("app", private_image[0], ["regcred"],
                                                   command=["sh", "-c", "sleep 4; exit 1"]))
        assert wait_verdict(core, ns, "app", want=(RUNNING,), timeout=60).state == RUNNING
        body = core.read_namespaced_secret("regcred", ns)
        body.data = {".dockerconfigjson": base64.b64encode(json.dumps(_dockerconfig(
            {registry.host: (registry.username, "rotated-away-" + TOKEN)})).encode()).decode()}
        core.replace_namespaced_secret("regcred", ns, body)
        # exit after 4 s, CrashLoopBackOff 10 s, then the pull for the restart fails
        v = wait_verdict(core, ns, "app", want=(BACKOFF,), timeout=90)
        assert "401 Unauthorized" in v.message
        pod = core.read_namespaced_pod("app", ns)
        assert pod.status.phase == "Running", "the kubelet counts the restarting container as stopped"
        assert pod.status.container_statuses[0].last_state.terminated is not None

        run = _probe_runner()
        result = run(_probe_params(localenv, registry, verify={
            "secret_name": "regcred", "images": [private_image[0]], "service_accounts": [],
            "diagnose_stuck_pods": True, "max_pod_diagnoses": 5}, namespaces=[ns]))
        assert [(s["name"], s["category"]) for s in result["stuck_pods"]] == [("app", "unauthorized")], result
        assert result["ok"] is False and result["summary"]["stuck_pods"] == 1
        _no_secret(result, registry.password)
    finally:
        delete_pods(core, ns)


# ---------------------------------------------------------------------------------------------
# sa_pull_secret: stuck pods of a real Deployment are restarted and then really run
# ---------------------------------------------------------------------------------------------

def _deployment_pods(core, ns, app):
    return [p for p in core.list_namespaced_pod(ns, label_selector=f"app={app}").items
            if not p.metadata.deletion_timestamp]


def _replacement_pod(core, ns, app, old, timeout=30.0):
    """The first Pod of Deployment ``app`` other than ``old`` (the ReplicaSet's replacement)."""
    deadline = time.monotonic() + timeout
    while True:
        fresh = [p for p in _deployment_pods(core, ns, app) if p.metadata.name != old]
        if fresh:
            return fresh[0]
        assert time.monotonic() < deadline, "no replacement Pod"
        time.sleep(0.5)


def test_sa_pull_secret_restarts_the_stuck_deployment_pod_and_the_kubelet_runs_the_new_one(
        localenv, registry, core, kube_client, private_image, unique_ns):
    ns = unique_ns("rpsa")
    apps = k.AppsV1Api(kube_client("local-1"))
    try:
        _secret(core, ns, "regcred", _dockerconfig({registry.host: (registry.username, registry.password)}))
        apps.create_namespaced_deployment(ns, busybox_deployment("web", private_image[0]))
        core.create_namespaced_pod(ns, busybox_pod("bare", private_image[0]))
        deadline = time.monotonic() + 30
        while not _deployment_pods(core, ns, "web"):
            assert time.monotonic() < deadline, "the Deployment created no Pod (deployment/replicaset controllers)"
            time.sleep(0.5)
        stuck_pod = _deployment_pods(core, ns, "web")[0].metadata.name
        for name in (stuck_pod, "bare"):
            v = wait_verdict(core, ns, name, want=(BACKOFF,), timeout=60)
            assert "401 Unauthorized" in v.message

        args = {"pull_secrets": ["regcred"], "namespaces": [ns], "restart_stuck_pods": True}
        check = run_task(localenv, "registrylink.k8s.sa_pull_secret", args, check=True)
        assert check.rc == 0 and check.changed, check.output
        assert [(p["name"], p["action"]) for p in check.result["stuck_pods"]] == sorted(
            [("bare", "reported"), (stuck_pod, "restarted")])
        assert core.read_namespaced_pod(stuck_pod, ns).metadata.deletion_timestamp is None, "check mode deletes nothing"

        run = run_task(localenv, "registrylink.k8s.sa_pull_secret", args)
        assert run.rc == 0 and run.changed, run.output
        stuck = dict((p["name"], p) for p in run.result["stuck_pods"])
        assert stuck[stuck_pod]["action"] == "restarted"
        assert stuck[stuck_pod]["controller"].startswith("ReplicaSet/web-")
        # the kubelet alternates between the two while it retries
        assert stuck[stuck_pod]["reasons"] in (["ErrImagePull"], [BACKOFF])
        assert stuck[stuck_pod]["missing_pull_secrets"] == ["regcred"]
        assert stuck["bare"]["action"] == "reported" and "bare pod" in stuck["bare"]["restart_skipped"]
        _no_secret(run.output, registry.password)

        # the ReplicaSet replaces the deleted Pod; admission gives it the secret; the kubelet runs it
        replacement = _replacement_pod(core, ns, "web", stuck_pod)
        new = replacement.metadata.name
        assert [s.name for s in replacement.spec.image_pull_secrets] == ["regcred"]
        v = wait_verdict(core, ns, new, want=(RUNNING,), timeout=60)
        assert v.state == RUNNING and "Pulled" in v.events
        # the bare Pod was only reported: the kubelet still refuses it
        assert wait_verdict(core, ns, "bare", want=("ErrImagePull", BACKOFF), timeout=30).state != RUNNING

        # rerun: nothing to attach, nothing to restart; the bare Pod is still reported
        again = run_task(localenv, "registrylink.k8s.sa_pull_secret", args)
        assert again.rc == 0 and not again.changed, again.output
        assert [p["name"] for p in again.result["stuck_pods"]] == ["bare"]
    finally:
        delete_pods(core, ns)


def _forget_image_on_node(localenv, repo):
    """Remove every name the node's containerd holds for images of ``repo`` (what image garbage
    collection, or a node replaced by a fresh one, does); running containers keep running."""
    node = localenv.raw["clusters"][0]["node"]
    ctr = ["ctr", "--address", node["containerd_socket"], "-n", "k8s.io", "images"]
    names = subprocess.run(ctr + ["ls", "-q"], capture_output=True, text=True, check=True, timeout=30).stdout.split()
    mine = [n for n in names if f"/{repo}:" in n or f"/{repo}@" in n]
    assert mine, f"the node holds no image of {repo}: {names}"
    subprocess.run(ctr + ["rm"] + mine, capture_output=True, text=True, check=True, timeout=30)


def test_sa_pull_secret_restarts_a_running_pod_whose_restart_cannot_pull(
        localenv, registry, core, kube_client, unique_ns):
    """A Deployment's Pod started without a pull secret (its image was already on the node,
    imagePullPolicy IfNotPresent); the node loses the image and the container restarts: the kubelet
    pulls anonymously, gets 401 and keeps the Pod in phase Running, waiting in ImagePullBackOff.
    sa_pull_secret attaches the secret and must restart that Pod too."""
    ns = unique_ns("rpsar")
    repo = f"private/rp-{TOKEN}/cached"
    image = f"{registry.host}/{repo}:1"
    push_busybox_build(registry, repo, ["1"], "2022-01-01T00:00:00Z")
    apps = k.AppsV1Api(kube_client("local-1"))
    try:
        _secret(core, ns, "regcred", _dockerconfig({registry.host: (registry.username, registry.password)}))
        core.create_namespaced_pod(ns, busybox_pod("seed", image, ["regcred"]))   # puts the image on the node
        assert wait_verdict(core, ns, "seed", want=(RUNNING,), timeout=60).state == RUNNING
        dep = busybox_deployment("web", image)
        container = dep.spec.template.spec.containers[0]
        container.image_pull_policy = "IfNotPresent"
        container.command = ["sh", "-c", "sleep 4; exit 1"]
        apps.create_namespaced_deployment(ns, dep)
        deadline = time.monotonic() + 30
        while not _deployment_pods(core, ns, "web"):
            assert time.monotonic() < deadline, "the Deployment created no Pod"
            time.sleep(0.5)
        web = _deployment_pods(core, ns, "web")[0].metadata.name
        v = wait_verdict(core, ns, web, want=(RUNNING,), timeout=60)
        assert "Pulled" in v.events and not core.read_namespaced_pod(web, ns).spec.image_pull_secrets
        core.delete_namespaced_pod("seed", ns, grace_period_seconds=0)
        wait_gone(core, ns, "seed")
        _forget_image_on_node(localenv, repo)
        v = wait_verdict(core, ns, web, want=(BACKOFF,), timeout=90)
        assert "401 Unauthorized" in v.message
        assert core.read_namespaced_pod(web, ns).status.phase == "Running"

        run = run_task(localenv, "registrylink.k8s.sa_pull_secret",
                       {"pull_secrets": ["regcred"], "namespaces": [ns], "restart_stuck_pods": True})
        assert run.rc == 0 and run.changed, run.output
        assert [(p["name"], p["action"]) for p in run.result["stuck_pods"]] == [(web, "restarted")], run.result
        replacement = _replacement_pod(core, ns, "web", web)
        assert [s.name for s in replacement.spec.image_pull_secrets] == ["regcred"]
        v = wait_verdict(core, ns, replacement.metadata.name, want=(RUNNING,), timeout=60)
        assert "Pulled" in v.events, "the replacement pulled the image with the secret"
    finally:
        delete_pods(core, ns)


def test_a_secret_fixed_in_place_needs_no_restart(localenv, registry, core, private_image, unique_ns):
    """A Pod that already references the Secret is not a stuck pod for sa_pull_secret: the kubelet
    reads the Secret again at its next attempt, so fixing the password is enough."""
    ns = unique_ns("rpfix")
    try:
        _secret(core, ns, "regcred", _dockerconfig({registry.host: (registry.username, "stale-" + TOKEN)}))
        core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "regcred"}]})
        core.create_namespaced_pod(ns, busybox_pod("app", private_image[0]))
        assert wait_verdict(core, ns, "app", want=(BACKOFF,), timeout=60).state == BACKOFF
        run = run_task(localenv, "registrylink.k8s.sa_pull_secret",
                       {"pull_secrets": ["regcred"], "namespaces": [ns], "restart_stuck_pods": True})
        assert run.rc == 0 and not run.changed and run.result["stuck_pods"] == [], run.output
        fixed = run_task(localenv, "registrylink.k8s.registry_secret", {
            "name": "regcred", "namespaces": [ns], "force": True, "registries": [
                {"server": registry.host, "username": registry.username, "password": registry.password}]})
        assert fixed.rc == 0 and fixed.changed, fixed.output
        # the next back-off attempt (10 s, then 20 s) pulls with the new password, same Pod
        uid = core.read_namespaced_pod("app", ns).metadata.uid
        v = wait_verdict(core, ns, "app", want=(RUNNING,), timeout=90)
        assert v.state == RUNNING and core.read_namespaced_pod("app", ns).metadata.uid == uid
    finally:
        delete_pods(core, ns)


# ---------------------------------------------------------------------------------------------
# registry_gc: in use means the digest the kubelet runs
# ---------------------------------------------------------------------------------------------

def _gc_args(localenv, registry, repo, **rules):
    args = {"registry": registry.host, "username": registry.username, "password": registry.password,
            "registry_ca_path": registry.ca, "repositories": [repo], "kubeconfig": localenv.kubeconfig,
            "context": "local-1"}
    args.update(rules)
    return args


def test_registry_gc_keeps_the_digest_a_running_container_runs_after_its_tag_moved(
        localenv, registry, core, unique_ns):
    """A Pod started from gc:run (then D1) keeps D1 after gc:run was pushed again (D2).

    The same image is also on the node under another repository (pulled first, and first in
    name order): containerd then reports the container's imageID under that other name, so the
    digest must be protected in the repository of the Pod's spec image, not only in the one the
    imageID names (observed on this node: the imageID said ``.../aa-same-image@D1``).
    """
    prefix = f"private/rp-{TOKEN}"
    repo = f"{prefix}/gc"
    auth = (registry.username, registry.password)
    d1 = push_busybox_build(registry, repo, ["run", "build-1"], "2023-01-01T00:00:00Z")
    assert push_busybox_build(registry, f"{prefix}/aa-same-image", ["run"], "2023-01-01T00:00:00Z") == d1
    ns = unique_ns("rpgc")
    try:
        _secret(core, ns, "regcred", _dockerconfig({registry.host: auth}))
        core.create_namespaced_pod(ns, busybox_pod("other", f"{registry.host}/{prefix}/aa-same-image:run",
                                                   ["regcred"]))
        assert wait_verdict(core, ns, "other", want=(RUNNING,), timeout=60).state == RUNNING
        core.create_namespaced_pod(ns, busybox_pod("app", f"{registry.host}/{repo}:run", ["regcred"]))
        v = wait_verdict(core, ns, "app", want=(RUNNING,), timeout=60)
        assert v.image_id.endswith("@" + d1), v
        assert v.image_id != f"{registry.host}/{repo}@{d1}", "the runtime names the image by its other name"
        core.delete_namespaced_pod("other", ns, grace_period_seconds=0)   # only "app" uses D1 now
        wait_gone(core, ns, "other")
        # the tag the Pod was started from is pushed again: a newer build, another digest
        d2 = push_busybox_build(registry, repo, ["run", "build-2"], "2024-06-01T00:00:00Z")
        assert d2 != d1 and manifest_digest(registry.url, repo, "run", auth=auth, ca=registry.ca) == d2
        assert core.read_namespaced_pod("app", ns).status.container_statuses[0].image_id == v.image_id

        # keep the newest build only: D1 (tag build-1) would go, but the Pod runs it
        args = _gc_args(localenv, registry, repo, keep_last=1)
        check = run_task(localenv, "registrylink.k8s.registry_gc", args, check=True)
        assert not check.failed, check.result.get("msg")
        plan = check.result["plan"]["repositories"][0]
        assert plan["delete"] == []
        keep = dict((e["digest"], e["reason"]) for e in plan["keep"])
        assert keep[d1].startswith(f"protected: in use: local-1: Pod {ns}/app container app (imageID)"), keep[d1]
        assert keep[d2].startswith("protected: in use:")   # the spec's tag, resolved today
        real = run_task(localenv, "registrylink.k8s.registry_gc", args)
        assert not real.failed and real.result["deleted"] == [] and not real.changed, real.result.get("msg")
        assert list_tags(registry.url, repo, auth=auth, ca=registry.ca) == ["build-1", "build-2", "run"]
        assert manifest_digest(registry.url, repo, "build-1", auth=auth, ca=registry.ca) == d1
        _no_secret(real.output, registry.password)

        # control: once the Pod is gone, the same rules delete D1 (the protection was the Pod's)
        core.delete_namespaced_pod("app", ns, grace_period_seconds=0)
        wait_gone(core, ns, "app")
        check = run_task(localenv, "registrylink.k8s.registry_gc", args, check=True)
        assert [e["digest"] for e in check.result["plan"]["repositories"][0]["delete"]] == [d1]
        real = run_task(localenv, "registrylink.k8s.registry_gc", args)
        assert not real.failed and [e["digest"] for e in real.result["deleted"]] == [d1], real.result.get("msg")
        assert list_tags(registry.url, repo, auth=auth, ca=registry.ca) == ["build-2", "run"]
        assert manifest_digest(registry.url, repo, d1, auth=auth, ca=registry.ca) is None
    finally:
        delete_pods(core, ns)
