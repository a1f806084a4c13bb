# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host mode on a real node: what the mig role does to the Kubernetes node around a MIG
change on its host, decided from the node and the GPU Operator's ClusterPolicy.

- The role records what it does in one annotation on the node, ``fractional.gpu/mig-change``
  (JSON: the config, whether it cordoned the node, the operand labels it paused), written
  BEFORE it cordons, drains or pauses anything. A run that stops half-way (a failed drain,
  a GPU that waits for a reboot) leaves the record, and the next run finishes from it: it
  uncordons only a node it cordoned (an administrator's cordon survives) and restores only
  the labels it paused.
- On a node where the GPU Operator runs, its device plugin, GPU feature discovery and DCGM
  pods keep the GPUs open. As NVIDIA's MIG manager does (github.com/NVIDIA/mig-parted,
  pkg/mig/reconfigure: shutdownKubernetesGPUClients, waitForPodsToBeDeleted,
  restartKubernetesGPUClients), the role sets their ``nvidia.com/gpu.deploy.<operand>``
  labels to ``paused-for-mig-change``, whose DaemonSets then leave the node, waits until
  their pods are gone, and sets the labels back to ``true`` afterwards. A label at
  ``false`` is someone else's decision and stays; unlike the MIG manager, a label the node
  does not carry stays absent.
- The operator's MIG manager applies the config its node's label names (``all-disabled``
  by default, ``migManager.config.default``) whenever its pod starts: it would undo a
  layout made on the host. Host mode is refused on a node where it can run, that is while
  the ClusterPolicy enables it and the node's ``nvidia.com/gpu.deploy.mig-manager`` is not
  ``false`` (the operator keeps an existing value of that label: controllers/
  state_manager.go addGPUStateLabels).

Pure functions over the objects the API returns; stdlib only.
"""

from __future__ import absolute_import, division, print_function

import json

from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import (
    CLUSTER_POLICY,
    DCGM_APP,
    DCGM_EXPORTER_APP,
    DEPLOY_LABEL_PREFIX,
    DEVICE_PLUGIN_APP,
    GFD_APP,
    MIG_CONFIG_LABEL,
    PAUSED_FOR_MIG_CHANGE as PAUSED,
)

__metaclass__ = type

MARK = "fractional.gpu/mig-change"
# The operands NVIDIA's MIG manager pauses, and the app label of their pods.
OPERAND_LABELS = tuple(DEPLOY_LABEL_PREFIX + name for name in (
    "device-plugin", "gpu-feature-discovery", "dcgm-exporter", "dcgm", "nvsm"))
OPERAND_APPS = (DEVICE_PLUGIN_APP, GFD_APP, DCGM_EXPORTER_APP, DCGM_APP)
MIG_MANAGER_LABEL = DEPLOY_LABEL_PREFIX + "mig-manager"


def _meta(node):
    return (node or {}).get("metadata") or {}


def _labels(node):
    return _meta(node).get("labels") or {}


def read_mark(node):
    """The record an earlier run left on the node, or None."""
    text = (_meta(node).get("annotations") or {}).get(MARK)
    if not text:
        return None
    try:
        mark = json.loads(text)
    except ValueError:
        mark = None
    if not isinstance(mark, dict):
        # Not ours to read: keep the node as it is (no uncordon), but own the record.
        return {"config": None, "cordoned": False, "paused": []}
    return {"config": mark.get("config"), "cordoned": bool(mark.get("cordoned")),
            "paused": [label for label in mark.get("paused") or [] if label in OPERAND_LABELS]}


def mig_manager_problems(node, policy, node_name=None):
    """Why host mode must not run on the node: the operator's MIG manager can run there."""
    if policy is None:
        return []
    manager = ((policy.get("spec") or {}).get("migManager") or {})
    if manager.get("enabled") is False:
        return []
    value = _labels(node).get(MIG_MANAGER_LABEL)
    if value == "false":
        return []
    name = node_name or _meta(node).get("name")
    config = _labels(node).get(MIG_CONFIG_LABEL)
    default = (manager.get("config") or {}).get("default")
    return ["%s: host mode refused: the GPU Operator's MIG manager can run on this node "
            "(ClusterPolicy %s enables it; node label %s is %s) and applies the "
            "node's %s (%s) whenever its pod starts, undoing a layout made on the host. Keep it "
            "off the node (kubectl label node %s %s=false --overwrite; the operator keeps that "
            "value), disable it (gpu_operator_mig_manager_enabled: false), or use mig_mode: "
            "operator. The MIG role changed nothing."
            % (name, CLUSTER_POLICY, MIG_MANAGER_LABEL, value if value is not None else "unset",
               MIG_CONFIG_LABEL, "'%s'" % config if config
               else "unset; the operator sets it to '%s'" % default if default else "unset",
               name, MIG_MANAGER_LABEL)]


def plan_change(node, policy, config_name):
    """What the role does to the node before it changes the GPUs: ``mark`` (the record's
    text) and ``record`` (the annotations that write it, first), ``cordon`` (whether this
    change owns the cordon), ``pause`` ({label: paused-for-mig-change} to set now),
    ``paused`` (every label the change holds paused, an earlier run's too: their pods must
    be gone) and ``problems`` (refusals, before any change)."""
    earlier = read_mark(node)
    labels = _labels(node)
    unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
    cordon = earlier["cordoned"] if earlier else not unschedulable
    pause = {}
    if policy is not None:
        pause = dict((label, PAUSED) for label in OPERAND_LABELS
                     if labels.get(label) not in (None, "false", PAUSED))
    paused = sorted(set((earlier or {}).get("paused") or []) | set(pause))
    mark = json.dumps({"config": config_name, "cordoned": cordon, "paused": paused}, sort_keys=True)
    return {"mark": mark, "record": {MARK: mark}, "cordon": cordon, "pause": pause,
            "paused": paused, "problems": mig_manager_problems(node, policy)}


def plan_finish(node):
    """What finishing a MIG change (this run's, or one an earlier run left) does: ``pending``
    (a record exists), ``clear_record`` (the annotations that remove it), ``restore``
    ({label: true} for the labels still paused), ``uncordon`` (only a cordon the record
    owns)."""
    mark = read_mark(node)
    if mark is None:
        return {"pending": False, "restore": {}, "uncordon": False, "clear_record": {}}
    labels = _labels(node)
    return {"pending": True, "clear_record": {MARK: None},
            "restore": dict((label, "true") for label in mark["paused"]
                            if labels.get(label) == PAUSED),
            "uncordon": mark["cordoned"]}


def operand_pods_left(pods):
    """The operand pods (by NVIDIA's app labels) still on the node, terminating ones too:
    they hold the GPUs until they are gone."""
    return sorted(((pod.get("metadata") or {}).get("name") for pod in pods
                   if ((pod.get("metadata") or {}).get("labels") or {}).get("app") in OPERAND_APPS),
                  key=str)
