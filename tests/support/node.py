"""The local environment's real worker node: containerd + kubelet v1.33.13 per cluster.

Used by ``start_clusters()`` in tests/support/localenv.py (``make up``) and by ``make down``.
Everything a node owns is derived from its environment directory and cluster index, so several
environments (``REGISTRYLINK_LOCALENV_DIR``) and clusters run side by side on one machine:

    ids = node_ids(env_root, 1)      # node name, cgroup root, CNI bridge/network/subnet
    node = Node(...); node.prepare(cluster, registry); node.start_containerd(); ...

Why each setting is what it is: docs/local-environment.md ("The node"). Standard library only.
The cleanup (``sweep``) works from the recorded state alone and touches only what is ours: our
cgroups, our CNI bridge and cache entries, mounts under our directories, shim sockets of our
containerd, /var/log/containers links into our log directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from tests.support import localenv as le

CONTAINERD_BIN = os.environ.get("REGISTRYLINK_CONTAINERD_BIN", "/usr/bin/containerd")
CTR_BIN = os.environ.get("REGISTRYLINK_CTR_BIN", "/usr/bin/ctr")
CNI_BIN_DIR = os.environ.get("REGISTRYLINK_CNI_BIN_DIR", "/usr/lib/cni")
PAUSE_IMAGE = "registrylink.local/pause:1.0"
PAUSE_SOURCE = le.REPO_ROOT / "hack" / "pause" / "pause.c"
K8S_NS = "k8s.io"  # the containerd namespace of the CRI plugin
# host sysctls the kubelet sets at start (container manager's setupKernelTunables)
KUBELET_SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
SHIM_SOCKET_DIR = Path("/run/containerd/s")  # containerd 1.6 puts every shim socket here
CNI_CACHE = Path("/var/lib/cni/results")  # libcni's result cache (not configurable in 1.6)
CONTAINER_LOG_LINKS = Path("/var/log/containers")  # the kubelet's legacy symlinks (fixed path)
HOST_STATE_DIR = Path(os.environ.get("REGISTRYLINK_HOST_STATE", "/run/registrylink"))
# Host-wide directories that kubelets and containerd create whatever their configuration (the
# kubelet's device plugin socket is a fixed path, shared by every kubelet on the machine): the
# last environment's `down` removes the ones that did not exist before the first `up`, when empty.
HOST_PATHS = ("/var/lib/kubelet", "/var/lib/kubelet/device-plugins", "/var/log/containers", "/var/lib/cni",
              "/var/lib/cni/results", "/run/containerd", "/run/containerd/s")
DEVICE_PLUGIN_SOCKET = Path("/var/lib/kubelet/device-plugins/kubelet.sock")
SOCKET_MAX = 100  # sun_path is 108 bytes; containerd adds ".ttrpc"
# A scheduling gate for test Pods whose point is not a pull (admission, spec-level diagnosis,
# hand-written status): the scheduler leaves a gated Pod alone, so no kubelet ever touches it.
NO_NODE_GATE = "registrylink.test/no-node"


class NodeError(le.ComponentError):
    """The node did not start or become Ready; ``describe()`` shows the kubelet's and
    containerd's log tails."""

    def __init__(self, component: str, message: str, logs: Sequence[str]):
        super().__init__(component, message, None)
        self.logs = [str(p) for p in logs]

    def describe(self, lines: int = 40) -> str:
        text = str(self)
        for log in self.logs:
            text += f"\n--- last {lines} lines of {log} ---\n" + le.log_tail(log, lines)
        return text


# --------------------------------------------------------------------------------------
# names and numbers that must differ between environments and clusters


@dataclasses.dataclass
class NodeIds:
    node_name: str
    cgroup_root: str   # relative to each cgroup hierarchy's root
    bridge: str        # Linux interface names are at most 15 characters
    network: str       # CNI network name (also the prefix of its result cache entries)
    subnet: str


def node_ids(env_root: os.PathLike, index: int, cluster_name: str) -> NodeIds:
    """Derive the node's host-wide names from a hash of the environment directory and the
    cluster index: two environments (or two clusters of one) never share a cgroup root, a
    bridge, a CNI network or (barring a 1-in-16k clash) a subnet."""
    tag = hashlib.sha256(f"{Path(env_root).resolve()}\0{index}".encode()).hexdigest()
    return NodeIds(
        node_name=f"{cluster_name}-node",
        cgroup_root=f"/registrylink-{tag[:10]}",
        bridge=f"rl{tag[:10]}",  # 12 characters
        network=f"registrylink-{tag[:10]}",
        subnet=f"10.{64 + int(tag[10:12], 16) % 128}.{int(tag[12:14], 16)}.0/24",
    )


# --------------------------------------------------------------------------------------
# the pause (sandbox) image: built with gcc, cached outside the checkout


def pause_cache_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "registrylink" / "pause"


def build_pause_image(cache: Optional[Path] = None) -> Path:
    """The OCI layout tar of the pause image, built once per source and compiler version:
    ``gcc -static`` of hack/pause/pause.c, packaged by tests/support/images.oci_layout_tar."""
    from tests.support import images  # noqa: PLC0415 - needs the venv (requests), only at `up`

    cache = cache or pause_cache_dir()
    source = PAUSE_SOURCE.read_bytes()
    try:
        gcc = subprocess.run(["gcc", "--version"], capture_output=True, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError) as exc:
        raise le.LocalEnvError(f"gcc is needed to build the pause image (apt-get install gcc libc6-dev, or "
                               f"`make bootstrap`): {exc}") from exc
    key = hashlib.sha256(source + gcc + PAUSE_IMAGE.encode() + images.host_architecture().encode()).hexdigest()[:16]
    tar = cache / f"pause-{key}.tar"
    if tar.is_file():
        return tar
    cache.mkdir(parents=True, exist_ok=True)
    binary = cache / f"pause-{key}.bin.{os.getpid()}"
    res = subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(PAUSE_SOURCE)],
                         capture_output=True, check=False)
    if res.returncode != 0:
        raise le.LocalEnvError("building the pause program failed (needs gcc and libc6-dev for -static):\n"
                               + res.stderr.decode(errors="replace"))
    try:
        images.oci_layout_tar(tar, PAUSE_IMAGE, {"pause": (0o755, binary.read_bytes())}, ["/pause"])
    finally:
        binary.unlink(missing_ok=True)
    return tar


# --------------------------------------------------------------------------------------
# host sysctls: recorded before the first kubelet of any environment starts, put back when the
# last one is gone (environments overlap: a per-environment record would restore the
# kubelet's values of another environment as "original")


@contextlib.contextmanager
def _host_lock():
    HOST_STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(HOST_STATE_DIR / "sysctl.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def read_sysctls() -> Dict[str, str]:
    return {name: Path("/proc/sys", name).read_text().strip() for name in KUBELET_SYSCTLS}


def _write_sysctls(values: Dict[str, str]) -> None:
    for name, value in values.items():
        try:
            Path("/proc/sys", name).write_text(value + "\n")
        except OSError:
            pass


def sysctl_record() -> Path:
    """The machine-wide record of the original sysctl values and the environments running kubelets."""
    return HOST_STATE_DIR / "sysctl.json"


def hold_sysctls(env_root: os.PathLike) -> Dict[str, str]:
    """Register this environment as running kubelets; returns the recorded originals."""
    with _host_lock():
        path = sysctl_record()
        data = json.loads(path.read_text()) if path.exists() else None
        if not data:
            data = {"original": read_sysctls(), "holders": [],
                    "paths_before": {p: os.path.exists(p) for p in HOST_PATHS}}
        data["holders"] = sorted(set(data["holders"]) | {str(env_root)})
        le.write_file(path, json.dumps(data, indent=2) + "\n")
        return dict(data["original"])


def release_sysctls(env_root: os.PathLike, alive: Callable[[str], bool]) -> Optional[Dict[str, str]]:
    """Drop this environment; when no environment with kubelets is left (``alive(root)``
    says which recorded ones still run), write the original values back, remove the host-wide
    directories that did not exist before (``HOST_PATHS``, when empty) and return the values."""
    with _host_lock():
        path = sysctl_record()
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        holders = [h for h in data.get("holders", []) if h != str(env_root) and alive(h)]
        if holders:
            data["holders"] = holders
            le.write_file(path, json.dumps(data, indent=2) + "\n")
            return None
        _write_sysctls(data["original"])
        before = data.get("paths_before") or {}
        if before.get(str(DEVICE_PLUGIN_SOCKET.parent)) is False:
            with contextlib.suppress(OSError):
                DEVICE_PLUGIN_SOCKET.unlink()
        for host_path in sorted(HOST_PATHS, key=len, reverse=True):
            if before.get(host_path) is False:
                with contextlib.suppress(OSError):  # not empty: someone else's files, keep it
                    os.rmdir(host_path)
        path.unlink()
        return dict(data["original"])


# --------------------------------------------------------------------------------------
# cgroups (v1 hierarchies, plus the hybrid cgroup2 mount when there is one)


def cgroup_mounts() -> List[Path]:
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _sep, right = line.partition(" - ")
            fstype = right.split()[0] if right else ""
            if fstype in ("cgroup", "cgroup2"):
                out.append(Path(left.split()[4]))
    return out


def create_cgroup_root(root: str) -> List[str]:
    """``root`` in every hierarchy (the kubelet refuses a cgroupRoot missing in one); the
    cpuset one gets its parent's cpus and mems, without which no task may join it."""
    made = []
    for mount in cgroup_mounts():
        path = mount / root.lstrip("/")
        path.mkdir(exist_ok=True)
        made.append(str(path))
        if (mount / "cpuset.cpus").exists() and (path / "cpuset.cpus").exists():
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not (path / name).read_text().strip():
                    (path / name).write_text((path.parent / name).read_text())
    return made


def _cgroup_dirs(root: str) -> List[Path]:
    """Every directory of our cgroup tree in every hierarchy, deepest first."""
    dirs: List[Path] = []
    for mount in cgroup_mounts():
        top = mount / root.lstrip("/")
        if top.is_dir():
            dirs += [Path(d) for d, _subdirs, _files in os.walk(top)]
    return sorted(dirs, key=lambda p: len(p.parts), reverse=True)


def cgroup_pids(root: str) -> List[int]:
    pids = set()
    for d in _cgroup_dirs(root):
        with contextlib.suppress(OSError):
            pids |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
    return sorted(pids)


def remove_cgroup_root(root: str, timeout: float = 10.0) -> List[str]:
    """Kill what still runs in our cgroups and remove them; returns the directories left."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in cgroup_pids(root):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        left = []
        for d in _cgroup_dirs(root):
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                left.append(str(d))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


# --------------------------------------------------------------------------------------
# mounts, processes, links


def mounts_under(*prefixes: os.PathLike) -> List[str]:
    roots = [str(Path(p).resolve()).rstrip("/") + "/" for p in prefixes if p]
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if any((point + "/").startswith(r) for r in roots):
                out.append(point)
    return out


def unmount_all(*prefixes: os.PathLike, timeout: float = 10.0) -> List[str]:
    """Unmount every mount point under ``prefixes`` (deepest first; lazily when busy) and
    return what is still mounted."""
    deadline = time.monotonic() + timeout
    while True:
        points = mounts_under(*prefixes)
        if not points or time.monotonic() > deadline:
            return points
        for point in sorted(set(points), key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        time.sleep(0.1)


def pids_with_arg(needle: str) -> List[int]:
    """Processes whose command line contains ``needle`` (our containerd socket: its shims)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(needle.encode() == a or a.endswith(b"=" + needle.encode()) for a in argv):
            out.append(int(entry.name))
    return out


def shim_sockets(state_dir: os.PathLike) -> List[Path]:
    """The sockets under /run/containerd/s of our containerd's tasks: each task bundle in our
    state directory records its shim's address."""
    out = []
    for addr in Path(state_dir).glob("io.containerd.runtime.v2.task/*/*/address"):
        with contextlib.suppress(OSError):
            text = addr.read_text().strip()
            path = Path(text.split("://", 1)[-1])
            if path.parent == SHIM_SOCKET_DIR:
                out.append(path)
    return out


def shim_socket_for(address: str, namespace: str, task_id: str) -> Path:
    """Where containerd 1.6 puts the shim socket of a task (runtime/v2/shim SocketAddress)."""
    digest = hashlib.sha256(os.path.join(address, namespace, task_id).encode()).hexdigest()
    return SHIM_SOCKET_DIR / digest


def bridge_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


# --------------------------------------------------------------------------------------
# one node


@dataclasses.dataclass
class Node:
    """One containerd + kubelet, registered with one cluster. ``workdir`` is the cluster's
    directory; the node lives in ``<workdir>/node``."""

    cluster: str
    index: int
    env_root: str
    workdir: str
    log_dir: str
    node_name: str = ""
    cgroup_root: str = ""
    bridge: str = ""
    network: str = ""
    subnet: str = ""
    kubelet_port: int = 0
    healthz_port: int = 0
    processes: List[le.Process] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.node_name:
            ids = node_ids(self.env_root, self.index, self.cluster)
            self.node_name, self.cgroup_root, self.bridge = ids.node_name, ids.cgroup_root, ids.bridge
            self.network, self.subnet = ids.network, ids.subnet

    # -- paths
    @property
    def dir(self) -> Path:
        return Path(self.workdir) / "node"

    @property
    def socket(self) -> Path:
        return self.dir / "containerd.sock"

    @property
    def containerd_root(self) -> Path:
        return self.dir / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.dir / "containerd" / "state"

    @property
    def kubelet_root(self) -> Path:
        return self.dir / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.dir / "pod-logs"

    @property
    def cni_conf_dir(self) -> Path:
        return self.dir / "cni" / "net.d"

    @property
    def containerd_log(self) -> str:
        return str(Path(self.log_dir) / f"containerd-{self.cluster}.log")

    @property
    def kubelet_log(self) -> str:
        return str(Path(self.log_dir) / f"kubelet-{self.cluster}.log")

    def to_dict(self) -> Dict[str, Any]:
        return {"cluster": self.cluster, "index": self.index, "env_root": self.env_root, "workdir": self.workdir,
                "log_dir": self.log_dir, "node_name": self.node_name, "cgroup_root": self.cgroup_root,
                "bridge": self.bridge, "network": self.network, "subnet": self.subnet,
                "kubelet_port": self.kubelet_port, "healthz_port": self.healthz_port,
                "containerd_socket": str(self.socket), "containerd_log": self.containerd_log,
                "kubelet_log": self.kubelet_log}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Node":
        keys = {f.name for f in dataclasses.fields(cls)} - {"processes"}
        return cls(**{k: v for k, v in data.items() if k in keys})

    # -- configuration
    def prepare(self, ca: le.CertPair, server: str, registry_host: Optional[str], registry_ca: Optional[str]) -> None:
        """Directories, node client certificate, kubeconfig, containerd/CNI/kubelet configs."""
        if len(str(self.socket)) > SOCKET_MAX:
            raise le.LocalEnvError(f"containerd socket path {self.socket} is longer than {SOCKET_MAX} characters: "
                                   "use a shorter REGISTRYLINK_LOCALENV_DIR")
        self.kubelet_port = self.kubelet_port or le.free_port()
        self.healthz_port = self.healthz_port or le.free_port()
        for d in (self.containerd_root, self.containerd_state, self.kubelet_root, self.pod_logs, self.cni_conf_dir):
            d.mkdir(parents=True, exist_ok=True)
        pki = self.dir / "pki"
        cert = le.make_cert(pki, "node", ca, cn=f"system:node:{self.node_name}", orgs=("system:nodes",),
                            usage="client")
        le.write_file(self.dir / "kubeconfig", le.kubeconfig_text([le.KubeAccess(
            self.cluster, server, ca.cert, cert.cert, cert.key)]), 0o600)
        self._write_containerd_config(registry_host, registry_ca)
        self._write_cni_config()
        self._write_kubelet_config(ca.cert)

    def _write_containerd_config(self, registry_host: Optional[str], registry_ca: Optional[str]) -> None:
        certs_d = self.dir / "containerd" / "certs.d"
        if registry_host:
            le.write_file(certs_d / registry_host / "hosts.toml", "\n".join([
                f'server = "https://{registry_host}"',
                "",
                f'[host."https://{registry_host}"]',
                '  capabilities = ["pull", "resolve"]',
                f"  ca = {json.dumps(str(registry_ca))}" if registry_ca else "",
            ]) + "\n")
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        q = json.dumps
        text = f"""# containerd of node {self.node_name} (written by make up; see docs/local-environment.md)
version = 2
root = {q(str(self.containerd_root))}
state = {q(str(self.containerd_state))}
oom_score = 0
# /opt/containerd and snapshotters we do not use stay untouched
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = {q(str(self.socket))}

[ttrpc]
  address = ""

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[{cri}]
  sandbox_image = {q(PAUSE_IMAGE)}
  # REQUIRED here: the VM lacks CAP_SYS_RESOURCE; without it runc cannot write
  # /proc/self/oom_score_adj and every sandbox fails ("can't get final child's PID from pipe")
  restrict_oom_score_adj = true
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = {q(str(self.containerd_state / "runc"))}

  [{cri}.cni]
    bin_dir = {q(CNI_BIN_DIR)}
    conf_dir = {q(str(self.cni_conf_dir))}
    max_conf_num = 1

  [{cri}.registry]
    config_path = {q(str(certs_d))}
"""
        le.write_file(self.dir / "containerd" / "config.toml", text)

    def _write_cni_config(self) -> None:
        conf = {"cniVersion": "1.0.0", "name": self.network, "plugins": [
            {"type": "bridge", "bridge": self.bridge, "isGateway": False, "ipMasq": False, "hairpinMode": False,
             "ipam": {"type": "host-local", "dataDir": str(self.dir / "cni" / "ipam"),
                      "ranges": [[{"subnet": self.subnet}]]}},
            {"type": "loopback"},
        ]}
        le.write_file(self.cni_conf_dir / "10-registrylink.conflist", json.dumps(conf, indent=2) + "\n")

    def _write_kubelet_config(self, client_ca: str) -> None:
        cfg = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.healthz_port,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "failSwapOn": False,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": client_ca}},
            "authorization": {"mode": "Webhook"},
            "makeIPTablesUtilChains": False,
            "serializeImagePulls": False,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
                             "imagefs.available": "1%", "imagefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "podLogsDir": str(self.pod_logs),
            "volumePluginDir": str(self.dir / "volume-plugins"),
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "registerNode": True,
            "resolvConf": "/etc/resolv.conf",
            # a DNS Service address like a real cluster's (nothing answers there: test Pods need
            # no DNS); without one every Pod gets a MissingClusterDNS warning event
            "clusterDNS": ["10.0.0.10"],
            "clusterDomain": "cluster.local",
            "maxPods": 110,
        }
        le.write_file(self.dir / "kubelet-config.yaml", le.to_yaml(cfg))

    # -- processes
    def _ctr(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([CTR_BIN, "--address", str(self.socket), "--namespace", K8S_NS, *args],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def start_containerd(self) -> le.Process:
        proc = le.spawn(f"containerd-{self.cluster}", [
            CONTAINERD_BIN, "--config", str(self.dir / "containerd" / "config.toml"),
        ], self.containerd_log)
        self.processes.append(proc)
        return proc

    def wait_containerd(self, timeout: float = 60) -> None:
        proc = self._proc("containerd")
        le.wait_for(lambda: self._ctr("version", timeout=5).returncode == 0, timeout, "ctr version",
                    f"containerd-{self.cluster}", proc)

    def import_pause(self, tar: os.PathLike) -> None:
        res = self._ctr("images", "import", "--base-name", PAUSE_IMAGE.rsplit(":", 1)[0], str(tar))
        if res.returncode != 0 or PAUSE_IMAGE not in self._ctr("images", "ls", "-q").stdout.split():
            raise NodeError(f"containerd-{self.cluster}", f"importing {PAUSE_IMAGE} failed: {res.stderr.strip()}",
                            [self.containerd_log])

    def start_kubelet(self) -> le.Process:
        create_cgroup_root(self.cgroup_root)
        proc = le.spawn(f"kubelet-{self.cluster}", [
            le.kube_bin_dir() / "kubelet",
            f"--config={self.dir / 'kubelet-config.yaml'}",
            f"--kubeconfig={self.dir / 'kubeconfig'}",
            f"--root-dir={self.kubelet_root}",
            f"--cert-dir={self.dir / 'pki' / 'kubelet-serving'}",
            f"--hostname-override={self.node_name}",
            f"--pod-infra-container-image={PAUSE_IMAGE}",
            "--v=1",
        ], self.kubelet_log)
        self.processes.append(proc)
        return proc

    def _proc(self, kind: str) -> Optional[le.Process]:
        for p in self.processes:
            if p.name == f"{kind}-{self.cluster}":
                return p
        return None

    def wait_ready(self, api: Callable[..., Any], timeout: float = 90) -> float:
        """Poll the Node object until its Ready condition is True; returns the seconds waited.
        Raises NodeError with the kubelet's and containerd's log tails otherwise."""
        t0 = time.monotonic()
        last = "no Node object yet"
        while True:
            for p in (self._proc("kubelet"), self._proc("containerd")):
                if p is not None and not p.alive():
                    raise NodeError(p.name, "exited before the node became Ready",
                                    [self.kubelet_log, self.containerd_log])
            with contextlib.suppress(Exception):
                status, body = api(f"/api/v1/nodes/{self.node_name}", timeout=3)
                if status == 200:
                    conds = {c["type"]: c for c in body.get("status", {}).get("conditions", [])}
                    ready = conds.get("Ready", {})
                    taints = [t["key"] for t in body.get("spec", {}).get("taints") or []]
                    # Ready, and node-lifecycle-controller has lifted the not-ready taint the
                    # kubelet registered with (until then nothing is scheduled there)
                    if ready.get("status") == "True" and "node.kubernetes.io/not-ready" not in taints:
                        return time.monotonic() - t0
                    last = f"Ready={ready.get('status')} ({ready.get('reason')}: {ready.get('message')}), taints {taints}"
            if time.monotonic() - t0 > timeout:
                raise NodeError(f"kubelet-{self.cluster}", f"node {self.node_name} not Ready after {timeout:.0f}s "
                                f"(last: {last})", [self.kubelet_log, self.containerd_log])
            time.sleep(0.5)

    # -- teardown
    def drain(self, api: Callable[..., Any], timeout: float = 45) -> List[str]:
        """Delete every Pod bound to this node and wait until the kubelet has removed them
        (it deletes the object only after its containers, volumes and cgroups are gone).
        Best effort: returns the Pods still there (the sweep handles what they leave)."""
        path = f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.node_name}"

        def names() -> List[str]:
            status, body = api(path, timeout=5)
            if status != 200:
                raise le.LocalEnvError(f"listing pods: HTTP {status}")
            return [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in body.get("items", [])]

        try:
            pods = names()
            for pod in pods:
                ns, name = pod.split("/", 1)
                api(f"/api/v1/namespaces/{ns}/pods/{name}", "DELETE", {"gracePeriodSeconds": 1}, timeout=5)
            deadline = time.monotonic() + timeout
            while pods and time.monotonic() < deadline:
                time.sleep(0.5)
                pods = names()
            return pods
        except Exception:  # noqa: BLE001 - the API server may be gone already; the sweep follows
            return ["(API server not reachable)"]

    def remove_tasks(self) -> None:
        """Kill and delete what containerd still runs (after the kubelet stopped), so that
        its shims exit and unmount the containers' root filesystems themselves."""
        if not self.socket.exists():
            return
        res = self._ctr("tasks", "ls", "-q", timeout=10)
        ids = res.stdout.split() if res.returncode == 0 else []
        for task in ids:
            self._ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=10)
        for task in ids:
            for _attempt in range(20):
                if self._ctr("tasks", "delete", task, timeout=10).returncode == 0:
                    break
                time.sleep(0.2)


def sweep(node: Dict[str, Any]) -> List[str]:
    """Remove what a stopped node leaves on the host, from its recorded state only. Call after
    kubelet and containerd are stopped. Returns what could not be removed (empty = clean)."""
    n = Node.from_dict(node)
    problems: List[str] = []
    sockets = set(shim_sockets(n.containerd_state))
    ids = {d.name for d in n.containerd_state.glob(f"io.containerd.runtime.v2.task/{K8S_NS}/*")}
    ids |= {d.name for d in n.containerd_state.glob("io.containerd.grpc.v1.cri/sandboxes/*")}
    for task_id in ids:
        sockets.add(shim_socket_for(str(n.socket), K8S_NS, task_id))
    # shims of our containerd (they outlive it) and anything left in our cgroups
    for pid in pids_with_arg(str(n.socket)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    problems += [f"cgroup {d} not removable" for d in remove_cgroup_root(n.cgroup_root)]
    deadline = time.monotonic() + 5
    while pids_with_arg(str(n.socket)) and time.monotonic() < deadline:
        time.sleep(0.1)
    problems += [f"process {pid} of our containerd still running" for pid in pids_with_arg(str(n.socket))]
    problems += [f"still mounted: {m}" for m in unmount_all(n.dir)]
    for sock in sockets:
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
    # libcni caches one result per sandbox and network: ours, and containerd's own
    # "cni-loopback" network for the sandboxes of our containerd
    cache = list(CNI_CACHE.glob(f"{n.network}-*")) if CNI_CACHE.is_dir() else []
    ids |= {e.name[len(n.network) + 1:].rsplit("-", 1)[0] for e in cache}
    cache += [CNI_CACHE / f"cni-loopback-{i}-lo" for i in ids]
    for entry in cache:
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
    if bridge_exists(n.bridge):
        res = subprocess.run(["ip", "link", "delete", n.bridge], capture_output=True, text=True, check=False)
        if res.returncode != 0 and bridge_exists(n.bridge):
            problems.append(f"CNI bridge {n.bridge}: {res.stderr.strip()}")
    if CONTAINER_LOG_LINKS.is_dir():
        prefix = str(n.pod_logs) + "/"
        for link in CONTAINER_LOG_LINKS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(prefix):
                    link.unlink()
    if not problems:
        shutil.rmtree(n.dir, ignore_errors=True)
    return problems


def leftovers(node: Dict[str, Any]) -> List[str]:
    """What of a node is still on the host (for tests and `make down`'s final check)."""
    n = Node.from_dict(node)
    found = [f"mount {m}" for m in mounts_under(n.dir)]
    found += [f"process {pid}" for pid in pids_with_arg(str(n.socket))]
    found += [f"cgroup {d}" for d in _cgroup_dirs(n.cgroup_root)]
    if bridge_exists(n.bridge):
        found.append(f"bridge {n.bridge}")
    if CNI_CACHE.is_dir():
        found += [f"CNI cache {p}" for p in CNI_CACHE.glob(f"{n.network}-*")]
    if n.dir.exists():
        found.append(f"directory {n.dir}")
    return found
