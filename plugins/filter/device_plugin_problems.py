# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.device_plugin_problems."""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils import device_plugin_config as dpc

__metaclass__ = type

DOCUMENTATION = r"""
name: device_plugin_problems
author: fractional.gpu developers
version_added: 0.1.0
short_description: What the NVIDIA device plugin would refuse or silently ignore in GPU sharing pools
description:
- Checks node pools described as for the role C(fractional.gpu.time_slicing) by the device plugin's own
  rules (api/config/v1 of github.com/NVIDIA/k8s-device-plugin) and returns every problem found.
- Replicas below 2, empty resources, unknown resource names, MIG resources without the mixed strategy,
  MPS with MIG resources or the mixed strategy, sharing options under C(flags), unknown flags, a C(rename)
  or C(devices) the plugin ignores, duplicate pool names or keys.
positional: _input, default_key, mig_strategy
options:
  _input:
    description: The pools, as O(fractional.gpu.time_slicing#role:main:time_slicing_pools).
    type: list
    elements: dict
    required: true
  default_key:
    description: ConfigMap key reserved for nodes outside every pool; a pool may not use it.
    type: str
    default: ''
  mig_strategy:
    description: The cluster's MIG strategy (ClusterPolicy C(spec.mig.strategy)), which the device plugin runs with.
    type: str
    choices: [none, single, mixed]
    default: none
"""

EXAMPLES = r"""
- name: Refuse a bad sharing config
  ansible.builtin.assert:
    that: pools | fractional.gpu.device_plugin_problems('default') | length == 0
    fail_msg: "{{ pools | fractional.gpu.device_plugin_problems('default') | join('; ') }}"
"""

RETURN = r"""
_value:
  description: One message per problem, naming the pool and resource; empty when the pools are valid.
  type: list
  elements: str
"""


def device_plugin_problems(pools, default_key="", mig_strategy="none"):
    """Problems the device plugin would reject or silently ignore in ``pools``; [] when valid."""
    return dpc.config_problems(pools, default_key, mig_strategy)


class FilterModule(object):
    """fractional.gpu.device_plugin_problems"""

    def filters(self):
        return {"device_plugin_problems": device_plugin_problems}
