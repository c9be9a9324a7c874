"""A ``hosts.toml`` in a local node's containerd ``certs.d``, for the length of a test.

containerd reads ``certs.d/<name>/hosts.toml`` at every pull, so a file written here takes effect at
once: trust for a registry a test started (:class:`tests.support.azure_standin.NodeTrust`), or a
registry name routed to the local registry (``aks_node.LoginServerRoute``, test_gke_node_pull's
``ArtifactRegistryHost``). Each of those subclasses :class:`NodeHostsToml` with its own file text.
(containerd 1.6 refuses a hosts.toml without a ``[host]`` table, "invalid `host` tree", and then
ignores the file: every text here has one.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from tests.support import localenv as le


def host_entry(host: str, ca: Any) -> str:
    """A ``[host]`` table: ``https://<host>`` for pull and resolve, trusting ``ca``."""
    return f'[host."https://{host}"]\n  capabilities = ["pull", "resolve"]\n  ca = {json.dumps(str(ca))}\n'


class NodeHostsToml:
    """``certs.d/<name>/hosts.toml`` with ``text`` on ``node`` while in the ``with`` block; the file (and its
    directory, when empty) is removed on exit."""

    def __init__(self, node: Dict[str, Any], name: str, text: str):
        self.dir = Path(node["workdir"]) / "node" / "containerd" / "certs.d" / name
        self.text = text

    def __enter__(self) -> "NodeHostsToml":
        le.write_file(self.dir / "hosts.toml", self.text)
        return self

    def __exit__(self, *exc: Any) -> None:
        (self.dir / "hosts.toml").unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass
