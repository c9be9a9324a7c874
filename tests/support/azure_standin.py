"""A local STAND-IN for the documented Azure APIs the AKS/ACR path uses (Azure cannot run here).

It is not Azure: it is shaped after the public API documentation (docs/aks-acr.md lists what
is modelled) so that the collection's Azure code runs against real HTTP, real TLS and real
JWTs, and so that the credentials it mints are used by a real registry client and by the real
kubelet. One threaded HTTPS server on 127.0.0.1 plays:

* **Microsoft Entra ID** (the authority): ``GET /<tenant>/v2.0/.well-known/openid-configuration``
  and ``POST /<tenant>/oauth2/v2.0/token`` with ``grant_type=client_credentials`` and a client
  secret. The access token is a JWT with ``aud`` (the requested scope without ``/.default``),
  ``tid``, ``oid``, ``appid``, ``iat``/``nbf``/``exp``.
* **the ACR token service** of one registry (the ``service``):
  ``POST /oauth2/exchange`` (``grant_type=access_token``, ``service``, ``tenant``,
  ``access_token``) answers ``{"refresh_token": <JWT>}``; ``/oauth2/token`` issues registry
  access tokens in both documented forms: ``GET ?service=&scope=`` with HTTP Basic (user
  ``00000000-0000-0000-0000-000000000000`` and the refresh token as password) and the OAuth2
  ``POST`` form (``grant_type=refresh_token`` or ``grant_type=password``, the form containerd
  sends for a user name and password).

The registry in front of which it stands is the real CNCF distribution registry with token
auth: ``auth.token.realm`` = :attr:`AzureStandIn.realm`, ``service`` = :attr:`service`,
``rootcertbundle`` = :attr:`rootcertbundle` (see :func:`start_acr`).

Access: ``acr_pull`` is the set of principal object IDs whose registry tokens grant ``pull``
(what an AcrPull assignment on the registry would give), ``acr_push`` those that may also push;
others get an empty grant, so the registry answers 401 as ACR does. ``arm_audience_allowed=False`` refuses ARM-audience Entra tokens
at ``/oauth2/exchange`` (a registry with ``azureADAuthenticationAsArmPolicy`` disabled).
"""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Set
from urllib.parse import parse_qs, urlsplit

from tests.support.token_server import SigningKey

NULL_USER = "00000000-0000-0000-0000-000000000000"
ARM_AUDIENCE = "https://management.azure.com"
ACR_AUDIENCE = "https://containerregistry.azure.net"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AzureStandIn:
    """The stand-in server. ``clients``: client_id -> client secret (service principals);
    each client gets a stable object ID in :attr:`object_ids`."""

    def __init__(self, workdir, ca, tenant_id: Optional[str] = None, clients: Optional[Dict[str, str]] = None,
                 service: str = "registry.stand-in", entra_ttl: int = 3600, refresh_ttl: int = 3 * 3600,
                 access_ttl: int = 300, arm_audience_allowed: bool = True):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.clients = dict(clients or {})
        self.object_ids = dict((c, str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + c))) for c in self.clients)
        self.service = service
        self.entra_ttl = entra_ttl
        self.refresh_ttl = refresh_ttl
        self.access_ttl = access_ttl
        self.arm_audience_allowed = arm_audience_allowed
        self.acr_pull: Set[str] = set()
        self.acr_push: Set[str] = set()
        self.entra_key = SigningKey("RS256")
        self.registry_key = SigningKey("ES256")
        self.rootcertbundle = str(self.workdir / "acr-token-signer.crt")
        Path(self.rootcertbundle).write_bytes(self.registry_key.cert_pem())
        self.requests: List[Dict[str, Any]] = []  # what was asked, never a secret
        self._lock = threading.Lock()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self.port = 0

    # -- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        """The Entra authority host (azure-identity's ``authority``)."""
        return self.url

    @property
    def realm(self) -> str:
        return self.url + "/oauth2/token"

    @property
    def issuer(self) -> str:
        return "acr-stand-in"

    def add_client(self, client_id: str, secret: str) -> str:
        self.clients[client_id] = secret
        self.object_ids[client_id] = str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + client_id))
        return self.object_ids[client_id]

    def log(self, kind: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["kind"] == kind]

    # -- tokens --------------------------------------------------------------------------

    def entra_token(self, client_id: str, audience: str, ttl: Optional[int] = None) -> str:
        now = int(time.time())
        return self.entra_key.sign({
            "aud": audience, "iss": f"{self.url}/{self.tenant_id}/v2.0", "iat": now, "nbf": now,
            "exp": now + (self.entra_ttl if ttl is None else ttl), "tid": self.tenant_id,
            "oid": self.object_ids.get(client_id, ""), "appid": client_id, "sub": self.object_ids.get(client_id, ""),
            "ver": "2.0"})

    def refresh_token(self, oid: str, ttl: Optional[int] = None) -> str:
        now = int(time.time())
        return self.registry_key.sign({
            "jti": str(uuid.uuid4()), "sub": oid, "nbf": now, "iat": now,
            "exp": now + (self.refresh_ttl if ttl is None else ttl), "iss": self.issuer, "aud": self.service,
            "tenant": self.tenant_id, "grant_type": "refresh_token", "version": "1.0"})

    def _access_token(self, oid: Optional[str], scopes: List[str]) -> Dict[str, Any]:
        now = int(time.time())
        access = []
        allowed = set(["pull"] if oid in self.acr_pull or oid in self.acr_push else [])
        if oid in self.acr_push:
            allowed.add("push")
        if allowed:
            for scope_list in scopes:
                for scope in scope_list.split():
                    first, last = scope.find(":"), scope.rfind(":")
                    if first < 0 or first == last:
                        continue
                    rtype, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:].split(",")
                    ok = [a for a in actions if a in allowed]
                    if rtype == "repository" and ok:
                        access.append({"type": rtype, "name": name, "actions": ok})
        token = self.registry_key.sign({"iss": self.issuer, "sub": oid or "", "aud": self.service,
                                        "exp": now + self.access_ttl, "nbf": now - 5, "iat": now,
                                        "jti": secrets.token_hex(12), "access": access})
        return {"access_token": token, "token": token, "expires_in": self.access_ttl}

    def _claims(self, key: SigningKey, token: str) -> Optional[Dict[str, Any]]:
        claims = key.verify(token or "")
        if claims is None or claims.get("exp", 0) < time.time():
            return None
        return claims

    def _refresh_subject(self, token: str) -> Optional[str]:
        claims = self._claims(self.registry_key, token)
        if claims is None or claims.get("grant_type") != "refresh_token" or claims.get("aud") != self.service:
            return None
        return claims.get("sub")

    # -- HTTP ----------------------------------------------------------------------------

    def _handler(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _form(self) -> Dict[str, List[str]]:
                length = int(self.headers.get("Content-Length") or 0)
                return parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)

            def _record(self, kind: str, **fields: Any) -> None:
                with standin._lock:
                    standin.requests.append(dict(kind=kind, **fields))

            def _acr_error(self, status: int, message: str) -> None:
                self._send(status, {"errors": [{"code": "UNAUTHORIZED", "message": message}]})

            # Entra ---------------------------------------------------------------------
            def _openid(self, tenant: str) -> None:
                base = f"{standin.url}/{tenant}"
                self._send(200, {"token_endpoint": base + "/oauth2/v2.0/token",
                                 "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                                 "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
                                 "issuer": f"{standin.url}/{tenant}/v2.0",
                                 "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                                           "private_key_jwt"],
                                 "response_types_supported": ["code", "id_token", "token"],
                                 "tenant_region_scope": "EU"})

            def _entra_token(self, tenant: str) -> None:
                form = self._form()

                def get(key: str) -> str:
                    return (form.get(key) or [""])[0]

                client_id, scope = get("client_id"), get("scope")
                audience = " ".join(s[:-len("/.default")] if s.endswith("/.default") else s for s in scope.split()
                                    if s not in ("openid", "profile", "offline_access"))
                ok = (tenant == standin.tenant_id and get("grant_type") == "client_credentials"
                      and client_id in standin.clients
                      and secrets.compare_digest(standin.clients[client_id], get("client_secret")))
                self._record("entra_token", tenant=tenant, client_id=client_id, scope=scope, ok=ok)
                if tenant != standin.tenant_id:
                    self._send(400, {"error": "invalid_request", "error_description":
                                     f"AADSTS90002: Tenant '{tenant}' not found."})
                    return
                if not ok:
                    self._send(401, {"error": "invalid_client", "error_description":
                                     "AADSTS7000215: Invalid client secret provided."})
                    return
                self._send(200, {"token_type": "Bearer", "expires_in": standin.entra_ttl,
                                 "ext_expires_in": standin.entra_ttl,
                                 "access_token": standin.entra_token(client_id, audience)})

            # ACR token service -----------------------------------------------------------
            def _exchange(self) -> None:
                form = self._form()

                def get(key: str) -> str:
                    return (form.get(key) or [""])[0]

                claims = standin._claims(standin.entra_key, get("access_token"))
                audience = (claims or {}).get("aud")
                record = dict(grant_type=get("grant_type"), service=get("service"), tenant=get("tenant"),
                              audience=audience, ok=False)
                if get("grant_type") != "access_token":
                    self._record("exchange", **record)
                    self._acr_error(400, "unsupported grant_type")
                    return
                if get("service") != standin.service:
                    self._record("exchange", **record)
                    self._acr_error(400, "service does not match the registry")
                    return
                if claims is None:
                    self._record("exchange", **record)
                    self._acr_error(401, "invalid or expired Microsoft Entra access token")
                    return
                if audience == ARM_AUDIENCE and not standin.arm_audience_allowed:
                    self._record("exchange", **record)
                    self._acr_error(401, "ARM audience tokens are disabled for this registry "
                                         "(azureADAuthenticationAsArmPolicy); use an ACR audience token")
                    return
                if audience not in (ARM_AUDIENCE, ACR_AUDIENCE) or (get("tenant") and get("tenant") != claims["tid"]):
                    self._record("exchange", **record)
                    self._acr_error(401, "access token audience or tenant not accepted")
                    return
                record["ok"] = True
                self._record("exchange", **record)
                self._send(200, {"refresh_token": standin.refresh_token(claims["oid"])})

            def _token_get(self, query: Dict[str, List[str]]) -> None:
                auth = self.headers.get("Authorization") or ""
                oid = None
                if auth.startswith("Basic "):
                    try:
                        user, _s, password = base64.b64decode(auth[6:]).decode().partition(":")
                    except Exception:
                        user, password = "", ""
                    oid = standin._refresh_subject(password) if user == NULL_USER else None
                    if oid is None:
                        self._record("token", form="get", ok=False)
                        self._acr_error(401, "invalid credentials")
                        return
                self._record("token", form="get", ok=True, oid=oid, scope=query.get("scope", []))
                if query.get("service", [""])[0] != standin.service:
                    self._acr_error(400, "service does not match the registry")
                    return
                self._send(200, standin._access_token(oid, query.get("scope", [])))

            def _token_post(self) -> None:
                form = self._form()

                def get(key: str) -> str:
                    return (form.get(key) or [""])[0]

                grant = get("grant_type")
                if grant == "refresh_token":
                    oid = standin._refresh_subject(get("refresh_token"))
                elif grant == "password" and get("username") == NULL_USER:
                    oid = standin._refresh_subject(get("password"))
                else:
                    oid = None
                self._record("token", form="post", grant_type=grant, ok=oid is not None, oid=oid,
                             scope=form.get("scope", []))
                if oid is None:
                    self._acr_error(401, "invalid refresh token")
                    return
                if get("service") != standin.service:
                    self._acr_error(400, "service does not match the registry")
                    return
                body = standin._access_token(oid, form.get("scope", []))
                body.pop("token")
                body["refresh_token"] = get("refresh_token") or get("password")
                self._send(200, body)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                segs = [s for s in parts.path.split("/") if s]
                if parts.path == "/oauth2/token":
                    self._token_get(parse_qs(parts.query))
                elif len(segs) == 4 and segs[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                    self._openid(segs[0])
                else:
                    self._send(404, {"error": "not_found", "path": parts.path})

            def do_POST(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                segs = [s for s in parts.path.split("/") if s]
                if parts.path == "/oauth2/exchange":
                    self._exchange()
                elif parts.path == "/oauth2/token":
                    self._token_post()
                elif len(segs) == 4 and segs[1:] == ["oauth2", "v2.0", "token"]:
                    self._entra_token(segs[0])
                else:
                    self._send(404, {"error": "not_found", "path": parts.path})

        return Handler

    def start(self) -> "AzureStandIn":
        from tests.support.localenv import make_cert
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        pair = make_cert(self.workdir, "azure-standin", self.ca, cn="localhost", sans=("127.0.0.1", "localhost"))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pair.cert, pair.key)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="azure-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "AzureStandIn":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_acr(workdir, standin: AzureStandIn, ca):
    """The real distribution registry with token auth behind ``standin`` (already started):
    the registry's port is chosen first so that the service name is its host, as ACR's is its
    login server. Returns the ``Registry`` (a context manager)."""
    from tests.support.localenv import free_port, start_registry
    port = free_port()
    standin.service = f"127.0.0.1:{port}"
    return start_registry(Path(workdir), auth="token", port=port, ca=ca, token_realm=standin.realm,
                          token_service=standin.service, token_issuer=standin.issuer,
                          token_rootcertbundle=standin.rootcertbundle)


class NodeTrust:
    """Makes the local node's containerd trust a registry started by a test: a ``hosts.toml`` for
    ``host`` with ``ca`` in the node's ``certs.d`` (containerd reads it at every pull), removed
    again on exit. The token realm is on another port of 127.0.0.1 with a certificate of the same
    CA; containerd fetches tokens with the registry host's TLS settings."""

    def __init__(self, node: Dict[str, Any], host: str, ca: str):
        self.dir = Path(node["workdir"]) / "node" / "containerd" / "certs.d" / host
        self.host = host
        self.ca = ca

    def __enter__(self) -> "NodeTrust":
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "hosts.toml").write_text(
            f'server = "https://{self.host}"\n\n[host."https://{self.host}"]\n'
            f'  capabilities = ["pull", "resolve"]\n  ca = {json.dumps(str(self.ca))}\n')
        return self

    def __exit__(self, *exc: Any) -> None:
        (self.dir / "hosts.toml").unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass
