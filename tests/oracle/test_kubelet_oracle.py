"""The collection's kubelet model against the kubelet's own code (the oracle).

The oracle (tests/oracle/kubelet, built by hack/build-oracle.sh from k8s.io/kubernetes with the
Go toolchain Kubernetes pins) answers for the kubelet; the model is what registry_probe's
diagnosis and registry_secret's writer use. Every disagreement fails, with the smallest cases
printed. See docs/architecture.md ("The kubelet oracle").
"""

from __future__ import annotations

import base64
import json
import os
import warnings

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from . import checks, corpus

HYPO = settings(max_examples=int(os.environ.get("ORACLE_EXAMPLES", "250")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def corpus_result(oracle):
    cases = corpus.generate()
    return cases, checks.run(oracle, cases)


def _select(result, pred):
    cases, dis = result
    chosen = [c for c in cases if pred(c)]
    return chosen, [d for d in dis if pred(d.case)]


def _hosts_of(case):
    """The image, key, glob, target or server of a case, and the config keys of its Secrets
    when the case is about keys (not about payload syntax)."""
    out = [case.get(f, "") for f in ("image", "key", "glob", "target", "server")]
    if case.get("family") in ("key-vs-image", "image-vs-secrets", "class1"):
        for s in case.get("secrets", []):
            for v in s["data"].values():
                out.append(v.decode("utf-8", "replace"))
    return " ".join(out)


def test_oracle_is_the_pinned_kubelet(oracle):
    """The oracle runs the kubelet code of v1.33.13; says which Go toolchain built it."""
    assert oracle.version["kubernetes"] == "v1.33.13"
    print("kubelet oracle built with %s" % oracle.version["go"])
    if oracle.fallback:
        warnings.warn("the kubelet oracle was NOT built with the Go toolchain Kubernetes pins: %s" % oracle.fallback)
    assert oracle.version["go"] == oracle.toolchain


def test_corpus_is_large(corpus_result):
    cases = corpus_result[0]
    assert len(cases) >= 2000
    assert len([c for c in cases if c["kind"] == "pull"]) >= 2000


def test_corpus_no_disagreement(corpus_result):
    """Every generated case: the model answers what the kubelet's code answers."""
    _cases, dis = corpus_result
    assert not dis, checks.report(dis)


# --- the five classes of the issue, by name -----------------------------------------------------

def test_class1_host_syntax_net_url(corpus_result, oracle):
    """Hosts Go's net/url rejects ('[' not at the start, bracketed non-IPv6): the kubelet skips such
    keys and cannot match such images; the writer refuses them or says so."""
    chosen, dis = _select(corpus_result, lambda c: "[" in _hosts_of(c) or "]" in _hosts_of(c))
    assert len(chosen) > 300
    hand = [{"kind": "add_key", "family": "class1", "key": k}
            for k in ("[abc]:5000", "[10.0.0.5]:5000", "[2001:db8::1::2]:5000", "reg[1].io", "a[b.io:5000",
                      "https://[::1]:5000/v2/", "[fe80::1%25eth0]:5000", "[::ffff:10.0.0.5]:5000")]
    hand += [{"kind": "writer", "family": "class1", "server": c["key"]} for c in hand]
    hand += [{"kind": "pull", "family": "class1", "image": image,
              "secrets": [corpus.secret("s", corpus._config({key: {"username": "u", "password": "p"}}))]}
             for key in ("[abc]:5000", "[10.0.0.5]:5000", "[2001:db8::1::2]:5000", "[::1]:5000")
             for image in ("[abc]:5000/app", "[10.0.0.5]:5000/app", "[::1]:5000/app", "[2001:db8::1::2]:5000/app")]
    dis += checks.run(oracle, hand)
    assert not dis, checks.report(dis)


def test_class2_payloads_go_rejects(corpus_result):
    """A payload Go's encoding/json rejects makes MakeDockerKeyring fail: the whole pull fails,
    even with other good Secrets on the Pod."""
    chosen, dis = _select(corpus_result, lambda c: c.get("family") in ("go-rejects", "secret-type"))
    assert len(chosen) > 100
    assert not dis, checks.report(dis)


def test_class3_go_json_semantics(corpus_result):
    """Case-insensitive fields (ASCII, U+017F, U+212A only), duplicated fields merged or replaced
    as Go does, invalid UTF-8 and lone surrogates as U+FFFD, first type error."""
    chosen, dis = _select(corpus_result, lambda c: c.get("family") in ("go-json", "json-ok"))
    assert len(chosen) > 100
    assert not dis, checks.report(dis)


def test_class4_name_length(corpus_result, oracle):
    """distribution/reference limits the repository path (not registry + path) to 255 characters."""
    chosen, dis = _select(corpus_result, lambda c: len(c.get("image", "")) > 200)
    assert len(chosen) > 30
    hand = []
    for n in range(250, 260):
        for registry in ("reg.io/", "registry.example.com:5000/", "", "docker.io/", "localhost/"):
            hand.append({"kind": "parse_image", "family": "class4", "image": registry + "a" * n})
            hand.append({"kind": "parse_image", "family": "class4", "image": registry + "team/" + "a" * (n - 5)})
    dis += checks.run(oracle, hand)
    assert not dis, checks.report(dis)


def test_class5_no_crashes(corpus_result, oracle):
    """No input crashes the model: '_' in the first component, deeply nested JSON, anything."""
    _cases, dis = corpus_result
    crashes = [d for d in dis if d.what == "crash"]
    hand = [{"kind": "pull", "family": "class5", "image": image, "secrets": []}
            for image in ("reg_example.com/app", "reg_x/app", "a_b.c/d", "_x/app", "reg_example.com:5000/app")]
    hand += [{"kind": "pull", "family": "class5", "image": "reg.io/app",
              "secrets": [corpus.secret("deep", b'{"auths":{},"x":' + b"[" * n + b"]" * n + b"}")]}
             for n in (999, 1000, 5000, 10000, 10001)]
    crashes += checks.run(oracle, hand)
    assert not crashes, checks.report(crashes)


# --- hypothesis ------------------------------------------------------------------------------

_HOSTISH = st.sampled_from(corpus.HOSTS + corpus.ODD_HOSTS)
_KEY_ALPHABET = "abz09.-_:/[]*?%@!~$&'()+,;=#ü\u017f\u0130 \t"
_keys = st.one_of(
    st.builds(lambda s, h, p: s + h + p, st.sampled_from(corpus.SCHEMES), _HOSTISH, st.sampled_from(corpus.PATHS)),
    st.text(alphabet=_KEY_ALPHABET, max_size=24),
    st.builds(lambda s, t: s + t, st.sampled_from(corpus.SCHEMES), st.text(alphabet=_KEY_ALPHABET, max_size=16)),
)
_component = st.text(alphabet="ab09._-", min_size=1, max_size=8)
_images = st.one_of(
    st.builds(lambda reg, comps, suffix: reg + "/".join(comps) + suffix,
              st.sampled_from(["", "reg.io/", "reg.io:5000/", "localhost/", "docker.io/", "index.docker.io/",
                               "[::1]:5000/", "[abc]:5000/", "reg_x.io/", "Reg.io/", "a_b/", "10.0.0.5:5000/"]),
              st.lists(_component, min_size=1, max_size=4),
              st.sampled_from(["", ":1.0", ":latest", "@sha256:" + "a" * 64, ":v@sha256:" + "b" * 64, ":", "@x"])),
    st.text(alphabet="ab09._-/:@[]A", max_size=30),
)


@HYPO
@given(key=_keys)
def test_hypothesis_keys(oracle, key):
    """Config keys: the keyring key, and registry_secret's writer."""
    dis = checks.run(oracle, [{"kind": "add_key", "family": "hypothesis", "key": key},
                              {"kind": "writer", "family": "hypothesis", "server": key}])
    assert not dis, checks.report(dis)


@HYPO
@given(image=_images, key=_keys)
def test_hypothesis_images(oracle, image, key):
    """Images: ParseImageName, URLsMatchStr, and a pull with one key."""
    payload = json.dumps({"auths": {key: {"username": "u", "password": "p"}}}).encode()
    dis = checks.run(oracle, [
        {"kind": "parse_image", "family": "hypothesis", "image": image},
        {"kind": "match", "family": "hypothesis", "glob": key, "target": image},
        {"kind": "pull", "family": "hypothesis", "image": image, "secrets": [corpus.secret("s", payload)]},
    ])
    assert not dis, checks.report(dis)


_FIELD_NAMES = ["username", "Username", "USERNAME", "u\u017fername", "password", "Password", "pa\u00dfword",
                "pa\u017f\u017fword", "auth", "AUTH", "Auth", "email", "identitytoken", "registrytoken", "x", ""]
_TOP_NAMES = ["auths", "AUTHS", "Auths", "auth\u017f", "HttpHeaders", "httpheaders", "credsStore", "x", "\u0131auths"]


def _auth_value():
    return st.one_of(
        st.builds(lambda u, p: base64.b64encode(("%s:%s" % (u, p)).encode()).decode(), st.text(max_size=5),
                  st.text(max_size=5)),
        st.builds(lambda u, p: base64.b64encode(("%s:%s" % (u, p)).encode()).decode().rstrip("="),
                  st.text(max_size=5), st.text(max_size=5)),
        st.text(alphabet="AZaz09+/=_-\n ", max_size=12),
    )


_scalar = st.one_of(st.text(max_size=6), st.none(), st.integers(-5, 5), st.booleans(), _auth_value())


def _pairs(names, values, max_size=4):
    return st.lists(st.tuples(st.sampled_from(names), values), max_size=max_size)


_entry = st.one_of(_pairs(_FIELD_NAMES, _scalar), st.none(), st.text(max_size=3), st.integers())
_auths = st.one_of(_pairs(corpus.HOSTS[:6] + corpus.ODD_HOSTS[:14] + ["", "reg.io/team", "https://reg.io"], _entry),
                   st.none(), st.integers(), st.lists(st.integers(), max_size=2))
_doc = st.one_of(_pairs(_TOP_NAMES, st.one_of(_auths, _scalar)), st.none(), st.integers(), st.text(max_size=3))


def _render(value, ascii_only):
    """JSON text for nested (name, value) pair lists, duplicates and all."""
    if isinstance(value, list) and all(isinstance(p, tuple) for p in value):
        return "{" + ",".join("%s:%s" % (json.dumps(k, ensure_ascii=ascii_only), _render(v, ascii_only))
                              for k, v in value) + "}"
    return json.dumps(value, ensure_ascii=ascii_only)


def _mutate(data, how, where, junk):
    if how == "none" or not data:
        return data
    at = where % (len(data) + 1)
    if how == "truncate":
        return data[:at]
    if how == "insert":
        return data[:at] + junk + data[at:]
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "trail":
        return data + junk
    return data


@HYPO
@given(doc=_doc, ascii_only=st.booleans(),
       how=st.sampled_from(["none", "none", "none", "truncate", "insert", "bom", "trail"]),
       where=st.integers(0, 10 ** 6), junk=st.binary(min_size=1, max_size=3),
       stype=st.sampled_from([corpus.DCJ, corpus.DCJ, corpus.DCFG]),
       image=st.sampled_from(["reg.io/app", "app", "reg.io/team/app", "other.io/app"]),
       with_good=st.sampled_from([None, "before", "after"]))
def test_hypothesis_payloads(oracle, doc, ascii_only, how, where, junk, stype, image, with_good):
    """Secret payloads: Go's JSON decoding, including the ones Go rejects."""
    payload = _mutate(_render(doc, ascii_only).encode("utf-8", "surrogateescape"), how, where, junk)
    secrets = [corpus.secret("fuzz", payload, stype=stype)]
    good = corpus.secret("good", corpus._config({"reg.io": {"username": "g", "password": "g"}}))
    if with_good == "before":
        secrets.insert(0, good)
    elif with_good == "after":
        secrets.append(good)
    dis = checks.run(oracle, [{"kind": "pull", "family": "hypothesis", "image": image, "secrets": secrets}])
    assert not dis, checks.report(dis)
