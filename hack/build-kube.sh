#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager, kube-scheduler and kubelet from the
# k8s.io/kubernetes Go module through the Go module proxy, into a cache outside the
# repository, in one run (one warm Go build cache). Does nothing when every binary is already
# there. Recipe: docs/local-environment.md ("Building the kube binaries").
set -euo pipefail
KV="${KUBE_VERSION:-1.33.13}"
SV="0.${KV#1.}"
MINOR="$(echo "$KV" | cut -d. -f2)"
OUT="${REGISTRYLINK_KUBE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/registrylink/kube/v$KV}"
HERE="$(cd "$(dirname "$0")" && pwd)"

CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
have_all() {
  local cmd
  for cmd in "${CMDS[@]}"; do [ -x "$OUT/$cmd" ] || return 1; done
}
if have_all; then
  echo "kube binaries v$KV cached in $OUT"
  exit 0
fi
# One build at a time per cache directory (several checkouts bootstrap on one machine); the
# second waits and then finds the binaries. Work and output directories are per run, so a run
# never deletes the directory another run is building in.
mkdir -p "$(dirname "$OUT")"
exec 9>"$OUT.lock"
if ! flock -n 9; then
  echo "another hack/build-kube.sh builds into $OUT: waiting for it"
  flock 9
fi
if have_all; then
  echo "kube binaries v$KV cached in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "ERROR: Go >= 1.24 is needed to build kube-apiserver v$KV (apt-get install golang-go, or go.dev/dl)" >&2; exit 1; }

export GOTOOLCHAIN=local CGO_ENABLED=0
# A scratch copy of the wrapper module beside the cache (not in /tmp, which other tools
# clean), so the build never dirties the checkout.
WORK="$OUT.work.$$"
rm -rf "$WORK" && mkdir -p "$WORK"
trap 'rm -rf "$WORK" "$OUT.tmp.$$"' EXIT
cp "$HERE/kube-build/go.mod" "$WORK/go.mod"
[ -f "$HERE/kube-build/go.sum" ] && cp "$HERE/kube-build/go.sum" "$WORK/go.sum"
cd "$WORK"

start=$(date +%s)
# Derive the staging replace list from the go.mod that k8s.io/kubernetes itself publishes.
MODFILE=$(go mod download -json "k8s.io/kubernetes@v$KV" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
for m in $(sed -n 's|^[[:space:]]*\(k8s\.io/[^ ]*\) v0\.0\.0$|\1|p' "$MODFILE"); do
  go mod edit -replace="$m=$m@v$SV"
done
go get $(for cmd in "${CMDS[@]}"; do printf 'k8s.io/kubernetes/cmd/%s@v%s ' "$cmd" "$KV"; done)
if go list -m all | grep -E ' v0\.0\.0$'; then echo "ERROR: unreplaced staging module" >&2; exit 1; fi

LDF="-s -w \
 -X k8s.io/component-base/version.gitVersion=v$KV \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$MINOR \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
mkdir -p "$OUT.tmp.$$"
for cmd in "${CMDS[@]}"; do
  go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$LDF" -o "$OUT.tmp.$$/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
"$OUT.tmp.$$/kube-apiserver" --version
"$OUT.tmp.$$/kubelet" --version
rm -rf "$OUT" && mv "$OUT.tmp.$$" "$OUT"
echo "built kube binaries v$KV into $OUT in $(( $(date +%s) - start ))s"
