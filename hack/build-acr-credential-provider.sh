#!/usr/bin/env bash
# Build acr-credential-provider, the kubelet image credential provider plugin of AKS nodes
# (sigs.k8s.io/cloud-provider-azure/cmd/acr-credential-provider), from the Go module proxy into
# a cache outside the repository. Does nothing when the binary is already there. The
# integration test tests/integration/test_aks_node_pull.py runs the real kubelet with it.
# Recipe and measured build times: docs/local-environment.md ("The ACR credential provider").
set -euo pipefail
V="${ACR_CREDENTIAL_PROVIDER_VERSION:-v1.32.0}"
MOD=sigs.k8s.io/cloud-provider-azure
OUT="${REGISTRYLINK_ACR_CREDENTIAL_PROVIDER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/registrylink/acr-credential-provider/$V}"
BIN="$OUT/acr-credential-provider"

if [ -x "$BIN" ]; then
  echo "acr-credential-provider $V cached in $OUT"
  exit 0
fi
# One build at a time per cache directory (several checkouts bootstrap on one machine); the
# second waits and then finds the binary.
mkdir -p "$(dirname "$OUT")"
exec 9>"$OUT.lock"
if ! flock -n 9; then
  echo "another hack/build-acr-credential-provider.sh builds into $OUT: waiting for it"
  flock 9
fi
if [ -x "$BIN" ]; then
  echo "acr-credential-provider $V cached in $OUT"
  exit 0
fi
[ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "ERROR: Go >= 1.23 is needed to build acr-credential-provider $V (apt-get install golang-go, or go.dev/dl)" >&2; exit 1; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
WORK="$OUT.work.$$"
rm -rf "$WORK"
trap 'rm -rf "$WORK" "$OUT.tmp.$$"' EXIT
start=$(date +%s)
# The module's own go.mod and go.sum pin every dependency (what upstream's Makefile builds
# with). `go install module@version` cannot be used: it asks the proxy for the module's
# version list, which the proxy does not serve for this module; the exact version is served.
# The module zip has only vendor/modules.txt, not the vendored code, so vendor/ is dropped and
# the dependencies come from the proxy, checked against go.sum.
DIR=$(go mod download -json "$MOD@$V" | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d.get("Dir") or sys.exit("go mod download: " + d.get("Error", "no Dir")))')
cp -r "$DIR" "$WORK"
chmod -R u+w "$WORK"
rm -rf "$WORK/vendor"
cd "$WORK"
mkdir -p "$OUT.tmp.$$"
go build -trimpath -ldflags "-s -w -X $MOD/pkg/version.gitVersion=$V" \
  -o "$OUT.tmp.$$/acr-credential-provider" ./cmd/acr-credential-provider
"$OUT.tmp.$$/acr-credential-provider" --help >/dev/null
rm -rf "$OUT" && mv "$OUT.tmp.$$" "$OUT"
echo "built acr-credential-provider $V into $OUT in $(( $(date +%s) - start ))s"
