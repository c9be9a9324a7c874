"""A local STAND-IN for the GCE metadata server of a GKE node (Google cannot run here).

It is not Google: it is shaped like the documented metadata server (``computeMetadata/v1``, see
docs/gke.md) so that GKE's real kubelet image credential provider plugin, ``auth-provider-gcp``,
run by the real kubelet, gets the node pool service account's access token from it. The token is
issued by the OAuth2/IAM stand-in (:class:`tests.support.gcp_standin.GoogleStandIn`), so the
Artifact Registry realm stand-in authorises it by that account's IAM bindings like any other.

What it implements, as documented for ``metadata.google.internal``:

* every request needs the header ``Metadata-Flavor: Google`` (else HTTP 403 with Google's text),
  and one carrying ``X-Forwarded-For`` is refused (the server refuses proxied requests from
  elsewhere); every answer carries ``Metadata-Flavor: Google``;
* ``instance/service-accounts/`` lists ``default/`` and ``<email>/``; for ``default`` and the
  e-mail: ``email``, ``scopes`` (one per line, or a JSON list with ``?alt=json``), ``aliases``,
  and ``token`` -> ``{"access_token", "expires_in", "token_type": "Bearer"}`` (a new token of the
  account while none is cached, the cached one with its remaining lifetime after that, as the
  real server caches tokens);
* ``project/project-id``, ``project/numeric-project-id``, ``instance/hostname``,
  ``instance/zone``; ``instance/attributes/`` keys given to the constructor (the plugin's
  ``dockercfg`` flows read ``google-dockercfg``: absent, so 404 like on a node without it).

The plugin reaches it by URL ``http://metadata.google.internal./computeMetadata/v1/...`` (fixed
in its source) through ``HTTP_PROXY``: so this server also answers proxy-form requests
(absolute URI) whose host is ``metadata.google.internal`` or ``169.254.169.254``, and refuses
any other host (it is not a proxy for anything else). ``requests`` lists every call (path,
status) for assertions, never a token.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

from tests.support.gcp_standin import CLOUD_PLATFORM, GoogleStandIn
from tests.support.standin_server import LoopbackServer

METADATA_HOSTS = ("metadata.google.internal", "metadata.google.internal.", "169.254.169.254", "metadata")
PREFIX = "/computeMetadata/v1/"
FORBIDDEN = ("Your client does not have permission to get URL {path} from this server. Missing "
             "Metadata-Flavor:Google header.")


class GceMetadataStandIn(LoopbackServer):
    """Plain HTTP on 127.0.0.1 (the real one is plain HTTP too). ``service_account`` is the
    e-mail of the node pool's service account; its access tokens come from ``google``."""

    SERVER_NAME = "gce-metadata-standin"

    def __init__(self, google: GoogleStandIn, service_account: str, project: str, project_number: str,
                 scopes: Sequence[str] = (CLOUD_PLATFORM,), zone: str = "europe-west1-b",
                 hostname: str = "gke-node-1", attributes: Optional[Dict[str, str]] = None):
        self.google = google
        self.service_account = service_account
        self.project = project
        self.project_number = project_number
        self.scopes = list(scopes)
        self.zone = zone
        self.hostname = hostname
        self.attributes = dict(attributes or {})
        self.requests: List[Dict[str, Any]] = []
        self._token: Optional[Tuple[str, float]] = None
        self._lock = threading.Lock()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self.port = 0

    @property
    def url(self) -> str:
        """The address to give as ``HTTP_PROXY`` (or to call directly)."""
        return f"http://127.0.0.1:{self.port}"

    def tokens_issued(self) -> List[str]:
        """The access tokens this server handed out (for no-secret-in-output assertions)."""
        with self._lock:
            return [self._token[0]] if self._token else []

    def _access_token(self) -> Dict[str, Any]:
        with self._lock:
            now = time.time()
            # a cached token is reused until 5 minutes before its expiry, like the real server
            if self._token is None or self._token[1] - now < 300:
                token = self.google.issue_token("serviceAccount:" + self.service_account)
                self._token = (token, now + self.google.token_lifetime)
            token, expiry = self._token
        return {"access_token": token, "expires_in": int(expiry - now), "token_type": "Bearer"}

    def _answer(self, path: str, query: Dict[str, List[str]]) -> Tuple[int, str, str]:
        """(status, content type, body) for a path below /computeMetadata/v1/."""
        json_alt = (query.get("alt") or [""])[0] == "json"
        text = "application/text"
        fixed = {"project/project-id": self.project, "project/numeric-project-id": self.project_number,
                 "instance/hostname": self.hostname,
                 "instance/zone": f"projects/{self.project_number}/zones/{self.zone}"}
        if path in fixed:
            return 200, text, fixed[path]
        if path in ("instance/service-accounts", "instance/service-accounts/"):
            return 200, text, f"default/\n{self.service_account}/\n"
        if path.startswith("instance/attributes/"):
            key = path[len("instance/attributes/"):]
            if not key:
                return 200, text, "".join(k + "\n" for k in sorted(self.attributes))
            if key in self.attributes:
                return 200, text, self.attributes[key]
            return 404, "text/html; charset=UTF-8", "Not Found"
        if path.startswith("instance/service-accounts/"):
            account, _sep, leaf = path[len("instance/service-accounts/"):].partition("/")
            if account not in ("default", self.service_account):
                return 404, "text/html; charset=UTF-8", "Not Found"
            if leaf == "email":
                return 200, text, self.service_account
            if leaf == "aliases":
                return 200, text, "default\n"
            if leaf == "scopes":
                if json_alt:
                    return 200, "application/json", json.dumps(self.scopes)
                return 200, text, "".join(s + "\n" for s in self.scopes)
            if leaf == "token":
                return 200, "application/json", json.dumps(self._access_token())
            if leaf == "":
                return 200, text, "aliases\nemail\nidentity\nscopes\ntoken\n"
        return 404, "text/html; charset=UTF-8", "Not Found"

    def _handler(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, ctype: str, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Metadata-Flavor", "Google")
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                host = (parts.hostname or (self.headers.get("Host") or "").rsplit(":", 1)[0]).lower()
                path = parts.path
                if parts.scheme and host not in METADATA_HOSTS:
                    status, ctype, body = 403, "text/plain", f"the GCE metadata stand-in is not a proxy for {host}"
                elif self.headers.get("X-Forwarded-For"):
                    status, ctype, body = 403, "text/plain", "Request had an X-Forwarded-For header: refused"
                elif self.headers.get("Metadata-Flavor") != "Google":
                    status, ctype, body = 403, "text/html; charset=UTF-8", FORBIDDEN.format(path=path)
                elif not path.startswith(PREFIX):
                    status, ctype, body = 404, "text/html; charset=UTF-8", "Not Found"
                else:
                    status, ctype, body = standin._answer(path[len(PREFIX):], parse_qs(parts.query))
                with standin._lock:
                    standin.requests.append({"host": host, "path": path, "status": status,
                                             "user_agent": self.headers.get("User-Agent")})
                self._send(status, ctype, body)

        return Handler

    def start(self) -> "GceMetadataStandIn":
        """Serve plain HTTP (the metadata server is reached over HTTP, through the plugin's proxy)."""
        return self._serve()
