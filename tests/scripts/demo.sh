#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The README's main command (`make demo`): bring the lab up and run playbooks/site.yml
# against it with the example inventory.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_venv
lab_up
start_simulators
export ANSIBLE_COLLECTIONS_PATH
ANSIBLE_COLLECTIONS_PATH="$(collections_path)"
step "ansible-playbook -i inventories/lab playbooks/site.yml"
cd "$REPO" || exit 1
ansible-playbook -i inventories/lab playbooks/site.yml "$@"
step "The lab keeps running: \`source .lab/env\` for kubectl; \`make lab-down\` stops it"
