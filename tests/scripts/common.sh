# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Shared by the project's scripts: paths, the Python venv, the lab environment.
# shellcheck shell=bash
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export FGPU_CACHE=${FGPU_CACHE:-$HOME/.cache/fractional-gpu}
export FGPU_LAB_DIR=${FGPU_LAB_DIR:-$REPO/.lab}
VENV=${FGPU_VENV:-$REPO/.venv}
# ansible-lint and molecule (ansible-compat) put $ANSIBLE_HOME/collections first on the
# collections path: inside the clone, a copy of fractional.gpu installed in
# ~/.ansible/collections (by the README's install step) is never the one tested.
export ANSIBLE_HOME="$REPO/.ansible"

# Each step says how long the command has run so far (minutes:seconds), so a slow part
# shows in any log.
step() { printf '\n\033[1m==> [%d:%02d] %s\033[0m\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# ensure_venv: a venv with tests/requirements.txt (which includes requirements.txt)
# installed; re-installed only when the pins change.
ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(cat "$REPO/requirements.txt" "$REPO/tests/requirements.txt" | sha256sum | cut -d' ' -f1)
  if [[ ! -x $VENV/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    step "Installing Python dependencies into $VENV (pinned in requirements.txt, tests/requirements.txt)"
    command -v python3 >/dev/null || die "python3 (3.11 or newer) is not on PATH"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REPO/tests/requirements.txt" \
      || die "pip could not install tests/requirements.txt (is PyPI reachable?)"
    echo "$want" >"$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
  export FGPU_PYTHON="$VENV/bin/python"
}

# collections_path: a directory holding ansible_collections/fractional/gpu -> this clone,
# so Ansible finds the collection under test without installing it.
collections_path() {
  "$VENV/bin/python" "$REPO/tests/lab/lab.py" collections
}

# dependency_collections DIR: the collections fractional.gpu depends on (galaxy.yml:
# kubernetes.core, the copy the ansible package ships) copied to DIR/ansible_collections, as
# ansible-galaxy installs them. A copy: tools that copy a collection with git (antsibull-docs)
# find nothing of a venv inside the clone, which .gitignore hides.
dependency_collections() {
  local k8s_core
  k8s_core=$("$VENV/bin/python" -c 'import ansible_collections.kubernetes.core as c; print(list(c.__path__)[0])')
  mkdir -p "$1/ansible_collections/kubernetes"
  cp -r "$k8s_core" "$1/ansible_collections/kubernetes/core"
}

# lab_env: start the lab (cached builds) and export what playbooks and tests need.
lab_up() {
  step "Starting the lab (kube-apiserver, etcd, controller-manager, scheduler, kwok; the containers of the GPU Operator's pods: NVIDIA's controller, device plugin and GFD, the MIG manager stand-in)"
  "$VENV/bin/python" "$REPO/tests/lab/lab.py" up "$@"
  # shellcheck disable=SC1091
  source "$FGPU_LAB_DIR/env"
}

