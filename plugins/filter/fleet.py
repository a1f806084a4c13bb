# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for what a run covers and its plan; the rules live in module_utils/fleet_scope.py
and fleet_plan.py (documented in fleet_*.yml next to this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os

import yaml

from ansible.errors import AnsibleError, AnsibleFilterError

from ansible_collections.fractional.gpu.plugins.module_utils import fleet_plan, fleet_scope, preflight

ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")


@functools.lru_cache(maxsize=None)
def role_option_specs():
    """Every option of the collection's roles' argument specs (read once per run)."""
    specs = {}
    for role in sorted(os.listdir(ROLES_DIR)):
        path = os.path.join(ROLES_DIR, role, "meta", "argument_specs.yml")
        if os.path.isfile(path):
            with open(path) as handle:
                specs[role] = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
    return preflight.option_specs(specs)


def _inputs(host_vars, specs):
    """The variables of the roles' argument specs as one host sees them; one that cannot
    be templated fails the filter naming the variable."""
    inputs = {}
    for name in specs:
        if name not in host_vars:
            continue
        try:
            inputs[name] = host_vars[name]
        except AnsibleError as exc:
            raise AnsibleFilterError("the variable %s cannot be read: %s" % (name, exc))
    return inputs


def fleet_host_pool(group_names, pool_name=None):
    return fleet_scope.host_pool(group_names, pool_name)


def fleet_scope_filter(matched, play_hosts, hostvars, pattern="gpu_nodes", limit="", all_hosts=None):
    specs = role_option_specs()
    info, first_of_pool, in_scope = {}, {}, set(matched) & set(play_hosts)
    for host in sorted(set(all_hosts or ()) | set(matched)):
        host_vars = hostvars[host]
        info[host] = {
            "pool": fleet_scope.host_pool(host_vars.get("group_names"), host_vars.get("pool_name")),
            "node_selector": host_vars.get("pool_node_selector") or {},
            "settings": dict((name, host_vars[name]) for name in fleet_scope.POOL_SETTINGS
                             if name in host_vars),
        }
        if host in in_scope:
            first_of_pool.setdefault(info[host]["pool"], host)
    # The run's inputs as each pool sees them: one host a pool (a pool's settings are its
    # group's), not every host, whatever the size of the fleet.
    for host in first_of_pool.values():
        info[host]["inputs"] = _inputs(hostvars[host], specs)
    return fleet_scope.resolve_scope(matched, play_hosts, info, pattern=pattern, limit=limit or "",
                                     specs=specs)


def fleet_pool_labels(nodes, scope, pool_label):
    return fleet_scope.pool_label_plan(nodes, scope, pool_label)


def fleet_discovery_pending(nodes, hosts):
    return fleet_scope.discovery_pending(nodes, hosts)


def fleet_resolve(nodes, scope, pool_label, defaults=None):
    return fleet_plan.resolve_pools(nodes, scope, pool_label, defaults or {})


def fleet_mig_hosts(pools, scope, defaults=None):
    return fleet_plan.mig_hosts(pools, scope, defaults or {})


def fleet_summary_entries(pools, hosts, alive, nvml_results=None):
    return fleet_plan.summary_entries(pools, hosts, alive, nvml_results)


class FilterModule(object):
    """What a run covers."""

    def filters(self):
        return {
            "fleet_host_pool": fleet_host_pool,
            "fleet_scope": fleet_scope_filter,
            "fleet_pool_labels": fleet_pool_labels,
            "fleet_discovery_pending": fleet_discovery_pending,
            "fleet_resolve": fleet_resolve,
            "fleet_mig_hosts": fleet_mig_hosts,
            "fleet_summary_entries": fleet_summary_entries,
        }
