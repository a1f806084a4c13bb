# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.mig_config_errors."""

from __future__ import absolute_import, division, print_function

from ansible.errors import AnsibleFilterError

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_report import (
    mig_config_errors as config_errors,
)

__metaclass__ = type

DOCUMENTATION = r"""
name: mig_config_errors
short_description: Check a mig-parted configuration against a node's GPUs before applying it
version_added: 0.1.0
description:
  - Validates the selected configuration of a mig-parted document against a Kubernetes
    node's GPUs as GPU feature discovery labels them (C(nvidia.com/gpu.product),
    C(nvidia.com/gpu.count)), with the same rules M(fractional.gpu.mig_geometry) applies on
    the host - profiles the model lacks, too many instances, oversubscribed slices,
    impossible placements, device indices the node lacks, MIG on a GPU without it.
  - For the GPU Operator's MIG manager, which applies a configuration without checking it
    first; the collection's C(mig) role checks every node before it labels any.
options:
  _input:
    description: The mig-parted document (C(version) v1 and C(mig-configs)).
    type: dict
    required: true
  config_name:
    description: The configuration to check, a key of C(mig-configs).
    type: str
    required: true
  gpu_product:
    description:
      - The node's C(nvidia.com/gpu.product) label or a product name.
      - Null or empty when the node has no such label; the result then says so (the GPUs
        cannot be checked off the host).
    type: str
    required: true
  gpu_count:
    description:
      - The node's GPU count (C(nvidia.com/gpu.count)).
      - Null or empty when the node has no such label; the result then says so, rather than
        checking the config against 0 GPUs.
    type: int
    required: true
  allow_no_match:
    description:
      - Accept a configuration that selects none of the node's GPUs. By default that is a
        problem, as C(mig-parted assert) reports it.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Check the configuration against one node's labels
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "{{ errors }}"
  vars:
    errors: >-
      {{ mig_config | fractional.gpu.mig_config_errors('all-1g.10gb',
         node.metadata.labels['nvidia.com/gpu.product'],
         node.metadata.labels['nvidia.com/gpu.count'] | int) }}
"""

RETURN = r"""
_value:
  description: Every problem found, one sentence each naming the GPU and the profile; empty when the configuration fits.
  type: list
  elements: str
"""


def mig_config_errors(config, config_name, gpu_product, gpu_count, allow_no_match=False):
    count = gpu_count
    if gpu_count is not None and str(gpu_count).strip() != "":
        try:
            count = int(gpu_count)
        except (TypeError, ValueError):
            raise AnsibleFilterError("mig_config_errors: gpu_count must be a number, not %r"
                                     % (gpu_count,))
    return config_errors(config, config_name, gpu_product, count, bool(allow_no_match))


class FilterModule:
    def filters(self):
        return {"mig_config_errors": mig_config_errors}
