"""containerd_hosts: config_path discovery, validation, hosts.toml rendering, plan/apply on a
temporary directory (the real node is in tests/integration/test_node_registry_config.py)."""

import os
import tomllib

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _containerd_hosts as ch
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError


def _pem(kind="CERTIFICATE", body="TUlJQg=="):
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, body, kind)


CA = _pem()
KEY = _pem("PRIVATE KEY", "c2VjcmV0LWtleS1tYXRlcmlhbA==")

V2 = '''version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "pause"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"  # comment
'''
V3 = '''version = 3
[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '/etc/containerd/certs.d:/etc/docker/certs.d'
'''
V1 = '''[plugins.cri.registry]
  config_path = "/opt/certs.d"
'''
LEGACY = '''version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example.com"]
'''
UNSET = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n'
# a dotted key inside a table (valid TOML; the fallback reader once missed it)
DOTTED = '''version = 2
[plugins."io.containerd.grpc.v1.cri"]
  registry.config_path = "/etc/containerd/certs.d"
'''
# containerd refuses configs.<host>.tls with config_path, but allows configs.<host>.auth
AUTH = '''version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
[plugins."io.containerd.grpc.v1.cri".registry.configs."r.example.com".auth]
  username = "u"
'''
TLS = '''version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
[plugins."io.containerd.grpc.v1.cri".registry.configs."r.example.com".tls]
  ca_file = "/etc/ca.crt"
'''


@pytest.mark.parametrize("text, version, path, legacy", [
    (V2, 2, "/etc/containerd/certs.d", []),
    (V3, 3, "/etc/containerd/certs.d", []),
    (V1, 1, "/opt/certs.d", []),
    (LEGACY, 2, None, ["mirrors"]),
    (UNSET, 2, None, []),
    (DOTTED, 2, "/etc/containerd/certs.d", []),
    (AUTH, 2, "/etc/containerd/certs.d", []),
    (TLS, 2, "/etc/containerd/certs.d", ["configs"]),
    ("", 1, None, []),
])
def test_config_path_is_read_for_every_config_version(text, version, path, legacy):
    found = ch.read_config_path(text, "config.toml")
    assert (found["version"], found["config_path"], found["legacy"]) == (version, path, legacy)


@pytest.mark.parametrize("text", [V2, V3, V1, LEGACY, UNSET, DOTTED, AUTH, TLS])
def test_the_fallback_reader_agrees_with_tomllib(text, monkeypatch):
    want = ch.read_config_path(text, "c")
    monkeypatch.setattr(ch, "_toml", None)
    assert ch.read_config_path(text, "c") == want


def test_the_real_node_config_is_read(tmp_path):
    from tests.support.node import Node
    n = Node(cluster="c", index=1, env_root=str(tmp_path), workdir=str(tmp_path), log_dir=str(tmp_path))
    n._write_containerd_config("127.0.0.1:5000", None)
    text = (tmp_path / "node/containerd/config.toml").read_text()
    assert ch.read_config_path(text, "c")["config_path"] == str(tmp_path / "node/containerd/certs.d")


def test_broken_toml_is_an_error_naming_the_file():
    with pytest.raises(ch.ContainerdConfigError, match="config.toml is not valid TOML"):
        ch.read_config_path("version = = 2", "config.toml")


def test_how_to_set_names_the_table_and_the_restart():
    text = ch.how_to_set_config_path(2)
    assert '[plugins."io.containerd.grpc.v1.cri".registry] config_path = "/etc/containerd/certs.d"' in text
    assert "restart containerd" in text and "never need a restart" in text


@pytest.mark.parametrize("host, ok", [
    ("registry.example.com", True), ("registry.example.com:5000", True), ("docker.io", True), ("_default", True),
    ("127.0.0.1:5000", True), ("[::1]:5000", True), ("UPPER.example", True),
    ("https://r.example", False), ("r.example/path", False), ("r.example:0", False), ("r.example:70000", False),
    ("bad host", False), ("", False), ("-r.example", False), ("r..example", False), (None, False),
    ("[fd00::1]", True), ("[::ffff:10.0.0.1]:5000", True),
    ("[.]:5000", False), ("[:::::]", False), ("[1.2.3.4]:5000", False), ("[fd00::1%eth0]", False), ("::1", False),
])
def test_hosts(host, ok):
    if ok:
        assert ch.validate_host(host, "h") == host.lower()
    else:
        with pytest.raises(ValidationError) as exc:
            ch.validate_host(host, "registries[0].host")
        assert exc.value.details["field"] == "registries[0].host"


@pytest.mark.parametrize("url, ok", [
    ("https://m.example:5000", True), ("http://m.example", True), ("https://M.example/", True),
    ("ftp://m.example", False), ("https://u:p@m.example", False), ("https://m.example?q", False),
    ("https://m.example/v2", False), ("m.example", False), ("https://", False),
])
def test_urls(url, ok):
    if ok:
        assert ch.validate_url(url, "u") == url.lower().rstrip("/")
    else:
        with pytest.raises(ValidationError):
            ch.validate_url(url, "u")


def test_pem_checks():
    assert ch.validate_pem(CA.rstrip("\n"), "ca", ("CERTIFICATE",)) == CA
    for bad in ("", "hello", _pem("PRIVATE KEY"), _pem(body="not base64!")):
        with pytest.raises(ValidationError):
            ch.validate_pem(bad, "ca", ("CERTIFICATE",))


def _reg(**kw):
    base = {"host": "r.example:5000", "server": None, "server_fallback": True, "mirrors": [], "capabilities": None,
            "ca": None, "client_cert": None, "client_key": None, "skip_verify": False, "override_path": False}
    base.update(kw)
    return base


def test_validation_messages_name_the_option():
    cases = [
        ([], "registries"),
        ([_reg()], "registries[0]"),
        ([_reg(ca=CA), _reg(ca=CA, host="R.example:5000")], "registries[1].host"),
        ([_reg(capabilities=["pull", "fetch"], ca=CA)], "registries[0].capabilities"),
        ([_reg(client_cert=CA)], "registries[0].client_key"),
        ([_reg(client_cert=CA, client_key=CA)], "registries[0].client_key"),
        ([_reg(ca=CA, skip_verify=True)], "registries[0].skip_verify"),
        ([_reg(server="http://r.example:5000", ca=CA)], "registries[0].server"),
        ([_reg(mirrors=[{"url": "http://m.example", "ca": CA}])], "registries[0].mirrors[0].url"),
        ([_reg(mirrors=[{"url": "https://m.example"}, {"url": "https://m.example/"}])], "registries[0].mirrors[1].url"),
        ([_reg(host="_default", ca=CA)], "registries[0].mirrors"),
        ([_reg(server_fallback=False, ca=CA)], "registries[0].mirrors"),
    ]
    for registries, field in cases:
        with pytest.raises(ValidationError) as exc:
            ch.validate_registries(registries, "present")
        assert exc.value.details["field"] == field, (registries, exc.value.msg)
        assert field in exc.value.msg


def test_skip_verify_warns():
    _entries, warnings = ch.validate_registries([_reg(skip_verify=True)], "present")
    assert len(warnings) == 1 and "registries[0]: skip_verify is true" in warnings[0]


def test_absent_needs_only_the_hosts():
    entries, _w = ch.validate_registries([{"host": "r.example:5000"}], "absent")
    assert entries == [{"host": "r.example:5000"}]


def test_render_mirrors_in_order_then_the_server(tmp_path):
    entries, _w = ch.validate_registries([_reg(host="docker.io", mirrors=[
        {"url": "https://cache.example:5000", "ca": CA}, {"url": "http://second.example", "capabilities": ["pull"]},
    ])], "present")
    text, files = ch.render(entries[0], "/d/docker.io")
    data = tomllib.loads(text)
    assert text.startswith(ch.MARKER)
    assert data["server"] == "https://registry-1.docker.io"
    assert list(data["host"]) == ["https://cache.example:5000", "http://second.example"]
    assert data["host"]["https://cache.example:5000"] == {
        "capabilities": ["pull", "resolve"], "ca": "/d/docker.io/registrylink-mirror-cache.example_5000-ca.crt"}
    assert data["host"]["http://second.example"] == {"capabilities": ["pull"]}
    assert set(files) == {"registrylink-mirror-cache.example_5000-ca.crt"}


def test_render_server_options_and_client_certificates():
    entries, _w = ch.validate_registries([_reg(ca=CA, client_cert=CA, client_key=KEY, capabilities=["pull", "resolve"])],
                                         "present")
    text, files = ch.render(entries[0], "/d/r")
    data = tomllib.loads(text)
    assert data["server"] == "https://r.example:5000" and data["capabilities"] == ["pull", "resolve"]
    assert data["ca"] == "/d/r/registrylink-server-ca.crt"
    assert data["client"] == [["/d/r/registrylink-server-client.crt", "/d/r/registrylink-server-client.key"]]
    assert files["registrylink-server-client.key"] == (KEY, 0o600, True)
    assert "c2VjcmV0" not in text


def _runner(tmp_path, registries, state="present", force=False, check_mode=False, config=None):
    conf = tmp_path / "config.toml"
    conf.write_text(config if config is not None else
                    'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "%s"\n'
                    % (tmp_path / "certs.d"))
    warnings = []
    params = {"state": state, "containerd_config": str(conf), "config_path": None, "force": force,
              "registries": registries}
    return ch.ContainerdHostsRunner(params, check_mode=check_mode, diff=True, warn=warnings.append), warnings


def _tree(root):
    return {str(p.relative_to(root)): (p.stat().st_mode & 0o777, p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_cycle_check_create_rerun_update_absent(tmp_path):
    regs = [_reg(ca=CA, client_cert=CA, client_key=KEY)]
    runner, _w = _runner(tmp_path, regs, check_mode=True)
    result = runner.run()
    assert result["changed"] and result["results"][0]["action"] == "created"
    assert _tree(tmp_path) == {"config.toml": _tree(tmp_path)["config.toml"]}, "check mode wrote"
    diff_text = str(result["diff"])
    assert "c2VjcmV0" not in diff_text and "private key, fingerprint hmac-sha256:" in diff_text

    result = _runner(tmp_path, regs)[0].run()
    assert result["changed"] and result["found_in_config"] and not result["restart_needed"]
    d = tmp_path / "certs.d" / "r.example:5000"
    assert (d / "registrylink-server-client.key").stat().st_mode & 0o777 == 0o600
    assert (d / "hosts.toml").stat().st_mode & 0o777 == 0o644

    again = _runner(tmp_path, regs)[0].run()
    assert not again["changed"] and again["results"][0]["action"] == "unchanged" and "diff" not in again

    # the client certificate goes away: its files are removed, the CA stays
    result = _runner(tmp_path, [_reg(ca=CA)])[0].run()
    assert result["results"][0]["action"] == "updated"
    assert sorted(result["results"][0]["removed"]) == ["registrylink-server-client.crt",
                                                       "registrylink-server-client.key"]
    assert sorted(os.listdir(d)) == ["hosts.toml", "registrylink-server-ca.crt"]

    # a file of someone else in the directory is never touched
    (d / "ca.crt").write_text("theirs")
    result = _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()
    assert result["results"][0]["action"] == "deleted"
    assert sorted(os.listdir(d)) == ["ca.crt"]
    assert not _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()["changed"]


def test_mode_drift_is_repaired(tmp_path):
    regs = [_reg(ca=CA)]
    _runner(tmp_path, regs)[0].run()
    ca = tmp_path / "certs.d" / "r.example:5000" / "registrylink-server-ca.crt"
    os.chmod(ca, 0o600)
    result = _runner(tmp_path, regs)[0].run()
    assert result["changed"] and result["results"][0]["written"] == ["registrylink-server-ca.crt"]
    assert ca.stat().st_mode & 0o777 == 0o644


def test_unmanaged_hosts_toml_needs_force_and_absent_puts_it_back(tmp_path):
    d = tmp_path / "certs.d" / "r.example:5000"
    d.mkdir(parents=True)
    theirs = 'server = "https://r.example:5000"\n'
    (d / "hosts.toml").write_text(theirs)
    with pytest.raises(ValidationError) as exc:
        _runner(tmp_path, [_reg(ca=CA)])[0].run()
    assert exc.value.details["field"] == "force"
    assert (d / "hosts.toml").read_text() == theirs
    # absent leaves a file it did not write alone
    result = _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()
    assert not result["changed"] and "not managed" in result["results"][0]["detail"]

    result = _runner(tmp_path, [_reg(ca=CA)], force=True)[0].run()
    assert result["results"][0]["kept_backup"] and (d / "hosts.toml.registrylink-backup").read_text() == theirs
    assert not _runner(tmp_path, [_reg(ca=CA)], force=True)[0].run()["changed"]
    result = _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()
    assert result["results"][0]["restored_backup"]
    assert sorted(os.listdir(d)) == ["hosts.toml"] and (d / "hosts.toml").read_text() == theirs


def test_config_path_unset_fails_with_the_fix_or_warns_when_given(tmp_path):
    runner, _w = _runner(tmp_path, [_reg(ca=CA)], config="version = 2\n")
    with pytest.raises(ch.ContainerdConfigError) as exc:
        runner.run()
    assert "does not set config_path" in exc.value.msg and "restart containerd" in exc.value.msg
    assert not (tmp_path / "certs.d").exists()
    runner, warnings = _runner(tmp_path, [_reg(ca=CA)], config="version = 2\n")
    runner.params["config_path"] = str(tmp_path / "given.d")
    result = runner.run()
    assert result["restart_needed"] and not result["found_in_config"] and "restart containerd" in warnings[0]
    assert (tmp_path / "given.d" / "r.example:5000" / "hosts.toml").exists()


def test_legacy_mirrors_are_refused(tmp_path):
    runner, _w = _runner(tmp_path, [_reg(ca=CA)], config=LEGACY)
    with pytest.raises(ch.ContainerdConfigError, match="registry.mirrors"):
        runner.run()


def test_hosts_toml_is_accepted_by_a_real_toml_parser_for_odd_paths(tmp_path):
    weird = tmp_path / 'dir "with" quotes\\and backslash'
    entries, _w = ch.validate_registries([_reg(ca=CA)], "present")
    text, _files = ch.render(entries[0], str(weird))
    assert tomllib.loads(text)["ca"] == str(weird / "registrylink-server-ca.crt")


def _info(tmp_path, hosts, config=None):
    conf = tmp_path / "config.toml"
    conf.write_text(config if config is not None else
                    'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "%s"\n'
                    % (tmp_path / "certs.d"))
    params = {"hosts": hosts, "containerd_config": str(conf), "config_path": None}
    return ch.ContainerdHostsInfoRunner(params).run()


@pytest.mark.parametrize("fallback", [False, True])
def test_info_reports_mirrors_in_order(tmp_path, monkeypatch, fallback):
    _runner(tmp_path, [_reg(host="docker.io", mirrors=[{"url": "https://a.example"},
                                                       {"url": "https://b.example", "capabilities": ["pull"]}])])[0].run()
    d = tmp_path / "certs.d" / "r.example:5000"
    d.mkdir(parents=True)
    (d / "hosts.toml").write_text('server = "https://r.example:5000"\nca = "/x.crt"\n')
    if fallback:
        monkeypatch.setattr(ch, "_toml", None)
    result = _info(tmp_path, ["docker.io", "r.example:5000", "none.example"])
    hub, theirs, none = result["registries"]
    assert not result["changed"] and result["found_in_config"]
    assert hub["managed"] and hub["mirror_configured"] and hub["server"] == "https://registry-1.docker.io"
    assert hub["mirrors"] == [{"url": "https://a.example", "capabilities": ["pull", "resolve"]},
                              {"url": "https://b.example", "capabilities": ["pull"]}]
    assert theirs["exists"] and not theirs["managed"] and theirs["ca"] and not theirs["mirror_configured"]
    assert not none["exists"] and not none["mirror_configured"]


def test_info_without_config_path_says_how_to_set_it(tmp_path):
    result = _info(tmp_path, ["docker.io"], config="version = 2\n")
    assert result["config_path"] is None and "restart containerd" in result["how_to_fix"]
    assert result["registries"][0]["exists"] is False
    with pytest.raises(ValidationError):
        _info(tmp_path, [])


# --------------------------------------------------------------------------------------
# fuzz: whatever a user writes, only the collection's typed errors come out

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryLinkError  # noqa: E402

_text = st.one_of(st.none(), st.integers(), st.booleans(), st.text(max_size=40),
                  st.sampled_from(["docker.io", "r.example:5000", "https://m.example", "http://m.example:1/x",
                                   CA, KEY, "_default", "[::1]:5000", "a..b", "x:99999"]))
_endpoint = st.fixed_dictionaries({}, optional={
    "capabilities": st.one_of(st.none(), st.lists(st.sampled_from(["pull", "resolve", "push", "x"]), max_size=4)),
    "ca": _text, "client_cert": _text, "client_key": _text, "skip_verify": st.booleans(),
    "override_path": st.booleans(), "url": _text, "host": _text, "server": _text, "server_fallback": st.booleans()})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.builds(lambda base, mirrors: dict(base, mirrors=mirrors), _endpoint,
                          st.one_of(st.none(), st.lists(_endpoint, max_size=3))), max_size=3),
       st.sampled_from(["present", "absent"]))
def test_validate_registries_only_typed_errors(registries, state):
    try:
        entries, _warnings = ch.validate_registries(registries, state)
    except RegistryLinkError:
        return
    for entry in entries:
        if state == "present":
            text, _files = ch.render(entry, "/d/" + entry["host"])
            tomllib.loads(text)  # what we write is always TOML


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.booleans())
def test_read_config_path_only_typed_errors(text, fallback):
    saved = ch._toml
    try:
        if fallback:
            ch._toml = None
        ch.read_config_path(text, "config.toml")
    except RegistryLinkError:
        pass
    finally:
        ch._toml = saved


# --------------------------------------------------------------------------------------
# found by review (issue 19): key material where a certificate belongs, configs.auth, races


@pytest.mark.parametrize("where", ["ca", "client_cert", "mirror_ca"])
@pytest.mark.parametrize("text", [KEY, CA + KEY, _pem("EC PRIVATE KEY", "c2VjcmV0")])
def test_a_key_where_a_certificate_belongs_is_refused_masked_and_not_written(tmp_path, where, text):
    reg = _reg(client_key=KEY if where == "client_cert" else None)
    if where == "mirror_ca":
        reg["mirrors"] = [{"url": "https://m.example", "ca": text}]
    else:
        reg[where] = text
    secrets = []
    runner, _w = _runner(tmp_path, [reg])
    runner.register_secret = secrets.append
    with pytest.raises(ValidationError) as exc:
        runner.run()
    assert "private key" in exc.value.msg and "c2VjcmV0" not in exc.value.msg
    assert text in secrets, "the module's logged options would show the key"
    assert not (tmp_path / "certs.d").exists()


def test_configs_auth_alongside_config_path_is_not_refused(tmp_path):
    config = AUTH.replace("/etc/containerd/certs.d", str(tmp_path / "certs.d"))
    result = _runner(tmp_path, [_reg(ca=CA)], config=config)[0].run()
    assert result["changed"] and result["found_in_config"]
    with pytest.raises(ch.ContainerdConfigError, match="registry.configs"):
        _runner(tmp_path, [_reg(ca=CA)], config=TLS)[0].run()


def test_concurrent_runs_creating_the_same_directories_do_not_fail(tmp_path, monkeypatch):
    # another run creates the directory between our isdir() check and our makedirs()
    real_makedirs = os.makedirs

    def racing_makedirs(path, mode=0o777, exist_ok=False):
        real_makedirs(path, mode)  # the other run wins
        real_makedirs(path, mode, exist_ok)

    monkeypatch.setattr(ch.os, "makedirs", racing_makedirs)
    result = _runner(tmp_path, [_reg(ca=CA)])[0].run()
    assert result["results"][0]["action"] == "created"
    assert (tmp_path / "certs.d" / "r.example:5000" / "hosts.toml").exists()


def test_force_never_overwrites_the_original_kept_by_an_earlier_force(tmp_path):
    d = tmp_path / "certs.d" / "r.example:5000"
    d.mkdir(parents=True)
    (d / "hosts.toml").write_text('server = "https://original"\n')
    _runner(tmp_path, [_reg(ca=CA)], force=True)[0].run()
    (d / "hosts.toml").write_text('server = "https://someone-else-again"\n')  # ours replaced by hand
    with pytest.raises(ValidationError) as exc:
        _runner(tmp_path, [_reg(ca=CA)], force=True)[0].run()
    assert exc.value.details["field"] == "force" and "lose that original" in exc.value.msg
    assert (d / "hosts.toml.registrylink-backup").read_text() == 'server = "https://original"\n'
    assert (d / "hosts.toml").read_text() == 'server = "https://someone-else-again"\n'


def test_absent_puts_the_original_back_when_our_hosts_toml_was_deleted(tmp_path):
    d = tmp_path / "certs.d" / "r.example:5000"
    d.mkdir(parents=True)
    (d / "hosts.toml").write_text('server = "https://original"\n')
    _runner(tmp_path, [_reg(ca=CA)], force=True)[0].run()
    os.unlink(d / "hosts.toml")
    check = _runner(tmp_path, [{"host": "r.example:5000"}], state="absent", check_mode=True)[0].run()
    assert check["changed"] and (d / "hosts.toml.registrylink-backup").exists(), "check mode wrote"
    result = _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()
    assert result["changed"] and result["results"][0]["restored_backup"]
    assert sorted(os.listdir(d)) == ["hosts.toml"] and (d / "hosts.toml").read_text() == 'server = "https://original"\n'
    assert not _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()["changed"]


def test_config_path_given_through_a_symlink_is_containerd_s(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "certs.d").symlink_to(real)
    runner, _w = _runner(tmp_path, [_reg(ca=CA)])
    runner.params["config_path"] = str(real)
    assert runner.run()["results"][0]["action"] == "created"
    assert (real / "r.example:5000" / "hosts.toml").exists()


def test_info_finds_the_directory_as_containerd_does(tmp_path):
    # containerd tries <host>_<port>_, then <host:port>, then _default: the first directory that exists
    _runner(tmp_path, [_reg(host="_default", mirrors=[{"url": "https://cache.example"}])])[0].run()
    got = _info(tmp_path, ["docker.io"])["registries"][0]
    assert got["path"] == str(tmp_path / "certs.d" / "_default" / "hosts.toml")
    assert got["exists"] and got["mirror_configured"] and got["mirrors"][0]["url"] == "https://cache.example"

    own = tmp_path / "certs.d" / "r.example_5000_"
    own.mkdir()
    (own / "hosts.toml").write_text('server = "https://r.example:5000"\n[host."https://m.example"]\n')
    got = _info(tmp_path, ["r.example:5000"])["registries"][0]
    assert got["path"] == str(own / "hosts.toml") and got["mirrors"][0]["url"] == "https://m.example"

    # a directory of its own without hosts.toml hides _default
    (tmp_path / "certs.d" / "quay.io").mkdir()
    got = _info(tmp_path, ["quay.io"])["registries"][0]
    assert not got["exists"] and not got["mirror_configured"]


def test_info_reads_every_config_path_directory(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    (second / "docker.io").mkdir(parents=True)
    (second / "docker.io" / "hosts.toml").write_text('[host."https://m.example"]\n')
    config = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "%s:%s"\n'
              % (first, second))
    got = _info(tmp_path, ["docker.io"], config=config)["registries"][0]
    assert got["mirror_configured"] and got["path"] == str(second / "docker.io" / "hosts.toml")


def test_a_host_port_directory_that_shadows_ours_is_warned_about(tmp_path):
    (tmp_path / "certs.d" / "r.example_5000_").mkdir(parents=True)
    runner, warnings = _runner(tmp_path, [_reg(ca=CA)])
    runner.run()
    assert any("r.example_5000_ exists: containerd reads it before r.example:5000" in w for w in warnings)


def test_mirrors_on_one_host_never_share_a_certificate_file():
    ca2 = _pem(body="TUlJQw==")
    mirrors = [{"url": "https://m.example/v2/a", "override_path": True, "ca": CA},
               {"url": "https://m.example/v2/b", "override_path": True, "ca": ca2},
               {"url": "https://m.example/v2/a_b", "override_path": True, "ca": CA},
               {"url": "https://m.example/v2/a/b", "override_path": True, "ca": ca2}]
    entries, _w = ch.validate_registries([_reg(mirrors=mirrors)], "present")
    text, files = ch.render(entries[0], "/d")
    hosts = tomllib.loads(text)["host"]
    assert len(files) == 4
    for mirror in mirrors:
        name = os.path.basename(hosts[mirror["url"]]["ca"])
        assert files[name][0] == mirror["ca"], mirror["url"]


def test_how_to_fix_is_returned_whenever_containerd_s_config_sets_no_config_path(tmp_path):
    runner, _w = _runner(tmp_path, [{"host": "r.example:5000"}], state="absent", config="version = 2\n")
    runner.params["config_path"] = str(tmp_path / "given.d")
    result = runner.run()
    assert not result["found_in_config"] and "restart containerd" in result["how_to_fix"]


def test_info_reports_the_legacy_mirrors_containerd_uses_without_config_path(tmp_path):
    config = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n'
              '  endpoint = ["https://cache.example:5000", "https://registry-1.docker.io"]\n'
              '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]\n  endpoint = ["https://any.example"]\n'
              '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."quay.io"]\n  endpoint = ["https://quay.io"]\n')
    got = {r["host"]: r for r in _info(tmp_path, ["docker.io", "quay.io", "r.example:5000"], config=config)["registries"]}
    assert got["docker.io"]["mirror_configured"] and got["docker.io"]["source"] == "config.toml registry.mirrors"
    assert [m["url"] for m in got["docker.io"]["mirrors"]] == ["https://cache.example:5000"]
    assert not got["quay.io"]["mirror_configured"]
    assert [m["url"] for m in got["r.example:5000"]["mirrors"]] == ["https://any.example"]


def test_hosts_toml_never_names_a_missing_file_nor_goes_missing_while_replaced(tmp_path, monkeypatch):
    d = tmp_path / "certs.d" / "r.example:5000"
    d.mkdir(parents=True)
    (d / "hosts.toml").write_text('server = "https://original"\n')
    seen = []
    real_rename, real_unlink = os.rename, os.unlink

    def check(*_a):
        text = (d / "hosts.toml").read_text() if (d / "hosts.toml").exists() else None
        seen.append(text is not None)
        data = tomllib.loads(text or "")
        named = [data["ca"]] if "ca" in data else []
        for pair in data.get("client", []):
            named.extend(pair)
        for path in named:
            assert os.path.exists(path), "hosts.toml names %s, which is gone" % path

    def rename(a, b):
        check()
        real_rename(a, b)
        check()

    def unlink(a):
        check()
        real_unlink(a)
        check()

    monkeypatch.setattr(ch.os, "rename", rename)
    monkeypatch.setattr(ch.os, "unlink", unlink)
    _runner(tmp_path, [_reg(ca=CA, client_cert=CA, client_key=KEY)], force=True)[0].run()
    assert all(seen), "hosts.toml was missing while the original was replaced"
    _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()
    assert (d / "hosts.toml").read_text() == 'server = "https://original"\n'
    _runner(tmp_path, [_reg(ca=CA, client_cert=CA, client_key=KEY)], force=True)[0].run()
    (d / "hosts.toml.registrylink-backup").unlink()
    _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()  # checks the order of the removals
    assert not d.exists()


def test_an_original_hosts_toml_that_is_a_symlink_comes_back_as_that_symlink(tmp_path):
    d = tmp_path / "certs.d" / "r.example:5000"
    d.mkdir(parents=True)
    shared = tmp_path / "shared-hosts.toml"
    shared.write_text('server = "https://original"\n')
    (d / "hosts.toml").symlink_to(shared)
    _runner(tmp_path, [_reg(ca=CA)], force=True)[0].run()
    assert not (d / "hosts.toml").is_symlink() and shared.read_text() == 'server = "https://original"\n'
    _runner(tmp_path, [{"host": "r.example:5000"}], state="absent")[0].run()
    assert (d / "hosts.toml").is_symlink() and os.readlink(d / "hosts.toml") == str(shared)
