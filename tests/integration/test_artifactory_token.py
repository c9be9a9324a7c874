"""registry_secret with ``provider: artifactory_token`` against the Artifactory STAND-IN
(tests/support/artifactory_standin.py) in front of a real CNCF distribution registry with token auth
(the repository path access method: ``<host>/<repo key>/<image>``), and the real kube-apiserver.

Artifactory cannot run here. The stand-in serves the Access API token calls as documented, and its
Docker realm grants pulls only to a user presenting one of its stored, unexpired access tokens.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from kubernetes import client as k8s

from tests.support.ansible_run import run_module
from tests.support.artifactory_standin import ISSUER, SERVICE, ArtifactoryStandIn
from tests.support.images import PushError, RegistryClient, push_busybox
from tests.support.localenv import make_ca, start_registry

MODULE = "registrylink.k8s.registry_secret"
ADMIN_TOKEN = "eyJadmin" + secrets.token_hex(10)
DEV_TOKEN = "eyJdev" + secrets.token_hex(10)
ADMIN_PW = "Admin-" + secrets.token_hex(6)


@pytest.fixture(scope="module")
def artifactory(tmp_path_factory, localenv):
    tmp = tmp_path_factory.mktemp("artifactory")
    ca = make_ca(tmp, "ca", cn="artifactory stand-in CA")
    with ArtifactoryStandIn(tmp / "standin", ca, bearer={ADMIN_TOKEN: ("admin", True), DEV_TOKEN: ("dev", False)},
                            passwords={"admin": ADMIN_PW, "k8s-puller": "unused-" + secrets.token_hex(4),
                                       "dev": "unused-" + secrets.token_hex(4)},
                            repos=["docker-local"]) as a:
        with start_registry(tmp / "reg", auth="token", ca=ca, token_realm=a.realm("docker-local"),
                            token_service=SERVICE, token_issuer=ISSUER, token_rootcertbundle=a.rootcertbundle) as reg:
            push_busybox(reg.url, repo="docker-local/busybox", tag="1.35", auth=("admin", ADMIN_PW), ca=ca.cert)
            yield {"standin": a, "reg": reg, "ca": ca.cert}


@pytest.fixture(autouse=True)
def no_violations(artifactory):
    a = artifactory["standin"]
    before = len(a.violations)
    yield
    assert a.violations[before:] == []


@pytest.fixture
def core(kube_client):
    return k8s.CoreV1Api(kube_client("local-1"))


def entry(artifactory, **extra):
    out = {"provider": "artifactory_token", "server": artifactory["reg"].host, "api_url": artifactory["standin"].url,
           "api_token": ADMIN_TOKEN, "api_ca_path": artifactory["ca"], "token_username": "k8s-puller"}
    out.update(extra)
    return out


def secret_auth(core, ns, name, host):
    secret = core.read_namespaced_secret(name, ns)
    return json.loads(base64.b64decode(secret.data[".dockerconfigjson"]).decode())["auths"][host]


def read_or_none(core, ns, name):
    try:
        return core.read_namespaced_secret(name, ns)
    except k8s.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def can_pull(artifactory, username, password):
    client = RegistryClient(artifactory["reg"].url, auth=(username, password), ca=artifactory["ca"])
    try:
        client.get_manifest("docker-local/busybox", "1.35")
        return True
    except PushError:
        return False


def test_check_real_rerun_rotation_absent(localenv, artifactory, core, unique_ns):
    a = artifactory["standin"]
    ns1, ns2 = unique_ns("af-a"), unique_ns("af-b")
    host = artifactory["reg"].host
    args = {"name": "af-pull", "namespaces": [ns1], "registries": [entry(artifactory)]}

    run = run_module(localenv, MODULE, args, check=True, diff=True)
    assert run.rc == 0 and run.changed, run.output
    assert a.writes() == [] and a.tokens == {} and read_or_none(core, ns1, "af-pull") is None

    run = run_module(localenv, MODULE, args, diff=True, verbosity=3)
    assert run.rc == 0 and run.changed, run.output
    (token,) = a.tokens.values()
    assert token["username"] == "k8s-puller" and "registrylink.k8s owner=af-pull@" in token["description"]
    assert 29 * 86400 < token["expiry"] - token["issued_at"] <= 30 * 86400
    auth = secret_auth(core, ns1, "af-pull", host)
    assert auth["username"] == "k8s-puller" and auth["password"] == token["access_token"]
    assert token["access_token"] not in run.output and ADMIN_TOKEN not in run.output
    assert can_pull(artifactory, auth["username"], auth["password"])

    writes = len(a.writes())
    run = run_module(localenv, MODULE, args)
    assert run.rc == 0 and not run.changed, run.output
    run = run_module(localenv, MODULE, dict(args, namespaces=[ns1, ns2]))
    assert run.rc == 0 and run.result["summary"] == {"created": 1, "unchanged": 1}, run.output
    assert len(a.writes()) == writes and len(a.tokens) == 1
    assert secret_auth(core, ns2, "af-pull", host) == auth

    run = run_module(localenv, MODULE, dict(args, namespaces=[ns1, ns2], refresh_before="30d"), diff=True,
                     verbosity=3)
    assert run.rc == 0 and run.changed, run.output
    (new,) = a.tokens.values()
    assert new["token_id"] != token["token_id"]
    assert [c["action"] for c in run.result["credentials"]] == ["created", "deleted"]
    for ns in (ns1, ns2):
        assert secret_auth(core, ns, "af-pull", host)["password"] == new["access_token"]
    assert can_pull(artifactory, "k8s-puller", new["access_token"])
    assert not can_pull(artifactory, "k8s-puller", token["access_token"])
    for value in (new["access_token"], token["access_token"], ADMIN_TOKEN):
        assert value not in run.output

    absent = {"name": "af-pull", "namespaces": [ns1, ns2], "state": "absent", "registries": [entry(artifactory)]}
    run = run_module(localenv, MODULE, absent, check=True)
    assert run.rc == 0 and len(a.tokens) == 1, run.output
    run = run_module(localenv, MODULE, absent)
    assert run.rc == 0 and run.changed, run.output
    assert a.tokens == {} and read_or_none(core, ns1, "af-pull") is None
    assert not can_pull(artifactory, "k8s-puller", new["access_token"])


ERRORS = [
    ("403_other_user", {"api_token": DEV_TOKEN}, None, ["HTTP 403", "may not create tokens for k8s-puller"]),
    ("401_bad_token", {"api_token": "eyJwrong"}, None, ["HTTP 401", "Artifactory refused api_token"]),
    ("400_invalid", {}, ("POST", 400, "expires_in exceeds the maximum allowed"),
     ["HTTP 400", "expires_in exceeds", "nothing was changed"]),
]


@pytest.mark.parametrize("case, overrides, fault, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_server_errors_are_clear_and_write_nothing(localenv, artifactory, core, unique_ns, case, overrides, fault,
                                                   words):
    a = artifactory["standin"]
    ns = unique_ns("af-err")
    writes = len(a.writes())
    if fault:
        a.fail_next[fault[0]] = (fault[1], fault[2])
    run = run_module(localenv, MODULE, {"name": "af-err", "namespaces": [ns],
                                        "registries": [entry(artifactory, **overrides)]}, diff=True, verbosity=3)
    assert run.failed, run.output
    for word in words:
        assert word in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output and ADMIN_TOKEN not in run.output and DEV_TOKEN not in run.output
    assert len(a.writes()) == writes and read_or_none(core, ns, "af-err") is None


def test_access_method_maps_the_registry_key_and_a_mismatched_image_writes_nothing(localenv, artifactory, core,
                                                                                   unique_ns):
    """access_method repository_path with repository_key: the Secret's key is the host and the token pulls
    <host>/docker-local/...; an image of another shape (another repository, or the subdomain method's host) fails
    naming images before any token is created or any Secret written."""
    a = artifactory["standin"]
    host = artifactory["reg"].host
    ns = unique_ns("af-am")
    method = {"access_method": "repository_path", "repository_key": "docker-local"}
    for bad in ({"images": [f"{host}/docker-remote/busybox:1.35"]},
                {"access_method": "subdomain", "server": "artifactory.example.test",
                 "images": ["artifactory.example.test/docker-local/busybox:1.35"]}):
        writes = len(a.writes())
        run = run_module(localenv, MODULE, {"name": "af-am", "namespaces": [ns],
                                            "registries": [entry(artifactory, **dict(method, **bad))]}, verbosity=3)
        assert run.failed, run.output
        assert run.result["msg"].startswith("images: ") or "images: " in run.result["msg"], run.result["msg"]
        assert bad["images"][0] in run.result["msg"] and "access method" in run.result["msg"]
        assert "Traceback" not in run.output and ADMIN_TOKEN not in run.output
        assert len(a.writes()) == writes and read_or_none(core, ns, "af-am") is None
    args = {"name": "af-am", "namespaces": [ns],
            "registries": [entry(artifactory, images=[f"{host}/docker-local/busybox:1.35"], **method)]}
    try:
        run = run_module(localenv, MODULE, args)
        assert run.rc == 0 and run.changed, run.output
        auth = secret_auth(core, ns, "af-am", host)
        assert auth["username"] == "k8s-puller"
        assert can_pull(artifactory, auth["username"], auth["password"])
        # another image list is no reason to mint again
        writes = len(a.writes())
        run = run_module(localenv, MODULE, dict(args, registries=[entry(
            artifactory, images=[f"{host}/docker-local/other:2"], **method)]))
        assert run.rc == 0 and not run.changed, run.output
        assert len(a.writes()) == writes
    finally:
        run_module(localenv, MODULE, dict(args, state="absent"))
    assert read_or_none(core, ns, "af-am") is None
