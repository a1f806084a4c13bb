# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the GPU Operator that a Helm release installed is ready, and when it is not, what
a person should read first: the operator Deployment's conditions and pods, the
ClusterPolicy's ``status.state`` and the conditions that explain it, the operand DaemonSets
that are not ready.

The ClusterPolicy's status is its controller's (github.com/NVIDIA/gpu-operator,
controllers/clusterpolicy_controller.go and internal/conditions): ``state`` ready or
notReady, condition ``Ready`` True when ready, ``Error`` True with a reason otherwise.

Each function takes resources as kubernetes.core.k8s_info returns them (a list, empty when
the object does not exist). Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

READY = "ready"
NO_STATE = "unset (no operator controller has reported yet)"


def _first(resources):
    return (resources or [None])[0]


def _conditions(resource):
    return ((resource or {}).get("status") or {}).get("conditions") or []


def deployment_available(deployments):
    """Whether the operator Deployment exists and reports condition Available True."""
    return any(condition.get("type") == "Available" and condition.get("status") == "True"
               for condition in _conditions(_first(deployments)))


def deployment_problem(deployments, pods, namespace, name, timeout):
    """Why the operator Deployment is not Available ('' when it is), with its pods."""
    if deployment_available(deployments):
        return ""
    deployment = _first(deployments)
    why = ("; ".join(condition.get("message") for condition in _conditions(deployment)
                     if condition.get("message"))
           if deployment else "it does not exist")
    listed = ", ".join("%s %s" % ((pod.get("metadata") or {}).get("name"),
                                  (pod.get("status") or {}).get("phase"))
                       for pod in pods or []) or "none"
    return "Deployment %s/%s is not Available after %ss (%s). Its pods: %s" % (
        namespace, name, timeout, why, listed)


def policy_state(policies, name):
    """The ClusterPolicy's status.state, or why there is none."""
    policy = _first(policies)
    if policy is None:
        return "(no ClusterPolicy %s: did the chart deploy it? clusterPolicy.deployCR)" % name
    return ((policy.get("status") or {}).get("state")) or NO_STATE


def policy_problem(policies, daemonsets, name, timeout):
    """Why the ClusterPolicy is not ready ('' when it is): its state, the conditions that
    say why (Ready not True, any other True), the operand DaemonSets not ready."""
    state = policy_state(policies, name)
    if state == READY:
        return ""
    notes = ["; %s: %s %s" % (condition.get("type"), condition.get("reason") or "",
                              condition.get("message") or "")
             for condition in _conditions(_first(policies))
             if (condition.get("type") == "Ready") != (condition.get("status") == "True")]
    lagging = []
    for daemonset in daemonsets or []:
        status = daemonset.get("status") or {}
        ready, desired = status.get("numberReady") or 0, status.get("desiredNumberScheduled") or 0
        if ready < desired:
            lagging.append("%s (%d/%d ready)" % (daemonset["metadata"]["name"], ready, desired))
    return "ClusterPolicy %s is not ready after %ss: status.state is %s%s. Operand DaemonSets not ready: %s" % (
        name, timeout, state, "".join(notes), ", ".join(lagging) or "none")
