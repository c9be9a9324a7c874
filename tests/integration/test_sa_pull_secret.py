"""sa_pull_secret against the real local kube-apiserver: conflicts, concurrency, stuck pods, request count.

The 12-step cycle, purge, globs, selector, 200 namespaces, annotations and prune_missing are in the
Ansible target tests/integration/targets/sa_pull_secret. This file covers what needs Python-level
control: a concurrent writer injected between our read and our write (a real 409 from the API
server), two runs racing on the same ServiceAccounts, pods whose status is set through the status
subresource the way a kubelet would, and the number of API requests of a no-op run.
State is always read back with the kubernetes client directly.
"""

import threading

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import KubeClient
from ansible_collections.registrylink.k8s.plugins.module_utils._sa_pull_secret import SaPullSecretRunner
from tests.support.ansible_run import run_module
from tests.support.node import NO_NODE_GATE

MODULE = "registrylink.k8s.sa_pull_secret"


@pytest.fixture
def api(kube_client):
    return kube_client("local-1")


@pytest.fixture
def core(api):
    return k8s.CoreV1Api(api)


def kube(localenv):
    return KubeClient.from_params({"kubeconfig": localenv.kubeconfig, "context": "local-1"})


def params(**kw):
    base = dict(pull_secrets=["regcred"], service_accounts=None, service_account_selector=None,
                namespaces=None, namespace_selector=None, exclude_namespaces=[], state="present", purge=False,
                annotations=None, prune_missing=False, on_missing_secret="warn", create_service_accounts=False,
                restart_stuck_pods=False, max_concurrent_writes=8)
    base.update(kw)
    return base


def make_secret(core, ns, name):
    body = k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name), type="Opaque", string_data={"x": "y"})
    core.create_namespaced_secret(ns, body)


def set_pull_secrets(core, ns, names, sa="default"):
    body = core.read_namespaced_service_account(sa, ns)
    body.image_pull_secrets = [k8s.V1LocalObjectReference(name=n) for n in names]
    core.replace_namespaced_service_account(sa, ns, body)


def pull_secrets(core, ns, sa="default"):
    return [r.name for r in core.read_namespaced_service_account(sa, ns).image_pull_secrets or []]


# ---------------------------------------------------------------------------- request count

def test_noop_run_costs_a_constant_number_of_lists(localenv, core, unique_ns):
    nss = [unique_ns("sacnt") for _i in range(30)]
    for ns in nss:
        make_secret(core, ns, "regcred")
        set_pull_secrets(core, ns, ["regcred"])
    counts = {}
    for label, selection in (("one", nss[:1]), ("thirty", nss)):
        client = kube(localenv)
        result = SaPullSecretRunner(params(namespaces=selection), kube=client).run()
        assert result["changed"] is False
        assert result["summary"] == {"unchanged": len(selection)}
        counts[label] = client.request_count
    # namespaces, serviceaccounts, secret metadata for 1 name, pending pods
    assert counts == {"one": 4, "thirty": 4}


# ---------------------------------------------------------------------------- conflicts

def test_injected_conflict_is_retried_and_both_entries_survive(localenv, api, core, unique_ns):
    ns = unique_ns("saconf")
    for name in ("a", "regcred", "theirs"):
        make_secret(core, ns, name)
    set_pull_secrets(core, ns, ["a"])
    client = kube(localenv)
    original = client.call
    calls = []
    injected = []

    def call(verb, resource, func, namespace=None, name=None, **kwargs):
        calls.append((verb, resource))
        if verb == "update" and resource == "serviceaccounts" and not injected:
            # Another writer gets in between our LIST and our PUT (real read-modify-write).
            set_pull_secrets(core, ns, pull_secrets(core, ns) + ["theirs"])
            injected.append(True)
        return original(verb, resource, func, namespace=namespace, name=name, **kwargs)

    client.call = call
    result = SaPullSecretRunner(params(namespaces=[ns]), kube=client).run()
    assert result["results"][0]["action"] == "updated"
    assert [c for c in calls if c[1] == "serviceaccounts" and c[0] != "list"] == [
        ("update", "serviceaccounts"), ("get", "serviceaccounts"), ("update", "serviceaccounts")]
    assert pull_secrets(core, ns) == ["a", "theirs", "regcred"]
    assert result["results"][0]["image_pull_secrets"] == ["a", "theirs", "regcred"]


def test_two_runs_racing_keep_both_entries(localenv, core, unique_ns):
    nss = [unique_ns("sarace") for _i in range(12)]
    for ns in nss:
        make_secret(core, ns, "one")
        make_secret(core, ns, "two")
        set_pull_secrets(core, ns, ["mine"])
    errors = []

    def run(name):
        try:
            SaPullSecretRunner(params(pull_secrets=[name], namespaces=nss, max_concurrent_writes=4),
                               kube=kube(localenv)).run()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for ns in nss:
        got = pull_secrets(core, ns)
        assert got[0] == "mine" and sorted(got[1:]) == ["one", "two"], (ns, got)


# ---------------------------------------------------------------------------- stuck pods

def make_pod(core, ns, name, owner=None, secrets=None):
    """A Pod held off the node (scheduling gate): these tests are about which stuck Pods the
    module restarts, so the status is written by hand (``back_off``) and the kubelet must not
    replace it. Real pulls by the kubelet are tested with real Pods elsewhere."""
    meta = k8s.V1ObjectMeta(name=name)
    if owner is not None:
        meta.owner_references = [k8s.V1OwnerReference(api_version="apps/v1", kind="ReplicaSet", name=owner.metadata.name,
                                                      uid=owner.metadata.uid, controller=True)]
    spec = k8s.V1PodSpec(containers=[k8s.V1Container(name="app", image="registry.example.test/team/app:1")],
                         scheduling_gates=[k8s.V1PodSchedulingGate(name=NO_NODE_GATE)])
    if secrets:
        spec.image_pull_secrets = [k8s.V1LocalObjectReference(name=s) for s in secrets]
    return core.create_namespaced_pod(ns, k8s.V1Pod(metadata=meta, spec=spec))


def back_off(core, ns, name):
    """Set the pod's status the way a kubelet does after a failed pull (status subresource)."""
    body = {"status": {"phase": "Pending", "containerStatuses": [{
        "name": "app", "image": "registry.example.test/team/app:1", "imageID": "", "ready": False,
        "restartCount": 0, "started": False,
        "state": {"waiting": {"reason": "ImagePullBackOff",
                              "message": 'Back-off pulling image "registry.example.test/team/app:1"'}}}]}}
    core.patch_namespaced_pod_status(name, ns, body)


def pod_exists(core, ns, name):
    try:
        core.read_namespaced_pod(name, ns)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def test_stuck_pods_reported_and_restarted_only_with_a_controller(localenv, api, core, unique_ns, request):
    ns = unique_ns("sastuck")
    for name in ("a", "b", "own"):
        make_secret(core, ns, name)
    set_pull_secrets(core, ns, ["a"])
    apps = k8s.AppsV1Api(api)
    # The ReplicaSet is only an owner here. Its controller runs in this environment and would
    # release the hand-made Pods (they do not match its selector) or scale them; a ReplicaSet
    # that is being deleted but held by a finalizer is left alone by it, and the garbage
    # collector keeps its dependents because it still exists.
    hold = "registrylink.test/hold"
    rs = apps.create_namespaced_replica_set(ns, k8s.V1ReplicaSet(
        metadata=k8s.V1ObjectMeta(name="web", finalizers=[hold]),
        spec=k8s.V1ReplicaSetSpec(replicas=0, selector=k8s.V1LabelSelector(match_labels={"app": "web"}),
                                  template=k8s.V1PodTemplateSpec(
                                      metadata=k8s.V1ObjectMeta(labels={"app": "web"}),
                                      spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="app", image="x")])))))
    apps.delete_namespaced_replica_set("web", ns)
    request.addfinalizer(lambda: apps.patch_namespaced_replica_set("web", ns, {"metadata": {"finalizers": None}}))
    make_pod(core, ns, "web-1", owner=rs)            # gets [a] from the ServiceAccount at admission
    make_pod(core, ns, "bare")                       # no controller: never deleted
    make_pod(core, ns, "templ", owner=rs, secrets=["own"])  # its own template sets imagePullSecrets
    make_pod(core, ns, "healthy", owner=rs)          # not waiting on a pull: not stuck
    assert [s.name for s in core.read_namespaced_pod("web-1", ns).spec.image_pull_secrets] == ["a"]
    for name in ("web-1", "bare", "templ"):
        back_off(core, ns, name)

    args = {"pull_secrets": ["b"], "namespaces": [ns]}
    # restart off: reported only, nothing deleted
    run = run_module(localenv, MODULE, args)
    assert run.rc == 0, run.output
    stuck = dict((p["name"], p) for p in run.result["stuck_pods"])
    assert sorted(stuck) == ["bare", "templ", "web-1"]
    assert all(p["action"] == "reported" for p in stuck.values())
    assert stuck["web-1"]["controller"] == "ReplicaSet/web"
    assert stuck["web-1"]["reasons"] == ["ImagePullBackOff"] and stuck["web-1"]["missing_pull_secrets"] == ["b"]
    assert stuck["web-1"]["restart_skipped"] == "restart_stuck_pods is false"
    assert "bare pod" in stuck["bare"]["restart_skipped"]
    assert "pod template" in stuck["templ"]["restart_skipped"]
    assert pull_secrets(core, ns) == ["a", "b"]
    assert all(pod_exists(core, ns, n) for n in ("web-1", "bare", "templ", "healthy"))

    # restart on, check mode: predicted, nothing deleted
    run = run_module(localenv, MODULE, dict(args, restart_stuck_pods=True), check=True)
    assert run.rc == 0 and run.changed, run.output
    assert [(p["name"], p["action"]) for p in run.result["stuck_pods"]] == [
        ("bare", "reported"), ("templ", "reported"), ("web-1", "restarted")]
    assert pod_exists(core, ns, "web-1")

    # restart on: only the controller-owned pod whose secrets came from the ServiceAccount is deleted
    run = run_module(localenv, MODULE, dict(args, restart_stuck_pods=True))
    assert run.rc == 0 and run.changed, run.output
    assert run.result["summary"] == {"unchanged": 1}
    assert [(p["name"], p["action"]) for p in run.result["stuck_pods"]] == [
        ("bare", "reported"), ("templ", "reported"), ("web-1", "restarted")]
    assert not pod_exists(core, ns, "web-1")
    assert all(pod_exists(core, ns, n) for n in ("bare", "templ", "healthy"))

    # the pod its controller would create now gets both secrets at admission
    make_pod(core, ns, "web-2", owner=rs)
    assert [s.name for s in core.read_namespaced_pod("web-2", ns).spec.image_pull_secrets] == ["a", "b"]

    # rerun: nothing left to restart, nothing changes
    run = run_module(localenv, MODULE, dict(args, restart_stuck_pods=True))
    assert run.rc == 0 and not run.changed, run.output
    assert [p["name"] for p in run.result["stuck_pods"]] == ["bare", "templ"]


def test_stuck_pod_created_before_attach_is_not_reported_for_absent(localenv, core, unique_ns):
    ns = unique_ns("saabs")
    make_secret(core, ns, "a")
    set_pull_secrets(core, ns, ["a"])
    make_pod(core, ns, "p")
    back_off(core, ns, "p")
    run = run_module(localenv, MODULE, {"pull_secrets": ["a"], "namespaces": [ns], "state": "absent"})
    assert run.rc == 0 and run.changed, run.output
    assert run.result["stuck_pods"] == []
    assert pull_secrets(core, ns) == []
