"""No input crashes, every bad input is refused before any write.

Each case of ``bad_input_cases.yml`` (modules and roles, see the header of that file) runs through
``ansible-playbook`` against the local environment exactly as a user would run it, and must:

* fail (the task, or the role's first failing task), with a ``msg`` that names the option (and
  the fix, where the case says which words show it);
* show no traceback: no ``Traceback`` in the console output or in the result's ``exception``, no
  ``module_stderr``, no "failed unexpectedly" / "MODULE FAILURE" (a module's catch-all for bugs);
* write nothing: the API server's audit log (``tests.support.audit``) must show no create,
  update, patch, delete or deletecollection made with the case's credentials between the start
  and the end of the case (the control plane's and the node's own writes, such as a namespace
  controller still cleaning up an earlier test's namespace, are not theirs and not counted);
  the registry's tags of the seeded repository must be unchanged (registry_gc would delete them);
  IAM in moto (OIDC providers, roles, their inline policies) must be unchanged; the local node's
  containerd hosts.toml tree (every file, its mode and content) must be unchanged (containerd_hosts,
  node_registry_config).

The state is prepared so that each case WOULD write if its bad input slipped through (see the case
file), and ``test_write_counter_sees_a_valid_run`` proves the counter moves for a valid run made the
same way, so a zero here means nothing was written, not that nothing was counted.

Needs `make up` (one cluster is enough); fails, never skips, when the environment is down.
"""

from __future__ import annotations

import copy
import json
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from tests.support.ansible_run import REPO_ROOT, _ansible_env, run_module
from tests.support import audit, kube
from tests.support.images import list_tags, push_image

CASES_FILE = Path(__file__).with_name("bad_input_cases.yml")
TABLE = yaml.safe_load(CASES_FILE.read_text())
CASES = TABLE["cases"]

# the user of the kubeconfig the cases run with (tests/support/localenv.py: CN=admin)
TASK_USER = "admin"
NS_LABEL = "registrylink.test/badinput"
# How ansible-core shows an exception that escaped a module (before 2.19: "MODULE FAILURE" / "An exception
# occurred"; 2.19: the result's msg is "Task failed: Module failed: <exception>", while a module's own
# fail_json keeps its msg and only the console line gets that prefix), and the modules' catch-all for bugs.
CRASH_MARKERS = ("Traceback (most recent call last)", "failed unexpectedly", "MODULE FAILURE",
                 "An exception occurred during task execution")
CRASH_MSG_PREFIX = "Task failed: Module failed: "


# --------------------------------------------------------------------------- the world the cases run in


class World:
    def __init__(self, localenv, ns: str, repo: str, core_api):
        reg = localenv.registry
        self.localenv = localenv
        self.ns = ns
        self.repo = repo
        self.registry = reg
        self.audit = audit.AuditLog(localenv.cluster("local-1")["audit_log"])
        self.core_api = core_api
        # containerd_hosts / node_registry_config write the node's hosts.toml tree
        containerd = Path(localenv.cluster("local-1")["node"]["workdir"]) / "node" / "containerd"
        self.certs_d = containerd / "certs.d"
        unset = Path(tempfile.mkdtemp(prefix="rl-badinput-")) / "config.toml"
        unset.write_text("version = 2\n# no config_path\n")
        self.subst = {
            "@@ns@@": ns, "@@registry@@": reg.host, "@@registry_user@@": reg.username,
            "@@registry_password@@": reg.password, "@@registry_ca@@": reg.ca, "@@repo@@": repo,
            "@@kubeconfig@@": localenv.kubeconfig, "@@moto@@": localenv.moto_url,
            "@@containerd_config@@": str(containerd / "config.toml"), "@@containerd_config_unset@@": str(unset),
            "@@long64@@": "a" * 64, "@@long129@@": "a" * 129, "@@long254@@": "a" * 254, "@@sha1@@": "a" * 40,
            "@@acr_registry_id@@": ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg"
                                    "/providers/Microsoft.ContainerRegistry/registries/badinput"),
        }

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            for key, repl in self.subst.items():
                value = value.replace(key, repl)
            return value
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            if set(value) == {"@@nested@@"}:
                depth = int(value["@@nested@@"])
                return '{"auths": {"a": ' + "[" * depth + "]" * depth + "}}"
            return dict((self.fill(k), self.fill(v)) for k, v in value.items())
        return value

    # -- what a task wrote
    def api_mark(self) -> int:
        self.audit.sync(self.core_api)
        return self.audit.mark()

    def api_writes_since(self, mark: int) -> Dict[str, int]:
        """The task's writes since ``mark`` as ``{"<verb> <resource>": n}``."""
        self.audit.sync(self.core_api)
        return audit.writes(self.audit.events_since(mark), user=TASK_USER)

    def registry_tags(self) -> List[str]:
        return sorted(list_tags(self.registry.url, self.repo, auth=(self.registry.username, self.registry.password),
                                ca=self.registry.ca))

    def iam_state(self) -> Dict[str, Any]:
        import boto3
        iam = boto3.client("iam", endpoint_url=self.localenv.moto_url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        providers = sorted(p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"])
        roles = {}
        for role in iam.list_roles()["Roles"]:
            name = role["RoleName"]
            roles[name] = sorted(iam.list_role_policies(RoleName=name)["PolicyNames"])
        return {"oidc_providers": providers, "roles": roles}

    def node_files(self) -> Dict[str, Any]:
        return dict((str(p), (p.stat().st_mode, None if p.is_dir() else p.read_bytes()))
                    for p in sorted(self.certs_d.rglob("*")))

    def snapshot(self) -> Dict[str, Any]:
        return {"tags": self.registry_tags(), "iam": self.iam_state(), "node": self.node_files()}


@pytest.fixture(scope="module")
def world(localenv, kube_client):
    from kubernetes import client as k

    core = k.CoreV1Api(kube_client("local-1"))
    ns = "badinput-%s" % secrets.token_hex(3)
    try:
        kube.ensure_namespace(core, ns, labels={NS_LABEL: "yes"}, timeout=30)
    except kube.KubeHelperError as exc:
        pytest.fail(str(exc))
    reg = localenv.registry
    # what absent / cleanup cases would delete or detach: a managed pull secret, attached
    config = {"auths": {reg.host: {"username": reg.username, "password": reg.password}}}
    import base64
    core.create_namespaced_secret(ns, k.V1Secret(
        metadata=k.V1ObjectMeta(name="regcred-badinput", labels={"app.kubernetes.io/managed-by": "registrylink.k8s"}),
        type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}))
    core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "regcred-badinput"}]})
    # what registry_gc with keep_last: 0 would delete
    repo = "it/badinput-%s/app" % secrets.token_hex(3)
    for tag in ("1.0", "2.0", "3.0"):
        push_image(reg, repo, [tag])
    w = World(localenv, ns, repo, core)
    # what eks_ecr identity mode would put a policy on
    import boto3
    iam = boto3.client("iam", endpoint_url=localenv.moto_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        iam.create_role(RoleName="badinput-node-role", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    yield w
    core.delete_namespace(ns, propagation_policy="Background")


# --------------------------------------------------------------------------- running a case


def _module_args(case: Dict[str, Any]) -> Dict[str, Any]:
    args = copy.deepcopy(TABLE["bases"].get(case["module"], {}))
    for key in case.get("drop", []):
        args.pop(key, None)
    args.update(copy.deepcopy(case.get("args", {})))
    return args


def _role_vars(case: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(TABLE["role_bases"].get(case["role"], {}))
    for key in case.get("drop", []):
        out.pop(key, None)
    out.update(copy.deepcopy(case.get("vars", {})))
    return out


def run_role(localenv, role: str, role_vars: Dict[str, Any], timeout: int = 600):
    """Include ``registrylink.k8s.<role>`` with ``role_vars``; returns (failed task result or None, output)."""
    with tempfile.TemporaryDirectory(prefix="rl-role-") as tmp:
        play = Path(tmp) / "play.yml"
        failed_file = Path(tmp) / "failed.json"
        play.write_text(json.dumps([{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "tasks": [{
                "name": "role",
                "block": [{"name": "include", "ansible.builtin.include_role": {"name": "registrylink.k8s." + role},
                           "vars": role_vars}],
                "rescue": [{"name": "save", "ansible.builtin.copy": {
                    "content": "{{ {'task': ansible_failed_task.name, 'result': ansible_failed_result} | to_json }}",
                    "dest": str(failed_file)}}],
            }],
        }]))
        proc = subprocess.run([str(REPO_ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", str(play)],
                              env=_ansible_env(localenv), capture_output=True, text=True, timeout=timeout,
                              cwd=str(REPO_ROOT), check=False)
        failed = json.loads(failed_file.read_text()) if failed_file.exists() else None
    return failed, proc.stdout + "\n" + proc.stderr


def _message(result: Dict[str, Any]) -> str:
    msg = result.get("msg") or ""
    if not isinstance(msg, str):
        msg = json.dumps(msg)
    # a role's loop reports the failing item's msg under results
    for item in result.get("results") or []:
        if isinstance(item, dict) and item.get("failed") and item.get("msg"):
            msg += " " + str(item["msg"])
    return msg


def _run(world: World, case: Dict[str, Any]):
    if "module" in case:
        args = world.fill(_module_args(case))
        run = run_module(world.localenv, "registrylink.k8s." + case["module"], args)
        return run.result, run.output, args
    role_vars = world.fill(_role_vars(case))
    failed, output = run_role(world.localenv, case["role"], role_vars)
    if failed is None:
        return {"failed": False, "msg": "the role did not fail"}, output, role_vars
    return dict(failed["result"], failed_task=failed["task"]), output, role_vars


def _secret_strings(values: Any) -> List[str]:
    out = []
    if isinstance(values, dict):
        for key, value in values.items():
            if key in ("password", "auth") or "password" in str(key):
                out.extend(v for v in _strings(value) if len(v) >= 6)
            else:
                out.extend(_secret_strings(value))
    elif isinstance(values, list):
        for value in values:
            out.extend(_secret_strings(value))
    return out


def _strings(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# --------------------------------------------------------------------------- tests


def test_case_table_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(CASES) >= 60
    for case in CASES:
        assert ("module" in case) != ("role" in case), case["id"]
        assert case.get("option"), case["id"]
    covered = set(c.get("module") or c.get("role") for c in CASES)
    modules = set(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))
    roles = set(p.name for p in (REPO_ROOT / "roles").iterdir() if (p / "tasks").is_dir())
    assert modules - covered == set(), "modules without a bad-input case: %s" % sorted(modules - covered)
    assert roles - covered == set(), "roles without a bad-input case: %s" % sorted(roles - covered)


def test_write_counter_sees_a_valid_run(world, kube_client):
    """The same measurement on a valid run counts its writes (so zero below means nothing written)."""
    from kubernetes import client as k

    mark = world.api_mark()
    args = world.fill(dict(TABLE["bases"]["registry_secret"], name="regcred-control"))
    run = run_module(world.localenv, "registrylink.k8s.registry_secret", args)
    assert run.result.get("changed") is True, run.output[-3000:]
    writes = world.api_writes_since(mark)
    assert writes.get("create secrets", 0) >= 1, writes
    k.CoreV1Api(kube_client("local-1")).delete_namespaced_secret("regcred-control", world.ns)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_is_refused_before_any_write(world, case):
    before = world.snapshot()
    mark = world.api_mark()
    result, output, given = _run(world, case)
    writes = world.api_writes_since(mark)
    after = world.snapshot()
    msg = _message(result)
    problems = []
    if not result.get("failed"):
        problems.append("did not fail (changed=%s)" % result.get("changed"))
    for marker in CRASH_MARKERS:
        if marker in output or marker in msg:
            problems.append("crash: %r in the output" % marker)
    if msg.startswith(CRASH_MSG_PREFIX):
        problems.append("crash: an exception escaped the module")
    # ansible-core 2.19 marks every failure with exception "(traceback unavailable)"; a crash carries one
    if "Traceback" in str(result.get("exception") or "") or result.get("module_stderr"):
        problems.append("crash: the result carries a traceback")
    option = case["option"]
    if option not in msg:
        problems.append("msg does not name the option %r" % option)
    for word in case.get("fix", []):
        if word.lower() not in msg.lower():
            problems.append("msg does not name the fix (%r)" % word)
    if writes:
        problems.append("wrote to the API server: %s" % writes)
    if before["tags"] != after["tags"]:
        problems.append("registry tags changed: %s -> %s" % (before["tags"], after["tags"]))
    if before["node"] != after["node"]:
        problems.append("the node's hosts.toml tree changed")
    if before["iam"] != after["iam"]:
        problems.append("IAM changed: %s -> %s" % (before["iam"], after["iam"]))
    leaked = [s for s in _secret_strings(given) if s in output]
    if leaked:
        problems.append("a credential given in the input appears in the output")
    assert not problems, "%s:\n  %s\n  msg: %s\n--- output (tail) ---\n%s" % (
        case["id"], "\n  ".join(problems), msg[:1500], output[-2500:])
