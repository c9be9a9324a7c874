"""meta/runtime.yml's action groups must list every module exactly once, every listed module must
exist, and a module's documented action group must be the one it is listed in."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def modules():
    return sorted(p.stem for p in (ROOT / "plugins/modules").glob("*.py") if not p.stem.startswith("_"))


def test_action_group_lists_every_module():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    groups = runtime["action_groups"]
    listed = [m for group in groups.values() for m in group]
    assert modules(), "no modules found"
    assert sorted(listed) == modules()
    assert len(listed) == len(set(listed)), "a module is in two action groups"
    assert sorted(groups["registrylink"]) == [m for m in modules() if m not in (
        "iam_oidc_provider", "containerd_hosts", "containerd_hosts_info", "gcp_iam_member", "gke_cluster_info",
        "acr_attach", "azure_workload_identity", "registry_health_info")]
    assert groups["aws"] == ["iam_oidc_provider"]
    assert groups["node"] == ["containerd_hosts", "containerd_hosts_info"]
    assert groups["gcp"] == ["gcp_iam_member", "gke_cluster_info"]
    assert groups["azure"] == ["acr_attach", "azure_workload_identity"]
    assert groups["vendor"] == ["registry_health_info"]


def test_documented_action_group_matches_runtime():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    for group, members in runtime["action_groups"].items():
        for module in members:
            text = (ROOT / "plugins/modules" / (module + ".py")).read_text()
            assert "registrylink.k8s.attributes.actiongroup_%s" % group in text, module


def test_requires_ansible():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=2.16.0"
