"""Bulk writes under faults: the real kube-apiserver killed mid-run, and concurrent runs on the same objects.

500 namespaces (module fixture) on the local cluster. The modules reach the API server through
``tests/support/faultproxy.FaultProxy``, which counts every request and answer; a ``call`` fault on
the Nth write SIGKILLs the real kube-apiserver process and closes the proxy's port (new connections
are refused, open ones reset), exactly what a client sees when its API server dies. The API server
is then started again (``localenv.restart_apiserver``) and every object is read back from it.
docs/reliability.md ("Faults") quotes these figures.
"""

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.conftest import SESSION_ID, TEST_LABEL
from tests.support import faultproxy as fp
from tests.support import localenv as le
from tests.support.ansible_run import run_module

SECRET = "registrylink.k8s.registry_secret"
SA = "registrylink.k8s.sa_pull_secret"
BULK = 500
KILL_AFTER = 150          # writes that reach the API server before it is killed
PLATFORM_ENTRY = "platform-pull"   # an entry someone else put on every ServiceAccount


def _pool(func, items, workers=16):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


@pytest.fixture(scope="module")
def bulk_namespaces(localenv, kube_client):
    """BULK namespaces whose default ServiceAccount holds the unmanaged entry PLATFORM_ENTRY."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    names = ["flt-bulk-%s-%03d" % (SESSION_ID, i) for i in range(BULK)]
    label = {TEST_LABEL: SESSION_ID, "registrylink.test/faults": "bulk"}

    def make(name):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=label)))

    _pool(make, names)
    deadline = time.monotonic() + 300
    while True:
        sas = core.list_service_account_for_all_namespaces(field_selector="metadata.name=default",
                                                           label_selector=None).items
        ready = {sa.metadata.namespace for sa in sas} & set(names)
        if len(ready) == BULK:
            break
        if time.monotonic() > deadline:
            pytest.fail("kube-controller-manager made %d of %d default ServiceAccounts in 300 s" % (len(ready), BULK))
        time.sleep(1)

    def platform(name):
        core.patch_namespaced_service_account("default", name, {"imagePullSecrets": [{"name": PLATFORM_ENTRY}]})

    _pool(platform, names)
    yield names

    def delete(name):
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise

    _pool(delete, names)


def apiserver_pid(localenv):
    name = "kube-apiserver-%s" % localenv.cluster("local-1")["name"]
    state = le.read_state(localenv.state_file)
    return next(p["pid"] for p in state["processes"] if p["name"] == name)


@pytest.fixture
def crash_proxy(localenv, tmp_path):
    """A proxy in front of local-1 whose ``crash_after(method, path, n)`` kills the real API server
    when the (n+1)th matching request arrives; the API server is restarted at teardown if needed."""
    cluster = localenv.cluster("local-1")
    proxy = fp.api_proxy(cluster, workdir=str(tmp_path / "pki")).start()
    proxy.kubeconfig = fp.proxy_kubeconfig(proxy, cluster, tmp_path / "kubeconfig")
    proxy.killed = []

    def crash_after(method, path, n):
        def crash(_method, _path):
            if proxy.killed:
                return
            proxy.killed.append(time.time())
            os.kill(apiserver_pid(localenv), signal.SIGKILL)
            proxy.go_down()

        return proxy.add(fp.Fault("call", method=method, path=path, skip=n, times=1, func=crash))

    proxy.crash_after = crash_after
    yield proxy
    proxy.stop()
    if proxy.killed:
        api = le.Cluster.from_dict(cluster)
        try:
            up = api.api("/readyz", timeout=3)[0] == 200
        except OSError:
            up = False
        if not up:
            le.restart_apiserver(localenv, "local-1")


def check_against_proxy(proxy, method, path, written, not_written, unknown):
    """What the task says of each namespace's write agrees with what the proxy saw and answered.

    The fault proxy records every request it read and its answer. A write the proxy never
    answered (the API server died under it, or the proxy closed its port) may or may not have
    been applied: the task must call it ``unknown``, never ``written`` nor ``not_written``. A write
    the task calls ``not_written`` never reached the proxy (its connection was refused). The kill
    is not atomic: until the proxy's port is closed, a worker whose request was just cut may send
    its next write, which is cut too, so more than ``max_concurrent_writes`` writes can end up
    ``unknown`` -- each of them one the proxy saw and never answered, except for at most one per
    worker (16) still being read when the port closed.
    """
    seen = {}
    with proxy._lock:
        requests = list(proxy.requests)
    for req in requests:
        if req["method"] == method and re.search(path, req["path"].split("?")[0]):
            ns = re.search(r"/namespaces/([^/]+)/", req["path"]).group(1)
            seen.setdefault(ns, []).append(req["result"])
    answered_2xx = {ns for ns, results in seen.items() if any(isinstance(r, int) and 200 <= r < 300 for r in results)}
    never_answered = {ns for ns, results in seen.items() if not any(isinstance(r, int) for r in results)}
    assert written <= answered_2xx, sorted(written - answered_2xx)[:5]
    assert never_answered <= unknown, sorted(never_answered - unknown)[:5]
    assert not (not_written & set(seen)), sorted(not_written & set(seen))[:5]
    assert 0 < len(unknown) and len(unknown - set(seen)) <= 16, (len(unknown), sorted(unknown - set(seen))[:5])


def secret_names_present(core, namespaces, name):
    found = core.list_secret_for_all_namespaces(field_selector="metadata.name=%s" % name).items
    return {s.metadata.namespace for s in found} & set(namespaces)


def pull_secrets_by_ns(core, namespaces):
    sas = core.list_service_account_for_all_namespaces(field_selector="metadata.name=default").items
    wanted = set(namespaces)
    return {sa.metadata.namespace: [r.name for r in sa.image_pull_secrets or []] for sa in sas
            if sa.metadata.namespace in wanted}


def test_api_server_killed_while_registry_secret_writes(localenv, kube_client, bulk_namespaces, crash_proxy):
    name = "killcred"
    args = {"name": name, "namespaces": bulk_namespaces,
            "registries": [{"server": "kill.example.test", "username": "kill-user", "password": "k1ll-S3cret"}]}
    crash_proxy.crash_after("POST", r"/secrets$", KILL_AFTER)
    start = time.monotonic()
    run = run_module(localenv, SECRET, dict(args, kubeconfig=crash_proxy.kubeconfig))
    first_seconds = time.monotonic() - start
    assert crash_proxy.killed, "the API server was not killed: %s" % run.output[-2000:]
    assert run.rc != 0 and run.failed, run.output
    outcomes = run.result["write_outcomes"]
    written, not_written, unknown = (set(outcomes[k]) for k in ("written", "not_written", "unknown"))
    # every namespace is accounted for, in exactly one list
    assert len(written) + len(not_written) + len(unknown) == BULK
    assert written | not_written | unknown == set(bulk_namespaces)
    assert KILL_AFTER - 2 * 16 <= len(written) <= KILL_AFTER + 1 and not_written, outcomes
    check_against_proxy(crash_proxy, "POST", r"/secrets$", written, not_written, unknown)
    assert "namespace(s) failed" in run.result["msg"]
    assert any("unreachable" in r.get("msg", "") or "not sent" in r.get("msg", "")
               for r in run.result["results"] if r["action"] == "failed")
    assert run.result["retries"]["by_reason"].get("connection refused", 0) >= 1
    first_retries = run.result["retries"]

    le.restart_apiserver(localenv, "local-1")
    core = k8s.CoreV1Api(kube_client("local-1"))
    present = secret_names_present(core, bulk_namespaces, name)
    # what the task said is true on the restarted API server
    assert written <= present and not (not_written & present), (len(written), len(present))
    # the rerun (directly, no proxy) writes exactly the missing ones
    run = run_module(localenv, SECRET, args)
    assert run.rc == 0 and run.changed, run.output
    assert run.result["summary"] == {"created": BULK - len(present), "unchanged": len(present)}
    assert secret_names_present(core, bulk_namespaces, name) == set(bulk_namespaces)
    run = run_module(localenv, SECRET, args)
    assert run.rc == 0 and not run.changed and run.result["summary"] == {"unchanged": BULK}
    figures = (len(written), len(not_written), len(unknown), len(present), first_retries, first_seconds)
    print("FIGURES registry_secret kill: written=%d not_written=%d unknown=%d present_after_restart=%d "
          "retries=%s first_run_s=%.1f" % figures)


def test_api_server_killed_while_sa_pull_secret_writes(localenv, kube_client, bulk_namespaces, crash_proxy):
    entry = "killsa-cred"
    args = {"pull_secrets": [entry], "namespaces": bulk_namespaces, "service_accounts": ["default"]}
    crash_proxy.crash_after("PUT", r"/serviceaccounts/default$", KILL_AFTER)
    run = run_module(localenv, SA, dict(args, kubeconfig=crash_proxy.kubeconfig))
    assert crash_proxy.killed, "the API server was not killed: %s" % run.output[-2000:]
    assert run.rc != 0 and run.failed, run.output
    outcomes = run.result["write_outcomes"]
    written, not_written, unknown = (set(n.split("/")[0] for n in outcomes[k])
                                     for k in ("written", "not_written", "unknown"))
    assert len(written) + len(not_written) + len(unknown) == BULK
    assert KILL_AFTER - 2 * 16 <= len(written) <= KILL_AFTER + 1 and not_written, outcomes
    check_against_proxy(crash_proxy, "PUT", r"/serviceaccounts/default$", written, not_written, unknown)
    first_retries = run.result["retries"]

    le.restart_apiserver(localenv, "local-1")
    core = k8s.CoreV1Api(kube_client("local-1"))
    after_crash = pull_secrets_by_ns(core, bulk_namespaces)
    has_entry = {ns for ns, refs in after_crash.items() if entry in refs}
    assert written <= has_entry and not (not_written & has_entry)
    # nothing lost, nothing doubled, even by the writes cut in the middle
    assert all(refs.count(PLATFORM_ENTRY) == 1 and len(refs) == len(set(refs)) for refs in after_crash.values())
    run = run_module(localenv, SA, args)
    assert run.rc == 0 and run.changed, run.output
    assert run.result["summary"] == {"updated": BULK - len(has_entry), "unchanged": len(has_entry)}
    final = pull_secrets_by_ns(core, bulk_namespaces)
    assert len(final) == BULK and all(refs == [PLATFORM_ENTRY, entry] for refs in final.values()), \
        [refs for refs in final.values() if refs != [PLATFORM_ENTRY, entry]][:5]
    run = run_module(localenv, SA, args)
    assert run.rc == 0 and not run.changed and run.result["summary"] == {"unchanged": BULK}
    print("FIGURES sa_pull_secret kill: written=%d not_written=%d unknown=%d with_entry_after_restart=%d retries=%s"
          % (len(written), len(not_written), len(unknown), len(has_entry), first_retries))


CONCURRENT = 200


def together(proxy, path, runs=2):
    """Hold the first ``runs`` LISTs matching ``path`` until all of them arrived: the runs then read
    the same resourceVersions and every object is written by both (real contention, every time)."""
    import threading
    barrier = threading.Barrier(runs, timeout=120)
    return proxy.add(fp.Fault("call", method="GET", path=path, times=runs, func=lambda _m, _p: barrier.wait()))


def in_parallel(*calls):
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.result() for f in futures]


def decoded_passwords(core, namespaces, name, server):
    import base64
    import json
    out = {}
    for secret in core.list_secret_for_all_namespaces(field_selector="metadata.name=%s" % name).items:
        if secret.metadata.namespace in namespaces:
            config = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))
            out[secret.metadata.namespace] = config["auths"][server]["password"]
    return out


def test_two_setups_with_different_pull_secrets_at_once(localenv, kube_client, bulk_namespaces, crash_proxy):
    namespaces = bulk_namespaces[:CONCURRENT]
    core = k8s.CoreV1Api(kube_client("local-1"))
    before = pull_secrets_by_ns(core, namespaces)
    assert all(PLATFORM_ENTRY in refs for refs in before.values())
    together(crash_proxy, r"^/api/v1/serviceaccounts\?")
    base = {"namespaces": namespaces, "service_accounts": ["default"], "kubeconfig": crash_proxy.kubeconfig}
    run_a, run_b = in_parallel(lambda: run_module(localenv, SA, dict(base, pull_secrets=["team-a-cred"])),
                               lambda: run_module(localenv, SA, dict(base, pull_secrets=["team-b-cred"])))
    assert run_a.rc == 0 and run_b.rc == 0, run_a.output + run_b.output
    assert run_a.result["summary"] == {"updated": CONCURRENT} and run_b.result["summary"] == {"updated": CONCURRENT}
    # both read the same resourceVersion of every ServiceAccount: one write per ServiceAccount lost the race
    # (409) and was redone on a fresh read
    conflicts = crash_proxy.count("PUT", r"/serviceaccounts/default$", 409)
    assert conflicts == CONCURRENT, crash_proxy.statuses
    # and each run counted its own: together exactly one retry per ServiceAccount
    redone = [r.result["retries"]["by_reason"].get("HTTP 409 conflict", 0) for r in (run_a, run_b)]
    assert sum(redone) == CONCURRENT, redone
    after = pull_secrets_by_ns(core, namespaces)
    for ns, refs in after.items():
        assert sorted(refs) == sorted(before[ns] + ["team-a-cred", "team-b-cred"]), (ns, before[ns], refs)
        assert refs[:len(before[ns])] == before[ns], "entries already there keep their place"
    for pull_secret in ("team-a-cred", "team-b-cred"):
        run = run_module(localenv, SA, dict(base, pull_secrets=[pull_secret]))
        assert run.rc == 0 and not run.changed, run.output
    print("FIGURES two sa_pull_secret at once: 409=%d retries=%s" % (conflicts, redone))


def test_setup_and_rotate_at_once(localenv, kube_client, bulk_namespaces, crash_proxy):
    namespaces = bulk_namespaces[:CONCURRENT]
    core = k8s.CoreV1Api(kube_client("local-1"))
    before = pull_secrets_by_ns(core, namespaces)
    server = "rotate.example.test"
    name = "rotating-cred"

    def secret(password):
        return {"name": name, "namespaces": namespaces, "kubeconfig": crash_proxy.kubeconfig,
                "registries": [{"server": server, "username": "rotor", "password": password}]}

    def setup():
        first = run_module(localenv, SECRET, secret("setup-P1"))
        second = run_module(localenv, SA, {"pull_secrets": [name], "namespaces": namespaces,
                                           "service_accounts": ["default"], "kubeconfig": crash_proxy.kubeconfig})
        return first, second

    together(crash_proxy, r"^/api/v1/secrets\?")
    (setup_secret, setup_sa), rotate = in_parallel(setup, lambda: run_module(localenv, SECRET, secret("rotate-P2")))
    assert setup_secret.rc == 0 and setup_sa.rc == 0 and rotate.rc == 0, \
        setup_secret.output + setup_sa.output + rotate.output
    # both saw no Secret and both created it: one create per namespace was refused (409 AlreadyExists)
    # and became an update of what the other wrote, with its resourceVersion
    conflicts = crash_proxy.count("POST", r"/secrets$", 409)
    assert conflicts == CONCURRENT, crash_proxy.statuses
    assert crash_proxy.count("PUT", r"/secrets/", 200) == CONCURRENT
    passwords = decoded_passwords(core, namespaces, name, server)
    assert len(passwords) == CONCURRENT and set(passwords.values()) <= {"setup-P1", "rotate-P2"}
    after = pull_secrets_by_ns(core, namespaces)
    assert all(after[ns] == before[ns] + [name] for ns in namespaces)
    # the next scheduled rotation converges every namespace to the new password, the setup is in place
    run = run_module(localenv, SECRET, secret("rotate-P2"))
    stale = sum(1 for p in passwords.values() if p == "setup-P1")
    assert run.rc == 0 and run.result["summary"] == dict(
        ((k, v) for k, v in (("updated", stale), ("unchanged", CONCURRENT - stale)) if v)), run.output
    assert set(decoded_passwords(core, namespaces, name, server).values()) == {"rotate-P2"}
    print("FIGURES setup+rotate at once: 409=%d stale_after=%d" % (conflicts, stale))
