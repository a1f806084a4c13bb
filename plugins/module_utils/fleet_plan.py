# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's plan, made once on the controller for every node in scope.

Each pool in scope is resolved once (its strategy from the inventory, or the advisor's pick
from its GPU model), from one read of the GPU nodes turned into a dict by name: no work per
host beyond a lookup, whatever the size of the fleet. The plan also names the few hosts that
must be reached (MIG in host mode, MIG hosts checked or validated through NVML), for the
per-host plays, and gives the summary its entries.

Pure functions over plain data, stdlib only.
"""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import (
    GPU_COUNT_LABEL,
    GPU_PRESENT_LABEL,
    GPU_PRODUCT_LABEL,
)
from ansible_collections.fractional.gpu.plugins.module_utils.sharing_advisor import (
    AdviceError,
    advise,
)

__metaclass__ = type

MIG = "mig"
TIME_SLICING = "time_slicing"
STRATEGIES = ("auto", MIG, TIME_SLICING, "kai", "none")
NO_NODE = "no GPU node named %%s in the cluster (a node with %s=true)" % GPU_PRESENT_LABEL


def as_bool(value):
    """An inventory boolean, also when it came as a string ('false', 'no', '0')."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1", "y")
    return bool(value)


def nodes_by_name(nodes):
    """{name: node} of the nodes as the API lists them: built once, then looked up."""
    return dict(((node.get("metadata") or {}).get("name"), node) for node in nodes)


def _labels(node):
    return (node.get("metadata") or {}).get("labels") or {}


def resolve_pools(nodes, scope, pool_label, defaults):
    """Every pool in scope, resolved.

    ``nodes``: the GPU nodes; ``scope``: the run's scope (fleet_scope), whose pools carry the
    settings their group sets; ``defaults``: the pool role's defaults for the settings it
    does not set. A pool's GPU model is its first host's (its nodes are alike).

    Returns ``pools`` ({name: name, strategy, reasons, gpu_product, gpu_count,
    node_selector, mig_config_name, time_slicing, time_slicing_entry, hosts}), ``lines``
    (one per pool, for people) and ``problems``: a host without its node, a node without
    its pool's labels, an auto pool the advisor cannot serve (nothing may change then).
    """
    by_name = nodes_by_name(nodes)
    pools, problems = {}, []
    for name, pool in sorted((scope.get("pools") or {}).items()):
        settings = dict(defaults or {})
        settings.update(pool.get("settings") or {})
        platform_selector = dict(pool.get("node_selector") or {})
        selector = platform_selector or {pool_label: name}
        first = None
        for host in pool.get("hosts") or []:
            node = by_name.get(host)
            if node is None:
                problems.append(NO_NODE % host)
                continue
            labels = _labels(node)
            missing = ["%s=%s" % (key, value) for key, value in sorted(selector.items())
                       if labels.get(key) != value]
            if missing:
                problems.append("%s is in pool %s in the inventory but its node lacks the label %s"
                                % (host, name, ", ".join(missing)))
            elif first is None:
                first = labels
        if first is None:
            continue
        product = first.get(GPU_PRODUCT_LABEL, "")
        strategy = settings.get("pool_strategy") or "auto"
        if strategy not in STRATEGIES:
            problems.append("pool %s: pool_strategy '%s' is not one of %s"
                            % (name, strategy, ", ".join(STRATEGIES)))
            continue
        reasons = ["set in the inventory"]
        if strategy == "auto":
            try:
                advice = advise(product, isolation=settings.get("pool_isolation") or "none",
                                workload=settings.get("pool_workload") or "inference",
                                granularity=settings.get("pool_granularity") or None)
            except AdviceError as exc:
                problems.append("pool %s: %s" % (name, exc))
                continue
            strategy, reasons = advice["strategy"], advice["reasons"]
        shares = strategy == TIME_SLICING or (
            strategy == MIG and as_bool(settings.get("pool_share_mig_devices")))
        time_slicing = dict(settings.get("pool_time_slicing") or {}) if shares else {}
        entry = dict(time_slicing, name=name) if shares else {"name": name, "sharing": False}
        if platform_selector:
            entry["node_selector"] = platform_selector
        pools[name] = {
            "name": name,
            "strategy": strategy,
            "reasons": reasons,
            "gpu_product": product,
            "gpu_count": int(first.get(GPU_COUNT_LABEL) or 0),
            "node_selector": selector,
            "mig_config_name": settings.get("mig_config_name") if strategy == MIG else None,
            "time_slicing": time_slicing,
            "time_slicing_entry": entry,
            "hosts": list(pool.get("hosts") or []),
        }
    lines = ["pool %s: %s on %d node(s) (%s)" % (name, pool["strategy"], len(pool["hosts"]),
                                                 "; ".join(pool["reasons"]))
             for name, pool in sorted(pools.items())]
    return {"pools": pools, "problems": problems, "lines": lines}


def mig_hosts(pools, scope, defaults):
    """The MIG hosts by what the run does with them, from the pools' settings (the mig role's
    ``defaults`` where a pool sets none).

    Returns ``host`` (hosts of pools in host mode: the per-host play partitions them),
    ``operator`` ({host: config name} of pools in operator mode: partitioned from the
    controller), ``operator_checks`` (operator-mode hosts planned and validated on the
    host, mig_operator_host_checks), ``validate`` (operator-mode hosts validated through
    NVML after the change, mig_validate with host checks) and ``nvml`` (MIG hosts
    validate.yml checks through NVML, validate_nvml_enabled). Each list in name order.
    """
    result = {"host": [], "operator": {}, "operator_checks": [], "validate": [], "nvml": []}
    for name, pool in sorted(pools.items()):
        if pool.get("strategy") != MIG:
            continue
        settings = dict(defaults or {})
        settings.update(((scope.get("pools") or {}).get(name) or {}).get("settings") or {})
        hosts = sorted(pool.get("hosts") or [])
        if settings.get("mig_mode") == "operator":
            checks = as_bool(settings.get("mig_operator_host_checks", True))
            for host in hosts:
                result["operator"][host] = pool.get("mig_config_name")
            if checks:
                result["operator_checks"].extend(hosts)
                if as_bool(settings.get("mig_validate", True)):
                    result["validate"].extend(hosts)
        else:
            result["host"].extend(hosts)
        if as_bool(settings.get("validate_nvml_enabled", True)):
            result["nvml"].extend(hosts)
    for key in ("host", "operator_checks", "validate", "nvml"):
        result[key].sort()
    return result


def batches(hosts, size):
    """``hosts`` in batches of ``size`` (at least 1), in order: a rolling change's steps."""
    size = max(1, int(size or 1))
    hosts = list(hosts)
    return [hosts[index:index + size] for index in range(0, len(hosts), size)]


def nvml_check(result):
    """The summary's check of one host's NVML validation (its registered result): True,
    or why not."""
    result = result or {}
    if result.get("unreachable"):
        return "not checked: the host is unreachable"
    report = result.get("report") or {}
    if report.get("ok"):
        return True
    return False


def summary_entries(pools, hosts, alive, nvml_results=None):
    """The summary's entry per host in scope that is still in the run: its pool, strategy,
    MIG config, sharing settings and checks ({'nvml': True, False or why not} for a host
    validated through NVML). ``alive``: the hosts in scope that did not fail earlier in the
    run; ``nvml_results``: {host: its nvml_validate result} of the hosts validated."""
    alive = set(alive)
    nvml_results = nvml_results or {}
    host_pool = {}
    for name, pool in pools.items():
        for host in pool.get("hosts") or []:
            host_pool[host] = pool
    entries = {}
    for host in hosts:
        pool = host_pool.get(host)
        if pool is None or host not in alive:
            continue
        checks = {}
        if host in nvml_results:
            checks["nvml"] = nvml_check(nvml_results[host])
        entries[host] = {"pool": pool["name"], "strategy": pool["strategy"],
                         "mig_config_name": pool.get("mig_config_name"),
                         "time_slicing": pool.get("time_slicing") or {}, "checks": checks}
    return entries
