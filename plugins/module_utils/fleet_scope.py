# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run covers, and so what it may write.

A run covers the GPU nodes its plays target: ``fleet_hosts`` (a group, a pattern, one host)
narrowed by ``--limit`` (AWX's job limit). A GPU node is an inventory host in a pool: a
``pool_<name>`` group, or ``pool_name`` set for it; its name is its Kubernetes node's.

The rules, for every playbook of the collection:

- the run fails, before anything changes, when the scope holds no GPU node or a host in no
  pool, naming the pattern and the limit;
- node-level state (the pool label, MIG, the summary's rows) is written or reported for the
  hosts in scope only;
- pool-level state (a pool's device plugin config, its nodes' config label) is written for
  the pools with a host in scope, as a whole, and never for another pool: their ConfigMap
  keys, node labels and MIG configs stay as they are.

Pure functions over plain data, stdlib only.
"""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils.gfd_labels import (
    missing_discovery_labels,
)
from ansible_collections.fractional.gpu.plugins.module_utils.preflight import input_problems

__metaclass__ = type

POOL_GROUP_PREFIX = "pool_"
# The settings of a pool, read from the inventory (its group_vars): one value for all its
# hosts. The roles that use them keep their defaults (pool, mig; validate_nvml_enabled
# defaults to true).
POOL_SETTINGS = ("pool_strategy", "pool_isolation", "pool_workload", "pool_granularity",
                 "pool_time_slicing", "pool_share_mig_devices", "mig_mode", "mig_config_name",
                 "mig_operator_host_checks", "mig_validate", "mig_allow_no_match",
                 "validate_nvml_enabled")


def host_pool(group_names, pool_name=None):
    """A host's pool: its ``pool_name`` when set, else the name of its ``pool_<name>``
    group (the first, sorted); '' for a host in no pool."""
    if pool_name:
        return str(pool_name)
    pools = sorted(g[len(POOL_GROUP_PREFIX):] for g in group_names or ()
                   if g.startswith(POOL_GROUP_PREFIX) and len(g) > len(POOL_GROUP_PREFIX))
    return pools[0] if pools else ""


def _scope_words(pattern, limit):
    return "fleet_hosts '%s'%s" % (pattern, " with --limit '%s'" % limit if limit else "")


def resolve_scope(matched, play_hosts, hosts_info, pattern="gpu_nodes", limit="", specs=None):
    """The GPU nodes a run covers.

    ``matched``: the hosts ``fleet_hosts`` names; ``play_hosts``: the hosts ``--limit``
    leaves (a play over every host); ``hosts_info``: {host: {pool, node_selector, settings,
    inputs}} for every host of the inventory (pool '' for a host in no pool; settings: the
    POOL_SETTINGS the inventory sets for it; inputs, for at least one host of each pool:
    every variable of the roles' argument specs that it sets). Returns ``hosts`` (sorted),
    ``pools`` ({pool: {hosts, node_selector, settings, inputs}}), ``host_pools`` ({host:
    pool}), ``complete`` (the run covers every GPU node of the inventory: only then may it
    remove what serves the whole fleet) and ``problems``: among them a pool whose hosts set
    a pool setting differently and, with ``specs`` ({variable: argument spec}), every
    problem of the inputs alone (module_utils/preflight.py), before anything changes.
    """
    in_play = set(play_hosts)
    hosts = sorted(h for h in set(matched) if h in in_play)
    problems = []
    outside = [h for h in hosts if not (hosts_info.get(h) or {}).get("pool")]
    if outside:
        problems.append("%s covers host(s) in no pool: %s; a GPU node is a host of a "
                        "pool_<name> group (or with pool_name set)"
                        % (_scope_words(pattern, limit), ", ".join(outside)))
    gpu_hosts = [h for h in hosts if h not in outside]
    if not gpu_hosts and not outside:
        problems.append("%s matches no GPU node; a GPU node is a host of a pool_<name> group "
                        "(or with pool_name set): nothing was changed"
                        % _scope_words(pattern, limit))
    pools, host_pools = {}, {}
    for host in gpu_hosts:
        info = hosts_info[host]
        # Not a mapping: the preflight names it, and the run stops before using it.
        selector = info.get("node_selector") or {}
        selector = dict(selector) if isinstance(selector, dict) else selector
        settings = dict(info.get("settings") or {})
        pool = pools.setdefault(info["pool"], {"hosts": [], "node_selector": selector,
                                               "settings": settings, "inputs": {}})
        if info.get("inputs") and not pool["inputs"]:
            pool["inputs"] = dict(info["inputs"])
        if pool["node_selector"] != selector:
            problems.append("pool %s: its hosts name different node selectors (%s: %s, %s: %s); "
                            "set pool_node_selector once for the pool group"
                            % (info["pool"], pool["hosts"][0], pool["node_selector"], host, selector))
        differ = sorted(k for k in set(settings) | set(pool["settings"])
                        if settings.get(k) != pool["settings"].get(k))
        if differ:
            problems.append("pool %s: its hosts set %s differently (%s and %s); a pool's settings "
                            "are its group's: set them once in the pool group's group_vars"
                            % (info["pool"], ", ".join(differ), pool["hosts"][0], host))
        pool["hosts"].append(host)
        host_pools[host] = info["pool"]
    if specs is not None:
        problems.extend(input_problems(pools, specs))
    fleet = set(h for h, info in hosts_info.items() if (info or {}).get("pool"))
    return {"hosts": gpu_hosts, "pools": pools, "host_pools": host_pools,
            "complete": bool(gpu_hosts) and fleet <= set(gpu_hosts), "problems": problems}


def _labels(node):
    return (node.get("metadata") or {}).get("labels") or {}


def pool_label_plan(nodes, scope, pool_label):
    """The pool label of each host in scope, for fractional.gpu.node_labels (which patches
    only the nodes whose label differs). A pool with a ``node_selector`` (a label the
    platform sets) gets none: its nodes must carry that selector already.

    Returns ``labels`` ({node: {pool_label: pool}}) and ``problems`` (a host without a
    node, a node without its pool's platform label).
    """
    by_name = dict(((n.get("metadata") or {}).get("name"), n) for n in nodes)
    labels, problems = {}, []
    for pool_name, pool in sorted(scope.get("pools", {}).items()):
        selector = pool.get("node_selector") or {}
        for host in pool["hosts"]:
            node = by_name.get(host)
            if node is None:
                problems.append("%s (pool %s): no Kubernetes node of that name; the hosts of a "
                                "pool group are node names" % (host, pool_name))
                continue
            if selector:
                have = _labels(node)
                wrong = ["%s=%s (it has %s)" % (k, v, have.get(k, "none"))
                         for k, v in sorted(selector.items()) if have.get(k) != v]
                if wrong:
                    problems.append("%s (pool %s): the node lacks the pool's platform label %s"
                                    % (host, pool_name, ", ".join(wrong)))
            else:
                labels[host] = {pool_label: pool_name}
    return {"labels": labels, "problems": problems}


def discovery_pending(nodes, hosts):
    """{host: [what is missing]} for the hosts whose node lacks GPU discovery's labels
    (or does not exist yet); empty once every host's node is discovered."""
    by_name = dict(((n.get("metadata") or {}).get("name"), n) for n in nodes)
    pending = {}
    for host in sorted(hosts):
        if host not in by_name:
            pending[host] = ["the node itself"]
            continue
        missing = missing_discovery_labels(_labels(by_name[host]))
        if missing:
            pending[host] = missing
    return pending
