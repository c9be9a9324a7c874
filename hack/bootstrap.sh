#!/usr/bin/env bash
# Everything `make up` needs, idempotent and fast when all is present:
#   1. Debian packages: etcd-server docker-registry openssl apache2-utils curl, and for the
#      real node containerd runc containernetworking-plugins iptables conntrack busybox-static
#      gcc libc6-dev skopeo iproute2 util-linux
#      (apt-get update + install only when one is missing; sudo only when not root)
#   2. .venv with Python >= 3.11 and requirements-dev.txt (pip runs only when the
#      requirements changed: a hash stamp is kept in .venv/.requirements.sha256)
#   3. kube-apiserver, kube-controller-manager, kube-scheduler, kubelet via hack/build-kube.sh
#      (cached in ~/.cache)
#   4. GKE's kubelet image credential provider plugin auth-provider-gcp via
#      hack/build-gcp-credential-provider.sh (cached in ~/.cache; needs Go once)
#   5. acr-credential-provider (AKS's kubelet image credential provider, for the AKS node pull
#      test) via hack/build-acr-credential-provider.sh (cached in ~/.cache)
# Environment: PYTHON=/path/to/python3.x to choose the interpreter; SKIP_KUBE_BUILD=1.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"
say() { echo "[bootstrap] $*"; }
die() { echo "[bootstrap] ERROR: $*" >&2; exit 1; }

# --- 1. system packages -------------------------------------------------------------------
# containerd, runc, CNI plugins, iptables, conntrack: the real node (kubelet on containerd);
# busybox-static: the one-layer test image; gcc + libc6-dev: the static pause program;
# skopeo: a real client that pushes OCI layouts and checks decoded auth files.
PKGS=(etcd-server docker-registry openssl apache2-utils curl containerd runc containernetworking-plugins
      iptables conntrack busybox-static gcc libc6-dev skopeo iproute2 util-linux)
missing=()
for p in "${PKGS[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get (Debian/Ubuntu expected); install them by hand"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages ${missing[*]}: run as root or install sudo"
    SUDO="sudo"
  fi
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  # policy-rc.d-less containers: keep the packaged services (etcd, docker-registry) from
  # being started by the maintainer scripts; we run our own instances.
  $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "system packages present"
fi

# --- 2. virtualenv ------------------------------------------------------------------------
py_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; }
if [ -x .venv/bin/python ] && py_ok .venv/bin/python && .venv/bin/python -m pip --version >/dev/null 2>&1; then
  :
else
  PY=""
  for cand in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && py_ok "$cand"; then PY="$(command -v "$cand")"; break; fi
  done
  [ -n "$PY" ] || die "Python >= 3.11 not found (set PYTHON=/path/to/python3.11+)"
  say "creating .venv with $PY ($("$PY" --version 2>&1))"
  rm -rf .venv
  "$PY" -m venv .venv || die "python -m venv failed (Debian: apt-get install python3-venv)"
fi
stamp_file=.venv/.requirements.sha256
want="$(cat requirements-dev.txt requirements.txt requirements-azure.txt requirements-gcp.txt | sha256sum | cut -d' ' -f1) $(.venv/bin/python -c 'import sys;print("%d.%d"%sys.version_info[:2])')"
if [ "$(cat "$stamp_file" 2>/dev/null || true)" != "$want" ]; then
  say "installing requirements-dev.txt into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp_file"
else
  say ".venv up to date ($(.venv/bin/python --version))"
fi

# --- 3. kube binaries ---------------------------------------------------------------------
if [ "${SKIP_KUBE_BUILD:-0}" = "1" ]; then
  say "SKIP_KUBE_BUILD=1: not checking the kube binaries"
  exit 0
fi
KV="${KUBE_VERSION:-1.33.13}"
BIN="${REGISTRYLINK_KUBE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/registrylink/kube/v$KV}"
if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-controller-manager" ] || [ ! -x "$BIN/kube-scheduler" ] || [ ! -x "$BIN/kubelet" ]; then
  # `make` may run with a PATH without Go's default install location.
  [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || die "Go is missing: it is needed once to build kube-apiserver and
  kube-controller-manager v$KV into $BIN (Go >= 1.24; https://go.dev/dl or apt-get install golang-go
  from bookworm-backports). No Go here? Copy both binaries from a machine that built them."
  say "building kube binaries v$KV (cold: tens of minutes on 2 cores; log on stdout)"
fi
"$HERE/build-kube.sh"

# --- 4. GKE's kubelet image credential provider plugin -------------------------------------
# auth-provider-gcp, which the real kubelet runs in tests/integration/test_gke_node_pull.py
# (one to two minutes cold, see docs/local-environment.md).
apg="$("$HERE/build-gcp-credential-provider.sh")"
say "auth-provider-gcp: $apg"

# --- 5. acr-credential-provider -----------------------------------------------------------
# The kubelet plugin of AKS nodes (tests/integration/test_aks_node_pull.py); needs Go the first
# time only, like steps 3 and 4.
"$HERE/build-acr-credential-provider.sh"
