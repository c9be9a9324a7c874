#!/usr/bin/env bash
# `make bench [QUICK=1]`: registrylink.k8s vs kubernetes.core over 100 and 1000 namespaces
# (QUICK=1: 100 only), on one and on three local clusters. Writes docs/benchmarks.md.
#
# Needs the local environment with 3 clusters (`make up CLUSTERS=3`); starts it when it is
# down, refuses when it runs with fewer clusters or degraded (other people may be using it:
# restart it yourself). REGISTRYLINK_LOCALENV=<state.json> points the benchmark at another
# environment, e.g. a private one from tests/bench/privenv.py. See docs/benchmarks.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { echo "[bench] $*"; }
PY="$ROOT/.venv/bin/python"

if [ ! -x "$PY" ]; then
  say "no .venv: run \`make up CLUSTERS=3\` (it bootstraps) first"
  exit 2
fi

# kubernetes.core comes with PyPI's ansible package; install it only when it is missing.
if ! "$PY" -c 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("ansible_collections.kubernetes.core") else 1)' 2>/dev/null; then
  say "kubernetes.core missing in .venv: pip install -r requirements-bench.txt"
  "$ROOT/.venv/bin/pip" install -q -r requirements-bench.txt
fi

# `make bench-fleet` (hack/bench.sh --fleet [fleet.py options]): the fleet scenario on private clusters
# without nodes (setup needs none), as many as the largest fleet size (6), started here and stopped
# again whatever happens; the shared environment is not touched.
if [ "${1:-}" = "--fleet" ]; then
  shift
  FLEET_DIR="$ROOT/.localenv/bench-fleet-env"
  say "starting 6 private clusters without nodes in $FLEET_DIR"
  trap '"$PY" tests/bench/privenv.py down --dir "$FLEET_DIR"' EXIT
  "$PY" tests/bench/privenv.py up --dir "$FLEET_DIR" --clusters "${FLEET_CLUSTERS:-6}" --timeout 300
  REGISTRYLINK_LOCALENV="$FLEET_DIR/state.json" "$PY" tests/bench/fleet.py "$@"
  exit $?
fi

if [ -z "${REGISTRYLINK_LOCALENV:-}" ] || [ "$REGISTRYLINK_LOCALENV" = "$ROOT/.localenv/state.json" ]; then
  rc=0
  "$PY" hack/localenv.py status >/dev/null 2>&1 || rc=$?
  if [ "$rc" = 1 ]; then
    say "the local environment is down: make up CLUSTERS=3"
    make --no-print-directory up CLUSTERS=3
  elif [ "$rc" != 0 ]; then
    "$PY" hack/localenv.py status || true
    say "the local environment is degraded (see above); not restarting it under other users: \`make down && make up CLUSTERS=3\`"
    exit 2
  fi
fi

args=()
case "${QUICK:-}" in
  ""|0|false|no) ;;
  *) args+=(--quick) ;;
esac
exec "$PY" tests/bench/bench.py "${args[@]}" "$@"
