"""The four playbooks run the way an AWX job runs them, and no secret reaches any output.

AWX runs a job with ansible-runner over a private data directory: ``project/`` (the project's
checkout), ``inventory/hosts`` (the synced inventory as a script printing its JSON: AWX runs
``ansible-inventory --list --export`` for the inventory update and hands the job that result),
``env/extravars`` (job template extra vars and survey answers), ``env/envvars`` (what credentials
inject). These tests build exactly that directory: the inventory comes from
``inventories/local`` (the ``registrylink.k8s.kubeconfig`` plugin, every cluster that is up), the
registry account from a credential of ``awx/credential_type_registry.yml`` rendered the way AWX
renders injectors (Jinja2, sandboxed), and the job environment holds none of env.sh's registry
variables. Then every job event, the stdout, every artifact file and the verify reports are
searched for every secret value used: the registry password, the ``auth`` value, the rendered
``.dockerconfigjson`` (as JSON and as the Secret stores it), and the clusters' client keys.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from pathlib import Path

import yaml

from tests.support.awx_job import (
    CREDENTIAL_TYPE, VENV_BIN, awx_injected_env, build_job_base, run_job, workflow_artifacts,
)

SECRET_NAME = "rl-awx-pull"
# The environment variable names whose values AWX replaces with ******** when it shows a job's env.
AWX_HIDDEN = re.compile(r"API|TOKEN|KEY|SECRET|PASS", re.I)


def leaks(result, artifact_dir: Path, values, extra_dirs=()):
    """Every place a secret value shows up: job events, stdout, artifact files, extra files."""
    found = []
    for event in result.events:
        text = json.dumps(event)
        found += ["event %s (%s): %s" % (event.get("counter"), event.get("event"), v[:4] + "...")
                  for v in values if v in text]
    stdout = result.stdout.read()
    found += ["stdout: %s..." % v[:4] for v in values if v in stdout]
    files = [p for d in (artifact_dir, *extra_dirs) for p in Path(d).rglob("*") if p.is_file()]
    assert files, "no artifacts written in %s" % artifact_dir
    for path in files:
        data = path.read_bytes()
        if path.name == "command" and path.parent == artifact_dir:
            # ansible-runner records the job's input here: argv, cwd and the environment it was
            # given (what AWX's credentials injected, as in env/envvars). The secret may be in that
            # environment, under a name whose value AWX hides when it shows a job's environment
            # (build_safe_env: API|TOKEN|KEY|SECRET|PASS, not ANSIBLE_*), and nowhere else in the file.
            record = json.loads(data)
            env = record.pop("env")
            data = json.dumps(record).encode()
            found += ["%s env %s" % (path, k) for k, v in env.items()
                      if any(s in v for s in values) and (k.startswith("ANSIBLE_") or not AWX_HIDDEN.search(k))]
        found += ["%s: %s..." % (path, v[:4]) for v in values if v.encode() in data]
    return found, stdout


def test_setup_verify_rotate_cleanup_as_awx_jobs_leak_nothing(
        localenv, registry, private_image, kube_client, unique_ns, monkeypatch, tmp_path):
    from kubernetes import client as k
    credential_type = yaml.safe_load(CREDENTIAL_TYPE.read_text())
    # the job's environment is AWX's, not env.sh's: no registry account in it but the credential's
    for var in ("REGISTRYLINK_REGISTRY_USER", "REGISTRYLINK_REGISTRY_PASSWORD", "K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    job_base = build_job_base(localenv, tmp_path)
    contexts = job_base["contexts"]
    prefix = "awx%s" % secrets.token_hex(2)
    namespaces = {c: unique_ns(prefix, context=c) for c in contexts}
    envvars = dict(awx_injected_env(credential_type, {"username": registry.username, "password": registry.password}),
                   ANSIBLE_COLLECTIONS_PATH=str(job_base["collections"]), ANSIBLE_NOCOLOR="1",
                   PATH="%s:/usr/bin:/bin" % VENV_BIN,
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    assert envvars["REGISTRYLINK_PULL_PASSWORD"] == registry.password
    # job template extra vars + survey answers: which registry, which namespaces; no credential
    survey = {"registry_credentials_registries": [{"server": registry.host}],
              "registry_credentials_namespaces": [prefix + "-*"],
              "registry_credentials_secret_name": SECRET_NAME}
    report_dir = job_base["base"] / "reports"
    verify_vars = dict(survey, verify_images=[private_image], verify_namespaces=[prefix + "-*"],
                       verify_secret_name=SECRET_NAME, verify_registry_ca_path=registry.ca, verify_report_dir=str(report_dir))

    setup, setup_dir = run_job(job_base, "setup", "setup.yml", survey, envvars, verbosity=3)
    assert setup.status == "successful" and setup.rc == 0, setup.stdout.read()[-4000:]
    # the secrets the clusters now hold (read independently), in every form they could leak in
    values = {registry.password, base64.b64encode(("%s:%s" % (registry.username, registry.password)).encode()).decode()}
    for c in contexts:
        core = k.CoreV1Api(kube_client(c))
        secret = core.read_namespaced_secret(SECRET_NAME, namespaces[c])
        stored = secret.data[".dockerconfigjson"]
        rendered = base64.b64decode(stored).decode()
        assert json.loads(rendered)["auths"][registry.host]["username"] == registry.username
        values |= {stored, rendered}
        sa = core.read_namespaced_service_account("default", namespaces[c])
        assert SECRET_NAME in [r.name for r in sa.image_pull_secrets or []]
    kubeconfig = yaml.safe_load(Path(localenv.kubeconfig).read_text())
    for user in kubeconfig["users"]:
        values |= {v for key, v in user["user"].items() if key in ("client-key-data", "token", "password")}
    assert len(values) >= 4 + len(contexts)

    stats = workflow_artifacts(setup)["registrylink_setup"]
    assert sorted(stats) == contexts
    for c in contexts:
        assert stats[c]["secret_name"] == SECRET_NAME and stats[c]["namespaces"] == 1 and stats[c]["changed"] is True
        assert stats[c]["servers"] == [registry.host] and stats[c]["secrets"] == {"created": 1}

    rerun, rerun_dir = run_job(job_base, "setup-again", "setup.yml", survey, envvars)
    assert rerun.status == "successful"
    assert sum(rerun.stats["changed"].values()) == 0, rerun.stats

    verify, verify_dir = run_job(job_base, "verify", "verify.yml", verify_vars, envvars, verbosity=3)
    assert verify.status == "successful", verify.stdout.read()[-4000:]
    fleet = json.loads((report_dir / "fleet.json").read_text())
    assert sorted(c["cluster"] for c in fleet["clusters"]) == contexts and all(c["ok"] for c in fleet["clusters"])

    verify_stats = workflow_artifacts(verify)
    assert verify_stats["registrylink_verify_fleet"] == {
        "clusters": len(contexts), "ready": contexts, "broken": [], "azure_needs_setup": [],
        "report": str(report_dir / "fleet.json")}
    assert sorted(verify_stats["registrylink_verify"]) == contexts

    rotate, rotate_dir = run_job(job_base, "rotate", "rotate.yml", survey, envvars, verbosity=3)
    assert rotate.status == "successful", rotate.stdout.read()[-4000:]

    cleanup, cleanup_dir = run_job(job_base, "cleanup", "cleanup.yml", survey, envvars, verbosity=3)
    assert cleanup.status == "successful", cleanup.stdout.read()[-4000:]
    for c in contexts:
        core = k.CoreV1Api(kube_client(c))
        assert SECRET_NAME not in [s.metadata.name for s in core.list_namespaced_secret(namespaces[c]).items]
        sa = core.read_namespaced_service_account("default", namespaces[c])
        assert SECRET_NAME not in [r.name for r in sa.image_pull_secrets or []]

    # control: the scan sees what the jobs printed (the user name is in the diffs and the events)
    control = leaks(setup, setup_dir, [registry.username, prefix])[0]
    assert any(c.startswith("event") for c in control) and any(c.startswith("stdout") for c in control)
    assert any("job_events" in c for c in control)

    everything = []
    for result, artifacts, extra in ((setup, setup_dir, ()), (rerun, rerun_dir, ()), (verify, verify_dir, (report_dir,)),
                                     (rotate, rotate_dir, ()), (cleanup, cleanup_dir, ())):
        found, stdout = leaks(result, artifacts, sorted(values))
        everything += found
        assert len(list(result.events)) > 5 and stdout.strip()
    assert everything == []
