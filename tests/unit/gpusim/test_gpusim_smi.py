# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated nvidia-smi: output formats, MIG semantics and faults."""

import subprocess
import sys
import xml.etree.ElementTree as ET

from conftest import GPUSIM


def test_list_and_query_gpu(seed):
    sim = seed("gpu-a100-0")
    listing = sim.smi("-L")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert len(lines) == 4 and lines[0].startswith("GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-")
    fields = "index,name,uuid,memory.total,mig.mode.current,mig.mode.pending,pci.bus_id,pci.device_id"
    csv = sim.smi("--query-gpu=" + fields, "--format=csv")
    assert csv.stdout.splitlines()[0] == ("index, name, uuid, memory.total [MiB], mig.mode.current, "
                                          "mig.mode.pending, pci.bus_id, pci.device_id")
    row = csv.stdout.splitlines()[1].split(", ")
    assert row[1] == "NVIDIA A100-SXM4-40GB" and row[3] == "40960 MiB" and row[4:6] == ["Disabled", "Disabled"]
    assert row[7] == "0x20B010DE"
    bare = sim.smi("--query-gpu=index,memory.total", "--format=csv,noheader,nounits", "-i", "2")
    assert bare.stdout == "2, 40960\n"
    bad = sim.smi("--query-gpu=bogus", "--format=csv")
    assert bad.returncode == 2 and 'Field "bogus" is not a valid field to query.' in bad.stderr


def test_enable_mig_on_an_idle_gpu_applies_at_once(seed):
    sim = seed()
    result = sim.smi("-i", "0", "-mig", "1")
    bus_id = sim.state().gpus[0].bus_id
    assert result.returncode == 0
    assert result.stdout == "Enabled MIG Mode for GPU %s\nAll done.\n" % bus_id
    modes = sim.smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader").stdout.splitlines()
    assert modes[0] == "Enabled, Enabled" and modes[1] == "Disabled, Disabled"


def test_processes_keep_mig_pending_and_block_the_reset(seed):
    sim = seed()
    sim.cli("fault", "--state", sim.path, "process-add", "--gpu", "0", "--pid", "4242", "--name", "python3")
    bus_id = sim.state().gpus[0].bus_id
    enable = sim.smi("-i", "0", "-mig", "1")
    assert enable.returncode == 0
    assert enable.stdout.startswith(
        "Warning: MIG mode is in pending enable state for GPU %s:In use by another client\n" % bus_id)
    assert enable.stdout.endswith("All done.\n")
    assert sim.smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader",
                   "-i", "0").stdout == "Disabled, Enabled\n"
    blocked = sim.smi("-r", "-i", "0")
    assert blocked.returncode == 255
    assert "The following GPUs could not be reset:\n  GPU %s: In use by another client" % bus_id in blocked.stderr
    sim.cli("fault", "--state", sim.path, "process-clear", "--gpu", "0")
    reset = sim.smi("-r", "-i", "0")
    assert reset.returncode == 0 and reset.stdout == "GPU %s was successfully reset.\nAll done.\n" % bus_id
    assert sim.smi("--query-gpu=mig.mode.current", "--format=csv,noheader", "-i", "0").stdout == "Enabled\n"


def test_xml_query_uses_the_real_element_names(seed):
    sim = seed()
    sim.smi("-i", "0", "-mig", "1")
    sim.smi("mig", "-i", "0", "-cgi", "3g.40gb", "-C")
    sim.cli("fault", "--state", sim.path, "process-add", "--gpu", "1", "--pid", "7", "--memory-mib", "2048")
    root = ET.fromstring(sim.smi("-q", "-x").stdout.split("\n", 2)[2])
    assert root.tag == "nvidia_smi_log" and root.findtext("attached_gpus") == "8"
    gpus = root.findall("gpu")
    assert gpus[0].findtext("mig_mode/current_mig") == "Enabled"
    assert gpus[0].findtext("mig_mode/pending_mig") == "Enabled"
    device = gpus[0].find("mig_devices/mig_device")
    assert (device.findtext("gpu_instance_id"), device.findtext("compute_instance_id")) == ("2", "0")
    assert device.findtext("fb_memory_usage/total") == "40448 MiB"
    assert gpus[1].findtext("mig_devices") == "None"
    process = gpus[1].find("processes/process_info")
    assert (process.findtext("pid"), process.findtext("used_memory")) == ("7", "2048 MiB")
    assert gpus[1].findtext("pci/pci_device_id") == "233010DE"
    assert gpus[0].get("id") == gpus[0].findtext("pci/pci_bus_id")


def test_list_profiles_and_placements_match_the_real_layout(seed):
    sim = seed()
    sim.smi("-i", "0", "-mig", "1")
    lgip = sim.smi("mig", "-lgip", "-i", "0").stdout.splitlines()
    # Lines as the real tool prints them for an idle H100 80GB HBM3 (published output).
    assert lgip[2] == "| GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  |"
    assert lgip[5] == "|   0  MIG 1g.10gb         19     7/7        9.75       No     16     1     0   |"
    assert lgip[6] == "|                                                               1     1     0   |"
    assert "|   0  MIG 7g.80gb          0     1/1        79.25      No     132    7     0   |" in lgip
    lgipp = sim.smi("mig", "-lgipp", "-i", "0").stdout.splitlines()
    assert lgipp[0] == "GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1"
    assert "GPU  0 Profile ID  9 Placements: {0,4}:4" in lgipp
    assert "GPU  0 Profile ID  0 Placement : {0}:8" in lgipp


def test_create_a_valid_geometry_and_list_it(seed):
    sim = seed()
    sim.smi("-i", "0", "-mig", "1")
    created = sim.smi("mig", "-i", "0", "-cgi", "9,14,19,19", "-C")
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[:2] == [
        "Successfully created GPU instance ID  2 on GPU  0 using profile MIG 3g.40gb (ID  9)",
        "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  2 using profile MIG 3g.40gb (ID  2)"]
    gis = sim.state().gis_of(sim.state().gpus[0])
    assert [(gi.profile, gi.start) for gi in gis] == [(19, 0), (19, 1), (14, 2), (9, 4)]
    lgi = sim.smi("mig", "-lgi", "-i", "0").stdout.splitlines()
    assert lgi[5] == "|   0  MIG 1g.10gb         19        7          0:1     |"
    lci = sim.smi("mig", "-lci", "-i", "0").stdout.splitlines()
    # Sorted by placement, like the real listing.
    assert lci[6] == "|   0      7       MIG 1g.10gb          0         0          0:1     |"
    assert lci[12] == "|   0      2       MIG 3g.40gb          2         0          0:3     |"
    listing = sim.smi("-L", "-i", "0").stdout.splitlines()
    assert [line.split("Device")[0].split()[1] for line in listing[1:]] == ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]
    # compute slices are spent: 3 + 2 + 1 + 1 = 7
    full = sim.smi("mig", "-i", "0", "-cgi", "19")
    assert full.returncode == 255
    assert full.stderr == ("Unable to create a GPU instance on GPU  0 using profile 19: Insufficient Resources\n"
                           "Failed to create GPU instances: Insufficient Resources\n")


def test_conflicting_placement_is_refused(seed):
    sim = seed()
    sim.smi("-i", "0", "-mig", "1")
    assert sim.smi("mig", "-i", "0", "-cgi", "19:0").returncode == 0
    conflict = sim.smi("mig", "-i", "0", "-cgi", "9:0")
    assert conflict.returncode == 255 and "using profile 9:0: Insufficient Resources" in conflict.stderr
    wrong_slot = sim.smi("mig", "-i", "0", "-cgi", "9:2")
    assert wrong_slot.returncode == 2 and "Invalid Argument" in wrong_slot.stderr
    assert sim.smi("mig", "-i", "0", "-cgi", "4g.40gb").returncode == 255  # 4g needs slot 0
    assert sim.smi("mig", "-i", "0", "-cgi", "3g.40gb").returncode == 0  # 3g fits at 4


def test_rules_on_media_extensions_and_two_3g(seed):
    sim = seed()
    sim.smi("-i", "0", "-mig", "1")
    assert sim.smi("mig", "-i", "0", "-cgi", "20").returncode == 0
    assert "Insufficient Resources" in sim.smi("mig", "-i", "0", "-cgi", "1g.10gb+me").stderr
    sim.smi("-i", "1", "-mig", "1")
    assert sim.smi("mig", "-i", "1", "-cgi", "9,9").returncode == 0
    assert sim.smi("mig", "-i", "1", "-cgi", "19").returncode == 255  # one compute slice stranded
    assert sim.smi("mig", "-i", "1", "-lgip").stdout.count(" 0/") == 7


def test_a30_has_four_slices(seed):
    sim = seed("gpu-a30-0")
    sim.smi("-i", "0", "-mig", "1")
    assert sim.smi("mig", "-i", "0", "-cgi", "5,5").returncode == 0  # 2 x 2g.12gb
    assert sim.smi("mig", "-i", "0", "-cgi", "14").returncode == 255
    assert [gi.id for gi in sim.state().gis_of(sim.state().gpus[0])] == [1, 2]


def test_destroy_order_and_disable(seed):
    sim = seed()
    sim.smi("-i", "0", "-mig", "1")
    sim.smi("mig", "-i", "0", "-cgi", "9,9", "-C")
    refused = sim.smi("-i", "0", "-mig", "0")
    assert refused.returncode == 255 and "In use by another client" in refused.stderr
    in_use = sim.smi("mig", "-i", "0", "-dgi")
    assert in_use.returncode == 255 and "Unable to destroy GPU instance ID  1 from GPU  0: In use" in in_use.stderr
    dci = sim.smi("mig", "-i", "0", "-dci")
    assert dci.returncode == 0 and dci.stdout.count("Successfully destroyed compute instance") == 2
    destroyed = sim.smi("mig", "-i", "0", "-dgi", "-gi", "2")
    assert destroyed.stdout == "Successfully destroyed GPU instance ID  2 from GPU  0\n"
    assert sim.smi("mig", "-i", "0", "-dgi").returncode == 0
    assert sim.smi("mig", "-i", "0", "-lgi").stdout == "No GPU instances found: Not Found\n"
    assert sim.smi("-i", "0", "-mig", "0").stdout.startswith("Disabled MIG Mode for GPU")
    assert sim.smi("mig", "-lgi").stdout == "No MIG-enabled devices found.\n"


def test_compute_instances_inside_a_gpu_instance(seed):
    sim = seed()
    sim.smi("-i", "0", "-mig", "1")
    sim.smi("mig", "-i", "0", "-cgi", "0")
    made = sim.smi("mig", "-i", "0", "-gi", "0", "-cci", "1c.7g.80gb,2,0")
    assert made.returncode == 0, made.stderr
    cis = sim.state().cis_of(sim.state().gpus[0])
    assert [(ci.id, ci.profile, ci.start) for ci in cis] == [(0, 0, 0), (1, 2, 4), (2, 0, 1)]
    assert len({ci.uuid for ci in cis}) == 3
    assert sim.smi("mig", "-i", "0", "-dci", "-gi", "0", "-ci", "1").returncode == 0
    assert [ci.id for ci in sim.state().cis_of(sim.state().gpus[0])] == [0, 2]


def test_l40s_answers_not_supported(seed):
    sim = seed("gpu-l40s-0")
    query = sim.smi("--query-gpu=name,mig.mode.current,mig.mode.pending", "--format=csv,noheader")
    assert query.stdout == "NVIDIA L40S, [N/A], [N/A]\n"
    enable = sim.smi("-i", "0", "-mig", "1")
    assert enable.returncode == 3 and "Not Supported" in enable.stderr
    assert sim.smi("mig", "-lgip").stdout == "No MIG-enabled devices found.\n"
    root = ET.fromstring(sim.smi("-q", "-x").stdout.split("\n", 2)[2])
    assert root.findtext("gpu/mig_mode/current_mig") == "N/A"


def test_mig_needs_reboot_survives_resets_until_reboot_on_ampere(seed):
    sim = seed("gpu-a100-0")
    sim.cli("fault", "--state", sim.path, "mig-needs-reboot", "on")
    enable = sim.smi("-i", "0", "-mig", "1")
    assert ":Not Supported\nReboot the system or try nvidia-smi --gpu-reset" in enable.stdout
    assert sim.smi("-r", "-i", "0").returncode == 0
    assert sim.smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader",
                   "-i", "0").stdout == "Disabled, Enabled\n"
    sim.cli("reboot", "--state", sim.path)
    assert sim.state().gpus[0].mig_current == 1


def test_ampere_keeps_mig_mode_across_a_reboot_and_drops_instances(seed):
    sim = seed("gpu-a100-0")
    sim.smi("-i", "0", "-mig", "1")
    sim.smi("mig", "-i", "0", "-cgi", "19,19", "-C")
    sim.cli("reboot", "--state", sim.path)
    state = sim.state()
    assert state.gpus[0].mig_current == 1 and state.gpu_instances == [] and state.compute_instances == []


def test_hopper_loses_mig_mode_at_a_reboot_or_driver_reload(seed):
    sim = seed("gpu-h100-0")
    sim.cli("fault", "--state", sim.path, "mig-needs-reboot", "on")  # Ampere only: no effect here
    enable = sim.smi("-i", "0,1", "-mig", "1")
    assert enable.stdout.count("Enabled MIG Mode for GPU") == 2
    sim.smi("mig", "-i", "0", "-cgi", "9", "-C")
    sim.cli("reboot", "--state", sim.path)
    state = sim.state()
    assert [(g.mig_current, g.mig_pending) for g in state.gpus[:2]] == [(0, 0), (0, 0)]
    assert state.gpu_instances == []
    sim.smi("-i", "0", "-mig", "1")
    sim.cli("fault", "--state", sim.path, "process-add", "--gpu", "3", "--pid", "5")
    refused = subprocess.run([sys.executable, "-m", "gpusim", "driver-reload", "--state", sim.path],
                             env=dict(sim.env, PYTHONPATH=str(GPUSIM)), capture_output=True, text=True,
                             check=False)
    assert refused.returncode == 1 and "cannot be unloaded" in refused.stderr
    assert sim.state().gpus[0].mig_current == 1
    sim.cli("fault", "--state", sim.path, "process-clear")
    sim.cli("driver-reload", "--state", sim.path)
    assert sim.state().gpus[0].mig_current == 0


def test_mig_needs_reset_keeps_mode_pending_until_nvidia_smi_r_on_ampere(seed):
    sim = seed("gpu-a100-0")
    sim.cli("fault", "--state", sim.path, "mig-needs-reset", "on")
    sim.smi("-mig", "1")
    assert {g.mig_current for g in sim.state().gpus} == {0}
    reset = sim.smi("-r")
    assert reset.returncode == 0 and reset.stdout.count("was successfully reset.") == 4
    assert {g.mig_current for g in sim.state().gpus} == {1}


def test_reset_fails_fault(seed):
    sim = seed()
    sim.cli("fault", "--state", sim.path, "reset-fails", "on")
    failed = sim.smi("-r", "-i", "3")
    assert failed.returncode == 255 and "could not be reset" in failed.stderr


def test_fail_after_mutations_fails_the_next_one_once(seed):
    sim = seed()
    sim.cli("fault", "--state", sim.path, "fail-after-mutations", "2")
    assert sim.smi("-i", "0", "-mig", "1").returncode == 0
    assert sim.smi("mig", "-i", "0", "-cgi", "9").returncode == 0
    failed = sim.smi("mig", "-i", "0", "-cgi", "9")
    assert failed.returncode == 255
    assert failed.stderr.startswith("Unable to create a GPU instance on GPU  0 using profile 9: Unknown Error")
    assert len(sim.state().gpu_instances) == 1
    assert sim.smi("mig", "-i", "0", "-cgi", "9").returncode == 0
    assert sim.state().faults.fail_after_mutations == -1


def test_every_mutation_is_logged_and_reads_are_not(seed):
    sim = seed()
    sim.smi("-L")
    sim.smi("-i", "0", "-mig", "1")
    sim.smi("mig", "-lgi")
    sim.smi("mig", "-i", "0", "-cgi", "9", "-C")
    sim.smi("mig", "-i", "0", "-cgi", "bogus")
    log = sim.mutations()
    assert len(log) == 3
    assert log[0].endswith("nvidia-smi -i 0 -mig 1 -> 0")
    assert log[2].endswith("nvidia-smi mig -i 0 -cgi bogus -> 2")


def test_bad_arguments(seed):
    sim = seed()
    for argv in (["--bogus"], ["mig"], ["-q"], ["-mig", "2"]):
        result = sim.smi(*argv)
        assert result.returncode == 2, argv
        assert result.stdout == "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n"
    assert sim.smi("-i", "9", "-L").returncode == 6


def test_without_a_driver_nvidia_smi_says_so_without_a_traceback(seed, tmp_path):
    sim = seed()
    for path in (str(tmp_path / "missing.state"), ""):
        env = dict(sim.env, FGPU_GPUSIM_STATE=path)
        result = subprocess.run([str(GPUSIM / "bin" / "nvidia-smi"), "-q", "-x"], env=env,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 9
        assert result.stdout.startswith("NVIDIA-SMI has failed because it couldn't communicate "
                                        "with the NVIDIA driver.")
        assert "Traceback" not in result.stderr
    broken = tmp_path / "broken.state"
    broken.write_text("not a state\n")
    result = subprocess.run([str(GPUSIM / "bin" / "nvidia-smi"), "-L"], env=dict(sim.env, FGPU_GPUSIM_STATE=str(broken)),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 9 and "Traceback" not in result.stderr


def test_profiles_are_listed_with_mig_off_free_equal_total(seed):
    sim = seed("gpu-h200-0")
    listing = sim.smi("mig", "-lgip", "-i", "0")
    assert listing.returncode == 0
    assert "|   0  MIG 1g.18gb         19     7/7        16.00      No     16     1     0   |" in listing.stdout
    assert "|   0  MIG 7g.141gb         0     1/1        140.00     No     132    7     0   |" in listing.stdout
    assert sim.smi("mig", "-lgi").stdout == "No MIG-enabled devices found.\n"
    assert sim.smi("mig", "-lgi").returncode == 0  # as the real driver 580 exits


def test_subsystem_id_of_the_board(seed):
    sim = seed("gpu-h200-0")
    root = ET.fromstring(sim.smi("-q", "-x").stdout.split("\n", 2)[2])
    assert root.findtext("gpu/pci/pci_sub_system_id") == "18BF10DE"
    assert root.findtext("gpu/pci/pci_device_id") == "233510DE"
    query = sim.smi("--query-gpu=pci.device_id,pci.sub_device_id", "--format=csv,noheader", "-i", "0")
    assert query.stdout == "0x233510DE, 0x18BF10DE\n"
