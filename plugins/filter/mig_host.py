# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for MIG host mode on a Kubernetes node; the rules live in module_utils/mig_host.py
(documented in mig_host_*.yml next to this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fractional.gpu.plugins.module_utils import mig_host


def mig_host_plan(node, policy, config_name):
    return mig_host.plan_change(node, policy, config_name)


def mig_host_finish(node):
    return mig_host.plan_finish(node)


def mig_host_operand_pods(pods):
    return mig_host.operand_pods_left(pods)


class FilterModule(object):
    """MIG host mode on a Kubernetes node."""

    def filters(self):
        return {
            "mig_host_plan": mig_host_plan,
            "mig_host_finish": mig_host_finish,
            "mig_host_operand_pods": mig_host_operand_pods,
        }
