# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.fleet_report."""

from __future__ import absolute_import, division, print_function

from ansible.errors import AnsibleFilterError

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_report import (
    expected_resources,
    render_table,
    report_row,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import MigConfigError

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
      - Nodes not named here are reported with strategy C(none).
    type: dict
    required: true
  mig_config:
    description: The fleet's mig-parted document, for MIG pools.
    type: dict
  mig_strategy:
    description: The device plugin's MIG strategy (how MIG devices are advertised).
    type: str
    choices: [single, mixed]
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
      description: One per node - node, pool, gpu_model, strategy, expected, found, checks, ok, problems.
      type: list
      elements: dict
    table:
      description: The rows as fixed-width text lines, a header first and totals last.
      type: list
      elements: str
    ok:
      description: True when every node is as expected.
      type: bool
"""


def fleet_report(nodes, pools, mig_config=None, mig_strategy="mixed"):
    rows = []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        labels = node["metadata"].get("labels") or {}
        pool = pools.get(node["metadata"]["name"], {})
        strategy = pool.get("strategy", "none")
        try:
            expected = expected_resources(
                strategy, labels.get("nvidia.com/gpu.product", ""),
                labels.get("nvidia.com/gpu.count", 0), mig_config=mig_config,
                mig_config_name=pool.get("mig_config_name"),
                time_slicing=pool.get("time_slicing"), mig_strategy=mig_strategy)
        except (MigConfigError, TypeError, ValueError) as exc:
            raise AnsibleFilterError("fleet_report: %s: %s" % (node["metadata"]["name"], exc))
        rows.append(report_row(node, pool.get("pool", "-"), strategy, expected,
                               pool.get("checks")))
    return {"rows": rows, "table": render_table(rows), "ok": all(row["ok"] for row in rows)}


class FilterModule:
    def filters(self):
        return {"fleet_report": fleet_report}
