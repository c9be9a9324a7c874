"""A deterministic corpus of questions for the kubelet oracle.

``generate()`` returns a list of cases (dicts) in a fixed order; the same code always gives the
same corpus. Kinds: ``pull`` (Secrets as on a Pod + an image: which credentials does the kubelet
try?), ``add_key`` (the keyring key of a config key), ``match`` (``URLsMatchStr``),
``parse_image`` (``ParseImageName``) and ``writer`` (registry_secret's key normalisation, checked
against ``add_key``). ``family`` names the part of the input space a case comes from, so a
report can say which class of input disagrees.

To add a case: append a host, key, image or payload to the tables below (or a hand-made case
to ``EXTRA_CASES``); every table entry is combined with the others automatically. A seeded
random section (``_random_cases``) adds the same random keys, images and payloads every run.
"""

from __future__ import annotations

import base64
import json
import random

DCJ = "kubernetes.io/dockerconfigjson"
DCFG = "kubernetes.io/dockercfg"

HOSTS = [
    "reg.io", "reg.example.com", "registry.example.com:5000", "reg.io:443", "reg.io:80", "localhost",
    "localhost:5000", "10.0.0.5", "10.0.0.5:5000", "[::1]:5000", "[2001:db8::1]:5000", "[2001:db8::1]",
    "[fe80::1%25eth0]:5000", "gcr.io", "us-docker.pkg.dev", "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "x.azurecr.io", "a.b.azurecr.io", "docker.io", "index.docker.io", "registry-1.docker.io",
    "registry.hub.docker.com", "quay.io", "ghcr.io",
]
# hosts a user may type that the kubelet or distribution/reference treat specially
ODD_HOSTS = [
    "Reg.Example.com", "REG.IO", "reg_example.com", "reg.io.", ".reg.io", "reg..io", "reg.io:", "reg.io:0",
    "reg.io:65536", "reg.io:abc", "reg.io:05000", "[abc]:5000", "[10.0.0.5]:5000", "[2001:db8::1::2]:5000",
    "[::1", "::1]:5000", "reg[1].io", "reg.io]", "a[b.io", "[::1]x:5000", "[::1]:5000:1", "2001:db8::1",
    "bücher.example", "xn--bcher-kva.example", "reg.io%2f", "reg%2eio", "reg io", "reg.io\t", "ré.io",
    "reg.io@evil", "u:p@reg.io", "reg.io?x=1", "reg.io#frag", "reg.io\\x", "reg.ıo", "*", "*.io",
    "*.example.com", "*.azurecr.io", "reg.*.com", "*.*.io", "r?g.io", "[a-z]eg.io", "[!a]eg.io",
    "[^a]eg.io", "[bad.io", "reg.io/*", "*.reg.io:5000", "[a-]eg.io", "\\*.io",
]
PATHS = ["", "/", "/team", "/team/", "/team/app", "/team-b", "/Team", "/v1/", "/v2/", "/v1", "/v2", "/v2/team",
         "/v1/team/app", "/v2/v2/team", "//team", "/team?x", "/%74eam", "/ü", "/app"]
SCHEMES = ["", "https://", "http://", "HTTPS://", "Http://", "ftp://", "oci://", "//", "https:/", "docker://"]

IMAGES = [
    "app", "app:1.0", "team/app", "library/app", "docker.io/app", "docker.io/library/app", "index.docker.io/team/app",
    "docker.io/team/app@sha256:" + "a" * 64, "reg.io/app", "reg.io/team/app:1.0", "reg.io/team-b/app",
    "reg.io/teamx", "reg.io/team", "reg.io:443/app", "reg.io:80/app", "reg.io:5000/app", "reg.example.com/app",
    "x.reg.example.com/app", "registry.example.com:5000/team/app", "localhost/app", "localhost:5000/team/app",
    "10.0.0.5:5000/app", "10.0.0.5/app", "[::1]:5000/app", "[2001:db8::1]:5000/team/app", "[2001:db8::1]/app",
    "gcr.io/proj/app", "us-docker.pkg.dev/proj/repo/app", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
    "x.azurecr.io/app", "a.b.azurecr.io/app", "quay.io/team/app", "ghcr.io/org/app:v1", "registry-1.docker.io/app",
    "reg.io/v2/app", "reg.io/app@sha256:" + "b" * 64, "reg.io/app:1@sha256:" + "c" * 64,
]
ODD_IMAGES = [
    "reg_example.com/app", "reg_x/app", "Reg.io/app", "REG/app", "reg.io/App", "reg.io/app:", "reg.io/app:-x",
    "reg.io//app", "reg.io/app/", "/app", "reg.io", "reg.io:5000", "[abc]:5000/app", "[10.0.0.5]:5000/app",
    "[2001:db8::1::2]:5000/app", "[::1]x/app", "reg.io:abc/app", "reg.io:0/app", "reg.io./app", "ré.io/app",
    "reg.io/äpp", "reg.io/app@sha256:abc", "reg.io/app@md5:" + "d" * 32, "a" * 64, "reg.io/a__b", "reg.io/a___b",
    "reg.io/a--b", "reg.io/a.-b", "reg.io/app:" + "t" * 128, "reg.io/app:" + "t" * 129, " app", "app ",
    "docker.io/app:latest@sha256:" + "e" * 64, "reg.io/app@sha512:" + "f" * 128, "local_host/app", "_/app",
    "reg_example.com/team/app:1.0", "r_e.io:5000/app", "a_b/app", "*.io/app", "reg.io/*",
]


def _long_images():
    out = []
    for n in (200, 240, 244, 245, 246, 250, 251, 254, 255, 256, 257, 300):
        path = "/".join(["a" * 50] * (n // 51) + ["b" * (n - 51 * (n // 51))]).strip("/")
        path = path if len(path) == n else path + "c" * (n - len(path))
        out.append("reg.io/" + path)
        out.append("registry.example.com:5000/" + path)
        out.append(path)  # docker.io/<path>
    out.append("a" * 255)
    out.append("a" * 256)
    out.append("team/" + "a" * 250)
    return out


def _auth(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")


def _config(auths, wrap=True):
    doc = {"auths": auths} if wrap else auths
    return json.dumps(doc).encode("utf-8")


def secret(name, payload, stype=DCJ, key=None):
    key = key or (".dockerconfigjson" if stype == DCJ else ".dockercfg")
    return {"name": name, "type": stype, "data": {key: payload}}


def _keys():
    """Config keys: every scheme x host x path, plus the odd hosts."""
    keys = []
    for host in HOSTS:
        for path in PATHS:
            keys.append(host + path)
        for scheme in SCHEMES[1:]:
            keys.append(scheme + host)
            keys.append(scheme + host + "/v2/")
    for host in ODD_HOSTS:
        keys.append(host)
        keys.append("https://" + host + "/v1/")
        keys.append(host + "/team")
    keys.extend(["", " ", "https://", "http://", "/team", "https:///team", "https://index.docker.io/v1",
                 "https://index.docker.io/v1/team", "index.docker.io:443", "docker.io/team", "docker.io/library",
                 "reg.io/team/app:1.0", "reg.io/team/app@sha256:" + "a" * 64, "reg.io/ü/x", "reg.io/\u00a0",
                 "reg.io:5000/v2/", "ReG.Io:5000/Team", "https://reg.io:443/v2/", "http://[::1]:5000/v1/"])
    seen, out = set(), []
    for k in keys:
        if k not in seen:
            seen.add(k)
            out.append(k)
    return out


# Secret payloads (bytes) with the family they stand for. Decoding must follow Go's encoding/json.
GOOD = _config({"reg.io": {"username": "u1", "password": "p1"}})
PAYLOADS = [
    ("json-ok", GOOD),
    ("json-ok", _config({"reg.io": {"auth": _auth("u2", "p2")}, "*.example.com": {"auth": _auth("u3", "p3")}})),
    ("json-ok", _config({"reg.io": {"auth": _auth("u2", "p2").rstrip("=")}})),
    ("json-ok", _config({"reg.io": {"auth": _auth("a", "b:c"), "username": "x", "password": "y"}})),
    ("json-ok", _config({"reg.io": {}, "reg.io/team": {"username": "t", "password": "tp"}})),
    ("json-ok", _config({"reg.io": None})),
    ("json-ok", _config({"https://reg.io": {"username": "s1", "password": "1"}, "reg.io": {"username": "s2", "password": "2"},
                         "http://reg.io/v2/": {"username": "s3", "password": "3"}})),
    ("json-ok", b'{"auths":{"reg.io":{"username":"u","password":"p","email":"e@x","identitytoken":"t"}},"HttpHeaders":{"a":"b"}}'),
    ("json-ok", b'{"auths":null}'),
    ("json-ok", b'{}'),
    ("json-ok", b'null'),
    ("json-ok", b' \r\n\t{"auths":{"reg.io":{"username":"u","password":"p"}}} \n'),
    ("json-ok", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"credsStore":"desktop","x":[1,2,{"y":null}]}'),
    ("json-ok", b'{"auths":{"reg.io":{"username":"u","password":"p","auth":null}}}'),
    ("json-ok", b'{"auths":{"reg.io":{"username":"u\\u00e9","password":"p\\"q\\\\"}}}'),
    # Go rejects the payload: MakeDockerKeyring fails, the whole pull fails
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}}'),
    ("go-rejects", b'\xef\xbb\xbf{"auths":{"reg.io":{"username":"u","password":"p"}}}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}}} x'),
    ("go-rejects", b'{"auths":{}}{}'),
    ("go-rejects", b'[]'),
    ("go-rejects", b'"auths"'),
    ("go-rejects", b'42'),
    ("go-rejects", b'true'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":NaN}}}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":NaN}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":Infinity}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":-Infinity}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p",}}}'),
    ("go-rejects", b"{'auths':{}}"),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":01}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u\x01","password":"p"}}}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":"\\x"}'),
    ("go-rejects", b'{"auths":[]}'),
    ("go-rejects", b'{"auths":"reg.io"}'),
    ("go-rejects", b'{"auths":{"reg.io":"u:p"}}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":5,"password":"p"}}}'),
    ("go-rejects", b'{"auths":{"reg.io":{"auth":"!!!"}}}'),
    ("go-rejects", b'{"auths":{"reg.io":{"auth":"' + base64.b64encode(b"nocolon") + b'"}}}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"HttpHeaders":{"a":1}}'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"HttpHeaders":[]}'),
    ("go-rejects", b'\x00'),
    ("go-rejects", b'{"auths":{"reg.io":{"username":"u","password":"p"}}}\x00'),
    # Go's decoding semantics
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":1e999}'),
    ("go-json", b'{"AUTHS":{"reg.io":{"username":"u","password":"p"}}}'),
    ("go-json", b'{"Auths":{"reg.io":{"Username":"U","PASSWORD":"P"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"auths":{"other.io":{"username":"o","password":"q"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"AUTHS":{"reg.io":{"username":"v","password":"w"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"},"reg.io":{"username":"v"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p","username":"v"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","Username":"v","password":"p"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"auths":null}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"auths":5}'),
    ("go-json", b'{"auths":5,"auths":{"reg.io":{"username":"u","password":"p"}}}'),
    ("go-json", '{"auth\u017fs":{"reg.io":{"username":"u","password":"p"}}}'.encode()),
    ("go-json", '{"auths":{"reg.io":{"u\u017fername":"u","pa\u017f\u017fword":"p"}}}'.encode()),
    ("go-json", '{"auths":{"reg.io":{"username":"u","pa\u00dfword":"p"}}}'.encode()),
    ("go-json", '{"auths":{"reg.io":{"username":"u","password":"p","\u212aey":"k"}}}'.encode()),
    ("go-json", '{"auths":{"reg.io":{"username":"u","pa\u00dfword":"p","password":"q"}}}'.encode()),
    ("go-json", '{"\u0131auths":{},"auths":{"reg.io":{"username":"u","password":"p"}}}'.encode()),
    ("go-json", '{"auths":{"reg.io":{"userna\u0131me":"x","username":"u","password":"p"}}}'.encode()),
    ("go-json", '{"auths":{"reg.io":{"username":"u","passwor\ufb00":"p","password":"q"}}}'.encode()),
    ("go-json", b'{"auths":{"reg.io":{"username":"u\xff","password":"p\xc3"}}}'),
    ("go-json", b'{"auths":{"reg\xe2\x82.io":{"username":"u","password":"p"},"reg.io":{"username":"u2","password":"p\xed\xa0\x80"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"\\ud800","password":"\\udc00x\\ud83d\\ude00"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"\\ud83d\\u0041","password":"p"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":"\xff"}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"' + base64.b64encode(b"\xffu:\xfep") + b'"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"' + base64.b64encode(b"u:p") + b'\\n"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":" ' + base64.b64encode(b"u:pp") + b'"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"dTpw"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"dTpwcA"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"dTpwcA=="}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"dTpwcA="}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"dTpwcB=="}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"dTpw\\r\\ncA=="}}}'),
    ("go-json", b'{"auths":{"reg.io":{"auth":"dTpwc_-="}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p","HttpHeaders":5}},"httpheaders":{"a":"b"}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"httpHeaders":null}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"HttpHeaders":{"a":null}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":{"a":1,"a":[1,2]}}'),
    ("go-json", b'{"auths":{"":{"username":"u","password":"p"},"reg.io":{"username":"u","password":"p"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":null,"password":"p"}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p","email":5}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p","identitytoken":5}}}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"credsStore":5}'),
    ("go-json", b'{"auths":{"reg.io":{"username":"u","password":"p"}}, "auths" : {"reg.io":{"password":"q"}}}'),
    # nesting depth: Go's scanner allows 10000 levels
    ("deep", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":' + b"[" * 2000 + b"]" * 2000 + b"}"),
    ("deep", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":' + b"[" * 9998 + b"]" * 9998 + b"}"),
    ("deep", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":' + b"[" * 10000 + b"]" * 10000 + b"}"),
    ("deep", b'{"auths":{"reg.io":{"username":"u","password":"p"}},"x":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"),
    ("deep", b'{"auths":{"reg.io":{"username":"u","password":"p","x":' + b"[" * 3000 + b"]" * 3000 + b"}}}"),
    ("deep", b"[" * 100000),
]

# Flat .dockercfg payloads (kubernetes.io/dockercfg)
DOCKERCFG_PAYLOADS = [
    ("json-ok", _config({"reg.io": {"username": "c1", "password": "cp"}}, wrap=False)),
    ("json-ok", _config({"auths": {"reg.io": {"username": "c1", "password": "cp"}}}, wrap=False)),
    ("json-ok", b'null'),
    ("go-rejects", b'[]'),
    ("go-rejects", b'{"reg.io":"x"}'),
    ("go-json", b'{"reg.io":{"username":"a","password":"b"},"reg.io":{"username":"c","password":"d"}}'),
    ("go-json", b'{"reg.io":{"USERNAME":"a","Password":"b"}}'),
]

PAYLOAD_IMAGES = ["reg.io/app", "other.io/app", "app", "reg.io/team/app", "x.example.com/app"]


def generate():
    cases = []
    keys = _keys()
    images = IMAGES + ODD_IMAGES + _long_images()

    for image in images:
        cases.append({"kind": "parse_image", "family": "image", "image": image})
    for key in keys:
        cases.append({"kind": "add_key", "family": "key", "key": key})
        cases.append({"kind": "writer", "family": "writer", "server": key})

    # one Secret with one key, against images of the same and of neighbouring registries
    match_images = ["reg.io/app", "reg.io/team/app", "reg.io/team-b/app", "reg.io:443/app", "reg.io:5000/app",
                    "x.example.com/app", "reg.example.com/app", "registry.example.com:5000/team/app", "app",
                    "team/app", "localhost:5000/team/app", "[::1]:5000/app", "[2001:db8::1]:5000/team/app",
                    "x.azurecr.io/app", "10.0.0.5:5000/app", "reg_example.com/app", "[abc]:5000/app"]
    for i, key in enumerate(keys):
        payload = _config({key: {"username": "k%d" % i, "password": "p%d" % i}})
        for image in match_images[i % 3::3]:
            cases.append({"kind": "pull", "family": "key-vs-image", "image": image,
                          "secrets": [secret("s1", payload)]})
    # URLsMatchStr on keyring-key-like globs and image names
    globs = [k for k in keys if "://" not in k][:220]
    targets = [i for i in IMAGES + ODD_IMAGES if "@" not in i and ":" not in i.split("/")[-1]]
    for gi, glob in enumerate(globs):
        for target in targets[gi % 4::4]:
            cases.append({"kind": "match", "family": "match", "glob": glob, "target": target})

    # images against a fixed set of Secrets
    multi = [secret("hub", _config({"https://index.docker.io/v1/": {"username": "hub", "password": "h"}})),
             secret("wild", _config({"*.example.com": {"username": "w", "password": "w"},
                                     "reg.io/team": {"username": "t", "password": "t"}})),
             secret("plain", _config({"reg.io": {"username": "r", "password": "r"},
                                      "https://reg.io/v1/": {"username": "r2", "password": "r2"},
                                      "localhost:5000": {"username": "l", "password": "l"},
                                      "[::1]:5000": {"username": "v6", "password": "v6"},
                                      "[2001:db8::1]:5000": {"username": "v6b", "password": "v6b"},
                                      "[abc]:5000": {"username": "bad6", "password": "b"},
                                      "10.0.0.5:5000": {"username": "ip", "password": "ip"},
                                      "reg_example.com": {"username": "us", "password": "us"}}))]
    for image in images:
        cases.append({"kind": "pull", "family": "image-vs-secrets", "image": image, "secrets": multi})

    # payloads alone, next to a good Secret, and in both orders
    good = secret("good", _config({"reg.io": {"username": "g", "password": "g"},
                                   "other.io": {"username": "o", "password": "o"}}))
    for pi, (family, payload) in enumerate(PAYLOADS):
        for image in PAYLOAD_IMAGES:
            cases.append({"kind": "pull", "family": family, "image": image,
                          "secrets": [secret("p%d" % pi, payload)]})
        cases.append({"kind": "pull", "family": family, "image": "reg.io/app",
                      "secrets": [good, secret("p%d" % pi, payload)]})
        cases.append({"kind": "pull", "family": family, "image": "other.io/app",
                      "secrets": [secret("p%d" % pi, payload), good]})
        cases.append({"kind": "pull", "family": family, "image": "reg.io/app",
                      "secrets": [secret("p%d" % pi, payload, stype="Opaque"), good]})
    for pi, (family, payload) in enumerate(DOCKERCFG_PAYLOADS):
        for image in PAYLOAD_IMAGES:
            cases.append({"kind": "pull", "family": family, "image": image,
                          "secrets": [secret("c%d" % pi, payload, stype=DCFG)]})
        cases.append({"kind": "pull", "family": family, "image": "other.io/app",
                      "secrets": [secret("c%d" % pi, payload, stype=DCFG), good]})
    # which Secrets the kubelet reads at all
    for stype, key in ((DCJ, ".dockercfg"), (DCFG, ".dockerconfigjson"), ("Opaque", ".dockerconfigjson"),
                       (DCJ, ".dockerconfigjson"), ("kubernetes.io/basic-auth", ".dockerconfigjson")):
        for payload in (GOOD, b"", b"{", b"[]"):
            cases.append({"kind": "pull", "family": "secret-type", "image": "reg.io/app",
                          "secrets": [{"name": "t", "type": stype, "data": {key: payload}}, good]})
    # the same Secret twice, order of Secrets, Docker Hub fallback
    hub = secret("hub", _config({"https://index.docker.io/v1/": {"username": "hub", "password": "h"}}))
    dio = secret("dio", _config({"docker.io": {"username": "dio", "password": "d"}}))
    wild = secret("wild", _config({"*.io": {"username": "w", "password": "w"}}))
    for combo in ([hub, hub], [hub, dio], [dio, hub], [wild, hub], [hub, wild], [good, good], [wild, good, hub]):
        for image in ("app", "team/app", "docker.io/team/app", "index.docker.io/app", "reg.io/app", "localhost/app",
                      "quay.io/app", "reg_x/app"):
            cases.append({"kind": "pull", "family": "multi", "image": image, "secrets": combo})
    cases.extend(_random_cases(random.Random(13), 1500))
    cases.extend(EXTRA_CASES)
    return cases


_RANDOM_ALPHABET = "abcz09.-_:/[]*?%@!~$&'()+,;=#\\ \t\u00fc\u017f\u212a\u0131\u00df\u0130\u00e9"
_RANDOM_PIECES = ["%25", "%41", "%ff", "%2F", "::", ":5000", "[", "]", ".", "/", "@", "#"]
_RANDOM_NAMES = ["auths", "AUTHS", "Auths", "auth\u017fs", "HttpHeaders", "httpHeaders", "credsStore", "x", "",
                 "username", "Username", "u\u017fername", "password", "PASSWORD", "pa\u00dfword", "auth", "Auth",
                 "email", "identitytoken", "reg.io", "*.io", "reg.io/team", "https://reg.io/v1/", "[::1]:5000",
                 "[abc]:5000"]
_RANDOM_VALUES = ['"u"', '"p"', 'null', '1', 'true', '"dTpw"', '"dTpwcA=="', '"!!"', '"\\ud800"', '"\xff"',
                  '"\\u0041"', '[]', '{}', '"a\\"b"', '1e5', '-0', '"\\/"']


def _random_cases(rnd, n):
    """Seeded random keys, images and payloads (the same every run): pieces of the tables above
    glued to random characters, and JSON built from field-name spellings and odd values, then
    truncated, extended or given a random byte."""
    pieces = HOSTS + ODD_HOSTS + PATHS + SCHEMES + _RANDOM_PIECES

    def text(k):
        return "".join(rnd.choice(pieces) if rnd.random() < 0.5 else rnd.choice(_RANDOM_ALPHABET) for _i in range(k))

    def value(depth):
        r = rnd.random()
        if depth > 3 or r < 0.3:
            return rnd.choice(_RANDOM_VALUES)
        if r < 0.8:
            return "{" + ",".join('"%s":%s' % (rnd.choice(_RANDOM_NAMES), value(depth + 1))
                                  for _i in range(rnd.randint(0, 4))) + "}"
        return "[" + ",".join(value(depth + 1) for _i in range(rnd.randint(0, 3))) + "]"

    cases = []
    good = secret("good", _config({"reg.io": {"username": "g", "password": "g"}}))
    for i in range(n):
        key, image = text(rnd.randint(0, 5)), text(rnd.randint(0, 4))
        cases.append({"kind": "add_key", "family": "random", "key": key})
        cases.append({"kind": "writer", "family": "random", "server": key})
        cases.append({"kind": "match", "family": "random", "glob": key, "target": image})
        cases.append({"kind": "parse_image", "family": "random", "image": image})
        if i % 4 == 0:
            cases.append({"kind": "pull", "family": "random", "image": image,
                          "secrets": [secret("s", _config({key: {"username": "u", "password": "p"}}))]})
        doc = ("{" + ",".join('"%s":%s' % (rnd.choice(_RANDOM_NAMES[:8]), value(1)) for _i in range(rnd.randint(0, 3)))
               + "}").encode("utf-8", "surrogateescape")
        mutation = rnd.random()
        if mutation < 0.1:
            doc = doc[:rnd.randint(0, len(doc))]
        elif mutation < 0.15:
            doc += rnd.choice([b" ", b"\n", b"x", b"{}", b"\x00"])
        elif mutation < 0.2:
            at = rnd.randint(0, len(doc))
            doc = doc[:at] + bytes([rnd.randint(0, 255)]) + doc[at:]
        secrets = [secret("f", doc, rnd.choice([DCJ, DCJ, DCFG]))]
        if rnd.random() < 0.3:
            secrets.insert(0, good)
        cases.append({"kind": "pull", "family": "random-payload", "secrets": secrets,
                      "image": rnd.choice(["reg.io/app", "app", "reg.io/team/app", "x.io/a", "[::1]:5000/app"])})
    return cases


# Hand-made cases that do not fit the tables.
EXTRA_CASES = [
    {"kind": "pull", "family": "multi", "image": "reg.io/team/app",
     "secrets": [secret("a", _config({"reg.io": {"username": "a1", "password": "1"}, "reg.io/team": {"username": "a2", "password": "2"}})),
                 secret("b", _config({"reg.io/team": {"username": "b1", "password": "1"}, "reg.io": {"username": "b2", "password": "2"}}))]},
]
