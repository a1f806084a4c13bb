# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG in operator mode for many nodes at once: checks, the MIG manager's actions, batches,
waits and what it reported."""

from ansible_collections.fractional.gpu.plugins.module_utils.mig_operator import (
    as_nodes,
    batch_steps,
    check_problems,
    configmap_time,
    decide,
    mig_labels,
    policy_problem,
    reported,
    result_problems,
    rollout_problem,
    stop_rollout,
    unsettled_problems,
    wait_for,
)

CONFIG = {"version": "v1", "mig-configs": {
    "balanced": [{"device-filter": "0x20B010DE", "devices": "all", "mig-enabled": True,
                  "mig-devices": {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2}}],
    "impossible": [{"device-filter": "0x20B010DE", "devices": "all", "mig-enabled": True,
                    "mig-devices": {"3g.20gb": 3}}]}}
A100 = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB", "nvidia.com/gpu.count": "4"}


def node(name, **labels):
    return {"metadata": {"name": name, "labels": dict(A100, **labels)}}


def pod(name, node_name, created="2026-01-01T10:00:00Z", deleting=False):
    metadata = {"name": name, "creationTimestamp": created}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T11:00:00Z"
    return {"metadata": metadata, "spec": {"nodeName": node_name}}


def by_name(*nodes):
    return dict((n["metadata"]["name"], n) for n in nodes)


def test_checks_from_the_host_plan_or_the_labels_name_each_node():
    nodes = by_name(node("a"), node("b"), node("c"))
    wanted = {"a": "impossible", "b": "balanced", "c": "balanced", "ghost": "balanced"}
    plans = {"c": {"msg": "invalid MIG configuration 'balanced' for this host"}}
    problems = check_problems(nodes, wanted, plans, CONFIG)
    assert problems[0].startswith("a: invalid MIG configuration for its GPUs as GPU feature discovery "
                                  "labels them (NVIDIA-A100-SXM4-40GB x 4)")
    assert "\n- " in problems[0]
    assert problems[1] == "c: invalid MIG configuration 'balanced' for this host"
    assert problems[2] == "no Kubernetes node named ghost" and len(problems) == 3
    assert check_problems(nodes, {"b": "balanced"}, {"b": {"changed_gpus": []}}, CONFIG) == []
    assert "was the host reached" in check_problems(nodes, {"b": "balanced"}, {"b": None}, CONFIG)[0]


NOW = "2026-01-01T12:00:00Z"


def test_each_node_gets_the_action_its_state_needs():
    nodes = by_name(
        node("done", **{"nvidia.com/mig.config": "balanced", "nvidia.com/mig.config.state": "success"}),
        node("busy", **{"nvidia.com/mig.config": "balanced", "nvidia.com/mig.config.state": "pending"}),
        node("failed", **{"nvidia.com/mig.config": "balanced", "nvidia.com/mig.config.state": "failed"}),
        node("new", **{"nvidia.com/mig.config": "all-disabled", "nvidia.com/mig.config.state": "success"}),
        node("drifted", **{"nvidia.com/mig.config": "balanced", "nvidia.com/mig.config.state": "success"}),
        node("nopod"))
    wanted = dict.fromkeys(nodes, "balanced")
    pods = [pod("p-" + name, name) for name in nodes if name != "nopod"] + [pod("old", "new", deleting=True)]
    plans = {"drifted": {"changed_gpus": [0]}, "done": {"changed_gpus": []}}
    decision = decide(nodes, wanted, pods, plans, "2026-01-01T09:00:00Z", NOW, 120)
    assert decision["actions"] == {"done": "none", "busy": "wait", "failed": "restart",
                                   "new": "relabel", "drifted": "restart"}
    assert decision["pods"]["new"] == ["p-new"] and decision["old"]["new"] == "all-disabled"
    assert decision["problems"][0].startswith("nopod: no MIG manager pod (app=nvidia-mig-manager) runs on it")


def test_a_configmap_changed_after_the_pod_started_and_so_recently_restarts_it_first():
    nodes = by_name(node("new", **{"nvidia.com/mig.config": "all-disabled"}),
                    node("same", **{"nvidia.com/mig.config": "balanced", "nvidia.com/mig.config.state": "success"}))
    wanted = dict.fromkeys(nodes, "balanced")
    pods = [pod("p-new", "new"), pod("p-same", "same")]
    recent = decide(nodes, wanted, pods, {}, "2026-01-01T11:59:00Z", NOW, 120)
    assert recent["actions"] == {"new": "restart-relabel", "same": "restart"}
    long_ago = decide(nodes, wanted, pods, {}, "2026-01-01T11:00:00Z", NOW, 120)
    assert long_ago["actions"] == {"new": "relabel", "same": "none"}
    # Planned on the host, GPUs that match are proof enough.
    checked = decide(nodes, wanted, pods, {"same": {"changed_gpus": []}}, "2026-01-01T11:59:00Z", NOW, 120)
    assert checked["actions"]["same"] == "none"


def test_batches_hold_only_the_nodes_that_need_the_mig_manager():
    decision = {"actions": {"a": "none", "b": "relabel", "c": "restart", "d": "restart-relabel", "e": "wait"},
                "old": {"b": "x", "c": "balanced", "d": "x", "e": "balanced"},
                "pods": {"c": ["pc"], "d": ["pd"]}, "problems": []}
    wanted = dict.fromkeys("abcde", "balanced")
    steps = batch_steps(decision, wanted, 2)
    assert [s["nodes"] for s in steps] == [["b", "c"], ["d", "e"]]
    assert steps[0]["restart"] == ["c"] and steps[0]["pods"] == ["pc"] and steps[0]["settle"] == []
    assert steps[0]["config_labels"] == {"b": {"nvidia.com/mig.config": "balanced",
                                               "nvidia.com/mig.config.state": None}}
    assert steps[1]["settle"] == ["d"] and steps[1]["clear_labels"] == {"d": {"nvidia.com/mig.config.state": None}}
    assert steps[1]["lines"][0] == "d: restart-relabel ('x' -> 'balanced')"
    assert steps[0]["index"] == 1 and steps[1]["count"] == 2
    assert batch_steps(dict(decision, actions={"a": "none"}), wanted, 1) == []


def test_what_the_mig_manager_reported():
    nodes = by_name(node("ok", **{"nvidia.com/mig.config.state": "success"}),
                    node("bad", **{"nvidia.com/mig.config.state": "failed"}), node("slow"))
    assert reported(nodes, ["ok", "bad"]) and not reported(nodes, ["ok", "slow"])
    problems = result_problems(nodes, dict.fromkeys(nodes, "small"), list(nodes), 120, "gpu-operator",
                               "app=nvidia-mig-manager")
    assert problems[0].startswith("bad: nvidia.com/mig.config.state is 'failed' for 'small'.")
    assert problems[1].startswith("slow: nvidia.com/mig.config.state is 'unset' after 120s for 'small'.")
    assert len(problems) == 2
    assert unsettled_problems(nodes, {"slow": "x"}, ["slow"], 120, "ns", "sel")[0].startswith(
        "slow: the new MIG manager pod set no nvidia.com/mig.config.state for 'x' in 120s")


CM = "fractional-gpu-mig-parted-config"


def policy(**manager):
    return {"metadata": {"name": "cluster-policy"}, "spec": {"migManager": manager}}


def test_the_cluster_policy_check_says_which_of_three_things_is_wrong():
    assert policy_problem(None, CM, True) == (
        "There is no ClusterPolicy cluster-policy: install the GPU Operator first "
        "(fractional.gpu.gpu_operator); the MIG role changed nothing.")
    assert policy_problem(policy(enabled=False), CM, True) == (
        "ClusterPolicy cluster-policy disables the MIG manager (spec.migManager.enabled is false); "
        "the MIG role changed nothing.")
    assert policy_problem(policy(enabled="false"), CM, True).startswith("ClusterPolicy cluster-policy disables")
    assert policy_problem(policy(config={"name": "other"}), CM, False) == (
        "ClusterPolicy cluster-policy names ConfigMap other for the MIG manager, not %s "
        "(mig_operator_patch_cluster_policy is false); the MIG role changed nothing." % CM)
    assert "names ConfigMap none for" in policy_problem(policy(), CM, False)
    # The role patches the ClusterPolicy itself, or it names the ConfigMap already.
    assert policy_problem(policy(), CM, True) is None
    assert policy_problem(policy(enabled=True, config={"name": CM}), CM, False) is None
    assert policy_problem({"spec": {}}, CM, True) is None


def daemonset(configmap=CM, generation=2, observed=2, desired=2, updated=2, available=2):
    return {"metadata": {"generation": generation},
            "spec": {"template": {"spec": {"volumes": [
                {"name": "driver-install-dir", "hostPath": {"path": "/run/nvidia/driver"}},
                {"name": "mig-parted-config", "configMap": {"name": configmap}}]}}},
            "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                       "updatedNumberScheduled": updated, "numberAvailable": available}}


def test_the_mig_manager_rolled_out_only_when_every_pod_runs_the_new_template():
    assert rollout_problem(daemonset(), CM, "gpu-operator", "nvidia-mig-manager", 120) is None
    assert rollout_problem(None, CM, "gpu-operator", "nvidia-mig-manager", 120) == (
        "There is no DaemonSet gpu-operator/nvidia-mig-manager after 120s: the GPU Operator has not "
        "deployed its MIG manager")
    assert rollout_problem(daemonset(configmap="default-mig-parted-config"), CM, "gpu-operator",
                           "nvidia-mig-manager", 120) == (
        "DaemonSet gpu-operator/nvidia-mig-manager mounts ConfigMap default-mig-parted-config and has "
        "2 updated, 2 available of 2 pods after 120s; it should mount %s with every pod updated and "
        "available" % CM)
    for waiting in (daemonset(observed=1), daemonset(updated=1), daemonset(available=1)):
        assert rollout_problem(waiting, CM, "ns", "ds", 5) is not None
    bare = {"metadata": {"generation": 1}, "spec": {}, "status": {}}
    assert "mounts ConfigMap none and has 0 updated, 0 available of 0 pods" in rollout_problem(
        bare, CM, "ns", "ds", 5)


def test_the_configmap_changed_at_its_newest_managed_field():
    written = {"metadata": {"managedFields": [{"manager": "a", "time": "2026-01-01T10:00:00Z"},
                                              {"manager": "b", "time": "2026-01-01T11:00:00Z"},
                                              {"manager": "c"}]}}
    assert configmap_time(written) == "2026-01-01T11:00:00Z"
    assert configmap_time({}) == configmap_time(None) == ""


def test_the_labels_carried_from_the_check_are_what_decide_reads():
    nodes = by_name(node("a", **{"nvidia.com/mig.config": "x", "nvidia.com/mig.config.state": "success"}),
                    node("b"))
    labels = mig_labels(nodes, ["a", "b", "ghost"])
    assert labels == {"a": {"nvidia.com/mig.config": "x", "nvidia.com/mig.config.state": "success"}, "b": {}}
    wanted = {"a": "x", "b": "x"}
    pods = [pod("pa", "a"), pod("pb", "b")]
    assert decide(as_nodes(labels), wanted, pods, {}, "", NOW, 120) == decide(nodes, wanted, pods, {}, "", NOW, 120)


def test_a_batch_stops_the_roll_out_past_the_share_that_may_fail():
    assert not stop_rollout(0, 3, 0) and stop_rollout(1, 3, 0)
    assert not stop_rollout(1, 4, 25) and stop_rollout(2, 4, 25)
    assert not stop_rollout(3, 3, 100)


class Clock:
    """Seconds that pass only when the code sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_wait_reads_every_delay_until_done_or_the_time_is_up():
    clock = Clock()
    values = iter(range(100))
    assert wait_for(lambda: next(values), lambda value: value == 3, 60, 5, clock, clock.sleep) == 3
    assert clock.sleeps == [5, 5, 5]
    clock = Clock()
    last = wait_for(lambda: "pending", lambda value: False, 12, 5, clock, clock.sleep)
    # Reads at 0, 5, 10 and 12: the last read is at the timeout, and its value is returned.
    assert last == "pending" and clock.sleeps == [5, 5, 2] and clock.now == 12
    clock = Clock()
    assert wait_for(lambda: "x", lambda value: False, 0, 5, clock, clock.sleep) == "x"
    assert clock.sleeps == []
