# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.fleet_report."""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_report import fleet_summary

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_report
short_description: Summarise the GPU fleet - expected against advertised resources per node
version_added: 0.1.0
description:
  - For each GPU node, the extended resources its pool's sharing strategy should make it
    advertise (MIG devices per profile, time-sliced replicas x GPUs, or whole GPUs), the
    resources it advertises (C(status.allocatable)), other checks (NVML validation, KAI
    placement) and a status.
  - With O(hosts), exactly those hosts; a host without an entry in O(pools) (it failed or was
    unreachable earlier in the run) or without a GPU node is a row that is not ok.
  - A node whose expected resources cannot be told (an unknown model, a config that does
    not resolve, GFD's C(-MIG-INVALID)) is a row that names why, not an error.
  - Returns rows for C(set_stats) and a fixed-width table for people.
options:
  _input:
    description: The GPU nodes, as M(kubernetes.core.k8s_info) returns them.
    type: list
    elements: dict
    required: true
  pools:
    description:
      - Per node name - C(pool), C(strategy) (mig, time_slicing, kai, none),
        C(mig_config_name) (MIG), C(time_slicing) (the pool's time slicing settings) and
        C(checks) (a dict of check name to boolean).
      - Without O(hosts), nodes not named here are rows that are not ok.
    type: dict
    required: true
  hosts:
    description: The hosts in scope (node names); unset, every node of O(_input).
    type: list
    elements: str
  mig_config:
    description: The fleet's mig-parted document, for MIG pools.
    type: dict
  mig_strategy:
    description:
      - The device plugin's MIG strategy (how MIG devices are advertised), ClusterPolicy
        C(spec.mig.strategy).
    type: str
    choices: [none, single, mixed]
    default: mixed
"""

EXAMPLES = r"""
- name: Print the fleet summary
  ansible.builtin.debug:
    msg: "{{ (nodes.resources | fractional.gpu.fleet_report(pools, mig_config=mig_config)).table }}"
"""

RETURN = r"""
_value:
  description: The report.
  type: dict
  contains:
    rows:
      description:
        - One per node - node, pool, gpu_model, strategy, expected, found, checks, ok, problems, and differs
          (the resources it does not advertise as expected).
      type: list
      elements: dict
    table:
      description: The rows as fixed-width text lines, a header first and totals last.
      type: list
      elements: str
    ok:
      description: True when every node is as expected.
      type: bool
    settled:
      description:
        - True when every node advertises the resources expected of it (other problems aside); a device
          plugin re-registers its resources a moment after a change.
      type: bool
"""


def fleet_report(nodes, pools, hosts=None, mig_config=None, mig_strategy="mixed"):
    return fleet_summary(nodes, pools, hosts=hosts, mig_config=mig_config,
                         mig_strategy=mig_strategy)


class FilterModule:
    def filters(self):
        return {"fleet_report": fleet_report}
