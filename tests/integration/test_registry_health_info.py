"""registry_health_info (and the verify role's ``verify_registry_health``) against the Harbor, GitLab and
Artifactory STAND-INS (tests/support/*_standin.py; none of the three products can run here).

The figures each stand-in holds are set by the test (a Harbor project quota, repository count and GC
schedule, a GitLab cleanup policy, Artifactory storage figures) and must come back unchanged through
the real ``ansible-playbook``; Harbor's requests and answers are validated against its OpenAPI document.
A 403 on a health endpoint is reported as not readable and never fails the task; no credential appears
at -vvv; nothing is written at any stand-in.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.support.ansible_run import run_module
from tests.support.artifactory_standin import ArtifactoryStandIn
from tests.support.gitlab_standin import GitlabStandIn
from tests.support.harbor_standin import HarborStandIn
from tests.support.localenv import make_ca

MODULE = "registrylink.k8s.registry_health_info"
H_ADMIN, H_ADMIN_PW = "admin", "Harbor-" + secrets.token_hex(6)
H_LEAD, H_LEAD_PW = "team-lead", "Lead-" + secrets.token_hex(6)
G_MAINT = "glpat-" + secrets.token_hex(10)
G_REPORTER = "glpat-" + secrets.token_hex(10)
A_ADMIN = "eyJadmin" + secrets.token_hex(10)
A_DEV = "eyJdev" + secrets.token_hex(10)
SECRETS = (H_ADMIN_PW, H_LEAD_PW, G_MAINT, G_REPORTER, A_ADMIN, A_DEV)


@pytest.fixture(scope="module")
def vendors(tmp_path_factory, localenv):
    tmp = tmp_path_factory.mktemp("health")
    ca = make_ca(tmp, "ca", cn="vendor stand-ins CA")
    users = {H_ADMIN: (H_ADMIN_PW, "admin"), H_LEAD: (H_LEAD_PW, "projectAdmin")}
    tokens = {G_MAINT: ("maint", {"team/app": "maintainer"}), G_REPORTER: ("rep", {"team/app": "reporter"})}
    with HarborStandIn(tmp / "harbor", ca, users=users, projects=["team-a", "team-b"]) as harbor, \
            GitlabStandIn(tmp / "gitlab", ca, tokens=tokens, projects=["team/app"], groups=["team"],
                          admin=("root", "Root-" + secrets.token_hex(6))) as gitlab, \
            ArtifactoryStandIn(tmp / "artifactory", ca, bearer={A_ADMIN: ("admin", True), A_DEV: ("dev", False)},
                               passwords={"admin": "unused-" + secrets.token_hex(4)},
                               repos=["docker-local"]) as artifactory:
        yield {"harbor": harbor, "gitlab": gitlab, "artifactory": artifactory, "ca": ca.cert}


@pytest.fixture(autouse=True)
def nothing_written_nothing_violated(vendors):
    """Every test: Harbor saw only what its OpenAPI document allows, and no stand-in saw a write."""
    harbor = vendors["harbor"]
    before = len(harbor.violations)
    yield
    assert harbor.violations[before:] == []
    for name in ("harbor", "gitlab", "artifactory"):
        assert vendors[name].writes() == [], name


def harbor_entry(vendors, user=H_ADMIN, password=H_ADMIN_PW, project="team-a"):
    return {"provider": "harbor_robot", "api_url": vendors["harbor"].url, "api_ca_path": vendors["ca"],
            "api_username": user, "api_password": password, "project": project, "server": "harbor.test"}


def gitlab_entry(vendors, token=G_MAINT):
    return {"provider": "gitlab_deploy_token", "api_url": vendors["gitlab"].url, "api_ca_path": vendors["ca"],
            "api_token": token, "project": "team/app"}


def artifactory_entry(vendors, token=A_ADMIN):
    return {"provider": "artifactory_token", "api_url": vendors["artifactory"].url, "api_ca_path": vendors["ca"],
            "api_token": token}


def checks(run, index=0):
    assert not run.failed, run.result.get("msg")
    assert run.result["changed"] is False
    return run.result["registries"][index]["checks"]


def test_harbor_figures_are_what_harbor_holds(localenv, vendors):
    harbor = vendors["harbor"]
    harbor.quotas["team-a"] = {"hard": 10 * 2 ** 30, "used": 3 * 2 ** 30}
    harbor.quotas["team-b"] = {"hard": -1, "used": 123456789}
    harbor.repo_count = 17
    harbor.gc_schedule = {"type": "Custom", "cron": "0 30 2 * * 6", "next_scheduled_time": "2026-12-12T02:30:00Z"}
    run = run_module(localenv, MODULE, {"registries": [harbor_entry(vendors), harbor_entry(vendors, project="team-b")]})
    first, second = checks(run, 0), checks(run, 1)
    assert first["statistics"]["status"] == "ok"
    assert first["statistics"]["total_project_count"] == 2
    assert first["statistics"]["total_repo_count"] == 17
    assert first["statistics"]["storage_bytes"] == 3 * 2 ** 30 + 123456789
    assert first["quota"] == {"status": "ok", "http_status": 200, "msg": None, "hard_bytes": 10 * 2 ** 30,
                              "used_bytes": 3 * 2 ** 30, "used_percent": 30.0, "unlimited": False}
    assert second["quota"]["unlimited"] is True and second["quota"]["used_bytes"] == 123456789
    assert first["gc_schedule"]["schedule_type"] == "Custom"
    assert first["gc_schedule"]["cron"] == "0 30 2 * * 6"
    assert first["gc_schedule"]["next_scheduled_time"] == "2026-12-12T02:30:00Z"
    assert run.result["summary"] == {"registries": 2, "ok": 2, "warning": 0, "failed": 0, "not_readable_checks": 0}
    assert run.result.get("warnings") in (None, [])
    assert any("quota" in line and "used 3.0 GiB of 10.0 GiB (30.0%)" in line for line in run.result["table"])
    quota_calls = [c for c in harbor.calls if c["operation"] == "listQuotas"]
    assert quota_calls and all(c["status"] == 200 for c in quota_calls)


def test_harbor_quota_nearly_full_and_no_gc_schedule_are_warnings(localenv, vendors):
    harbor = vendors["harbor"]
    harbor.quotas["team-a"] = {"hard": 1000000, "used": 950000}
    harbor.gc_schedule = None  # Harbor then answers 200 without a body
    run = run_module(localenv, MODULE, {"registries": [harbor_entry(vendors)]})
    got = checks(run)
    assert got["quota"]["status"] == "warning" and got["quota"]["used_percent"] == 95.0
    assert got["gc_schedule"]["status"] == "warning" and got["gc_schedule"]["schedule_type"] is None
    reg = run.result["registries"][0]
    assert reg["status"] == "warning"
    assert sorted(f["code"] for f in reg["findings"]) == ["no_gc_schedule", "quota_nearly_full"]
    warnings = " ".join(run.result.get("warnings") or [])
    assert "95.0%" in warnings and "no garbage collection schedule" in warnings
    # a lower quota is fine with a higher threshold, and a schedule set later is read
    harbor.gc_schedule = {"type": "Daily", "cron": "0 0 0 * * *"}
    run = run_module(localenv, MODULE, {"registries": [harbor_entry(vendors)], "usage_warn_percent": 96})
    assert run.result["registries"][0]["status"] == "ok"
    assert "getGCSchedule 200 without a body" in harbor.undocumented


def test_harbor_project_admin_gets_not_readable_not_a_failure(localenv, vendors):
    harbor = vendors["harbor"]
    harbor.gc_schedule = {"type": "Daily", "cron": "0 0 0 * * *"}
    run = run_module(localenv, MODULE, {"registries": [harbor_entry(vendors, H_LEAD, H_LEAD_PW)]})
    got = checks(run)
    assert got["quota"]["status"] == "not_readable" and got["quota"]["http_status"] == 403
    assert got["gc_schedule"]["status"] == "not_readable" and got["gc_schedule"]["http_status"] == 403
    assert got["statistics"]["status"] == "ok" and got["statistics"]["total_project_count"] == 0
    assert run.result["registries"][0]["status"] == "ok"
    assert run.result["summary"]["not_readable_checks"] == 2
    assert run.rc == 0


def test_harbor_wrong_password_fails_the_checks_not_the_task(localenv, vendors):
    run = run_module(localenv, MODULE, {"registries": [harbor_entry(vendors, password="Wrong-" + secrets.token_hex(4))]})
    got = checks(run)
    assert {c["status"] for c in got.values()} == {"failed"}
    assert {c["http_status"] for c in got.values()} == {401}
    assert run.result["registries"][0]["status"] == "failed"
    assert run.result["summary"]["failed"] == 1


def test_gitlab_cleanup_policy_is_what_gitlab_holds(localenv, vendors):
    gitlab = vendors["gitlab"]
    gitlab.cleanup_policies["team/app"] = {"cadence": "7d", "enabled": True, "keep_n": 5, "older_than": "14d",
                                           "name_regex": ".*", "name_regex_keep": "^v\\d+",
                                           "next_run_at": "2026-12-13T01:00:00.000Z"}
    run = run_module(localenv, MODULE, {"registries": [gitlab_entry(vendors)]})
    policy = checks(run)["cleanup_policy"]
    assert policy == {"status": "ok", "http_status": 200, "msg": None, "enabled": True, "cadence": "7d", "keep_n": 5,
                      "older_than": "14d", "name_regex": ".*", "name_regex_keep": "^v\\d+",
                      "next_run_at": "2026-12-13T01:00:00.000Z"}
    gitlab.cleanup_policies["team/app"] = dict(gitlab.cleanup_policies["team/app"], enabled=False)
    run = run_module(localenv, MODULE, {"registries": [gitlab_entry(vendors)]})
    assert checks(run)["cleanup_policy"]["status"] == "warning"
    assert [f["code"] for f in run.result["registries"][0]["findings"]] == ["cleanup_policy_disabled"]
    assert "cleanup policy of GitLab project team/app is disabled" in " ".join(run.result.get("warnings") or [])


def test_gitlab_hidden_or_forbidden_policy_is_not_readable(localenv, vendors):
    run = run_module(localenv, MODULE, {"registries": [gitlab_entry(vendors, G_REPORTER)]})
    assert checks(run)["cleanup_policy"]["status"] == "not_readable"
    vendors["gitlab"].fail_next["GET project"] = (403, "403 Forbidden")
    run = run_module(localenv, MODULE, {"registries": [gitlab_entry(vendors)]})
    policy = checks(run)["cleanup_policy"]
    assert (policy["status"], policy["http_status"]) == ("not_readable", 403)
    assert run.result["registries"][0]["status"] == "ok"


def test_artifactory_storage_is_what_artifactory_holds_and_403_is_reported(localenv, vendors):
    art = vendors["artifactory"]
    art.storage_info["fileStoreSummary"] = {"storageType": "file-system", "storageDirectory": "/data/filestore",
                                            "totalSpace": "200.00 GB", "usedSpace": "187.50 GB (93.75%)",
                                            "freeSpace": "12.50 GB (6.25%)"}
    art.storage_info["binariesSummary"]["binariesSize"] = "150.25 GB"
    run = run_module(localenv, MODULE, {"registries": [artifactory_entry(vendors), artifactory_entry(vendors, A_DEV)]})
    storage = checks(run, 0)["storage"]
    assert storage["total_space"] == "200.00 GB" and storage["used_space"] == "187.50 GB (93.75%)"
    assert storage["used_percent"] == 93.75 and storage["binaries_size"] == "150.25 GB"
    assert storage["repositories_count"] == 1
    assert storage["status"] == "warning"
    assert [f["code"] for f in run.result["registries"][0]["findings"]] == ["storage_nearly_full"]
    forbidden = checks(run, 1)["storage"]
    assert (forbidden["status"], forbidden["http_status"]) == ("not_readable", 403)
    assert run.result["registries"][1]["status"] == "ok"


def test_no_credential_at_vvv(localenv, vendors):
    entries = [harbor_entry(vendors), harbor_entry(vendors, H_LEAD, H_LEAD_PW), gitlab_entry(vendors),
               gitlab_entry(vendors, G_REPORTER), artifactory_entry(vendors), artifactory_entry(vendors, A_DEV)]
    run = run_module(localenv, MODULE, {"registries": entries}, verbosity=3)
    assert not run.failed, run.result.get("msg")
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.output  # -vvv really printed the arguments
    for value in SECRETS:
        assert value not in run.output
        assert value not in json.dumps(run.result)


def test_verify_playbook_reports_registry_health(localenv, registry, vendors, kube_client, unique_ns, tmp_path):
    """The verify playbook with verify_registry_health: the report's registry_health holds the stand-ins' figures,
    the table shows them, a finding does not make the cluster broken, and no credential is printed."""
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("vhealth")
    auth = {"auths": {registry.host: {"username": registry.username, "password": registry.password}}}
    core.create_namespaced_secret(ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="regcred"),
                                                   type="kubernetes.io/dockerconfigjson",
                                                   string_data={".dockerconfigjson": json.dumps(auth)}))
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "regcred"}]})
    vendors["harbor"].quotas["team-a"] = {"hard": 1000, "used": 990}
    vendors["harbor"].gc_schedule = {"type": "Weekly", "cron": "0 0 0 * * 0"}
    root = Path(__file__).resolve().parents[2]
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        "verify_images": [registry.host + "/no/such-image:1.0"], "verify_namespaces": [ns],
        "verify_registry_ca_path": registry.ca, "verify_report_dir": str(tmp_path / "report"),
        "verify_diagnose_stuck_pods": False, "verify_fail_on_error": False,
        "verify_registry_health": [harbor_entry(vendors), gitlab_entry(vendors, G_REPORTER),
                                   artifactory_entry(vendors, A_DEV)],
    }))
    cmd = [str(root / ".venv" / "bin" / "ansible-playbook"), "-i", str(root / "inventories" / "local"),
           str(root / "playbooks" / "verify.yml"), "--limit", "local-1", "-e", "@" + str(extra), "-vvv"]
    proc = subprocess.run(cmd, env=localenv.subprocess_env(), capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    report = json.loads((tmp_path / "report" / "local-1.json").read_text())
    health = report["registry_health"]
    assert [h["provider"] for h in health] == ["harbor_robot", "gitlab_deploy_token", "artifactory_token"]
    assert health[0]["checks"]["quota"]["used_percent"] == 99.0
    assert health[0]["checks"]["gc_schedule"]["schedule_type"] == "Weekly"
    assert health[1]["checks"]["cleanup_policy"]["status"] == "not_readable"
    assert health[2]["checks"]["storage"]["status"] == "not_readable"
    assert [f["code"] for f in health[0]["findings"]] == ["quota_nearly_full"]
    assert "(99.0%, above 90%)" in out  # the finding is a warning of the task
    assert "used 990 B of 1000 B (99.0%)" in out  # and a line of the table
    for value in SECRETS + (registry.password,):
        assert value not in out
        assert value not in (tmp_path / "report" / "local-1.json").read_text()
