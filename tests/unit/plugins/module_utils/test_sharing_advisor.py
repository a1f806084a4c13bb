# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sharing advisor against the comparison table: every row of the decision."""

import pytest

from ansible_collections.fractional.gpu.plugins.module_utils.sharing_advisor import (
    KAI,
    MIG,
    STRATEGIES,
    TIME_SLICING,
    AdviceError,
    advise,
)


@pytest.mark.parametrize("gpu, kwargs, expected", [
    # Isolation: only MIG protects memory and faults.
    ("H100-SXM5-80GB", {"isolation": "memory"}, MIG),
    ("A30-24GB", {"isolation": "fault", "workload": "notebooks"}, MIG),
    # Granularity asked explicitly.
    ("H100-SXM5-80GB", {"granularity": "instance"}, MIG),
    ("H100-SXM5-80GB", {"granularity": "fraction"}, KAI),
    ("H100-SXM5-80GB", {"granularity": "replica"}, TIME_SLICING),
    ("L40S", {"granularity": "fraction"}, KAI),
    # Workload decides when nothing else does.
    ("A100-SXM4-40GB", {"workload": "training"}, KAI),
    ("H200-141GB", {"workload": "inference"}, MIG),
    ("L40S", {"workload": "inference"}, TIME_SLICING),
    ("A100-SXM4-40GB", {"workload": "notebooks"}, TIME_SLICING),
    ("B200-180GB", {"workload": "batch"}, TIME_SLICING),
])
def test_strategy_per_need(gpu, kwargs, expected):
    advice = advise(gpu, **kwargs)
    assert advice["strategy"] == expected
    assert advice["reasons"] and all(isinstance(r, str) for r in advice["reasons"])
    assert expected not in advice["alternatives"]


def test_isolation_on_a_gpu_without_mig_is_refused_with_the_reason():
    with pytest.raises(AdviceError, match="not MIG-capable.*only MIG gives memory isolation"):
        advise("L40S", isolation="memory")


def test_fixed_instances_on_a_gpu_without_mig_are_refused():
    with pytest.raises(AdviceError, match="fixed hardware instances need MIG"):
        advise("L40S", granularity="instance")


def test_non_mig_gpu_gets_no_mig_alternative():
    assert advise("L40S", workload="batch")["alternatives"] == [KAI]


@pytest.mark.parametrize("name", ["NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3"])
def test_product_names_and_node_labels_are_understood(name):
    assert advise(name)["gpu_model"] == "H100-SXM5-80GB"


@pytest.mark.parametrize("kwargs, message", [
    ({"isolation": "total"}, "isolation must be one of"),
    ({"workload": "gaming"}, "workload must be one of"),
    ({"granularity": "half"}, "granularity must be one of"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(AdviceError, match=message):
        advise("H100-SXM5-80GB", **kwargs)


def test_unknown_gpu_lists_known_models():
    with pytest.raises(AdviceError, match="unknown GPU model 'RTX 4090'.*H100-SXM5-80GB"):
        advise("RTX 4090")


def test_table_rows_hold_every_column():
    columns = {"title", "isolation", "memory_protection", "fault_isolation", "hardware",
               "granularity", "reconfiguration", "fits"}
    for row in STRATEGIES.values():
        assert set(row) == columns
    assert [s for s, row in STRATEGIES.items() if row["memory_protection"]] == [MIG]


@pytest.mark.parametrize("label", ["NVIDIA-L40S-SHARED", "NVIDIA-L40S"])
def test_a_time_sliced_pool_keeps_its_advice_on_the_next_run(label):
    # GFD names a time-sliced GPU <product>-SHARED: a pool that resolved to time slicing
    # must resolve the same way on its second run.
    advice = advise(label, workload="notebooks")
    assert advice["strategy"] == TIME_SLICING and advice["gpu_model"] == "L40S"


def test_a_mig_product_label_is_advised_on_its_gpu():
    advice = advise("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb-SHARED", workload="inference")
    assert advice["strategy"] == MIG and advice["gpu_model"] == "A100-SXM4-40GB"
