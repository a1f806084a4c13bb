# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the NVIDIA kernel driver publishes under /proc/driver, as a simulated host's would.

Only what NVIDIA's device plugin reads: /proc/driver/nvidia-caps/mig-minors, the device
minor of every MIG capability, from which the plugin names a MIG device's
/dev/nvidia-caps/nvidia-cap<minor> nodes (k8s-device-plugin internal/mig/mig-dp.go).
"""

# The driver lists the capabilities of every GPU, GPU instance and compute instance it can
# hold, whether or not they exist: 32 GPUs, GPU instance ids 0-14, compute instance ids
# 0-7, numbered in that order after the MIG config (1) and monitor (2) capabilities
# (NVIDIA MIG user guide, "Device Nodes and Capabilities": config 1, monitor 2,
# gpu0/gi0/access 3, gpu0/gi0/ci0/access 4, ..., gpu31/gi14/ci7/access 4322).
MAX_GPUS, GPU_INSTANCE_IDS, COMPUTE_INSTANCE_IDS = 32, 15, 8


def mig_minors():
    """The text of /proc/driver/nvidia-caps/mig-minors."""
    lines = ["config 1", "monitor 2"]
    minor = 3
    for gpu in range(MAX_GPUS):
        for gi in range(GPU_INSTANCE_IDS):
            lines.append("gpu%d/gi%d/access %d" % (gpu, gi, minor))
            minor += 1
            for ci in range(COMPUTE_INSTANCE_IDS):
                lines.append("gpu%d/gi%d/ci%d/access %d" % (gpu, gi, ci, minor))
                minor += 1
    return "\n".join(lines) + "\n"
