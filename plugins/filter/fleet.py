# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for what a run covers; the rules live in module_utils/fleet_scope.py (documented
in fleet_*.yml next to this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fractional.gpu.plugins.module_utils import fleet_scope


def fleet_host_pool(group_names, pool_name=None):
    return fleet_scope.host_pool(group_names, pool_name)


def fleet_scope_filter(matched, play_hosts, hostvars, pattern="gpu_nodes", limit="", all_hosts=None):
    info = {}
    for host in set(all_hosts or ()) | set(matched):
        host_vars = hostvars[host]
        info[host] = {
            "pool": fleet_scope.host_pool(host_vars.get("group_names"), host_vars.get("pool_name")),
            "node_selector": host_vars.get("pool_node_selector") or {},
        }
    return fleet_scope.resolve_scope(matched, play_hosts, info, pattern=pattern, limit=limit or "")


def fleet_pool_labels(nodes, scope, pool_label="fractional.gpu/pool"):
    return fleet_scope.pool_label_plan(nodes, scope, pool_label)


def fleet_discovery_pending(nodes, hosts):
    return fleet_scope.discovery_pending(nodes, hosts)


def fleet_pools(resolved):
    return fleet_scope.scoped_pools(resolved)


class FilterModule(object):
    """What a run covers."""

    def filters(self):
        return {
            "fleet_host_pool": fleet_host_pool,
            "fleet_scope": fleet_scope_filter,
            "fleet_pool_labels": fleet_pool_labels,
            "fleet_discovery_pending": fleet_discovery_pending,
            "fleet_pools": fleet_pools,
        }
