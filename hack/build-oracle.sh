#!/usr/bin/env bash
# Build the kubelet oracle (tests/oracle/kubelet: the kubelet's own credential-matching code from
# k8s.io/kubernetes, driven over JSON lines) into a cache outside the checkout, and print the
# binary's path on the last line of stdout. Does nothing when the binary for this source,
# Kubernetes version and toolchain is already there.
#
# Toolchain: the Go version k8s.io/kubernetes pins in its .go-version (net/url's host rules differ
# between Go releases, and the kubelet people run is built with that one), fetched through the Go
# module proxy with GOTOOLCHAIN=go<version>. If that toolchain cannot be had, the local Go is used
# with a loud warning, and the toolchain actually used is written next to the binary (the oracle
# tests print it). Recipe and timings: docs/local-environment.md ("The kubelet oracle").
#
# Environment: KUBE_VERSION (default 1.33.13), REGISTRYLINK_ORACLE_CACHE (default
# ~/.cache/registrylink/oracle), ORACLE_GOTOOLCHAIN (override the toolchain, e.g. "local").
set -euo pipefail
KV="${KUBE_VERSION:-1.33.13}"
SV="0.${KV#1.}"
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$HERE/../tests/oracle/kubelet"
CACHE="${REGISTRYLINK_ORACLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/registrylink/oracle}"
log() { echo "[build-oracle] $*" >&2; }
warn() {
  echo "[build-oracle] ############################################################" >&2
  echo "[build-oracle] WARNING: $*" >&2
  echo "[build-oracle] ############################################################" >&2
}

[ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "[build-oracle] ERROR: Go is needed to build the kubelet oracle (apt-get install golang-go, or go.dev/dl)" >&2; exit 1; }
export CGO_ENABLED=0

# The toolchain k8s.io/kubernetes pins: .go-version in its module zip.
KDIR="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$KV" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')"
PINNED="$(tr -d '[:space:]' < "$KDIR/.go-version")"
WANT="${ORACLE_GOTOOLCHAIN:-go$PINNED}"
if GOTOOLCHAIN="$WANT" go version >/dev/null 2>&1; then
  TC="$WANT"
else
  TC=local
  warn "cannot get the Go toolchain $WANT that k8s.io/kubernetes v$KV pins (.go-version $PINNED);
[build-oracle] building the kubelet oracle with the local $(GOTOOLCHAIN=local go env GOVERSION) instead.
[build-oracle] net/url host parsing may differ from the kubelet users run."
fi
export GOTOOLCHAIN="$TC"
GOV="$(go env GOVERSION)"
[ "$TC" != local ] || [ "$GOV" = "go$PINNED" ] || TC_NOTE=" (NOT the pinned go$PINNED)"

HASH="$( (cat "$SRC/go.mod" "$SRC/main.go" "$0"; echo "$KV $GOV") | sha256sum | cut -c1-12)"
OUT="$CACHE/v$KV-$GOV-$HASH"
BIN="$OUT/kubelet-oracle"
if [ -x "$BIN" ]; then
  log "kubelet oracle cached: $BIN ($GOV${TC_NOTE:-})"
  echo "$BIN"
  exit 0
fi

log "building the kubelet oracle against k8s.io/kubernetes v$KV with $GOV${TC_NOTE:-} (cold: a few minutes)"
start=$(date +%s)
WORK="$OUT.work"
rm -rf "$WORK" && mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
cp "$SRC/go.mod" "$SRC/main.go" "$WORK/"
cd "$WORK"
# Same recipe as hack/build-kube.sh: the staging replace list from k8s.io/kubernetes's own go.mod.
for m in $(sed -n 's|^[[:space:]]*\(k8s\.io/[^ ]*\) v0\.0\.0$|\1|p' "$KDIR/go.mod"); do
  go mod edit -replace="$m=$m@v$SV"
done
go get "k8s.io/kubernetes@v$KV" >&2
go build -mod=mod -trimpath -o "$WORK/kubelet-oracle" . >&2
if go list -m all | grep -E ' v0\.0\.0$' >&2; then echo "[build-oracle] ERROR: unreplaced staging module" >&2; exit 1; fi
answer="$(echo '{"id":0,"op":"version"}' | "$WORK/kubelet-oracle")"
log "built: $answer"
mkdir -p "$OUT.tmp"
mv "$WORK/kubelet-oracle" "$OUT.tmp/"
printf '%s\n' "$GOV" > "$OUT.tmp/toolchain"
[ "$TC" = local ] && [ "$GOV" != "go$PINNED" ] && printf 'go%s pinned, %s used\n' "$PINNED" "$GOV" > "$OUT.tmp/FALLBACK"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
log "kubelet oracle built in $(( $(date +%s) - start ))s: $BIN"
echo "$BIN"
