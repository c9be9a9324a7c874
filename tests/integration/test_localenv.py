"""The local environment itself (`make up`): real control plane(s), registry and moto.

Fails (never skips) when the environment is down.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support import images
from tests.support.localenv import KUBE_VERSION, LocalEnvNotUp, load_state, make_ca, start_registry
from tests.support.node import NO_NODE_GATE


def _core(kube_client, context="local-1"):
    from kubernetes import client as k
    return k.CoreV1Api(kube_client(context))


def test_version_of_every_context(localenv, kube_client):
    from kubernetes import client as k
    for ctx in localenv.contexts:
        info = k.VersionApi(kube_client(ctx)).get_code()
        assert info.git_version == f"v{KUBE_VERSION}", ctx


def test_new_namespace_gets_default_serviceaccount_and_root_ca(kube_client, unique_ns):
    core = _core(kube_client)
    ns = unique_ns("sa", wait_for_default_sa=False)
    t0 = time.monotonic()
    while True:
        names = [sa.metadata.name for sa in core.list_namespaced_service_account(ns).items]
        if "default" in names:
            break
        assert time.monotonic() - t0 < 30, "kube-controller-manager did not create ServiceAccount default in 30 s"
        time.sleep(0.2)
    while "kube-root-ca.crt" not in [cm.metadata.name for cm in core.list_namespaced_config_map(ns).items]:
        assert time.monotonic() - t0 < 30, "root-ca-certificate-publisher did not create kube-root-ca.crt"
        time.sleep(0.2)


def test_pods_are_admitted_with_the_default_serviceaccount(kube_client, unique_ns):
    from kubernetes import client as k
    core = _core(kube_client)
    ns = unique_ns("pod")
    # held off the node: this is about admission, not about running it
    pod = core.create_namespaced_pod(ns, k.V1Pod(
        metadata=k.V1ObjectMeta(name="p"),
        spec=k.V1PodSpec(containers=[k.V1Container(name="c", image="registry.invalid/app:1")],
                         scheduling_gates=[k.V1PodSchedulingGate(name=NO_NODE_GATE)])))
    # ServiceAccount admission is on: it filled in the SA and its projected token volume
    assert pod.spec.service_account_name == "default"
    assert any(v.name.startswith("kube-api-access-") for v in pod.spec.volumes)


def test_namespace_deletion_completes(kube_client, unique_ns):
    from kubernetes.client.rest import ApiException
    core = _core(kube_client)
    ns = unique_ns("del")
    core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}, "data": {"a": "b"}})
    core.delete_namespace(ns)
    t0 = time.monotonic()
    while True:
        try:
            core.read_namespace(ns)
        except ApiException as exc:
            assert exc.status == 404
            break
        assert time.monotonic() - t0 < 60, "namespace stuck in Terminating (namespace-controller)"
        time.sleep(0.3)


def test_admin_reads_apiserver_metrics(kube_client):
    api = kube_client()
    resp = api.call_api("/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False,
                        _return_http_data_only=True)
    body = resp.data.decode()
    assert "apiserver_request_total{" in body


def test_registry_requires_credentials(registry):
    r = requests.get(registry.url + "/v2/", verify=registry.ca, timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].lower().startswith("basic")
    r = requests.get(registry.url + "/v2/", verify=registry.ca, timeout=10, auth=(registry.user, registry.password))
    assert r.status_code == 200
    assert registry.host == f"127.0.0.1:{registry.port}"
    # the server certificate is valid for localhost too
    r = requests.get(f"https://localhost:{registry.port}/v2/", verify=registry.ca, timeout=10)
    assert r.status_code == 401


def test_push_image_tags_index_and_delete(registry):
    auth = (registry.username, registry.password)
    repo = f"localenv/app-{os.urandom(3).hex()}"
    digest = images.push_image(registry.url, repo, ["1.0", "latest"], auth=auth, ca=registry.ca,
                               created="2024-01-01T00:00:00Z")
    for tag in ("1.0", "latest"):
        r = requests.head(f"{registry.url}/v2/{repo}/manifests/{tag}", auth=auth, verify=registry.ca, timeout=10,
                          headers={"Accept": images.ACCEPT})
        assert r.status_code == 200
        assert r.headers["Docker-Content-Digest"] == digest
        assert r.headers["Content-Type"] == images.OCI_MANIFEST

    client = images.RegistryClient(registry)  # url, credentials and CA from the fixture
    manifest = client.get_manifest(repo, digest)[0]
    config = json.loads(client.get_blob(repo, manifest["config"]["digest"]))
    assert config["created"] == "2024-01-01T00:00:00Z"
    assert config["architecture"] == "amd64" and len(config["rootfs"]["diff_ids"]) == 1

    docker = images.push_image(registry, repo, "docker", schema="docker", layer_bytes=2048)
    assert client.head_manifest(repo, "docker")[:2] == (docker, images.DOCKER_MANIFEST)

    index = images.push_index(registry.url, repo, "multi", children=["linux/amd64", "linux/arm64/v8", digest],
                              auth=auth, ca=registry.ca)
    found = client.head_manifest(repo, "multi")
    assert found[:2] == (index, images.OCI_INDEX)
    idx = client.get_manifest(repo, index)[0]
    assert [m["platform"]["architecture"] for m in idx["manifests"]] == ["amd64", "arm64", "amd64"]
    assert idx["manifests"][1]["platform"]["variant"] == "v8"
    assert images.list_tags(registry, repo) == ["1.0", "docker", "latest", "multi"]

    # same inputs -> same digest (seeded layer), pushed only by digest
    a = images.push_image(registry, repo, None, seed=7, created="2023-05-01T00:00:00Z")
    b = images.push_image(registry, repo, None, seed=7, created="2023-05-01T00:00:00Z")
    assert a == b and images.manifest_digest(registry, repo, a) == a

    assert images.delete_manifest(registry, repo, docker) == 202  # storage.delete.enabled
    assert images.manifest_digest(registry, repo, "docker") is None


def test_extra_registry_plain_http_anonymous_delete_disabled(tmp_path):
    with start_registry(tmp_path / "plain", auth=None, tls=False, delete_enabled=False) as reg:
        assert reg.url.startswith("http://") and reg.ca is None
        digest = images.push_image(reg.url, "x/y", "1")
        assert images.manifest_digest(reg.url, "x/y", "1") == digest
        assert images.delete_manifest(reg.url, "x/y", digest) == 405
    with pytest.raises(requests.ConnectionError):
        requests.get(reg.url + "/v2/", timeout=2)


def test_extra_registry_shares_a_ca_and_htpasswd(tmp_path):
    ca = make_ca(tmp_path / "ca")
    with start_registry(tmp_path / "a", ca=ca, username="alice", password="s3cret-pw") as a, \
            start_registry(tmp_path / "b", ca=ca) as b:
        assert a.ca == b.ca == ca.cert and a.port != b.port
        assert requests.get(a.url + "/v2/", verify=ca.cert, auth=("alice", "s3cret-pw"), timeout=10).status_code == 200
        assert requests.get(b.url + "/v2/", verify=ca.cert, auth=("alice", "s3cret-pw"), timeout=10).status_code == 401
        assert images.push_image(b, "team/app", "v1")


def test_extra_registry_with_token_auth_and_bearer_push(tmp_path):
    from tests.support.token_server import TokenServer

    ca = make_ca(tmp_path / "ca")
    users = {"alice": "pw"}
    acl = {"alice": {"team/app": ["pull", "push", "delete"]}}
    with TokenServer(tmp_path / "ts", ca=ca, users=users, acl=acl) as ts, \
            start_registry(tmp_path / "reg", auth="token", ca=ca, token_realm=ts.realm, token_service=ts.service,
                           token_issuer=ts.issuer, token_rootcertbundle=ts.rootcertbundle) as reg:
        r = requests.get(reg.url + "/v2/", verify=ca.cert, timeout=10)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer ")
        digest = images.push_image(reg.url, "team/app", ["1", "2"], auth=("alice", "pw"), ca=ca.cert)
        index = images.push_index(reg.url, "team/app", "multi", ["linux/arm64"], auth=("alice", "pw"), ca=ca.cert)
        assert images.manifest_digest(reg.url, "team/app", "2", auth=("alice", "pw"), ca=ca.cert) == digest
        assert images.manifest_digest(reg.url, "team/app", "multi", auth=("alice", "pw"), ca=ca.cert) == index
        with pytest.raises(images.PushError):
            images.push_image(reg.url, "other/repo", "1", auth=("alice", "pw"), ca=ca.cert)


def test_moto_answers_sts_and_ecr(moto_url):
    import boto3
    sts = boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    assert sts.get_caller_identity()["Account"] == "123456789012"
    # env.sh's AWS_ENDPOINT_URL is honoured without an explicit endpoint (fixture exports it)
    assert os.environ["AWS_ENDPOINT_URL"] == moto_url
    ecr = boto3.client("ecr")
    assert ecr.get_authorization_token()["authorizationData"]


def test_contexts_are_independent(localenv, kube_client):
    from kubernetes import client as k
    contexts = localenv.contexts
    servers = {c["server"] for c in localenv.clusters}
    assert len(servers) == len(contexts) == len({c["etcd_url"] for c in localenv.clusters})
    marker = f"indep-{os.urandom(3).hex()}"
    created = []
    try:
        for i, ctx in enumerate(contexts):
            name = f"{marker}-{i + 1}"
            k.CoreV1Api(kube_client(ctx)).create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=name)))
            created.append((ctx, name))
        for i, ctx in enumerate(contexts):
            names = {n.metadata.name for n in k.CoreV1Api(kube_client(ctx)).list_namespace().items}
            assert {f"{marker}-{j + 1}" for j in range(len(contexts))} & names == {f"{marker}-{i + 1}"}, ctx
    finally:
        for ctx, name in created:
            k.CoreV1Api(kube_client(ctx)).delete_namespace(name)


def test_env_sh_matches_state_and_python_interpreter_has_kubernetes(localenv):
    env = localenv.env
    out = subprocess.run(["bash", "-c", f". {localenv.raw['env_file']} && env"], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}).stdout
    exported = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    for key in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "ANSIBLE_COLLECTIONS_PATH", "REGISTRYLINK_REGISTRY",
                "REGISTRYLINK_REGISTRY_USER", "REGISTRYLINK_REGISTRY_PASSWORD", "REGISTRYLINK_REGISTRY_CA",
                "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                "REGISTRYLINK_LOCALENV", "ANSIBLE_PYTHON_INTERPRETER"):
        assert exported[key] == env[key], key
    assert exported["PATH"].startswith(localenv.raw["path_prepend"][0] + ":")
    link = Path(env["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / "registrylink" / "k8s"
    assert (link / "galaxy.yml").is_file() and link.resolve() == Path(localenv.raw["repo_root"])
    subprocess.run([env["ANSIBLE_PYTHON_INTERPRETER"], "-c", "import kubernetes, requests, boto3"], check=True)
    assert os.stat(localenv.state_file).st_mode & 0o077 == 0  # holds the registry password


def test_load_state_fails_loudly_when_down(tmp_path):
    with pytest.raises(LocalEnvNotUp, match=r"local environment is not up: run `make up`"):
        load_state(tmp_path / "missing.json")
    dead = tmp_path / "state.json"
    dead.write_text(json.dumps({"phase": "up", "clusters": [], "processes": [
        {"name": "etcd-local-1", "pid": 2 ** 22 + 1, "starttime": 1, "argv": [], "log": ""}]}))
    with pytest.raises(LocalEnvNotUp, match="etcd-local-1 not running"):
        load_state(dead)


def test_nodes_are_ready_and_run_the_private_image_with_a_pull_secret(localenv, kube_client, unique_ns,
                                                                      registry, private_image):
    """Every context has its own node; the kubelet pulls the private image with a pull secret."""
    import base64
    from kubernetes import client as k
    nodes = {c["node"]["node_name"] for c in localenv.clusters}
    assert len(nodes) == len(localenv.contexts)
    for field in ("cgroup_root", "bridge", "network", "subnet", "containerd_socket"):
        values = [c["node"][field] for c in localenv.clusters]
        assert len(set(values)) == len(values), field
    assert all(len(c["node"]["bridge"]) <= 15 for c in localenv.clusters)
    core = _core(kube_client)
    node = core.read_node(localenv.cluster("local-1")["node"]["node_name"])
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    assert node.status.node_info.kubelet_version == f"v{KUBE_VERSION}"
    assert node.status.node_info.container_runtime_version.startswith("containerd://")

    ns = unique_ns("node")
    cfg = {"auths": {registry.host: {"auth": base64.b64encode(f"{registry.username}:{registry.password}".encode())
                                     .decode()}}}
    core.create_namespaced_secret(ns, k.V1Secret(metadata=k.V1ObjectMeta(name="regcred"),
                                                 type="kubernetes.io/dockerconfigjson",
                                                 string_data={".dockerconfigjson": json.dumps(cfg)}))
    core.create_namespaced_pod(ns, k.V1Pod(metadata=k.V1ObjectMeta(name="p"), spec=k.V1PodSpec(
        image_pull_secrets=[k.V1LocalObjectReference(name="regcred")], termination_grace_period_seconds=1,
        containers=[k.V1Container(name="c", image=private_image, image_pull_policy="Always")])))
    deadline = time.monotonic() + 90
    while True:
        pod = core.read_namespaced_pod("p", ns)
        st = (pod.status.container_statuses or [None])[0]
        if st is not None and st.state.running:
            break
        assert time.monotonic() < deadline, f"pod not Running after 90 s: {pod.status}"
        time.sleep(0.5)
    assert pod.spec.node_name == node.metadata.name
    assert st.image_id.endswith("@" + localenv.env["REGISTRYLINK_PRIVATE_IMAGE_DIGEST"])


def _run_localenv(root, *args, timeout=300):
    repo = Path(__file__).resolve().parents[2]
    env = {k_: v for k_, v in os.environ.items() if not k_.startswith("REGISTRYLINK_")}
    env["REGISTRYLINK_LOCALENV_DIR"] = str(root)
    return subprocess.run([str(repo / ".venv" / "bin" / "python"), str(repo / "hack" / "localenv.py"), *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_private_environment_up_down_leaves_nothing_behind():
    """`make up` + a real Pod + `make down` of a second environment (REGISTRYLINK_LOCALENV_DIR),
    beside the shared one: afterwards no process, mount, cgroup, CNI bridge, CNI cache entry,
    shim socket or container log link of it is left, and the kubelet's host sysctls are back."""
    import base64
    import shutil
    import tempfile
    from kubernetes import client as k, config as kconfig
    from tests.support import node as nd
    from tests.support.localenv import Process

    root = Path(tempfile.mkdtemp(prefix="rl-env-", dir="/tmp"))
    up = _run_localenv(root, "up", "--clusters", "1")
    state = json.loads((root / "state.json").read_text()) if (root / "state.json").exists() else None
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        node = state["clusters"][0]["node"]
        kubelet_values = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
        assert nd.read_sysctls() == kubelet_values
        # the values from before the first kubelet of any environment on this machine started
        record = json.loads(nd.sysctl_record().read_text())
        assert str(root) in record["holders"]
        original = record["original"]
        status = _run_localenv(root, "status")
        assert status.returncode == 0 and f"node {node['node_name']} Ready" in status.stdout, status.stdout

        # a real Pod, so that there is something to clean up: shim, mounts, veth, CNI cache
        core = k.CoreV1Api(kconfig.new_client_from_config(config_file=state["kubeconfig"], context="local-1"))
        reg = state["registry"]
        cfg = {"auths": {reg["host"]: {"auth": base64.b64encode(f"{reg['username']}:{reg['password']}".encode())
                                       .decode()}}}
        core.create_namespaced_secret("default", k.V1Secret(
            metadata=k.V1ObjectMeta(name="regcred"), type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": json.dumps(cfg)}))
        core.create_namespaced_pod("default", k.V1Pod(metadata=k.V1ObjectMeta(name="p"), spec=k.V1PodSpec(
            image_pull_secrets=[k.V1LocalObjectReference(name="regcred")],
            containers=[k.V1Container(name="c", image=state["images"]["busybox"])])))
        deadline = time.monotonic() + 90
        while not any(s.state.running for s in core.read_namespaced_pod("p", "default").status.container_statuses or []):
            assert time.monotonic() < deadline, "pod not Running after 90 s"
            time.sleep(0.5)
        node_dir = Path(state["clusters"][0]["workdir"]) / "node"
        shims = nd.shim_sockets(node_dir / "containerd" / "state")
        assert shims and all(s.exists() for s in shims)
        assert nd.bridge_exists(node["bridge"])
        assert nd.mounts_under(node_dir)
        cni_cache = list(nd.CNI_CACHE.glob(node["network"] + "-*"))
        assert cni_cache
        # containerd's own loopback network caches a result per sandbox too
        sandboxes = [p.name[len(node["network"]) + 1:].rsplit("-", 1)[0] for p in cni_cache]
        cni_cache += [nd.CNI_CACHE / f"cni-loopback-{sandbox}-lo" for sandbox in sandboxes]
        assert nd.cgroup_pids(node["cgroup_root"])
    finally:
        down = _run_localenv(root, "down")
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert not [p["name"] for p in state["processes"] if Process.from_dict(p).alive()]
    assert nd.leftovers(node) == []
    assert not [s for s in shims if s.exists()]
    assert not [p for p in cni_cache if p.exists()]
    # Put back when no environment runs kubelets any more; other environments on this machine
    # (other checkouts) may still run theirs, then the kubelet's values stay until their `down`.
    if nd.sysctl_record().exists():
        assert str(root) not in json.loads(nd.sysctl_record().read_text())["holders"]
        assert nd.read_sysctls() == kubelet_values
    else:
        assert nd.read_sysctls() == original
        assert not [p for p, existed in record.get("paths_before", {}).items() if not existed and os.path.exists(p)]
    if nd.CONTAINER_LOG_LINKS.is_dir():
        assert not [p for p in nd.CONTAINER_LOG_LINKS.iterdir() if p.is_symlink() and str(root) in os.readlink(p)]
    assert not nd.mounts_under(root)
    shutil.rmtree(root)
