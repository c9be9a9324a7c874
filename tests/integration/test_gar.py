"""Provider ``gar`` of registry_secret: Google OAuth2 access tokens for Artifact Registry, end to end.

Google cannot run here. ``tests/support/gcp_standin.py`` is a local stand-in of the documented
OAuth2 token endpoint and IAM policies, and its Artifact Registry token realm sits in front of a
real distribution registry with token auth: a token only pulls when the stand-in's IAM policy
gives its service account ``roles/artifactregistry.reader`` on the repository or the project.
The module mints the token with google-auth from a real service account key file (RS256 JWT
grant against the stand-in's ``/token``); the Secret is read back with the kubernetes client, the
token is used by a real registry client, and the real kubelet pulls with it (pull_canary).
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import shutil
from pathlib import Path

import pytest
from kubernetes import client as k

from tests.support.ansible_run import run_module
from tests.support.gcp_standin import ArtifactRegistryRealm, GoogleStandIn
from tests.support.images import manifest_digest, push_busybox
from tests.support.localenv import make_ca, start_registry

LOCATION = "europe-west1"
EXPIRES = "registrylink.k8s/expires-at"
PROVIDERS = "registrylink.k8s/providers"


@pytest.fixture(scope="module")
def gar(localenv, tmp_path_factory):
    """The stand-in, its realm, a token-auth registry holding ``PROJECT/team/busybox:1.35``, three
    service accounts (``puller``: reader on the repository, ``pusher``: writer, ``outsider``: nothing)
    with key files, and the node's containerd trusting the registry's CA."""
    tmp = tmp_path_factory.mktemp("gar")
    ca = make_ca(tmp, "gar-ca")
    project = "rl-gar-" + secrets.token_hex(3)
    info = {"tmp": tmp, "ca": ca.cert, "project": project}
    with GoogleStandIn(tmp / "google", ca) as google:
        google.add_project(project, "123456789012")
        repo = google.add_repository(project, LOCATION, "team")
        accounts = {}
        for name in ("puller", "pusher", "outsider"):
            sa = google.add_service_account(f"{name}@{project}.iam.gserviceaccount.com", project)
            accounts[name] = {"email": sa.email, "key_file": sa.write(tmp / f"{name}.json"), "sa": sa}
        google.grant(repo, "roles/artifactregistry.reader", "serviceAccount:" + accounts["puller"]["email"])
        google.grant(repo, "roles/artifactregistry.writer", "serviceAccount:" + accounts["pusher"]["email"])
        with ArtifactRegistryRealm(tmp / "realm", google, LOCATION, ca=ca, expires_in=300) as realm:
            with start_registry(tmp / "reg", auth="token", ca=ca, token_realm=realm.realm,
                                token_service=realm.service, token_issuer=realm.issuer,
                                token_rootcertbundle=realm.rootcertbundle) as reg:
                push_token = google.issue_token("serviceAccount:" + accounts["pusher"]["email"])
                image, digest = push_busybox(reg.url, repo=f"{project}/team/busybox",
                                             auth=("oauth2accesstoken", push_token), ca=ca.cert)
                # containerd reads certs.d on every pull: the node trusts this registry (and its realm) from now on
                hosts_dirs = []
                for cluster in localenv.clusters:
                    d = Path(cluster["node"]["workdir"]) / "node" / "containerd" / "certs.d" / reg.host
                    d.mkdir(parents=True, exist_ok=True)
                    (d / "hosts.toml").write_text(
                        f'server = "https://{reg.host}"\n\n[host."https://{reg.host}"]\n'
                        f'  capabilities = ["pull", "resolve"]\n  ca = {json.dumps(ca.cert)}\n')
                    hosts_dirs.append(d)
                info.update(google=google, realm=realm, reg=reg, accounts=accounts, image=image, digest=digest,
                            env={"REQUESTS_CA_BUNDLE": ca.cert})
                try:
                    yield info
                finally:
                    for d in hosts_dirs:
                        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def core(kube_client):
    return k.CoreV1Api(kube_client("local-1"))


def _args(gar, ns, account="puller", **kw):
    args = {"name": "gar-pull", "namespaces": [ns], "registries": [{
        "provider": "gar", "server": gar["reg"].host, "credentials_file": gar["accounts"][account]["key_file"]}]}
    args.update(kw)
    return args


def _secret(core, ns, name="gar-pull"):
    try:
        return core.read_namespaced_secret(name, ns)
    except k.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _entry(secret, key):
    config = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))
    return config["auths"][key]


def _token_posts(gar):
    return sum(1 for r in gar["google"].requests if r["path"] == "/token")


def _canary(localenv, gar, ns, **kw):
    params = {"namespace": ns, "image": [gar["image"]], "registry_ca_path": gar["ca"], "timeout": 90}
    params.update(kw)
    return run_module(localenv, "registrylink.k8s.pull_canary", params, extra_env=gar["env"])


def test_gar_token_check_real_rerun_pull_and_absent(localenv, gar, core, unique_ns):
    ns = unique_ns("gar")
    key = gar["reg"].host
    sa = "serviceAccount:" + gar["accounts"]["puller"]["email"]

    # check mode mints (read-only) but writes nothing
    posts = _token_posts(gar)
    check = run_module(localenv, "registrylink.k8s.registry_secret", _args(gar, ns), check=True, diff=True,
                       extra_env=gar["env"])
    assert check.rc == 0 and check.changed, check.output[-3000:]
    assert _secret(core, ns) is None
    assert _token_posts(gar) == posts + 1
    assert any("not an Artifact Registry host" in w for w in check.result.get("warnings", [])), check.result

    # real run: the Secret holds oauth2accesstoken + a token the stand-in issued to the key's account
    t0 = datetime.datetime.now(datetime.timezone.utc)
    real = run_module(localenv, "registrylink.k8s.registry_secret", _args(gar, ns), diff=True, verbosity=3,
                      extra_env=gar["env"])
    assert real.rc == 0 and real.changed, real.output[-3000:]
    secret = _secret(core, ns)
    entry = _entry(secret, key)
    assert entry["username"] == "oauth2accesstoken"
    token = entry["password"]
    assert gar["google"].token_principal(token) == sa
    assert base64.b64decode(entry["auth"]).decode() == "oauth2accesstoken:" + token
    expires = datetime.datetime.strptime(secret.metadata.annotations[EXPIRES], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    assert 3500 < (expires - t0).total_seconds() < 3700, expires
    (record,) = json.loads(secret.metadata.annotations[PROVIDERS])
    assert record["provider"] == "gar" and record["server"] == key
    # no token, key or auth at -vvv --diff
    key_text = json.loads(Path(gar["accounts"]["puller"]["key_file"]).read_text())["private_key"]
    for value in (token, entry["auth"], key_text.splitlines()[1]):
        assert value not in real.output and value not in json.dumps(real.result)

    # rerun: the token has 1h left (refresh_before 30m): nothing minted, nothing written
    posts = _token_posts(gar)
    again = run_module(localenv, "registrylink.k8s.registry_secret", _args(gar, ns), extra_env=gar["env"])
    assert again.rc == 0 and not again.changed, again.result
    assert _token_posts(gar) == posts
    assert _entry(_secret(core, ns), key)["password"] == token

    # a real registry client pulls the manifest with the Secret's credentials
    assert manifest_digest(gar["reg"].url, f"{gar['project']}/team/busybox", "1.35",
                           auth=("oauth2accesstoken", token), ca=gar["ca"]) == gar["digest"]

    # and the real kubelet pulls with it
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "gar-pull"}]})
    canary = _canary(localenv, gar, ns)
    (item,) = canary.result["results"]
    assert item["verdict"] == "pulled", json.dumps(item, indent=1)

    # absent: deleted, then unchanged
    gone = run_module(localenv, "registrylink.k8s.registry_secret", {"name": "gar-pull", "namespaces": [ns],
                                                                     "state": "absent"})
    assert gone.rc == 0 and gone.changed and _secret(core, ns) is None
    gone2 = run_module(localenv, "registrylink.k8s.registry_secret", {"name": "gar-pull", "namespaces": [ns],
                                                                      "state": "absent"})
    assert gone2.rc == 0 and not gone2.changed


def test_gar_pull_follows_the_iam_binding(localenv, gar, core, unique_ns):
    """A valid token of an account without an Artifact Registry role does not pull (the kubelet gets
    401 from the realm); the same Secret pulls once the account is granted reader on the project."""
    ns = unique_ns("garo")
    run = run_module(localenv, "registrylink.k8s.registry_secret", _args(gar, ns, account="outsider"),
                     extra_env=gar["env"])
    assert run.rc == 0 and run.changed, run.output[-3000:]
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "gar-pull"}]})
    denied = _canary(localenv, gar, ns, timeout=60)
    (item,) = denied.result["results"]
    assert item["verdict"] != "pulled", item
    member = "serviceAccount:" + gar["accounts"]["outsider"]["email"]
    gar["google"].grant(f"projects/{gar['project']}", "roles/artifactregistry.reader", member)
    try:
        allowed = _canary(localenv, gar, ns)
        (item,) = allowed.result["results"]
        assert item["verdict"] == "pulled", (item, allowed.output[-2000:])
    finally:
        with gar["google"].lock:
            for b in gar["google"].policies[f"projects/{gar['project']}"]["bindings"]:
                if member in b["members"]:
                    b["members"].remove(member)


def test_gar_refresh_before_longer_than_the_token_mints_every_run(localenv, gar, core, unique_ns):
    ns = unique_ns("garr")
    first = run_module(localenv, "registrylink.k8s.registry_secret", _args(gar, ns, refresh_before="2h"),
                       extra_env=gar["env"])
    assert first.rc == 0 and first.changed
    assert any("not shorter than the 1h lifetime" in w for w in first.result.get("warnings", [])), first.result
    token1 = _entry(_secret(core, ns), gar["reg"].host)["password"]
    second = run_module(localenv, "registrylink.k8s.registry_secret", _args(gar, ns, refresh_before="2h"),
                        extra_env=gar["env"])
    assert second.rc == 0 and second.changed
    token2 = _entry(_secret(core, ns), gar["reg"].host)["password"]
    assert token2 != token1 and gar["google"].token_principal(token2)
    (result,) = second.result["results"]
    assert "within refresh_before" in result["refresh_reason"], result


def test_gar_key_the_token_endpoint_refuses_fails_before_any_write(localenv, gar, core, unique_ns, tmp_path):
    """A key file whose private key the account does not have (a deleted key): google-auth's JWT grant
    is refused with invalid_grant; the task fails naming the account, nothing is written, no key leaks."""
    ns = unique_ns("garbad")
    forged = json.loads(Path(gar["accounts"]["puller"]["key_file"]).read_text())
    forged["private_key"] = json.loads(Path(gar["accounts"]["outsider"]["key_file"]).read_text())["private_key"]
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    run = run_module(localenv, "registrylink.k8s.registry_secret",
                     dict(_args(gar, ns), registries=[{"provider": "gar", "server": gar["reg"].host,
                                                       "credentials_file": str(path)}]),
                     verbosity=3, extra_env=gar["env"])
    assert run.failed
    assert "invalid_grant" in run.result["msg"] and gar["accounts"]["puller"]["email"] in run.result["msg"], run.result
    assert "Traceback" not in run.output
    assert forged["private_key"].splitlines()[1] not in run.output
    assert _secret(core, ns) is None


def test_static_json_key_is_accepted_with_a_warning_and_pulls(localenv, gar, core, unique_ns):
    """``_json_key`` + the raw key and ``_json_key_base64`` + its base64: accepted as static credentials
    with a warning about the long-lived key, and the real kubelet pulls with them."""
    key_text = Path(gar["accounts"]["puller"]["key_file"]).read_text()
    for username, password in (("_json_key", key_text),
                               ("_json_key_base64", base64.b64encode(key_text.encode()).decode())):
        ns = unique_ns("garkey")
        run = run_module(localenv, "registrylink.k8s.registry_secret", {
            "name": "gar-key", "namespaces": [ns],
            "registries": [{"server": gar["reg"].host, "username": username, "password": password}]})
        assert run.rc == 0 and run.changed, run.output[-3000:]
        assert any("long-lived Google service account key" in w for w in run.result.get("warnings", [])), run.result
        assert json.loads(key_text)["private_key"].splitlines()[1] not in run.output
        canary = _canary(localenv, gar, ns, pull_secrets=["gar-key"])
        (item,) = canary.result["results"]
        assert item["verdict"] == "pulled", (username, item)
