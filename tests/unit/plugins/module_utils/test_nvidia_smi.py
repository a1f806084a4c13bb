# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.fractional.gpu.plugins.module_utils import nvidia_smi as smi
from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import mib_from_gib, model_by_key

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "nvidia_smi"
PUBLIC = FIXTURES / "public"
H200_REAL = Path(__file__).resolve().parents[3] / "fixtures" / "real" / "h200-sxm-141gb-driver-580.159.04"


def fixture(name):
    return (FIXTURES / name).read_text()


def real(name):
    return (H200_REAL / name).read_text()


def public(name):
    return (PUBLIC / name).read_text()


# --- real captures ------------------------------------------------------------------------

def test_real_h200_query_xml():
    (gpu,) = smi.parse_query_xml(real("q_x.xml"))
    assert (gpu.name, gpu.model, gpu.architecture) == ("NVIDIA H200", "H200-141GB", "Hopper")
    assert (gpu.pci_device_id, gpu.pci_subsystem_id) == (0x233510DE, 0x18BF10DE)
    assert (gpu.mig_capable, gpu.mig_current, gpu.mig_pending) == (True, False, False)
    assert gpu.memory_mib == 143771 and gpu.gpu_instances == [] and gpu.processes == []


def test_real_h200_profiles_with_mig_off_are_the_drivers_description():
    profiles = smi.driver_profiles(real("lgip_mig_disabled.txt"), real("lgipp_mig_disabled.txt"))[0]
    rows = smi.parse_lgip(real("lgip_mig_disabled.txt"))[0]
    assert all(row["free"] == row["total"] for row in rows)  # Free = Total with MIG off
    assert profiles == list(model_by_key("H200-141GB").profiles)


def test_real_h200_listings_with_mig_off():
    assert real("lgi_mig_disabled.txt").strip() == "No MIG-enabled devices found."
    assert smi.parse_lgi(real("lgi_mig_disabled.txt")) == {}
    assert smi.parse_lci(real("lci_mig_disabled.txt")) == {}
    # The real tool exits 0 here; the client reads the same state either way.
    run = FakeRunner({"-q -x": (0, real("q_x.xml"), ""), "mig -lgip": (0, real("lgip_mig_disabled.txt"), ""),
                      "mig -lgipp": (0, real("lgipp_mig_disabled.txt"), "")})
    (gpu,) = smi.NvidiaSmi(run).read_state()
    assert len(gpu.profiles) == 7 and gpu.gpu_instances == []
    assert [c[1:] for c in run.calls] == [["-q", "-x"], ["mig", "-lgip"], ["mig", "-lgipp"]]


@pytest.mark.parametrize("name, key", [
    ("lgip_h100_80gb.txt", "H100-SXM5-80GB"),
    ("lgip_h100_nvl_excerpt.txt", "H100-NVL-94GB"),
    ("lgip_h200_excerpt.txt", "H200-141GB"),
    ("lgip_b200_excerpt.txt", "B200-180GB"),
    ("lgip_gb200_excerpt.txt", "GB200-186GB"),
    ("lgip_gh200_144gb_excerpt.txt", "GH200-144GB"),
    ("lgip_rtx_pro_6000_excerpt.txt", "RTX-PRO-6000-BW-96GB"),
])
def test_public_lgip_captures_parse_and_agree_with_the_table(name, key):
    model = model_by_key(key)
    rows = [row for gpu_rows in smi.parse_lgip(public(name)).values() for row in gpu_rows]
    assert len(rows) >= 4
    for row in rows:
        profile = model.profile(row["name"])
        assert (row["id"], row["total"]) == (profile.gi_profile_id, profile.max_instances), row
        mib = mib_from_gib(row["memory_gib"])
        if profile.memory_mib is not None:
            assert abs(mib - profile.memory_mib) <= profile.memory_mib * 0.02, row


def test_public_lgi_capture():
    parsed = smi.parse_lgi(public("lgi_h100_dcgm138.txt"))
    assert [(gi.id, gi.profile, gi.placement_start) for gi in parsed[1]] == [
        (13, "1g.10gb", 2), (14, "1g.10gb", 3), (5, "2g.20gb", 0), (1, "3g.40gb", 4)]


def test_older_lci_layout_without_placement_is_read():
    parsed = smi.parse_lci(public("lci_no_placement_composed.txt"))
    cis = parsed[0][1]
    assert [(ci.id, ci.compute_slices, ci.placement_start) for ci in cis] == [(0, 1, None), (1, 2, None)]
    assert (parsed[0][5][0].compute_slices, parsed[0][5][0].profile_id) == (1, 0)


def test_a_listing_in_an_unknown_layout_is_an_error_never_no_instances():
    odd = "| Compute instances: |\n|   0      1    MIG 1g.5gb   0   0   extra   columns   |\n"
    with pytest.raises(ValueError, match="cannot read this row of 'nvidia-smi mig -lci'"):
        smi.parse_lci(odd)
    run = FakeRunner({"-q -x": (0, fixture("q_x_h100_mixed.xml"), ""),
                      "mig -lgip": (6, fixture("lgi_mig_disabled.txt"), ""),
                      "mig -lgi": (0, fixture("lgi_h100.txt"), ""), "mig -lci": (0, odd, "")})
    with pytest.raises(smi.NvidiaSmiError, match="cannot read this row"):
        smi.NvidiaSmi(run).read_state()


def test_compute_instance_profile_ids_7_and_8():
    text = ("|   0      3       MIG 2g.20gb          7         0          0:1     |\n"
            "|   0      0       MIG 7g.80gb          8         0          0:7     |\n")
    parsed = smi.parse_lci(text)[0]
    assert parsed[3][0].compute_slices == 1  # 1_SLICE_REV1: a 1c CI in a 2g GI, not "2g.20gb"
    assert parsed[0][0].compute_slices == 7  # 7_SLICE_NVL


# --- composed fixtures --------------------------------------------------------------------


def test_query_xml_gpus_modes_and_ids():
    gpus = smi.parse_query_xml(fixture("q_x_h100_mixed.xml"))
    assert [g.index for g in gpus] == [0, 1, 2]
    g0, g1, g2 = gpus
    assert g0.name == "NVIDIA H100 80GB HBM3"
    assert g0.uuid == "GPU-5d1c8f0e-3b6a-4f57-9d51-0c6f2b7a9e10"
    assert g0.pci_bus_id == "00000000:18:00.0"
    assert g0.pci_device_id == 0x233010DE and g0.pci_device_id_hex() == "0x233010DE"
    assert g0.pci_subsystem_id == 0x16C110DE
    assert g0.model == "H100-SXM5-80GB"
    assert g0.memory_mib == 81559
    assert (g0.mig_capable, g0.mig_current, g0.mig_pending) == (True, True, True)
    assert (g1.mig_current, g1.mig_pending) == (False, False)
    assert (g2.mig_current, g2.mig_pending) == (False, True)


def test_query_xml_mig_devices_and_processes():
    g0, g1, g2 = smi.parse_query_xml(fixture("q_x_h100_mixed.xml"))
    assert [gi.id for gi in g0.gpu_instances] == [2, 3, 9]
    assert g0.gpu_instances[0].compute_instances[0].memory_mib == 40448
    assert len(g0.processes) == 1
    proc = g0.processes[0]
    assert (proc.pid, proc.name, proc.gpu_instance_id, proc.compute_instance_id,
            proc.used_memory_mib) == (48213, "python3", 2, 0, 1536)
    assert g1.gpu_instances == []
    assert g1.processes[0].gpu_instance_id is None
    assert g1.processes[0].name == "/usr/bin/vllm"
    assert g2.processes == []


def test_query_xml_not_mig_capable():
    (gpu,) = smi.parse_query_xml(fixture("q_x_l40s.xml"))
    assert gpu.model == "L40S"
    assert (gpu.mig_capable, gpu.mig_current, gpu.mig_pending) == (False, None, None)
    assert gpu.gpu_instances == []


def test_lgi():
    parsed = smi.parse_lgi(fixture("lgi_h100.txt"))
    rows = [(gi.id, gi.profile_id, gi.profile, gi.placement_start, gi.placement_size)
            for gi in parsed[0]]
    assert rows == [(9, 19, "1g.10gb", 2, 1), (10, 19, "1g.10gb", 3, 1),
                    (3, 14, "2g.20gb", 0, 2), (2, 9, "3g.40gb", 4, 4)]


@pytest.mark.parametrize("name", ["lgi_none.txt", "lgi_mig_disabled.txt"])
def test_lgi_empty_answers(name):
    assert smi.parse_lgi(fixture(name)) == {}


def test_lci():
    parsed = smi.parse_lci(fixture("lci_h100.txt"))
    assert sorted(parsed[0]) == [2, 3, 9]
    ci = parsed[0][2][0]
    assert (ci.id, ci.profile_id, ci.compute_slices, ci.placement_start) == (0, 2, 3, 0)


def test_lci_compute_prefix_and_default_marker():
    text = "|   0      1       MIG 1c.3g.40gb       0*        1          2:1     |\n"
    ci = smi.parse_lci(text)[0][1][0]
    assert (ci.id, ci.compute_slices, ci.profile_id, ci.placement_start) == (1, 1, 0, 2)


def test_lgip():
    parsed = smi.parse_lgip(fixture("lgip_h100.txt"))[0]
    assert [p["name"] for p in parsed] == [
        "1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]
    assert [p["id"] for p in parsed] == [19, 20, 15, 14, 9, 5, 0]
    assert parsed[0]["free"] == 7 and parsed[0]["total"] == 7
    assert parsed[6]["memory_gib"] == 79.25 and parsed[6]["sm"] == 132
    assert (parsed[1]["ce"], parsed[1]["jpeg"], parsed[1]["ofa"]) == (1, 1, 1)


def test_lgip_agrees_with_gpu_models():
    from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import model_by_key
    model = model_by_key("H100-SXM5-80GB")
    parsed = smi.parse_lgip(fixture("lgip_h100.txt"))[0]
    assert [(p["name"], p["id"], p["total"]) for p in parsed] == [
        (p.name, p.gi_profile_id, p.max_instances) for p in model.profiles]


def test_lgipp_agrees_with_gpu_models():
    from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import model_by_key
    model = model_by_key("H100-SXM5-80GB")
    parsed = smi.parse_lgipp(fixture("lgipp_h100.txt"))[0]
    assert parsed == dict((p.gi_profile_id, (p.placements, p.memory_slices))
                          for p in model.profiles)


def test_merge_instances_fills_profiles_placements_and_cis():
    gpus = smi.parse_query_xml(fixture("q_x_h100_mixed.xml"))
    smi.merge_instances(gpus, fixture("lgi_h100.txt"), fixture("lci_h100.txt"))
    g0 = gpus[0]
    assert [(gi.id, gi.profile, gi.placement_start, gi.compute_slices)
            for gi in g0.gpu_instances] == [
        (2, "3g.40gb", 4, 3), (3, "2g.20gb", 0, 2), (9, "1g.10gb", 2, 1), (10, "1g.10gb", 3, 1)]
    gi2 = g0.gpu_instances[0]
    assert gi2.compute_instances[0].memory_mib == 40448
    # GI 10 has no compute instance: not a usable MIG device, never matches a layout.
    assert g0.gpu_instances[3].compute_instances == []
    assert g0.layout_names() == ["1g.10gb", "2g.20gb", "3g.40gb", "?"]
    assert gpus[1].gpu_instances == []


def test_created_gpu_instances():
    assert smi.parse_created_gpu_instances(fixture("cgi_created.txt")) == [
        (0, 2, "3g.40gb", 9), (0, 3, "2g.20gb", 14)]


@pytest.mark.parametrize("name, kind", [
    ("err_dgi_in_use.txt", smi.IN_USE),
    ("err_cgi_insufficient.txt", smi.INSUFFICIENT_RESOURCES),
    ("err_mig_pending.txt", smi.RESET_REQUIRED),
    ("err_reset_in_use.txt", smi.IN_USE),
    ("err_reset_not_supported.txt", smi.NOT_SUPPORTED),
    ("lgi_none.txt", smi.NOT_FOUND),
    ("lgi_mig_disabled.txt", smi.MIG_DISABLED),
])
def test_classify_error(name, kind):
    assert smi.classify_error(fixture(name)) == kind


def test_classify_other_messages():
    assert smi.classify_error("Unable to enable MIG Mode: Insufficient Permissions") == smi.NO_PERMISSION
    assert smi.classify_error("GPU requires restart") == smi.RESET_REQUIRED
    assert smi.classify_error("something odd") == smi.UNKNOWN


def test_error_message_names_command_class_and_hint():
    err = smi.NvidiaSmiError(["nvidia-smi", "mig", "-i", "0", "-dgi"], 19,
                             fixture("err_dgi_in_use.txt"))
    assert err.kind == smi.IN_USE
    assert "nvidia-smi mig -i 0 -dgi" in str(err)
    assert "In use by another client" in str(err)
    assert "holds the GPU" in str(err)


def test_command_builders():
    assert smi.cmd_query() == ["nvidia-smi", "-q", "-x"]
    assert smi.cmd_set_mig_mode(3, True) == ["nvidia-smi", "-i", "3", "-mig", "1"]
    assert smi.cmd_set_mig_mode(3, False, path="/usr/bin/nvidia-smi") == [
        "/usr/bin/nvidia-smi", "-i", "3", "-mig", "0"]
    assert smi.cmd_reset(2) == ["nvidia-smi", "-r", "-i", "2"]
    assert smi.cmd_create_gpu_instances(1, [(9, 4), (14, 0), (19, None)]) == [
        "nvidia-smi", "mig", "-i", "1", "-cgi", "9:4,14:0,19", "-C"]
    assert smi.cmd_create_gpu_instances(1, [(9, 0)], default_compute_instance=False)[-1] == "9:0"
    assert smi.cmd_create_compute_instance(1, 2, 0) == [
        "nvidia-smi", "mig", "-i", "1", "-gi", "2", "-cci", "0"]
    assert smi.cmd_destroy_compute_instances(0) == ["nvidia-smi", "mig", "-i", "0", "-dci"]
    assert smi.cmd_destroy_gpu_instances(0, [2, 3]) == [
        "nvidia-smi", "mig", "-i", "0", "-dgi", "-gi", "2,3"]
    assert smi.cmd_list_gpu_instance_profiles(index=0) == ["nvidia-smi", "mig", "-lgip", "-i", "0"]


class FakeRunner:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.answers[" ".join(argv[1:])]


def test_client_read_state_merges_listings():
    run = FakeRunner({
        "-q -x": (0, fixture("q_x_h100_mixed.xml"), ""),
        "mig -lgip": (0, public("lgip_h100_80gb.txt"), ""),
        "mig -lgipp": (0, fixture("lgipp_h100.txt"), ""),
        "mig -lgi": (0, fixture("lgi_h100.txt"), ""),
        "mig -lci": (0, fixture("lci_h100.txt"), ""),
    })
    client = smi.NvidiaSmi(run)
    gpus = client.read_state()
    assert gpus[0].layout_names() == ["1g.10gb", "2g.20gb", "3g.40gb", "?"]
    assert [p.name for p in gpus[0].profiles][:2] == ["1g.10gb", "1g.10gb+me"]
    assert gpus[0].profiles[-1].memory_mib == 81152  # 79.25 GiB
    assert client.mutations == []


def test_client_read_state_skips_listings_without_mig():
    run = FakeRunner({"-q -x": (0, fixture("q_x_l40s.xml"), "")})
    smi.NvidiaSmi(run).read_state()
    assert len(run.calls) == 1


def test_client_empty_listing_is_not_an_error():
    run = FakeRunner({
        "-q -x": (0, fixture("q_x_h100_mixed.xml"), ""),
        "mig -lgip": (6, fixture("lgi_mig_disabled.txt"), ""),  # an older driver, MIG off
        "mig -lgi": (6, fixture("lgi_none.txt"), ""),
    })
    gpus = smi.NvidiaSmi(run).read_state()
    assert gpus[0].gpu_instances == [] and gpus[0].profiles == []
    assert [c[1:] for c in run.calls] == [["-q", "-x"], ["mig", "-lgip"], ["mig", "-lgi"]]


def test_client_mutation_failure_raises_classified_error():
    run = FakeRunner({"mig -i 0 -dgi": (19, "", fixture("err_dgi_in_use.txt"))})
    client = smi.NvidiaSmi(run)
    with pytest.raises(smi.NvidiaSmiError) as info:
        client.mutate(smi.cmd_destroy_gpu_instances(0))
    assert info.value.kind == smi.IN_USE
    assert client.mutations == ["nvidia-smi mig -i 0 -dgi"]
