"""The node's registry configuration, on the real node: containerd reads the hosts.toml files the
role ``registrylink.k8s.node_registry_config`` writes, and the real kubelet is the judge.

* CA trust: a second registry with a CA of its own that the node does not trust. A Pod pulling
  from it gets the kubelet's ``x509: certificate signed by unknown authority``; ``registry_probe``'s
  pod diagnosis says ``tls_untrusted`` (not an authentication failure) and names the role; the role
  (``connection: local`` against this node's containerd config) installs the CA and the same Pod
  pulls. Check mode writes nothing, a rerun is ``changed: false``, ``state: absent`` removes what
  the role wrote, and then a new Pod fails again with the same x509 error.
* Pull-through cache: a distribution registry in proxy mode in front of that registry, configured
  by the role as its mirror over a hosts.toml someone else wrote (refused without ``force``; with it
  the original is kept aside). A Pod pulls through the cache (its catalog then lists the
  repository); with the cache stopped a new image pulls from the upstream, as hosts.toml says;
  ``state: absent`` puts the original hosts.toml back byte for byte. (distribution's proxy logs in
  upstream only to registries that answer with a token realm, so it cannot front the shared
  htpasswd registry.)
* Rate limit: a stand-in registry that rate-limits like Docker Hub (``RateLimitedRegistry``). The
  kubelet reports ``429 Too Many Requests``; the verify role, over an inventory holding the cluster
  and its node, diagnoses ``rate_limited`` and reads the node's files: no mirror; the role adds a
  mirror that holds the same image and the same Pod pulls.

The extra registries are started by this file's fixtures (``tests/support/node_registries.py``),
not by ``make up``.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
from kubernetes import client as k

from tests.support.ansible_run import REPO_ROOT, _ansible_env, run_module as run_task
from tests.support.images import OCI_MANIFEST, RegistryClient
from tests.support.node_registries import RateLimitedRegistry, start_pull_through_cache, start_untrusted_registry
from tests.support.realpods import BACKOFF, RUNNING, busybox_pod, push_busybox_build, wait_verdict

TOKEN = secrets.token_hex(3)
ROLE = "registrylink.k8s.node_registry_config"
MARKER = "# Managed by registrylink.k8s"


# --------------------------------------------------------------------------------------
# running the role as a user would: a play against the node, connection local


class RoleRun:
    def __init__(self, result: Optional[Dict[str, Any]], failure: Optional[Dict[str, Any]], output: str, rc: int):
        self.result = result or {}
        self.failure = failure
        self.output = output
        self.rc = rc

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))


def run_role(localenv, node_name: str, variables: Dict[str, Any], check: bool = False, diff: bool = False,
             verbosity: int = 0) -> RoleRun:
    """Run the role on the inventory host ``node_name`` (``ansible_connection=local``) with
    ``variables``; returns the module's registered result, or the failure."""
    with tempfile.TemporaryDirectory(prefix="rl-nrc-") as tmp:
        out = Path(tmp) / "out.json"
        play = Path(tmp) / "play.yml"
        play.write_text(json.dumps([{
            "hosts": node_name, "gather_facts": False,
            "tasks": [{
                "block": [{"name": "role", "ansible.builtin.include_role": {"name": ROLE}, "vars": variables}],
                "rescue": [{"name": "keep the failure", "ansible.builtin.set_fact": {
                    "nrc_failure": "{{ ansible_failed_result }}"}}],
                "always": [{"name": "save", "check_mode": False, "diff": False, "ansible.builtin.copy": {
                    "dest": str(out),
                    "content": "{{ {'result': node_registry_config__result | default(None),"
                               " 'failure': nrc_failure | default(None)} | to_json }}"}}],
            }],
        }]))
        inventory = Path(tmp) / "inventory.ini"
        inventory.write_text(f"[nodes]\n{node_name} ansible_connection=local ansible_python_interpreter="
                             f"{REPO_ROOT / '.venv/bin/python'}\n")
        cmd = [str(REPO_ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory), str(play)]
        cmd += ["--check"] if check else []
        cmd += ["--diff"] if diff else []
        cmd += ["-" + "v" * verbosity] if verbosity else []
        proc = subprocess.run(cmd, env=_ansible_env(localenv), capture_output=True, text=True, timeout=300,
                              cwd=str(REPO_ROOT), check=False)
        output = proc.stdout + "\n" + proc.stderr
        if not out.exists():
            raise AssertionError(f"the play saved no result (rc={proc.returncode}):\n{output[-4000:]}")
        saved = json.loads(out.read_text())
    return RoleRun(saved["result"], saved["failure"], output, proc.returncode)


def _files(directory: Path) -> Dict[str, Any]:
    """Every file under ``directory`` with its mode and content (a snapshot of the node's hosts.toml tree)."""
    snap = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            snap[str(p.relative_to(directory))] = (oct(p.stat().st_mode & 0o777), p.read_bytes())
    return snap


# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def core(kube_client):
    return k.CoreV1Api(kube_client())


@pytest.fixture(scope="module")
def node(localenv):
    """The node's name and its containerd files (config, config_path directory)."""
    data = localenv.cluster()["node"]
    containerd = Path(data["workdir"]) / "node" / "containerd"
    return {"name": data["node_name"], "config": str(containerd / "config.toml"), "certs_d": containerd / "certs.d"}


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory, node):
    """A registry whose CA the node does not trust, with busybox; its hosts.toml directory is
    removed at the end whatever the test did."""
    reg, image = start_untrusted_registry(tmp_path_factory.mktemp("untrusted-registry"), f"nrc-{TOKEN}/busybox")
    yield reg, image
    reg.stop()
    directory = node["certs_d"] / reg.host
    if directory.exists():
        for p in directory.iterdir():
            p.unlink()
        directory.rmdir()


def _diagnose(localenv, ns, name, ca):
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import probe_for_params
    params = dict(registry=None, username=None, password=None, registry_validate_certs=True, registry_ca_path=ca,
                  timeout=5, allow_insecure_http=False, allow_cross_host_realm=False, image=None, repository=None,
                  reference="latest", pull_secret=None, pod={"namespace": ns, "name": name}, verify=None,
                  fail_on_error=False, namespaces=None, namespace_selector=None, exclude_namespaces=[],
                  kubeconfig=localenv.kubeconfig, context="local-1", host=None, api_key=None, validate_certs=None,
                  ca_cert=None, client_cert=None, client_key=None, proxy=None)
    return probe_for_params(params)


# --------------------------------------------------------------------------------------
# CA trust


def test_the_role_installs_the_ca_the_kubelet_did_not_trust_and_the_same_pod_pulls(
        localenv, core, node, untrusted, unique_ns):
    reg, image = untrusted
    ns = unique_ns("nrc")
    core.create_namespaced_pod(ns, busybox_pod("app", image))
    before = wait_verdict(core, ns, "app")
    assert before.state == BACKOFF, before
    assert "x509: certificate signed by unknown authority" in before.message, before.message

    # the diagnosis tells the node's trust from an authentication failure, and names the role
    # (the controller trusts the CA here, so only the kubelet's event can tell)
    diag = _diagnose(localenv, ns, "app", reg.ca)
    container = diag["containers"][0]
    assert container["category"] == "tls_untrusted", container
    assert "not an authentication failure" in container["hint"]
    assert ROLE in container["hint"] and reg.host in container["hint"]
    assert "x509" in container["node_evidence"]

    variables = {"node_registry_config_containerd_config": node["config"],
                 "node_registry_config_registries": [{"host": reg.host, "ca_file": reg.ca}]}
    tree = _files(node["certs_d"])
    check = run_role(localenv, node["name"], variables, check=True, diff=True)
    assert check.failure is None, check.output[-3000:]
    assert check.changed and check.result["results"][0]["action"] == "created"
    assert _files(node["certs_d"]) == tree, "check mode wrote on the node"
    assert "registrylink-server-ca.crt" in check.output and "BEGIN CERTIFICATE" not in check.output

    run = run_role(localenv, node["name"], variables, diff=True)
    assert run.failure is None, run.output[-3000:]
    assert run.changed and run.result["found_in_config"] and not run.result["restart_needed"]
    assert run.result["config_path"] == str(node["certs_d"])
    directory = node["certs_d"] / reg.host
    hosts = (directory / "hosts.toml").read_text()
    assert hosts.startswith(MARKER) and f'server = "https://{reg.host}"' in hosts
    ca_copy = directory / "registrylink-server-ca.crt"
    assert ca_copy.read_text() == Path(reg.ca).read_text() and oct(ca_copy.stat().st_mode & 0o777) == "0o644"
    assert f'ca = "{ca_copy}"' in hosts

    # no restart: containerd reads hosts.toml at the next pull, and the kubelet's next attempt is it
    after = wait_verdict(core, ns, "app", want=(RUNNING,), timeout=90)
    assert after.state == RUNNING and after.image_id, after

    rerun = run_role(localenv, node["name"], variables)
    assert rerun.failure is None and not rerun.changed, rerun.result
    assert rerun.result["results"][0]["action"] == "unchanged"

    absent_vars = dict(variables, node_registry_config_state="absent")
    absent_check = run_role(localenv, node["name"], absent_vars, check=True)
    assert absent_check.changed and directory.exists()
    absent = run_role(localenv, node["name"], absent_vars)
    assert absent.failure is None and absent.changed, absent.output[-3000:]
    assert not directory.exists()
    assert _files(node["certs_d"]) == tree, "state: absent left something behind or removed too much"
    again = run_role(localenv, node["name"], absent_vars)
    assert not again.changed and again.result["results"][0]["action"] == "absent"

    # and the node is back to not trusting it: a new Pod fails the same way
    core.create_namespaced_pod(ns, busybox_pod("again", image))
    restored = wait_verdict(core, ns, "again")
    assert restored.state == BACKOFF and "x509: certificate signed by unknown authority" in restored.message


def test_a_client_key_never_shows_and_gets_mode_0600(localenv, node, untrusted, tmp_path):
    """mTLS files: the key lands with mode 0600; its text is in no output, diff or -vvv log."""
    reg, _image = untrusted
    key = tmp_path / "client.key"
    cert = tmp_path / "client.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=registrylink-client"], check=True, capture_output=True)
    key_body = "".join(key.read_text().splitlines()[1:-1])
    variables = {"node_registry_config_containerd_config": node["config"],
                 "node_registry_config_registries": [{"host": reg.host, "ca_file": reg.ca,
                                                      "client_cert_file": str(cert),
                                                      "client_key_file": str(key)}]}
    try:
        run = run_role(localenv, node["name"], variables, diff=True, verbosity=3)
        assert run.failure is None and run.changed, run.output[-3000:]
        directory = node["certs_d"] / reg.host
        written = directory / "registrylink-server-client.key"
        assert written.read_text() == key.read_text()
        assert oct(written.stat().st_mode & 0o777) == "0o600"
        assert "private key, fingerprint hmac-sha256:" in run.output
        for chunk in (key_body[i:i + 40] for i in range(0, len(key_body), 400)):
            assert chunk not in run.output
        hosts = (directory / "hosts.toml").read_text()
        assert f'client = [["{directory}/registrylink-server-client.crt", "{written}"]]' in hosts
    finally:
        absent = run_role(localenv, node["name"], dict(variables, node_registry_config_state="absent"))
        assert absent.failure is None, absent.output[-3000:]
    assert not (node["certs_d"] / reg.host).exists()


# --------------------------------------------------------------------------------------
# a pull-through cache as the registry's mirror


@pytest.fixture
def cache(tmp_path, untrusted):
    """A distribution registry in proxy mode in front of the untrusted registry (anonymous upstream:
    distribution's proxy logs in upstream only where the upstream answers with a token realm, never
    with basic auth, so it cannot front the shared htpasswd registry)."""
    reg, _image = untrusted
    cache = start_pull_through_cache(tmp_path / "cache", reg.url, reg.ca, None, None)
    yield cache
    cache.stop()


def _unique_created() -> str:
    """A ``created`` time no earlier run used: a build (config and manifest digest) the node's
    containerd has never stored, so its manifest must really be fetched (containerd skips the GET
    of content it already has)."""
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _catalog(reg) -> list:
    import requests
    resp = requests.get(reg.url + "/v2/_catalog", verify=reg.ca, timeout=5)
    resp.raise_for_status()
    return resp.json().get("repositories") or []


def test_a_pull_through_cache_is_the_mirror_and_the_upstream_the_fallback(
        localenv, core, node, untrusted, cache, unique_ns):
    import time
    upstream, _image = untrusted
    repo = f"nrc-{TOKEN}/cached"
    # two builds the node has never seen (their manifests and configs must be fetched)
    push_busybox_build(upstream, repo, ["through-cache"], _unique_created())
    push_busybox_build(upstream, repo, ["fallback"], _unique_created())
    assert repo not in _catalog(cache)
    # someone's own hosts.toml for the registry (trusting its CA): the role takes it over only with
    # force, keeps it aside, and state: absent puts it back byte for byte
    directory = node["certs_d"] / upstream.host
    directory.mkdir()
    theirs = f'server = "https://{upstream.host}"\nca = "{upstream.ca}"\n'.encode()
    (directory / "hosts.toml").write_bytes(theirs)
    try:
        variables = {"node_registry_config_containerd_config": node["config"],
                     "node_registry_config_registries": [{
                         "host": upstream.host, "ca_file": upstream.ca,
                         "mirrors": [{"url": cache.url, "ca_file": cache.ca}]}]}
        refused = run_role(localenv, node["name"], variables)
        assert refused.failure and "force" in refused.failure["msg"], refused.output[-3000:]
        assert (directory / "hosts.toml").read_bytes() == theirs

        variables["node_registry_config_force"] = True
        run = run_role(localenv, node["name"], variables, diff=True)
        assert run.failure is None and run.changed, run.output[-3000:]
        assert run.result["results"][0]["kept_backup"]
        assert (directory / "hosts.toml.registrylink-backup").read_bytes() == theirs
        text = (directory / "hosts.toml").read_text()
        assert f'[host."{cache.url}"]' in text and "capabilities = [\"pull\", \"resolve\"]" in text
        rerun = run_role(localenv, node["name"], variables)
        assert rerun.failure is None and not rerun.changed, rerun.result

        ns = unique_ns("nrc")
        core.create_namespaced_pod(ns, busybox_pod("cached", f"{upstream.host}/{repo}:through-cache"))
        verdict = wait_verdict(core, ns, "cached", want=(RUNNING,), timeout=60)
        assert verdict.state == RUNNING, verdict
        deadline = time.monotonic() + 15
        while repo not in _catalog(cache) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert repo in _catalog(cache), "the pull did not go through the cache"

        # the cache is down: containerd falls back to the server, as hosts.toml says
        cache.stop()
        core.create_namespaced_pod(ns, busybox_pod("fallback", f"{upstream.host}/{repo}:fallback"))
        verdict = wait_verdict(core, ns, "fallback", want=(RUNNING,), timeout=60)
        assert verdict.state == RUNNING, verdict

        absent = run_role(localenv, node["name"], dict(variables, node_registry_config_state="absent"))
        assert absent.failure is None and absent.changed, absent.output[-3000:]
        assert absent.result["results"][0]["restored_backup"]
        assert sorted(p.name for p in directory.iterdir()) == ["hosts.toml"]
        assert (directory / "hosts.toml").read_bytes() == theirs
    finally:
        for p in directory.iterdir():
            p.unlink()
        directory.rmdir()


# --------------------------------------------------------------------------------------
# a rate-limited registry: verify reads the node's mirror configuration, the role adds a mirror


def run_verify(localenv, node, variables: Dict[str, Any]) -> Dict[str, Any]:
    """The verify role over an inventory that holds the cluster ``local-1`` and its node; returns verify__output."""
    with tempfile.TemporaryDirectory(prefix="rl-nrc-verify-") as tmp:
        out = Path(tmp) / "out.json"
        play = Path(tmp) / "play.yml"
        play.write_text(json.dumps([{
            "hosts": "clusters", "gather_facts": False,
            "module_defaults": {"group/registrylink.k8s.registrylink": {
                "kubeconfig": localenv.kubeconfig, "context": "{{ kube_context }}"}},
            "tasks": [
                {"name": "verify", "ansible.builtin.include_role": {"name": "registrylink.k8s.verify"},
                 "vars": variables},
                {"name": "save", "check_mode": False, "ansible.builtin.copy": {
                    "dest": str(out), "content": "{{ verify__output | to_json }}"}},
            ],
        }]))
        inventory = Path(tmp) / "inventory.ini"
        inventory.write_text(
            "[clusters]\nlocal-1 ansible_connection=local kube_context=local-1 "
            f"ansible_python_interpreter={REPO_ROOT / '.venv/bin/python'}\n"
            f"[nodes]\n{node['name']} ansible_connection=local ansible_python_interpreter="
            f"{REPO_ROOT / '.venv/bin/python'} node_registry_config_containerd_config={node['config']}\n")
        proc = subprocess.run([str(REPO_ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory), str(play)],
                              env=_ansible_env(localenv), capture_output=True, text=True, timeout=300,
                              cwd=str(REPO_ROOT), check=False)
        if not out.exists():
            raise AssertionError(f"verify saved no report (rc={proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr}")
        report = json.loads(out.read_text())
    report["_output"] = proc.stdout
    return report


def test_a_rate_limited_pull_shows_the_nodes_mirror_and_a_mirror_lets_the_same_pod_pull(
        localenv, core, node, untrusted, unique_ns):
    mirror, _image = untrusted
    repo = f"nrc-{TOKEN}/limited"
    push_busybox_build(mirror, repo, ["1.0"], _unique_created())  # a build the node has never pulled
    resp = RegistryClient(mirror).request("GET", f"/v2/{repo}/manifests/1.0", repo=repo,
                                          headers={"Accept": OCI_MANIFEST})
    limited = RateLimitedRegistry({f"{repo}:1.0": (resp.headers["Content-Type"], resp.content)})
    directory = node["certs_d"] / limited.host
    try:
        image = f"{limited.host}/{repo}:1.0"
        ns = unique_ns("nrc")
        core.create_namespaced_pod(ns, busybox_pod("app", image))
        before = wait_verdict(core, ns, "app")
        assert before.state == BACKOFF and "429 Too Many Requests" in before.message, before

        report = run_verify(localenv, node, {
            "verify_namespaces": [ns], "verify_images": [image], "verify_secret_name": "regcred",
            "verify_allow_insecure_http": True, "verify_fail_on_error": False})
        stuck = [s for s in report["stuck_pods"] if s["name"] == "app"]
        assert stuck and stuck[0]["category"] == "rate_limited", report["stuck_pods"]
        assert stuck[0]["node"] == node["name"]
        hint = stuck[0]["containers"][0]["hint"]
        assert ROLE in hint and "mirrors" in hint and limited.host in hint
        rows = [r for r in report["rate_limited"] if r["pod"] == f"{ns}/app"]
        assert rows and rows[0]["node"] == node["name"] and rows[0]["error"] is None, report["rate_limited"]
        assert [(r["host"], r["mirror_configured"]) for r in rows[0]["registries"]] == [(limited.host, False)]
        assert f"{ns}/app on node {node['name']}: {limited.host} mirror configured: False" in report["_output"]

        variables = {"node_registry_config_containerd_config": node["config"],
                     "node_registry_config_registries": [{
                         "host": limited.host, "server": limited.url,
                         "mirrors": [{"url": mirror.url, "ca_file": mirror.ca}]}]}
        run = run_role(localenv, node["name"], variables)
        assert run.failure is None and run.changed, run.output[-3000:]
        after = wait_verdict(core, ns, "app", want=(RUNNING,), timeout=90)
        assert after.state == RUNNING, after

        # the node now has a mirror for it (what verify would show for the next rate-limited Pod)
        info = run_task(localenv, "registrylink.k8s.containerd_hosts_info",
                        {"hosts": [limited.host], "containerd_config": node["config"]})
        assert info.result["registries"][0]["mirror_configured"] is True
        assert info.result["registries"][0]["mirrors"][0]["url"] == mirror.url

        absent = run_role(localenv, node["name"], dict(variables, node_registry_config_state="absent"))
        assert absent.failure is None and absent.changed and not directory.exists()
    finally:
        limited.stop()
        if directory.exists():
            for p in directory.iterdir():
                p.unlink()
            directory.rmdir()
