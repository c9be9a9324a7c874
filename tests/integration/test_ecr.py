"""ECR provider, eks_ecr role and playbooks/rotate.yml against the local environment: moto server
(IAM, STS, ECR) and real kube-apiservers. Needs `make up CLUSTERS=2` (or more); fails when it is down.

Everything is read back independently: IAM with boto3 against moto, Secrets and ServiceAccounts
with the kubernetes client (decoding the Secret), never from the collection's own return values.
moto answers GetAuthorizationToken with ``AWS:<account>-auth-token`` and a fixed 2015-01-01 expiry,
so the provider records 12 hours from the mint (with a warning). Every AWS name carries a random
suffix, and every test removes what it made.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import secrets
from pathlib import Path

import boto3
import pytest
import yaml
from kubernetes import client as k8s

from tests.support.ansible_run import run_module, run_playbook

ACCOUNT = "123456789012"
REGION = "us-east-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
MANAGED = ("app.kubernetes.io/managed-by", "registrylink.k8s")
EXPIRES = "registrylink.k8s/expires-at"
PROVIDERS = "registrylink.k8s/providers"
ISSUED = "registrylink.k8s/issued-at"


# --------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def moto_token(localenv):
    """What moto answers: the password of the ECR token and the base64 ``auth``."""
    data = boto3.client("ecr", region_name=REGION, endpoint_url=localenv.moto_url).get_authorization_token()
    auth = data["authorizationData"][0]["authorizationToken"]
    decoded = base64.b64decode(auth).decode()
    assert decoded.startswith("AWS:")
    return {"password": decoded.split(":", 1)[1], "auth": auth}


@pytest.fixture
def iam(localenv):
    return boto3.client("iam", region_name=REGION, endpoint_url=localenv.moto_url)


def core(kube_client, context="local-1"):
    return k8s.CoreV1Api(kube_client(context))


def read_secret(api, ns, name):
    try:
        return api.read_namespaced_secret(name, ns)
    except k8s.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def decode(secret):
    return json.loads(base64.b64decode(secret.data[".dockerconfigjson"]).decode())


def recap_changed(output):
    """host -> changed count from the PLAY RECAP."""
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", output, re.M))


class Play:
    """Runs a throw-away playbook through ansible-playbook and returns (rc, output, facts)."""

    def __init__(self, localenv, tmp_path):
        self.localenv = localenv
        self.tmp = tmp_path
        self.outputs = []
        self.count = 0

    def role(self, role_vars, check=False, diff=True, verbosity=0, tasks_from=None, fact="eks_ecr__output"):
        self.count += 1
        facts = self.tmp / f"facts-{self.count}.json"
        include = {"name": "registrylink.k8s.eks_ecr"}
        if tasks_from:
            include["tasks_from"] = tasks_from
        play = [{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "module_defaults": {"group/registrylink.k8s.registrylink": {
                "kubeconfig": self.localenv.kubeconfig, "context": "local-1"}},
            "tasks": [
                {"name": "role", "ansible.builtin.include_role": include, "vars": role_vars},
                {"name": "save", "check_mode": False, "diff": False, "changed_when": False,
                 "ansible.builtin.copy": {"content": "{{ %s | default({}) | to_json }}" % fact, "dest": str(facts)}},
            ],
        }]
        path = self.tmp / f"play-{self.count}.yml"
        path.write_text(json.dumps(play))
        proc = run_playbook(self.localenv, str(path), check=check, diff=diff, verbosity=verbosity)
        output = proc.stdout + "\n" + proc.stderr
        self.outputs.append(output)
        out = json.loads(facts.read_text()) if facts.exists() else None
        return proc.returncode, output, out


@pytest.fixture
def play(localenv, tmp_path):
    return Play(localenv, tmp_path)


# --------------------------------------------------------------------------- identity mode (EKS)

@pytest.fixture
def eks(localenv, iam, unique_ns, kube_client):
    """A node role and a managed policy as an EKS cluster's owner would have them, a namespace with
    the ServiceAccount for IRSA, and unique names for everything the role creates."""
    suffix = secrets.token_hex(3)
    node_role = f"eks-node-{suffix}"
    iam.create_role(RoleName=node_role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    extra = iam.create_policy(PolicyName=f"extra-{suffix}", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:DescribeRepositories",
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    ns = unique_ns("irsa")
    core(kube_client).create_namespaced_service_account(ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(
        name="refresher")))
    info = {
        "suffix": suffix, "node_role": node_role, "extra_policy": extra, "namespace": ns,
        "cluster": f"c-{suffix}", "irsa_role": f"registrylink-c-{suffix}-ecr",
        "issuer": f"https://oidc.eks.{REGION}.amazonaws.com/id/{suffix.upper()}0123456789",
    }
    info["ident"] = info["issuer"][len("https://"):]
    info["oidc_arn"] = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{info['ident']}"
    info["vars"] = {
        "eks_ecr_cluster_name": info["cluster"], "eks_ecr_region": REGION, "eks_ecr_mode": "identity",
        "eks_ecr_node_roles": [node_role], "eks_ecr_oidc_issuer": info["issuer"],
        "eks_ecr_irsa_service_accounts": [{"namespace": ns, "name": "refresher"}],
        "eks_ecr_irsa_managed_policies": [extra], "eks_ecr_repositories": ["team/*"],
    }
    yield info
    for pol in iam.list_role_policies(RoleName=node_role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=node_role, PolicyName=pol)
    iam.delete_role(RoleName=node_role)
    try:
        for p in iam.list_attached_role_policies(RoleName=info["irsa_role"])["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=info["irsa_role"], PolicyArn=p["PolicyArn"])
        for pol in iam.list_role_policies(RoleName=info["irsa_role"])["PolicyNames"]:
            iam.delete_role_policy(RoleName=info["irsa_role"], PolicyName=pol)
        iam.delete_role(RoleName=info["irsa_role"])
    except iam.exceptions.NoSuchEntityException:
        pass
    try:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=info["oidc_arn"])
    except iam.exceptions.NoSuchEntityException:
        pass
    iam.delete_policy(PolicyArn=extra)


def iam_state(iam, eks):
    """Everything the role may create, read independently."""
    state = {"node_policies": iam.list_role_policies(RoleName=eks["node_role"])["PolicyNames"]}
    try:
        role = iam.get_role(RoleName=eks["irsa_role"])["Role"]
        state["role"] = {
            "trust": role["AssumeRolePolicyDocument"],
            "tags": dict((t["Key"], t["Value"]) for t in role.get("Tags", [])),
            "attached": [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=eks["irsa_role"])[
                "AttachedPolicies"]],
            "inline": iam.list_role_policies(RoleName=eks["irsa_role"])["PolicyNames"],
        }
    except iam.exceptions.NoSuchEntityException:
        state["role"] = None
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    state["oidc"] = None
    if eks["oidc_arn"] in arns:
        prov = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=eks["oidc_arn"])
        state["oidc"] = {"client_ids": prov["ClientIDList"],
                         "tags": dict((t["Key"], t["Value"]) for t in prov.get("Tags", []))}
    state["profiles"] = [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
                         if p["InstanceProfileName"] == eks["irsa_role"]]
    return state


def sa_annotations(kube_client, ns, name="refresher"):
    return core(kube_client).read_namespaced_service_account(name, ns).metadata.annotations or {}


def test_identity_mode_create_rerun_check_diff_and_absent(play, iam, eks, kube_client):
    empty = iam_state(iam, eks)
    assert empty["role"] is None and empty["oidc"] is None and empty["node_policies"] == []

    # create: check mode (with diff) writes nothing
    rc, out, facts = play.role(eks["vars"], check=True)
    assert rc == 0, out[-3000:]
    assert recap_changed(out)["localhost"] > 0
    assert iam_state(iam, eks) == empty
    assert "eks.amazonaws.com/role-arn" not in sa_annotations(kube_client, eks["namespace"])

    # create for real
    rc, out, facts = play.role(eks["vars"])
    assert rc == 0, out[-3000:]
    assert facts["changed"] and facts["account"] == ACCOUNT
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{eks['irsa_role']}"
    assert facts["irsa_role_arn"] == role_arn and facts["oidc_provider_arn"] == eks["oidc_arn"]
    state = iam_state(iam, eks)
    assert state["node_policies"] == ["registrylink-ecr-pull"]
    node_doc = iam.get_role_policy(RoleName=eks["node_role"], PolicyName="registrylink-ecr-pull")["PolicyDocument"]
    pull = [s for s in node_doc["Statement"] if s["Sid"] == "EcrPull"][0]
    assert pull["Resource"] == [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/*"]
    assert sorted(pull["Action"]) == ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                                      "ecr:GetDownloadUrlForLayer"]
    stmt = state["role"]["trust"]["Statement"][0]
    assert stmt["Principal"] == {"Federated": eks["oidc_arn"]}
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"]["StringEquals"][eks["ident"] + ":sub"] in (
        f"system:serviceaccount:{eks['namespace']}:refresher", [f"system:serviceaccount:{eks['namespace']}:refresher"])
    assert stmt["Condition"]["StringEquals"][eks["ident"] + ":aud"] == "sts.amazonaws.com"
    assert state["role"]["tags"][MANAGED[0]] == MANAGED[1]
    assert state["role"]["tags"]["registrylink.k8s/cluster"] == eks["cluster"]
    assert state["role"]["attached"] == [eks["extra_policy"]]
    assert state["role"]["inline"] == ["registrylink-ecr-pull"]
    assert state["profiles"] == []  # no instance profile for an IRSA role
    assert state["oidc"] == {"client_ids": ["sts.amazonaws.com"],
                             "tags": {MANAGED[0]: MANAGED[1], "registrylink.k8s/cluster": eks["cluster"]}}
    assert sa_annotations(kube_client, eks["namespace"])["eks.amazonaws.com/role-arn"] == role_arn

    # rerun, for real and in check mode with diff: nothing changes
    for check in (False, True):
        rc, out, facts = play.role(eks["vars"], check=check)
        assert rc == 0, out[-3000:]
        assert recap_changed(out)["localhost"] == 0, out[-3000:]
        assert not facts["changed"]
    assert iam_state(iam, eks) == state

    # delete: check mode, real, rerun
    absent = dict(eks["vars"], eks_ecr_state="absent")
    rc, out, facts = play.role(absent, check=True)
    assert rc == 0 and recap_changed(out)["localhost"] > 0, out[-3000:]
    assert iam_state(iam, eks) == state
    rc, out, facts = play.role(absent)
    assert rc == 0 and facts["changed"], out[-3000:]
    assert iam_state(iam, eks) == empty
    assert "eks.amazonaws.com/role-arn" not in sa_annotations(kube_client, eks["namespace"])
    assert iam.get_policy(PolicyArn=eks["extra_policy"])["Policy"]["AttachmentCount"] == 0
    iam.get_role(RoleName=eks["node_role"])  # the node role itself is not ours: it stays
    rc, out, facts = play.role(absent)
    assert rc == 0 and recap_changed(out)["localhost"] == 0, out[-3000:]


def test_identity_mode_leaves_what_it_did_not_create(play, iam, eks, kube_client):
    # an OIDC provider created by someone else (eksctl) for the same issuer, and an annotation of someone else
    iam.create_open_id_connect_provider(Url=eks["issuer"], ClientIDList=["sts.amazonaws.com"],
                                        Tags=[{"Key": "alpha.eksctl.io/cluster-name", "Value": eks["cluster"]}])
    rc, out, facts = play.role(eks["vars"])
    assert rc == 0, out[-3000:]
    state = iam_state(iam, eks)
    assert state["oidc"]["tags"] == {"alpha.eksctl.io/cluster-name": eks["cluster"]}  # not taken over
    rc, out, facts = play.role(dict(eks["vars"], eks_ecr_state="absent"))
    assert rc == 0, out[-3000:]
    state = iam_state(iam, eks)
    assert state["oidc"] is not None and state["role"] is None and state["node_policies"] == []
    assert "not created by registrylink.k8s" in out

    # an IAM role with the IRSA role's name that is not ours: refused before any change
    iam.create_role(RoleName=eks["irsa_role"], AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    rc, out, facts = play.role(eks["vars"])
    assert rc != 0 and "exists without the tag app.kubernetes.io/managed-by=registrylink.k8s" in out
    state = iam_state(iam, eks)
    assert state["role"]["tags"] == {} and state["node_policies"] == []
    assert "eks.amazonaws.com/role-arn" not in sa_annotations(kube_client, eks["namespace"])
    rc, out, facts = play.role(dict(eks["vars"], eks_ecr_state="absent"))
    assert rc == 0, out[-3000:]
    assert iam_state(iam, eks)["role"] is not None  # someone else's role survives state=absent


# --------------------------------------------------------------------------- token mode (not EKS)

def token_vars(namespaces, **kw):
    base = {"eks_ecr_cluster_name": "local", "eks_ecr_region": REGION, "eks_ecr_mode": "token",
            "eks_ecr_namespaces": list(namespaces), "eks_ecr_refresh_before": "6h"}
    base.update(kw)
    return base


def set_expiry_back(api, ns, when, name="ecr-pull"):
    """What an operator (or a clock 11 hours later) would see: the recorded expiry is near."""
    secret = api.read_namespaced_secret(name, ns)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = json.loads(secret.metadata.annotations[PROVIDERS])
    for r in records:
        r["expires_at"] = stamp
    api.patch_namespaced_secret(name, ns, {"metadata": {"annotations": {EXPIRES: stamp,
                                                                        PROVIDERS: json.dumps(records)}}})


def test_token_mode_secret_refresh_before_and_absent(play, kube_client, unique_ns, moto_token):
    api = core(kube_client)
    ns1, ns2 = unique_ns("ecr-tok"), unique_ns("ecr-tok")
    role_vars = token_vars([ns1, ns2])

    rc, out, facts = play.role(role_vars, check=True, verbosity=3)
    assert rc == 0 and recap_changed(out)["localhost"] > 0, out[-3000:]
    assert read_secret(api, ns1, "ecr-pull") is None

    rc, out, facts = play.role(role_vars, verbosity=3)
    assert rc == 0, out[-3000:]
    assert facts["secrets"] == {"created": 2} and facts["service_accounts"] == {"updated": 2}
    assert "moto answers 2015-01-01" in out  # the fallback warning names both causes
    now = datetime.datetime.now(datetime.timezone.utc)
    for ns in (ns1, ns2):
        secret = read_secret(api, ns, "ecr-pull")
        assert secret.type == "kubernetes.io/dockerconfigjson"
        assert secret.metadata.labels[MANAGED[0]] == MANAGED[1]
        entry = decode(secret)["auths"][ECR_HOST]
        assert base64.b64decode(entry["auth"]).decode() == "AWS:" + moto_token["password"]
        assert entry["username"] == "AWS" and entry["password"] == moto_token["password"]
        expires = datetime.datetime.strptime(secret.metadata.annotations[EXPIRES], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        assert datetime.timedelta(hours=11, minutes=50) < expires - now <= datetime.timedelta(hours=12)
        assert ISSUED in secret.metadata.annotations
        assert [r.name for r in api.read_namespaced_service_account("default", ns).image_pull_secrets] == ["ecr-pull"]

    # a fresh secret is left alone: no write, also in check mode
    rvs = dict((ns, read_secret(api, ns, "ecr-pull").metadata.resource_version) for ns in (ns1, ns2))
    for check in (False, True):
        rc, out, facts = play.role(role_vars, check=check, verbosity=3)
        assert rc == 0 and recap_changed(out)["localhost"] == 0, out[-3000:]
    assert dict((ns, read_secret(api, ns, "ecr-pull").metadata.resource_version) for ns in (ns1, ns2)) == rvs

    # ns2's recorded expiry is near: re-minted there only
    set_expiry_back(api, ns2, now + datetime.timedelta(hours=2))
    rv2 = read_secret(api, ns2, "ecr-pull").metadata.resource_version
    rc, out, facts = play.role(role_vars, verbosity=3)
    assert rc == 0 and facts["secrets"] == {"unchanged": 1, "updated": 1}, out[-3000:]
    assert read_secret(api, ns1, "ecr-pull").metadata.resource_version == rvs[ns1]
    secret2 = read_secret(api, ns2, "ecr-pull")
    assert secret2.metadata.resource_version != rv2
    assert secret2.metadata.annotations[EXPIRES] > (now + datetime.timedelta(hours=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rc, out, facts = play.role(role_vars)
    assert rc == 0 and recap_changed(out)["localhost"] == 0, out[-3000:]

    # absent: detached, then deleted
    rc, out, facts = play.role(dict(role_vars, eks_ecr_state="absent"), verbosity=3)
    assert rc == 0 and facts["secrets"] == {"deleted": 2}, out[-3000:]
    for ns in (ns1, ns2):
        assert read_secret(api, ns, "ecr-pull") is None
        assert not api.read_namespaced_service_account("default", ns).image_pull_secrets

    # no token anywhere in any output, at -vvv included
    everything = "\n".join(play.outputs)
    assert moto_token["password"] not in everything
    assert moto_token["auth"] not in everything
    assert secret2.data[".dockerconfigjson"] not in everything


# --------------------------------------------------------------------------- validation before any write

MODULE = "registrylink.k8s.registry_secret"


@pytest.mark.parametrize("entry, text", [
    ({"provider": "ecrr", "region": REGION}, "unknown provider 'ecrr'; known providers: "),
    ({"provider": "ecr"}, "provider ecr needs the AWS region"),
    ({"provider": "ecr", "region": REGION, "password": "x-not-a-token"}, "mints the credentials"),
])
def test_unknown_provider_or_missing_region_fails_before_any_write(localenv, kube_client, unique_ns, entry, text):
    ns = unique_ns("ecr-bad")
    run = run_module(localenv, MODULE, {"name": "ecr-pull", "namespaces": [ns], "registries": [entry]})
    assert run.failed and text in run.result["msg"], run.result
    assert read_secret(core(kube_client), ns, "ecr-pull") is None


def test_static_ecr_token_warns_records_issue_time_and_rotates_in_place(localenv, kube_client, unique_ns):
    api = core(kube_client)
    ns = unique_ns("ecr-static")
    host = "111122223333.dkr.ecr.eu-west-1.amazonaws.com"
    args = {"name": "regcred", "namespaces": [ns],
            "registries": [{"server": host, "username": "AWS", "password": "ECR-TOKEN-EXAMPLE"}]}
    run = run_module(localenv, MODULE, args)
    assert run.rc == 0 and run.changed, run.output[-3000:]
    assert any("ECR authorization tokens last 12 hours" in w for w in run.result.get("warnings", []))
    secret = read_secret(api, ns, "regcred")
    issued, uid = secret.metadata.annotations[ISSUED], secret.metadata.uid
    assert EXPIRES not in secret.metadata.annotations
    assert not run_module(localenv, MODULE, args).changed
    args["registries"][0]["password"] = "ECR-TOKEN-EXAMPLE-2"
    run = run_module(localenv, MODULE, args)
    assert run.changed and run.result["results"][0]["action"] == "updated"
    assert "recreated" not in run.result["results"][0]
    secret = read_secret(api, ns, "regcred")
    assert secret.metadata.uid == uid and secret.metadata.annotations[ISSUED] >= issued
    assert decode(secret)["auths"][host]["password"] == "ECR-TOKEN-EXAMPLE-2"
    assert "ECR-TOKEN-EXAMPLE" not in run.output


# --------------------------------------------------------------------------- rotate.yml over two clusters

def write_inventory(tmp_path: Path, localenv, namespaces, broken_ns=None):
    hosts = {"local-1": {"kube_context": "local-1"}, "local-2": {"kube_context": "local-2"}}
    if broken_ns:
        # a third "cluster" whose AWS endpoint is down: it must fail, and be reported, without stopping the others
        hosts["broken"] = {"kube_context": "local-2", "eks_ecr_secret_name": "ecr-broken",
                           "eks_ecr_endpoint_url": "http://127.0.0.1:9", "eks_ecr_namespaces": [broken_ns]}
    inv = {"clusters": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubeconfig": localenv.kubeconfig, "registrylink_integration": "eks_ecr", "eks_ecr_mode": "token",
        "eks_ecr_cluster_name": "{{ inventory_hostname }}", "eks_ecr_region": REGION,
        "eks_ecr_namespaces": list(namespaces), "eks_ecr_refresh_before": "6h"}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    return str(path)


def test_rotate_playbook_over_two_clusters(localenv, kube_client, unique_ns, tmp_path, moto_token):
    names = {}
    for context in ("local-1", "local-2"):
        names[context] = [unique_ns("rot", context=context), unique_ns("rot", context=context)]
    # the same namespace names on both clusters, as a fleet would have them
    for context, other in (("local-1", "local-2"), ("local-2", "local-1")):
        for ns in names[other]:
            core(kube_client, context).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(
                name=ns, labels={"registrylink.test/session": "rotate"})))
    all_ns = sorted(names["local-1"] + names["local-2"])
    broken_ns = unique_ns("rotbad", context="local-2")
    inventory = write_inventory(tmp_path, localenv, all_ns, broken_ns=broken_ns)
    setup = tmp_path / "setup.yml"
    setup.write_text(json.dumps([{
        "hosts": "local-1:local-2", "connection": "local", "gather_facts": False,
        "module_defaults": {"group/registrylink.k8s.registrylink": {
            "kubeconfig": "{{ kubeconfig }}", "context": "{{ kube_context }}"}},
        "tasks": [{"name": "setup", "ansible.builtin.include_role": {"name": "registrylink.k8s.eks_ecr"}}]}]))
    outputs = []
    try:
        proc = run_playbook(localenv, str(setup), inventory=inventory)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert sorted(recap_changed(proc.stdout)) == ["local-1", "local-2"]
        assert all(v > 0 for v in recap_changed(proc.stdout).values())

        only_good = {"registrylink_rotate_hosts": "local-1:local-2"}
        # right after setup every token is fresh: nothing to do
        proc = run_playbook(localenv, "playbooks/rotate.yml", inventory=inventory, extra_vars=only_good, verbosity=3)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert recap_changed(proc.stdout) == {"local-1": 0, "local-2": 0}
        assert "0 namespace(s) refreshed, 8 still valid, 0 cluster(s) failed" in proc.stdout
        assert re.search(r'\\"%s\\": \\"11h\d\dm\\"' % all_ns[0], proc.stdout), proc.stdout[-3000:]  # time left

        # one namespace on local-2 is close to expiry
        api2 = core(kube_client, "local-2")
        target = all_ns[0]
        set_expiry_back(api2, target, datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
        rvs = {}
        for context in ("local-1", "local-2"):
            for ns in all_ns:
                rvs[(context, ns)] = read_secret(core(kube_client, context), ns, "ecr-pull").metadata.resource_version
        proc = run_playbook(localenv, "playbooks/rotate.yml", inventory=inventory, extra_vars=only_good, verbosity=3)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert recap_changed(proc.stdout) == {"local-1": 0, "local-2": 1}
        assert "1 namespace(s) refreshed, 7 still valid, 0 cluster(s) failed" in proc.stdout
        assert "within refresh_before" in proc.stdout
        for (context, ns), rv in rvs.items():
            now_rv = read_secret(core(kube_client, context), ns, "ecr-pull").metadata.resource_version
            assert (now_rv != rv) == ((context, ns) == ("local-2", target))
        # run twice in a row: the second run changes nothing
        proc = run_playbook(localenv, "playbooks/rotate.yml", inventory=inventory, extra_vars=only_good)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0 and recap_changed(proc.stdout) == {"local-1": 0, "local-2": 0}

        # with a cluster whose refresh fails: the others are still refreshed and reported, then the run fails
        proc = run_playbook(localenv, "playbooks/rotate.yml", inventory=inventory)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode != 0
        assert "1 cluster(s) failed broken" in proc.stdout
        assert "broken: FAILED - registries[0] (provider ecr): ECR GetAuthorizationToken" in proc.stdout
        changed = recap_changed(proc.stdout)
        assert changed["local-1"] == 0 and changed["local-2"] == 0
        assert read_secret(api2, broken_ns, "ecr-broken") is None
    finally:
        for context in ("local-1", "local-2"):
            for ns in names["local-2" if context == "local-1" else "local-1"]:
                try:
                    core(kube_client, context).delete_namespace(ns)
                except k8s.exceptions.ApiException:
                    pass
    everything = "\n".join(outputs)
    assert moto_token["password"] not in everything and moto_token["auth"] not in everything
