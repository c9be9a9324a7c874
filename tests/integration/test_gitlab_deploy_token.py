"""registry_secret with ``provider: gitlab_deploy_token`` against the GitLab STAND-IN
(tests/support/gitlab_standin.py) in front of a real CNCF distribution registry with token auth, and the
real kube-apiserver and kubelet.

GitLab cannot run here. The stand-in serves the deploy-token calls of GitLab's REST API as documented,
and its ``/jwt/auth`` realm grants pulls only to a deploy token that exists, is not revoked or expired
and has ``read_registry``, so a pull with the written Secret proves the credential.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.support.ansible_run import run_module
from tests.support.gitlab_standin import ISSUER, SERVICE, GitlabStandIn
from tests.support.images import PushError, RegistryClient, push_busybox
from tests.support.localenv import make_ca, start_registry

MODULE = "registrylink.k8s.registry_secret"
PROVIDERS = "registrylink.k8s/providers"
MAINTAINER = "glpat-" + secrets.token_hex(10)
DEVELOPER = "glpat-" + secrets.token_hex(10)
ADMIN = ("root", "Root-" + secrets.token_hex(6))


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory, localenv):
    tmp = tmp_path_factory.mktemp("gitlab")
    ca = make_ca(tmp, "ca", cn="gitlab stand-in CA")
    tokens = {MAINTAINER: ("maint", {"team/app": "maintainer", "team": "owner"}),
              DEVELOPER: ("dev", {"team/app": "developer"})}
    with GitlabStandIn(tmp / "standin", ca, tokens=tokens, projects=["team/app", "team/other", "else/thing"],
                       groups=["team", "else"], admin=ADMIN) as g:
        with start_registry(tmp / "reg", auth="token", ca=ca, token_realm=g.realm, token_service=SERVICE,
                            token_issuer=ISSUER, token_rootcertbundle=g.rootcertbundle) as reg:
            images = {}
            for project in ("team/app", "team/other", "else/thing"):
                images[project] = push_busybox(reg.url, repo=f"{project}/busybox", tag="1.35", auth=ADMIN,
                                               ca=ca.cert)[0]
            node = localenv.clusters[0]["node"]
            trust = Path(node["workdir"]) / "node" / "containerd" / "certs.d" / reg.host / "hosts.toml"
            trust.parent.mkdir(parents=True, exist_ok=True)
            trust.write_text(f'server = "https://{reg.host}"\n\n[host."https://{reg.host}"]\n'
                             f'  capabilities = ["pull", "resolve"]\n  ca = {json.dumps(ca.cert)}\n')
            try:
                yield {"standin": g, "reg": reg, "ca": ca.cert, "images": images}
            finally:
                trust.unlink()
                trust.parent.rmdir()


@pytest.fixture(autouse=True)
def no_violations(gitlab):
    g = gitlab["standin"]
    before = len(g.violations)
    yield
    assert g.violations[before:] == []


@pytest.fixture
def core(kube_client):
    return k8s.CoreV1Api(kube_client("local-1"))


def entry(gitlab, **extra):
    out = {"provider": "gitlab_deploy_token", "server": gitlab["reg"].host, "api_url": gitlab["standin"].url,
           "api_token": MAINTAINER, "api_ca_path": gitlab["ca"], "project": "team/app"}
    out.update(extra)
    return out


def secret_auth(core, ns, name, host):
    secret = core.read_namespaced_secret(name, ns)
    config = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]).decode())
    return config["auths"][host], json.loads(secret.metadata.annotations[PROVIDERS])


def read_or_none(core, ns, name):
    try:
        return core.read_namespaced_secret(name, ns)
    except k8s.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def can_pull(gitlab, project, username, password):
    client = RegistryClient(gitlab["reg"].url, auth=(username, password), ca=gitlab["ca"])
    try:
        client.get_manifest(f"{project}/busybox", "1.35")
        return True
    except PushError:
        return False


def test_check_real_rerun_rotation_kubelet_absent(localenv, gitlab, core, unique_ns):
    g = gitlab["standin"]
    ns1, ns2 = unique_ns("gl-a"), unique_ns("gl-b")
    host = gitlab["reg"].host
    args = {"name": "gitlab-pull", "namespaces": [ns1], "registries": [entry(gitlab)]}

    run = run_module(localenv, MODULE, args, check=True, diff=True)
    assert run.rc == 0 and run.changed, run.output
    assert g.writes() == [] and g.active() == [] and read_or_none(core, ns1, "gitlab-pull") is None

    run = run_module(localenv, MODULE, args, diff=True, verbosity=3)
    assert run.rc == 0 and run.changed, run.output
    (token,) = g.active()
    assert token["scopes"] == ["read_registry"] and token["username"] == f"gitlab+deploy-token-{token['id']}"
    assert token["name"].startswith("rl-gitlab-pull (registrylink.k8s owner=gitlab-pull@")
    auth, records = secret_auth(core, ns1, "gitlab-pull", host)
    assert auth["username"] == token["username"] and auth["password"] == token["token"]
    assert records[0]["credential"] == {"id": token["id"], "name": token["username"]}
    assert token["token"] not in run.output and MAINTAINER not in run.output
    assert can_pull(gitlab, "team/app", auth["username"], auth["password"])
    assert not can_pull(gitlab, "team/other", auth["username"], auth["password"])
    # the real kubelet pulls with the written Secret
    canary = run_module(localenv, "registrylink.k8s.pull_canary", {
        "namespace": ns1, "image": gitlab["images"]["team/app"], "registry_ca_path": gitlab["ca"], "timeout": 90,
        "pull_secrets": ["gitlab-pull"]})
    assert canary.result["results"][0]["verdict"] == "pulled", canary.output[-3000:]

    # rerun, and a namespace that joins: the same deploy token, no write at GitLab
    writes = len(g.writes())
    run = run_module(localenv, MODULE, args)
    assert run.rc == 0 and not run.changed, run.output
    run = run_module(localenv, MODULE, dict(args, namespaces=[ns1, ns2]))
    assert run.rc == 0 and run.result["summary"] == {"created": 1, "unchanged": 1}, run.output
    assert len(g.writes()) == writes and len(g.active()) == 1
    assert secret_auth(core, ns2, "gitlab-pull", host)[0] == auth

    # rotation: a new token in both Secrets, then the old one revoked; the old one is refused
    run = run_module(localenv, MODULE, dict(args, namespaces=[ns1, ns2], refresh_before="30d"), diff=True,
                     verbosity=3)
    assert run.rc == 0 and run.changed, run.output
    (new,) = g.active()
    assert new["id"] != token["id"] and g.deploy_tokens[token["id"]]["revoked"]
    for ns in (ns1, ns2):
        assert secret_auth(core, ns, "gitlab-pull", host)[0]["password"] == new["token"]
    assert [c["action"] for c in run.result["credentials"]] == ["created", "deleted"]
    assert can_pull(gitlab, "team/app", new["username"], new["token"])
    assert not can_pull(gitlab, "team/app", token["username"], token["token"])
    assert g.token_requests[-1]["why"] == "deploy token revoked"
    for value in (new["token"], token["token"], MAINTAINER):
        assert value not in run.output

    # absent: check mode revokes nothing; then Secrets gone and the token revoked
    absent = {"name": "gitlab-pull", "namespaces": [ns1, ns2], "state": "absent", "registries": [entry(gitlab)]}
    run = run_module(localenv, MODULE, absent, check=True)
    assert run.rc == 0 and len(g.active()) == 1, run.output
    run = run_module(localenv, MODULE, absent)
    assert run.rc == 0 and run.changed, run.output
    assert g.active() == [] and read_or_none(core, ns1, "gitlab-pull") is None
    assert run.result["credentials"][0]["action"] == "deleted"
    assert not can_pull(gitlab, "team/app", new["username"], new["token"])


def test_group_token_reads_every_project_of_the_group(localenv, gitlab, core, unique_ns):
    g = gitlab["standin"]
    ns = unique_ns("gl-grp")
    args = {"name": "gitlab-group", "namespaces": [ns], "registries": [entry(gitlab, project=None, group="team")]}
    try:
        run = run_module(localenv, MODULE, args)
        assert run.rc == 0 and run.changed, run.output
        auth = secret_auth(core, ns, "gitlab-group", gitlab["reg"].host)[0]
        assert [t["kind"] for t in g.active("group", "team")] == ["group"]
        assert can_pull(gitlab, "team/app", auth["username"], auth["password"])
        assert can_pull(gitlab, "team/other", auth["username"], auth["password"])
        assert not can_pull(gitlab, "else/thing", auth["username"], auth["password"])
    finally:
        run = run_module(localenv, MODULE, dict(args, state="absent"))
        assert run.rc == 0, run.output
    assert g.active("group", "team") == []


ERRORS = [
    ("403_developer", {"api_token": DEVELOPER}, None, ["HTTP 403", "Maintainer"]),
    ("401_bad_token", {"api_token": "glpat-wrong"}, None, ["HTTP 401", "GitLab refused api_token"]),
    ("404_no_project", {"project": "team/nope"}, None, ["HTTP 404", "project team/nope does not exist"]),
    ("400_invalid", {}, ("POST", 400, {"expires_at": ["is invalid"]}),
     ["HTTP 400", "expires_at", "nothing was changed"]),
]


@pytest.mark.parametrize("case, overrides, fault, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_server_errors_are_clear_and_write_nothing(localenv, gitlab, core, unique_ns, case, overrides, fault, words):
    g = gitlab["standin"]
    ns = unique_ns("gl-err")
    writes = len(g.writes())
    if fault:
        g.fail_next[fault[0]] = (fault[1], fault[2])
    args = {"name": "gitlab-err", "namespaces": [ns], "registries": [entry(gitlab, **overrides)]}
    run = run_module(localenv, MODULE, args, diff=True, verbosity=3)
    assert run.failed, run.output
    for word in words:
        assert word in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output
    for value in (MAINTAINER, DEVELOPER):
        assert value not in run.output
    assert len(g.writes()) == writes and read_or_none(core, ns, "gitlab-err") is None
    assert g.fail_next == {}
