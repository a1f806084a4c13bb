# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dump what NVML says about every GPU of this host as JSON, READ-ONLY.

Run on a machine with a real NVIDIA GPU to capture fixtures (tests/device/capture.sh).
Only query functions are called: nothing here creates or destroys an instance, changes a
mode or resets a GPU. Each query that fails is recorded with its NVML error instead.
"""

from __future__ import annotations

import ctypes
import json
import sys

import pynvml as N


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def plain(obj):
    """A ctypes structure (pynvml's) as a dict, recursively."""
    if hasattr(obj, "_fields_"):
        return {name: plain(getattr(obj, name)) for name, _type in obj._fields_}
    if isinstance(obj, (list, tuple)):
        return [plain(o) for o in obj]
    if isinstance(obj, bytes):
        return text(obj)
    try:
        json.dumps(obj)
        return obj
    except TypeError:
        return repr(obj)


def ask(fn, *args):
    try:
        return {"value": plain(fn(*args))}
    except N.NVMLError as exc:
        return {"error": str(exc), "code": getattr(exc, "value", None)}
    except Exception as exc:  # pylint: disable=broad-except
        return {"error": f"{type(exc).__name__}: {exc}"}


def placements(handle, profile_id):
    count = ctypes.c_uint(16)  # in: the array's size; out: placements written
    array = (N.c_nvmlGpuInstancePlacement_t * 16)()
    N.nvmlDeviceGetGpuInstancePossiblePlacements(handle, profile_id, array, ctypes.byref(count))
    return [{"start": array[i].start, "size": array[i].size} for i in range(count.value)]


def list_gpu_instances(handle, profile_id):
    count = ctypes.c_uint(0)
    array = (N.c_nvmlGpuInstance_t * 16)()
    N.nvmlDeviceGetGpuInstances(handle, profile_id, array, ctypes.byref(count))
    return [array[i] for i in range(count.value)]


def list_compute_instances(gpu_instance, profile_id):
    count = ctypes.c_uint(0)
    array = (N.c_nvmlComputeInstance_t * 16)()
    N.nvmlGpuInstanceGetComputeInstances(gpu_instance, profile_id, array, ctypes.byref(count))
    return [array[i] for i in range(count.value)]


def gi_profiles(handle):
    out = {}
    count = getattr(N, "NVML_GPU_INSTANCE_PROFILE_COUNT", 15)
    for enum in range(count):
        entry = {"info": ask(N.nvmlDeviceGetGpuInstanceProfileInfo, handle, enum),
                 "info_v1": ask(N.nvmlDeviceGetGpuInstanceProfileInfo, handle, enum, 1)}
        info = entry["info"].get("value") or entry["info_v1"].get("value")
        if info:
            pid = info["id"]
            entry["placements"] = ask(placements, handle, pid)
            entry["remaining"] = ask(N.nvmlDeviceGetGpuInstanceRemainingCapacity, handle, pid)
        out[str(enum)] = entry
    return out


def gpu_instances(handle):
    out = []
    count = getattr(N, "NVML_GPU_INSTANCE_PROFILE_COUNT", 15)
    for enum in range(count):
        info = ask(N.nvmlDeviceGetGpuInstanceProfileInfo, handle, enum).get("value")
        if not info:
            continue
        try:
            gis = list_gpu_instances(handle, info["id"])
        except N.NVMLError as exc:
            out.append({"profile_id": info["id"], "error": str(exc)})
            continue
        for gi in gis:
            entry = {"profile_id": info["id"], "info": ask(N.nvmlGpuInstanceGetInfo, gi),
                     "ci_profiles": {}, "compute_instances": []}
            ci_count = getattr(N, "NVML_COMPUTE_INSTANCE_PROFILE_COUNT", 9)
            for ci_enum in range(ci_count):
                ci_info = ask(N.nvmlGpuInstanceGetComputeInstanceProfileInfo, gi, ci_enum,
                              N.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
                entry["ci_profiles"][str(ci_enum)] = ci_info
                value = ci_info.get("value")
                if value:
                    try:
                        for ci in list_compute_instances(gi, value["id"]):
                            entry["compute_instances"].append(
                                {"info": ask(N.nvmlComputeInstanceGetInfo, ci)})
                    except N.NVMLError as exc:
                        entry["compute_instances"].append({"error": str(exc)})
            out.append(entry)
    return out


def mig_devices(handle):
    out = []
    max_count = ask(N.nvmlDeviceGetMaxMigDeviceCount, handle).get("value") or 0
    for slot in range(max_count):
        try:
            mig = N.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except N.NVMLError:
            continue
        out.append({
            "slot": slot,
            "uuid": ask(N.nvmlDeviceGetUUID, mig),
            "name": ask(N.nvmlDeviceGetName, mig),
            "gi": ask(N.nvmlDeviceGetGpuInstanceId, mig),
            "ci": ask(N.nvmlDeviceGetComputeInstanceId, mig),
            "memory": ask(N.nvmlDeviceGetMemoryInfo, mig),
            "attributes": ask(N.nvmlDeviceGetAttributes, mig),
        })
    return out


def main():
    N.nvmlInit()
    try:
        host = {
            "driver_version": ask(N.nvmlSystemGetDriverVersion),
            "nvml_version": ask(N.nvmlSystemGetNVMLVersion),
            "cuda_driver_version": ask(N.nvmlSystemGetCudaDriverVersion),
            "pynvml_version": getattr(N, "__version__", None),
            "gpus": [],
        }
        for index in range(N.nvmlDeviceGetCount()):
            h = N.nvmlDeviceGetHandleByIndex(index)
            mode = ask(N.nvmlDeviceGetMigMode, h)
            gpu = {
                "index": index,
                "name": ask(N.nvmlDeviceGetName, h),
                "uuid": ask(N.nvmlDeviceGetUUID, h),
                "serial": "redacted",
                "minor_number": ask(N.nvmlDeviceGetMinorNumber, h),
                "pci": ask(N.nvmlDeviceGetPciInfo, h),
                "memory": ask(N.nvmlDeviceGetMemoryInfo, h),
                "architecture": ask(N.nvmlDeviceGetArchitecture, h),
                "cuda_compute_capability": ask(N.nvmlDeviceGetCudaComputeCapability, h),
                "brand": ask(N.nvmlDeviceGetBrand, h),
                "persistence_mode": ask(N.nvmlDeviceGetPersistenceMode, h),
                "mig_mode": mode,
                "max_mig_device_count": ask(N.nvmlDeviceGetMaxMigDeviceCount, h),
                "attributes": ask(N.nvmlDeviceGetAttributes, h),
                "gpu_instance_profiles": gi_profiles(h),
                "processes": ask(N.nvmlDeviceGetComputeRunningProcesses, h),
            }
            if (mode.get("value") or [0])[0]:
                gpu["gpu_instances"] = gpu_instances(h)
                gpu["mig_devices"] = mig_devices(h)
            host["gpus"].append(gpu)
    finally:
        N.nvmlShutdown()
    json.dump(host, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
