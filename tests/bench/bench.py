#!/usr/bin/env python
"""`make bench`: day-2 pull-secret runs over many namespaces, registrylink.k8s vs kubernetes.core.

    .venv/bin/python tests/bench/bench.py [--quick] [--sizes 100,1000] [--out docs/benchmarks.md]

A benchmark, not a test: it measures and reports, it asserts nothing about time. For each size
N (100 and 1000; --quick: 100) it creates N namespaces on each of three clusters (kubernetes
Python client + thread pool, not timed), then runs, on the same clusters in the same run:

  ours    tests/bench/playbooks/ours.yml    registry_secret + sa_pull_secret, one task each, a glob
  theirs  tests/bench/playbooks/theirs.yml  kubernetes.core.k8s loop + k8s_info + k8s loop

for three phases (first setup, no-op rerun, password rotation) against one cluster (local-1),
then the same three against three clusters in one playbook run (one host per context, forks=3).
Each run: wall-clock time of ansible-playbook, the API requests every cluster's kube-apiserver
counted (apiserver_request_total from GET /metrics before and after, and at every task start
through the rlbench callback), and the peak memory of the ansible-playbook process tree
(polled from /proc). Results go to .localenv/bench/results.json and docs/benchmarks.md
(tests/bench/report.py). Namespaces are deleted at the end (and waited for).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures as cf
import datetime
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(HERE))

from tests.support import localenv as le  # noqa: E402
import metrics  # noqa: E402
import report  # noqa: E402

VENV = REPO_ROOT / ".venv"
NS_PREFIX = "rlb-"
NS_LABEL = ("registrylink.k8s/bench", "true")
REGISTRY_SERVER = "registry.bench.example:5000"
REGISTRY_USER = "bench-puller"
PHASES = ("setup", "noop", "rotate")
TOOLS = ("ours", "theirs")
WORKERS = 16


def say(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


# --------------------------------------------------------------------------------------
# cluster access (setup and verification only: never inside a measured window)


class Kube:
    """A thin raw-JSON client for one cluster (kubernetes Python client underneath)."""

    def __init__(self, kubeconfig: str, context: str):
        from kubernetes import client, config
        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        cfg.connection_pool_maxsize = WORKERS * 2
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.context = context

    @staticmethod
    def _json(resp) -> Any:
        data = resp.data if hasattr(resp, "data") else resp
        return json.loads(data) if data else None

    def list(self, func, **kw) -> List[Dict]:
        items, cont = [], None
        while True:
            args = dict(kw, limit=500, _preload_content=False)
            if cont:
                args["_continue"] = cont
            page = self._json(func(**args))
            items += page.get("items") or []
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items

    def bench_namespaces(self) -> List[Dict]:
        return self.list(self.core.list_namespace, label_selector="%s=%s" % NS_LABEL)


def names_for(n: int) -> List[str]:
    return [f"{NS_PREFIX}{i:04d}" for i in range(n)]


def pool_map(func, items, workers: int = WORKERS) -> List[Any]:
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


def ensure_namespaces(kubes: List[Kube], names: List[str], timeout: float = 600) -> float:
    """Create the missing namespaces on every cluster and wait for each one's `default`
    ServiceAccount and kube-root-ca.crt ConfigMap (so that the controllers are quiet before a
    measured run). Returns the seconds it took."""
    from kubernetes.client.exceptions import ApiException
    t0 = time.monotonic()
    for kube in kubes:
        have = set(ns["metadata"]["name"] for ns in kube.bench_namespaces())
        todo = [n for n in names if n not in have]

        def create(name, kube=kube):
            body = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "labels": {NS_LABEL[0]: NS_LABEL[1]}}}
            for attempt in range(10):
                try:
                    kube.core.create_namespace(body, _preload_content=False)
                    return
                except ApiException as exc:
                    if exc.status == 409:
                        return
                    if exc.status in (429, 500, 503) and attempt < 9:
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    raise

        pool_map(create, todo)
    want = set(names)
    deadline = time.monotonic() + timeout
    for kube in kubes:
        while True:
            sas = kube.list(kube.core.list_service_account_for_all_namespaces, field_selector="metadata.name=default")
            cms = kube.list(kube.core.list_config_map_for_all_namespaces,
                            field_selector="metadata.name=kube-root-ca.crt")
            have_sa = want & set(sa["metadata"]["namespace"] for sa in sas)
            have_cm = want & set(cm["metadata"]["namespace"] for cm in cms)
            if len(have_sa) == len(want) and len(have_cm) == len(want):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kube.context}: default ServiceAccount in {len(have_sa)}/{len(want)} and "
                                   f"kube-root-ca.crt in {len(have_cm)}/{len(want)} namespaces after {timeout}s")
            time.sleep(1)
    return time.monotonic() - t0


def delete_namespaces(kubes: List[Kube], timeout: float = 900) -> float:
    """Delete every benchmark namespace (label registrylink.k8s/bench=true) and wait until they are gone."""
    from kubernetes.client.exceptions import ApiException
    t0 = time.monotonic()
    for kube in kubes:
        names = [ns["metadata"]["name"] for ns in kube.bench_namespaces()
                 if not ns["metadata"].get("deletionTimestamp")]

        def delete(name, kube=kube):
            try:
                kube.core.delete_namespace(name, _preload_content=False)
            except ApiException as exc:
                if exc.status != 404:
                    raise

        pool_map(delete, names)
    deadline = time.monotonic() + timeout
    for kube in kubes:
        while True:
            left = kube.bench_namespaces()
            if not left:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kube.context}: {len(left)} benchmark namespaces still there after {timeout}s")
            time.sleep(2)
    return time.monotonic() - t0


def settle(targets: List[metrics.Target], quiet_for: float = 2.0, timeout: float = 120) -> None:
    """Wait until no counted request reaches any API server for ``quiet_for`` seconds, apart from
    discovery (the garbage collector's 30 s resync), so that a run starts on a quiet control plane."""
    deadline = time.monotonic() + timeout
    last = metrics.scrape_all(targets)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1)
        now = metrics.scrape_all(targets)
        s = metrics.summarize_all(last, now)
        if s["total"] - s["discovery"] > 0:
            quiet_since = time.monotonic()
        last = now
        if time.monotonic() - quiet_since >= quiet_for:
            return
    say(f"warning: API servers not quiet after {timeout}s; measuring anyway")


def verify(kubes: List[Kube], names: List[str], secret: str, password: str) -> Optional[str]:
    """Every namespace holds the secret with this password and its default SA references it.
    Returns an error message or None. Not timed."""
    want = set(names)
    for kube in kubes:
        items = kube.list(kube.core.list_secret_for_all_namespaces, field_selector=f"metadata.name={secret}")
        ok = set()
        for s in items:
            ns = s["metadata"]["namespace"]
            if ns not in want:
                continue
            try:
                cfg = json.loads(base64.b64decode(s["data"][".dockerconfigjson"]))
                entry = cfg["auths"][REGISTRY_SERVER]
            except (KeyError, ValueError):
                continue
            if entry.get("password") == password and entry.get("username") == REGISTRY_USER:
                ok.add(ns)
        if ok != want:
            return f"{kube.context}: secret {secret} right in {len(ok)}/{len(want)} namespaces"
        sas = kube.list(kube.core.list_service_account_for_all_namespaces, field_selector="metadata.name=default")
        attached = set(sa["metadata"]["namespace"] for sa in sas
                       if secret in [r.get("name") for r in sa.get("imagePullSecrets") or []])
        if not want <= attached:
            return f"{kube.context}: {secret} attached in {len(want & attached)}/{len(want)} default ServiceAccounts"
    return None


# --------------------------------------------------------------------------------------
# measuring one ansible-playbook run


class TreeMemory(threading.Thread):
    """Polls /proc for the resident memory of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_tree_kb = 0
        self.peak_proc_kb = 0
        self.stop_event = threading.Event()

    @staticmethod
    def _snapshot():
        parent, rss = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    raw = fh.read()
                with open(f"/proc/{entry}/statm") as fh:
                    pages = int(fh.read().split()[1])
            except (OSError, ValueError, IndexError):
                continue
            fields = raw[raw.rindex(")") + 2:].split()
            parent[int(entry)] = int(fields[1])
            rss[int(entry)] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
        return parent, rss

    def run(self):
        while not self.stop_event.is_set():
            parent, rss = self._snapshot()
            tree = {self.pid}
            changed = True
            while changed:
                changed = False
                for p, pp in parent.items():
                    if pp in tree and p not in tree:
                        tree.add(p)
                        changed = True
            total = sum(rss.get(p, 0) for p in tree)
            self.peak_tree_kb = max(self.peak_tree_kb, total)
            self.peak_proc_kb = max(self.peak_proc_kb, max((rss.get(p, 0) for p in tree), default=0))
            self.stop_event.wait(self.interval)


class Runner:
    def __init__(self, env: le.LocalEnv, clusters: List[Dict], workdir: Path):
        self.env = env
        self.clusters = clusters
        self.workdir = workdir
        self.targets = [metrics.Target.from_cluster(c) for c in clusters]
        self.seq = 0
        targets_file = workdir / "targets.json"
        targets_file.write_text(json.dumps([t.to_dict() for t in self.targets]))
        os.chmod(targets_file, 0o600)
        self.base_env = env.subprocess_env()
        self.base_env.update({
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "rlbench",
            "RLBENCH_TARGETS": str(targets_file),
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
            "ANSIBLE_HOME": str(workdir / "ansible-home"),
        })

    def inventory(self, contexts: List[str]) -> Path:
        path = self.workdir / f"inventory-{len(contexts)}.json"
        inv = {"all": {"hosts": dict((c, {"kube_context": c}) for c in contexts),
                       "vars": {"ansible_connection": "local",
                                "ansible_python_interpreter": str(VENV / "bin" / "python")}}}
        path.write_text(json.dumps(inv))
        return path

    def run(self, tool: str, contexts: List[str], extra: Dict[str, Any], label: str) -> Dict[str, Any]:
        self.seq += 1
        tag = f"{self.seq:02d}-{label}"
        vars_file = self.workdir / f"vars-{tag}.json"
        vars_file.write_text(json.dumps(extra))
        os.chmod(vars_file, 0o600)
        snaps = self.workdir / f"snapshots-{tag}.jsonl"
        log = self.workdir / f"ansible-{tag}.log"
        env = dict(self.base_env, RLBENCH_SNAPSHOTS=str(snaps))
        cmd = [str(VENV / "bin" / "ansible-playbook"), "-i", str(self.inventory(contexts)),
               "-f", str(max(len(contexts), 1)), "-e", f"@{vars_file}", str(HERE / "playbooks" / f"{tool}.yml")]
        targets = [t for t in self.targets if t.name in contexts]
        before = metrics.scrape_all(targets)
        load_before = os.getloadavg()[0]
        with open(log, "wb") as out:
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(self.workdir),
                                    start_new_session=True)
            mem = TreeMemory(proc.pid)
            mem.start()
            try:
                rc = proc.wait()
            except BaseException:
                # interrupted: stop exactly this ansible-playbook (its own process group) and its workers
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (OSError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, signal.SIGKILL)
                raise
            finally:
                mem.stop_event.set()
                mem.join()
            wall = time.monotonic() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        after = metrics.scrape_all(targets)
        vars_file.unlink()
        snapshots = metrics.load_snapshots(str(snaps))
        scrape_s = sum(s.get("scrape_s", 0.0) for s in snapshots)
        tasks = []
        for a, b in zip(snapshots, snapshots[1:]):
            if not a["label"].startswith("task:"):
                continue
            req = metrics.summarize_all(a["series"], b["series"])
            req.pop("per_cluster", None)
            tasks.append({"task": a["label"][5:], "seconds": round(b["t_before"] - a["t"], 3), "requests": req})
        total = metrics.summarize_all(before, after)
        result = {
            "tool": tool, "label": label, "contexts": contexts, "rc": rc,
            "wall_s": round(wall, 3), "callback_scrape_s": round(scrape_s, 3),
            "seconds": round(wall - scrape_s, 3),
            "cpu_s": round(cpu, 2),
            "requests": total, "tasks": tasks,
            "peak_rss_tree_mb": round(mem.peak_tree_kb / 1024, 1),
            "peak_rss_process_mb": round(mem.peak_proc_kb / 1024, 1),
            "log": str(log),
            "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        if rc != 0:
            result["log_tail"] = le.log_tail(log, 40)
        return result


# --------------------------------------------------------------------------------------


LOOP_MARK = "in a loop"


def theirs_sample(args, n: int, clusters: int) -> int:
    """How many namespaces the kubernetes.core playbook loops over (the rest is extrapolated)."""
    if args.theirs_sample:
        return args.theirs_sample
    if args.theirs_full:
        return n
    return THEIRS_SAMPLE.get((n, clusters), min(n, 50))


# Namespaces the kubernetes.core loops run over, per (N, clusters), so that `make bench` stays
# within ~25 minutes on 2 cores (docs/benchmarks.md, "Sampling"). Everything else is run in full.
THEIRS_SAMPLE = {(100, 1): 30, (100, 3): 8, (1000, 1): 30, (1000, 3): 8}


def extrapolate(res: Dict[str, Any], n: int, sample: int) -> None:
    """Scale a kubernetes.core run over ``sample`` of ``n`` namespaces to ``n``: the loop tasks
    (one module execution per namespace) linearly by n/sample, everything else (ansible-playbook
    start, k8s_info's one LIST) as measured. The measured values stay in ``measured``."""
    factor = n / float(sample)
    measured = {"seconds": res["seconds"], "requests": res["requests"], "tasks": res["tasks"], "sample": sample}
    task_sum = sum(t["seconds"] for t in res["tasks"])
    rest = res["seconds"] - task_sum  # ansible-playbook start-up and end, outside any task
    seconds = rest
    req = json.loads(json.dumps(metrics.EMPTY))
    tasks = []
    for t in res["tasks"]:
        scaled = dict(t)
        if LOOP_MARK in t["task"]:
            scaled["seconds"] = round(t["seconds"] * factor, 3)
            r = dict(t["requests"])
            r["total"] = int(round(r["total"] * factor))
            r["discovery"] = int(round(r["discovery"] * factor))
            r["by_verb"] = dict((k, int(round(v * factor))) for k, v in r["by_verb"].items())
            r["by_resource"] = dict((k, int(round(v * factor))) for k, v in r["by_resource"].items())
            scaled["requests"] = r
            scaled["extrapolated"] = True
        seconds += scaled["seconds"]
        req = metrics.add(req, scaled["requests"])
        tasks.append(scaled)
    measured["cpu_s"] = res.get("cpu_s")
    cpu = res["cpu_s"] * seconds / res["seconds"] if res.get("cpu_s") and res["seconds"] else None
    res.update({"seconds": round(seconds, 3), "requests": req, "tasks": tasks, "extrapolated": True,
                "sample": sample, "measured": measured, "cpu_s": round(cpu, 2) if cpu else None})


def machine() -> Dict[str, Any]:
    def first(path, key, sep=":"):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key) and sep in line:
                    return line.split(sep, 1)[1].strip().strip('"')
        except OSError:
            pass
        return None

    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    mem_kb = first("/proc/meminfo", "MemTotal")
    versions = {}
    try:
        from importlib import metadata as md
        for pkg in ("ansible-core", "ansible", "kubernetes"):
            try:
                versions[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                versions[pkg] = None
    except ImportError:  # pragma: no cover
        pass
    kc = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / \
        "ansible_collections" / "kubernetes" / "core" / "MANIFEST.json"
    try:
        versions["kubernetes.core"] = json.loads(kc.read_text())["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        versions["kubernetes.core"] = None
    galaxy = first(REPO_ROOT / "galaxy.yml", "version")
    versions["registrylink.k8s"] = galaxy
    versions["python"] = platform.python_version()
    versions["kube-apiserver"] = out([str(le.kube_bin_dir() / "kube-apiserver"), "--version"])
    etcd = out([le.ETCD_BIN, "--version"]) or ""
    versions["etcd"] = etcd.splitlines()[0] if etcd else None
    commit = out(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "plugins"])
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "cpu_model": first("/proc/cpuinfo", "model name"),
        "kernel": platform.release(),
        "os": first("/etc/os-release", "PRETTY_NAME", "="),
        "versions": versions,
        "commit": commit + (" (plugins/ modified in the work tree)" if dirty else "") if commit else None,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": open("/proc/loadavg").read().split()[:3],
    }


def background(targets: List[metrics.Target], seconds: float) -> Dict[str, Any]:
    """Counted requests that reach an idle API server (controllers, discovery resyncs)."""
    before = metrics.scrape_all(targets[:1])
    time.sleep(seconds)
    after = metrics.scrape_all(targets[:1])
    s = metrics.summarize_all(before, after)
    s.pop("per_cluster", None)
    return {"seconds": seconds, "cluster": targets[0].name, "requests": s,
            "per_minute": round(s["total"] * 60.0 / seconds, 1)}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="tests/bench/bench.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--quick", action="store_true", help="N=100 only")
    ap.add_argument("--sizes", help="comma-separated namespace counts (default 100,1000; --quick: 100)")
    ap.add_argument("--out", default=str(REPO_ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--results", default=None, help="results JSON (default .localenv/bench/results-<mode>.json)")
    ap.add_argument("--no-multi", action="store_true", help="skip the three-cluster scenario (development only)")
    ap.add_argument("--keep-workdir", action="store_true")
    ap.add_argument("--theirs-sample", type=int, default=0,
                    help="namespaces the kubernetes.core loops run over (default: THEIRS_SAMPLE); the rest is "
                         "extrapolated and labelled so")
    ap.add_argument("--theirs-full", action="store_true", help="run the kubernetes.core loops over all N (slow)")
    args = ap.parse_args(argv)

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    sizes = [int(s) for s in (args.sizes or ("100" if args.quick else "100,1000")).split(",")]
    mode = "quick" if args.quick else "full"

    try:
        env = le.load_state()
    except le.LocalEnvNotUp as exc:
        say(str(exc))
        return 2
    if len(env.clusters) < 3:
        say(f"the local environment has {len(env.clusters)} cluster(s); the benchmark needs 3: "
            f"`make down && make up CLUSTERS=3`")
        return 2
    kc = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / \
        "ansible_collections" / "kubernetes" / "core"
    if not kc.is_dir():
        say("kubernetes.core is not installed in .venv: pip install -r requirements-bench.txt (hack/bench.sh does)")
        return 2

    clusters = env.clusters[:3]
    contexts = [c["context"] for c in clusters]
    kubes = [Kube(env.kubeconfig, c) for c in contexts]
    state_dir = Path(env.state_file).parent
    workdir = Path(tempfile.mkdtemp(prefix="rlbench-", dir=str(state_dir)))
    results_path = Path(args.results or state_dir / "bench" / f"results-{mode}.json")
    results_path.parent.mkdir(parents=True, exist_ok=True)
    runner = Runner(env, clusters, workdir)
    t_start = time.monotonic()
    doc: Dict[str, Any] = {"mode": mode, "sizes": sizes, "machine": machine(), "contexts": contexts,
                           "environment": "private (tests/bench/privenv.py)" if env.raw.get("private")
                           else "shared (`make up CLUSTERS=3`)",
                           "runs": [], "setup": []}
    say(f"{mode} run, sizes {sizes}, clusters {', '.join(contexts)}; work dir {workdir}")
    failed = False
    try:
        leftovers = sum(len(k.bench_namespaces()) for k in kubes)
        if leftovers:
            say(f"deleting {leftovers} namespaces left by an earlier run")
            delete_namespaces(kubes)
        settle(runner.targets)
        doc["background"] = background(runner.targets, 20.0)
        say(f"background on idle {contexts[0]}: {doc['background']['requests']['total']} counted requests "
            f"in 20 s ({doc['background']['requests']['by_resource']})")
        for n in sizes:
            names = names_for(n)
            secs = ensure_namespaces(kubes, names)
            doc["setup"].append({"n": n, "create_namespaces_s": round(secs, 1), "clusters": len(kubes)})
            say(f"N={n}: {n} namespaces on each of {len(kubes)} clusters ready in {secs:.1f}s (not timed)")
            scenarios = [("1 cluster", contexts[:1])]
            if not args.no_multi:
                scenarios.append(("3 clusters", contexts))
            for scen, ctxs in scenarios:
                tagc = f"{len(ctxs)}c"
                for tool in TOOLS:
                    secret = f"rlb-{tool}-{tagc}-n{n}"
                    passwords = {"setup": secrets.token_urlsafe(18)}
                    passwords["noop"] = passwords["setup"]
                    passwords["rotate"] = secrets.token_urlsafe(18)
                    for phase in PHASES:
                        extra = {"secret_name": secret, "registry_server": REGISTRY_SERVER,
                                 "registry_user": REGISTRY_USER, "registry_password": passwords[phase]}
                        sample = len(names)
                        if tool == "ours":
                            extra["ns_glob"] = NS_PREFIX + "*"
                        else:
                            sample = min(len(names), theirs_sample(args, n, len(ctxs)))
                            extra["namespaces"] = names[:sample]
                        settle(runner.targets)
                        label = f"n{n}-{tagc}-{tool}-{phase}"
                        res = runner.run(tool, ctxs, extra, label)
                        res.update({"n": n, "clusters": len(ctxs), "scenario": scen, "phase": phase})
                        if sample < n:
                            extrapolate(res, n, sample)
                        problem = None
                        if res["rc"] != 0:
                            problem = f"ansible-playbook exited {res['rc']}:\n{res.get('log_tail')}"
                        else:
                            problem = verify([k for k in kubes if k.context in ctxs], names[:sample], secret,
                                             passwords[phase])
                        res["verified"] = problem is None
                        if problem:
                            res["problem"] = problem
                            failed = True
                            sick = [t.name for t in runner.targets if not metrics.ready(t)]
                            if sick:
                                doc["runs"].append(res)
                                raise RuntimeError(f"API server(s) of {', '.join(sick)} not ready (GET /readyz) after "
                                                   f"{label}: the environment broke; stopping the benchmark")
                        doc["runs"].append(res)
                        say(f"N={n} {scen:10} {tool:6} {phase:6} {res['seconds']:8.2f}s  "
                            f"{res['requests']['total']:6d} requests {res['requests']['by_verb']}  "
                            f"peak {res['peak_rss_tree_mb']} MiB" + ("" if not problem else f"  PROBLEM: {problem}"))
                        results_path.write_text(json.dumps(doc, indent=1, default=str))
    except KeyboardInterrupt:
        say("interrupted")
        failed = True
    except RuntimeError as exc:
        say(str(exc))
        failed = True
    finally:
        try:
            before = metrics.scrape_all(runner.targets)
            secs = delete_namespaces(kubes)
            cleanup = metrics.summarize_all(before, metrics.scrape_all(runner.targets))
            doc["cleanup"] = {"seconds": round(secs, 1), "requests_counted": cleanup["total"],
                              "requests_other": sum(cleanup["other"].values())}
            say(f"cleanup: benchmark namespaces deleted on every cluster in {secs:.1f}s "
                f"({cleanup['total'] + doc['cleanup']['requests_other']} API requests, mostly the namespace controller's)")
        except Exception as exc:  # report, do not hide the benchmark's own failure
            say(f"cleanup failed: {exc}")
            failed = True
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    doc["total_s"] = round(time.monotonic() - t_start, 1)
    results_path.write_text(json.dumps(doc, indent=1, default=str))
    say(f"results: {results_path}")
    if args.out and doc["runs"]:
        out = Path(args.out)
        old = out.read_text() if out.exists() else ""
        out.write_text(report.keep_section(old, report.render(doc, report.load_notes())))
        say(f"report: {args.out}")
    print(report.console_table(doc))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
