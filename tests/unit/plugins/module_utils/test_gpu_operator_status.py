# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GPU Operator's readiness and what its failure says. The objects are shaped as NVIDIA's
operator and Kubernetes write them; scenario gpu_operator reads the same messages from the
real controller in the lab (a notReady ClusterPolicy, the operand named)."""

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_operator_status import (
    NO_STATE,
    deployment_available,
    deployment_problem,
    policy_problem,
    policy_state,
)

AVAILABLE = {"metadata": {"name": "gpu-operator"},
             "status": {"conditions": [{"type": "Available", "status": "True", "message": "ok"}]}}
STUCK = {"metadata": {"name": "gpu-operator"},
         "status": {"conditions": [
             {"type": "Available", "status": "False", "message": "Deployment does not have minimum availability."},
             {"type": "Progressing", "status": "True", "message": "ReplicaSet is progressing."}]}}
PENDING_POD = {"metadata": {"name": "gpu-operator-7d9f"}, "status": {"phase": "Pending"}}


def policy(state=None, conditions=()):
    status = {"conditions": list(conditions)}
    if state:
        status["state"] = state
    return {"metadata": {"name": "cluster-policy"}, "status": status}


def daemonset(name, ready, desired):
    return {"metadata": {"name": name}, "status": {"numberReady": ready, "desiredNumberScheduled": desired}}


def test_an_available_deployment_has_no_problem():
    assert deployment_available([AVAILABLE])
    assert deployment_problem([AVAILABLE], [PENDING_POD], "gpu-operator", "gpu-operator", 600) == ""


def test_a_stuck_deployment_says_why_and_lists_its_pods():
    assert not deployment_available([STUCK])
    assert deployment_problem([STUCK], [PENDING_POD], "ops", "gpu-operator", 600) == (
        "Deployment ops/gpu-operator is not Available after 600s (Deployment does not have minimum "
        "availability.; ReplicaSet is progressing.). Its pods: gpu-operator-7d9f Pending")


def test_a_missing_deployment_says_so():
    assert deployment_problem([], [], "ops", "gpu-operator", 4) == (
        "Deployment ops/gpu-operator is not Available after 4s (it does not exist). Its pods: none")


def test_a_ready_policy_has_no_problem():
    ready = policy("ready", [{"type": "Ready", "status": "True", "reason": "Reconciled"}])
    assert policy_state([ready], "cluster-policy") == "ready"
    assert policy_problem([ready], [daemonset("x", 0, 1)], "cluster-policy", 600) == ""


def test_a_not_ready_policy_names_the_conditions_that_explain_it_and_the_operands():
    not_ready = policy("notReady", [
        {"type": "Ready", "status": "False", "reason": "OperandNotReady", "message": "device plugin"},
        {"type": "Error", "status": "True", "reason": "ReconcileFailed", "message": "boom"},
        {"type": "Error2", "status": "False", "reason": "quiet"}])
    operands = [daemonset("nvidia-device-plugin-daemonset", 1, 3), daemonset("gpu-feature-discovery", 3, 3)]
    assert policy_problem([not_ready], operands, "cluster-policy", 4) == (
        "ClusterPolicy cluster-policy is not ready after 4s: status.state is notReady"
        "; Ready: OperandNotReady device plugin; Error: ReconcileFailed boom. "
        "Operand DaemonSets not ready: nvidia-device-plugin-daemonset (1/3 ready)")


def test_a_policy_no_controller_reported_on_yet():
    assert policy_state([policy()], "cluster-policy") == NO_STATE
    assert policy_problem([policy()], [], "cluster-policy", 4).endswith(
        "status.state is %s. Operand DaemonSets not ready: none" % NO_STATE)


def test_no_policy_at_all_points_at_the_chart():
    assert "did the chart deploy it? clusterPolicy.deployCR" in policy_problem([], [], "cluster-policy", 4)
