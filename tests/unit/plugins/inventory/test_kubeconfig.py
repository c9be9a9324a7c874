"""Inventory plugin registrylink.k8s.kubeconfig.

The pure parts (reading, merging, selecting) are called directly; the plugin itself runs
through the real ``ansible-inventory`` CLI with the collection on ANSIBLE_COLLECTIONS_PATH, the
way a user runs it (options, Constructable, cache and error reporting are Ansible's own code).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.registrylink.k8s.plugins.inventory import kubeconfig as kc

REPO_ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")

SECRETS = ("tok-3f9a7c1e55d2", "pw-b81e0c6d2a", "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==",
           "cert-data-77aa", "exec-arg-secret-19", "idp-refresh-token-4411")


def kubeconfig(contexts, clusters=None, users=None, current=None):
    """A kubeconfig dict; clusters/users default to one per context, holding every kind of credential."""
    clusters = clusters if clusters is not None else [
        {"name": c["cluster"], "cluster": {"server": "https://%s.example.com:6443" % c["cluster"],
                                           "certificate-authority-data": SECRETS[3]}} for c in contexts]
    users = users if users is not None else [
        {"name": c["user"], "user": {"token": SECRETS[0], "password": SECRETS[1], "username": "admin",
                                     "client-key-data": SECRETS[2], "client-certificate-data": SECRETS[3],
                                     "exec": {"command": "aws", "args": [SECRETS[4]], "apiVersion": "v1"},
                                     "auth-provider": {"name": "oidc", "config": {"refresh-token": SECRETS[5]}}}}
        for c in contexts]
    doc = {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users,
           "contexts": [{"name": c["name"], "context": {k: v for k, v in c.items() if k != "name"}} for c in contexts]}
    if current:
        doc["current-context"] = current
    return doc


def ctx(name, cluster=None, user=None, namespace=None):
    out = {"name": name, "cluster": cluster or name + "-cluster", "user": user or name + "-user"}
    if namespace:
        out["namespace"] = namespace
    return out


def write(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def collections_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("collections")
    link = root / "ansible_collections" / "registrylink" / "k8s"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO_ROOT, target_is_directory=True)
    return root


def inventory(collections_path, config_path: Path, extra_env=None, args=("--list",)):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_"))}
    env.pop("KUBECONFIG", None)
    env.update({"ANSIBLE_COLLECTIONS_PATH": str(collections_path), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
                "ANSIBLE_NOCOLOR": "1", "HOME": str(config_path.parent)})
    env.update(extra_env or {})
    proc = subprocess.run([ANSIBLE_INVENTORY, "-i", str(config_path), *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=str(config_path.parent), check=False)
    return proc


def _plain(value):
    """ansible-inventory --list marks inventory strings as unsafe ({"__ansible_unsafe": ...})."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def listed(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return _plain(json.loads(proc.stdout))


# --- pure parts ---------------------------------------------------------------------------

def test_contexts_of_one_file_reads_names_and_server_only(tmp_path):
    path = write(tmp_path / "a.yaml", kubeconfig([ctx("eu-1", namespace="team-a"), ctx("us-1")]))
    records = kc.contexts_of([str(path)])
    assert records == [
        {"kubeconfig": str(path), "kube_context": "eu-1", "kube_cluster": "eu-1-cluster", "kube_user": "eu-1-user",
         "kube_server": "https://eu-1-cluster.example.com:6443", "kube_namespace": "team-a"},
        {"kubeconfig": str(path), "kube_context": "us-1", "kube_cluster": "us-1-cluster", "kube_user": "us-1-user",
         "kube_server": "https://us-1-cluster.example.com:6443"},
    ]
    assert not any(s in json.dumps(records) for s in SECRETS)


def test_merged_source_first_definition_wins_and_crosses_files(tmp_path):
    first = write(tmp_path / "one.yaml", kubeconfig([ctx("a", cluster="shared")], users=[]))
    second = write(tmp_path / "two.yaml", kubeconfig(
        [ctx("a", cluster="other"), ctx("b", cluster="shared")],
        clusters=[{"name": "shared", "cluster": {"server": "https://second.example.com"}},
                  {"name": "other", "cluster": {"server": "https://other.example.com"}}],
        users=[{"name": "a-user", "user": {}}, {"name": "b-user", "user": {}}]))
    records = kc.contexts_of([str(first), str(second)])
    source = "%s:%s" % (first, second)
    # context "a" comes from the first file (its cluster "shared" too, and its user from the second)
    assert [(r["kube_context"], r["kube_cluster"], r["kube_server"], r["kubeconfig"]) for r in records] == [
        ("a", "shared", "https://shared.example.com:6443", source),
        ("b", "shared", "https://shared.example.com:6443", source),
    ]


@pytest.mark.parametrize("doc, message", [
    ("clusters: [\n  - name: x\n   token: abc", "is not valid YAML (line"),
    ("- a\n- b\n", "is not a kubeconfig"),
    ({"contexts": {"name": "x"}}, '"contexts" must be a list'),
    ({"contexts": [{"context": {"cluster": "c", "user": "u"}}]}, "contexts[0] has no name"),
    ({"contexts": [{"name": "x", "context": "c"}]}, 'contexts "x": "context" must be a mapping'),
    (kubeconfig([{"name": "x", "user": "u"}], clusters=[], users=[{"name": "u", "user": {}}]),
     'context "x": the context names no cluster'),
    (kubeconfig([{"name": "x", "cluster": "c"}], clusters=[{"name": "c", "cluster": {"server": "https://c"}}],
                users=[]), 'context "x": the context names no user'),
    (kubeconfig([ctx("x")], clusters=[]), 'context "x": cluster "x-cluster" is not defined in'),
    (kubeconfig([ctx("x")], users=[]), 'context "x": user "x-user" is not defined in'),
    (kubeconfig([ctx("x")], clusters=[{"name": "x-cluster", "cluster": {}}]),
     'context "x": cluster "x-cluster" has no server URL'),
])
def test_malformed_kubeconfig_names_file_and_context(tmp_path, doc, message):
    path = write(tmp_path / "bad.yaml", doc)
    with pytest.raises(kc.KubeconfigError) as err:
        kc.contexts_of([str(path)])
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_yaml_error_does_not_quote_the_file(tmp_path):
    path = write(tmp_path / "bad.yaml", "users:\n- name: u\n  user: {token: %s\n" % SECRETS[0])
    with pytest.raises(kc.KubeconfigError) as err:
        kc.contexts_of([str(path)])
    assert SECRETS[0] not in str(err.value)


def test_unreadable_file(tmp_path):
    with pytest.raises(kc.KubeconfigError, match="cannot be read"):
        kc.load_kubeconfig(str(tmp_path))  # a directory


@pytest.mark.parametrize("url, expected", [
    ("https://admin:s3cret@api.example.com:6443/path", "https://api.example.com:6443/path"),
    ("https://tok@api.example.com", "https://api.example.com"),
    ("https://api.example.com:6443", "https://api.example.com:6443"),
    ("https://[::1]:6443", "https://[::1]:6443"),
])
def test_strip_userinfo(url, expected):
    assert kc.strip_userinfo(url) == expected


def test_expand_sources(tmp_path):
    a = write(tmp_path / "k" / "a.yaml", {})
    b = write(tmp_path / "k" / "b.yaml", {})
    (tmp_path / "k" / "dir.yaml").mkdir()
    assert kc.expand_sources(["k/*.yaml"], str(tmp_path)) == [[str(a)], [str(b)]]
    assert kc.expand_sources([str(a)], "/elsewhere") == [[str(a)]]
    # a KUBECONFIG-style list is one merged source of the files that exist
    assert kc.expand_sources(["k/a.yaml:k/missing.yaml:%s" % b], str(tmp_path)) == [[str(a), str(b)]]
    with pytest.raises(kc.KubeconfigError, match="file .*missing.yaml does not exist"):
        kc.expand_sources(["k/missing.yaml"], str(tmp_path))
    with pytest.raises(kc.KubeconfigError, match="the glob matches no file"):
        kc.expand_sources(["k/*.conf"], str(tmp_path))
    with pytest.raises(kc.KubeconfigError, match="none of these files exists"):
        kc.expand_sources(["x.yaml:y.yaml"], str(tmp_path))
    with pytest.raises(kc.KubeconfigError, match="an entry is empty"):
        kc.expand_sources([" "], str(tmp_path))


def test_default_entries():
    assert kc.default_entries({"KUBECONFIG": "/a:/b"}, home="/h") == ["/a:/b"]
    assert kc.default_entries({}, home="/h") == ["/h/.kube/config"]
    assert kc.default_entries({"KUBECONFIG": " "}, home="/h") == ["/h/.kube/config"]


def test_select_contexts():
    records = [{"kube_context": n} for n in ("eu-1", "eu-2-staging", "us-1", "EU-3")]

    def pick(inc, exc):
        return [r["kube_context"] for r in kc.select_contexts(records, inc, exc)]

    assert pick([], []) == ["eu-1", "eu-2-staging", "us-1", "EU-3"]
    assert pick(["eu-*"], []) == ["eu-1", "eu-2-staging"]  # case-sensitive
    assert pick(["eu-*"], ["*-staging"]) == ["eu-1"]
    assert pick([], ["us-?"]) == ["eu-1", "eu-2-staging", "EU-3"]


# --- the plugin through ansible-inventory ---------------------------------------------------

def test_plugin_hosts_vars_groups_and_no_credentials(tmp_path, collections_path):
    write(tmp_path / "kube" / "fleet.yaml", kubeconfig([
        ctx("eu-1", namespace="team-a"), ctx("eu-2-staging"), ctx("us-1", user="ops")],
        clusters=[{"name": n, "cluster": {"server": "https://admin:%s@%s.example.com:6443" % (SECRETS[1], n),
                                          "certificate-authority-data": SECRETS[3]}}
                  for n in ("eu-1-cluster", "eu-2-staging-cluster", "us-1-cluster")]))
    cfg = write(tmp_path / "fleet.kubeconfig.yml", {
        "plugin": "registrylink.k8s.kubeconfig", "kubeconfig": ["kube/fleet.yaml"],
        "exclude_contexts": ["*-staging"],
        "keyed_groups": [{"key": "kube_context.split('-') | first", "prefix": "region"},
                         {"key": "kube_user", "prefix": "user"}],
        "groups": {"namespaced": "kube_namespace is defined"},
        "compose": {"ansible_connection": "'local'", "api_host": "kube_server | urlsplit('hostname')"},
    })
    proc = inventory(collections_path, cfg)
    data = listed(proc)
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == ["eu-1", "us-1"]
    assert hostvars["eu-1"] == {
        "kubeconfig": str(tmp_path / "kube" / "fleet.yaml"), "kube_context": "eu-1", "kube_cluster": "eu-1-cluster",
        "kube_user": "eu-1-user", "kube_server": "https://eu-1-cluster.example.com:6443", "kube_namespace": "team-a",
        "ansible_connection": "local", "api_host": "eu-1-cluster.example.com"}
    assert sorted(data["clusters"]["hosts"]) == ["eu-1", "us-1"]
    assert data["region_eu"]["hosts"] == ["eu-1"] and data["region_us"]["hosts"] == ["us-1"]
    assert data["user_ops"]["hosts"] == ["us-1"]
    assert data["namespaced"]["hosts"] == ["eu-1"]
    everything = proc.stdout + proc.stderr
    assert not [s for s in SECRETS if s in everything]


def test_plugin_default_is_kubeconfig_env_then_home(tmp_path, collections_path):
    write(tmp_path / ".kube" / "config", kubeconfig([ctx("from-home")]))
    env_file = write(tmp_path / "env" / "k.yaml", kubeconfig([ctx("from-env")]))
    other = write(tmp_path / "env" / "k2.yaml", kubeconfig([ctx("from-env-2")]))
    cfg = write(tmp_path / "default.kubeconfig.yml", {"plugin": "registrylink.k8s.kubeconfig"})
    assert sorted(listed(inventory(collections_path, cfg))["_meta"]["hostvars"]) == ["from-home"]
    data = listed(inventory(collections_path, cfg, {"KUBECONFIG": "%s:%s" % (env_file, other)}))
    assert sorted(data["_meta"]["hostvars"]) == ["from-env", "from-env-2"]
    assert data["_meta"]["hostvars"]["from-env-2"]["kubeconfig"] == "%s:%s" % (env_file, other)


def test_plugin_globs_templates_host_name_and_duplicates(tmp_path, collections_path):
    for name in ("prod-a", "prod-b"):  # kubeadm: every file has the same context name
        write(tmp_path / "kc" / (name + ".yaml"), kubeconfig([ctx("kubernetes-admin@kubernetes")]))
    cfg = write(tmp_path / "dup.kubeconfig.yml", {
        "plugin": "registrylink.k8s.kubeconfig",
        "kubeconfig": ["{{ lookup('ansible.builtin.env', 'FLEET_DIR') }}/*.yaml"]})
    proc = inventory(collections_path, cfg, {"FLEET_DIR": str(tmp_path / "kc")})
    assert proc.returncode != 0
    assert 'host name "kubernetes-admin@kubernetes"' in proc.stderr
    assert str(tmp_path / "kc" / "prod-a.yaml") in proc.stderr and str(tmp_path / "kc" / "prod-b.yaml") in proc.stderr
    assert "set host_name" in proc.stderr

    cfg = write(tmp_path / "named.kubeconfig.yml", {
        "plugin": "registrylink.k8s.kubeconfig", "group": "fleet",
        "kubeconfig": ["{{ lookup('ansible.builtin.env', 'FLEET_DIR') }}/*.yaml"],
        "host_name": "kubeconfig | basename | splitext | first"})
    data = listed(inventory(collections_path, cfg, {"FLEET_DIR": str(tmp_path / "kc")}))
    assert sorted(data["fleet"]["hosts"]) == ["prod-a", "prod-b"]
    assert "clusters" not in data
    assert data["_meta"]["hostvars"]["prod-b"]["kube_context"] == "kubernetes-admin@kubernetes"


def test_plugin_error_names_file_and_context(tmp_path, collections_path):
    path = write(tmp_path / "broken.yaml", kubeconfig(
        [ctx("good"), ctx("bad")], clusters=[{"name": "good-cluster", "cluster": {"server": "https://g"}}]))
    cfg = write(tmp_path / "broken.kubeconfig.yml", {"plugin": "registrylink.k8s.kubeconfig", "kubeconfig": [str(path)]})
    proc = inventory(collections_path, cfg)
    assert proc.returncode != 0
    assert 'kubeconfig %s, context "bad": cluster "bad-cluster" is not defined' % path in proc.stderr
    assert not [s for s in SECRETS if s in proc.stdout + proc.stderr]
    proc = inventory(collections_path, write(tmp_path / "missing.kubeconfig.yml", {
        "plugin": "registrylink.k8s.kubeconfig", "kubeconfig": ["nope.yaml"]}))
    assert proc.returncode != 0 and "file %s does not exist" % (tmp_path / "nope.yaml") in proc.stderr


def test_plugin_ignores_files_with_other_names(tmp_path, collections_path):
    write(tmp_path / "k.yaml", kubeconfig([ctx("a")]))
    cfg = write(tmp_path / "inventory.yml", {"plugin": "registrylink.k8s.kubeconfig", "kubeconfig": ["k.yaml"]})
    proc = inventory(collections_path, cfg)
    assert proc.returncode != 0  # not a kubeconfig.yml name: the plugin refuses it, nothing else can parse it


def test_plugin_cache_holds_no_credentials_and_is_used(tmp_path, collections_path):
    kfile = write(tmp_path / "k.yaml", kubeconfig([ctx("cached")]))
    cache_dir = tmp_path / "cache"
    cfg = write(tmp_path / "c.kubeconfig.yml", {
        "plugin": "registrylink.k8s.kubeconfig", "kubeconfig": ["k.yaml"], "cache": True,
        "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(cache_dir), "cache_timeout": 3600})
    assert sorted(listed(inventory(collections_path, cfg))["_meta"]["hostvars"]) == ["cached"]
    files = list(cache_dir.iterdir())
    assert len(files) == 1
    content = files[0].read_text()
    assert "cached" in content and not [s for s in SECRETS if s in content]
    assert "certificate-authority-data" not in content
    # the kubeconfig changes: the cache answers until it is flushed
    write(kfile, kubeconfig([ctx("renamed")]))
    assert sorted(listed(inventory(collections_path, cfg))["_meta"]["hostvars"]) == ["cached"]
    assert sorted(listed(inventory(collections_path, cfg, args=("--list", "--flush-cache")))["_meta"]["hostvars"]) \
        == ["renamed"]
