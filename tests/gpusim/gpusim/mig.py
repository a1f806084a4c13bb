# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a GPU does when asked to change: MIG mode, resets, reboots, GPU and compute instances.

The simulated nvidia-smi calls these; nvml/sim_nvml.c implements the same rules for the
simulated NVML (each rule below names its C counterpart). Failures raise NvmlError with the
NVML return code the real library gives, so both tools print the real error strings.
"""

from .state import MIG_DISABLED, MIG_ENABLED, NO_INSTANCE, ComputeInstance, GpuInstance

# nvmlReturn_t values and nvmlErrorString texts [nvml.h, real nvidia-smi output].
NVML_SUCCESS = 0
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_IN_USE = 19
NVML_ERROR_INSUFFICIENT_RESOURCES = 23
NVML_ERROR_UNKNOWN = 999

ERROR_STRINGS = {
    NVML_SUCCESS: "Success",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_RESET_REQUIRED: "GPU requires reset",
    NVML_ERROR_IN_USE: "In use by another client",
    NVML_ERROR_INSUFFICIENT_RESOURCES: "Insufficient Resources",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NvmlError(Exception):
    def __init__(self, code):
        super().__init__(ERROR_STRINGS[code])
        self.code = code


def consume_injected_failure(state):
    """Count one mutation against the fail_after_mutations fault; True when this one must
    fail. The fault fires once and disarms itself (C: take_mutation)."""
    remaining = state.faults.fail_after_mutations
    if remaining < 0:
        return False
    state.faults.fail_after_mutations = -1 if remaining == 0 else remaining - 1
    return remaining == 0


def mig_device_uuid(gpu_uuid, gi_id, ci_id):
    """Stable MIG device UUID: two FNV-1a 64-bit hashes of "<gpu uuid>/<gi>/<ci>"
    (C: mig_uuid). Real UUIDs are random per creation; stable ones keep tests readable."""
    text = "%s/%d/%d" % (gpu_uuid, gi_id, ci_id)
    digits = "%016x%016x" % (_fnv1a(text), _fnv1a(text + "#"))
    return "MIG-%s-%s-%s-%s-%s" % (digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:])


def _fnv1a(text):
    value = 0xcbf29ce484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return value


def gi_id_for(gpu, profile, start):
    """GPU instance id of a placement: its node in the binary tree of memory slices
    (7g -> 0, halves -> 1-2, quarters -> 3-6, eighths -> 7-14). [INFERRED] Real drivers
    keep ids in these ranges; their order inside a range varies between drivers.
    (C: gi_id_for)"""
    return gpu.memory_slices // profile.memory_slices - 1 + start // profile.memory_slices


def _gi_conflict(state, gpu, taken, profile, start):
    """NVML error code that stops a GI of ``profile`` at ``start`` from joining the GIs
    ``taken`` ((profile, start) pairs), or None (C: gi_conflict)."""
    if start not in profile.placements:
        return NVML_ERROR_INVALID_ARGUMENT
    if sum(p.compute for p, unused_start in taken) + profile.compute > gpu.compute_slices:
        return NVML_ERROR_INSUFFICIENT_RESOURCES
    if sum(1 for p, unused_start in taken if p.id == profile.id) >= profile.max:
        return NVML_ERROR_INSUFFICIENT_RESOURCES
    if profile.me and any(p.me for p, unused_start in taken):
        return NVML_ERROR_INSUFFICIENT_RESOURCES
    for other, other_start in taken:
        if start < other_start + other.memory_slices and other_start < start + profile.memory_slices:
            return NVML_ERROR_INSUFFICIENT_RESOURCES
    return None


def _taken(state, gpu):
    return [(state.gi_profile(gpu, gi.profile), gi.start) for gi in state.gis_of(gpu)]


def _auto_start(state, gpu, taken, profile):
    """The placement NVML picks without one: the highest free start, which packs small
    instances at the top and leaves low slots to large ones. [INFERRED] from published
    outputs (a first 1g on an A100 gets GI id 13, a first 3g id 2). (C: auto_start)"""
    for start in sorted(profile.placements, reverse=True):
        if _gi_conflict(state, gpu, taken, profile, start) is None:
            return start
    return None


def _require_mig(gpu):
    if not gpu.mig_capable or gpu.mig_current != MIG_ENABLED:
        raise NvmlError(NVML_ERROR_NOT_SUPPORTED)


def create_gpu_instance(state, gpu, profile_id, start=None):
    """nvmlDeviceCreateGpuInstance[WithPlacement] (C: create_gi)."""
    _require_mig(gpu)
    profile = state.gi_profile(gpu, profile_id)
    if profile is None:
        raise NvmlError(NVML_ERROR_INVALID_ARGUMENT)
    if any(p.gi == NO_INSTANCE for p in state.processes_of(gpu)):
        raise NvmlError(NVML_ERROR_IN_USE)  # a process holds the whole GPU
    taken = _taken(state, gpu)
    if start is None:
        start = _auto_start(state, gpu, taken, profile)
        if start is None:
            raise NvmlError(NVML_ERROR_INSUFFICIENT_RESOURCES)
    conflict = _gi_conflict(state, gpu, taken, profile, start)
    if conflict is not None:
        raise NvmlError(conflict)
    instance = GpuInstance(gpu=gpu.index, id=gi_id_for(gpu, profile, start), profile=profile.id, start=start)
    state.gpu_instances.append(instance)
    return instance


def remaining_gi_capacity(state, gpu, profile):
    """How many more GIs of ``profile`` fit, creating them one after another with NVML's
    automatic placement (nvmlDeviceGetGpuInstanceRemainingCapacity; C: remaining_gi)."""
    taken = _taken(state, gpu)
    count = 0
    while True:
        start = _auto_start(state, gpu, taken, profile)
        if start is None:
            return count
        taken.append((profile, start))
        count += 1


def find_gpu_instance(state, gpu, gi_id):
    for gi in state.gis_of(gpu):
        if gi.id == gi_id:
            return gi
    raise NvmlError(NVML_ERROR_NOT_FOUND)


def destroy_gpu_instance(state, gpu, gi):
    """nvmlGpuInstanceDestroy: refused while compute instances or processes use it (C: destroy_gi)."""
    if state.cis_of(gpu, gi.id) or any(p.gi == gi.id for p in state.processes_of(gpu)):
        raise NvmlError(NVML_ERROR_IN_USE)
    state.gpu_instances.remove(gi)


def create_compute_instance(state, gpu, gi, ci_profile_id=None):
    """nvmlGpuInstanceCreateComputeInstance; ``None`` takes the GI-sized default profile.
    Placement: the lowest free aligned start; id: the lowest free id. (C: create_ci)"""
    profiles = state.ci_profiles_of(gpu, gi.profile)
    if ci_profile_id is None:
        ci_profile_id = max(p.id for p in profiles)
    profile = next((p for p in profiles if p.id == ci_profile_id), None)
    if profile is None:
        raise NvmlError(NVML_ERROR_NOT_SUPPORTED)
    gi_profile = state.gi_profile(gpu, gi.profile)
    existing = [(next(p for p in profiles if p.id == ci.profile), ci) for ci in state.cis_of(gpu, gi.id)]
    if (sum(1 for p, unused_ci in existing if p.id == profile.id) >= profile.max
            or sum(p.compute for p, unused_ci in existing) + profile.compute > gi_profile.compute):
        raise NvmlError(NVML_ERROR_INSUFFICIENT_RESOURCES)
    for start in profile.placements:
        if all(start >= ci.start + p.compute or ci.start >= start + profile.compute for p, ci in existing):
            break
    else:
        raise NvmlError(NVML_ERROR_INSUFFICIENT_RESOURCES)
    used_ids = {ci.id for unused_profile, ci in existing}
    ci_id = next(i for i in range(len(used_ids) + 1) if i not in used_ids)
    instance = ComputeInstance(gpu=gpu.index, gi=gi.id, id=ci_id, profile=profile.id, start=start,
                               uuid=mig_device_uuid(gpu.uuid, gi.id, ci_id))
    state.compute_instances.append(instance)
    return instance


def find_compute_instance(state, gpu, gi, ci_id):
    for ci in state.cis_of(gpu, gi.id):
        if ci.id == ci_id:
            return ci
    raise NvmlError(NVML_ERROR_NOT_FOUND)


def destroy_compute_instance(state, gpu, ci):
    """nvmlComputeInstanceDestroy: refused while processes run in it (C: destroy_ci)."""
    if any(p.gi == ci.gi and p.ci == ci.id for p in state.processes_of(gpu)):
        raise NvmlError(NVML_ERROR_IN_USE)
    state.compute_instances.remove(ci)


def ci_profile_of(state, gpu, ci):
    gi = find_gpu_instance(state, gpu, ci.gi)
    return next(p for p in state.ci_profiles_of(gpu, gi.profile) if p.id == ci.profile)


def _drop_instances(state, gpu):
    state.compute_instances = [ci for ci in state.compute_instances if ci.gpu != gpu.index]
    state.gpu_instances = [gi for gi in state.gpu_instances if gi.gpu != gpu.index]


def mode_persists(gpu):
    """Whether the GPU keeps its MIG mode across a reboot, and needs a reset to change it:
    Ampere does; Hopper and later do not (MIG user guide, "Deployment Considerations" and
    "GPU Reset on Hopper+ GPUs"). (C: mode_persists)"""
    return gpu.architecture == "Ampere"


def set_mig_mode(state, gpu, mode):
    """nvmlDeviceSetMigMode. Returns the activation status: NVML_SUCCESS when the mode took
    effect, NVML_ERROR_IN_USE when processes stopped it (the mode stays pending until
    nvidia-smi -r, or on Ampere until the driver's own reset can run), NVML_ERROR_RESET_REQUIRED
    when an Ampere GPU needs a reset or reboot the driver cannot do itself (faults
    mig_needs_reset / mig_needs_reboot; from Hopper on a mode change needs no reset, so they
    do not apply there). Disabling is refused while GPU instances exist. (C: nvmlDeviceSetMigMode)"""
    if not gpu.mig_capable:
        raise NvmlError(NVML_ERROR_NOT_SUPPORTED)
    if mode == MIG_DISABLED and state.gis_of(gpu):
        raise NvmlError(NVML_ERROR_IN_USE)
    gpu.mig_pending = mode
    if gpu.mig_current == mode:
        return NVML_SUCCESS
    if mode_persists(gpu) and (state.faults.mig_needs_reboot or state.faults.mig_needs_reset):
        return NVML_ERROR_RESET_REQUIRED
    if state.processes_of(gpu):
        return NVML_ERROR_IN_USE
    gpu.mig_current = mode
    return NVML_SUCCESS


def reset_gpu(state, gpu):
    """nvidia-smi -r: refused while processes run (or under the reset_fails fault); drops
    GPU and compute instances; applies a pending MIG mode unless only a reboot can (an
    Ampere GPU under mig_needs_reboot)."""
    if state.faults.reset_fails or state.processes_of(gpu):
        raise NvmlError(NVML_ERROR_IN_USE)
    _drop_instances(state, gpu)
    if not (mode_persists(gpu) and state.faults.mig_needs_reboot):
        gpu.mig_current = gpu.mig_pending


def _driver_loads(state):
    """What every GPU goes through when the driver loads: GPU and compute instances are
    gone; Ampere applies its pending MIG mode (kept like ECC mode), Hopper and later start
    with MIG disabled."""
    for gpu in state.gpus:
        _drop_instances(state, gpu)
        if mode_persists(gpu):
            gpu.mig_current = gpu.mig_pending
        elif gpu.mig_capable:
            gpu.mig_current = gpu.mig_pending = MIG_DISABLED


def reboot(state):
    """A host reboot: processes end and the driver loads again (_driver_loads)."""
    state.processes = []
    _driver_loads(state)


def driver_reload(state):
    """Unloading the driver needs every GPU idle (processes: NVML_ERROR_IN_USE); then it
    loads again (_driver_loads)."""
    if state.processes:
        raise NvmlError(NVML_ERROR_IN_USE)
    _driver_loads(state)


def mig_devices(state, gpu):
    """The MIG devices of a GPU in NVML index order: by GI id, then CI id (C: nth_mig_device)."""
    return sorted(state.cis_of(gpu), key=lambda ci: (ci.gi, ci.id)) if gpu.mig_current == MIG_ENABLED else []


def mode_name(gpu, mode):
    if not gpu.mig_capable:
        return "N/A"
    return "Enabled" if mode == MIG_ENABLED else "Disabled"
