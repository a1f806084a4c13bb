# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The observed state of a host's GPUs, as both nvidia-smi and NVML readers report it.

One representation for both sources, so the planner and the validator do not care which
one read the host. Stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    cross_check,
    driver_model,
    model_by_pci_device_id,
    model_by_product_name,
)

_CI_PREFIX = re.compile(r"^(?:mig\s+)?(\d+)c\.", re.IGNORECASE)


def strip_mig_prefix(name):
    """'MIG 1g.10gb+me' -> '1g.10gb+me'."""
    return re.sub(r"^mig\s+", "", str(name).strip(), flags=re.IGNORECASE)


def ci_slices_from_name(name, gi_compute_slices):
    """Compute slices of a compute instance from its profile name ('1c.3g.40gb' -> 1,
    '3g.40gb' -> the GI's own slices)."""
    match = _CI_PREFIX.match(str(name).strip())
    return int(match.group(1)) if match else gi_compute_slices


def mode_name(value):
    """True/False/None -> 'enabled'/'disabled'/None."""
    return None if value is None else ("enabled" if value else "disabled")


def device_name(gi, ci):
    """The MIG device a GPU instance and one of its compute instances form, in mig-parted's
    notation: '3g.40gb' for a full-size CI, '1c.3g.40gb' for a smaller one; None when the
    GI's profile is unknown."""
    if gi.profile is None:
        return None
    if ci.compute_slices is None or ci.compute_slices == gi.compute_slices:
        return gi.profile
    return "%dc.%s" % (ci.compute_slices, gi.profile)


@dataclass
class ComputeInstance:
    """A compute instance; with its GPU instance it forms one MIG device."""

    id: int
    compute_slices: Optional[int] = None
    profile_id: Optional[int] = None  # nvidia-smi -lci "Profile ID" == NVML CI profile enum
    placement_start: Optional[int] = None
    uuid: Optional[str] = None  # MIG device UUID (NVML)
    memory_mib: Optional[int] = None  # MIG device framebuffer total


@dataclass
class GpuInstance:
    id: int
    profile_id: Optional[int] = None  # nvidia-smi / NVML GI profile id (19, 9, ...)
    profile: Optional[str] = None  # canonical name ("3g.40gb"); None if unknown
    placement_start: Optional[int] = None
    placement_size: Optional[int] = None
    compute_slices: Optional[int] = None
    compute_instances: List[ComputeInstance] = field(default_factory=list)

    def layout_name(self):
        """What this GI provides in mig-parted's notation: '3g.40gb' for one full-size CI,
        '1c.3g.40gb' for one smaller CI; None when it is not exactly one CI (no CI, or
        several) or its profile is unknown: such a GI never matches a desired layout."""
        if len(self.compute_instances) != 1:
            return None
        return device_name(self, self.compute_instances[0])


@dataclass
class GpuProcess:
    pid: int
    name: str = ""
    gpu_instance_id: Optional[int] = None
    compute_instance_id: Optional[int] = None
    used_memory_mib: Optional[int] = None


@dataclass
class GpuState:
    index: int
    name: str = ""
    uuid: str = ""
    pci_bus_id: str = ""
    pci_device_id: Optional[int] = None  # packed device<<16 | vendor, 0x233010DE
    pci_subsystem_id: Optional[int] = None  # packed, 0x16C110DE
    memory_mib: Optional[int] = None
    mig_capable: bool = False
    mig_current: Optional[bool] = None  # None: N/A (not MIG capable)
    mig_pending: Optional[bool] = None
    model: Optional[str] = None  # gpu_models key, None if the table does not know it
    architecture: str = ""  # "Ampere", "Hopper", ... as the driver names it; "" unknown
    gpu_instances: List[GpuInstance] = field(default_factory=list)
    processes: List[GpuProcess] = field(default_factory=list)
    # The GPU-instance profiles the driver reports (gpu_models.MigProfile), empty when it
    # reported none (not MIG capable, or an older driver that lists none with MIG off).
    profiles: list = field(default_factory=list)

    def label(self):
        """'GPU 3 (H100-SXM5-80GB)': how errors and reports name a GPU."""
        return "GPU %d (%s)" % (self.index, self.model or self.name or "unknown model")

    def gpu_model(self):
        """The gpu_models.GpuModel of this GPU (see effective_model), or None."""
        return effective_model(self)[0]

    def layout_names(self):
        """Sorted list of what each GI provides (see GpuInstance.layout_name)."""
        return sorted((gi.layout_name() or "?") for gi in self.gpu_instances)

    def mig_devices(self):
        """(GpuInstance, ComputeInstance) pairs, in GI then CI id order."""
        return [(gi, ci) for gi in sorted(self.gpu_instances, key=lambda g: g.id)
                for ci in sorted(gi.compute_instances, key=lambda c: c.id)]

    def pci_device_id_hex(self):
        return None if self.pci_device_id is None else "0x%08X" % self.pci_device_id

    def to_dict(self):
        data = asdict(self)
        data["profiles"] = [profile_facts(p) for p in self.profiles]
        data["pci_device_id"] = self.pci_device_id_hex()
        data["pci_subsystem_id"] = (None if self.pci_subsystem_id is None
                                    else "0x%08X" % self.pci_subsystem_id)
        return data


def find_model(pci_device_id, product_name):
    """The gpu_models.GpuModel for a GPU: by PCI device id, else by product name; or None."""
    model = None
    if pci_device_id is not None:
        model = model_by_pci_device_id(pci_device_id)
    if model is None and product_name:
        model = model_by_product_name(product_name)
    return model


def effective_model(gpu, tolerance_percent=2.0):
    """The GpuModel to plan and check ``gpu`` with, and warnings: the driver's description
    when it reported profiles (cross-checked with the table), else the table's model; None
    when neither knows the GPU."""
    table = find_model(gpu.pci_device_id, gpu.name)
    if not gpu.profiles:
        return table, []
    described = driver_model(table, gpu.name, gpu.pci_device_id, gpu.memory_mib,
                             gpu.architecture, gpu.profiles)
    if table is None:
        return described, ["%s: the collection's GPU table does not know %s (PCI device id %s); "
                           "using the %d MIG profiles its driver reports"
                           % (gpu.label(), gpu.name or "this GPU", gpu.pci_device_id_hex() or "unknown",
                              len(gpu.profiles))]
    differences = cross_check(table, described, tolerance_percent)
    if not differences:
        return described, []
    return described, ["%s: the driver's MIG profiles differ from the collection's table for "
                       "%s (the driver's are used): %s" % (gpu.label(), table.key, "; ".join(differences))]


def profile_facts(profile):
    """A MigProfile as a plain dict (module results)."""
    return {"name": profile.name, "id": profile.gi_profile_id, "instances": profile.max_instances,
            "memory_mib": profile.memory_mib, "compute_slices": profile.compute_slices,
            "memory_slices": profile.memory_slices, "placements": list(profile.placements)}


def parse_device_id(value):
    """'0x233010DE', '233010DE' or an int -> int; None for '', 'N/A' or None."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text or text.upper() == "N/A":
        return None
    return int(text, 16)
