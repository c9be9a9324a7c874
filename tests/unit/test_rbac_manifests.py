"""The RBAC manifests of docs/rbac/: well formed, named after their file, and consistent with each other.

That each verb of a module's manifest is needed, and that the manifest is enough, is proven on the
real API server by tests/integration/test_rbac.py. Here: the namespaced manifests are the cluster-wide
ones with get instead of list on namespaces, a role's manifest is the union of its modules', and the
docs name every manifest.
"""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "docs" / "rbac"
MANIFESTS = sorted(RBAC.glob("*.yml"))


def grants(path):
    doc = yaml.safe_load(path.read_text())
    return set((g, r, v) for rule in doc["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"])


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_manifest_is_a_cluster_role_named_after_its_file(path):
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "rbac.authorization.k8s.io/v1" and doc["kind"] == "ClusterRole"
    assert doc["metadata"]["name"] == "registrylink-" + path.stem.replace("_", "-")
    assert doc["metadata"]["labels"] == {"app.kubernetes.io/part-of": "registrylink.k8s"}
    assert all(set(rule) == {"apiGroups", "resources", "verbs"} for rule in doc["rules"])
    assert "*" not in str(doc["rules"])


@pytest.mark.parametrize("module, variant", [(m, v) for m in ("registry_secret", "sa_pull_secret") for v in ("read", "write")]
                         + [("registry_probe_verify", "read")])
def test_namespaced_manifest_swaps_the_namespace_list_for_a_get(module, variant):
    cluster = grants(RBAC / f"{module}-{variant}.yml")
    namespaced = grants(RBAC / f"{module}-namespaced-{variant}.yml")
    assert ("", "namespaces", "list") in cluster
    assert namespaced == (cluster - {("", "namespaces", "list")}) | {("", "namespaces", "get")}


def test_read_manifests_are_inside_the_write_manifests():
    for path in RBAC.glob("*-read.yml"):
        write = path.with_name(path.name.replace("-read.yml", "-write.yml"))
        if write.exists():  # registry_probe only reads
            assert grants(path) <= grants(write), path.name


def test_registry_credentials_is_the_union_of_its_modules():
    for variant in ("read", "write"):
        union = grants(RBAC / f"registry_secret-{variant}.yml") | grants(RBAC / f"sa_pull_secret-{variant}.yml")
        # the role never sets create_service_accounts
        union.discard(("", "serviceaccounts", "create"))
        assert grants(RBAC / f"registry_credentials-{variant}.yml") == union


def test_docs_name_every_manifest():
    text = (ROOT / "docs" / "reliability.md").read_text()
    missing = [p.name for p in MANIFESTS if f"docs/rbac/{p.name}" not in text]
    assert not missing, missing


def test_cleanup_is_inside_the_union_of_its_modules():
    for variant in ("read", "write"):
        union = grants(RBAC / f"registry_secret-{variant}.yml") | grants(RBAC / f"sa_pull_secret-{variant}.yml")
        assert grants(RBAC / f"cleanup-{variant}.yml") <= union


def test_pull_canary_check_mode_is_inside_its_write_manifest():
    assert grants(RBAC / "pull_canary-check.yml") < grants(RBAC / "pull_canary-write.yml")


@pytest.mark.parametrize("role", ["eks_ecr", "aks_acr", "gke_artifact_registry"])
def test_token_mode_roles_are_the_union_of_their_modules(role):
    for variant in ("read", "write"):
        union = grants(RBAC / f"registry_secret-{variant}.yml") | grants(RBAC / f"sa_pull_secret-{variant}.yml")
        # token mode never creates a ServiceAccount nor restarts a Pod
        union -= {("", "serviceaccounts", "create"), ("", "pods", "delete")}
        assert grants(RBAC / f"{role}_token-{variant}.yml") == union


def test_eks_ecr_identity_mode_is_inside_sa_pull_secret():
    for variant in ("read", "write"):
        # only annotations: no Secret and no Pod is read, no Pod restarted
        assert grants(RBAC / f"eks_ecr_identity-{variant}.yml") == {
            t for t in grants(RBAC / f"sa_pull_secret-{variant}.yml") if t[1] in ("namespaces", "serviceaccounts")}


@pytest.mark.parametrize("role", ["gke_artifact_registry", "aks_acr"])
def test_workload_identity_modes_are_inside_sa_pull_secret(role):
    for variant in ("read", "write"):
        # only annotations, as eks_ecr's identity mode; aks_acr never creates the ServiceAccount
        expected = grants(RBAC / f"eks_ecr_identity-{variant}.yml")
        if role == "aks_acr":
            expected -= {("", "serviceaccounts", "create")}
        assert grants(RBAC / f"{role}_workload_identity-{variant}.yml") == expected
