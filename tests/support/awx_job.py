"""AWX jobs rebuilt for tests: what ansible-runner gets when AWX runs a job template.

AWX runs a job with ansible-runner over a private data directory: ``project/`` (the project's
checkout), ``inventory/hosts`` (the synced inventory as a script printing its JSON: AWX runs
``ansible-inventory --list --export`` for the inventory update and hands the job that result),
``env/extravars`` (job template extra vars and survey answers), ``env/envvars`` (what credentials
inject). ``build_job_base`` prepares what every job shares, ``run_job`` runs one job,
``awx_injected_env`` renders a credential type's injectors the way AWX does, and
``workflow_artifacts`` is what ``set_stats`` hands to the next workflow node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import ansible_runner
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
CREDENTIAL_TYPE = REPO_ROOT / "awx" / "credential_type_registry.yml"


def awx_injected_env(credential_type: dict, inputs: dict) -> dict:
    """The env vars AWX injects for a credential: each ``injectors.env`` template rendered with the inputs."""
    for field in credential_type["inputs"].get("required", []):
        assert inputs.get(field), "AWX refuses a credential without %s" % field
    jinja = ImmutableSandboxedEnvironment()
    return {name: jinja.from_string(template).render(**inputs)
            for name, template in credential_type["injectors"]["env"].items()}


def build_job_base(localenv, base: Path):
    """What every job shares: the project, the synced inventory, the collection as an EE has it."""
    collections = base / "collections"
    (collections / "ansible_collections" / "registrylink").mkdir(parents=True)
    (collections / "ansible_collections" / "registrylink" / "k8s").symlink_to(REPO_ROOT, target_is_directory=True)
    project = base / "project"
    shutil.copytree(REPO_ROOT / "playbooks", project / "playbooks")
    # the inventory update: ansible-inventory over the inventory source, as AWX runs it
    env = localenv.subprocess_env()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    sync = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(REPO_ROOT / "inventories" / "local"),
                           "--list", "--export"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert sync.returncode == 0, sync.stderr
    synced = json.loads(sync.stdout)
    contexts = sorted(synced["_meta"]["hostvars"])
    assert contexts == sorted(localenv.contexts), (contexts, localenv.contexts)
    return {"base": base, "collections": collections, "project": project, "inventory": sync.stdout,
            "contexts": contexts}


def run_job(job_base, name, playbook, extravars, envvars, verbosity=0, check=False):
    """One AWX job: a fresh private data directory, ansible-runner, the result and the artifact dir.

    ``check=True`` is a job template of job type "Check": AWX adds ``--check`` to the command line."""
    pdd = job_base["base"] / ("job-" + name)
    (pdd / "env").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    shutil.copytree(job_base["project"], pdd / "project")
    script = pdd / "inventory" / "hosts"
    script.write_text("#!%s\nimport sys\nsys.stdout.write(%r)\n" % (VENV_BIN / "python", job_base["inventory"]))
    script.chmod(0o700)
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    for f in ("extravars", "envvars"):
        (pdd / "env" / f).chmod(0o600)
    result = ansible_runner.run(private_data_dir=str(pdd), playbook="playbooks/" + playbook, ident=name,
                                verbosity=verbosity, quiet=True, settings={"suppress_ansible_output": True},
                                cmdline="--check" if check else None)
    return result, pdd / "artifacts" / name


def workflow_artifacts(result):
    """What set_stats handed on: AWX passes it to the next node of a workflow as extra vars."""
    (stats,) = [e for e in result.events if e.get("event") == "playbook_on_stats"]
    return stats["event_data"].get("artifact_data") or {}
