"""A local STAND-IN for JFrog Artifactory (not Artifactory): its Access API tokens and Docker token realm.

Artifactory cannot run here. This stand-in serves the calls the ``artifactory_token`` provider makes,
shaped like JFrog's REST documentation (Access API "Create Token", "Get Tokens", "Get Token by ID",
"Revoke Token by ID"): ``POST /access/api/v1/tokens`` (JSON), ``GET /access/api/v1/tokens``,
``GET|DELETE /access/api/v1/tokens/{token_id}``, bearer authentication. Request bodies are checked
against the documented fields; anything else goes to :attr:`ArtifactoryStandIn.violations`.

Server rules implemented: an admin may create tokens for any user, a user only for itself (403
otherwise); ``expires_in`` below the persistency threshold (10800 s) gives a token that is not
stored (not listed, not revocable); a revoked or expired token stops working at once.

Registry-side health (read-only): ``GET /artifactory/api/storageinfo`` (admins only, 403 otherwise)
answers :attr:`ArtifactoryStandIn.storage_info`, shaped like JFrog's "Get Storage Summary Info"
(``binariesSummary``, ``fileStoreSummary``, ``repositoriesSummaryList``; sizes as text).

The Docker realm (``/artifactory/api/docker/<repo>/v2/token``, service ``artifactory``) sits in front
of a real distribution registry with token auth; it grants ``pull`` on ``<repo>/...`` (the repository
path access method) to a user presenting one of its stored, unexpired access tokens as password, and
push to the admin's password.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from tests.support.token_server import SigningKey
from tests.support.standin_server import LoopbackServer

SERVICE = "artifactory"
ISSUER = "jfrog-access"
PERSISTENCY_THRESHOLD = 10800
FIELDS = {"grant_type", "username", "scope", "expires_in", "refreshable", "description", "audience",
          "include_reference_token", "project_key", "refresh_token", "force_revocable"}


class ArtifactoryStandIn(LoopbackServer):
    """A threaded HTTPS stand-in on 127.0.0.1. ``bearer``: API token -> (user, admin?);
    ``passwords``: user -> password (for pushing); ``repos``: Docker repository keys."""

    SERVER_NAME = "artifactory-standin"

    def __init__(self, workdir: Any, ca: Any, bearer: Dict[str, Tuple[str, bool]], passwords: Dict[str, str],
                 repos: List[str], token_expires_in: int = 300):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.bearer = dict(bearer)
        self.passwords = dict(passwords)
        self.repos = list(repos)
        self.token_expires_in = token_expires_in
        self.signer = SigningKey("ES256")
        self.rootcertbundle = str(self.workdir / "artifactory-token-signer.crt")
        Path(self.rootcertbundle).write_bytes(self.signer.cert_pem())
        self.tokens: Dict[str, Dict[str, Any]] = {}     # stored (revocable) tokens by id
        self.unstored: List[Dict[str, Any]] = []         # below the persistency threshold
        self.calls: List[Dict[str, Any]] = []
        self.token_requests: List[Dict[str, Any]] = []
        self.violations: List[str] = []
        self.fail_next: Dict[str, Tuple[int, str]] = {}
        self.storage_info: Dict[str, Any] = {
            "binariesSummary": {"binariesCount": "0", "binariesSize": "0 bytes", "artifactsSize": "0 bytes",
                                "optimization": "0%", "itemsCount": "0", "artifactsCount": "0"},
            "fileStoreSummary": {"storageType": "file-system", "storageDirectory": "/var/opt/jfrog/artifactory/data",
                                 "totalSpace": "100.00 GB", "usedSpace": "10.00 GB (10.0%)",
                                 "freeSpace": "90.00 GB (90.0%)"},
            "repositoriesSummaryList": [dict(repoKey=r, repoType="LOCAL", foldersCount=0, filesCount=0,
                                             usedSpace="0 bytes", itemsCount=0, packageType="Docker",
                                             percentage="0%") for r in self.repos]}
        self._lock = threading.RLock()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def realm(self, repo: str) -> str:
        return f"{self.url}/artifactory/api/docker/{repo}/v2/token"

    def writes(self) -> List[Dict[str, Any]]:
        return [c for c in self.calls if c["method"] in ("POST", "DELETE") and c["status"] < 300]

    def active(self) -> List[Dict[str, Any]]:
        with self._lock:
            return [t for t in self.tokens.values() if t["expiry"] > time.time()]

    def _view(self, token: Dict[str, Any]) -> Dict[str, Any]:
        return {"token_id": token["token_id"], "issuer": "jfac@01stand1n", "subject": token["subject"],
                "expiry": token["expiry"], "refreshable": False, "issued_at": token["issued_at"],
                "description": token["description"]}

    def _api(self, method: str, path: str, headers: Any, body: Any) -> Tuple[int, Any]:
        auth = headers.get("Authorization") or ""
        who = self.bearer.get(auth[7:]) if auth.startswith("Bearer ") else None
        if who is None:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "Bad credentials"}]}
        failure = self.fail_next.pop(method, None)
        if failure is not None:
            return failure[0], {"errors": [{"code": "ERROR", "message": failure[1]}]}
        user, admin = who
        if path == "/artifactory/api/storageinfo" and method == "GET":
            if not admin:
                return 403, {"errors": [{"status": 403, "message": "Forbidden"}]}
            return 200, self.storage_info
        m = re.match(r"^/access/api/v1/tokens(?:/([^/]+))?$", path)
        if not m:
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]}
        token_id = m.group(1)
        if token_id is None and method == "POST":
            return self._create(user, admin, body)
        if token_id is None and method == "GET":
            rows = [self._view(t) for t in self.tokens.values() if admin or t["username"] == user]
            return 200, {"tokens": rows}
        token = self.tokens.get(token_id or "")
        if token is None or not (admin or token["username"] == user):
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "Token not found"}]}
        if method == "GET":
            return 200, self._view(token)
        if method == "DELETE":
            del self.tokens[token_id]
            return 200, None
        return 405, {"errors": [{"code": "METHOD_NOT_ALLOWED", "message": "method not allowed"}]}

    def _create(self, user: str, admin: bool, body: Any) -> Tuple[int, Any]:
        if not isinstance(body, dict):
            self.violations.append("create: body is not a JSON object")
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": "body is not a JSON object"}]}
        unknown = set(body) - FIELDS
        if unknown:
            self.violations.append(f"create: undocumented fields {sorted(unknown)}")
        target = body.get("username") or user
        if target != user and not admin:
            return 403, {"errors": [{"code": "FORBIDDEN", "message": f"user {user} may not create tokens for {target}"}]}
        if target not in self.passwords:
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": f"user {target} does not exist"}]}
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, int) or expires_in < 0:
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": "expires_in must be a non-negative integer"}]}
        if body.get("scope", "applied-permissions/user") != "applied-permissions/user":
            self.violations.append(f"create: scope {body.get('scope')!r} is not served by the stand-in")
        now = int(time.time())
        token = {"token_id": str(uuid.uuid4()), "username": target, "subject": f"jfac@01stand1n/users/{target}",
                 "expiry": now + expires_in if expires_in else 2 ** 31, "issued_at": now,
                 "description": body.get("description") or "", "access_token": "eyJ" + secrets.token_urlsafe(40)}
        if expires_in and expires_in < PERSISTENCY_THRESHOLD:
            self.unstored.append(token)
        else:
            self.tokens[token["token_id"]] = token
        return 200, {"token_id": token["token_id"], "access_token": token["access_token"], "expires_in": expires_in,
                     "scope": "applied-permissions/user", "token_type": "Bearer"}

    def _realm(self, repo: str, query: Dict[str, List[str]], header: Optional[str]) -> Tuple[int, Any]:
        if not header or not header.startswith("Basic "):
            return self._refuse(None, "no credentials")
        user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
        actions: List[str] = []
        if user == "admin" and secrets.compare_digest(self.passwords.get("admin", ""), password):
            actions = ["pull", "push", "delete", "*"]
        else:
            now = time.time()
            live = [t for t in list(self.tokens.values()) + self.unstored
                    if t["username"] == user and secrets.compare_digest(t["access_token"], password)]
            if not live:
                return self._refuse(user, "invalid or revoked access token")
            if live[0]["expiry"] <= now:
                return self._refuse(user, "access token expired")
            actions = ["pull"]
        access = []
        for scope_text in query.get("scope", []):
            for scope in scope_text.split():
                first, last = scope.find(":"), scope.rfind(":")
                if first < 0 or first == last:
                    continue
                rtype, name, wanted = scope[:first], scope[first + 1:last], scope[last + 1:].split(",")
                if name.startswith(repo + "/"):
                    ok = [a for a in wanted if a in actions or "*" in actions]
                    if ok:
                        access.append({"type": rtype, "name": name, "actions": ok})
        now_i = int(time.time())
        jwt = self.signer.sign({"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now_i + self.token_expires_in,
                                "nbf": now_i - 5, "iat": now_i, "jti": secrets.token_hex(12), "access": access})
        with self._lock:
            self.token_requests.append({"user": user, "granted": access, "refused": False})
        return 200, {"token": jwt, "expires_in": self.token_expires_in}

    def _refuse(self, user: Optional[str], why: str) -> Tuple[int, Any]:
        with self._lock:
            self.token_requests.append({"user": user, "granted": [], "refused": True, "why": why})
        return 401, {"errors": [{"code": "UNAUTHORIZED", "message": why}]}

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
                realm = re.match(r"^/artifactory/api/docker/([^/]+)/v2/token$", parts.path)
                if method == "GET" and realm and realm.group(1) in server.repos:
                    self._send(*server._realm(realm.group(1), parse_qs(parts.query), self.headers.get("Authorization")))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._send(400, {"errors": [{"code": "BAD_REQUEST", "message": "body is not JSON"}]})
                    return
                with server._lock:
                    status, answer = server._api(method, parts.path, self.headers, body)
                    server.calls.append({"method": method, "path": parts.path, "status": status, "body": body})
                self._send(status, answer)

            def do_GET(self) -> None:  # noqa: N802
                self._dispatch("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._dispatch("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._dispatch("DELETE")

        return Handler
