"""The local environment's node helpers that need no running node: host-wide names per
environment and cluster, and the machine-wide sysctl / host path record shared by overlapping
environments (tests/support/node.py)."""

from __future__ import annotations

import json

import pytest

from tests.support import node as nd


def test_node_ids_differ_per_environment_and_cluster_and_fit_linux_limits():
    ids = [nd.node_ids(f"/work/wt-{env}/.localenv", i, f"local-{i}") for env in ("a", "b") for i in (1, 2, 3)]
    for field in ("cgroup_root", "bridge", "network", "subnet"):
        assert len({getattr(x, field) for x in ids}) == len(ids), field
    assert all(len(x.bridge) <= 15 for x in ids)
    assert nd.node_ids("/work/wt-a/.localenv", 1, "local-1") == ids[0]  # stable for the same directory
    assert all(x.subnet.startswith("10.") and x.subnet.endswith(".0/24") for x in ids)


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake machine: the record under tmp_path, fake host paths, sysctls in a dict."""
    values = {"vm/overcommit_memory": "0", "kernel/panic": "1", "kernel/panic_on_oops": "0"}
    paths = [tmp_path / "host" / p for p in ("var/lib/kubelet", "var/lib/kubelet/device-plugins", "var/log/c")]
    monkeypatch.setattr(nd, "HOST_STATE_DIR", tmp_path / "run")
    monkeypatch.setattr(nd, "HOST_PATHS", tuple(str(p) for p in paths))
    monkeypatch.setattr(nd, "DEVICE_PLUGIN_SOCKET", paths[1] / "kubelet.sock")
    monkeypatch.setattr(nd, "read_sysctls", lambda: dict(values))
    monkeypatch.setattr(nd, "_write_sysctls", values.update)
    return values, paths


def kubelet_starts(values, paths):
    values.update({"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"})
    for p in paths:
        p.mkdir(parents=True, exist_ok=True)
    (paths[1] / "kubelet.sock").write_text("")


def test_last_environment_down_restores_sysctls_and_removes_created_host_paths(host):
    values, paths = host
    paths[2].mkdir(parents=True)  # existed before: kept
    (paths[2] / "someone-elses").write_text("x")
    original = dict(values)
    assert nd.hold_sysctls("/env/a") == original
    kubelet_starts(values, paths)
    # a second environment starts while the first runs: it must not record the kubelet's values
    assert nd.hold_sysctls("/env/b") == original
    running = {"/env/a", "/env/b"}
    assert nd.release_sysctls("/env/a", running.__contains__) is None  # b still runs kubelets
    assert values["kernel/panic"] == "10"
    assert json.loads(nd.sysctl_record().read_text())["holders"] == ["/env/b"]
    running.discard("/env/a")
    assert nd.release_sysctls("/env/b", running.__contains__) == original
    assert values == original
    assert not nd.sysctl_record().exists()
    assert not paths[0].exists() and not paths[1].exists()
    assert (paths[2] / "someone-elses").exists()


def test_dead_holders_do_not_keep_the_kubelet_values(host):
    values, paths = host
    original = dict(values)
    nd.hold_sysctls("/env/crashed")
    kubelet_starts(values, paths)
    nd.hold_sysctls("/env/a")
    # /env/crashed never ran `down` and runs no kubelet any more
    assert nd.release_sysctls("/env/a", lambda root: False) == original
    assert values == original


def test_an_environment_between_its_containerd_and_its_kubelet_still_holds(tmp_path):
    # `up` registers in the record after its containerds started and before its kubelets: another
    # environment's `down` in that moment must not restore the sysctls under the kubelet about to start
    import os

    from tests.support import localenv as le

    me = le.Process(name="containerd-local-1", pid=os.getpid(), argv=[], log="",
                    starttime=le.proc_starttime(os.getpid()))
    state = {"processes": [me.to_dict(), {"name": "etcd-local-1", "pid": 1, "starttime": 0}]}
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert le._kubelets_running(str(tmp_path))
    state["processes"][0]["starttime"] = -1  # that containerd is gone (a recycled PID is not it)
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert not le._kubelets_running(str(tmp_path))
    assert not le._kubelets_running(str(tmp_path / "nowhere"))
