# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import dataclasses

import pytest
from fake_pynvml import NVML_ERROR_UNINITIALIZED, FakePynvml
from fake_smi import FakeSmi

from ansible_collections.fractional.gpu.plugins.module_utils.mig_apply import GeometryRun
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    DesiredGpu,
    ProfileKey,
    desired_from_config,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_validate import validate_gpu, validate_host
from ansible_collections.fractional.gpu.plugins.module_utils.nvidia_smi import NvidiaSmi
from ansible_collections.fractional.gpu.plugins.module_utils.nvml import (
    NvmlError,
    NvmlSession,
    collect_gpus,
    gpu_facts,
)

CONFIG = {"version": "v1", "mig-configs": {
    "balanced": [{"device-filter": "0x233010DE", "devices": "all", "mig-enabled": True,
                  "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}},
                 {"device-filter": "0x26B910DE", "devices": "all", "mig-enabled": False}],
    "split": [{"devices": [0], "mig-enabled": True,
               "mig-devices": {"1c.3g.40gb": 1, "3g.40gb": 1}}],
}}


def mixed_host():
    smi = FakeSmi([("H100-SXM5-80GB", 2), ("L40S", 1)])
    GeometryRun(NvidiaSmi(smi), CONFIG, "balanced").run()
    return smi


def test_collect_facts_match_nvidia_smi_view():
    smi = mixed_host()
    smi.gpus[2].processes.append((77, "render", None))
    lib = FakePynvml(smi)
    gpus = collect_gpus(lib)
    assert lib.initialised == 1 and lib.shutdowns == 1 and sum(lib.counts.values()) > 0
    by_smi = NvidiaSmi(smi).read_state()
    for nv, sm in zip(gpus, by_smi):
        assert (nv.index, nv.name, nv.model, nv.pci_device_id, nv.mig_capable,
                nv.mig_current, nv.mig_pending, nv.layout_names()) == (
            sm.index, sm.name, sm.model, sm.pci_device_id, sm.mig_capable,
            sm.mig_current, sm.mig_pending, sm.layout_names())
    h100, l40s = gpus[0], gpus[2]
    assert [(gi.profile, gi.placement_start) for gi in h100.gpu_instances] == [
        ("3g.40gb", 4), ("2g.20gb", 0), ("1g.10gb", 2), ("1g.10gb", 3)]
    assert l40s.mig_capable is False and l40s.mig_current is None
    assert [(p.pid, p.name, p.gpu_instance_id) for p in l40s.processes] == [(77, "render", None)]


def test_gpu_facts_dict():
    gpus = collect_gpus(FakePynvml(mixed_host()))
    facts = gpu_facts(gpus[0])
    assert facts["pci_device_id"] == "0x233010DE"
    assert facts["mig_mode"] == {"current": "enabled", "pending": "enabled"}
    assert facts["mig_devices"][0] == {
        "uuid": "MIG-fake-0-1-0", "gpu_instance_id": 1, "compute_instance_id": 0,
        "profile": "3g.40gb", "gpu_instance_profile_id": 9,
        "placement": {"start": 4, "size": 4}, "memory_mib": 40448}
    assert gpu_facts(gpus[2])["mig_mode"] == {"current": None, "pending": None}
    assert gpus[0].pci_bus_id == "00000000:10:00.0"


def test_compute_instance_prefix_seen_through_nvml():
    smi = FakeSmi([("H100-SXM5-80GB", 1)], mig=True)
    GeometryRun(NvidiaSmi(smi), CONFIG, "split").run()
    gpus = collect_gpus(FakePynvml(smi))
    assert gpus[0].layout_names() == ["1c.3g.40gb", "3g.40gb"]
    assert sorted(d["profile"] for d in gpu_facts(gpus[0])["mig_devices"]) == [
        "1c.3g.40gb", "3g.40gb"]


def test_shutdown_always_runs_and_errors_are_wrapped():
    lib = FakePynvml(mixed_host())
    lib.fail_on = "nvmlDeviceGetMaxMigDeviceCount"
    with pytest.raises(NvmlError, match="NVML query failed"):
        collect_gpus(lib)
    assert lib.initialised == 1 and lib.shutdowns == 1


def test_init_failure():
    lib = FakePynvml(mixed_host(), init_error=NVML_ERROR_UNINITIALIZED)
    with pytest.raises(NvmlError, match="cannot initialise NVML"):
        with NvmlSession(lib):
            pass
    assert lib.shutdowns == 0


def _validate(smi, name="balanced", expected=None):
    gpus = collect_gpus(FakePynvml(smi))
    dummy, desired, warnings = desired_from_config(CONFIG, name, gpus)
    return validate_host(gpus, desired, expected)


def test_validate_converged_host_is_ok():
    report = _validate(mixed_host(), expected=3)
    assert report["ok"] is True and report["mismatches"] == []
    assert report["gpus"][0]["mig_devices"] == {
        "actual": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1},
        "expected": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}
    assert all(m["ok"] for m in report["gpus"][0]["memory"])


def test_validate_reports_every_mismatch():
    smi = mixed_host()
    del smi.gpus[0].gis[4]  # one 1g.10gb gone (GI ids: 3g=1, 2g=2, 1g=3,4)
    smi.gpus[1].current, smi.gpus[1].pending, smi.gpus[1].gis = False, True, {}
    report = _validate(smi, expected=4)
    assert report["ok"] is False
    assert report["mismatches"] == [
        "host has 3 GPU(s), expected 4",
        "GPU 0 (H100-SXM5-80GB): 1 x 1g.10gb MIG device(s), expected 2",
        "GPU 1 (H100-SXM5-80GB): MIG mode is disabled, expected enabled",
        "GPU 1 (H100-SXM5-80GB): 0 x 1g.10gb MIG device(s), expected 2",
        "GPU 1 (H100-SXM5-80GB): 0 x 2g.20gb MIG device(s), expected 1",
        "GPU 1 (H100-SXM5-80GB): 0 x 3g.40gb MIG device(s), expected 1",
    ]


def one_7g_gpu():
    """An H100 holding one 7g.80gb, read through NVML, and its desired state."""
    smi = FakeSmi([("H100-SXM5-80GB", 1)], mig=True)
    GeometryRun(NvidiaSmi(smi), {"version": "v1", "mig-configs": {"x": [
        {"devices": "all", "mig-enabled": True, "mig-devices": {"7g.80gb": 1}}]}}, "x").run()
    gpus = collect_gpus(FakePynvml(smi))
    return gpus[0], DesiredGpu(0, True, (ProfileKey("7g.80gb"),), "H100-SXM5-80GB")


def test_validate_memory_and_pending():
    gpu, desired = one_7g_gpu()
    gpu.gpu_instances[0].compute_instances[0].memory_mib = 70000
    gpu.mig_pending = False
    report = validate_gpu(gpu, desired)
    assert report["mismatches"] == [
        "GPU 0 (H100-SXM5-80GB): MIG mode change to disabled is pending (needs a GPU reset or "
        "a reboot)",
        "GPU 0 (H100-SXM5-80GB): MIG device GI 1 CI 0 (7g.80gb) has 70000 MiB, the driver "
        "reports 81152 MiB for its profile",
    ]


def test_memory_is_compared_with_the_drivers_figure_not_the_table():
    gpu, desired = one_7g_gpu()
    # A driver whose 7g is 10% smaller than the table's: its MIG device has that size too.
    gpu.profiles = [dataclasses.replace(p, memory_mib=73000) if p.name == "7g.80gb" else p
                    for p in gpu.profiles]
    gpu.gpu_instances[0].compute_instances[0].memory_mib = 73000
    report = validate_gpu(gpu, desired)
    assert report["ok"] and report["memory"][0]["expected_memory_mib"] == 73000


def test_processes_per_mig_device_when_the_whole_gpu_is_refused():
    smi = mixed_host()
    smi.gpus[0].processes.extend([(11, "a", 1), (12, "b", 3)])
    lib = FakePynvml(smi)
    lib.parent_processes_denied = True
    gpus = collect_gpus(lib)
    assert sorted((p.pid, p.gpu_instance_id) for p in gpus[0].processes) == [(11, 1), (12, 3)]
    lib = FakePynvml(smi)
    gpus = collect_gpus(lib)
    assert sorted((p.pid, p.gpu_instance_id) for p in gpus[0].processes) == [(11, 1), (12, 3)]
    # one whole-GPU query per GPU when it is allowed
    assert lib.counts["nvmlDeviceGetComputeRunningProcesses"] == 3


def test_profile_ids_asked_once_per_model():
    lib = FakePynvml(mixed_host())
    collect_gpus(lib)
    # Every profile enum of the first H100 (the second asks none), and each profile's placements.
    assert lib.counts["nvmlDeviceGetGpuInstanceProfileInfo"] == 0x12
    assert lib.counts["nvmlDeviceGetGpuInstancePossiblePlacements"] == 7
