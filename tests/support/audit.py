"""Reading a local API server's audit log: which requests a task made, with whose credentials.

Each API server of the local environment writes one JSON line per request at level Metadata
(``AUDIT_POLICY`` in ``tests.support.localenv``: user, verb, resource, namespace, name, code; never
a body), leaving out the control plane's own components and the node. A test marks the end of the
log before a task and reads what was appended after it, so background work of the control plane
(namespace cleanup, leases, Pod status) can never be mistaken for something the task did.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

# audit verbs (lowercase, as the API server logs them) that change state
WRITE_VERBS = frozenset(("create", "update", "patch", "delete", "deletecollection"))


class AuditLog:
    """One API server's audit log file."""

    def __init__(self, path: os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"{self.path}: no audit log; the local environment predates audit logging, run `make down && make up`")

    def mark(self) -> int:
        """The current end of the log; pass it to ``events_since``."""
        return self.path.stat().st_size

    def sync(self, core_api: Any, timeout: float = 10.0) -> None:
        """Wait until every request answered before this call is in the log.

        The API server logs a request when its handler returns, a moment after the client may
        already hold the answer. One request made now (a GET of a Namespace nobody has) is logged
        after everything answered before it; this returns once that line is in the file.
        """
        from kubernetes.client.rest import ApiException

        name = "audit-sync-" + secrets.token_hex(6)
        start = self.mark()
        try:
            core_api.read_namespace(name)
        except ApiException:
            pass  # 404 expected; the request is logged all the same
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(name in (e.get("requestURI") or "") for e in self.events_since(start)):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.path}: the sync request {name} did not reach the audit log in {timeout}s")

    def events_since(self, mark: int) -> List[Dict[str, Any]]:
        """The complete events appended after ``mark`` (a partly written last line is left out)."""
        with open(self.path, "rb") as fh:
            fh.seek(mark)
            data = fh.read()
        out = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # the line being written right now
        return out


def resource_of(event: Dict[str, Any]) -> str:
    """``resource[/subresource]`` of an audit event, or its URI for a non-resource request."""
    ref = event.get("objectRef") or {}
    if not ref.get("resource"):
        return event.get("requestURI", "?")
    return ref["resource"] + ("/" + ref["subresource"] if ref.get("subresource") else "")


def count(events: Iterable[Dict[str, Any]], verbs: Optional[Iterable[str]] = None,
          user: Optional[str] = None) -> Dict[str, int]:
    """``{"<verb> <resource>": n}`` over ``events``, optionally only ``verbs`` and one ``user``."""
    wanted = frozenset(verbs) if verbs is not None else None
    out: Dict[str, int] = {}
    for event in events:
        if wanted is not None and event.get("verb") not in wanted:
            continue
        if user is not None and (event.get("user") or {}).get("username") != user:
            continue
        key = "%s %s" % (event.get("verb"), resource_of(event))
        out[key] = out.get(key, 0) + 1
    return out


#: Resources whose ``create`` is a question to the API server, answered and never stored (access and
#: token reviews, such as the SelfSubjectAccessReviews a module asks before its first write).
REVIEW_RESOURCES = frozenset(("selfsubjectaccessreviews", "subjectaccessreviews", "localsubjectaccessreviews",
                              "selfsubjectrulesreviews", "tokenreviews", "selfsubjectreviews"))


def writes(events: Iterable[Dict[str, Any]], user: Optional[str] = None) -> Dict[str, int]:
    """The state-changing requests among ``events`` (create, update, patch, delete, deletecollection),
    without the reviews of ``REVIEW_RESOURCES``, which store nothing."""
    return count((e for e in events if resource_of(e) not in REVIEW_RESOURCES), WRITE_VERBS, user)
