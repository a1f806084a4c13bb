# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real pynvml against the simulated NVML, checked against the simulated nvidia-smi.
Skipped (with the reason) where no C compiler can build the library."""

import re
import subprocess
import sys


def test_device_facts_agree_with_nvidia_smi(seed_with_nvml):
    sim = seed_with_nvml("gpu-h100-0")
    facts = sim.nvml("""
        out["driver"] = nvml.nvmlSystemGetDriverVersion()
        out["nvml_version"] = nvml.nvmlSystemGetNVMLVersion()
        out["cuda"] = nvml.nvmlSystemGetCudaDriverVersion()
        out["gpus"] = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            pci = nvml.nvmlDeviceGetPciInfo(h)
            mem = nvml.nvmlDeviceGetMemoryInfo(h)
            out["gpus"].append([nvml.nvmlDeviceGetIndex(h), nvml.nvmlDeviceGetName(h), nvml.nvmlDeviceGetUUID(h),
                                mem.total // 2**20, pci.busId, "0x%08X" % pci.pciDeviceId,
                                nvml.nvmlDeviceGetMigMode(h)])
        uuid = out["gpus"][3][2]
        out["by_uuid"] = nvml.nvmlDeviceGetIndex(nvml.nvmlDeviceGetHandleByUUID(uuid))
        out["by_bus"] = nvml.nvmlDeviceGetIndex(nvml.nvmlDeviceGetHandleByPciBusId(out["gpus"][5][4]))
    """)
    rows = sim.smi("--query-gpu=index,name,uuid,memory.total,pci.bus_id,pci.device_id",
                   "--format=csv,noheader,nounits").stdout.splitlines()
    assert [", ".join(str(v) for v in gpu[:6]) for gpu in facts["gpus"]] == rows
    assert all(gpu[6] == [0, 0] for gpu in facts["gpus"])
    assert (facts["driver"], facts["nvml_version"], facts["cuda"]) == ("580.95.05", "13.580.95.05", 13000)
    assert (facts["by_uuid"], facts["by_bus"]) == (3, 5)


def test_enable_mig_pending_reset_current(seed_with_nvml):
    sim = seed_with_nvml()
    sim.cli("fault", "--state", sim.path, "process-add", "--gpu", "1", "--pid", "99")
    out = sim.nvml("""
        h0, h1 = nvml.nvmlDeviceGetHandleByIndex(0), nvml.nvmlDeviceGetHandleByIndex(1)
        out["activation0"] = nvml.nvmlDeviceSetMigMode(h0, nvml.NVML_DEVICE_MIG_ENABLE)
        out["activation1"] = nvml.nvmlDeviceSetMigMode(h1, nvml.NVML_DEVICE_MIG_ENABLE)
        out["modes"] = [nvml.nvmlDeviceGetMigMode(h0), nvml.nvmlDeviceGetMigMode(h1)]
        out["procs"] = [(p.pid, p.usedGpuMemory // 2**20, p.gpuInstanceId)
                        for p in nvml.nvmlDeviceGetComputeRunningProcesses(h1)]
    """)
    assert (out["activation0"], out["activation1"]) == (0, 19)  # NVML_SUCCESS, NVML_ERROR_IN_USE
    assert out["modes"] == [[1, 1], [0, 1]]
    assert out["procs"] == [[99, 1024, 0xFFFFFFFF]]
    assert sim.smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader",
                   "-i", "1").stdout == "Disabled, Enabled\n"
    assert sim.smi("-r", "-i", "1").returncode == 255
    sim.cli("fault", "--state", sim.path, "process-clear")
    assert sim.smi("-r", "-i", "1").returncode == 0
    assert sim.nvml("out['mode'] = nvml.nvmlDeviceGetMigMode(nvml.nvmlDeviceGetHandleByIndex(1))") == {"mode": [1, 1]}
    assert [line.split(" ", 1)[1] for line in sim.mutations()][:2] == [
        "nvml nvmlDeviceSetMigMode gpu=0 mode=1 -> 0", "nvml nvmlDeviceSetMigMode gpu=1 mode=1 -> 0"]


def test_geometry_made_with_nvml_is_what_nvidia_smi_lists(seed_with_nvml):
    sim = seed_with_nvml()
    sim.smi("-i", "0", "-mig", "1")
    out = sim.nvml("""
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        def profile_id(enum):
            return nvml.nvmlDeviceGetGpuInstanceProfileInfo(h, enum).id
        made = []
        for enum, start in ((nvml.NVML_GPU_INSTANCE_PROFILE_4_SLICE, 0), (nvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE, 4),
                            (nvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE, 6)):
            placement = nvml.c_nvmlGpuInstancePlacement_t(start, 0)
            gi = nvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, profile_id(enum), nvml.byref(placement))
            info = nvml.nvmlGpuInstanceGetInfo(gi)
            ci_profile = nvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(
                gi, nvml.NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, nvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
            ci = nvml.nvmlGpuInstanceCreateComputeInstance(gi, ci_profile.id)
            made.append([info.id, info.profileId, info.placement.start, info.placement.size,
                         nvml.nvmlComputeInstanceGetInfo(ci).id])
        out["made"] = made
        out["remaining_1g"] = nvml.nvmlDeviceGetGpuInstanceRemainingCapacity(h, profile_id(0))
        devices = []
        for i in range(nvml.nvmlDeviceGetMaxMigDeviceCount(h)):
            try:
                m = nvml.nvmlDeviceGetMigDeviceHandleByIndex(h, i)
            except nvml.NVMLError_NotFound:
                break
            parent = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(m)
            devices.append([bool(nvml.nvmlDeviceIsMigDeviceHandle(m)), nvml.nvmlDeviceGetName(m),
                            nvml.nvmlDeviceGetUUID(m), nvml.nvmlDeviceGetGpuInstanceId(m),
                            nvml.nvmlDeviceGetComputeInstanceId(m), nvml.nvmlDeviceGetMemoryInfo(m).total // 2**20,
                            nvml.nvmlDeviceGetIndex(parent)])
        out["devices"] = devices
        out["is_mig_parent"] = bool(nvml.nvmlDeviceIsMigDeviceHandle(h))
    """)
    assert out["made"] == [[1, 5, 0, 4, 0], [5, 14, 4, 2, 0], [13, 19, 6, 1, 0]]
    assert out["remaining_1g"] == 0  # 4 + 2 + 1 compute slices
    assert out["is_mig_parent"] is False
    listing = sim.smi("-L", "-i", "0").stdout.splitlines()[1:]
    smi_devices = [re.match(r"  MIG (\S+)\s+Device\s+(\d+): \(UUID: (\S+)\)", line).groups() for line in listing]
    assert [(d[1].split(" MIG ")[1], d[2]) for d in out["devices"]] == [(name, uuid) for name, unused_index, uuid in smi_devices]
    assert [d[3:] for d in out["devices"]] == [[1, 0, 40448, 0], [5, 0, 20096, 0], [13, 0, 9984, 0]]
    assert all(d[0] for d in out["devices"])
    assert out["devices"][0][1] == "NVIDIA H100 80GB HBM3 MIG 1c.4g.40gb"
    lgi = sim.smi("mig", "-lgi", "-i", "0").stdout
    assert "|   0  MIG 4g.40gb          5        1          0:4     |" in lgi


def test_profile_queries(seed_with_nvml):
    sim = seed_with_nvml("gpu-a100-0")
    sim.smi("-i", "0", "-mig", "1")
    sim.smi("mig", "-i", "0", "-cgi", "0")
    out = sim.nvml("""
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        v2 = nvml.nvmlDeviceGetGpuInstanceProfileInfo(h, nvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2)
        by_id = nvml.nvmlDeviceGetGpuInstanceProfileInfoById(h, 15)
        out["gi"] = [v2.id, v2.name, v2.memorySizeMB, v2.instanceCount, by_id.name, by_id.sliceCount]
        try:
            nvml.nvmlDeviceGetGpuInstanceProfileInfo(h, nvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1)
        except nvml.NVMLError as error:
            out["a30_only"] = error.value
        try:
            nvml.nvmlDeviceGetGpuInstanceProfileInfo(h, 99)
        except nvml.NVMLError as error:
            out["out_of_range"] = error.value
        gi = nvml.nvmlDeviceGetGpuInstanceById(h, 0)
        ci = nvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, nvml.NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE,
                                                               nvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
        out["ci"] = [ci.id, ci.sliceCount, ci.instanceCount, ci.name]
        out["ci_left"] = nvml.nvmlGpuInstanceGetComputeInstanceRemainingCapacity(gi, ci.id)
        placements = (nvml.c_nvmlComputeInstancePlacement_t * 8)()
        count = nvml.c_uint(8)
        nvml.nvmlGpuInstanceGetComputeInstancePossiblePlacements(gi, ci.id, placements, nvml.byref(count))
        out["ci_placements"] = [placements[i].start for i in range(count.value)]
    """)
    assert out["gi"] == [15, "MIG 1g.10gb", 9984, 4, "MIG 1g.10gb", 1]
    assert (out["a30_only"], out["out_of_range"]) == (3, 2)  # NOT_SUPPORTED, INVALID_ARGUMENT
    assert out["ci"] == [1, 2, 3, "MIG 2c.7g.40gb"]
    assert (out["ci_left"], out["ci_placements"]) == (3, [0, 2, 4])


def test_conflicting_placement_and_limits_through_nvml(seed_with_nvml):
    sim = seed_with_nvml()
    sim.smi("-i", "0", "-mig", "1")
    sim.smi("mig", "-i", "0", "-cgi", "19:0,20:1", "-C")
    out = sim.nvml("""
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        def attempt(profile, start):
            try:
                placement = nvml.c_nvmlGpuInstancePlacement_t(start, 0)
                nvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, profile, nvml.byref(placement))
                return "ok"
            except nvml.NVMLError as error:
                return error.value
        out["3g_at_0"] = attempt(9, 0)
        out["3g_at_2"] = attempt(9, 2)
        out["second_me"] = attempt(20, 3)
        out["3g_at_4"] = attempt(9, 4)
        placements = (nvml.c_nvmlGpuInstancePlacement_t * 8)()
        count = nvml.c_uint(8)
        nvml.nvmlDeviceGetGpuInstancePossiblePlacements(h, 9, placements, nvml.byref(count))
        out["3g_placements"] = [[placements[i].start, placements[i].size] for i in range(count.value)]
        try:
            nvml.nvmlDeviceSetMigMode(h, nvml.NVML_DEVICE_MIG_DISABLE)
        except nvml.NVMLError as error:
            out["disable"] = error.value
        gi = nvml.nvmlDeviceGetGpuInstanceById(h, 7)
        try:
            nvml.nvmlGpuInstanceDestroy(gi)
        except nvml.NVMLError as error:
            out["destroy_busy"] = error.value
    """)
    assert out["3g_at_0"] == 23  # NVML_ERROR_INSUFFICIENT_RESOURCES: 1g at slot 0
    assert out["3g_at_2"] == 2  # NVML_ERROR_INVALID_ARGUMENT: not a 3g placement
    assert out["second_me"] == 23  # one +me per GPU
    assert out["3g_at_4"] == "ok"
    assert out["3g_placements"] == [[0, 4], [4, 4]]
    assert out["disable"] == 19  # NVML_ERROR_IN_USE: GPU instances exist
    assert out["destroy_busy"] == 19  # GI 7 (1g at slot 0) still has its compute instance


def test_nvml_and_nvidia_smi_share_one_state(seed_with_nvml):
    sim = seed_with_nvml()
    sim.smi("-mig", "1")
    sim.smi("mig", "-i", "2", "-cgi", "9,9", "-C")
    out = sim.nvml("""
        h = nvml.nvmlDeviceGetHandleByIndex(2)
        for gi_id in (1, 2):
            gi = nvml.nvmlDeviceGetGpuInstanceById(h, gi_id)
            nvml.nvmlComputeInstanceDestroy(nvml.nvmlGpuInstanceGetComputeInstanceById(gi, 0))
            nvml.nvmlGpuInstanceDestroy(gi)
        out["count"] = nvml.nvmlDeviceGetMaxMigDeviceCount(h)
        try:
            nvml.nvmlDeviceGetMigDeviceHandleByIndex(h, 0)
        except nvml.NVMLError as error:
            out["first"] = error.value
    """)
    assert out == {"count": 7, "first": 6}  # NVML_ERROR_NOT_FOUND
    assert sim.smi("mig", "-i", "2", "-lgi").stdout == "No GPU instances found: Not Found\n"


def test_l40s_mig_calls_are_not_supported(seed_with_nvml):
    sim = seed_with_nvml("gpu-l40s-0")
    out = sim.nvml("""
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        out["name"] = nvml.nvmlDeviceGetName(h)
        for call, args in (("nvmlDeviceGetMigMode", ()), ("nvmlDeviceSetMigMode", (1,)),
                           ("nvmlDeviceGetGpuInstanceProfileInfo", (0,))):
            try:
                getattr(nvml, call)(h, *args)
            except nvml.NVMLError as error:
                out[call] = error.value
        out["max_mig"] = nvml.nvmlDeviceGetMaxMigDeviceCount(h)
    """)
    assert out == {"name": "NVIDIA L40S", "nvmlDeviceGetMigMode": 3, "nvmlDeviceSetMigMode": 3,
                   "nvmlDeviceGetGpuInstanceProfileInfo": 3, "max_mig": 0}


def test_faults_reach_nvml(seed_with_nvml):
    sim = seed_with_nvml("gpu-a100-0")
    sim.cli("fault", "--state", sim.path, "mig-needs-reboot", "on")
    sim.cli("fault", "--state", sim.path, "fail-after-mutations", "1")
    out = sim.nvml("""
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        out["activation"] = nvml.nvmlDeviceSetMigMode(h, 1)
        try:
            nvml.nvmlDeviceSetMigMode(nvml.nvmlDeviceGetHandleByIndex(1), 1)
        except nvml.NVMLError as error:
            out["injected"] = error.value
        out["mode"] = nvml.nvmlDeviceGetMigMode(h)
    """)
    assert out == {"activation": 16, "injected": 999, "mode": [0, 1]}  # RESET_REQUIRED, UNKNOWN
    sim.cli("reboot", "--state", sim.path)
    assert sim.nvml("out['m'] = nvml.nvmlDeviceGetMigMode(nvml.nvmlDeviceGetHandleByIndex(0))") == {"m": [1, 1]}


def test_without_a_state_nvml_reports_no_driver(seed_with_nvml, tmp_path):
    sim = seed_with_nvml()
    env = dict(sim.env, FGPU_GPUSIM_STATE=str(tmp_path / "missing.state"), LD_LIBRARY_PATH=sim.nvml_dir)
    script = "import pynvml\ntry:\n    pynvml.nvmlInit()\nexcept pynvml.NVMLError as e:\n    print(e.value)\n"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "9"  # NVML_ERROR_DRIVER_NOT_LOADED


def test_an_h200_answers_as_the_real_one_with_mig_off(seed_with_nvml):
    """What the real H200 (driver 580.159.04) answered, read-only: subsystem id, profile info
    with MIG disabled, no MIG device slots, NOT_SUPPORTED for the enums it lacks."""
    sim = seed_with_nvml("gpu-h200-0")
    out = sim.nvml("""
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        pci = nvml.nvmlDeviceGetPciInfo(h)
        out["ids"] = [pci.pciDeviceId, pci.pciSubSystemId]
        out["max"] = nvml.nvmlDeviceGetMaxMigDeviceCount(h)
        out["profiles"] = {}
        for enum in range(nvml.NVML_GPU_INSTANCE_PROFILE_COUNT):
            try:
                info = nvml.nvmlDeviceGetGpuInstanceProfileInfo(h, enum)
                out["profiles"][enum] = [info.id, info.memorySizeMB, str(info.name)]
            except nvml.NVMLError as error:
                out["profiles"][enum] = error.value
    """)
    assert out["ids"] == [0x233510DE, 0x18BF10DE] and out["max"] == 0
    assert out["profiles"]["0"] == [19, 16384, "MIG 1g.18gb"]
    assert out["profiles"]["9"] == [15, 33280, "MIG 1g.35gb"]
    assert out["profiles"]["4"] == [0, 143360, "MIG 7g.141gb"]
    assert [int(k) for k, v in out["profiles"].items() if v == 3] == [5, 6, 8] + list(range(10, 18))
