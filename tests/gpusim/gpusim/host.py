"""Operations on a simulated host's state file: seeding from the lab's node description,
fault injection and reboots. The gpusim CLI (``python -m gpusim``) is a thin layer over
these; tests may call them directly."""

import dataclasses
import importlib.util
import json
import sys
import uuid
from pathlib import Path

from . import mig, state as statefile
from .state import CiProfile, Faults, GiProfile, Gpu, Host, Process, State

NVIDIA_VENDOR_ID = 0x10DE
_UUID_NAMESPACE = uuid.UUID("5f0c5a1e-6a7d-4d1b-9a65-6e2f0c9a3b11")  # any fixed value


def gpu_models():
    """This clone's plugins/module_utils/gpu_models.py, loaded from its file so that the
    simulator always uses the table next to it (and needs no collection install)."""
    name = "fractional_gpu_gpu_models"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "gpu_models.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def seed(nodes_file, node_name, out, driver_version="580.95.05", cuda_version=13000):
    """Write a fresh state for node ``node_name`` of ``nodes_file`` (tests/lab/nodes.yaml
    shape: ``nodes: [{name, gpu: {model, count}}]``) to ``out``; the mutation log restarts."""
    import yaml  # only seeding needs it; nvidia-smi runs on the standard library

    with open(nodes_file) as handle:
        nodes = yaml.safe_load(handle)["nodes"]
    node = next((n for n in nodes if n["name"] == node_name), None)
    if node is None:
        raise SystemExit("gpusim: no node %r in %s (nodes: %s)"
                         % (node_name, nodes_file, ", ".join(n["name"] for n in nodes)))
    models = gpu_models()
    model = models.model_by_key(node["gpu"]["model"])
    state = State(host=Host(node=node_name, driver_version=driver_version, cuda_version=cuda_version))
    for profile in model.profiles:
        state.gi_profiles.append(GiProfile(
            model=model.key, id=profile.gi_profile_id, nvml=profile.nvml_profile, name=profile.name,
            compute=profile.compute_slices, memory_slices=profile.memory_slices, memory_mib=profile.memory_mib,
            max=profile.max_instances, placements=profile.placements, me=profile.media_extensions,
            sm=profile.multiprocessors, ce=profile.copy_engines, dec=profile.decoders, enc=profile.encoders,
            jpeg=profile.jpeg_engines, ofa=profile.ofa_engines))
        for compute in models.compute_profiles(profile):
            state.ci_profiles.append(CiProfile(
                model=model.key, gi_profile=profile.gi_profile_id, id=compute.ci_profile_id, name=compute.name,
                compute=compute.compute_slices, max=compute.max_instances, placements=compute.placements,
                sm=compute.multiprocessors))
    for index in range(int(node["gpu"]["count"])):
        state.gpus.append(Gpu(
            index=index, model=model.key, name=model.product_name,
            uuid="GPU-%s" % uuid.uuid5(_UUID_NAMESPACE, "%s/%d" % (node_name, index)),
            bus_id="00000000:%02X:00.0" % (0x18 + 0x0E * index),
            pci_device_id=model.pci_device_ids[0] << 16 | NVIDIA_VENDOR_ID, memory_mib=model.memory_mib,
            architecture=model.architecture, mig_capable=model.mig_capable,
            memory_slices=model.memory_slices, compute_slices=model.compute_slices))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    statefile.save(str(out), state)
    log = Path(str(out) + ".mutations.log")
    if log.exists():
        log.unlink()
    return state


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


def describe(path):
    """The state as JSON-ready data (``python -m gpusim show``)."""
    return dataclasses.asdict(statefile.load(path))


def dump(path):
    return json.dumps(describe(path), indent=2, sort_keys=True)
