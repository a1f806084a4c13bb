#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The README's test command (`make test`): every check, in the order that fails fastest.
#   tests/scripts/test.sh              all stages
#   tests/scripts/test.sh STAGE...     some: unit sanity lint ee molecule lab-up lab-down
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stage_unit() {
  step "Unit tests (pytest)"
  # The fleet picture test opens the HTML report in headless Chromium; Debian ships it.
  if ! command -v chromium-headless-shell >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq chromium-headless-shell) >/dev/null 2>&1 \
      || die "could not install chromium-headless-shell (apt-get), which the report test needs"
  fi
  # The tests import the working tree (tests/unit/conftest.py); what they run through
  # Ansible finds it through the same path as every other stage.
  local collections
  collections=$(collections_path)
  (cd "$REPO" && ANSIBLE_COLLECTIONS_PATH="$collections" FGPU_REQUIRE_BROWSER=1 python -m pytest -q tests/unit)
}

stage_sanity() (
  step "ansible-test sanity"
  if ! command -v shellcheck >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    # ansible-test skips its shellcheck test without it; Debian ships it.
    (apt-get update -qq && apt-get install -y -qq shellcheck) >/dev/null 2>&1 \
      || echo "warning: could not install shellcheck; ansible-test will skip that test" >&2
  fi
  # ansible-test wants the collection at ansible_collections/<ns>/<name>: test a copy of
  # exactly what git would ship, outside this clone (inside it, git would hide the copy).
  local root dest
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  dest="$root/ansible_collections/fractional/gpu"
  mkdir -p "$dest"
  (cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
  dependency_collections "$root"
  # ansible-test's --venv mode bootstraps pip from a host this machine cannot reach; run it
  # in a venv of its own instead (outside the clone, keyed by the ansible-core pin) where
  # --requirements installs the linters it pins.
  local core pyver sanity_venv
  core=$(sed -n 's/^ansible-core==//p' "$REPO/tests/requirements.txt")
  pyver=$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  sanity_venv="$FGPU_CACHE/sanity-venv-py$pyver-core$core"
  if [[ ! -x $sanity_venv/bin/ansible-test ]]; then
    python -m venv "$sanity_venv"
    "$sanity_venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$core" \
      || die "could not install ansible-core $core for ansible-test"
  fi
  # Each sanity test runs in a venv that ansible-test bootstraps with get-pip.py from a host
  # this machine cannot reach; a stand-in in its cache does the same from PyPI.
  local pip_version get_pip
  pip_version=$(sed -n "s/^ *pip='\(.*\)',\$/\1/p" \
    "$sanity_venv"/lib/python*/site-packages/ansible_test/_internal/python_requirements.py)
  [[ -n $pip_version ]] || die "cannot tell which pip ansible-test bootstraps"
  get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  mkdir -p "$(dirname "$get_pip")" && cp "$REPO/tests/scripts/get_pip_standin.py" "$get_pip"
  (cd "$dest" && PATH="$sanity_venv/bin:$PATH" ansible-test sanity --requirements \
    --python "$pyver" --color no)
)

stage_lint() (
  step "ansible-lint (production profile)"
  local collections role work
  collections=$(collections_path)
  (cd "$REPO" && ANSIBLE_COLLECTIONS_PATH="$collections" ansible-lint --profile production)
  step "ansible-doc renders every role's argument specs"
  for role in "$REPO"/roles/*/; do
    role=$(basename "$role")
    ANSIBLE_COLLECTIONS_PATH="$collections" ansible-doc -t role "fractional.gpu.$role" >/dev/null \
      || die "ansible-doc -t role fractional.gpu.$role failed"
  done

  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  step "Galaxy's import check (galaxy-importer) on the tarball ansible-galaxy builds"
  (cd "$REPO" && ansible-galaxy collection build --output-path "$work" >/dev/null)
  # Galaxy's settings, less its own ansible-lint pass: the one above lints more (every rule
  # of the production profile, the whole tree), and Galaxy's, which lints the tarball
  # unpacked under a placeholder name, cannot resolve the playbooks that name this
  # collection, and gives up after 180 s on a busy 2-core machine.
  # In the temporary directory: it writes importer_result.json where it runs.
  (cd "$work" && GALAXY_IMPORTER_RUN_ANSIBLE_LINT=false python -m galaxy_importer.main "$work"/fractional-gpu-*.tar.gz) \
    >"$work/import.log" 2>&1 || { cat "$work/import.log"; die "galaxy-importer refused the tarball"; }
  grep -v '^Loading ' "$work/import.log"
  ! grep -E '^(ERROR|WARNING)' "$work/import.log" >/dev/null \
    || die "galaxy-importer reported the problems above"
  step "antsibull-docs lint-collection-docs --plugin-docs"
  # It copies each dependency it finds, with git where the dependency sits in a checkout:
  # the venv's kubernetes.core (in the clone, ignored by git) would be copied empty. It must
  # find only the copy outside the clone, whatever the order of the two paths.
  dependency_collections "$work/deps"
  (cd "$REPO" && ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ANSIBLE_COLLECTIONS_PATH="$work/deps" \
    antsibull-docs lint-collection-docs --plugin-docs .)
)

stage_ee() (
  step "Execution environment: ansible-builder create"
  local context
  context=$(mktemp -d)
  trap 'rm -rf "$context" "$REPO"/meta/fractional-gpu-*.tar.gz' EXIT
  cd "$REPO" || exit 1
  ansible-galaxy collection build --force --output-path meta/ >/dev/null
  ansible-builder create -f meta/execution-environment.yml --context "$context"
)

stage_molecule() {
  # Every scenario starts from a fresh cluster: a lab already up (the one `make demo`
  # leaves, or an earlier run's) is restarted, and the lab is stopped when the run ends.
  if "$VENV/bin/python" "$REPO/tests/lab/lab.py" status --quiet; then
    step "Restarting the running lab in $FGPU_LAB_DIR, so that no scenario sees what an earlier run left"
    "$VENV/bin/python" "$REPO/tests/lab/lab.py" down
  fi
  trap '"$VENV/bin/python" "$REPO/tests/lab/lab.py" down' EXIT
  lab_up
  # KAI's scheduler, binder and friends run as processes (tests/lab/kai.sh) for the
  # kai_scheduler scenario.
  "$REPO/tests/lab/kai.sh" start
  local scenario scenarios=(fresh_cluster)
  export ANSIBLE_COLLECTIONS_PATH
  ANSIBLE_COLLECTIONS_PATH="$(collections_path)"
  # fresh_cluster first: it needs the GPU nodes as the lab starts them, before any
  # scenario has installed the GPU Operator on them. scale_faults last: it crashes the
  # lab's apiserver in the middle of a run (and starts it again). preflight stops the
  # apiserver too, which stops KAI's processes (tests/lab/kai.sh): kai_scheduler, the one
  # scenario that needs them, sorts before it.
  for scenario in "$REPO"/extensions/molecule/*/; do
    scenario=$(basename "$scenario")
    [[ $scenario == default || $scenario == fresh_cluster || $scenario == scale_faults ]] \
      || scenarios+=("$scenario")
  done
  scenarios+=(scale_faults)
  local started times=()
  for scenario in "${scenarios[@]}"; do
    step "molecule test -s $scenario"
    started=$SECONDS
    (cd "$REPO" && molecule test -s "$scenario")
    times+=("$(printf '%5ds  %s' $((SECONDS - started)) "$scenario")")
  done
  step "Time per scenario"
  printf '%s\n' "${times[@]}" >&2
  "$REPO/tests/lab/kai.sh" stop
}

main() {
  ensure_venv
  local stages=("$@")
  [[ ${#stages[@]} -gt 0 ]] || stages=(unit lint sanity ee molecule)
  local stage
  for stage in "${stages[@]}"; do
    case $stage in
      unit|sanity|lint|ee|molecule) "stage_$stage" ;;
      lab-up) lab_up ;;
      lab-down) "$VENV/bin/python" "$REPO/tests/lab/lab.py" down ;;
      *) die "unknown stage '$stage' (unit sanity lint ee molecule lab-up lab-down)" ;;
    esac
  done
  step "All requested stages passed: ${stages[*]}"
}

main "$@"
