#!/usr/bin/env python
"""`make bench-fleet`: setup over a fleet of 1, 3 and 6 clusters in one run, registrylink.k8s vs kubernetes.core.

    .venv/bin/python tests/bench/fleet.py [--clusters 1,3,6] [--namespaces 50] [--out docs/benchmarks.md]

A benchmark, not a test. On an environment with at least max(--clusters) clusters (`make bench-fleet`,
that is hack/bench.sh --fleet, starts a private one without nodes: setup needs none), it creates --namespaces namespaces on
every cluster (not timed), then for each fleet size k runs the bench playbooks (tests/bench/playbooks,
the same ``ours`` and ``theirs`` as `make bench`) over the first k clusters in ONE ansible-playbook run
with forks = k (docs/awx.md: raise forks with the fleet, one CPU per 4 to 8 forks), for two phases:
first setup and no-op rerun. Per run: wall time, CPU seconds of the whole process tree (total and per
cluster) and API requests (every API server's apiserver_request_total, total and per cluster), each
verified outside the measured window. The kubernetes.core loops run over a sample of the namespaces
and are extrapolated as in `make bench` (marked). The section between the fleet markers of
docs/benchmarks.md is replaced; the rest of the page is left as it is.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402
import report  # noqa: E402

from tests.support import localenv as le  # noqa: E402

PHASES = ("setup", "noop")
START, END = report.FLEET_START, report.FLEET_END


def per_cluster(res: Dict[str, Any], k: int) -> Dict[str, Any]:
    """The run's cost divided by the number of clusters it ran over."""
    return {"seconds": round(res["seconds"] / k, 3),
            "cpu_s": round(res["cpu_s"] / k, 2) if res.get("cpu_s") is not None else None,
            "requests": round(res["requests"]["total"] / float(k), 1)}


MU = "ansible_collections.registrylink.k8s.plugins.module_utils"

# What a module process imports, measured in a fresh Python each (CPU seconds, median of 3): where the
# fixed per-task, per-cluster CPU goes before any API request.
IMPORTS = (
    ("python itself (`-c pass`)", "pass"),
    ("`ansible.module_utils.basic`", "import ansible.module_utils.basic"),
    ("`urllib3`", "import urllib3"),
    ("`google.auth.transport.requests` (kubeconfig auth plugins)", "import google.auth.transport.requests"),
    # any kubernetes.* import runs kubernetes/__init__.py, which imports client (every generated API and
    # model class), config, dynamic, watch, stream and utils
    ("`kubernetes.client` (all of `kubernetes`: every generated API and model, config, dynamic, watch, stream)",
     "import kubernetes.client"),
    # the runners as a module process imports them: _k8s.import_kubernetes loads only what the collection
    # uses; the "full" rows import all of kubernetes first, which is what every task paid before it
    ("the `sa_pull_secret` runner (`_sa_pull_secret` + `_k8s`)", "import " + MU + "._sa_pull_secret"),
    ("the same with all of `kubernetes` imported (before `_k8s.import_kubernetes`)",
     "import kubernetes.client; import " + MU + "._sa_pull_secret"),
    ("the `registry_secret` runner (`_registry_secret` + `_k8s` + every credential provider)",
     "import " + MU + "._registry_secret"),
    ("the same with all of `kubernetes` imported (before `_k8s.import_kubernetes`)",
     "import kubernetes.client; import " + MU + "._registry_secret"),
)


def import_costs(env: Dict[str, str], repeat: int = 3) -> List[Dict[str, Any]]:
    """CPU seconds (user + system) of a fresh ``python -c 'import X'`` per entry of IMPORTS, median of ``repeat``."""
    out = []
    for label, code in IMPORTS:
        vals = []
        for dummy in range(repeat):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([str(bench.VENV / "bin" / "python"), "-c", code], env=env, check=True)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            vals.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
        out.append({"import": label, "cpu_s": round(statistics.median(vals), 2), "runs": [round(v, 2) for v in vals]})
    return out


def run_fleet(args) -> int:
    counts = sorted(set(int(x) for x in args.clusters.split(",")))
    try:
        env = le.load_state()
    except le.LocalEnvNotUp as exc:
        bench.say(str(exc))
        return 2
    if len(env.clusters) < counts[-1]:
        bench.say(f"the environment has {len(env.clusters)} cluster(s); the fleet scenario needs {counts[-1]} "
                  f"(make bench-fleet starts a private one)")
        return 2
    clusters = env.clusters[:counts[-1]]
    contexts = [c["context"] for c in clusters]
    kubes = [bench.Kube(env.kubeconfig, c) for c in contexts]
    names = bench.names_for(args.namespaces)
    sample = min(args.namespaces, args.theirs_sample)
    state_dir = Path(env.state_file).parent
    workdir = Path(tempfile.mkdtemp(prefix="rlbench-fleet-", dir=str(state_dir)))
    results_path = Path(args.results or state_dir / "bench" / "results-fleet.json")
    results_path.parent.mkdir(parents=True, exist_ok=True)
    runner = bench.Runner(env, clusters, workdir)
    doc: Dict[str, Any] = {"mode": "fleet", "n": args.namespaces, "cluster_counts": counts, "theirs_sample": sample,
                           "machine": bench.machine(), "contexts": contexts,
                           "nodes": any(c.get("node") for c in env.clusters),
                           "environment": "private (tests/bench/privenv.py)" if env.raw.get("private")
                           else "shared (`make up`)", "runs": []}
    t_start = time.monotonic()
    failed = False
    bench.say(f"fleet run: {counts} clusters, {args.namespaces} namespaces each; work dir {workdir}")
    try:
        if sum(len(k.bench_namespaces()) for k in kubes):
            bench.delete_namespaces(kubes)
        doc["create_namespaces_s"] = round(bench.ensure_namespaces(kubes, names), 1)
        py_env = dict(runner.base_env, PYTHONPATH=(runner.base_env.get("ANSIBLE_COLLECTIONS_PATH") or "").split(":")[0])
        doc["imports"] = import_costs(py_env)
        for k in counts:
            ctxs = contexts[:k]
            for tool in bench.TOOLS:
                secret = f"rlb-fleet-{tool}-{k}c"
                password = secrets.token_urlsafe(18)
                for phase in PHASES:
                    extra = {"secret_name": secret, "registry_server": bench.REGISTRY_SERVER,
                             "registry_user": bench.REGISTRY_USER, "registry_password": password}
                    used = len(names)
                    if tool == "ours":
                        extra["ns_glob"] = bench.NS_PREFIX + "*"
                    else:
                        used = sample
                        extra["namespaces"] = names[:used]
                    bench.settle(runner.targets)
                    label = f"fleet-{k}c-{tool}-{phase}"
                    res = runner.run(tool, ctxs, extra, label)
                    res.update({"n": args.namespaces, "clusters": k, "forks": k, "phase": phase})
                    if used < len(names):
                        bench.extrapolate(res, len(names), used)
                    problem = (f"ansible-playbook exited {res['rc']}:\n{res.get('log_tail')}" if res["rc"] != 0 else
                               bench.verify([x for x in kubes if x.context in ctxs], names[:used], secret, password))
                    res["verified"] = problem is None
                    if problem:
                        res["problem"] = problem
                        failed = True
                    res["per_cluster"] = per_cluster(res, k)
                    doc["runs"].append(res)
                    bench.say(f"{k} cluster(s) {tool:6} {phase:5} {res['seconds']:8.2f}s  cpu {res['cpu_s']} s  "
                              f"{res['requests']['total']} requests" + (f"  PROBLEM: {problem}" if problem else ""))
                    results_path.write_text(json.dumps(doc, indent=1, default=str))
    except KeyboardInterrupt:
        bench.say("interrupted")
        failed = True
    finally:
        try:
            doc["cleanup_s"] = round(bench.delete_namespaces(kubes), 1)
        except Exception as exc:  # report, do not hide the benchmark's own failure
            bench.say(f"cleanup failed: {exc}")
            failed = True
        shutil.rmtree(workdir, ignore_errors=True)
    doc["total_s"] = round(time.monotonic() - t_start, 1)
    results_path.write_text(json.dumps(doc, indent=1, default=str))
    bench.say(f"results: {results_path}")
    if args.out and doc["runs"]:
        out = Path(args.out)
        old = out.read_text() if out.exists() else ""
        out.write_text(report.put_section(old, section(doc)))
        bench.say(f"report: {args.out} (fleet section)")
    print("\n".join(table(doc)))
    return 1 if failed else 0


def find(doc: Dict[str, Any], k: int, tool: str, phase: str) -> Optional[Dict[str, Any]]:
    for r in doc["runs"]:
        if r["clusters"] == k and r["tool"] == tool and r["phase"] == phase:
            return r
    return None


def _cell(r: Optional[Dict[str, Any]], text: str) -> str:
    if r is None:
        return "-"
    return report.mark(r, text)


def table(doc: Dict[str, Any]) -> List[str]:
    """One row per fleet size and phase: ours and theirs side by side, totals and per cluster."""
    lines = ["| clusters (forks) | phase | wall, ours | wall, theirs | speed-up | CPU per cluster, ours / theirs "
             "| API requests per cluster, ours / theirs | wall ÷ wall of 1 cluster, ours / theirs |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for k in doc["cluster_counts"]:
        for phase in PHASES:
            ours, theirs = find(doc, k, "ours", phase), find(doc, k, "theirs", phase)
            sp = report.speedup(ours, theirs)
            one_o, one_t = find(doc, doc["cluster_counts"][0], "ours", phase), find(doc, doc["cluster_counts"][0], "theirs", phase)

            def ratio(r, one):
                return f"{r['seconds'] / one['seconds']:.2f}×" if r and one and one["seconds"] else "-"

            def pc(r, key, fmt):
                return fmt(r["per_cluster"][key]) if r and r["per_cluster"].get(key) is not None else "-"

            lines.append("| %d (%d) | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s |" % (
                k, k, report.PHASE_NAMES[phase], _cell(ours, report.secs(ours["seconds"]) if ours else ""),
                _cell(theirs, report.secs(theirs["seconds"]) if theirs else ""),
                f"**{sp:.1f}×**" if sp else "-",
                pc(ours, "cpu_s", lambda v: f"{v:.2f} s"), pc(theirs, "cpu_s", lambda v: f"{v:.2f} s"),
                pc(ours, "requests", lambda v: f"{v:g}"), pc(theirs, "requests", lambda v: f"{v:g}"),
                ratio(ours, one_o), ratio(theirs, one_t)))
    return lines


def section(doc: Dict[str, Any]) -> str:
    m = doc["machine"]
    v = m.get("versions", {})
    lines = [START, "## Fleet: 1, 3 and 6 clusters in one run", "",
             f"Generated by `make bench-fleet` (`tests/bench/fleet.py`) on {m.get('date')}: {m.get('nproc')} × "
             f"{m.get('cpu_model')}, {m.get('memory_gib')} GiB, {m.get('os')}, Python {v.get('python')}, ansible-core "
             f"{v.get('ansible-core')}, kubernetes.core {v.get('kubernetes.core')}, kubernetes client "
             f"{v.get('kubernetes')}, registrylink.k8s at {m.get('commit')}; load average at start "
             f"{' '.join(m.get('load_before') or [])}; environment {doc['environment']}, "
             f"{'with' if doc.get('nodes') else 'without'} nodes.",
             "",
             f"The same two playbooks as above (`ours.yml`, `theirs.yml`) over {doc['n']} namespaces on each cluster, "
             "run over the first 1, 3 and 6 clusters of one environment, each fleet size in ONE `ansible-playbook` "
             "run with forks = the number of clusters (docs/awx.md: forks grow with the fleet). Phases: first setup "
             "(no Secret of the run's name anywhere) and no-op rerun. CPU is `ansible-playbook` and all its "
             "descendants (user + system) divided by the number of clusters; API requests are the counted requests "
             "of every API server of the run (as above) divided by the number of clusters. ‡ kubernetes.core's loops "
             f"ran over {doc['theirs_sample']} of the {doc['n']} namespaces per cluster and were extrapolated to "
             f"{doc['n']} as above; ✗ marks a run whose result did not verify.",
             ""]
    lines += table(doc)
    if doc.get("imports"):
        lines += ["", "Where a module task's fixed CPU goes, per task and cluster, before its first API request "
                  "(a fresh Python per import, CPU seconds, median of 3, measured in this run):", "",
                  "| import | CPU |", "|---|---:|"]
        lines += [f"| {x['import']} | {x['cpu_s']:.2f} s |" for x in doc["imports"]]
    lines += ["",
              f"Whole fleet run {doc.get('total_s')} s; not timed: creating the namespaces "
              f"({doc.get('create_namespaces_s')} s) and deleting them ({doc.get('cleanup_s')} s). Raw results: "
              "`bench/results-fleet.json` beside the environment's `state.json`.", "", END]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="tests/bench/fleet.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--clusters", default="1,3,6", help="fleet sizes, comma-separated (default 1,3,6)")
    ap.add_argument("--namespaces", type=int, default=50, help="namespaces per cluster (default 50)")
    ap.add_argument("--theirs-sample", type=int, default=5,
                    help="namespaces per cluster the kubernetes.core loops run over (default 5; extrapolated)")
    ap.add_argument("--out", default=str(bench.REPO_ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--results", default=None)
    args = ap.parse_args(argv)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    return run_fleet(args)


if __name__ == "__main__":
    sys.exit(main())
