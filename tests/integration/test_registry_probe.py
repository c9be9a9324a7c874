"""registry_probe and the distribution client against real CNCF distribution registries.

- the shared registry of `make up` (TLS with its own CA, htpasswd, delete enabled);
- a plain-HTTP registry started here;
- a registry with distribution's token auth (``auth: token``) and the test suite's token
  server (tests/support/token_server.py) issuing JWTs signed by a test key.

These tests need the local environment; they fail (never skip) when it is down.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import RegistryClient
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryError
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import probe_for_params as probe_task
from tests.support.images import push_image
from tests.support.localenv import free_port, make_ca, start_registry
from tests.support.token_server import JWT_PASSWORD, TokenServer

REPO_ROOT = Path(__file__).resolve().parents[2]


def _repo(prefix="probe"):
    return f"it/{prefix}-{secrets.token_hex(3)}"


def _params(**kw):
    base = dict(registry=None, username=None, password=None, registry_validate_certs=True, registry_ca_path=None,
                timeout=10, allow_insecure_http=False, allow_cross_host_realm=False, image=None, repository=None,
                reference='latest', pull_secret=None, pod=None, fail_on_error=False)
    base.update(kw)
    return base


def _no_secret(result, *secrets_):
    text = json.dumps(result)
    for s in secrets_:
        assert s not in text


# ---------------------------------------------------------------------------------------------
# the shared registry (htpasswd + TLS)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pushed(registry):
    repo = _repo()
    digest = push_image(registry, repo, ["1.0", "1.1", "2.0"])
    return repo, digest


def test_good_credentials_with_ca_path(registry, pushed):
    repo, digest = pushed
    result = probe_task(_params(registry=registry.host, repository=repo, reference="1.0", username=registry.username,
                                password=registry.password, registry_ca_path=registry.ca))
    assert result["ok"] is True, result
    assert result["manifest"]["digest"] == digest
    assert result["manifest"]["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert result["auth"]["scheme"] == "basic" and result["auth"]["authenticated"] is True
    assert result["tls"]["verified"] is True and result["tls"]["certificate"]["issuer"] == "CN=registrylink registry CA"
    assert {"dns", "connect", "tls", "ping", "login", "manifest", "total"} <= set(result["latency_ms"])
    assert [t["method"] for t in result["trace"] if t["step"] == "manifest"] == ["HEAD"]
    _no_secret(result, registry.password)


def test_image_option_normalises_like_the_kubelet(registry, pushed):
    repo, digest = pushed
    result = probe_task(_params(image=f"{registry.host}/{repo}@{digest}", username=registry.username,
                                password=registry.password, registry_ca_path=registry.ca))
    assert result["ok"] is True, result
    assert result["reference"] == digest and result["manifest"]["digest"] == digest


def test_wrong_password_is_unauthorized(registry, pushed):
    repo = pushed[0]
    result = probe_task(_params(registry=registry.host, repository=repo, reference="1.0", username=registry.username,
                                password="wrong-" + registry.password, registry_ca_path=registry.ca))
    assert result["ok"] is False
    assert result["category"] == "unauthorized"
    assert result["steps"][-1]["step"] == "login"
    _no_secret(result, registry.password)


def test_missing_tag_is_not_found(registry, pushed):
    repo = pushed[0]
    result = probe_task(_params(registry=registry.host, repository=repo, reference="9.9", username=registry.username,
                                password=registry.password, registry_ca_path=registry.ca))
    assert result["category"] == "not_found"
    assert result["steps"][-1]["missing"] == "tag"
    assert "1.0" in result["hint"]


def test_missing_repository_is_not_found(registry):
    result = probe_task(_params(registry=registry.host, repository="it/does-not-exist", username=registry.username,
                                password=registry.password, registry_ca_path=registry.ca))
    assert result["category"] == "not_found"
    assert result["steps"][-1]["missing"] == "repository"


def test_untrusted_ca_without_ca_path(registry, pushed):
    repo = pushed[0]
    result = probe_task(_params(registry=registry.host, repository=repo, reference="1.0", username=registry.username,
                                password=registry.password))
    assert result["category"] == "tls_untrusted"
    assert "registrylink registry CA" in result["hint"]
    assert result["tls"]["certificate"]["subject"] == "CN=localhost"
    assert [s["step"] for s in result["steps"]] == ["dns", "connect", "tls"]
    assert "trace" not in result or not result["trace"], "nothing was sent to the registry"


def test_validate_certs_false_is_explicit_and_reported(registry, pushed):
    repo = pushed[0]
    result = probe_task(_params(registry=registry.host, repository=repo, reference="1.0", username=registry.username,
                                password=registry.password, registry_validate_certs=False))
    assert result["ok"] is True
    assert result["tls"]["verified"] is False and result["tls"]["validate_certs"] is False
    assert any("disabled" in w for w in result["warnings"])


def test_dns_and_connect_failures():
    assert probe_task(_params(registry="registry.does-not-exist.invalid"))["category"] == "dns"
    port = free_port()
    assert probe_task(_params(registry=f"127.0.0.1:{port}", timeout=3))["category"] == "connect"


def test_client_tags_when_the_registry_ignores_n(registry, pushed):
    # distribution 2.8 ignores n on tags/list and sends no Link: one synthesised last= page that
    # brings nothing new, then stop; the registry's order is kept
    repo = pushed[0]
    client = RegistryClient(registry.host, username=registry.username, password=registry.password,
                            ca_path=registry.ca, page_size=2)
    assert sorted(client.list_tags(repo)) == ["1.0", "1.1", "2.0"]
    assert len([t for t in client.trace if t["step"] == "tags"]) == 2


def test_client_catalog_follows_relative_link(registry, pushed):
    # distribution 2.8 paginates the catalog with a relative Link: </v2/_catalog?last=...&n=1>
    repo = pushed[0]
    client = RegistryClient(registry.host, username=registry.username, password=registry.password,
                            ca_path=registry.ca, page_size=1)
    repos = client.catalog()
    assert repo in repos and len(repos) == len(set(repos))
    urls = [t["url"] for t in client.trace if t["step"] == "catalog"]
    assert len(urls) == len(repos) + 1  # one repository per page, the last page is empty


def test_client_delete_manifest_by_digest(registry):
    repo = _repo("delete")
    digest = push_image(registry, repo, ["old", "old-alias"])
    keep = push_image(registry, repo, ["keep"])
    client = RegistryClient(registry.host, username=registry.username, password=registry.password,
                            ca_path=registry.ca)
    assert client.delete_manifest(repo, digest + "\r")["status"] == 202
    with pytest.raises(RegistryError) as exc:
        client.head_manifest(repo, "old-alias")
    assert exc.value.category == "not_found"
    assert client.head_manifest(repo, "keep").digest == keep
    info, body = client.get_manifest(repo, "keep")
    assert info.digest == keep and body["schemaVersion"] == 2
    blob = client.get_blob(repo, body["config"]["digest"])
    assert json.loads(blob)["os"] == "linux"


# ---------------------------------------------------------------------------------------------
# plain HTTP, delete disabled
# ---------------------------------------------------------------------------------------------

def test_plain_http_refused_by_default(tmp_path):
    with start_registry(tmp_path / "plain", auth=None, tls=False) as reg:
        repo = _repo("plain")
        push_image(reg.url, repo, ["1.0"])
        refused = probe_task(_params(registry=reg.host, repository=repo, reference="1.0"))
        assert refused["category"] == "plain_http"
        refused_url = probe_task(_params(registry=reg.url, repository=repo, reference="1.0"))
        assert refused_url["category"] == "plain_http"
        allowed = probe_task(_params(registry=reg.host, repository=repo, reference="1.0", allow_insecure_http=True))
        assert allowed["ok"] is True, allowed
        assert allowed["api_url"].startswith("http://") and allowed["tls"] == {"enabled": False}


def test_delete_disabled_is_unsupported(tmp_path):
    with start_registry(tmp_path / "nodelete", auth=None, delete_enabled=False) as reg:
        repo = _repo("nodelete")
        digest = push_image(reg.url, repo, ["1.0"], ca=reg.ca)
        client = RegistryClient(reg.host, ca_path=reg.ca)
        with pytest.raises(RegistryError) as exc:
            client.delete_manifest(repo, digest)
        assert exc.value.category == "unsupported"
        assert "storage.delete.enabled" in exc.value.hint


# ---------------------------------------------------------------------------------------------
# distribution with token auth and the test token server
# ---------------------------------------------------------------------------------------------

ALICE, ALICE_PW = "alice", "alice-" + secrets.token_hex(6)
BOB, BOB_PW = "bob", "bob-" + secrets.token_hex(6)
ACR_USER = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory, localenv):
    tmp = tmp_path_factory.mktemp("token-registry")
    ca = make_ca(tmp)
    acl = {
        ALICE: {"*": ["pull", "push", "delete"], "catalog": ["*"]},
        BOB: {"it/bob-only": ["pull"]},
        ACR_USER: {"*": ["pull"]},
    }
    with TokenServer(tmp / "ts", ca=ca, users={ALICE: ALICE_PW, BOB: BOB_PW, ACR_USER: JWT_PASSWORD}, acl=acl,
                     expires_in=600) as ts:
        with start_registry(tmp / "reg", auth="token", ca=ca, token_realm=ts.realm, token_service=ts.service,
                            token_issuer=ts.issuer, token_rootcertbundle=ts.rootcertbundle) as reg:
            repo = _repo("token")
            digest = push_image(reg.url, repo, ["1.0"], auth=(ALICE, ALICE_PW), ca=reg.ca)
            yield {"ts": ts, "reg": reg, "repo": repo, "digest": digest, "ca": ca.cert}


def test_bearer_flow_and_pull_scope(token_registry):
    t = token_registry
    before = len(t["ts"].requests)
    result = probe_task(_params(registry=t["reg"].host, repository=t["repo"], reference="1.0", username=ALICE,
                                password=ALICE_PW, registry_ca_path=t["ca"]))
    assert result["ok"] is True, result
    assert result["auth"]["scheme"] == "bearer"
    assert result["auth"]["challenges"][0]["realm"] == t["ts"].realm
    assert result["manifest"]["digest"] == t["digest"]
    assert result["token"]["granted"] == [{"type": "repository", "name": t["repo"], "actions": ["pull"]}]
    requests = t["ts"].requests[before:]
    assert [r["scope"] for r in requests] == [[], [f"repository:{t['repo']}:pull"]]  # login, then pull
    assert all(r["basic"] and r["user"] == ALICE for r in requests)
    assert all(r["service"] == [t["ts"].service] for r in requests)
    _no_secret(result, ALICE_PW)


def test_token_expiry_is_reported(token_registry):
    t = token_registry
    result = probe_task(_params(registry=t["reg"].host, repository=t["repo"], reference="1.0", username=ALICE,
                                password=ALICE_PW, registry_ca_path=t["ca"]))
    expires = time.mktime(time.strptime(result["token"]["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 500 < expires - time.time() <= 610


def test_token_server_rejects_wrong_password(token_registry):
    t = token_registry
    result = probe_task(_params(registry=t["reg"].host, repository=t["repo"], username=ALICE, password="nope",
                                registry_ca_path=t["ca"]))
    assert result["category"] == "unauthorized"
    assert result["steps"][-1]["step"] == "token"


def test_authenticated_but_not_permitted_is_denied_and_ambiguous(token_registry):
    t = token_registry
    result = probe_task(_params(registry=t["reg"].host, repository=t["repo"], reference="1.0", username=BOB,
                                password=BOB_PW, registry_ca_path=t["ca"]))
    assert result["category"] == "denied"
    assert result["steps"][-1]["ambiguous_not_found"] is True
    assert result["token"]["granted"] == []


def test_anonymous_on_token_registry_is_unauthorized(token_registry):
    t = token_registry
    result = probe_task(_params(registry=t["reg"].host, repository=t["repo"], reference="1.0",
                                registry_ca_path=t["ca"]))
    assert result["category"] == "unauthorized"
    assert "no credentials were sent" in result["msg"]


def test_jwt_password_expiry_is_reported_and_classified(token_registry):
    t = token_registry
    good = t["ts"].mint_password(ACR_USER, 3600)
    result = probe_task(_params(registry=t["reg"].host, repository=t["repo"], reference="1.0", username=ACR_USER,
                                password=good, registry_ca_path=t["ca"]))
    assert result["ok"] is True, result
    assert result["credentials"]["password_kind"] == "jwt"
    assert result["token_expires_at"] and result["credentials"]["expired"] is False
    expired = t["ts"].mint_password(ACR_USER, -60)
    result = probe_task(_params(registry=t["reg"].host, repository=t["repo"], reference="1.0", username=ACR_USER,
                                password=expired, registry_ca_path=t["ca"]))
    assert result["category"] == "expired_credentials"
    assert result["credentials"]["expired"] is True
    _no_secret(result, good, expired)


def test_delete_needs_the_delete_action(token_registry):
    t = token_registry
    repo = _repo("tokdel")
    digest = push_image(t["reg"].url, repo, ["x"], auth=(ALICE, ALICE_PW), ca=t["ca"])
    bob = RegistryClient(t["reg"].host, username=ACR_USER, password=t["ts"].mint_password(ACR_USER, 600),
                         ca_path=t["ca"])
    with pytest.raises(RegistryError) as exc:
        bob.delete_manifest(repo, digest)
    assert exc.value.category == "denied"
    assert '"delete"' in exc.value.hint
    alice = RegistryClient(t["reg"].host, username=ALICE, password=ALICE_PW, ca_path=t["ca"])
    before = len(t["ts"].requests)
    assert alice.delete_manifest(repo, digest)["status"] == 202
    assert t["ts"].requests[before:][-1]["scope"] == [f"repository:{repo}:pull,delete"]
    alice.catalog()  # its content may lag behind deletes; the scope asked for is what matters here
    assert t["ts"].requests[-1]["scope"] == ["registry:catalog:*"]


# ---------------------------------------------------------------------------------------------
# through ansible-playbook: no credential in -vvv output
# ---------------------------------------------------------------------------------------------

def test_no_credential_in_vvv_output(localenv, registry, pushed, tmp_path):
    repo = pushed[0]
    playbook = tmp_path / "probe.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: good
      registrylink.k8s.registry_probe:
        registry: "{registry.host}"
        repository: "{repo}"
        reference: "1.0"
        username: "{registry.username}"
        password: "{{{{ probe_password }}}}"
        registry_ca_path: "{registry.ca}"
      register: good
    - name: wrong password, fail_on_error
      registrylink.k8s.registry_probe:
        registry: "{registry.host}"
        repository: "{repo}"
        username: "{registry.username}"
        password: "{{{{ probe_password }}}}-x"
        registry_ca_path: "{registry.ca}"
        fail_on_error: true
      ignore_errors: true
      register: bad
    - ansible.builtin.assert:
        that:
          - good.ok
          - not good.changed
          - bad.failed
          - bad.category == 'unauthorized'
""")
    env = localenv.subprocess_env()
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"probe_password": registry.password}))
    proc = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "ansible-playbook"), "-vvv", str(playbook),
                           "-e", "@" + str(extra)], env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert registry.password not in out
    import base64
    assert base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode() not in out
