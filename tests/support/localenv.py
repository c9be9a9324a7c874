"""Building blocks of the local environment: real etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, a real node (containerd + kubelet, in
tests/support/node.py), CNCF distribution registry and moto as processes on loopback.

``hack/localenv.py`` (``make up`` / ``make down``) composes these into the shared environment;
tests use them directly to start extra, differently configured instances, e.g.::

    from tests.support.localenv import load_state, start_registry

    env = load_state()                       # fails with "local environment is not up: run `make up`"
    with start_registry(tmp_path, auth="token", token_realm=..., token_service=...,
                        token_rootcertbundle=...) as reg:
        ...  # reg.url, reg.host, reg.port, reg.ca

Standard library only (the up/down script runs before anything else is importable), no
Docker. Every child process runs in its own session so that it outlives ``make`` and is
stopped by PID, never by name.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import os
import random
import re
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

REPO_ROOT = Path(__file__).resolve().parents[2]
# REGISTRYLINK_LOCALENV_DIR runs a second, independent environment (e.g. a developer's own
# beside a shared one); the default is .localenv/ in the checkout.
LOCALENV_DIR = Path(os.environ.get("REGISTRYLINK_LOCALENV_DIR") or (REPO_ROOT / ".localenv")).resolve()
STATE_FILE = LOCALENV_DIR / "state.json"

KUBE_VERSION = os.environ.get("KUBE_VERSION", "1.33.13")
NOT_UP = "local environment is not up: run `make up`"


def kube_bin_dir() -> Path:
    """Where hack/build-kube.sh caches kube-apiserver and kube-controller-manager."""
    if os.environ.get("REGISTRYLINK_KUBE_BIN"):
        return Path(os.environ["REGISTRYLINK_KUBE_BIN"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "registrylink" / "kube" / f"v{KUBE_VERSION}"


ETCD_BIN = os.environ.get("REGISTRYLINK_ETCD_BIN", "/usr/bin/etcd")
REGISTRY_BIN = os.environ.get("REGISTRYLINK_REGISTRY_BIN", "/usr/bin/docker-registry")

# Controllers of kube-controller-manager we run: enough for default ServiceAccounts, SA token
# secrets, namespace deletion, ownerReference cascades, kube-root-ca.crt ConfigMaps, aggregated
# ClusterRoles, and Deployments that really create Pods (which kube-scheduler puts on the node).
KCM_CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    # removes the node.kubernetes.io/not-ready taint the kubelet registers with, once Ready
    "node-lifecycle-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "root-ca-certificate-publisher-controller",
    # the built-in admin / edit / view ClusterRoles are aggregated: without this they stay empty
    "clusterrole-aggregation-controller",
)


# --------------------------------------------------------------------------------------
# errors


class LocalEnvError(RuntimeError):
    """Something in the local environment could not be started, reached or stopped."""


class LocalEnvNotUp(LocalEnvError):
    """The shared environment (``make up``) is not running."""


class ComponentError(LocalEnvError):
    """A component failed to start or to become ready; carries the path of its log."""

    def __init__(self, component: str, message: str, log: Optional[os.PathLike] = None):
        super().__init__(f"{component}: {message}")
        self.logs: List[str] = []
        self.component = component
        self.message = message
        self.log = str(log) if log else None

    def describe(self, lines: int = 40) -> str:
        text = str(self)
        if self.log:
            text += f"\n--- last {lines} lines of {self.log} ---\n" + log_tail(self.log, lines)
        return text


def log_tail(path: os.PathLike, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(data.splitlines()[-lines:])


# --------------------------------------------------------------------------------------
# tiny YAML writer (JSON-quoted scalars are valid YAML; enough for kubeconfig and the
# registry's config.yml without a YAML library)

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _yaml_scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return json.dumps(str(value))


def _yaml_lines(obj: Any, level: int) -> List[str]:
    pad = "  " * level
    out: List[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            k = key if _PLAIN_KEY.match(str(key)) else json.dumps(str(key))
            if isinstance(value, (dict, list, tuple)) and value:
                out.append(f"{pad}{k}:")
                out.extend(_yaml_lines(value, level + 1))
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(value)}")
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            if isinstance(item, (dict, list, tuple)) and item:
                sub = _yaml_lines(item, level + 1)
                sub[0] = pad + "- " + sub[0].lstrip()
                out.extend(sub)
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        out.append(pad + _yaml_scalar(obj))
    return out


def to_yaml(obj: Any) -> str:
    return "\n".join(_yaml_lines(obj, 0)) + "\n"


def write_file(path: os.PathLike, text: str, mode: int = 0o644) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------
# free loopback ports

_handed_out: set = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on, chosen below the kernel's ephemeral range so that an
    outgoing connection cannot grab it between now and the moment our server binds it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 12000)
    for _attempt in range(200):
        port = random.randint(10000, low - 1)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise LocalEnvError("no free loopback port found")


# --------------------------------------------------------------------------------------
# processes


def _proc_stat(pid: int) -> Optional[List[str]]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # fields after "(comm)": index 0 is field 3 (state), index 19 is field 22 (starttime)
    return raw[raw.rindex(")") + 2:].split()


def proc_starttime(pid: int) -> Optional[int]:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def pid_alive(pid: int, starttime: Optional[int] = None) -> bool:
    """True if ``pid`` runs (zombies count as gone) and, when given, started at ``starttime``
    (so that a recycled PID is never mistaken for ours)."""
    fields = _proc_stat(pid)
    if not fields or fields[0] in ("Z", "X", "x"):
        return False
    return starttime is None or int(fields[19]) == int(starttime)


@dataclasses.dataclass
class Process:
    name: str
    pid: int
    argv: List[str]
    log: str
    starttime: Optional[int] = None
    popen: Optional[subprocess.Popen] = dataclasses.field(default=None, repr=False, compare=False)

    def alive(self) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return pid_alive(self.pid, self.starttime)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)

    def stop(self, timeout: float = 15.0) -> None:
        stop_processes([self], timeout=timeout)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "starttime": self.starttime,
                "argv": list(self.argv), "log": self.log}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Process":
        return cls(name=data["name"], pid=int(data["pid"]), argv=list(data.get("argv", [])),
                   log=data.get("log", ""), starttime=data.get("starttime"))


def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment for child processes: ours minus settings that would reconfigure
    them behind our back (REGISTRY_* overrides the registry config, ETCD_* etcd flags,
    proxies would send loopback traffic elsewhere)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REGISTRY_", "ETCD_", "OTEL_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(extra or {})
    return env


def spawn(name: str, argv: Sequence[str], log: os.PathLike, env: Optional[Dict[str, str]] = None,
          cwd: Optional[os.PathLike] = None) -> Process:
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(a) for a in argv]
    if not os.access(argv[0], os.X_OK):
        raise ComponentError(name, f"executable {argv[0]} not found (run `make bootstrap`)")
    with open(log, "ab") as fh:
        fh.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        fh.flush()
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                 env=env if env is not None else clean_env(), cwd=cwd,
                                 start_new_session=True, close_fds=True)
    return Process(name=name, pid=popen.pid, argv=argv, log=str(log),
                   starttime=proc_starttime(popen.pid), popen=popen)


def stop_processes(procs: Iterable[Process], timeout: float = 15.0, kill_timeout: float = 5.0) -> List[Process]:
    """SIGTERM exactly these PIDs, SIGKILL whatever still runs after ``timeout`` seconds, and
    return the processes that are still alive after that (empty when all went away)."""
    procs = [p for p in procs if p.alive()]
    for sig, bound in ((signal.SIGTERM, timeout), (signal.SIGKILL, kill_timeout)):
        for p in procs:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            except PermissionError as exc:
                raise LocalEnvError(f"cannot signal {p.name} (pid {p.pid}): {exc}") from exc
        deadline = time.monotonic() + bound
        while procs and time.monotonic() < deadline:
            time.sleep(0.1)
            procs = [p for p in procs if p.alive()]
        if not procs:
            break
    for p in procs:
        p.alive()  # reap our own children
    return [p for p in procs if p.alive()]


def wait_for(check: Callable[[], Any], timeout: float, what: str, component: str,
             proc: Optional[Process] = None, interval: float = 0.25) -> Any:
    """Poll ``check()`` until it returns something truthy; raise ComponentError (with the
    component's log) on timeout or when ``proc`` dies."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        if proc is not None and not proc.alive():
            raise ComponentError(component, f"exited while waiting for {what}", proc.log)
        try:
            result = check()
            if result:
                return result
            last = result
        except Exception as exc:  # noqa: BLE001 - anything counts as "not yet"
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise ComponentError(component, f"not ready after {timeout:.0f}s waiting for {what} "
                                            f"(last result: {last})", proc.log if proc else None)
        time.sleep(interval)


# --------------------------------------------------------------------------------------
# HTTP (stdlib, no proxies)


def ssl_context(ca: Optional[os.PathLike] = None, cert: Optional[os.PathLike] = None,
                key: Optional[os.PathLike] = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    if cert:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


def http_request(url: str, method: str = "GET", context: Optional[ssl.SSLContext] = None,
                 headers: Optional[Dict[str, str]] = None, data: Optional[bytes] = None,
                 basic: Optional[Tuple[str, str]] = None, timeout: float = 5.0) -> Tuple[int, Dict[str, str], bytes]:
    """One request; returns (status, headers, body) also for 4xx/5xx."""
    handlers: List[Any] = [urllib.request.ProxyHandler({})]
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=context or ssl.create_default_context()))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if basic:
        token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


# --------------------------------------------------------------------------------------
# PKI with the openssl CLI (EC P-256 keys, SKI/AKI and critical basicConstraints so that
# Python 3.13's VERIFY_X509_STRICT accepts the chain)


@dataclasses.dataclass
class CertPair:
    cert: str
    key: str


def _openssl(*args: str, cwd: Optional[os.PathLike] = None, stdin: Optional[bytes] = None) -> bytes:
    try:
        res = subprocess.run(["openssl", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise LocalEnvError("openssl not found (run `make bootstrap`)") from exc
    if res.returncode != 0:
        raise LocalEnvError(f"openssl {' '.join(args[:2])} failed: {res.stderr.decode(errors='replace').strip()}")
    return res.stdout


def gen_key(path: os.PathLike) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    os.chmod(path, 0o600)
    return str(path)


def _req_config(cn: str, orgs: Sequence[str], ext: Dict[str, str]) -> str:
    lines = ["[req]", "distinguished_name = dn", "prompt = no", "[dn]"]
    lines += [f"{i}.O = {o}" for i, o in enumerate(orgs)]
    lines += [f"CN = {cn}", "[ext]"]
    lines += [f"{k} = {v}" for k, v in ext.items()]
    return "\n".join(lines) + "\n"


def _serial() -> str:
    return "0x" + secrets.token_hex(15)


def make_ca(directory: os.PathLike, name: str = "ca", cn: str = "registrylink local CA", days: int = 365) -> CertPair:
    directory = Path(directory)
    key = gen_key(directory / f"{name}.key")
    cfg = write_file(directory / f"{name}.cnf", _req_config(cn, (), {
        "basicConstraints": "critical,CA:TRUE",
        "keyUsage": "critical,keyCertSign,cRLSign,digitalSignature",
        "subjectKeyIdentifier": "hash",
        "authorityKeyIdentifier": "keyid:always",
    }))
    crt = directory / f"{name}.crt"
    _openssl("req", "-x509", "-new", "-config", str(cfg), "-extensions", "ext", "-key", key,
             "-sha256", "-days", str(days), "-set_serial", _serial(), "-out", str(crt))
    return CertPair(str(crt), key)


def make_cert(directory: os.PathLike, name: str, ca: CertPair, cn: str, orgs: Sequence[str] = (),
              sans: Sequence[str] = (), usage: str = "server", days: int = 365) -> CertPair:
    """A leaf certificate signed by ``ca``. ``sans`` are IPs or DNS names; ``usage`` is
    server, client or both."""
    directory = Path(directory)
    key = gen_key(directory / f"{name}.key")
    eku = {"server": "serverAuth", "client": "clientAuth", "both": "serverAuth,clientAuth"}[usage]
    ext = {
        "basicConstraints": "critical,CA:FALSE",
        "keyUsage": "critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage": eku,
        "subjectKeyIdentifier": "hash",
        "authorityKeyIdentifier": "keyid:always",
    }
    if sans:
        ext["subjectAltName"] = ",".join(
            ("IP:" if re.fullmatch(r"[0-9.]+", s) or ":" in s else "DNS:") + s for s in sans)
    cfg = write_file(directory / f"{name}.cnf", _req_config(cn, orgs, ext))
    csr = directory / f"{name}.csr"
    crt = directory / f"{name}.crt"
    _openssl("req", "-new", "-config", str(cfg), "-key", key, "-out", str(csr))
    _openssl("x509", "-req", "-in", str(csr), "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", _serial(),
             "-sha256", "-days", str(days), "-extfile", str(cfg), "-extensions", "ext", "-out", str(crt))
    csr.unlink()
    return CertPair(str(crt), key)


def make_signing_key(directory: os.PathLike, name: str = "sa") -> Tuple[str, str]:
    """Private key + public key PEM (ServiceAccount token signing)."""
    key = gen_key(Path(directory) / f"{name}.key")
    pub = str(Path(directory) / f"{name}.pub")
    _openssl("pkey", "-in", key, "-pubout", "-out", pub)
    return key, pub


def _b64file(path: os.PathLike) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


# --------------------------------------------------------------------------------------
# kubeconfig


@dataclasses.dataclass
class KubeAccess:
    name: str          # used for cluster, user and context
    server: str
    ca: str
    cert: str
    key: str


def kubeconfig_text(entries: Sequence[KubeAccess], current: Optional[str] = None, namespace: str = "default") -> str:
    return to_yaml({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": e.name, "cluster": {
            "server": e.server, "certificate-authority-data": _b64file(e.ca)}} for e in entries],
        "users": [{"name": e.name, "user": {
            "client-certificate-data": _b64file(e.cert),
            "client-key-data": _b64file(e.key)}} for e in entries],
        "contexts": [{"name": e.name, "context": {
            "cluster": e.name, "user": e.name, "namespace": namespace}} for e in entries],
        "current-context": current or (entries[0].name if entries else ""),
    })


# --------------------------------------------------------------------------------------
# one Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager

# The API server's audit policy: one line (level Metadata: user, verb, resource, namespace, name,
# response code; never a request or response body, so no Secret data) per request made by anyone
# but the control plane's own components and the node. The control plane and the kubelet write
# leases, events, node and Pod status and namespace cleanups on their own timing; a test that asks
# "did this task write anything" reads only the lines of the credentials the task used.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: [system:kube-controller-manager, system:kube-scheduler, system:apiserver]
  - level: None
    userGroups: [system:nodes]
  - level: None
    resources:
      - {group: coordination.k8s.io, resources: [leases]}
      - {group: "", resources: [events]}
      - {group: events.k8s.io, resources: [events]}
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/metrics"]
  - level: Metadata
"""


@dataclasses.dataclass
class Cluster:
    """One control plane. ``api()`` talks to it as the system:masters admin."""

    name: str
    workdir: str
    log_dir: str
    etcd_data: str
    api_port: int = 0
    etcd_port: int = 0
    etcd_peer_port: int = 0
    scheduler_port: int = 0
    processes: List[Process] = dataclasses.field(default_factory=list)
    node: Any = None  # tests.support.node.Node when the cluster has one

    # -- files
    @property
    def pki(self) -> Path:
        return Path(self.workdir) / "pki"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca(self) -> str:
        return str(self.pki / "ca.crt")

    @property
    def audit_log(self) -> str:
        """The API server's audit log (JSON lines; see ``AUDIT_POLICY``)."""
        return str(Path(self.workdir) / "audit.log")

    def admin(self) -> KubeAccess:
        return KubeAccess(self.name, self.server, self.ca, str(self.pki / "admin.crt"), str(self.pki / "admin.key"))

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "context": self.name, "server": self.server, "api_port": self.api_port,
                "etcd_port": self.etcd_port, "etcd_peer_port": self.etcd_peer_port,
                "etcd_url": f"http://127.0.0.1:{self.etcd_port}", "workdir": self.workdir,
                "etcd_data": self.etcd_data, "ca": self.ca,
                "admin_cert": str(self.pki / "admin.crt"), "admin_key": str(self.pki / "admin.key"),
                "sa_key": str(self.pki / "sa.key"), "sa_pub": str(self.pki / "sa.pub"),
                "audit_log": self.audit_log,
                "node": self.node.to_dict() if self.node is not None else None}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Cluster":
        """Enough of a recorded cluster to talk to its API server (``api()``)."""
        return cls(name=data["name"], workdir=data["workdir"], log_dir="", etcd_data=data.get("etcd_data", ""),
                   api_port=data["api_port"])

    def api(self, path: str, method: str = "GET", body: Any = None, timeout: float = 5.0) -> Tuple[int, Any]:
        ctx = ssl_context(self.ca, self.pki / "admin.crt", self.pki / "admin.key")
        data = json.dumps(body).encode() if body is not None else None
        status, _headers, raw = http_request(
            self.server + path, method=method, context=ctx, data=data, timeout=timeout,
            headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    # -- lifecycle
    def prepare(self) -> None:
        """Ports and PKI (no process yet)."""
        self.api_port = self.api_port or free_port()
        self.etcd_port = self.etcd_port or free_port()
        self.etcd_peer_port = self.etcd_peer_port or free_port()
        self.scheduler_port = self.scheduler_port or free_port()
        pki = self.pki
        pki.mkdir(parents=True, exist_ok=True)
        ca = make_ca(pki, "ca", cn=f"{self.name} cluster CA")
        make_cert(pki, "apiserver", ca, cn="localhost", sans=("127.0.0.1", "localhost", "kubernetes",
                                                              "kubernetes.default", "kubernetes.default.svc",
                                                              "10.0.0.1"))
        make_cert(pki, "admin", ca, cn="admin", orgs=("system:masters",), usage="client")
        make_cert(pki, "kcm", ca, cn="system:kube-controller-manager", orgs=("system:masters",), usage="client")
        # the identity the default RBAC policy binds to the scheduler's ClusterRoles
        make_cert(pki, "scheduler", ca, cn="system:kube-scheduler", usage="client")
        make_signing_key(pki, "sa")
        write_file(Path(self.workdir) / "kcm.kubeconfig", kubeconfig_text([KubeAccess(
            self.name, self.server, self.ca, str(pki / "kcm.crt"), str(pki / "kcm.key"))]), 0o600)
        write_file(Path(self.workdir) / "scheduler.kubeconfig", kubeconfig_text([KubeAccess(
            self.name, self.server, self.ca, str(pki / "scheduler.crt"), str(pki / "scheduler.key"))]), 0o600)

    def ca_pair(self) -> CertPair:
        return CertPair(self.ca, str(self.pki / "ca.key"))

    def start_etcd(self) -> Process:
        Path(self.etcd_data).mkdir(parents=True, exist_ok=True)
        os.chmod(self.etcd_data, 0o700)
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        proc = spawn(f"etcd-{self.name}", [
            ETCD_BIN, f"--name={self.name}", f"--data-dir={self.etcd_data}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={self.name}={peer}", "--initial-cluster-state=new",
            "--logger=zap", "--log-outputs=stderr",
        ], Path(self.log_dir) / f"etcd-{self.name}.log")
        self.processes.append(proc)
        return proc

    def wait_etcd(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            status, _headers, body = http_request(f"http://127.0.0.1:{self.etcd_port}/health", timeout=2)
            return status == 200 and json.loads(body).get("health") in ("true", True)
        wait_for(healthy, timeout, "etcd /health", f"etcd-{self.name}", self._proc("etcd"))

    def start_apiserver(self, extra_args: Sequence[str] = ()) -> Process:
        pki = self.pki
        kube_apiserver = kube_bin_dir() / "kube-apiserver"
        proc = spawn(f"kube-apiserver-{self.name}", [
            kube_apiserver,
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.api_port}",
            f"--cert-dir={pki}", f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            # a real node: the Node authorizer and NodeRestriction admission confine each kubelet
            # to its own Node and Pods (the mode list is given once: the flag accumulates)
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--service-cluster-ip-range=10.0.0.0/24",
            f"--service-account-issuer=https://127.0.0.1:{self.api_port}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            # who did what: tests count the requests a task made with its own credentials here
            # (the control plane's and the node's own traffic is not logged, see AUDIT_POLICY)
            f"--audit-policy-file={write_file(Path(self.workdir) / 'audit-policy.yaml', AUDIT_POLICY)}",
            f"--audit-log-path={self.audit_log}", "--audit-log-maxsize=0", "--audit-log-mode=blocking",
            # ServiceAccount admission stays ON (the default plugin set): KCM creates the
            # default ServiceAccount, so pods get it like on a real cluster.
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            # Bench loads: a bigger in-flight budget. APF stays on (as in real clusters): the
            # admin user is in system:masters, which the built-in `exempt` FlowSchema never queues.
            "--max-requests-inflight=800", "--max-mutating-requests-inflight=400",
            "--delete-collection-workers=4",
            *extra_args,
        ], Path(self.log_dir) / f"kube-apiserver-{self.name}.log")
        self.processes.append(proc)
        return proc

    def wait_apiserver(self, timeout: float = 120) -> None:
        proc = self._proc("kube-apiserver")
        comp = f"kube-apiserver-{self.name}"
        wait_for(lambda: self.api("/readyz", timeout=3)[0] == 200, timeout, "/readyz", comp, proc)
        wait_for(lambda: self.api("/api/v1/namespaces/default")[0] == 200, 30, "namespace default", comp, proc)

    def start_controller_manager(self, extra_args: Sequence[str] = ()) -> Process:
        pki = self.pki
        proc = spawn(f"kube-controller-manager-{self.name}", [
            kube_bin_dir() / "kube-controller-manager",
            f"--kubeconfig={Path(self.workdir) / 'kcm.kubeconfig'}",
            f"--controllers={','.join(KCM_CONTROLLERS)}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=false",
            "--leader-elect=false",
            "--secure-port=0",
            "--kube-api-qps=200", "--kube-api-burst=400",
            "--concurrent-namespace-syncs=20",
            *extra_args,
        ], Path(self.log_dir) / f"kube-controller-manager-{self.name}.log")
        self.processes.append(proc)
        return proc

    def start_scheduler(self, extra_args: Sequence[str] = ()) -> Process:
        proc = spawn(f"kube-scheduler-{self.name}", [
            kube_bin_dir() / "kube-scheduler",
            f"--kubeconfig={Path(self.workdir) / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={Path(self.workdir) / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={Path(self.workdir) / 'scheduler.kubeconfig'}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={self.scheduler_port}",
            *extra_args,
        ], Path(self.log_dir) / f"kube-scheduler-{self.name}.log")
        self.processes.append(proc)
        return proc

    def wait_controller_manager(self, timeout: float = 60) -> None:
        """Create a namespace, wait for its `default` ServiceAccount, delete it again."""
        proc = self._proc("kube-controller-manager")
        comp = f"kube-controller-manager-{self.name}"
        ns = f"localenv-check-{secrets.token_hex(3)}"
        status, body = self.api("/api/v1/namespaces", "POST", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        if status != 201:
            raise ComponentError(f"kube-apiserver-{self.name}", f"creating namespace {ns}: HTTP {status} {body}",
                                 self._proc("kube-apiserver").log)
        wait_for(lambda: self.api(f"/api/v1/namespaces/{ns}/serviceaccounts/default")[0] == 200, timeout,
                 f"ServiceAccount default in new namespace {ns}", comp, proc)
        self.api(f"/api/v1/namespaces/{ns}", "DELETE")

    def _proc(self, kind: str) -> Optional[Process]:
        for p in self.processes:
            if p.name == f"{kind}-{self.name}":
                return p
        return None


# --------------------------------------------------------------------------------------
# distribution registry


def registry_config(port: int, rootdirectory: os.PathLike, *, tls: Optional[CertPair] = None,
                    auth: Optional[str] = "htpasswd", htpasswd: Optional[os.PathLike] = None,
                    delete_enabled: bool = True, token_realm: Optional[str] = None,
                    token_service: Optional[str] = None, token_issuer: Optional[str] = None,
                    token_rootcertbundle: Optional[os.PathLike] = None, log_level: str = "info") -> Dict[str, Any]:
    """The config.yml of CNCF distribution 2.8 (Debian ``docker-registry``) as a dict."""
    http: Dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16),
                            "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if tls:
        http["tls"] = {"certificate": tls.cert, "key": tls.key}
    cfg: Dict[str, Any] = {
        "version": "0.1",
        "log": {"level": log_level, "formatter": "text", "accesslog": {"disabled": True},
                "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(rootdirectory)},
            "delete": {"enabled": bool(delete_enabled)},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if auth == "htpasswd":
        if not htpasswd:
            raise ValueError("auth='htpasswd' needs an htpasswd file")
        cfg["auth"] = {"htpasswd": {"realm": "registrylink-local", "path": str(htpasswd)}}
    elif auth == "token":
        missing = [n for n, v in (("token_realm", token_realm), ("token_service", token_service),
                                  ("token_rootcertbundle", token_rootcertbundle)) if not v]
        if missing:
            raise ValueError(f"auth='token' needs {', '.join(missing)}")
        cfg["auth"] = {"token": {"realm": token_realm, "service": token_service,
                                 "issuer": token_issuer or "registrylink-token-issuer",
                                 "rootcertbundle": str(token_rootcertbundle)}}
    elif auth is not None:
        raise ValueError(f"auth must be 'htpasswd', 'token' or None, not {auth!r}")
    return cfg


def write_htpasswd(path: os.PathLike, username: str, password: str) -> str:
    """bcrypt entry (the only hash distribution accepts) via ``htpasswd -B``; the password
    goes through stdin, never argv."""
    try:
        res = subprocess.run(["htpasswd", "-B", "-i", "-n", username], input=password.encode(),
                             capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise LocalEnvError("htpasswd not found (apt-get install apache2-utils, or `make bootstrap`)") from exc
    if res.returncode != 0:
        raise LocalEnvError(f"htpasswd failed: {res.stderr.decode(errors='replace').strip()}")
    write_file(path, res.stdout.decode().strip() + "\n", 0o600)
    return str(path)


@dataclasses.dataclass
class Registry:
    """A running distribution registry. ``url`` is https://127.0.0.1:PORT (http:// without
    TLS), ``host`` is 127.0.0.1:PORT (the registry server / key of a .dockerconfigjson)."""

    host: str
    port: int
    url: str
    ca: Optional[str]
    username: Optional[str]
    password: Optional[str] = dataclasses.field(repr=False)
    auth: Optional[str]
    tls: bool
    delete_enabled: bool
    workdir: str
    config: str
    data: str
    process: Optional[Process] = dataclasses.field(default=None, repr=False)
    ca_key: Optional[str] = dataclasses.field(default=None, repr=False)

    @property
    def user(self) -> Optional[str]:
        return self.username

    @property
    def log(self) -> Optional[str]:
        return self.process.log if self.process else None

    def stop(self) -> None:
        if self.process is not None:
            left = stop_processes([self.process])
            if left:
                raise LocalEnvError(f"registry pid {self.process.pid} did not stop")

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def to_dict(self) -> Dict[str, Any]:
        return {"host": self.host, "port": self.port, "url": self.url, "ca": self.ca,
                "username": self.username, "password": self.password, "auth": self.auth, "tls": self.tls,
                "delete_enabled": self.delete_enabled, "workdir": self.workdir, "config": self.config,
                "data": self.data, "log": self.log}


def start_registry(workdir: os.PathLike, auth: Optional[str] = "htpasswd", delete_enabled: bool = True,
                   tls: bool = True, token_realm: Optional[str] = None, token_service: Optional[str] = None,
                   token_rootcertbundle: Optional[os.PathLike] = None, token_issuer: Optional[str] = None,
                   username: Optional[str] = None, password: Optional[str] = None, port: Optional[int] = None,
                   ca: Optional[CertPair] = None, log: Optional[os.PathLike] = None,
                   timeout: float = 30.0, sans: Sequence[str] = ()) -> Registry:
    """Start a distribution registry on a free loopback port and wait until /v2/ answers
    (401 with auth, 200 without).

    - ``auth``: 'htpasswd' (random user/password unless given), 'token' (needs
      ``token_realm``, ``token_service``, ``token_rootcertbundle``; ``token_issuer`` defaults
      to 'registrylink-token-issuer') or None (anonymous).
    - ``tls``: serve HTTPS with a certificate for 127.0.0.1 and localhost signed by ``ca``
      (a CertPair) or by a new CA written to ``<workdir>/ca.crt``; False serves plain HTTP.
      ``sans``: more names for the certificate (a login server name that a proxy routes here).
    - ``delete_enabled``: ``storage.delete.enabled``.

    Returns a Registry (url, host, port, ca, username, password, stop(); usable as a
    context manager). Storage, config and log live under ``workdir``.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    server = None
    ca_cert = ca_key = None
    if tls:
        ca = ca or make_ca(workdir, "ca", cn="registrylink registry CA")
        ca_cert, ca_key = ca.cert, ca.key
        server = make_cert(workdir, "server", ca, cn="localhost", sans=("127.0.0.1", "localhost", *sans))
    htpasswd = None
    if auth == "htpasswd":
        username = username or f"rl-{secrets.token_hex(3)}"
        password = password or secrets.token_urlsafe(18)
        htpasswd = write_htpasswd(workdir / "htpasswd", username, password)
    cfg = registry_config(port, data, tls=server, auth=auth, htpasswd=htpasswd, delete_enabled=delete_enabled,
                          token_realm=token_realm, token_service=token_service, token_issuer=token_issuer,
                          token_rootcertbundle=token_rootcertbundle)
    config = write_file(workdir / "config.yml", to_yaml(cfg), 0o600)
    proc = spawn("registry", [REGISTRY_BIN, "serve", str(config)], log or workdir / "registry.log")
    host = f"127.0.0.1:{port}"
    reg = Registry(host=host, port=port, url=("https://" if tls else "http://") + host, ca=ca_cert,
                   username=username if auth == "htpasswd" else None,
                   password=password if auth == "htpasswd" else None, auth=auth, tls=tls,
                   delete_enabled=delete_enabled, workdir=str(workdir), config=str(config), data=str(data),
                   process=proc, ca_key=ca_key)
    expect = 200 if auth is None else 401
    ctx = ssl_context(ca_cert) if tls else None
    try:
        wait_for(lambda: http_request(reg.url + "/v2/", context=ctx, timeout=2)[0] == expect, timeout,
                 f"/v2/ answering {expect}", "registry", proc)
    except BaseException:
        stop_processes([proc])
        raise
    return reg


# --------------------------------------------------------------------------------------
# moto (AWS IAM / STS / ECR in server mode)


def start_moto(port: int, log: os.PathLike, venv: os.PathLike = REPO_ROOT / ".venv") -> Process:
    return spawn("moto", [Path(venv) / "bin" / "moto_server", "-H", "127.0.0.1", "-p", str(port)], log,
                 env=clean_env({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                                "AWS_DEFAULT_REGION": "us-east-1"}))


def moto_ready(url: str) -> bool:
    # STS GetCallerIdentity needs no prior state and proves the server parses AWS queries.
    status, _headers, body = http_request(
        url + "/", method="POST", data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/"
                                  "us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0"},
        timeout=3)
    return status == 200 and b"GetCallerIdentityResult" in body


# --------------------------------------------------------------------------------------
# a set of clusters (hack/localenv.py `up`, tests/bench/privenv.py): one start sequence


def start_clusters(root: os.PathLike, n: int, state: Dict[str, Any], save: Callable[[], None],
                   etcd_root: os.PathLike, timeout: float = 120.0, nodes: bool = True,
                   registry: Optional[Dict[str, Any]] = None, say: Callable[[str], None] = lambda _m: None,
                   node_timeout: float = 90.0) -> List["Cluster"]:
    """Start ``n`` clusters ``local-1..n`` under ``root`` (``cluster-N/``; logs in
    ``state["logs"]``): per cluster etcd, kube-apiserver, kube-controller-manager,
    kube-scheduler and, with ``nodes``, one real node (containerd + kubelet) that trusts
    ``registry`` (``{"host", "ca"}``). Every process goes into ``state["processes"]`` and the
    layout (ports, node names, cgroup roots, bridges) into ``state["clusters"]`` before it
    starts, and ``save()`` is called each time, so that a failed start can be cleaned up
    from the state alone (``stop_environment``). Returns when every API server is ready,
    every namespace gets its ``default`` ServiceAccount and every node is Ready; raises
    ComponentError (a NodeError carries the kubelet's and containerd's log tails) otherwise."""
    from tests.support import node as nodes_mod  # noqa: PLC0415 - node.py imports this module

    root = Path(root)
    logs = Path(state["logs"])

    def track(proc: Process) -> Process:
        state["processes"].append(proc.to_dict())
        save()
        return proc

    cls = [Cluster(name=f"local-{i}", workdir=str(root / f"cluster-{i}"), log_dir=str(logs),
                   etcd_data=str(Path(etcd_root) / f"etcd-{i}")) for i in range(1, n + 1)]
    for c in cls:
        c.prepare()
        if nodes:
            c.node = nodes_mod.Node(cluster=c.name, index=int(c.name.rsplit("-", 1)[1]), env_root=str(root),
                                    workdir=c.workdir, log_dir=str(logs))
            c.node.prepare(c.ca_pair(), c.server, (registry or {}).get("host"), (registry or {}).get("ca"))
    state["clusters"] = [c.to_dict() for c in cls]
    save()
    for c in cls:
        track(c.start_etcd())
    pause = None
    if nodes:
        pause = nodes_mod.build_pause_image()
        for c in cls:
            track(c.node.start_containerd())
    for c in cls:
        c.wait_etcd(timeout)
        track(c.start_apiserver())
    for c in cls:
        c.wait_apiserver(timeout)
        track(c.start_controller_manager())
        track(c.start_scheduler())
    if nodes:
        for c in cls:
            c.node.wait_containerd(timeout)
            c.node.import_pause(pause)
        state["node_sysctls_before"] = nodes_mod.hold_sysctls(root)
        save()
        t0 = time.monotonic()
        for c in cls:
            track(c.node.start_kubelet())
    for c in cls:
        c.wait_controller_manager(timeout)
    if nodes:
        for c in cls:
            c.node.wait_ready(c.api, node_timeout)
        state["node_ready_seconds"] = round(time.monotonic() - t0, 1)
        say(f"{len(cls)} node(s) Ready {state['node_ready_seconds']}s after the kubelets started")
    state["clusters"] = [c.to_dict() for c in cls]
    save()
    return cls


# stop order: what creates Pods first, then the kubelets (after their Pods are gone), the
# runtimes, the other clients, and storage last
_STOP_TIERS = (("kube-controller-manager", "kube-scheduler"), ("kubelet",), ("containerd",),
               ("moto", "registry"), ("kube-apiserver",), ("etcd",))


def _kubelets_running(root: str) -> bool:
    """Whether the environment at ``root`` holds the host's kubelet sysctls: one of its kubelets
    runs, or one of its containerds (an `up` registers itself between its containerds and its
    kubelets, so in that moment it has no kubelet yet but will start one)."""
    raw = read_state(Path(root) / "state.json")
    if not raw:
        return False
    return any(Process.from_dict(p).alive() for p in raw.get("processes", [])
               if p["name"].startswith(("kubelet-", "containerd-")))


def stop_environment(state: Dict[str, Any], say: Callable[[str], None] = lambda _m: None) -> Tuple[List[Process], List[str]]:
    """Stop everything ``state`` records and remove what its nodes leave on the host.

    Pods are drained first (each kubelet removes its containers, volume mounts and cgroups
    before the API object goes), then kubelets, containerd (after killing its remaining
    tasks), the rest; then ``node.sweep`` removes leftovers (shims, mounts, cgroups, the CNI
    bridge and cache, shim sockets) and the kubelet's host sysctls are put back when no other
    environment runs kubelets. Returns (processes still alive, problems of the sweep)."""
    from tests.support import node as nodes_mod  # noqa: PLC0415

    procs = [Process.from_dict(p) for p in state.get("processes", [])]
    clusters = [c for c in state.get("clusters", []) if isinstance(c, dict)]
    node_clusters = [c for c in clusters if c.get("node")]
    left: List[Process] = []
    for tier in _STOP_TIERS:
        if tier == ("kubelet",):
            apis = {p.name for p in procs if p.name.startswith("kube-apiserver-") and p.alive()}
            kubelets = {p.name for p in procs if p.name.startswith("kubelet-") and p.alive()}
            for c in node_clusters:
                if f"kube-apiserver-{c['name']}" in apis and f"kubelet-{c['name']}" in kubelets:
                    stuck = nodes_mod.Node.from_dict(c["node"]).drain(Cluster.from_dict(c).api)
                    if stuck:
                        say(f"{c['name']}: pods not removed by the kubelet in time: {', '.join(stuck[:5])}")
        if tier == ("containerd",):
            for c in node_clusters:
                if any(p.name == f"containerd-{c['name']}" and p.alive() for p in procs):
                    nodes_mod.Node.from_dict(c["node"]).remove_tasks()
        left += stop_processes([p for p in procs if p.name.startswith(tier)], timeout=15, kill_timeout=5)
    left += stop_processes([p for p in procs if not p.name.startswith(sum(_STOP_TIERS, ()))])
    problems: List[str] = []
    for c in node_clusters:
        problems += nodes_mod.sweep(c["node"])
    if node_clusters or state.get("node_sysctls_before"):
        nodes_mod.release_sysctls(state.get("root", ""), _kubelets_running)
    return [p for p in left if p.alive()], problems


# --------------------------------------------------------------------------------------
# the shared environment's state (written by hack/localenv.py)


@dataclasses.dataclass
class RegistryInfo:
    url: str
    host: str
    port: int
    ca: str
    username: str
    password: str = dataclasses.field(repr=False)

    @property
    def user(self) -> str:
        return self.username


@dataclasses.dataclass
class LocalEnv:
    """What ``make up`` started, read from .localenv/state.json."""

    state_file: str
    raw: Dict[str, Any]

    @property
    def kubeconfig(self) -> str:
        return self.raw["kubeconfig"]

    @property
    def contexts(self) -> List[str]:
        return [c["context"] for c in self.raw["clusters"]]

    @property
    def clusters(self) -> List[Dict[str, Any]]:
        return self.raw["clusters"]

    @property
    def registry(self) -> RegistryInfo:
        r = self.raw["registry"]
        return RegistryInfo(url=r["url"], host=r["host"], port=r["port"], ca=r["ca"],
                            username=r["username"], password=r["password"])

    @property
    def moto_url(self) -> str:
        return self.raw["moto"]["url"]

    @property
    def env(self) -> Dict[str, str]:
        """The variables .localenv/env.sh exports."""
        return dict(self.raw["env"])

    def subprocess_env(self, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """``base`` (default os.environ) + what sourcing env.sh gives: for running
        ansible-playbook, kubectl or hack scripts against the environment."""
        env = dict(os.environ if base is None else base)
        env.update(self.env)
        env["PATH"] = os.pathsep.join(list(self.raw.get("path_prepend", [])) + [env.get("PATH", "")])
        no_proxy = [h for h in env.get("NO_PROXY", "").split(",") if h]
        env["NO_PROXY"] = env["no_proxy"] = ",".join(["127.0.0.1", "localhost"] + no_proxy)
        return env

    @property
    def processes(self) -> List[Process]:
        return [Process.from_dict(p) for p in self.raw["processes"]]

    def cluster(self, context: str = "local-1") -> Dict[str, Any]:
        for c in self.raw["clusters"]:
            if c["context"] == context:
                return c
        raise KeyError(f"no context {context!r} in the local environment (has {', '.join(self.contexts)})")


def read_state(path: Optional[os.PathLike] = None) -> Optional[Dict[str, Any]]:
    path = Path(path or os.environ.get("REGISTRYLINK_LOCALENV") or STATE_FILE)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def load_state(path: Optional[os.PathLike] = None, check_alive: bool = True) -> LocalEnv:
    """The running shared environment. Raises LocalEnvNotUp ("local environment is not up:
    run `make up`") when there is no state or one of its processes is gone: tests that need
    the environment fail with that message, they never skip."""
    path = Path(path or os.environ.get("REGISTRYLINK_LOCALENV") or STATE_FILE)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise LocalEnvNotUp(f"{NOT_UP} (no {path})") from None
    except ValueError as exc:
        raise LocalEnvNotUp(f"{NOT_UP} ({path} is unreadable: {exc})") from None
    if raw.get("phase") != "up":
        raise LocalEnvNotUp(f"{NOT_UP} (state {path} is {raw.get('phase')!r}, not 'up')")
    env = LocalEnv(state_file=str(path), raw=raw)
    if check_alive:
        dead = [p.name for p in env.processes if not p.alive()]
        if dead:
            raise LocalEnvNotUp(f"{NOT_UP} ({', '.join(dead)} not running; `make down && make up` restarts)")
    return env


def restart_apiserver(env: "LocalEnv", context: str = "local-1", kill: bool = True,
                      down_hook: Optional[Callable[[], None]] = None, timeout: float = 120.0) -> Process:
    """Stop a cluster's kube-apiserver (SIGKILL when ``kill``, as in a crash; else SIGTERM) and
    start it again with the same command line and log; record the new process in the state file
    (so ``load_state`` finds it alive) and wait until it is ready. ``down_hook()`` runs while it
    is down. Tests of faults use it; etcd and the other components keep running."""
    cluster = env.cluster(context)
    name = f"kube-apiserver-{cluster['name']}"
    entry = next((p for p in env.raw["processes"] if p["name"] == name), None)
    if entry is None:
        raise LocalEnvError(f"no {name} in {env.state_file}")
    old = Process.from_dict(entry)
    if kill:
        try:
            os.kill(old.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while old.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        stop_processes([old])
    if old.alive():
        raise LocalEnvError(f"{name} (pid {old.pid}) did not stop")
    if down_hook is not None:
        down_hook()
    restarted = time.time()
    proc = spawn(name, old.argv, old.log)
    entry.update(proc.to_dict())
    write_file(env.state_file, json.dumps(env.raw, indent=2) + "\n", 0o600)
    api = Cluster.from_dict(cluster)
    wait_for(lambda: api.api("/readyz", timeout=3)[0] == 200, timeout, "/readyz after restart", name, proc)
    wait_nodes_schedulable(api, since=restarted, timeout=timeout)
    return proc


#: Taints the node lifecycle controller puts on a node whose kubelet it has not heard from.
NODE_HEALTH_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
#: kube-controller-manager's --node-monitor-period default (seconds) plus a margin.
NODE_MONITOR_PASS = 6.0


def _rfc3339_epoch(stamp: Optional[str]) -> float:
    if not stamp:
        return 0.0
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def node_health_problems(api: "Cluster", since: float = 0.0) -> List[str]:
    """Why a cluster's node(s) could not take a Pod now: no node, a Node Lease not renewed since
    ``since`` (epoch seconds), Ready not True, or a not-ready/unreachable taint. Empty = healthy."""
    status, nodes = api.api("/api/v1/nodes", timeout=5)
    if status != 200:
        return [f"GET nodes: HTTP {status}"]
    problems = []
    if not nodes.get("items"):
        problems.append("no Node")
    for node in nodes.get("items", []):
        name = node["metadata"]["name"]
        status, lease = api.api(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}", timeout=5)
        renewed = _rfc3339_epoch((lease or {}).get("spec", {}).get("renewTime")) if status == 200 else 0.0
        if renewed < since:
            problems.append(f"{name}: Lease not renewed since the restart")
        ready = [c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            problems.append(f"{name}: Ready is {ready[0].get('status') if ready else 'missing'}")
        taints = [t["key"] for t in node.get("spec", {}).get("taints") or [] if t.get("key") in NODE_HEALTH_TAINTS]
        if taints:
            problems.append(f"{name}: tainted {', '.join(taints)}")
    return problems


def wait_nodes_schedulable(api: "Cluster", since: float = 0.0, timeout: float = 120.0) -> None:
    """Wait until every node of the cluster is healthy (``node_health_problems`` empty) across a
    node lifecycle controller pass. After an API server outage longer than the controller's grace
    period the controller marks the node unreachable and taints it as soon as it is back, before
    the kubelet's next Lease renewal; a Pod created then is unschedulable. Faults tests restart
    the API server; the tests after them must find the node as it was."""
    deadline = time.monotonic() + timeout
    healthy_since: Optional[float] = None
    problems: List[str] = []
    while time.monotonic() < deadline:
        try:
            problems = node_health_problems(api, since)
        except (OSError, ValueError) as exc:
            problems = [f"{type(exc).__name__}: {exc}"]
        if problems:
            healthy_since = None
        elif healthy_since is None:
            healthy_since = time.monotonic()
        elif time.monotonic() - healthy_since >= NODE_MONITOR_PASS:
            return
        time.sleep(0.5)
    raise LocalEnvError(f"{api.name}: node(s) not schedulable {timeout:.0f}s after the API server restart: "
                        + "; ".join(problems))


__all__ = [
    "REPO_ROOT", "LOCALENV_DIR", "STATE_FILE", "KUBE_VERSION", "NOT_UP",
    "LocalEnvError", "LocalEnvNotUp", "ComponentError", "CertPair", "Process", "Cluster", "Registry",
    "RegistryInfo", "LocalEnv", "KubeAccess",
    "kube_bin_dir", "free_port", "spawn", "stop_processes", "pid_alive", "wait_for", "http_request",
    "ssl_context", "make_ca", "make_cert", "make_signing_key", "kubeconfig_text", "to_yaml", "write_file",
    "registry_config", "write_htpasswd", "start_registry", "start_moto", "moto_ready", "read_state",
    "load_state", "log_tail", "start_clusters", "stop_environment", "restart_apiserver",
    "node_health_problems", "wait_nodes_schedulable",
]
