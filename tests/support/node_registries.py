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
