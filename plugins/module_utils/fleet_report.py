# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet summary: per GPU node, the resources its pool's strategy should make it
advertise, what it advertises, and whether the two agree."""

from __future__ import absolute_import, division, print_function

from collections import Counter

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    model_by_product_name,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    MigConfigError,
    desired_from_config,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import GpuState

__metaclass__ = type

GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
NVIDIA_VENDOR_ID = 0x10DE
COLUMNS = ("node", "pool", "gpu model", "strategy", "expected", "found", "status")


def node_gpus(gpu_product, gpu_count):
    """The GPUs of a node as its host would report them, from GPU feature discovery's
    labels; None when the collection does not know the model."""
    model = model_by_product_name(gpu_product)
    if model is None:
        return None
    return [GpuState(index=index, name=model.product_name, model=model.key,
                     pci_device_id=model.pci_device_ids[0] << 16 | NVIDIA_VENDOR_ID,
                     mig_capable=model.mig_capable)
            for index in range(int(gpu_count))]


def mig_config_errors(config, config_name, gpu_product, gpu_count, allow_no_match=False):
    """Every problem of a mig-parted config for a node's GPUs; empty when it fits.

    Off the host the node's GPU feature discovery labels are all there is: a node without
    them (``gpu_product`` or ``gpu_count`` None or empty) is refused, never counted as a
    node with 0 GPUs.
    """
    missing = [label for label, value in (("nvidia.com/gpu.product", gpu_product),
                                          ("nvidia.com/gpu.count", gpu_count))
               if value is None or str(value).strip() == ""]
    if missing:
        return ["the node has no %s label, so its GPUs cannot be checked off the host (is GPU "
                "feature discovery running on it?); check them on the host instead"
                % " or ".join(missing)]
    gpus = node_gpus(gpu_product, gpu_count)
    if gpus is None:
        return ["unknown GPU model '%s': the collection cannot check its MIG profiles"
                % gpu_product]
    try:
        desired_from_config(config, config_name, gpus, allow_no_match)
    except MigConfigError as exc:
        return list(exc.errors)
    return []


def mig_resources(config, config_name, gpu_product, gpu_count, mig_strategy="mixed"):
    """The extended resources a node advertises once the MIG config is applied: with the
    device plugin's mixed strategy one nvidia.com/mig-<profile> per profile, with single
    all MIG devices as nvidia.com/gpu."""
    gpus = node_gpus(gpu_product, gpu_count)
    # What the node would advertise: a config that selects none of its GPUs leaves them
    # whole (the mig role refuses such a config unless the pool expects it).
    _name, desired, _warnings = desired_from_config(config, config_name, gpus, allow_no_match=True)
    counts = Counter()
    for index in range(int(gpu_count)):
        wanted = desired.get(index)
        if wanted is None or not wanted.mig_enabled:
            counts[GPU_RESOURCE] += 1
            continue
        for profile in wanted.layout_names():
            key = GPU_RESOURCE if mig_strategy == "single" else MIG_RESOURCE_PREFIX + profile
            counts[key] += 1
    return dict(counts)


def share(devices, sharing):
    """The devices a node advertises once shared: each shared resource x its replicas,
    named <resource>.shared with renameByDefault."""
    replicas = {item["name"]: int(item["replicas"]) for item in sharing.get("resources", [])}
    suffix = ".shared" if sharing.get("rename_by_default") else ""
    return {name + (suffix if name in replicas else ""): count * replicas.get(name, 1)
            for name, count in devices.items()}


def expected_resources(strategy, gpu_product, gpu_count, mig_config=None, mig_config_name=None,
                       time_slicing=None, mig_strategy="mixed"):
    """``time_slicing``: the pool's sharing settings when it shares (a time-sliced pool, or
    a MIG pool sharing its MIG devices), else empty."""
    if strategy == "mig":
        devices = mig_resources(mig_config, mig_config_name, gpu_product, gpu_count,
                                mig_strategy)
    else:
        devices = {GPU_RESOURCE: int(gpu_count)}
    return share(devices, time_slicing or {})


def found_resources(node):
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return {name: int(value) for name, value in allocatable.items()
            if name == GPU_RESOURCE or name.startswith(GPU_RESOURCE + ".")
            or name.startswith(MIG_RESOURCE_PREFIX)}


def _format(resources):
    shown = ["%s=%d" % (name.replace("nvidia.com/", ""), count)
             for name, count in sorted(resources.items()) if count]
    return ", ".join(shown) or "-"


def report_row(node, pool, strategy, expected, checks=None):
    """One line of the summary. ``checks``: other results for the node ({name: bool}),
    e.g. the NVML validation of a MIG host or the KAI placement proof."""
    labels = node["metadata"].get("labels") or {}
    found = found_resources(node)
    problems = []
    # Resources at zero are as good as absent: the kubelet keeps a renamed one at 0.
    for name in sorted(set(expected) | {k for k, v in found.items() if v}):
        if expected.get(name, 0) != found.get(name, 0):
            problems.append("%s: expected %d, found %d"
                            % (name, expected.get(name, 0), found.get(name, 0)))
    for name, passed in sorted((checks or {}).items()):
        if not passed:
            problems.append("%s failed" % name)
    return {
        "node": node["metadata"]["name"],
        "pool": pool,
        "gpu_model": labels.get("nvidia.com/gpu.product", "?"),
        "strategy": strategy,
        "expected": expected,
        "found": found,
        "checks": checks or {},
        "ok": not problems,
        "problems": problems,
    }


def render_table(rows):
    """A fixed-width text table, one line per node, a last line with the totals."""
    lines = [[row["node"], row["pool"], row["gpu_model"], row["strategy"],
              _format(row["expected"]), _format(row["found"]),
              "ok" if row["ok"] else "MISMATCH: " + "; ".join(row["problems"])]
             for row in rows]
    widths = [max(len(str(cell)) for cell in column)
              for column in zip(COLUMNS, *lines)] if lines else [len(c) for c in COLUMNS]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(COLUMNS, widths)).rstrip()]
    out.append("  ".join("-" * width for width in widths))
    out.extend("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
               for line in lines)
    failed = sum(1 for row in rows if not row["ok"])
    out.append("%d node(s), %d ok, %d mismatched" % (len(rows), len(rows) - failed, failed))
    return out
