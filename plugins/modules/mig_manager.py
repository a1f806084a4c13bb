#!/usr/bin/python
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mig_manager
short_description: Read and decide the steps of MIG in operator mode (the GPU Operator's MIG manager)
version_added: 0.1.0
description:
  - The steps of the C(mig) role's operator mode that read the cluster and decide, one per
    O(step); it writes nothing (the role writes the ConfigMap, the ClusterPolicy patch, the
    node labels and deletes the MIG manager pods with other modules). The rules are in
    C(plugins/module_utils/mig_operator.py).
  - V(check) reads the GPU nodes and ClusterPolicy C(cluster-policy) once each and fails,
    before any change, when a node's GPUs cannot take its configuration (from its host's plan
    in O(plans), else its GPU feature discovery labels), or when the operator's MIG manager
    cannot read O(configmap). Returns RV(labels) for V(decide).
  - V(rollout) waits, up to O(timeout) seconds, until the MIG manager DaemonSet O(daemonset)
    mounts O(configmap) with every pod updated and available; fails naming what it saw.
  - V(decide) reads the MIG manager pods once and returns, per node, how the MIG manager
    must be asked (RV(decision)) and the nodes that need it in batches of O(serial)
    (RV(batches)); fails when no MIG manager runs on a node.
  - V(settle) waits, up to O(timeout) seconds, until the MIG manager reported
    (C(nvidia.com/mig.config.state) V(success) or V(failed)) on every node of O(nodes), the
    configurations in O(configs) being those the nodes' labels still name; fails naming
    each node without a report.
  - V(result) waits the same way for the configurations the nodes were labelled with and
    returns the nodes that did not get theirs (RV(problems)) and whether the roll-out stops
    (RV(stop), O(max_fail_percentage)); it does not fail itself.
author:
  - fractional.gpu contributors (@fractional-gpu)
options:
  step:
    description: The step to run.
    type: str
    required: true
    choices: [check, rollout, decide, settle, result]
  nodes:
    description:
      - V(check) and V(decide), node name to the MIG configuration it gets (a dict);
        V(settle) and V(result), the node names of the batch (a list).
    type: raw
  configs:
    description: V(settle) and V(result), node name to the configuration its label names.
    type: dict
    default: {}
  plans:
    description:
      - V(check) and V(decide), node name to its host's read-only plan (the result of
        M(fractional.gpu.mig_geometry) in check mode, null when it could not be made), for
        the nodes checked on the host.
    type: dict
    default: {}
  config:
    description: V(check), the mig-parted configuration.
    type: dict
    default: {}
  allow_no_match:
    description: V(check), accept a configuration that selects none of a node's GPUs.
    type: bool
    default: false
  configmap:
    description: The ConfigMap of MIG configurations (V(check), V(rollout)).
    type: str
  patch_cluster_policy:
    description: V(check), the role points the ClusterPolicy at O(configmap) itself.
    type: bool
    default: true
  labels:
    description: V(decide), the RV(labels) of V(check).
    type: dict
    default: {}
  configmap_object:
    description:
      - V(decide), the ConfigMap as its write returned it; the newest time of its managed
        fields is when its content last changed.
    type: dict
    default: {}
  configmap_sync:
    description: V(decide), seconds the kubelet may take to refresh a pod's copy of the ConfigMap.
    type: int
    default: 120
  serial:
    description: V(decide), nodes per batch.
    type: int
    default: 1
  max_fail_percentage:
    description: V(result), the share of the batch, in percent, that may fail before the roll-out stops.
    type: int
    default: 0
  namespace:
    description: The GPU Operator's namespace.
    type: str
    default: gpu-operator
  daemonset:
    description: The MIG manager DaemonSet.
    type: str
    default: nvidia-mig-manager
  selector:
    description: The label selector of the MIG manager pods.
    type: str
    default: app=nvidia-mig-manager
  timeout:
    description: Seconds to wait (V(rollout), V(settle), V(result)).
    type: int
    default: 900
  delay:
    description: Seconds between two reads while waiting.
    type: int
    default: 5
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - fractional.gpu.kubernetes
attributes:
  check_mode:
    description: Reads only, in every mode.
    support: full
  diff_mode:
    description: Writes nothing, so has nothing to show.
    support: none
seealso:
  - module: fractional.gpu.node_labels
"""

EXAMPLES = r"""
- name: Check every node's GPUs can take its MIG configuration
  fractional.gpu.mig_manager:
    step: check
    nodes: {gpu-a100-0: balanced}
    config: "{{ mig_config }}"
    configmap: fractional-gpu-mig-parted-config
  register: checked

- name: Decide how each node gets its MIG configuration
  fractional.gpu.mig_manager:
    step: decide
    nodes: {gpu-a100-0: balanced}
    labels: "{{ checked.labels }}"
    serial: 2
  register: decided
"""

RETURN = r"""
labels:
  description: V(check), per wanted node, its C(nvidia.com/mig.config) and C(.state) labels.
  returned: step is check
  type: dict
decision:
  description:
    - V(decide), C(actions) (node to V(none), V(wait), V(relabel), V(restart) or
      V(restart-relabel)), C(old) (node to its label now) and C(pods) (node to its MIG
      manager pods).
  returned: step is decide
  type: dict
batches:
  description:
    - V(decide), per batch C(index), C(count), C(nodes), C(restart), C(pods), C(settle),
      C(clear_labels), C(config_labels) and C(lines) (one per node, its action and the
      label change).
  returned: step is decide
  type: list
  elements: dict
problems:
  description: V(result), one message per node of the batch that did not get its configuration.
  returned: step is result
  type: list
  elements: str
stop:
  description: V(result), more than O(max_fail_percentage) of the batch failed.
  returned: step is result
  type: bool
"""

import time
from datetime import datetime, timezone

from ansible_collections.kubernetes.core.plugins.module_utils.ansiblemodule import (
    AnsibleModule,
)
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
    AUTH_ARG_SPEC,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)

from ansible_collections.fractional.gpu.plugins.module_utils import kube, mig_operator
from ansible_collections.fractional.gpu.plugins.module_utils.fleet_plan import nodes_by_name
from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import (
    CLUSTER_POLICY,
    CLUSTER_POLICY_GROUP,
    CLUSTER_POLICY_PLURAL,
    CLUSTER_POLICY_VERSION,
    GPU_NODES_SELECTOR as GPU_NODES,
)


def argument_spec():
    spec = dict(AUTH_ARG_SPEC)
    spec.update(
        step=dict(type="str", required=True, choices=["check", "rollout", "decide", "settle", "result"]),
        nodes=dict(type="raw"),
        configs=dict(type="dict", default={}),
        plans=dict(type="dict", default={}),
        config=dict(type="dict", default={}),
        allow_no_match=dict(type="bool", default=False),
        configmap=dict(type="str"),
        patch_cluster_policy=dict(type="bool", default=True),
        labels=dict(type="dict", default={}),
        configmap_object=dict(type="dict", default={}),
        configmap_sync=dict(type="int", default=120),
        serial=dict(type="int", default=1),
        max_fail_percentage=dict(type="int", default=0),
        namespace=dict(type="str", default="gpu-operator"),
        daemonset=dict(type="str", default="nvidia-mig-manager"),
        selector=dict(type="str", default="app=nvidia-mig-manager"),
        timeout=dict(type="int", default=900),
        delay=dict(type="int", default=5),
    )
    return spec


def utc_now():
    """The time now, as the API writes times: the clock ``decide`` gets."""
    return datetime.now(timezone.utc).strftime(mig_operator.TIME_FORMAT)


def check(module, api, params):
    nodes = nodes_by_name(kube.list_nodes(api["core"], GPU_NODES))
    problems = mig_operator.check_problems(nodes, params["nodes"], params["plans"] or {},
                                           params["config"], params["allow_no_match"])
    if problems:
        module.fail_json(msg="\n".join(problems))
    policy = kube.get_cluster_object(api["custom"], CLUSTER_POLICY_GROUP, CLUSTER_POLICY_VERSION,
                                     CLUSTER_POLICY_PLURAL, CLUSTER_POLICY)
    problem = mig_operator.policy_problem(policy, params["configmap"], params["patch_cluster_policy"])
    if problem:
        module.fail_json(msg=problem)
    return {"labels": mig_operator.mig_labels(nodes, params["nodes"])}


def rollout(module, api, params):
    # The wait is here rather than an `until` on the task: the module knows when the time is
    # up, and its message says what the last read saw.
    def read():
        return kube.get_daemonset(api["apps"], params["namespace"], params["daemonset"])

    def problem(daemonset):
        return mig_operator.rollout_problem(daemonset, params["configmap"], params["namespace"],
                                            params["daemonset"], params["timeout"])

    last = mig_operator.wait_for(read, lambda daemonset: problem(daemonset) is None,
                                 params["timeout"], params["delay"], time.monotonic, time.sleep)
    if problem(last):
        module.fail_json(msg=problem(last))
    return {}


def decide(module, api, params):
    pods = kube.list_pods(api["core"], params["namespace"], params["selector"])
    decision = mig_operator.decide(
        mig_operator.as_nodes(params["labels"]), params["nodes"], pods, params["plans"] or {},
        mig_operator.configmap_time(params["configmap_object"]), utc_now(),
        params["configmap_sync"], params["selector"])
    problems = decision.pop("problems")
    if problems:
        module.fail_json(msg="\n".join(problems), decision=decision)
    return {"decision": decision,
            "batches": mig_operator.batch_steps(decision, params["nodes"], params["serial"])}


def wait_reported(api, params):
    """The GPU nodes once the MIG manager reported on every node of the batch, or the time
    is up (inside the module, for the same reason as ``rollout``)."""
    return mig_operator.wait_for(
        lambda: nodes_by_name(kube.list_nodes(api["core"], GPU_NODES)),
        lambda nodes: mig_operator.reported(nodes, params["nodes"]),
        params["timeout"], params["delay"], time.monotonic, time.sleep)


def settle(module, api, params):
    problems = mig_operator.unsettled_problems(
        wait_reported(api, params), params["configs"], params["nodes"], params["timeout"],
        params["namespace"], params["selector"])
    if problems:
        module.fail_json(msg="\n".join(problems))
    return {}


def result(_module, api, params):
    problems = mig_operator.result_problems(
        wait_reported(api, params), params["configs"], params["nodes"], params["timeout"],
        params["namespace"], params["selector"])
    return {"problems": problems,
            "stop": mig_operator.stop_rollout(len(problems), len(params["nodes"]),
                                              params["max_fail_percentage"])}


STEPS = {"check": check, "rollout": rollout, "decide": decide, "settle": settle, "result": result}
# What the step's nodes option must be.
NODES_TYPE = {"check": dict, "decide": dict, "settle": list, "result": list}


def main():
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argument_spec(),
                              supports_check_mode=True)
    params = module.params
    step = params["step"]
    wanted_type = NODES_TYPE.get(step)
    if wanted_type and not isinstance(params["nodes"], wanted_type):
        module.fail_json(msg="step %s: nodes must be a %s, not %r"
                         % (step, "mapping of node name to configuration" if wanted_type is dict
                            else "list of node names", params["nodes"]))
    if step in ("check", "rollout") and not params["configmap"]:
        module.fail_json(msg="step %s needs configmap" % step)
    try:
        api = kube.apis(module)
        out = STEPS[step](module, api, params)
    except Exception as exc:  # pylint: disable=broad-except  # a failed read, said in one line
        module.fail_json(msg="step %s: reading the cluster failed (%s); the MIG role changed nothing"
                         % (step, kube.error_text(exc)))
    module.exit_json(changed=False, **out)


if __name__ == "__main__":
    main()
