"""registry_secret against the real local kube-apiserver, driven through ansible-playbook.

Every result is read back independently with the kubernetes client (decoding the Secret),
never trusted from the module's own return value.
"""

import base64
import json

import pytest
from kubernetes import client as k8s

from tests.support.ansible_run import run_module

MODULE = "registrylink.k8s.registry_secret"
MANAGED = ("app.kubernetes.io/managed-by", "registrylink.k8s")
PASSWORD_1 = 'p@ss"w\\rd{1}ü-Zq81x'
PASSWORD_2 = "second-S3cret-9f2c'#"
ROBOT = "robot$proj+puller"


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def read_secret(api_client, ns, name):
    core = k8s.CoreV1Api(api_client)
    try:
        return core.read_namespaced_secret(name, ns)
    except k8s.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def decode(secret):
    key = ".dockerconfigjson" if secret.type == "kubernetes.io/dockerconfigjson" else ".dockercfg"
    return json.loads(base64.b64decode(secret.data[key]).decode("utf-8"))


def assert_no_leak(output, *secrets_):
    for value in secrets_:
        assert value not in output, "a credential leaked into the output"


@pytest.fixture
def api(kube_client):
    return kube_client("local-1")


def test_create_modify_delete_cycle(localenv, api, unique_ns):
    ns = unique_ns("rs-cycle")
    args = {"name": "regcred", "namespaces": [ns],
            "registries": [{"server": "registry.example.test", "username": ROBOT, "password": PASSWORD_1}]}

    # create: check mode writes nothing
    run = run_module(localenv, MODULE, args, check=True, diff=True)
    assert run.rc == 0, run.output
    assert run.changed and run.result["results"][0]["action"] == "created"
    assert read_secret(api, ns, "regcred") is None
    # create for real
    run = run_module(localenv, MODULE, args, diff=True)
    assert run.rc == 0 and run.changed, run.output
    secret = read_secret(api, ns, "regcred")
    assert secret.type == "kubernetes.io/dockerconfigjson"
    assert secret.metadata.labels.get(MANAGED[0]) == MANAGED[1]
    entry = decode(secret)["auths"]["registry.example.test"]
    assert entry["username"] == ROBOT and entry["password"] == PASSWORD_1
    assert entry["auth"] == b64("%s:%s" % (ROBOT, PASSWORD_1))
    assert_no_leak(run.output, PASSWORD_1, entry["auth"], secret.data[".dockerconfigjson"])
    rv = secret.metadata.resource_version
    # create again: unchanged, no write (resourceVersion stays), also in check mode
    run = run_module(localenv, MODULE, args)
    assert run.rc == 0 and not run.changed and run.result["summary"] == {"unchanged": 1}
    run = run_module(localenv, MODULE, args, check=True)
    assert not run.changed
    assert read_secret(api, ns, "regcred").metadata.resource_version == rv

    # modify (rotation): check mode, real, rerun
    args2 = dict(args, registries=[dict(args["registries"][0], password=PASSWORD_2)])
    run = run_module(localenv, MODULE, args2, check=True, diff=True)
    assert run.changed and run.result["results"][0]["action"] == "updated"
    assert decode(read_secret(api, ns, "regcred"))["auths"]["registry.example.test"]["password"] == PASSWORD_1
    assert_no_leak(run.output, PASSWORD_1, PASSWORD_2)
    run = run_module(localenv, MODULE, args2, diff=True)
    assert run.changed
    assert decode(read_secret(api, ns, "regcred"))["auths"]["registry.example.test"]["password"] == PASSWORD_2
    run = run_module(localenv, MODULE, args2)
    assert not run.changed

    # delete: check mode, real, rerun
    absent = {"name": "regcred", "namespaces": [ns], "state": "absent"}
    run = run_module(localenv, MODULE, absent, check=True)
    assert run.changed and read_secret(api, ns, "regcred") is not None
    run = run_module(localenv, MODULE, absent)
    assert run.changed and run.result["results"][0]["action"] == "deleted"
    assert read_secret(api, ns, "regcred") is None
    run = run_module(localenv, MODULE, absent)
    assert not run.changed and run.result["results"][0]["action"] == "absent"


def test_two_registries_and_merge_keeps_a_third(localenv, api, unique_ns):
    ns = unique_ns("rs-merge")
    two = [{"server": "docker.io", "username": "hubuser", "password": PASSWORD_1},
           {"server": "https://registry.example.test", "username": "u2", "password": PASSWORD_2}]
    run = run_module(localenv, MODULE, {"name": "multi", "namespaces": [ns], "registries": two})
    assert run.rc == 0, run.output
    auths = decode(read_secret(api, ns, "multi"))["auths"]
    assert sorted(auths) == ["https://index.docker.io/v1/", "registry.example.test"]
    assert run.result["servers"] == ["https://index.docker.io/v1/", "registry.example.test"]

    third = [{"server": "quay.example.test", "username": "u3", "password": "third-pass-77"}]
    run = run_module(localenv, MODULE, {"name": "multi", "namespaces": [ns], "registries": third, "merge": True})
    assert run.changed
    auths = decode(read_secret(api, ns, "multi"))["auths"]
    assert sorted(auths) == ["https://index.docker.io/v1/", "quay.example.test", "registry.example.test"]
    assert auths["registry.example.test"]["password"] == PASSWORD_2
    run = run_module(localenv, MODULE, {"name": "multi", "namespaces": [ns], "registries": third, "merge": True})
    assert not run.changed
    # merge=false makes it exact again
    run = run_module(localenv, MODULE, {"name": "multi", "namespaces": [ns], "registries": third})
    assert run.changed
    assert sorted(decode(read_secret(api, ns, "multi"))["auths"]) == ["quay.example.test"]


def test_fifty_namespaces_by_glob_and_by_selector(localenv, api, unique_ns):
    core = k8s.CoreV1Api(api)
    prefix = unique_ns("rs-bulk")  # a namespace whose name is the unique prefix itself
    names = []
    for i in range(50):
        name = "%s-%02d" % (prefix, i)
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(
            name=name, labels={"rl-bulk": prefix, "registrylink.test/session": "bulk"})))
        names.append(name)
    try:
        reg = [{"server": "registry.example.test", "username": "u", "password": PASSWORD_1}]
        run = run_module(localenv, MODULE, {"name": "bulkcred", "namespaces": ["%s-*" % prefix], "registries": reg})
        assert run.rc == 0, run.output
        assert run.result["summary"] == {"created": 50}
        listed = core.list_secret_for_all_namespaces(field_selector="metadata.name=bulkcred").items
        assert sorted(s.metadata.namespace for s in listed) == names
        # selector: every namespace with the label, kube-* never included by a selector
        run = run_module(localenv, MODULE, {"name": "bulkcred", "namespaces": ["*"],
                                            "namespace_selector": "rl-bulk=%s" % prefix, "registries": reg})
        assert run.rc == 0 and not run.changed and run.result["summary"] == {"unchanged": 50}
        run = run_module(localenv, MODULE, {"name": "bulkcred", "namespace_selector": {"rl-bulk": prefix},
                                            "state": "absent"})
        assert run.result["summary"] == {"deleted": 50}
        # '*' excludes kube-system & co by default
        run = run_module(localenv, MODULE, {"name": "bulkcred", "namespaces": ["*"], "state": "absent"},
                         check=True)
        assert not any(r["namespace"].startswith("kube-") for r in run.result["results"])
    finally:
        for name in names:
            core.delete_namespace(name)


def test_unmanaged_secret_left_alone_without_force(localenv, api, unique_ns):
    ns = unique_ns("rs-own")
    core = k8s.CoreV1Api(api)
    foreign = {"auths": {"other.example.test": {"auth": b64("x:y")}}}
    core.create_namespaced_secret(ns, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="regcred"), type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": json.dumps(foreign)}))
    reg = [{"server": "registry.example.test", "username": "u", "password": PASSWORD_1}]
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns], "registries": reg})
    assert run.rc != 0 and run.failed
    assert "force" in run.result["msg"]
    assert decode(read_secret(api, ns, "regcred")) == foreign
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns], "state": "absent"})
    assert run.failed and read_secret(api, ns, "regcred") is not None
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns], "registries": reg, "force": True})
    assert run.rc == 0 and run.changed
    secret = read_secret(api, ns, "regcred")
    assert list(decode(secret)["auths"]) == ["registry.example.test"]
    assert secret.metadata.labels.get(MANAGED[0]) == MANAGED[1]


def test_type_change_refused_without_force(localenv, api, unique_ns):
    ns = unique_ns("rs-type")
    reg = [{"server": "registry.example.test", "username": "u", "password": PASSWORD_1}]
    run = run_module(localenv, MODULE, {"name": "typed", "namespaces": [ns], "registries": reg})
    assert run.rc == 0
    legacy = {"name": "typed", "namespaces": [ns], "registries": reg, "type": "kubernetes.io/dockercfg"}
    run = run_module(localenv, MODULE, legacy)
    assert run.failed and "force" in run.result["msg"]
    assert read_secret(api, ns, "typed").type == "kubernetes.io/dockerconfigjson"
    run = run_module(localenv, MODULE, dict(legacy, force=True))
    assert run.rc == 0 and run.changed
    secret = read_secret(api, ns, "typed")
    assert secret.type == "kubernetes.io/dockercfg"
    assert decode(secret)["registry.example.test"]["password"] == PASSWORD_1
    run = run_module(localenv, MODULE, legacy)
    assert not run.changed


def test_string_data_and_key_order_never_cause_a_change(localenv, api, unique_ns):
    ns = unique_ns("rs-canon")
    core = k8s.CoreV1Api(api)
    auth = b64("u:%s" % PASSWORD_1)
    # Written by someone else's tool: stringData, other key order, whitespace; labelled as ours.
    text = '{\n  "auths": {"registry.example.test": {"auth": "%s", "password": %s, "username": "u"}}\n}' % (
        auth, json.dumps(PASSWORD_1))
    core.create_namespaced_secret(ns, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="regcred", labels=dict([MANAGED])), type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": text}))
    reg = [{"server": "registry.example.test", "username": "u", "password": PASSWORD_1}]
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns], "registries": reg})
    assert run.rc == 0 and not run.changed, run.result


def test_validation_happens_before_any_write(localenv, api, unique_ns):
    ns = unique_ns("rs-valid")
    bad = [{"server": "registry.example.test", "username": "u", "password": PASSWORD_1},
           {"server": "https://registry.example.test/", "username": "v", "password": PASSWORD_2}]
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns], "registries": bad})
    assert run.failed and "registry.example.test" in run.result["msg"]
    assert read_secret(api, ns, "regcred") is None
    assert_no_leak(run.output, PASSWORD_1, PASSWORD_2)
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns, "does-not-exist-zz"],
                                        "registries": bad[:1]})
    assert run.failed and "does-not-exist-zz" in run.result["msg"]
    assert read_secret(api, ns, "regcred") is None
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns],
                                        "docker_config": {"credsStore": "desktop", "auths": {"ghcr.io": {}}}})
    assert run.failed and "ghcr.io" in run.result["msg"]
    assert read_secret(api, ns, "regcred") is None
    # An unquoted YAML number (0123 is 83 to YAML) is refused, never written as "83".
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns],
                                        "registries": [{"server": "r.example.test", "username": "u", "password": 83}]})
    assert run.failed and "quote" in run.result["msg"]
    assert read_secret(api, ns, "regcred") is None
    # Label keys the API server would reject are caught before the first write.
    run = run_module(localenv, MODULE, {"name": "regcred", "namespaces": [ns], "labels": {"bad key!": "x"},
                                        "registries": bad[:1]})
    assert run.failed and run.result.get("field") == "labels"
    assert read_secret(api, ns, "regcred") is None


def test_no_credential_in_verbose_diff_output(localenv, api, unique_ns):
    ns = unique_ns("rs-leak")
    reg = [{"server": "registry.example.test", "username": ROBOT, "password": PASSWORD_1}]
    args = {"name": "regcred", "namespaces": [ns], "registries": reg}
    outputs = []
    for check in (True, False, False):
        outputs.append(run_module(localenv, MODULE, args, check=check, diff=True, verbosity=3).output)
    rotate = dict(args, registries=[dict(reg[0], password=PASSWORD_2)])
    outputs.append(run_module(localenv, MODULE, rotate, diff=True, verbosity=3).output)
    secret = read_secret(api, ns, "regcred")
    auth_2 = b64("%s:%s" % (ROBOT, PASSWORD_2))
    everything = "\n".join(outputs)
    assert ROBOT in everything  # usernames are shown on purpose
    assert_no_leak(everything, PASSWORD_1, PASSWORD_2, b64("%s:%s" % (ROBOT, PASSWORD_1)), auth_2,
                   secret.data[".dockerconfigjson"])
