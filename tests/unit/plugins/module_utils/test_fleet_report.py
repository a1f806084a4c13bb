# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Expected resources per strategy, the comparison with a node, and the table."""

import pytest

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_report import (
    expected_resources,
    mig_config_errors,
    render_table,
    report_row,
)

CONFIG = {"version": "v1", "mig-configs": {
    "h100-mixed": [{"device-filter": "0x233010DE", "devices": "all", "mig-enabled": True,
                    "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}],
    "too-big": [{"devices": "all", "mig-enabled": True, "mig-devices": {"3g.40gb": 3}}],
}}
H100 = "NVIDIA-H100-80GB-HBM3"


def node(name, allocatable, product=H100, count=8):
    return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product,
                                                  "nvidia.com/gpu.count": str(count)}},
            "status": {"allocatable": dict(allocatable, cpu="64")}}


def test_mig_mixed_counts_each_profile_over_all_gpus():
    assert expected_resources("mig", H100, 8, CONFIG, "h100-mixed") == {
        "nvidia.com/mig-1g.10gb": 16, "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-3g.40gb": 8}


def test_mig_single_strategy_advertises_mig_devices_as_gpus():
    assert expected_resources("mig", H100, 2, CONFIG, "h100-mixed", mig_strategy="single") == {
        "nvidia.com/gpu": 8}


def test_time_slicing_is_replicas_times_gpus_and_renamed_when_asked():
    sharing = {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}
    assert expected_resources("time_slicing", "NVIDIA-L40S", 1, time_slicing=sharing) == {
        "nvidia.com/gpu": 4}
    sharing["rename_by_default"] = True
    assert expected_resources("time_slicing", "NVIDIA-L40S", 2, time_slicing=sharing) == {
        "nvidia.com/gpu.shared": 8}


def test_whole_gpus_for_kai_and_none():
    assert expected_resources("kai", H100, 8) == {"nvidia.com/gpu": 8}
    assert expected_resources("none", H100, 8) == {"nvidia.com/gpu": 8}


def test_config_errors_name_the_gpu_and_profile():
    errors = mig_config_errors(CONFIG, "too-big", H100, 2)
    assert errors and all("3g.40gb" in e for e in errors)
    assert "GPU 0 (H100-SXM5-80GB)" in errors[0]
    assert mig_config_errors(CONFIG, "h100-mixed", H100, 2) == []
    assert "unknown GPU model" in mig_config_errors(CONFIG, "h100-mixed", "RTX-4090", 1)[0]


@pytest.mark.parametrize("product, count, missing", [
    (H100, None, "nvidia.com/gpu.count"), (H100, "", "nvidia.com/gpu.count"),
    (None, 2, "nvidia.com/gpu.product"), ("", None, "nvidia.com/gpu.product or nvidia.com/gpu.count")])
def test_a_node_without_gpu_labels_is_refused_not_counted_as_0_gpus(product, count, missing):
    """Off the host the labels are all there is: `1g.10gb: 8` on an H100 must not pass
    because a missing count reads as 0 GPUs."""
    errors = mig_config_errors(CONFIG, "too-big", product, count)
    assert errors == ["the node has no %s label, so its GPUs cannot be checked off the host (is GPU "
                      "feature discovery running on it?); check them on the host instead" % missing]


def test_a_config_that_selects_none_of_the_nodes_gpus():
    errors = mig_config_errors(CONFIG, "h100-mixed", "NVIDIA-A30", 2)
    assert "selects none of this host's 2 GPU(s)" in errors[0]
    assert mig_config_errors(CONFIG, "h100-mixed", "NVIDIA-A30", 2, allow_no_match=True) == []


def test_row_ok_when_found_matches_and_zero_renamed_resources_do_not_count():
    row = report_row(node("n1", {"nvidia.com/gpu.shared": "8", "nvidia.com/gpu": "0"}),
                     "l40s", "time_slicing", {"nvidia.com/gpu.shared": 8})
    assert row["ok"], row["problems"]


def test_row_names_every_difference_and_failed_check():
    row = report_row(node("n1", {"nvidia.com/gpu": "8"}), "h100", "mig",
                     {"nvidia.com/mig-1g.10gb": 16}, checks={"nvml": False, "drained": True})
    assert not row["ok"]
    assert row["problems"] == ["nvidia.com/gpu: expected 0, found 8",
                               "nvidia.com/mig-1g.10gb: expected 16, found 0",
                               "nvml failed"]


def test_table_has_header_rows_and_totals():
    rows = [report_row(node("a", {"nvidia.com/gpu": "8"}), "p", "kai", {"nvidia.com/gpu": 8}),
            report_row(node("b", {"nvidia.com/gpu": "1"}), "p", "kai", {"nvidia.com/gpu": 8})]
    table = render_table(rows)
    assert table[0].split() == ["node", "pool", "gpu", "model", "strategy", "expected", "found",
                                "status"]
    assert table[2].startswith("a ") and table[2].endswith("ok")
    assert "MISMATCH: nvidia.com/gpu: expected 8, found 1" in table[3]
    assert table[-1] == "2 node(s), 1 ok, 1 mismatched"


def test_mig_devices_shared_by_time_slicing_multiply_only_the_shared_profile():
    sharing = {"mig_strategy": "mixed",
               "resources": [{"name": "nvidia.com/mig-1g.10gb", "replicas": 2}]}
    assert expected_resources("mig", H100, 1, CONFIG, "h100-mixed", time_slicing=sharing) == {
        "nvidia.com/mig-1g.10gb": 4, "nvidia.com/mig-2g.20gb": 1, "nvidia.com/mig-3g.40gb": 1}
