# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operations on a simulated host's state file: seeding from the lab's node description,
fault injection and reboots. The gpusim CLI (``python -m gpusim``) is a thin layer over
these; tests may call them directly."""

import dataclasses
import json
import re
import uuid
from pathlib import Path

from . import mig, state as statefile
from .state import CiProfile, Faults, GiProfile, Gpu, Host, Process, State

NVIDIA_VENDOR_ID = 0x10DE
_UUID_NAMESPACE = uuid.UUID("5f0c5a1e-6a7d-4d1b-9a65-6e2f0c9a3b11")  # any fixed value
MODELS_FILE = Path(__file__).resolve().parents[1] / "models.yaml"
GIB = 1024  # MiB


def load_models(path=MODELS_FILE):
    """The simulated GPU models of tests/gpusim/models.yaml: {key: dict}."""
    import yaml  # only seeding needs it; nvidia-smi runs on the standard library

    with open(path) as handle:
        return yaml.safe_load(handle)


def gib_to_mib(text):
    """The MiB behind a GiB figure as nvidia-smi -lgip prints it, to 64 MiB ('10.75' -> 11008)."""
    return int(round(float(text) * GIB / 64.0)) * 64


def compute_profiles(gi):
    """CI profiles (size, NVML enum, placements) inside a GI of ``gi`` (a GiProfile): a c-slice
    CI in a g-slice GI when c == g, or c < g and 2c <= g + 1 (NVIDIA/go-nvlib
    pkg/nvlib/device/device.go, VisitMigProfiles); placements aligned to the next power of
    two [INFERRED]. Names as nvidia-smi prints them: '1c.3g.40gb', the GI-sized one '3g.40gb'."""
    result = []
    for size, enum in ((1, 0), (2, 1), (3, 2), (4, 3), (6, 6), (7, 4), (8, 5)):
        if size > gi.compute or (size < gi.compute and 2 * size > gi.compute + 1):
            continue
        step = 1
        while step < size:
            step *= 2
        starts = tuple(range(0, gi.compute - size + 1, step))
        name = gi.name if size == gi.compute else "%dc.%s" % (size, gi.name)
        result.append(CiProfile(model=gi.model, gi_profile=gi.id, id=enum, name=name, compute=size,
                                max=len(starts), placements=starts, sm=gi.sm * size // gi.compute))
    return result


def _gi_profiles(key, model):
    profiles = []
    for row in model["profiles"]:
        starts, size = row["place"].split(":")
        gib = row.get("gib") or row["inferred_gib"]
        ce, dec, enc, jpeg, ofa = row["engines"]
        name = row["name"]
        profiles.append(GiProfile(
            model=key, id=row["id"], nvml=row["enum"], name=name, compute=int(name.split("g.")[0]),
            memory_slices=int(size), memory_mib=gib_to_mib(gib), max=row["count"],
            placements=tuple(int(v) for v in starts.split(",")), me=bool(re.search(r"\+me(\.all)?$", name)),
            sm=row["sm"], ce=ce, dec=dec, enc=enc, jpeg=jpeg, ofa=ofa))
    return profiles


def seed_model(key, count, out, node_name=None, driver_version="580.95.05", cuda_version=13000):
    """Write a fresh state of a host with ``count`` GPUs of model ``key`` (a key of
    tests/gpusim/models.yaml) to ``out``; the mutation log restarts."""
    models = load_models()
    if key not in models:
        raise SystemExit("gpusim: unknown model %r (models: %s)" % (key, ", ".join(sorted(models))))
    model = models[key]
    node_name = node_name or "gpusim-%s" % key.lower()
    state = State(host=Host(node=node_name, driver_version=driver_version, cuda_version=cuda_version))
    state.gi_profiles = _gi_profiles(key, model)
    for gi in state.gi_profiles:
        state.ci_profiles.extend(compute_profiles(gi))
    memory_slices = max((p.placements[-1] + p.memory_slices for p in state.gi_profiles), default=0)
    compute_slices = max((p.compute for p in state.gi_profiles), default=0)
    for index in range(int(count)):
        state.gpus.append(Gpu(
            index=index, model=key, name=model["product_name"],
            uuid="GPU-%s" % uuid.uuid5(_UUID_NAMESPACE, "%s/%d" % (node_name, index)),
            bus_id="00000000:%02X:00.0" % (0x18 + 0x0E * index),
            pci_device_id=model["pci_device_id"] << 16 | NVIDIA_VENDOR_ID,
            pci_subsystem_id=model.get("pci_subsystem_id") or 0,
            memory_mib=model["memory_mib"], architecture=model["architecture"],
            compute_capability=model["compute_capability"],
            mig_capable=bool(state.gi_profiles), memory_slices=memory_slices,
            compute_slices=compute_slices))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    statefile.save(str(out), state)
    log = Path(str(out) + ".mutations.log")
    if log.exists():
        log.unlink()
    return state


def seed(nodes_file, node_name, out, driver_version="580.95.05", cuda_version=13000):
    """Write a fresh state for node ``node_name`` of ``nodes_file`` (tests/lab/nodes.yaml
    shape: ``nodes: [{name, gpu: {model, count}}]``, ``model`` a key of
    tests/gpusim/models.yaml) to ``out``; the mutation log restarts."""
    import yaml

    with open(nodes_file) as handle:
        nodes = yaml.safe_load(handle)["nodes"]
    node = next((n for n in nodes if n["name"] == node_name), None)
    if node is None:
        raise SystemExit("gpusim: no node %r in %s (nodes: %s)"
                         % (node_name, nodes_file, ", ".join(n["name"] for n in nodes)))
    return seed_model(node["gpu"]["model"], node["gpu"]["count"], out, node_name, driver_version,
                      cuda_version)


def add_process(path, gpu, pid, name="python3", memory_mib=1024, gi=None, ci=None):
    """A process on GPU ``gpu`` (in MIG device gi/ci when given), as a CUDA job would be."""
    with statefile.updating(path) as state:
        target = state.gpu(gpu)
        if gi is not None:
            instance = mig.find_gpu_instance(state, target, gi)
            mig.find_compute_instance(state, target, instance, 0 if ci is None else ci)
        state.processes.append(Process(gpu=gpu, pid=pid, name=name, used_mib=memory_mib,
                                       gi=statefile.NO_INSTANCE if gi is None else gi,
                                       ci=statefile.NO_INSTANCE if gi is None else (0 if ci is None else ci)))


def clear_processes(path, gpu=None, pid=None):
    """Remove the processes on ``gpu`` (all GPUs if None) with ``pid`` (any if None)."""
    with statefile.updating(path) as state:
        state.processes = [p for p in state.processes
                           if not (gpu in (None, p.gpu) and pid in (None, p.pid))]


FAULTS = ("reset_fails", "mig_needs_reset", "mig_needs_reboot", "fail_after_mutations")


def set_fault(path, name, value):
    """Set one of FAULTS: booleans for the first three, an int (-1: off) for the last."""
    if name not in FAULTS:
        raise ValueError("unknown fault %r; known: %s" % (name, ", ".join(FAULTS)))
    with statefile.updating(path) as state:
        setattr(state.faults, name, value)


def clear_faults(path):
    with statefile.updating(path) as state:
        state.faults = Faults()


def reboot(path):
    with statefile.updating(path) as state:
        mig.reboot(state)


def driver_reload(path):
    """Unload and load the NVIDIA driver (refused while processes use a GPU)."""
    with statefile.updating(path) as state:
        mig.driver_reload(state)


def describe(path):
    """The state as JSON-ready data (``python -m gpusim show``)."""
    return dataclasses.asdict(statefile.load(path))


def dump(path):
    return json.dumps(describe(path), indent=2, sort_keys=True)
