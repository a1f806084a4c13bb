# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the device plugin filters (a thin layer over module_utils/device_plugin_config)."""

from ansible_collections.fractional.gpu.plugins.filter import (
    device_plugin_node_problems,
    device_plugin_plan,
    device_plugin_problems,
    device_plugin_rollout_pending,
)

FILTERS = {}
for _module in (device_plugin_problems, device_plugin_plan, device_plugin_node_problems, device_plugin_rollout_pending):
    FILTERS.update(_module.FilterModule().filters())
POOLS = [{"name": "l40s", "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}]
NODE = {"metadata": {"name": "n",
                     "labels": {"fractional.gpu/pool": "l40s", "nvidia.com/gpu.count": "1",
                                "nvidia.com/gpu.product": "NVIDIA-L40S"}},
        "status": {"allocatable": {"nvidia.com/gpu": "1"}}}


def test_the_filters_are_registered():
    assert set(FILTERS) == {"device_plugin_problems", "device_plugin_plan", "device_plugin_node_problems",
                            "device_plugin_rollout_pending"}


def test_problems():
    assert FILTERS["device_plugin_problems"](POOLS, "default") == []
    assert FILTERS["device_plugin_problems"]([{"name": "x", "resources": []}])


def test_plan_carries_the_configmap_data():
    plan = FILTERS["device_plugin_plan"](POOLS, [NODE], "fractional.gpu/pool", "default")
    assert plan["changes"] == [{"node": "n", "value": "l40s"}]
    assert set(plan["data"]) == {"default", "l40s"}
    assert "replicas: 4" in plan["data"]["l40s"]
    assert plan["sharing"] is True


def test_plan_removes_a_key_only_after_the_labels():
    existing = {"default": "d", "l40s": "old", "other": "theirs"}
    plan = FILTERS["device_plugin_plan"]([{"name": "l40s", "sharing": False}], [NODE], "fractional.gpu/pool",
                                         "default", "single", existing)
    assert set(plan["data_before_labels"]) == {"default", "l40s", "other"}
    assert set(plan["data"]) == {"default", "other"} and plan["sharing"] is True
    plan = FILTERS["device_plugin_plan"]([{"name": "l40s", "sharing": False}], [NODE], "fractional.gpu/pool",
                                         "default", "single", {"default": "d", "l40s": "old"})
    assert plan["sharing"] is False


def test_plan_restarts_only_the_nodes_of_pools_in_scope_whose_config_changed():
    def node(name, pool):
        return {"metadata": {"name": name, "labels": {"fractional.gpu/pool": pool, "nvidia.com/gpu.present": "true",
                                                      "nvidia.com/device-plugin.config": pool}}}
    nodes = [node("a", "l40s"), node("b", "h100")]
    first = FILTERS["device_plugin_plan"](POOLS + [{"name": "h100", "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}],
                                          nodes, "fractional.gpu/pool", "default", "mixed", {})
    # A run over the l40s pool alone with another config: h100's key and node stay as they are.
    three = [{"name": "l40s", "resources": [{"name": "nvidia.com/gpu", "replicas": 3}]}]
    plan = FILTERS["device_plugin_plan"](three, nodes, "fractional.gpu/pool", "default", "mixed", first["data"])
    assert plan["restarts"] == ["a"]
    assert plan["data"]["h100"] == first["data"]["h100"] and plan["changes"] == []
    assert FILTERS["device_plugin_plan"](three, nodes, "fractional.gpu/pool", "default", "mixed",
                                         plan["data"])["restarts"] == []


def test_node_problems():
    problems = FILTERS["device_plugin_node_problems"]([NODE], POOLS, {"n": "l40s"})
    assert any("expected 4 (1 x 4 replicas)" in p for p in problems)
    assert FILTERS["device_plugin_node_problems"]([NODE], POOLS, {"n": None}) == []


def test_rollout_pending():
    daemonset = {"metadata": {"name": "gpu-feature-discovery", "namespace": "gpu-operator", "generation": 1},
                 "spec": {"template": {"spec": {"containers": [{"name": "gpu-feature-discovery"}]}}},
                 "status": {"observedGeneration": 1, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1,
                            "numberAvailable": 1}}
    assert FILTERS["device_plugin_rollout_pending"]([daemonset], "") == []
    assert FILTERS["device_plugin_rollout_pending"]([daemonset], "cfg")
