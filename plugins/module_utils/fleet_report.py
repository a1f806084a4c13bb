# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet summary: per GPU node, the resources its pool's strategy should make it
advertise, what it advertises, and whether the two agree."""

from __future__ import absolute_import, division, print_function

from collections import Counter

from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import (
    GPU_COUNT_LABEL,
    GPU_PRESENT_LABEL,
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    MIG_RESOURCE_PREFIX,
    PRODUCT_MIG_INVALID as MIG_INVALID,
    advertised_resource,
    parse_product,
    resource_name,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    MigConfigError,
    desired_from_config,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_strategy import (
    MIXED,
    NONE,
    SINGLE,
    mig_layouts,
    node_gpus,
)

__metaclass__ = type

COLUMNS = ("node", "pool", "gpu model", "strategy", "expected", "found", "status")


class ReportError(ValueError):
    """A node whose expected resources cannot be told; the summary reports it."""


def mig_config_errors(config, config_name, gpu_product, gpu_count, allow_no_match=False):
    """Every problem of a mig-parted config for a node's GPUs, from its GFD labels; empty
    when it fits.

    Off the host the node's GPU feature discovery labels are all there is: a node without
    them (``gpu_product`` or ``gpu_count`` None or empty) is refused, never counted as a
    node with 0 GPUs; so is one whose labels count MIG devices (the single strategy).
    """
    missing = [label for label, value in ((GPU_PRODUCT_LABEL, gpu_product),
                                          (GPU_COUNT_LABEL, gpu_count))
               if value is None or str(value).strip() == ""]
    if missing:
        return ["the node has no %s label, so its GPUs cannot be checked off the host (is GPU "
                "feature discovery running on it?); check them on the host instead"
                % " or ".join(missing)]
    if parse_product(gpu_product).mig_profile is not None:
        return ["the node's GPU labels describe MIG devices, not GPUs (nvidia.com/gpu.product "
                "'%s' under the MIG strategy single, whose nvidia.com/gpu.count counts MIG "
                "devices): the GPUs cannot be checked from labels; check on the host "
                "(mig_operator_host_checks: true)" % gpu_product]
    gpus = node_gpus(gpu_product, gpu_count)
    if gpus is None:
        return ["unknown GPU model '%s': the collection cannot check its MIG profiles"
                % gpu_product]
    try:
        desired_from_config(config, config_name, gpus, allow_no_match)
    except MigConfigError as exc:
        return list(exc.errors)
    return []


def physical_gpu_count(config, config_name, gpu_product, gpu_count):
    """The node's GPU count from GFD's labels. Under the single strategy, once MIG devices
    exist, nvidia.com/gpu.product carries -MIG-<profile> and nvidia.com/gpu.count counts MIG
    devices: the GPUs are that count over the MIG devices the config gives one GPU."""
    count = int(gpu_count)
    profile = parse_product(gpu_product).mig_profile
    if profile is None:
        return count
    if profile == MIG_INVALID:
        raise ReportError("GPU feature discovery labels the node %s: under the MIG strategy "
                          "single its GPUs must all be in MIG mode with one profile"
                          % gpu_product)
    per_gpu = len((mig_layouts(config, config_name, gpu_product, 1) or {}).get(0) or [])
    if not per_gpu or count % per_gpu:
        raise ReportError("%s %d (MIG devices %s) is not a whole number of "
                          "GPUs with the %d MIG device(s) per GPU of config '%s'"
                          % (GPU_COUNT_LABEL, count, profile, per_gpu, config_name))
    return count // per_gpu


def mig_resources(config, config_name, gpu_product, gpu_count, mig_strategy=MIXED):
    """The extended resources a node advertises once the MIG config is applied: under the
    device plugin's mixed strategy one nvidia.com/mig-<profile> per profile, under single
    every MIG device as nvidia.com/gpu, under none whole GPUs only."""
    count = physical_gpu_count(config, config_name, gpu_product, gpu_count)
    if mig_strategy == NONE:
        return {GPU_RESOURCE: count}
    layouts = mig_layouts(config, config_name, gpu_product, count)
    if layouts is None:
        raise ReportError("config '%s' cannot be resolved for %d x %s"
                          % (config_name, count, gpu_product))
    counts = Counter()
    for index in range(count):
        profiles = layouts.get(index) or []
        if not profiles:
            counts[GPU_RESOURCE] += 1
        for profile in profiles:
            counts[GPU_RESOURCE if mig_strategy == SINGLE else MIG_RESOURCE_PREFIX + profile] += 1
    return dict(counts)


def share(devices, sharing):
    """The devices a node advertises once shared: each shared resource x its replicas,
    named <resource>.shared with renameByDefault."""
    replicas = {resource_name(item["name"]): int(item["replicas"]) for item in sharing.get("resources", [])}
    renamed = bool(sharing.get("rename_by_default"))
    return {advertised_resource(name, renamed and name in replicas): count * replicas.get(name, 1)
            for name, count in devices.items()}


def expected_resources(strategy, gpu_product, gpu_count, mig_config=None, mig_config_name=None,
                       time_slicing=None, mig_strategy=MIXED):
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


def report_row(node, pool, strategy, expected, checks=None, problems=None):
    """One line of the summary. ``checks``: other results for the node ({name: True, or
    False / a sentence when it did not pass}), e.g. the NVML validation of a MIG host or
    the KAI placement proof. ``problems``: what is already known to be wrong; ``expected``
    None: not compared (nothing can be expected of the node)."""
    labels = node["metadata"].get("labels") or {}
    found = found_resources(node)
    problems = list(problems or [])
    # Resources at zero are as good as absent: the kubelet keeps a renamed one at 0.
    compared = set() if expected is None else set(expected) | {k for k, v in found.items() if v}
    differs = [name for name in sorted(compared) if expected.get(name, 0) != found.get(name, 0)]
    for name in differs:
        problems.append("%s: expected %d, found %d"
                        % (name, expected.get(name, 0), found.get(name, 0)))
    for name, passed in sorted((checks or {}).items()):
        if passed is not True:
            problems.append("%s %s" % (name, passed if passed else "failed"))
    return {
        "node": node["metadata"]["name"],
        "pool": pool,
        "gpu_model": labels.get(GPU_PRODUCT_LABEL, "?"),
        "strategy": strategy,
        "expected": expected or {},
        "found": found,
        "checks": checks or {},
        "ok": not problems,
        "problems": problems,
        # The resources the node does not advertise as expected (yet: a device plugin
        # re-registers its resources after a change).
        "differs": differs,
    }


NOT_IN_CLUSTER = "no GPU node of that name in the cluster (with %s=true)" % GPU_PRESENT_LABEL
NOT_VALIDATED = ("not validated: the host failed or was unreachable earlier in this run "
                 "(see above)")


def fleet_summary(nodes, pools, hosts=None, mig_config=None, mig_strategy=MIXED):
    """The summary of the hosts in scope. ``nodes``: the GPU nodes as the API returns them;
    ``pools``: per host validated in this run, its pool, strategy, mig_config_name,
    time_slicing and checks; ``hosts``: the hosts in scope (None: every node). A host in
    scope without an entry failed or was unreachable earlier in the run; one without a
    node is not a GPU node of the cluster: both are rows that are not ok."""
    by_name = dict((node["metadata"]["name"], node) for node in nodes)
    rows = []
    for name in sorted(by_name if hosts is None else set(hosts)):
        node = by_name.get(name) or {"metadata": {"name": name}}
        pool = pools.get(name)
        if name not in by_name or pool is None:
            rows.append(report_row(node, (pool or {}).get("pool", "-"),
                                   (pool or {}).get("strategy", "-"), None,
                                   problems=[NOT_IN_CLUSTER if name not in by_name
                                             else NOT_VALIDATED]))
            continue
        labels = node["metadata"].get("labels") or {}
        strategy = pool.get("strategy", "none")
        try:
            expected = expected_resources(
                strategy, labels.get(GPU_PRODUCT_LABEL, ""),
                labels.get(GPU_COUNT_LABEL, 0), mig_config=mig_config,
                mig_config_name=pool.get("mig_config_name"),
                time_slicing=pool.get("time_slicing"), mig_strategy=mig_strategy)
            problems = []
        except (MigConfigError, ReportError, TypeError, ValueError) as exc:
            expected, problems = None, [str(exc)]
        rows.append(report_row(node, pool.get("pool", "-"), strategy, expected,
                               pool.get("checks"), problems))
    return {"rows": rows, "table": render_table(rows),
            "ok": bool(rows) and all(row["ok"] for row in rows),
            "settled": not any(row["differs"] for row in rows)}


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
    out.append("%d node(s), %d ok, %d mismatched" % (len(rows), len(rows) - failed, failed)
               if rows else "no GPU node in scope")
    return out
