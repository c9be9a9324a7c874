"""Extra registries for the node's registry configuration tests (``test_node_registry_config.py``),
started by that test's fixtures, never by ``make up``:

* ``start_untrusted_registry``: a distribution registry with a CA of its own that the node's
  containerd does not trust (anonymous pulls), holding the busybox image;
* ``start_pull_through_cache``: a distribution registry in proxy mode (a pull-through cache) in
  front of another registry, with its own CA, anonymous to its clients.

Both are the real Debian ``docker-registry`` (CNCF distribution 2.8), like the shared registry of
``tests/support/localenv.py``.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from tests.support import localenv as le
from tests.support.images import push_busybox


def node_side_name() -> "tuple[str, str]":
    """A registry host name the node's containerd does not treat as localhost, and its address.

    containerd talks plain HTTP to ``localhost`` and loopback IP literals when no hosts.toml says
    otherwise, so a registry on ``127.0.0.1:PORT`` would answer ``400 Bad Request`` instead of the
    x509 error users see. The machine's host name (``/etc/hosts`` maps it to a loopback address on
    Debian) is a name like any registry's: containerd uses HTTPS and checks the certificate.
    """
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError as exc:
        raise le.LocalEnvError(f"the host name {name!r} does not resolve ({exc}): the untrusted registry needs a"
                               " host name that is not localhost (add it to /etc/hosts)") from exc
    if name == "localhost" or name.replace(".", "").isdigit():
        raise le.LocalEnvError(f"the host name is {name!r}: the untrusted registry needs one that is not localhost")
    return name, address


def _start(workdir: Path, name: str, cfg_extra: Dict[str, Any], address: str, hosts: Sequence[str],
           ca_cn: str, log_name: str, env: Optional[Dict[str, str]] = None, timeout: float = 30.0) -> le.Registry:
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    ca = le.make_ca(workdir, "ca", cn=ca_cn)
    server = le.make_cert(workdir, "server", ca, cn=hosts[0], sans=tuple(hosts))
    port = le.free_port(address)
    cfg = le.registry_config(port, data, tls=server, auth=None, delete_enabled=False)
    cfg["http"]["addr"] = f"{address}:{port}"
    cfg.update(cfg_extra)
    config = le.write_file(workdir / "config.yml", le.to_yaml(cfg), 0o600)
    proc = le.spawn(log_name, [le.REGISTRY_BIN, "serve", str(config)], workdir / "registry.log",
                    env=le.clean_env(env))
    host = f"{name}:{port}"
    reg = le.Registry(host=host, port=port, url="https://" + host, ca=ca.cert, username=None, password=None,
                      auth=None, tls=True, delete_enabled=False, workdir=str(workdir), config=str(config),
                      data=str(data), process=proc, ca_key=ca.key)
    ctx = le.ssl_context(ca.cert)
    try:
        le.wait_for(lambda: le.http_request(reg.url + "/v2/", context=ctx, timeout=2)[0] == 200, timeout,
                    "/v2/ answering 200", log_name, proc)
    except BaseException:
        le.stop_processes([proc])
        raise
    return reg


def start_untrusted_registry(workdir: os.PathLike, repo: str, tag: str = "1.35") -> "tuple[le.Registry, str]":
    """An anonymous TLS registry reached as ``<machine host name>:PORT`` (``node_side_name``), whose
    certificate is signed by a new CA (``<workdir>/ca.crt``), with the busybox image at
    ``repo:tag``. Returns (registry, image reference)."""
    name, address = node_side_name()
    reg = _start(Path(workdir).resolve(), name, {}, address, (name, address), "registrylink untrusted registry CA",
                 "registry-untrusted")
    try:
        image, _digest = push_busybox(reg.url, repo=repo, tag=tag, ca=reg.ca)
    except BaseException:
        reg.stop()
        raise
    return reg, image


def start_pull_through_cache(workdir: os.PathLike, upstream_url: str, upstream_ca: str,
                             username: Optional[str], password: Optional[str]) -> le.Registry:
    """A distribution registry in proxy mode in front of ``upstream_url`` on ``127.0.0.1:PORT``: it
    serves what it fetched from there and keeps a copy (its ``/v2/_catalog`` lists the cached
    repositories).

    TLS with a new CA (``<workdir>/ca.crt``), no auth for its clients; it trusts ``upstream_ca``
    (Go reads ``SSL_CERT_FILE``). ``username``/``password`` reach the upstream only when it answers
    with a token realm (distribution 2.8 looks its credentials up by realm URL): in front of a
    basic-auth (htpasswd) registry the cache answers ``unauthorized: authentication required``.
    """
    proxy: Dict[str, Any] = {"remoteurl": upstream_url}
    if username:
        proxy.update(username=username, password=password)
    return _start(Path(workdir).resolve(), "127.0.0.1", {"proxy": proxy}, "127.0.0.1", ("127.0.0.1", "localhost"),
                  "registrylink pull-through cache CA", "registry-cache", env={"SSL_CERT_FILE": upstream_ca})


# --------------------------------------------------------------------------------------
# a registry that rate-limits pulls (stand-in, shaped like Docker Hub's answers)


class RateLimitedRegistry:
    """A local stand-in for a registry whose pull quota is used up, shaped like Docker Hub's
    answers: ``/v2/`` and manifest HEADs answer (Docker Hub does not count HEADs), every GET of a
    manifest or blob answers ``429 Too Many Requests`` with the ``TOOMANYREQUESTS`` error and the
    ``ratelimit-limit`` / ``ratelimit-remaining`` headers. Plain HTTP on ``127.0.0.1:PORT`` (which
    containerd talks HTTP to unless a hosts.toml says otherwise). ``manifests`` maps
    ``repo:tag`` to ``(media type, manifest bytes)``; ``requests`` lists what it was asked."""

    def __init__(self, manifests: Dict[str, "tuple[str, bytes]"]):
        import hashlib
        import http.server
        import threading

        outer = self
        self.requests: list = []
        self.manifests = dict((k, (mt, body, "sha256:" + hashlib.sha256(body).hexdigest()))
                              for k, (mt, body) in manifests.items())

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return

            def _send(self, status: int, headers: Dict[str, str], body: bytes = b"") -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                outer.requests.append((self.command, self.path))
                limits = {"Docker-Distribution-Api-Version": "registry/2.0", "ratelimit-limit": "100;w=21600",
                          "ratelimit-remaining": "0;w=21600"}
                path = self.path.split("?", 1)[0]
                if path in ("/v2/", "/v2"):
                    return self._send(200, dict(limits, **{"Content-Type": "application/json"}), b"{}")
                if "/manifests/" in path and self.command == "HEAD":
                    repo, ref = path[len("/v2/"):].split("/manifests/", 1)
                    found = outer.manifests.get(f"{repo}:{ref}") or next(
                        (m for m in outer.manifests.values() if m[2] == ref), None)
                    if found:
                        media_type, body, digest = found
                        self.send_response(200)
                        for key, value in dict(limits, **{"Content-Type": media_type,
                                                          "Docker-Content-Digest": digest}).items():
                            self.send_header(key, value)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        return None
                    return self._send(404, limits)
                body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": (
                    "You have reached your unauthenticated pull rate limit."
                    " https://www.docker.com/increase-rate-limit")}]}).encode()
                return self._send(429, dict(limits, **{"Content-Type": "application/json"}), body)

            do_GET = do_HEAD = _handle

        self.port = le.free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = "http://" + self.host
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
