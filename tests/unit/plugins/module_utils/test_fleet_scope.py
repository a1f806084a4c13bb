# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run covers, and so what it may write: fleet_hosts, --limit, pools, labels."""

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_scope import (
    discovery_pending,
    host_pool,
    pool_label_plan,
    resolve_scope,
)

INFO = {
    "gpu-h100-0": {"pool": "h100"}, "gpu-h100-1": {"pool": "h100"},
    "gpu-l40s-0": {"pool": "l40s"}, "gpu-a100-0": {"pool": "a100"},
    "bastion": {"pool": ""},
}
GPU = sorted(h for h, i in INFO.items() if i["pool"])


def test_a_hosts_pool_is_its_pool_group_or_pool_name():
    assert host_pool(["gpu_nodes", "pool_h100"]) == "h100"
    assert host_pool(["gpu_nodes", "pool_h100"], "custom") == "custom"
    assert host_pool(["gpu_nodes", "pool_"]) == ""
    assert host_pool(["pool_b", "pool_a"]) == "a"
    assert host_pool(None) == ""


def test_the_whole_fleet():
    scope = resolve_scope(GPU, list(INFO), INFO)
    assert scope["problems"] == [] and scope["complete"]
    assert scope["hosts"] == GPU
    assert scope["pools"]["h100"] == {"hosts": ["gpu-h100-0", "gpu-h100-1"], "node_selector": {},
                                      "settings": {}, "inputs": {}}
    assert scope["host_pools"]["gpu-l40s-0"] == "l40s"


def test_a_group_a_pattern_one_host_and_a_limit():
    assert resolve_scope(["gpu-h100-0", "gpu-h100-1"], list(INFO), INFO)["pools"].keys() == {"h100"}
    pattern = resolve_scope(["gpu-h100-0", "gpu-h100-1", "gpu-l40s-0"], list(INFO), INFO)
    assert sorted(pattern["pools"]) == ["h100", "l40s"] and not pattern["complete"]
    one = resolve_scope(["gpu-a100-0"], list(INFO), INFO)
    assert one["hosts"] == ["gpu-a100-0"] and one["problems"] == []
    # --limit narrows what fleet_hosts names.
    limited = resolve_scope(GPU, ["gpu-h100-1"], INFO, limit="gpu-h100-1")
    assert limited["hosts"] == ["gpu-h100-1"] and limited["pools"]["h100"]["hosts"] == ["gpu-h100-1"]


def test_a_scope_without_gpu_nodes_fails_naming_the_pattern_and_limit():
    scope = resolve_scope([], list(INFO), INFO, pattern="pool_b300")
    assert scope["problems"] == ["fleet_hosts 'pool_b300' matches no GPU node; a GPU node is a host of "
                                 "a pool_<name> group (or with pool_name set): nothing was changed"]
    limited = resolve_scope(["gpu-h100-0"], ["gpu-l40s-0"], INFO, pattern="pool_h100", limit="gpu-l40s-0")
    assert "fleet_hosts 'pool_h100' with --limit 'gpu-l40s-0' matches no GPU node" in limited["problems"][0]
    assert not limited["complete"]


def test_hosts_in_no_pool_are_refused():
    scope = resolve_scope(list(INFO), list(INFO), INFO, pattern="all")
    assert len(scope["problems"]) == 1 and "host(s) in no pool: bastion" in scope["problems"][0]


def test_a_pools_hosts_must_agree_on_its_platform_label():
    info = {"a": {"pool": "p", "node_selector": {"k": "1"}}, "b": {"pool": "p", "node_selector": {"k": "2"}}}
    assert "pool p: its hosts name different node selectors" in resolve_scope(["a", "b"], ["a", "b"], info)["problems"][0]


def test_a_pools_hosts_must_agree_on_its_settings():
    info = {"a": {"pool": "p", "settings": {"mig_mode": "host", "mig_config_name": "x"}},
            "b": {"pool": "p", "settings": {"mig_mode": "operator", "mig_config_name": "x"}},
            "c": {"pool": "q", "settings": {"pool_strategy": "kai"}}}
    scope = resolve_scope(list(info), list(info), info)
    assert scope["problems"] == [
        "pool p: its hosts set mig_mode differently (a and b); a pool's settings are its "
        "group's: set them once in the pool group's group_vars"]
    assert scope["pools"]["q"]["settings"] == {"pool_strategy": "kai"}


def node(name, labels=None):
    return {"metadata": {"name": name, "labels": labels or {}}}


def test_pool_labels_of_the_hosts_in_scope_only():
    scope = resolve_scope(["gpu-h100-0", "gpu-h100-1"], list(INFO), INFO)
    nodes = [node("gpu-h100-0", {"fractional.gpu/pool": "h100"}), node("gpu-h100-1"),
             node("gpu-l40s-0")]
    plan = pool_label_plan(nodes, scope, "fractional.gpu/pool")
    assert plan == {"problems": [], "labels": {
        "gpu-h100-0": {"fractional.gpu/pool": "h100"}, "gpu-h100-1": {"fractional.gpu/pool": "h100"}}}


def test_pool_labels_problems():
    info = {"gke-a": {"pool": "l4", "node_selector": {"cloud.google.com/gke-nodepool": "l4-pool"}},
            "ghost": {"pool": "h100"}}
    scope = resolve_scope(list(info), list(info), info)
    plan = pool_label_plan([node("gke-a", {"cloud.google.com/gke-nodepool": "other"})], scope,
                           "fractional.gpu/pool")
    assert plan["labels"] == {}
    assert plan["problems"] == [
        "ghost (pool h100): no Kubernetes node of that name; the hosts of a pool group are node names",
        "gke-a (pool l4): the node lacks the pool's platform label "
        "cloud.google.com/gke-nodepool=l4-pool (it has other)"]


def test_discovery_names_each_node_and_what_it_lacks():
    discovered = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-L40S",
                  "nvidia.com/gpu.count": "1"}
    nodes = [node("a", discovered), node("b", {"feature.node.kubernetes.io/pci-10de.present": "true"}),
             node("c", {"nvidia.com/gpu.present": "true"})]
    assert discovery_pending(nodes, ["a", "b", "c", "d"]) == {
        "b": ["nvidia.com/gpu.present", "nvidia.com/gpu.product", "nvidia.com/gpu.count"],
        "c": ["nvidia.com/gpu.product", "nvidia.com/gpu.count"],
        "d": ["the node itself"]}
    assert discovery_pending(nodes, ["a"]) == {}
