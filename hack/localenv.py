#!/usr/bin/env python
"""The local environment behind `make up` / `make down` / `make status`.

    hack/localenv.py up [--clusters N] [--timeout S]   # N clusters with a node each + registry + moto
    hack/localenv.py down                               # stop the recorded PIDs, clean the nodes
    hack/localenv.py status [--json]                    # exit 0 up, 1 down, 2 degraded

Real parts on loopback, no Docker: per cluster etcd (Debian), kube-apiserver,
kube-controller-manager, kube-scheduler (built by hack/build-kube.sh) and one real node
(containerd + kubelet, see tests/support/node.py); one CNCF distribution registry (Debian
docker-registry, TLS + htpasswd) holding a small real image; one moto server. State, logs, PKI, registry storage,
kubeconfig and env.sh live in .localenv/ (gitignored; REGISTRYLINK_LOCALENV_DIR=/dir for a
second, independent environment); etcd data on /dev/shm unless
LOCALENV_ETCD_DATA=disk. Standard library only; the building blocks are in
tests/support/localenv.py (shared with the tests). See docs/local-environment.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support import localenv as le  # noqa: E402

ROOT = le.LOCALENV_DIR
STATE = le.STATE_FILE
VENV = REPO_ROOT / ".venv"
LOCK = ROOT / ".lock"
# what `up`/`down` may delete in .localenv/ (other tools keep their own things there, e.g.
# hack/test.sh's sanity copy); logs/ is replaced at the next `up`
OWNED = ("state.json", "state.json.tmp", "env.sh", "env.sh.tmp", "kubeconfig", "kubeconfig.tmp",
         "collections", "registry", "etcd", "cluster-*")


def _show(path: Path) -> str:
    """A path as the user best reads it: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def say(msg: str) -> None:
    print(f"[localenv] {msg}", flush=True)


@contextlib.contextmanager
def locked():
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another hack/localenv.py command runs in this checkout; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def save_state(state: Dict[str, Any]) -> None:
    le.write_file(STATE, json.dumps(state, indent=2) + "\n", 0o600)  # holds the registry password


def etcd_data_root() -> Path:
    """etcd fsyncs every write: on tmpfs that costs microseconds instead of milliseconds,
    which keeps etcd out of the way of benchmarks. LOCALENV_ETCD_DATA=disk keeps it in
    .localenv/etcd instead."""
    if os.environ.get("LOCALENV_ETCD_DATA", "tmpfs") != "disk" and os.access("/dev/shm", os.W_OK):
        tag = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]  # one per environment dir
        return Path("/dev/shm") / f"registrylink-etcd-{tag}"
    return ROOT / "etcd"


def clean_root() -> None:
    from tests.support import node  # noqa: PLC0415

    if not ROOT.exists():
        return
    for entry in [e for pattern in OWNED for e in ROOT.glob(pattern)]:
        if entry.is_dir() and node.mounts_under(entry):
            # never delete through a mount (a Pod's hostPath volume would be the host's files)
            say(f"not removing {_show(entry)}: still mounted there: {', '.join(node.mounts_under(entry)[:3])}")
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def prerequisites() -> List[str]:
    missing = []
    from tests.support import node  # noqa: PLC0415

    kube = [le.kube_bin_dir() / b for b in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")]
    for path in (*kube, Path(le.ETCD_BIN), Path(le.REGISTRY_BIN), VENV / "bin" / "moto_server",
                 Path(node.CONTAINERD_BIN), Path(node.CTR_BIN), Path("/usr/sbin/runc"), Path(node.CNI_BIN_DIR) / "bridge",
                 Path("/bin/busybox")):
        if not os.access(path, os.X_OK):
            missing.append(str(path))
    for tool in ("openssl", "htpasswd", "gcc", "ip", "umount"):
        if not shutil.which(tool):
            missing.append(tool)
    return missing


def stop_recorded(state: Dict[str, Any]) -> List[le.Process]:
    left, problems = le.stop_environment(state, say)
    for problem in problems:
        say(f"left behind: {problem}")
    if problems:
        left = left or [le.Process(name="node cleanup (see above)", pid=0, argv=[], log="")]
    return left


def remove_dirs(state: Dict[str, Any]) -> None:
    for d in state.get("extra_dirs", []):
        shutil.rmtree(d, ignore_errors=True)


def collections_dir() -> Path:
    coll = ROOT / "collections"
    link = coll / "ansible_collections" / "registrylink" / "k8s"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(REPO_ROOT, target_is_directory=True)
    return coll


def env_vars(state: Dict[str, Any], kubeconfig: Path, coll: Path) -> Dict[str, str]:
    reg = state["registry"]
    return {
        "KUBECONFIG": str(kubeconfig),
        "K8S_AUTH_KUBECONFIG": str(kubeconfig),
        "ANSIBLE_COLLECTIONS_PATH": str(coll),
        "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python"),
        "REGISTRYLINK_REGISTRY": reg["host"],
        "REGISTRYLINK_REGISTRY_URL": reg["url"],
        "REGISTRYLINK_REGISTRY_USER": reg["username"],
        "REGISTRYLINK_REGISTRY_PASSWORD": reg["password"],
        "REGISTRYLINK_REGISTRY_CA": reg["ca"],
        "AWS_ENDPOINT_URL": state["moto"]["url"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "REGISTRYLINK_LOCALENV": str(STATE),
        "REGISTRYLINK_KUBE_CONTEXTS": " ".join(c["context"] for c in state["clusters"]),
        # a small real image (Debian's static busybox, one layer) the kubelet pulls with credentials
        "REGISTRYLINK_PRIVATE_IMAGE": state["images"]["busybox"],
        "REGISTRYLINK_PRIVATE_IMAGE_DIGEST": state["images"]["busybox_digest"],
    }


def write_env_sh(env: Dict[str, str], path_prepend: List[str]) -> Path:
    lines = [
        f"# Generated by hack/localenv.py up -- source it:  . {ROOT / 'env.sh'}",
        f"# {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}; "
        "gone after `make down`.",
    ]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    for p in path_prepend:
        q = shlex.quote(p)
        lines.append(f'case ":$PATH:" in *:{q}:*) ;; *) export PATH={q}:"$PATH" ;; esac')
    # loopback must never go through a proxy
    lines.append('case ",${NO_PROXY:-}," in *,127.0.0.1,*) ;; '
                 '*) export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" ;; esac')
    lines.append('export no_proxy="$NO_PROXY"')
    return le.write_file(ROOT / "env.sh", "\n".join(lines) + "\n", 0o600)


def summary(state: Dict[str, Any]) -> str:
    out = []
    for c in state["clusters"]:
        node = c.get("node") or {}
        out.append(f"  context {c['context']}: {c['server']}  (etcd {c['etcd_url']})"
                   + (f"  node {node['node_name']}" if node else ""))
    out.append(f"  registry:  {state['registry']['url']}  user {state['registry']['username']}  "
               f"CA {state['registry']['ca']}")
    out.append(f"  image:     {state['images']['busybox']}  (needs the registry's credentials)")
    out.append(f"  moto:      {state['moto']['url']}")
    out.append(f"  kubeconfig {state['kubeconfig']}")
    out.append(f"  use it:    . {_show(ROOT / 'env.sh')}")
    return "\n".join(out)


# --------------------------------------------------------------------------------------


def cmd_up(clusters: int, timeout: float) -> int:
    if clusters < 1:
        say("--clusters must be >= 1")
        return 2
    with locked():
        existing = le.read_state(STATE)
        if existing:
            procs = [le.Process.from_dict(p) for p in existing.get("processes", [])]
            healthy = existing.get("phase") == "up" and procs and all(p.alive() for p in procs)
            if healthy and len(existing.get("clusters", [])) == clusters:
                say(f"already up with {clusters} cluster(s); `make down` first to restart")
                print(summary(existing))
                return 0
            if healthy:
                say(f"up with {len(existing['clusters'])} cluster(s), {clusters} wanted: restarting")
            else:
                say("a previous environment is partly gone: stopping what is left of it")
            left = stop_recorded(existing)
            if left:
                say("could not stop: " + ", ".join(f"{p.name} (pid {p.pid})" for p in left))
                return 1
            remove_dirs(existing)
            STATE.unlink(missing_ok=True)
        missing = prerequisites()
        if missing:
            say("missing: " + ", ".join(missing) + "\n  run `make bootstrap` first")
            return 1
        return _up(clusters, timeout)


def _up(n: int, timeout: float) -> int:
    t0 = time.monotonic()
    clean_root()
    logs = ROOT / "logs"
    if logs.exists():
        shutil.rmtree(logs)
    logs.mkdir(parents=True)
    data_root = etcd_data_root()
    shutil.rmtree(data_root, ignore_errors=True)
    state: Dict[str, Any] = {
        "version": 1, "phase": "starting", "repo_root": str(REPO_ROOT), "root": str(ROOT),
        "kube_version": f"v{le.KUBE_VERSION}", "kube_bin": str(le.kube_bin_dir()),
        "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "clusters": [], "processes": [], "extra_dirs": [str(data_root)] if data_root != ROOT / "etcd" else [],
        "logs": str(logs),
    }

    def track(proc: le.Process) -> le.Process:
        state["processes"].append(proc.to_dict())
        save_state(state)
        return proc

    save_state(state)
    try:
        say(f"starting {n} cluster(s) with one node each (kube v{le.KUBE_VERSION}), a registry and moto")
        moto_port = le.free_port()
        moto = track(le.start_moto(moto_port, logs / "moto.log", VENV))
        state["moto"] = {"url": f"http://127.0.0.1:{moto_port}", "port": moto_port}
        reg = le.start_registry(ROOT / "registry", auth="htpasswd", delete_enabled=True, tls=True,
                                log=logs / "registry.log", timeout=timeout)
        track(reg.process)
        state["registry"] = {k: v for k, v in reg.to_dict().items() if k != "log"}
        from tests.support import images  # noqa: PLC0415 - needs the venv (requests)
        ref, digest = images.push_busybox(reg)
        state["images"] = {"busybox": ref, "busybox_digest": digest}
        save_state(state)
        cls = le.start_clusters(ROOT, n, state, lambda: save_state(state), data_root, timeout=timeout,
                                registry={"host": reg.host, "ca": reg.ca}, say=say)
        kubeconfig = le.write_file(ROOT / "kubeconfig", le.kubeconfig_text([c.admin() for c in cls]), 0o600)
        state["kubeconfig"] = str(kubeconfig)
        save_state(state)
        le.wait_for(lambda: le.moto_ready(state["moto"]["url"]), timeout, "STS GetCallerIdentity", "moto", moto)
        coll = collections_dir()
        state["env"] = env_vars(state, kubeconfig, coll)
        state["path_prepend"] = [str(VENV / "bin")]
        state["env_file"] = str(write_env_sh(state["env"], state["path_prepend"]))
        state["phase"] = "up"
        state["startup_seconds"] = round(time.monotonic() - t0, 1)
        save_state(state)
    except le.ComponentError as exc:
        print(exc.describe(), file=sys.stderr, flush=True)
        _abort(state)
        return 1
    except KeyboardInterrupt:
        _abort(state)
        return 130
    except BaseException as exc:
        print(f"[localenv] up failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        _abort(state)
        if isinstance(exc, le.LocalEnvError):
            return 1
        raise
    say(f"up in {state['startup_seconds']}s")
    print(summary(state))
    return 0


def _abort(state: Dict[str, Any]) -> None:
    say(f"stopping what was started (logs stay in {_show(ROOT / 'logs')})")
    left = stop_recorded(state)
    if left:
        say("could not stop: " + ", ".join(f"{p.name} (pid {p.pid})" for p in left) + "; state kept")
        return
    remove_dirs(state)
    STATE.unlink(missing_ok=True)


def cmd_down() -> int:
    with locked():
        state = le.read_state(STATE)
        if not state:
            say(f"not up (no {_show(STATE)})")
            clean_root()
            return 0
        procs = [le.Process.from_dict(p) for p in state.get("processes", [])]
        say(f"stopping {len(procs)} process(es), draining the node(s)")
        left = stop_recorded(state)
        if left:
            say("not clean: " + ", ".join(f"{p.name} (pid {p.pid})" for p in left))
            return 1
        still = [p for p in procs if le.pid_alive(p.pid, p.starttime)]
        if still:
            say("still running: " + ", ".join(f"{p.name} (pid {p.pid})" for p in still))
            return 1
        # our children were reparented at `up`: give init a moment to reap the zombies, so
        # that `pgrep` right after `make down` shows nothing
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(Path(f"/proc/{p.pid}").exists() for p in procs):
            time.sleep(0.1)
        remove_dirs(state)
        clean_root()  # state, env.sh, kubeconfig, PKI, registry storage; logs stay until the next up
        say(f"down (logs kept in {_show(ROOT / 'logs')} until the next `make up`)")
        return 0


def node_ready(cluster: Dict[str, Any]) -> bool:
    try:
        status, body = le.Cluster.from_dict(cluster).api(f"/api/v1/nodes/{cluster['node']['node_name']}", timeout=3)
    except Exception:  # noqa: BLE001
        return False
    return status == 200 and any(c["type"] == "Ready" and c["status"] == "True"
                                 for c in body.get("status", {}).get("conditions", []))


def cmd_status(as_json: bool) -> int:
    state = le.read_state(STATE)
    if not state:
        if as_json:
            print(json.dumps({"phase": "down"}))
        else:
            say("down")
        return 1
    procs = [le.Process.from_dict(p) for p in state.get("processes", [])]
    checks: Dict[str, bool] = {f"{p.name} (pid {p.pid})": p.alive() for p in procs}
    if state.get("phase") == "up":
        for c in state["clusters"]:
            cl = le.Cluster(name=c["name"], workdir=c["workdir"], log_dir="", etcd_data=c["etcd_data"],
                            api_port=c["api_port"])
            try:
                checks[f"{c['context']} /readyz"] = cl.api("/readyz", timeout=3)[0] == 200
            except Exception:  # noqa: BLE001
                checks[f"{c['context']} /readyz"] = False
        reg = state["registry"]
        try:
            checks["registry /v2/ -> 401"] = le.http_request(
                reg["url"] + "/v2/", context=le.ssl_context(reg["ca"]), timeout=3)[0] == 401
        except Exception:  # noqa: BLE001
            checks["registry /v2/ -> 401"] = False
        try:
            checks["moto STS"] = le.moto_ready(state["moto"]["url"])
        except Exception:  # noqa: BLE001
            checks["moto STS"] = False
        for c in state["clusters"]:
            if c.get("node"):
                checks[f"{c['context']} node {c['node']['node_name']} Ready"] = node_ready(c)
    ok = state.get("phase") == "up" and all(checks.values())
    if as_json:
        public = {k: v for k, v in state.items() if k not in ("env",)}
        public["registry"] = {k: v for k, v in state.get("registry", {}).items() if k != "password"}
        print(json.dumps({"healthy": ok, "checks": checks, "state": public}, indent=2))
    else:
        say(f"phase {state.get('phase')}, started {state.get('started_at')}, "
            f"{'healthy' if ok else 'DEGRADED'}")
        for name, good in checks.items():
            print(f"  {'ok  ' if good else 'FAIL'} {name}")
        if state.get("phase") == "up":
            print(summary(state))
    return 0 if ok else 2


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="hack/localenv.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the environment (no-op when already up with N clusters)")
    up.add_argument("--clusters", type=int, default=int(os.environ.get("CLUSTERS", "1") or 1))
    up.add_argument("--timeout", type=float, default=float(os.environ.get("LOCALENV_TIMEOUT", "120")),
                    help="seconds to wait for each component (default 120)")
    sub.add_parser("down", help="stop the recorded processes and remove the state")
    st = sub.add_parser("status", help="exit 0 when up and healthy, 1 when down, 2 when degraded")
    st.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "up":
        return cmd_up(args.clusters, args.timeout)
    if args.cmd == "down":
        return cmd_down()
    return cmd_status(args.json)


if __name__ == "__main__":
    sys.exit(main())
