# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVML facts about a host's GPUs through pynvml (package nvidia-ml-py), in one session.

``NvmlSession`` initialises NVML once and always shuts it down; ``collect()`` returns the
GPUs as mig_state.GpuState: index, name, UUID, PCI ids, memory, MIG capability and mode
(current / pending), MIG devices (GPU and compute instance ids, GI profile and placement,
compute slices, UUID, memory) and compute processes.

pynvml behaviours this relies on:

- ``nvmlDeviceGetMigMode`` raises NVMLError_NotSupported on GPUs without MIG: that is how
  MIG capability is told apart (other MIG calls raise the same there).
- ``nvmlDeviceIsMigDeviceHandle`` returns a ctypes integer (c_uint), not a bool: it never
  equals True or 1 and does not serialise; ``bool()`` of it is the answer.
- The GPU's MIG profiles are the driver's: ``nvmlDeviceGetGpuInstanceProfileInfo(h,
  NVML_GPU_INSTANCE_PROFILE_*)`` for every enum (NOT_SUPPORTED for those the GPU lacks;
  pynvml asks for the v2 struct, which carries the profile's name and memorySizeMB) and
  ``nvmlDeviceGetGpuInstancePossiblePlacements``; both answer with MIG disabled (a real
  H200 on driver 580 does). A GI's profile id (19, 9, ...) is that info's ``id``, not the
  enum. GPUs of one model report the same profiles, so each model is asked once a session.
- ``nvmlDeviceGetMigDeviceHandleByIndex`` raises NotFound for unused MIG device slots.

pynvml is imported lazily and its absence reported through ``HAS_PYNVML`` /
``PYNVML_IMPORT_ERROR`` so a module can fail with missing_required_lib().
"""

from __future__ import annotations

import ctypes
import traceback

try:
    import pynvml
    HAS_PYNVML = True
    PYNVML_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    pynvml = None
    HAS_PYNVML = False
    PYNVML_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    COMPUTE_SLICES_BY_CI_PROFILE,
    NVML_GPU_INSTANCE_PROFILE_COUNT,
    make_profile,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import (
    ComputeInstance,
    GpuInstance,
    GpuProcess,
    GpuState,
    device_name,
    find_model,
    mode_name,
    profile_facts,
)

MIB = 1024 * 1024
NVML_VALUE_NOT_AVAILABLE = 0xFFFFFFFF


class NvmlError(Exception):
    """NVML failed; ``code`` is the NVML return code when known."""

    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class NvmlSession:
    """``with NvmlSession() as nvml: gpus = nvml.collect()``.

    :param lib: the pynvml module (tests pass a fake).
    """

    def __init__(self, lib=None):
        self.lib = lib if lib is not None else pynvml
        if self.lib is None:
            raise NvmlError("pynvml (package nvidia-ml-py) is not installed")
        self._open = False
        self._profiles_by_model = {}

    def __enter__(self):
        try:
            self.lib.nvmlInit()
        except self.lib.NVMLError as exc:
            raise NvmlError("cannot initialise NVML (is the NVIDIA driver loaded and "
                            "libnvidia-ml.so.1 on the library path?): %s" % exc,
                            getattr(exc, "value", None))
        self._open = True
        return self

    def __exit__(self, *exc_info):
        if self._open:
            self._open = False
            try:
                self.lib.nvmlShutdown()
            except self.lib.NVMLError:
                pass
        return False

    # -- helpers --------------------------------------------------------------------------

    def _call(self, name, *args, **kwargs):
        return getattr(self.lib, name)(*args, **kwargs)

    def _is(self, exc, *names):
        codes = [getattr(self.lib, n) for n in names if hasattr(self.lib, n)]
        return getattr(exc, "value", None) in codes

    def _try(self, name, *args, **kwargs):
        """The call's value, or None when NVML says the query does not apply here."""
        try:
            return self._call(name, *args, **kwargs)
        except self.lib.NVMLError as exc:
            if self._is(exc, "NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_NOT_FOUND",
                        "NVML_ERROR_FUNCTION_NOT_FOUND", "NVML_ERROR_INVALID_ARGUMENT",
                        "NVML_ERROR_NO_PERMISSION"):
                return None
            raise

    # -- collection -----------------------------------------------------------------------

    def collect(self):
        """All GPUs of the host, as GpuState, in NVML index order."""
        try:
            count = self._call("nvmlDeviceGetCount")
            return [self._gpu(i) for i in range(count)]
        except self.lib.NVMLError as exc:
            raise NvmlError("NVML query failed: %s" % exc, getattr(exc, "value", None))

    def _gpu(self, index):
        handle = self._call("nvmlDeviceGetHandleByIndex", index)
        pci = self._call("nvmlDeviceGetPciInfo", handle)
        gpu = GpuState(
            index=index,
            name=_text(self._call("nvmlDeviceGetName", handle)),
            uuid=_text(self._call("nvmlDeviceGetUUID", handle)),
            pci_bus_id=_text(getattr(pci, "busId", "")),
            pci_device_id=int(pci.pciDeviceId),
            pci_subsystem_id=int(getattr(pci, "pciSubSystemId", 0)) or None,
            memory_mib=int(self._call("nvmlDeviceGetMemoryInfo", handle).total // MIB),
        )
        model = find_model(gpu.pci_device_id, gpu.name)
        gpu.model = model.key if model else None
        modes = self._try("nvmlDeviceGetMigMode", handle)
        if modes is not None:
            gpu.mig_capable = True
            gpu.mig_current, gpu.mig_pending = bool(modes[0]), bool(modes[1])
            gpu.profiles = self._profiles(handle, gpu)
        mig_handles = []
        if gpu.mig_current:
            gpu.gpu_instances, mig_handles = self._mig_devices(handle, gpu, model)
        gpu.processes = self._processes(handle, mig_handles)
        return gpu

    def _profiles(self, handle, gpu):
        """The GPU-instance profiles the driver reports (gpu_models.MigProfile), asked of the
        first GPU of each model (PCI device id and name) in the session."""
        key = (gpu.pci_device_id, gpu.name)
        if key not in self._profiles_by_model:
            profiles = []
            count = getattr(self.lib, "NVML_GPU_INSTANCE_PROFILE_COUNT", NVML_GPU_INSTANCE_PROFILE_COUNT)
            for enum in range(count):
                info = self._try("nvmlDeviceGetGpuInstanceProfileInfo", handle, enum)
                name = _text(getattr(info, "name", b"")) if info is not None else ""
                if not name:
                    continue  # no such profile, or a v1 answer without a name
                placements = self._placements(handle, int(info.id))
                if not placements:
                    continue
                try:
                    profiles.append(make_profile(
                        name, int(info.id), int(info.instanceCount),
                        [start for start, _size in placements], placements[0][1],
                        int(info.memorySizeMB)))
                except ValueError:
                    continue  # a name that is not <g>g.<mem>gb
            self._profiles_by_model[key] = profiles
        return list(self._profiles_by_model[key])

    def _placements(self, handle, profile_id):
        """[(start, size)] of a GI profile (nvmlDeviceGetGpuInstancePossiblePlacements)."""
        array_type = getattr(self.lib, "c_nvmlGpuInstancePlacement_t", None)
        if array_type is None:
            return []
        array = (array_type * 16)()
        count = ctypes.c_uint(16)
        try:
            self._call("nvmlDeviceGetGpuInstancePossiblePlacements", handle, profile_id, array,
                       ctypes.byref(count))
        except self.lib.NVMLError as exc:
            if self._is(exc, "NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND",
                        "NVML_ERROR_INVALID_ARGUMENT", "NVML_ERROR_NOT_FOUND"):
                return []
            raise
        return [(int(array[i].start), int(array[i].size)) for i in range(count.value)]

    def _mig_devices(self, handle, gpu, model):
        profiles = None
        instances, gi_handles = {}, {}
        handles = []
        for slot in range(self._call("nvmlDeviceGetMaxMigDeviceCount", handle)):
            mig = self._try("nvmlDeviceGetMigDeviceHandleByIndex", handle, slot)
            if mig is None:
                continue
            if not bool(self._call("nvmlDeviceIsMigDeviceHandle", mig)):
                continue
            handles.append(mig)
            gi_id = int(self._call("nvmlDeviceGetGpuInstanceId", mig))
            ci_id = int(self._call("nvmlDeviceGetComputeInstanceId", mig))
            gi = instances.get(gi_id)
            if gi is None:
                if profiles is None:
                    profiles = dict((p.gi_profile_id, p) for p in (gpu.profiles or (model.profiles if model else ())))
                gi_handle = self._call("nvmlDeviceGetGpuInstanceById", handle, gi_id)
                info = self._call("nvmlGpuInstanceGetInfo", gi_handle)
                profile = profiles.get(int(info.profileId))
                gi = GpuInstance(
                    id=gi_id, profile_id=int(info.profileId),
                    profile=profile.name if profile else None,
                    placement_start=int(info.placement.start),
                    placement_size=int(info.placement.size),
                    compute_slices=profile.compute_slices if profile else None)
                instances[gi_id], gi_handles[gi_id] = gi, gi_handle
            ci_info = self._try("nvmlComputeInstanceGetInfo",
                                self._call("nvmlGpuInstanceGetComputeInstanceById",
                                           gi_handles[gi_id], ci_id))
            ci_profile = int(ci_info.profileId) if ci_info is not None else None
            gi.compute_instances.append(ComputeInstance(
                id=ci_id, profile_id=ci_profile,
                compute_slices=COMPUTE_SLICES_BY_CI_PROFILE.get(ci_profile, gi.compute_slices),
                placement_start=int(ci_info.placement.start) if ci_info is not None else None,
                uuid=_text(self._call("nvmlDeviceGetUUID", mig)),
                memory_mib=int(self._call("nvmlDeviceGetMemoryInfo", mig).total // MIB)))
        return [instances[k] for k in sorted(instances)], handles

    def _processes(self, handle, mig_handles):
        """Compute processes of a GPU. In MIG mode NVML answers for the whole GPU (with GI/CI
        ids) when the caller may see it; otherwise each MIG device is asked."""
        seen = {}
        whole = self._try("nvmlDeviceGetComputeRunningProcesses", handle)
        answers = [whole] if whole is not None else [
            self._try("nvmlDeviceGetComputeRunningProcesses", h) for h in mig_handles]
        for answer in answers:
            for proc in answer or []:
                gi = getattr(proc, "gpuInstanceId", NVML_VALUE_NOT_AVAILABLE)
                ci = getattr(proc, "computeInstanceId", NVML_VALUE_NOT_AVAILABLE)
                gi = None if gi in (None, NVML_VALUE_NOT_AVAILABLE) else int(gi)
                ci = None if ci in (None, NVML_VALUE_NOT_AVAILABLE) else int(ci)
                key = (int(proc.pid), gi, ci)
                if key in seen:
                    continue
                used = getattr(proc, "usedGpuMemory", None)
                name = self._try("nvmlSystemGetProcessName", int(proc.pid))
                seen[key] = GpuProcess(pid=int(proc.pid), name=_text(name) if name else "",
                                       gpu_instance_id=gi, compute_instance_id=ci,
                                       used_memory_mib=None if used is None else int(used) // MIB)
        return list(seen.values())


def collect_gpus(lib=None):
    """Open a session, collect every GPU (a list of GpuState), close it."""
    with NvmlSession(lib) as session:
        return session.collect()


def gpu_facts(gpu):
    """The user-facing dict of one GpuState (the gpu_info module's ``gpus`` items)."""
    return {
        "index": gpu.index,
        "name": gpu.name,
        "model": gpu.model,
        "uuid": gpu.uuid,
        "pci_bus_id": gpu.pci_bus_id,
        "pci_device_id": gpu.pci_device_id_hex(),
        "memory_mib": gpu.memory_mib,
        "mig_capable": gpu.mig_capable,
        "mig_mode": {"current": mode_name(gpu.mig_current), "pending": mode_name(gpu.mig_pending)},
        "mig_profiles": [profile_facts(p) for p in gpu.profiles],
        "mig_devices": [
            {"uuid": ci.uuid, "gpu_instance_id": gi.id, "compute_instance_id": ci.id,
             "profile": device_name(gi, ci),
             "gpu_instance_profile_id": gi.profile_id,
             "placement": {"start": gi.placement_start, "size": gi.placement_size},
             "memory_mib": ci.memory_mib}
            for gi, ci in gpu.mig_devices()],
        "processes": [
            {"pid": p.pid, "name": p.name, "gpu_instance_id": p.gpu_instance_id,
             "compute_instance_id": p.compute_instance_id, "used_memory_mib": p.used_memory_mib}
            for p in gpu.processes],
    }
