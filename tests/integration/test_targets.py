"""Run every Ansible integration target under tests/integration/targets against the local environment.

A target is a role-shaped directory (``tasks/main.yml`` + ``aliases``) in the ansible-test
layout. Each runs in its own ``ansible-playbook`` process on localhost, with the environment
that ``.localenv/env.sh`` gives (the ``localenv`` fixture fails when it is not up). No target
is skipped: an ``aliases`` line ``disabled`` or ``unsupported`` makes this test fail, so a
target cannot quietly stop running.
"""

import subprocess
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS_DIR = REPO_ROOT / "tests" / "integration" / "targets"
TARGETS = sorted(p.name for p in TARGETS_DIR.iterdir()
                 if (p / "tasks" / "main.yml").exists() and not p.name.startswith("setup_"))


def test_targets_exist():
    assert TARGETS, "no integration targets found under %s" % TARGETS_DIR


@pytest.mark.parametrize("target", TARGETS)
def test_target(target, localenv):
    aliases = (TARGETS_DIR / target / "aliases").read_text().split()
    assert not {"disabled", "unsupported"} & set(aliases), "target %s is marked to be skipped" % target
    with tempfile.TemporaryDirectory(prefix="rl-target-") as tmp:
        play = Path(tmp) / "play.yml"
        play.write_text(
            "- hosts: localhost\n"
            "  connection: local\n"
            "  gather_facts: false\n"
            "  roles:\n"
            "    - %s\n" % target)
        env = localenv.subprocess_env()
        env["ANSIBLE_ROLES_PATH"] = str(TARGETS_DIR)
        env["ANSIBLE_NOCOLOR"] = "1"
        env["ANSIBLE_LOCALHOST_WARNING"] = "false"
        proc = subprocess.run([str(REPO_ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", str(play)],
                              env=env, capture_output=True, text=True, timeout=1800, cwd=str(REPO_ROOT), check=False)
    output = proc.stdout + "\n" + proc.stderr
    assert proc.returncode == 0, "target %s failed:\n%s" % (target, output[-6000:])
    assert "failed=0" in output
