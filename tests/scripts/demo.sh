#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The README's main command (`make demo`): bring the lab up and run playbooks/site.yml
# against it with the example inventory.
#
# site.yml's first play reads the GPU labels NVIDIA's GPU feature discovery gives each node,
# which it does only once the GPU Operator runs: the demo installs the operator first
# (playbooks/gpu_operator.yml, which site.yml runs again, changing nothing) and waits for
# those labels.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# wait_for_gpu_labels: until every GPU node carries GPU feature discovery's product label.
wait_for_gpu_labels() {
  local deadline=$((SECONDS + 180)) missing
  while true; do
    missing=$(kubectl get nodes -l 'nvidia.com/gpu.present=true,!nvidia.com/gpu.product' -o name)
    [[ -z $missing ]] && return
    ((SECONDS < deadline)) || die "no GPU feature discovery labels after 180 s on: ${missing//$'\n'/ }"
    sleep 2
  done
}

ensure_venv
lab_up
# KAI's scheduler, binder and friends run as processes (tests/lab/kai.sh).
"$REPO/tests/lab/kai.sh" start
export ANSIBLE_COLLECTIONS_PATH
ANSIBLE_COLLECTIONS_PATH="$(collections_path)"
cd "$REPO" || exit 1
step "ansible-playbook -i inventories/lab playbooks/gpu_operator.yml"
ansible-playbook -i inventories/lab playbooks/gpu_operator.yml "$@"
wait_for_gpu_labels
step "ansible-playbook -i inventories/lab playbooks/site.yml"
ansible-playbook -i inventories/lab playbooks/site.yml "$@"
step "The lab keeps running: \`source .lab/env\` for kubectl; \`make lab-down\` stops it"
