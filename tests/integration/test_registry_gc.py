"""registry_gc against the real local environment: CNCF distribution registries and real clusters.

Every test pushes its own real images (config blob with ``created``, one gzip'd layer) into
its own repositories ``it/gc-<random>/...`` of the shared registry (TLS + htpasswd, delete
enabled), runs the module through ``ansible-playbook`` (check mode first, then for real), and
reads the registry back independently with the test suite's own client
(``tests/support/images.py``), never the collection's.

Registries started here: one with ``storage.delete.enabled=false`` (deletes disabled: 405), and one whose
storage the test owns, for distribution's ``garbage-collect`` after the module.

These tests need the local environment (`make up CLUSTERS=2` or more); they fail (never skip)
when it is down.
"""

from __future__ import annotations

import datetime
import json
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.support.ansible_run import run_module
from tests.support.images import (
    RegistryClient, list_tags, manifest_digest, push_image, push_image_details, push_index,
)
from tests.support.localenv import CertPair, REGISTRY_BIN, start_registry

MODULE = "registrylink.k8s.registry_gc"
NOW = datetime.datetime.now(datetime.timezone.utc)


def ago(days):
    return (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prefix():
    return f"it/gc-{secrets.token_hex(3)}"


def _args(reg, repositories, **rules):
    args = {
        "registry": reg.host,
        "username": reg.username,
        "password": reg.password,
        "registry_ca_path": reg.ca,
        "repositories": list(repositories),
    }
    args.update(rules)
    return args


def _tags(reg, repo):
    return list_tags(reg.url, repo, auth=(reg.username, reg.password), ca=reg.ca)


def _planned(result):
    return sorted((e["repository"], e["digest"], tuple(e["tags"]))
                  for rp in result["plan"]["repositories"] for e in rp["delete"])


def _deleted(result):
    return sorted((e["repository"], e["digest"], tuple(e["tags"])) for e in result["deleted"])


def _no_secret(run, reg):
    assert reg.password not in run.output
    assert reg.password not in json.dumps(run.result)


def push_standard(reg, repo):
    """Several tags per repository, tags sharing a digest, a multi-arch index, different ages.

    tag           image created   digest shared with
    release-1.0   100 days ago
    old-1          90 days ago
    multi          70 days ago    (OCI index: linux/amd64 + linux/arm64 children, pushed by digest)
    old-2          60 days ago
    dev-abc        50 days ago
    mid            20 days ago
    new-1           5 days ago
    new-2           1 day ago     latest
    """
    auth = (reg.username, reg.password)
    d = {}
    for tags, days in ((["release-1.0"], 100), (["old-1"], 90), (["old-2"], 60), (["dev-abc"], 50),
                       (["mid"], 20), (["new-1"], 5), (["new-2", "latest"], 1)):
        d[tags[0]] = push_image(reg.url, repo, tags, auth=auth, ca=reg.ca, created=ago(days))
    d["multi"] = push_index(reg.url, repo, "multi", ["linux/amd64", "linux/arm64"], auth=auth, ca=reg.ca,
                            created=ago(70))
    return d


ALL_TAGS = ["dev-abc", "latest", "mid", "multi", "new-1", "new-2", "old-1", "old-2", "release-1.0"]


# ---------------------------------------------------------------------------------------------
# rules: each gives exactly the expected remaining tags; check mode plan == real deletions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rules, expected", [
    # newest 3 images: new-2/latest (one image), new-1, mid
    ({"keep_last": 3}, ["latest", "mid", "new-1", "new-2"]),
    ({"older_than": "30d"}, ["latest", "mid", "new-1", "new-2"]),
    # include/exclude; latest shares its image with the excluded new-2, so it survives too
    ({"tag_include": [".*"], "tag_exclude": ["release-.*", "new-.*"]}, ["latest", "new-1", "new-2", "release-1.0"]),
    # anchored include: 'old' alone matches no tag, 'old-.*' both old ones
    ({"tag_include": ["old"]}, ALL_TAGS),
    ({"tag_include": ["old-.*"]}, [t for t in ALL_TAGS if not t.startswith("old-")]),
    # keep_tags: latest is kept, so new-2 (same digest) is kept with it
    ({"tag_include": [".*"], "keep_tags": ["latest", "mid"]}, ["latest", "mid", "new-2"]),
    # every rule must agree: newest 2 kept, and everything younger than 55 days kept
    ({"keep_last": 2, "older_than": "55d"}, ["dev-abc", "latest", "mid", "new-1", "new-2"]),
], ids=["keep_last", "older_than", "include_exclude", "include_anchored", "include_prefix", "keep_tags",
        "keep_last_and_older_than"])
def test_rules_give_expected_remaining_tags(localenv, registry, rules, expected):
    repo = _prefix() + "/app"
    digests = push_standard(registry, repo)
    args = _args(registry, [repo], in_use_protection=False, **rules)

    check = run_module(localenv, MODULE, args, check=True, diff=True)
    assert not check.failed, check.result.get("msg")
    assert _tags(registry, repo) == ALL_TAGS, "check mode deleted something"
    assert check.result["deleted"] == []
    assert check.result["diff"]["after"][repo] == expected
    assert check.changed == (expected != ALL_TAGS)

    real = run_module(localenv, MODULE, args)
    assert not real.failed, real.result.get("msg")
    assert _deleted(real.result) == _planned(check.result), "the real run deleted something else than the plan"
    assert real.result["plan"]["fingerprint"] == check.result["plan"]["fingerprint"]
    assert _tags(registry, repo) == expected
    assert real.result["results"][0]["ordering"] == "created"
    # every remaining tag still resolves to the digest it was pushed with
    auth = (registry.username, registry.password)
    for tag in expected:
        pushed = digests.get(tag) or digests["new-2"]
        assert manifest_digest(registry.url, repo, tag, auth=auth, ca=registry.ca) == pushed

    if "keep_last" in rules and len(rules) == 1:
        rerun = run_module(localenv, MODULE, args)
        assert not rerun.failed and not rerun.changed and rerun.result["deleted"] == []
    _no_secret(real, registry)


def test_multi_arch_index_children_protected_and_kept_index_survives(localenv, registry):
    """GC must keep index children: a kept index keeps its (tagged) children; a deleted index goes before its children."""
    repo = _prefix() + "/multi"
    auth = (registry.username, registry.password)
    amd = push_image_details(registry.url, repo, ["amd64-build"], auth=auth, ca=registry.ca, created=ago(80),
                             platform="linux/amd64")
    arm = push_image_details(registry.url, repo, ["arm64-build"], auth=auth, ca=registry.ca, created=ago(80),
                             platform="linux/arm64")
    index = push_index(registry.url, repo, ["1.0"], [amd, arm], auth=auth, ca=registry.ca, created=ago(80))
    push_image(registry.url, repo, ["old-single"], auth=auth, ca=registry.ca, created=ago(80))
    args = _args(registry, [repo], in_use_protection=False, tag_include=[".*-build", "old-single"])
    real = run_module(localenv, MODULE, args)
    assert not real.failed, real.result.get("msg")
    assert _tags(registry, repo) == ["1.0", "amd64-build", "arm64-build"]
    keep = dict((e["digest"], e["reason"]) for e in real.result["plan"]["repositories"][0]["keep"])
    assert keep[amd.digest] == f"child of kept index {index}"
    # the children still resolve by digest: the index is intact
    client = RegistryClient(registry.url, auth=auth, ca=registry.ca)
    for child in (amd.digest, arm.digest):
        assert client.head_manifest(repo, child) is not None


# ---------------------------------------------------------------------------------------------
# in-use protection over two clusters, fail closed
# ---------------------------------------------------------------------------------------------

def _deployment(name, image):
    from kubernetes import client as k
    labels = {"app": name}
    return k.V1Deployment(
        metadata=k.V1ObjectMeta(name=name),
        spec=k.V1DeploymentSpec(
            replicas=1, selector=k.V1LabelSelector(match_labels=labels),
            template=k.V1PodTemplateSpec(metadata=k.V1ObjectMeta(labels=labels),
                                         spec=k.V1PodSpec(containers=[k.V1Container(name="app", image=image)]))))


def test_image_used_by_a_deployment_in_one_of_two_clusters_survives(localenv, registry, kube_client, unique_ns):
    from kubernetes import client as k
    prefix = _prefix()
    repo = prefix + "/app"
    digests = push_standard(registry, repo)
    # local-2 runs old-1 by tag; a CronJob in local-1 pins old-2 by digest
    ns2 = unique_ns("gc", context="local-2")
    k.AppsV1Api(kube_client("local-2")).create_namespaced_deployment(
        ns2, _deployment("web", f"{registry.host}/{repo}:old-1"))
    ns1 = unique_ns("gc", context="local-1")
    cron = k.V1CronJob(
        metadata=k.V1ObjectMeta(name="nightly"),
        spec=k.V1CronJobSpec(schedule="0 3 * * *", job_template=k.V1JobTemplateSpec(spec=k.V1JobSpec(
            template=k.V1PodTemplateSpec(spec=k.V1PodSpec(restart_policy="Never", init_containers=[
                k.V1Container(name="prep", image=f"{registry.host}/{repo}@{digests['old-2']}")],
                containers=[k.V1Container(name="run", image="busybox")]))))))
    k.BatchV1Api(kube_client("local-1")).create_namespaced_cron_job(ns1, cron)

    args = _args(registry, [prefix + "/*"], tag_include=["old-.*", "dev-.*"],
                 kubeconfig=localenv.kubeconfig, clusters=[{"context": "local-1"}, {"context": "local-2"}])
    check = run_module(localenv, MODULE, args, check=True)
    assert not check.failed, check.result.get("msg")
    assert check.result["repositories_matched"] == {prefix + "/*": [repo]}
    real = run_module(localenv, MODULE, args)
    assert not real.failed, real.result.get("msg")
    assert _deleted(real.result) == _planned(check.result)
    assert _tags(registry, repo) == [t for t in ALL_TAGS if t != "dev-abc"]
    keep = dict((e["digest"], e["reason"]) for e in real.result["plan"]["repositories"][0]["keep"])
    assert keep[digests["old-1"]].startswith(f"protected: in use: local-2: Deployment {ns2}/web container app")
    assert keep[digests["old-2"]].startswith(f"protected: in use: local-1: CronJob {ns1}/nightly container prep")
    assert real.result["summary"]["protected_in_use"] == 2
    assert [c["cluster"] for c in real.result["in_use"]["clusters"]] == ["local-1", "local-2"]


@pytest.mark.parametrize("bad_cluster", [
    {"context": "no-such-context"},
    {"kubeconfig": "/nonexistent/kubeconfig"},
], ids=["bogus_context", "bogus_kubeconfig"])
def test_unreadable_cluster_fails_and_deletes_nothing(localenv, registry, bad_cluster):
    repo = _prefix() + "/app"
    push_standard(registry, repo)
    args = _args(registry, [repo], keep_last=0, kubeconfig=localenv.kubeconfig,
                 clusters=[{"context": "local-1"}, bad_cluster])
    for check in (True, False):
        run = run_module(localenv, MODULE, args, check=check)
        assert run.failed
        assert "nothing was deleted" in run.result["msg"]
        assert len(run.result["unreadable"]) == 1
        assert _tags(registry, repo) == ALL_TAGS


def test_forbidden_list_fails_closed(localenv, registry, kube_client, unique_ns, tmp_path):
    """A ServiceAccount that may list pods but not cronjobs: the task fails naming what it could not read."""
    from kubernetes import client as k
    ns = unique_ns("gc-rbac", context="local-1")
    api = kube_client("local-1")
    core, rbac = k.CoreV1Api(api), k.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(ns, k.V1ServiceAccount(metadata=k.V1ObjectMeta(name="reader")))
    role_name = f"rl-gc-partial-{ns}"
    rbac.create_cluster_role(k.V1ClusterRole(metadata=k.V1ObjectMeta(name=role_name), rules=[
        k.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["list"]),
        k.V1PolicyRule(api_groups=["apps"], resources=["deployments", "statefulsets", "daemonsets", "replicasets"],
                       verbs=["list"])]))
    try:
        rbac.create_cluster_role_binding(k.V1ClusterRoleBinding(
            metadata=k.V1ObjectMeta(name=role_name),
            role_ref=k.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role_name),
            subjects=[k.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=ns)]))
        token = core.create_namespaced_service_account_token(
            "reader", ns, k.AuthenticationV1TokenRequest(spec=k.V1TokenRequestSpec(audiences=[]))).status.token
        cluster = localenv.cluster("local-1")
        repo = _prefix() + "/app"
        push_standard(registry, repo)
        args = _args(registry, [repo], keep_last=0, host=cluster["server"], api_key=token, ca_cert=cluster["ca"])
        # no kubeconfig from the environment: only the ServiceAccount token authenticates
        run = run_module(localenv, MODULE, args, extra_env={"K8S_AUTH_KUBECONFIG": "", "KUBECONFIG": "/nonexistent"})
        assert run.failed
        unreadable = run.result["unreadable"]
        assert len(unreadable) == 2
        assert "cannot list jobs: forbidden" in unreadable[0] and "cannot list cronjobs: forbidden" in unreadable[1]
        assert _tags(registry, repo) == ALL_TAGS
        assert token not in run.output
    finally:
        rbac.delete_cluster_role_binding(role_name)
        rbac.delete_cluster_role(role_name)


# ---------------------------------------------------------------------------------------------
# deletion disabled (deletes disabled: 405)
# ---------------------------------------------------------------------------------------------

def test_registry_with_deletion_disabled_gives_clear_error(localenv, tmp_path):
    with start_registry(tmp_path / "nodelete", delete_enabled=False) as reg:
        auth = (reg.username, reg.password)
        for tag, days in (("a", 90), ("b", 80), ("c", 70)):
            push_image(reg.url, "team/app", [tag], auth=auth, ca=reg.ca, created=ago(days))
        args = _args(reg, ["team/app"], in_use_protection=False, older_than="1d")
        check = run_module(localenv, MODULE, args, check=True)
        assert not check.failed and check.result["summary"]["planned"] == 3
        run = run_module(localenv, MODULE, args)
        assert run.failed
        assert "refuses deletes" in run.result["msg"] and "storage.delete.enabled=false" in run.result["msg"]
        assert run.result["deleted"] == []
        assert len(run.result["not_deleted"]) == 3
        assert sorted(e["status"] for e in run.result["not_deleted"]) == ["failed", "not_attempted", "not_attempted"]
        assert _tags(reg, "team/app") == ["a", "b", "c"]
        _no_secret(run, reg)


# ---------------------------------------------------------------------------------------------
# after the module: distribution's garbage-collect reclaims blobs, what remains is pullable
# ---------------------------------------------------------------------------------------------

def _blob_files(data_dir):
    root = Path(data_dir) / "docker" / "registry" / "v2" / "blobs"
    return sorted(p.parent.name for p in root.rglob("data"))


def _referenced(client, repo, tags):
    """Every manifest digest (tags and index children) and blob digest the tags need."""
    manifests, blobs = set(), set()
    todo = [client.head_manifest(repo, t)[0] for t in tags]
    while todo:
        digest = todo.pop()
        if digest in manifests:
            continue
        manifests.add(digest)
        body, _media, _d = client.get_manifest(repo, digest)
        if body.get("manifests"):
            todo.extend(m["digest"] for m in body["manifests"])
        else:
            blobs.add(body["config"]["digest"])
            blobs.update(layer["digest"] for layer in body["layers"])
    return manifests, blobs


def test_garbage_collect_after_module_reclaims_blobs_and_keeps_images_pullable(localenv, tmp_path):
    workdir = tmp_path / "gcreg"
    reg = start_registry(workdir)
    try:
        auth = (reg.username, reg.password)
        repo = "team/app"
        digests = push_standard(reg, repo)
        client = RegistryClient(reg.url, auth=auth, ca=reg.ca)
        _m, doomed_blobs = _referenced(client, repo, ["old-1", "old-2"])
        before = _blob_files(reg.data)
        run = run_module(localenv, MODULE, _args(reg, [repo], in_use_protection=False, older_than="55d",
                                                 tag_exclude=["release-.*"]))
        assert not run.failed, run.result.get("msg")
        remaining = _tags(reg, repo)
        assert remaining == ["dev-abc", "latest", "mid", "new-1", "new-2", "release-1.0"]
        keep_manifests, keep_blobs = _referenced(client, repo, remaining)
        assert not (doomed_blobs & keep_blobs)
    finally:
        reg.stop()
    # garbage-collect needs the registry stopped (or read-only): it is stopped here
    gc = subprocess.run([REGISTRY_BIN, "garbage-collect", reg.config], capture_output=True, text=True, timeout=300,
                        check=False)
    assert gc.returncode == 0, gc.stdout[-2000:] + gc.stderr[-2000:]
    after = _blob_files(reg.data)
    assert len(after) < len(before)
    for blob in doomed_blobs:
        assert blob.split(":")[1] not in after, f"{blob} was not reclaimed"
    # start the same storage again (same port, CA, credentials) and pull what remains
    reg2 = start_registry(workdir, port=reg.port, ca=CertPair(reg.ca, reg.ca_key), username=reg.username,
                          password=reg.password)
    try:
        client = RegistryClient(reg2.url, auth=auth, ca=reg2.ca)
        assert _tags(reg2, repo) == remaining
        for digest in keep_manifests:
            assert client.head_manifest(repo, digest) is not None, f"manifest {digest} lost"
        for blob in keep_blobs:
            assert client.blob_exists(repo, blob), f"blob {blob} lost"
        assert client.head_manifest(repo, digests["multi"]) is None  # multi (70 days) was deleted
        assert client.head_manifest(repo, digests["old-1"]) is None
    finally:
        reg2.stop()


# ---------------------------------------------------------------------------------------------
# glob without a catalog, plan fingerprint
# ---------------------------------------------------------------------------------------------

def test_plan_fingerprint_guards_the_real_run(localenv, registry):
    repo = _prefix() + "/app"
    push_standard(registry, repo)
    args = _args(registry, [repo], in_use_protection=False, keep_last=4)
    check = run_module(localenv, MODULE, args, check=True)
    fp = check.result["plan"]["fingerprint"]
    # someone pushes a newer image between review and run: the plan changes, nothing is deleted
    push_image(registry.url, repo, ["hotfix"], auth=(registry.username, registry.password), ca=registry.ca,
               created=ago(0))
    stale = run_module(localenv, MODULE, dict(args, plan_fingerprint=fp))
    assert stale.failed and "differs from the reviewed plan" in stale.result["msg"]
    assert _tags(registry, repo) == sorted(ALL_TAGS + ["hotfix"])
    check2 = run_module(localenv, MODULE, args, check=True)
    real = run_module(localenv, MODULE, dict(args, plan_fingerprint=check2.result["plan"]["fingerprint"]))
    assert not real.failed and _deleted(real.result) == _planned(check2.result)


def test_glob_needs_catalog_clear_error(localenv, tmp_path):
    """A glob needs the catalog; when it cannot be read (here: no credentials for an htpasswd
    registry, so GET /v2/_catalog answers 401), the task fails before reading anything, naming
    the option and what to do instead."""
    with start_registry(tmp_path / "cat") as reg:
        args = {"registry": reg.host, "registry_ca_path": reg.ca, "repositories": ["team/*"], "keep_last": 1,
                "in_use_protection": False}
        run = run_module(localenv, MODULE, args)
        assert run.failed
        assert "needs the registry catalog" in run.result["msg"]
        assert run.result["field"] == "repositories"


# ---------------------------------------------------------------------------------------------
# playbooks/cleanup.yml: the inverse of setup over two clusters, then retention for the fleet
# ---------------------------------------------------------------------------------------------

def test_cleanup_playbook_undoes_setup_and_applies_retention(localenv, registry, kube_client, unique_ns):
    from kubernetes import client as k
    from tests.support.ansible_run import run_playbook
    contexts = ["local-1", "local-2"]
    ns_prefix = f"gcplay{secrets.token_hex(2)}"
    ns = {c: unique_ns(ns_prefix, context=c) for c in contexts}
    # unique_ns numbers namespaces across clusters: select them with a glob of this test's prefix
    names = [ns_prefix + "-*"]
    # an unmanaged entry someone else put there must survive the clean-up
    for c in contexts:
        core = k.CoreV1Api(kube_client(c))
        core.patch_namespaced_service_account("default", ns[c], {"imagePullSecrets": [{"name": "legacy-mirror"}]})
    common = {"registrylink_setup_hosts": ",".join(contexts), "registrylink_cleanup_hosts": ",".join(contexts),
              "registry_credentials_namespaces": names, "registry_credentials_secret_name": "rl-gc-play"}
    setup = run_playbook(localenv, "playbooks/setup.yml", extra_vars=common, inventory="inventories/local")
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-2000:]

    prefix = _prefix()
    repo = prefix + "/app"
    digests = push_standard(registry, repo)
    k.AppsV1Api(kube_client("local-2")).create_namespaced_deployment(
        ns["local-2"], _deployment("web", f"{registry.host}/{repo}:old-1"))
    extra = dict(common, cleanup_registry_gc=True,
                 cleanup_registry={"registry": registry.host, "username": registry.username,
                                   "password": registry.password, "registry_ca_path": registry.ca},
                 cleanup_retention={"repositories": [prefix + "/*"], "older_than": "30d",
                                    "tag_exclude": ["release-.*"]})

    def state():
        out = {}
        for c in contexts:
            core = k.CoreV1Api(kube_client(c))
            sa = core.read_namespaced_service_account("default", ns[c])
            secrets_ = [s.metadata.name for s in core.list_namespaced_secret(ns[c]).items]
            out[c] = ([r.name for r in sa.image_pull_secrets or []], "rl-gc-play" in secrets_)
        return out, _tags(registry, repo)

    before = state()
    assert before[0] == {c: (["legacy-mirror", "rl-gc-play"], True) for c in contexts}
    check = run_playbook(localenv, "playbooks/cleanup.yml", extra_vars=extra, inventory="inventories/local",
                         check=True, diff=True)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-2000:]
    assert state() == before, "check mode changed something"
    assert "plan fingerprint: sha256:" in check.stdout

    real = run_playbook(localenv, "playbooks/cleanup.yml", extra_vars=extra, inventory="inventories/local")
    assert real.returncode == 0, real.stdout[-3000:] + real.stderr[-2000:]
    after = state()
    assert after[0] == {c: (["legacy-mirror"], False) for c in contexts}
    # older than 30 days go, except release-* and old-1, which a Deployment in local-2 runs
    assert after[1] == ["latest", "mid", "new-1", "new-2", "old-1", "release-1.0"]
    assert registry.password not in real.stdout + real.stderr
    assert manifest_digest(registry.url, repo, "old-1", auth=(registry.username, registry.password),
                           ca=registry.ca) == digests["old-1"]

    rerun = run_playbook(localenv, "playbooks/cleanup.yml", extra_vars=extra, inventory="inventories/local")
    assert rerun.returncode == 0
    assert "changed=0" in rerun.stdout.split("PLAY RECAP", 1)[1].split("\n")[1]


def test_credentials_from_a_pull_secret(localenv, registry, kube_client, unique_ns):
    import base64
    from kubernetes import client as k
    ns = unique_ns("gcsecret", context="local-1")
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    config = json.dumps({"auths": {registry.host: {"auth": auth}}})
    k.CoreV1Api(kube_client("local-1")).create_namespaced_secret(ns, k.V1Secret(
        metadata=k.V1ObjectMeta(name="cleaner"), type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(config.encode()).decode()}))
    repo = _prefix() + "/app"
    push_standard(registry, repo)
    args = {"registry": registry.host, "registry_ca_path": registry.ca, "repositories": [repo],
            "pull_secret": {"namespace": ns, "name": "cleaner"}, "tag_include": ["old-.*"],
            "kubeconfig": localenv.kubeconfig, "context": "local-1"}
    run = run_module(localenv, MODULE, args)
    assert not run.failed, run.result.get("msg")
    assert run.result["credentials"] == {"secret": f"{ns}/cleaner", "key": registry.host,
                                         "username": registry.username}
    assert _tags(registry, repo) == [t for t in ALL_TAGS if not t.startswith("old-")]
    _no_secret(run, registry)
    assert auth not in run.output
