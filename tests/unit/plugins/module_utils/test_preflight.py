# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's preflight, inputs alone: one problem class a test, each message naming the
pool, the variable and the value, all of them found at once."""

from pathlib import Path

import yaml

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_scope import resolve_scope
from ansible_collections.fractional.gpu.plugins.module_utils.preflight import (
    input_problems,
    option_specs,
    pool_problems,
    run_strategy_problems,
    selector_problems,
    typed_problems,
)

ROOT = Path(__file__).resolve().parents[4]
SPECS = option_specs(dict(
    (path.parts[-3], yaml.safe_load(path.read_text())["argument_specs"])
    for path in (ROOT / "roles").glob("*/meta/argument_specs.yml")))
SLICED = {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}


def _pools(**pools):
    return dict((name, {"hosts": ["gpu-%s-0" % name], "node_selector": pool.pop("node_selector", {}),
                        "settings": pool.pop("settings", {}), "inputs": pool})
                for name, pool in pools.items())


def test_the_specs_cover_every_role_and_require_nothing():
    assert {"mig_serial", "pool_strategy", "time_slicing_validate_timeout", "gpu_operator_chart_version",
            "kai_scheduler_queues", "cluster_pool_label"} <= set(SPECS)
    assert not any(spec.get("required") or "default" in spec for spec in SPECS.values())
    # What the playbooks compute is no input.
    assert "pool_scope" not in SPECS and "fleet_pools" not in SPECS


def test_a_survey_answer_typed_as_text_is_a_number_and_a_word_is_named():
    assert typed_problems({"mig_serial": "2", "mig_max_fail_percentage": 0}, SPECS) == []
    problems = typed_problems({"mig_serial": "two"}, SPECS)
    assert len(problems) == 1 and "variable 'mig_serial'" in problems[0] and "'two'" in problems[0]


def test_a_choice_outside_the_spec_names_pool_variable_and_value():
    problems = typed_problems({"mig_mode": "hostt"}, SPECS, "pool h100")
    assert len(problems) == 1 and problems[0].startswith("pool h100: ")
    assert "mig_mode" in problems[0] and "hostt" in problems[0]


def test_a_secret_is_never_shown():
    spec = {"token": {"type": "int", "no_log": True}}
    problems = typed_problems({"token": "s3cr3t-value"}, spec)
    assert problems and not any("s3cr3t-value" in problem for problem in problems)


def test_a_pool_name_that_is_no_label_value():
    assert pool_problems("l40s", {}) == []
    for name in ("L40S pool", "x" * 64, "-a"):
        problems = pool_problems(name, {})
        assert len(problems) == 1 and problems[0].startswith("pool %s: " % name)
        assert "cluster_pool_label" in problems[0] and repr(name) in problems[0]
    # Selected by the platform's label, the name is not written anywhere.
    assert pool_problems("L40S pool", {"node_selector": {"cloud.google.com/gke-nodepool": "l40s"}}) == []


def test_a_selector_must_map_label_keys_to_values():
    assert selector_problems("pool l4", {"cloud.google.com/gke-nodepool": "gpu-l4"}) == []
    as_list = selector_problems("pool l4", ["cloud.google.com/gke-nodepool=gpu-l4"])
    assert len(as_list) == 1 and "pool_node_selector must map label keys to values" in as_list[0]
    assert "got a list" in as_list[0]
    bad_key = selector_problems("pool l4", {"Cloud Pool": "gpu-l4"})
    assert len(bad_key) == 1 and "'Cloud Pool'" in bad_key[0] and bad_key[0].startswith("pool l4: ")
    bad_value = selector_problems("pool l4", {"pool": "gpu l4", "n": 4})
    assert len(bad_value) == 2 and "must be a string" in bad_value[0] and "'gpu l4'" in bad_value[1]


def test_time_slicing_replicas_by_the_plugins_rules_before_the_cluster_is_read():
    one = pool_problems("l40s", {"settings": {"pool_strategy": "time_slicing", "pool_time_slicing": {
        "resources": [{"name": "nvidia.com/gpu", "replicas": 1}]}}})
    assert len(one) == 1 and one[0].startswith("pool l40s: pool_time_slicing ")
    assert "replicas is 1" in one[0]
    # An auto pool may become time-sliced: checked too; a MIG pool that does not share: not.
    assert pool_problems("a", {"settings": {"pool_time_slicing": {"resources": []}}})
    assert pool_problems("m", {"settings": {"pool_strategy": "mig", "pool_time_slicing": {"resources": []}}}) == []
    # The rules that depend on the cluster's MIG strategy wait for the cluster: MPS and MIG
    # resources are not refused here.
    assert pool_problems("m", {"settings": {"pool_strategy": "time_slicing", "pool_time_slicing": {
        "strategy": "mps", "resources": [{"name": "nvidia.com/mig-1g.10gb", "replicas": 2}]}}}) == []
    as_list = pool_problems("l", {"settings": {"pool_strategy": "time_slicing", "pool_time_slicing": [SLICED]}})
    assert len(as_list) == 1 and "pool_time_slicing must be a mapping" in as_list[0]


def test_the_mig_strategy_the_run_sets_is_checked_before_the_operator_play_sets_it():
    mps = {"pool_strategy": "time_slicing", "pool_time_slicing": {"strategy": "mps", "resources": [
        {"name": "gpu", "replicas": 4}]}}
    under_mixed = run_strategy_problems("l40s", {"settings": mps, "inputs": {"gpu_operator_mig_strategy": "mixed"}})
    assert len(under_mixed) == 1, under_mixed
    assert under_mixed[0].startswith("pool l40s: pool_time_slicing: MPS is refused by the device plugin under MIG "
                                     "strategy mixed")
    assert "gpu_operator_mig_strategy is mixed" in under_mixed[0]
    # Unset: the run keeps the cluster's, checked once read; single: MPS runs.
    assert run_strategy_problems("l40s", {"settings": mps, "inputs": {}}) == []
    assert run_strategy_problems("l40s", {"settings": mps, "inputs": {"gpu_operator_mig_strategy": "single"}}) == []
    # A MIG pool under none, and MIG resources (bare names too) outside mixed.
    shared_mig = {"pool_strategy": "mig", "pool_share_mig_devices": True,
                  "pool_time_slicing": {"resources": [{"name": "mig-1g.10gb", "replicas": 2}]}}
    under_none = run_strategy_problems("h100", {"settings": shared_mig, "inputs": {"gpu_operator_mig_strategy": "none"}})
    assert len(under_none) == 2, under_none
    assert under_none[0].startswith("pool h100: pool_time_slicing: nvidia.com/mig-1g.10gb is advertised by the "
                                    "device plugin only under MIG strategy mixed")
    assert under_none[1].startswith("pool h100 partitions its GPUs with MIG, but under MIG strategy none")
    # The whole preflight carries it, per pool.
    problems = input_problems(_pools(l40s=dict({"gpu_operator_mig_strategy": "mixed"}, settings=mps)), SPECS)
    assert problems == under_mixed


def test_every_problem_of_every_pool_at_once_a_shared_value_once():
    pools = _pools(
        a100={"mig_serial": "two", "mig_mode": "host"},
        l40s={"mig_serial": "two", "settings": {"pool_strategy": "time_slicing", "pool_time_slicing": {
            "resources": [{"name": "nvidia.com/gpu", "replicas": 1}]}}},
        h200={"mig_serial": "two", "mig_mode": "both", "node_selector": ["a=b"]})
    problems = input_problems(pools, SPECS)
    assert len(problems) == 4, problems
    assert sum("mig_serial" in problem for problem in problems) == 1
    assert any(problem.startswith("pool h200: ") and "mig_mode" in problem for problem in problems)
    assert any(problem.startswith("pool h200: pool_node_selector") for problem in problems)
    assert any(problem.startswith("pool l40s: pool_time_slicing") for problem in problems)


def test_the_same_problem_in_several_pools_is_one_line():
    pools = _pools(a={"node_selector": ["x"]}, b={"node_selector": ["x"]})
    problems = input_problems(pools, SPECS)
    assert len(problems) == 1 and problems[0].startswith("pools a, b: pool_node_selector")


def test_the_scope_carries_the_preflight():
    info = {"gpu-l40s-0": {"pool": "L40S pool", "inputs": {"mig_serial": "two"}},
            "gpu-h100-0": {"pool": "h100", "node_selector": ["a=b"], "inputs": {"mig_serial": "two"}}}
    scope = resolve_scope(sorted(info), sorted(info), info, specs=SPECS)
    assert len(scope["problems"]) == 3, scope["problems"]
    # Without specs (a caller that checks nothing), the scope alone.
    assert resolve_scope(sorted(info), sorted(info), info)["problems"] == []


MIG_DOCUMENT = {"version": "v1", "mig-configs": {"a30-halves": [
    {"device-filter": "0x20B710DE", "devices": "all", "mig-enabled": True, "mig-devices": {"2g.12gb": 2}}]}}


def test_the_mig_document_by_mig_parteds_rules_once_where_a_pool_may_use_mig():
    broken = {"version": "v2", "mig-configs": {"x": []}}
    pools = _pools(a30={"mig_config": broken, "settings": {"pool_strategy": "mig", "mig_config_name": "x"}},
                   l40s={"mig_config": broken, "settings": {"pool_strategy": "time_slicing"}})
    problems = input_problems(pools, SPECS)
    assert [p for p in problems if p.startswith("mig_config: ")] == [
        "mig_config: unknown version 'v2' (expected 'v1')", "mig_config: mig-configs.x: at least one entry is required"]
    # No pool uses MIG: the document is not read, so not refused.
    assert input_problems(_pools(l40s={"mig_config": broken, "settings": {"pool_strategy": "time_slicing"}}), SPECS) == []


def test_a_mig_pool_names_a_config_of_the_document():
    good = _pools(a30={"mig_config": MIG_DOCUMENT, "settings": {"pool_strategy": "mig", "mig_config_name": "a30-halves"}})
    assert input_problems(good, SPECS) == []
    typo = _pools(a30={"mig_config": MIG_DOCUMENT, "settings": {"pool_strategy": "mig", "mig_config_name": "a30-halfs"}})
    assert input_problems(typo, SPECS) == [
        "pool a30: mig_config_name 'a30-halfs' is not a config of mig_config (available: a30-halves)"]
    unnamed = _pools(a30={"mig_config": MIG_DOCUMENT, "settings": {"pool_strategy": "mig"}})
    assert input_problems(unnamed, SPECS) == [
        "pool a30: pool_strategy mig needs mig_config_name, a key of mig_config's mig-configs"]


def test_the_kai_queue_tree_where_a_pool_may_use_kai():
    queues = [{"name": "team-a", "parent": "nowhere", "resources": {"gpu": {"quota": 1}}}]
    problems = input_problems(_pools(h200={"kai_scheduler_queues": queues, "settings": {"pool_strategy": "kai"}}), SPECS)
    assert len(problems) == 1 and problems[0].startswith("kai_scheduler_queues: ") and "nowhere" in problems[0]
    assert input_problems(_pools(h200={"kai_scheduler_queues": queues, "settings": {"pool_strategy": "none"}}), SPECS) == []
