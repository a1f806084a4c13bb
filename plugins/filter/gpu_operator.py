# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the GPU Operator's readiness; the rules live in
module_utils/gpu_operator_status.py (documented in gpu_operator_*.yml next to this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fractional.gpu.plugins.module_utils import gpu_operator_status


def gpu_operator_deployment_problem(deployments, pods, namespace, name, timeout):
    return gpu_operator_status.deployment_problem(deployments, pods, namespace, name, timeout)


def gpu_operator_policy_problem(policies, daemonsets, name, timeout):
    return gpu_operator_status.policy_problem(policies, daemonsets, name, timeout)


class FilterModule(object):
    """The GPU Operator's readiness."""

    def filters(self):
        return {
            "gpu_operator_deployment_problem": gpu_operator_deployment_problem,
            "gpu_operator_policy_problem": gpu_operator_policy_problem,
        }
