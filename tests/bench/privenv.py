#!/usr/bin/env python
"""A private set of control planes for the benchmark, beside the shared `make up` environment.

    .venv/bin/python tests/bench/privenv.py up   --dir /tmp/rlbench-env [--clusters 3] [--nodes]
    REGISTRYLINK_LOCALENV=/tmp/rlbench-env/state.json make bench
    .venv/bin/python tests/bench/privenv.py down --dir /tmp/rlbench-env

The benchmark creates up to 1000 namespaces per cluster. On the shared environment that is
visible to everybody else's tests for a while (a test that selects ``namespaces: ['*']`` would
pick them up). This script starts clusters only (``start_clusters()`` of ``tests/support/localenv.py``, the same
start sequence, binaries and flags as ``make up``) under a directory of its own and writes a
``state.json`` that ``load_state()`` reads, so the harness runs unchanged against it. No
registry and no moto: the benchmark needs neither; no node either unless ``--nodes`` (the
benchmark measures API work, a kubelet would only add noise on 2 cores). Stops exactly the
PIDs it recorded (``stop_environment()``, which also cleans up nodes).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.support import localenv as le  # noqa: E402

VENV = REPO_ROOT / ".venv"


def _etcd_root(workdir: Path) -> Path:
    tag = hashlib.sha256(str(workdir).encode()).hexdigest()[:10]
    return Path("/dev/shm") / f"rlbench-etcd-{tag}"


def up(workdir: Path, n: int, timeout: float, nodes: bool = False) -> int:
    workdir = workdir.resolve()
    state_file = workdir / "state.json"
    old = le.read_state(state_file)
    if old and old.get("phase") == "up" and all(le.Process.from_dict(p).alive() for p in old["processes"]):
        print(f"[privenv] already up: {state_file}")
        return 0
    if old:
        le.stop_environment(old)
    if workdir.exists():
        shutil.rmtree(workdir)
    logs = workdir / "logs"
    logs.mkdir(parents=True)
    etcd_root = _etcd_root(workdir)
    shutil.rmtree(etcd_root, ignore_errors=True)
    t0 = time.monotonic()
    state = {"version": 1, "phase": "starting", "repo_root": str(REPO_ROOT), "root": str(workdir),
             "private": True, "kube_version": f"v{le.KUBE_VERSION}",
             "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "clusters": [], "processes": [], "extra_dirs": [str(etcd_root)], "logs": str(logs)}

    def save():
        le.write_file(state_file, json.dumps(state, indent=2) + "\n", 0o600)

    save()
    try:
        cls = le.start_clusters(workdir, n, state, save, etcd_root, timeout=timeout, nodes=nodes)
        kubeconfig = le.write_file(workdir / "kubeconfig", le.kubeconfig_text([c.admin() for c in cls]), 0o600)
        state["kubeconfig"] = str(kubeconfig)
        coll = workdir / "collections"
        link = coll / "ansible_collections" / "registrylink" / "k8s"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO_ROOT, target_is_directory=True)
        state["env"] = {
            "KUBECONFIG": str(kubeconfig), "K8S_AUTH_KUBECONFIG": str(kubeconfig),
            "ANSIBLE_COLLECTIONS_PATH": str(coll), "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python"),
            "REGISTRYLINK_LOCALENV": str(state_file),
            "REGISTRYLINK_KUBE_CONTEXTS": " ".join(c.name for c in cls),
        }
        state["path_prepend"] = [str(VENV / "bin")]
        state["phase"] = "up"
        state["startup_seconds"] = round(time.monotonic() - t0, 1)
        save()
    except BaseException as exc:
        print(f"[privenv] up failed: {exc}", file=sys.stderr)
        if isinstance(exc, le.ComponentError):
            print(exc.describe(), file=sys.stderr)
        le.stop_environment(state)
        shutil.rmtree(etcd_root, ignore_errors=True)
        return 1
    print(f"[privenv] {n} cluster(s) up in {state['startup_seconds']}s; "
          f"REGISTRYLINK_LOCALENV={state_file}")
    return 0


def down(workdir: Path) -> int:
    workdir = workdir.resolve()
    state = le.read_state(workdir / "state.json")
    if not state:
        print("[privenv] not up")
        return 0
    if not state.get("private"):
        print(f"[privenv] {workdir} is not a private bench environment; refusing", file=sys.stderr)
        return 2
    left, problems = le.stop_environment(state)
    if left or problems:
        print("[privenv] not clean: " + ", ".join([f"{p.name} ({p.pid})" for p in left] + problems), file=sys.stderr)
        return 1
    for d in state.get("extra_dirs", []):
        shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(workdir, ignore_errors=True)
    print("[privenv] down")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="tests/bench/privenv.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up")
    u.add_argument("--dir", type=Path, required=True)
    u.add_argument("--clusters", type=int, default=3)
    u.add_argument("--timeout", type=float, default=120)
    u.add_argument("--nodes", action="store_true", help="also one real node per cluster (containerd + kubelet)")
    d = sub.add_parser("down")
    d.add_argument("--dir", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "up":
        return up(args.dir, args.clusters, args.timeout, args.nodes)
    return down(args.dir)


if __name__ == "__main__":
    sys.exit(main())
