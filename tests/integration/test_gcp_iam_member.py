"""gcp_iam_member through ansible-playbook against the Google stand-in (tests/support/gcp_standin.py).

Google cannot run here; the stand-in implements the documented IAM policy semantics: a new etag on
every write, a stale etag refused with 409 ABORTED, conditions only in version 3 policies. The module
authenticates with google-auth from a real service account key (JWT grant against the stand-in's
token endpoint). Every policy is read back from the stand-in's store, never from the module's result.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import requests

from tests.support.ansible_run import run_module
from tests.support.gcp_standin import GoogleStandIn
from tests.support.localenv import make_ca

READER = "roles/artifactregistry.reader"
COND = {"title": "until-2030", "expression": 'request.time < timestamp("2030-01-01T00:00:00Z")'}


@pytest.fixture(scope="module")
def gcp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gcpiam")
    ca = make_ca(tmp, "gcp-ca")
    project = "rl-iam-" + secrets.token_hex(3)
    with GoogleStandIn(tmp / "google", ca) as google:
        google.add_project(project, "210987654321")
        admin = google.add_service_account(f"iam-admin@{project}.iam.gserviceaccount.com", project)
        nobody = google.add_service_account(f"nobody-1@{project}.iam.gserviceaccount.com", project)
        node = google.add_service_account(f"gke-nodes@{project}.iam.gserviceaccount.com", project)
        google.iam_admins.add("serviceAccount:" + admin.email)
        yield {"google": google, "project": project, "admin_key": admin.write(tmp / "admin.json"),
               "nobody_key": nobody.write(tmp / "nobody.json"), "node": "serviceAccount:" + node.email,
               "node_email": node.email, "env": {"REQUESTS_CA_BUNDLE": ca.cert}, "ca": ca.cert}


def _args(gcp, key="admin_key", **kw):
    url = gcp["google"].url
    args = {"credentials_file": gcp[key], "resource_manager_endpoint": url, "artifact_registry_endpoint": url,
            "iam_endpoint": url, "role": READER, "member": gcp["node"]}
    args.update(kw)
    return args


def _run(localenv, gcp, check=False, verbosity=0, **kw):
    return run_module(localenv, "registrylink.k8s.gcp_iam_member", _args(gcp, **kw), check=check, diff=True,
                      verbosity=verbosity, extra_env=gcp["env"])


def _members(policy, role, condition=None):
    for b in policy["bindings"]:
        if b["role"] == role and b.get("condition") == condition:
            return b["members"]
    return []


@pytest.mark.parametrize("kind", ["project", "repository", "service_account"])
def test_cycle_check_real_rerun_absent_keeps_other_bindings_and_conditions(localenv, gcp, kind):
    google = gcp["google"]
    if kind == "project":
        resource, extra, role, member = f"projects/{gcp['project']}", {"project": gcp["project"]}, READER, gcp["node"]
    elif kind == "repository":
        repo = "team-" + secrets.token_hex(2)
        resource = google.add_repository(gcp["project"], "europe-west1", repo)
        extra, role, member = {"project": gcp["project"], "location": "europe-west1", "repository": repo}, READER, gcp["node"]
    else:
        sa = google.add_service_account(f"refresher-{secrets.token_hex(2)}@{gcp['project']}.iam.gserviceaccount.com",
                                        gcp["project"])
        resource = f"projects/{gcp['project']}/serviceAccounts/{sa.email}"
        extra = {"service_account": sa.email}
        role, member = "roles/iam.workloadIdentityUser", f"serviceAccount:{gcp['project']}.svc.id.goog[ops/refresher]"
    # what someone else put there: another member of the role, another role, a conditional binding
    google.grant(resource, role, "user:alice@example.com")
    google.grant(resource, "roles/viewer", "group:auditors@example.com")
    google.grant(resource, role, "group:contractors@example.com", condition=COND)
    seeded = google.policy(resource)

    check = _run(localenv, gcp, check=True, role=role, member=member, **extra)
    assert check.rc == 0 and check.changed and check.result["action"] == "added", check.output[-3000:]
    assert google.policy(resource) == seeded

    real = _run(localenv, gcp, role=role, member=member, **extra)
    assert real.rc == 0 and real.changed, real.output[-3000:]
    after = google.policy(resource)
    assert sorted(_members(after, role)) == sorted(["user:alice@example.com", member])
    assert _members(after, "roles/viewer") == ["group:auditors@example.com"]
    assert _members(after, role, COND) == ["group:contractors@example.com"]
    assert after["version"] == 3 and after["etag"] != seeded["etag"] and real.result["etag"] == after["etag"]

    again = _run(localenv, gcp, role=role, member=member, **extra)
    assert again.rc == 0 and not again.changed and again.result["action"] == "unchanged"
    assert google.policy(resource) == after

    gone = _run(localenv, gcp, role=role, member=member, state="absent", **extra)
    assert gone.rc == 0 and gone.changed and gone.result["action"] == "removed"
    final = google.policy(resource)
    assert final["bindings"] == seeded["bindings"]
    gone2 = _run(localenv, gcp, role=role, member=member, state="absent", **extra)
    assert gone2.rc == 0 and not gone2.changed and gone2.result["action"] == "absent"


def test_conditional_member_added_and_removed_alone(localenv, gcp):
    google = gcp["google"]
    resource = google.add_repository(gcp["project"], "us", "cond-" + secrets.token_hex(2))
    google.grant(resource, READER, gcp["node"])
    extra = {"project": gcp["project"], "location": "us", "repository": resource.rsplit("/", 1)[1]}
    run = _run(localenv, gcp, condition=COND, **extra)
    assert run.rc == 0 and run.changed, run.output[-3000:]
    policy = google.policy(resource)
    assert _members(policy, READER) == [gcp["node"]] and _members(policy, READER, COND) == [gcp["node"]]
    assert policy["version"] == 3
    gone = _run(localenv, gcp, condition=COND, state="absent", **extra)
    assert gone.rc == 0 and gone.changed
    assert google.policy(resource)["bindings"] == [{"role": READER, "members": [gcp["node"]]}]


def test_a_concurrent_change_between_read_and_write_is_retried_and_kept(localenv, gcp):
    google = gcp["google"]
    resource = google.add_repository(gcp["project"], "asia", "race-" + secrets.token_hex(2))
    extra = {"project": gcp["project"], "location": "asia", "repository": resource.rsplit("/", 1)[1]}
    # two other writers win the race, one after each of our reads
    google.before_next_set(lambda: google.grant(resource, "roles/artifactregistry.writer", "user:ci@example.com"))
    sets_before = sum(1 for r in google.requests if r["path"].endswith(":setIamPolicy"))

    def second():
        google.before_next_set(lambda: google.grant(resource, READER, "user:bob@example.com"))

    google.before_next_set(second)
    run = _run(localenv, gcp, **extra)
    assert run.rc == 0 and run.changed and run.result["conflicts_retried"] == 2, run.result
    statuses = [r["status"] for r in google.requests if r["path"].endswith(":setIamPolicy")][sets_before:]
    assert statuses == [409, 409, 200]
    policy = google.policy(resource)
    assert _members(policy, "roles/artifactregistry.writer") == ["user:ci@example.com"]
    assert sorted(_members(policy, READER)) == sorted(["user:bob@example.com", gcp["node"]])


def test_the_standin_refuses_a_stale_etag(gcp):
    """The semantics the module relies on, checked on the stand-in directly (with a real token)."""
    google = gcp["google"]
    token = google.issue_token(next(iter(google.iam_admins)))
    url = f"{google.url}/v1/projects/{gcp['project']}"
    headers = {"Authorization": "Bearer " + token}
    old = requests.post(url + ":getIamPolicy", json={"options": {"requestedPolicyVersion": 3}}, headers=headers,
                        verify=gcp["ca"], timeout=10).json()
    google.grant(f"projects/{gcp['project']}", "roles/viewer", "user:race@example.com")
    resp = requests.post(url + ":setIamPolicy", json={"policy": old}, headers=headers, verify=gcp["ca"], timeout=10)
    assert resp.status_code == 409 and resp.json()["error"]["status"] == "ABORTED"


def test_permission_denied_names_the_resource_and_writes_nothing(localenv, gcp):
    google = gcp["google"]
    resource = f"projects/{gcp['project']}"
    before = google.policy(resource)
    run = _run(localenv, gcp, key="nobody_key", project=gcp["project"], member="user:mallory@example.com",
               verbosity=3)
    assert run.failed and "PERMISSION_DENIED" in run.result["msg"] and resource in run.result["msg"], run.result
    assert run.result.get("http_status") == 403
    assert "Traceback" not in run.output
    assert google.policy(resource) == before


def test_no_token_or_key_in_any_output(localenv, gcp):
    google = gcp["google"]
    resource = google.add_repository(gcp["project"], "europe", "leak-" + secrets.token_hex(2))
    before_tokens = set(google.tokens)
    run = _run(localenv, gcp, verbosity=3, project=gcp["project"], location="europe",
               repository=resource.rsplit("/", 1)[1])
    assert run.rc == 0 and run.changed
    minted = set(google.tokens) - before_tokens
    assert minted, "the module minted no token"
    key = json.loads(Path(gcp["admin_key"]).read_text())["private_key"]
    for secret in list(minted) + key.splitlines()[1:3]:
        assert secret not in run.output and secret not in json.dumps(run.result)


def test_storage_object_viewer_is_explained_and_gcr_repositories_are_addressable(localenv, gcp):
    """The seed's Container Registry grant: a warning about the shutdown that names the Artifact Registry role,
    and the gcr.io repository Artifact Registry serves gcr.io from takes the right grant."""
    google = gcp["google"]
    old = _run(localenv, gcp, project=gcp["project"], role="roles/storage.objectViewer")
    assert old.rc == 0 and old.changed
    assert any("Container Registry is shut down" in w and "roles/artifactregistry.reader" in w
               for w in old.result.get("warnings", [])), old.result
    resource = google.add_repository(gcp["project"], "europe", "eu.gcr.io")
    new = _run(localenv, gcp, project=gcp["project"], location="europe", repository="eu.gcr.io")
    assert new.rc == 0 and new.changed and not new.result.get("warnings"), new.result
    assert _members(google.policy(resource), READER) == [gcp["node"]]
