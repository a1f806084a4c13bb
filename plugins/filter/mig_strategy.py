# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the cluster's MIG strategy; the rules live in module_utils/mig_strategy.py
(documented in cluster_mig_strategy.yml and mig_strategy_problems.yml next to this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.fractional.gpu.plugins.module_utils import mig_strategy


def cluster_mig_strategy(policy):
    try:
        return mig_strategy.cluster_strategy(policy)
    except ValueError as exc:
        raise AnsibleFilterError("cluster_mig_strategy: %s" % exc)


def mig_strategy_problems(pools, strategy, mig_config=None):
    return mig_strategy.pools_problems(pools, strategy, mig_config)


class FilterModule(object):
    """The cluster's MIG strategy."""

    def filters(self):
        return {
            "cluster_mig_strategy": cluster_mig_strategy,
            "mig_strategy_problems": mig_strategy_problems,
        }
