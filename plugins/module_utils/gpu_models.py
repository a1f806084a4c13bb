# -*- coding: utf-8 -*-
# Copyright: fractional.gpu developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU models and their MIG profiles: the collection's one source of GPU facts.

Everything that needs to know what a GPU model can do (the MIG planner, the modules that
validate a geometry, the lab's simulated GPUs in tests/gpusim) reads it from here.

Sources, named next to each fact:

- [REF]  the project's shared reference ``mig-profiles.md`` (itself compiled from the NVIDIA
         MIG user guide "Supported GPUs" / "Supported MIG profiles", the GPU Operator's
         ``default-mig-parted-config`` and real ``nvidia-smi mig -lgipp`` output):
         profile names, instance counts, GPU-instance profile ids, placements, PCI ids.
- [SMI]  real ``nvidia-smi`` output published for an H100 80GB HBM3 and an A100-PCIE-40GB
         (driver 510.47.03): ``mig -lgip`` columns (memory GiB, SM, DEC/ENC, CE/JPEG/OFA),
         ``-cci`` lines naming compute-instance profiles ("1c.2g.10gb (ID 0)"), memory.total.
- [NVMLH] NVIDIA's nvml.h (package nvidia-nvml-dev): ``NVML_GPU_INSTANCE_PROFILE_*`` and
         ``NVML_COMPUTE_INSTANCE_PROFILE_*`` enum values.
- [GONVML] go-nvml's mock tables (pkg/nvml/mock/shared/gpus/*.go): per-profile memory and
         engine counts where no real output was at hand. Their placements and H100/H200
         memory sizes are simplified there and are NOT used.
- [INFERRED] derived here, not read from a source: said so at the fact.

Stdlib only, Python >= 3.9: this file is shipped to managed hosts as module_utils.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass

# NVML enum values [NVMLH].
NVML_GPU_INSTANCE_PROFILE_1_SLICE = 0x0
NVML_GPU_INSTANCE_PROFILE_2_SLICE = 0x1
NVML_GPU_INSTANCE_PROFILE_3_SLICE = 0x2
NVML_GPU_INSTANCE_PROFILE_4_SLICE = 0x3
NVML_GPU_INSTANCE_PROFILE_7_SLICE = 0x4
NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1 = 0x7  # 1g+me
NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1 = 0x8  # 2g+me (A30)
NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2 = 0x9  # 1g with two memory slices

NVML_COMPUTE_INSTANCE_PROFILE_BY_SLICES = {1: 0x0, 2: 0x1, 3: 0x2, 4: 0x3, 7: 0x4}


@dataclass(frozen=True)
class MigProfile:
    """One GPU-instance profile of one GPU model, as ``nvidia-smi mig -lgip`` lists it."""

    name: str  # canonical nvidia-smi name, e.g. "1g.10gb", "1g.10gb+me"
    gi_profile_id: int  # nvidia-smi profile ID == NVML GpuInstanceProfileInfo.id
    nvml_profile: int  # NVML_GPU_INSTANCE_PROFILE_* passed to GetGpuInstanceProfileInfo
    compute_slices: int
    memory_slices: int
    memory_mib: int  # GpuInstanceProfileInfo.memorySizeMB
    max_instances: int
    placements: tuple  # allowed start memory slots; each placement spans memory_slices
    media_extensions: bool  # "+me": the GPU's one set of JPEG/OFA engines
    # The remaining columns of `nvidia-smi mig -lgip` / GpuInstanceProfileInfo fields.
    multiprocessors: int = 0
    copy_engines: int = 0
    decoders: int = 0
    encoders: int = 0
    jpeg_engines: int = 0
    ofa_engines: int = 0


@dataclass(frozen=True)
class ComputeProfile:
    """A compute-instance profile inside a GPU instance (``nvidia-smi mig -lcip``)."""

    name: str  # "1c.3g.40gb"; the full-size one carries the GI name, "3g.40gb"
    ci_profile_id: int  # nvidia-smi CI profile ID == NVML_COMPUTE_INSTANCE_PROFILE_* [SMI]
    compute_slices: int
    max_instances: int
    placements: tuple  # allowed start compute slots inside the GI
    multiprocessors: int


@dataclass(frozen=True)
class GpuModel:
    """A GPU model. One model may stand for several PCI device ids of the same MIG family."""

    key: str  # e.g. "H100-SXM5-80GB", the keys of tests/lab/nodes.yaml
    product_name: str  # nvmlDeviceGetName / nvidia-smi "name"
    pci_device_ids: tuple  # first is the model's own id (the simulator reports it)
    memory_mib: int  # total framebuffer, nvidia-smi memory.total
    mig_capable: bool
    memory_slices: int  # 8, A30: 4, 0 if not MIG capable
    compute_slices: int  # 7, A30: 4, 0 if not MIG capable
    profiles: tuple  # of MigProfile, in nvidia-smi -lgip order
    architecture: str = ""

    def profile(self, name):
        """The MigProfile called ``name``.

        Accepts the canonical name in any case, with or without nvidia-smi's "MIG " prefix
        ("MIG 1g.10gb+me"). A compute-instance prefix ("1c.3g.40gb") is the caller's to
        strip. Raises KeyError naming the model and its profiles.
        """
        wanted = re.sub(r"^mig\s+", "", str(name).strip().lower())
        for candidate in self.profiles:
            if candidate.name == wanted:
                return candidate
        if not self.mig_capable:
            raise KeyError("GPU model %s (%s) is not MIG capable; no profile %r"
                           % (self.key, self.product_name, name))
        raise KeyError("GPU model %s has no MIG profile %r; known: %s"
                       % (self.key, name, ", ".join(p.name for p in self.profiles)))

    def profile_by_id(self, gi_profile_id):
        """The MigProfile with nvidia-smi / NVML profile id ``gi_profile_id``; KeyError if none."""
        for candidate in self.profiles:
            if candidate.gi_profile_id == int(gi_profile_id):
                return candidate
        raise KeyError("GPU model %s has no MIG profile id %r" % (self.key, gi_profile_id))


def _aligned_starts(size, slots):
    """Start slots of a block of ``size`` in ``slots`` slots, aligned to the next power of two.

    [INFERRED] for compute instances inside a GPU instance, by analogy with the aligned
    GPU-instance placements [REF] (3g at {0,4}, 7g at {0}).
    """
    step = 1
    while step < size:
        step *= 2
    return tuple(range(0, slots - size + 1, step))


def compute_profiles(gi_profile):
    """Compute-instance profiles available inside a GPU instance of ``gi_profile``.

    Names ("1c.3g.40gb"; the full-size one carries the GI's name) and ids (the NVML enum of
    the size) as nvidia-smi prints them [SMI]. That every size of 1, 2, 3, 4 and 7 compute
    slices up to the GI's exists, their placements and counts (power-of-two alignment, as
    for GPU instances) and SMs per slice are [INFERRED]. The full-size CI is the default
    (``-cci`` without a profile, ``-cgi ... -C``).
    """
    sm_per_slice = gi_profile.multiprocessors // gi_profile.compute_slices
    result = []
    for slices in (1, 2, 3, 4, 7):
        if slices > gi_profile.compute_slices:
            break
        if slices == gi_profile.compute_slices:
            name, sms = gi_profile.name, gi_profile.multiprocessors
        else:
            name, sms = "%dc.%s" % (slices, gi_profile.name), sm_per_slice * slices
        starts = _aligned_starts(slices, gi_profile.compute_slices)
        result.append(ComputeProfile(name, NVML_COMPUTE_INSTANCE_PROFILE_BY_SLICES[slices],
                                     slices, len(starts), starts, sms))
    return tuple(result)


# Per-slot placements of GPUs with 8 memory slices, by nvidia-smi profile id [REF].
_ONE_SLICE_STARTS = (0, 1, 2, 3, 4, 5, 6)  # 1g never takes the 8th memory slot [REF]


def _eight_slice_profiles(gb, memory_mib, multiprocessors, engines):
    """The seven profiles of an 8-memory-slice / 7-compute-slice GPU (A100, H100, H200, B200).

    ``gb`` names the profiles (1g, 1g double memory, 2g, 3g, 4g, 7g), as [REF] lists them;
    ``memory_mib``, ``multiprocessors`` and ``engines`` ((CE, DEC, ENC, JPEG, OFA) per
    profile) are per model. Ids, slices, counts and placements are [REF].
    """
    shapes = (
        # name suffix, id, NVML enum, compute, memory slices, max, placements, +me
        ("1g.%s" % gb[0], 19, NVML_GPU_INSTANCE_PROFILE_1_SLICE, 1, 1, 7, _ONE_SLICE_STARTS, False),
        ("1g.%s+me" % gb[0], 20, NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1, 1, 1, 1, _ONE_SLICE_STARTS, True),
        ("1g.%s" % gb[1], 15, NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2, 1, 2, 4, (0, 2, 4, 6), False),
        ("2g.%s" % gb[2], 14, NVML_GPU_INSTANCE_PROFILE_2_SLICE, 2, 2, 3, (0, 2, 4), False),
        ("3g.%s" % gb[3], 9, NVML_GPU_INSTANCE_PROFILE_3_SLICE, 3, 4, 2, (0, 4), False),
        ("4g.%s" % gb[4], 5, NVML_GPU_INSTANCE_PROFILE_4_SLICE, 4, 4, 1, (0,), False),
        ("7g.%s" % gb[5], 0, NVML_GPU_INSTANCE_PROFILE_7_SLICE, 7, 8, 1, (0,), False),
    )
    return tuple(
        MigProfile(name, gi_id, enum, compute, mem_slices, mem, count, starts, me,
                   sms, *engine)
        for (name, gi_id, enum, compute, mem_slices, count, starts, me), mem, sms, engine
        in zip(shapes, memory_mib, multiprocessors, engines)
    )


# Engines (CE, DEC, ENC, JPEG, OFA) per profile in -lgip order.
# H100 [SMI]; H200 and H100 NVL are the same GH100 die, assumed equal [INFERRED].
_HOPPER_ENGINES = ((1, 1, 0, 1, 0), (1, 1, 0, 1, 1), (1, 1, 0, 1, 0), (2, 2, 0, 2, 0),
                   (3, 3, 0, 3, 0), (4, 4, 0, 4, 0), (8, 7, 0, 7, 1))
_HOPPER_SMS = (16, 16, 26, 32, 60, 64, 132)  # [SMI]
_AMPERE_ENGINES = ((1, 0, 0, 0, 0), (1, 1, 0, 1, 1), (1, 1, 0, 0, 0), (2, 1, 0, 0, 0),
                   (3, 2, 0, 0, 0), (4, 2, 0, 0, 0), (7, 5, 0, 1, 1))  # A100 [SMI]; 1g.10gb [INFERRED]
_AMPERE_SMS = (14, 14, 14, 28, 42, 56, 98)  # A100 [SMI]; 1g.10gb [INFERRED]
_BLACKWELL_ENGINES = ((1, 1, 0, 0, 0), (1, 1, 1, 1, 1), (1, 1, 0, 0, 0), (2, 2, 1, 1, 1),
                      (3, 3, 2, 2, 2), (4, 4, 2, 2, 2), (7, 7, 4, 4, 4))  # B200 [GONVML]
_BLACKWELL_SMS = (18, 18, 18, 36, 54, 72, 126)  # B200 [GONVML]


def _a30_profiles():
    """A30: 4 memory slices, 4 compute slices. Ids and placements [REF]; memory, SMs and
    engines [GONVML]; 2g.12gb+me (id 6, NVML 2_SLICE_REV1, x1) [REF] with 2g's placements
    [INFERRED]."""
    return (
        MigProfile("1g.6gb", 14, NVML_GPU_INSTANCE_PROFILE_1_SLICE, 1, 1, 5836, 4,
                   (0, 1, 2, 3), False, 14, 1, 0, 0, 0, 0),
        MigProfile("1g.6gb+me", 21, NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1, 1, 1, 5836, 1,
                   (0, 1, 2, 3), True, 14, 1, 1, 0, 1, 1),
        MigProfile("2g.12gb", 5, NVML_GPU_INSTANCE_PROFILE_2_SLICE, 2, 2, 11672, 2,
                   (0, 2), False, 28, 2, 2, 0, 0, 0),
        MigProfile("2g.12gb+me", 6, NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1, 2, 2, 11672, 1,
                   (0, 2), True, 28, 2, 2, 0, 1, 1),
        MigProfile("4g.24gb", 0, NVML_GPU_INSTANCE_PROFILE_4_SLICE, 4, 4, 23344, 1,
                   (0,), False, 56, 4, 4, 0, 1, 1),
    )


def _model(key, product_name, pci_device_ids, memory_mib, architecture, profiles=(),
           memory_slices=8, compute_slices=7):
    mig = bool(profiles)
    return GpuModel(key, product_name, tuple(pci_device_ids), memory_mib, mig,
                    memory_slices if mig else 0, compute_slices if mig else 0,
                    tuple(profiles), architecture)


# Product names are those nvidia-smi / NVML print; totals (memory.total, MiB) as real
# nvidia-smi reports them (A100 40GB [SMI]; the others [INFERRED] from memory of published
# output, unverified here).
# PCI device ids [REF]; L40S 0x26B9 [INFERRED, PCI ID database].
_MODELS = (
    _model("A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB", (0x20B0, 0x20B1, 0x20F1, 0x20F6),
           40960, "Ampere",
           # memory [SMI]: 4.75, 9.75, 19.62, 39.50 GiB; 1g.10gb = 2g's [INFERRED]
           _eight_slice_profiles(("5gb", "10gb", "10gb", "20gb", "20gb", "40gb"),
                                 (4864, 4864, 9984, 9984, 20096, 20096, 40448),
                                 _AMPERE_SMS, _AMPERE_ENGINES)),
    _model("A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB", (0x20B2, 0x20B5, 0x20F3, 0x20F5),
           81920, "Ampere",
           # memory [GONVML]
           _eight_slice_profiles(("10gb", "20gb", "20gb", "40gb", "40gb", "80gb"),
                                 (9856, 9856, 19968, 19968, 40192, 40192, 80384),
                                 _AMPERE_SMS, _AMPERE_ENGINES)),
    _model("A30-24GB", "NVIDIA A30", (0x20B7,), 24576, "Ampere", _a30_profiles(),
           memory_slices=4, compute_slices=4),
    _model("H100-SXM5-80GB", "NVIDIA H100 80GB HBM3", (0x2330, 0x2331, 0x2322, 0x2324),
           81559, "Hopper",
           # memory [SMI]: 9.75, 19.62, 39.50, 79.25 GiB
           _eight_slice_profiles(("10gb", "20gb", "20gb", "40gb", "40gb", "80gb"),
                                 (9984, 9984, 20096, 20096, 40448, 40448, 81152),
                                 _HOPPER_SMS, _HOPPER_ENGINES)),
    # H100 NVL, H200 and B200 profile memory: the H100 [SMI] sizes scaled by the ratio of
    # total memory, rounded down to 128 MiB [INFERRED]; names and counts [REF].
    _model("H100-NVL-94GB", "NVIDIA H100 NVL", (0x2321, 0x233A), 95830, "Hopper",
           _eight_slice_profiles(("12gb", "24gb", "24gb", "47gb", "47gb", "94gb"),
                                 (11648, 11648, 23552, 23552, 47488, 47488, 95232),
                                 _HOPPER_SMS, _HOPPER_ENGINES)),
    _model("H200-141GB", "NVIDIA H200", (0x2335, 0x233B), 143771, "Hopper",
           _eight_slice_profiles(("18gb", "35gb", "35gb", "71gb", "71gb", "141gb"),
                                 (17536, 17536, 35328, 35328, 71296, 71296, 142976),
                                 _HOPPER_SMS, _HOPPER_ENGINES)),
    _model("B200-180GB", "NVIDIA B200", (0x2901,), 183359, "Blackwell",
           _eight_slice_profiles(("23gb", "45gb", "45gb", "90gb", "90gb", "180gb"),
                                 (22400, 22400, 45056, 45056, 90880, 90880, 182400),
                                 _BLACKWELL_SMS, _BLACKWELL_ENGINES)),
    _model("L40S", "NVIDIA L40S", (0x26B9,), 46068, "Ada Lovelace"),  # not MIG capable [REF]
)

GPU_MODELS = dict((model.key, model) for model in _MODELS)


def model_by_key(key):
    """The GpuModel for a key such as "H100-SXM5-80GB"; KeyError listing the keys if unknown."""
    try:
        return GPU_MODELS[key]
    except KeyError:
        raise KeyError("unknown GPU model %r; known: %s" % (key, ", ".join(sorted(GPU_MODELS))))


def model_by_product_name(name):
    """The GpuModel whose product name is ``name`` (case and spacing insensitive, GFD's
    dashed form accepted), or None for a GPU this table does not know."""
    wanted = gfd_product_label(name).lower()
    for model in _MODELS:
        if gfd_product_label(model.product_name).lower() == wanted:
            return model
    return None


def model_by_pci_device_id(dev_id):
    """The GpuModel with PCI device id ``dev_id``, or None if unknown.

    Accepts an int (0x2330), a hex string ("0x2330", "2330") or NVML's / mig-parted's
    combined device+vendor form ("0x233010DE", as nvidia-smi pci.device_id prints it).
    """
    value = int(dev_id, 16) if isinstance(dev_id, str) else int(dev_id)
    if value > 0xFFFF:
        if value & 0xFFFF != 0x10DE:  # not NVIDIA's vendor id
            return None
        value >>= 16
    for model in _MODELS:
        if value in model.pci_device_ids:
            return model
    return None


def gfd_product_label(product_name):
    """The value GPU feature discovery puts in ``nvidia.com/gpu.product`` for a product name:
    runs of white space become '-' ("NVIDIA H100 80GB HBM3" -> "NVIDIA-H100-80GB-HBM3")."""
    return "-".join(str(product_name).split())
