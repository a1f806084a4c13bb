# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import model_by_key
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    MigConfigError,
    ProfileKey,
    desired_from_config,
    parse_config,
    parse_device_filter,
    parse_profile_key,
    resolve,
    select_config,
    validate_gpu_layout,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import GpuState

H100_ID = "0x233010DE"
H100 = model_by_key("H100-SXM5-80GB")


def host(*groups):
    """host(("H100-SXM5-80GB", 8), ("L40S", 1)) -> list of GpuState."""
    gpus = []
    for key, count in groups:
        model = model_by_key(key)
        for dummy in range(count):
            gpus.append(GpuState(index=len(gpus), name=model.product_name,
                                 pci_device_id=(model.pci_device_ids[0] << 16) | 0x10DE,
                                 mig_capable=model.mig_capable, model=model.key))
    return gpus


def config(entries, name="test"):
    return {"version": "v1", "mig-configs": {name: entries}}


def errors_of(data, gpus, name="test"):
    with pytest.raises(MigConfigError) as info:
        desired_from_config(data, name, gpus)
    return info.value.errors


# --- format ------------------------------------------------------------------------------

def test_parse_minimal_and_gpu_operator_style_config():
    data = {"version": "v1", "mig-configs": {
        "all-disabled": [{"devices": "all", "mig-enabled": False}],
        "all-1g.10gb": [
            {"device-filter": ["0x233010DE", "0x233110DE"], "devices": "all",
             "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
            {"device-filter": "0x20B210DE", "devices": [0, 1], "mig-enabled": True,
             "mig-devices": {"1g.10gb": 7}},
        ],
        "all-enabled": [{"devices": "all", "mig-enabled": True, "mig-devices": {}}],
    }}
    parsed = parse_config(data)
    assert sorted(parsed.configs) == ["all-1g.10gb", "all-disabled", "all-enabled"]
    first = parsed.configs["all-1g.10gb"][0]
    assert [str(f) for f in first.device_filters] == ["0x233010DE", "0x233110DE"]
    assert parsed.configs["all-1g.10gb"][1].devices == (0, 1)


def test_unknown_fields_and_every_format_error_are_reported():
    data = {"version": "v2", "extra": 1, "mig-configs": {
        "a": [{"devices": "some", "mig-enabled": "yes", "mig-devices": {"1g.10gb": -1},
               "bogus": True}],
        "b": [{"mig-enabled": False, "mig-devices": {"1g.10gb": 1}}],
        "c": [],
    }}
    with pytest.raises(MigConfigError) as info:
        parse_config(data)
    text = "\n".join(info.value.errors)
    for needle in ["unknown version 'v2'", "unexpected field 'extra'",
                   "mig-configs.a[0]: unexpected field 'bogus'",
                   "mig-configs.a[0]: devices must be 'all'",
                   "mig-configs.a[0]: mig-enabled must be true or false",
                   "count of '1g.10gb' must be a whole number >= 0",
                   "mig-configs.b[0]: missing required field 'devices'",
                   "mig-configs.b[0]: MIG devices included when 'mig-enabled' is false",
                   "mig-configs.c: at least one entry is required"]:
        assert needle in text, needle


def test_enabled_needs_mig_devices_but_empty_is_allowed():
    with pytest.raises(MigConfigError, match="missing required field 'mig-devices'"):
        parse_config(config([{"devices": "all", "mig-enabled": True}]))
    parse_config(config([{"devices": "all", "mig-enabled": True, "mig-devices": {}}]))


@pytest.mark.parametrize("data", [None, [], "v1", {"version": "v1"},
                                  {"version": "v1", "mig-configs": {}}])
def test_top_level_shape(data):
    with pytest.raises(MigConfigError):
        parse_config(data)


def test_devices_rejects_booleans_and_negative_indices():
    with pytest.raises(MigConfigError):
        parse_config(config([{"devices": [True], "mig-enabled": False}]))
    with pytest.raises(MigConfigError):
        parse_config(config([{"devices": [-1], "mig-enabled": False}]))


@pytest.mark.parametrize("value, device, subsystem", [
    ("0x233010DE", 0x233010DE, None),
    ("0x233010de", 0x233010DE, None),
    ("0x233010DE:0x16C110DE", 0x233010DE, 0x16C110DE),
])
def test_device_filter(value, device, subsystem):
    parsed = parse_device_filter(value)
    assert (parsed.device_id, parsed.subsystem_id) == (device, subsystem)


@pytest.mark.parametrize("value, needle", [
    ("0x2330", "bare device id"),
    ("233010DE", "not a number"),
    ("0x1:0x2:0x3", "expected"),
    ("0x1233010DE", "more than 32 bits"),
])
def test_device_filter_errors(value, needle):
    with pytest.raises(ValueError, match=needle):
        parse_device_filter(value)


@pytest.mark.parametrize("key, expected", [
    ("1g.10gb", ProfileKey("1g.10gb")),
    ("1g.10gb+me", ProfileKey("1g.10gb+me")),
    ("1c.3g.40gb", ProfileKey("3g.40gb", 1)),
    ("3c.3g.40gb", ProfileKey("3g.40gb")),
    ("2c.7g.80gb", ProfileKey("7g.80gb", 2)),
])
def test_profile_keys(key, expected):
    assert parse_profile_key(key) == expected
    assert parse_profile_key(expected.name) == expected


@pytest.mark.parametrize("key, expected", [
    ("1g.24gb-me", ProfileKey("1g.24gb-me")),
    ("1g.24gb+me.all", ProfileKey("1g.24gb+me.all")),
    ("1c.2g.48gb+gfx", ProfileKey("2g.48gb+gfx", 1)),
    ("1g.24gb+me,gfx", ProfileKey("1g.24gb+gfx,me")),  # attributes in any order
])
def test_nvidia_attributes(key, expected):
    assert parse_profile_key(key) == expected


@pytest.mark.parametrize("key, needle", [
    ("1g.10gb+me-gfx", "invalid attribute list"),
    ("1g.10gb+", "invalid attribute list"),
    ("1g.10gb+me.", "invalid attribute list"),
    ("1g.10gb+9me", "invalid attribute list"),
    ("1g.10gb+me,me", "listed twice"),
    ("4c.3g.40gb", "4 slices cannot sit in a 3g"),
    ("10gb", "invalid profile"),
    ("1G.10GB", "invalid profile"),
])
def test_profile_key_errors(key, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        parse_profile_key(key)


def test_attribute_the_gpu_lacks_is_a_config_error():
    errors = errors_of(config([{"devices": "all", "mig-enabled": True,
                                "mig-devices": {"1g.10gb+gfx": 1}}]), host(("H100-SXM5-80GB", 1)))
    assert errors == ["mig-configs.test[0]: GPU 0 (H100-SXM5-80GB): profile '1g.10gb+gfx' does not "
                      "exist on H100-SXM5-80GB (valid: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, "
                      "4g.40gb, 7g.80gb)"]


# --- selection ---------------------------------------------------------------------------

def test_select_config():
    parsed = parse_config({"version": "v1", "mig-configs": {
        "a": [{"devices": "all", "mig-enabled": False}],
        "b": [{"devices": "all", "mig-enabled": False}]}})
    assert select_config(parsed, "b")[0] == "b"
    with pytest.raises(MigConfigError, match="config_name is required"):
        select_config(parsed, None)
    with pytest.raises(MigConfigError, match="'zzz' not present; available: a, b"):
        select_config(parsed, "zzz")
    single = parse_config(config([{"devices": "all", "mig-enabled": False}], name="only"))
    assert select_config(single, None)[0] == "only"


# --- model validation --------------------------------------------------------------------

def test_valid_layouts():
    for layout in ({"1g.10gb": 7}, {"3g.40gb": 2}, {"4g.40gb": 1, "3g.40gb": 1},
                   {"7g.80gb": 1}, {"1g.10gb+me": 1, "1g.10gb": 6}, {"1c.3g.40gb": 2},
                   {"2g.20gb": 3, "1g.10gb": 1}, {"1g.20gb": 4}, {}):
        keys, errors = validate_gpu_layout("GPU 0 (H100-SXM5-80GB)", H100, list(layout.items()))
        assert errors == [], layout
        assert len(keys) == sum(layout.values())


@pytest.mark.parametrize("layout, needle", [
    ({"1g.5gb": 1}, "profile '1g.5gb' does not exist on H100-SXM5-80GB (valid: 1g.10gb,"),
    ({"1g.10gb": 8}, "profile '1g.10gb': 8 instances requested, H100-SXM5-80GB allows at most 7"),
    ({"4g.40gb": 2}, "profile '4g.40gb': 2 instances requested"),
    ({"4g.40gb": 1, "3g.40gb": 1, "1g.10gb": 1}, "8 compute slices requested"),
    ({"3g.40gb": 2, "1g.10gb": 1}, "9 memory slices requested"),
    ({"2c.1g.10gb": 1}, "'2c.1g.10gb': a compute instance of 2 slices cannot sit"),
])
def test_invalid_layouts(layout, needle):
    dummy, errors = validate_gpu_layout("GPU 0 (H100-SXM5-80GB)", H100, list(layout.items()))
    assert any(needle in e for e in errors), errors
    assert all(e.startswith("GPU 0 (H100-SXM5-80GB): ") for e in errors)


def test_more_than_one_media_extension_instance():
    a30 = model_by_key("A30-24GB")
    dummy, errors = validate_gpu_layout("GPU 0 (A30-24GB)", a30,
                                        [("1g.6gb+me", 1), ("2g.12gb+me", 1)])
    assert any("at most one '+me' or '+me.all' instance" in e for e in errors), errors
    rtx = model_by_key("RTX-PRO-6000-BW-96GB")
    dummy, errors = validate_gpu_layout("G", rtx, [("1g.24gb+me", 1), ("2g.48gb+me.all", 1)])
    assert any("2 instances with media extensions" in e for e in errors), errors
    keys, errors = validate_gpu_layout("G", rtx, [("1g.24gb-me", 2), ("2g.48gb+gfx", 1)])
    assert errors == [] and [k.name for k in keys] == ["1g.24gb-me", "1g.24gb-me", "2g.48gb+gfx"]


def test_counts_are_checked_before_anything_is_expanded():
    keys, errors = validate_gpu_layout("G", H100, [("1g.10gb", 30000000), ("2g.20gb", 10 ** 12)])
    assert keys == () and errors == [
        "G: profile '1g.10gb': 30000000 instances requested, H100-SXM5-80GB allows at most 7",
        "G: profile '2g.20gb': 1000000000000 instances requested, H100-SXM5-80GB allows at most 3"]


def test_no_placement():
    # With NVIDIA's tables, sets whose slice counts fit always have a placement on the
    # models we know (slot 7 is only reachable by 1g double-memory, 3g and 7g, and every
    # 8-memory-slice set without them needs 8 compute slices). A model whose 2g only
    # starts at slot 0 shows the check at work.
    narrow = dataclasses.replace(H100, profiles=tuple(
        dataclasses.replace(p, placements=(0,)) if p.name == "2g.20gb" else p
        for p in H100.profiles))
    dummy, errors = validate_gpu_layout("GPU 0 (X)", narrow, [("2g.20gb", 2)])
    assert errors == ["GPU 0 (X): no placement of 2g.20gb x2 fits the GPU: each profile has "
                      "fixed start slots (nvidia-smi mig -lgipp) and every assignment overlaps"]


def test_placement_error_only_when_counts_fit():
    # 1g.20gb x3 + 2g x1 + 1g x1: 7 compute, 9 memory -> memory error, no placement noise.
    dummy, errors = validate_gpu_layout("G", H100, [("1g.20gb", 3), ("2g.20gb", 1), ("1g.10gb", 1)])
    assert not any("no placement" in e for e in errors)


# --- resolution --------------------------------------------------------------------------

def test_resolve_all_devices():
    desired, warnings = resolve("t", parse_config(config([
        {"devices": "all", "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}])).configs["test"],
        host(("H100-SXM5-80GB", 8)))
    assert sorted(desired) == list(range(8))
    assert desired[5].layout_names() == ["3g.40gb", "3g.40gb"]
    assert desired[5].model == "H100-SXM5-80GB"
    assert warnings == []


def test_resolve_mixed_host_with_filters_and_unmatched_gpus_left_alone():
    gpus = host(("H100-SXM5-80GB", 2), ("A100-SXM4-40GB", 2))
    name, desired, warnings = desired_from_config(config([
        {"device-filter": H100_ID, "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.10gb": 7}},
        {"device-filter": "0x20B010DE", "devices": [3], "mig-enabled": True,
         "mig-devices": {"3g.20gb": 2}},
        {"device-filter": "0x233510DE", "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.18gb": 7}},
    ]), "test", gpus)
    assert sorted(desired) == [0, 1, 3]  # GPU 2 unmatched: left alone
    assert desired[3].layout_names() == ["3g.20gb", "3g.20gb"]
    assert warnings == ["MIG config 'test' leaves GPU(s) 2 of this host alone (no entry matches "
                        "them; 'mig-parted assert' would report the host as not matching)"]


def test_profiles_of_unmatched_models_are_not_checked():
    # An A100-40GB profile in an entry filtered to A100s must not fail on an H100 host.
    dummy, desired, warnings = desired_from_config(config([
        {"device-filter": "0x20B010DE", "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.5gb": 7}},
        {"device-filter": H100_ID, "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.10gb": 7}},
    ]), "test", host(("H100-SXM5-80GB", 1)))
    assert list(desired) == [0] and warnings == []


MIXED_FLEET = config([
    {"device-filter": H100_ID, "devices": [0, 1, 2, 3], "mig-enabled": True,
     "mig-devices": {"1g.10gb": 7}},
    {"device-filter": H100_ID, "devices": [4, 5, 6, 7], "mig-enabled": True,
     "mig-devices": {"3g.40gb": 2}},
    {"device-filter": "0x20B710DE", "devices": "all", "mig-enabled": True,
     "mig-devices": {"2g.12gb": 2}},
    {"device-filter": "0x20B010DE", "devices": [0, 1, 2, 3], "mig-enabled": True,
     "mig-devices": {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}},
], "fleet")


@pytest.mark.parametrize("groups, managed", [
    ((("A30-24GB", 2),), [0, 1]),
    ((("A100-SXM4-40GB", 4),), [0, 1, 2, 3]),
    ((("H100-SXM5-80GB", 8),), list(range(8))),
])
def test_a_fleet_config_skips_entries_for_other_models_before_their_device_indices(groups, managed):
    """mig-parted walks each entry over the GPUs its device-filter selects: the H100 entries'
    indices 2-7 do not exist on a 2-GPU A30 host, and must not be checked there."""
    dummy, desired, warnings = desired_from_config(MIXED_FLEET, "fleet", host(*groups))
    assert sorted(desired) == managed and warnings == []


def test_indices_are_checked_on_a_host_the_filter_selects():
    errors = errors_of(MIXED_FLEET, host(("H100-SXM5-80GB", 2)), "fleet")
    assert errors == ["mig-configs.fleet[0]: device index 2 out of range: the host has 2 GPU(s) "
                      "(indices 0-1)", "mig-configs.fleet[0]: device index 3 out of range: the host "
                      "has 2 GPU(s) (indices 0-1)", "mig-configs.fleet[1]: device index 4 out of range: "
                      "the host has 2 GPU(s) (indices 0-1)", "mig-configs.fleet[1]: device index 5 out of "
                      "range: the host has 2 GPU(s) (indices 0-1)", "mig-configs.fleet[1]: device index 6 "
                      "out of range: the host has 2 GPU(s) (indices 0-1)", "mig-configs.fleet[1]: device "
                      "index 7 out of range: the host has 2 GPU(s) (indices 0-1)"]


def test_a_config_that_selects_no_gpu_fails_unless_expected():
    """mig-parted assert fails ("not all GPUs match"); a PCIe/SXM device id mix-up must not
    be a green no-op."""
    data = config([{"device-filter": "0x233110DE", "devices": "all", "mig-enabled": True,
                    "mig-devices": {"1g.10gb": 7}}])
    errors = errors_of(data, host(("H100-SXM5-80GB", 2)))
    assert errors == ["MIG config 'test' selects none of this host's 2 GPU(s) (GPU 0 "
                      "(H100-SXM5-80GB) 0x233010DE, GPU 1 (H100-SXM5-80GB) 0x233010DE): no entry's "
                      "device-filter and devices match them, so nothing would be configured "
                      "('mig-parted assert' fails the same way); check the device-filter ids "
                      "(0x<device><vendor>) or set allow_no_match where this is expected"]
    dummy, desired, warnings = desired_from_config(data, "test", host(("H100-SXM5-80GB", 2)),
                                                   allow_no_match=True)
    assert desired == {} and warnings[0].startswith("MIG config 'test' selects none")


def test_configs_the_host_does_not_select_are_parsed_but_not_held_to_its_gpus():
    data = config([{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}], "mine")
    data["mig-configs"]["rtx"] = [{"devices": "all", "mig-enabled": True,
                                   "mig-devices": {"1g.24gb+gfx": 4, "1g.24gb-me": 0}}]
    data["mig-configs"]["a100"] = [{"devices": [7], "mig-enabled": True, "mig-devices": {"1g.5gb": 7}}]
    dummy, desired, warnings = desired_from_config(data, "mine", host(("H100-SXM5-80GB", 1)))
    assert desired[0].layout_names() == ["1g.10gb"] * 7
    data["mig-configs"]["broken"] = [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g": 1}}]
    with pytest.raises(MigConfigError, match="broken"):  # a format error anywhere: mig-parted refuses the file
        desired_from_config(data, "mine", host(("H100-SXM5-80GB", 1)))


def test_every_error_is_collected_and_names_gpu_and_profile():
    gpus = host(("H100-SXM5-80GB", 2), ("L40S", 1))
    errors = errors_of(config([
        {"devices": [0], "mig-enabled": True, "mig-devices": {"1g.5gb": 1, "1g.10gb": 8}},
        {"devices": [1, 9], "mig-enabled": True, "mig-devices": {"3g.40gb": 2, "4g.40gb": 1}},
        {"devices": [2], "mig-enabled": True, "mig-devices": {"1g.10gb": 1}},
    ]), gpus)
    assert errors == [
        "mig-configs.test[0]: GPU 0 (H100-SXM5-80GB): profile '1g.5gb' does not exist on "
        "H100-SXM5-80GB (valid: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, "
        "7g.80gb)",
        "mig-configs.test[0]: GPU 0 (H100-SXM5-80GB): profile '1g.10gb': 8 instances "
        "requested, H100-SXM5-80GB allows at most 7",
        "mig-configs.test[1]: device index 9 out of range: the host has 3 GPU(s) "
        "(indices 0-2)",
        "mig-configs.test[1]: GPU 1 (H100-SXM5-80GB): 10 compute slices requested "
        "(3g.40gb x2, 4g.40gb x1), H100-SXM5-80GB has 7",
        "mig-configs.test[1]: GPU 1 (H100-SXM5-80GB): 12 memory slices requested "
        "(3g.40gb x2, 4g.40gb x1), H100-SXM5-80GB has 8",
        "mig-configs.test[2]: GPU 2 (L40S) is not MIG capable (NVIDIA L40S); mig-enabled "
        "must be false for it, or exclude it with device-filter or devices",
    ]


def test_non_mig_gpu_with_mig_disabled_is_fine():
    dummy, desired, warnings = desired_from_config(
        config([{"devices": "all", "mig-enabled": False}]), None, host(("L40S", 1)))
    assert desired[0].mig_enabled is False and desired[0].model == "L40S"


def test_unknown_model():
    gpus = [GpuState(index=0, name="NVIDIA Mystery", pci_device_id=0x999910DE)]
    errors = errors_of(config([{"devices": "all", "mig-enabled": True,
                                "mig-devices": {"1g.10gb": 1}}]), gpus)
    assert "unknown GPU model (PCI device id 0x999910DE)" in errors[0]


def test_conflicting_entries_for_one_gpu():
    gpus = host(("H100-SXM5-80GB", 2))
    errors = errors_of(config([
        {"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
        {"devices": [1], "mig-enabled": True, "mig-devices": {"3g.40gb": 2}},
    ]), gpus)
    assert errors == ["mig-configs.test[1]: GPU 1 (H100-SXM5-80GB) is also matched by "
                      "mig-configs.test[0] with a different layout (MIG enabled: "
                      + ", ".join(["1g.10gb"] * 7) + " vs MIG enabled: 3g.40gb, 3g.40gb)"]
    # The same layout twice is not a conflict.
    desired_from_config(config([
        {"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
        {"devices": [1], "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
    ]), "test", gpus)


def test_subsystem_filter():
    gpus = host(("H100-SXM5-80GB", 2))
    gpus[1].pci_subsystem_id = 0x16C110DE
    dummy, desired, warnings = desired_from_config(config([
        {"device-filter": "0x233010DE:0x16C110DE", "devices": "all", "mig-enabled": False}]),
        "test", gpus)
    assert list(desired) == [1]


def test_compute_instance_prefix_resolves():
    dummy, desired, warnings = desired_from_config(config([
        {"devices": "all", "mig-enabled": True, "mig-devices": {"1c.3g.40gb": 1, "3g.40gb": 1}}]),
        "test", host(("H100-SXM5-80GB", 1)))
    assert desired[0].layout_names() == ["1c.3g.40gb", "3g.40gb"]


# --- NVIDIA's own configs, and GPUs as their driver describes them ----------------------------

DEFAULT_CONFIG = yaml.safe_load((Path(__file__).resolve().parents[3] / "fixtures" / "mig_parted"
                                 / "config-default.yaml").read_text())


def test_nvidias_default_config_parses_whole():
    parsed = parse_config(DEFAULT_CONFIG)
    assert len(parsed.configs) == 68
    keys = {key for entries in parsed.configs.values() for entry in entries for key, _count in entry.mig_devices}
    assert {"1g.24gb+gfx", "1g.24gb+me.all", "1g.24gb-me", "4g.96gb+gfx", "2g.48gb+me.all"} <= keys


@pytest.mark.parametrize("key", ["A100-SXM4-40GB", "A100-SXM4-80GB", "A30-24GB", "H100-SXM5-80GB",
                                 "H100-NVL-94GB", "H100-96GB", "PG506-96GB", "H200-141GB", "GH200-144GB",
                                 "B200-180GB", "GB200-186GB", "RTX-PRO-6000-BW-96GB"])
def test_nvidias_all_balanced_resolves_on_every_model_it_names(key):
    dummy, desired, warnings = desired_from_config(DEFAULT_CONFIG, "all-balanced", host((key, 2)))
    assert sorted(desired) == [0, 1] and desired[0].mig_enabled and warnings == []


def described(key, index=0, memory=None, drop=()):
    """A GpuState whose driver reports ``key``'s profiles (memory overridden per name)."""
    gpu = host((key, 1))[0]
    gpu.index = index
    model = model_by_key(key)
    gpu.profiles = [dataclasses.replace(p, memory_mib=(memory or {}).get(p.name, p.memory_mib))
                    for p in model.profiles if p.name not in drop]
    return gpu


def test_a_gpu_the_table_lacks_works_from_its_drivers_description():
    gpu = described("H200-141GB")
    gpu.name, gpu.pci_device_id, gpu.model = "NVIDIA B300 SXM6 AC", 0x318210DE, None
    dummy, desired, warnings = desired_from_config(config([
        {"device-filter": "0x318210DE", "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.18gb": 2, "3g.71gb": 1}}]), "test", [gpu])
    assert desired[0].model == "NVIDIA-B300-SXM6-AC"
    assert warnings == ["GPU 0 (NVIDIA B300 SXM6 AC): the collection's GPU table does not know NVIDIA "
                        "B300 SXM6 AC (PCI device id 0x318210DE); using the 7 MIG profiles its driver reports"]


def test_the_drivers_profiles_win_and_a_difference_from_the_table_is_a_warning():
    gpu = described("H200-141GB", memory={"2g.35gb": 30000}, drop=("7g.141gb",))
    dummy, desired, warnings = desired_from_config(config([
        {"devices": "all", "mig-enabled": True, "mig-devices": {"2g.35gb": 3}}]), "test", [gpu])
    assert desired[0].layout_names() == ["2g.35gb"] * 3
    assert warnings == ["GPU 0 (H200-141GB): the driver's MIG profiles differ from the collection's table "
                        "for H200-141GB (the driver's are used): the table's profile 7g.141gb is not "
                        "reported by the driver; 2g.35gb: 33280 MiB in the table, 30000 MiB reported"]
    errors = errors_of(config([{"devices": "all", "mig-enabled": True, "mig-devices": {"7g.141gb": 1}}]), [gpu])
    assert "profile '7g.141gb' does not exist on H200-141GB" in errors[0]
