# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.device_plugin_node_problems."""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils import device_plugin_config as dpc

__metaclass__ = type

DOCUMENTATION = r"""
name: device_plugin_node_problems
author: fractional.gpu developers
version_added: 0.1.0
short_description: How nodes differ from what their device plugin sharing config makes them advertise
description:
- For each node in O(assignments), compares its allocatable resources and GPU feature discovery labels
  with what the NVIDIA device plugin advertises for the assigned pool's config; replicas x devices of
  each resource (or the C(.shared) resource when renamed), C(<resource>.replicas), C(<resource>.sharing-strategy)
  and the C(-SHARED) product suffix when shared and not renamed. A node assigned no config must advertise
  its devices unshared.
positional: _input, pools, assignments
options:
  _input:
    description: Node objects as the Kubernetes API returns them.
    type: list
    elements: dict
    required: true
  pools:
    description: The pools.
    type: list
    elements: dict
    required: true
  assignments:
    description: Node name to config key, or null for no sharing (the C(assignments) of P(fractional.gpu.device_plugin_plan#filter)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the nodes
  ansible.builtin.assert:
    that: nodes.resources | fractional.gpu.device_plugin_node_problems(pools, plan.assignments) | length == 0
"""

RETURN = r"""
_value:
  description: One message per mismatch with the figures found and expected; empty when every node matches.
  type: list
  elements: str
"""


def device_plugin_node_problems(nodes, pools, assignments):
    """How the nodes differ from what their assigned config makes the plugin advertise."""
    return dpc.nodes_problems(nodes, pools, assignments)


class FilterModule(object):
    """fractional.gpu.device_plugin_node_problems"""

    def filters(self):
        return {"device_plugin_node_problems": device_plugin_node_problems}
