#!/usr/bin/env bash
# The project's test command (`make test`, called by .ci/run):
#   sanity       ansible-test sanity on a copy of the collection under ansible_collections/registrylink/k8s
#   unit         pytest tests/unit (pure logic, no environment)
#   oracle       the kubelet model against the kubelet's own code (tests/oracle; builds the
#                oracle with hack/build-oracle.sh when it is not cached; no cluster needed)
#   lint         ansible-lint (production profile) on roles and playbooks
#   integration  starts the local environment (3 clusters), runs pytest tests/integration
#                (Python-level tests and the Ansible targets), stops it again
# With no argument: all five, in that order. Any failure fails the run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { echo; echo "=== [test] $*"; }

hack/bootstrap.sh
PY="$ROOT/.venv/bin/python"
export PATH="$ROOT/.venv/bin:$PATH"

collection_copy() {
  # ansible-test needs the tree at .../ansible_collections/<namespace>/<name>; copy the files
  # git knows about (tracked, and untracked but not ignored) so local artefacts stay out.
  local dest="$ROOT/.localenv/sanity/ansible_collections/registrylink/k8s"
  rm -rf "$ROOT/.localenv/sanity" && mkdir -p "$dest"
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | tar --null -T - -cf - | tar -xf - -C "$dest"
  echo "$dest"
}

run_sanity() {
  say "sanity: ansible-test sanity"
  # ansible-test --venv bootstraps pip with a get-pip.py it downloads from a host these
  # machines cannot reach; give it the offline stand-in where it looks for a cached copy.
  local pipver
  pipver="$("$PY" -c 'import re,ansible_test,os;p=os.path.join(os.path.dirname(ansible_test.__file__),"_internal","python_requirements.py");print(re.search(r"pip=.([0-9.]+).",open(p).read()).group(1))')"
  mkdir -p "$HOME/.ansible/test/cache"
  cp hack/get_pip_offline.py "$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
  local dest
  dest="$(collection_copy)"
  (cd "$dest" && git init -q . && git add -A >/dev/null 2>&1 && \
     ansible-test sanity --python "$("$PY" -c 'import sys;print("%d.%d"%sys.version_info[:2])')" --venv \
       --skip-test shellcheck --skip-test pslint --color no)
}

run_unit() {
  say "unit: pytest tests/unit"
  "$PY" -m pytest tests/unit -q -p no:cacheprovider
}

run_oracle() {
  say "oracle: the kubelet's own credential matching (k8s.io/kubernetes) against the collection's model"
  # Built here (cached in ~/.cache/registrylink/oracle) so its toolchain warning, if any, is in the log.
  hack/build-oracle.sh >/dev/null
  "$PY" -m pytest tests/oracle -q -p no:cacheprovider
}

run_lint() {
  say "lint: ansible-lint (production profile)"
  # ansible-lint resolves registrylink.k8s.* through the collections path: point it at this checkout.
  local coll="$ROOT/.localenv/lint-collections"
  mkdir -p "$coll/ansible_collections/registrylink"
  ln -sfn "$ROOT" "$coll/ansible_collections/registrylink/k8s"
  ANSIBLE_COLLECTIONS_PATH="$coll" ansible-lint --profile production --offline
}

run_integration() {
  say "integration: local environment up (3 clusters)"
  "$PY" hack/localenv.py up --clusters 3
  trap '"$PY" hack/localenv.py down' EXIT
  # shellcheck disable=SC1091
  . .localenv/env.sh
  say "integration: pytest tests/integration"
  "$PY" -m pytest tests/integration -q -p no:cacheprovider --durations=30
}

case "${1:-all}" in
  sanity) run_sanity ;;
  unit) run_unit ;;
  oracle) run_oracle ;;
  lint) run_lint ;;
  integration) run_integration ;;
  all) run_sanity; run_unit; run_oracle; run_lint; run_integration ;;
  *) echo "usage: hack/test.sh [sanity|unit|oracle|lint|integration|all]" >&2; exit 2 ;;
esac
