"""Kubernetes helpers shared by the test fixtures, the Ansible targets' read-back scripts and the demo.

They talk to the cluster with the kubernetes client directly, never through the collection's
code, so that what a test reads back is independent of what it tests:

    from tests.support import kube
    core = kube.core_api()                                # $K8S_AUTH_KUBECONFIG / $KUBECONFIG
    kube.ensure_namespace(core, "team-a", labels={...})   # create (409 is fine), wait for "default" SA
    core.create_namespaced_secret("team-a", kube.dockerconfig_secret("regcred", host, user, password))
    kube.image_pull_secrets(core, "team-a")               # ["regcred", ...] on the default SA

Errors are ``KubeHelperError`` with a sentence that says what to check; callers turn it into
``pytest.fail`` or a script's exit message.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Dict, List, Optional

from kubernetes import client as k8s
from kubernetes import config as kconfig
from kubernetes.client.rest import ApiException


class KubeHelperError(RuntimeError):
    """A helper could not bring the cluster into the state a test needs."""


def kubeconfig_path() -> Optional[str]:
    """The kubeconfig the modules would use: ``$K8S_AUTH_KUBECONFIG``, else ``$KUBECONFIG``."""
    return os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or None


def api_client(context: Optional[str] = None, kubeconfig: Optional[str] = None) -> k8s.ApiClient:
    """An ApiClient for ``context`` (default: ``$K8S_AUTH_CONTEXT``, else the current context)."""
    return kconfig.new_client_from_config(config_file=kubeconfig or kubeconfig_path(),
                                          context=context or os.environ.get("K8S_AUTH_CONTEXT") or None)


def core_api(context: Optional[str] = None, kubeconfig: Optional[str] = None) -> k8s.CoreV1Api:
    """CoreV1Api for ``context`` (see :func:`api_client`)."""
    return k8s.CoreV1Api(api_client(context, kubeconfig))


def wait_default_sa(core: k8s.CoreV1Api, namespace: str, timeout: float = 60.0) -> None:
    """Wait until kube-controller-manager has created the ``default`` ServiceAccount of ``namespace``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            core.read_namespaced_service_account("default", namespace)
            return
        except ApiException as exc:
            if exc.status != 404:
                raise
        if time.monotonic() > deadline:
            raise KubeHelperError(f"ServiceAccount default did not appear in {namespace} within {timeout:g}s "
                                  "(is kube-controller-manager running? `make status`)")
        time.sleep(0.1)


def ensure_namespace(core: k8s.CoreV1Api, name: str, labels: Optional[Dict[str, str]] = None,
                     wait_for_default_sa: bool = True, timeout: float = 60.0) -> bool:
    """Create namespace ``name`` (an existing one is fine) and, by default, wait for its ``default``
    ServiceAccount. Returns True when it was created now."""
    body = k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=dict(labels or {})))
    created = True
    try:
        core.create_namespace(body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        created = False
    if wait_for_default_sa:
        wait_default_sa(core, name, timeout)
    return created


def dockerconfig_secret(name: str, server: str, username: str, password: str,
                        labels: Optional[Dict[str, str]] = None) -> k8s.V1Secret:
    """A ``kubernetes.io/dockerconfigjson`` Secret body with one ``auths`` entry (username, password, auth)."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = {"auths": {server: {"username": username, "password": password, "auth": auth}}}
    return k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name, labels=dict(labels) if labels else None),
                        type="kubernetes.io/dockerconfigjson",
                        data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()})


def image_pull_secrets(core: k8s.CoreV1Api, namespace: str, service_account: str = "default") -> List[str]:
    """The names in a ServiceAccount's ``imagePullSecrets``, in order."""
    sa = core.read_namespaced_service_account(service_account, namespace)
    return [ref.name for ref in sa.image_pull_secrets or []]
