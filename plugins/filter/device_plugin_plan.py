# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.device_plugin_plan."""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils import device_plugin_config as dpc

__metaclass__ = type

DOCUMENTATION = r"""
name: device_plugin_plan
author: fractional.gpu developers
version_added: 0.1.0
short_description: Device plugin ConfigMap data and node label changes for GPU sharing pools
description:
- Given valid pools (see P(fractional.gpu.device_plugin_problems#filter)) and the cluster's nodes, selects
  each pool's nodes (by name, or by the pool label) and plans the C(nvidia.com/device-plugin.config) label
  changes and the ConfigMap data (one key per sharing pool plus a default key without sharing).
- Names the GPU nodes whose device plugin and GPU feature discovery must restart, since NVIDIA's config
  manager follows the node label only and a config changed under a key a node keeps needs a new pod.
positional: _input, nodes, pool_label, default_key, mig_strategy, existing
options:
  _input:
    description: The pools.
    type: list
    elements: dict
    required: true
  nodes:
    description: Node objects as the Kubernetes API returns them.
    type: list
    elements: dict
    required: true
  pool_label:
    description: Node label whose value names the node's pool.
    type: str
    required: true
  default_key:
    description: ConfigMap key for nodes outside every sharing pool.
    type: str
    required: true
  mig_strategy:
    description: The cluster's MIG strategy (ClusterPolicy C(spec.mig.strategy)), each config's C(flags.migStrategy).
    type: str
    choices: [none, single, mixed]
    default: none
  existing:
    description:
      - The ConfigMap's data now (empty when it does not exist). Keys of pools not listed in O(_input) stay
        as they are.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Plan
  ansible.builtin.set_fact:
    plan: "{{ pools | fractional.gpu.device_plugin_plan(nodes.resources, 'fractional.gpu/pool', 'default') }}"
"""

RETURN = r"""
_value:
  description:
  - C(problems) (pools selecting no node, unknown nodes, nodes in two pools), C(assignments) (node to
    config key, or null when its pool does not share), C(changes) (list of node and label value, null
    to remove), C(pools) (pool to nodes).
  - C(data) (the ConfigMap data once the run is done), C(data_before_labels) (the data to write before
    the node labels change; the keys that go are removed only after no node names them),
    C(patch_before_labels) and C(patch_after_labels) (the same two writes as patches of the keys that
    change, null to remove, so that keys another run writes meanwhile stay), and C(sharing)
    (whether C(data) holds a key besides O(default_key), so that the ConfigMap and the ClusterPolicy's
    reference to it stay).
  - C(restarts) (GPU nodes whose device plugin and GFD pods must restart, as their config changed under
    the key they keep).
  type: dict
"""


def device_plugin_plan(pools, nodes, pool_label, default_key, mig_strategy="none", existing=None):
    """Node assignments, label changes, the ConfigMap data and the restarts for ``pools``."""
    result = dpc.plan(pools, nodes, pool_label)
    result["data"] = dpc.configmap_data(pools, default_key, mig_strategy, existing)
    result["data_before_labels"] = dict(existing or {}, **result["data"])
    result["patch_before_labels"], result["patch_after_labels"] = dpc.configmap_patches(
        existing, result["data_before_labels"], result["data"])
    result["sharing"] = any(key != default_key for key in result["data"])
    result["restarts"] = dpc.restarts(nodes, result["changes"], existing, result["data"], default_key)
    return result


class FilterModule(object):
    """fractional.gpu.device_plugin_plan"""

    def filters(self):
        return {"device_plugin_plan": device_plugin_plan}
