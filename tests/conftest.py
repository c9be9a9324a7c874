"""Shared pytest setup for registrylink.k8s.

Import paths (at import time, before collection):
- the repository root, so ``tests.support`` imports (and ``tests/``, so ``support`` does too);
- ``ansible_collections.registrylink.k8s``: a temporary ``ansible_collections/registrylink/k8s``
  symlink to the checkout goes on sys.path unless the collection is importable already, so
  unit tests work without ``make up``.

Fixtures for tests against the local environment (``make up``); they FAIL, never skip, when it
is down:
- ``localenv`` (session): tests.support.localenv.LocalEnv (kubeconfig, contexts, registry,
  moto_url, env, subprocess_env()); also exports env.sh's variables into os.environ. Fails
  when a cluster's node is not Ready.
- ``private_image`` (session): the reference of the small real image in the registry
  (``<host>/private/busybox:1.35``; pulling it needs the registry's credentials).
- ``kube_client`` (session): factory ``kube_client(context="local-1") -> kubernetes.client.ApiClient``.
- ``kube_contexts`` (session): ["local-1", ...].
- ``registry`` (session): url, host, port, ca, username (alias user), password.
- ``moto_url`` (session): the moto endpoint URL.
- ``unique_ns`` (function): factory ``unique_ns(prefix="rlt", context="local-1", labels=None,
  wait_for_default_sa=True) -> name``; namespaces are deleted at teardown.
"""

from __future__ import annotations

import atexit
import importlib
import itertools
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent

for _p in (str(TESTS_DIR), str(REPO_ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def _ensure_collection_importable() -> None:
    try:
        importlib.import_module("ansible_collections.registrylink.k8s")
        return
    except ImportError:
        pass
    tmp = Path(tempfile.mkdtemp(prefix="registrylink-collections-"))
    link = tmp / "ansible_collections" / "registrylink" / "k8s"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO_ROOT, target_is_directory=True)
    atexit.register(shutil.rmtree, str(tmp), True)
    sys.path.insert(0, str(tmp))
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(tmp))
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[name]  # a failed import may have cached a partial namespace package


_ensure_collection_importable()

from tests.support import localenv as _le  # noqa: E402

SESSION_ID = secrets.token_hex(3)
TEST_LABEL = "registrylink.test/session"


def pytest_report_header(config):  # noqa: ARG001
    state = _le.read_state()
    if not state:
        return "localenv: down (integration tests need `make up`)"
    return (f"localenv: {state.get('phase')} with {len(state.get('clusters', []))} cluster(s) "
            f"({', '.join(c['context'] for c in state.get('clusters', []))}), state {_le.STATE_FILE}")


@pytest.fixture(scope="session")
def localenv():
    """The environment `make up` started. Fails (never skips) when it is not up."""
    try:
        env = _le.load_state()
    except _le.LocalEnvNotUp as exc:
        pytest.fail(str(exc), pytrace=False)
    # Every cluster has a real node, and tests count on it: a node that is not Ready fails
    # the session here, loudly, instead of as a confusing Pod timeout later.
    for cluster in env.clusters:
        node = cluster.get("node")
        if not node:
            pytest.fail(f"{cluster['context']} has no node: this environment was started without one "
                        "(`make down && make up`)", pytrace=False)
        status, body = _le.Cluster.from_dict(cluster).api(f"/api/v1/nodes/{node['node_name']}", timeout=5)
        conditions = {c["type"]: c for c in (body or {}).get("status", {}).get("conditions", [])} if status == 200 else {}
        ready = conditions.get("Ready", {})
        if ready.get("status") != "True":
            pytest.fail(f"node {node['node_name']} of {cluster['context']} is not Ready (HTTP {status}, "
                        f"{ready.get('reason')}: {ready.get('message')}); kubelet log {node['kubelet_log']}",
                        pytrace=False)
    # The state is authoritative (a shell may carry env.sh values of an older `make up`).
    os.environ.update(env.subprocess_env())
    return env


@pytest.fixture(scope="session")
def kube_contexts(localenv):
    return list(localenv.contexts)


@pytest.fixture(scope="session")
def kube_client(localenv):
    """Factory: ``kube_client(context="local-1")`` -> kubernetes.client.ApiClient (cached per
    context, authenticated as the system:masters admin of that control plane)."""
    from kubernetes import config as kconfig

    clients = {}

    def get(context: str = "local-1"):
        if context not in clients:
            if context not in localenv.contexts:
                pytest.fail(f"no context {context!r} in the local environment (it has "
                            f"{', '.join(localenv.contexts)}; `make up CLUSTERS=N` for more)", pytrace=False)
            clients[context] = kconfig.new_client_from_config(config_file=localenv.kubeconfig, context=context)
        return clients[context]

    yield get
    for c in clients.values():
        c.close()


@pytest.fixture(scope="session")
def registry(localenv):
    """The shared registry: .url (https://127.0.0.1:PORT), .host (127.0.0.1:PORT), .port,
    .ca (CA bundle path), .username / .user, .password."""
    return localenv.registry


@pytest.fixture(scope="session")
def private_image(localenv):
    """``<registry host>/private/busybox:1.35``: Debian's static busybox (``sleep 3600`` by
    default), pushed by ``make up``; the kubelet needs the registry's credentials to pull it."""
    return localenv.env["REGISTRYLINK_PRIVATE_IMAGE"]


@pytest.fixture(scope="session")
def moto_url(localenv):
    return localenv.moto_url


_ns_counter = itertools.count(1)


@pytest.fixture
def unique_ns(kube_client):
    """Factory: ``unique_ns(prefix="rlt", context="local-1", labels=None,
    wait_for_default_sa=True, timeout=30) -> str``. Creates ``<prefix>-<session>-<n>``
    (labelled registrylink.test/session=<session>), by default waits until KCM has created its
    ``default`` ServiceAccount, and deletes every namespace it made at teardown."""
    from kubernetes import client as k
    from kubernetes.client.rest import ApiException

    from tests.support import kube

    made = []

    def make(prefix: str = "rlt", context: str = "local-1", labels=None, wait_for_default_sa: bool = True,
             timeout: float = 30.0) -> str:
        name = f"{prefix}-{SESSION_ID}-{next(_ns_counter)}".lower()
        if len(name) > 63:
            pytest.fail(f"namespace name {name!r} is longer than 63 characters; use a shorter prefix")
        core = k.CoreV1Api(kube_client(context))
        meta = k.V1ObjectMeta(name=name, labels={TEST_LABEL: SESSION_ID, **(labels or {})})
        core.create_namespace(k.V1Namespace(metadata=meta))
        made.append((context, name))
        if wait_for_default_sa:
            try:
                kube.wait_default_sa(core, name, timeout)
            except kube.KubeHelperError as exc:
                pytest.fail(str(exc))
        return name

    yield make
    for context, name in made:
        try:
            k.CoreV1Api(kube_client(context)).delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
