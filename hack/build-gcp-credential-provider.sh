#!/usr/bin/env bash
# Build auth-provider-gcp, GKE's kubelet image credential provider plugin (k8s.io/cloud-provider-gcp,
# cmd/auth-provider-gcp), from the copy of its source in hack/auth-provider-gcp/ (the Go module proxy
# does not serve k8s.io/cloud-provider-gcp: the repository has no release tag its root module could be
# fetched by; see hack/auth-provider-gcp/UPSTREAM.md). Its dependencies come from the Go module proxy.
# Cached outside the repository, keyed by the source, this script and the Go version; does nothing
# when the binary is there. Used by tests/integration/test_gke_node_pull.py (the real kubelet runs it).
#
#   hack/build-gcp-credential-provider.sh          build when missing, print the binary's path last
#   hack/build-gcp-credential-provider.sh --path   only print where the binary is (or would be)
#
# Recipe and measured build times: docs/local-environment.md ("Kubelet image credential providers").
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$HERE/auth-provider-gcp"
[ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin"
GOV="$(go env GOVERSION 2>/dev/null || echo nogo)"
KEY="$( (cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum; cat "$HERE/$(basename "$0")"; echo "$GOV") \
        | sha256sum | cut -c1-16)"
CACHE="${REGISTRYLINK_CREDENTIAL_PROVIDER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/registrylink/credential-providers}"
OUT="$CACHE/auth-provider-gcp-$KEY"
BIN="$OUT/auth-provider-gcp"
if [ "${1:-}" = "--path" ]; then
  echo "$BIN"
  exit 0
fi
if [ -x "$BIN" ]; then
  echo "auth-provider-gcp cached in $OUT" >&2
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { echo "ERROR: Go >= 1.24 is needed to build auth-provider-gcp (apt-get install golang-go, or go.dev/dl)" >&2; exit 1; }
# One build at a time per cache directory (several checkouts bootstrap on one machine).
mkdir -p "$CACHE"
exec 9>"$OUT.lock"
if ! flock -n 9; then
  echo "another build of auth-provider-gcp writes $OUT: waiting for it" >&2
  flock 9
fi
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
WORK="$OUT.work.$$"
rm -rf "$WORK" && mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC/." "$WORK/"
start=$(date +%s)
(cd "$WORK" && go build -trimpath -ldflags "-s -w" -o "$WORK/auth-provider-gcp" ./cmd/auth-provider-gcp)
"$WORK/auth-provider-gcp" get-credentials --help >/dev/null
rm -rf "$OUT" && mkdir -p "$OUT" && mv "$WORK/auth-provider-gcp" "$BIN"
echo "built auth-provider-gcp into $OUT in $(( $(date +%s) - start ))s" >&2
echo "$BIN"
