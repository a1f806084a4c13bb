# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three modules run in-process: argument handling, results, check and diff mode,
failures. nvidia-smi and pynvml are the in-process stand-ins (fake_smi, fake_pynvml); the
simulator-backed runs are in test_simulator.py."""

from __future__ import annotations


import pytest
from ansible.module_utils import basic
from module_run import run_module
from fake_pynvml import FakePynvml
from fake_smi import FakeSmi

from ansible_collections.fractional.gpu.plugins.module_utils import nvml
from ansible_collections.fractional.gpu.plugins.modules import gpu_info, mig_geometry, nvml_validate

CONFIG = {"version": "v1", "mig-configs": {
    "all-1g.10gb": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}],
    "all-3g": [{"devices": "all", "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}],
}}


@pytest.fixture
def smi(monkeypatch):
    fake = FakeSmi([("H100-SXM5-80GB", 2)])
    monkeypatch.setattr(basic.AnsibleModule, "run_command",
                        lambda self, argv, **kw: fake(argv))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, arg, required=False, opt_dirs=None: "nvidia-smi")
    monkeypatch.setattr(nvml, "pynvml", FakePynvml(fake))
    return fake


def test_geometry_apply_then_converged(smi, capsys):
    out = run_module(mig_geometry, {"config": CONFIG, "config_name": "all-1g.10gb"}, capsys)
    assert out["_rc"] == 0 and out["changed"] is True
    assert out["changed_gpus"] == [0, 1] and out["reboot_required"] is False
    assert "diff" not in out
    assert len(out["layout"][1]["instances"]) == 7
    smi.mutations.clear()
    out = run_module(mig_geometry, {"config": CONFIG, "config_name": "all-1g.10gb"}, capsys)
    assert out["changed"] is False and out["commands"] == [] and smi.mutations == []


def test_geometry_check_and_diff(smi, capsys):
    out = run_module(mig_geometry, {"config": CONFIG, "config_name": "all-3g",
                                    "_ansible_check_mode": True, "_ansible_diff": True}, capsys)
    assert out["changed"] is True and smi.mutations == []
    assert out["diff"]["before"].startswith("GPU 0 (H100-SXM5-80GB): MIG disabled\n")
    assert "slots 4-7  3g.40gb (new)" in out["diff"]["after"]
    # An H100 (Hopper) changes MIG mode without a reset.
    assert out["plan"][0]["commands"] == ["nvidia-smi -i 0 -mig 1",
                                          "nvidia-smi mig -i 0 -cgi 9:0,9:4 -C"]


def test_geometry_config_file_yaml(smi, capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("version: v1\nmig-configs:\n  only:\n    - devices: [1]\n"
                    "      mig-enabled: true\n      mig-devices:\n        7g.80gb: 1\n")
    out = run_module(mig_geometry, {"config_file": str(path)}, capsys)
    assert out["config_name"] == "only" and out["changed_gpus"] == [1]


def test_geometry_bad_input(smi, capsys, tmp_path):
    out = run_module(mig_geometry, {"config": CONFIG, "config_name": "nope"}, capsys)
    assert out["failed"] and "selected mig-config 'nope' not present" in out["msg"]
    out = run_module(mig_geometry, {"config": CONFIG, "config_file": "/x"}, capsys)
    assert out["failed"] and "mutually exclusive" in out["msg"]
    out = run_module(mig_geometry, {"config_file": str(tmp_path / "missing.yaml")}, capsys)
    assert out["failed"] and "cannot read config_file" in out["msg"]
    assert smi.mutations == []


def test_geometry_busy_gpu(smi, capsys):
    smi.gpus[0].processes.append((4321, "python3", None))
    out = run_module(mig_geometry, {"config": CONFIG, "config_name": "all-3g"}, capsys)
    assert out["failed"] and out["changed"] is False
    assert "GPU 0 (H100-SXM5-80GB): pid 4321 (python3" in out["msg"]
    assert smi.mutations == []


def test_gpu_info(smi, capsys):
    run_module(mig_geometry, {"config": CONFIG, "config_name": "all-3g"}, capsys)
    out = run_module(gpu_info, {}, capsys)
    assert out["changed"] is False and out["gpu_count"] == 2
    assert [d["profile"] for d in out["gpus"][0]["mig_devices"]] == ["3g.40gb", "3g.40gb"]


def test_nvml_validate_ok_and_mismatch(smi, capsys):
    run_module(mig_geometry, {"config": CONFIG, "config_name": "all-3g"}, capsys)
    out = run_module(nvml_validate, {"config": CONFIG, "config_name": "all-3g",
                                     "expected_gpu_count": 2}, capsys)
    assert out["_rc"] == 0 and out["report"]["ok"] is True
    out = run_module(nvml_validate, {"config": CONFIG, "config_name": "all-1g.10gb",
                                     "expected_gpu_count": 3}, capsys)
    assert out["failed"]
    assert out["msg"].startswith("5 mismatches with MIG config 'all-1g.10gb':\n- host has 2 GPU(s), expected 3\n")
    assert len(out["report"]["mismatches"]) == 5


def test_missing_pynvml(smi, capsys, monkeypatch):
    monkeypatch.setattr(gpu_info, "HAS_PYNVML", False)
    out = run_module(gpu_info, {}, capsys)
    assert out["failed"] and "Failed to import the required Python library (nvidia-ml-py" in out["msg"]
