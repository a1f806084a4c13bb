#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The README's main command (`make demo`): bring the lab up and run playbooks/site.yml
# against it with the example inventory. The lab's GPU nodes start as a real cluster's do
# before the GPU Operator (NFD's labels only): site.yml installs the operator, labels the
# pools from the inventory, waits for GPU feature discovery and converges.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_venv
lab_up
# KAI's scheduler, binder and friends run as processes (tests/lab/kai.sh).
"$REPO/tests/lab/kai.sh" start
export ANSIBLE_COLLECTIONS_PATH
ANSIBLE_COLLECTIONS_PATH="$(collections_path)"
cd "$REPO" || exit 1
step "ansible-playbook -i inventories/lab playbooks/site.yml"
ansible-playbook -i inventories/lab playbooks/site.yml "$@"
step "The lab keeps running: \`source .lab/env\` for kubectl; \`make lab-down\` stops it"
