"""_k8s.import_kubernetes: a module process loads only what the collection uses of the kubernetes package.

Each case runs in a fresh Python (the way a module process starts), with the collection importable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import kubernetes

from ansible_collections.registrylink.k8s.plugins.module_utils import _k8s

# the directory that holds ansible_collections/registrylink/k8s (the conftest makes one when needed)
COLLECTIONS_ROOT = str(Path(_k8s.__file__).parents[5])

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: tok-123}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: team-a}}]
current-context: x
"""


def fresh_python(code, tmp_path):
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    script = "import sys, json\nsys.path.insert(0, %r)\n" % COLLECTIONS_ROOT + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_module_process_loads_no_generated_model_and_still_reads_the_kubeconfig(tmp_path):
    out = fresh_python("""
        from ansible_collections.registrylink.k8s.plugins.module_utils import _k8s
        kube = _k8s.KubeClient.from_params({'kubeconfig': 'kubeconfig'})
        conf = kube.api_client.configuration
        mods = sorted(m for m in sys.modules if m.startswith('kubernetes'))
        print(json.dumps({'host': kube.host, 'auth': conf.auth_settings()['BearerToken']['value'], 'core': type(kube.core).__name__,
                          'models': [m for m in mods if m.startswith('kubernetes.client.models.')],
                          'apis': [m for m in mods if m.startswith('kubernetes.client.api.')],
                          'dynamic': 'kubernetes.dynamic' in mods, 'has': _k8s.HAS_KUBERNETES}))
    """, tmp_path)
    assert out["host"] == "https://127.0.0.1:6443" and out["auth"] == "Bearer tok-123" and out["core"] == "CoreV1Api"
    assert out["models"] == [] and out["dynamic"] is False and out["has"] is True
    assert sorted(m.rsplit(".", 1)[1] for m in out["apis"]) == sorted(mod for mod, cls in _k8s.API_CLASSES)


def test_anything_else_loads_the_whole_package_on_first_use(tmp_path):
    out = fresh_python("""
        from ansible_collections.registrylink.k8s.plugins.module_utils import _k8s
        import kubernetes
        from kubernetes import client, watch
        pod = client.V1Pod(metadata=client.V1ObjectMeta(name='p'))
        print(json.dumps({'pod': pod.metadata.name, 'version': kubernetes.__version__, 'watch': watch.Watch.__name__,
                          'same': client.ApiClient is _k8s.k8s_client.ApiClient,
                          'exc': _k8s.ApiException is client.exceptions.ApiException,
                          'rbac': client.AuthorizationV1Api.__name__,
                          'models': 'kubernetes.client.models.v1_pod' in sys.modules}))
    """, tmp_path)
    assert out == {"pod": "p", "version": kubernetes.__version__, "watch": "Watch", "same": True,
                   "exc": True, "rbac": "AuthorizationV1Api", "models": True}


def test_an_already_imported_kubernetes_is_used_as_it_is(tmp_path):
    out = fresh_python("""
        import kubernetes
        full = kubernetes.client
        from ansible_collections.registrylink.k8s.plugins.module_utils import _k8s
        print(json.dumps({'same': _k8s.k8s_client is full, 'model': hasattr(_k8s.k8s_client, 'V1Secret')}))
    """, tmp_path)
    assert out == {"same": True, "model": True}
