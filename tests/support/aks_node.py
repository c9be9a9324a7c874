"""The local node as an AKS node for image pulls: its real kubelet runs AKS's image credential
provider plugin, ``acr-credential-provider`` (sigs.k8s.io/cloud-provider-azure, built by
``hack/build-acr-credential-provider.sh``), against the Azure STAND-IN (tests/support/azure_standin.py).

What an AKS node has, and what stands in for it here (docs/aks-acr.md, "How the node pulls"):

* ``/etc/kubernetes/azure.json`` with ``useManagedIdentityExtension: true`` and
  ``userAssignedIdentityID`` = the kubelet identity's client ID: :meth:`AksNodePull.write_configs`
  writes the same file into the test's directory;
* the cloud's endpoints: a custom cloud environment file (``AZURE_ENVIRONMENT_FILEPATH``, as on
  Azure Stack Hub) whose ``containerRegistryDNSSuffix`` is :data:`ACR_DNS_SUFFIX`, a name under
  ``.test`` that no DNS resolves, and whose Entra and Resource Manager endpoints are the stand-in;
* the managed identity endpoint: on a node it is IMDS at 169.254.169.254, an address azure-identity
  does not let anyone move; the plugin gets the stand-in's endpoint of the same credential type
  through ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` (the form azure-identity uses on App Service);
* the registry's login server name: the plugin fetches the ``/v2/`` challenge from
  ``https://<login server>`` (port 443); :class:`ConnectProxy` (``HTTPS_PROXY`` of the plugin) routes that
  one name to the real registry on its loopback port, and containerd reaches the same registry through a
  ``hosts.toml`` (:class:`LoginServerRoute`). Everything else the plugin calls is on 127.0.0.1, which Go
  never proxies.

The kubelet of one cluster is restarted with ``--image-credential-provider-config`` and
``--image-credential-provider-bin-dir`` (tests/support/kubelet_credential_provider.py; Pods keep running,
the Node is Ready again within seconds) and restarted with its original command line on exit.
"""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from tests.support import localenv as le
from tests.support.kubelet_credential_provider import KubeletCredentialProviders
from tests.support.node_hosts import NodeHostsToml

PROVIDER_VERSION = "v1.32.0"
PROVIDER_NAME = "acr-credential-provider"
#: the registry DNS suffix of the stand-in cloud (a login server is ``<name>.<suffix>``)
ACR_DNS_SUFFIX = "azurecr.registrylink.test"


class ProviderMissing(le.LocalEnvError):
    """acr-credential-provider is not built."""


def provider_dir() -> Path:
    """Where hack/build-acr-credential-provider.sh puts the binary."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "registrylink" / PROVIDER_NAME
    return Path(os.environ.get("REGISTRYLINK_ACR_CREDENTIAL_PROVIDER_DIR") or default / PROVIDER_VERSION)


def provider_bin() -> Path:
    """The plugin binary; ProviderMissing (never a skip) when it is not there."""
    binary = provider_dir() / PROVIDER_NAME
    if not os.access(binary, os.X_OK):
        raise ProviderMissing(f"{binary} is missing: run hack/build-acr-credential-provider.sh (make bootstrap "
                              f"does) to build acr-credential-provider {PROVIDER_VERSION}")
    return binary


# --------------------------------------------------------------------------------------
# the kubelet


def kubelet_argv(env: "le.LocalEnv", context: str = "local-1") -> List[str]:
    """The running kubelet's command line, from the state file."""
    name = f"kubelet-{env.cluster(context)['name']}"
    raw = json.loads(Path(env.state_file).read_text())
    return next(p["argv"] for p in raw["processes"] if p["name"] == name)


# --------------------------------------------------------------------------------------
# routes to the login server


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that tunnels exactly the ``routes`` (``"host:port"`` ->
    ``(ip, port)``) and refuses anything else with 403. :attr:`connects` records every CONNECT target
    (and whether it was routed)."""

    def __init__(self, routes: Dict[str, Tuple[str, int]]):
        self.routes = dict(routes)
        self.connects: List[Dict[str, Any]] = []
        self._sock: Optional[socket.socket] = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ConnectProxy":
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.5)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, name="connect-proxy", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        upstream = None
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            target = line[1] if len(line) == 3 and line[0] == "CONNECT" else None
            routed = self.routes.get(target or "")
            with self._lock:
                self.connects.append({"target": target, "routed": routed is not None})
            if routed is None:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection(routed, timeout=10)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
            self._pump(conn, upstream)
        except OSError:
            pass
        finally:
            conn.close()
            if upstream is not None:
                upstream.close()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self._stop.is_set():
            ready, _w, _x = select.select([a, b], [], [], 0.5)
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "ConnectProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class LoginServerRoute(NodeHostsToml):
    """containerd of the node reaches ``login_server`` at ``registry_host`` (a ``hosts.toml`` in the
    node's ``certs.d``, with ``ca``): what DNS does for an AKS node. Removed on exit.

    The registry is both the ``[host]`` entry (containerd 1.6 refuses a file without one: "invalid `host`
    tree") and the ``server``, so that no attempt ever falls back to a DNS lookup of the login server."""

    def __init__(self, node: Dict[str, Any], login_server: str, registry_host: str, ca: str):
        entry = f'capabilities = ["pull", "resolve"]\nca = {json.dumps(str(ca))}\n'
        super().__init__(node, login_server,
                         f'# {login_server} is served by the local registry (tests/support/aks_node.py)\n'
                         f'server = "https://{registry_host}"\n{entry}\n'
                         f'[host."https://{registry_host}"]\n{entry}')


# --------------------------------------------------------------------------------------
# the node's Azure configuration


class AksNodePull:
    """The node's kubelet with acr-credential-provider for images of ``*.<ACR_DNS_SUFFIX>``, signing in as
    the managed identity ``kubelet_client_id`` through the stand-in. A context manager: restarts the kubelet
    with the plugin on entry and without it on exit."""

    def __init__(self, env: "le.LocalEnv", workdir: os.PathLike, standin: Any, ca: str, kubelet_client_id: str,
                 proxy_url: str, context: str = "local-1"):
        self.env = env
        self.context = context
        self.dir = Path(workdir)
        self.standin = standin
        self.ca = str(ca)
        self.kubelet_client_id = kubelet_client_id
        self.proxy_url = proxy_url
        self.binary = provider_bin()
        self.azure_json = self.dir / "azure.json"
        self.cloud_env = self.dir / "azurestackcloud.json"
        self.kubelet: Optional[KubeletCredentialProviders] = None

    def write_configs(self) -> List[Dict[str, Any]]:
        """azure.json and the cloud file; returns the provider entry of the kubelet's configuration."""
        standin = self.standin
        # /etc/kubernetes/azure.json of an AKS node whose kubelet identity is a user-assigned managed identity
        le.write_file(self.azure_json, json.dumps({
            "cloud": "AzureStackCloud", "tenantId": standin.tenant_id, "subscriptionId": standin.subscription,
            "resourceGroup": f"MC_{standin.resource_group}_aks-node_westeurope", "location": "westeurope",
            "useManagedIdentityExtension": True, "userAssignedIdentityID": self.kubelet_client_id,
            "aadClientId": "msi", "aadClientSecret": "msi"}, indent=2) + "\n", 0o600)
        le.write_file(self.cloud_env, json.dumps({
            "name": "AzureStackCloud", "resourceManagerEndpoint": standin.url + "/",
            "activeDirectoryEndpoint": standin.url + "/", "tokenAudience": "https://management.azure.com",
            "containerRegistryDNSSuffix": ACR_DNS_SUFFIX}, indent=2) + "\n")
        env = {"AZURE_ENVIRONMENT_FILEPATH": str(self.cloud_env),
               "IDENTITY_ENDPOINT": standin.url + "/msi/token", "IDENTITY_HEADER": standin.identity_header,
               "HTTPS_PROXY": self.proxy_url, "SSL_CERT_FILE": self.ca}
        # what AKS configures: matchImages for the cloud's registry suffix, 10m default cache, azure.json as argument
        return [{"name": PROVIDER_NAME, "matchImages": [f"*.{ACR_DNS_SUFFIX}"], "defaultCacheDuration": "10m",
                 "args": [str(self.azure_json)], "env": env}]

    def __enter__(self) -> "AksNodePull":
        self.kubelet = KubeletCredentialProviders(self.env, self.context, self.write_configs(), self.binary.parent,
                                                  self.dir)
        self.kubelet.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kubelet.__exit__(*exc)
