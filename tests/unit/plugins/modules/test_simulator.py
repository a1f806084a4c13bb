# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three modules against the lab's GPU simulator (tests/gpusim), as subprocesses.

Each module runs as ``python -m ansible_collections.fractional.gpu.plugins.modules.X
args.json`` with the simulated ``nvidia-smi`` first on PATH, the simulated
``libnvidia-ml.so.1`` on LD_LIBRARY_PATH (loaded by the real pynvml) and
FGPU_GPUSIM_STATE naming the seeded host; one test goes through ``ansible`` itself.
Mutations are read back from the simulator's ``<state>.mutations.log``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ansible_collections.fractional.gpu as collection

REPO_ROOT = Path(__file__).resolve().parents[4]
# The directory that makes this tree importable as ansible_collections.fractional.gpu
# (tests/unit/conftest.py sets it up): subprocesses get it as PYTHONPATH.
COLLECTIONS_ROOT = Path(list(collection.__path__)[0]).parents[2]

GPUSIM = REPO_ROOT / "tests" / "gpusim"
NODES = REPO_ROOT / "tests" / "lab" / "nodes.yaml"
MODULES = "ansible_collections.fractional.gpu.plugins.modules."

pytestmark = pytest.mark.skipif(not (GPUSIM / "bin" / "nvidia-smi").exists(),
                                reason="the GPU simulator (tests/gpusim) is not in this tree")

CONFIG = {"version": "v1", "mig-configs": {
    "all-disabled": [{"devices": "all", "mig-enabled": False}],
    "all-1g.10gb": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}],
    "all-balanced": [
        {"device-filter": ["0x233010DE", "0x233110DE"], "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}},
        {"device-filter": "0x20B010DE", "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}},
        {"device-filter": "0x20B710DE", "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.6gb": 2, "2g.12gb": 1}},
    ],
    "balanced-gpu5-3g": [
        {"devices": [0, 1, 2, 3, 4, 6, 7], "mig-enabled": True,
         "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}},
        {"devices": [5], "mig-enabled": True, "mig-devices": {"3g.40gb": 2}},
    ],
    "broken": [
        {"devices": [0, 9], "mig-enabled": True, "mig-devices": {"1g.5gb": 1, "1g.10gb": 8}},
        {"devices": [1], "mig-enabled": True, "mig-devices": {"1g.10gb+me": 2}},
    ],
}}


@pytest.fixture(scope="session")
def nvml_dir():
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler: the simulated NVML library cannot be built")
    result = subprocess.run([str(GPUSIM / "build.sh")], capture_output=True, text=True, check=False,
                            env=dict(os.environ, FGPU_PYTHON=sys.executable), timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class Sim:
    def __init__(self, path, nvml_dir):
        self.path = str(path)
        self.env = dict(os.environ, FGPU_GPUSIM_STATE=self.path, FGPU_PYTHON=sys.executable,
                        PATH="%s:%s" % (GPUSIM / "bin", os.environ.get("PATH", "")),
                        LD_LIBRARY_PATH=nvml_dir, PYTHONPATH=str(COLLECTIONS_ROOT),
                        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT))

    def gpusim(self, *args):
        env = dict(self.env, PYTHONPATH=str(GPUSIM))
        result = subprocess.run([sys.executable, "-m", "gpusim", *args], env=env,
                                capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fault(self, *args):
        return self.gpusim("fault", "--state", self.path, *args)

    def smi(self, *args):
        return subprocess.run(["nvidia-smi", *args], env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)

    def module(self, name, args, check=False, diff=False):
        params = dict(args)
        if check:
            params["_ansible_check_mode"] = True
        if diff:
            params["_ansible_diff"] = True
        result = subprocess.run([sys.executable, "-m", MODULES + name],
                                input=json.dumps({"ANSIBLE_MODULE_ARGS": params}),
                                env=self.env, capture_output=True, text=True, check=False, timeout=300)
        assert result.stdout, result.stderr
        return json.loads(result.stdout)

    def geometry(self, name, **kwargs):
        check, diff = kwargs.pop("check", False), kwargs.pop("diff", False)
        return self.module("mig_geometry", dict(config=CONFIG, config_name=name, **kwargs),
                           check=check, diff=diff)

    def mutations(self):
        log = Path(self.path + ".mutations.log")
        return log.read_text().splitlines() if log.exists() else []

    def clear_log(self):
        Path(self.path + ".mutations.log").unlink(missing_ok=True)

    def layouts(self):
        """{gpu index: sorted MIG device profile names} from the simulated nvidia-smi."""
        state = json.loads(self.gpusim("show", "--state", self.path))
        return state


@pytest.fixture
def sim(tmp_path, nvml_dir):
    def make(node="gpu-h100-0"):
        path = tmp_path / (node + ".state")
        host = Sim(path, nvml_dir)
        host.gpusim("seed", "--nodes", str(NODES), "--node", node, "--out", str(path))
        return host
    return make


def mutated_gpus(lines):
    """GPU indices named by ``-i N`` in mutation log lines."""
    return sorted(set(int(m.group(1)) for m in (re.search(r" -i (\d+)", l) for l in lines) if m))


def test_converge_8_h100_then_second_run_makes_no_mutation(sim):
    host = sim()
    result = host.geometry("all-balanced")
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True and result["changed_gpus"] == list(range(8))
    assert result["reboot_required"] is False
    lines = host.mutations()
    # per GPU: one -mig 1 (applied at once on an idle GPU) and one -cgi with placements
    assert len(lines) == 16 and all(l.endswith("-> 0") for l in lines)
    assert all("-cgi 9:4,14:0,19:2,19:3 -C" in l for l in lines[8:])
    for gpu in result["layout"]:
        assert sorted(i["name"] for i in gpu["instances"]) == [
            "1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"]

    host.clear_log()
    again = host.geometry("all-balanced")
    assert again["changed"] is False and again["commands"] == [] and again["changed_gpus"] == []
    assert host.mutations() == []

    report = host.module("nvml_validate", dict(config=CONFIG, config_name="all-balanced",
                                               expected_gpu_count=8))
    assert report.get("failed") is not True, report.get("msg")
    assert report["report"]["ok"] is True and report["report"]["mismatches"] == []
    assert host.mutations() == []


def test_one_gpu_changed_only_that_gpu_mutated(sim):
    host = sim()
    host.geometry("all-balanced")
    host.clear_log()
    result = host.geometry("balanced-gpu5-3g")
    assert result["changed_gpus"] == [5]
    lines = host.mutations()
    assert mutated_gpus(lines) == [5]
    # the 3g.40gb at slots 4-7 stays; 2g + 1g + 1g at 0-3 go; one 3g is created at 0
    assert [l.split(" nvidia-smi ")[1] for l in lines] == [
        "mig -i 5 -dci -gi 3,9,10 -> 0", "mig -i 5 -dgi -gi 3,9,10 -> 0",
        "mig -i 5 -cgi 9:0 -C -> 0"]
    assert result["summary"]["instances_kept"] == 1
    host.clear_log()
    assert host.geometry("balanced-gpu5-3g")["changed"] is False and host.mutations() == []


def test_check_mode_and_diff(sim):
    host = sim()
    result = host.geometry("all-1g.10gb", check=True, diff=True)
    assert result["changed"] is True and host.mutations() == []
    assert result["plan"][0]["commands"][-1].endswith(
        "mig -i 0 -cgi 19:0,19:1,19:2,19:3,19:4,19:5,19:6 -C")
    assert result["diff"]["before"].startswith("GPU 0 (H100-SXM5-80GB): MIG disabled\n")
    assert "  slots 6    1g.10gb (new)" in result["diff"]["after"]


def test_busy_gpu_is_refused_and_nothing_changes(sim):
    host = sim()
    host.fault("process-add", "--gpu", "3", "--pid", "4242", "--name", "python3",
               "--memory-mib", "2048")
    result = host.geometry("all-1g.10gb")
    assert result["failed"] is True and result["changed"] is False
    assert "GPU 3 (H100-SXM5-80GB): pid 4242 (python3, 2048 MiB)" in result["msg"]
    assert result["busy_gpus"] == {"GPU 3 (H100-SXM5-80GB)": ["pid 4242 (python3, 2048 MiB)"]}
    assert host.mutations() == []


def test_busy_gpu_with_force_stays_pending_and_asks_for_reboot(sim):
    host = sim()
    host.fault("process-add", "--gpu", "3", "--pid", "4242")
    result = host.geometry("all-1g.10gb", force=True)
    assert result.get("failed") is not True, result.get("msg")
    assert result["reboot_required"] is True and result["reboot_required_gpus"] == [3]
    assert any("-r -i 3 -> 255" in l for l in host.mutations())  # the reset was refused
    assert not any("mig -i 3 -cgi" in l for l in host.mutations())
    # after a reboot (the process ends, the pending mode applies) a rerun converges
    host.gpusim("reboot", "--state", host.path)
    host.clear_log()
    rerun = host.geometry("all-1g.10gb")
    assert rerun["reboot_required"] is False
    assert mutated_gpus(host.mutations()) == list(range(8))  # instances do not survive a reboot
    host.clear_log()
    assert host.geometry("all-1g.10gb")["changed"] is False and host.mutations() == []


def test_bad_input_changes_nothing_and_lists_every_error(sim):
    host = sim()
    result = host.geometry("broken")
    assert result["failed"] is True and result["changed"] is False
    errors = result["errors"]
    assert "mig-configs.broken[0]: device index 9 out of range: the host has 8 GPU(s) " \
           "(indices 0-7)" in errors
    assert any("GPU 0 (H100-SXM5-80GB): profile '1g.5gb' does not exist on H100-SXM5-80GB"
               in e for e in errors)
    assert any("GPU 0 (H100-SXM5-80GB): profile '1g.10gb': 8 instances requested" in e
               for e in errors)
    assert any("GPU 1 (H100-SXM5-80GB): profile '1g.10gb+me': 2 instances requested" in e
               for e in errors)
    assert result["msg"].startswith("invalid MIG configuration (%d problems, no GPU was changed)"
                                    % len(errors))
    assert host.mutations() == []
    unknown = host.module("mig_geometry", dict(config=CONFIG, config_name="nope"))
    assert "selected mig-config 'nope' not present; available: all-1g.10gb" in unknown["msg"]
    schema = host.module("mig_geometry", dict(config={"version": "v1", "mig-configs": {"x": [
        {"devices": "all", "mig-enabled": True, "mig-devices": {}, "extra": 1}]}}))
    assert "mig-configs.x[0]: unexpected field 'extra'" in schema["msg"]
    assert host.mutations() == []


def test_mid_apply_failure_then_rerun_converges(sim):
    host = sim()
    host.fault("fail-after-mutations", "10")  # 8 x -mig 1, 2 x -cgi, then the 3rd -cgi fails
    result = host.geometry("all-balanced")
    assert result["failed"] is True and result["changed"] is True
    assert result["failed_command"].endswith("mig -i 2 -cgi 9:4,14:0,19:2,19:3 -C")
    assert "Commands already applied" in result["msg"] and "rerunning converges" in result["msg"]
    assert len(result["commands"]) == 11
    # what is there is reported: GPUs 0, 1 done, GPU 2 partly
    assert len(result["layout"][1]["instances"]) == 4
    host.clear_log()
    rerun = host.geometry("all-balanced")
    assert rerun.get("failed") is not True, rerun.get("msg")
    assert set(rerun["changed_gpus"]) >= {3, 4, 5, 6, 7} and 0 not in rerun["changed_gpus"]
    host.clear_log()
    assert host.geometry("all-balanced")["changed"] is False and host.mutations() == []
    assert host.module("nvml_validate", dict(config=CONFIG, config_name="all-balanced"))[
        "report"]["ok"] is True


def test_l40s_rejected_clearly(sim):
    host = sim("gpu-l40s-0")
    result = host.geometry("all-1g.10gb")
    assert result["failed"] is True
    assert "GPU 0 (L40S) is not MIG capable (NVIDIA L40S)" in result["msg"]
    assert host.mutations() == []
    assert host.geometry("all-disabled")["changed"] is False
    info = host.module("gpu_info", {})
    assert info["gpus"][0]["mig_capable"] is False
    assert info["gpus"][0]["mig_mode"] == {"current": None, "pending": None}


def test_pending_mode_is_reset_or_reported_on_ampere(sim):
    host = sim("gpu-a100-0")
    host.fault("mig-needs-reset", "on")
    result = host.geometry("all-balanced")
    assert result["reboot_required"] is False and result["changed_gpus"] == list(range(4))
    assert sum(1 for l in host.mutations() if " -r -i " in l) == 4
    host.fault("clear")
    host.fault("mig-needs-reboot", "on")
    host.clear_log()
    result = host.geometry("all-disabled")
    assert result.get("failed") is not True, result.get("msg")
    assert result["reboot_required"] is True and result["reboot_required_gpus"] == list(range(4))
    report = host.module("nvml_validate", dict(config=CONFIG, config_name="all-disabled"))
    assert report["failed"] is True
    assert "GPU 0 (A100-SXM4-40GB): MIG mode is enabled, expected disabled" in report["msg"]
    host.gpusim("reboot", "--state", host.path)  # Ampere: the pending mode applies at boot
    assert host.geometry("all-disabled")["changed"] is False


def test_reset_gpus_false_reports_reboot_on_ampere(sim):
    host = sim("gpu-a100-0")
    host.fault("mig-needs-reset", "on")
    result = host.geometry("all-balanced", reset_gpus=False)
    assert result["reboot_required"] is True and not any(" -r " in l for l in host.mutations())


def test_hopper_needs_no_reset_and_is_set_again_after_a_reboot(sim):
    host = sim()
    host.fault("mig-needs-reset", "on")  # an Ampere behaviour: no effect on Hopper
    result = host.geometry("all-balanced")
    assert result["reboot_required"] is False and not any(" -r " in l for l in host.mutations())
    assert result["plan"][0]["reset_expected"] is False
    host.gpusim("reboot", "--state", host.path)  # Hopper: MIG mode and instances are gone
    assert host.module("gpu_info", {})["gpus"][0]["mig_mode"] == {"current": "disabled", "pending": "disabled"}
    host.clear_log()
    rerun = host.geometry("all-balanced")
    assert rerun["changed_gpus"] == list(range(8)) and rerun["reboot_required"] is False
    assert sum(1 for l in host.mutations() if " -mig 1 " in l) == 8
    report = host.module("nvml_validate", dict(config=CONFIG, config_name="all-balanced"))
    assert report["report"]["ok"] is True, report.get("msg")


def test_nvml_validate_reports_every_mismatch(sim):
    host = sim()
    host.geometry("all-balanced")
    assert host.smi("mig", "-i", "2", "-dci", "-gi", "9").returncode == 0
    assert host.smi("mig", "-i", "2", "-dgi", "-gi", "9").returncode == 0
    result = host.module("nvml_validate", dict(config=CONFIG, config_name="all-1g.10gb",
                                               expected_gpu_count=4))
    assert result["failed"] is True
    mismatches = result["report"]["mismatches"]
    assert mismatches[0] == "host has 8 GPU(s), expected 4"
    assert "GPU 2 (H100-SXM5-80GB): 1 x 1g.10gb MIG device(s), expected 7" in mismatches
    assert "GPU 0 (H100-SXM5-80GB): 1 x 3g.40gb MIG device(s), expected 0" in mismatches
    assert result["msg"].startswith("%d mismatches with MIG config 'all-1g.10gb':" % len(mismatches))


def test_a100_and_a30_nodes(sim):
    for node, count, names in (("gpu-a100-0", 4, ["1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb"]),
                               ("gpu-a30-0", 2, ["1g.6gb", "1g.6gb", "2g.12gb"])):
        host = sim(node)
        result = host.geometry("all-balanced")
        assert result.get("failed") is not True, result.get("msg")
        assert len(result["layout"]) == count
        assert sorted(i["name"] for i in result["layout"][0]["instances"]) == names
        host.clear_log()
        assert host.geometry("all-balanced")["changed"] is False and host.mutations() == []


def test_gpu_info_facts(sim):
    host = sim()
    host.geometry("all-balanced")
    host.fault("process-add", "--gpu", "1", "--pid", "77", "--name", "train", "--gi", "2")
    info = host.module("gpu_info", {})
    assert info["changed"] is False and info["gpu_count"] == 8
    gpu = info["gpus"][1]
    assert gpu["model"] == "H100-SXM5-80GB" and gpu["pci_device_id"] == "0x233010DE"
    assert gpu["mig_mode"] == {"current": "enabled", "pending": "enabled"}
    assert sorted(d["profile"] for d in gpu["mig_devices"]) == [
        "1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"]
    assert all(d["uuid"].startswith("MIG-") for d in gpu["mig_devices"])
    # The simulated NVML has no nvmlSystemGetProcessName (pynvml raises FunctionNotFound):
    # the name stays empty there; with the real library it is the process's name.
    assert [(p["pid"], p["name"], p["gpu_instance_id"], p["used_memory_mib"])
            for p in gpu["processes"]] == [(77, "", 2, 1024)]


def test_through_ansible_ad_hoc(sim):
    host = sim("gpu-a30-0")
    ansible = Path(sys.executable).parent / "ansible"
    if not ansible.exists():
        pytest.skip("ansible is not installed next to this python")
    args = json.dumps({"config": CONFIG, "config_name": "all-balanced"})
    env = dict(host.env, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1")
    run = subprocess.run([str(ansible), "localhost", "-c", "local", "-m",
                          "fractional.gpu.mig_geometry", "-a", args], env=env,
                         capture_output=True, text=True, check=False, timeout=300)
    out = json.loads(run.stdout)
    task = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert task["changed"] is True and task["changed_gpus"] == [0, 1], run.stdout[-2000:]
    rerun = subprocess.run([str(ansible), "localhost", "-c", "local", "-m",
                            "fractional.gpu.mig_geometry", "-a", args], env=env,
                           capture_output=True, text=True, check=False, timeout=300)
    assert json.loads(rerun.stdout)["stats"]["localhost"]["changed"] == 0


def test_profile_listings_agree_with_gpu_models(sim):
    from ansible_collections.fractional.gpu.plugins.module_utils import nvidia_smi
    from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import model_by_key
    host = sim("gpu-a30-0")
    host.geometry("all-balanced")
    model = model_by_key("A30-24GB")
    lgip = nvidia_smi.parse_lgip(host.smi("mig", "-lgip").stdout)
    assert [(p["name"], p["id"], p["total"]) for p in lgip[1]] == [
        (p.name, p.gi_profile_id, p.max_instances) for p in model.profiles]
    assert all(p["free"] == 0 for p in lgip[1])  # 2g + 1g + 1g fill all four slots
    lgipp = nvidia_smi.parse_lgipp(host.smi("mig", "-lgipp").stdout)
    assert lgipp[0] == dict((p.gi_profile_id, (p.placements, p.memory_slices))
                            for p in model.profiles)


# --- NVIDIA's own configs on every simulated model --------------------------------------------

DEFAULT_CONFIG = REPO_ROOT / "tests" / "fixtures" / "mig_parted" / "config-default.yaml"
SIMULATED_MIG_MODELS = ["A100-SXM4-40GB", "A30-24GB", "H100-SXM5-80GB", "H100-NVL-94GB", "H200-141GB",
                        "GH200-144GB", "B200-180GB", "GB200-186GB", "RTX-PRO-6000-BW-96GB"]
# A sample of NVIDIA's configs beyond all-balanced, per model: every attribute kind and a
# config whose entries filter on device ids.
SAMPLE_CONFIGS = {"A100-SXM4-40GB": "all-1g.10gb", "A30-24GB": "all-2g.12gb.me",
                  "H100-SXM5-80GB": "all-1g.10gb", "H200-141GB": "all-1g.18gb",
                  "RTX-PRO-6000-BW-96GB": "all-2g.48gb.me.all"}


@pytest.fixture
def model_sim(tmp_path, nvml_dir):
    def make(key, count=2):
        path = tmp_path / (key + ".state")
        host = Sim(path, nvml_dir)
        host.gpusim("seed", "--model", key, "--count", str(count), "--out", str(path))
        return host
    return make


@pytest.mark.parametrize("key", SIMULATED_MIG_MODELS)
def test_nvidias_default_config_applies_and_validates_on_every_simulated_model(model_sim, key):
    """The simulated GPUs take their sizes from real captures (tests/gpusim/models.yaml):
    nvml_validate compares each MIG device with what the driver reports, and the table's
    figures agree with the captured ones (no cross-check warning)."""
    host = model_sim(key)
    names = ["all-balanced"] + ([SAMPLE_CONFIGS[key]] if key in SAMPLE_CONFIGS else [])
    for name in names:
        applied = host.module("mig_geometry", dict(config_file=str(DEFAULT_CONFIG), config_name=name))
        assert applied.get("failed") is not True, applied.get("msg")
        assert applied["changed_gpus"] == [0, 1] and not applied.get("warnings"), applied.get("warnings")
        report = host.module("nvml_validate", dict(config_file=str(DEFAULT_CONFIG), config_name=name,
                                                   expected_gpu_count=2))
        assert report.get("failed") is not True, report.get("msg")
        assert report["report"]["ok"] and not report.get("warnings"), report.get("warnings")
        memory = [m for gpu in report["report"]["gpus"] for m in gpu["memory"]]
        assert memory and all(m["memory_mib"] == m["expected_memory_mib"] for m in memory)


def test_the_drivers_profiles_are_in_gpu_info(model_sim):
    host = model_sim("H200-141GB", 1)
    info = host.module("gpu_info", {})
    profiles = info["gpus"][0]["mig_profiles"]
    assert [(p["name"], p["id"], p["memory_mib"]) for p in profiles] == [
        ("1g.18gb", 19, 16384), ("2g.35gb", 14, 33280), ("3g.71gb", 9, 71424), ("4g.71gb", 5, 71424),
        ("7g.141gb", 0, 143360), ("1g.18gb+me", 20, 16384), ("1g.35gb", 15, 33280)]  # NVML enum order


def test_a_fleet_config_applies_on_the_a30_and_a100_hosts(sim):
    fleet = {"version": "v1", "mig-configs": {"fleet": [
        {"device-filter": "0x233010DE", "devices": [0, 1, 2, 3], "mig-enabled": True,
         "mig-devices": {"1g.10gb": 7}},
        {"device-filter": "0x233010DE", "devices": [4, 5, 6, 7], "mig-enabled": True,
         "mig-devices": {"3g.40gb": 2}},
        {"device-filter": "0x20B710DE", "devices": "all", "mig-enabled": True,
         "mig-devices": {"2g.12gb": 2}},
        {"device-filter": "0x20B010DE", "devices": [0, 1, 2, 3], "mig-enabled": True,
         "mig-devices": {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}}]}}
    for node, count in (("gpu-a30-0", 2), ("gpu-a100-0", 4)):
        host = sim(node)
        applied = host.module("mig_geometry", dict(config=fleet, config_name="fleet"))
        assert applied.get("failed") is not True, applied.get("msg")
        assert applied["changed_gpus"] == list(range(count))
        report = host.module("nvml_validate", dict(config=fleet, config_name="fleet"))
        assert report["report"]["ok"] is True, report.get("msg")


def test_a_config_that_selects_no_gpu_fails_clearly(sim):
    host = sim("gpu-a30-0")
    h100_only = {"version": "v1", "mig-configs": {"h100": [
        {"device-filter": "0x233110DE", "devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}]}}
    for module in ("mig_geometry", "nvml_validate"):
        result = host.module(module, dict(config=h100_only, config_name="h100"))
        assert result["failed"] is True
        assert "MIG config 'h100' selects none of this host's 2 GPU(s)" in result["msg"], result["msg"]
        assert "'mig-parted assert' fails the same way" in result["msg"]
        allowed = host.module(module, dict(config=h100_only, config_name="h100", allow_no_match=True))
        assert allowed.get("failed") is not True and "selects none" in json.dumps(allowed["warnings"])
    assert host.mutations() == []
