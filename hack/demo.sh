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
#   1. environment      the clusters and the registry
#   2. namespaces       demo-web, demo-api, demo-batch, demo-legacy; demo-legacy's default
#                       ServiceAccount already lists an unmanaged pull secret (legacy-mirror)
#   3. setup            playbooks/setup.yml with the registry's credentials
#   4. rerun            playbooks/setup.yml again: every cluster must report changed=0
#   5. prove            legacy-mirror is still there, first; a pull secret decodes to the
#                       registry's credentials and they authenticate (GET /v2/ -> 200)
#   6. verify           playbooks/verify.yml over demo-* plus one deliberately broken namespace
#                       outside setup's glob (broken-demo: its ServiceAccount names a pull secret that does not exist):
#                       the demo namespaces are ready, the broken one is diagnosed
#   7. cleanup          playbooks/cleanup.yml, check mode first (the plan, nothing changes), then for
#                       real: our pull secrets detached and deleted, legacy-mirror kept; registry
#                       retention (keep_last 1) keeps the newest demo/hello (1.0), deletes 0.9, and
#                       keeps the oldest, 0.8, because a Deployment in demo-web runs it
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
  export REGISTRY REGISTRY_USER REGISTRY_PASSWORD REGISTRY_CA
  say "clusters: $CONTEXTS"
  say "registry: https://$REGISTRY (user $REGISTRY_USER)"
}

# --------------------------------------------------------------------------- 2. namespaces
step_namespaces() {
  step "demo namespaces, with an unmanaged pull secret on demo-legacy's default ServiceAccount"
  "$PY" - "$CONTEXTS" "${DEMO_NAMESPACES[@]}" <<'PYEOF'
import base64, json, os, sys, time
from kubernetes import client as k, config
from kubernetes.client.rest import ApiException

contexts, namespaces = sys.argv[1].split(','), sys.argv[2:]
kubeconfig = os.environ.get('K8S_AUTH_KUBECONFIG') or os.environ.get('KUBECONFIG')
for ctx in contexts:
    core = k.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=None if ctx == '' else ctx))
    for ns in namespaces:
        try:
            core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns, labels={'registrylink.demo': 'true'})))
            print('[demo] %s: namespace %s created' % (ctx, ns))
        except ApiException as exc:
            if exc.status != 409:
                raise
            print('[demo] %s: namespace %s exists' % (ctx, ns))
        deadline = time.time() + 60
        while True:  # kube-controller-manager creates the default ServiceAccount
            try:
                sa = core.read_namespaced_service_account('default', ns)
                break
            except ApiException as exc:
                if exc.status != 404 or time.time() > deadline:
                    raise
                time.sleep(0.2)
    # Someone else's pull secret, already on demo-legacy's default ServiceAccount: it must stay.
    cfg = {'auths': {'mirror.example.test': {'username': 'mirror-bot', 'password': 'not-ours',
                                             'auth': base64.b64encode(b'mirror-bot:not-ours').decode()}}}
    body = k.V1Secret(metadata=k.V1ObjectMeta(name='legacy-mirror'), type='kubernetes.io/dockerconfigjson',
                      data={'.dockerconfigjson': base64.b64encode(json.dumps(cfg).encode()).decode()})
    try:
        core.create_namespaced_secret('demo-legacy', body)
    except ApiException as exc:
        if exc.status != 409:
            raise
    sa = core.read_namespaced_service_account('default', 'demo-legacy')
    names = [r.name for r in sa.image_pull_secrets or []]
    if 'legacy-mirror' not in names:
        sa.image_pull_secrets = [k.V1LocalObjectReference(name='legacy-mirror')] + list(sa.image_pull_secrets or [])
        core.replace_namespaced_service_account('default', 'demo-legacy', sa)
    names = [r.name for r in core.read_namespaced_service_account('default', 'demo-legacy').image_pull_secrets or []]
    print('[demo] %s: demo-legacy/default imagePullSecrets = %s (unmanaged)' % (ctx, names))
PYEOF
}

# --------------------------------------------------------------------------- 3./4. setup, rerun
write_vars() {
  # Credentials go to a mode-600 file, never to argv.
  (umask 077; "$PY" - > "$WORK/setup-vars.json" <<'PYEOF'
import json, os
print(json.dumps({
    'registrylink_integration': 'registry_credentials',
    'registry_credentials_registries': [{'server': os.environ['REGISTRY'], 'username': os.environ['REGISTRY_USER'],
                                         'password': os.environ['REGISTRY_PASSWORD']}],
    'registry_credentials_secret_name': 'regcred',
    'registry_credentials_namespaces': ['demo-*'],
    'registry_credentials_service_accounts': ['default'],
}))
PYEOF
  )
}

run_setup() {  # $1: log file
  local log="$1" rc=0
  ansible-playbook -i "$INVENTORY" --limit "$LIMIT" -e "@$WORK/setup-vars.json" playbooks/setup.yml \
    > "$log" 2>&1 || rc=$?
  sed -n '/TASK \[Per-cluster summary\]/,$p' "$log"
  if grep -qF -- "$REGISTRY_PASSWORD" "$log"; then die "the registry password appeared in the playbook output"; fi
  [ "$rc" -eq 0 ] || { tail -60 "$log"; die "playbooks/setup.yml failed (rc=$rc)"; }
}

recap_changed() {  # sum of changed=N over the PLAY RECAP lines of a log
  sed -n '/^PLAY RECAP/,$p' "$1" | sed -n 's/.* changed=\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}'
}

step_setup() {
  step "playbooks/setup.yml against $CONTEXTS"
  write_vars
  run_setup "$WORK/setup-1.log"
  say "first run: changed=$(recap_changed "$WORK/setup-1.log") task(s)"
}

step_rerun() {
  step "playbooks/setup.yml again: nothing to do"
  run_setup "$WORK/setup-2.log"
  local changed
  changed="$(recap_changed "$WORK/setup-2.log")"
  [ "$changed" = "0" ] || die "second run reported changed=$changed (expected 0 on every cluster)"
  say "second run: changed=0 on every cluster"
}

# --------------------------------------------------------------------------- 5. prove
step_prove() {
  step "proof: unmanaged entry preserved; a pull secret decodes and authenticates to the registry"
  (umask 077; "$PY" - "$CONTEXTS" "$WORK/curl.cfg" <<'PYEOF'
import base64, json, os, sys
from kubernetes import client as k, config

contexts, curl_cfg = sys.argv[1].split(','), sys.argv[2]
kubeconfig = os.environ.get('K8S_AUTH_KUBECONFIG') or os.environ.get('KUBECONFIG')
registry = os.environ['REGISTRY']
for ctx in contexts:
    core = k.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=ctx))
    names = [r.name for r in core.read_namespaced_service_account('default', 'demo-legacy').image_pull_secrets or []]
    assert names == ['legacy-mirror', 'regcred'], (ctx, names)
    print('[demo] %s: demo-legacy/default imagePullSecrets = %s (legacy-mirror kept, first)' % (ctx, names))
    for ns in ('demo-web', 'demo-api', 'demo-batch'):
        names = [r.name for r in core.read_namespaced_service_account('default', ns).image_pull_secrets or []]
        assert names == ['regcred'], (ctx, ns, names)
    secret = core.read_namespaced_secret('regcred', 'demo-api')
    assert secret.type == 'kubernetes.io/dockerconfigjson', secret.type
    assert (secret.metadata.labels or {}).get('app.kubernetes.io/managed-by') == 'registrylink.k8s'
    auths = json.loads(base64.b64decode(secret.data['.dockerconfigjson']))['auths']
    entry = auths[registry]
    user, _, password = base64.b64decode(entry['auth']).decode().partition(':')
    assert user == entry['username'] and password == entry['password']
    print('[demo] %s: demo-api/regcred decodes to {"auths": {"%s": {"username": "%s", "password": "<redacted>", '
          '"auth": "<redacted>"}}}' % (ctx, registry, entry['username']))
# curl reads the credentials from a config file (never from argv); last cluster's secret wins.
quote = lambda s: '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')
with open(curl_cfg, 'w') as fh:
    fh.write('user = %s\n' % quote('%s:%s' % (user, password)))
PYEOF
  )
  local cacert=() code
  [ -n "$REGISTRY_CA" ] && cacert=(--cacert "$REGISTRY_CA")
  code="$(curl -sS -o /dev/null -w '%{http_code}' "${cacert[@]}" "https://$REGISTRY/v2/")"
  say "GET https://$REGISTRY/v2/ without credentials -> $code"
  code="$(curl -sS -o /dev/null -w '%{http_code}' "${cacert[@]}" -K "$WORK/curl.cfg" "https://$REGISTRY/v2/")"
  say "GET https://$REGISTRY/v2/ with the credentials decoded from the pull secret -> $code"
  [ "$code" = "200" ] || die "the registry answered $code to the decoded credentials (expected 200)"
}

# --------------------------------------------------------------------------- 6. verify
step_verify() {
  step "playbooks/verify.yml: the demo namespaces are ready; a deliberately broken one is diagnosed"
  local image="$REGISTRY/demo/hello:1.0" rc=0
  if [ "$TARGET" = "local" ]; then
    "$PY" - "$CONTEXTS" <<'PYEOF'
import os, sys
sys.path.insert(0, os.getcwd())
from tests.support.images import push_image
from kubernetes import client as k, config
from kubernetes.client.rest import ApiException

registry = 'https://' + os.environ['REGISTRY']
digest = push_image(registry, 'demo/hello', ['1.0'], auth=(os.environ['REGISTRY_USER'], os.environ['REGISTRY_PASSWORD']),
                    ca=os.environ.get('REGISTRY_CA') or None)
print('[demo] pushed demo/hello:1.0 (%s)' % digest)
kubeconfig = os.environ.get('K8S_AUTH_KUBECONFIG') or os.environ.get('KUBECONFIG')
for ctx in sys.argv[1].split(','):
    core = k.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=ctx))
    try:
        core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name='broken-demo')))
    except ApiException as exc:
        if exc.status != 409:
            raise
    sa = k.V1ServiceAccount(metadata=k.V1ObjectMeta(name='default'),
                            image_pull_secrets=[k.V1LocalObjectReference(name='regcred')])
    try:
        core.create_namespaced_service_account('broken-demo', sa)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.patch_namespaced_service_account('default', 'broken-demo', {'imagePullSecrets': [{'name': 'regcred'}]})
    print('[demo] %s: broken-demo/default lists regcred, which does not exist there' % ctx)
PYEOF
  fi
  (umask 077; "$PY" - "$image" "$WORK" > "$WORK/verify-vars.json" <<'PYEOF'
import json, os, sys
print(json.dumps({
    'verify_images': [sys.argv[1]],
    'verify_namespaces': ['demo-*', 'broken-demo'],
    'verify_secret_name': 'regcred',
    'verify_registry_ca_path': os.environ.get('REGISTRY_CA') or None,
    'verify_report_dir': sys.argv[2],
    'verify_fail_on_error': False,
}))
PYEOF
  )
  ansible-playbook -i "$INVENTORY" --limit "$LIMIT" -e "@$WORK/verify-vars.json" playbooks/verify.yml \
    > "$WORK/verify.log" 2>&1 || rc=$?
  sed -n '/Per-cluster table\]/,/^$/p; /TASK \[Fleet summary\]/,/^$/p' "$WORK/verify.log"
  if grep -qF -- "$REGISTRY_PASSWORD" "$WORK/verify.log"; then die "the registry password appeared in the verify output"; fi
  [ "$rc" -eq 0 ] || { tail -60 "$WORK/verify.log"; die "playbooks/verify.yml failed (rc=$rc)"; }
  [ -f "$WORK/fleet.json" ] || die "verify wrote no fleet report"
  "$PY" - "$WORK/fleet.json" "$TARGET" <<'PYEOF'
import json, sys
report = json.load(open(sys.argv[1]))
for cluster in report['clusters']:
    print('[demo] %s: ok=%s category=%s' % (cluster.get('cluster'), cluster.get('ok'), cluster.get('category')))
    if sys.argv[2] == 'local':
        assert not cluster.get('ok'), 'the broken namespace was not reported'
        text = json.dumps(cluster)
        assert 'broken-demo' in text, 'the diagnosis does not name broken-demo'
print('[demo] machine-readable report: fleet.json (verify_report_dir)')
PYEOF
}

# --------------------------------------------------------------------------- 7. cleanup
step_cleanup() {
  step "playbooks/cleanup.yml: check mode shows the plan, then detach, delete, and registry retention"
  local rc=0 gc=false
  if [ "$TARGET" = "local" ]; then
    gc=true
    "$PY" - "$CONTEXTS" <<'PYEOF'
import os, sys
sys.path.insert(0, os.getcwd())
from tests.support.images import push_image
from kubernetes import client as k, config
from kubernetes.client.rest import ApiException

registry = 'https://' + os.environ['REGISTRY']
auth = (os.environ['REGISTRY_USER'], os.environ['REGISTRY_PASSWORD'])
ca = os.environ.get('REGISTRY_CA') or None
for tag, created in (('0.8', '2023-01-01T00:00:00Z'), ('0.9', '2023-06-01T00:00:00Z')):
    push_image(registry, 'demo/hello', [tag], auth=auth, ca=ca, created=created)
print('[demo] pushed demo/hello:0.8 and 0.9 (older than 1.0)')
kubeconfig = os.environ.get('K8S_AUTH_KUBECONFIG') or os.environ.get('KUBECONFIG')
ctx = sys.argv[1].split(',')[0]
apps = k.AppsV1Api(config.new_client_from_config(config_file=kubeconfig, context=ctx))
image = os.environ['REGISTRY'] + '/demo/hello:0.8'
dep = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'hello'},
       'spec': {'replicas': 1, 'selector': {'matchLabels': {'app': 'hello'}},
                'template': {'metadata': {'labels': {'app': 'hello'}},
                             'spec': {'containers': [{'name': 'hello', 'image': image}]}}}}
try:
    apps.create_namespaced_deployment('demo-web', dep)
except ApiException as exc:
    if exc.status != 409:
        raise
print('[demo] %s: Deployment demo-web/hello runs %s: retention must keep it' % (ctx, image))
PYEOF
  fi
  (umask 077; "$PY" - "$gc" > "$WORK/cleanup-vars.json" <<'PYEOF'
import json, os, sys
gc = sys.argv[1] == 'true'
out = {'registrylink_cleanup_secret_names': ['regcred'], 'registrylink_cleanup_namespaces': ['demo-*'],
       'cleanup_registry_gc': gc}
if gc:
    out['cleanup_registry'] = {'registry': os.environ['REGISTRY'], 'username': os.environ['REGISTRY_USER'],
                               'password': os.environ['REGISTRY_PASSWORD'],
                               'registry_ca_path': os.environ.get('REGISTRY_CA') or None}
    out['cleanup_retention'] = {'repositories': ['demo/hello'], 'keep_last': 1}
print(json.dumps(out))
PYEOF
  )
  for mode in check real; do
    local args=() log="$WORK/cleanup-$mode.log"
    [ "$mode" = check ] && args=(--check)
    ansible-playbook -i "$INVENTORY" --limit "$LIMIT" -e "@$WORK/cleanup-vars.json" "${args[@]}" playbooks/cleanup.yml \
      > "$log" 2>&1 || rc=$?
    say "cleanup ($mode mode):"
    sed -n '/Per-cluster summary\]/,/^$/p; /Registry retention summary\]/,/^$/p' "$log"
    if grep -qF -- "$REGISTRY_PASSWORD" "$log"; then die "the registry password appeared in the cleanup output"; fi
    [ "$rc" -eq 0 ] || { tail -60 "$log"; die "playbooks/cleanup.yml ($mode) failed (rc=$rc)"; }
  done
  "$PY" - "$CONTEXTS" "$gc" <<'PYEOF'
import os, sys
sys.path.insert(0, os.getcwd())
from kubernetes import client as k, config
from kubernetes.client.rest import ApiException
from tests.support.images import list_tags

kubeconfig = os.environ.get('K8S_AUTH_KUBECONFIG') or os.environ.get('KUBECONFIG')
for ctx in sys.argv[1].split(','):
    core = k.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=ctx))
    names = [r.name for r in core.read_namespaced_service_account('default', 'demo-legacy').image_pull_secrets or []]
    assert names == ['legacy-mirror'], (ctx, names)
    left = [s.metadata.namespace for s in
            core.list_secret_for_all_namespaces(field_selector='metadata.name=regcred').items]
    assert not [ns for ns in left if ns.startswith('demo-')], (ctx, left)
    print('[demo] %s: regcred detached and deleted in demo-*; demo-legacy/default still lists %s' % (ctx, names))
if sys.argv[2] == 'true':
    tags = sorted(list_tags('https://' + os.environ['REGISTRY'], 'demo/hello',
                            auth=(os.environ['REGISTRY_USER'], os.environ['REGISTRY_PASSWORD']),
                            ca=os.environ.get('REGISTRY_CA') or None))
    assert '0.8' in tags and '1.0' in tags and '0.9' not in tags, tags
    print('[demo] registry demo/hello tags after retention: %s (0.8 kept: a Deployment runs it)' % tags)
PYEOF
}

main() {
  step_environment
  step_namespaces
  step_setup
  step_rerun
  step_prove
  step_verify
  step_cleanup
  echo
  say "OK: setup put pull secrets in ${#DEMO_NAMESPACES[@]} namespaces per cluster without disturbing"
  say "    legacy-mirror (second run changed=0) and they authenticate to the registry; verify found the"
  say "    broken namespace; cleanup removed only what setup made and kept the image a Deployment runs."
}

main "$@"
