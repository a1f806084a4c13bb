# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state of one simulated GPU host, shared by the simulated nvidia-smi, the simulated
NVML library (nvml/sim_nvml.c) and the gpusim CLI.

File format (chosen so that C reads and writes it with a few lines of code): the first line
is ``gpusim-state 1``; every other line is one record, a tag followed by tab-separated
``key=value`` fields. Values never hold tabs or newlines; lists are comma separated;
booleans are 0/1. Record order carries no meaning. Tags and their keys are the dataclasses
below (``host``, ``faults``, ``gi_profile``, ``ci_profile``, ``gpu``, ``gi``, ``ci``,
``process``).

Every reader takes a shared flock on ``<state>.lock`` and every writer an exclusive one;
writers replace the file atomically (temporary file + rename), so a reader never sees half a
state, whichever process (Python or C) wrote it.
"""

import contextlib
import fcntl
import os
from dataclasses import dataclass, field, fields

MAGIC = "gpusim-state 1"
MIG_DISABLED, MIG_ENABLED = 0, 1
NO_INSTANCE = -1  # gi / ci of a process that runs on the whole GPU


@dataclass
class Host:
    node: str
    driver_version: str
    cuda_version: int  # as NVML reports it: 13000 is CUDA 13.0


@dataclass
class Faults:
    reset_fails: bool = False  # nvidia-smi -r fails "In use by another client"
    mig_needs_reset: bool = False  # a MIG mode change stays pending until nvidia-smi -r
    mig_needs_reboot: bool = False  # a MIG mode change stays pending until `gpusim reboot`
    # The next N mutations succeed and the one after fails (once); -1: off.
    fail_after_mutations: int = -1


@dataclass
class GiProfile:
    """A GPU-instance profile of a model, from tests/gpusim/models.yaml at seeding."""

    model: str
    id: int  # nvidia-smi / NVML profile id
    nvml: int  # NVML_GPU_INSTANCE_PROFILE_* enum
    name: str
    compute: int  # compute slices
    memory_slices: int
    memory_mib: int
    max: int
    placements: tuple
    me: bool  # takes the GPU's media engines (+me, +me.all): one such instance per GPU
    sm: int
    ce: int
    dec: int
    enc: int
    jpeg: int
    ofa: int


@dataclass
class CiProfile:
    """A compute-instance profile inside GIs of one GI profile (host.compute_profiles)."""

    model: str
    gi_profile: int
    id: int  # NVML_COMPUTE_INSTANCE_PROFILE_* enum, also the nvidia-smi id
    name: str
    compute: int
    max: int
    placements: tuple
    sm: int


@dataclass
class Gpu:
    index: int
    model: str
    name: str
    uuid: str
    bus_id: str  # "00000000:18:00.0"
    pci_device_id: int  # device << 16 | vendor, as NVML's pciDeviceId
    memory_mib: int
    architecture: str  # "Ampere" keeps its MIG mode across reboots; later ones do not
    mig_capable: bool
    memory_slices: int
    compute_slices: int
    mig_current: int = MIG_DISABLED
    mig_pending: int = MIG_DISABLED
    # PCI subsystem id, device << 16 | vendor (0x18BF10DE); 0: not known, the simulator then
    # reports pci_device_id there (state files written before this field read as 0).
    pci_subsystem_id: int = 0
    # CUDA compute capability, "major.minor" ("": not known, NVML reports 0.0).
    compute_capability: str = ""


@dataclass
class GpuInstance:
    gpu: int
    id: int
    profile: int  # GiProfile.id
    start: int  # first memory slice


@dataclass
class ComputeInstance:
    gpu: int
    gi: int
    id: int
    profile: int  # CiProfile.id
    start: int  # first compute slice inside the GI
    uuid: str  # of the MIG device this CI makes


@dataclass
class Process:
    gpu: int
    pid: int
    name: str
    used_mib: int
    gi: int = NO_INSTANCE
    ci: int = NO_INSTANCE


_RECORDS = {"host": Host, "faults": Faults, "gi_profile": GiProfile, "ci_profile": CiProfile,
            "gpu": Gpu, "gi": GpuInstance, "ci": ComputeInstance, "process": Process}
_LIST_OF = {GiProfile: "gi_profiles", CiProfile: "ci_profiles", Gpu: "gpus",
            GpuInstance: "gpu_instances", ComputeInstance: "compute_instances", Process: "processes"}


@dataclass
class State:
    host: Host
    faults: Faults = field(default_factory=Faults)
    gi_profiles: list = field(default_factory=list)
    ci_profiles: list = field(default_factory=list)
    gpus: list = field(default_factory=list)
    gpu_instances: list = field(default_factory=list)
    compute_instances: list = field(default_factory=list)
    processes: list = field(default_factory=list)

    # Lookups the simulator needs everywhere.
    def gpu(self, index):
        for gpu in self.gpus:
            if gpu.index == index:
                return gpu
        raise KeyError("no GPU %d" % index)

    def gi_profiles_of(self, gpu):
        return [p for p in self.gi_profiles if p.model == gpu.model]

    def gi_profile(self, gpu, profile_id):
        for profile in self.gi_profiles_of(gpu):
            if profile.id == profile_id:
                return profile
        return None

    def ci_profiles_of(self, gpu, gi_profile_id):
        return [p for p in self.ci_profiles if p.model == gpu.model and p.gi_profile == gi_profile_id]

    def gis_of(self, gpu):
        return sorted((gi for gi in self.gpu_instances if gi.gpu == gpu.index), key=lambda gi: gi.start)

    def cis_of(self, gpu, gi_id=None):
        return sorted((ci for ci in self.compute_instances
                       if ci.gpu == gpu.index and gi_id in (None, ci.gi)), key=lambda ci: (ci.gi, ci.id))

    def processes_of(self, gpu):
        return [p for p in self.processes if p.gpu == gpu.index]


def _format_value(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    text = str(value)
    if "\t" in text or "\n" in text:
        raise ValueError("state values cannot hold tabs or newlines: %r" % text)
    return text


def _parse_value(kind, text):
    if kind is bool:
        return text == "1"
    if kind is int:
        return int(text, 0)
    if kind is tuple:
        return tuple(int(v) for v in text.split(",") if v)
    return text


def format_state(state):
    lines = [MAGIC]
    for tag, cls in _RECORDS.items():
        for item in _items_of(state, cls):
            lines.append("\t".join([tag] + ["%s=%s" % (f.name, _format_value(getattr(item, f.name)))
                                            for f in fields(cls)]))
    return "\n".join(lines) + "\n"


def _items_of(state, cls):
    if cls is Host:
        return [state.host]
    if cls is Faults:
        return [state.faults]
    return getattr(state, _LIST_OF[cls])


class StateError(ValueError):
    """A state file that is not one."""


def parse_state(text, path="<state>"):
    lines = text.splitlines()
    if not lines or lines[0] != MAGIC:
        raise StateError("%s is not a gpusim state file (no %r header)" % (path, MAGIC))
    state = State(host=None)
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        tag, *pairs = line.split("\t")
        cls = _RECORDS.get(tag)
        if cls is None:
            raise StateError("%s:%d: unknown record %r" % (path, number, tag))
        values = dict(pair.split("=", 1) for pair in pairs)
        kinds = {f.name: f.type for f in fields(cls)}
        item = cls(**{key: _parse_value(kinds[key], value) for key, value in values.items() if key in kinds})
        if cls is Host:
            state.host = item
        elif cls is Faults:
            state.faults = item
        else:
            getattr(state, _LIST_OF[cls]).append(item)
    if state.host is None:
        raise StateError("%s has no host record" % path)
    return state


def state_path(path=None):
    """The state file: ``path``, else $FGPU_GPUSIM_STATE."""
    path = path or os.environ.get("FGPU_GPUSIM_STATE")
    if not path:
        raise SystemExit("gpusim: no state file: set FGPU_GPUSIM_STATE or pass --state")
    return path


def subsystem_id(gpu):
    """The PCI subsystem id the simulator reports for ``gpu``."""
    return gpu.pci_subsystem_id or gpu.pci_device_id


@contextlib.contextmanager
def _flock(path, exclusive):
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def load(path):
    with _flock(path, exclusive=False), open(path) as handle:
        return parse_state(handle.read(), path)


def _write(path, state):
    temporary = "%s.tmp.%d" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write(format_state(state))
    os.replace(temporary, path)


def save(path, state):
    with _flock(path, exclusive=True):
        _write(path, state)


@contextlib.contextmanager
def updating(path):
    """Load the state under an exclusive lock, yield it, and write it back if the body
    returns normally (callers report command failures by return value, not by raising,
    so that the changes made before a failure are kept, as on real hardware)."""
    with _flock(path, exclusive=True):
        with open(path) as handle:
            state = parse_state(handle.read(), path)
        yield state
        _write(path, state)
