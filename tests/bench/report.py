"""Render the benchmark results of tests/bench/bench.py as docs/benchmarks.md (and a console table).

    .venv/bin/python tests/bench/report.py .localenv/bench/results-full.json > docs/benchmarks.md
"""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, List, Optional

VERB_ABBR = (("LIST", "L"), ("GET", "G"), ("CREATE", "C"), ("UPDATE", "U"), ("PATCH", "P"), ("DELETE", "D"))
PHASE_NAMES = {"setup": "first setup", "noop": "no-op rerun", "rotate": "rotation"}
TARGET_NOOP_REQUESTS = 5
TARGET_NOOP_SPEEDUP = 50.0
TARGET_WRITE_SPEEDUP = 10.0
TARGET_MULTI_FACTOR = 1.5


def _num(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def req_cell(req: Dict[str, Any]) -> str:
    parts = [f"{a}{_num(req['by_verb'].get(v, 0))}" for v, a in VERB_ABBR if req["by_verb"].get(v)]
    return f"**{_num(req['total'])}** ({' '.join(parts) or '-'})"


def secs(s: Optional[float]) -> str:
    if s is None:
        return "-"
    return f"{s:.1f} s" if s >= 10 else f"{s:.2f} s"


def find(doc: Dict[str, Any], n: int, clusters: int, tool: str, phase: str) -> Optional[Dict[str, Any]]:
    for r in doc["runs"]:
        if r["n"] == n and r["clusters"] == clusters and r["tool"] == tool and r["phase"] == phase:
            return r
    return None


def task(run: Dict[str, Any], module: str) -> Optional[Dict[str, Any]]:
    for t in run.get("tasks", []):
        if module in t["task"]:
            return t
    return None


def mark(r: Optional[Dict[str, Any]], s: str) -> str:
    if r is None:
        return s
    if r.get("extrapolated"):
        s += " ‡"
    if not r.get("verified", True):
        s += " ✗"
    return s


def speedup(ours: Optional[Dict[str, Any]], theirs: Optional[Dict[str, Any]]) -> Optional[float]:
    if not ours or not theirs or not ours["seconds"]:
        return None
    return theirs["seconds"] / ours["seconds"]


def console_table(doc: Dict[str, Any]) -> str:
    lines = []
    for r in doc["runs"]:
        lines.append("N=%-5s %-10s %-6s %-6s %8.2fs %7d req %-60s peak %6.1f MiB%s" % (
            r["n"], r["scenario"], r["tool"], r["phase"], r["seconds"], r["requests"]["total"],
            " ".join(f"{a}{r['requests']['by_verb'].get(v, 0)}" for v, a in VERB_ABBR),
            r["peak_rss_tree_mb"], " (extrapolated from %d)" % r["sample"] if r.get("extrapolated") else ""))
    return "\n".join(lines)


def main_table(doc: Dict[str, Any], clusters: int) -> List[str]:
    out = ["| N | phase | registrylink.k8s | kubernetes.core | ours / theirs | speed-up | API requests, ours "
           "| API requests, theirs | CPU ours / theirs | peak memory ours / theirs |",
           "|---:|---|---:|---:|---:|---:|---|---|---:|---:|"]
    for n in doc["sizes"]:
        for phase in ("setup", "noop", "rotate"):
            o, t = find(doc, n, clusters, "ours", phase), find(doc, n, clusters, "theirs", phase)
            if not o and not t:
                continue
            sp = speedup(o, t)
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s MiB |" % (
                _num(n), PHASE_NAMES[phase], mark(o, secs(o["seconds"]) if o else "-"),
                mark(t, secs(t["seconds"]) if t else "-"),
                f"{1 / sp:.3f}" if sp else "-", f"**{sp:.1f}×**" if sp else "-",
                mark(o, req_cell(o["requests"])) if o else "-", mark(t, req_cell(t["requests"])) if t else "-",
                secs(o.get("cpu_s")) if o else "-", mark(t, secs(t.get("cpu_s"))) if t else "-",
                f"{o['peak_rss_tree_mb']:.0f}" if o else "-", f"{t['peak_rss_tree_mb']:.0f}" if t else "-"))
    return out


def multi_table(doc: Dict[str, Any]) -> List[str]:
    out = ["| N | phase | ours, 1 cluster | ours, 3 clusters | 3 ÷ 1 | theirs, 1 cluster | theirs, 3 clusters | 3 ÷ 1 |",
           "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for n in doc["sizes"]:
        for phase in ("setup", "noop", "rotate"):
            o1, o3 = find(doc, n, 1, "ours", phase), find(doc, n, 3, "ours", phase)
            t1, t3 = find(doc, n, 1, "theirs", phase), find(doc, n, 3, "theirs", phase)
            if not o3 and not t3:
                continue
            fo = o3["seconds"] / o1["seconds"] if o1 and o3 else None
            ft = t3["seconds"] / t1["seconds"] if t1 and t3 else None
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                _num(n), PHASE_NAMES[phase], mark(o1, secs(o1["seconds"]) if o1 else "-"),
                mark(o3, secs(o3["seconds"]) if o3 else "-"), f"**{fo:.2f}×**" if fo else "-",
                mark(t1, secs(t1["seconds"]) if t1 else "-"), mark(t3, secs(t3["seconds"]) if t3 else "-"),
                f"{ft:.2f}×" if ft else "-"))
    return out


def task_table(doc: Dict[str, Any]) -> List[str]:
    out = ["| N | clusters | tool | phase | task | time | requests | by verb and resource |",
           "|---:|---:|---|---|---|---:|---:|---|"]
    for r in doc["runs"]:
        for t in r.get("tasks", []):
            res = ", ".join(f"{k} {_num(v)}" for k, v in t["requests"]["by_resource"].items()) or "-"
            out.append("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
                _num(r["n"]), r["clusters"], r["tool"], r["phase"], t["task"].replace("|", "\\|"),
                secs(t["seconds"]) + (" ‡" if t.get("extrapolated") else ""), _num(t["requests"]["total"]), res))
    return out


def targets(doc: Dict[str, Any]) -> List[str]:
    n = max(doc["sizes"])
    out = ["| target | measured (N = %s) | |" % _num(n), "|---|---|---|"]
    noop = find(doc, n, 1, "ours", "noop")
    for module in ("registry_secret", "sa_pull_secret"):
        t = task(noop, module) if noop else None
        if t:
            ok = t["requests"]["total"] <= TARGET_NOOP_REQUESTS
            out.append("| no-op rerun: at most %d API requests for %s | %d (%s) | %s |" % (
                TARGET_NOOP_REQUESTS, module, t["requests"]["total"],
                ", ".join(f"{k} {v}" for k, v in t["requests"]["by_resource"].items()),
                "met" if ok else "**missed** by %d" % (t["requests"]["total"] - TARGET_NOOP_REQUESTS)))
    for phase, goal in (("noop", TARGET_NOOP_SPEEDUP), ("setup", TARGET_WRITE_SPEEDUP),
                        ("rotate", TARGET_WRITE_SPEEDUP)):
        o, t = find(doc, n, 1, "ours", phase), find(doc, n, 1, "theirs", phase)
        sp = speedup(o, t)
        if sp is None:
            continue
        out.append("| %s: at least %g× faster than the kubernetes.core loop | %.1f× (%s vs %s%s) | %s |" % (
            PHASE_NAMES[phase], goal, sp, secs(o["seconds"]), secs(t["seconds"]),
            ", theirs extrapolated ‡" if t.get("extrapolated") else "",
            "met" if sp >= goal else "**missed**: %.0f%% of the goal" % (100 * sp / goal)))
    for size in doc["sizes"]:
        for phase in ("setup", "noop", "rotate"):
            o1, o3 = find(doc, size, 1, "ours", phase), find(doc, size, 3, "ours", phase)
            if not o1 or not o3:
                continue
            f = o3["seconds"] / o1["seconds"]
            out.append("| three clusters in less than %g× the time of one (N = %s, %s) | %.2f× (%s vs %s) | %s |" % (
                TARGET_MULTI_FACTOR, _num(size), PHASE_NAMES[phase], f, secs(o3["seconds"]), secs(o1["seconds"]),
                "met" if f < TARGET_MULTI_FACTOR else "**missed** by %.2f×" % (f - TARGET_MULTI_FACTOR)))
    return out


def machine(doc: Dict[str, Any]) -> List[str]:
    m = doc["machine"]
    v = m.get("versions", {})
    rows = [
        ("CPU", f"{m.get('nproc')} × {m.get('cpu_model')}"),
        ("memory", f"{m.get('memory_gib')} GiB"),
        ("OS / kernel", f"{m.get('os')} / {m.get('kernel')}"),
        ("Python", v.get("python")),
        ("ansible-core", v.get("ansible-core")),
        ("ansible (PyPI package)", v.get("ansible")),
        ("kubernetes.core", v.get("kubernetes.core")),
        ("kubernetes (Python client)", v.get("kubernetes")),
        ("registrylink.k8s", f"{v.get('registrylink.k8s')} at commit {m.get('commit')}"),
        ("control plane", f"{v.get('kube-apiserver')}, {v.get('etcd')} (data on tmpfs)"),
        ("environment", doc.get("environment")),
        ("load average at start", " ".join(m.get("load_before", []))),
        ("date", m.get("date")),
    ]
    return ["| | |", "|---|---|"] + [f"| {k} | {val} |" for k, val in rows]


def render(doc: Dict[str, Any], notes: str = "") -> str:
    bg = doc.get("background", {})
    sampled = sorted(set((r["n"], r["clusters"], r["sample"]) for r in doc["runs"] if r.get("extrapolated")))
    lines = [
        "# Benchmarks",
        "",
        "Day-2 runs of an image pull secret over many namespaces: registrylink.k8s against the way it is",
        "done today with kubernetes.core. Generated by `make bench`%s (`tests/bench/bench.py`); every number"
        % (" QUICK=1" if doc.get("mode") == "quick" else ""),
        "below is measured in that run, on this machine, on the same local clusters.",
        "",
        "## What runs",
        "",
        "- **ours** (`tests/bench/playbooks/ours.yml`): `registrylink.k8s.registry_secret` and",
        "  `registrylink.k8s.sa_pull_secret`, one task each over the namespace glob `rlb-*`.",
        "- **theirs** (`tests/bench/playbooks/theirs.yml`): the idiomatic kubernetes.core equivalent: a",
        "  `kubernetes.core.k8s` task looping over the namespaces to apply the Secret (`data` holds base64 of",
        "  the rendered JSON, so a rerun compares equal), then the read-modify-write that adds a pull secret to",
        "  a ServiceAccount without wiping its list: one `kubernetes.core.k8s_info` of the `default`",
        "  ServiceAccounts (a single cluster-wide LIST, the cheapest read) and a `kubernetes.core.k8s` loop",
        "  writing back each list with the secret appended (with its `resourceVersion`), skipped by `when`",
        "  where the secret is already attached.",
        "- Phases, each one `ansible-playbook` run of the whole playbook: **first setup** (no secret",
        "  anywhere), **no-op rerun** (same input), **rotation** (new password). Then the same three against",
        "  **three clusters** in one run (inventory of three hosts, one per kubeconfig context, `forks=3`).",
        "- Ours and theirs use different Secret names (`rlb-ours-1c-n100`, `rlb-theirs-1c-n100`, `-3c-` for the",
        "  three-cluster runs, `-n1000` for N = 1000) in the same namespaces, so neither sees the other's",
        "  Secret and every scenario starts with no Secret of its name anywhere; both attach to the same",
        "  `default` ServiceAccounts, and each keeps the other's entries. Namespaces (`rlb-0000`...) are",
        "  created on all three clusters with the kubernetes Python client and a thread pool (not timed); the",
        "  N = 1000 set extends the N = 100 one; all are deleted at the end, and the run waits until they are gone.",
        "- After every run the harness checks, outside the measured window, that every namespace holds the",
        "  Secret with the expected password and that its `default` ServiceAccount references it",
        "  (✗ marks a run where that failed).",
        "",
        "**Time** is the wall-clock time of `ansible-playbook` minus the time the benchmark's own callback",
        "spent reading `/metrics` at task starts (measured per read, a few tens of ms each). **API requests**",
        "are read from every kube-apiserver's own `apiserver_request_total` counter (GET `/metrics` with the",
        "admin client certificate of the kubeconfig) before and after each run, and at every task start",
        "(`tests/bench/callback_plugins/rlbench.py`), summed over the clusters of the run: L = LIST, G = GET",
        "(discovery included), C = CREATE (POST), U = UPDATE (PUT), P = PATCH, D = DELETE. Counted are all",
        "non-WATCH requests on the resources the playbooks touch (namespaces, secrets, serviceaccounts, pods)",
        "and discovery; requests on other resources, which neither playbook makes (the API server's own",
        "leases, its service IP repair loop, flow-control config) are kept apart (`other` in the results",
        "JSON, `tests/bench/metrics.py`). **CPU** is the user + system time of `ansible-playbook` and all",
        "its descendants (`getrusage`), which unlike wall-clock time does not grow when other processes",
        "compete for the two cores. **Peak memory** is the largest sum of the resident set sizes of",
        "`ansible-playbook` and all its descendants (module processes), polled from `/proc` every 0.1 s.",
        "",
        "Background: an idle API server here received **%s** counted requests in %s s before the runs"
        % (bg.get("requests", {}).get("total", "?"), bg.get("seconds", "?")),
        "(%s): controllers' discovery resyncs. Nothing is subtracted for it."
        % (", ".join(f"{k} {v}" for k, v in bg.get("requests", {}).get("by_resource", {}).items()) or "none"),
        "",
        "## Machine",
        "",
    ]
    lines += machine(doc)
    lines += ["", "## Results: one cluster", ""]
    lines += main_table(doc, 1)
    lines += ["", "speed-up = time of kubernetes.core ÷ time of registrylink.k8s; ours / theirs is its inverse.", ""]
    if any(r["clusters"] == 3 for r in doc["runs"]):
        lines += ["## Results: three clusters in one playbook run (forks = 3)", ""]
        lines += main_table(doc, 3)
        lines += ["", "Requests and memory are summed over the three clusters / the whole process tree.", ""]
        lines += multi_table(doc)
        lines += [""]
    if sampled:
        lines += ["‡ **Extrapolated.** The kubernetes.core loops execute one module per namespace; running them",
                  "over every namespace of every size would take hours on this machine, so in these runs they",
                  "looped over a subset and the loop tasks (time and requests) were scaled linearly to N; the",
                  "one-off parts (`ansible-playbook` start, the `k8s_info` LIST of all N ServiceAccounts) are as",
                  "measured. The measured values are kept in the results JSON (`measured`). Subsets: " +
                  "; ".join(f"N = {_num(n)} on {c} cluster(s): {s} namespaces per cluster" for n, c, s in sampled) +
                  ". Per-namespace cost is flat in N for a loop (each item is a GET plus a write of one object),",
                  "which the per-task rows below show.", ""]
    lines += ["## Targets", ""]
    lines += targets(doc)
    lines += ["", "## Per task", ""]
    lines += task_table(doc)
    lines += [""]
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    lines += ["## Reproducing", "",
              "```",
              "make up CLUSTERS=3",
              "make bench            # N = 100 and 1000; make bench QUICK=1 for N = 100 only",
              "```",
              "",
              "`hack/bench.sh` installs PyPI's `ansible` package (for kubernetes.core) into `.venv` when it is",
              "missing (`requirements-bench.txt`), starts the environment when it is down, and refuses to run when",
              "it has fewer than three clusters. The benchmark creates up to 1000 namespaces (`rlb-0000`...)",
              "labelled `registrylink.k8s/bench=true` on each cluster and deletes them at the end. To keep them away",
              "from other people's tests on a shared environment, run it against private clusters:",
              "",
              "```",
              ".venv/bin/python tests/bench/privenv.py up --dir /tmp/rlbench-env",
              "REGISTRYLINK_LOCALENV=/tmp/rlbench-env/state.json make bench",
              ".venv/bin/python tests/bench/privenv.py down --dir /tmp/rlbench-env",
              "```",
              "",
              "Raw results (every run, every task, requests per cluster and resource): `bench/results-<mode>.json`",
              "beside the environment's `state.json` (`.localenv/bench/` for `make up`)",
              f"(regenerate this page with `.venv/bin/python tests/bench/report.py <results.json>`). Whole run: "
              f"{doc.get('total_s', '?')} s; not timed in it: creating the namespaces " +
              ", ".join(f"{_num(x['n'])} per cluster: {x['create_namespaces_s']} s" for x in doc.get("setup", [])) +
              "; deleting them all at the end: %s s." % doc.get("cleanup", {}).get("seconds", "?"), ""]
    return "\n".join(lines)


FLEET_START = "<!-- fleet: generated by tests/bench/fleet.py (make bench-fleet), kept by make bench -->"
FLEET_END = "<!-- /fleet -->"


def put_section(text: str, sec: str) -> str:
    """``text`` with its fleet section replaced by ``sec`` (appended when it has none)."""
    if FLEET_START in text and FLEET_END in text:
        head, rest = text.split(FLEET_START, 1)
        return head + sec + rest.split(FLEET_END, 1)[1]
    return text.rstrip("\n") + "\n\n" + sec + "\n"


def keep_section(old: str, new: str) -> str:
    """The page ``new`` (rendered by report.render) with the fleet section of ``old`` kept, if it had one."""
    if FLEET_START in old and FLEET_END in old:
        return put_section(new, FLEET_START + old.split(FLEET_START, 1)[1].split(FLEET_END, 1)[0] + FLEET_END)
    return new


NOTES_FILE = __file__.rsplit("/", 1)[0] + "/NOTES.md"


def load_notes() -> str:
    try:
        with open(NOTES_FILE, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return ""


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        print(render(json.load(fh), load_notes()))
