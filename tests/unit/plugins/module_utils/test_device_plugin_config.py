# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/device_plugin_config.py: the device plugin's rules."""

import pytest
import yaml

from ansible_collections.fractional.gpu.plugins.module_utils import device_plugin_config as dpc

POOL_LABEL = "fractional.gpu/pool"


def pool(**kw):
    base = {"name": "l40s", "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}
    base.update(kw)
    return base


def node(name, pool_name=None, count=1, product="NVIDIA-L40S", allocatable=None, labels=None):
    meta_labels = {"nvidia.com/gpu.count": str(count), "nvidia.com/gpu.product": product}
    if pool_name:
        meta_labels[POOL_LABEL] = pool_name
    meta_labels.update(labels or {})
    return {"metadata": {"name": name, "labels": meta_labels},
            "status": {"allocatable": allocatable if allocatable is not None else {"nvidia.com/gpu": str(count)}}}


# --- validation ---------------------------------------------------------------------------

def test_a_valid_pool_has_no_problem():
    assert dpc.config_problems([pool(), pool(name="a100", resources=[{"name": "nvidia.com/gpu", "replicas": 2}])]) == []


@pytest.mark.parametrize("replicas", [1, 0, -3])
def test_replicas_below_two_are_refused(replicas):
    problems = dpc.config_problems([pool(resources=[{"name": "nvidia.com/gpu", "replicas": replicas}])])
    assert len(problems) == 1 and "requires >= 2" in problems[0] and "pool l40s" in problems[0]


@pytest.mark.parametrize("replicas", ["4", 2.5, True, None])
def test_replicas_must_be_an_integer(replicas):
    problems = dpc.config_problems([pool(resources=[{"name": "nvidia.com/gpu", "replicas": replicas}])])
    assert any("replicas must be an integer" in p for p in problems)


@pytest.mark.parametrize("resources", [[], None])
def test_empty_resources_are_refused(resources):
    problems = dpc.config_problems([pool(resources=resources)])
    assert any("no resources specified" in p for p in problems)


@pytest.mark.parametrize("name", ["nvidia.com/gpus", "amd.com/gpu", "nvidia.com/mig-9g.99gb", "gpus"])
def test_unknown_resources_are_refused(name):
    problems = dpc.config_problems([pool(resources=[{"name": name, "replicas": 2}])], mig_strategy="mixed")
    assert len(problems) == 1 and name in problems[0]


@pytest.mark.parametrize("bare, full", [("gpu", "nvidia.com/gpu"), ("mig-1g.10gb", "nvidia.com/mig-1g.10gb")])
def test_a_bare_name_is_the_resource_the_plugin_prefixes(bare, full):
    given = pool(resources=[{"name": bare, "replicas": 3}])
    assert dpc.config_problems([given], mig_strategy="mixed") == []
    assert dpc.render_config(given, "mixed")["sharing"]["timeSlicing"]["resources"] == [{"name": full, "replicas": 3}]
    # Under the wrong strategy the problem names both: what was written and what it is.
    if bare != "gpu":
        problems = dpc.config_problems([given], mig_strategy="single")
        assert problems and all(full in p for p in problems)
    problems = dpc.config_problems([pool(resources=[{"name": bare, "replicas": 1}])], mig_strategy="mixed")
    assert problems == ["pool l40s: resources[0] (%s, i.e. %s): replicas is 1; the device plugin requires >= 2 "
                        "(turn sharing off with sharing: false instead)" % (bare, full)]
    twice = pool(resources=[{"name": bare, "replicas": 2}, {"name": full, "replicas": 2}])
    assert dpc.config_problems([twice], mig_strategy="mixed") == ["pool l40s: resource %s is listed twice" % full]


def test_a_plus_attribute_gets_a_hint():
    problems = dpc.config_problems([pool(resources=[{"name": "nvidia.com/mig-1g.10gb+me", "replicas": 2}])],
                                   mig_strategy="mixed")
    assert "advertised as '.'" in problems[0]


def test_mig_resources_need_the_clusters_mixed_strategy():
    resources = [{"name": "nvidia.com/mig-1g.10gb", "replicas": 2}, {"name": "nvidia.com/mig-1g.10gb.me", "replicas": 3}]
    assert dpc.config_problems([pool(resources=resources)], mig_strategy="mixed") == []
    for strategy in ("single", "none"):
        problems = dpc.config_problems([pool(resources=resources)], mig_strategy=strategy)
        assert len(problems) == 2, problems
        assert all("only under MIG strategy mixed" in p and "is %s" % strategy in p for p in problems)
    assert "share nvidia.com/gpu" in dpc.config_problems([pool(resources=resources)], mig_strategy="single")[0]


def test_mps_refuses_mig_resources_and_the_mixed_strategy():
    problems = dpc.config_problems([pool(strategy="mps", resources=[{"name": "nvidia.com/mig-1g.10gb", "replicas": 2}])],
                                   mig_strategy="mixed")
    assert len(problems) == 1 and "not supported with MPS" in problems[0] and "pool l40s" in problems[0]
    problems = dpc.config_problems([pool(strategy="mps", resources=[{"name": "nvidia.com/mig-1g.10gb", "replicas": 2}])],
                                   mig_strategy="single")
    assert any("MPS does not share MIG devices" in p for p in problems)
    assert dpc.config_problems([pool(strategy="mps")]) == []
    assert dpc.config_problems([pool(strategy="mps")], mig_strategy="single") == []
    assert "not supported with MPS" in dpc.config_problems([pool(strategy="mps")], mig_strategy="mixed")[0]


def test_mig_strategy_is_the_clusters_not_a_pools():
    problems = dpc.config_problems([pool(mig_strategy="mixed")], mig_strategy="single")
    assert len(problems) == 1
    assert "mig_strategy is not a pool setting" in problems[0] and "now single" in problems[0]
    assert "unknown" not in problems[0]
    assert "not one of" in dpc.config_problems([pool()], mig_strategy="some")[0]


def test_one_strategy_only():
    problems = dpc.config_problems([pool(strategy="timeSlicing+mps")])
    assert len(problems) == 1 and "only one of" in problems[0]


def test_rename_by_default_under_flags_is_refused():
    problems = dpc.config_problems([pool(flags={"renameByDefault": True})])
    assert len(problems) == 1 and "silently ignored" in problems[0] and "1433" in problems[0]
    assert "rename_by_default" in problems[0]


def test_unknown_and_nested_flags():
    assert dpc.config_problems([pool(flags={"gdrcopyEnabled": True, "nvidiaDriverRoot": "/run/nvidia/driver",
                                            "plugin": {"cdiAnnotationPrefix": "cdi.k8s.io/"}})]) == []
    problems = dpc.config_problems([pool(flags={"bogus": 1, "plugin": {"nope": 1}, "migStrategy": "mixed"})])
    assert len(problems) == 3
    assert any("flags.bogus" in p for p in problems)
    assert any("flags.plugin.nope" in p for p in problems)
    assert any("flags.migStrategy ('mixed') is overridden by the cluster's MIG strategy" in p for p in problems)


@pytest.mark.parametrize("flags, flag, variable", [
    ({"failOnInitError": False}, "flags.failOnInitError (False)", "FAIL_ON_INIT_ERROR=true"),
    ({"mpsRoot": "/var/mps"}, "flags.mpsRoot ('/var/mps')", "MPS_ROOT=/run/nvidia/mps"),
    ({"plugin": {"deviceIDStrategy": "index"}}, "flags.plugin.deviceIDStrategy ('index')", "DEVICE_ID_STRATEGY=uuid"),
    ({"plugin": {"passDeviceSpecs": False}}, "flags.plugin.passDeviceSpecs (False)", "PASS_DEVICE_SPECS=true"),
    ({"plugin": {"deviceListStrategy": "volume-mounts"}}, "flags.plugin.deviceListStrategy ('volume-mounts')",
     "DEVICE_LIST_STRATEGY=envvar"),
])
def test_flags_the_operator_sets_through_the_environment_are_refused(flags, flag, variable):
    problems = dpc.config_problems([pool(flags=flags)], mig_strategy=None)
    assert len(problems) == 1, problems
    assert problems[0].startswith("pool l40s: %s is overridden by the GPU Operator" % flag)
    assert variable in problems[0]


def test_mps_cannot_turn_off_fail_requests_greater_than_one():
    assert dpc.config_problems([pool(strategy="mps", fail_requests_greater_than_one=True)]) == []
    assert dpc.config_problems([pool(strategy="timeSlicing", fail_requests_greater_than_one=False)]) == []
    problems = dpc.config_problems([pool(strategy="mps", fail_requests_greater_than_one=False)])
    assert len(problems) == 1 and problems[0].startswith("pool l40s: fail_requests_greater_than_one false is overridden")


def test_ignored_rename_and_devices_are_refused():
    problems = dpc.config_problems([pool(resources=[{"name": "nvidia.com/gpu", "replicas": 2, "rename": "my-gpu", "devices": [0, 1]}])])
    assert len(problems) == 2
    assert any("rename 'my-gpu' is ignored" in p for p in problems)
    assert any("devices [0, 1] is ignored" in p for p in problems)


def test_the_one_rename_the_plugin_applies_is_accepted():
    resources = [{"name": "nvidia.com/gpu", "replicas": 2, "rename": "nvidia.com/gpu.shared", "devices": "all"}]
    assert dpc.config_problems([pool(rename_by_default=True, resources=resources)]) == []
    assert dpc.config_problems([pool(rename_by_default=False, resources=resources)]) != []


def test_every_problem_is_reported_at_once():
    pools = [pool(resources=[{"name": "nvidia.com/gpu", "replicas": 1}]),
             pool(name="a100", strategy="mps", resources=[]),
             pool(name="l40s"), pool(name="other", config_key="a100")]
    problems = dpc.config_problems(pools, mig_strategy="mixed")
    assert len(problems) == 5, problems
    assert any("replicas is 1" in p for p in problems)
    assert any("not supported with MPS" in p for p in problems)
    assert any("no resources specified" in p for p in problems)
    assert any("pool l40s: defined twice" in p for p in problems)
    assert any("pool other: config_key 'a100' is also used by pool a100" in p for p in problems)


def test_pool_names_keys_and_unknown_options():
    problems = dpc.config_problems([pool(config_key="bad key!"), pool(name="x", config_key="default", replica=2)],
                                   default_key="default")
    assert any("valid label value" in p for p in problems)
    assert any("reserved" in p for p in problems)
    assert any("unknown option 'replica'" in p for p in problems)


def test_the_default_key_must_be_a_label_value():
    assert any("default key 'no sharing'" in p for p in dpc.config_problems([pool()], default_key="no sharing"))


def test_a_pool_without_sharing_is_not_checked_further():
    assert dpc.config_problems([pool(sharing=False, resources=[], strategy="bogus")]) == []


def test_not_a_list():
    assert dpc.config_problems({"l40s": {}}) != []
    assert dpc.config_problems(["l40s"]) != []


# --- rendering ----------------------------------------------------------------------------

def test_render_time_slicing_matches_the_documented_layout():
    text = dpc.to_yaml(dpc.render_config(pool()))
    assert text == (
        "version: v1\n"
        "flags:\n"
        "  migStrategy: none\n"
        "sharing:\n"
        "  timeSlicing:\n"
        "    renameByDefault: false\n"
        "    failRequestsGreaterThanOne: false\n"
        "    resources:\n"
        "    - name: nvidia.com/gpu\n"
        "      replicas: 4\n"
    )


def test_render_mps_keeps_the_plugins_default_for_fail_requests():
    config = dpc.render_config(pool(strategy="mps"))
    assert config["sharing"] == {"mps": {"renameByDefault": False, "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}
    config = dpc.render_config(pool(strategy="mps", fail_requests_greater_than_one=True))
    assert config["sharing"]["mps"]["failRequestsGreaterThanOne"] is True


def test_rendered_yaml_parses_back_to_the_same_tree():
    pools = [pool(rename_by_default=True, flags={"plugin": {"deviceIDStrategy": "uuid"}},
                  resources=[{"name": "nvidia.com/gpu", "replicas": 3}, {"name": "nvidia.com/mig-1g.10gb.me", "replicas": 2}])]
    data = dpc.configmap_data(pools, "default", "mixed")
    assert set(data) == {"default", "l40s"}
    assert yaml.safe_load(data["l40s"]) == dpc.render_config(pools[0], "mixed")
    assert yaml.safe_load(data["l40s"])["flags"]["migStrategy"] == "mixed"
    assert yaml.safe_load(data["default"]) == {"version": "v1", "flags": {"migStrategy": "mixed"}}


def test_scalars_that_yaml_would_misread_are_quoted():
    assert yaml.safe_load(dpc.to_yaml({"a": "true", "b": "1.0", "c": "x y", "d": 'q"t', "e": {}, "f": []})) == \
        {"a": "true", "b": "1.0", "c": "x y", "d": 'q"t', "e": {}, "f": []}


class Tagged(str):
    """A str subclass, as Ansible hands a filter the strings of a template (data tagging)."""


class TaggedDict(dict):
    pass


def test_values_ansible_hands_over_are_written_as_plain_yaml():
    tagged = dpc.render_config(TaggedDict(pool(name=Tagged("l40s"), flags=TaggedDict({Tagged("failOnInitError"): True}),
                                               resources=[TaggedDict(name=Tagged("nvidia.com/gpu"), replicas=4)])),
                               Tagged("mixed"))
    plain = dpc.render_config(pool(flags={"failOnInitError": True}), "mixed")
    assert dpc.to_yaml(tagged) == dpc.to_yaml(plain)
    assert "!" not in dpc.to_yaml(tagged)


def test_pools_without_sharing_get_no_key():
    assert set(dpc.configmap_data([pool(sharing=False)], "default")) == {"default"}


def test_keys_of_pools_not_listed_stay_and_unshared_listed_pools_lose_theirs():
    existing = {"default": "old", "a100": "a100's config", "l40s": "old l40s", "h100": "h100's"}
    data = dpc.configmap_data([pool(), pool(name="h100", sharing=False)], "default", "none", existing)
    assert set(data) == {"default", "a100", "l40s"}
    assert data["a100"] == "a100's config"
    assert "replicas: 4" in data["l40s"] and "migStrategy: none" in data["default"]


def test_the_writes_are_patches_of_this_runs_keys_alone():
    existing = {"default": "d", "a100": "a100's config", "l40s": "old l40s", "h100": "h100's"}
    data = dpc.configmap_data([pool(), pool(name="h100", sharing=False)], "default", "none", existing)
    before = dict(existing, **data)
    first, second = dpc.configmap_patches(existing, before, data)
    # Only what changes: a100 (another run's pool) is in neither patch.
    assert set(first) == {"default", "l40s"} and "replicas: 4" in first["l40s"]
    assert second == {"h100": None}
    # Once in place, nothing to write.
    assert dpc.configmap_patches(data, data, data) == ({}, {})
    # A new ConfigMap: the first patch is all of it.
    assert dpc.configmap_patches({}, data, data) == (data, {})


# --- plan ---------------------------------------------------------------------------------

def test_plan_labels_pool_members_and_clears_the_rest():
    nodes = [node("l40s-0", "l40s"), node("a100-0", "a100", labels={dpc.CONFIG_LABEL: "a100"}),
             node("a100-1", "a100", labels={dpc.CONFIG_LABEL: "a100"}), node("h100-0", "h100"),
             node("moved", "h100", labels={dpc.CONFIG_LABEL: "l40s"}), node("foreign", labels={dpc.CONFIG_LABEL: "theirs"})]
    result = dpc.plan([pool(), pool(name="a100", sharing=False)], nodes, POOL_LABEL)
    assert result["problems"] == []
    assert result["assignments"] == {"l40s-0": "l40s", "a100-0": None, "a100-1": None}
    assert result["changes"] == [{"node": "a100-0", "value": None}, {"node": "a100-1", "value": None},
                                 {"node": "l40s-0", "value": "l40s"}, {"node": "moved", "value": None}]
    assert result["labels"]["l40s-0"] == {dpc.CONFIG_LABEL: "l40s"}
    assert result["labels"]["moved"] == {dpc.CONFIG_LABEL: None} and len(result["labels"]) == 4
    assert result["pools"]["a100"] == ["a100-0", "a100-1"]


def test_plan_is_empty_when_the_labels_are_in_place():
    nodes = [node("l40s-0", "l40s", labels={dpc.CONFIG_LABEL: "l40s"})]
    assert dpc.plan([pool()], nodes, POOL_LABEL)["changes"] == []


def test_plan_problems():
    nodes = [node("n1", "l40s"), node("n2")]
    result = dpc.plan([pool(), pool(name="a100"), pool(name="x", config_key="x", nodes=["n1", "ghost"])], nodes, POOL_LABEL)
    assert len(result["problems"]) == 3, result["problems"]
    assert any("no node carries the label fractional.gpu/pool=a100" in p for p in result["problems"])
    assert any("node ghost does not exist" in p for p in result["problems"])
    assert any("node n1 is selected by pools l40s and x" in p for p in result["problems"])


def test_plan_without_sharing():
    assert dpc.plan([pool(sharing=False, name="empty")], [], POOL_LABEL) == {
        "problems": [], "assignments": {}, "changes": [], "labels": {}, "pools": {"empty": []}}


def test_plan_selects_by_a_platform_label():
    nodes = [node("gke-a", labels={"cloud.google.com/gke-nodepool": "l4-pool"}), node("gke-b", "l40s")]
    result = dpc.plan([pool(node_selector={"cloud.google.com/gke-nodepool": "l4-pool"})], nodes, POOL_LABEL)
    assert result["assignments"] == {"gke-a": "l40s"}
    result = dpc.plan([pool(node_selector={"cloud.google.com/gke-nodepool": "other"})], nodes, POOL_LABEL)
    assert result["problems"] == ["pool l40s: no node carries the label cloud.google.com/gke-nodepool=other "
                                  "(set the pool's nodes or label the nodes)"]
    assert "node_selector must map" in dpc.config_problems([pool(node_selector=["x"])])[0]


def test_restarts_nodes_whose_config_changed_under_the_key_they_keep():
    gpu = {dpc.GPU_PRESENT_LABEL: "true"}
    nodes = [node("kept", "l40s", labels=dict(gpu, **{dpc.CONFIG_LABEL: "l40s"})),
             node("relabelled", "l40s", labels=gpu), node("default-user", labels=gpu),
             node("other-key", labels=dict(gpu, **{dpc.CONFIG_LABEL: "a100"})),
             node("no-gpu", labels={dpc.CONFIG_LABEL: "l40s"})]
    changes = [{"node": "relabelled", "value": "l40s"}]
    before = {"default": "d", "l40s": "four replicas", "a100": "a"}
    after = {"default": "d", "l40s": "renamed", "a100": "a", "new": "n"}
    assert dpc.restarts(nodes, changes, before, after, "default") == ["kept"]
    assert dpc.restarts(nodes, changes, dict(before, default="old"), after, "default") == ["default-user", "kept"]
    # A ConfigMap written for the first time: the pods that mount it are new anyway.
    assert dpc.restarts(nodes, changes, None, after, "default") == []
    assert dpc.restarts(nodes, [], after, after, "default") == []


def daemonset(name, configmap=None, generation=2, observed=2, desired=6, updated=6, available=6):
    """A DaemonSet as the GPU Operator renders it (gpu-operator handleDevicePluginConfig):
    with a config reference, the ConfigMap volume and the config manager sidecar."""
    containers = [{"name": "main"}] + ([{"name": dpc.CONFIG_MANAGER_CONTAINER}] if configmap else [])
    volumes = [{"name": "x", "hostPath": {"path": "/x"}}] + (
        [{"name": configmap, "configMap": {"name": configmap}}] if configmap else [])
    return {"metadata": {"name": name, "namespace": "gpu-operator", "generation": generation},
            "spec": {"template": {"spec": {"containers": containers, "volumes": volumes}}},
            "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                       "updatedNumberScheduled": updated, "numberAvailable": available}}


def test_rollout_pending_until_both_daemonsets_run_as_the_policy_says():
    plugin, gfd = dpc.CONFIG_DAEMONSETS
    done = [daemonset(plugin, "cfg"), daemonset(gfd, "cfg"), daemonset("nvidia-dcgm-exporter")]
    assert dpc.rollout_pending(done, "cfg") == []
    # The operator has not re-rendered them yet (the reference was just set, or dropped).
    assert dpc.rollout_pending(done, "") == [
        "DaemonSet gpu-operator/nvidia-device-plugin-daemonset still runs the config manager",
        "DaemonSet gpu-operator/gpu-feature-discovery still runs the config manager"]
    assert dpc.rollout_pending([daemonset(plugin)], "cfg") == [
        "DaemonSet gpu-operator/nvidia-device-plugin-daemonset does not mount ConfigMap cfg yet"]
    # Re-rendered, rolling out node by node.
    rolling = [daemonset(plugin, generation=3, observed=2), daemonset(gfd, updated=2, available=1)]
    assert dpc.rollout_pending(rolling, "") == [
        "DaemonSet gpu-operator/nvidia-device-plugin-daemonset has 6 updated and 6 available of 6 pods",
        "DaemonSet gpu-operator/gpu-feature-discovery has 2 updated and 1 available of 6 pods"]
    # An operand the ClusterPolicy disables has no DaemonSet to wait for.
    assert dpc.rollout_pending([daemonset(plugin)], "") == []


# --- node checks --------------------------------------------------------------------------

def shared(count, replicas, renamed=False, product="NVIDIA-L40S", strategy="time-slicing"):
    name = "nvidia.com/gpu.shared" if renamed else "nvidia.com/gpu"
    allocatable = {name: str(count * replicas)}
    if renamed:
        allocatable["nvidia.com/gpu"] = "0"
    return node("n", count=count, product=product if renamed else product + "-SHARED", allocatable=allocatable,
                labels={"nvidia.com/gpu.replicas": str(replicas), "nvidia.com/gpu.sharing-strategy": strategy})


def test_a_node_that_advertises_replicas_times_gpus_passes():
    assert dpc.node_problems(shared(4, 2), pool(resources=[{"name": "nvidia.com/gpu", "replicas": 2}])) == []
    assert dpc.node_problems(shared(1, 4, renamed=True), pool(rename_by_default=True)) == []
    assert dpc.node_problems(shared(2, 3, strategy="mps"), pool(strategy="mps", resources=[{"name": "nvidia.com/gpu", "replicas": 3}])) == []


def test_a_node_with_the_old_count_fails_with_figures():
    problems = dpc.node_problems(node("n", count=4), pool(resources=[{"name": "nvidia.com/gpu", "replicas": 2}]))
    assert "allocatable nvidia.com/gpu is 4, expected 8 (4 x 2 replicas)" in problems[0]
    assert any("-SHARED" in p for p in problems)
    assert any("replicas is None, expected 2" in p for p in problems)


def test_renamed_resources_keep_the_plain_product():
    bad = shared(1, 4, renamed=True)
    bad["metadata"]["labels"]["nvidia.com/gpu.product"] = "NVIDIA-L40S-SHARED"
    assert any("plain product name" in p for p in dpc.node_problems(bad, pool(rename_by_default=True)))


def test_unshared_nodes():
    assert dpc.node_problems(node("n", count=2)) == []
    assert dpc.node_problems(node("n", count=2), pool(sharing=False)) == []
    problems = dpc.node_problems(shared(2, 4))
    assert any("allocatable nvidia.com/gpu is 8, expected 2" in p for p in problems)
    assert any("still -SHARED" in p for p in problems)
    assert any("replicas is 4" in p for p in problems)
    assert dpc.node_problems({"metadata": {"name": "cpu"}}) == ["cpu: no nvidia.com/gpu.count label (is GPU feature discovery running?)"]


def test_an_unshared_mig_node_is_not_held_to_its_physical_gpu_count():
    single = node("h100", count=8, product="NVIDIA-H100-80GB-HBM3-MIG-1g.10gb", allocatable={"nvidia.com/gpu": "56"})
    mixed = node("a100", count=4, allocatable={"nvidia.com/gpu": "0", "nvidia.com/mig-1g.5gb": "28"},
                 labels={"nvidia.com/mig-1g.5gb.count": "28"})
    configured = node("a30", count=2, allocatable={"nvidia.com/gpu": "4"}, labels={"nvidia.com/mig.config": "a30-halves"})
    for unshared in (single, mixed, configured):
        assert dpc.node_problems(unshared, pool(sharing=False)) == [], unshared
    shared_mig = dict(single, metadata=dict(single["metadata"], labels=dict(single["metadata"]["labels"])))
    shared_mig["metadata"]["labels"]["nvidia.com/gpu.replicas"] = "2"
    assert any("replicas is 2" in p for p in dpc.node_problems(shared_mig, pool(sharing=False)))


def test_mig_resources_absent_from_a_node_are_skipped():
    mig = pool(resources=[{"name": "nvidia.com/mig-1g.10gb", "replicas": 2}])
    assert dpc.node_problems(node("n"), mig) == []
    with_mig = node("n", labels={"nvidia.com/mig-1g.10gb.count": "7", "nvidia.com/mig-1g.10gb.replicas": "2",
                                 "nvidia.com/mig-1g.10gb.sharing-strategy": "time-slicing",
                                 "nvidia.com/mig-1g.10gb.product": "NVIDIA-A100-MIG-1g.10gb-SHARED"},
                    allocatable={"nvidia.com/mig-1g.10gb": "14"})
    assert dpc.node_problems(with_mig, mig) == []


def test_nodes_problems_follows_the_assignments():
    pools = [pool(), pool(name="a100", sharing=False)]
    nodes = [shared(1, 4), node("b", count=4), node("other", count=8)]
    nodes[0]["metadata"]["name"] = "a"
    assert dpc.nodes_problems(nodes, pools, {"a": "l40s", "b": None}) == []
    assert dpc.nodes_problems(nodes, pools, {"a": None, "b": "l40s"}) != []


def test_mig_names_come_from_the_model_table():
    names = dpc.mig_resource_names()
    assert {"nvidia.com/mig-1g.10gb", "nvidia.com/mig-1g.10gb.me", "nvidia.com/mig-3g.40gb",
            "nvidia.com/mig-1g.6gb", "nvidia.com/mig-7g.141gb"} <= names
    assert not any("+" in n for n in names)
