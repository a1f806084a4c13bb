# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/gpu_models.py against the shared reference table."""

import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.fractional.gpu.plugins.module_utils import gpu_models
from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    GPU_MODELS,
    compute_profiles,
    gfd_product_label,
    model_by_key,
    model_by_pci_device_id,
    model_by_product_name,
)

MIG_MODELS = [m for m in GPU_MODELS.values() if m.mig_capable]
ROOT = Path(__file__).resolve().parents[4]
H200_REAL = ROOT / "tests" / "fixtures" / "real" / "h200-sxm-141gb-driver-580.159.04"

# name -> max instances per GPU: the MIG user guide's "Supported MIG Profiles" and the -lgip
# captures the table cites (every one of them printed Total = these counts).
REFERENCE_COUNTS = {
    "A100-SXM4-40GB": {"1g.5gb": 7, "1g.5gb+me": 1, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2,
                       "4g.20gb": 1, "7g.40gb": 1},
    "A100-SXM4-80GB": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2,
                       "4g.40gb": 1, "7g.80gb": 1},
    "H100-SXM5-80GB": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2,
                       "4g.40gb": 1, "7g.80gb": 1},
    "H100-NVL-94GB": {"1g.12gb": 7, "1g.12gb+me": 1, "1g.24gb": 4, "2g.24gb": 3, "3g.47gb": 2,
                      "4g.47gb": 1, "7g.94gb": 1},
    "H100-96GB": {"1g.12gb": 7, "1g.12gb+me": 1, "1g.24gb": 4, "2g.24gb": 3, "3g.48gb": 2,
                  "4g.48gb": 1, "7g.96gb": 1},
    "PG506-96GB": {"1g.12gb": 7, "1g.12gb+me": 1, "1g.24gb": 4, "2g.24gb": 3, "3g.48gb": 2,
                   "4g.48gb": 1, "7g.96gb": 1},
    "H200-141GB": {"1g.18gb": 7, "1g.18gb+me": 1, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2,
                   "4g.71gb": 1, "7g.141gb": 1},
    "GH200-144GB": {"1g.18gb": 7, "1g.18gb+me": 1, "1g.36gb": 4, "2g.36gb": 3, "3g.72gb": 2,
                    "4g.72gb": 1, "7g.144gb": 1},
    "B200-180GB": {"1g.23gb": 7, "1g.23gb+me": 1, "1g.45gb": 4, "2g.45gb": 3, "3g.90gb": 2,
                   "4g.90gb": 1, "7g.180gb": 1},
    "GB200-186GB": {"1g.23gb": 7, "1g.23gb+me": 1, "1g.47gb": 4, "2g.47gb": 3, "3g.93gb": 2,
                    "4g.93gb": 1, "7g.186gb": 1},
    "A30-24GB": {"1g.6gb": 4, "1g.6gb+me": 1, "2g.12gb": 2, "2g.12gb+me": 1, "4g.24gb": 1},
    "RTX-PRO-6000-BW-96GB": {"1g.24gb": 4, "1g.24gb+me": 1, "1g.24gb+gfx": 4, "1g.24gb+me.all": 1,
                             "1g.24gb-me": 4, "2g.48gb": 2, "2g.48gb+gfx": 2, "2g.48gb+me.all": 1,
                             "2g.48gb-me": 2, "4g.96gb": 1, "4g.96gb+gfx": 1},
}

# nvidia-smi profile id -> (placements, size in memory slices): the real H200's -lgipp.
REFERENCE_PLACEMENTS_8_SLICES = {
    19: ((0, 1, 2, 3, 4, 5, 6), 1), 20: ((0, 1, 2, 3, 4, 5, 6), 1), 15: ((0, 2, 4, 6), 2),
    14: ((0, 2, 4), 2), 9: ((0, 4), 4), 5: ((0,), 4), 0: ((0,), 8),
}
REFERENCE_PLACEMENTS_A30 = {14: ((0, 1, 2, 3), 1), 21: ((0, 1, 2, 3), 1), 5: ((0, 2), 2),
                            0: ((0,), 4)}


def test_every_model_of_nvidias_default_config_is_known():
    """Every device id NVIDIA's default mig-parted config filters on (except B300 and
    GB300, which it does not name at the version the fixture is written from) is a model."""
    config = yaml.safe_load((ROOT / "tests" / "fixtures" / "mig_parted" / "config-default.yaml").read_text())
    ids = set()
    for entries in config["mig-configs"].values():
        for entry in entries:
            value = entry.get("device-filter", [])
            ids.update([value] if isinstance(value, str) else value)
    for device in sorted(ids):
        assert model_by_pci_device_id(device) is not None, device


def test_the_lab_models_are_known():
    nodes = yaml.safe_load((ROOT / "tests" / "lab" / "nodes.yaml").read_text())["nodes"]
    for node in nodes:
        assert model_by_key(node["gpu"]["model"]).key == node["gpu"]["model"]


@pytest.mark.parametrize("model", MIG_MODELS, ids=lambda m: m.key)
def test_profile_names_and_counts_match_the_reference(model):
    assert {p.name: p.max_instances for p in model.profiles} == REFERENCE_COUNTS[model.key]


@pytest.mark.parametrize("model", MIG_MODELS, ids=lambda m: m.key)
def test_placements_match_the_reference_and_fit_the_slices(model):
    reference = REFERENCE_PLACEMENTS_8_SLICES if model.memory_slices == 8 else REFERENCE_PLACEMENTS_A30
    for profile in model.profiles:
        for start in profile.placements:
            assert 0 <= start and start + profile.memory_slices <= model.memory_slices, profile
            assert start % profile.memory_slices == 0 or profile.memory_slices == 1, profile
        assert profile.compute_slices <= model.compute_slices
        assert profile.max_instances <= len(profile.placements)
        assert profile.max_instances * profile.compute_slices <= model.compute_slices
        if profile.memory_mib is not None and model.memory_mib is not None:
            assert profile.memory_mib * model.memory_slices // profile.memory_slices <= model.memory_mib * 1.02
        if profile.gi_profile_id in reference and not profile.attributes + profile.without:
            assert (profile.placements, profile.memory_slices) == reference[profile.gi_profile_id]
    ids = [p.gi_profile_id for p in model.profiles if p.gi_profile_id is not None]
    assert len(set(ids)) == len(ids)


def test_the_h200_matches_the_real_capture():
    """The table's H200 against the real H200's NVML answers (driver 580.159.04)."""
    dump = json.loads((H200_REAL / "nvml_dump.json").read_text())
    reported = {}
    for enum, entry in dump["gpus"][0]["gpu_instance_profiles"].items():
        info = entry["info"].get("value")
        if info:
            starts = [p["start"] for p in entry["placements"]["value"]]
            reported[int(enum)] = (info["name"].replace("MIG ", ""), info["id"], info["instanceCount"],
                                   info["memorySizeMB"], info["sliceCount"], tuple(starts))
    h200 = model_by_key("H200-141GB")
    assert reported == {p.nvml_profile: (p.name, p.gi_profile_id, p.max_instances, p.memory_mib,
                                         p.compute_slices, p.placements) for p in h200.profiles}


def test_eight_slice_profile_ids_and_nvml_enums():
    h100 = model_by_key("H100-SXM5-80GB")
    ids = [(p.name, p.gi_profile_id, p.nvml_profile) for p in h100.profiles]
    assert ids == [("1g.10gb", 19, 0), ("1g.10gb+me", 20, 7), ("1g.20gb", 15, 9), ("2g.20gb", 14, 1),
                   ("3g.40gb", 9, 2), ("4g.40gb", 5, 3), ("7g.80gb", 0, 4)]
    assert h100.profile("3g.40gb").memory_mib == 40448  # 39.50 GiB in nvidia-smi mig -lgip


def test_attributes_and_nvml_enums_of_rtx_pro_6000():
    rtx = model_by_key("RTX-PRO-6000-BW-96GB")
    assert [(p.name, p.nvml_profile, p.attributes, p.without, p.media_extensions) for p in rtx.profiles][:5] == [
        ("1g.24gb", 0x0, (), (), False), ("1g.24gb+me", 0x7, ("me",), (), True),
        ("1g.24gb+gfx", 0xA, ("gfx",), (), False), ("1g.24gb+me.all", 0xF, ("me.all",), (), True),
        ("1g.24gb-me", 0xD, (), ("me",), False)]
    assert rtx.profile("MIG 1g.24gb+me.all").gi_profile_id == 65
    assert (rtx.memory_slices, rtx.compute_slices, rtx.architecture) == (4, 4, "Blackwell")


def test_mig_mode_persists_on_ampere_only():
    assert [m.key for m in MIG_MODELS if m.mig_mode_persists] == ["A100-SXM4-40GB", "A100-SXM4-80GB", "A30-24GB",
                                                                  "PG506-96GB"]
    assert not gpu_models.mig_mode_persists("") and not gpu_models.mig_mode_persists("Rubin")


def test_a_driver_description_and_its_cross_check():
    h200 = model_by_key("H200-141GB")
    same = gpu_models.driver_model(h200, "NVIDIA H200", 0x233510DE, 143771, "Hopper", h200.profiles)
    assert (same.key, same.from_driver, same.memory_slices, same.compute_slices) == ("H200-141GB", True, 8, 7)
    assert gpu_models.cross_check(h200, same) == []
    older = [gpu_models.make_profile(p.name, p.gi_profile_id, p.max_instances, p.placements, p.memory_slices,
                                     33024 if p.name == "2g.35gb" else p.memory_mib) for p in h200.profiles]
    driver = gpu_models.driver_model(h200, "NVIDIA H200", 0x233510DE, 143771, "Hopper", older[:-1])
    assert gpu_models.cross_check(h200, driver) == [
        "the table's profile 7g.141gb is not reported by the driver"]  # 33024 MiB is within 2%
    assert gpu_models.cross_check(h200, driver, tolerance_percent=0.5) == [
        "the table's profile 7g.141gb is not reported by the driver",
        "2g.35gb: 33280 MiB in the table, 33024 MiB reported"]
    unknown = gpu_models.driver_model(None, "NVIDIA B300 SXM6 AC", 0x318210DE, None, "Blackwell", older)
    assert (unknown.key, unknown.pci_device_ids, unknown.mig_mode_persists) == (
        "NVIDIA-B300-SXM6-AC", (0x3182,), False)


def test_a30_profile_ids():
    a30 = model_by_key("A30-24GB")
    assert (a30.memory_slices, a30.compute_slices) == (4, 4)
    assert [(p.name, p.gi_profile_id) for p in a30.profiles] == [
        ("1g.6gb", 14), ("1g.6gb+me", 21), ("2g.12gb", 5), ("2g.12gb+me", 6), ("4g.24gb", 0)]


def test_profile_lookup_accepts_nvidia_smi_spelling_and_explains_misses():
    h100 = model_by_key("H100-SXM5-80GB")
    assert h100.profile("MIG 1g.10gb+me").gi_profile_id == 20
    assert h100.profile("3G.40GB") is h100.profile_by_id(9)
    with pytest.raises(KeyError, match="no MIG profile '3g.20gb'.*known: 1g.10gb"):
        h100.profile("3g.20gb")
    with pytest.raises(KeyError, match="not MIG capable"):
        model_by_key("L40S").profile("1g.10gb")
    with pytest.raises(KeyError, match="no MIG profile id 42"):
        h100.profile_by_id(42)


def test_l40s_is_not_mig_capable():
    l40s = model_by_key("L40S")
    assert (l40s.mig_capable, l40s.profiles, l40s.memory_slices, l40s.compute_slices) == (False, (), 0, 0)


def test_model_lookups():
    with pytest.raises(KeyError, match="unknown GPU model 'H100'.*H100-SXM5-80GB"):
        model_by_key("H100")
    assert model_by_product_name("NVIDIA H100 80GB HBM3").key == "H100-SXM5-80GB"
    assert model_by_product_name("NVIDIA-A100-SXM4-40GB").key == "A100-SXM4-40GB"
    assert model_by_product_name("NVIDIA GeForce RTX 4090") is None
    assert model_by_pci_device_id(0x2330).key == "H100-SXM5-80GB"
    assert model_by_pci_device_id("0x233010DE").key == "H100-SXM5-80GB"
    assert model_by_pci_device_id("20B7").key == "A30-24GB"
    assert model_by_pci_device_id(0x1234) is None
    assert model_by_pci_device_id("0x23301002") is None  # another vendor
    for model in GPU_MODELS.values():
        assert model_by_pci_device_id(model.pci_device_ids[0]) is model
        for name in model.product_names:
            assert model_by_product_name(name) is model


def test_gfd_product_label():
    assert gfd_product_label("NVIDIA H100 80GB HBM3") == "NVIDIA-H100-80GB-HBM3"
    assert gfd_product_label("NVIDIA A100-SXM4-40GB") == "NVIDIA-A100-SXM4-40GB"


def test_compute_profiles():
    h100 = model_by_key("H100-SXM5-80GB")
    seven = compute_profiles(h100.profile("7g.80gb"))
    assert [(c.name, c.ci_profile_id, c.max_instances) for c in seven] == [
        ("1c.7g.80gb", 0, 7), ("2c.7g.80gb", 1, 3), ("3c.7g.80gb", 2, 2), ("4c.7g.80gb", 3, 1),
        ("7g.80gb", 4, 1)]
    assert [c.placements for c in compute_profiles(h100.profile("3g.40gb"))] == [(0, 1, 2), (0,), (0,)]
    assert [c.name for c in compute_profiles(h100.profile("4g.40gb"))] == ["1c.4g.40gb", "2c.4g.40gb", "4g.40gb"]
    assert [c.name for c in compute_profiles(h100.profile("1g.10gb+me"))] == ["1g.10gb+me"]
    for model in MIG_MODELS:
        for profile in model.profiles:
            for ci in compute_profiles(profile):
                assert all(s + ci.compute_slices <= profile.compute_slices for s in ci.placements)


def test_compute_instance_profile_ids_7_and_8():
    assert gpu_models.COMPUTE_SLICES_BY_CI_PROFILE[7] == 1  # 1_SLICE_REV1
    assert gpu_models.COMPUTE_SLICES_BY_CI_PROFILE[8] == 7  # 7_SLICE_NVL


def test_module_is_stdlib_only():
    source = Path(gpu_models.__file__).read_text()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "re", "dataclasses"}
