# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.device_plugin_rollout_pending."""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils import device_plugin_config as dpc

__metaclass__ = type

DOCUMENTATION = r"""
name: device_plugin_rollout_pending
author: fractional.gpu developers
version_added: 0.1.0
short_description: What the GPU Operator has not rolled out yet of a changed device plugin config reference
description:
- The GPU Operator re-renders its device plugin and GPU feature discovery DaemonSets when ClusterPolicy
  C(spec.devicePlugin.config) changes (a ConfigMap volume and the config manager sidecar, or neither), which
  restarts their pods on every GPU node. Until that roll-out ends, nodes may still advertise what they
  advertised before.
- Names each of the two DaemonSets that does not match O(configmap) yet, or whose pods are not all updated
  and available. DaemonSets that do not exist are not waited for.
positional: _input, configmap
options:
  _input:
    description: DaemonSet objects as the Kubernetes API returns them (others than the two are ignored).
    type: list
    elements: dict
    required: true
  configmap:
    description: The ConfigMap the ClusterPolicy names; empty when it names none.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Wait for the roll-out
  kubernetes.core.k8s_info:
    api_version: apps/v1
    kind: DaemonSet
    namespace: gpu-operator
  register: daemonsets
  until: daemonsets.resources | fractional.gpu.device_plugin_rollout_pending('fractional-gpu-device-plugin-config') | length == 0
"""

RETURN = r"""
_value:
  description: One message per DaemonSet still rolling out; empty when both run as the ClusterPolicy says.
  type: list
  elements: str
"""


def device_plugin_rollout_pending(daemonsets, configmap):
    """What is left of the roll-out of the device plugin config reference."""
    return dpc.rollout_pending(daemonsets, configmap)


class FilterModule(object):
    """fractional.gpu.device_plugin_rollout_pending"""

    def filters(self):
        return {"device_plugin_rollout_pending": device_plugin_rollout_pending}
