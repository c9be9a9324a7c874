"""A local STAND-IN for the Google Cloud APIs the collection calls (Google cannot run here).

It is not Google: it is shaped like the documented APIs (docs/gke.md lists them) so that the
collection's real code, google-auth and the real registry/kubelet can be exercised offline.
What it implements, with the documented semantics:

* **OAuth2 token endpoint** ``POST /token`` (the ``token_uri`` of a service account key):
  the JWT-bearer grant of a service account key (RS256 signature checked against the key's
  public key, ``iss`` = the account, ``aud`` = ``https://oauth2.googleapis.com/token``, not
  expired) and the ``refresh_token`` grant of gcloud user credentials. Answers
  ``{"access_token", "expires_in", "token_type"}``; access tokens live ``token_lifetime``
  seconds (3599 by default, as Google's do).
* **IAM policies** (``{version, etag, bindings: [{role, members, condition?}]}``) of projects
  (Resource Manager v1 ``POST /v1/projects/P:getIamPolicy|:setIamPolicy``), Artifact Registry
  repositories (``GET|POST /v1/projects/P/locations/L/repositories/R:getIamPolicy``,
  ``POST ...:setIamPolicy``) and service accounts (IAM v1
  ``POST /v1/projects/-/serviceAccounts/E:getIamPolicy|:setIamPolicy``). Every successful
  ``setIamPolicy`` gives a new ``etag``; a ``setIamPolicy`` whose etag is not the current one is
  refused with HTTP 409 ``ABORTED`` (a concurrent change); a policy with a condition must be
  version 3; a ``getIamPolicy`` asking for version 1 of a policy with conditions gets the role
  names suffixed ``_withcond_<hash>`` as Google documents. Callers need a bearer access token of
  a principal in ``iam_admins`` (else 403 ``PERMISSION_DENIED``); unknown resources get 404.
* **GKE** ``GET /v1/projects/P/locations/L/clusters/C`` and ``.../clusters/C/nodePools``.
* **Resource Manager v3** ``GET /v3/projects/P``: ``{"name": "projects/NUMBER", "projectId": P, ...}``
  (the number given to :meth:`GoogleStandIn.add_project`); an unknown project gets 403
  ``PERMISSION_DENIED``, as Google answers when it may not say whether a project exists.
* **Artifact Registry token realm** (:class:`ArtifactRegistryRealm`): a Docker token realm (the
  registry's ``auth.token.realm``) that accepts ``oauth2accesstoken`` (or ``_token``, the user
  name GKE's kubelet credential provider ``auth-provider-gcp`` sends) + an access token issued by
  this stand-in, or ``_json_key`` / ``_json_key_base64`` + a service account key, and grants
  ``pull`` (``roles/artifactregistry.reader``), ``push`` (``writer``) by the IAM policies of the
  repository and the project. Repositories in the registry are named ``PROJECT/REPOSITORY/IMAGE``
  as under ``LOCATION-docker.pkg.dev``. Conditional bindings grant nothing here (the stand-in does
  not evaluate CEL).

``requests`` lists every call (method, path, principal, status) for assertions;
:meth:`GoogleStandIn.before_next_set` runs a function right before the next ``setIamPolicy`` is
applied, which is how tests make a concurrent change between a caller's read and write.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.token_server import TokenServer, _b64url_decode
from tests.support.standin_server import LoopbackServer

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MEMBER_RE = re.compile(r"^(user|serviceAccount|group|domain|deleted:[a-z]+):\S+$|^principal(Set)?://\S+$|^all(Authenticated)?Users$")
READ_ROLES = {"roles/artifactregistry.reader", "roles/artifactregistry.writer", "roles/artifactregistry.repoAdmin",
              "roles/artifactregistry.admin", "roles/owner", "roles/editor", "roles/viewer"}
WRITE_ROLES = {"roles/artifactregistry.writer", "roles/artifactregistry.repoAdmin", "roles/artifactregistry.admin",
               "roles/owner", "roles/editor"}


class ServiceAccountKey:
    """A service account with an RSA key: ``key_json()`` is the key file ``gcloud iam service-accounts keys
    create`` writes (``token_uri`` pointing at the stand-in)."""

    def __init__(self, email: str, token_uri: str, project: str):
        self.email = email
        self.project = project
        self.key_id = secrets.token_hex(20)
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.token_uri = token_uri

    def key_json(self) -> Dict[str, Any]:
        pem = self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()
        return {"type": "service_account", "project_id": self.project, "private_key_id": self.key_id,
                "private_key": pem, "client_email": self.email, "client_id": str(int(self.key_id[:12], 16)),
                "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": self.token_uri,
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + self.email,
                "universe_domain": "googleapis.com"}

    def write(self, path: Path) -> str:
        path.write_text(json.dumps(self.key_json()))
        path.chmod(0o600)
        return str(path)


def _new_etag() -> str:
    return base64.b64encode(b"\x00\x06" + secrets.token_bytes(6)).decode()


class GoogleStandIn(LoopbackServer):
    """The OAuth2, IAM and GKE stand-in on one threaded HTTPS server on 127.0.0.1 (see the module doc)."""

    SERVER_NAME = "google-standin"

    def __init__(self, workdir: Path, ca: Any, token_lifetime: int = 3599):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.token_lifetime = token_lifetime
        self.accounts: Dict[str, ServiceAccountKey] = {}
        self.users: Dict[str, Dict[str, str]] = {}            # refresh_token -> {email, client_id, client_secret}
        self.tokens: Dict[str, Tuple[str, float]] = {}        # access token -> (principal, expiry epoch)
        self.policies: Dict[str, Dict[str, Any]] = {}         # resource name -> policy
        self.clusters: Dict[str, Dict[str, Any]] = {}         # projects/P/locations/L/clusters/C -> cluster
        self.iam_admins: set = set()
        self.requests: List[Dict[str, Any]] = []
        self.lock = threading.RLock()
        self._hooks: List[Callable[[], None]] = []
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self.port = 0

    # -- set-up ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def add_project(self, project: str, number: str) -> str:
        with self.lock:
            self.policies.setdefault(f"projects/{project}", {"version": 1, "etag": _new_etag(), "bindings": []})
            self.policies[f"projects/{project}"]["_number"] = number
        return f"projects/{project}"

    def add_repository(self, project: str, location: str, repository: str) -> str:
        name = f"projects/{project}/locations/{location}/repositories/{repository}"
        with self.lock:
            self.policies.setdefault(name, {"version": 1, "etag": _new_etag(), "bindings": []})
        return name

    def add_service_account(self, email: str, project: str) -> ServiceAccountKey:
        sa = ServiceAccountKey(email, self.token_uri, project)
        with self.lock:
            self.accounts[email] = sa
            self.policies.setdefault(f"projects/{project}/serviceAccounts/{email}",
                                     {"version": 1, "etag": _new_etag(), "bindings": []})
        return sa

    def add_cluster(self, project: str, location: str, cluster: Dict[str, Any]) -> None:
        with self.lock:
            self.clusters[f"projects/{project}/locations/{location}/clusters/{cluster['name']}"] = cluster

    def grant(self, resource: str, role: str, member: str, condition: Optional[Dict[str, str]] = None) -> None:
        """Add a binding directly (what the console would do), with a new etag."""
        with self.lock:
            policy = self.policies[resource]
            for b in policy["bindings"]:
                if b["role"] == role and b.get("condition") == condition:
                    if member not in b["members"]:
                        b["members"].append(member)
                    break
            else:
                binding = {"role": role, "members": [member]}
                if condition:
                    binding["condition"] = condition
                    policy["version"] = 3
                policy["bindings"].append(binding)
            policy["etag"] = _new_etag()

    def policy(self, resource: str) -> Dict[str, Any]:
        """The stored policy (a copy, without private keys)."""
        with self.lock:
            return json.loads(json.dumps({k: v for k, v in self.policies[resource].items() if not k.startswith("_")}))

    def issue_token(self, principal: str) -> str:
        token = "ya29.standin-" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = (principal, time.time() + self.token_lifetime)
        return token

    def token_principal(self, token: str) -> Optional[str]:
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    def before_next_set(self, func: Callable[[], None]) -> None:
        with self.lock:
            self._hooks.append(func)

    def key_principal(self, key: Dict[str, Any]) -> Optional[str]:
        """``serviceAccount:<email>`` when ``key`` is a key file of a known account (private key checked)."""
        sa = self.accounts.get(key.get("client_email")) if isinstance(key, dict) else None
        if sa is None or not isinstance(key.get("private_key"), str):
            return None
        try:
            given = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            return None
        if given.public_key().public_numbers() != sa.private.public_key().public_numbers():
            return None
        return "serviceAccount:" + sa.email

    # -- OAuth2 -----------------------------------------------------------------------------

    def _oauth_token(self, form: Dict[str, str]) -> Tuple[int, Dict[str, Any]]:
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            principal, error = self._verify_assertion(form.get("assertion") or "")
        elif grant == "refresh_token":
            user = self.users.get(form.get("refresh_token") or "")
            ok = user and user["client_id"] == form.get("client_id") and user["client_secret"] == form.get("client_secret")
            principal, error = ("user:" + user["email"], None) if ok else (None, "Bad Request")
        else:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        if error:
            return 400, {"error": "invalid_grant", "error_description": error}
        return 200, {"access_token": self.issue_token(principal), "expires_in": self.token_lifetime,
                     "token_type": "Bearer"}

    def _verify_assertion(self, assertion: str) -> Tuple[Optional[str], Optional[str]]:
        try:
            head, body, sig = assertion.split(".")
            header = json.loads(_b64url_decode(head))
            claims = json.loads(_b64url_decode(body))
        except ValueError:
            return None, "Invalid JWT"
        sa = self.accounts.get(claims.get("iss"))
        if sa is None:
            return None, "Invalid grant: account not found"
        if header.get("alg") != "RS256" or header.get("kid") not in (None, sa.key_id):
            return None, "Invalid JWT Signature."
        try:
            sa.private.public_key().verify(_b64url_decode(sig), (head + "." + body).encode(), padding.PKCS1v15(),
                                           hashes.SHA256())
        except Exception:
            return None, "Invalid JWT Signature."
        now = time.time()
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return None, "Invalid JWT: Failed audience check."
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < now or claims.get("iat", now) > now + 300:
            return None, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            return None, "Invalid OAuth scope or ID token audience provided."
        return "serviceAccount:" + sa.email, None

    # -- IAM --------------------------------------------------------------------------------

    def _resource(self, name: str) -> Optional[str]:
        m = re.match(r"^projects/-/serviceAccounts/(.+)$", name)
        if m:
            sa = self.accounts.get(m.group(1))
            return f"projects/{sa.project}/serviceAccounts/{sa.email}" if sa else None
        return name if name in self.policies else None

    def _get_policy(self, resource: str, requested: int) -> Dict[str, Any]:
        policy = self.policy(resource)
        if requested < 3 and any(b.get("condition") for b in policy["bindings"]):
            for b in policy["bindings"]:
                cond = b.pop("condition", None)
                if cond:
                    b["role"] += "_withcond_" + hashlib.sha1(json.dumps(cond, sort_keys=True).encode()).hexdigest()[:20]
            policy["version"] = 1
        return policy

    def _set_policy(self, resource: str, new: Any) -> Tuple[int, Dict[str, Any]]:
        with self.lock:
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()
        if not isinstance(new, dict) or not isinstance(new.get("bindings", []), list):
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload: policy")
        with self.lock:
            current = self.policies[resource]
            if "etag" in new and new["etag"] != current["etag"]:
                return _error(409, "ABORTED", "There were concurrent policy changes. Please retry the whole "
                                              "read-modify-write with exponential backoff.")
            bindings = []
            for b in new.get("bindings", []):
                role, members = b.get("role"), b.get("members")
                if not isinstance(role, str) or not re.match(r"^(roles|projects/[^/]+/roles|organizations/\d+/roles)/\S+$", role):
                    return _error(400, "INVALID_ARGUMENT", f"Role {role} is not supported for this resource.")
                if "_withcond_" in role:
                    return _error(400, "INVALID_ARGUMENT", "Role names with _withcond_ cannot be set: use version 3")
                valid = isinstance(members, list) and members and all(
                    isinstance(m, str) and MEMBER_RE.match(m) for m in members)
                if not valid:
                    return _error(400, "INVALID_ARGUMENT", f"Invalid member in binding of {role}")
                if b.get("condition") and new.get("version") != 3:
                    return _error(400, "INVALID_ARGUMENT", "Policies with conditions must be version 3")
                bindings.append({k: b[k] for k in ("role", "members", "condition") if k in b})
            stored = {"version": new.get("version") or 1, "etag": _new_etag(), "bindings": bindings}
            stored.update({k: v for k, v in current.items() if k.startswith("_")})
            self.policies[resource] = stored
        return 200, self.policy(resource)

    def _can_admin(self, principal: Optional[str]) -> bool:
        return principal is not None and principal in self.iam_admins

    def _dispatch(self, method: str, path: str, query: Dict[str, List[str]], body: Any,
                  principal: Optional[str]) -> Tuple[int, Dict[str, Any]]:
        path = unquote(path)
        m = re.match(r"^/v1/(projects/.+?):(getIamPolicy|setIamPolicy)$", path)
        if m:
            if principal is None:
                return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            resource = self._resource(m.group(1))
            if resource is None:
                return _error(404, "NOT_FOUND", f"Resource {m.group(1)} not found")
            if not self._can_admin(principal):
                return _error(403, "PERMISSION_DENIED", f"Permission denied on resource {m.group(1)} (or it may not exist).")
            if m.group(2) == "getIamPolicy":
                requested = (body or {}).get("options", {}).get("requestedPolicyVersion") if method == "POST" else None
                if requested is None:
                    requested = int((query.get("options.requestedPolicyVersion") or ["0"])[0] or 0)
                return 200, self._get_policy(resource, int(requested or 0))
            if method != "POST":
                return _error(405, "INVALID_ARGUMENT", "setIamPolicy is a POST")
            return self._set_policy(resource, (body or {}).get("policy"))
        m = re.match(r"^/v3/projects/([^/:]+)$", path)
        if m and method == "GET":
            if principal is None:
                return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            policy = self.policies.get(f"projects/{m.group(1)}")
            if policy is None or "_number" not in policy:
                return _error(403, "PERMISSION_DENIED", f"Permission 'resourcemanager.projects.get' denied on "
                                                        f"resource '//cloudresourcemanager.googleapis.com/projects/"
                                                        f"{m.group(1)}' (or it may not exist).")
            return 200, {"name": f"projects/{policy['_number']}", "projectId": m.group(1), "state": "ACTIVE",
                         "displayName": m.group(1), "parent": "organizations/100000000001", "etag": policy["etag"]}
        m = re.match(r"^/v1/(projects/[^/]+/locations/[^/]+/clusters/[^/]+)(/nodePools)?$", path)
        if m and method == "GET":
            if principal is None:
                return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            cluster = self.clusters.get(m.group(1))
            if cluster is None:
                return _error(404, "NOT_FOUND", f"Not found: {m.group(1)}.")
            if m.group(2):
                return 200, {"nodePools": cluster.get("nodePools", [])}
            return 200, cluster
        return _error(404, "NOT_FOUND", f"The stand-in has no API {method} {path}")

    # -- HTTP ---------------------------------------------------------------------------------

    def _handler(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization") or ""
                principal = standin.token_principal(auth[7:]) if auth.startswith("Bearer ") else None
                if parts.path == "/token" and method == "POST":
                    form = dict((k, v[0]) for k, v in parse_qs(raw.decode()).items())
                    status, body = standin._oauth_token(form)
                else:
                    try:
                        data = json.loads(raw) if raw else None
                    except ValueError:
                        data = None
                    status, body = standin._dispatch(method, parts.path, parse_qs(parts.query), data, principal)
                with standin.lock:
                    standin.requests.append({"method": method, "path": parts.path, "principal": principal,
                                             "status": status})
                self._send(status, body)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

        return Handler


def _error(status: int, code: str, message: str) -> Tuple[int, Dict[str, Any]]:
    return status, {"error": {"code": status, "message": message, "status": code}}


class ArtifactRegistryRealm(TokenServer):
    """The Docker token realm of ``LOCATION-docker.pkg.dev`` for the stand-in: a
    :class:`tests.support.token_server.TokenServer` whose users are Google principals and whose
    grants come from the stand-in's IAM policies (see the module doc)."""

    def __init__(self, workdir: Path, standin: GoogleStandIn, location: str, ca: Any, **kwargs: Any):
        super().__init__(workdir, ca=ca, service="artifactregistry-standin", **kwargs)
        self.standin = standin
        self.location = location

    def _authenticate(self, header: Optional[str]):
        if not header:
            return None, None
        if not header.startswith("Basic "):
            return None, (401, "unsupported authorization scheme")
        try:
            user, _sep, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except Exception:
            return None, (401, "malformed basic credentials")
        principal = None
        if user in ("oauth2accesstoken", "_token"):
            principal = self.standin.token_principal(password)
        elif user in ("_json_key", "_json_key_base64"):
            try:
                text = base64.b64decode(password).decode() if user == "_json_key_base64" else password
                principal = self.standin.key_principal(json.loads(text))
            except ValueError:
                principal = None
        if principal is None:
            return None, (401, "failed to authenticate: invalid credentials")
        return principal, None

    def _grant(self, user: Optional[str], scopes: List[str]) -> List[Dict[str, Any]]:
        granted: List[Dict[str, Any]] = []
        for scope_list in scopes:
            for scope in scope_list.split():
                parts = scope.split(":")
                if len(parts) != 3 or parts[0] != "repository" or user is None:
                    continue
                path = parts[1].split("/")
                if len(path) < 3:
                    continue
                roles = self._roles(user, path[0], path[1])
                allowed = []
                for action in parts[2].split(","):
                    if action == "pull" and roles & READ_ROLES:
                        allowed.append(action)
                    elif action == "push" and roles & WRITE_ROLES:
                        allowed.append(action)
                if allowed:
                    granted.append({"type": "repository", "name": parts[1], "actions": allowed})
        return granted

    def _roles(self, principal: str, project: str, repository: str) -> set:
        roles = set()
        for resource in (f"projects/{project}", f"projects/{project}/locations/{self.location}/repositories/{repository}"):
            if resource not in self.standin.policies:
                continue
            for b in self.standin.policy(resource)["bindings"]:
                if not b.get("condition") and principal in b["members"]:
                    roles.add(b["role"])
        return roles

    def _handler(self):
        """The GET realm of TokenServer, plus the OAuth2 form (``POST``, ``grant_type=password``) that
        containerd tries first with a user name and password (distribution ``docs/spec/auth/oauth.md``)."""
        base = super()._handler()
        realm = self

        class Handler(base):
            def do_POST(self) -> None:  # noqa: N802
                if urlsplit(self.path).path != "/token":
                    self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = dict((k, v[0]) for k, v in parse_qs(raw).items())
                if form.get("grant_type") != "password":
                    self._send(400, {"error": "unsupported_grant_type"})
                    return
                basic = base64.b64encode(f"{form.get('username', '')}:{form.get('password', '')}".encode()).decode()
                user, error = realm._authenticate("Basic " + basic)
                scopes = form.get("scope", "").split()
                with realm._lock:
                    realm.requests.append({"service": [form.get("service")], "scope": scopes, "account": None,
                                           "basic": True, "user": user, "refused": bool(error), "method": "POST"})
                if error:
                    self._send(401, {"error": "invalid_grant", "error_description": error[1]})
                    return
                if form.get("service") != realm.service:
                    self._send(400, {"error": "invalid_request", "error_description": "unknown service"})
                    return
                issued = realm.issue(user, scopes)
                self._send(200, {"access_token": issued["access_token"], "expires_in": issued["expires_in"],
                                 "issued_at": issued["issued_at"], "scope": " ".join(scopes)})

        return Handler
