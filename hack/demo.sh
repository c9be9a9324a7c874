#!/usr/bin/env bash
# `make demo`: the main job, end to end.
#
#   make demo                  local environment (started when it is not up; an environment that
#                              is already up is used as it is, whatever its cluster count)
#   make demo TARGET=current   the cluster your KUBECONFIG's current context points at; the
#                              registry comes from DEMO_REGISTRY, DEMO_REGISTRY_USER,
#                              DEMO_REGISTRY_PASSWORD (and DEMO_REGISTRY_CA for a private CA),
#                              or from the local environment's registry when those are unset.
#
# Steps (each one prints a banner; later journeys append their own steps at the end of main):
#   1. environment      the clusters (each with a real node: containerd + kubelet) and the registry
#   2. namespaces       demo-web, demo-api, demo-batch, demo-legacy; demo-legacy's default
#                       ServiceAccount already lists an unmanaged pull secret (legacy-mirror)
#   3. stuck            a Deployment in demo-api runs the registry's private image: without a pull
#                       secret the kubelet gets 401 and the Pod sits in ImagePullBackOff (its
#                       real kubelet events are shown)
#   4. setup            playbooks/setup.yml with the registry's credentials: the pull secret in
#                       every demo namespace, attached to default, and the stuck Pod restarted
#   5. running          the Deployment's new Pod is Running: the kubelet pulled the image with the
#                       pull secret (its Pulled event and the digest it runs are shown)
#   6. rerun            playbooks/setup.yml again: every cluster must report changed=0
#   7. prove            legacy-mirror is still there, first; a pull secret decodes to the
#                       registry's credentials and they authenticate (GET /v2/ -> 200)
#   8. verify           playbooks/verify.yml over demo-* plus one deliberately broken namespace
#                       outside setup's glob (broken-demo: its ServiceAccount names a pull secret that does not exist):
#                       the demo namespaces are ready, the broken one is diagnosed
#   9. cleanup          playbooks/cleanup.yml, check mode first (the plan, nothing changes), then for
#                       real: our pull secrets detached and deleted, legacy-mirror kept; registry
#                       retention (keep_last 1) keeps the newest demo/hello (1.0), deletes 0.9, and
#                       keeps the oldest, 0.8, because a Deployment in demo-web runs it
# The Kubernetes and registry work of each step is in hack/demo_helper.py (one subcommand each).
# TARGET=current: DEMO_IMAGE names a private image of DEMO_REGISTRY for steps 3 and 5.
# No password ever reaches a command line or the console: credentials travel in mode-600
# files of a temporary directory that is removed on exit, and each playbook run's output is
# checked for the password.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET="${TARGET:-local}"
DEMO_NAMESPACES=(demo-web demo-api demo-batch demo-legacy)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/registrylink-demo.XXXXXX")"
chmod 700 "$WORK"
trap 'rm -rf "$WORK"' EXIT
STEP=0

step() { STEP=$((STEP + 1)); echo; echo "=== [demo] step $STEP: $*"; }
say() { echo "[demo] $*"; }
die() { echo "[demo] FAILED: $*" >&2; exit 1; }

# --------------------------------------------------------------------------- 1. environment
step_environment() {
  step "environment (TARGET=$TARGET)"
  if [ "$TARGET" = "current" ]; then
    [ -x .venv/bin/python ] || SKIP_KUBE_BUILD=1 hack/bootstrap.sh
    [ -n "${KUBECONFIG:-}" ] || die "TARGET=current needs KUBECONFIG (the demo never guesses a cluster)"
    if [ -f "${REGISTRYLINK_LOCALENV_DIR:-$ROOT/.localenv}/env.sh" ] && [ -z "${DEMO_REGISTRY:-}" ]; then
      # shellcheck disable=SC1091
      KEEP_KUBECONFIG="$KUBECONFIG"; . "${REGISTRYLINK_LOCALENV_DIR:-$ROOT/.localenv}/env.sh"; export KUBECONFIG="$KEEP_KUBECONFIG"
    fi
    export K8S_AUTH_KUBECONFIG="$KUBECONFIG"
    export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$WORK/collections}"
    mkdir -p "$WORK/collections/ansible_collections/registrylink"
    ln -sfn "$ROOT" "$WORK/collections/ansible_collections/registrylink/k8s"
    PY="$ROOT/.venv/bin/python"
    CONTEXTS="$("$PY" -c 'from kubernetes import config; print(config.list_kube_config_contexts()[1]["name"])')"
    printf 'clusters:\n  hosts:\n    current:\n      kube_context: %s\n' "$CONTEXTS" > "$WORK/inventory.yml"
    INVENTORY="$WORK/inventory.yml"
    LIMIT=current
  else
    if [ -x .venv/bin/python ] && .venv/bin/python hack/localenv.py status >/dev/null 2>&1; then
      say "local environment already up: using it as it is"
    else
      make up
    fi
    # shellcheck disable=SC1091
    . "${REGISTRYLINK_LOCALENV_DIR:-$ROOT/.localenv}/env.sh"
    PY="$ROOT/.venv/bin/python"
    CONTEXTS="$(echo "${REGISTRYLINK_KUBE_CONTEXTS:-local-1}" | tr ' ' ',')"
    INVENTORY="$ROOT/inventories/local"
    LIMIT="$CONTEXTS"
  fi
  export PATH="$ROOT/.venv/bin:$PATH"
  export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=false
  REGISTRY="${DEMO_REGISTRY:-${REGISTRYLINK_REGISTRY:-}}"
  REGISTRY_USER="${DEMO_REGISTRY_USER:-${REGISTRYLINK_REGISTRY_USER:-}}"
  REGISTRY_PASSWORD="${DEMO_REGISTRY_PASSWORD:-${REGISTRYLINK_REGISTRY_PASSWORD:-}}"
  REGISTRY_CA="${DEMO_REGISTRY_CA:-${REGISTRYLINK_REGISTRY_CA:-}}"
  [ -n "$REGISTRY" ] && [ -n "$REGISTRY_USER" ] && [ -n "$REGISTRY_PASSWORD" ] \
    || die "no registry credentials: set DEMO_REGISTRY, DEMO_REGISTRY_USER and DEMO_REGISTRY_PASSWORD"
  if [ -z "${DEMO_IMAGE:-}" ]; then
    DEMO_IMAGE="${REGISTRYLINK_PRIVATE_IMAGE:-}"
    DEMO_IMAGE_DIGEST="${REGISTRYLINK_PRIVATE_IMAGE_DIGEST:-}"
  fi
  export DEMO_IMAGE_DIGEST="${DEMO_IMAGE_DIGEST:-}"
  [ -n "$DEMO_IMAGE" ] || die "no private image to pull: set DEMO_IMAGE (an image of \$DEMO_REGISTRY that needs its credentials)"
  export REGISTRY REGISTRY_USER REGISTRY_PASSWORD REGISTRY_CA DEMO_IMAGE
  say "clusters: $CONTEXTS"
  say "registry: https://$REGISTRY (user $REGISTRY_USER)"
  say "private image: $DEMO_IMAGE"
}

helper() { "$PY" "$ROOT/hack/demo_helper.py" "$@"; }

# One playbook run, the same way every time: extra vars from a mode-600 file (credentials
# never on argv), output to a log, the password must not appear in it, the summary tasks shown
# (SHOW: a sed script), and a failure shows the log's tail and stops the demo.
#   run_playbook PLAYBOOK VARS_FILE LOG SHOW [ansible-playbook args...]
run_playbook() {
  local playbook="$1" vars="$2" log="$3" show="$4" rc=0
  shift 4
  ansible-playbook -i "$INVENTORY" --limit "$LIMIT" -e "@$vars" "$@" "$playbook" > "$log" 2>&1 || rc=$?
  if grep -qF -- "$REGISTRY_PASSWORD" "$log"; then die "the registry password appeared in the output of $playbook"; fi
  sed -n "$show" "$log"
  [ "$rc" -eq 0 ] || { tail -60 "$log"; die "$playbook $* failed (rc=$rc)"; }
}
write_vars() {  # write_vars FILE PLAYBOOK [extra...]: mode 600
  local file="$1"
  shift
  (umask 077; helper vars "$@" > "$file")
}

# --------------------------------------------------------------------------- 2. namespaces
step_namespaces() {
  step "demo namespaces, with an unmanaged pull secret on demo-legacy's default ServiceAccount"
  helper namespaces "$CONTEXTS" "${DEMO_NAMESPACES[@]}"
}

# --------------------------------------------------------------------------- 3. stuck
step_stuck() {
  step "a Deployment of the private image, before setup: the kubelet cannot pull it"
  helper stuck "$CONTEXTS"
}

# --------------------------------------------------------------------------- 4./6. setup, rerun
recap_changed() {  # sum of changed=N over the PLAY RECAP lines of a log
  sed -n '/^PLAY RECAP/,$p' "$1" | sed -n 's/.* changed=\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}'
}

run_setup() {  # $1: log file
  run_playbook playbooks/setup.yml "$WORK/setup-vars.json" "$1" '/TASK \[Per-cluster summary\]/,$p'
}

step_setup() {
  step "playbooks/setup.yml against $CONTEXTS (restart_stuck_pods: true)"
  write_vars "$WORK/setup-vars.json" setup
  run_setup "$WORK/setup-1.log"
  say "first run: changed=$(recap_changed "$WORK/setup-1.log") task(s)"
}

step_running() {
  step "after setup: the kubelet pulls the private image with the pull secret"
  helper running "$CONTEXTS"
}

step_rerun() {
  step "playbooks/setup.yml again: nothing to do"
  run_setup "$WORK/setup-2.log"
  local changed
  changed="$(recap_changed "$WORK/setup-2.log")"
  [ "$changed" = "0" ] || die "second run reported changed=$changed (expected 0 on every cluster)"
  say "second run: changed=0 on every cluster"
}

# --------------------------------------------------------------------------- 7. prove
step_prove() {
  step "proof: unmanaged entry preserved; a pull secret decodes and authenticates to the registry"
  (umask 077; helper prove "$CONTEXTS" "$WORK/curl.cfg")
  local cacert=() code
  [ -n "$REGISTRY_CA" ] && cacert=(--cacert "$REGISTRY_CA")
  code="$(curl -sS -o /dev/null -w '%{http_code}' "${cacert[@]}" "https://$REGISTRY/v2/")"
  say "GET https://$REGISTRY/v2/ without credentials -> $code"
  code="$(curl -sS -o /dev/null -w '%{http_code}' "${cacert[@]}" -K "$WORK/curl.cfg" "https://$REGISTRY/v2/")"
  say "GET https://$REGISTRY/v2/ with the credentials decoded from the pull secret -> $code"
  [ "$code" = "200" ] || die "the registry answered $code to the decoded credentials (expected 200)"
}

# --------------------------------------------------------------------------- 8. verify
step_verify() {
  step "playbooks/verify.yml: the demo namespaces are ready; a deliberately broken one is diagnosed"
  local image="$REGISTRY/demo/hello:1.0"
  [ "$TARGET" = "local" ] && helper verify-prepare "$CONTEXTS"
  write_vars "$WORK/verify-vars.json" verify "$image" "$WORK"
  run_playbook playbooks/verify.yml "$WORK/verify-vars.json" "$WORK/verify.log" \
    '/Per-cluster table\]/,/^$/p; /TASK \[Fleet summary\]/,/^$/p'
  [ -f "$WORK/fleet.json" ] || die "verify wrote no fleet report"
  helper verify-check "$WORK/fleet.json" "$TARGET"
}

# --------------------------------------------------------------------------- 9. cleanup
step_cleanup() {
  step "playbooks/cleanup.yml: check mode shows the plan, then detach, delete, and registry retention"
  local gc=false
  if [ "$TARGET" = "local" ]; then
    gc=true
    helper cleanup-prepare "$CONTEXTS"
  fi
  write_vars "$WORK/cleanup-vars.json" cleanup "$gc"
  for mode in check real; do
    local args=() log="$WORK/cleanup-$mode.log"
    [ "$mode" = check ] && args=(--check)
    say "cleanup ($mode mode):"
    run_playbook playbooks/cleanup.yml "$WORK/cleanup-vars.json" "$log" \
      '/Per-cluster summary\]/,/^$/p; /Registry retention summary\]/,/^$/p' "${args[@]}"
  done
  helper cleanup-check "$CONTEXTS" "$gc"
}

main() {
  step_environment
  step_namespaces
  step_stuck
  step_setup
  step_running
  step_rerun
  step_prove
  step_verify
  step_cleanup
  echo
  say "OK: a Deployment stuck in ImagePullBackOff ran once setup put the pull secret in ${#DEMO_NAMESPACES[@]}"
  say "    namespaces per cluster and restarted its Pod: the kubelet pulled the private image with it."
  say "    legacy-mirror was not disturbed (second run changed=0), the credentials authenticate to the"
  say "    registry, verify found the broken namespace, and cleanup removed only what setup made and"
  say "    kept the image a Deployment runs."
}

main "$@"
