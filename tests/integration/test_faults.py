"""Faults between the modules and the real servers: 429 / 5xx with Retry-After, hangs, TLS and DNS failures.

Every module runs through ansible-playbook against the real kube-apiserver or the real distribution
registry of the local environment, reached through ``tests/support/faultproxy.FaultProxy``, which
injects the fault and counts what it saw; the state is read back from the real API server, never
trusted from the module's result. docs/reliability.md ("Faults") quotes these figures.
"""

import time

import pytest
from kubernetes import client as k8s

from tests.support import faultproxy as fp
from tests.support.ansible_run import run_module

SECRET = "registrylink.k8s.registry_secret"
PROBE = "registrylink.k8s.registry_probe"
PASSWORD = "fault-S3cret-7c1d"

# How much later than request_timeout the module may give up a hung request (seen by the proxy as
# the client closing its connection; measured 4.0x s for request_timeout=4).
TIMEOUT_BOUND = 1.0
# ansible-playbook's own start and the result-saving task around the module (5 to 15 s on the
# shared 2-core machine): the whole run must stay below request_timeout + this.
TASK_OVERHEAD = 30.0


@pytest.fixture
def api_proxy(localenv, tmp_path):
    cluster = localenv.cluster("local-1")
    proxy = fp.api_proxy(cluster, workdir=str(tmp_path / "pki")).start()
    proxy.kubeconfig = fp.proxy_kubeconfig(proxy, cluster, tmp_path / "kubeconfig")
    yield proxy
    proxy.stop()


@pytest.fixture
def registry_proxy(registry, tmp_path):
    proxy = fp.registry_proxy(registry, workdir=str(tmp_path / "rpki")).start()
    yield proxy
    proxy.stop()


def secret_args(proxy, namespaces, **extra):
    args = {"kubeconfig": proxy.kubeconfig, "name": "faultcred", "namespaces": namespaces,
            "registries": [{"server": "faults.example.test", "username": "fault-user", "password": PASSWORD}]}
    args.update(extra)
    return args


def secrets_in(api, namespaces, name="faultcred"):
    core = k8s.CoreV1Api(api)
    found = []
    for ns in namespaces:
        try:
            core.read_namespaced_secret(name, ns)
            found.append(ns)
        except k8s.exceptions.ApiException as exc:
            if exc.status != 404:
                raise
    return found


def test_api_server_429_with_retry_after_is_retried_and_counted(localenv, kube_client, unique_ns, api_proxy):
    namespaces = [unique_ns("flt-429") for _i in range(3)]
    # every create is answered 429 "Retry-After: 1" twice, then goes through
    fault = api_proxy.add(fp.Fault("status", method="POST", path=r"/secrets$", status=429, retry_after="1", times=6))
    start = time.monotonic()
    run = run_module(localenv, SECRET, secret_args(api_proxy, namespaces))
    elapsed = time.monotonic() - start
    assert run.rc == 0 and run.changed, run.output
    assert run.result["summary"] == {"created": 3}
    assert fault.injected == 6 and api_proxy.count("POST", r"/secrets$", 201) == 3
    retries = run.result["retries"]
    assert retries["count"] == 6 and retries["by_reason"] == {"HTTP 429": 6}
    assert retries["by_target"] == {"kubernetes": 6}
    # Retry-After honoured: 6 waits of 1 s (three namespaces written in parallel: >= 2 s of wall time)
    assert retries["waited_seconds"] == 6.0 and elapsed >= 2.0
    assert sorted(secrets_in(kube_client("local-1"), namespaces)) == sorted(namespaces)
    # rerun without faults: unchanged, no retry
    api_proxy.clear()
    run = run_module(localenv, SECRET, secret_args(api_proxy, namespaces))
    assert run.rc == 0 and not run.changed and run.result["retries"]["count"] == 0


def test_api_server_503_gives_up_after_the_bounded_retries_with_a_clear_error(localenv, kube_client, unique_ns,
                                                                              api_proxy):
    namespaces = [unique_ns("flt-503") for _i in range(2)]
    bad = namespaces[1]
    fault = api_proxy.add(fp.Fault("status", method="POST", path=r"/namespaces/%s/secrets$" % bad, status=503))
    run = run_module(localenv, SECRET, secret_args(api_proxy, namespaces, request_retries=2, retry_max_wait=1))
    assert run.rc != 0 and run.failed, run.output
    # 1 try + 2 retries, then the error names the request, the status and the bound
    assert fault.injected == 3
    msg = run.result["msg"]
    assert "create secrets in namespace %s" % bad in msg and "503" in msg
    assert "gave up after 2 retries, request_retries=2" in msg
    assert run.result["retries"]["count"] == 2 and run.result["retries"]["by_reason"] == {"HTTP 503": 2}
    by_ns = {r["namespace"]: r for r in run.result["results"]}
    assert by_ns[namespaces[0]]["action"] == "created" and by_ns[bad]["action"] == "failed"
    assert run.result["failed_namespaces"] == [bad]
    assert secrets_in(kube_client("local-1"), namespaces) == [namespaces[0]]
    # the API server recovers: the rerun writes only the missing namespace
    api_proxy.clear()
    run = run_module(localenv, SECRET, secret_args(api_proxy, namespaces))
    assert run.rc == 0 and run.result["summary"] == {"created": 1, "unchanged": 1}, run.output


def test_retry_after_longer_than_retry_max_wait_fails_at_once(localenv, unique_ns, api_proxy):
    ns = unique_ns("flt-long")
    api_proxy.add(fp.Fault("status", method="GET", path=r"/api/v1/namespaces\?", status=429, retry_after="600"))
    start = time.monotonic()
    run = run_module(localenv, SECRET, secret_args(api_proxy, [ns], retry_max_wait=10))
    assert run.rc != 0 and time.monotonic() - start < 60, run.output
    assert "asked to retry after 600 s, longer than retry_max_wait (10 s)" in run.result["msg"]
    assert run.result["retries"]["count"] == 0


def test_hang_past_request_timeout_fails_naming_the_request(localenv, unique_ns, api_proxy):
    namespaces = [unique_ns("flt-hang") for _i in range(2)]
    api_proxy.add(fp.Fault("hang", method="POST", path=r"/namespaces/%s/secrets$" % namespaces[1]))
    start = time.monotonic()
    run = run_module(localenv, SECRET, secret_args(api_proxy, namespaces, request_timeout=4))
    elapsed = time.monotonic() - start
    assert run.rc != 0, run.output
    hung = [r for r in api_proxy.requests if r["fault"] == "hang"]
    assert len(hung) == 1, "a timeout is never retried"
    # the module gave up on the hung request (closed its connection) request_timeout after sending it
    # (the proxy starts its clock once it has read the request: up to 0.2 s after the client)
    waited = hung[0]["client_closed_after"]
    assert waited is not None and 4.0 - 0.2 <= waited <= 4.0 + TIMEOUT_BOUND, waited
    # and the whole task (ansible-playbook start to end) did not wait for the hang either
    assert elapsed < 4.0 + TASK_OVERHEAD, elapsed
    msg = run.result["msg"]
    assert "timed out" in msg and "request_timeout=4 s" in msg
    assert "create secrets in namespace %s" % namespaces[1] in msg
    by_ns = {r["namespace"]: r for r in run.result["results"]}
    assert by_ns[namespaces[1]]["write_outcome"] == "unknown"
    assert by_ns[namespaces[0]]["action"] == "created"


def test_api_server_tls_and_dns_failures_are_named(localenv, unique_ns, tmp_path):
    ns = unique_ns("flt-tls")
    cluster = localenv.cluster("local-1")
    with fp.api_proxy(cluster, tls="untrusted", workdir=str(tmp_path / "bad")) as proxy:
        proxy.kubeconfig = fp.proxy_kubeconfig(proxy, cluster, tmp_path / "kc-untrusted")
        run = run_module(localenv, SECRET, secret_args(proxy, [ns]))
    assert run.rc != 0 and "TLS handshake failed" in run.result["msg"], run.output
    assert "certificate verify failed" in run.result["msg"] and run.result["retries"]["count"] == 0
    assert proxy.requests == [], "no request got through"
    run = run_module(localenv, SECRET, dict(secret_args(proxy, [ns]), kubeconfig=cluster_kubeconfig(
        localenv, tmp_path, fp.unresolvable_url(6443))))
    assert run.rc != 0 and "the host name does not resolve" in run.result["msg"], run.output
    assert "registrylink-fault.invalid" in run.result["msg"] and run.result["retries"]["count"] == 0


def cluster_kubeconfig(localenv, tmp_path, server):
    from tests.support import localenv as le
    cluster = localenv.cluster("local-1")
    path = tmp_path / "kc-server"
    le.write_file(path, le.kubeconfig_text([le.KubeAccess("odd", server, cluster["ca"], cluster["admin_cert"],
                                                          cluster["admin_key"])], current="odd"), 0o600)
    return str(path)


def probe_args(registry, proxy, **extra):
    args = {"registry": proxy.netloc, "registry_ca_path": proxy.ca, "username": registry.username,
            "password": registry.password, "repository": "private/busybox", "reference": "1.35"}
    args.update(extra)
    return args


def test_registry_429_and_503_are_retried_honouring_retry_after(localenv, registry, registry_proxy):
    fault = registry_proxy.add(fp.Fault("status", method="HEAD|GET", path=r"/manifests/", status=429,
                                        retry_after="1", times=2))
    registry_proxy.add(fp.Fault("status", method="GET", path=r"^/v2/$", status=503, retry_after="1", times=1))
    run = run_module(localenv, PROBE, probe_args(registry, registry_proxy))
    assert run.rc == 0 and run.result["ok"] is True, run.output
    assert fault.injected == 2 and registry_proxy.injected == {"status": 3}
    retries = run.result["retries"]
    assert retries["count"] == 3 and retries["by_target"] == {"registry": 3}
    assert retries["by_reason"] == {"HTTP 429": 2, "HTTP 503": 1} and retries["waited_seconds"] == 3.0
    assert PASSWORD not in run.output and registry.password not in run.output


def test_registry_5xx_after_the_retries_is_a_clear_error(localenv, registry, registry_proxy):
    fault = registry_proxy.add(fp.Fault("status", method="HEAD|GET", path=r"/manifests/", status=500))
    run = run_module(localenv, PROBE, probe_args(registry, registry_proxy, request_retries=3, retry_max_wait=1,
                                                 fail_on_error=True))
    assert run.rc != 0, run.output
    assert fault.injected == 4, "1 try + request_retries=3"
    assert run.result["category"] == "server_error"
    assert "HTTP 500" in run.result["msg"] and "gave up after 3 retries, request_retries=3" in run.result["msg"]
    assert run.result["retries"]["count"] == 3


def test_registry_restarting_refuses_connections_and_is_retried(localenv, registry, registry_proxy):
    """The registry goes away when the probe's first request arrives (its connection is reset, and the port
    refuses connections) and is back 3 s later: the probe's requests are retried (a refused connection was
    never sent; the reset GET is a read) and it succeeds, every retry counted."""
    import threading

    def restart(_method, _path):
        registry_proxy.go_down()
        threading.Timer(3.0, registry_proxy.come_up).start()

    registry_proxy.add(fp.Fault("call", method="GET", path=r"^/v2/$", times=1, func=restart))
    run = run_module(localenv, PROBE, probe_args(registry, registry_proxy))
    assert run.rc == 0 and run.result["ok"] is True, run.output
    retries = run.result["retries"]
    assert retries["by_target"] == {"registry": retries["count"]}, retries
    assert retries["by_reason"].get("connection refused", 0) >= 1, retries
    assert set(retries["by_reason"]) <= {"connection refused", "connection broken"}, retries
    # the backoff without Retry-After (0.5, 1, 2, 4 s, up to 25 % more) covers the 3 s the port was closed
    assert 2.5 <= retries["waited_seconds"] <= 10, retries
    assert registry.password not in run.output
    print("FIGURES registry restart: retries=%s" % retries)


def test_registry_refusing_every_retry_is_a_clear_error(localenv, registry, registry_proxy):
    registry_proxy.go_down()
    run = run_module(localenv, PROBE, probe_args(registry, registry_proxy, request_retries=2, retry_max_wait=1,
                                                 fail_on_error=True))
    assert run.rc != 0, run.output
    assert run.result["category"] == "connect", run.result
    assert "connection refused (gave up after 2 retries, request_retries=2)" in run.result["msg"].lower(), \
        run.result["msg"]
    assert run.result["retries"]["count"] == 2
    assert run.result["retries"]["by_reason"] == {"connection refused": 2}


def test_registry_down_costs_one_retry_cycle_per_task_not_per_image(localenv, registry, registry_proxy, kube_client,
                                                                    unique_ns):
    """verify over three images of a registry that is down: the first probe's TLS check refuses through its
    retries, the others (each its own probe and client) fail at once as found unreachable earlier in this
    task instead of each waiting out the retries again."""
    import base64
    import json
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("rdown")
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    config = {"auths": {registry_proxy.netloc: {"username": registry.username, "password": registry.password,
                                                "auth": auth}}}
    core.create_namespaced_secret(ns, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="regcred"), type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}))
    images = ["%s/private/busybox:1.35" % registry_proxy.netloc, "%s/private/busybox:1.36" % registry_proxy.netloc,
              "%s/private/other:1.0" % registry_proxy.netloc]
    registry_proxy.go_down()
    run = run_module(localenv, PROBE, {"registry_ca_path": registry_proxy.ca, "namespaces": [ns],
                                       "request_retries": 2, "retry_max_wait": 1,
                                       "verify": {"secret_name": "regcred", "images": images,
                                                  "service_accounts": [], "diagnose_stuck_pods": False}})
    probes = run.result.get("probes") or []
    assert len(probes) == 3, run.output[-3000:]
    assert all(p["ok"] is False and p["category"] == "connect" for p in probes), probes
    # the first probe waited out the retries (0.5 + 1 s), the others failed at once
    assert probes[0]["latency_ms"] >= 1000 and all(p["latency_ms"] < 500 for p in probes[1:]), probes
    # one retry cycle for the task (three without the task's memory of unreachable hosts)
    assert run.result["retries"]["count"] == 2 and run.result["retries"]["by_reason"] == {"connection refused": 2}
    assert registry.password not in run.output
    print("FIGURES registry down, 3 images: latency_ms=%s retries=%s"
          % ([p["latency_ms"] for p in probes], run.result["retries"]))


def test_registry_hang_untrusted_tls_and_dns(localenv, registry, registry_proxy, tmp_path):
    registry_proxy.add(fp.Fault("hang", method="GET", path=r"^/v2/$"))
    start = time.monotonic()
    run = run_module(localenv, PROBE, probe_args(registry, registry_proxy, timeout=3))
    assert run.result["ok"] is False and run.result["category"] == "timeout", run.output
    assert time.monotonic() - start < 3 + 30
    with fp.registry_proxy(registry, tls="untrusted", workdir=str(tmp_path / "bad")) as bad:
        run = run_module(localenv, PROBE, probe_args(registry, bad))
    assert run.result["ok"] is False and run.result["category"] == "tls_untrusted", run.output
    run = run_module(localenv, PROBE, dict(probe_args(registry, registry_proxy),
                                           registry="registrylink-fault.invalid:5000"))
    assert run.result["ok"] is False and run.result["category"] == "dns", run.output


GC = "registrylink.k8s.registry_gc"


def push_versions(registry, repo, count=6):
    """Tags v0 (oldest) .. v<count-1>, one image each; returns {tag: digest}."""
    from tests.support.images import push_image
    return {"v%d" % i: push_image(registry.url, repo, ["v%d" % i], auth=(registry.username, registry.password),
                                  ca=registry.ca, created="2024-01-%02dT00:00:00Z" % (i + 1))
            for i in range(count)}


def registry_tags(registry, repo):
    from tests.support.images import list_tags
    return sorted(list_tags(registry.url, repo, auth=(registry.username, registry.password), ca=registry.ca))


def test_registry_dies_after_the_plan_deletes_nothing_beyond_it(localenv, registry, registry_proxy):
    import secrets
    repo = "it/faults-%s/app" % secrets.token_hex(3)
    digests = push_versions(registry, repo)
    args = {"registry": registry_proxy.netloc, "registry_ca_path": registry_proxy.ca, "username": registry.username,
            "password": registry.password, "repositories": [repo], "keep_last": 2, "in_use_protection": False,
            "max_concurrency": 1}
    check = run_module(localenv, GC, args, check=True)
    assert check.rc == 0, check.output
    planned = {e["digest"] for rp in check.result["plan"]["repositories"] for e in rp["delete"]}
    assert planned == {digests["v%d" % i] for i in range(4)}
    # the registry goes away when the second DELETE arrives: that DELETE reaches the registry (and is
    # applied), its connection is reset before the answer, and the port refuses connections from then on
    registry_proxy.add(fp.Fault("call", method="DELETE", skip=1, times=1, func=lambda _m, _p: registry_proxy.go_down()))
    run = run_module(localenv, GC, dict(args, request_retries=2, retry_max_wait=1))
    assert run.rc != 0 and run.failed, run.output
    deleted = {e["digest"] for e in run.result["deleted"]}
    not_deleted = {e["digest"] for e in run.result["not_deleted"]}
    assert deleted | not_deleted == planned and not deleted & not_deleted
    assert len(deleted) == 1 and len(not_deleted) == 3
    statuses = sorted(e["status"] for e in run.result["not_deleted"])
    assert statuses.count("unknown") == 1 and set(statuses) <= {"unknown", "failed", "not_attempted"}, statuses
    (cut,) = [e["digest"] for e in run.result["not_deleted"] if e["status"] == "unknown"]
    assert "unknown outcome" in run.result["msg"]
    assert registry_proxy.count("DELETE") == 2  # the cut DELETE was not sent again
    # the next entry's HEAD was refused: retried twice, then the task's later requests fail at once
    retries = run.result["retries"]
    assert retries["count"] == 2 and "connection refused" in retries["by_reason"], retries
    left = registry_tags(registry, repo)
    # nothing beyond the plan: the two kept tags are there; what was reported deleted is gone, and so is
    # the one reported unknown (the registry applied it; the client never got the answer)
    assert {"v4", "v5"} <= set(left)
    assert not any(digests[t] in deleted for t in left)
    assert not any(digests[t] == cut for t in left)
    # the registry comes back: the rerun deletes the rest of the same plan, nothing more
    registry_proxy.clear()
    registry_proxy.come_up()
    run = run_module(localenv, GC, args)
    assert run.rc == 0, run.output
    assert registry_tags(registry, repo) == ["v4", "v5"]
    print("FIGURES gc registry dies: planned=%d deleted=%d not_deleted=%d statuses=%s retries=%s left_after=%s" % (
        len(planned), len(deleted), len(not_deleted), statuses, retries, left))


def test_cluster_unreadable_mid_scan_deletes_nothing(localenv, registry, api_proxy):
    import secrets
    repo = "it/faults-%s/app" % secrets.token_hex(3)
    push_versions(registry, repo)
    before = registry_tags(registry, repo)
    # the first read of the cluster works, every later one is cut (the API server went away mid-scan)
    fault = api_proxy.add(fp.Fault("cut", method="GET", skip=1))
    args = {"registry": registry.host, "registry_ca_path": registry.ca, "username": registry.username,
            "password": registry.password, "repositories": [repo], "keep_last": 0,
            "clusters": [{"kubeconfig": api_proxy.kubeconfig}], "request_retries": 1, "retry_max_wait": 1}
    run = run_module(localenv, GC, args)
    assert run.rc != 0 and run.failed, run.output
    assert fault.injected >= 1 and api_proxy.count("GET", None, 200) == 1
    assert "nothing was deleted" in run.result["msg"] and "cannot be proven" in run.result["msg"]
    # every read that failed is named (kubeconfig, verb, resource, why)
    unreadable = run.result["unreadable"]
    assert unreadable and all(api_proxy.kubeconfig in u and "cannot list" in u for u in unreadable), unreadable
    assert run.result.get("deleted", []) == []
    assert registry_tags(registry, repo) == before


@pytest.mark.parametrize("action", ["cut_after", "cut"])
def test_registry_gc_delete_cut_after_sending_is_unknown_and_the_rerun_converges(localenv, registry, registry_proxy,
                                                                                 action):
    """The connection of one DELETE is reset after the request was sent: with ``cut_after`` the registry
    applied it, with ``cut`` it never reached the registry. The client cannot tell, so both are reported
    ``unknown`` (not ``failed``) and the DELETE is not sent again; the other deletions go on. Read back from
    the registry: the manifest is gone (cut_after) or still there (cut). The rerun converges: it deletes
    only what is still there, and the run after it changes nothing."""
    import secrets
    repo = "it/faults-%s/app" % secrets.token_hex(3)
    digests = push_versions(registry, repo)
    args = {"registry": registry_proxy.netloc, "registry_ca_path": registry_proxy.ca, "username": registry.username,
            "password": registry.password, "repositories": [repo], "keep_last": 2, "in_use_protection": False,
            "max_concurrency": 1}
    planned = {digests["v%d" % i] for i in range(4)}
    fault = registry_proxy.add(fp.Fault(action, method="DELETE", skip=1, times=1))
    run = run_module(localenv, GC, args)
    assert run.rc != 0 and run.failed, run.output
    assert fault.injected == 1 and registry_proxy.count("DELETE") == 4  # 4 planned, the cut one not repeated
    (unknown,) = [e for e in run.result["not_deleted"] if e["status"] == "unknown"]
    assert len(run.result["not_deleted"]) == 1
    assert {e["digest"] for e in run.result["deleted"]} == planned - {unknown["digest"]}
    assert "may have been deleted" in unknown["reason"] and "unknown outcome" in run.result["msg"]
    assert run.result["summary"]["unknown"] == 1 and run.result["summary"]["failed"] == 0
    outcomes = run.result["delete_outcomes"]
    assert outcomes["unknown"] == ["%s@%s" % (repo, unknown["digest"])] and len(outcomes["deleted"]) == 3
    assert outcomes["not_deleted"] == []
    assert run.result["retries"]["count"] == 0
    left = registry_tags(registry, repo)
    still_there = any(digests[t] == unknown["digest"] for t in left)
    assert still_there is (action == "cut"), (action, left)
    assert registry.password not in run.output

    registry_proxy.clear()
    rerun = run_module(localenv, GC, args)
    assert rerun.rc == 0, rerun.output
    assert [e["digest"] for e in rerun.result["deleted"]] == ([unknown["digest"]] if action == "cut" else [])
    assert rerun.changed is (action == "cut")
    assert registry_tags(registry, repo) == ["v4", "v5"]
    third = run_module(localenv, GC, args)
    assert third.rc == 0 and third.changed is False and third.result["deleted"] == []
    print("FIGURES gc delete %s: deleted=%d unknown=1 applied=%s rerun_deleted=%d" % (
        action, len(run.result["deleted"]), not still_there, len(rerun.result["deleted"])))
