"""A loopback HTTPS proxy that injects faults between the modules and a real server.

``FaultProxy`` sits in front of one upstream, the real kube-apiserver or the real distribution
registry of the local environment. It terminates TLS with a certificate of its own CA
(``proxy.ca``), reads each HTTP request, and either forwards it to the upstream (over TLS, with
the upstream's CA and, for the API server, the admin client certificate) or injects the first
matching :class:`Fault`:

=============  ====================================================================================
action         what the client sees
=============  ====================================================================================
``status``     an HTTP error (``status``, default 503) with ``Retry-After`` when ``retry_after`` is
               set, and a body shaped like the upstream's (a Kubernetes ``Status``, a registry
               ``errors`` list); the upstream never sees the request
``delay``      the upstream's answer, ``seconds`` late
``hang``       no answer at all: the connection stays open ``seconds`` (default: until the client
               closes it or the proxy stops); the upstream never sees the request; the request's
               entry records ``client_closed_after`` (seconds until the client gave up)
``cut``        the connection closes (TCP reset) after the request was read and before it reached
               the upstream
``cut_after``  the request reaches the upstream (and is applied) but the connection resets before
               the answer: the client cannot know the outcome
``call``       ``func(method, path)`` runs first (e.g. kill the upstream process), then the request
               is forwarded
=============  ====================================================================================

Connection-level faults: ``go_down()`` closes the listening socket and resets every open
connection (the client gets "connection refused", as from a dead server) until ``come_up()``;
``tls="untrusted"`` presents a certificate of an unknown CA (the client's TLS verification
fails); :func:`unresolvable_url` gives a URL whose host name does not resolve (``.invalid`` is
reserved, RFC 6761), for DNS failures.

Faults match by HTTP method and a regular expression on the path (with the query string);
``skip`` lets that many matching requests through first, ``times`` limits the injections (None:
every match). Everything the proxy sees is counted: ``requests`` (method, path, status or
fault), ``injected`` per action, ``statuses`` per upstream status code (409s prove contention).

It runs as threads of the test process, so a test changes faults between and during module
runs: ``proxy.add(Fault("status", status=429, retry_after="1", times=2))``.
"""

from __future__ import annotations

import dataclasses
import http.client
import http.server
import json
import re
import select
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import urlsplit

from tests.support import localenv as le

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}


@dataclasses.dataclass
class Fault:
    """One fault rule; see the module docstring for the actions."""

    action: str
    method: Optional[str] = None          # regex on the method, e.g. "POST|PUT"; None: any
    path: Optional[str] = None            # regex searched in the path (with query); None: any
    status: int = 503
    retry_after: Optional[str] = None
    seconds: float = 0.0
    skip: int = 0
    times: Optional[int] = None
    func: Optional[Callable[[str, str], Any]] = None
    seen: int = 0
    injected: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and not re.fullmatch(self.method, method):
            return False
        if self.path and not re.search(self.path, path):
            return False
        return True


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, proxy: "FaultProxy"):
        self.proxy = proxy
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        self.proxy._track(sock)
        # the handshake happens in the connection's own thread (_Handler.handle)
        sock = self.proxy._server_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.proxy._track(sock)
        return sock, addr

    def handle_error(self, request, client_address):  # noqa: ARG002 - broken client connections are expected
        return


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        return

    def handle(self) -> None:
        try:
            self.connection.do_handshake()
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate (tls="untrusted") or went away
        try:
            super().handle()
        except (ssl.SSLError, OSError):
            return  # the client went away, or go_down() reset the connection

    def _read_body(self) -> Optional[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _reset(self) -> None:
        """Close the client connection with a TCP reset (SO_LINGER 0)."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def _hold(self, seconds: Optional[float]) -> Optional[float]:
        """Answer nothing for ``seconds`` (None: until the proxy stops); return how many seconds
        passed until the client closed the connection (None if it did not)."""
        start = time.monotonic()
        proxy = self.server.proxy
        while not proxy._stopped.is_set() and (seconds is None or time.monotonic() - start < seconds):
            readable, _w, _x = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    data = self.connection.recv(1)
                except (ssl.SSLError, OSError):
                    data = b""
                if not data:
                    return time.monotonic() - start
        return None

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        method, path = self.command, self.path
        fault = proxy._pick(method, path)
        action = fault.action if fault else None
        if action == "status":
            proxy._count(method, path, f"injected {fault.status}", action)
            payload = proxy._error_body(fault.status)
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json")
            if fault.retry_after is not None:
                self.send_header("Retry-After", str(fault.retry_after))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(payload)
            return
        if action == "hang":
            entry = proxy._count(method, path, "injected hang", action)
            entry["client_closed_after"] = self._hold(fault.seconds or None)
            self._reset()
            return
        if action == "cut":
            proxy._count(method, path, "injected cut", action)
            self._reset()
            return
        if action == "delay":
            proxy._stopped.wait(fault.seconds)
        if action == "call":
            fault.func(method, path)
        try:
            status, reason, headers, data = proxy._forward(method, path, self.headers, body)
        except (OSError, http.client.HTTPException) as exc:
            proxy._count(method, path, f"upstream failed: {type(exc).__name__}", action)
            self._reset()
            return
        if action == "cut_after":
            proxy._count(method, path, f"{status} then injected cut", action)
            self._reset()
            return
        proxy._count(method, path, status, action, upstream_status=status)
        self.send_response(status, reason)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)) if method != "HEAD" else
                         dict((k.lower(), v) for k, v in headers).get("content-length", "0"))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class FaultProxy:
    """A fault-injecting HTTPS proxy on 127.0.0.1 in front of ``upstream`` (``https://host:port``).

    ``upstream_ca``: the CA that signs the upstream's certificate; ``client_cert``/``client_key``:
    the identity the proxy presents upstream (the API server's admin); ``flavor``: ``kubernetes`` or
    ``registry`` (the shape of injected error bodies); ``tls``: ``"ok"`` or ``"untrusted"``.
    Use it as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(self, upstream: str, upstream_ca: str, client_cert: Optional[str] = None,
                 client_key: Optional[str] = None, flavor: str = "kubernetes", tls: str = "ok",
                 workdir: Optional[str] = None, upstream_timeout: float = 120.0):
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 443
        self.flavor = flavor
        self.upstream_timeout = upstream_timeout
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rl-faultproxy-")
            workdir = self._tmp.name
        pki = Path(workdir)
        ca = le.make_ca(pki, "proxy-ca", cn="registrylink fault proxy CA")
        self.ca = ca.cert
        if tls == "untrusted":
            other = le.make_ca(pki, "unknown-ca", cn="a CA nobody trusts")
            leaf = le.make_cert(pki, "proxy", other, cn="localhost", sans=("127.0.0.1", "localhost"))
        else:
            leaf = le.make_cert(pki, "proxy", ca, cn="localhost", sans=("127.0.0.1", "localhost"))
        self._server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_ctx.load_cert_chain(leaf.cert, leaf.key)
        self._upstream_ctx = le.ssl_context(upstream_ca, client_cert, client_key)
        self.port = le.free_port()
        self.faults: List[Fault] = []
        self.requests: List[Dict[str, Any]] = []
        self.injected: Dict[str, int] = {}
        self.statuses: Dict[int, int] = {}
        self._lock = threading.Lock()
        self._conns: set = set()
        self._stopped = threading.Event()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._local = threading.local()

    # -- lifecycle

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "FaultProxy":
        self._stopped.clear()
        self.come_up()
        return self

    def come_up(self) -> None:
        """Listen (again) on the same port."""
        if self._server is not None:
            return
        self._server = _Server(("127.0.0.1", self.port), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"faultproxy-{self.port}", daemon=True)
        self._thread.start()

    def go_down(self) -> None:
        """Stop listening and reset every open connection: clients see a dead server."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for sock in conns:
            # shutdown() acts on the connection at once; close() alone would wait for the handler
            # thread's file objects and the connection would go on serving kept-alive requests
            for step in (lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
                         lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
                try:
                    step()
                except OSError:
                    pass

    def stop(self) -> None:
        self._stopped.set()
        self.go_down()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults and counters

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults = []

    def reset_counters(self) -> None:
        with self._lock:
            self.requests, self.injected, self.statuses = [], {}, {}

    def count(self, method: Optional[str] = None, path: Optional[str] = None, result: Any = None) -> int:
        """Requests seen that match ``method`` (regex), ``path`` (regex search) and ``result``."""
        with self._lock:
            return sum(1 for r in self.requests
                       if (method is None or re.fullmatch(method, r["method"]))
                       and (path is None or re.search(path, r["path"]))
                       and (result is None or r["result"] == result))

    def _pick(self, method: str, path: str) -> Optional[Fault]:
        with self._lock:
            for fault in self.faults:
                if not fault.matches(method, path):
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip:
                    continue
                if fault.times is not None and fault.injected >= fault.times:
                    continue
                fault.injected += 1
                self.injected[fault.action] = self.injected.get(fault.action, 0) + 1
                return fault
        return None

    def _count(self, method: str, path: str, result: Any, action: Optional[str],
               upstream_status: Optional[int] = None) -> Dict[str, Any]:
        entry = {"method": method, "path": path, "result": result, "fault": action, "time": time.time()}
        with self._lock:
            self.requests.append(entry)
            if upstream_status is not None:
                self.statuses[upstream_status] = self.statuses.get(upstream_status, 0) + 1
        return entry

    def _track(self, sock) -> None:
        with self._lock:
            self._conns.add(sock)

    def _untrack(self, sock) -> None:
        with self._lock:
            self._conns.discard(sock)

    def _error_body(self, status: int) -> bytes:
        reason = {429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
                  504: "Timeout"}.get(status, "InjectedFault")
        if self.flavor == "registry":
            code = "TOOMANYREQUESTS" if status == 429 else "UNAVAILABLE"
            return json.dumps({"errors": [{"code": code, "message": f"injected by the fault proxy ({status})"}]}).encode()
        return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": f"injected by the fault proxy ({status})", "reason": reason,
                           "code": status}).encode()

    # -- forwarding

    def _upstream(self, fresh: bool = False) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPSConnection(self.upstream_host, self.upstream_port, context=self._upstream_ctx,
                                               timeout=self.upstream_timeout)
            self._local.conn = conn
        return conn

    def _forward(self, method: str, path: str, headers, body: Optional[bytes]):
        out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        if body is not None:
            out["Content-Length"] = str(len(body))
        for attempt in (0, 1):
            conn = self._upstream(fresh=attempt == 1)
            try:
                conn.request(method, path, body=body, headers=out)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.reason, resp.getheaders(), data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # a kept-alive upstream connection the server closed meanwhile: once more, fresh
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def unresolvable_url(port: int = 443) -> str:
    """An https URL whose host never resolves (the ``.invalid`` top-level domain is reserved)."""
    return f"https://registrylink-fault.invalid:{port}"


def api_proxy(cluster: Dict[str, Any], **kwargs) -> FaultProxy:
    """A FaultProxy in front of a local cluster's API server (``localenv.cluster(context)``)."""
    return FaultProxy(cluster["server"], cluster["ca"], cluster["admin_cert"], cluster["admin_key"],
                      flavor="kubernetes", **kwargs)


def registry_proxy(registry, **kwargs) -> FaultProxy:
    """A FaultProxy in front of the local registry (``localenv.registry``)."""
    return FaultProxy(registry.url, registry.ca, flavor="registry", **kwargs)


def proxy_kubeconfig(proxy: FaultProxy, cluster: Dict[str, Any], path: Path, name: str = "faulty") -> str:
    """A kubeconfig whose only context ``name`` reaches ``cluster`` through ``proxy``."""
    access = le.KubeAccess(name, proxy.url, proxy.ca, cluster["admin_cert"], cluster["admin_key"])
    le.write_file(path, le.kubeconfig_text([access], current=name), 0o600)
    return str(path)
