#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Captures, READ-ONLY, what NVIDIA's device plugin and GPU feature discovery see on a real
# GPU host, to check the simulated NVML and the lab against (tests/gpusim, tests/lab):
#   - nvml_plugin_facts.json: the NVML queries they make (tests/device/nvml_plugin_facts.py);
#   - mig-minors.txt, dev.txt: the driver's MIG capability minors and device nodes;
#   - gfd-<strategy>.txt/.log: GFD's labels (oneshot, no timestamp) under MIG_STRATEGY none,
#     single and mixed;
#   - plugin.log, kubelet.log: the device plugin with the GPU Operator's environment,
#     registered with the lab's kubelet stand-in (tests/lab/kubelet) for 20 s.
# Nothing changes a GPU setting: these programs only query NVML (the plugin registers for
# health events). The kubelet stand-in's socket directory must be absent or empty.
#
# Usage (on the GPU host):  OUT=/some/dir tests/device/nvidia_plugin_capture.sh BIN_DIR
#   BIN_DIR holds nvidia-device-plugin, gpu-feature-discovery and fgpu-kubelet (built by
#   tests/lab/build.sh on a machine with Go; this host needs none).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OUT:?set OUT to the directory for the capture}"
bin=${1:?give the directory holding the binaries}
dir=/var/lib/kubelet/device-plugins
if [[ -d $dir && -n $(ls -A "$dir") ]]; then
  echo "refusing: $dir is in use on this host" >&2
  exit 2
fi

python3 "$here/nvml_plugin_facts.py" >"$OUT/nvml_plugin_facts.json" 2>"$OUT/nvml_plugin_facts.err"
{
  head -n 12 /proc/driver/nvidia-caps/mig-minors && echo ... && tail -n 3 /proc/driver/nvidia-caps/mig-minors
  wc -l </proc/driver/nvidia-caps/mig-minors
} >"$OUT/mig-minors.txt" 2>&1
ls -la /dev/nvidia* /dev/nvidia-caps >"$OUT/dev.txt" 2>&1

for strategy in none single mixed; do
  MIG_STRATEGY=$strategy GFD_ONESHOT=true GFD_NO_TIMESTAMP=true GFD_OUTPUT_FILE="$OUT/gfd-$strategy.txt" \
    timeout 60 "$bin/gpu-feature-discovery" >"$OUT/gfd-$strategy.log" 2>&1
  echo "gfd $strategy: rc $?" >>"$OUT/index.txt"
done

mkdir -p "$dir"
"$bin/fgpu-kubelet" --node real --dir "$dir" --status-interval 2s \
  >"$OUT/kubelet.log" 2>&1 &
kubelet=$!
sleep 1
# The GPU Operator's environment for the plugin (assets/state-device-plugin, chart defaults).
env PASS_DEVICE_SPECS=true FAIL_ON_INIT_ERROR=true DEVICE_LIST_STRATEGY=envvar DEVICE_ID_STRATEGY=uuid \
  NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=all MPS_ROOT=/run/nvidia/mps MIG_STRATEGY=single \
  NVIDIA_MIG_MONITOR_DEVICES=all timeout -s TERM 20 "$bin/nvidia-device-plugin" >"$OUT/plugin.log" 2>&1
echo "plugin: rc $?" >>"$OUT/index.txt"
kill "$kubelet"
wait "$kubelet"
rmdir "$dir" 2>/dev/null
exit 0
