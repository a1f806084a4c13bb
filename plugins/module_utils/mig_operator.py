# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG in operator mode, for every node of a run at once, from one read of the nodes and
one of the MIG manager pods: whether each node's GPUs can take its config, how the GPU
Operator's MIG manager must be asked to apply it, and what it reported.

How the MIG manager behaves (mig-parted cmd/nvidia-mig-manager and pkg/mig/reconfigure):
it applies the config its node's ``nvidia.com/mig.config`` label names when the label's
value changes, and once when its pod starts; nothing else makes it apply again. It reads
the configs from its pod's copy of the ConfigMap, which the kubelet refreshes about once a
minute. It sets ``nvidia.com/mig.config.state`` to pending while it works, then success or
failed.

Pure functions over plain data, stdlib only; the outside comes in as arguments (the time
``now``, and ``wait_for``'s clock and sleep). The module fractional.gpu.mig_manager reads the
cluster and calls them.
"""

from __future__ import absolute_import, division, print_function

from datetime import datetime

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_report import (
    mig_config_errors,
)
from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import (
    CLUSTER_POLICY,
    DEPLOY_LABEL_PREFIX,
    GPU_COUNT_LABEL,
    GPU_PRODUCT_LABEL,
    MIG_CONFIG_LABEL as CONFIG_LABEL,
    MIG_CONFIG_STATE_LABEL as STATE_LABEL,
    PAUSED_FOR_MIG_CHANGE,
)

__metaclass__ = type

SUCCESS, FAILED = "success", "failed"
BUSY = ("pending", "rebooting")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The volume of the MIG manager's pods that mounts the ConfigMap of MIG configs (gpu-operator
# assets/state-mig-manager/0600_daemonset.yaml).
CONFIG_VOLUME = "mig-parted-config"
# none: applied; wait: the MIG manager is applying it; relabel: the running pod applies the
# new value; restart: the label already names the config, a new pod applies it as it
# starts; restart-relabel: the label changes, but the ConfigMap changed after the running
# pod started and so recently that the pod's copy may be old: a new pod first.
ACTIONS = ("none", "wait", "relabel", "restart", "restart-relabel")
RESTART = ("restart", "restart-relabel")
RELABEL = ("relabel", "restart-relabel")


def _labels(node):
    return ((node or {}).get("metadata") or {}).get("labels") or {}


def check_problems(nodes_by_name, wanted, plans, config, allow_no_match=False):
    """One message per node whose GPUs cannot take its config; empty when all can.

    ``wanted``: {node: config name}; ``plans``: {node: its host's read-only plan (the
    result of mig_geometry in check mode), None when it could not be made} for the nodes
    checked on the host; the others are checked from their GPU feature discovery labels.
    """
    problems = []
    for node in sorted(wanted):
        if node not in nodes_by_name:
            problems.append("no Kubernetes node named %s" % node)
            continue
        if node in plans:
            plan = plans[node] or {}
            if "changed_gpus" not in plan:
                problems.append("%s: %s" % (node, plan.get("msg") or "planning on the host failed "
                                            "(was the host reached?)"))
            continue
        labels = _labels(nodes_by_name[node])
        product = labels.get(GPU_PRODUCT_LABEL)
        count = labels.get(GPU_COUNT_LABEL)
        errors = mig_config_errors(config, wanted[node], product, count, allow_no_match)
        if errors:
            problems.append("%s: invalid MIG configuration for its GPUs as GPU feature discovery "
                            "labels them (%s x %s), %d problem(s), the MIG role changed nothing:%s"
                            % (node, product or "unknown", count or "?", len(errors),
                               "".join("\n- " + error for error in errors)))
    return problems


def mig_labels(nodes_by_name, names):
    """{node: its nvidia.com/mig.config and .state labels} for the nodes of ``names`` the
    cluster has: what ``decide`` reads of them, carried from the read before any change."""
    return dict((node, dict((key, value) for key, value in _labels(nodes_by_name[node]).items()
                            if key in (CONFIG_LABEL, STATE_LABEL)))
                for node in names if node in nodes_by_name)


def as_nodes(labels):
    """The nodes ``mig_labels`` describes, in the form the API returns them."""
    return dict((node, {"metadata": {"name": node, "labels": dict(keys)}})
                for node, keys in (labels or {}).items())


def _truth(value):
    """A YAML-ish boolean as Ansible's bool filter reads it."""
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y", "t")
    return bool(value)


def policy_problem(policy, configmap, patch_policy):
    """Why the GPU Operator's MIG manager cannot read ``configmap`` under ClusterPolicy
    ``policy`` (as the API returns it, None when there is none); None when it can.
    ``patch_policy``: the role points the ClusterPolicy at the ConfigMap itself."""
    if not policy:
        problem = ("There is no ClusterPolicy %s: install the GPU Operator first "
                   "(fractional.gpu.gpu_operator)" % CLUSTER_POLICY)
    else:
        manager = (policy.get("spec") or {}).get("migManager") or {}
        named = (manager.get("config") or {}).get("name") or ""
        if not _truth(manager.get("enabled", True)):
            problem = ("ClusterPolicy %s disables the MIG manager (spec.migManager.enabled is false)"
                       % CLUSTER_POLICY)
        elif not patch_policy and named != configmap:
            problem = ("ClusterPolicy %s names ConfigMap %s for the MIG manager, not %s "
                       "(mig_operator_patch_cluster_policy is false)"
                       % (CLUSTER_POLICY, named or "none", configmap))
        else:
            return None
    return problem + "; the MIG role changed nothing."


def rollout_problem(daemonset, configmap, namespace, name, timeout):
    """Why the MIG manager DaemonSet (as the API returns it, None when there is none) does
    not yet run every pod with ``configmap`` mounted, updated and available; None when it
    does. ``timeout``: the seconds waited, for the message."""
    if not daemonset:
        return ("There is no DaemonSet %s/%s after %ss: the GPU Operator has not deployed its "
                "MIG manager" % (namespace, name, timeout))
    metadata = daemonset.get("metadata") or {}
    status = daemonset.get("status") or {}
    volumes = ((((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {})
               .get("volumes") or [])
    mounted = [(volume.get("configMap") or {}).get("name") or "" for volume in volumes
               if volume.get("name") == CONFIG_VOLUME]
    mounted = mounted[0] if mounted else ""
    desired = status.get("desiredNumberScheduled")
    updated = status.get("updatedNumberScheduled") or 0
    available = status.get("numberAvailable") or 0
    if (mounted == configmap and (status.get("observedGeneration") or 0) == metadata.get("generation")
            and updated == desired and available == desired):
        return None
    return ("DaemonSet %s/%s mounts ConfigMap %s and has %s updated, %s available of %s pods "
            "after %ss; it should mount %s with every pod updated and available"
            % (namespace, name, mounted or "none", updated, available, desired or 0, timeout,
               configmap))


def configmap_time(configmap):
    """When the ConfigMap's content last changed (as the API writes times): the newest time
    of its managed fields; '' when unknown."""
    fields = ((configmap or {}).get("metadata") or {}).get("managedFields") or []
    times = [entry.get("time") for entry in fields if entry.get("time")]
    return max(times) if times else ""


def _time(text):
    return datetime.strptime(text, TIME_FORMAT)


def decide(nodes_by_name, wanted, pods, plans, configmap_time, now, sync_seconds,
           selector="app=nvidia-mig-manager"):
    """How each node gets its config.

    ``pods``: the MIG manager pods as the API lists them; ``plans``: as for
    check_problems (a node planned on the host whose GPUs no longer match gets a new pod);
    ``configmap_time``: when the ConfigMap's content last changed ('' when unknown);
    ``now``: the time now; both as the API writes times. Returns ``actions`` ({node:
    action}), ``old`` ({node: its label now}), ``pods`` ({node: names of its running MIG
    manager pods}) and ``problems`` (a node where no MIG manager runs).
    """
    running = {}
    for pod in pods:
        metadata = pod.get("metadata") or {}
        if metadata.get("deletionTimestamp"):
            continue
        running.setdefault((pod.get("spec") or {}).get("nodeName"), []).append(metadata)
    actions, old, names, problems = {}, {}, {}, []
    for node in sorted(wanted):
        labels = _labels(nodes_by_name.get(node))
        pods_here = running.get(node) or []
        if not pods_here:
            problems.append("%s: no MIG manager pod (%s) runs on it, so nothing would apply '%s'. "
                            "The GPU Operator runs one on nodes labelled "
                            "%smig-manager=true (MIG-capable GPU nodes)."
                            % (node, selector, wanted[node], DEPLOY_LABEL_PREFIX))
            continue
        label = labels.get(CONFIG_LABEL, "")
        state = labels.get(STATE_LABEL, "")
        plan = plans.get(node) or {}
        gpus_match = node not in plans or not plan.get("changed_gpus")
        pod_time = min(metadata.get("creationTimestamp") or "" for metadata in pods_here)
        stale = bool(configmap_time) and pod_time < configmap_time and (
            (_time(now) - _time(configmap_time)).total_seconds() < int(sync_seconds))
        if label == wanted[node]:
            if state in BUSY:
                action = "wait"
            elif state == SUCCESS and gpus_match and not (stale and node not in plans):
                action = "none"
            else:
                action = "restart"
        else:
            action = "restart-relabel" if stale else "relabel"
        actions[node] = action
        old[node] = label
        names[node] = sorted(metadata.get("name") for metadata in pods_here)
    return {"actions": actions, "old": old, "pods": names, "problems": problems}


def batch_steps(decision, wanted, size):
    """The nodes that need the MIG manager, in batches of ``size`` (a rolling change), each
    with what to do: ``nodes``, ``restart`` (whose MIG manager pod goes), ``pods`` (their
    names), ``settle`` (restarted nodes whose label then changes: their new pod reports on
    the old config first), ``clear_labels`` and ``config_labels`` (for
    fractional.gpu.node_labels), ``index`` and ``count``."""
    actions = decision["actions"]
    todo = [node for node in sorted(actions) if actions[node] != "none"]
    size = max(1, int(size or 1))
    chunks = [todo[index:index + size] for index in range(0, len(todo), size)]
    steps = []
    for number, nodes in enumerate(chunks, 1):
        restart = [node for node in nodes if actions[node] in RESTART]
        relabel = [node for node in nodes if actions[node] in RELABEL]
        steps.append({
            "index": number, "count": len(chunks), "nodes": nodes, "restart": restart,
            "pods": [pod for node in restart for pod in decision["pods"].get(node, [])],
            "settle": [node for node in restart if actions[node] == "restart-relabel"
                       and decision["old"].get(node)],
            "clear_labels": dict((node, {STATE_LABEL: None}) for node in restart),
            "config_labels": dict((node, {CONFIG_LABEL: wanted[node], STATE_LABEL: None})
                                  for node in relabel),
            "lines": ["%s: %s ('%s' -> '%s')" % (node, actions[node], decision["old"].get(node, ""),
                                                 wanted[node]) for node in nodes],
        })
    return steps


def states(nodes_by_name, nodes):
    """{node: its nvidia.com/mig.config.state, '' when unset}."""
    return dict((node, _labels(nodes_by_name.get(node)).get(STATE_LABEL, "")) for node in nodes)


def reported(nodes_by_name, nodes):
    """Whether the MIG manager has reported (success or failed) on every one of ``nodes``."""
    return all(state in (SUCCESS, FAILED) for state in states(nodes_by_name, nodes).values())


def result_problems(nodes_by_name, wanted, nodes, timeout, namespace, selector):
    """One message per node of ``nodes`` whose MIG manager did not report success for its
    config, saying what to read and that a rerun tries again."""
    problems = []
    for node, state in sorted(states(nodes_by_name, nodes).items()):
        if state == SUCCESS:
            continue
        problems.append(
            "%s: %s is '%s' %s '%s'. Read the log of the MIG manager on "
            "that node (kubectl -n %s get pods -l %s --field-selector spec.nodeName=%s, then "
            "kubectl logs); %s* labels left at %s mean it "
            "stopped half-way. Running the role again restarts it on the node to apply '%s' again."
            % (node, STATE_LABEL, state or "unset", "for" if state == FAILED else "after %ss for" % timeout,
               wanted[node], namespace, selector, node, DEPLOY_LABEL_PREFIX, PAUSED_FOR_MIG_CHANGE,
               wanted[node]))
    return problems


def unsettled_problems(nodes_by_name, old, nodes, timeout, namespace, selector):
    """For restarted nodes whose label is about to change: one message per node whose new
    MIG manager pod did not report on the old config in time."""
    return ["%s: the new MIG manager pod set no %s for '%s' in %ss "
            "(kubectl -n %s get pods -l %s --field-selector spec.nodeName=%s); the node keeps '%s'."
            % (node, STATE_LABEL, old[node], timeout, namespace, selector, node, old[node])
            for node, state in sorted(states(nodes_by_name, nodes).items())
            if state not in (SUCCESS, FAILED)]


def stop_rollout(failed, size, max_fail_percentage):
    """Whether ``failed`` nodes of a batch of ``size`` are more than ``max_fail_percentage``
    percent of it (0: any failure stops the roll-out)."""
    return int(failed) * 100 > int(max_fail_percentage) * int(size)


def wait_for(read, done, timeout, delay, clock, sleep):
    """``read()`` until ``done(value)``, every ``delay`` seconds for up to ``timeout`` seconds
    (at least once); the last value. ``clock`` (seconds, monotonic) and ``sleep`` are
    ``time.monotonic`` and ``time.sleep`` outside the tests."""
    deadline = clock() + max(0, int(timeout))
    while True:
        value = read()
        left = deadline - clock()
        if done(value) or left <= 0:
            return value
        sleep(min(max(1, int(delay)), left))
