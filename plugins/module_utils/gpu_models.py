# -*- coding: utf-8 -*-
# Copyright: fractional.gpu developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU models and their MIG profiles: the collection's table of published GPU facts.

The GPU itself is the authority. On a host, the profiles, placements and memory sizes are
the driver's, read at run time (NVML ``nvmlDeviceGetGpuInstanceProfileInfo`` and placements,
or ``nvidia-smi mig -lgip`` / ``-lgipp``; see ``driver_model``), and this table is only a
cross-check of what the driver reports (``cross_check``) and the source for planning off the
host (operator mode, from GPU feature discovery's labels). A GPU that the table lacks but
the driver describes works, with a warning; a profile's memory is checked against the
driver's figure for it, never against this table.

A profile's name is not its memory size: the memory below (``memory_mib``) is what the
driver reports for the profile (NVML ``memorySizeMB``, or the GiB column of ``nvidia-smi
mig -lgip`` times 1024), each figure from a public capture named next to it, or None where
no capture is at hand. Drivers differ by a few percent (H200 2g.35gb: 32.25 GiB on a 550
driver, 32.50 on 580), which the cross-check's tolerance absorbs.

Sources (named in brackets next to each fact):

- [GUIDE]   NVIDIA MIG user guide, "Supported MIG Profiles" (names, instance counts, A30
            and A100 engines) and "Deployment Considerations" (MIG mode per generation).
- [CONFIG]  NVIDIA/mig-parted deployments/systemd/config-default.yaml (v0.15.0), the same
            configs as NVIDIA/gpu-operator assets/state-mig-manager/0400_configmap.yaml:
            the PCI device ids of each model and the profile names it uses.
- [NVMLH]   NVIDIA's nvml.h: ``NVML_GPU_INSTANCE_PROFILE_*`` / ``NVML_COMPUTE_INSTANCE_PROFILE_*``.
- [H200-580] a real H200 (0x2335, driver 580.159.04) captured read-only for this project:
            tests/fixtures/real/h200-sxm-141gb-driver-580.159.04 (NVML memorySizeMB,
            ``-lgip``/``-lgipp``).
- [MP120]   NVIDIA/mig-parted issue 120, ``nvidia-smi mig -lgip`` of an 8 x H200 host.
- [MP101]   NVIDIA/mig-parted PR 101 and [GO900] NVIDIA/gpu-operator PR 900: ``-lgip`` of an
            H100 NVL.
- [MP166]   NVIDIA/mig-parted PR 166 (B200, first driver) and [MP187] PR 187 (B200, later
            driver, ``-lgip``).
- [MP227]   NVIDIA/mig-parted issue 227 and PR 228: ``-lgip`` of a production GB200.
- [MP139]   NVIDIA/mig-parted PR 139 (= NVIDIA/gpu-operator PR 1057): ``-lgip`` of a GH200
            144G HBM3e.
- [H100CAP] ``nvidia-smi mig -lgip`` of an H100 80GB HBM3 published in Joe Barrow's field
            notes on MIG (jbarrow.ai/field_notes/nvidia-mig) and in the MIG user guide's H100
            examples.
- [A100CAP] the A100-SXM4-40GB ``-lgip`` figures of the MIG user guide's A100 examples;
            A100 80GB 2g.20gb: the MIG device totals (19968 MiB) in XuehaiPan/nvitop PR 8.
- [A30CAP]  A30 figures the project's issue quotes from the MIG user guide (2g.12gb 11.69
            GiB, 4g.24gb 23.50 GiB).
- [RTXCAP]  ``-lgip`` of an RTX PRO 6000 Blackwell Server Edition in bigstack-oss/cubecos
            issue 312 (profile ids, 23.12 / 46.50 GiB); another board prints 23.62 GiB
            (GoogleCloudPlatform/container-engine-accelerators PR 564).
- [PLACE8]  the placements of 8-memory-slice GPUs, ``-lgipp`` of [H200-580] (and the MIG
            user guide's A100/H100 placement figures): 1g {0..6}:1, 1g double memory
            {0,2,4,6}:2, 2g {0,2,4}:2, 3g {0,4}:4, 4g {0}:4, 7g {0}:8.
- [PLACE4]  A30's placements (MIG user guide, A30 figure): 1g {0,1,2,3}:1, 2g {0,2}:2,
            4g {0}:4.
- [INFERRED] derived here, not read from a source: said so at the fact.

Models NVIDIA's default config names that this table leaves out, because no public
capture of their profiles was at hand: B300 and GB300 (open NVIDIA/mig-parted PR 251,
NVIDIA/gpu-operator PR 1759). They work on a host from the driver's description.

Stdlib only, Python >= 3.9: this file is shipped to managed hosts as module_utils.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass, field

# NVML GPU-instance profile enums [NVMLH].
NVML_GPU_INSTANCE_PROFILE_1_SLICE = 0x0
NVML_GPU_INSTANCE_PROFILE_2_SLICE = 0x1
NVML_GPU_INSTANCE_PROFILE_3_SLICE = 0x2
NVML_GPU_INSTANCE_PROFILE_4_SLICE = 0x3
NVML_GPU_INSTANCE_PROFILE_7_SLICE = 0x4
NVML_GPU_INSTANCE_PROFILE_8_SLICE = 0x5
NVML_GPU_INSTANCE_PROFILE_6_SLICE = 0x6
NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1 = 0x7  # 1g+me
NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1 = 0x8  # 2g+me (A30)
NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2 = 0x9  # 1g with two memory slices
NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX = 0xA
NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX = 0xB
NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX = 0xC
NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME = 0xD
NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME = 0xE
NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME = 0xF
NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME = 0x10
NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX = 0x11
NVML_GPU_INSTANCE_PROFILE_COUNT = 0x12

# NVML compute-instance profile enum -> compute slices [NVMLH]. 7 (1_SLICE_REV1) and 8
# (7_SLICE_NVL) are variants of the 1- and 7-slice sizes.
COMPUTE_SLICES_BY_CI_PROFILE = {0x0: 1, 0x1: 2, 0x2: 3, 0x3: 4, 0x4: 7, 0x5: 8, 0x6: 6,
                                0x7: 1, 0x8: 7}
# The plain profile of each size, the one a compute instance is created with.
NVML_COMPUTE_INSTANCE_PROFILE_BY_SLICES = {1: 0x0, 2: 0x1, 3: 0x2, 4: 0x3, 6: 0x6, 7: 0x4, 8: 0x5}

# MIG mode across reboots, by architecture [GUIDE, "Deployment Considerations" and "GPU
# Reset on Hopper+ GPUs"]: on Ampere the mode persists (like ECC mode) and enabling it takes
# a GPU reset; from Hopper on, enabling needs no reset and the mode does not survive a
# reboot or a driver reload.
ARCHITECTURES_KEEPING_MIG_MODE = ("Ampere",)

# Media-engine attributes: an instance with one of them takes the GPU's shared media
# engines, so a GPU holds at most one such instance [INFERRED from every capture listing
# these profiles with a count of 1].
MEDIA_ATTRIBUTES = ("me", "me.all")

_PROFILE_NAME = re.compile(r"^(\d+)g\.(\d+)gb(?:([+-])([A-Za-z0-9.,]+))?$")


def mig_mode_persists(architecture):
    """Whether a GPU of ``architecture`` keeps its MIG mode across a reboot (and needs a reset
    to enable it). Unknown or newer architectures are treated as Hopper and later."""
    return str(architecture or "") in ARCHITECTURES_KEEPING_MIG_MODE


def split_profile_name(name):
    """'1g.24gb+me.all' -> (1, 24, '+', ('me.all',)); (g, gb, None, ()) without attributes.
    Raises ValueError for a string that is not a GPU-instance profile name."""
    match = _PROFILE_NAME.match(re.sub(r"^mig\s+", "", str(name).strip(), flags=re.IGNORECASE))
    if not match:
        raise ValueError("not a MIG profile name: %r" % (name,))
    g, gb, sign, attrs = match.groups()
    return int(g), int(gb), sign, tuple(sorted(attrs.split(","))) if attrs else ()


def canonical_profile_name(name):
    """The name in one spelling: no 'MIG ' prefix, lower case, attributes sorted."""
    g, gb, sign, attrs = split_profile_name(name)
    return "%dg.%dgb%s" % (g, gb, (sign + ",".join(attrs)) if attrs else "")


@dataclass(frozen=True)
class MigProfile:
    """One GPU-instance profile of one GPU model, as ``nvidia-smi mig -lgip`` lists it."""

    name: str  # canonical nvidia-smi name, e.g. "1g.10gb", "1g.24gb+me.all", "1g.24gb-me"
    gi_profile_id: object  # nvidia-smi profile ID == NVML GpuInstanceProfileInfo.id; None: unknown
    nvml_profile: object  # NVML_GPU_INSTANCE_PROFILE_* enum; None: unknown
    compute_slices: int
    memory_slices: int
    memory_mib: object  # the driver's memorySizeMB; None: no figure at hand
    max_instances: int
    placements: tuple  # allowed start memory slots; each placement spans memory_slices
    attributes: tuple = ()  # ("me",), ("me.all",), ("gfx",); sorted
    without: tuple = ()  # attributes the profile lacks: ("me",) for "-me"

    @property
    def media_extensions(self):
        return any(a in MEDIA_ATTRIBUTES for a in self.attributes)


@dataclass(frozen=True)
class ComputeProfile:
    """A compute-instance profile inside a GPU instance (``nvidia-smi mig -lcip``)."""

    name: str  # "1c.3g.40gb"; the full-size one carries the GI name, "3g.40gb"
    ci_profile_id: int  # NVML_COMPUTE_INSTANCE_PROFILE_* (also the nvidia-smi id)
    compute_slices: int
    max_instances: int
    placements: tuple  # allowed start compute slots inside the GI


@dataclass(frozen=True)
class GpuModel:
    """A GPU model. One model may stand for several PCI device ids of the same MIG family.

    Built from this table, or from what the driver reports (``driver_model``; then
    ``from_driver`` is true).
    """

    key: str  # e.g. "H100-SXM5-80GB"
    product_names: tuple  # nvmlDeviceGetName / nvidia-smi "name"; the first is the main one
    pci_device_ids: tuple  # device ids (16 bit); the first is the model's own
    memory_mib: object  # total framebuffer (nvidia-smi memory.total), None: not at hand
    architecture: str  # "Ampere", "Hopper", "Blackwell", "Ada Lovelace"
    profiles: tuple = ()  # of MigProfile, in nvidia-smi -lgip order
    memory_slices: int = 0  # 8, A30 and RTX PRO 6000: 4; 0 if not MIG capable
    compute_slices: int = 0  # 7, A30 and RTX PRO 6000: 4; 0 if not MIG capable
    sources: tuple = ()  # the bracketed sources of its figures
    from_driver: bool = field(default=False, compare=False)

    @property
    def product_name(self):
        return self.product_names[0] if self.product_names else self.key

    @property
    def mig_capable(self):
        return bool(self.profiles)

    @property
    def mig_mode_persists(self):
        return mig_mode_persists(self.architecture)

    def profile(self, name):
        """The MigProfile called ``name``.

        Accepts the canonical name in any case, with or without nvidia-smi's "MIG " prefix
        ("MIG 1g.10gb+me"), attributes in any order. A compute-instance prefix
        ("1c.3g.40gb") is the caller's to strip. Raises KeyError naming the model and its
        profiles.
        """
        try:
            wanted = canonical_profile_name(str(name).lower())
        except ValueError:
            wanted = None
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
            if candidate.gi_profile_id is not None and candidate.gi_profile_id == int(gi_profile_id):
                return candidate
        raise KeyError("GPU model %s has no MIG profile id %r" % (self.key, gi_profile_id))


def nvml_profile_enum(g, attributes, without, memory_slices):
    """The NVML_GPU_INSTANCE_PROFILE_* enum of a profile [NVMLH]: its size, and the variant
    its attributes name (+me, +me.all, +gfx, -me); a 1g profile with two memory slices is
    1_SLICE_REV2. [INFERRED] from the enum names; the real H200's NVML answers agree."""
    if "me" in without:
        return {1: NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME, 2: NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME}.get(g)
    if "me.all" in attributes:
        return {1: NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME, 2: NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME}.get(g)
    if "gfx" in attributes:
        return {1: NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX, 2: NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX,
                3: NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX, 4: NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX}.get(g)
    if "me" in attributes:
        return {1: NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1, 2: NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1}.get(g)
    if g == 1 and memory_slices == 2:
        return NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2
    return {1: NVML_GPU_INSTANCE_PROFILE_1_SLICE, 2: NVML_GPU_INSTANCE_PROFILE_2_SLICE,
            3: NVML_GPU_INSTANCE_PROFILE_3_SLICE, 4: NVML_GPU_INSTANCE_PROFILE_4_SLICE,
            6: NVML_GPU_INSTANCE_PROFILE_6_SLICE, 7: NVML_GPU_INSTANCE_PROFILE_7_SLICE,
            8: NVML_GPU_INSTANCE_PROFILE_8_SLICE}.get(g)


def make_profile(name, gi_profile_id, max_instances, placements, memory_slices, memory_mib):
    """A MigProfile from the facts ``-lgip``/``-lgipp`` (or NVML) give: compute slices are the
    ``<g>`` of the name (NVIDIA's notation; NVML's sliceCount agrees on the real H200)."""
    g, _gb, sign, attrs = split_profile_name(name)
    attributes = attrs if sign == "+" else ()
    without = attrs if sign == "-" else ()
    return MigProfile(canonical_profile_name(name), gi_profile_id,
                      nvml_profile_enum(g, attributes, without, memory_slices), g, memory_slices,
                      memory_mib, max_instances, tuple(placements), attributes, without)


def compute_profiles(gi_profile):
    """Compute-instance profiles available inside a GPU instance of ``gi_profile``.

    Names ("1c.3g.40gb"; the full-size one carries the GI's name) and ids (the plain NVML
    enum of the size) as nvidia-smi prints them. Which sizes exist follows NVIDIA's rule in
    NVIDIA/go-nvlib pkg/nvlib/device/device.go (VisitMigProfiles): a c-slice CI in a g-slice
    GI when c == g, or c < g and 2c <= g + 1. Placements (aligned to the next power of two)
    and counts are [INFERRED]. The full-size CI is the default (``-cci`` alone, ``-C``).
    """
    result = []
    g = gi_profile.compute_slices
    for slices in sorted(NVML_COMPUTE_INSTANCE_PROFILE_BY_SLICES):
        if slices > g or (slices < g and 2 * slices > g + 1):
            continue
        name = gi_profile.name if slices == g else "%dc.%s" % (slices, gi_profile.name)
        step = 1
        while step < slices:
            step *= 2
        starts = tuple(range(0, g - slices + 1, step))
        result.append(ComputeProfile(name, NVML_COMPUTE_INSTANCE_PROFILE_BY_SLICES[slices],
                                     slices, len(starts), starts))
    return tuple(result)


# --- the table -----------------------------------------------------------------------------

def _placements(text):
    """'0,2,4,6:2' (nvidia-smi -lgipp's notation) -> ((0, 2, 4, 6), 2)."""
    starts, size = text.split(":")
    return tuple(int(s) for s in starts.split(",")), int(size)


def mib_from_gib(text):
    """MiB of a GiB figure as nvidia-smi -lgip prints it ('10.75' -> 11008), to the nearest
    64 MiB (two decimals of GiB carry no more)."""
    return None if text is None else int(round(float(text) * 1024 / 64.0)) * 64


def _profiles(rows):
    """MigProfiles from rows of (name, profile id, count, placements 'S,S:size', GiB or None)."""
    result = []
    for name, gi_id, count, where, gib in rows:
        starts, size = _placements(where)
        result.append(make_profile(name, gi_id, count, starts, size, mib_from_gib(gib)))
    return tuple(result)


def _eight_slices(names, gib):
    """The seven profiles of an 8-memory-slice, 7-compute-slice GPU: names (1g, 1g+me, 1g
    double memory, 2g, 3g, 4g, 7g) and their GiB figures; ids, counts and placements
    [GUIDE][PLACE8], the same on every such model ([H200-580], [H100CAP], [MP187]...)."""
    shapes = ((19, 7, "0,1,2,3,4,5,6:1"), (20, 1, "0,1,2,3,4,5,6:1"), (15, 4, "0,2,4,6:2"),
              (14, 3, "0,2,4:2"), (9, 2, "0,4:4"), (5, 1, "0:4"), (0, 1, "0:8"))
    return _profiles((name, gi_id, count, where, size)
                     for name, (gi_id, count, where), size in zip(names, shapes, gib))


def _model(key, names, ids, memory_mib, architecture, profiles=(), sources=()):
    memory_slices = max((s + p.memory_slices for p in profiles for s in p.placements), default=0)
    compute_slices = max((p.compute_slices for p in profiles), default=0)
    return GpuModel(key, tuple(names), tuple(ids), memory_mib, architecture, tuple(profiles),
                    memory_slices, compute_slices, tuple(sources))


_MODELS = (
    # A100 40GB, A800 40GB: device ids [CONFIG]; 40960 MiB total; memory [A100CAP]; 1g.10gb:
    # no capture at hand.
    _model("A100-SXM4-40GB", ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB"),
           (0x20B0, 0x20B1, 0x20F1, 0x20F6), 40960, "Ampere",
           _eight_slices(("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
                         ("4.75", "4.75", None, "9.75", "19.62", "19.62", "39.50")),
           ("GUIDE", "CONFIG", "A100CAP", "PLACE8")),
    # A100 80GB, A800 80GB: device ids [CONFIG]; 81920 MiB total (NVIDIA/mig-parted issue 31);
    # 2g.20gb [A100CAP]; no capture of the others at hand.
    _model("A100-SXM4-80GB", ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe"),
           (0x20B2, 0x20B5, 0x20F3, 0x20F5), 81920, "Ampere",
           _eight_slices(("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
                         (None, None, None, "19.50", None, None, None)),
           ("GUIDE", "CONFIG", "A100CAP", "PLACE8")),
    # A30: names and counts [GUIDE]; ids and placements [PLACE4] (2g.12gb+me, id 6, with
    # 2g's placements [INFERRED]); memory [A30CAP]; 24576 MiB total [INFERRED].
    _model("A30-24GB", ("NVIDIA A30",), (0x20B7,), 24576, "Ampere",
           _profiles((("1g.6gb", 14, 4, "0,1,2,3:1", None), ("1g.6gb+me", 21, 1, "0,1,2,3:1", None),
                      ("2g.12gb", 5, 2, "0,2:2", "11.69"), ("2g.12gb+me", 6, 1, "0,2:2", "11.69"),
                      ("4g.24gb", 0, 1, "0:4", "23.50"))),
           ("GUIDE", "CONFIG", "A30CAP", "PLACE4")),
    # H100 80GB, H800 80GB: device ids [CONFIG]; memory and names [H100CAP]; 81559 MiB total.
    _model("H100-SXM5-80GB", ("NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H800"),
           (0x2330, 0x2331, 0x2322, 0x2324), 81559, "Hopper",
           _eight_slices(("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
                         ("9.75", "9.75", "19.62", "19.62", "39.50", "39.50", "79.25")),
           ("CONFIG", "H100CAP", "PLACE8")),
    # H100 NVL, H800 NVL: device ids [CONFIG]; memory [MP101][GO900] (3g.47gb 46.38 GiB, the
    # PR's sum); 4g = 3g (every capture at hand prints the two alike) [INFERRED]; 7g.94gb:
    # no capture at hand.
    _model("H100-NVL-94GB", ("NVIDIA H100 NVL",), (0x2321, 0x233A), 95830, "Hopper",
           _eight_slices(("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb"),
                         ("10.75", "10.75", "21.62", "21.62", "46.38", "46.38", None)),
           ("CONFIG", "MP101", "GO900", "PLACE8")),
    # H100 96GB, GH200 96GB (0x2342) and H20 (0x2329): device ids and names [CONFIG] (the
    # "H100-96GB, PG506-96GB, GH200, H20" entries); no capture of their memory at hand.
    _model("H100-96GB", ("NVIDIA H100 96GB HBM3", "NVIDIA GH200 480GB", "NVIDIA H20"),
           (0x233D, 0x2342, 0x2329), None, "Hopper",
           _eight_slices(("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb"),
                         (None,) * 7),
           ("CONFIG", "PLACE8")),
    # PG506-96GB: device id [CONFIG], shares the 96GB profiles there; a GA100 board (the
    # 0x20Bx ids are GA100's), so Ampere [INFERRED].
    _model("PG506-96GB", ("NVIDIA PG506-96GB",), (0x20B6,), None, "Ampere",
           _eight_slices(("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb"),
                         (None,) * 7),
           ("CONFIG", "PLACE8")),
    # H200, H200 NVL: device ids [CONFIG]; memory [H200-580] (NVML memorySizeMB: 16384,
    # 33280, 71424, 143360; [MP120] printed 16.00 / 32.25 / 69.50 / 139.75 GiB on an earlier
    # driver); 143771 MiB total [H200-580].
    _model("H200-141GB", ("NVIDIA H200", "NVIDIA H200 NVL"), (0x2335, 0x233B), 143771, "Hopper",
           _eight_slices(("1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
                         ("16.00", "16.00", "32.50", "32.50", "69.75", "69.75", "140.00")),
           ("CONFIG", "H200-580", "MP120", "PLACE8")),
    # GH200 144G HBM3e: device id [CONFIG]; memory [MP139]; 3g/4g/7g: no capture at hand.
    _model("GH200-144GB", ("NVIDIA GH200 144G HBM3e",), (0x2348,), None, "Hopper",
           _eight_slices(("1g.18gb", "1g.18gb+me", "1g.36gb", "2g.36gb", "3g.72gb", "4g.72gb", "7g.144gb"),
                         ("17.50", "17.50", "35.25", "35.25", None, None, None)),
           ("CONFIG", "MP139", "PLACE8")),
    # B200: device id [CONFIG]; memory [MP187] (1g.23gb 20.50 GiB; [MP166] printed 22.00 on
    # the first driver); 3g/4g/7g: no capture at hand.
    _model("B200-180GB", ("NVIDIA B200",), (0x2901,), None, "Blackwell",
           _eight_slices(("1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"),
                         ("20.50", "20.50", "44.25", "44.25", None, None, None)),
           ("CONFIG", "MP166", "MP187", "PLACE8")),
    # GB200 (production boards): device id and names [CONFIG]; memory [MP227]; 3g/4g/7g:
    # no capture at hand.
    _model("GB200-186GB", ("NVIDIA GB200",), (0x2941,), None, "Blackwell",
           _eight_slices(("1g.23gb", "1g.23gb+me", "1g.47gb", "2g.47gb", "3g.93gb", "4g.93gb", "7g.186gb"),
                         ("22.00", "22.00", "45.50", "45.50", None, None, None)),
           ("CONFIG", "MP227", "PLACE8")),
    # RTX PRO 6000 Blackwell: device id and names [CONFIG]; profile ids, counts and memory
    # [RTXCAP]; 4g.96gb: id 0 like A30's 4g [INFERRED], memory not at hand; 4g.96gb+gfx: id
    # not at hand; placements like A30's four slices [INFERRED]; 97887 MiB total [RTXCAP].
    _model("RTX-PRO-6000-BW-96GB", ("NVIDIA RTX PRO 6000 Blackwell Server Edition",
                                    "NVIDIA RTX PRO 6000 Blackwell Workstation Edition"),
           (0x2BB5,), 97887, "Blackwell",
           _profiles((("1g.24gb", 14, 4, "0,1,2,3:1", "23.12"), ("1g.24gb+me", 21, 1, "0,1,2,3:1", "23.12"),
                      ("1g.24gb+gfx", 47, 4, "0,1,2,3:1", "23.12"),
                      ("1g.24gb+me.all", 65, 1, "0,1,2,3:1", "23.12"),
                      ("1g.24gb-me", 67, 4, "0,1,2,3:1", "23.12"),
                      ("2g.48gb", 5, 2, "0,2:2", "46.50"), ("2g.48gb+gfx", 35, 2, "0,2:2", "46.50"),
                      ("2g.48gb+me.all", 64, 1, "0,2:2", "46.50"), ("2g.48gb-me", 66, 2, "0,2:2", "46.50"),
                      ("4g.96gb", 0, 1, "0:4", None), ("4g.96gb+gfx", None, 1, "0:4", None))),
           ("CONFIG", "RTXCAP")),
    # Not MIG capable [GUIDE]; device id from the PCI ID Repository [INFERRED].
    _model("L40S", ("NVIDIA L40S",), (0x26B9,), 46068, "Ada Lovelace"),
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
        if any(gfd_product_label(n).lower() == wanted for n in model.product_names):
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


# --- the driver's description ----------------------------------------------------------------

def driver_model(table_model, product_name, pci_device_id, memory_mib, architecture, profiles):
    """The GpuModel a GPU's driver describes: its profiles (from NVML or -lgip/-lgipp), named
    by the table's key when the table knows the GPU, else by its product name."""
    key = table_model.key if table_model is not None else gfd_product_label(product_name or "unknown")
    arch = architecture or (table_model.architecture if table_model is not None else "")
    device = [(int(pci_device_id) >> 16) if pci_device_id and int(pci_device_id) > 0xFFFF
              else pci_device_id] if pci_device_id else []
    model = _model(key, (product_name,) if product_name else (), device, memory_mib, arch,
                   tuple(profiles), ("driver",))
    # The GPU's slices are those of its full-size profile; should the driver not list that
    # one, the table's figures stand.
    memory_slices = max(model.memory_slices, table_model.memory_slices if table_model else 0)
    compute_slices = max(model.compute_slices, table_model.compute_slices if table_model else 0)
    return GpuModel(model.key, model.product_names, model.pci_device_ids, model.memory_mib,
                    model.architecture, model.profiles, memory_slices, compute_slices,
                    model.sources, from_driver=True)


def cross_check(table_model, described, tolerance_percent=2.0):
    """How the driver's description differs from the table: a list of sentences (empty
    when they agree). Memory differences within ``tolerance_percent`` are not reported, nor
    table figures that are None."""
    problems = []
    table = dict((p.name, p) for p in table_model.profiles)
    driver = dict((p.name, p) for p in described.profiles)
    for name in sorted(set(driver) - set(table)):
        problems.append("profile %s is not in the table" % name)
    for name in sorted(set(table) - set(driver)):
        problems.append("the table's profile %s is not reported by the driver" % name)
    for name in sorted(set(table) & set(driver)):
        mine, theirs = table[name], driver[name]
        for label, a, b in (("profile id", mine.gi_profile_id, theirs.gi_profile_id),
                            ("instances", mine.max_instances, theirs.max_instances),
                            ("memory slices", mine.memory_slices, theirs.memory_slices),
                            ("placements", mine.placements, theirs.placements)):
            if a is not None and a != b:
                problems.append("%s: %s %s in the table, %s reported" % (name, label, a, b))
        if mine.memory_mib is not None and theirs.memory_mib is not None:
            limit = mine.memory_mib * tolerance_percent / 100.0
            if abs(mine.memory_mib - theirs.memory_mib) > limit:
                problems.append("%s: %d MiB in the table, %d MiB reported" % (
                    name, mine.memory_mib, theirs.memory_mib))
    return problems
