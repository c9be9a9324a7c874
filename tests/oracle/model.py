"""The collection's model of the kubelet, asked the same questions as the oracle.

Each ``model_*`` function calls the code the modules use (``_diagnose`` / ``registry_probe`` for
matching, ``registry_secret``'s writer for key normalisation) and returns the answer in the
oracle's shape. An exception other than the collection's ``ValidationError`` is a crash of the
model and is returned as ``{"crash": "..."}``: a crash is always a disagreement.

``compare_*`` returns a list of differences (empty when model and oracle agree). Where the
kubelet's order is not defined (Go map order inside one Secret) credentials are compared as
multisets: the kubelet appends, per keyring key in index order and per Secret in Pod order, the
credentials of every config key of that Secret that reduces to the keyring key, in random order.
"""

from __future__ import annotations

import base64
import collections
import traceback

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils import _diagnose
from ansible_collections.registrylink.k8s.plugins.module_utils import _kubelet
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import secret_key
from ansible_collections.registrylink.k8s.plugins.module_utils import _imageref

from .oracle_client import b64, unb64


def _bytes(text):
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape")


def _crash(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    where = "%s:%d" % (frames[-1].filename.rsplit("/", 1)[-1], frames[-1].lineno) if frames else "?"
    return {"crash": "%s: %s (at %s)" % (type(exc).__name__, str(exc)[:200], where)}


# --------------------------------------------------------------------------------------------
# requests to the oracle
# --------------------------------------------------------------------------------------------

def oracle_request(case):
    kind = case["kind"]
    if kind == "pull":
        return {"op": "pull", "image_b64": b64(case["image"]),
                "secrets": [{"name": s["name"], "type": s["type"],
                             "data": dict((k, b64(v)) for k, v in s["data"].items())} for s in case["secrets"]]}
    if kind == "add_key":
        return {"op": "add_key", "key_b64": b64(case["key"])}
    if kind == "match":
        return {"op": "match", "glob_b64": b64(case["glob"]), "target_b64": b64(case["target"])}
    if kind == "parse_image":
        return {"op": "parse_image", "image_b64": b64(case["image"])}
    raise ValueError(kind)


def oracle_answer(kind, raw):
    """The oracle's raw JSON answer in the comparison shape."""
    if kind == "pull":
        if raw.get("image_error") is not None:
            return {"image_error": raw["image_error"]}
        out = {"repo": unb64(raw["repo_b64"]), "keyring_error": raw.get("keyring_error")}
        if out["keyring_error"] is None:
            out["keys"] = [unb64(k) for k in raw.get("keys_b64") or []]
            out["creds"] = [(c["secret"], unb64(c.get("user_b64")), unb64(c.get("pass_b64")))
                            for c in raw.get("creds") or []]
        return out
    if kind == "add_key":
        return {"key": unb64(raw["key_b64"]) if "key_b64" in raw else None}
    if kind == "match":
        return {"match": raw["match"]}
    if kind == "parse_image":
        if raw.get("image_error") is not None:
            return {"image_error": raw["image_error"]}
        return {"repo": unb64(raw["repo_b64"]), "tag": raw.get("tag") or "", "digest": raw.get("digest") or ""}
    raise ValueError(kind)


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------

class _FakeKube(object):
    """Just enough of KubeClient for ``read_pull_secret``: the Secrets of one namespace."""

    class core(object):  # noqa: N801 - mirrors KubeClient.core
        @staticmethod
        def list_namespaced_secret(**_kwargs):
            raise AssertionError("not called: call() answers")

    def __init__(self, secrets):
        self.secrets = dict((s["name"], s) for s in secrets)

    def call(self, _verb, _resource, fn, namespace=None, **_kwargs):
        assert namespace == "oracle", namespace
        name = fn.keywords["field_selector"].split("=", 1)[1]
        s = self.secrets.get(name)
        if s is None:
            return {"items": []}
        return {"items": [{"metadata": {"name": name, "namespace": "oracle"}, "type": s["type"],
                           "data": dict((k, base64.b64encode(v).decode("ascii")) for k, v in s["data"].items())}]}


def _model_configs(secrets):
    """What registry_probe's pod diagnosis builds from a Pod's imagePullSecrets: each Secret read
    with ``read_pull_secret``, the keyring input from ``pull_secret_configs`` (Pod order)."""
    kube = _FakeKube(secrets)
    entries = [_diagnose.read_pull_secret(kube, "oracle", s["name"]) for s in secrets]
    return _diagnose.pull_secret_configs(entries)


def model_pull(image, secrets):
    try:
        configs = _model_configs(secrets)
        try:
            lookup = _kubelet.kubelet_lookup(image, configs)
        except ValidationError as exc:
            return {"image_error": exc.msg}
        out = {"repo": _bytes(lookup["name"]),
               "keyring_error": (lookup["keyring_error"] or {}).get("reason")}
        if out["keyring_error"] is None:
            keyring = _kubelet.kubelet_keyring(configs)
            out["keys"] = [_bytes(k) for k in keyring["index"]]
            creds, groups = [], []
            for m in lookup["matches"]:
                cred = next(c for c in keyring["creds"][m["key"]]
                            if c["secret"] == m["secret"] and c["config_key"] == m["config_key"])
                creds.append((m["secret"], _bytes(cred["username"]), _bytes(cred["password"])))
                if groups and tuple(groups[-1][:2]) == (m["key"], m["secret"]):
                    groups[-1][2] += 1
                else:
                    groups.append([m["key"], m["secret"], 1])
            out["creds"] = creds
            out["groups"] = groups
        return out
    except Exception as exc:  # a crash of the model is an answer too: always a disagreement
        return _crash(exc)


def model_add_key(key):
    try:
        return {"key": _bytes(_kubelet.kubelet_key(key))}
    except Exception as exc:
        return _crash(exc)


def model_match(glob, target):
    try:
        return {"match": bool(_kubelet.urls_match(glob, target))}
    except Exception as exc:
        return _crash(exc)


def model_parse_image(image):
    try:
        try:
            ref = _imageref.parse_image_reference(image)
        except ValidationError as exc:
            return {"image_error": exc.msg}
        return {"repo": _bytes(ref.name), "tag": ref.tag or "", "digest": ref.digest or ""}
    except Exception as exc:
        return _crash(exc)


def model_writer(server):
    """registry_secret's key normalisation: {"refused": msg} or {"key": str, "warnings": [...]}."""
    try:
        try:
            key, warnings = secret_key(server)
        except ValidationError as exc:
            return {"refused": exc.msg}
        return {"key": key, "warnings": warnings}
    except Exception as exc:
        return _crash(exc)


def model_answer(case):
    kind = case["kind"]
    if kind == "pull":
        return model_pull(case["image"], case["secrets"])
    if kind == "add_key":
        return model_add_key(case["key"])
    if kind == "match":
        return model_match(case["glob"], case["target"])
    if kind == "parse_image":
        return model_parse_image(case["image"])
    raise ValueError(kind)


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------

def compare(kind, model, oracle):
    """Differences between the model's and the oracle's answers ([] = agreement).
    Each difference is (what, detail)."""
    if "crash" in model:
        return [("crash", model["crash"])]
    if kind in ("pull", "parse_image"):
        if ("image_error" in model) != ("image_error" in oracle):
            return [("image", "model %s, kubelet %s" % (
                "refuses the image (%s)" % model["image_error"] if "image_error" in model else "accepts the image",
                "refuses it (%s)" % oracle["image_error"] if "image_error" in oracle else "accepts it"))]
        if "image_error" in model:
            return []
        if model["repo"] != oracle["repo"]:
            return [("image", "repository looked up: model %r, kubelet %r" % (model["repo"], oracle["repo"]))]
        if kind == "parse_image":
            diffs = []
            for f in ("tag", "digest"):
                if model[f] != oracle[f]:
                    diffs.append(("image", "%s: model %r, kubelet %r" % (f, model[f], oracle[f])))
            return diffs
        if (model["keyring_error"] is None) != (oracle["keyring_error"] is None):
            return [("keyring", "model: %s; kubelet: %s" % (
                "no keyring error" if model["keyring_error"] is None else "keyring error (%s)" % model["keyring_error"],
                "no keyring error" if oracle["keyring_error"] is None else
                "MakeDockerKeyring fails, the pull fails (%s)" % oracle["keyring_error"]))]
        if model["keyring_error"] is not None:
            return []
        diffs = []
        if model["keys"] != oracle["keys"]:
            diffs.append(("keys", "keyring index: model %r, kubelet %r" % (model["keys"], oracle["keys"])))
        diffs.extend(_compare_creds(model, oracle))
        return diffs
    if kind == "add_key":
        if model["key"] != oracle["key"]:
            return [("add_key", "model %r, kubelet %r" % (model["key"], oracle["key"]))]
        return []
    if kind == "match":
        if model["match"] != oracle["match"]:
            return [("match", "model %s, kubelet %s" % (model["match"], oracle["match"]))]
        return []
    raise ValueError(kind)


def _compare_creds(model, oracle):
    mc, oc = model["creds"], oracle["creds"]
    if len(mc) != len(oc):
        return [("creds", "model tries %d credential(s) %r, kubelet %d %r" % (
            len(mc), [c[:2] for c in mc], len(oc), [c[:2] for c in oc]))]
    pos = 0
    for key, secret, n in model["groups"]:
        want = collections.Counter(mc[pos:pos + n])
        got = collections.Counter(oc[pos:pos + n])
        if want != got:
            return [("creds", "credentials %d-%d (key %r, Secret %s): model %r, kubelet %r" % (
                pos, pos + n - 1, key, secret, sorted(c[:2] for c in want), sorted(c[:2] for c in got)))]
        pos += n
    return []
