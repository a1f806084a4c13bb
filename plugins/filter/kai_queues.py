# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over KAI Scheduler queue trees; the logic lives in module_utils/kai_queues.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fractional.gpu.plugins.module_utils import kai_queues


def kai_queue_problems(queues, smoke_queue=None, allow_oversubscription=False):
    return kai_queues.validate_queues(queues, smoke_queue=smoke_queue,
                                      allow_oversubscription=allow_oversubscription)


def kai_queue_manifests(queues, labels=None):
    return kai_queues.queue_manifests(queues, labels=labels)


def kai_queue_leaves(queues):
    return kai_queues.leaf_queue_names(queues)


def kai_queues_to_prune(existing, queues):
    return kai_queues.queues_to_prune(existing, queues)


def kai_cluster_queue_problems(existing, queues, smoke_queue=None, check_children=True):
    return kai_queues.cluster_queue_problems(existing, queues, smoke_queue=smoke_queue,
                                             check_children=check_children)


def kai_stale_objects(existing, wanted):
    return kai_queues.stale_objects(existing, wanted)


def kai_team_rbac_manifests(queues, name_prefix="kai-queue", labels=None):
    return kai_queues.team_rbac_manifests(queues, name_prefix=name_prefix, labels=labels)


def kai_team_queue_policy_manifests(name_prefix="kai-queue", queue_label_key="kai.scheduler/queue",
                                    scheduler_name="kai-scheduler"):
    return kai_queues.team_queue_policy_manifests(name_prefix=name_prefix,
                                                  queue_label_key=queue_label_key,
                                                  scheduler_name=scheduler_name)


class FilterModule(object):
    """KAI Scheduler queue filters."""

    def filters(self):
        return {
            "kai_queue_problems": kai_queue_problems,
            "kai_queue_manifests": kai_queue_manifests,
            "kai_queue_leaves": kai_queue_leaves,
            "kai_queues_to_prune": kai_queues_to_prune,
            "kai_team_rbac_manifests": kai_team_rbac_manifests,
            "kai_stale_objects": kai_stale_objects,
            "kai_cluster_queue_problems": kai_cluster_queue_problems,
            "kai_team_queue_policy_manifests": kai_team_queue_policy_manifests,
        }
