#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Captures, READ-ONLY, what a real NVIDIA GPU reports, as fixtures for the unit tests:
# nvidia-smi's query outputs, an NVML dump (tests/device/nvml_dump.py) and the results of
# the collection's gpu_info / nvml_validate / mig_geometry (check mode) on that host.
# Nothing here changes a MIG mode, an instance, a clock or any other setting: every
# nvidia-smi call goes through tests/device/readonly-nvidia-smi, which refuses the others.
#
# Usage (on the GPU host, from the repository root):  OUT=/some/dir tests/device/capture.sh
# ansible-core must be importable (wheels in .whl/ are installed into /tmp/site if present).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${OUT:?set OUT to the directory for the capture}"
cap="$OUT/cap"
mkdir -p "$cap"
export FGPU_REAL_NVIDIA_SMI=${FGPU_REAL_NVIDIA_SMI:-$(command -v nvidia-smi)}
export FGPU_GUARD_LOG="$cap/guard.log"
smi="$here/readonly-nvidia-smi"

run() {  # run NAME ARGS...: stdout, stderr and the exit code of one read-only call
  local name=$1; shift
  "$smi" "$@" >"$cap/$name.txt" 2>"$cap/$name.err"
  echo "$name: nvidia-smi $* -> rc $?" >>"$cap/index.txt"
}
run smi
run smi_version --version
run smi_L -L
run q -q
run q_x -q -x
run lgip mig -lgip
run lgipp mig -lgipp
run lgi mig -lgi
run lci mig -lci
run lcip mig -lcip
run lcipp mig -lcipp
run query --query-gpu=index,name,pci.device_id,pci.sub_device_id,memory.total,mig.mode.current,mig.mode.pending --format=csv

python3 "$here/nvml_dump.py" >"$cap/nvml_dump.json" 2>"$cap/nvml_dump.err"
echo "nvml_dump: rc $?" >>"$cap/index.txt"

if ls "$repo"/.whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$repo"/.whl/*.whl && export PYTHONPATH=/tmp/site PATH="/tmp/site/bin:$PATH"
fi
mkdir -p /tmp/fgpu-collections/ansible_collections/fractional
ln -sfn "$repo" /tmp/fgpu-collections/ansible_collections/fractional/gpu
ANSIBLE_COLLECTIONS_PATH=/tmp/fgpu-collections ANSIBLE_PYTHON_INTERPRETER=$(command -v python3) \
  ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
  LC_ALL=C.UTF-8 python3 -m ansible.cli.playbook "$here/real_gpu.yml" -v >"$cap/playbook.txt" 2>&1
echo "playbook: rc $?" >>"$cap/index.txt"
[[ -s $cap/guard.log ]] && echo "GUARD REFUSED CALLS, see guard.log" >>"$cap/index.txt"
tar -czf "$OUT/capture.tar.gz" -C "$OUT" cap && rm -rf "$cap"
