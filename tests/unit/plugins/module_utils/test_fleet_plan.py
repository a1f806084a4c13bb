# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's plan, made once for every node in scope: pools resolved, the hosts that must be
reached, the summary's entries."""

import time

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_plan import (
    batches,
    mig_hosts,
    nvml_check,
    resolve_pools,
    summary_entries,
)
from ansible_collections.fractional.gpu.plugins.module_utils.fleet_scope import resolve_scope

POOL_LABEL = "fractional.gpu/pool"
DEFAULTS = {"pool_strategy": "auto", "pool_isolation": "none", "pool_workload": "inference",
            "pool_granularity": "", "pool_share_mig_devices": False,
            "pool_time_slicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}}
MIG_DEFAULTS = {"mig_mode": "host", "mig_operator_host_checks": True, "mig_validate": True,
                "validate_nvml_enabled": True}


def node(name, pool, product="NVIDIA-H100-80GB-HBM3", count=8, **labels):
    return {"metadata": {"name": name, "labels": dict({
        POOL_LABEL: pool, "nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": product,
        "nvidia.com/gpu.count": str(count)}, **labels)}}


def scope_of(info):
    return resolve_scope(list(info), list(info), info)


INFO = {
    "h100-0": {"pool": "h100", "settings": {"pool_strategy": "mig", "mig_config_name": "h100-mixed"}},
    "h100-1": {"pool": "h100", "settings": {"pool_strategy": "mig", "mig_config_name": "h100-mixed"}},
    "a30-0": {"pool": "a30", "settings": {"pool_strategy": "mig", "mig_config_name": "halves",
                                          "mig_mode": "operator"}},
    "l40s-0": {"pool": "l40s", "settings": {"pool_strategy": "time_slicing", "pool_time_slicing": {
        "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}},
    "h200-0": {"pool": "h200", "settings": {"pool_workload": "training"}},
}
NODES = [node("h100-0", "h100"), node("h100-1", "h100"), node("a30-0", "a30", "NVIDIA-A30", 2),
         node("l40s-0", "l40s", "NVIDIA-L40S", 1), node("h200-0", "h200", "NVIDIA-H200", 8)]


def test_each_pool_resolved_once_from_its_settings_and_labels():
    plan = resolve_pools(NODES, scope_of(INFO), POOL_LABEL, DEFAULTS)
    assert plan["problems"] == []
    pools = plan["pools"]
    assert sorted(pools) == ["a30", "h100", "h200", "l40s"]
    assert pools["h100"]["strategy"] == "mig" and pools["h100"]["mig_config_name"] == "h100-mixed"
    assert pools["h100"]["hosts"] == ["h100-0", "h100-1"] and pools["h100"]["time_slicing"] == {}
    assert pools["h100"]["time_slicing_entry"] == {"name": "h100", "sharing": False}
    assert pools["l40s"]["time_slicing"] == {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}
    assert pools["l40s"]["time_slicing_entry"]["name"] == "l40s" and pools["l40s"]["mig_config_name"] is None
    assert pools["h200"]["strategy"] == "kai" and "training" in pools["h200"]["reasons"][0]
    assert pools["a30"]["gpu_product"] == "NVIDIA-A30" and pools["a30"]["gpu_count"] == 2
    assert pools["a30"]["node_selector"] == {POOL_LABEL: "a30"}
    assert plan["lines"][1] == "pool h100: mig on 2 node(s) (set in the inventory)"


def test_a_platform_selector_selects_and_goes_into_the_sharing_entry():
    info = {"gke-0": {"pool": "l4", "node_selector": {"cloud.google.com/gke-nodepool": "l4"},
                      "settings": {"pool_strategy": "time_slicing"}}}
    nodes = [node("gke-0", "x", "NVIDIA-L4", 1, **{"cloud.google.com/gke-nodepool": "l4"})]
    pool = resolve_pools(nodes, scope_of(info), POOL_LABEL, DEFAULTS)["pools"]["l4"]
    assert pool["node_selector"] == {"cloud.google.com/gke-nodepool": "l4"}
    assert pool["time_slicing_entry"] == {"name": "l4", "node_selector": {"cloud.google.com/gke-nodepool": "l4"},
                                          "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}


def test_problems_name_the_host_and_nothing_is_resolved_for_them():
    info = dict(INFO, **{"ghost": {"pool": "h100", "settings": INFO["h100-0"]["settings"]},
                         "odd": {"pool": "l40s", "settings": INFO["l40s-0"]["settings"]},
                         "x-0": {"pool": "x", "settings": {"pool_strategy": "bogus"}},
                         "l4-0": {"pool": "l4", "settings": {"pool_isolation": "memory"}}})
    nodes = NODES + [node("odd", "other", "NVIDIA-L40S", 1), node("x-0", "x"),
                     node("l4-0", "l4", "NVIDIA-L40S", 1)]
    plan = resolve_pools(nodes, scope_of(info), POOL_LABEL, DEFAULTS)
    problems = "\n".join(plan["problems"])
    assert "no GPU node named ghost in the cluster" in problems
    assert "odd is in pool l40s in the inventory but its node lacks the label fractional.gpu/pool=l40s" in problems
    assert "pool x: pool_strategy 'bogus' is not one of" in problems
    assert "pool l4: " in problems and "MIG" in problems
    assert "x" not in plan["pools"] and "l4" not in plan["pools"] and "h100" in plan["pools"]


def test_the_hosts_each_per_host_play_reaches():
    scope = scope_of(INFO)
    pools = resolve_pools(NODES, scope, POOL_LABEL, DEFAULTS)["pools"]
    hosts = mig_hosts(pools, scope, MIG_DEFAULTS)
    assert hosts == {"host": ["h100-0", "h100-1"], "operator": {"a30-0": "halves"},
                     "operator_checks": ["a30-0"], "validate": ["a30-0"],
                     "nvml": ["a30-0", "h100-0", "h100-1"]}
    off = dict(INFO, **{"a30-0": {"pool": "a30", "settings": dict(
        INFO["a30-0"]["settings"], mig_operator_host_checks="false", validate_nvml_enabled=False)}})
    hosts = mig_hosts(resolve_pools(NODES, scope_of(off), POOL_LABEL, DEFAULTS)["pools"],
                      scope_of(off), MIG_DEFAULTS)
    assert hosts["operator"] == {"a30-0": "halves"} and hosts["operator_checks"] == []
    assert hosts["nvml"] == ["h100-0", "h100-1"]


def test_batches_roll_in_order():
    assert batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert batches(["a", "b"], 0) == [["a"], ["b"]]
    assert batches([], 5) == []


def test_summary_entries_for_the_hosts_still_in_the_run():
    pools = resolve_pools(NODES, scope_of(INFO), POOL_LABEL, DEFAULTS)["pools"]
    hosts = sorted(INFO)
    alive = [h for h in hosts if h != "h100-1"]
    nvml = {"h100-0": {"report": {"ok": True}}, "a30-0": {"unreachable": True}}
    entries = summary_entries(pools, hosts, alive, nvml)
    assert "h100-1" not in entries
    assert entries["h100-0"] == {"pool": "h100", "strategy": "mig", "mig_config_name": "h100-mixed",
                                 "time_slicing": {}, "checks": {"nvml": True}}
    assert entries["a30-0"]["checks"] == {"nvml": "not checked: the host is unreachable"}
    assert entries["l40s-0"]["checks"] == {} and entries["l40s-0"]["time_slicing"]["resources"][0]["replicas"] == 4
    assert nvml_check({"report": {"ok": False}}) is False and nvml_check({"msg": "boom"}) is False


def test_a_thousand_nodes_resolve_in_a_blink():
    """The plan is lookups by name: linear in the fleet, not quadratic."""
    info = {"n%d" % i: {"pool": "scale", "settings": {"pool_strategy": "time_slicing"}} for i in range(2000)}
    nodes = [node("n%d" % i, "scale") for i in range(2000)]
    started = time.monotonic()
    scope = scope_of(info)
    pools = resolve_pools(nodes, scope, POOL_LABEL, DEFAULTS)["pools"]
    summary_entries(pools, scope["hosts"], scope["hosts"])
    assert len(pools["scale"]["hosts"]) == 2000
    assert time.monotonic() - started < 2.0
