"""A local STAND-IN for Harbor (not Harbor): the robot-account part of its v2.0 API and its token realm.

Harbor itself (core, jobservice, registry, PostgreSQL, Redis) cannot run here. This stand-in serves
the calls the ``harbor_robot`` provider makes, shaped like Harbor's own OpenAPI document, which is
kept beside this file: ``tests/support/harbor-swagger-v2.0.yaml``, copied unchanged from
goharbor/harbor ``api/v2.0/swagger.yaml`` (Swagger 2.0, basePath ``/api/v2.0``). Every request the
stand-in receives and every answer it gives is validated against that document with bravado-core
(parameters, bodies, status codes, response headers); a mismatch is recorded in
:attr:`HarborStandIn.violations`, which the tests assert empty.

Two documented exceptions: Harbor answers ``409`` when a robot name is taken (goharbor/harbor#22107,
fixed in 2.14 by #22201), but the copied document does not list 409 for ``CreateRobot``. That answer's
body is validated against the document's ``Errors`` definition and noted in :attr:`undocumented`. And
``GET /system/gc/schedule`` answers 200 without a body when no schedule exists (Harbor's gc handler),
where the document declares a GCHistory; also noted in :attr:`undocumented`.

Server rules implemented (from Harbor's handler and controller, see docs/reference/vendor-apis.md):
the request ``secret`` is ignored on create and a secret is generated and returned once; the full
name is ``<robot_prefix><project>+<name>`` (the prefix is configurable, like Harbor's
``robot_name_prefix``); a project robot has exactly one permission, a system robot (``level: system``, only a system admin may create or
change one) one or more ``kind: project`` permissions and the name ``<robot_prefix><name>``; ``duration`` is -1 or positive
days and ``expires_at = creation_time + duration days`` (also after a PUT); ``PATCH`` with an empty
secret generates a new one and the old one stops working at once; users without the project admin
role get 403.

The token realm (``/service/token``, service ``harbor-registry``) sits in front of a real CNCF
distribution registry started with token auth: it grants ``pull`` on ``<project>/...`` only to a
robot that exists, is enabled, not expired and presents its current secret; the admin user may push.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import re
import secrets
import string
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.support.token_server import SigningKey
from tests.support.standin_server import LoopbackServer

# bravado-core still uses jsonschema's RefResolver: quiet its deprecation notes (not ours to fix).
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(bravado_core|swagger_spec_validator)\.")

SWAGGER = Path(__file__).with_name("harbor-swagger-v2.0.yaml")
SERVICE = "harbor-registry"
ISSUER = "harbor-token-issuer"
_SPEC = None
_SPEC_LOCK = threading.Lock()


def harbor_spec():
    """The bravado-core Spec of Harbor's OpenAPI document (loaded once per process, ~2 s)."""
    global _SPEC
    with _SPEC_LOCK:
        if _SPEC is None:
            from bravado_core.spec import Spec
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "$ref with siblings" notes about the document itself
                _SPEC = Spec.from_dict(yaml.safe_load(SWAGGER.read_text()), origin_url=SWAGGER.as_uri(), config={
                    "validate_requests": True, "validate_responses": True, "use_models": False,
                    "validate_swagger_spec": True, "include_missing_properties": False})
        return _SPEC


def _operations():
    spec = harbor_spec()
    ops = []
    for resource in spec.resources.values():
        for op in resource.operations.values():
            pattern = "^" + re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", op.path_name) + "$"
            ops.append((op.http_method.upper(), re.compile(pattern), op))
    return ops


def _utc(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _Request:
    """What bravado-core's ``unmarshal_request`` reads (the IncomingRequest shape)."""

    def __init__(self, path: Dict[str, str], query: Dict[str, Any], headers: Dict[str, str], body: Any):
        self.path = path
        self.query = query
        self.headers = headers
        self.form: Dict[str, Any] = {}
        self.files: Dict[str, Any] = {}
        self._body = body

    def json(self) -> Any:
        return self._body


class _Response:
    """What bravado-core's ``validate_response`` reads (the OutgoingResponse shape)."""

    def __init__(self, status: int, body: Any, headers: Dict[str, str]):
        self.status_code = status
        self.content_type = "application/json"
        self.text = json.dumps(body) if body is not None else ""
        self.raw_bytes = self.text.encode()
        self.headers = headers
        self._body = body

    def json(self) -> Any:
        return self._body


class HarborStandIn(LoopbackServer):
    """A threaded HTTPS stand-in on 127.0.0.1 (certificate issued by ``ca``, a localenv CertPair).

    ``users``: name -> (password, role) with role ``admin`` (system admin), ``projectAdmin`` or
    ``guest`` (may read, may not manage robots). ``projects``: names that exist.
    """

    SERVER_NAME = "harbor-standin"

    def __init__(self, workdir: Any, ca: Any, users: Dict[str, Tuple[str, str]], projects: List[str],
                 robot_prefix: str = "robot$", token_expires_in: int = 300):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.users = dict(users)
        self.projects = dict((name, i + 1) for i, name in enumerate(projects))
        self.robot_prefix = robot_prefix
        self.token_expires_in = token_expires_in
        self.signer = SigningKey("ES256")
        self.rootcertbundle = str(self.workdir / "harbor-token-signer.crt")
        Path(self.rootcertbundle).write_bytes(self.signer.cert_pem())
        self.robots: Dict[int, Dict[str, Any]] = {}
        self.next_id = 1
        self.calls: List[Dict[str, Any]] = []          # every API call: method, path, operation, status
        self.token_requests: List[Dict[str, Any]] = []  # every realm request: user, granted, refused
        self.violations: List[str] = []                 # requests/answers the OpenAPI document refuses
        self.undocumented: List[str] = []               # answers the document does not list (409 on create)
        self.fail_next: Dict[str, Tuple[int, str]] = {}  # operationId -> (status, message) for the next call
        self.clock_offset = 0.0
        self.quotas: Dict[str, Dict[str, int]] = dict((p, {"hard": -1, "used": 0}) for p in self.projects)
        self.gc_schedule: Optional[Dict[str, Any]] = None  # a ScheduleObj: {"type", "cron", "next_scheduled_time"}
        self.repo_count = 0
        self._lock = threading.RLock()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self.port = 0
        self._ops = _operations()

    # -- state -------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/service/token"

    def robot_by_name(self, full: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            return next((r for r in self.robots.values() if r["name"] == full), None)

    def writes(self) -> List[Dict[str, Any]]:
        return [c for c in self.calls if c["method"] in ("POST", "PUT", "PATCH", "DELETE") and c["status"] < 300]

    def _expires_at(self, robot: Dict[str, Any]) -> int:
        if robot["duration"] == -1:
            return -1
        return int(robot["creation_ts"] + robot["duration"] * 86400)

    def _robot_view(self, robot: Dict[str, Any]) -> Dict[str, Any]:
        return {"id": robot["id"], "name": robot["name"], "description": robot["description"],
                "level": robot["level"], "duration": robot["duration"], "editable": True,
                "disable": robot["disable"], "expires_at": self._expires_at(robot),
                "permissions": robot["permissions"], "creator_type": "local", "creator_ref": 1,
                "creation_time": _utc(robot["creation_ts"]), "update_time": _utc(robot["update_ts"])}

    @staticmethod
    def _new_secret() -> str:
        alphabet = string.ascii_letters + string.digits
        while True:
            text = "".join(secrets.choice(alphabet) for _index in range(32))
            if any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text):
                return text

    # -- API ---------------------------------------------------------------------------

    def _auth_user(self, header: Optional[str]) -> Optional[Tuple[str, str]]:
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return None
        entry = self.users.get(user)
        if entry is None or not secrets.compare_digest(entry[0], password):
            return None
        return user, entry[1]

    def _handle_api(self, method: str, op: Any, params: Dict[str, Any], body: Any,
                    who: Optional[Tuple[str, str]]) -> Tuple[int, Any, Dict[str, str]]:
        opid = op.operation_id
        if who is None:
            return 401, _errors("UNAUTHORIZED", "unauthorized"), {}
        failure = self.fail_next.pop(opid, None)
        if failure is not None:
            code = {400: "BAD_REQUEST", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT",
                    500: "INTERNAL_SERVER_ERROR"}.get(failure[0], "UNKNOWN")
            return failure[0], _errors(code, failure[1]), {}
        user, role = who
        manage = role in ("admin", "projectAdmin")
        if opid == "getProject":
            name = params["project_name_or_id"]
            if name not in self.projects:
                return 404, _errors("NOT_FOUND", f"project {name} not found"), {}
            return 200, {"project_id": self.projects[name], "name": name, "owner_name": "admin",
                         "metadata": {"public": "false"}}, {}
        if opid in ("getStatistic", "listQuotas", "getGCSchedule"):
            return self._health(opid, params, role)
        if opid == "ListRobot":
            q = params.get("q") or ""
            m = re.match(r"^Level=project,ProjectID=(\d+)$", q)
            if q in ("", "Level=system"):  # Harbor lists system robots when no project is given
                rows = [self._robot_view(r) for r in sorted(self.robots.values(), key=lambda r: r["id"])
                        if r["level"] == "system"]
                return self._page(rows, params, q)
            if not m:
                return 400, _errors("BAD_REQUEST", "must specify project ID for project-level robots"), {}
            pid = int(m.group(1))
            names = dict((v, k) for k, v in self.projects.items())
            if pid not in names:
                return 404, _errors("NOT_FOUND", f"project {pid} not found"), {}
            rows = [self._robot_view(r) for r in sorted(self.robots.values(), key=lambda r: r["id"])
                    if r["level"] == "project" and r["project"] == names[pid]]
            return self._page(rows, params, q)
        if opid == "CreateRobot":
            if not manage or ((body or {}).get("level") == "system" and role != "admin"):
                return 403, _errors("FORBIDDEN", f"user {user} has no permission to create robot accounts"), {}
            return self._create(body)
        robot_id = params.get("robot_id")
        robot = self.robots.get(robot_id) if isinstance(robot_id, int) else None
        if robot is None:
            return 404, _errors("NOT_FOUND", f"robot {robot_id} not found"), {}
        if opid == "GetRobotByID":
            return 200, self._robot_view(robot), {}
        if not manage or (robot["level"] == "system" and role != "admin"):
            return 403, _errors("FORBIDDEN", f"user {user} has no permission to change robot accounts"), {}
        return self._change(opid, robot, body)

    @staticmethod
    def _page(rows: List[Dict[str, Any]], params: Dict[str, Any], q: str) -> Tuple[int, Any, Dict[str, str]]:
        page, size = int(params.get("page") or 1), int(params.get("page_size") or 10)
        chunk = rows[(page - 1) * size:page * size]
        links = []
        if page > 1:
            links.append(f'</api/v2.0/robots?page={page - 1}&page_size={size}&q={q}>; rel="prev"')
        if page * size < len(rows):
            links.append(f'</api/v2.0/robots?page={page + 1}&page_size={size}&q={q}>; rel="next"')
        # Harbor leaves Link out on a single page; bravado-core checks every declared response
        # header, so the stand-in sends it empty then.
        return 200, chunk, {"X-Total-Count": len(rows), "Link": ", ".join(links)}

    def _change(self, opid: str, robot: Dict[str, Any], body: Any) -> Tuple[int, Any, Dict[str, str]]:
        if opid == "UpdateRobot":
            duration = body.get("duration")
            if body.get("name") != robot["name"] or body.get("level") != robot["level"]:
                return 400, _errors("BAD_REQUEST", "cannot update the name or level of a robot"), {}
            if not isinstance(duration, int) or (duration != -1 and duration <= 0):
                return 400, _errors("BAD_REQUEST", "bad request error duration input: %r" % (duration,)), {}
            robot.update(duration=duration, disable=bool(body.get("disable")),
                         description=body.get("description", robot["description"]), update_ts=self.now())
            return 200, None, {}
        if opid == "RefreshSec":
            given = (body or {}).get("secret") or ""
            if given:
                ok = (8 <= len(given) <= 128 and any(c.isupper() for c in given)
                      and any(c.islower() for c in given) and any(c.isdigit() for c in given))
                if not ok:
                    return 400, _errors("BAD_REQUEST", "the secret must be 8-128 characters with upper, lower "
                                                       "case and digits"), {}
                robot["secret"], answer = given, ""
            else:
                robot["secret"] = answer = self._new_secret()
            robot["update_ts"] = self.now()
            return 200, {"secret": answer}, {}
        if opid == "DeleteRobot":
            del self.robots[robot["id"]]
            return 200, None, {}
        return 404, _errors("NOT_FOUND", f"{opid} is not served by the stand-in"), {}

    def _health(self, opid: str, params: Dict[str, Any], role: str) -> Tuple[int, Any, Dict[str, str]]:
        admin = role == "admin"
        if opid == "getStatistic":
            count = len(self.projects)
            return 200, {"private_project_count": count, "private_repo_count": self.repo_count,
                         "public_project_count": 0, "public_repo_count": 0,
                         "total_project_count": count if admin else 0,
                         "total_repo_count": self.repo_count if admin else 0,
                         "total_storage_consumption": sum(q["used"] for q in self.quotas.values()) if admin else 0}, {}
        if not admin:
            return 403, _errors("FORBIDDEN", "forbidden"), {}
        if opid == "getGCSchedule":
            if self.gc_schedule is None:
                return 200, None, {}
            stamp = _utc(self.now())
            return 200, {"id": 1, "job_name": "GARBAGE_COLLECTION", "job_kind": "SCHEDULE", "job_parameters": "{}",
                         "schedule": dict(self.gc_schedule), "job_status": "", "deleted": False,
                         "creation_time": stamp, "update_time": stamp}, {}
        rows = []
        for project, pid in sorted(self.projects.items(), key=lambda kv: kv[1]):
            if params.get("reference") not in (None, "project") or params.get("reference_id") not in (None, str(pid)):
                continue
            quota = self.quotas[project]
            rows.append({"id": pid, "ref": {"id": pid, "name": project, "owner_name": "admin"},
                         "hard": {"storage": quota["hard"]}, "used": {"storage": quota["used"]},
                         "creation_time": _utc(self.now()), "update_time": _utc(self.now())})
        return 200, rows, {"X-Total-Count": len(rows), "Link": ""}

    def _create(self, body: Dict[str, Any]) -> Tuple[int, Any, Dict[str, str]]:
        duration = body.get("duration")
        if not isinstance(duration, int) or (duration != -1 and duration <= 0):
            return 400, _errors("BAD_REQUEST", "bad request error duration input: %r" % (duration,)), {}
        perms = body.get("permissions") or []
        level = body.get("level")
        if level not in ("project", "system"):
            return 400, _errors("BAD_REQUEST", "bad request level"), {}
        if not perms or (level == "project" and len(perms) != 1):
            return 400, _errors("BAD_REQUEST", "bad request permission"), {}
        for perm in perms:
            if perm.get("kind") != "project" or perm.get("namespace") not in self.projects:
                return 404, _errors("NOT_FOUND", f"project {perm.get('namespace')} not found"), {}
        project = perms[0].get("namespace") if level == "project" else None
        name = body.get("name") or ""
        if not re.match(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$", name):
            return 400, _errors("BAD_REQUEST", "robot name is not in lower case or contains illegal characters"), {}
        full = f"{self.robot_prefix}{project}+{name}" if level == "project" else f"{self.robot_prefix}{name}"
        if self.robot_by_name(full) is not None:
            return 409, _errors("CONFLICT", f"robot account {full} already exists"), {}
        now = self.now()
        robot = {"id": self.next_id, "name": full, "project": project, "description": body.get("description") or "",
                 "level": level, "duration": duration, "disable": bool(body.get("disable")),
                 "permissions": perms, "secret": self._new_secret(), "creation_ts": now, "update_ts": now}
        self.next_id += 1
        self.robots[robot["id"]] = robot
        return 201, {"id": robot["id"], "name": full, "secret": robot["secret"],
                     "creation_time": _utc(now), "expires_at": self._expires_at(robot)}, \
            {"Location": f"/api/v2.0/robots/{robot['id']}"}

    # -- validation against the OpenAPI document ---------------------------------------

    def _match(self, method: str, path: str):
        # A literal path wins over a template (/system/gc/schedule, not /system/gc/{gc_id}), as in go-swagger's router.
        best = None
        for m, pattern, op in self._ops:
            if m == method:
                found = pattern.match(path)
                if found and (best is None or op.path_name.count("{") < best[0].path_name.count("{")):
                    best = (op, found)
        if best is None:
            return None, None
        return best[0], dict((k, unquote(v)) for k, v in best[1].groupdict().items())

    def _validate_request(self, op: Any, path_params: Dict[str, str], query: Dict[str, List[str]],
                          headers: Dict[str, str], body: Any) -> Dict[str, Any]:
        from bravado_core.request import unmarshal_request
        req = _Request(path_params, dict((k, v[-1]) for k, v in query.items()), headers, body)
        try:
            return unmarshal_request(req, op)
        except Exception as exc:  # bravado's ValidationError / SwaggerMappingError
            self.violations.append(f"request {op.operation_id}: {exc}")
            raise

    def _validate_response(self, op: Any, status: int, body: Any, headers: Dict[str, str]) -> None:
        from bravado_core.exception import MatchingResponseNotFound
        from bravado_core.response import get_response_spec, validate_response
        from bravado_core.validate import validate_object
        spec = harbor_spec()
        try:
            response_spec = get_response_spec(status, op)
        except MatchingResponseNotFound:
            self.undocumented.append(f"{op.operation_id} {status}")
            try:
                validate_object(spec, spec.deref_flattened_spec["definitions"]["Errors"], body)
            except Exception as exc:
                self.violations.append(f"response {op.operation_id} {status} (Errors): {exc}")
            return
        if op.operation_id == "getGCSchedule" and status == 200 and body is None:
            # Harbor's handler answers NewGetGCScheduleOK() without a payload when no schedule exists;
            # the document declares a GCHistory body. The second documented exception.
            self.undocumented.append("getGCSchedule 200 without a body")
            return
        try:
            validate_response(response_spec, op, _Response(status, body, headers))
        except Exception as exc:
            self.violations.append(f"response {op.operation_id} {status}: {exc}")

    # -- token realm -------------------------------------------------------------------

    def _token(self, query: Dict[str, List[str]], header: Optional[str]) -> Tuple[int, Dict[str, Any]]:
        user = password = None
        if header and header.startswith("Basic "):
            try:
                user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
            except Exception:
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "malformed credentials"}]}
        granted_to: Optional[str] = None
        allowed: Dict[str, List[str]] = {}
        if user is not None:
            robot = self.robot_by_name(user)
            admin = self.users.get(user)
            if robot is not None:
                exp = self._expires_at(robot)
                if not secrets.compare_digest(robot["secret"], password or ""):
                    return self._refuse(user, "invalid robot secret")
                if robot["disable"]:
                    return self._refuse(user, "robot account is disabled")
                if exp != -1 and exp <= self.now():
                    return self._refuse(user, "robot account has expired")
                granted_to = user
                for perm in robot["permissions"]:
                    if any(a.get("resource") == "repository" and a.get("action") == "pull"
                           for a in perm.get("access") or []):
                        allowed[perm["namespace"] + "/"] = ["pull"]
            elif admin is not None and admin[1] == "admin" and secrets.compare_digest(admin[0], password or ""):
                granted_to = user
                allowed[""] = ["pull", "push", "delete", "*"]
            else:
                return self._refuse(user, "unauthorized")
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
        token = self.signer.sign({"iss": ISSUER, "sub": granted_to or "", "aud": SERVICE,
                                  "exp": now + self.token_expires_in, "nbf": now - 5, "iat": now,
                                  "jti": secrets.token_hex(12), "access": access})
        with self._lock:
            self.token_requests.append({"user": user, "granted": access, "refused": False})
        return 200, {"token": token, "access_token": token, "expires_in": self.token_expires_in,
                     "issued_at": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime(
                         "%Y-%m-%dT%H:%M:%SZ")}

    def _refuse(self, user: str, why: str) -> Tuple[int, Dict[str, Any]]:
        with self._lock:
            self.token_requests.append({"user": user, "granted": [], "refused": True, "why": why})
        return 401, {"errors": [{"code": "UNAUTHORIZED", "message": why}]}

    # -- HTTP --------------------------------------------------------------------------

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, str(v))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if method == "GET" and parts.path == "/service/token":
                    status, body = server._token(query, self.headers.get("Authorization"))
                    self._send(status, body)
                    return
                if not parts.path.startswith("/api/v2.0/"):
                    self._send(404, _errors("NOT_FOUND", "no such path"))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._send(400, _errors("BAD_REQUEST", "body is not JSON"))
                    return
                op, path_params = server._match(method, parts.path[len("/api/v2.0"):])
                if op is None:
                    server.violations.append(f"{method} {parts.path}: no such operation in the document")
                    self._send(404, _errors("NOT_FOUND", "no such operation"))
                    return
                headers = dict((k, v) for k, v in self.headers.items())
                with server._lock:
                    try:
                        params = server._validate_request(op, path_params, query, headers, body)
                    except Exception as exc:
                        status, answer, extra = 400, _errors("BAD_REQUEST", str(exc)[:300]), {}
                    else:
                        status, answer, extra = server._handle_api(method, op, params, params.get(
                            _body_name(op)), server._auth_user(self.headers.get("Authorization")))
                    extra = dict(extra, **{"X-Request-Id": headers.get("X-Request-Id") or secrets.token_hex(8)})
                    server._validate_response(op, status, answer, extra)
                    server.calls.append({"method": method, "path": parts.path, "operation": op.operation_id,
                                         "status": status, "body": body})
                self._send(status, answer, extra)

            def do_GET(self) -> None:  # noqa: N802
                self._dispatch("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._dispatch("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._dispatch("PUT")

            def do_PATCH(self) -> None:  # noqa: N802
                self._dispatch("PATCH")

            def do_DELETE(self) -> None:  # noqa: N802
                self._dispatch("DELETE")

        return Handler

    def start(self) -> "HarborStandIn":
        harbor_spec()
        return self._serve(ca=self.ca)


def _errors(code: str, message: str) -> Dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


def _body_name(op: Any) -> str:
    for name, param in op.params.items():
        if param.location == "body":
            return name
    return ""
