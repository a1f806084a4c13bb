# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Expected resources per strategy, the comparison with a node, and the table."""

import pytest

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_report import (
    NOT_IN_CLUSTER,
    NOT_VALIDATED,
    ReportError,
    expected_resources,
    fleet_summary,
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
    assert row["differs"] == ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb"]


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
    sharing = {"resources": [{"name": "nvidia.com/mig-1g.10gb", "replicas": 2}]}
    assert expected_resources("mig", H100, 1, CONFIG, "h100-mixed", time_slicing=sharing) == {
        "nvidia.com/mig-1g.10gb": 4, "nvidia.com/mig-2g.20gb": 1, "nvidia.com/mig-3g.40gb": 1}


A100 = "NVIDIA-A100-SXM4-40GB"
A100_CONFIG = {"version": "v1", "mig-configs": {
    "a100-1g.5gb": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.5gb": 7}}]}}


def test_single_reads_the_mig_product_label_and_its_count_of_mig_devices():
    # GFD under single, once applied: product <gpu>-MIG-<profile>, count = MIG devices.
    assert expected_resources("mig", A100 + "-MIG-1g.5gb", 28, A100_CONFIG, "a100-1g.5gb",
                              mig_strategy="single") == {"nvidia.com/gpu": 28}
    # Before the layout exists the labels still describe the 4 GPUs.
    assert expected_resources("mig", A100, 4, A100_CONFIG, "a100-1g.5gb",
                              mig_strategy="single") == {"nvidia.com/gpu": 28}
    shared = {"resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}
    assert expected_resources("mig", A100 + "-MIG-1g.5gb-SHARED", 28, A100_CONFIG, "a100-1g.5gb",
                              time_slicing=shared, mig_strategy="single") == {"nvidia.com/gpu": 56}


def test_single_reports_what_it_cannot_tell():
    with pytest.raises(ReportError, match="MIG-INVALID"):
        expected_resources("mig", A100 + "-MIG-INVALID", 0, A100_CONFIG, "a100-1g.5gb", mig_strategy="single")
    with pytest.raises(ReportError, match="not a whole number of GPUs"):
        expected_resources("mig", A100 + "-MIG-1g.5gb", 10, A100_CONFIG, "a100-1g.5gb", mig_strategy="single")


def test_none_advertises_whole_gpus_even_in_mig_mode():
    assert expected_resources("mig", H100, 8, CONFIG, "h100-mixed", mig_strategy="none") == {
        "nvidia.com/gpu": 8}


def test_config_errors_refuse_labels_that_count_mig_devices():
    errors = mig_config_errors(A100_CONFIG, "a100-1g.5gb", A100 + "-MIG-1g.5gb", 28)
    assert len(errors) == 1 and "counts MIG devices" in errors[0] and "mig_operator_host_checks" in errors[0]
    assert mig_config_errors(A100_CONFIG, "a100-1g.5gb", A100 + "-SHARED", 4) == []


def test_summary_covers_exactly_the_hosts_in_scope():
    nodes = [node("gpu-a", {"nvidia.com/gpu": "8"}), node("gpu-b", {"nvidia.com/gpu": "8"}),
             node("gpu-out", {"nvidia.com/gpu": "1"})]
    pools = {"gpu-a": {"pool": "h100", "strategy": "kai"}}
    report = fleet_summary(nodes, pools, hosts=["gpu-a", "gpu-b", "gpu-ghost"])
    assert [row["node"] for row in report["rows"]] == ["gpu-a", "gpu-b", "gpu-ghost"]
    assert [row["ok"] for row in report["rows"]] == [True, False, False]
    assert report["rows"][1]["problems"] == [NOT_VALIDATED]
    assert report["rows"][2]["problems"] == [NOT_IN_CLUSTER]
    assert not report["ok"] and report["table"][-1] == "3 node(s), 1 ok, 2 mismatched"
    # Hosts that failed earlier or lack a node: nothing to wait for.
    assert report["settled"]
    assert not fleet_summary(nodes, {"gpu-a": {"pool": "h100", "strategy": "time_slicing", "time_slicing": {
        "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}}}, hosts=["gpu-a"])["settled"]


def test_summary_rows_name_what_cannot_be_told_instead_of_failing():
    nodes = [node("gpu-a", {"nvidia.com/gpu": "0"}, product=A100 + "-MIG-INVALID", count=0)]
    pools = {"gpu-a": {"pool": "a100", "strategy": "mig", "mig_config_name": "a100-1g.5gb",
                       "checks": {"nvml": "not checked: the host is unreachable"}}}
    row = fleet_summary(nodes, pools, mig_config=A100_CONFIG, mig_strategy="single")["rows"][0]
    assert not row["ok"]
    assert "MIG-INVALID" in row["problems"][0]
    assert row["problems"][-1] == "nvml not checked: the host is unreachable"


def test_an_empty_scope_is_not_ok():
    report = fleet_summary([], {}, hosts=[])
    assert not report["ok"] and report["table"][-1] == "no GPU node in scope"
