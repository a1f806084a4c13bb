#!/usr/bin/python
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvml_validate
short_description: Check through NVML that a host's GPUs match a mig-parted MIG configuration
version_added: 0.1.0
description:
  - Reads the GPUs in one NVML session (pynvml) and compares them with the selected
    configuration of a mig-parted config - the same O(config) / O(config_file) /
    O(config_name) input as M(fractional.gpu.mig_geometry).
  - Checks the GPU count (O(expected_gpu_count)), the current and pending MIG mode of each
    GPU, the number of MIG devices of each profile, and the memory of each MIG device against
    the size the driver reports for its profile (C(nvmlDeviceGetGpuInstanceProfileInfo)).
  - The GPUs' profiles are the driver's; the collection's model table is only a cross-check
    (a difference is a warning), and a GPU it lacks works, with a warning.
  - Fails listing every mismatch; returns the full RV(report) either way. Changes nothing.
extends_documentation_fragment:
  - fractional.gpu.mig_config
author:
  - fractional.gpu contributors (@fractional-gpu)
options:
  expected_gpu_count:
    description:
      - Number of GPUs the host must have. Not checked when omitted.
    type: int
  memory_tolerance_percent:
    description:
      - How far, in percent of the profile's memory, a MIG device's memory may be from the
        size the driver reports for its profile (and the driver's sizes from the collection's
        table before the cross-check warns).
    type: float
    default: 2.0
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
seealso:
  - module: fractional.gpu.mig_geometry
  - module: fractional.gpu.gpu_info
"""

EXAMPLES = r"""
- name: Check the node carries its MIG geometry
  fractional.gpu.nvml_validate:
    config_file: /etc/nvidia-mig-manager/config.yaml
    config_name: all-1g.10gb
    expected_gpu_count: 8

- name: Check without failing, then decide
  fractional.gpu.nvml_validate:
    config:
      version: v1
      mig-configs:
        all-3g:
          - devices: all
            mig-enabled: true
            mig-devices: {"3g.40gb": 2}
  register: check
  ignore_errors: true
"""

RETURN = r"""
report:
  description: The comparison.
  returned: always when the GPUs could be read and the config resolved
  type: dict
  contains:
    ok:
      description: True when nothing differs.
      type: bool
    mismatches:
      description: Every difference found, one sentence each.
      type: list
      elements: str
    gpu_count:
      description: C(actual), C(expected) and C(ok).
      type: dict
    gpus:
      description: >-
        Per GPU - C(index), C(model), C(uuid), C(managed), C(ok), C(mig_mode) (C(current),
        C(pending), C(expected)), C(mig_devices) (C(actual) and C(expected) counts per
        profile), C(memory) (per MIG device - ids, profile, C(memory_mib),
        C(expected_memory_mib), the driver's figure for the profile, C(ok)), C(instances)
        (per GPU instance its C(profile), placement C(start) and C(size) in memory slices),
        C(slices) (the GPU's memory slices, from the placements the driver reports; null
        without MIG profiles) and its C(mismatches).
      type: list
      elements: dict
  sample:
    ok: false
    mismatches: ["GPU 3 (H100-SXM5-80GB): 6 x 1g.10gb MIG device(s), expected 7"]
config_name:
  description: The configuration checked.
  returned: when the config resolved
  type: str
errors:
  description: Every problem of the configuration, when it is invalid for this host.
  returned: failure on an invalid configuration
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    MigConfigError,
    desired_from_config,
    load_config,
    mig_config_module_args,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_validate import validate_host
from ansible_collections.fractional.gpu.plugins.module_utils.nvml import (
    HAS_PYNVML,
    PYNVML_IMPORT_ERROR,
    NvmlError,
    collect_gpus,
)


def main():
    module = AnsibleModule(**mig_config_module_args(
        expected_gpu_count=dict(type="int"),
        memory_tolerance_percent=dict(type="float", default=2.0),
    ))
    params = module.params
    if not HAS_PYNVML:
        module.fail_json(msg=missing_required_lib("nvidia-ml-py (pynvml)"),
                         exception=PYNVML_IMPORT_ERROR)
    try:
        data = load_config(params["config"], params["config_file"])
        gpus = collect_gpus()
        name, desired, warnings = desired_from_config(data, params["config_name"], gpus,
                                                      params["allow_no_match"])
    except MigConfigError as exc:
        module.fail_json(msg=exc.report(), errors=exc.errors)
    except NvmlError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)

    report = validate_host(gpus, desired, params["expected_gpu_count"],
                           params["memory_tolerance_percent"])
    if not report["ok"]:
        count = len(report["mismatches"])
        module.fail_json(msg="%d mismatch%s with MIG config %r:\n%s" % (
            count, "" if count == 1 else "es", name,
            "\n".join("- " + m for m in report["mismatches"])),
            report=report, config_name=name)
    module.exit_json(changed=False, report=report, config_name=name)


if __name__ == "__main__":
    main()
