"""Read kube-apiserver's own request counter, ``apiserver_request_total``, from GET /metrics.

The benchmark never estimates API requests: it reads this counter on every cluster before
and after a run (and, through the ``rlbench`` callback, at the start of every task) and
reports the difference. Standard library only, so that the Ansible callback can import it.

Which series count
------------------
``apiserver_request_total`` has no user label, so the counter also moves for requests of
the control plane itself. Counted: every verb except ``WATCH``/``WATCHLIST``/``CONNECT``
(long-running; the controllers' informers re-establish them) on the resources the benchmark's
playbooks touch (namespaces, secrets, serviceaccounts, pods) and discovery (GET /api, /apis,
/api/v1, /apis/<g>/<v>; ``resource=""``, ``component="apiserver"``), which kubernetes.core does.

Not counted, and kept apart as ``other``: requests on any other resource, which neither playbook
makes (the API server's identity lease every 10 s, its ClusterIP / NodePort repair loops that
LIST services every 3 minutes, API Priority and Fairness config, ...), and health probes
(``component=""``: /healthz, /readyz, /livez). Discovery also comes from the
kube-controller-manager's garbage collector (every 30 s); the harness measures that background
on an idle cluster instead of subtracting anything. GET /metrics itself does not appear in the counter.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.request
from typing import Dict, Iterable, List, Optional, Tuple

METRIC = "apiserver_request_total"
_LINE_RE = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+-]+)\s*$')
_LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

IGNORED_VERBS = {"WATCH", "WATCHLIST", "CONNECT"}
# "" is discovery (non-resource GETs of the API server proper)
COUNTED_RESOURCES = {"namespaces", "secrets", "serviceaccounts", "pods", ""}
# How the report names verbs (kube-apiserver's metric uses the HTTP-ish verbs).
VERB_NAMES = {"LIST": "LIST", "GET": "GET", "POST": "CREATE", "PUT": "UPDATE", "PATCH": "PATCH",
              "APPLY": "PATCH", "DELETE": "DELETE", "DELETECOLLECTION": "DELETE"}
REPORT_VERBS = ("LIST", "GET", "CREATE", "UPDATE", "PATCH", "DELETE")

# A series key: (verb, resource, subresource, scope, code)
Key = Tuple[str, str, str, str, str]


class Target:
    """One API server and the admin client certificate to read its /metrics with."""

    def __init__(self, name: str, server: str, ca: str, cert: str, key: str):
        self.name, self.server, self.ca, self.cert, self.key = name, server, ca, cert, key
        self._ctx: Optional[ssl.SSLContext] = None

    @classmethod
    def from_cluster(cls, cluster: Dict) -> "Target":
        """From a cluster entry of .localenv/state.json (``tests.support.localenv``)."""
        return cls(cluster["context"], cluster["server"], cluster["ca"], cluster["admin_cert"], cluster["admin_key"])

    def to_dict(self) -> Dict[str, str]:
        return {"name": self.name, "server": self.server, "ca": self.ca, "cert": self.cert, "key": self.key}

    def context(self) -> ssl.SSLContext:
        if self._ctx is None:
            ctx = ssl.create_default_context(cafile=self.ca)
            ctx.load_cert_chain(self.cert, self.key)
            self._ctx = ctx
        return self._ctx


def parse(text: Iterable[str]) -> Dict[Key, float]:
    """``apiserver_request_total`` series from Prometheus text lines, keyed by
    (verb, resource, subresource, scope, code), summed over the other labels."""
    out: Dict[Key, float] = {}
    for line in text:
        if not line.startswith(METRIC + "{"):
            continue
        m = _LINE_RE.match(line.rstrip("\n"))
        if not m:
            continue
        labels = dict(_LABEL_RE.findall(m.group("labels")))
        if labels.get("component", "") == "":
            continue  # health probes, not API requests
        key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""),
               labels.get("scope", ""), labels.get("code", ""))
        out[key] = out.get(key, 0.0) + float(m.group("value"))
    return out


def scrape(target: Target, timeout: float = 30.0) -> Dict[Key, float]:
    req = urllib.request.Request(target.server + "/metrics", headers={"Accept": "text/plain"})
    with urllib.request.urlopen(req, context=target.context(), timeout=timeout) as resp:
        lines = (raw.decode("utf-8", "replace") for raw in resp)
        return parse(lines)


def ready(target: Target, timeout: float = 10.0) -> bool:
    """GET /readyz answers 200 (the API server can reach etcd)."""
    try:
        with urllib.request.urlopen(target.server + "/readyz", context=target.context(), timeout=timeout) as resp:
            return resp.status == 200
    except Exception:  # any failure means not ready
        return False


def scrape_all(targets: List[Target]) -> Dict[str, Dict[Key, float]]:
    """Scrape every target concurrently; {target name: series}."""
    results: Dict[str, Dict[Key, float]] = {}
    errors: List[str] = []

    def one(t: Target) -> None:
        try:
            results[t.name] = scrape(t)
        except Exception as exc:  # reported by the caller
            errors.append(f"{t.name}: {exc}")

    threads = [threading.Thread(target=one, args=(t,)) for t in targets]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise RuntimeError("cannot read apiserver_request_total: " + "; ".join(errors))
    return results


def delta(before: Dict[Key, float], after: Dict[Key, float]) -> Dict[Key, int]:
    out = {}
    for key, value in after.items():
        d = int(round(value - before.get(key, 0.0)))
        if d:
            out[key] = d
    return out


def counted(key: Key) -> bool:
    verb, resource = key[0], key[1]
    return verb not in IGNORED_VERBS and resource in COUNTED_RESOURCES


def summarize(d: Dict[Key, int]) -> Dict:
    """{total, by_verb: {LIST, GET, CREATE, UPDATE, PATCH, DELETE}, discovery, by_resource, errors}."""
    by_verb = dict((v, 0) for v in REPORT_VERBS)
    by_resource: Dict[str, int] = {}
    total = discovery = errors = 0
    other: Dict[str, int] = {}
    for key, n in d.items():
        if not counted(key):
            if key[0] not in IGNORED_VERBS:
                label = f"{VERB_NAMES.get(key[0], key[0])} {key[1]}" + (f"/{key[2]}" if key[2] else "")
                other[label] = other.get(label, 0) + n
            continue
        verb, resource, subresource, _scope, code = key
        name = VERB_NAMES.get(verb, verb)
        by_verb[name] = by_verb.get(name, 0) + n
        total += n
        if resource == "":
            discovery += n
            res = "discovery"
        else:
            res = resource + ("/" + subresource if subresource else "")
        by_resource[f"{name} {res}"] = by_resource.get(f"{name} {res}", 0) + n
        if code.startswith(("4", "5")) and code not in ("404", "409"):
            errors += n
    return {"total": total, "by_verb": by_verb, "discovery": discovery,
            "by_resource": dict(sorted(by_resource.items(), key=lambda kv: -kv[1])), "errors": errors,
            "other": dict(sorted(other.items(), key=lambda kv: -kv[1]))}


def add(a: Dict, b: Dict) -> Dict:
    """Sum two summaries (e.g. over clusters)."""
    by_verb = dict(a["by_verb"])
    for k, v in b["by_verb"].items():
        by_verb[k] = by_verb.get(k, 0) + v
    by_resource = dict(a["by_resource"])
    for k, v in b["by_resource"].items():
        by_resource[k] = by_resource.get(k, 0) + v
    other = dict(a.get("other", {}))
    for k, v in b.get("other", {}).items():
        other[k] = other.get(k, 0) + v
    return {"total": a["total"] + b["total"], "by_verb": by_verb, "discovery": a["discovery"] + b["discovery"],
            "by_resource": dict(sorted(by_resource.items(), key=lambda kv: -kv[1])), "errors": a["errors"] + b["errors"],
            "other": dict(sorted(other.items(), key=lambda kv: -kv[1]))}


EMPTY = {"total": 0, "by_verb": dict((v, 0) for v in REPORT_VERBS), "discovery": 0, "by_resource": {}, "errors": 0,
         "other": {}}


def summarize_all(before: Dict[str, Dict[Key, float]], after: Dict[str, Dict[Key, float]]) -> Dict:
    """Summary summed over clusters, plus ``per_cluster``."""
    total = EMPTY
    per = {}
    for name in after:
        s = summarize(delta(before.get(name, {}), after[name]))
        per[name] = s
        total = add(total, s)
    out = dict(total)
    out["per_cluster"] = per
    return out


def dump_snapshot(path: str, label: str, series: Dict[str, Dict[Key, float]], t: Optional[float] = None) -> None:
    """Append one snapshot as a JSON line (keys joined with '|')."""
    rec = {"label": label, "t": time.monotonic() if t is None else t,
           "series": dict((name, dict(("|".join(k), v) for k, v in s.items())) for name, s in series.items())}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n")


def load_snapshots(path: str) -> List[Dict]:
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                rec = json.loads(line)
                rec["series"] = dict((name, dict((tuple(k.split("|")), v) for k, v in s.items()))
                                     for name, s in rec["series"].items())
                out.append(rec)
    except FileNotFoundError:
        pass
    return out
