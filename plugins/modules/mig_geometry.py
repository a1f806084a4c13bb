#!/usr/bin/python
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mig_geometry
short_description: Apply a mig-parted MIG configuration to a host's GPUs with nvidia-smi
version_added: 0.1.0
description:
  - Reads the GPUs of the managed host with C(nvidia-smi), selects one configuration of a
    L(mig-parted,https://github.com/NVIDIA/mig-parted) config file (format version V(v1)),
    validates it against every GPU it matches and changes only what differs.
  - The GPUs' MIG profiles, placements and memory sizes are the ones their driver reports
    (C(nvidia-smi mig -lgip) and C(-lgipp)); the collection's model table is a cross-check
    (a difference is a warning), and a GPU it lacks but the driver describes works, with a
    warning.
  - Everything is validated before anything changes, and every problem is reported at once,
    naming the GPU (index and model) and the profile - a profile the GPU does not have,
    too many instances, more compute or memory slices than the GPU has, more than one
    media-extension (C(+me), C(+me.all)) instance, a device index the host lacks, MIG on a
    GPU that is not MIG capable, a configuration that selects no GPU of the host.
  - Refuses to touch a GPU that runs processes (and lists them) unless O(force=true).
  - MIG mode changes use C(nvidia-smi -i N -mig 0|1); a change left pending is made current
    by resetting that GPU (C(nvidia-smi -r -i N)) when O(reset_gpus=true) (on Ampere a mode
    change takes a reset; from Hopper on it does not). A GPU whose mode is still pending after
    that is reported in RV(reboot_required) (the task does not fail) and its instances are
    created by a run after the reboot.
  - GPU and compute instances are destroyed and created only on GPUs whose set of MIG devices
    differs from the configuration, keeping the instances that fit; new instances get an
    explicit placement (C(nvidia-smi mig -cgi <profile id>:<start>)) found by a search over
    all placements, and are created biggest first. A host that already matches makes no
    mutating C(nvidia-smi) call.
  - Entries are read as mig-parted reads them - an entry whose C(device-filter) selects none
    of the host's GPUs is skipped (its C(devices) are not checked); GPUs that no entry matches
    are left alone (with a warning). A configuration that selects no GPU of the host at all
    fails, as C(mig-parted assert) does, unless O(allow_no_match=true).
  - If a command fails half-way, the task fails listing the commands already applied and the
    resulting layout; the next run starts from the observed state and converges.
extends_documentation_fragment:
  - fractional.gpu.mig_config
author:
  - fractional.gpu contributors (@fractional-gpu)
options:
  force:
    description:
      - Change GPUs even when processes run on them (their work is lost).
    type: bool
    default: false
  reset_gpus:
    description:
      - Reset each GPU whose MIG mode change stays pending after C(nvidia-smi -mig).
      - With V(false), such GPUs are reported in RV(reboot_required).
    type: bool
    default: true
  nvidia_smi_path:
    description:
      - The C(nvidia-smi) executable, a name looked up in E(PATH) or an absolute path.
    type: str
    default: nvidia-smi
attributes:
  check_mode:
    description: Can run in check mode and return the plan without changing anything.
    support: full
  diff_mode:
    description: Returns the MIG layout before and after, one line per GPU instance.
    support: full
  platform:
    description: Linux hosts with NVIDIA GPUs and driver.
    support: full
    platforms: posix
requirements:
  - NVIDIA driver with C(nvidia-smi) (MIG support, R470 or later), run as root.
notes:
  - Profile keys may carry a compute-instance prefix (V(1c.3g.40gb)) - one GPU instance
    holding one compute instance of that many slices, as mig-parted creates them - and
    attributes as NVIDIA writes them (V(+me), V(+me.all), V(+gfx), V(-me)).
  - GPU and compute instances do not survive a reboot; run this module at boot (or let the
    GPU Operator's MIG manager do it) to recreate them. The MIG mode survives a reboot on
    Ampere (A100, A30) only; from Hopper on (H100, H200, B200...) a reboot or a driver
    reload turns it off, and the run after the reboot enables it again (no reset needed).
  - A process check only sees processes C(nvidia-smi) reports; monitoring agents (DCGM,
    nvsm, nvidia-persistenced) can still block a reset, which then shows in
    RV(reboot_required) and in the warnings.
seealso:
  - module: fractional.gpu.nvml_validate
  - module: fractional.gpu.gpu_info
"""

EXAMPLES = r"""
- name: Seven 1g.10gb MIG devices on every H100
  fractional.gpu.mig_geometry:
    config:
      version: v1
      mig-configs:
        all-1g.10gb:
          - device-filter: ["0x233010DE", "0x233110DE"]
            devices: all
            mig-enabled: true
            mig-devices:
              1g.10gb: 7
    config_name: all-1g.10gb
  register: mig

- name: Apply the GPU Operator's config file, as the MIG manager would
  fractional.gpu.mig_geometry:
    config_file: /etc/nvidia-mig-manager/config.yaml
    config_name: all-balanced

- name: Show what would change
  fractional.gpu.mig_geometry:
    config_file: /etc/nvidia-mig-manager/config.yaml
    config_name: all-3g.40gb
  check_mode: true
  diff: true

- name: Reboot when a MIG mode change could not be applied by a GPU reset
  ansible.builtin.reboot:
  when: mig.reboot_required
"""

RETURN = r"""
config_name:
  description: The configuration applied.
  returned: success
  type: str
  sample: all-1g.10gb
changed_gpus:
  description: Indices of the GPUs the plan changes.
  returned: always
  type: list
  elements: int
  sample: [5]
reboot_required:
  description: True when a GPU's MIG mode change is still pending after the reset (or without
    O(reset_gpus)); reboot and run again to create its instances.
  returned: always
  type: bool
  sample: false
reboot_required_gpus:
  description: Indices of the GPUs waiting for a reboot.
  returned: always
  type: list
  elements: int
  sample: []
plan:
  description:
    - One item per GPU of the host, in index order, with what the run does (did) to it.
    - C(commands) lists the mutating nvidia-smi calls in order; C(<new GI id>) stands for the
      id of a GPU instance created by the preceding call.
  returned: success, and on failure after planning
  type: list
  elements: dict
  contains:
    index:
      description: GPU index.
      type: int
    model:
      description: GPU model key of the collection's model table.
      type: str
    managed:
      description: False when no config entry matches the GPU (it is left alone).
      type: bool
    source:
      description: The config entry that matched, C(mig-configs.NAME[i]).
      type: str
    changed:
      description: Whether the GPU changes.
      type: bool
    mig_mode:
      description: Current, pending and desired MIG mode (booleans; null when not MIG capable or not managed).
      type: dict
    set_mig_mode:
      description: The mode C(-mig) sets, or null.
      type: bool
    reset_expected:
      description: Whether the mode change needs a GPU reset to take effect.
      type: bool
    destroy:
      description: GPU instances destroyed (name, profile, start, size, ids).
      type: list
      elements: dict
    keep:
      description: GPU instances kept.
      type: list
      elements: dict
    create:
      description: GPU instances created, with their start slot.
      type: list
      elements: dict
    commands:
      description: Mutating nvidia-smi commands.
      type: list
      elements: str
  sample:
    - index: 5
      model: H100-SXM5-80GB
      managed: true
      changed: true
      set_mig_mode: null
      create: [{name: 3g.40gb, profile: 3g.40gb, start: 0, size: 4}, {name: 3g.40gb, profile: 3g.40gb, start: 4, size: 4}]
      commands: ["nvidia-smi mig -i 5 -dci", "nvidia-smi mig -i 5 -dgi", "nvidia-smi mig -i 5 -cgi 9:0,9:4 -C"]
layout:
  description:
    - The MIG layout per GPU after the run (in check mode, the layout the run would produce).
  returned: success, and on failure when the GPUs could be read
  type: list
  elements: dict
  contains:
    index:
      description: GPU index.
      type: int
    model:
      description: GPU model key.
      type: str
    mig_enabled:
      description: Current MIG mode (null if not MIG capable).
      type: bool
    mig_pending:
      description: Pending MIG mode.
      type: bool
    instances:
      description: >-
        GPU instances by start slot, each with C(name) (the MIG device it provides, C(?) when
        it does not hold exactly one compute instance), C(profile), C(start), C(size), C(slots)
        and, for existing ones, C(gpu_instance_id) and C(compute_instance_ids).
      type: list
      elements: dict
summary:
  description: Counts of the plan (GPUs changed, mode changes, instances destroyed, kept and created, unmanaged GPUs).
  returned: success
  type: dict
commands:
  description: The mutating nvidia-smi commands run, in order (empty in check mode and on a converged host).
  returned: always
  type: list
  elements: str
errors:
  description: Every problem found in the configuration, when it is invalid.
  returned: failure on an invalid configuration
  type: list
  elements: str
busy_gpus:
  description: Processes per GPU, when the run refused to change busy GPUs.
  returned: failure on busy GPUs
  type: dict
failed_command:
  description: The nvidia-smi command that failed mid-apply.
  returned: failure mid-apply
  type: str
error_class:
  description: Class of the nvidia-smi error (in_use, reset_required, not_supported, insufficient_resources, no_permission, unknown).
  returned: failure mid-apply
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fractional.gpu.plugins.module_utils.mig_apply import (
    ApplyError,
    GeometryRun,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    MigConfigError,
    load_config,
    mig_config_module_args,
)
from ansible_collections.fractional.gpu.plugins.module_utils.nvidia_smi import NvidiaSmi


def main():
    module = AnsibleModule(**mig_config_module_args(
        force=dict(type="bool", default=False),
        reset_gpus=dict(type="bool", default=True),
        nvidia_smi_path=dict(type="str", default="nvidia-smi"),
    ))
    params = module.params
    try:
        data = load_config(params["config"], params["config_file"])
    except MigConfigError as exc:
        module.fail_json(msg=exc.report(", no GPU was changed"), errors=exc.errors, changed=False)

    path = module.get_bin_path(params["nvidia_smi_path"], required=True)
    client = NvidiaSmi(module.run_command, path)
    run = GeometryRun(client, data, params["config_name"], force=params["force"],
                      reset_gpus=params["reset_gpus"], check_mode=module.check_mode,
                      allow_no_match=params["allow_no_match"])
    try:
        result = run.run()
    except ApplyError as exc:
        for warning in run.warnings:
            module.warn(warning)
        failure = dict(exc.result)
        failure.pop("diff", None)
        failure.setdefault("changed", bool(client.mutations))
        module.fail_json(msg=exc.msg, **failure)

    for warning in result.pop("warnings", []):
        module.warn(warning)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
