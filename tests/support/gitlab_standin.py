"""A local STAND-IN for GitLab (not GitLab): its deploy-token API and its container registry token realm.

GitLab cannot run here. This stand-in serves the calls the ``gitlab_deploy_token`` provider makes,
shaped like GitLab's REST documentation (doc/api/deploy_tokens.md; no machine-readable document
exists for these endpoints): ``POST|GET /api/v4/projects/:id/deploy_tokens`` (and ``groups``),
``GET|DELETE .../deploy_tokens/:token_id``, ``:id`` numeric or the URL-encoded full path, auth with
the ``PRIVATE-TOKEN`` header. Request bodies are checked the way GitLab checks them (``name`` and
``scopes`` required, scopes from the documented list, ``expires_at`` ISO 8601); anything else is
recorded in :attr:`GitlabStandIn.violations`, which the tests assert empty.

Server rules implemented: the token is returned only by the create call; the username is
``gitlab+deploy-token-<id>`` unless given; creating or deleting needs Maintainer on a project, Owner
on a group; DELETE revokes (204) and the token stops working at once; expired tokens stop working.

Registry-side health (read-only): ``GET /api/v4/projects/:id`` answers the project with its container
registry cleanup policy ``container_expiration_policy`` (doc/api/projects.md; the attributes of
app/models/container_expiration_policy.rb), from :attr:`GitlabStandIn.cleanup_policies` (GitLab's
defaults for a new project: disabled, cadence 1d, keep_n 10, older_than 90d). Reporters see the project
without the policy (it is shown to those who may administer the project); no role at all is a 404.

The realm (``/jwt/auth``, service ``container_registry``) sits in front of a real distribution
registry with token auth: it grants ``pull`` on ``<project path>/...`` only to a deploy token that
exists, is not revoked or expired, has ``read_registry`` and is presented with its username. The
admin user (a personal access token) may push.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.token_server import SigningKey
from tests.support.standin_server import LoopbackServer

SERVICE = "container_registry"
ISSUER = "gitlab-issuer"
SCOPES = {"read_repository", "read_registry", "write_registry", "read_package_registry", "write_package_registry",
          "read_virtual_registry", "write_virtual_registry"}
ROLE_LEVEL = {"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_iso(text: Any) -> Optional[float]:
    if not isinstance(text, str):
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d:\d\d)(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)?$", text.strip())
    if not m:
        return None
    when = datetime.datetime.fromisoformat(m.group(1) + "T" + (m.group(2) or "00:00:00") + (
        "+00:00" if m.group(3) in (None, "Z") else m.group(3)))
    return when.timestamp()


class GitlabStandIn(LoopbackServer):
    """A threaded HTTPS stand-in on 127.0.0.1 (certificate from ``ca``, a localenv CertPair).

    ``tokens``: access token -> (user, {project or group path: role}); ``projects`` and ``groups``:
    full paths that exist (a project's group is the path before its last ``/``).
    """

    SERVER_NAME = "gitlab-standin"

    def __init__(self, workdir: Any, ca: Any, tokens: Dict[str, Tuple[str, Dict[str, str]]], projects: List[str],
                 groups: List[str], admin: Tuple[str, str], token_expires_in: int = 300):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.tokens = dict(tokens)
        self.admin = admin
        self.projects = dict((p, i + 100) for i, p in enumerate(projects))
        self.groups = dict((g, i + 10) for i, g in enumerate(groups))
        self.token_expires_in = token_expires_in
        self.signer = SigningKey("ES256")
        self.rootcertbundle = str(self.workdir / "gitlab-token-signer.crt")
        Path(self.rootcertbundle).write_bytes(self.signer.cert_pem())
        self.deploy_tokens: Dict[int, Dict[str, Any]] = {}
        self.next_id = 1
        self.calls: List[Dict[str, Any]] = []
        self.token_requests: List[Dict[str, Any]] = []
        self.violations: List[str] = []
        self.fail_next: Dict[str, Tuple[int, Any]] = {}  # "POST" / "GET" / "DELETE" / "GET project" -> (status, message)
        self.cleanup_policies: Dict[str, Dict[str, Any]] = dict((p, {
            "cadence": "1d", "enabled": False, "keep_n": 10, "older_than": "90d", "name_regex": ".*",
            "name_regex_keep": None, "next_run_at": None}) for p in self.projects)
        self._lock = threading.RLock()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/jwt/auth"

    def writes(self) -> List[Dict[str, Any]]:
        return [c for c in self.calls if c["method"] in ("POST", "PUT", "DELETE") and c["status"] < 300]

    def active(self, kind: str = "project", path: Optional[str] = None) -> List[Dict[str, Any]]:
        with self._lock:
            return [t for t in sorted(self.deploy_tokens.values(), key=lambda t: t["id"])
                    if not t["revoked"] and (path is None or (t["kind"], t["path"]) == (kind, path))]

    def _view(self, token: Dict[str, Any], with_secret: bool = False) -> Dict[str, Any]:
        out = {"id": token["id"], "name": token["name"], "username": token["username"],
               "expires_at": _iso(token["expires_ts"]) if token["expires_ts"] else None,
               "revoked": token["revoked"], "expired": bool(token["expires_ts"] and token["expires_ts"] <= time.time()),
               "scopes": token["scopes"]}
        if with_secret:
            out["token"] = token["token"]
        return out

    # -- API ---------------------------------------------------------------------------

    def _role(self, user_roles: Dict[str, str], kind: str, path: str) -> int:
        level = ROLE_LEVEL.get(user_roles.get(path, ""), 0)
        parts = path.split("/")
        for i in range(1, len(parts)):  # inherited from parent groups
            level = max(level, ROLE_LEVEL.get(user_roles.get("/".join(parts[:i]), ""), 0))
        return level

    def _api(self, method: str, path: str, query: Dict[str, List[str]], headers: Any,
             body: Any) -> Tuple[int, Any]:
        project = re.match(r"^/api/v4/projects/([^/]+)$", path)
        m = re.match(r"^/api/v4/(projects|groups)/([^/]+)/deploy_tokens(?:/(\d+))?$", path)
        if not m and not (project and method == "GET"):
            return 404, {"error": "404 Not Found"}
        who = self.tokens.get(headers.get("PRIVATE-TOKEN") or "")
        if who is None:
            return 401, {"message": "401 Unauthorized"}
        if not m:
            return self._project(unquote(project.group(1)), who)
        failure = self.fail_next.pop(method, None)
        if failure is not None:
            return failure[0], {"message": failure[1]}
        kind = "project" if m.group(1) == "projects" else "group"
        ident = unquote(m.group(2))
        table = self.projects if kind == "project" else self.groups
        if ident.isdigit():
            names = dict((v, k) for k, v in table.items())
            ident = names.get(int(ident), "")
        if ident not in table:
            return 404, {"message": f"404 {kind.capitalize()} Not Found"}
        level = self._role(who[1], kind, ident)
        if level < ROLE_LEVEL["reporter"]:
            return 404, {"message": f"404 {kind.capitalize()} Not Found"}
        need = ROLE_LEVEL["maintainer"] if kind == "project" else ROLE_LEVEL["owner"]
        token_id = int(m.group(3)) if m.group(3) else None
        if token_id is None and method == "GET":
            if level < ROLE_LEVEL["maintainer"]:
                return 403, {"message": "403 Forbidden"}
            rows = [self._view(t) for t in sorted(self.deploy_tokens.values(), key=lambda t: t["id"])
                    if (t["kind"], t["path"]) == (kind, ident)]
            page, per = int((query.get("page") or ["1"])[0]), int((query.get("per_page") or ["20"])[0])
            return 200, rows[(page - 1) * per:page * per]
        if token_id is None and method == "POST":
            if level < need:
                return 403, {"message": "403 Forbidden"}
            return self._create(kind, ident, body)
        token = self.deploy_tokens.get(token_id) if token_id else None
        if token is None or (token["kind"], token["path"]) != (kind, ident):
            return 404, {"message": "404 Deploy Token Not Found"}
        if method == "GET":
            return 200, self._view(token)
        if method == "DELETE":
            if level < need:
                return 403, {"message": "403 Forbidden"}
            token["revoked"] = True  # GitLab revokes the token; it disappears from the active ones
            return 204, None
        return 405, {"error": "405 Method Not Allowed"}

    def _project(self, ident: str, who: Tuple[str, Dict[str, str]]) -> Tuple[int, Any]:
        failure = self.fail_next.pop("GET project", None)
        if failure is not None:
            return failure[0], {"message": failure[1]}
        if ident.isdigit():
            ident = dict((v, k) for k, v in self.projects.items()).get(int(ident), "")
        if ident not in self.projects:
            return 404, {"message": "404 Project Not Found"}
        level = self._role(who[1], "project", ident)
        if level < ROLE_LEVEL["reporter"]:
            return 404, {"message": "404 Project Not Found"}
        out = {"id": self.projects[ident], "name": ident.rsplit("/", 1)[-1], "path_with_namespace": ident,
               "container_registry_enabled": True, "container_registry_access_level": "enabled"}
        if level >= ROLE_LEVEL["maintainer"]:
            out["container_expiration_policy"] = dict(self.cleanup_policies[ident])
        return 200, out

    def _create(self, kind: str, path: str, body: Any) -> Tuple[int, Any]:
        if not isinstance(body, dict):
            self.violations.append("create: body is not a JSON object")
            return 400, {"error": "name is missing, scopes is missing"}
        unknown = set(body) - {"name", "scopes", "expires_at", "username"}
        if unknown:
            self.violations.append(f"create: undocumented fields {sorted(unknown)}")
        missing = [k for k in ("name", "scopes") if not body.get(k)]
        if missing:
            return 400, {"error": ", ".join(f"{k} is missing" for k in missing)}
        scopes = body["scopes"]
        if not isinstance(scopes, list) or not set(scopes) <= SCOPES:
            return 400, {"error": "scopes does not have a valid value"}
        expires_ts = None
        if body.get("expires_at") is not None:
            expires_ts = _parse_iso(body["expires_at"])
            if expires_ts is None:
                return 400, {"error": "expires_at is invalid"}
        token_id = self.next_id
        self.next_id += 1
        username = body.get("username") or f"gitlab+deploy-token-{token_id}"
        token = {"id": token_id, "kind": kind, "path": path, "name": body["name"], "username": username,
                 "scopes": scopes, "expires_ts": expires_ts, "revoked": False,
                 "token": "gldt-" + secrets.token_urlsafe(15)}
        self.deploy_tokens[token_id] = token
        return 201, self._view(token, with_secret=True)

    # -- token realm -------------------------------------------------------------------

    def _realm(self, query: Dict[str, List[str]], header: Optional[str]) -> Tuple[int, Any]:
        if not header or not header.startswith("Basic "):
            return self._refuse(None, "HTTP Basic Access denied")
        user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
        allowed: Dict[str, List[str]] = {}
        if (user, password) == self.admin:
            allowed[""] = ["pull", "push", "delete", "*"]
        else:
            token = next((t for t in self.deploy_tokens.values() if t["username"] == user), None)
            if token is None or not secrets.compare_digest(token["token"], password):
                return self._refuse(user, "invalid deploy token")
            if token["revoked"]:
                return self._refuse(user, "deploy token revoked")
            if token["expires_ts"] and token["expires_ts"] <= time.time():
                return self._refuse(user, "deploy token expired")
            if "read_registry" not in token["scopes"]:
                return self._refuse(user, "deploy token lacks read_registry")
            if token["kind"] == "project":
                allowed[token["path"] + "/"] = ["pull"]
            else:
                for project in self.projects:
                    if project.startswith(token["path"] + "/"):
                        allowed[project + "/"] = ["pull"]
        if query.get("service", [None])[0] != SERVICE:
            return 400, {"errors": [{"code": "INVALID_REQUEST", "message": "unknown service"}]}
        access = []
        for scope_text in query.get("scope", []):
            for scope in scope_text.split():
                first, last = scope.find(":"), scope.rfind(":")
                if first < 0 or first == last:
                    continue
                rtype, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:].split(",")
                for prefix, acts in allowed.items():
                    if name.startswith(prefix):
                        ok = [a for a in actions if a in acts or "*" in acts]
                        if ok:
                            access.append({"type": rtype, "name": name, "actions": ok})
                        break
        now = int(time.time())
        jwt = self.signer.sign({"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + self.token_expires_in,
                                "nbf": now - 5, "iat": now, "jti": secrets.token_hex(12), "access": access})
        with self._lock:
            self.token_requests.append({"user": user, "granted": access, "refused": False})
        return 200, {"token": jwt, "expires_in": self.token_expires_in}

    def _refuse(self, user: Optional[str], why: str) -> Tuple[int, Any]:
        with self._lock:
            self.token_requests.append({"user": user, "granted": [], "refused": True, "why": why})
        return 401, {"errors": [{"code": "UNAUTHORIZED", "message": why}]}

    # -- HTTP --------------------------------------------------------------------------

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if method == "GET" and parts.path == "/jwt/auth":
                    self._send(*server._realm(query, self.headers.get("Authorization")))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._send(400, {"error": "body is not JSON"})
                    return
                with server._lock:
                    status, answer = server._api(method, parts.path, query, self.headers, body)
                    server.calls.append({"method": method, "path": parts.path, "status": status, "body": body})
                self._send(status, answer)

            def do_GET(self) -> None:  # noqa: N802
                self._dispatch("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._dispatch("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._dispatch("DELETE")

        return Handler
