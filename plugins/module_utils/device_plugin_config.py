# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NVIDIA device plugin's sharing configuration: validate, render, plan and check.

The role ``fractional.gpu.time_slicing`` describes GPU sharing per node pool. This module
turns that description into the device plugin's own config files (one ConfigMap key per
pool), refuses a description the plugin would reject or silently ignore, plans the node
labels, and says whether a node advertises what the config promises.

The rules are the plugin's (github.com/NVIDIA/k8s-device-plugin, api/config/v1 and the
GPU feature discovery labeler internal/lm/resource.go, read at v0.17-v0.20):

- ``version: v1``; ``sharing.timeSlicing`` or ``sharing.mps``, each with
  ``renameByDefault``, ``failRequestsGreaterThanOne`` and a non-empty ``resources`` list of
  ``{name, replicas}``; ``replicas`` must be >= 2 ("number of replicas must be >= 2").
- Resource names are ``nvidia.com/gpu`` or, with ``migStrategy: mixed``, one MIG profile
  each, ``nvidia.com/mig-<profile>`` (a ``+`` attribute is advertised as ``.``:
  ``1g.10gb+me`` -> ``nvidia.com/mig-1g.10gb.me``). A bare name (``gpu``,
  ``mig-1g.10gb``) is the same resource: the plugin prefixes ``nvidia.com/``
  (api/config/v1/resources.go ``NewResourceName``); the collection renders the full name.
- Under the GPU Operator some flags never come from the file: its device plugin DaemonSet
  (assets/state-device-plugin/0500_daemonset.yaml) sets them through the environment, and
  the plugin takes a flag set there over the file (api/config/v1/flags.go
  ``updateFromCLIFlag``). Such a flag in a pool's config is an error here.
- MPS: the plugin before v0.20.0 sets ``failRequestsGreaterThanOne`` to true whatever the
  file says (api/config/v1/config.go); the GPU Operator release the collection pins runs
  such a plugin, so a false there is an error.
- ``flags.migStrategy`` is the cluster's MIG strategy (ClusterPolicy ``spec.mig.strategy``,
  which the operator passes as ``MIG_STRATEGY`` and which overrides the file): what it
  allows is in ``mig_strategy.sharing_problems`` (MPS refused under ``mixed``, MIG
  resources only under ``mixed``, MPS never on MIG devices).
- Silently ignored by the plugin (it logs a warning, or its YAML decoder drops the key):
  a ``rename`` other than ``<name>.shared`` with ``renameByDefault: true``, ``devices``
  other than ``all``, ``renameByDefault`` (or any other sharing option) placed under
  ``flags`` (k8s-device-plugin#1433), unknown flags. All of these are errors here.
- Advertised: ``<name>`` (or ``<name>.shared`` when renamed) = devices x replicas; GFD
  labels ``<name>.replicas``, ``<name>.sharing-strategy`` (``time-slicing`` / ``mps`` /
  ``none``) and ``<name>.product`` with a ``-SHARED`` suffix when shared and NOT renamed.

Every function is pure (no I/O), stdlib only but for PyYAML's emitter (``to_yaml``), so
the ``device_plugin_*`` filters and the unit tests call it directly.
"""

from __future__ import absolute_import, division, print_function

import re

try:
    import yaml
except ImportError:  # the configs are rendered on the controller, which has PyYAML
    yaml = None

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import GPU_MODELS
from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import (
    CONFIG_DAEMONSETS,
    CONFIG_MANAGER_CONTAINER,
    DEVICE_PLUGIN_CONFIG_LABEL as CONFIG_LABEL,
    GPU_PRESENT_LABEL,
    GPU_RESOURCE as FULL_GPU,
    MIG_CONFIG_ALL_DISABLED,
    MIG_CONFIG_LABEL,
    MIG_RESOURCE_PREFIX as MIG_PREFIX,
    RESOURCE_NAME_PREFIX,
    SHARED_RESOURCE_SUFFIX as SHARED_SUFFIX,
    advertised_resource,
    parse_product,
    resource_name,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_strategy import (
    STRATEGIES as MIG_STRATEGIES,
    sharing_problems,
)

__metaclass__ = type

STRATEGIES = {"timeSlicing": "time-slicing", "mps": "mps"}  # config key -> GFD label value
MAX_RESOURCE_NAME_LENGTH = 63  # k8s-device-plugin api/config/v1 consts.go

# Flags the plugin's config file accepts (api/config/v1/flags.go, v0.18-v0.19: the plugin
# of the GPU Operator release the collection pins; gdrcopyEnabled is new in v0.18), by section.
KNOWN_FLAGS = {
    None: ("migStrategy", "failOnInitError", "nvidiaDriverRoot", "nvidiaDevRoot", "gdrcopyEnabled",
           "gdsEnabled", "mofedEnabled", "useNodeFeatureAPI", "deviceDiscoveryStrategy", "mpsRoot",
           "plugin", "gfd"),
    "plugin": ("passDeviceSpecs", "deviceListStrategy", "deviceIDStrategy",
               "cdiAnnotationPrefix", "nvidiaCTKPath", "containerDriverRoot"),
    "gfd": ("oneshot", "noTimestamp", "sleepInterval", "outputFile", "machineTypeFile"),
}
# Flags the GPU Operator's device plugin DaemonSet sets through the environment, which the
# plugin takes over its config file: (section, flag) -> variable, value the operator sets
# (github.com/NVIDIA/gpu-operator assets/state-device-plugin/0500_daemonset.yaml, the
# same in the 2025-07 tree and v26.7.0). migStrategy (MIG_STRATEGY) is checked on its own.
OPERATOR_ENV_FLAGS = {
    (None, "failOnInitError"): ("FAIL_ON_INIT_ERROR", "true"),
    (None, "mpsRoot"): ("MPS_ROOT", "/run/nvidia/mps"),
    ("plugin", "passDeviceSpecs"): ("PASS_DEVICE_SPECS", "true"),
    ("plugin", "deviceListStrategy"): ("DEVICE_LIST_STRATEGY", "envvar, or cdi-annotations,cdi-cri with CDI"),
    ("plugin", "deviceIDStrategy"): ("DEVICE_ID_STRATEGY", "uuid"),
}
# Options that belong to sharing.timeSlicing / sharing.mps; under flags the plugin drops them.
SHARING_OPTIONS = ("renameByDefault", "failRequestsGreaterThanOne", "resources", "replicas",
                   "rename", "devices", "timeSlicing", "mps", "sharing")
POOL_KEYS = ("name", "config_key", "nodes", "node_selector", "sharing", "strategy",
             "rename_by_default", "fail_requests_greater_than_one", "resources", "flags")
RESOURCE_KEYS = ("name", "replicas", "rename", "devices")

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def mig_resource_names():
    """Every ``nvidia.com/mig-<profile>`` name the collection's GPU models can advertise."""
    names = set()
    for model in GPU_MODELS.values():
        for profile in model.profiles:
            names.add(MIG_PREFIX + profile.name.replace("+", "."))
    return names


def pool_defaults(pool):
    """A pool with every optional key filled in as the role's argument spec defaults it,
    and its resources under the names the device plugin gives them."""
    result = {
        "config_key": pool.get("name"),
        "nodes": [],
        "node_selector": {},
        "sharing": True,
        "strategy": "timeSlicing",
        "rename_by_default": False,
        "fail_requests_greater_than_one": None,
        "resources": [],
        "flags": {},
    }
    result.update(dict((k, v) for k, v in pool.items() if v is not None))
    if not result.get("config_key"):
        result["config_key"] = pool.get("name")
    if isinstance(result["resources"], list):
        result["resources"] = [dict(r, name=resource_name(r.get("name"))) if isinstance(r, dict) else r
                               for r in result["resources"]]
    return result


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_flags(where, flags, mig_strategy, problems):
    if not isinstance(flags, dict):
        problems.append("%s: flags must be a mapping, got %r" % (where, flags))
        return
    for key, value in flags.items():
        if key in SHARING_OPTIONS:
            problems.append(
                "%s: flags.%s is silently ignored by the device plugin: sharing options belong "
                "under sharing (k8s-device-plugin#1433); set the pool's %s instead"
                % (where, key, {"renameByDefault": "rename_by_default",
                                "failRequestsGreaterThanOne": "fail_requests_greater_than_one"}
                   .get(key, "resources / strategy")))
        elif key not in KNOWN_FLAGS[None]:
            problems.append("%s: flags.%s is not a device plugin flag (the plugin ignores "
                            "unknown keys); known: %s" % (where, key, ", ".join(KNOWN_FLAGS[None])))
        elif key == "migStrategy":
            problems.append("%s: flags.migStrategy (%r) is overridden by the cluster's MIG "
                            "strategy (%s, ClusterPolicy spec.mig.strategy, set with "
                            "gpu_operator_mig_strategy); drop it"
                            % (where, value, mig_strategy or "not read yet"))
        elif key in ("plugin", "gfd"):
            if not isinstance(value, dict):
                problems.append("%s: flags.%s must be a mapping" % (where, key))
                continue
            for sub in value:
                if sub not in KNOWN_FLAGS[key]:
                    problems.append("%s: flags.%s.%s is not a device plugin flag; known: %s"
                                    % (where, key, sub, ", ".join(KNOWN_FLAGS[key])))
                elif (key, sub) in OPERATOR_ENV_FLAGS:
                    problems.append(_overridden(where, key, sub, value[sub]))
        elif (None, key) in OPERATOR_ENV_FLAGS:
            problems.append(_overridden(where, None, key, value))


def _overridden(where, section, flag, value):
    variable, operator_value = OPERATOR_ENV_FLAGS[(section, flag)]
    return ("%s: flags.%s (%r) is overridden by the GPU Operator, whose device plugin DaemonSet "
            "sets %s=%s, which the plugin takes over its config file; drop it (the operator's "
            "ClusterPolicy spec.devicePlugin.env sets it for every node)"
            % (where, ".".join(part for part in (section, flag) if part), value, variable, operator_value))


def _check_resource(where, index, resource, raw_name, pool, mig_names, problems):
    rwhere = "%s: resources[%d]" % (where, index)
    if not isinstance(resource, dict):
        problems.append("%s must be a mapping with name and replicas, got %r" % (rwhere, resource))
        return None
    for key in resource:
        if key not in RESOURCE_KEYS:
            problems.append("%s: unknown option %r (known: %s)" % (rwhere, key, ", ".join(RESOURCE_KEYS)))
    name = resource.get("name")
    if not isinstance(name, str) or not name:
        problems.append("%s: name is required (nvidia.com/gpu or nvidia.com/mig-<profile>)" % rwhere)
        return None
    given = raw_name if isinstance(raw_name, str) else name
    rwhere = "%s (%s)" % (rwhere, name if given == name else "%s, i.e. %s" % (given, name))
    suffix = name.split("/", 1)[1] if "/" in name else ""
    if len(name) > MAX_RESOURCE_NAME_LENGTH or not name.startswith(RESOURCE_NAME_PREFIX) \
            or not _DNS_SUBDOMAIN.match(suffix):
        hint = " ('+' attributes are advertised as '.', e.g. nvidia.com/mig-1g.10gb.me)" if "+" in name else ""
        problems.append("%s: not a valid device plugin resource name%s" % (rwhere, hint))
    elif name != FULL_GPU and name not in mig_names:
        problems.append("%s: unknown resource; the device plugin advertises nvidia.com/gpu and, "
                        "under MIG strategy mixed, nvidia.com/mig-<profile> (e.g. "
                        "nvidia.com/mig-1g.10gb)" % rwhere)
    replicas = resource.get("replicas")
    if not _is_int(replicas):
        problems.append("%s: replicas must be an integer >= 2, got %r" % (rwhere, replicas))
    elif replicas < 2:
        problems.append("%s: replicas is %d; the device plugin requires >= 2 (turn sharing off "
                        "with sharing: false instead)" % (rwhere, replicas))
    rename = resource.get("rename")
    if rename not in (None, ""):
        if not (pool["rename_by_default"] and rename == advertised_resource(name, True)):
            problems.append("%s: rename %r is ignored by the device plugin (it only supports "
                            "renameByDefault, which advertises %s%s); set rename_by_default: "
                            "true and drop rename" % (rwhere, rename, name, SHARED_SUFFIX))
    devices = resource.get("devices")
    if devices not in (None, "all"):
        problems.append("%s: devices %r is ignored by the device plugin (every device of the "
                        "resource is shared); drop devices or set it to all" % (rwhere, devices))
    return name


def config_problems(pools, default_key="", mig_strategy="none"):
    """Everything the device plugin would reject or silently ignore in ``pools`` under the
    cluster's MIG strategy.

    Returns a list of human-readable problems, empty when the pools are valid. Pools whose
    ``sharing`` is false are checked only for their name, key and nodes. ``mig_strategy``
    None: not known yet (a run's first check, before it reads the cluster), and the rules
    that depend on it are left to the check against the cluster.
    """
    problems = []
    if mig_strategy is not None and mig_strategy not in MIG_STRATEGIES:
        problems.append("MIG strategy %r is not one of %s" % (mig_strategy, ", ".join(MIG_STRATEGIES)))
    if default_key and not _LABEL_VALUE.match(str(default_key)):
        problems.append("default key %r must be a valid label value (at most 63 of A-Z a-z 0-9 "
                        "- _ . starting and ending alphanumeric)" % (default_key,))
    if not isinstance(pools, list):
        return problems + ["pools must be a list of mappings, got %r" % (pools,)]
    mig_names = mig_resource_names()
    names, keys = {}, {}
    for index, raw in enumerate(pools):
        if not isinstance(raw, dict) or not raw.get("name"):
            problems.append("pools[%d]: a mapping with at least a name is required, got %r" % (index, raw))
            continue
        pool = pool_defaults(raw)
        where = "pool %s" % pool["name"]
        for key in raw:
            if key == "mig_strategy":
                problems.append("%s: mig_strategy is not a pool setting: the device plugin takes "
                                "the MIG strategy from the cluster (ClusterPolicy "
                                "spec.mig.strategy, now %s; gpu_operator_mig_strategy sets it); "
                                "drop it" % (where, mig_strategy or "not read yet"))
            elif key not in POOL_KEYS:
                problems.append("%s: unknown option %r (known: %s)" % (where, key, ", ".join(POOL_KEYS)))
        duplicate = pool["name"] in names
        if duplicate:
            problems.append("%s: defined twice (pools[%d] and pools[%d])" % (where, names[pool["name"]], index))
        names[pool["name"]] = index
        key = str(pool["config_key"])
        if not _LABEL_VALUE.match(key):
            problems.append("%s: config_key %r must be a valid label value (at most 63 of "
                            "A-Z a-z 0-9 - _ . starting and ending alphanumeric)" % (where, key))
        if key in keys and not duplicate:
            problems.append("%s: config_key %r is also used by pool %s" % (where, key, keys[key]))
        keys[key] = pool["name"]
        if default_key and key == default_key:
            problems.append("%s: config_key %r is reserved for the nodes outside every sharing "
                            "pool (time_slicing_default_key)" % (where, key))
        if not isinstance(pool["nodes"], list) or not all(isinstance(n, str) and n for n in pool["nodes"]):
            problems.append("%s: nodes must be a list of node names" % where)
        selector = pool["node_selector"]
        if not isinstance(selector, dict) or not all(
                isinstance(k, str) and k and isinstance(v, str) for k, v in selector.items()):
            problems.append("%s: node_selector must map label names to values" % where)
        if not isinstance(pool["sharing"], bool):
            problems.append("%s: sharing must be true or false, got %r" % (where, pool["sharing"]))
            continue
        if not pool["sharing"]:
            continue
        if pool["strategy"] not in STRATEGIES:
            problems.append("%s: strategy %r is not one of %s (and the plugin takes only one of "
                            "sharing.timeSlicing / sharing.mps)" % (where, pool["strategy"], ", ".join(STRATEGIES)))
            continue
        if mig_strategy is not None:
            problems.extend(sharing_problems(where, pool, mig_strategy))
        if not isinstance(pool["rename_by_default"], bool):
            problems.append("%s: rename_by_default must be true or false, got %r" % (where, pool["rename_by_default"]))
        if pool["fail_requests_greater_than_one"] not in (None, True, False):
            problems.append("%s: fail_requests_greater_than_one must be true or false, got %r"
                            % (where, pool["fail_requests_greater_than_one"]))
        elif pool["strategy"] == "mps" and pool["fail_requests_greater_than_one"] is False:
            problems.append("%s: fail_requests_greater_than_one false is overridden for MPS: the "
                            "device plugin before v0.20.0, which the pinned GPU Operator release "
                            "runs, sets failRequestsGreaterThanOne to true (a pod gets one replica "
                            "at most); drop it" % where)
        _check_flags(where, pool["flags"], mig_strategy, problems)
        resources = pool["resources"]
        if not isinstance(resources, list) or not resources:
            problems.append("%s: resources is empty; the device plugin requires at least one "
                            "resource to share (\"no resources specified\")" % where)
            continue
        seen = set()
        raw_resources = raw.get("resources") or []
        for rindex, resource in enumerate(resources):
            raw_name = raw_resources[rindex].get("name") if isinstance(raw_resources[rindex], dict) else None
            name = _check_resource(where, rindex, resource, raw_name, pool, mig_names, problems)
            if name in seen:
                problems.append("%s: resource %s is listed twice" % (where, name))
            seen.add(name)
    return problems


def render_config(pool, mig_strategy="none"):
    """The device plugin config (a dict, in the plugin's own key order) for one sharing pool
    under the cluster's MIG strategy."""
    pool = pool_defaults(pool)
    options = {"renameByDefault": bool(pool["rename_by_default"])}
    fail = pool["fail_requests_greater_than_one"]
    if fail is None and pool["strategy"] == "timeSlicing":
        fail = False
    if fail is not None:  # MPS left unset: the plugin's own default (true)
        options["failRequestsGreaterThanOne"] = bool(fail)
    options["resources"] = [{"name": r["name"], "replicas": int(r["replicas"])} for r in pool["resources"]]
    flags = {"migStrategy": mig_strategy}
    flags.update(pool["flags"] or {})
    return {"version": "v1", "flags": flags, "sharing": {pool["strategy"]: options}}


def default_config(mig_strategy="none"):
    """The config for nodes outside every sharing pool: the plugin's defaults, no sharing."""
    return {"version": "v1", "flags": {"migStrategy": mig_strategy}}


if yaml is not None:
    class _PlainDumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
        """PyYAML's safe dumper, which also writes subclasses of the plain types (the values
        Ansible hands a filter carry its tags in such subclasses) as the plain types."""

    for _plain, _represent in ((str, yaml.SafeDumper.represent_str),
                               (int, yaml.SafeDumper.represent_int),
                               (float, yaml.SafeDumper.represent_float),
                               (dict, yaml.SafeDumper.represent_dict),
                               (list, yaml.SafeDumper.represent_list)):
        _PlainDumper.add_multi_representer(_plain, _represent)


def to_yaml(value):
    """The YAML text of a config: block style, keys in the order the config was built in
    (the plugin's documented layout), so that a re-run writes byte-identical ConfigMap data."""
    if yaml is None:
        raise RuntimeError("rendering the device plugin config needs PyYAML (requirements.txt)")
    return yaml.dump(value, Dumper=_PlainDumper, default_flow_style=False, sort_keys=False)


def configmap_data(pools, default_key, mig_strategy="none", existing=None):
    """ConfigMap data: ``existing`` (the ConfigMap's data now) with one key per listed
    sharing pool written, the keys of listed pools that do not share removed, and
    ``default_key`` (no sharing). Keys of pools not listed stay as they are: a run that
    covers some pools never changes another pool's config."""
    data = dict(existing or {})
    for raw in pools:
        pool = pool_defaults(raw)
        if pool["sharing"]:
            data[str(pool["config_key"])] = to_yaml(render_config(pool, mig_strategy))
        else:
            data.pop(str(pool["config_key"]), None)
    data[default_key] = to_yaml(default_config(mig_strategy))
    return data


def configmap_patches(existing, before_labels, after):
    """The two writes of the ConfigMap's data as patches of this run's keys alone: the keys
    to set before the node labels change (``before_labels`` where it differs from
    ``existing``), then those to remove once no node names them (None: remove). A patch
    leaves every other key as the server has it, so that a run for other pools, writing at
    the same time, keeps what it wrote (a whole ``data`` map written back would undo it)."""
    existing = existing or {}
    first = dict((key, text) for key, text in before_labels.items() if existing.get(key) != text)
    second = dict((key, None) for key in before_labels if key not in after)
    return first, second


def _labels(node):
    return (node.get("metadata") or {}).get("labels") or {}


def _name(node):
    return (node.get("metadata") or {}).get("name")


def plan(pools, nodes, pool_label):
    """Which node gets which config key, and which label changes that takes.

    ``nodes`` are Node objects as the API returns them. A pool selects its ``nodes`` by
    name, or else every node that carries all of its ``node_selector`` labels (default: the
    ``pool_label`` with the pool's name). Returns a dict:

    - ``problems``: a pool that shares but selects no node, an unknown node name, a node
      selected by two pools;
    - ``assignments``: {node: config key, or None for a pool that does not share};
    - ``changes``: [{node, value}] where the node's ``nvidia.com/device-plugin.config``
      label must change (value None: remove it), including nodes that still carry the key
      of a listed pool they no longer belong to; nodes outside the listed pools keep theirs;
    - ``labels``: the same as {node: {label: value}}, for fractional.gpu.node_labels;
    - ``pools``: {pool name: [node, ...]}.
    """
    by_name = dict((_name(n), n) for n in nodes)
    problems, assignments, members = [], {}, {}
    owner = {}
    for raw in pools:
        pool = pool_defaults(raw)
        if pool["nodes"]:
            selected = []
            for node_name in pool["nodes"]:
                if node_name in by_name:
                    selected.append(node_name)
                else:
                    problems.append("pool %s: node %s does not exist" % (pool["name"], node_name))
        else:
            selector = pool["node_selector"] or {pool_label: pool["name"]}
            selected = sorted(n for n, obj in by_name.items()
                              if all(_labels(obj).get(k) == v for k, v in selector.items()))
            if not selected and pool["sharing"]:
                problems.append("pool %s: no node carries the label %s (set the pool's nodes "
                                "or label the nodes)" % (pool["name"], ", ".join(
                                    "%s=%s" % item for item in sorted(selector.items()))))
        members[pool["name"]] = selected
        for node_name in selected:
            if node_name in owner:
                problems.append("node %s is selected by pools %s and %s" % (node_name, owner[node_name], pool["name"]))
                continue
            owner[node_name] = pool["name"]
            assignments[node_name] = str(pool["config_key"]) if pool["sharing"] else None
    managed_keys = set(str(pool_defaults(p)["config_key"]) for p in pools)
    changes = []
    for node_name in sorted(by_name):
        current = _labels(by_name[node_name]).get(CONFIG_LABEL)
        if node_name in assignments:
            wanted = assignments[node_name]
        elif current in managed_keys:
            wanted = None  # left a listed pool: its key must go
        else:
            continue
        if current != wanted:
            changes.append({"node": node_name, "value": wanted})
    return {
        "problems": problems,
        "assignments": assignments,
        "changes": changes,
        "labels": dict((change["node"], {CONFIG_LABEL: change["value"]}) for change in changes),
        "pools": members,
    }


def restarts(nodes, changes, current_data, new_data, default_key):
    """GPU nodes whose device plugin and GPU feature discovery must restart to read their
    config: NVIDIA's config manager sidecar acts on a change of the node's
    ``nvidia.com/device-plugin.config`` label only (k8s-device-plugin cmd/config-manager),
    so a config changed in place, under the key a node keeps, reaches them only in a new
    pod. ``current_data``: the ConfigMap's data before the change (None: none existed);
    ``changes``: the label changes of the plan. Returns sorted node names."""
    current_data = current_data or {}
    changed = set(key for key, text in new_data.items() if key in current_data and current_data[key] != text)
    relabelled = set(change["node"] for change in changes)
    names = []
    for node in nodes:
        labels = _labels(node)
        if labels.get(GPU_PRESENT_LABEL) != "true" or _name(node) in relabelled:
            continue
        if (labels.get(CONFIG_LABEL) or default_key) in changed:
            names.append(_name(node))
    return sorted(names)


def _quantity(value):
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _mig_in_use(labels):
    """Whether GFD's labels say the node's GPUs are partitioned: then nvidia.com/gpu counts MIG
    devices (single strategy) or nothing (mixed), not the physical GPUs."""
    return (parse_product(labels.get(FULL_GPU + ".product")).mig_profile is not None
            or any(k.startswith(MIG_PREFIX) and k.endswith(".count") for k in labels)
            or labels.get(MIG_CONFIG_LABEL, MIG_CONFIG_ALL_DISABLED) not in ("", MIG_CONFIG_ALL_DISABLED))


def node_problems(node, pool=None):
    """How ``node`` differs from what the device plugin and GFD advertise for ``pool``.

    ``pool`` None (or not sharing): the node must advertise its GPUs unshared, and, unless
    MIG partitions them, exactly its physical GPUs. Resources the node has no devices of
    (no ``<name>.count`` label, e.g. a MIG profile not configured there) are not checked.
    Returns a list of problems, empty when it matches.
    """
    name = _name(node)
    labels = _labels(node)
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    problems = []
    pool = pool_defaults(pool) if pool else None
    if pool is None or not pool["sharing"]:
        count = _quantity(labels.get(FULL_GPU + ".count"))
        if count is None:
            return ["%s: no %s.count label (is GPU feature discovery running?)" % (name, FULL_GPU)]
        got = _quantity(allocatable.get(FULL_GPU, 0))
        if got != count and not _mig_in_use(labels):
            problems.append("%s: allocatable %s is %s, expected %d (no sharing)" % (name, FULL_GPU, got, count))
        if _quantity(allocatable.get(FULL_GPU + SHARED_SUFFIX, 0)):
            problems.append("%s: still advertises %s%s" % (name, FULL_GPU, SHARED_SUFFIX))
        product = labels.get(FULL_GPU + ".product", "")
        if parse_product(product).shared:
            problems.append("%s: %s.product is %s (still -SHARED)" % (name, FULL_GPU, product))
        if labels.get(FULL_GPU + ".replicas", "1") not in ("0", "1"):
            problems.append("%s: %s.replicas is %s, expected 1" % (name, FULL_GPU, labels[FULL_GPU + ".replicas"]))
        return problems
    renamed = bool(pool["rename_by_default"])
    strategy = STRATEGIES[pool["strategy"]]
    for resource in pool["resources"]:
        rname = resource["name"]
        count = _quantity(labels.get(rname + ".count"))
        if count is None:
            if rname == FULL_GPU:
                problems.append("%s: no %s.count label (is GPU feature discovery running?)" % (name, rname))
            continue
        replicas = int(resource["replicas"])
        advertised = advertised_resource(rname, renamed)
        got = _quantity(allocatable.get(advertised, 0))
        if got != count * replicas:
            problems.append("%s: allocatable %s is %s, expected %d (%d x %d replicas)"
                            % (name, advertised, got, count * replicas, count, replicas))
        if renamed and _quantity(allocatable.get(rname, 0)):
            problems.append("%s: still advertises %s next to %s" % (name, rname, advertised))
        if labels.get(rname + ".replicas") != str(replicas):
            problems.append("%s: %s.replicas is %s, expected %d" % (name, rname, labels.get(rname + ".replicas"), replicas))
        if labels.get(rname + ".sharing-strategy") != strategy:
            problems.append("%s: %s.sharing-strategy is %s, expected %s"
                            % (name, rname, labels.get(rname + ".sharing-strategy"), strategy))
        product = labels.get(rname + ".product", "")
        if renamed and parse_product(product).shared:
            problems.append("%s: %s.product is %s; a renamed resource keeps the plain product name" % (name, rname, product))
        if not renamed and not parse_product(product).shared:
            problems.append("%s: %s.product is %r, expected the -SHARED suffix" % (name, rname, product))
    return problems


def nodes_problems(nodes, pools, assignments):
    """``node_problems`` for every node in ``assignments`` ({node: config key or None})."""
    by_key = dict((str(pool_defaults(p)["config_key"]), p) for p in pools)
    problems = []
    for node in nodes:
        node_name = _name(node)
        if node_name not in assignments:
            continue
        key = assignments[node_name]
        problems.extend(node_problems(node, by_key.get(key) if key else None))
    return problems


def rollout_pending(daemonsets, configmap_name):
    """How the GPU Operator's device plugin and GPU feature discovery DaemonSets are not yet
    rolled out as the ClusterPolicy says: with ``configmap_name`` mounted and the config
    manager sidecar (empty name: without either), every pod updated and available. The
    operator re-renders both when the ClusterPolicy's reference changes, which restarts
    their pods on every GPU node, also where the config itself did not change. A DaemonSet
    that does not exist (its operand is disabled) is not waited for. Empty when done."""
    pending = []
    for daemonset in daemonsets:
        meta = daemonset.get("metadata") or {}
        if meta.get("name") not in CONFIG_DAEMONSETS:
            continue
        spec = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
        status = daemonset.get("status") or {}
        mounted = set(((v.get("configMap") or {}).get("name")) for v in spec.get("volumes") or [])
        sidecar = any(c.get("name") == CONFIG_MANAGER_CONTAINER for c in spec.get("containers") or [])
        where = "DaemonSet %s/%s" % (meta.get("namespace"), meta.get("name"))
        if configmap_name and (configmap_name not in mounted or not sidecar):
            pending.append("%s does not mount ConfigMap %s yet" % (where, configmap_name))
        elif not configmap_name and sidecar:
            pending.append("%s still runs the config manager" % where)
        desired = status.get("desiredNumberScheduled", 0)
        if (status.get("observedGeneration") != meta.get("generation")
                or status.get("updatedNumberScheduled", 0) != desired
                or status.get("numberAvailable", 0) != desired):
            pending.append("%s has %s updated and %s available of %s pods" % (
                where, status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0), desired))
    return pending
