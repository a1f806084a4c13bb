# -*- coding: utf-8 -*-
# Copyright: fractional.gpu developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters over the device plugin sharing config; the logic is in module_utils."""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils import device_plugin_config as dpc

__metaclass__ = type


def device_plugin_problems(pools, default_key=""):
    """Problems the device plugin would reject or silently ignore; [] when valid."""
    return dpc.config_problems(pools, default_key)


def device_plugin_plan(pools, nodes, pool_label, default_key, default_mig_strategy="none"):
    """Node assignments, label changes and the ConfigMap data for ``pools``."""
    result = dpc.plan(pools, nodes, pool_label)
    result["data"] = dpc.configmap_data(pools, default_key, default_mig_strategy)
    return result


def device_plugin_node_problems(nodes, pools, assignments):
    """How the nodes differ from what their assigned config makes the plugin advertise."""
    return dpc.nodes_problems(nodes, pools, assignments)


class FilterModule(object):
    """Device plugin sharing config filters."""

    def filters(self):
        return {
            "device_plugin_problems": device_plugin_problems,
            "device_plugin_plan": device_plugin_plan,
            "device_plugin_node_problems": device_plugin_node_problems,
        }
