"""meta/runtime.yml's action group must list every module, and every listed module must exist."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_action_group_lists_every_module():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    group = runtime["action_groups"]["registrylink"]
    modules = sorted(p.stem for p in (ROOT / "plugins/modules").glob("*.py") if not p.stem.startswith("_"))
    assert modules, "no modules found"
    assert sorted(group) == modules


def test_requires_ansible():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=2.16.0"
