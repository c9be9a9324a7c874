"""A small Docker-token-spec token server for the test suite.

It issues JWTs signed by a test key (ES256 or RS256, signed with ``cryptography``) that CNCF
distribution accepts with ``auth.token.rootcertbundle`` pointing at :attr:`TokenServer.rootcertbundle`
(the self-signed certificate of the signing key; every token carries it in the ``x5c`` header).

Behaviour (distribution ``docs/spec/auth/token.md``):

* ``GET <realm>?service=S&scope=...&scope=...&account=U`` with optional HTTP Basic;
* no Authorization: anonymous, granted what ``acl[None]`` allows;
* wrong password: 401 ``{"errors":[{"code":"UNAUTHORIZED",...}]}``;
* the granted access is the intersection of the requested scopes with ``acl[user]``
  (``{"repo-name-or-*": ["pull", "push", "delete", "*"]}``), never an error for a subset;
* the answer is ``{"token", "access_token", "expires_in", "issued_at"}``.

A user whose password entry is :data:`JWT_PASSWORD` authenticates with a JWT minted by
:meth:`TokenServer.mint_password` (like an ACR refresh token): an expired one gets 401 with the
message "token expired".

Used as::

    ca = make_ca(tmp_path)
    with TokenServer(tmp_path, ca=ca, users={"alice": "pw"}, acl={"alice": {"team/app": ["pull"]}}) as ts:
        with start_registry(tmp_path / "reg", auth="token", ca=ca, token_realm=ts.realm,
                            token_service=ts.service, token_issuer=ts.issuer,
                            token_rootcertbundle=ts.rootcertbundle) as reg:
            ...
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.support.standin_server import LoopbackServer

JWT_PASSWORD = object()  # marker: this user authenticates with a JWT minted by the server


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SigningKey:
    """A test signing key and its self-signed certificate (the rootcertbundle)."""

    def __init__(self, alg: str = "ES256"):
        if alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
        elif alg == "RS256":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"alg must be ES256 or RS256, not {alg!r}")
        self.alg = alg
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registrylink test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, claims: Dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": self.alg,
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64url(json.dumps(claims, separators=(",", ":")).encode())).encode()
        if self.alg == "ES256":
            der = self.key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + _b64url(sig)

    def verify(self, token: str) -> Optional[Dict[str, Any]]:
        """The claims of a token this key signed (signature checked, expiry not), else None."""
        try:
            head, body, sig = token.split(".")
            signing_input = (head + "." + body).encode()
            raw = _b64url_decode(sig)
            pub = self.key.public_key()
            if self.alg == "ES256":
                from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
                der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
                pub.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            else:
                pub.verify(raw, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return json.loads(_b64url_decode(body))
        except Exception:  # any malformed or forged token
            return None


class TokenServer(LoopbackServer):
    """A threaded HTTPS (or HTTP) token server on 127.0.0.1.

    ``ca``: a ``tests.support.localenv.CertPair``; the server's TLS certificate is issued by it
    for 127.0.0.1/localhost, so the registry's CA bundle also trusts the realm. ``tls=False``
    serves plain HTTP (to test that credentials are not sent there).
    """

    SERVER_NAME = "token-server"

    def __init__(self, workdir: os.PathLike, ca: Any = None, users: Optional[Dict[str, Any]] = None,
                 acl: Optional[Dict[Optional[str], Dict[str, List[str]]]] = None,
                 service: str = "registrylink-test-registry", issuer: str = "registrylink-token-issuer",
                 expires_in: int = 300, alg: str = "ES256", tls: bool = True, host: str = "127.0.0.1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.acl = dict(acl or {})
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.signer = SigningKey(alg)
        self.rootcertbundle = str(self.workdir / "token-signer.crt")
        Path(self.rootcertbundle).write_bytes(self.signer.cert_pem())
        self.requests: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        self._tls = tls
        self._ca = ca
        self._host = host
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.port = 0

    # -- tokens --------------------------------------------------------------------------

    def mint_password(self, subject: str, expires_in: int) -> str:
        """A JWT password (ACR refresh-token style) signed by this server; may be already expired."""
        now = int(time.time())
        return self.signer.sign({"iss": self.issuer, "sub": subject, "aud": self.service, "iat": now - 10,
                                 "nbf": now - 10, "exp": now + expires_in, "jti": secrets.token_hex(8),
                                 "grant_type": "refresh_token"})

    def _authenticate(self, header: Optional[str]):
        """(user, error): user None = anonymous; error is (status, message) when refused."""
        if not header:
            return None, None
        if not header.startswith("Basic "):
            return None, (401, "unsupported authorization scheme")
        try:
            user, _sep, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except Exception:
            return None, (401, "malformed basic credentials")
        expected = self.users.get(user)
        if expected is JWT_PASSWORD:
            claims = self.signer.verify(password)
            if claims is None or claims.get("sub") != user:
                return None, (401, "invalid token")
            if claims.get("exp", 0) < time.time():
                return None, (401, "token expired")
            return user, None
        if expected is None or not secrets.compare_digest(str(expected), password):
            return None, (401, "incorrect username or password")
        return user, None

    def _grant(self, user: Optional[str], scopes: List[str]) -> List[Dict[str, Any]]:
        rules = self.acl.get(user, {})
        granted: List[Dict[str, Any]] = []
        for scope_list in scopes:
            for scope in scope_list.split():
                first, last = scope.find(":"), scope.rfind(":")
                if first < 0 or first == last:
                    continue
                rtype, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:].split(",")
                allowed = rules.get(name, rules.get("*", []))
                ok = [a for a in actions if a in allowed or "*" in allowed]
                if ok:
                    granted.append({"type": rtype, "name": name, "actions": ok})
        return granted

    def issue(self, user: Optional[str], scopes: List[str]) -> Dict[str, Any]:
        now = int(time.time())
        access = self._grant(user, scopes)
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + self.expires_in,
                  "nbf": now - 5, "iat": now, "jti": secrets.token_hex(12), "access": access}
        token = self.signer.sign(claims)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "access_token": token, "expires_in": self.expires_in, "issued_at": issued}

    # -- HTTP ----------------------------------------------------------------------------

    @property
    def realm(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self._host}:{self.port}/token"

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path != "/token":
                    self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
                    return
                query = parse_qs(parts.query)
                auth = self.headers.get("Authorization")
                user, error = server._authenticate(auth)
                with server._lock:
                    server.requests.append({"service": query.get("service"), "scope": query.get("scope", []),
                                            "account": query.get("account"), "basic": bool(auth),
                                            "user": user, "refused": bool(error)})
                if error:
                    self._send(error[0], {"errors": [{"code": "UNAUTHORIZED", "message": error[1]}]})
                    return
                if query.get("service", [None])[0] != server.service:
                    self._send(400, {"errors": [{"code": "INVALID_REQUEST", "message": "unknown service"}]})
                    return
                self._send(200, server.issue(user, query.get("scope", [])))

        return Handler

    def start(self) -> "TokenServer":
        if self._tls and self._ca is None:
            raise ValueError("a TLS token server needs ca= (a CertPair) to issue its certificate")
        return self._serve(host=self._host, ca=self._ca if self._tls else None)
