"""registry_secret with ``provider: harbor_robot`` against the Harbor STAND-IN (tests/support/harbor_standin.py)
in front of a real CNCF distribution registry with token auth, and the real kube-apiserver and kubelet.

Harbor itself cannot run here. The stand-in serves the robot-account calls of Harbor's v2.0 API and
validates every request and answer against Harbor's own OpenAPI document with bravado-core; each test
asserts that nothing violated it. Its token realm grants pulls only to a robot that exists, is enabled,
not expired and presents its current secret, so a pull with the written Secret proves the credential.

Everything is read back independently: Secrets with the kubernetes client, robots from the stand-in's
store, pulls through the registry's token flow and through the real kubelet (``pull_canary``).
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.support.ansible_run import run_module
from tests.support.harbor_standin import ISSUER, SERVICE, HarborStandIn
from tests.support.images import PushError, RegistryClient, push_busybox
from tests.support.localenv import make_ca, start_registry

MODULE = "registrylink.k8s.registry_secret"
PROVIDERS = "registrylink.k8s/providers"
ADMIN, ADMIN_PW = "admin", "Harbor-" + secrets.token_hex(6)
PADMIN, PADMIN_PW = "team-lead", "Lead-" + secrets.token_hex(6)
GUEST, GUEST_PW = "guest", "Guest-" + secrets.token_hex(6)
PREFIX = "bot$"  # not Harbor's default robot$: the provider must read the name from the answer


@pytest.fixture(scope="module")
def harbor(tmp_path_factory, localenv):
    """The stand-in, a token-auth registry behind its realm holding ``team-a/busybox:1.35`` and
    ``team-b/busybox:1.35``, and the node's containerd told to trust the registry's CA."""
    tmp = tmp_path_factory.mktemp("harbor")
    ca = make_ca(tmp, "ca", cn="harbor stand-in CA")
    users = {ADMIN: (ADMIN_PW, "admin"), PADMIN: (PADMIN_PW, "projectAdmin"), GUEST: (GUEST_PW, "guest")}
    with HarborStandIn(tmp / "standin", ca, users=users, projects=["team-a", "team-b"], robot_prefix=PREFIX) as h:
        with start_registry(tmp / "reg", auth="token", ca=ca, token_realm=h.realm, token_service=SERVICE,
                            token_issuer=ISSUER, token_rootcertbundle=h.rootcertbundle) as reg:
            images = {}
            for project in ("team-a", "team-b"):
                images[project] = push_busybox(reg.url, repo=f"{project}/busybox", tag="1.35",
                                               auth=(ADMIN, ADMIN_PW), ca=ca.cert)[0]
            trust = _trust_on_node(localenv, reg.host, ca.cert)
            try:
                yield {"standin": h, "reg": reg, "ca": ca.cert, "images": images}
            finally:
                trust.unlink()
                trust.parent.rmdir()


def _trust_on_node(localenv, host, ca_cert):
    """containerd reads ``certs.d/<host>/hosts.toml`` at each pull: trust the stand-in's CA for the
    registry (and, through the same client, for the token realm)."""
    node = localenv.clusters[0]["node"]
    path = Path(node["workdir"]) / "node" / "containerd" / "certs.d" / host / "hosts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'server = "https://{host}"\n\n[host."https://{host}"]\n  capabilities = ["pull", "resolve"]\n'
                    f'  ca = {json.dumps(ca_cert)}\n')
    return path


@pytest.fixture(autouse=True)
def no_violations(harbor):
    """Every test: the stand-in saw only requests, and gave only answers, that Harbor's document allows."""
    h = harbor["standin"]
    before = len(h.violations)
    yield
    assert h.violations[before:] == []


@pytest.fixture
def core(kube_client):
    return k8s.CoreV1Api(kube_client("local-1"))


def entry(harbor, **extra):
    h = harbor["standin"]
    out = {"provider": "harbor_robot", "server": harbor["reg"].host, "api_url": h.url, "api_username": ADMIN,
           "api_password": ADMIN_PW, "api_ca_path": harbor["ca"], "project": "team-a"}
    out.update(extra)
    return out


def secret_entry(core, ns, name, host):
    secret = core.read_namespaced_secret(name, ns)
    config = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]).decode())
    return config["auths"][host], json.loads(secret.metadata.annotations[PROVIDERS]), secret


def read_or_none(core, ns, name):
    try:
        return core.read_namespaced_secret(name, ns)
    except k8s.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def can_pull(harbor, project, username, password):
    client = RegistryClient(harbor["reg"].url, auth=(username, password), ca=harbor["ca"])
    try:
        client.get_manifest(f"{project}/busybox", "1.35")
        return True
    except PushError:
        return False


def robots(harbor, project="team-a"):
    return sorted((r for r in harbor["standin"].robots.values() if r["project"] == project), key=lambda r: r["id"])


def test_check_real_rerun_rotation_absent(localenv, harbor, core, unique_ns):
    h = harbor["standin"]
    ns1, ns2 = unique_ns("hb-a"), unique_ns("hb-b")
    host = harbor["reg"].host
    args = {"name": "harbor-pull", "namespaces": [ns1], "registries": [entry(harbor)]}
    writes = len(h.writes())

    # check mode: reads Harbor, writes nothing anywhere
    run = run_module(localenv, MODULE, args, check=True, diff=True)
    assert run.rc == 0, run.output
    assert run.changed and run.result["results"][0]["action"] == "created"
    assert run.result["credentials"] == []
    assert len(h.writes()) == writes and robots(harbor) == []
    assert read_or_none(core, ns1, "harbor-pull") is None

    # real: one robot, its name read from Harbor's answer (custom prefix), its secret in the Secret
    run = run_module(localenv, MODULE, args, diff=True)
    assert run.rc == 0 and run.changed, run.output
    made = robots(harbor)
    assert len(made) == 1
    robot = made[0]
    assert robot["name"].startswith(PREFIX + "team-a+rl-harbor-pull-")
    assert robot["permissions"] == [{"kind": "project", "namespace": "team-a",
                                     "access": [{"resource": "repository", "action": "pull"}]}]
    assert robot["duration"] == 30
    auth, records, _secret = secret_entry(core, ns1, "harbor-pull", host)
    assert auth["username"] == robot["name"] and auth["password"] == robot["secret"]
    assert records[0]["credential"] == {"id": robot["id"], "name": robot["name"]}
    assert run.result["credentials"] == [{"provider": "harbor_robot", "server": host, "name": robot["name"],
                                          "id": robot["id"], "action": "created"}]
    assert robot["secret"] not in run.output and ADMIN_PW not in run.output
    # the written credential pulls team-a, not team-b
    assert can_pull(harbor, "team-a", auth["username"], auth["password"])
    assert not can_pull(harbor, "team-b", auth["username"], auth["password"])

    # rerun: no new credential, no write at Harbor or in the cluster (one read of the robot)
    rv = core.read_namespaced_secret("harbor-pull", ns1).metadata.resource_version
    writes = len(h.writes())
    calls = len(h.calls)
    run = run_module(localenv, MODULE, args)
    assert run.rc == 0 and not run.changed, run.output
    assert len(h.writes()) == writes and len(robots(harbor)) == 1
    assert [c["operation"] for c in h.calls[calls:]] == ["GetRobotByID", "getProject", "ListRobot"]
    assert core.read_namespaced_secret("harbor-pull", ns1).metadata.resource_version == rv
    assert run.result["credentials"][0]["action"] == "kept"

    # a second namespace joins later: it gets the same robot (its secret copied from the first Secret)
    args2 = dict(args, namespaces=[ns1, ns2])
    run = run_module(localenv, MODULE, args2)
    assert run.rc == 0 and run.changed, run.output
    assert len(robots(harbor)) == 1 and len(h.writes()) == writes
    auth2 = secret_entry(core, ns2, "harbor-pull", host)[0]
    assert auth2 == auth
    assert run.result["summary"] == {"created": 1, "unchanged": 1}

    # rotation (refresh_before not shorter than the lifetime: every run rotates, with a warning):
    # same robot, new secret in both Secrets, pulls work with the new one, the old one is refused
    old_secret = robot["secret"]
    run = run_module(localenv, MODULE, dict(args2, refresh_before="30d"), diff=True)
    assert run.rc == 0 and run.changed, run.output
    assert "every run mints" in run.output
    assert len(robots(harbor)) == 1 and robots(harbor)[0]["id"] == robot["id"]
    new_secret = robots(harbor)[0]["secret"]
    assert new_secret != old_secret
    for ns in (ns1, ns2):
        got = secret_entry(core, ns, "harbor-pull", host)[0]
        assert got["password"] == new_secret and got["username"] == robot["name"]
    assert run.result["credentials"][0]["action"] == "rotated"
    assert can_pull(harbor, "team-a", robot["name"], new_secret)
    assert not can_pull(harbor, "team-a", robot["name"], old_secret)
    assert h.token_requests[-1]["refused"] and h.token_requests[-1]["why"] == "invalid robot secret"
    assert new_secret not in run.output and old_secret not in run.output

    # absent: check mode deletes nothing; then the Secrets and the robot are gone
    writes = len(h.writes())
    absent = {"name": "harbor-pull", "namespaces": [ns1, ns2], "state": "absent", "registries": [entry(harbor)]}
    run = run_module(localenv, MODULE, absent, check=True)
    assert run.rc == 0 and run.changed, run.output
    assert len(h.writes()) == writes and len(robots(harbor)) == 1
    assert read_or_none(core, ns1, "harbor-pull") is not None
    run = run_module(localenv, MODULE, absent)
    assert run.rc == 0 and run.changed, run.output
    assert robots(harbor) == []
    assert read_or_none(core, ns1, "harbor-pull") is None and read_or_none(core, ns2, "harbor-pull") is None
    assert run.result["credentials"] == [{"provider": "harbor_robot", "server": host, "name": robot["name"],
                                          "id": robot["id"], "action": "deleted"}]
    assert not can_pull(harbor, "team-a", robot["name"], new_secret)
    run = run_module(localenv, MODULE, absent)
    assert run.rc == 0 and not run.changed, run.output


def _canary(localenv, harbor, ns, image, pull_secrets):
    params = {"namespace": ns, "image": image, "registry_ca_path": harbor["ca"], "timeout": 90,
              "pull_secrets": pull_secrets}
    return run_module(localenv, "registrylink.k8s.pull_canary", params)


def test_kubelet_pulls_with_the_minted_robot_and_after_rotation(localenv, harbor, core, unique_ns):
    """The real kubelet pulls with the written Secret; after a rotation it pulls with the new secret,
    and a Secret still holding the old secret is refused by the realm (401 from the kubelet)."""
    h = harbor["standin"]
    ns, stale_ns = unique_ns("hb-kubelet"), unique_ns("hb-stale")
    host = harbor["reg"].host
    image = harbor["images"]["team-a"]
    args = {"name": "harbor-kubelet", "namespaces": [ns], "registries": [entry(harbor)]}
    try:
        run = run_module(localenv, MODULE, args)
        assert run.rc == 0 and run.changed, run.output
        run = _canary(localenv, harbor, ns, image, ["harbor-kubelet"])
        (item,) = run.result["results"]
        assert item["verdict"] == "pulled", json.dumps(item, indent=1)
        old = secret_entry(core, ns, "harbor-kubelet", host)[0]
        # a copy of the old credentials in another namespace, written by hand (not the module's)
        config = {"auths": {host: old}}
        core.create_namespaced_secret(stale_ns, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="old-robot"), type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}))

        run = run_module(localenv, MODULE, dict(args, refresh_before="30d"))
        assert run.rc == 0 and run.result["credentials"][0]["action"] == "rotated", run.output
        new = secret_entry(core, ns, "harbor-kubelet", host)[0]
        assert new["password"] != old["password"] and new["username"] == old["username"]
        run = _canary(localenv, harbor, ns, image, ["harbor-kubelet"])
        (item,) = run.result["results"]
        assert item["verdict"] == "pulled", json.dumps(item, indent=1)
        refused = len([t for t in h.token_requests if t["refused"]])
        run = _canary(localenv, harbor, stale_ns, image, ["old-robot"])
        (item,) = run.result["results"]
        # containerd reports the realm's 401 as such, or, when it retries the token request without the
        # refused credentials, as the registry's insufficient_scope for the anonymous token
        assert item["verdict"] == "pull_failed", item
        assert ("401 Unauthorized" in item["kubelet_message"]
                or "insufficient_scope" in item["kubelet_message"]), item["kubelet_message"]
        stale = [t for t in h.token_requests if t["refused"]][refused:]
        assert stale and all(t["user"] == old["username"] and t["why"] == "invalid robot secret" for t in stale)
    finally:
        run = run_module(localenv, MODULE, dict(args, state="absent"))
        assert run.rc == 0, run.output
    assert robots(harbor) == []


def _no_writes_and_no_secret(harbor, core, ns, writes, name):
    assert len(harbor["standin"].writes()) == writes
    assert read_or_none(core, ns, name) is None


ERRORS = [
    # (case, entry overrides, fault to inject, words the message must hold)
    ("403_no_permission", {"api_username": GUEST, "api_password": GUEST_PW}, None,
     ["HTTP 403", "may not create robot account", "project admin", "team-a"]),
    ("401_wrong_password", {"api_password": "Wrong-" + ADMIN_PW}, None,
     ["HTTP 401", "check api_username and api_password"]),
    ("404_no_project", {"project": "no-such-project"}, None, ["project no-such-project does not exist"]),
    ("400_invalid_duration", {}, ("CreateRobot", 400, "bad request error duration input: 30"),
     ["HTTP 400", "bad request error duration input", "nothing was changed"]),
]


@pytest.mark.parametrize("case, overrides, fault, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_server_errors_are_clear_and_write_nothing(localenv, harbor, core, unique_ns, case, overrides, fault, words):
    h = harbor["standin"]
    ns = unique_ns("hb-err")
    writes = len(h.writes())
    if fault:
        h.fail_next[fault[0]] = (fault[1], fault[2])
    args = {"name": "harbor-err", "namespaces": [ns], "registries": [entry(harbor, **overrides)]}
    run = run_module(localenv, MODULE, args, diff=True, verbosity=3)
    assert run.rc != 0 or run.failed, run.output
    msg = run.result["msg"]
    for word in words:
        assert word in msg, msg
    assert "Traceback" not in run.output
    assert ADMIN_PW not in run.output and GUEST_PW not in run.output
    _no_writes_and_no_secret(harbor, core, ns, writes, "harbor-err")
    assert h.fail_next == {}


def test_409_name_taken_by_someone_else(localenv, harbor, core, unique_ns):
    """A robot of that name that this collection did not create (for this Secret and cluster) is
    never adopted or rotated: the task fails naming credential_name, and nothing is written."""
    import requests
    h = harbor["standin"]
    ns = unique_ns("hb-409")
    resp = requests.post(h.url + "/api/v2.0/robots", auth=(ADMIN, ADMIN_PW), verify=harbor["ca"], json={
        "name": "shared-puller", "description": "made by hand", "level": "project", "duration": 5,
        "permissions": [{"kind": "project", "namespace": "team-a",
                         "access": [{"resource": "repository", "action": "pull"}]}]})
    assert resp.status_code == 201, resp.text
    theirs = resp.json()
    writes = len(h.writes())
    try:
        args = {"name": "harbor-409", "namespaces": [ns], "registries": [entry(harbor, credential_name="shared-puller")]}
        run = run_module(localenv, MODULE, args)
        assert run.failed, run.output
        msg = run.result["msg"]
        assert "HTTP 409" in msg and "already exists" in msg and "credential_name" in msg, msg
        _no_writes_and_no_secret(harbor, core, ns, writes, "harbor-409")
        assert h.robots[theirs["id"]]["secret"] == theirs["secret"]  # not rotated
        assert "CreateRobot 409" in h.undocumented
    finally:
        requests.delete(f"{h.url}/api/v2.0/robots/{theirs['id']}", auth=(ADMIN, ADMIN_PW), verify=harbor["ca"])


def test_no_secret_at_vvv_diff_and_orphans_are_cleaned(localenv, harbor, core, unique_ns):
    """-vvv --diff shows no robot secret nor API password, in create and rotation; a changed
    credential_name mints a new robot and deletes the one no Secret uses any more; a robot still
    named by a Secret outside the selection is kept."""
    h = harbor["standin"]
    ns, other = unique_ns("hb-vvv"), unique_ns("hb-oth")
    args = {"name": "harbor-vvv", "namespaces": [ns], "registries": [entry(harbor)]}
    try:
        run = run_module(localenv, MODULE, args, diff=True, verbosity=3)
        assert run.rc == 0 and run.changed, run.output
        first = robots(harbor)[0]
        run2 = run_module(localenv, MODULE, dict(args, refresh_before="30d"), diff=True, verbosity=3)
        assert run2.rc == 0 and run2.changed, run2.output
        rotated = robots(harbor)[0]["secret"]
        for out in (run.output, run2.output):
            for value in (first["secret"], rotated, ADMIN_PW, base64.b64encode(
                    f"{first['name']}:{first['secret']}".encode()).decode(), base64.b64encode(
                    f"{first['name']}:{rotated}".encode()).decode()):
                assert value not in out
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.output  # -vvv really printed the arguments

        # the same Secret name in another namespace, outside the next task's selection
        run = run_module(localenv, MODULE, dict(args, namespaces=[other]))
        assert run.rc == 0 and run.result["credentials"][0]["action"] == "kept", run.output
        # a new credential_name for the first namespace only: new robot, the old one is still used
        # by the Secret in `other`, so it is kept
        run = run_module(localenv, MODULE, dict(args, registries=[entry(harbor, credential_name="renamed")]))
        assert run.rc == 0, run.output
        names = sorted(r["name"] for r in robots(harbor))
        assert names == sorted([first["name"], PREFIX + "team-a+renamed"])
        kept = [c for c in run.result["credentials"] if c["name"] == first["name"]]
        assert kept and kept[0]["action"] == "kept" and "outside" in kept[0]["msg"]
        # both namespaces move to the new name: the old robot is no longer used and is deleted
        both = dict(args, namespaces=[ns, other], registries=[entry(harbor, credential_name="renamed")])
        run = run_module(localenv, MODULE, both)
        assert run.rc == 0, run.output
        assert [r["name"] for r in robots(harbor)] == [PREFIX + "team-a+renamed"]
        assert {"provider": "harbor_robot", "server": harbor["reg"].host, "name": first["name"],
                "id": first["id"], "action": "deleted"} in run.result["credentials"]
        # rerun: nothing to do
        run = run_module(localenv, MODULE, both)
        assert run.rc == 0 and not run.changed, run.output
    finally:
        run = run_module(localenv, MODULE, dict(args, namespaces=[ns, other], state="absent"))
        assert run.rc == 0, run.output
    assert robots(harbor) == []


def system_entry(harbor, **extra):
    out = entry(harbor, projects=["team-a", "team-b"], **extra)
    del out["project"]
    return out


def test_system_robot_over_two_projects_that_never_expires(localenv, harbor, core, unique_ns):
    """projects: a system robot (level system, one pull permission per project, no project in its name);
    credential_lifetime never: duration -1 at Harbor, no expiry recorded, a rerun with any refresh_before keeps
    it; a project admin may not create one; absent deletes it."""
    h = harbor["standin"]
    ns = unique_ns("hb-sys")
    host = harbor["reg"].host
    args = {"name": "harbor-sys", "namespaces": [ns], "registries": [system_entry(harbor, credential_lifetime="never")]}

    # a project admin may not create system robots: clear message, nothing written
    writes = len(h.writes())
    run = run_module(localenv, MODULE, dict(args, registries=[system_entry(
        harbor, credential_lifetime="never", api_username=PADMIN, api_password=PADMIN_PW)]), verbosity=3)
    assert run.failed and "HTTP 403" in run.result["msg"] and "system admin" in run.result["msg"], run.output
    assert PADMIN_PW not in run.output
    _no_writes_and_no_secret(harbor, core, ns, writes, "harbor-sys")

    try:
        run = run_module(localenv, MODULE, args, diff=True)
        assert run.rc == 0 and run.changed, run.output
        made = [r for r in h.robots.values() if r["level"] == "system"]
        assert len(made) == 1
        robot = made[0]
        assert robot["name"].startswith(PREFIX + "rl-harbor-sys-") and "+" not in robot["name"]
        assert robot["duration"] == -1
        assert sorted(p["namespace"] for p in robot["permissions"]) == ["team-a", "team-b"]
        auth, records, secret = secret_entry(core, ns, "harbor-sys", host)
        assert auth["username"] == robot["name"] and auth["password"] == robot["secret"]
        assert records[0]["expires_at"] is None and records[0]["credential"]["id"] == robot["id"]
        assert "registrylink.k8s/expires-at" not in (secret.metadata.annotations or {})
        row = run.result["results"][0]
        assert (row["expires_at"], row["expires_in"], row["time_left"]) == (None, None, "never")
        assert can_pull(harbor, "team-a", auth["username"], auth["password"])
        assert can_pull(harbor, "team-b", auth["username"], auth["password"])

        # rerun, even with a refresh_before of ten years: kept, nothing written anywhere
        writes = len(h.writes())
        rv = core.read_namespaced_secret("harbor-sys", ns).metadata.resource_version
        run = run_module(localenv, MODULE, dict(args, refresh_before="3650d"))
        assert run.rc == 0 and not run.changed, run.output
        assert len(h.writes()) == writes
        assert core.read_namespaced_secret("harbor-sys", ns).metadata.resource_version == rv
        assert run.result["credentials"][0]["action"] == "kept"
        assert "every run mints" not in run.output  # refresh_before does not apply to a robot without expiry
    finally:
        absent = dict(args, state="absent")
        run = run_module(localenv, MODULE, absent)
    assert run.rc == 0, run.output
    assert [r for r in h.robots.values() if r["level"] == "system"] == []
    assert read_or_none(core, ns, "harbor-sys") is None


def test_namespaced_mode_names_the_right_to_read_the_cluster_identity(localenv, harbor, core, kube_client, unique_ns,
                                                                      tmp_path):
    """A user bound only in its namespaces (docs/rbac/registry_secret-namespaced-write.yml with RoleBindings) cannot
    read kube-system's UID, the owner of the minted robots: the task fails naming get namespaces/kube-system and the
    ClusterRole that grants it, before anything is written at Harbor or in the cluster; with that one rule it works."""
    import time
    from tests.support.rbac import Grant
    api = kube_client("local-1")
    rbac = k8s.RbacAuthorizationV1Api(api)
    h = harbor["standin"]
    ns = unique_ns("hb-nsm")
    g = Grant(localenv, api, unique_ns("hb-nsm-id"), "docs/rbac/registry_secret-namespaced-write.yml", tmp_path,
              namespaces=[ns])
    name = "registrylink-cluster-identity-" + secrets.token_hex(3)
    args = {"name": "harbor-nsm", "namespaces": [ns], "registries": [entry(harbor, credential_name="nsm-" + name[-6:])],
            "kubeconfig": g.kubeconfig, "context": "bot"}
    isolated = {"K8S_AUTH_KUBECONFIG": "", "KUBECONFIG": "/nonexistent", "K8S_AUTH_CONTEXT": ""}
    try:
        writes = len(h.writes())
        run = run_module(localenv, MODULE, args, extra_env=isolated)
        assert run.failed, run.output
        msg = run.result["msg"]
        assert "provider harbor_robot records the cluster's identity" in msg, msg
        assert "Grant get on namespaces/kube-system" in msg and "resourceNames: [kube-system]" in msg, msg
        assert "Traceback" not in run.output
        _no_writes_and_no_secret(harbor, core, ns, writes, "harbor-nsm")

        # the fix the message names: get on namespaces/kube-system only
        rbac.create_cluster_role(k8s.V1ClusterRole(metadata=k8s.V1ObjectMeta(name=name), rules=[k8s.V1PolicyRule(
            api_groups=[""], resources=["namespaces"], resource_names=["kube-system"], verbs=["get"])]))
        rbac.create_cluster_role_binding(k8s.V1ClusterRoleBinding(
            metadata=k8s.V1ObjectMeta(name=name),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=g.sa, namespace=g.sa_namespace)]))
        deadline = time.monotonic() + 20
        while True:
            review = k8s.AuthorizationV1Api(api).create_subject_access_review(k8s.V1SubjectAccessReview(
                spec=k8s.V1SubjectAccessReviewSpec(
                    user=f"system:serviceaccount:{g.sa_namespace}:{g.sa}",
                    groups=["system:serviceaccounts", "system:authenticated"],
                    resource_attributes=k8s.V1ResourceAttributes(group="", resource="namespaces", verb="get",
                                                                 name="kube-system"))))
            if review.status.allowed:
                break
            assert time.monotonic() < deadline, "the cluster identity rule is not in effect"
            time.sleep(0.2)
        run = run_module(localenv, MODULE, args, extra_env=isolated)
        assert not run.failed, run.result.get("msg")
        assert run.result["credentials"][0]["action"] == "created"
        uid = core.read_namespace("kube-system").metadata.uid
        robot = h.robots[run.result["credentials"][0]["id"]]
        assert f"owner=harbor-nsm@{uid}" in robot["description"]
        auth = secret_entry(core, ns, "harbor-nsm", harbor["reg"].host)[0]
        assert auth["username"] == robot["name"]
    finally:
        cleanup = run_module(localenv, MODULE, dict(args, state="absent", kubeconfig=None, context=None))
        assert cleanup.rc == 0, cleanup.output
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            try:
                delete(name)
            except k8s.exceptions.ApiException as exc:
                if exc.status != 404:
                    raise
        g.close()
