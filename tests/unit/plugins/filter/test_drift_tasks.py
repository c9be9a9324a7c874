"""playbooks/tasks/drift_report.yml through the real ansible-playbook, without a cluster.

Each host of a throw-away inventory gets a ``registrylink_drift`` as the setup and verify playbooks set
it (made by the filter from module-shaped results); the included tasks must print the table, write
drift.json and drift.txt also in check mode, and with ``registrylink_fail_on_drift`` fail exactly the
hosts with drift, after the report, naming their count and the fleet's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.registrylink.k8s.plugins.filter import drift as d

REPO_ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def secret_result(**actions):
    return {"results": [{"namespace": ns, "name": "regcred", "action": a} for ns, a in actions.items()],
            "namespaces": sorted(actions)}


def run(tmp_path, drift_in, **extra):
    collections = tmp_path / "collections" / "ansible_collections" / "registrylink"
    collections.mkdir(parents=True)
    (collections / "k8s").symlink_to(REPO_ROOT, target_is_directory=True)
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "hosts": "all", "connection": "local", "gather_facts": False,
        "tasks": [{"ansible.builtin.set_fact": {"registrylink_drift": "{{ drift_in[inventory_hostname] | default(none) }}"}},
                  {"ansible.builtin.include_tasks": str(REPO_ROOT / "playbooks" / "tasks" / "drift_report.yml")}]}]))
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps(dict(drift_in=drift_in, registrylink_drift_report_dir=str(tmp_path / "out"), **extra)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_RETRY_FILES_ENABLED="false")
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "c1,c2,c3,", str(play), "-e", "@%s" % extra_vars, "--check"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc, tmp_path / "out"


@pytest.fixture
def fleet():
    return {"c1": d.pull_secret_drift(secret_result(a="created", b="updated", c="unchanged")),
            "c2": d.pull_secret_drift(secret_result(a="unchanged")),
            "c3": d.pull_secret_drift(secret_result(a="created"))}


def test_gate_fails_exactly_the_drifted_clusters_after_the_report(tmp_path, fleet):
    proc, out = run(tmp_path, fleet, registrylink_fail_on_drift=True)
    assert proc.returncode == 2, proc.stdout[-3000:]
    recap = proc.stdout[proc.stdout.index("PLAY RECAP"):]
    failed = sorted(line.split()[0] for line in recap.splitlines()[1:] if "failed=1" in line)
    assert failed == ["c1", "c3"]
    assert "c1: 2 drift item(s) (3 in the fleet)" in proc.stdout
    assert "c3: 1 drift item(s) (3 in the fleet)" in proc.stdout
    report = json.loads((out / "drift.json").read_text())  # written in check mode, before the gate
    assert report == d.drift_report(fleet)
    assert (out / "drift.txt").read_text().splitlines() == report["table"]
    assert all(json.dumps(line) in proc.stdout for line in report["table"])


def test_gate_passes_without_drift_and_without_the_option(tmp_path, fleet):
    clean = {"c1": fleet["c2"], "c2": fleet["c2"], "c3": None}
    proc, out = run(tmp_path / "clean", clean, registrylink_fail_on_drift=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    recap = proc.stdout[proc.stdout.index("PLAY RECAP"):].splitlines()[1:4]
    assert [line.split()[0] for line in recap] == ["c1", "c2", "c3"]
    assert all("changed=0" in line for line in recap), recap  # writing the report is not a change of the fleet
    assert json.loads((out / "drift.json").read_text())["drift"] == 0
    proc, out = run(tmp_path / "report-only", fleet)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert json.loads((out / "drift.json").read_text())["drift"] == 3
