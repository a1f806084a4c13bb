# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pynvml stand-in over fake_smi.FakeSmi's GPUs, for unit tests of nvml.py.

It mimics what matters of the real bindings: NVMLError with ``.value``, NotSupported for
MIG calls on GPUs without MIG, NotFound for empty MIG device slots, a ctypes integer from
nvmlDeviceIsMigDeviceHandle, GI profile ids through nvmlDeviceGetGpuInstanceProfileInfo.
"""

from __future__ import annotations

import ctypes
from types import SimpleNamespace

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_FUNCTION_NOT_FOUND = 13
MIB = 1024 * 1024
CI_ENUM = {1: 0, 2: 1, 3: 2, 4: 3, 7: 4}


class Placement(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint), ("size", ctypes.c_uint)]


class NVMLError(Exception):
    def __init__(self, value):
        super().__init__("NVML error %d" % value)
        self.value = value


class FakePynvml:
    NVMLError = NVMLError
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_NOT_FOUND = NVML_ERROR_NOT_FOUND
    NVML_ERROR_FUNCTION_NOT_FOUND = NVML_ERROR_FUNCTION_NOT_FOUND
    NVML_ERROR_INVALID_ARGUMENT = NVML_ERROR_INVALID_ARGUMENT
    NVML_ERROR_NO_PERMISSION = NVML_ERROR_NO_PERMISSION

    def __init__(self, smi, init_error=None):
        self.smi = smi
        self.initialised = 0
        self.shutdowns = 0
        self.init_error = init_error
        self.fail_on = None  # name of a function that raises NVML_ERROR_UNINITIALIZED
        self.parent_processes_denied = False  # whole-GPU process query refused (non-root)
        self.counts = {}

    def __getattribute__(self, name):
        if name.startswith("nvml"):
            counts = object.__getattribute__(self, "counts")
            counts[name] = counts.get(name, 0) + 1
            if object.__getattribute__(self, "fail_on") == name:
                raise NVMLError(NVML_ERROR_UNINITIALIZED)
        return object.__getattribute__(self, name)

    def _gpu(self, handle):
        return self.smi.gpus[handle[1]]

    def nvmlInit(self):
        if self.init_error:
            raise NVMLError(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return len(self.smi.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("gpu", index)

    def nvmlDeviceGetName(self, h):
        return self._gpu(h).model.product_name

    def nvmlDeviceGetUUID(self, h):
        if h[0] == "mig":
            return "MIG-fake-%d-%d-%d" % (h[1], h[2], h[3])
        return "GPU-fake-%d" % h[1]

    def nvmlDeviceGetPciInfo(self, h):
        model = self._gpu(h).model
        return SimpleNamespace(pciDeviceId=(model.pci_device_ids[0] << 16) | 0x10DE,
                               pciSubSystemId=0x16C110DE, busId=b"00000000:%02X:00.0" % (h[1] + 16))

    def nvmlDeviceGetMemoryInfo(self, h):
        gpu = self._gpu(h)
        if h[0] == "mig":
            return SimpleNamespace(total=gpu.model.profile(gpu.gis[h[2]][0]).memory_mib * MIB)
        return SimpleNamespace(total=gpu.model.memory_mib * MIB)

    def nvmlDeviceGetMigMode(self, h):
        gpu = self._gpu(h)
        if gpu.current is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return [int(gpu.current), int(gpu.pending)]

    c_nvmlGpuInstancePlacement_t = Placement
    NVML_GPU_INSTANCE_PROFILE_COUNT = 0x12

    def nvmlDeviceGetGpuInstanceProfileInfo(self, h, enum):
        for profile in self._gpu(h).model.profiles:
            if profile.nvml_profile == enum and profile.gi_profile_id is not None:
                return SimpleNamespace(
                    id=profile.gi_profile_id, name=b"MIG " + profile.name.encode(),
                    sliceCount=profile.compute_slices, instanceCount=profile.max_instances,
                    memorySizeMB=profile.memory_mib or 0)
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetGpuInstancePossiblePlacements(self, h, profile_id, array, count_ref):
        profile = self._gpu(h).model.profile_by_id(profile_id)
        for i, start in enumerate(profile.placements):
            array[i].start, array[i].size = start, profile.memory_slices
        count_ref._obj.value = len(profile.placements)

    def _devices(self, h):
        gpu = self._gpu(h)
        return [(gid, cid) for gid, (_p, _s, cis) in sorted(gpu.gis.items()) for cid in sorted(cis)]

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        if self._gpu(h).current is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, slot):
        devices = self._devices(h)
        if slot >= len(devices):
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return ("mig", h[1]) + devices[slot]

    def nvmlDeviceIsMigDeviceHandle(self, h):
        return ctypes.c_uint(1 if h[0] == "mig" else 0)

    def nvmlDeviceGetGpuInstanceId(self, h):
        return h[2]

    def nvmlDeviceGetComputeInstanceId(self, h):
        return h[3]

    def nvmlDeviceGetGpuInstanceById(self, h, gi_id):
        if gi_id not in self._gpu(h).gis:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return ("gi", h[1], gi_id)

    def nvmlGpuInstanceGetInfo(self, gi):
        gpu = self.smi.gpus[gi[1]]
        profile_name, start, _cis = gpu.gis[gi[2]]
        profile = gpu.model.profile(profile_name)
        return SimpleNamespace(profileId=profile.gi_profile_id, id=gi[2],
                               placement=SimpleNamespace(start=start, size=profile.memory_slices))

    def nvmlGpuInstanceGetComputeInstanceById(self, gi, ci_id):
        return ("ci", gi[1], gi[2], ci_id)

    def nvmlComputeInstanceGetInfo(self, ci):
        slices = self.smi.gpus[ci[1]].gis[ci[2]][2][ci[3]]
        return SimpleNamespace(profileId=CI_ENUM[slices], placement=SimpleNamespace(start=0))

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        if h[0] == "gpu" and self.parent_processes_denied and self._gpu(h).current:
            raise NVMLError(NVML_ERROR_NO_PERMISSION)
        return [SimpleNamespace(pid=pid, usedGpuMemory=100 * MIB,
                                gpuInstanceId=0xFFFFFFFF if gi is None else gi,
                                computeInstanceId=0xFFFFFFFF if gi is None else 0)
                for pid, dummy, gi in self._gpu(h).processes
                if h[0] == "gpu" or gi == h[2]]

    def nvmlSystemGetProcessName(self, pid):
        for gpu in self.smi.gpus:
            for p, name, _gi in gpu.processes:
                if p == pid:
                    return name.encode()
        raise NVMLError(NVML_ERROR_NOT_FOUND)
