# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host mode on a real node: cordon ownership, the operator's operands, its MIG manager."""

import json

from ansible_collections.fractional.gpu.plugins.module_utils.mig_host import (
    MARK,
    PAUSED,
    operand_pods_left,
    plan_change,
    plan_finish,
    read_mark,
)

POLICY = {"spec": {"migManager": {"enabled": True}}}
PLUGIN = "nvidia.com/gpu.deploy.device-plugin"
GFD = "nvidia.com/gpu.deploy.gpu-feature-discovery"
DCGM = "nvidia.com/gpu.deploy.dcgm-exporter"
MANAGER = "nvidia.com/gpu.deploy.mig-manager"


def node(unschedulable=False, labels=None, mark=None):
    annotations = {MARK: json.dumps(mark) if isinstance(mark, dict) else mark} if mark else {}
    return {"metadata": {"name": "gpu-h100-0", "labels": dict(labels or {}), "annotations": annotations},
            "spec": {"unschedulable": True} if unschedulable else {}}


def test_a_schedulable_node_is_cordoned_by_the_change_and_uncordoned_after():
    plan = plan_change(node(), None, "h100-mixed")
    assert plan["cordon"] and plan["pause"] == {} and plan["problems"] == []
    assert json.loads(plan["mark"]) == {"config": "h100-mixed", "cordoned": True, "paused": []}
    assert plan["record"] == {MARK: plan["mark"]}
    assert plan_finish(node(mark=json.loads(plan["mark"]))) == \
        {"pending": True, "restore": {}, "uncordon": True, "clear_record": {MARK: None}}


def test_an_administrators_cordon_survives():
    plan = plan_change(node(unschedulable=True), None, "h100-mixed")
    assert not plan["cordon"] and json.loads(plan["mark"])["cordoned"] is False
    assert plan_finish(node(unschedulable=True, mark=json.loads(plan["mark"])))["uncordon"] is False


def test_a_failed_drain_is_recognised_by_the_next_run():
    # The record was written before the drain; the node stayed cordoned.
    left = node(unschedulable=True, mark={"config": "h100-mixed", "cordoned": True, "paused": []})
    assert plan_change(left, None, "h100-mixed")["cordon"] is True
    assert plan_finish(left) == {"pending": True, "restore": {}, "uncordon": True, "clear_record": {MARK: None}}
    assert plan_finish(node()) == {"pending": False, "restore": {}, "uncordon": False, "clear_record": {}}


def test_operands_are_paused_as_the_mig_manager_does_and_restored():
    labels = {PLUGIN: "true", GFD: "true", DCGM: "false", MANAGER: "false"}
    plan = plan_change(node(labels=labels), POLICY, "h100-mixed")
    assert plan["pause"] == {PLUGIN: PAUSED, GFD: PAUSED}
    assert plan["paused"] == sorted([PLUGIN, GFD]) and plan["problems"] == []
    paused = node(unschedulable=True, labels=dict(labels, **plan["pause"]), mark=json.loads(plan["mark"]))
    assert plan_finish(paused)["restore"] == {PLUGIN: "true", GFD: "true"}


def test_without_the_operator_nothing_is_paused():
    assert plan_change(node(labels={PLUGIN: "true"}), None, "x")["pause"] == {}


def test_a_rerun_keeps_the_operands_an_earlier_run_paused():
    earlier = {"config": "x", "cordoned": True, "paused": [PLUGIN]}
    plan = plan_change(node(True, {PLUGIN: PAUSED, GFD: "true", MANAGER: "false"}, earlier), POLICY, "x")
    assert plan["pause"] == {GFD: PAUSED} and plan["paused"] == sorted([PLUGIN, GFD])


def test_host_mode_is_refused_where_the_operators_mig_manager_runs():
    for labels in ({MANAGER: "true"}, {}):
        problems = plan_change(node(labels=labels), POLICY, "x")["problems"]
        assert len(problems) == 1 and problems[0].startswith("gpu-h100-0: host mode refused")
        assert "mig_mode: operator" in problems[0] and "%s=false" % MANAGER in problems[0]
    assert plan_change(node(labels={MANAGER: "false"}), POLICY, "x")["problems"] == []
    disabled = {"spec": {"migManager": {"enabled": False}}}
    assert plan_change(node(labels={MANAGER: "true"}), disabled, "x")["problems"] == []


def test_a_record_that_is_not_ours_to_read_uncordons_nothing():
    assert read_mark(node(mark="h100-mixed")) == {"config": None, "cordoned": False, "paused": []}
    assert plan_finish(node(True, mark="garbage"))["uncordon"] is False


def test_operand_pods_left():
    pods = [{"metadata": {"name": "nvidia-device-plugin-daemonset-x", "labels": {"app": "nvidia-device-plugin-daemonset"},
                          "deletionTimestamp": "2026-01-01T00:00:00Z"}},
            {"metadata": {"name": "workload", "labels": {"app": "trainer"}}},
            {"metadata": {"name": "gfd-y", "labels": {"app": "gpu-feature-discovery"}}}]
    assert operand_pods_left(pods) == ["gfd-y", "nvidia-device-plugin-daemonset-x"]
    assert operand_pods_left([]) == []
