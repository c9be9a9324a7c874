"""The loopback HTTP(S) server every vendor stand-in and the token server run on.

A stand-in subclasses :class:`LoopbackServer`, names itself (``SERVER_NAME``: the serving thread's
name and the certificate's file name in ``workdir``) and builds its request handler class in
``_handler()``. ``start()`` serves on a free port of 127.0.0.1 over TLS with a certificate for
``localhost`` and ``127.0.0.1`` signed by ``self.ca`` (the local environment's CA, so the modules
trust it through ``ca_path``); a stand-in that serves plain HTTP or needs set-up first overrides
``start()`` and calls ``_serve()``. Use it as a context manager, or ``start()`` / ``stop()``.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from typing import Any, Optional


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (see the module docstring)."""

    SERVER_NAME = "stand-in"
    _server: Optional[http.server.ThreadingHTTPServer] = None
    _thread: Optional[threading.Thread] = None
    port: Optional[int] = None

    def _handler(self) -> type:
        raise NotImplementedError

    def _serve(self, host: str = "127.0.0.1", ca: Any = None) -> Any:
        """Serve ``_handler()`` on a free port of ``host``; over TLS when ``ca`` (a CertPair) is given."""
        self._server = http.server.ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        if ca is not None:
            from tests.support.localenv import make_cert
            pair = make_cert(self.workdir, self.SERVER_NAME, ca, cn="localhost", sans=("127.0.0.1", "localhost"))
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(pair.cert, pair.key)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.SERVER_NAME, daemon=True)
        self._thread.start()
        return self

    def start(self) -> Any:
        """Serve over TLS with a certificate signed by ``self.ca``."""
        return self._serve(ca=self.ca)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
