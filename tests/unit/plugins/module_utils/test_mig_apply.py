# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from fake_smi import FakeSmi

from ansible_collections.fractional.gpu.plugins.module_utils.mig_apply import (
    ApplyError,
    GeometryRun,
)
from ansible_collections.fractional.gpu.plugins.module_utils.nvidia_smi import NvidiaSmi

CONFIG = {"version": "v1", "mig-configs": {
    "all-disabled": [{"devices": "all", "mig-enabled": False}],
    "all-1g.10gb": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}],
    "all-balanced": [{"device-filter": "0x233010DE", "devices": "all", "mig-enabled": True,
                      "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}],
    "gpu5-3g": [{"devices": [0, 1, 2, 3, 4, 6, 7], "mig-enabled": True,
                 "mig-devices": {"1g.10gb": 7}},
                {"devices": [5], "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}],
    "ci-split": [{"devices": "all", "mig-enabled": True,
                  "mig-devices": {"1c.3g.40gb": 1, "3g.40gb": 1}}],
    "bad": [{"devices": [0, 12], "mig-enabled": True,
             "mig-devices": {"1g.5gb": 1, "4g.40gb": 2}}],
}}


def run(fake, name, **kwargs):
    return GeometryRun(NvidiaSmi(fake), CONFIG, name, **kwargs).run()


def converge(fake, name):
    result = run(fake, name)
    fake.mutations.clear()
    return result


def test_converge_8_h100_then_no_change():
    fake = FakeSmi([("H100-SXM5-80GB", 8)])
    result = run(fake, "all-1g.10gb")
    assert result["changed"] and result["changed_gpus"] == list(range(8))
    assert result["reboot_required"] is False
    # per GPU: -mig 1 and one -cgi with 7 placed instances (the fake applies modes at once)
    assert len(fake.mutations) == 16
    assert all(g.current and len(g.gis) == 7 for g in fake.gpus)
    assert result["layout"][3]["instances"][6]["name"] == "1g.10gb"
    fake.mutations.clear()
    again = run(fake, "all-1g.10gb")
    assert again["changed"] is False and fake.mutations == [] and again["commands"] == []


def test_one_gpu_changed_only_that_gpu_mutated():
    fake = FakeSmi([("H100-SXM5-80GB", 8)])
    converge(fake, "all-1g.10gb")
    result = run(fake, "gpu5-3g")
    assert result["changed_gpus"] == [5]
    assert fake.mutations == ["nvidia-smi mig -i 5 -dci", "nvidia-smi mig -i 5 -dgi",
                              "nvidia-smi mig -i 5 -cgi 9:0,9:4 -C"]


def test_check_mode_changes_nothing_and_returns_plan():
    fake = FakeSmi([("H100-SXM5-80GB", 2)])
    result = run(fake, "all-balanced", check_mode=True)
    assert result["changed"] is True and fake.mutations == []
    assert result["plan"][0]["commands"][-1] == "nvidia-smi mig -i 0 -cgi 9:4,14:0,19:2,19:3 -C"
    assert "3g.40gb (new)" in result["diff"]["after"]
    assert result["layout"][0]["mig_enabled"] is True


def test_busy_gpu_is_refused_with_process_list_then_forced():
    fake = FakeSmi([("H100-SXM5-80GB", 2)], mig=True)
    fake.gpus[1].processes.append((4242, "python3", None))
    with pytest.raises(ApplyError) as info:
        run(fake, "all-1g.10gb")
    assert "GPU 1 (H100-SXM5-80GB): pid 4242 (python3" in info.value.msg
    assert "no GPU was changed" in info.value.msg
    assert fake.mutations == []
    assert info.value.result["busy_gpus"]


def test_idle_gpu_with_process_elsewhere_is_fine():
    fake = FakeSmi([("H100-SXM5-80GB", 2)])
    converge(fake, "all-1g.10gb")
    fake.gpus[0].processes.append((1, "train", 1))
    result = run(fake, "all-1g.10gb")
    assert result["changed"] is False


def test_bad_config_changes_nothing_and_lists_every_error():
    fake = FakeSmi([("H100-SXM5-80GB", 2)])
    with pytest.raises(ApplyError) as info:
        run(fake, "bad")
    msg = info.value.msg
    assert "no GPU was changed" in msg
    assert "device index 12 out of range" in msg
    assert "profile '1g.5gb' does not exist" in msg
    assert "profile '4g.40gb': 2 instances requested" in msg
    assert fake.mutations == []
    assert len(info.value.result["errors"]) >= 3


def test_non_mig_gpu_rejected():
    fake = FakeSmi([("L40S", 1)])
    with pytest.raises(ApplyError, match=r"GPU 0 \(L40S\) is not MIG capable"):
        run(fake, "all-1g.10gb")
    assert fake.mutations == []
    assert run(fake, "all-disabled")["changed"] is False


def test_pending_mode_is_reset_and_sticky_pending_reports_reboot():
    fake = FakeSmi([("A100-SXM4-80GB", 2)])
    fake.gpus[1].sticky_pending = True
    result = run(fake, "all-1g.10gb")
    assert result["reboot_required"] is True and result["reboot_required_gpus"] == [1]
    assert "nvidia-smi -r -i 1" in fake.mutations
    assert not any("mig -i 1 -cgi" in m for m in fake.mutations)
    assert len(fake.gpus[0].gis) == 7
    assert any("reboot" in w for w in result["warnings"])


def test_reset_failure_reports_reboot_not_failure():
    fake = FakeSmi([("A100-SXM4-80GB", 1)])
    fake.gpus[0].sticky_pending = True
    fake.gpus[0].reset_fails = True
    result = run(fake, "all-1g.10gb")
    assert result["reboot_required"] is True
    assert any("reset failed" in w for w in result["warnings"])


def test_hopper_changes_mode_without_a_reset():
    fake = FakeSmi([("H100-SXM5-80GB", 1)])
    fake.gpus[0].sticky_pending = True  # an Ampere behaviour: Hopper ignores it
    result = run(fake, "all-1g.10gb")
    assert result["reboot_required"] is False and not any(" -r " in m for m in fake.mutations)
    assert len(fake.gpus[0].gis) == 7


def test_a_config_that_selects_no_gpu_fails_before_anything_changes():
    fake = FakeSmi([("A30-24GB", 2)])
    with pytest.raises(ApplyError) as info:
        run(fake, "all-balanced")
    assert "selects none of this host's 2 GPU(s)" in info.value.msg and fake.mutations == []
    result = run(fake, "all-balanced", allow_no_match=True)
    assert result["changed"] is False and fake.mutations == []


def test_mid_apply_failure_then_rerun_converges():
    fake = FakeSmi([("H100-SXM5-80GB", 4)])
    fake.fail_after = 5  # -mig 1 x4 succeed, first -cgi succeeds, second fails
    with pytest.raises(ApplyError) as info:
        run(fake, "all-balanced")
    err = info.value
    assert "Commands already applied" in err.msg and "rerunning converges" in err.msg
    assert err.result["changed"] is True
    assert err.result["failed_command"] == "nvidia-smi mig -i 1 -cgi 9:4,14:0,19:2,19:3 -C"
    assert len(err.result["commands"]) == 6
    fake.fail_after = None
    fake.mutations.clear()
    result = run(fake, "all-balanced")
    assert result["changed_gpus"] == [1, 2, 3]
    fake.mutations.clear()
    assert run(fake, "all-balanced")["changed"] is False and fake.mutations == []


def test_disable_path():
    fake = FakeSmi([("H100-SXM5-80GB", 2)])
    converge(fake, "all-1g.10gb")
    result = run(fake, "all-disabled")
    assert result["changed_gpus"] == [0, 1]
    assert fake.mutations[:3] == ["nvidia-smi mig -i 0 -dci", "nvidia-smi mig -i 0 -dgi",
                                  "nvidia-smi -i 0 -mig 0"]
    assert all(g.current is False for g in fake.gpus)


def test_compute_instance_prefix_applied():
    fake = FakeSmi([("H100-SXM5-80GB", 1)], mig=True)
    result = run(fake, "ci-split")
    assert fake.mutations == ["nvidia-smi mig -i 0 -cgi 9:4 -C", "nvidia-smi mig -i 0 -cgi 9:0",
                              "nvidia-smi mig -i 0 -gi 2 -cci 0"]
    assert sorted(i["name"] for i in result["layout"][0]["instances"]) == [
        "1c.3g.40gb", "3g.40gb"]
    fake.mutations.clear()
    assert run(fake, "ci-split")["changed"] is False


def test_media_extension_and_empty_layouts_converge():
    config = {"version": "v1", "mig-configs": {
        "me": [{"devices": "all", "mig-enabled": True,
                "mig-devices": {"1g.10gb+me": 1, "1g.10gb": 6}}],
        "enabled-empty": [{"devices": "all", "mig-enabled": True, "mig-devices": {}}]}}
    fake = FakeSmi([("H100-SXM5-80GB", 1)])
    result = GeometryRun(NvidiaSmi(fake), config, "me").run()
    assert sorted(i["name"] for i in result["layout"][0]["instances"]) == ["1g.10gb"] * 6 + [
        "1g.10gb+me"]
    assert GeometryRun(NvidiaSmi(fake), config, "me").run()["changed"] is False
    fake.mutations.clear()
    result = GeometryRun(NvidiaSmi(fake), config, "enabled-empty").run()
    assert fake.mutations == ["nvidia-smi mig -i 0 -dci", "nvidia-smi mig -i 0 -dgi"]
    assert result["layout"][0]["mig_enabled"] is True and result["layout"][0]["instances"] == []
    assert GeometryRun(NvidiaSmi(fake), config, "enabled-empty").run()["changed"] is False
