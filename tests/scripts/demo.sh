#!/usr/bin/env bash
# The README's main command (`make demo`): bring the lab up and run playbooks/site.yml
# against it with the example inventory.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_venv
lab_up
# KAI's scheduler, binder and friends run as processes (tests/lab/kai.sh).
"$REPO/tests/lab/kai.sh" start
export ANSIBLE_COLLECTIONS_PATH
ANSIBLE_COLLECTIONS_PATH="$(collections_path)"
step "ansible-playbook -i inventories/lab playbooks/site.yml"
cd "$REPO" || exit 1
ansible-playbook -i inventories/lab playbooks/site.yml "$@"
step "The lab keeps running: \`source .lab/env\` for kubectl; \`make lab-down\` stops it"
