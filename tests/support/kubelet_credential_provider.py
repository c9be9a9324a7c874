"""Run a local node's real kubelet with a kubelet image credential provider plugin.

The kubelet runs credential provider plugins (``CredentialProviderConfig``,
``kubelet.config.k8s.io/v1``) for images that match a provider's ``matchImages``, and gives the
credentials they answer to the container runtime for the pull, as on GKE (``auth-provider-gcp``)
and other clouds. ``make up`` starts kubelets without one; a test that needs one restarts only the
kubelet of its cluster's node with ``--image-credential-provider-config`` and
``--image-credential-provider-bin-dir`` and restarts it as it was afterwards:

    with KubeletCredentialProviders(localenv, "local-1", providers, bin_dir):
        ...  # Pods on local-1-node are pulled with the plugin's credentials

The running Pods stay (containerd keeps them); the node is Ready again about 2 s after each
restart. The new kubelet is recorded in the state file, so ``make down`` stops it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from tests.support import localenv as le

FLAGS = ("--image-credential-provider-config=", "--image-credential-provider-bin-dir=")


def credential_provider_config(providers: Sequence[Dict[str, Any]]) -> str:
    """The kubelet's ``CredentialProviderConfig`` (JSON is YAML) for ``providers``: each a dict with
    ``name``, ``matchImages``, ``defaultCacheDuration`` and optionally ``args`` and ``env``
    (``{"NAME": "value"}``); ``apiVersion`` is ``credentialprovider.kubelet.k8s.io/v1``."""
    out = []
    for p in providers:
        entry = {"name": p["name"], "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                 "matchImages": list(p["matchImages"]), "defaultCacheDuration": p.get("defaultCacheDuration", "0s")}
        if p.get("args"):
            entry["args"] = list(p["args"])
        if p.get("env"):
            entry["env"] = [{"name": k, "value": v} for k, v in p["env"].items()]
        out.append(entry)
    return json.dumps({"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig",
                       "providers": out}, indent=2) + "\n"


def restart_kubelet(env: le.LocalEnv, context: str = "local-1", extra_args: Sequence[str] = (),
                    timeout: float = 60.0) -> le.Process:
    """Stop the kubelet of ``context``'s node (SIGTERM, exactly its recorded PID) and start it with
    its ``make up`` command line (any credential provider flags removed) plus ``extra_args``; record
    it in the state file and wait until it answers ``/healthz``, renewed its Node Lease after the
    restart and the Node is Ready. Raises ``LocalEnvError`` with the kubelet's log tail otherwise."""
    cluster = env.cluster(context)
    name = f"kubelet-{cluster['name']}"
    entry = next((p for p in env.raw["processes"] if p["name"] == name), None)
    if entry is None:
        raise le.LocalEnvError(f"no {name} in {env.state_file}: the local environment has no node")
    old = le.Process.from_dict(entry)
    left = le.stop_processes([old])
    if left:
        raise le.LocalEnvError(f"{name} (pid {old.pid}) did not stop")
    argv = [a for a in old.argv if not a.startswith(FLAGS)] + [str(a) for a in extra_args]
    restarted = time.time()
    proc = le.spawn(name, argv, old.log)
    entry.update(proc.to_dict())
    le.write_file(env.state_file, json.dumps(env.raw, indent=2) + "\n", 0o600)
    api = le.Cluster.from_dict(cluster)
    node = cluster["node"]
    healthz = f"http://127.0.0.1:{node['healthz_port']}/healthz"
    le.wait_for(lambda: le.http_request(healthz, timeout=2)[0] == 200, timeout, "kubelet /healthz", name, proc)
    le.wait_for(lambda: not le.node_health_problems(api, since=restarted), timeout,
                "Node Ready with its Lease renewed after the restart", name, proc)
    return proc


class KubeletCredentialProviders:
    """Context manager: the node of ``context`` runs its kubelet with these credential providers
    (config written to ``workdir``), and as ``make up`` started it again on exit."""

    def __init__(self, env: le.LocalEnv, context: str, providers: Sequence[Dict[str, Any]],
                 bin_dir: os.PathLike, workdir: os.PathLike):
        self.env = env
        self.context = context
        self.bin_dir = Path(bin_dir)
        self.config = Path(workdir) / "credential-providers.yaml"
        self.providers = list(providers)
        self.seconds: List[float] = []   # restart-to-Ready times, for the docs
        self.process: Optional[le.Process] = None

    def __enter__(self) -> "KubeletCredentialProviders":
        for p in self.providers:
            binary = self.bin_dir / p["name"]
            if not os.access(binary, os.X_OK):
                raise le.LocalEnvError(f"credential provider plugin {binary} is missing: run `make bootstrap`")
        le.write_file(self.config, credential_provider_config(self.providers))
        t0 = time.monotonic()
        try:
            self.process = restart_kubelet(self.env, self.context, [
                f"--image-credential-provider-config={self.config}", f"--image-credential-provider-bin-dir={self.bin_dir}"])
        except Exception:
            # never leave the node without a kubelet: the tests after this one need it as make up left it
            restart_kubelet(self.env, self.context)
            raise
        self.seconds.append(round(time.monotonic() - t0, 1))
        return self

    def __exit__(self, *exc: Any) -> None:
        t0 = time.monotonic()
        restart_kubelet(self.env, self.context)
        self.seconds.append(round(time.monotonic() - t0, 1))
