# -*- coding: utf-8 -*-
"""Unit tests of plugins/module_utils/gpu_models.py against the shared reference table."""

import sys
from pathlib import Path

import pytest
import yaml

try:
    from ansible_collections.fractional.gpu.plugins.module_utils import gpu_models
except ImportError:
    # Plain pytest in a clone that does not sit at ansible_collections/fractional/gpu:
    # expose the clone under that name through a symlink in the ignored tests/output/.
    _root = Path(__file__).resolve().parents[4]
    _namespace = _root / "tests" / "output" / ".collection-path" / "ansible_collections" / "fractional"
    _namespace.mkdir(parents=True, exist_ok=True)
    try:
        (_namespace / "gpu").symlink_to(_root, target_is_directory=True)
    except FileExistsError:
        pass
    sys.path.insert(0, str(_namespace.parent.parent))
    from ansible_collections.fractional.gpu.plugins.module_utils import gpu_models

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (  # noqa: E402
    GPU_MODELS,
    compute_profiles,
    gfd_product_label,
    model_by_key,
    model_by_pci_device_id,
    model_by_product_name,
)

MIG_MODELS = [m for m in GPU_MODELS.values() if m.mig_capable]

# name -> max instances per GPU, from /work/shared/reference/mig-profiles.md.
REFERENCE_COUNTS = {
    "A100-SXM4-40GB": {"1g.5gb": 7, "1g.5gb+me": 1, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2,
                       "4g.20gb": 1, "7g.40gb": 1},
    "A100-SXM4-80GB": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2,
                       "4g.40gb": 1, "7g.80gb": 1},
    "H100-SXM5-80GB": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2,
                       "4g.40gb": 1, "7g.80gb": 1},
    "H100-NVL-94GB": {"1g.12gb": 7, "1g.12gb+me": 1, "1g.24gb": 4, "2g.24gb": 3, "3g.47gb": 2,
                      "4g.47gb": 1, "7g.94gb": 1},
    "H200-141GB": {"1g.18gb": 7, "1g.18gb+me": 1, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2,
                   "4g.71gb": 1, "7g.141gb": 1},
    "B200-180GB": {"1g.23gb": 7, "1g.23gb+me": 1, "1g.45gb": 4, "2g.45gb": 3, "3g.90gb": 2,
                   "4g.90gb": 1, "7g.180gb": 1},
    "A30-24GB": {"1g.6gb": 4, "1g.6gb+me": 1, "2g.12gb": 2, "2g.12gb+me": 1, "4g.24gb": 1},
}

# nvidia-smi profile id -> (placements, size in memory slices), from the reference.
REFERENCE_PLACEMENTS_8_SLICES = {
    19: ((0, 1, 2, 3, 4, 5, 6), 1), 20: ((0, 1, 2, 3, 4, 5, 6), 1), 15: ((0, 2, 4, 6), 2),
    14: ((0, 2, 4), 2), 9: ((0, 4), 4), 5: ((0,), 4), 0: ((0,), 8),
}
REFERENCE_PLACEMENTS_A30 = {14: ((0, 1, 2, 3), 1), 21: ((0, 1, 2, 3), 1), 5: ((0, 2), 2),
                            0: ((0,), 4)}


def test_the_lab_models_are_all_known():
    assert set(GPU_MODELS) == {"A100-SXM4-40GB", "A100-SXM4-80GB", "A30-24GB", "H100-SXM5-80GB",
                               "H100-NVL-94GB", "H200-141GB", "B200-180GB", "L40S"}
    nodes = yaml.safe_load((Path(__file__).resolve().parents[3] / "lab" / "nodes.yaml").read_text())["nodes"]
    for node in nodes:
        assert model_by_key(node["gpu"]["model"]).key == node["gpu"]["model"]


@pytest.mark.parametrize("model", MIG_MODELS, ids=lambda m: m.key)
def test_profile_names_and_counts_match_the_reference(model):
    assert {p.name: p.max_instances for p in model.profiles} == REFERENCE_COUNTS[model.key]


@pytest.mark.parametrize("model", MIG_MODELS, ids=lambda m: m.key)
def test_placements_match_the_reference_and_fit_the_slices(model):
    reference = REFERENCE_PLACEMENTS_A30 if model.key == "A30-24GB" else REFERENCE_PLACEMENTS_8_SLICES
    for profile in model.profiles:
        for start in profile.placements:
            assert 0 <= start and start + profile.memory_slices <= model.memory_slices, profile
            assert start % profile.memory_slices == 0 or profile.memory_slices == 1, profile
        assert profile.compute_slices <= model.compute_slices
        assert profile.max_instances <= len(profile.placements)
        assert profile.max_instances * profile.compute_slices <= model.compute_slices
        assert profile.memory_mib * model.memory_slices // profile.memory_slices <= model.memory_mib * 1.02
        if profile.gi_profile_id in reference:
            assert (profile.placements, profile.memory_slices) == reference[profile.gi_profile_id]
    assert len({p.gi_profile_id for p in model.profiles}) == len(model.profiles)
    assert sum(p.media_extensions for p in model.profiles) == (2 if model.key == "A30-24GB" else 1)


def test_eight_slice_profile_ids_and_nvml_enums():
    h100 = model_by_key("H100-SXM5-80GB")
    ids = [(p.name, p.gi_profile_id, p.nvml_profile) for p in h100.profiles]
    assert ids == [("1g.10gb", 19, 0), ("1g.10gb+me", 20, 7), ("1g.20gb", 15, 9), ("2g.20gb", 14, 1),
                   ("3g.40gb", 9, 2), ("4g.40gb", 5, 3), ("7g.80gb", 0, 4)]
    assert h100.profile("3g.40gb").memory_mib == 40448  # 39.50 GiB in nvidia-smi mig -lgip


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
        assert model_by_product_name(model.product_name) is model


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
    assert [c.name for c in compute_profiles(h100.profile("1g.10gb+me"))] == ["1g.10gb+me"]
    for model in MIG_MODELS:
        for profile in model.profiles:
            for ci in compute_profiles(profile):
                assert all(s + ci.compute_slices <= profile.compute_slices for s in ci.placements)


def test_module_is_stdlib_only():
    source = Path(gpu_models.__file__).read_text()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "re", "dataclasses"}
