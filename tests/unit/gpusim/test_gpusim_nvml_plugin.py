# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated NVML as NVIDIA's device plugin and GPU feature discovery use it (through
go-nvml, which calls the library's symbols directly: a missing one kills the process).
The real pynvml drives it here; the expected values are the real H200's where it was
captured (tests/fixtures/real), else nvml.h's documented behaviour."""

import ctypes
import os

from gpusim import host as gpusim_host
from gpusim import procfs

# Every NVML function NVIDIA's device plugin and GFD (k8s-device-plugin v0.18.2, go-nvlib,
# go-nvml) call on the paths the lab runs: start, MIG enumeration, labels, health checks.
# Allocation (GetPreferredAllocation's topology and NVLink queries) is not among them: the
# lab's kubelet stand-in never allocates.
PLUGIN_AND_GFD_CALLS = (
    "nvmlInit_v2", "nvmlShutdown", "nvmlErrorString", "nvmlSystemGetDriverVersion",
    "nvmlSystemGetCudaDriverVersion", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
    "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetPciInfo_v3",
    "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMinorNumber", "nvmlDeviceGetCudaComputeCapability",
    "nvmlDeviceGetArchitecture", "nvmlDeviceGetBrand", "nvmlDeviceGetAttributes_v2",
    "nvmlDeviceGetGpuFabricInfo", "nvmlDeviceGetGpuFabricInfoV", "nvmlDeviceGetAddressingMode",
    "nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex",
    "nvmlDeviceIsMigDeviceHandle", "nvmlDeviceGetDeviceHandleFromMigDeviceHandle",
    "nvmlDeviceGetGpuInstanceId", "nvmlDeviceGetComputeInstanceId", "nvmlDeviceGetGpuInstanceById",
    "nvmlGpuInstanceGetComputeInstanceById", "nvmlGpuInstanceGetInfo", "nvmlComputeInstanceGetInfo_v2",
    "nvmlDeviceGetGpuInstanceProfileInfo", "nvmlGpuInstanceGetComputeInstanceProfileInfo",
    "nvmlEventSetCreate", "nvmlDeviceGetSupportedEventTypes", "nvmlDeviceRegisterEvents",
    "nvmlEventSetWait_v2", "nvmlEventSetFree",
)


def test_the_library_exports_every_function_the_plugin_and_gfd_call(nvml_dir):
    library = ctypes.CDLL(os.path.join(nvml_dir, "libnvidia-ml.so.1"))
    assert [name for name in PLUGIN_AND_GFD_CALLS if not hasattr(library, name)] == []


def test_architecture_compute_capability_brand_and_minor(seed_with_nvml):
    facts = {}
    for node in ("gpu-h200-0", "gpu-a100-0", "gpu-l40s-0"):
        facts[node] = seed_with_nvml(node).nvml("""
            out["gpus"] = []
            for i in range(nvml.nvmlDeviceGetCount()):
                h = nvml.nvmlDeviceGetHandleByIndex(i)
                out["gpus"].append([nvml.nvmlDeviceGetArchitecture(h), list(nvml.nvmlDeviceGetCudaComputeCapability(h)),
                                    nvml.nvmlDeviceGetBrand(h), nvml.nvmlDeviceGetMinorNumber(h)])
        """)["gpus"]
    # The real H200 (driver 580.159.04): architecture 9, 9.0, brand 14, minor 0.
    assert facts["gpu-h200-0"][0] == [9, [9, 0], 14, 0]
    assert [gpu[3] for gpu in facts["gpu-h200-0"]] == list(range(8))
    assert facts["gpu-a100-0"][0][:2] == [7, [8, 0]]  # NVML_DEVICE_ARCH_AMPERE
    assert facts["gpu-l40s-0"] == [[8, [8, 9], 14, 0]]  # NVML_DEVICE_ARCH_ADA
    # Not the architecture's first part: the RTX PRO 6000 Blackwell is 12.0, the B200 10.0.
    assert gpusim_host.load_models()["RTX-PRO-6000-BW-96GB"]["compute_capability"] == "12.0"


def test_no_fabric_and_no_addressing_mode(seed_with_nvml):
    body = """
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        info = nvml.c_nvmlGpuFabricInfo_t()
        info.state = 9
        # pynvml's wrapper passes the struct by value: call the function with a pointer.
        ret = nvml._nvmlGetFunctionPointer("nvmlDeviceGetGpuFabricInfo")(h, nvml.byref(info))
        out["fabric"] = [info.state, info.status, info.cliqueId, sum(info.clusterUuid)] if ret == 0 else ret
        out["addressing"] = nvml.nvmlDeviceGetAddressingMode(h)
        out["events"] = nvml.nvmlDeviceGetSupportedEventTypes(h)
    """
    # The real H200: success with fabric state 0 (not supported); events 0xff9f; mode NONE.
    assert seed_with_nvml("gpu-h200-0").nvml(body) == {"fabric": [0, 0, 0, 0], "addressing": 0, "events": 0xFF9F}
    assert seed_with_nvml("gpu-a100-0").nvml(body)["fabric"] == 3  # NVML_ERROR_NOT_SUPPORTED before Hopper


def test_mig_device_attributes_are_its_instances_profiles(seed_with_nvml):
    sim = seed_with_nvml("gpu-a100-0")
    sim.smi("-i", "0", "-mig", "1")
    sim.smi("mig", "-i", "0", "-cgi", "3g.20gb,1g.5gb", "-C")
    out = sim.nvml("""
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        try:
            nvml.nvmlDeviceGetAttributes(h)
        except nvml.NVMLError as error:
            out["whole_gpu"] = error.value
        out["migs"] = []
        for slot in range(nvml.nvmlDeviceGetMaxMigDeviceCount(h)):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(h, slot)
            except nvml.NVMLError:
                continue
            a = nvml.nvmlDeviceGetAttributes(mig)
            out["migs"].append([a.multiprocessorCount, a.sharedCopyEngineCount, a.sharedDecoderCount,
                                a.sharedJpegCount, a.sharedOfaCount, a.gpuInstanceSliceCount,
                                a.computeInstanceSliceCount, a.memorySizeMB,
                                nvml.nvmlDeviceGetArchitecture(mig), list(nvml.nvmlDeviceGetCudaComputeCapability(mig))])
            try:
                nvml.nvmlDeviceGetMinorNumber(mig)
            except nvml.NVMLError as error:
                out["mig_minor"] = error.value
        profiles = {}
        for enum in (nvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE, nvml.NVML_GPU_INSTANCE_PROFILE_3_SLICE):
            p = nvml.nvmlDeviceGetGpuInstanceProfileInfo(h, enum)
            profiles[p.sliceCount] = [p.multiprocessorCount, p.copyEngineCount, p.decoderCount, p.jpegCount,
                                      p.ofaCount, p.sliceCount, p.sliceCount, p.memorySizeMB, 7, [8, 0]]
        out["profiles"] = [profiles[3], profiles[1]]
    """)
    assert out["whole_gpu"] == 3  # NVML_ERROR_NOT_SUPPORTED
    assert out["migs"] == out["profiles"]  # GI id order: the 3g (id 1), then the 1g
    assert out["mig_minor"] == 3


def test_health_check_events_register_and_time_out(seed_with_nvml):
    sim = seed_with_nvml("gpu-h100-0")
    sim.smi("-i", "1", "-mig", "1")
    sim.smi("mig", "-i", "1", "-cgi", "1g.10gb", "-C")
    out = sim.nvml("""
        import threading, time
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        supported = nvml.nvmlDeviceGetSupportedEventTypes(h)
        out["xid"] = bool(supported & nvml.nvmlEventTypeXidCriticalError)
        events = nvml.nvmlEventSetCreate()
        nvml.nvmlDeviceRegisterEvents(h, nvml.nvmlEventTypeXidCriticalError | nvml.nvmlEventTypeDoubleBitEccError,
                                      events)
        mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(nvml.nvmlDeviceGetHandleByIndex(1), 0)
        try:
            nvml.nvmlDeviceRegisterEvents(mig, nvml.nvmlEventTypeXidCriticalError, events)
        except nvml.NVMLError as error:
            out["mig"] = error.value
        # Other calls go on while a thread waits, as the plugin's health check waits.
        names = []
        waiter = threading.Thread(target=lambda: names.append(nvml.nvmlDeviceGetName(h)))
        started = time.monotonic()
        try:
            threading.Timer(0.1, waiter.start).start()
            nvml.nvmlEventSetWait(events, 600)
        except nvml.NVMLError as error:
            out["wait"] = error.value
        out["waited_the_timeout"] = time.monotonic() - started >= 0.55
        waiter.join()
        out["names"] = names
        nvml.nvmlEventSetFree(events)
    """)
    assert out == {"xid": True, "mig": 3, "wait": 10, "waited_the_timeout": True,  # NOT_SUPPORTED, TIMEOUT
                   "names": ["NVIDIA H100 80GB HBM3"]}


def test_mig_minors_lists_every_capability_in_driver_order():
    lines = procfs.mig_minors().splitlines()
    assert lines[:4] == ["config 1", "monitor 2", "gpu0/gi0/access 3", "gpu0/gi0/ci0/access 4"]
    assert lines[10:12] == ["gpu0/gi0/ci7/access 11", "gpu0/gi1/access 12"]
    assert lines[-1] == "gpu31/gi14/ci7/access 4322"
    assert len(lines) == 4322
