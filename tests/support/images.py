"""Push small, real images into a registry through the OCI distribution API (no Docker).

Each image is a real one: an image config blob (with ``created``, ``os``, ``architecture``,
``rootfs.diff_ids``, ``history``) and one gzip'd tar layer with random content, so every push
gives a new digest unless ``layer_bytes`` / ``seed`` make it reproducible. Blobs go up with a
monolithic upload (POST, then PUT ?digest=), manifests with PUT. Works with Basic auth and
with Bearer token auth (the WWW-Authenticate challenge is followed to the realm)::

    from tests.support.images import push_image, push_index, manifest_digest

    digest = push_image(reg.url, "team/app", ["1.0", "latest"], auth=(reg.username, reg.password),
                        ca=reg.ca, created="2024-01-01T00:00:00Z")
    index = push_index(reg.url, "team/app", "multi", children=["linux/amd64", "linux/arm64/v8"],
                       auth=(reg.username, reg.password), ca=reg.ca)
    assert manifest_digest(reg.url, "team/app", "1.0", auth=..., ca=reg.ca) == digest

``registry_url`` may also be a registry object (the ``registry`` fixture, or what
``start_registry`` returns): then ``auth`` and ``ca`` default to its credentials.

Images that really run on the local environment's node (``make up`` pushes the first one):

    from tests.support.images import push_busybox, oci_layout_tar

    ref, digest = push_busybox(registry)            # <host>/private/busybox:1.35, Debian's static busybox
    oci_layout_tar("pause.tar", "registrylink.local/pause:1.0", {"pause": (0o755, data)}, ["/pause"])
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import platform as _platform
import random
import re
import tarfile
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import urljoin, urlsplit

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
ACCEPT = ", ".join(MANIFEST_TYPES)

Auth = Optional[Tuple[str, str]]
Tags = Union[None, str, Sequence[str]]


class PushError(RuntimeError):
    pass


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def parse_platform(platform: str) -> Dict[str, str]:
    parts = platform.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"platform must be os/arch[/variant], not {platform!r}")
    out = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        out["variant"] = parts[2]
    return out


_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> Tuple[str, Dict[str, str]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ("bearer", {...})."""
    header = (header or "").strip()
    if not header:
        return "", {}
    scheme, _sep, rest = header.partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


@dataclasses.dataclass
class PushedManifest:
    digest: str
    size: int
    media_type: str
    platform: Optional[Dict[str, str]] = None
    config_digest: Optional[str] = None
    layer_digests: List[str] = dataclasses.field(default_factory=list)

    def descriptor(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            d["platform"] = dict(self.platform)
        return d


class RegistryClient:
    """Minimal distribution API client for tests: Basic or Bearer (token) auth, TLS with a
    given CA (``ca`` path; True = system trust; False = no verification)."""

    def __init__(self, registry_url: Any, auth: Auth = None, ca: Union[None, bool, str] = None,
                 timeout: float = 30.0):
        if not isinstance(registry_url, str):  # a registry object (fixture / start_registry)
            reg = registry_url
            registry_url = reg.url
            if auth is None and getattr(reg, "username", None):
                auth = (reg.username, reg.password)
            if ca is None:
                ca = getattr(reg, "ca", None)
        if "://" not in registry_url:
            registry_url = "https://" + registry_url
        self.base = registry_url.rstrip("/")
        self.auth = tuple(auth) if auth else None
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxies, no netrc
        self.session.verify = ca if ca not in (None, "") else True
        self._authz: Dict[str, str] = {}  # repository -> Authorization header

    # -- auth
    def _token(self, params: Dict[str, str], repo: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise PushError("Bearer challenge without realm")
        query = {"service": params.get("service", "")}
        scopes = [params["scope"]] if params.get("scope") else []
        wanted = f"repository:{repo}:pull,push"
        if repo and wanted not in scopes:
            scopes.append(wanted)
        resp = self.session.get(realm, params=[("service", query["service"])] + [("scope", s) for s in scopes],
                                auth=self.auth, timeout=self.timeout)
        if resp.status_code != 200:
            raise PushError(f"token request to {realm} failed: HTTP {resp.status_code}")
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise PushError(f"token response from {realm} has no token")
        return token

    def request(self, method: str, url: str, repo: str = "", **kwargs: Any) -> requests.Response:
        url = url if "://" in url else self.base + url
        headers = dict(kwargs.pop("headers", None) or {})
        kwargs.setdefault("timeout", self.timeout)
        if repo in self._authz:
            headers["Authorization"] = self._authz[repo]
        resp = self.session.request(method, url, headers=headers, allow_redirects=False, **kwargs)
        if resp.status_code != 401:
            return resp
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.auth:
                return resp
            authz = requests.auth._basic_auth_str(*self.auth)  # noqa: SLF001 - stable helper
        elif scheme == "bearer":
            authz = "Bearer " + self._token(params, repo)
        else:
            return resp
        self._authz[repo] = authz
        headers["Authorization"] = authz
        return self.session.request(method, url, headers=headers, allow_redirects=False, **kwargs)

    # -- blobs
    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}", repo).status_code == 200

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        if self.blob_exists(repo, digest):
            return digest
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", repo)
        if resp.status_code != 202 or "Location" not in resp.headers:
            raise PushError(f"starting blob upload to {repo}: HTTP {resp.status_code} {resp.text[:300]}")
        location = urljoin(self.base + "/", resp.headers["Location"])
        sep = "&" if urlsplit(location).query else "?"
        resp = self.request("PUT", f"{location}{sep}digest={digest}", repo, data=data,
                            headers={"Content-Type": "application/octet-stream"})
        if resp.status_code != 201:
            raise PushError(f"uploading blob {digest} to {repo}: HTTP {resp.status_code} {resp.text[:300]}")
        return digest

    # -- manifests
    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        resp = self.request("PUT", f"/v2/{repo}/manifests/{reference}", repo, data=body,
                            headers={"Content-Type": media_type})
        if resp.status_code != 201:
            raise PushError(f"PUT manifest {repo}:{reference}: HTTP {resp.status_code} {resp.text[:300]}")
        digest = sha256(body)
        got = resp.headers.get("Docker-Content-Digest")
        if got and got != digest:
            raise PushError(f"registry computed {got} for manifest {digest}")
        return digest

    def head_manifest(self, repo: str, reference: str) -> Optional[Tuple[str, str, int]]:
        """(digest, media type, size) or None when absent."""
        resp = self.request("HEAD", f"/v2/{repo}/manifests/{reference}", repo, headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise PushError(f"HEAD manifest {repo}:{reference}: HTTP {resp.status_code}")
        return (resp.headers["Docker-Content-Digest"], resp.headers.get("Content-Type", ""),
                int(resp.headers.get("Content-Length", "0")))

    def get_manifest(self, repo: str, reference: str) -> Tuple[Dict[str, Any], str, str]:
        resp = self.request("GET", f"/v2/{repo}/manifests/{reference}", repo, headers={"Accept": ACCEPT})
        if resp.status_code != 200:
            raise PushError(f"GET manifest {repo}:{reference}: HTTP {resp.status_code}")
        return resp.json(), resp.headers.get("Content-Type", ""), sha256(resp.content)

    def get_blob(self, repo: str, digest: str) -> bytes:
        resp = self.request("GET", f"/v2/{repo}/blobs/{digest}", repo)
        if resp.status_code in (301, 302, 307, 308):
            resp = self.session.get(resp.headers["Location"], timeout=self.timeout)
        if resp.status_code != 200:
            raise PushError(f"GET blob {repo}@{digest}: HTTP {resp.status_code}")
        return resp.content

    def list_tags(self, repo: str) -> List[str]:
        resp = self.request("GET", f"/v2/{repo}/tags/list", repo)
        if resp.status_code == 404:
            return []
        if resp.status_code != 200:
            raise PushError(f"tags/list {repo}: HTTP {resp.status_code}")
        return sorted(resp.json().get("tags") or [])

    def delete_manifest(self, repo: str, digest: str) -> int:
        return self.request("DELETE", f"/v2/{repo}/manifests/{digest}", repo).status_code


def _tag_list(tags: Tags) -> List[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tags]
    return list(tags)


def _layer(layer_bytes: Optional[int], rng: random.Random) -> Tuple[bytes, str]:
    """A gzip'd tar with one file of random bytes; returns (blob, diff_id)."""
    size = 512 if layer_bytes is None else int(layer_bytes)
    payload = rng.randbytes(size)
    name = f"registrylink-test/{rng.getrandbits(64):016x}.bin"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256(tar_bytes)


_SYSRANDOM = random.SystemRandom()


def push_image_details(registry_url: Any, repo: str, tags: Tags = None, auth: Auth = None,
                       ca: Union[None, bool, str] = None, created: str = "2024-01-01T00:00:00Z",
                       layer_bytes: Optional[int] = None, platform: str = "linux/amd64",
                       schema: str = "oci", labels: Optional[Dict[str, str]] = None,
                       seed: Optional[int] = None, client: Optional[RegistryClient] = None) -> PushedManifest:
    """Like push_image, returning digest, size, media type and platform."""
    client = client or RegistryClient(registry_url, auth=auth, ca=ca)
    if schema not in ("oci", "docker"):
        raise ValueError("schema must be 'oci' or 'docker'")
    rng = random.Random(seed) if seed is not None else _SYSRANDOM
    plat = parse_platform(platform)
    layer, diff_id = _layer(layer_bytes, rng)
    config = {
        "created": created,
        "architecture": plat["architecture"],
        "os": plat["os"],
        "config": {"Labels": dict(labels or {}), "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "registrylink tests/support/images.py"}],
    }
    if "variant" in plat:
        config["variant"] = plat["variant"]
    config_blob = _canon(config)
    config_digest = client.push_blob(repo, config_blob)
    layer_digest = client.push_blob(repo, layer)
    oci = schema == "oci"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG, "digest": config_digest,
                   "size": len(config_blob)},
        "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER, "digest": layer_digest, "size": len(layer)}],
    }
    body = _canon(manifest)
    media_type = manifest["mediaType"]
    digest = sha256(body)
    for ref in _tag_list(tags) or [digest]:
        client.put_manifest(repo, ref, body, media_type)
    return PushedManifest(digest=digest, size=len(body), media_type=media_type, platform=plat,
                          config_digest=config_digest, layer_digests=[layer_digest])


def push_image(registry_url: Any, repo: str, tags: Tags = None, auth: Auth = None,
               ca: Union[None, bool, str] = None, created: str = "2024-01-01T00:00:00Z",
               layer_bytes: Optional[int] = None, platform: str = "linux/amd64", schema: str = "oci",
               labels: Optional[Dict[str, str]] = None, seed: Optional[int] = None) -> str:
    """Push one single-platform image and return its manifest digest.

    - ``registry_url``: ``https://127.0.0.1:PORT`` (or ``host:port``, https assumed), or a
      registry object (``registry`` fixture, ``start_registry(...)``) for url/auth/ca.
    - ``tags``: a tag, a list of tags (all point at the same digest) or None (push by digest).
    - ``auth``: (username, password) for Basic auth or for the token realm; None = anonymous.
    - ``ca``: CA bundle path for TLS verification.
    - ``created``: the image config's ``created`` (RFC 3339), what retention rules look at.
    - ``layer_bytes``: size of the random file in the single layer (default 512).
    - ``platform``: ``os/arch[/variant]``; ``schema``: 'oci' or 'docker' (schema 2).
    - ``seed``: makes the layer reproducible (same inputs -> same digest).
    """
    return push_image_details(registry_url, repo, tags, auth=auth, ca=ca, created=created,
                              layer_bytes=layer_bytes, platform=platform, schema=schema, labels=labels,
                              seed=seed).digest


def _child_descriptor(client: RegistryClient, repo: str, child: Any, created: str, schema: str) -> Dict[str, Any]:
    if isinstance(child, PushedManifest):
        return child.descriptor()
    if isinstance(child, dict):
        desc = {"mediaType": child.get("media_type") or child.get("mediaType"), "digest": child["digest"],
                "size": child.get("size")}
        if not desc["mediaType"] or desc["size"] is None:
            found = client.head_manifest(repo, child["digest"])
            if not found:
                raise PushError(f"index child {child['digest']} is not in {repo}")
            desc["mediaType"] = desc["mediaType"] or found[1]
            desc["size"] = desc["size"] if desc["size"] is not None else found[2]
        plat = child.get("platform")
        if isinstance(plat, str):
            plat = parse_platform(plat)
        if plat:
            desc["platform"] = plat
        return desc
    if isinstance(child, str) and child.startswith("sha256:"):
        manifest, media_type, digest = client.get_manifest(repo, child)
        config = json.loads(client.get_blob(repo, manifest["config"]["digest"]))
        plat = {"os": config.get("os", "linux"), "architecture": config.get("architecture", "amd64")}
        if config.get("variant"):
            plat["variant"] = config["variant"]
        size = client.head_manifest(repo, child)[2]
        return {"mediaType": media_type, "digest": digest, "size": size, "platform": plat}
    if isinstance(child, str):
        return push_image_details(None, repo, None, created=created, platform=child, schema=schema,
                                  client=client).descriptor()
    raise TypeError(f"unsupported index child {child!r}")


def push_index(registry_url: Any, repo: str, tag: Tags, children: Iterable[Any], auth: Auth = None,
               ca: Union[None, bool, str] = None, created: str = "2024-01-01T00:00:00Z",
               schema: str = "oci", annotations: Optional[Dict[str, str]] = None) -> str:
    """Push a multi-platform OCI image index (``schema='docker'``: a manifest list) and
    return its digest. ``tag``: a tag, a list of tags or None (by digest).

    ``children`` items may be: a platform string (``"linux/arm64/v8"``: a new child image is
    pushed by digest), a child manifest digest already in ``repo`` (``"sha256:..."``; its
    platform is read from its config), a PushedManifest, or a dict with ``digest``,
    ``platform`` and optionally ``size`` / ``media_type``.
    """
    client = RegistryClient(registry_url, auth=auth, ca=ca)
    children = list(children)
    if not children:
        raise ValueError("an index needs at least one child")
    descs = [_child_descriptor(client, repo, c, created, schema) for c in children]
    media_type = OCI_INDEX if schema == "oci" else DOCKER_LIST
    index: Dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": descs}
    if annotations:
        index["annotations"] = dict(annotations)
    body = _canon(index)
    digest = sha256(body)
    for ref in _tag_list(tag) or [digest]:
        client.put_manifest(repo, ref, body, media_type)
    return digest


def manifest_digest(registry_url: Any, repo: str, reference: str, auth: Auth = None,
                    ca: Union[None, bool, str] = None) -> Optional[str]:
    """Docker-Content-Digest of a HEAD on the manifest, None when absent."""
    found = RegistryClient(registry_url, auth=auth, ca=ca).head_manifest(repo, reference)
    return found[0] if found else None


def list_tags(registry_url: Any, repo: str, auth: Auth = None, ca: Union[None, bool, str] = None) -> List[str]:
    return RegistryClient(registry_url, auth=auth, ca=ca).list_tags(repo)


def delete_manifest(registry_url: Any, repo: str, digest: str, auth: Auth = None,
                    ca: Union[None, bool, str] = None) -> int:
    """DELETE by digest; returns the HTTP status (202 deleted, 405 delete disabled, 404)."""
    return RegistryClient(registry_url, auth=auth, ca=ca).delete_manifest(repo, digest)


# --------------------------------------------------------------------------------------
# runnable images: a one-layer image from real files (the node's busybox and pause images)

BUSYBOX_BIN = "/bin/busybox"  # Debian busybox-static
BUSYBOX_REPO = "private/busybox"
BUSYBOX_TAG = "1.35"
# applets the tests and the demo use; each is a symlink to /bin/busybox in the layer
BUSYBOX_APPLETS = ("sh", "sleep", "true", "false", "echo", "cat", "ls", "env", "id", "wget")
FIXED_CREATED = "2024-01-01T00:00:00Z"


def host_architecture() -> str:
    """The OCI architecture of this machine (amd64, arm64, ...)."""
    machine = _platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def files_layer(files: Dict[str, Tuple[int, bytes]], symlinks: Optional[Dict[str, str]] = None) -> Tuple[bytes, str]:
    """A reproducible gzip'd tar layer (mtime 0, root-owned, sorted) from ``{path: (mode, data)}``
    and ``{path: target}`` symlinks; returns (blob, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({os.path.dirname(p) for p in list(files) + list(symlinks or {}) if os.path.dirname(p)})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for path in sorted(files):
            mode, data = files[path]
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
        for path in sorted(symlinks or {}):
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, symlinks[path], 0o777, 0
            tar.addfile(info)
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256(tar_bytes)


def runnable_image(files: Dict[str, Tuple[int, bytes]], cmd: Sequence[str], symlinks: Optional[Dict[str, str]] = None,
                   entrypoint: Optional[Sequence[str]] = None) -> Tuple[bytes, bytes, bytes]:
    """(manifest, config, layer) blobs of a one-layer OCI image that really runs ``cmd``."""
    layer, diff_id = files_layer(files, symlinks)
    cfg: Dict[str, Any] = {"Env": ["PATH=/bin"], "Cmd": list(cmd)}
    if entrypoint:
        cfg["Entrypoint"] = list(entrypoint)
    config = _canon({
        "created": FIXED_CREATED, "architecture": host_architecture(), "os": "linux", "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": FIXED_CREATED, "created_by": "registrylink tests/support/images.py"}],
    })
    manifest = _canon({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
    })
    return manifest, config, layer


def busybox_image(binary: str = BUSYBOX_BIN) -> Tuple[bytes, bytes, bytes]:
    """Debian's static busybox as a one-layer image (default command ``sleep 3600``); the
    same binary always gives the same digest."""
    try:
        with open(binary, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise PushError(f"{binary} is missing (apt-get install busybox-static, or `make bootstrap`): {exc}") from exc
    links = {f"bin/{a}": "busybox" for a in BUSYBOX_APPLETS}
    return runnable_image({"bin/busybox": (0o755, data)}, ["sleep", "3600"], symlinks=links)


def push_busybox(registry_url: Any, repo: str = BUSYBOX_REPO, tag: str = BUSYBOX_TAG, auth: Auth = None,
                 ca: Union[None, bool, str] = None) -> Tuple[str, str]:
    """Push the busybox image (``busybox_image``) and return (reference, digest), e.g.
    ``("127.0.0.1:5000/private/busybox:1.35", "sha256:...")``. Idempotent: blobs that are
    there are not uploaded again and the digest never changes."""
    client = RegistryClient(registry_url, auth=auth, ca=ca)
    manifest, config, layer = busybox_image()
    client.push_blob(repo, config)
    client.push_blob(repo, layer)
    digest = client.put_manifest(repo, tag, manifest, OCI_MANIFEST)
    return f"{urlsplit(client.base).netloc}/{repo}:{tag}", digest


def oci_layout_tar(path: Any, name: str, files: Dict[str, Tuple[int, bytes]], cmd: Sequence[str]) -> str:
    """Write an OCI image layout tar (what ``ctr images import`` reads) holding one
    runnable image named ``name`` (``repo:tag``); returns the manifest digest."""
    manifest, config, layer = runnable_image(files, cmd)
    digest = sha256(manifest)
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = _canon({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}}]})
    entries = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
    entries += [("blobs/sha256/" + sha256(b)[7:], b) for b in (manifest, config, layer)]
    tmp = str(path) + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for entry, data in entries:
            info = tarfile.TarInfo(entry)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, path)
    return digest
