#!/usr/bin/python
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_info
short_description: NVIDIA GPU and MIG facts of a host, read through NVML
version_added: 0.1.0
description:
  - Reads every NVIDIA GPU of the managed host in one NVML session (through pynvml, package
    C(nvidia-ml-py)); does not run C(nvidia-smi).
  - Per GPU - index, name, the collection's model key, UUID, PCI bus and device id, memory,
    MIG capability, current and pending MIG mode, the MIG profiles the driver reports (id,
    instances, memory, slices, placements), MIG devices (GPU and compute instance ids,
    profile, placement, memory, UUID) and compute processes.
author:
  - fractional.gpu contributors (@fractional-gpu)
options: {}
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
  platform:
    description: Linux hosts with NVIDIA GPUs and driver.
    support: full
    platforms: posix
requirements:
  - nvidia-ml-py (pynvml) on the managed host.
  - The NVIDIA driver (libnvidia-ml.so.1).
seealso:
  - module: fractional.gpu.nvml_validate
  - module: fractional.gpu.mig_geometry
"""

EXAMPLES = r"""
- name: Read GPU facts
  fractional.gpu.gpu_info:
  register: gpu

- name: List MIG-capable GPUs
  ansible.builtin.debug:
    msg: "{{ gpu.gpus | selectattr('mig_capable') | map(attribute='index') | list }}"
"""

RETURN = r"""
gpu_count:
  description: Number of GPUs NVML reports.
  returned: always
  type: int
  sample: 8
gpus:
  description: One item per GPU, in NVML index order.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: NVML index.
      type: int
      sample: 0
    name:
      description: Product name.
      type: str
      sample: NVIDIA H100 80GB HBM3
    model:
      description: Key of the collection's GPU model table, null if the table does not know the GPU.
      type: str
      sample: H100-SXM5-80GB
    uuid:
      description: GPU UUID.
      type: str
    pci_bus_id:
      description: PCI bus id.
      type: str
      sample: "00000000:18:00.0"
    pci_device_id:
      description: PCI device and vendor id, as mig-parted's device-filter writes it.
      type: str
      sample: "0x233010DE"
    memory_mib:
      description: Total memory in MiB.
      type: int
      sample: 81559
    mig_capable:
      description: Whether the GPU supports MIG.
      type: bool
    mig_mode:
      description: C(current) and C(pending) MIG mode, V(enabled) or V(disabled) (null when not MIG capable).
      type: dict
      sample: {current: enabled, pending: enabled}
    mig_profiles:
      description: >-
        The GPU-instance profiles the driver reports (empty when not MIG capable), each with
        C(name), C(id), C(instances) (the most the GPU holds), C(memory_mib) (NVML
        memorySizeMB), C(compute_slices), C(memory_slices) and C(placements) (start slots).
      type: list
      elements: dict
      sample: [{name: 1g.18gb, id: 19, instances: 7, memory_mib: 16384, compute_slices: 1, memory_slices: 1, placements: [0, 1, 2, 3, 4, 5, 6]}]
    mig_devices:
      description: >-
        MIG devices (one per compute instance) with C(uuid), C(gpu_instance_id),
        C(compute_instance_id), C(profile) (V(1c.3g.40gb) for a compute instance smaller than
        its GPU instance), C(gpu_instance_profile_id), C(placement) (C(start), C(size)) and
        C(memory_mib).
      type: list
      elements: dict
    processes:
      description: Compute processes with C(pid), C(name), C(gpu_instance_id), C(compute_instance_id) and C(used_memory_mib).
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fractional.gpu.plugins.module_utils.nvml import (
    HAS_PYNVML,
    PYNVML_IMPORT_ERROR,
    NvmlError,
    collect_gpus,
    gpu_facts,
)


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    if not HAS_PYNVML:
        module.fail_json(msg=missing_required_lib("nvidia-ml-py (pynvml)"),
                         exception=PYNVML_IMPORT_ERROR)
    try:
        gpus = collect_gpus()
    except NvmlError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, gpu_count=len(gpus),
                     gpus=[gpu_facts(g) for g in gpus])


if __name__ == "__main__":
    main()
