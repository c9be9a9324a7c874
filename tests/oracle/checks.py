"""Run cases against the model and the oracle and list the disagreements."""

from __future__ import annotations

import collections

from . import model as m


def _writer_requests(case):
    ans = m.model_writer(case["server"])
    if "key" not in ans:
        return ans, []
    return ans, [m.oracle_request({"kind": "add_key", "key": case["server"]}),
                 m.oracle_request({"kind": "add_key", "key": ans["key"]})]


def _writer_diffs(case, ans, raws):
    """registry_secret's writer: a key it writes must be one the kubelet keeps, and reduces to
    the keyring key our model predicts; a server spelling the kubelet skips must be refused or
    rewritten with a warning."""
    if "crash" in ans:
        return [("crash", ans["crash"])]
    if "refused" in ans:
        return []
    user_key = m.oracle_answer("add_key", raws[0])["key"]
    written = m.oracle_answer("add_key", raws[1])["key"]
    diffs = []
    if written is None:
        diffs.append(("writer", "writes key %r, which the kubelet skips (url.Parse fails)" % ans["key"]))
    else:
        predicted = m.model_add_key(ans["key"])
        if predicted.get("key") != written:
            diffs.append(("writer", "writes key %r: the kubelet reduces it to %r, the model to %r"
                          % (ans["key"], written, predicted.get("key", predicted.get("crash")))))
    if user_key is None and not ans["warnings"]:
        diffs.append(("writer", "the kubelet skips %r, but the writer wrote %r without a warning"
                      % (case["server"], ans["key"])))
    return diffs


Disagreement = collections.namedtuple("Disagreement", ["case", "what", "detail"])


def run(oracle, cases):
    """Returns a list of Disagreement for ``cases`` (see corpus.py for their shape)."""
    requests, plan = [], []
    for case in cases:
        if case["kind"] == "writer":
            ans, reqs = _writer_requests(case)
        else:
            ans, reqs = m.model_answer(case), [m.oracle_request(case)]
        plan.append((case, ans, len(requests), len(reqs)))
        requests.extend(reqs)
    raws = oracle.ask_many(requests) if requests else []
    out = []
    for case, ans, start, n in plan:
        if case["kind"] == "writer":
            diffs = _writer_diffs(case, ans, raws[start:start + n])
        else:
            diffs = m.compare(case["kind"], ans, m.oracle_answer(case["kind"], raws[start]))
        out.extend(Disagreement(case, what, detail) for what, detail in diffs)
    return out


def describe_case(case):
    """A short, readable rendering of a case (payloads shortened)."""
    parts = ["%s" % case["kind"]]
    for f in ("image", "key", "glob", "target", "server"):
        if f in case:
            parts.append("%s=%r" % (f, case[f] if len(case[f]) < 120 else case[f][:60] + "...(%d chars)" % len(case[f])))
    for s in case.get("secrets", []):
        data = dict((k, v if len(v) < 200 else v[:80] + b"...(%d bytes)" % len(v)) for k, v in s["data"].items())
        parts.append("Secret %s type=%s data=%r" % (s["name"], s["type"], data))
    return "\n    ".join(parts)


def _size(case):
    return sum(len(repr(v)) for v in case.values())


def report(disagreements, limit=3):
    """Text for a failing test: counts per (family, what), then the smallest cases of each."""
    if not disagreements:
        return "0 disagreements"
    groups = collections.defaultdict(list)
    for d in disagreements:
        groups[(d.case.get("family", "?"), d.what)].append(d)
    lines = ["%d disagreement(s) between the model and the kubelet:" % len(disagreements)]
    for (family, what), items in sorted(groups.items()):
        lines.append("  %-18s %-8s %d" % (family, what, len(items)))
    for (family, what), items in sorted(groups.items()):
        lines.append("")
        lines.append("== %s / %s: %d, smallest:" % (family, what, len(items)))
        for d in sorted(items, key=lambda d: _size(d.case))[:limit]:
            lines.append("  " + describe_case(d.case))
            lines.append("    -> " + d.detail)
    return "\n".join(lines)
