# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for MIG in operator mode over many nodes at once; the rules live in
module_utils/mig_operator.py (documented in mig_operator_*.yml next to this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fractional.gpu.plugins.module_utils import mig_operator
from ansible_collections.fractional.gpu.plugins.module_utils.fleet_plan import nodes_by_name


def mig_operator_problems(nodes, wanted, plans, config, allow_no_match=False):
    return mig_operator.check_problems(nodes_by_name(nodes), wanted, plans or {}, config,
                                       allow_no_match)


def mig_operator_actions(nodes, wanted, pods, plans, configmap_time, now, sync_seconds,
                         selector="app=nvidia-mig-manager"):
    return mig_operator.decide(nodes_by_name(nodes), wanted, pods, plans or {}, configmap_time or "",
                               now, sync_seconds, selector)


def mig_operator_batches(decision, wanted, size=1):
    return mig_operator.batch_steps(decision, wanted, size)


def mig_operator_reported(nodes, names):
    return mig_operator.reported(nodes_by_name(nodes), names)


def mig_operator_result_problems(nodes, wanted, names, timeout, namespace, selector):
    return mig_operator.result_problems(nodes_by_name(nodes), wanted, names, timeout, namespace,
                                        selector)


def mig_operator_unsettled(nodes, old, names, timeout, namespace, selector):
    return mig_operator.unsettled_problems(nodes_by_name(nodes), old, names, timeout, namespace,
                                           selector)


class FilterModule(object):
    """MIG in operator mode."""

    def filters(self):
        return {
            "mig_operator_problems": mig_operator_problems,
            "mig_operator_actions": mig_operator_actions,
            "mig_operator_batches": mig_operator_batches,
            "mig_operator_reported": mig_operator_reported,
            "mig_operator_result_problems": mig_operator_result_problems,
            "mig_operator_unsettled": mig_operator_unsettled,
        }
