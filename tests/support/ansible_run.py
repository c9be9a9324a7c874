"""Run the collection's modules and playbooks through the real Ansible CLI, as a user would.

``run_module(env, module, args, check=False, diff=False, verbosity=0)`` runs one task with
``ansible-playbook`` on localhost (connection local) and returns a ``TaskRun`` with the task's
result dict (``.result``), the complete stdout+stderr text (``.output``, for leak checks) and
the exit code. Arguments travel in a temporary play file, so secrets never appear on a command line.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class TaskRun:
    result: Dict[str, Any]
    output: str
    rc: int

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))


def _ansible_env(localenv, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = localenv.subprocess_env()
    env.update({
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    if extra:
        env.update(extra)
    return env


def run_module(localenv, module: str, args: Dict[str, Any], check: bool = False, diff: bool = False,
               verbosity: int = 0, extra_env: Optional[Dict[str, str]] = None, timeout: int = 600) -> TaskRun:
    """Run ``module`` once with ``args`` on localhost and return its result.

    The registered result is saved by a second task to a temp file and read back; the whole
    console output (with ``-vvv`` when ``verbosity`` is 3) is kept in ``.output`` for leak checks.
    """
    with tempfile.TemporaryDirectory(prefix="rl-task-") as tmp:
        # JSON is valid YAML: the arguments go into the play file verbatim (a temp file, never argv).
        play = Path(tmp) / "play.yml"
        result_file = Path(tmp) / "result.json"
        play.write_text(json.dumps([{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "tasks": [
                {"name": "run", module: args, "register": "task_result", "ignore_errors": True},
                {"name": "save", "check_mode": False, "diff": False,
                 "ansible.builtin.copy": {"content": "{{ task_result | to_json }}", "dest": str(result_file)}},
            ],
        }]))
        cmd = [str(REPO_ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", str(play)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        proc = subprocess.run(cmd, env=_ansible_env(localenv, extra_env), capture_output=True, text=True,
                              timeout=timeout, cwd=str(REPO_ROOT), check=False)
        result = json.loads(result_file.read_text()) if result_file.exists() else None
    output = proc.stdout + "\n" + proc.stderr
    if result is None:
        raise AssertionError("ansible-playbook printed no task result (rc=%s):\n%s" % (proc.returncode, output[-4000:]))
    rc = 2 if result.get("failed") else proc.returncode
    return TaskRun(result=result, output=output, rc=rc)


def run_playbook(localenv, playbook: str, extra_vars: Optional[Dict[str, Any]] = None, inventory: Optional[str] = None,
                 check: bool = False, diff: bool = False, verbosity: int = 0,
                 extra_env: Optional[Dict[str, str]] = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    """Run a playbook of the repository (path relative to the repo root) and return the process."""
    with tempfile.TemporaryDirectory(prefix="rl-play-") as tmp:
        cmd = [str(REPO_ROOT / ".venv/bin/ansible-playbook"), str(REPO_ROOT / playbook)]
        cmd += ["-i", inventory or "localhost,"]
        if extra_vars:
            vars_file = Path(tmp) / "vars.json"
            vars_file.write_text(json.dumps(extra_vars))
            cmd += ["-e", "@%s" % vars_file]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        env = _ansible_env(localenv, extra_env)
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(REPO_ROOT), check=False)
