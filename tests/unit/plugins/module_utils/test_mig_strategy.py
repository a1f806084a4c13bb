# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster's MIG strategy and what each pool may ask under it, by the device plugin's
rules."""

import pytest

from ansible_collections.fractional.gpu.plugins.module_utils.mig_strategy import (
    cluster_strategy,
    mig_layouts,
    pool_problems,
    pools_problems,
)

A100 = "NVIDIA-A100-SXM4-40GB"
H100 = "NVIDIA-H100-80GB-HBM3"
CONFIG = {"version": "v1", "mig-configs": {
    "h100-mixed": [{"device-filter": "0x233010DE", "devices": "all", "mig-enabled": True,
                    "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}],
    "a100-1g.5gb": [{"device-filter": ["0x20B010DE", "0x20B110DE"], "devices": "all",
                     "mig-enabled": True, "mig-devices": {"1g.5gb": 7}}],
    "a100-half": [{"devices": [0, 1], "mig-enabled": True, "mig-devices": {"3g.20gb": 2}},
                  {"devices": [2, 3], "mig-enabled": False}],
}}


def policy(strategy=None):
    return {"spec": {"mig": {"strategy": strategy}} if strategy else {}}


def mig_pool(name="a100", config="a100-1g.5gb", product=A100, count=4, sharing=None):
    return {"name": name, "strategy": "mig", "mig_config_name": config, "gpu_product": product,
            "gpu_count": count, "time_slicing": sharing or {}}


def ts_pool(resources=("nvidia.com/gpu",), strategy="timeSlicing"):
    return {"name": "l40s", "strategy": "time_slicing", "gpu_product": "NVIDIA-L40S", "gpu_count": 1,
            "time_slicing": {"strategy": strategy,
                             "resources": [{"name": r, "replicas": 2} for r in resources]}}


def test_the_strategy_comes_from_the_cluster_policy():
    assert cluster_strategy(policy("mixed")) == "mixed"
    assert cluster_strategy(policy("single")) == "single"
    # Unset: the operator passes no MIG_STRATEGY and the plugin keeps its default.
    assert cluster_strategy(policy()) == "none"
    assert cluster_strategy(None) == "none"
    with pytest.raises(ValueError):
        cluster_strategy(policy("both"))


def test_mps_is_refused_under_mixed_naming_the_pool():
    problems = pool_problems(ts_pool(strategy="mps"), "mixed")
    assert len(problems) == 1
    assert problems[0].startswith("pool l40s: MPS is refused") and "not supported with MPS" in problems[0]
    assert pool_problems(ts_pool(strategy="mps"), "single") == []
    assert pool_problems(ts_pool(strategy="mps"), "none") == []


def test_sharing_mig_resources_only_under_mixed():
    sharing = {"resources": [{"name": "nvidia.com/mig-1g.5gb", "replicas": 2}]}
    assert pool_problems(mig_pool(sharing=sharing), "mixed", CONFIG) == []
    single = pool_problems(mig_pool(sharing=sharing), "single", CONFIG)
    assert len(single) == 1 and "nvidia.com/mig-1g.5gb" in single[0] and "share nvidia.com/gpu" in single[0]
    assert "apply to nothing" in single[0]


def test_under_single_a_mig_pool_shares_nvidia_com_gpu():
    sharing = {"resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}
    assert pool_problems(mig_pool(sharing=sharing), "single", CONFIG) == []
    mixed = pool_problems(mig_pool(sharing=sharing), "mixed", CONFIG)
    assert len(mixed) == 1 and "share the nvidia.com/mig-<profile> resources" in mixed[0]


def test_mps_never_shares_mig_devices():
    sharing = {"strategy": "mps", "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}
    problems = pool_problems(mig_pool(sharing=sharing), "single", CONFIG)
    assert len(problems) == 1 and "MPS does not share MIG devices" in problems[0]


def test_a_mig_pool_needs_single_or_mixed():
    problems = pool_problems(mig_pool(), "none", CONFIG)
    assert len(problems) == 1 and "pool a100" in problems[0] and "strategy none" in problems[0]


def test_single_wants_one_profile_on_every_gpu():
    assert pool_problems(mig_pool(), "single", CONFIG) == []
    problems = pool_problems(mig_pool("h100", "h100-mixed", H100, 8), "single", CONFIG)
    assert len(problems) == 1
    assert "pool h100: config 'h100-mixed' gives NVIDIA-H100-80GB-HBM3 profiles 1g.10gb, 2g.20gb, 3g.40gb" \
        in problems[0]
    partial = pool_problems(mig_pool(config="a100-half"), "single", CONFIG)
    assert len(partial) == 1 and "3g.20gb on some GPUs and none on GPU(s) 2, 3" in partial[0]
    assert pool_problems(mig_pool("h100", "h100-mixed", H100, 8), "mixed", CONFIG) == []


def test_single_counts_one_gpu_when_the_label_counts_mig_devices():
    # Under single, once applied, GFD's count is the MIG devices': 28 here, not 4 GPUs.
    assert pool_problems(mig_pool(product=A100 + "-MIG-1g.5gb", count=28), "single", CONFIG) == []


def test_unknown_models_and_broken_configs_are_left_to_the_mig_checks():
    assert pool_problems(mig_pool(product="RTX-4090"), "single", CONFIG) == []
    assert pool_problems(mig_pool(config="missing"), "single", CONFIG) == []
    assert mig_layouts(CONFIG, "missing", A100, 1) is None


def test_each_pool_once_and_other_strategies_untouched():
    kai = {"name": "h200", "strategy": "kai", "gpu_product": "NVIDIA-H200", "gpu_count": 8, "time_slicing": {}}
    pools = [ts_pool(strategy="mps"), ts_pool(strategy="mps"), kai, mig_pool()]
    assert len(pools_problems(pools, "mixed", CONFIG)) == 1
    assert pools_problems([kai], "none", CONFIG) == []
