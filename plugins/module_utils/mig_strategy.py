# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MIG strategy: how the NVIDIA device plugin and GPU feature discovery advertise MIG
devices, read from the cluster, and what each pool may ask under it.

One source: the GPU Operator's ClusterPolicy, ``spec.mig.strategy``. The GPU Operator passes
it to the device plugin and GFD as ``MIG_STRATEGY``, which overrides ``flags.migStrategy``
in their config files; without it the plugin keeps its config file's value, which the
collection renders from the same strategy, and whose default is ``none``
(github.com/NVIDIA/gpu-operator controllers/object_controls.go applyMIGConfiguration).

The device plugin's rules (github.com/NVIDIA/k8s-device-plugin v0.17-v0.19):

- ``none``: whole GPUs only, as ``nvidia.com/gpu``, MIG mode or not; no MIG device is
  advertised (internal/rm/device_map.go buildDeviceMapFromConfigResources);
- ``single``: every MIG device as ``nvidia.com/gpu``; a node whose GPUs are not all in MIG
  mode, or whose MIG devices are of more than one profile, is refused ("all devices on the
  node must be configured with the same migEnabled value", "more than one MIG device type
  present on node"), and GFD labels it ``-MIG-INVALID`` with count 0
  (internal/lm/mig-strategy.go);
- ``mixed``: one ``nvidia.com/mig-<profile>`` per profile, GPUs not in MIG mode as
  ``nvidia.com/gpu``; MPS is refused at start ("using --mig-strategy=mixed is not supported
  with MPS", cmd/nvidia-device-plugin/main.go): the plugin exits on every node;
- MPS never shares a MIG device ("sharing using MPS is not supported for MIG devices",
  internal/plugin/mps.go).
"""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils.gfd_labels import gpu_model
from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import (
    CLUSTER_POLICY,
    GPU_RESOURCE,
    MIG_RESOURCE_PREFIX,
    parse_product,
    resource_name,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    MigConfigError,
    desired_from_config,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import GpuState

__metaclass__ = type

NONE, SINGLE, MIXED = "none", "single", "mixed"
STRATEGIES = (NONE, SINGLE, MIXED)
# Where the MIG strategy a check holds a pool to comes from, as a problem names it.
CLUSTER_STRATEGY = "the cluster's MIG strategy (ClusterPolicy spec.mig.strategy) is %s"
RUN_STRATEGY = "gpu_operator_mig_strategy is %s (the MIG strategy the GPU Operator play gives the cluster)"
# The device plugin's own default, when the operator passes no MIG_STRATEGY.
PLUGIN_DEFAULT = NONE
NVIDIA_VENDOR_ID = 0x10DE


def cluster_strategy(policy):
    """The MIG strategy the device plugin runs with, from the GPU Operator's ClusterPolicy
    (the object as the API returns it, or None when the operator is not installed)."""
    spec = (policy or {}).get("spec") or {}
    strategy = (spec.get("mig") or {}).get("strategy") or PLUGIN_DEFAULT
    if strategy not in STRATEGIES:
        raise ValueError("ClusterPolicy %s has spec.mig.strategy %r, not one of %s"
                         % (CLUSTER_POLICY, strategy, ", ".join(STRATEGIES)))
    return strategy


def node_gpus(gpu_product, gpu_count):
    """The GPUs of a node as its host would report them, from a product label and a GPU
    count; None when the collection does not know the model."""
    model = gpu_model(gpu_product)
    if model is None:
        return None
    return [GpuState(index=index, name=model.product_name, model=model.key,
                     pci_device_id=model.pci_device_ids[0] << 16 | NVIDIA_VENDOR_ID,
                     mig_capable=model.mig_capable)
            for index in range(int(gpu_count))]


def mig_layouts(mig_config, config_name, gpu_product, gpu_count):
    """{GPU index: [profile, ...]} the config gives a node's GPUs ([] for a GPU it leaves out
    of MIG mode, or that no entry selects: the mig role refuses such a config unless the
    pool expects it); None when the model or the config cannot tell."""
    gpus = node_gpus(gpu_product, gpu_count)
    if gpus is None:
        return None
    try:
        _name, desired, _warnings = desired_from_config(mig_config, config_name, gpus,
                                                        allow_no_match=True)
    except MigConfigError:
        return None  # the MIG checks report the config's own errors
    return dict((gpu.index, desired[gpu.index].layout_names()
                 if gpu.index in desired and desired[gpu.index].mig_enabled else [])
                for gpu in gpus)


def sharing_problems(where, sharing, strategy, mig_pool=False, source=CLUSTER_STRATEGY):
    """What the device plugin refuses, or applies to nothing, in one pool's sharing settings
    (``strategy`` timeSlicing or mps, ``resources``) under the cluster's MIG strategy.
    ``mig_pool``: the pool's GPUs are in MIG mode. ``source``: where the strategy comes
    from, as the problems name it (the cluster's, or the one the run will set)."""
    why = source % strategy
    mps = (sharing or {}).get("strategy") == "mps"
    names = [resource_name(item.get("name")) for item in (sharing or {}).get("resources") or []
             if isinstance(item, dict)]
    problems = []
    if mps and strategy == MIXED:
        problems.append("%s: MPS is refused by the device plugin under MIG strategy mixed "
                        "('using --mig-strategy=mixed is not supported with MPS'; the plugin "
                        "stops on every node): %s; use time slicing, or MIG strategy single or "
                        "none" % (where, why))
    elif mps and mig_pool:
        problems.append("%s: MPS does not share MIG devices ('sharing using MPS is not "
                        "supported for MIG devices'); use time slicing" % where)
    for name in names:
        if name == GPU_RESOURCE and mig_pool and strategy == MIXED:
            problems.append("%s: shares %s, but under MIG strategy mixed its MIG devices are "
                            "nvidia.com/mig-<profile> and no GPU in MIG mode is advertised as "
                            "%s: share the nvidia.com/mig-<profile> resources" % (where, name, name))
        if not str(name).startswith(MIG_RESOURCE_PREFIX):
            continue
        if mps and strategy != MIXED:
            problems.append("%s: MPS does not share MIG devices (%s); use time slicing"
                            % (where, name))
        if strategy != MIXED:
            problems.append("%s: %s is advertised by the device plugin only under MIG strategy "
                            "mixed, so its sharing would apply to nothing: %s%s"
                            % (where, name, why, "; under single MIG devices are "
                               "nvidia.com/gpu: share nvidia.com/gpu" if strategy == SINGLE
                               else ""))
    return problems


def pool_problems(pool, strategy, mig_config=None, source=CLUSTER_STRATEGY):
    """What the device plugin would refuse, or apply to nothing, in one resolved pool under
    the cluster's MIG strategy. ``pool``: name, strategy (mig, time_slicing, kai, none),
    time_slicing (its sharing settings, {} when it does not share), mig_config_name,
    gpu_product and gpu_count (as GFD labels them; without them, the rules that need the
    GPUs are left out). Returns sentences naming the pool."""
    where = "pool %s" % pool.get("name")
    is_mig = pool.get("strategy") == "mig"
    problems = sharing_problems(where, pool.get("time_slicing"), strategy, mig_pool=is_mig, source=source)
    if not is_mig:
        return problems
    why = source % strategy
    if strategy == NONE:
        problems.append("%s partitions its GPUs with MIG, but under MIG strategy none the "
                        "device plugin advertises whole GPUs only and no MIG device: %s; set "
                        "gpu_operator_mig_strategy to single or mixed" % (where, why))
    elif strategy == SINGLE:
        problems.extend(_single_problems(where, why, pool, mig_config or {}))
    return problems


def _single_problems(where, why, pool, mig_config):
    labels_count = pool.get("gpu_count") or 0
    if parse_product(pool.get("gpu_product")).mig_profile is not None:
        labels_count = 1  # under single the count label counts MIG devices, not GPUs
    layouts = mig_layouts(mig_config, pool.get("mig_config_name"), pool.get("gpu_product"),
                          max(1, int(labels_count)))
    if not layouts:
        return []
    profiles = sorted(set(p for layout in layouts.values() for p in layout))
    partial = sorted(index for index, layout in layouts.items() if not layout)
    if len(profiles) > 1 or (profiles and partial):
        return ["%s: config '%s' gives %s %s, but under MIG strategy single the device plugin "
                "needs every GPU of a node in MIG mode with MIG devices of one profile ('all "
                "devices on the node must be configured with the same migEnabled value', "
                "'more than one MIG device type present on node'): %s; use MIG strategy mixed "
                "or a config with one profile on every GPU"
                % (where, pool.get("mig_config_name"), parse_product(pool.get("gpu_product")).product,
                   "profiles " + ", ".join(profiles) if len(profiles) > 1
                   else "%s on some GPUs and none on GPU(s) %s" % (
                       profiles[0], ", ".join(str(i) for i in partial)), why)]
    return []


def pools_problems(pools, strategy, mig_config=None):
    """``pool_problems`` for each pool (each pool once, by name)."""
    seen, problems = set(), []
    for pool in pools:
        if pool.get("name") in seen:
            continue
        seen.add(pool.get("name"))
        problems.extend(pool_problems(pool, strategy, mig_config))
    return problems
