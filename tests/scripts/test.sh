#!/usr/bin/env bash
# The README's test command (`make test`): every check, in the order that fails fastest.
#   tests/scripts/test.sh              all stages
#   tests/scripts/test.sh STAGE...     some: unit sanity lint molecule lab-up lab-down
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stage_unit() {
  step "Unit tests (pytest)"
  (cd "$REPO" && python -m pytest -q tests/unit)
}

stage_sanity() {
  step "ansible-test sanity"
  # ansible-test wants the collection at ansible_collections/<ns>/<name>: test a copy of
  # exactly what git would ship.
  local root="$FGPU_LAB_DIR/sanity" dest
  dest="$root/ansible_collections/fractional/gpu"
  rm -rf "$root" && mkdir -p "$dest"
  (cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
  (cd "$dest" && ansible-test sanity --venv --requirements --python "$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" --color no)
}

stage_lint() {
  step "ansible-lint (production profile)"
  (cd "$REPO" && ANSIBLE_COLLECTIONS_PATH="$(collections_path)" ansible-lint --profile production)
}

stage_molecule() {
  lab_up
  step "Molecule scenarios on the lab"
  local scenario
  export ANSIBLE_COLLECTIONS_PATH
  ANSIBLE_COLLECTIONS_PATH="$(collections_path)"
  for scenario in "$REPO"/extensions/molecule/*/; do
    scenario=$(basename "$scenario")
    [[ $scenario == default ]] && continue
    step "molecule test -s $scenario"
    (cd "$REPO/extensions" && molecule test -s "$scenario")
  done
}

main() {
  ensure_venv
  local stages=("$@")
  [[ ${#stages[@]} -gt 0 ]] || stages=(unit lint sanity molecule)
  local stage
  for stage in "${stages[@]}"; do
    case $stage in
      unit|sanity|lint|molecule) "stage_$stage" ;;
      lab-up) lab_up ;;
      lab-down) "$VENV/bin/python" "$REPO/tests/lab/lab.py" down ;;
      *) die "unknown stage '$stage' (unit sanity lint molecule lab-up lab-down)" ;;
    esac
  done
  step "All requested stages passed: ${stages[*]}"
}

main "$@"
