"""Least privilege on the real API server: every module runs with exactly the rights of its manifest.

For each manifest in docs/rbac/, a ServiceAccount is bound to exactly that ClusterRole and the module
runs through ``ansible-playbook`` with a kubeconfig that holds nothing but the ServiceAccount's
TokenRequest token (tests/support/rbac.py):

* with the whole manifest the run works (and the rerun reports no change);
* with any single verb on any single resource taken away, the run fails before any write, with a
  message naming the verb, the resource, the scope and the rule to add; the state read back by the
  admin is exactly what it was before the run.

The scenario of each verb is one that needs it (``delete`` on Secrets: state=absent; ``delete`` on Pods:
a stuck Pod to restart), so a rule that no scenario needs would fail the "works" half instead.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import rbac_rule
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_secret import RegistrySecretRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._sa_pull_secret import SaPullSecretRunner
from tests.support.ansible_run import run_module
from tests.support.node import NO_NODE_GATE
from tests.support.rbac import Grant, run_in_process, take_away_each, triples, without

RS = "registrylink.k8s.registry_secret"
SA = "registrylink.k8s.sa_pull_secret"
SECRET = "rbac-pull"


@pytest.fixture
def api(kube_client):
    return kube_client("local-1")


@pytest.fixture
def core(api):
    return k8s.CoreV1Api(api)


@pytest.fixture
def grant(localenv, api, unique_ns, tmp_path):
    made = []

    def make(manifest, namespaces=None):
        g = Grant(localenv, api, unique_ns("rbacid"), manifest, tmp_path, namespaces=namespaces)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


def _as(grant, args):
    """Module arguments that connect with nothing but the ServiceAccount's kubeconfig."""
    return dict(args, kubeconfig=grant.kubeconfig, context="bot")


def _isolated():
    """The environment's own kubeconfig (admin) must not be reachable by the module."""
    return {"K8S_AUTH_KUBECONFIG": "", "KUBECONFIG": "/nonexistent", "K8S_AUTH_CONTEXT": ""}


def _assert_names_rule(msg, triple, scope):
    """The message names the verb, the resource, the scope (``cluster-wide`` or ``in namespace X``) and
    the rule to add, and it is the collection's sentence, not the API server's raw answer."""
    _group, resource, verb = triple
    assert msg.startswith("forbidden"), msg
    assert f"{verb} {resource} {scope}" in msg, (triple, scope, msg)
    assert f"the rule {rbac_rule(verb, resource)} to " in msg, msg


# ---------------------------------------------------------------------------------------------- registry_secret

def _secret_state(core, nss):
    """(namespace -> (resourceVersion, password) or None) read back by the admin."""
    out = {}
    for ns in nss:
        try:
            s = core.read_namespaced_secret(SECRET, ns)
        except ApiException as exc:
            if exc.status != 404:
                raise
            out[ns] = None
            continue
        cfg = json.loads(base64.b64decode(s.data[".dockerconfigjson"]))
        out[ns] = (s.metadata.resource_version, next(iter(cfg["auths"].values()))["password"])
    return out


def _rs_args(registry, nss, password, state="present"):
    return {"name": SECRET, "namespaces": nss, "state": state,
            "registries": [{"server": registry.host, "username": "rbac-user", "password": password}]}


def _rs_secret(registry, password):
    auth = base64.b64encode(f"rbac-user:{password}".encode()).decode()
    config = {"auths": {registry.host: {"username": "rbac-user", "password": password, "auth": auth}}}
    return k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=SECRET, labels={"app.kubernetes.io/managed-by": "registrylink.k8s"}),
                        type="kubernetes.io/dockerconfigjson",
                        data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()})


def _rs_prepare(core, registry, nss, password="old-pass", first=False):
    """By the admin: namespace 0 without the Secret (a create), namespace 1 with ``password`` (an
    update); with ``first``, namespace 0 gets it too."""
    for index, ns in enumerate(nss):
        try:
            core.delete_namespaced_secret(SECRET, ns)
        except ApiException as exc:
            if exc.status != 404:
                raise
        if index or first:
            core.create_namespaced_secret(ns, _rs_secret(registry, password))


def test_registry_secret_write_manifest_is_enough_and_every_rule_is_needed(
        localenv, registry, core, unique_ns, grant):
    nss = [unique_ns("rbacrs"), unique_ns("rbacrs")]
    g = grant("docs/rbac/registry_secret-write.yml")
    present = _as(g, _rs_args(registry, nss, "new-pass"))
    absent = _as(g, _rs_args(registry, nss, "new-pass", state="absent"))

    for triple in take_away_each(g):
        needs_absent = triple[2] == "delete"
        _rs_prepare(core, registry, nss, first=needs_absent)  # with both Secrets there, absent deletes both
        before = _secret_state(core, nss)
        run = run_in_process("registry_secret", RegistrySecretRunner, absent if needs_absent else present)
        assert run.failed, (triple, run.result)
        scope = {"list": "cluster-wide", "create": f"in namespace {nss[0]}", "update": f"in namespace {nss[1]}",
                 "get": f"in namespace {nss[1]}", "delete": f"in namespaces {nss[0]}, {nss[1]}"}[triple[2]]
        _assert_names_rule(run.result["msg"], triple, scope)
        assert _secret_state(core, nss) == before, triple
        assert g.token not in run.output

    _rs_prepare(core, registry, nss)
    run = run_module(localenv, RS, present, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    assert run.result["summary"] == {"created": 1, "updated": 1}
    assert [v[1] for v in _secret_state(core, nss).values()] == ["new-pass", "new-pass"]
    again = run_in_process("registry_secret", RegistrySecretRunner, present)
    assert not again.failed and again.changed is False, again.result
    gone = run_in_process("registry_secret", RegistrySecretRunner, absent)
    assert not gone.failed and gone.result["summary"] == {"deleted": 2}, gone.result
    assert _secret_state(core, nss) == {nss[0]: None, nss[1]: None}


def test_registry_secret_read_manifest_runs_check_mode_and_refuses_writes(localenv, registry, core, unique_ns, grant):
    nss = [unique_ns("rbacrs"), unique_ns("rbacrs")]
    g = grant("docs/rbac/registry_secret-read.yml")
    _rs_prepare(core, registry, nss)
    present = _as(g, _rs_args(registry, nss, "new-pass"))
    before = _secret_state(core, nss)
    check = run_module(localenv, RS, present, check=True, extra_env=_isolated())
    assert not check.failed, check.result.get("msg")
    assert check.result["summary"] == {"created": 1, "updated": 1}
    # the same task for real: refused before the first write, naming both missing write rules
    real = run_module(localenv, RS, present, extra_env=_isolated())
    assert real.failed
    _assert_names_rule(real.result["msg"], ("", "secrets", "create"), f"in namespace {nss[0]}")
    _assert_names_rule(real.result["msg"], ("", "secrets", "update"), f"in namespace {nss[1]}")
    assert "nothing was written" in real.result["msg"]
    assert {(m["verb"], m["resource"]) for m in real.result["missing_rules"]} == {
        ("create", "secrets"), ("update", "secrets"), ("get", "secrets")}
    for triple in take_away_each(g):
        run = run_in_process("registry_secret", RegistrySecretRunner, present, check=True)
        assert run.failed, triple
        _assert_names_rule(run.result["msg"], triple, "cluster-wide")
    assert _secret_state(core, nss) == before


# ---------------------------------------------------------------------------------------------- sa_pull_secret

class SaWorld:
    """One namespace: Secret ``regcred``; ServiceAccount ``default`` without it; ``rl-new`` absent (to
    be created); Pod ``web-1`` stuck in ImagePullBackOff, owned by a ReplicaSet (to be restarted)."""

    def __init__(self, api, ns):
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.ns = ns
        self.core.create_namespaced_secret(ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="regcred"),
                                                            type="Opaque", string_data={"x": "y"}))
        # The ReplicaSet only owns the Pod: deleted but held by a finalizer, its controller leaves it
        # alone and the garbage collector keeps its dependents.
        self.rs = self.apps.create_namespaced_replica_set(ns, k8s.V1ReplicaSet(
            metadata=k8s.V1ObjectMeta(name="web", finalizers=["registrylink.test/hold"]),
            spec=k8s.V1ReplicaSetSpec(replicas=0, selector=k8s.V1LabelSelector(match_labels={"app": "web"}),
                                      template=k8s.V1PodTemplateSpec(
                                          metadata=k8s.V1ObjectMeta(labels={"app": "web"}),
                                          spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="app", image="x")])))))
        self.apps.delete_namespaced_replica_set("web", ns)

    def reset(self):
        sa = self.core.read_namespaced_service_account("default", self.ns)
        if sa.image_pull_secrets:
            sa.image_pull_secrets = None
            self.core.replace_namespaced_service_account("default", self.ns, sa)
        for name, kind in (("rl-new", "sa"), ("web-1", "pod")):
            try:
                if kind == "sa":
                    self.core.delete_namespaced_service_account(name, self.ns)
                else:
                    self.core.delete_namespaced_pod(name, self.ns, grace_period_seconds=0)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        self._wait_pod_gone()
        owner = k8s.V1OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="web", uid=self.rs.metadata.uid,
                                     controller=True)
        self.core.create_namespaced_pod(self.ns, k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(name="web-1", owner_references=[owner]),
            spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="app", image="registry.example.test/team/app:1")],
                               scheduling_gates=[k8s.V1PodSchedulingGate(name=NO_NODE_GATE)])))
        self.core.patch_namespaced_pod_status("web-1", self.ns, {"status": {"phase": "Pending", "containerStatuses": [{
            "name": "app", "image": "registry.example.test/team/app:1", "imageID": "", "ready": False,
            "restartCount": 0, "started": False, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}})

    def _wait_pod_gone(self):
        import time
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.core.read_namespaced_pod("web-1", self.ns)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(0.1)
        raise AssertionError("pod web-1 not deleted within 30s")

    def state(self):
        sa = self.core.read_namespaced_service_account("default", self.ns)
        accounts = [a.metadata.name for a in self.core.list_namespaced_service_account(self.ns).items]
        pods = [(p.metadata.name, p.metadata.uid) for p in self.core.list_namespaced_pod(self.ns).items]
        return {"default": (sa.metadata.resource_version, [r.name for r in sa.image_pull_secrets or []]),
                "accounts": sorted(accounts), "pods": pods}

    def close(self):
        self.apps.patch_namespaced_replica_set("web", self.ns, {"metadata": {"finalizers": None}})


@pytest.fixture
def sa_world(api, unique_ns):
    world = SaWorld(api, unique_ns("rbacsa"))
    yield world
    world.close()


def _sa_args(ns):
    return {"pull_secrets": ["regcred"], "namespaces": [ns], "service_accounts": ["default", "rl-new"],
            "create_service_accounts": True, "restart_stuck_pods": True}


def test_sa_pull_secret_write_manifest_is_enough_and_every_rule_is_needed(localenv, sa_world, grant):
    ns = sa_world.ns
    g = grant("docs/rbac/sa_pull_secret-write.yml")
    args = _as(g, _sa_args(ns))
    for triple in take_away_each(g):
        sa_world.reset()
        before = sa_world.state()
        run = run_in_process("sa_pull_secret", SaPullSecretRunner, args)
        assert run.failed, (triple, run.result)
        _assert_names_rule(run.result["msg"], triple, "cluster-wide" if triple[2] == "list" else f"in namespace {ns}")
        assert sa_world.state() == before, triple

    sa_world.reset()
    run = run_module(localenv, SA, args, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    assert run.result["summary"] == {"created": 1, "updated": 1}
    assert [p["action"] for p in run.result["stuck_pods"]] == ["restarted"]
    state = sa_world.state()
    assert state["default"][1] == ["regcred"] and "rl-new" in state["accounts"] and state["pods"] == []
    again = run_in_process("sa_pull_secret", SaPullSecretRunner, args)
    assert not again.failed and again.changed is False, again.result
    detach = run_in_process("sa_pull_secret", SaPullSecretRunner,
                            dict(args, state="absent", create_service_accounts=False, restart_stuck_pods=False))
    assert not detach.failed and detach.result["summary"] == {"updated": 2}, detach.result


def test_sa_pull_secret_read_manifest_runs_check_mode_and_refuses_writes(localenv, sa_world, grant):
    ns = sa_world.ns
    g = grant("docs/rbac/sa_pull_secret-read.yml")
    args = _as(g, _sa_args(ns))
    sa_world.reset()
    before = sa_world.state()
    check = run_module(localenv, SA, args, check=True, extra_env=_isolated())
    assert not check.failed, check.result.get("msg")
    assert check.result["summary"] == {"created": 1, "updated": 1}
    real = run_module(localenv, SA, args, extra_env=_isolated())
    assert real.failed
    assert {(m["verb"], m["resource"]) for m in real.result["missing_rules"]} == {
        ("create", "serviceaccounts"), ("update", "serviceaccounts"), ("get", "serviceaccounts"), ("delete", "pods")}
    _assert_names_rule(real.result["msg"], ("", "pods", "delete"), f"in namespace {ns}")
    for triple in take_away_each(g):
        run = run_in_process("sa_pull_secret", SaPullSecretRunner, args, check=True)
        assert run.failed, triple
        _assert_names_rule(run.result["msg"], triple, "cluster-wide")
    assert sa_world.state() == before


# ---------------------------------------------------------------------------------------------- namespaced mode

def _bot_client(g):
    from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import KubeClient
    return KubeClient.from_params({"kubeconfig": g.kubeconfig, "context": "bot"})


def _rs_params(args):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.registrylink.k8s.plugins.modules.registry_secret import argument_spec
    return ArgumentSpecValidator(argument_spec()).validate(args).validated_parameters


def test_registry_secret_namespaced_mode_with_rolebindings_only(localenv, registry, core, unique_ns, grant):
    nss = [unique_ns("rbacns"), unique_ns("rbacns")]
    outside = unique_ns("rbacns")
    g = grant("docs/rbac/registry_secret-namespaced-write.yml", namespaces=nss)
    _rs_prepare(core, registry, nss)
    present = _as(g, _rs_args(registry, nss, "new-pass"))
    run = run_module(localenv, RS, present, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    assert run.result["summary"] == {"created": 1, "updated": 1}
    assert any("namespaced mode" in w and "2 listed namespace(s)" in w for w in run.result.get("warnings", [])), run.result
    assert [v[1] for v in _secret_state(core, nss).values()] == ["new-pass", "new-pass"]

    # requests of a no-op run: 1 denied LIST of namespaces, then per namespace a GET and a LIST of Secrets
    counts = {}
    for label, selection in (("one", nss[:1]), ("two", nss)):
        client = _bot_client(g)
        result = RegistrySecretRunner(_rs_params(_rs_args(registry, selection, "new-pass")), kube=client).run()
        assert result["changed"] is False
        counts[label] = client.request_count
    assert counts == {"one": 3, "two": 5}

    # a glob or a selector needs the cluster-wide LIST: refused with the reason and the way out
    prefix = nss[0].rsplit("-", 1)[0]
    for selection in ({"namespaces": [prefix + "-*"]}, {"namespaces": None, "namespace_selector": "team=a"}):
        run = run_in_process("registry_secret", RegistrySecretRunner, dict(present, **selection))
        assert run.failed
        assert "needs a cluster-wide LIST of namespaces" in run.result["msg"]
        assert "list those namespaces by name" in run.result["msg"]
        assert rbac_rule("list", "namespaces") in run.result["msg"]
    # a namespace without a RoleBinding: named, before any write
    before = _secret_state(core, nss + [outside])
    run = run_in_process("registry_secret", RegistrySecretRunner,
                         _as(g, _rs_args(registry, nss + [outside], "other-pass")))
    assert run.failed
    _assert_names_rule(run.result["msg"], ("", "namespaces", "get"), f"in namespace {outside}")
    assert _secret_state(core, nss + [outside]) == before

    # every rule of the namespaced manifest is needed
    absent = _as(g, _rs_args(registry, nss, "new-pass", state="absent"))
    for triple in take_away_each(g):
        needs_absent = triple[2] == "delete"
        _rs_prepare(core, registry, nss, first=needs_absent)
        before = _secret_state(core, nss)
        run = run_in_process("registry_secret", RegistrySecretRunner, absent if needs_absent else present)
        assert run.failed, (triple, run.result)
        scope = {"list": f"in namespace {nss[0]}", "create": f"in namespace {nss[0]}",
                 "update": f"in namespace {nss[1]}", "get": f"in namespace {nss[1]}" if triple[1] == "secrets"
                 else f"in namespace {nss[0]}", "delete": f"in namespaces {nss[0]}, {nss[1]}"}[triple[2]]
        _assert_names_rule(run.result["msg"], triple, scope)
        assert _secret_state(core, nss) == before, triple


def test_sa_pull_secret_namespaced_mode_with_rolebindings_only(localenv, sa_world, grant):
    ns = sa_world.ns
    g = grant("docs/rbac/sa_pull_secret-namespaced-write.yml", namespaces=[ns])
    args = _as(g, _sa_args(ns))
    for triple in take_away_each(g):
        sa_world.reset()
        before = sa_world.state()
        run = run_in_process("sa_pull_secret", SaPullSecretRunner, args)
        assert run.failed, (triple, run.result)
        _assert_names_rule(run.result["msg"], triple, f"in namespace {ns}")
        assert sa_world.state() == before, triple

    sa_world.reset()
    run = run_module(localenv, SA, args, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    assert run.result["summary"] == {"created": 1, "updated": 1}
    assert [p["action"] for p in run.result["stuck_pods"]] == ["restarted"]
    assert any("namespaced mode" in w for w in run.result.get("warnings", [])), run.result
    # no-op: 1 denied LIST of namespaces, then in the namespace a GET of it and a LIST each of
    # ServiceAccounts, Secret names (one pull secret) and unfinished Pods
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.registrylink.k8s.plugins.modules.sa_pull_secret import argument_spec
    client = _bot_client(g)
    result = SaPullSecretRunner(ArgumentSpecValidator(argument_spec()).validate(args).validated_parameters,
                                kube=client).run()
    assert result["changed"] is False
    assert client.request_count == 5


# ---------------------------------------------------------------------------------------------- roles

def _run_role(localenv, role, role_vars, kubeconfig, check=False, extra_env=None):
    """``include_role`` through ansible-playbook with only the ServiceAccount's kubeconfig (and
    ``extra_env``, e.g. a CA bundle for a cloud stand-in); returns (the failed task's result or None,
    output)."""
    import subprocess
    import tempfile
    from pathlib import Path

    from tests.support.ansible_run import REPO_ROOT, _ansible_env

    with tempfile.TemporaryDirectory(prefix="rl-role-") as tmp:
        play = Path(tmp) / "play.yml"
        failed_file = Path(tmp) / "failed.json"
        play.write_text(json.dumps([{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "tasks": [{"name": "role", "block": [{"name": "include", "ansible.builtin.include_role": {
                "name": "registrylink.k8s." + role}, "vars": role_vars}],
                "rescue": [{"name": "save", "check_mode": False, "ansible.builtin.copy": {
                    "content": "{{ {'task': ansible_failed_task.name, 'result': ansible_failed_result} | to_json }}",
                    "dest": str(failed_file)}}]}],
        }]))
        cmd = [str(REPO_ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", str(play)] + (["--check"] if check else [])
        env = dict(extra_env or {}, K8S_AUTH_KUBECONFIG=kubeconfig, KUBECONFIG=kubeconfig, K8S_AUTH_CONTEXT="bot")
        proc = subprocess.run(cmd, env=_ansible_env(localenv, env),
                              capture_output=True, text=True, timeout=600, cwd=str(REPO_ROOT), check=False)
        failed = json.loads(failed_file.read_text()) if failed_file.exists() else None
    return failed, proc.stdout + "\n" + proc.stderr


def test_registry_credentials_role_runs_with_exactly_its_manifests(localenv, registry, core, unique_ns, grant):
    nss = [unique_ns("rbacrole"), unique_ns("rbacrole")]
    role_vars = {"registry_credentials_namespaces": nss, "registry_credentials_secret_name": SECRET,
                 "registry_credentials_registries": [{"server": registry.host, "username": "rbac-user",
                                                      "password": "role-pass"}]}
    reader = grant("docs/rbac/registry_credentials-read.yml")
    failed, output = _run_role(localenv, "registry_credentials", role_vars, reader.kubeconfig, check=True)
    assert failed is None, (failed, output[-3000:])
    assert _secret_state(core, nss) == {nss[0]: None, nss[1]: None}
    writer = grant("docs/rbac/registry_credentials-write.yml")
    failed, output = _run_role(localenv, "registry_credentials", role_vars, writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    assert [v[1] for v in _secret_state(core, nss).values()] == ["role-pass", "role-pass"]
    assert all(SECRET in [r.name for r in core.read_namespaced_service_account("default", ns).image_pull_secrets or []]
               for ns in nss)
    failed, output = _run_role(localenv, "registry_credentials", dict(role_vars, registry_credentials_state="absent"),
                               writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    assert _secret_state(core, nss) == {nss[0]: None, nss[1]: None}
    assert writer.token not in output
    # the rights of the attach (sa_pull_secret, the role's second module) are checked before the role's
    # first write: without one of them, no Secret is written
    for triple in (("", "serviceaccounts", "update"), ("", "serviceaccounts", "get")):
        writer.set_rules(without(writer.manifest_rules, triple))
        failed, output = _run_role(localenv, "registry_credentials", role_vars, writer.kubeconfig)
        assert failed is not None, (triple, output[-3000:])
        assert failed["task"].startswith("Check the ServiceAccount inputs and the rights to attach"), failed
        _assert_names_rule(failed["result"]["msg"], triple, f"in namespaces {', '.join(nss)}")
        assert _secret_state(core, nss) == {nss[0]: None, nss[1]: None}, triple
    # with state=absent the rights of the deletions (the second step) are checked before the detach
    writer.set_rules(writer.manifest_rules)
    failed, output = _run_role(localenv, "registry_credentials", role_vars, writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    attached = _cleanup_state(core, nss)
    assert attached == {ns: ([SECRET], True) for ns in nss}, attached
    writer.set_rules(without(writer.manifest_rules, ("", "secrets", "delete")))
    failed, output = _run_role(localenv, "registry_credentials", dict(role_vars, registry_credentials_state="absent"),
                               writer.kubeconfig)
    assert failed is not None, output[-3000:]
    assert failed["task"].startswith("Check the Secret deletions and their rights"), failed
    _assert_names_rule(failed["result"]["msg"], ("", "secrets", "delete"), f"in namespaces {', '.join(nss)}")
    assert _cleanup_state(core, nss) == attached


# ---------------------------------------------------------------------------------------------- registry_probe verify

def _verify_world(core, registry, nss):
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    config = {"auths": {registry.host: {"username": registry.username, "password": registry.password, "auth": auth}}}
    for ns in nss:
        core.create_namespaced_secret(ns, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="regcred"), type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}))
        core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "regcred"}]})


def _verify_args(registry, image, nss):
    return {"registry_ca_path": registry.ca, "namespaces": nss,
            "verify": {"secret_name": "regcred", "images": [image], "service_accounts": ["default"],
                       "diagnose_stuck_pods": True}}


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_registry_probe_verify_runs_with_exactly_its_manifest(localenv, registry, private_image, core, unique_ns,
                                                              grant, mode):
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import RegistryProbeRunner

    nss = [unique_ns("rbacvfy"), unique_ns("rbacvfy")]
    _verify_world(core, registry, nss)
    if mode == "namespaced":
        g = grant("docs/rbac/registry_probe_verify-namespaced-read.yml", namespaces=nss)
    else:
        g = grant("docs/rbac/registry_probe_verify-read.yml")
    args = _as(g, _verify_args(registry, private_image, nss))
    run = run_module(localenv, "registrylink.k8s.registry_probe", args, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    assert run.result["ok"] is True and [r["namespace"] for r in run.result["namespaces"]] == nss, run.result
    assert run.result["probes"][0]["ok"] is True
    namespaced_warning = any("namespaced mode" in w for w in run.result.get("warnings", []))
    assert namespaced_warning is (mode == "namespaced")
    assert g.token not in run.output and registry.password not in run.output
    for triple in take_away_each(g):
        run = run_in_process("registry_probe", RegistryProbeRunner, args)
        assert run.failed, (triple, run.result)
        _assert_names_rule(run.result["msg"], triple, "cluster-wide" if mode == "cluster-wide" else f"in namespace {nss[0]}")


# ---------------------------------------------------------------------------------------------- pull_canary
CANARY_SELECTOR = "app.kubernetes.io/managed-by=registrylink.k8s,registrylink.k8s/canary=true"


def _pull_secret(core, ns, name, registry, password):
    auth = base64.b64encode(f"{registry.username}:{password}".encode()).decode()
    config = {"auths": {registry.host: {"username": registry.username, "password": password, "auth": auth}}}
    core.create_namespaced_secret(ns, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name=name), type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}))


def _canary_pods(core, ns):
    return [p.metadata.name for p in core.list_namespaced_pod(ns, label_selector=CANARY_SELECTOR).items]


def test_pull_canary_runs_with_exactly_its_manifests(localenv, registry, private_image, core, unique_ns, grant):
    """Both manifests bound with a RoleBinding in the canary's namespace only (nothing cluster-wide).
    Check mode with pull_canary-check.yml, real runs with pull_canary-write.yml: a pull through the real
    kubelet and a failed pull explained by the diagnosis. Taking away each verb: the run fails before its
    first write naming the rule (serviceaccounts, pods), or, for the two reads the module can do without,
    it still reports the pull and a warning names what is missing (events, secrets)."""
    from ansible_collections.registrylink.k8s.plugins.module_utils._pull_canary import PullCanaryRunner

    ns = unique_ns("rbaccny")
    _pull_secret(core, ns, "regcred", registry, registry.password)
    _pull_secret(core, ns, "wrongcred", registry, "not-the-password")
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "regcred"}]})
    base = {"namespace": ns, "image": [private_image], "registry_ca_path": registry.ca, "timeout": 60}
    wrong = dict(base, pull_secrets=["wrongcred"])

    g = grant("docs/rbac/pull_canary-check.yml", namespaces=[ns])
    args = _as(g, base)
    run = run_module(localenv, "registrylink.k8s.pull_canary", args, check=True, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    assert [r["verdict"] for r in run.result["results"]] == ["would_run"]
    for triple in take_away_each(g):
        run = run_in_process("pull_canary", PullCanaryRunner, args, check=True)
        assert run.failed, (triple, run.result)
        _assert_names_rule(run.result["msg"], triple, f"in namespace {ns}")
    assert _canary_pods(core, ns) == []

    g = grant("docs/rbac/pull_canary-write.yml", namespaces=[ns])
    args, wrong_args = _as(g, base), _as(g, wrong)
    run = run_module(localenv, "registrylink.k8s.pull_canary", args, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    (item,) = run.result["results"]
    assert item["verdict"] == "pulled" and item["pull_seconds"] > 0 and item["deleted"] is True, item
    assert not run.result.get("warnings"), run.result.get("warnings")
    assert g.token not in run.output and registry.password not in run.output
    run = run_in_process("pull_canary", PullCanaryRunner, wrong_args)
    (item,) = run.result["results"]
    assert item["verdict"] == "pull_failed" and item["category"] == "unauthorized", item
    assert _canary_pods(core, ns) == []

    for triple in take_away_each(g):
        _group, resource, verb = triple
        rule = rbac_rule(verb, resource)
        if resource == "events":
            run = run_in_process("pull_canary", PullCanaryRunner, args)
            (item,) = run.result["results"]
            assert item["verdict"] == "pulled" and item["pull_seconds"] is None and item["deleted"] is True, item
            assert any(f"cannot list events in {ns}" in w for w in run.result["warnings"]), run.result
        elif resource == "secrets":
            run = run_in_process("pull_canary", PullCanaryRunner, wrong_args)
            (item,) = run.result["results"]
            assert item["verdict"] == "pull_failed" and item["deleted"] is True, item
            assert item["diagnosis"] is None and item["category"] != "unauthorized", item
            assert any("diagnosis of" in w and f"list secrets in namespace {ns}" in w and rule in w
                       for w in run.result["warnings"]), run.result
        else:
            run = run_in_process("pull_canary", PullCanaryRunner, args)
            assert run.failed, (triple, run.result)
            _assert_names_rule(run.result["msg"], triple, f"in namespace {ns}")
            assert "results" not in run.result or all(r["pod"] is None for r in run.result["results"]), run.result
        assert _canary_pods(core, ns) == [], triple


# ---------------------------------------------------------------------------------------------- registry_gc
def _also_bind(g, manifest, namespace):
    """Bind ``g``'s ServiceAccount to a second manifest in one namespace (RoleBinding); returns an undo."""
    from tests.support.rbac import load_manifest
    doc = load_manifest(manifest)
    name = f"{g.name}-extra"
    g.rbac.create_cluster_role(k8s.V1ClusterRole(metadata=k8s.V1ObjectMeta(name=name), rules=g._rules(doc["rules"])))
    g.rbac.create_namespaced_role_binding(namespace, k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name=name),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=g.sa, namespace=g.sa_namespace)]))
    wanted = triples(doc["rules"])

    def wait(state):
        # after the undo, what the main ClusterRole grants stays allowed
        watched = wanted if state else [t for t in wanted if t not in triples(g.rules)]
        deadline = time.monotonic() + 20
        while any(g.allowed(*t, namespace=namespace) is not state for t in watched):
            assert time.monotonic() < deadline, f"RBAC of {name} not in effect"
            time.sleep(0.1)

    def undo():
        g.rbac.delete_namespaced_role_binding(name, namespace)
        g.rbac.delete_cluster_role(name)
        wait(False)

    wait(True)
    return wanted, undo


def test_registry_gc_runs_with_exactly_its_manifests(localenv, registry, core, api, unique_ns, grant):
    """registry_gc reads the pull secret and scans the cluster with exactly registry_gc-read.yml
    (ClusterRoleBinding) and registry_gc_pull_secret-read.yml (a RoleBinding in the Secret's namespace):
    the image a Deployment runs is kept, the other old one deleted. Each of the 7 kinds taken away: the
    task fails closed naming the rule, and the registry still holds every tag; the Secret's rule taken
    away: it fails naming the rule in that namespace."""
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_gc import RegistryGcRunner
    from tests.support.images import list_tags, push_image

    ns = unique_ns("rbacgc")
    _pull_secret(core, ns, "gc-cred", registry, registry.password)
    repo = f"it/gc-rbac-{secrets.token_hex(3)}/app"
    auth = (registry.username, registry.password)
    for tag, created in (("old-1", "2024-01-01T00:00:00Z"), ("old-2", "2024-02-01T00:00:00Z"),
                         ("new", "2026-01-01T00:00:00Z")):
        push_image(registry.url, repo, [tag], auth=auth, ca=registry.ca, created=created, seed=len(tag) + ord(tag[-1]))
    labels = {"app": "web"}
    k8s.AppsV1Api(api).create_namespaced_deployment(ns, k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="web"),
        spec=k8s.V1DeploymentSpec(replicas=0, selector=k8s.V1LabelSelector(match_labels=labels),
                                  template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=k8s.V1PodSpec(
                                      containers=[k8s.V1Container(name="app", image=f"{registry.host}/{repo}:old-1")])))))

    def tags():
        return list_tags(registry.url, repo, auth=auth, ca=registry.ca)

    g = grant("docs/rbac/registry_gc-read.yml")
    secret_rules, unbind = _also_bind(g, "docs/rbac/registry_gc_pull_secret-read.yml", ns)
    args = _as(g, {"registry": registry.host, "registry_ca_path": registry.ca, "repositories": [repo],
                   "tag_include": ["old-.*"], "pull_secret": {"namespace": ns, "name": "gc-cred"}})
    for triple in take_away_each(g):
        run = run_in_process("registry_gc", RegistryGcRunner, args)
        assert run.failed and "nothing was deleted" in run.result["msg"], (triple, run.result)
        (unreadable,) = run.result["unreadable"]
        _group, resource, verb = triple
        assert f"cannot list {resource}: forbidden: the credentials cannot list {resource} cluster-wide" in unreadable
        assert f"the rule {rbac_rule(verb, resource)} to a ClusterRole" in unreadable, unreadable
        assert tags() == ["new", "old-1", "old-2"], triple

    check = run_module(localenv, "registrylink.k8s.registry_gc", args, check=True, extra_env=_isolated())
    assert not check.failed, check.result.get("msg")
    run = run_module(localenv, "registrylink.k8s.registry_gc", args, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    assert [e["tags"] for e in run.result["deleted"]] == [["old-2"]], run.result["deleted"]
    assert tags() == ["new", "old-1"]
    assert g.token not in run.output and registry.password not in run.output

    (triple,) = secret_rules
    unbind()
    run = run_in_process("registry_gc", RegistryGcRunner, args)
    assert run.failed, run.result
    _assert_names_rule(run.result["msg"], triple, f"in namespace {ns}")
    assert tags() == ["new", "old-1"]


# ---------------------------------------------------------------------------------------------- registry_probe pod / pull_secret
def test_registry_probe_pull_secret_and_pod_modes_run_with_exactly_their_manifests(localenv, registry, private_image,
                                                                                   core, unique_ns, grant):
    """pull_secret mode with registry_probe_pull_secret-read.yml and pod mode with
    registry_probe_pod-read.yml, each bound with a RoleBinding in its one namespace. A Pod held off the
    node, with a kubelet-shaped Event saying the node does not trust the registry's CA: with the whole
    manifest the diagnosis reads that Event (tls_untrusted). Each verb taken away: the run fails naming
    the rule, except events, which the diagnosis goes without, with a warning naming the rule."""
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import RegistryProbeRunner

    ns = unique_ns("rbacprb")
    _pull_secret(core, ns, "regcred", registry, registry.password)

    g = grant("docs/rbac/registry_probe_pull_secret-read.yml", namespaces=[ns])
    args = _as(g, {"image": private_image, "registry_ca_path": registry.ca,
                   "pull_secret": {"namespace": ns, "name": "regcred"}})
    run = run_module(localenv, "registrylink.k8s.registry_probe", args, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    assert run.result["ok"] is True and run.result["credentials"]["secret"] == f"{ns}/regcred", run.result
    assert g.token not in run.output and registry.password not in run.output
    (triple,) = triples(g.manifest_rules)
    g.set_rules(without(g.manifest_rules, triple))
    run = run_in_process("registry_probe", RegistryProbeRunner, args)
    assert run.failed, run.result
    _assert_names_rule(run.result["msg"], triple, f"in namespace {ns}")

    core.create_namespaced_pod(ns, k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="web"), spec=k8s.V1PodSpec(
        containers=[k8s.V1Container(name="app", image=private_image)],
        image_pull_secrets=[k8s.V1LocalObjectReference(name="regcred")],
        scheduling_gates=[k8s.V1PodSchedulingGate(name=NO_NODE_GATE)])))
    pod = core.read_namespaced_pod("web", ns)
    core.create_namespaced_event(ns, k8s.CoreV1Event(
        metadata=k8s.V1ObjectMeta(generate_name="web."), type="Warning", reason="Failed",
        message=f'Failed to pull image "{private_image}": failed to resolve reference: Head "https://{registry.host}'
                '/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority',
        involved_object=k8s.V1ObjectReference(kind="Pod", name="web", namespace=ns, uid=pod.metadata.uid),
        source=k8s.V1EventSource(component="kubelet"), count=1))
    g = grant("docs/rbac/registry_probe_pod-read.yml", namespaces=[ns])
    args = _as(g, {"pod": {"namespace": ns, "name": "web"}, "registry_ca_path": registry.ca})
    run = run_module(localenv, "registrylink.k8s.registry_probe", args, extra_env=_isolated())
    assert not run.failed, run.result.get("msg")
    (container,) = run.result["containers"]
    assert container["category"] == "tls_untrusted" and container["probe"]["ok"] is True, container
    assert not any("cannot list" in w for w in run.result.get("warnings", [])), run.result["warnings"]
    assert g.token not in run.output and registry.password not in run.output
    for triple in take_away_each(g):
        run = run_in_process("registry_probe", RegistryProbeRunner, args)
        _group, resource, verb = triple
        if resource == "events":
            assert not run.failed, run.result.get("msg")
            (container,) = run.result["containers"]
            assert container["category"] is None and run.result["events"] == [], run.result
            assert any(f"cannot list events in namespace {ns}" in w and rbac_rule(verb, resource) in w
                       for w in run.result["warnings"]), run.result["warnings"]
        else:
            assert run.failed, (triple, run.result)
            _assert_names_rule(run.result["msg"], triple, f"in namespace {ns}")


# ---------------------------------------------------------------------------------------------- role cleanup
def _cleanup_world(core, registry, nss):
    """By the admin: in each namespace our Secret (managed by the collection) attached to ``default``
    next to an entry of someone else's."""
    _rs_prepare(core, registry, nss, first=True)
    for ns in nss:
        core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": SECRET},
                                                                                   {"name": "theirs"}]})


def _cleanup_state(core, nss):
    return {ns: ([r.name for r in core.read_namespaced_service_account("default", ns).image_pull_secrets or []],
                 _secret_state(core, [ns])[ns] is not None) for ns in nss}


def _role_msg(failed):
    """The failed task's message; for a loop, the first failed item's."""
    result = failed["result"]
    for item in result.get("results") or []:
        if item.get("failed"):
            return item["msg"]
    return result["msg"]


def test_cleanup_role_runs_with_exactly_its_manifests(localenv, registry, core, unique_ns, grant):
    """The role cleanup (cluster side) in check mode with cleanup-read.yml changes nothing; for real with
    cleanup-write.yml it detaches our entry (theirs stays) and deletes our Secrets. Each verb of either
    manifest taken away, the role fails naming the rule, with nothing written; the rules of its second
    module (list and delete on secrets) are checked by a check-mode pass with check_rights before the
    detach."""
    nss = [unique_ns("rbaccln"), unique_ns("rbaccln")]
    role_vars = {"cleanup_namespaces": nss, "cleanup_secret_names": [SECRET], "cleanup_service_accounts": ["default"]}
    _cleanup_world(core, registry, nss)
    before = _cleanup_state(core, nss)
    assert before == {ns: ([SECRET, "theirs"], True) for ns in nss}

    reader = grant("docs/rbac/cleanup-read.yml")
    failed, output = _run_role(localenv, "cleanup", role_vars, reader.kubeconfig, check=True)
    assert failed is None, (failed, output[-3000:])
    assert _cleanup_state(core, nss) == before
    for triple in take_away_each(reader):
        failed, output = _run_role(localenv, "cleanup", role_vars, reader.kubeconfig, check=True)
        assert failed is not None, (triple, output[-3000:])
        _assert_names_rule(_role_msg(failed), triple, "cluster-wide")

    writer = grant("docs/rbac/cleanup-write.yml")
    for triple in take_away_each(writer):
        _cleanup_world(core, registry, nss)
        failed, output = _run_role(localenv, "cleanup", role_vars, writer.kubeconfig)
        assert failed is not None, (triple, output[-3000:])
        _group, resource, verb = triple
        scope = "cluster-wide" if verb == "list" else f"in namespace{'s' if len(nss) > 1 else ''} {', '.join(nss)}"
        _assert_names_rule(_role_msg(failed), triple, scope)
        assert _cleanup_state(core, nss) == before, triple
        if resource == "secrets":
            # registry_secret's rights, its second module's, are checked by the role's check-mode pass
            assert failed["task"].startswith("Check the Secret deletions and their rights"), failed
    _cleanup_world(core, registry, nss)
    failed, output = _run_role(localenv, "cleanup", role_vars, writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    assert _cleanup_state(core, nss) == {ns: (["theirs"], False) for ns in nss}
    assert writer.token not in output


# ---------------------------------------------------------------------------------------------- role verify
def test_verify_role_runs_with_exactly_its_manifests(localenv, registry, private_image, core, unique_ns, grant,
                                                     tmp_path):
    """The role verify with its canary: registry_probe_verify-read.yml bound cluster-wide and
    pull_canary-write.yml bound with a RoleBinding in the canary's namespace only. The report says ok,
    the canary pulled through the real kubelet and left no Pod. Without the canary's binding the role
    fails, its message naming the rule the canary lacks (each module's rules one by one are taken away
    in the module tests above)."""
    nss = [unique_ns("rbacvr"), unique_ns("rbacvr")]
    _verify_world(core, registry, nss)
    role_vars = {"verify_namespaces": nss, "verify_images": [private_image], "verify_secret_name": "regcred",
                 "verify_registry_ca_path": registry.ca, "verify_canary": True, "verify_canary_namespace": nss[0],
                 "verify_canary_timeout": 60, "verify_report_dir": str(tmp_path / "report")}
    g = grant("docs/rbac/registry_probe_verify-read.yml")
    _rules, unbind = _also_bind(g, "docs/rbac/pull_canary-write.yml", nss[0])
    failed, output = _run_role(localenv, "verify", role_vars, g.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    report = json.loads((tmp_path / "report" / "localhost.json").read_text())
    assert report["ok"] is True and [n["namespace"] for n in report["namespaces"]] == nss, report
    (item,) = report["canary"]["results"]
    assert item["verdict"] == "pulled" and item["deleted"] is True, item
    assert _canary_pods(core, nss[0]) == []
    assert g.token not in output and registry.password not in output

    unbind()
    failed, output = _run_role(localenv, "verify", role_vars, g.kubeconfig)
    assert failed is not None, output[-3000:]
    assert failed["task"] == "Fail when something is broken", failed
    msg = failed["result"]["msg"]
    # the ServiceAccount and Pod reads are in the cluster-wide manifest: what is missing are the writes,
    # found by the canary's check before its first write
    assert f"forbidden, nothing was written: pull_canary needs to create pods in namespace {nss[0]}" in msg, msg
    assert f"needs to delete pods in namespace {nss[0]}" in msg and rbac_rule("delete", "pods") in msg, msg
    assert _canary_pods(core, nss[0]) == []


# ---------------------------------------------------------------------------------------------- roles eks_ecr, aks_acr
# Token mode of both roles: the Secret (provider ecr against moto, provider acr against the Azure
# stand-in) in every namespace, attached to ``default``. Their Kubernetes side is the same pair of
# modules, with the same manifests' shape (docs/rbac/<role>_token-{read,write}.yml).
ECR_REGION = "us-east-1"


@pytest.fixture(scope="module")
def acr_standin(tmp_path_factory):
    """The Azure stand-in (Entra client credentials, the ACR token exchange) with one service principal.
    No registry behind it: the role's Kubernetes rights are under test, and no pull is made."""
    import uuid

    from tests.support.azure_standin import AzureStandIn
    from tests.support.localenv import make_ca

    tmp = tmp_path_factory.mktemp("acr-rbac")
    ca = make_ca(tmp / "ca", cn="registrylink ACR stand-in CA")
    client_id, client_secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
    standin = AzureStandIn(tmp / "standin", ca, clients={client_id: client_secret},
                           service="acrrbac.stand-in.test").start()
    yield {"standin": standin, "ca": ca.cert, "client_id": client_id, "client_secret": client_secret}
    standin.stop()


@pytest.fixture(scope="module")
def google(tmp_path_factory):
    """The Google stand-in (OAuth2, IAM policies, GKE cluster reads) with a project, a repository
    ``team``, a GKE cluster ``prod`` with Workload Identity on, an admin key the role uses for IAM, a
    Google service account for the classic Workload Identity form and a puller key for token mode. No
    registry behind it: the role's Kubernetes rights are under test, and no pull is made."""
    from tests.support.gcp_standin import GoogleStandIn
    from tests.support.localenv import make_ca

    tmp = tmp_path_factory.mktemp("gcp-rbac")
    ca = make_ca(tmp / "ca", cn="registrylink Google stand-in CA")
    project = "rl-rbac-" + secrets.token_hex(3)
    with GoogleStandIn(tmp / "google", ca) as standin:
        standin.add_project(project, "135792468024")
        repo = standin.add_repository(project, "europe-west1", "team")
        admin = standin.add_service_account(f"iam-admin@{project}.iam.gserviceaccount.com", project)
        standin.iam_admins.add("serviceAccount:" + admin.email)
        gsa = standin.add_service_account(f"ci-pusher@{project}.iam.gserviceaccount.com", project)
        puller = standin.add_service_account(f"puller@{project}.iam.gserviceaccount.com", project)
        standin.add_cluster(project, "europe-west1", {
            "name": "prod", "location": "europe-west1", "status": "RUNNING",
            "workloadIdentityConfig": {"workloadPool": f"{project}.svc.id.goog"},
            "nodePools": [{"name": "pool-nodes", "config": {
                "serviceAccount": f"gke-nodes@{project}.iam.gserviceaccount.com",
                "workloadMetadataConfig": {"mode": "GKE_METADATA"}}}]})
        yield {"standin": standin, "project": project, "repo": repo, "gsa": gsa.email,
               "gsa_resource": f"projects/{project}/serviceAccounts/{gsa.email}",
               "admin_key": admin.write(tmp / "admin.json"), "puller_key": puller.write(tmp / "puller.json"),
               "env": {"REQUESTS_CA_BUNDLE": ca.cert}}


def _token_role_vars(request, role, nss, secret_name):
    """(the role's variables, the environment it needs) for token mode."""
    if role == "eks_ecr":
        return {"eks_ecr_mode": "token", "eks_ecr_cluster_name": "local", "eks_ecr_region": ECR_REGION,
                "eks_ecr_namespaces": nss, "eks_ecr_secret_name": secret_name, "eks_ecr_refresh_before": "6h"}, None
    if role == "gke_artifact_registry":
        gcp = request.getfixturevalue("google")
        return {"gke_artifact_registry_mode": "token", "gke_artifact_registry_server": "europe-west1-docker.pkg.dev",
                "gke_artifact_registry_credentials_file": gcp["puller_key"], "gke_artifact_registry_namespaces": nss,
                "gke_artifact_registry_secret_name": secret_name}, gcp["env"]
    acr = request.getfixturevalue("acr_standin")
    standin = acr["standin"]
    return {"aks_acr_mode": "token", "aks_acr_server": standin.service, "aks_acr_namespaces": nss,
            "aks_acr_secret_name": secret_name, "aks_acr_tenant_id": standin.tenant_id,
            "aks_acr_client_id": acr["client_id"], "aks_acr_client_secret": acr["client_secret"],
            "aks_acr_authority_host": standin.authority, "aks_acr_token_endpoint": standin.url,
            "aks_acr_ca_path": acr["ca"]}, None


def _token_world(core, nss, secret_name, attached):
    """By the admin. ``attached=False``: namespace 0 without the Secret (the role creates it), namespace 1
    with a managed Secret of other content (the role updates it), ``default`` without pull secrets.
    ``attached=True``: both Secrets there and attached to ``default`` next to someone else's entry (what
    ``state: absent`` removes)."""
    auth = base64.b64encode(b"someone:old-pass").decode()
    config = {"auths": {"old.registry.test": {"username": "someone", "password": "old-pass", "auth": auth}}}
    for index, ns in enumerate(nss):
        try:
            core.delete_namespaced_secret(secret_name, ns)
        except ApiException as exc:
            if exc.status != 404:
                raise
        if index or attached:
            core.create_namespaced_secret(ns, k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name=secret_name, labels={"app.kubernetes.io/managed-by": "registrylink.k8s"}),
                type="kubernetes.io/dockerconfigjson",
                data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}))
        entries = [{"name": secret_name}, {"name": "theirs"}] if attached else [{"name": "theirs"}]
        core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": entries})


def _token_state(core, nss, secret_name):
    """namespace -> (the Secret's resourceVersion or None, ``default``'s resourceVersion and entries)."""
    out = {}
    for ns in nss:
        try:
            secret = core.read_namespaced_secret(secret_name, ns).metadata.resource_version
        except ApiException as exc:
            if exc.status != 404:
                raise
            secret = None
        sa = core.read_namespaced_service_account("default", ns)
        out[ns] = (secret, sa.metadata.resource_version, [r.name for r in sa.image_pull_secrets or []])
    return out


@pytest.mark.parametrize("role", ["eks_ecr", "aks_acr", "gke_artifact_registry"])
def test_token_mode_roles_run_with_exactly_their_manifests(localenv, request, core, unique_ns, grant, role):
    """The role in token mode: check mode with <role>_token-read.yml writes nothing; for real with
    <role>_token-write.yml it creates one Secret, updates the other, attaches it next to someone else's
    entry; the rerun changes nothing; state=absent detaches and deletes. Each verb of either manifest
    taken away (delete on secrets with state=absent, the others with state=present): the role fails
    naming the verb, the resource, the scope and the rule to add, with nothing written in the cluster:
    the rights of the later modules are checked by the role's check-mode passes before its first write."""
    nss = [unique_ns("rbactok"), unique_ns("rbactok")]
    secret_name = f"{role.replace('_', '-')}-rbac"
    present, env = _token_role_vars(request, role, nss, secret_name)
    absent = dict(present, **{f"{role}_state": "absent"})

    reader = grant(f"docs/rbac/{role}_token-read.yml")
    _token_world(core, nss, secret_name, attached=False)
    before = _token_state(core, nss, secret_name)
    failed, output = _run_role(localenv, role, present, reader.kubeconfig, check=True, extra_env=env)
    assert failed is None, (failed, output[-3000:])
    assert _token_state(core, nss, secret_name) == before
    for triple in take_away_each(reader):
        failed, output = _run_role(localenv, role, present, reader.kubeconfig, check=True, extra_env=env)
        assert failed is not None, (triple, output[-3000:])
        _assert_names_rule(_role_msg(failed), triple, "cluster-wide")
    assert _token_state(core, nss, secret_name) == before

    writer = grant(f"docs/rbac/{role}_token-write.yml")
    for triple in take_away_each(writer):
        _group, resource, verb = triple
        _token_world(core, nss, secret_name, attached=verb == "delete")
        before = _token_state(core, nss, secret_name)
        failed, output = _run_role(localenv, role, absent if verb == "delete" else present, writer.kubeconfig,
                                   extra_env=env)
        assert failed is not None, (triple, output[-3000:])
        if verb == "list":
            scope = "cluster-wide"
        elif resource == "secrets" and verb == "create":
            scope = f"in namespace {nss[0]}"
        elif resource == "secrets" and verb in ("get", "update"):
            scope = f"in namespace {nss[1]}"
        else:  # get/update on serviceaccounts, delete on secrets: every namespace
            scope = f"in namespaces {', '.join(nss)}"
        _assert_names_rule(_role_msg(failed), triple, scope)
        assert _token_state(core, nss, secret_name) == before, (triple, failed["task"])
        assert writer.token not in output

    _token_world(core, nss, secret_name, attached=False)
    failed, output = _run_role(localenv, role, present, writer.kubeconfig, extra_env=env)
    assert failed is None, (failed, output[-3000:])
    made = _token_state(core, nss, secret_name)
    assert all(secret is not None and entries == ["theirs", secret_name] for secret, _rv, entries in made.values()), made
    assert made[nss[1]][0] != before[nss[1]][0]  # the other content was replaced by a minted token
    failed, output = _run_role(localenv, role, present, writer.kubeconfig, extra_env=env)
    assert failed is None, (failed, output[-3000:])
    assert _token_state(core, nss, secret_name) == made  # the rerun writes nothing
    failed, output = _run_role(localenv, role, absent, writer.kubeconfig, extra_env=env)
    assert failed is None, (failed, output[-3000:])
    gone = _token_state(core, nss, secret_name)
    assert all(secret is None and entries == ["theirs"] for secret, _rv, entries in gone.values()), gone
    assert writer.token not in output


# Identity mode of eks_ecr: AWS IAM (moto) for the node roles and IRSA; in Kubernetes only the
# ServiceAccounts of eks_ecr_irsa_service_accounts (the annotation, created when asked).
@pytest.fixture
def eks_identity(localenv, core, unique_ns):
    import boto3

    iam = boto3.client("iam", region_name=ECR_REGION, endpoint_url=localenv.moto_url)
    suffix = secrets.token_hex(3)
    node_role = f"eks-node-rbac-{suffix}"
    iam.create_role(RoleName=node_role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    ns = unique_ns("rbacirsa")
    core.create_namespaced_service_account(ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="refresher")))
    cluster = f"rbac-{suffix}"
    issuer = f"https://oidc.eks.{ECR_REGION}.amazonaws.com/id/RBAC{suffix.upper()}0123456789"
    info = {"iam": iam, "ns": ns, "node_role": node_role, "irsa_role": f"registrylink-{cluster}-ecr",
            "oidc_arn": f"arn:aws:iam::123456789012:oidc-provider/{issuer[len('https://'):]}",
            "vars": {"eks_ecr_mode": "identity", "eks_ecr_cluster_name": cluster, "eks_ecr_region": ECR_REGION,
                     "eks_ecr_node_roles": [node_role], "eks_ecr_oidc_issuer": issuer,
                     "eks_ecr_irsa_service_accounts": [{"namespace": ns, "name": "refresher"},
                                                       {"namespace": ns, "name": "rl-new"}],
                     "eks_ecr_irsa_create_service_accounts": True}}
    yield info
    for pol in iam.list_role_policies(RoleName=node_role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=node_role, PolicyName=pol)
    iam.delete_role(RoleName=node_role)
    try:
        for pol in iam.list_role_policies(RoleName=info["irsa_role"])["PolicyNames"]:
            iam.delete_role_policy(RoleName=info["irsa_role"], PolicyName=pol)
        iam.delete_role(RoleName=info["irsa_role"])
    except iam.exceptions.NoSuchEntityException:
        pass
    try:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=info["oidc_arn"])
    except iam.exceptions.NoSuchEntityException:
        pass


def _identity_state(core, eks):
    """What the role may write, read back independently: IAM (moto) and the ServiceAccounts."""
    iam = eks["iam"]
    try:
        irsa = iam.get_role(RoleName=eks["irsa_role"])["Role"]["RoleName"]
    except iam.exceptions.NoSuchEntityException:
        irsa = None
    providers = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    accounts = dict((sa.metadata.name, (sa.metadata.resource_version, (sa.metadata.annotations or {}).get(
        "eks.amazonaws.com/role-arn"))) for sa in core.list_namespaced_service_account(eks["ns"]).items)
    return {"node_policies": iam.list_role_policies(RoleName=eks["node_role"])["PolicyNames"], "irsa_role": irsa,
            "oidc": eks["oidc_arn"] in providers, "accounts": accounts}


def test_eks_ecr_identity_mode_runs_with_exactly_its_manifests(localenv, core, grant, eks_identity):
    """eks_ecr identity mode, Kubernetes side: check mode with eks_ecr_identity-read.yml; for real with
    eks_ecr_identity-write.yml it annotates ``refresher`` and creates ``rl-new``, and state=absent removes
    the annotation. Each verb taken away: the role fails naming the rule before its first write, in
    Kubernetes and in IAM (the node role's policy is written first; the ServiceAccounts' rights are
    checked before, in the role's check-mode pass)."""
    eks = eks_identity
    role_vars = eks["vars"]
    empty = _identity_state(core, eks)
    assert empty["node_policies"] == [] and empty["irsa_role"] is None and list(empty["accounts"]) == [
        "default", "refresher"]

    reader = grant("docs/rbac/eks_ecr_identity-read.yml")
    failed, output = _run_role(localenv, "eks_ecr", role_vars, reader.kubeconfig, check=True)
    assert failed is None, (failed, output[-3000:])
    assert _identity_state(core, eks) == empty
    for triple in take_away_each(reader):
        failed, output = _run_role(localenv, "eks_ecr", role_vars, reader.kubeconfig, check=True)
        assert failed is not None, (triple, output[-3000:])
        _assert_names_rule(_role_msg(failed), triple, "cluster-wide")

    writer = grant("docs/rbac/eks_ecr_identity-write.yml")
    for triple in take_away_each(writer):
        failed, output = _run_role(localenv, "eks_ecr", role_vars, writer.kubeconfig)
        assert failed is not None, (triple, output[-3000:])
        _assert_names_rule(_role_msg(failed), triple, "cluster-wide" if triple[2] == "list"
                           else f"in namespace {eks['ns']}")
        assert _identity_state(core, eks) == empty, (triple, failed["task"])

    failed, output = _run_role(localenv, "eks_ecr", role_vars, writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    made = _identity_state(core, eks)
    arn = f"arn:aws:iam::123456789012:role/{eks['irsa_role']}"
    assert made["node_policies"] == ["registrylink-ecr-pull"] and made["irsa_role"] == eks["irsa_role"], made
    assert {name: made["accounts"][name][1] for name in ("refresher", "rl-new")} == {"refresher": arn, "rl-new": arn}
    failed, output = _run_role(localenv, "eks_ecr", role_vars, writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    assert _identity_state(core, eks)["accounts"] == made["accounts"]  # the rerun writes nothing in Kubernetes
    failed, output = _run_role(localenv, "eks_ecr", dict(role_vars, eks_ecr_state="absent"), writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    gone = _identity_state(core, eks)
    assert gone["node_policies"] == [] and gone["irsa_role"] is None and not gone["oidc"], gone
    assert all(annotation is None for _rv, annotation in gone["accounts"].values()), gone
    assert writer.token not in output


# ---------------------------------------------------------------------------------------------- roles in identity modes
# The identity modes of gke_artifact_registry and aks_acr write in the cloud (Google IAM, Azure) and, in
# Kubernetes, only annotations on ServiceAccounts (sa_pull_secret). Their Kubernetes rights are checked
# by the role's check-mode pass (check_rights) before the first cloud write.
def _accounts(core, ns, annotation):
    """name -> (resourceVersion, the value of ``annotation`` or None) of every ServiceAccount in ``ns``."""
    return dict((sa.metadata.name, (sa.metadata.resource_version, (sa.metadata.annotations or {}).get(annotation)))
                for sa in core.list_namespaced_service_account(ns).items)


def _identity_matrix(localenv, role, role_vars, reader, writer, written, ns, env=None):
    """Check mode with the read manifest writes nothing; each verb of the read manifest taken away in check
    mode, and of the write manifest for real, the role fails naming the verb, the resource, the scope and
    the rule, and ``written()`` (what the role may write, read back independently) is what it was."""
    empty = written()
    failed, output = _run_role(localenv, role, role_vars, reader.kubeconfig, check=True, extra_env=env)
    assert failed is None, (failed, output[-3000:])
    assert written() == empty
    for triple in take_away_each(reader):
        failed, output = _run_role(localenv, role, role_vars, reader.kubeconfig, check=True, extra_env=env)
        assert failed is not None, (triple, output[-3000:])
        _assert_names_rule(_role_msg(failed), triple, "cluster-wide")
    for triple in take_away_each(writer):
        failed, output = _run_role(localenv, role, role_vars, writer.kubeconfig, extra_env=env)
        assert failed is not None, (triple, output[-3000:])
        _assert_names_rule(_role_msg(failed), triple, "cluster-wide" if triple[2] == "list" else f"in namespace {ns}")
        assert written() == empty, (triple, failed["task"])
        assert writer.token not in output
    return empty


GKE_ANNOTATION = "iam.gke.io/gcp-service-account"


def test_gke_artifact_registry_workload_identity_runs_with_exactly_its_manifests(
        localenv, core, unique_ns, grant, google):
    """gke_artifact_registry in workload_identity mode, classic form (a Google service account; the
    direct form writes nothing in Kubernetes): check mode with
    gke_artifact_registry_workload_identity-read.yml; for real with ..._workload_identity-write.yml it
    annotates ``pusher`` and creates ``rl-new`` (gke_artifact_registry_create_service_accounts), the
    rerun writes nothing in Kubernetes, state=absent removes the annotations and the grants. Each verb
    taken away (2 in check mode, 5 for writing): the role fails naming the rule, with nothing written
    in Kubernetes nor in Google IAM (the grants come after the check-mode pass with check_rights)."""
    standin = google["standin"]
    ns = unique_ns("rbacgwi")
    core.create_namespaced_service_account(ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="pusher")))
    url = standin.url
    role_vars = {"gke_artifact_registry_mode": "workload_identity", "gke_artifact_registry_project": google["project"],
                 "gke_artifact_registry_location": "europe-west1", "gke_artifact_registry_cluster": "prod",
                 "gke_artifact_registry_repository": "team", "gke_artifact_registry_repository_location": "europe-west1",
                 "gke_artifact_registry_credentials_file": google["admin_key"],
                 "gke_artifact_registry_resource_manager_endpoint": url,
                 "gke_artifact_registry_artifact_registry_endpoint": url, "gke_artifact_registry_iam_endpoint": url,
                 "gke_artifact_registry_container_endpoint": url,
                 "gke_artifact_registry_google_service_account": google["gsa"],
                 "gke_artifact_registry_create_service_accounts": True,
                 "gke_artifact_registry_workload_service_accounts": [{"namespace": ns, "name": "pusher"},
                                                                     {"namespace": ns, "name": "rl-new"}]}
    resources = (google["repo"], google["gsa_resource"])

    def written():
        return {"iam": {r: standin.policy(r).get("bindings", []) for r in resources},
                "accounts": _accounts(core, ns, GKE_ANNOTATION)}

    reader = grant("docs/rbac/gke_artifact_registry_workload_identity-read.yml")
    writer = grant("docs/rbac/gke_artifact_registry_workload_identity-write.yml")
    empty = _identity_matrix(localenv, "gke_artifact_registry", role_vars, reader, writer, written, ns,
                             env=google["env"])
    assert sorted(empty["accounts"]) == ["default", "pusher"]

    failed, output = _run_role(localenv, "gke_artifact_registry", role_vars, writer.kubeconfig, extra_env=google["env"])
    assert failed is None, (failed, output[-3000:])
    made = written()
    annotated = {name: made["accounts"][name][1] for name in ("pusher", "rl-new")}
    assert annotated == {"pusher": google["gsa"], "rl-new": google["gsa"]}, made
    assert made["iam"] != empty["iam"]
    failed, output = _run_role(localenv, "gke_artifact_registry", role_vars, writer.kubeconfig, extra_env=google["env"])
    assert failed is None, (failed, output[-3000:])
    assert written() == made  # the rerun writes nothing, in Kubernetes nor in IAM
    absent = dict(role_vars, gke_artifact_registry_state="absent")
    failed, output = _run_role(localenv, "gke_artifact_registry", absent, writer.kubeconfig, extra_env=google["env"])
    assert failed is None, (failed, output[-3000:])
    gone = written()
    assert gone["iam"] == empty["iam"], gone
    assert all(value is None for _rv, value in gone["accounts"].values()), gone
    assert writer.token not in output


@pytest.fixture
def aks_arm(acr_standin):
    """In the Azure stand-in: a registry (ARM only, no registry behind it), an AKS cluster with a kubelet
    identity and the local API server as its OIDC issuer, an admin service principal; role assignments,
    identities and federated credentials are removed afterwards."""
    standin = acr_standin["standin"]
    if standin.registry_id is None:
        standin.registry_id = standin.add_registry("acrrbac", "acrrbac.azurecr.io")
    kubelet = standin.add_client(str(uuid.uuid4()), secrets.token_urlsafe(24))
    cluster = standin.add_cluster(f"aks-rbac-{secrets.token_hex(3)}", kubelet_object_id=kubelet,
                                  oidc_issuer="https://oidc.rbac.stand-in.test/" + secrets.token_hex(4))
    common = {"aks_acr_registry_id": standin.registry_id, "aks_acr_cluster_id": cluster,
              "aks_acr_tenant_id": standin.tenant_id, "aks_acr_client_id": acr_standin["client_id"],
              "aks_acr_client_secret": acr_standin["client_secret"], "aks_acr_authority_host": standin.authority,
              "aks_acr_arm_endpoint": standin.url, "aks_acr_ca_path": acr_standin["ca"], "aks_acr_wait_timeout": "60s"}
    yield {"standin": standin, "kubelet": kubelet, "cluster": cluster, "vars": common}
    standin.assignments.clear()
    standin.identities.clear()
    standin.federated.clear()


def _azure_state(standin):
    return {"assignments": sorted(a["name"] for a in standin.all_assignments()),
            "identities": sorted(standin.identities), "federated": sorted(standin.federated)}


AKS_CLIENT_ID = "azure.workload.identity/client-id"


def test_aks_acr_workload_identity_runs_with_exactly_its_manifests(localenv, core, unique_ns, grant, aks_arm):
    """aks_acr in workload_identity mode: check mode with aks_acr_workload_identity-read.yml; for real
    with aks_acr_workload_identity-write.yml it makes the identity, its federated credential and the pull
    role and annotates the ServiceAccount; the rerun writes nothing; state=absent removes the annotations,
    then the Azure side. Each verb taken away (2 in check mode, 4 for writing): the role fails naming the
    rule, with nothing written in Kubernetes nor in Azure (the identity comes after the check-mode pass
    with check_rights)."""
    standin = aks_arm["standin"]
    ns = unique_ns("rbacawi")
    core.create_namespaced_service_account(ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="scanner")))
    ident = (f"/subscriptions/{standin.subscription}/resourceGroups/{standin.resource_group}/providers/"
             f"Microsoft.ManagedIdentity/userAssignedIdentities/scanner-{secrets.token_hex(3)}")
    role_vars = dict(aks_arm["vars"], aks_acr_mode="workload_identity", aks_acr_identity_id=ident,
                     aks_acr_workload_namespace=ns, aks_acr_workload_service_account="scanner")

    def written():
        return {"azure": _azure_state(standin), "accounts": _accounts(core, ns, AKS_CLIENT_ID)}

    reader = grant("docs/rbac/aks_acr_workload_identity-read.yml")
    writer = grant("docs/rbac/aks_acr_workload_identity-write.yml")
    empty = _identity_matrix(localenv, "aks_acr", role_vars, reader, writer, written, ns)
    assert empty["azure"] == {"assignments": [], "identities": [], "federated": []}, empty

    failed, output = _run_role(localenv, "aks_acr", role_vars, writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    made = written()
    (identity,) = standin.identities.values()
    assert made["accounts"]["scanner"][1] == identity["properties"]["clientId"], made
    assert len(made["azure"]["assignments"]) == 1 and len(made["azure"]["federated"]) == 1, made
    failed, output = _run_role(localenv, "aks_acr", role_vars, writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    assert written() == made  # the rerun writes nothing
    failed, output = _run_role(localenv, "aks_acr", dict(role_vars, aks_acr_state="absent"), writer.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    gone = written()
    assert gone["azure"] == empty["azure"] and gone["accounts"]["scanner"][1] is None, gone
    assert writer.token not in output and aks_arm["vars"]["aks_acr_client_secret"] not in output


def test_aks_acr_attach_needs_no_kubernetes_rights(localenv, grant, aks_arm):
    """aks_acr in attach mode (without a canary) writes only in Azure: with a kubeconfig whose
    ServiceAccount is bound to nothing at all, check mode plans the pull role, the real run makes it
    for the cluster's kubelet identity, the rerun writes nothing and state=absent removes it."""
    standin = aks_arm["standin"]
    nobody = grant(None)
    assert not nobody.allowed("", "namespaces", "list") and not nobody.allowed("", "secrets", "list", "default")
    role_vars = dict(aks_arm["vars"], aks_acr_mode="attach")
    failed, output = _run_role(localenv, "aks_acr", role_vars, nobody.kubeconfig, check=True)
    assert failed is None, (failed, output[-3000:])
    assert standin.all_assignments() == []
    failed, output = _run_role(localenv, "aks_acr", role_vars, nobody.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    (made,) = standin.all_assignments()
    assert made["properties"]["principalId"] == aks_arm["kubelet"], made
    failed, output = _run_role(localenv, "aks_acr", role_vars, nobody.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    assert [a["name"] for a in standin.all_assignments()] == [made["name"]]
    failed, output = _run_role(localenv, "aks_acr", dict(role_vars, aks_acr_state="absent"), nobody.kubeconfig)
    assert failed is None, (failed, output[-3000:])
    assert standin.all_assignments() == []
