"""Role ``aks_acr`` in attach mode, proven by the real kubelet pulling the way an AKS node pulls:
with AKS's image credential provider plugin ``acr-credential-provider`` (built from
sigs.k8s.io/cloud-provider-azure by hack/build-acr-credential-provider.sh), signing in as the
cluster's kubelet identity (a managed identity) through the Azure STAND-IN, exchanging the Entra
token at the registry's ``/oauth2/exchange``, and containerd pulling from the real distribution
registry with the ACR refresh token. No image pull Secret anywhere.

Before the attach the kubelet's pull fails with the registry's refusal (401, ``insufficient_scope``); the role grants AcrPull to the
kubelet identity read from the managed cluster and its canary Pod pulls; after ``state: absent`` a
fresh pull (``imagePullPolicy: Always``) fails again. tests/support/aks_node.py says what stands in
for what. Needs `make up` and the plugin binary; fails (never skips) without either.
"""

from __future__ import annotations

import secrets
import uuid

import pytest
import yaml

from tests.support import aks_node
from tests.support.ansible_run import run_module, run_playbook
from tests.support.azure_standin import NULL_USER, AzureStandIn
from tests.support.images import push_busybox
from tests.support.localenv import make_ca, start_registry

LOGIN_SERVER = f"rlnode.{aks_node.ACR_DNS_SUFFIX}"


@pytest.fixture(scope="module")
def aks(localenv, tmp_path_factory):
    """The stand-in with an AKS cluster (kubelet identity = a managed identity) and a registry whose
    login server is LOGIN_SERVER (the real registry, token auth, service = the login server name), busybox
    pushed, and the node's kubelet running acr-credential-provider for ``*.<suffix>`` images."""
    binary = aks_node.provider_bin()  # fails loudly when the plugin is not built
    tmp = tmp_path_factory.mktemp("aksnode")
    ca = make_ca(tmp / "ca", cn="registrylink AKS node stand-in CA")
    admin, admin_pw = str(uuid.uuid4()), secrets.token_urlsafe(24)
    standin = AzureStandIn(tmp / "standin", ca, clients={admin: admin_pw}, service=LOGIN_SERVER).start()
    reg = start_registry(tmp / "registry", auth="token", ca=ca, sans=(LOGIN_SERVER,), token_realm=standin.realm,
                         token_service=LOGIN_SERVER, token_issuer=standin.issuer,
                         token_rootcertbundle=standin.rootcertbundle)
    try:
        standin.registry_id = standin.add_registry("rlnode", LOGIN_SERVER)
        pusher = standin.add_client(str(uuid.uuid4()), secrets.token_urlsafe(16))
        standin.acr_push.add(pusher)
        ref, digest = push_busybox(reg.url, auth=(NULL_USER, standin.refresh_token(pusher)), ca=ca.cert)
        standin.acr_push.discard(pusher)
        kubelet_oid = str(uuid.uuid4())
        cluster = standin.add_cluster("aks-node", kubelet_object_id=kubelet_oid)
        kubelet_client = standin.clusters[cluster.lower()]["properties"]["identityProfile"]["kubeletidentity"]["clientId"]
        image = LOGIN_SERVER + "/" + ref.split("/", 1)[1]
        node = localenv.clusters[0]["node"]
        with aks_node.ConnectProxy({f"{LOGIN_SERVER}:443": ("127.0.0.1", reg.port)}) as proxy, \
                aks_node.LoginServerRoute(node, LOGIN_SERVER, reg.host, ca.cert), \
                aks_node.AksNodePull(localenv, tmp / "node", standin, ca.cert, kubelet_client, proxy.url) as pull:
            yield {"standin": standin, "registry": reg, "ca": ca.cert, "image": image, "digest": digest,
                   "cluster": cluster, "kubelet_oid": kubelet_oid, "kubelet_client": kubelet_client,
                   "admin": admin, "admin_pw": admin_pw, "proxy": proxy, "pull": pull, "binary": binary}
    finally:
        reg.stop()
        standin.stop()


def canary(localenv, aks, ns):
    run = run_module(localenv, "registrylink.k8s.pull_canary",
                     {"namespace": ns, "image": [aks["image"]], "timeout": 90, "registry_ca_path": aks["ca"]})
    assert not run.failed or run.result.get("results"), run.output[-3000:]
    (item,) = run.result["results"]
    return item


def setup(localenv, aks, inventory, ns, verbosity=0, **extra):
    standin = aks["standin"]
    host = {"aks_acr_mode": "attach", "aks_acr_registry_id": standin.registry_id, "aks_acr_cluster_id": aks["cluster"],
            "aks_acr_tenant_id": standin.tenant_id, "aks_acr_client_id": aks["admin"],
            "aks_acr_client_secret": aks["admin_pw"], "aks_acr_authority_host": standin.authority,
            "aks_acr_arm_endpoint": standin.url, "aks_acr_ca_path": aks["ca"], "aks_acr_wait_timeout": "60s",
            "aks_acr_canary_image": aks["image"], "aks_acr_canary_namespace": ns, "aks_acr_canary_timeout": 90}
    inv = {"clusters": {"hosts": {"aks-node": host}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "kube_context": "local-1", "registrylink_integration": "aks_acr"}}}
    inventory.write_text(yaml.safe_dump(inv))
    return run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory), verbosity=verbosity,
                        extra_vars=extra or None)


def test_kubelet_pulls_with_acr_credential_provider_only_while_attached(localenv, aks, unique_ns, tmp_path):
    standin = aks["standin"]
    ns = unique_ns("aks-node")
    assert "--image-credential-provider-bin-dir=" + str(aks["binary"].parent) in aks_node.kubelet_argv(localenv)

    # before the attach: the plugin signs in and exchanges, the registry grants nothing, the kubelet fails
    item = canary(localenv, aks, ns)
    assert item["verdict"] == "pull_failed" and not item["pulled"], item
    # the registry's 401 for a token without the repository's pull scope, in containerd's words
    assert "pull access denied" in item["kubelet_message"], item
    assert "insufficient_scope: authorization failed" in item["kubelet_message"], item
    (msi, *_more) = standin.log("msi_token")
    assert msi["ok"] and msi["client_id"] == aks["kubelet_client"]
    # the classic Resource Manager audience: azcontainerregistry's audience for the public cloud
    assert msi["resource"].rstrip("/") == "https://management.core.windows.net"
    assert msi["user_agent"].startswith("azsdk-go-azidentity/"), msi
    exchanges = standin.log("exchange")
    assert exchanges and exchanges[-1]["ok"] and exchanges[-1]["grant_type"] == "access_token_refresh_token"
    assert exchanges[-1]["user_agent"] == "kubernetes-credentialprovider-acr", exchanges[-1]
    assert exchanges[-1]["service"] == LOGIN_SERVER and exchanges[-1]["tenant"] == standin.tenant_id
    tokens = [t for t in standin.log("token") if t.get("oid") == aks["kubelet_oid"]]
    assert tokens, standin.log("token")  # containerd presented the kubelet identity's refresh token
    assert {"target": f"{LOGIN_SERVER}:443", "routed": True} in aks["proxy"].connects
    assert standin.all_assignments() == []

    # attach: the role grants AcrPull to the kubelet identity and its canary Pod pulls
    inventory = tmp_path / "inventory.yml"
    proc = setup(localenv, aks, inventory, ns, verbosity=3)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-5000:]
    (made,) = standin.all_assignments()
    assert made["properties"]["principalId"] == aks["kubelet_oid"]
    assert made["properties"]["roleDefinitionId"].endswith("/7f951dda-4ed3-4680-a7ca-43fe172d538d")
    assert made["properties"]["scope"] == standin.registry_id
    assert '"verdict": "pulled"' in proc.stdout, proc.stdout[-5000:]
    assert aks["admin_pw"] not in out and standin.identity_header not in out
    item = canary(localenv, aks, ns)
    assert item["verdict"] == "pulled" and item["image_id"].endswith(aks["digest"]), item

    # absent: the assignment goes, and a fresh pull fails again with the registry's refusal
    proc = setup(localenv, aks, inventory, ns, verbosity=3, aks_acr_state="absent")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert standin.all_assignments() == []
    assert aks["admin_pw"] not in out
    item = canary(localenv, aks, ns)
    assert item["verdict"] == "pull_failed" and not item["pulled"], item
    # the registry's 401 for a token without the repository's pull scope, in containerd's words
    assert "pull access denied" in item["kubelet_message"], item
    assert "insufficient_scope: authorization failed" in item["kubelet_message"], item
