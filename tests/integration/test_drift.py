"""The drift report of setup.yml --check and verify.yml over the fleet, run as AWX runs the jobs.

A fleet (every cluster that is up, three namespaces each) is set up, then drifted by hand: in the
first cluster one namespace's Secret is deleted and another's is changed to a stale password; in the
last cluster one namespace's ``default`` ServiceAccount is unwired and a Pod there cannot pull. The
check-mode run of setup.yml must list exactly those, per cluster, in the play output, in drift.json
(machines), drift.txt (people) and set_stats; ``registrylink_fail_on_drift`` must fail the drifted
clusters with the count after the report; and the API servers' audit logs must show no write by the
jobs. verify.yml reports the same drift from what it reads. After a real setup run the fleet has no
drift and the gate passes.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import secrets
from pathlib import Path

import yaml

from tests.support import audit
from tests.support.ansible_run import run_playbook
from tests.support.awx_job import CREDENTIAL_TYPE, VENV_BIN, awx_injected_env, build_job_base, run_job, workflow_artifacts
from tests.support.realpods import PULL_FAILED, busybox_pod, wait_gone, wait_verdict

SECRET_NAME = "rl-drift-pull"
KINDS = ("missing_secret", "stale_secret", "expiring_tokens", "unwired_service_accounts", "stuck_pods", "other")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class FleetAudit:
    """Writes made with the test's (and the jobs') kubeconfig user, per cluster, between mark() and writes()."""

    def __init__(self, localenv, kube_client, contexts):
        from kubernetes import client as k
        self.logs = {c: (audit.AuditLog(localenv.cluster(c)["audit_log"]), k.CoreV1Api(kube_client(c))) for c in contexts}
        self.marks = {}

    def mark(self):
        self.marks = {c: log.mark() for c, (log, core) in self.logs.items()}

    def writes(self):
        out = {}
        for c, (log, core) in self.logs.items():
            log.sync(core)
            events = log.events_since(self.marks[c])
            users = {(e.get("user") or {}).get("username") for e in events if "audit-sync-" in (e.get("requestURI") or "")}
            assert len(users) == 1, users
            reads = audit.count(events, verbs=("list", "get"), user=next(iter(users)))
            assert sum(reads.values()) > 1, "the job made no request to %s (is the audit log the right one?)" % c
            out[c] = audit.writes(events, user=next(iter(users)))
        return out


def expected_drift(contexts, ns, first, last):
    """What the hand-made drift must produce, per cluster (setup --check)."""
    out = {}
    for c in contexts:
        row = {kind: [] for kind in KINDS}
        if c == first:
            row["missing_secret"] = [ns[c][0]]
            row["stale_secret"] = [ns[c][1]]
        if c == last:
            row["unwired_service_accounts"] = ["%s/default" % ns[c][2]]
            row["stuck_pods"] = ["%s/stuck" % ns[c][2]]
        out[c] = row
    return out


def kinds_of(report):
    return {r["cluster"]: {kind: r[kind] for kind in KINDS} for r in report["clusters"]}


def assert_no_leak(values, result, files):
    text = json.dumps(list(result.events)) + result.stdout.read() + "".join(Path(f).read_text() for f in files)
    assert [v[:4] for v in values if v in text] == []


def test_setup_check_and_verify_report_drift_and_write_nothing(
        localenv, registry, private_image, kube_client, unique_ns, monkeypatch, tmp_path):
    from kubernetes import client as k
    for var in ("REGISTRYLINK_REGISTRY_USER", "REGISTRYLINK_REGISTRY_PASSWORD", "K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    job_base = build_job_base(localenv, tmp_path)
    contexts = job_base["contexts"]
    first, last = contexts[0], contexts[-1]
    prefix = "dr%s" % secrets.token_hex(2)
    ns = {c: [unique_ns(prefix, context=c) for dummy in range(3)] for c in contexts}
    core = {c: k.CoreV1Api(kube_client(c)) for c in contexts}
    envvars = dict(awx_injected_env(yaml.safe_load(CREDENTIAL_TYPE.read_text()),
                                    {"username": registry.username, "password": registry.password}),
                   ANSIBLE_COLLECTIONS_PATH=str(job_base["collections"]), ANSIBLE_NOCOLOR="1",
                   PATH="%s:/usr/bin:/bin" % VENV_BIN, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    report_dir = tmp_path / "drift"
    survey = {"registry_credentials_registries": [{"server": registry.host}],
              "registry_credentials_namespaces": [prefix + "-*"],
              "registry_credentials_secret_name": SECRET_NAME,
              "registrylink_drift_report_dir": str(report_dir)}

    setup, dummy = run_job(job_base, "setup", "setup.yml", survey, envvars)
    assert setup.status == "successful", setup.stdout.read()[-4000:]
    first_report = json.loads((report_dir / "drift.json").read_text())
    # the first run found (and repaired) every namespace without the Secret and every unwired ServiceAccount
    assert first_report["counts"]["missing_secret"] == 3 * len(contexts)
    assert first_report["counts"]["unwired_service_accounts"] == 3 * len(contexts)

    # drift by hand
    core[first].delete_namespaced_secret(SECRET_NAME, ns[first][0])
    stale_password = "stale-" + secrets.token_hex(8)
    secret = core[first].read_namespaced_secret(SECRET_NAME, ns[first][1])
    config = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))
    config["auths"][registry.host].update(password=stale_password, auth=b64("%s:%s" % (registry.username, stale_password)))
    secret.data[".dockerconfigjson"] = b64(json.dumps(config))
    core[first].replace_namespaced_secret(SECRET_NAME, ns[first][1], secret)
    unwired = ns[last][2]
    core[last].patch_namespaced_service_account("default", unwired, {"imagePullSecrets": None})
    core[last].create_namespaced_pod(unwired, busybox_pod("stuck", private_image))
    assert wait_verdict(core[last], unwired, "stuck", want=PULL_FAILED).state in PULL_FAILED
    want = expected_drift(contexts, ns, first, last)
    want_total = sum(len(v) for row in want.values() for v in row.values())
    assert want_total == 4

    fleet_audit = FleetAudit(localenv, kube_client, contexts)
    fleet_audit.mark()
    (report_dir / "drift.json").unlink()
    check, dummy = run_job(job_base, "setup-check", "setup.yml", survey, envvars, check=True)
    stdout = check.stdout.read()
    assert check.status == "successful", stdout[-4000:]
    report = json.loads((report_dir / "drift.json").read_text())
    assert kinds_of(report) == want
    assert report["drift"] == want_total
    assert report["clusters_with_drift"] == sorted({first, last})
    assert all(r["namespaces"] == 3 and r["source"] == "setup" and r["secret_name"] == SECRET_NAME
               for r in report["clusters"])
    details = {d["item"]: d["detail"] for r in report["clusters"] for d in r["details"]}
    stuck_detail = details.pop("%s/stuck" % unwired)
    assert stuck_detail in ("%s, lacks %s" % (reason, SECRET_NAME) for reason in ("ErrImagePull", "ImagePullBackOff"))
    assert details == {ns[first][0]: "the Secret does not exist",
                       ns[first][1]: "the Secret differs from the desired registries",
                       "%s/default" % unwired: "imagePullSecrets lacks %s" % SECRET_NAME}
    # the table: in the play output and in drift.txt
    table = (report_dir / "drift.txt").read_text().splitlines()
    assert table == report["table"]
    assert "%s: missing secret %s - the Secret does not exist" % (first, ns[first][0]) in table
    assert "%s: SA not wired %s/default - imagePullSecrets lacks %s" % (last, unwired, SECRET_NAME) in table
    assert all(json.dumps(line) in stdout for line in table)
    fleet_row = [line for line in table if line.startswith("fleet (%d)" % len(contexts))]
    assert len(fleet_row) == 1 and fleet_row[0].split()[-1] == str(want_total)
    # set_stats for a later workflow node
    stats = workflow_artifacts(check)["registrylink_drift"]
    assert stats["drift"] == want_total and stats["clusters_with_drift"] == report["clusters_with_drift"]
    assert stats["counts"] == report["counts"] and stats["report"] == str(report_dir / "drift.json")
    assert {r["cluster"]: {kind: r[kind] for kind in KINDS} for r in stats["clusters"]} == want

    # the CI gate: fails the drifted clusters, after the report, with the count
    (report_dir / "drift.json").unlink()
    gate, dummy = run_job(job_base, "setup-gate", "setup.yml", dict(survey, registrylink_fail_on_drift=True), envvars,
                          check=True)
    gate_out = gate.stdout.read()
    assert gate.status == "failed"
    assert sorted(h for h, n in gate.stats["failures"].items() if n) == sorted({first, last}), gate.stats
    for c in sorted({first, last}):
        here = sum(len(v) for v in want[c].values())
        assert "%s: %d drift item(s) (%d in the fleet)" % (c, here, want_total) in gate_out
    assert json.loads((report_dir / "drift.json").read_text())["drift"] == want_total

    # nothing was written by the check runs: audit logs, and the drift is still there
    assert fleet_audit.writes() == {c: {} for c in contexts}
    assert SECRET_NAME not in [s.metadata.name for s in core[first].list_namespaced_secret(ns[first][0]).items]
    assert core[first].read_namespaced_secret(SECRET_NAME, ns[first][1]).data == secret.data
    assert not core[last].read_namespaced_service_account("default", unwired).image_pull_secrets

    # verify.yml finds the same drift from what it reads (the stale password is refused by the registry)
    verify_vars = dict(survey, verify_images=[private_image], verify_namespaces=[prefix + "-*"],
                       verify_secret_name=SECRET_NAME, verify_registry_ca_path=registry.ca, verify_fail_on_error=False)
    fleet_audit.mark()
    verify, dummy = run_job(job_base, "verify", "verify.yml", verify_vars, envvars)
    assert verify.status == "successful", verify.stdout.read()[-4000:]
    verify_report = json.loads((report_dir / "drift.json").read_text())
    assert all(r["source"] == "verify" for r in verify_report["clusters"])
    assert kinds_of(verify_report) == want
    assert workflow_artifacts(verify)["registrylink_drift"]["drift"] == want_total
    assert fleet_audit.writes() == {c: {} for c in contexts}
    assert_no_leak([registry.password, stale_password, secret.data[".dockerconfigjson"]], verify,
                   [report_dir / "drift.json", report_dir / "drift.txt"])

    # repaired by a real run (the stuck bare Pod is deleted by hand: nothing recreates it), then no drift
    core[last].delete_namespaced_pod("stuck", unwired, grace_period_seconds=0)
    wait_gone(core[last], unwired, "stuck")
    repair, dummy = run_job(job_base, "setup-repair", "setup.yml", survey, envvars)
    assert repair.status == "successful", repair.stdout.read()[-4000:]
    assert kinds_of(json.loads((report_dir / "drift.json").read_text())) == want_without_pods(want)
    converged, dummy = run_job(job_base, "setup-converged", "setup.yml", dict(survey, registrylink_fail_on_drift=True),
                               envvars, check=True)
    assert converged.status == "successful", converged.stdout.read()[-4000:]
    final = json.loads((report_dir / "drift.json").read_text())
    assert final["drift"] == 0 and final["clusters_with_drift"] == [] and len(final["clusters"]) == len(contexts)
    assert final["table"][-1] == "no drift: every cluster is as setup would leave it"
    assert workflow_artifacts(converged)["registrylink_drift"]["drift"] == 0
    assert_no_leak([registry.password, stale_password, secret.data[".dockerconfigjson"]], check,
                   [report_dir / "drift.json", report_dir / "drift.txt"])


def want_without_pods(want):
    """What a real run reports: the same drift (repaired now), without the Pod deleted before it."""
    return {c: dict(row, stuck_pods=[]) for c, row in want.items()}


def test_setup_check_reports_ecr_tokens_expiring_within_refresh_before(localenv, kube_client, unique_ns, tmp_path):
    """eks_ecr token mode (ECR in moto): a token recorded to expire within refresh_before is drift, nothing else."""
    from kubernetes import client as k
    context = localenv.contexts[0]
    core = k.CoreV1Api(kube_client(context))
    names = [unique_ns("drecr", context=context) for dummy in range(2)]
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"clusters": {"hosts": {context: {"kube_context": context}}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "registrylink_integration": "eks_ecr", "eks_ecr_mode": "token",
        "eks_ecr_cluster_name": context, "eks_ecr_region": "us-east-1", "eks_ecr_namespaces": names,
        "eks_ecr_refresh_before": "6h"}}}))
    report_dir = tmp_path / "drift"
    gate = {"registrylink_drift_report_dir": str(report_dir), "registrylink_fail_on_drift": True}
    proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory), extra_vars=gate)
    assert proc.returncode != 0, proc.stdout[-3000:]  # the first run created everything: that was drift
    first = json.loads((report_dir / "drift.json").read_text())
    assert first["counts"]["missing_secret"] == 2 and first["clusters_with_drift"] == [context]

    # the recorded expiry of one namespace's token moves to within refresh_before (as 11 hours later)
    secret = core.read_namespaced_secret("ecr-pull", names[0])
    stamp = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = json.loads(secret.metadata.annotations["registrylink.k8s/providers"])
    for record in records:
        record["expires_at"] = stamp
    core.patch_namespaced_secret("ecr-pull", names[0], {"metadata": {"annotations": {
        "registrylink.k8s/expires-at": stamp, "registrylink.k8s/providers": json.dumps(records)}}})
    before = {ns: core.read_namespaced_secret("ecr-pull", ns).metadata.resource_version for ns in names}

    fleet_audit = FleetAudit(localenv, kube_client, [context])
    fleet_audit.mark()
    proc = run_playbook(localenv, "playbooks/setup.yml", inventory=str(inventory), extra_vars=gate, check=True)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "%s: 1 drift item(s) (1 in the fleet)" % context in proc.stdout
    report = json.loads((report_dir / "drift.json").read_text())
    assert kinds_of(report) == {context: dict({kind: [] for kind in KINDS}, expiring_tokens=[names[0]])}
    (detail,) = report["clusters"][0]["details"]
    assert re.fullmatch(r"expires in 5\dm, within refresh_before \(6h00m\)", detail["detail"]), detail
    assert fleet_audit.writes() == {context: {}}
    assert {ns: core.read_namespaced_secret("ecr-pull", ns).metadata.resource_version for ns in names} == before
