# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's mig-parted stand-in (tests/lab/mig_parted.py): its config parser, its GPU
selection and ordering, and what it does to simulated GPUs through NVML, read back from the
simulator's mutation log. Independent of the collection: nothing here imports plugins/."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# Sets up the import paths of the lab and the simulator, and the fixtures.
from lab_hosts import fixture_lab_node, fixture_nvml_lib  # noqa: F401  pylint: disable=unused-import
import mig_parted
from gpusim import host as gpusim_host
from gpusim import state as gpusim_state

LAB = Path(__file__).resolve().parents[2] / "lab"

H100 = 0x233010DE
A100 = 0x20B010DE
LAB_CONFIG = """
version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false
  h100-mixed:
    - device-filter: "0x233010DE"
      devices: all
      mig-enabled: true
      mig-devices: {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}
  a100-first-two:
    - device-filter: ["0x20B010DE", "0x20B110DE"]
      devices: [0, 1]
      mig-enabled: true
      mig-devices: {"1g.5gb": 7}
"""


# --- the config file ----------------------------------------------------------------------

def test_parses_a_config_as_mig_parted_reads_it():
    spec = mig_parted.parse_spec(LAB_CONFIG)
    assert sorted(spec) == ["a100-first-two", "all-disabled", "h100-mixed"]
    (mixed,) = spec["h100-mixed"]
    assert mixed == mig_parted.Entry(device_filter=(H100,), devices=None, mig_enabled=True,
                                     mig_devices={"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1})
    (first_two,) = spec["a100-first-two"]
    assert first_two.device_filter == (A100, 0x20B110DE) and first_two.devices == (0, 1)
    assert spec["all-disabled"][0].device_filter is None and spec["all-disabled"][0].mig_devices == {}


@pytest.mark.parametrize("text, error", [
    ("mig-configs: {a: [{devices: all, mig-enabled: false}]}", "missing 'version'"),
    ("version: v2\nmig-configs: {a: [{devices: all, mig-enabled: false}]}", "unknown version: v2"),
    ("version: v1\nmig-configs: {a: [{devices: all, mig-enabled: false}]}\nextra: 1", "unexpected field: extra"),
    ("version: v1\nmig-configs: {}", "at least one entry in 'mig-configs'"),
    ("version: v1\nmig-configs: {a: []}", "at least one entry in 'a'"),
    ("version: v1\nmig-configs: {a: [{mig-enabled: false}]}", "missing required field: devices"),
    ("version: v1\nmig-configs: {a: [{devices: all}]}", "missing required field: mig-enabled"),
    ("version: v1\nmig-configs: {a: [{devices: all, mig-enabled: false, mig-device: {}}]}",
     "unexpected field: mig-device"),
    ("version: v1\nmig-configs: {a: [{devices: some, mig-enabled: false}]}", "invalid string input for 'devices'"),
    ("version: v1\nmig-configs: {a: [{devices: all, mig-enabled: true}]}", "'mig-devices' when 'mig-enabled' is true"),
    ("version: v1\nmig-configs: {a: [{devices: all, mig-enabled: false, mig-devices: {1g.5gb: 1}}]}",
     "MIG devices included when 'mig-enabled' is false"),
    ("version: v1\nmig-configs: {a: [{devices: all, mig-enabled: true, mig-devices: {1g.5gb: 0}}]}",
     "all counts for all MigProfiles are 0"),
    ("version: v1\nmig-configs: {a: [{devices: all, mig-enabled: true, mig-devices: {5gb: 1}}]}",
     "invalid MIG profile name: '5gb'"),
    ("version: v1\nmig-configs: {a: [{devices: all, mig-enabled: true, mig-devices: {4c.3g.20gb: 1}}]}",
     "more compute slices"),
    ("version: v1\nmig-configs: {a: [{device-filter: A100, devices: all, mig-enabled: false}]}",
     "not a PCI device ID"),
])
def test_refuses_what_mig_parted_refuses(text, error):
    with pytest.raises(mig_parted.SpecError, match=re.escape(error)):
        mig_parted.parse_spec(text)


def test_a_missing_config_name_is_an_error():
    with pytest.raises(mig_parted.SpecError, match="selected mig-config not present: nope"):
        mig_parted.select_config(mig_parted.parse_spec(LAB_CONFIG), "nope")


def test_profiles_with_compute_slices_and_attributes():
    assert mig_parted.parse_profile("1c.3g.20gb") == mig_parted.Profile("1c.3g.20gb", "3g.20gb", 3, 1, "")
    assert mig_parted.parse_profile("1g.10gb+me") == mig_parted.Profile("1g.10gb+me", "1g.10gb+me", 1, 1, "me")


# --- which GPUs, in which order --------------------------------------------------------------

def test_walks_entry_by_entry_then_gpu_by_gpu():
    entries = mig_parted.parse_spec("""
version: v1
mig-configs:
  split:
    - {device-filter: "0x20B010DE", devices: [1, 3], mig-enabled: true, mig-devices: {"7g.40gb": 1}}
    - {devices: all, mig-enabled: false}
""")["split"]
    walked = [(entries.index(entry), index) for entry, index in mig_parted.walk(entries, [A100, H100, A100, A100])]
    assert walked == [(0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]


def test_creates_larger_instances_first_and_tries_every_other_order_once():
    names = mig_parted.flatten({"1g.10gb": 2, "1c.3g.40gb": 1, "2g.20gb": 1, "3g.40gb": 1})
    assert names == ["3g.40gb", "1c.3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]
    orders = list(mig_parted.orderings(names))
    assert orders[0] == names
    # 5! / 2! distinct orders, each once.
    assert len(orders) == 60 and len({tuple(order) for order in orders}) == 60
    assert list(mig_parted.orderings(["1g.5gb"] * 7)) == [["1g.5gb"] * 7]


# --- on simulated GPUs, through NVML ------------------------------------------------------------

class Node:
    """A seeded simulated GPU host and the stand-in run against it, as the MIG manager runs it."""

    def __init__(self, directory, name, config=LAB_CONFIG):
        self.state = str(directory / "gpusim" / ("%s.state" % name))
        self.config = directory / "config.yaml"
        self.config.write_text(config)
        gpusim = directory / "gpusim"
        self.env = dict(os.environ, FGPU_GPUSIM_STATE=self.state, LD_LIBRARY_PATH=str(gpusim / "lib"),
                        FGPU_PYTHON=sys.executable, PATH="%s:%s" % (gpusim / "bin", os.environ["PATH"]))

    def mig_parted(self, *args):
        return subprocess.run([sys.executable, str(LAB / "mig_parted.py"), *args, "-f", str(self.config)],
                              env=self.env, capture_output=True, text=True, timeout=120, check=False)

    def mutations(self):
        """The mutating calls so far, without their time; GPU instance profile IDs as names."""
        names = {str(p.id): p.name for p in gpusim_state.load(self.state).gi_profiles}
        lines = []
        try:
            with open(self.state + ".mutations.log") as log:
                lines = [line.split(" ", 1)[1].strip() for line in log]
        except FileNotFoundError:
            pass
        return [re.sub(r"(CreateGpuInstance gpu=\d+ profile=)(\d+)", lambda m: m.group(1) + names[m.group(2)], line)
                for line in lines]

    def fault(self, name, value):
        gpusim_host.set_fault(self.state, name, value)


def test_applies_the_mode_then_every_instance_in_mig_parted_order(lab_node):
    node = Node(lab_node("gpu-h100-0"), "gpu-h100-0", config="""
version: v1
mig-configs:
  first:
    - {device-filter: "0x233010DE", devices: [0], mig-enabled: true,
       mig-devices: {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}
""")
    assert node.mig_parted("assert", "-c", "first").returncode == 1
    result = node.mig_parted("apply", "-c", "first")
    assert result.returncode == 0, result.stderr
    assert node.mutations() == [
        "nvml nvmlDeviceSetMigMode gpu=0 mode=1 -> 0",
        "nvml nvmlDeviceCreateGpuInstance gpu=0 profile=3g.40gb start=-1 -> 0",
        "nvml nvmlGpuInstanceCreateComputeInstance gpu=0 gi=2 profile=2 start=-1 -> 0",
        "nvml nvmlDeviceCreateGpuInstance gpu=0 profile=2g.20gb start=-1 -> 0",
        "nvml nvmlGpuInstanceCreateComputeInstance gpu=0 gi=4 profile=1 start=-1 -> 0",
        "nvml nvmlDeviceCreateGpuInstance gpu=0 profile=1g.10gb start=-1 -> 0",
        "nvml nvmlGpuInstanceCreateComputeInstance gpu=0 gi=8 profile=0 start=-1 -> 0",
        "nvml nvmlDeviceCreateGpuInstance gpu=0 profile=1g.10gb start=-1 -> 0",
        "nvml nvmlGpuInstanceCreateComputeInstance gpu=0 gi=7 profile=0 start=-1 -> 0",
    ]
    # Applied: assert passes and a second apply changes nothing.
    assert node.mig_parted("assert", "-c", "first").returncode == 0
    assert node.mig_parted("apply", "-c", "first").returncode == 0
    assert len(node.mutations()) == 9


def test_a_different_layout_destroys_every_instance_first(lab_node):
    node = Node(lab_node("gpu-h100-0"), "gpu-h100-0", config="""
version: v1
mig-configs:
  halves: [{devices: [0], mig-enabled: true, mig-devices: {"3g.40gb": 2}}]
  sevenths: [{devices: [0], mig-enabled: true, mig-devices: {"1g.10gb": 7}}]
""")
    assert node.mig_parted("apply", "-c", "halves").returncode == 0
    before = len(node.mutations())
    result = node.mig_parted("apply", "-c", "sevenths")
    assert result.returncode == 0, result.stderr
    changes = node.mutations()[before:]
    assert [re.sub(r" gpu=.*", "", line) for line in changes[:4]] == [
        "nvml nvmlComputeInstanceDestroy", "nvml nvmlGpuInstanceDestroy",
        "nvml nvmlComputeInstanceDestroy", "nvml nvmlGpuInstanceDestroy"]
    assert sum("CreateGpuInstance gpu=0 profile=1g.10gb" in line for line in changes[4:]) == 7
    assert not any("SetMigMode" in line for line in changes)


def test_a_failed_order_is_cleared_and_the_next_one_tried(lab_node):
    node = Node(lab_node("gpu-h100-0"), "gpu-h100-0", config="""
version: v1
mig-configs:
  two: [{devices: [0], mig-enabled: true, mig-devices: {"2g.20gb": 1, "3g.40gb": 1}}]
""")
    node.fault("fail_after_mutations", 3)  # mode, 3g GPU and compute instance; the 2g GPU instance fails
    result = node.mig_parted("-d", "apply", "-c", "two")
    assert result.returncode == 0, result.stderr
    assert [re.sub(r" (gi=|start=|->).*", "", line) for line in node.mutations()] == [
        "nvml nvmlDeviceSetMigMode gpu=0 mode=1",
        "nvml nvmlDeviceCreateGpuInstance gpu=0 profile=3g.40gb",
        "nvml nvmlGpuInstanceCreateComputeInstance gpu=0",
        "nvml nvmlDeviceCreateGpuInstance gpu=0 profile=2g.20gb",  # fails: the next order
        "nvml nvmlComputeInstanceDestroy gpu=0",
        "nvml nvmlGpuInstanceDestroy gpu=0",
        "nvml nvmlDeviceCreateGpuInstance gpu=0 profile=2g.20gb",
        "nvml nvmlGpuInstanceCreateComputeInstance gpu=0",
        "nvml nvmlDeviceCreateGpuInstance gpu=0 profile=3g.40gb",
        "nvml nvmlGpuInstanceCreateComputeInstance gpu=0",
    ]
    assert node.mutations()[3].endswith("-> 999")  # NVML_ERROR_UNKNOWN
    assert "order ['3g.40gb', '2g.20gb'] failed" in result.stderr
    assert node.mig_parted("assert", "-c", "two").returncode == 0


def test_an_impossible_layout_fails_and_leaves_the_gpu_cleared(lab_node):
    node = Node(lab_node("gpu-a100-0"), "gpu-a100-0", config="""
version: v1
mig-configs:
  impossible: [{devices: [0], mig-enabled: true, mig-devices: {"3g.20gb": 3}}]
""")
    result = node.mig_parted("apply", "-c", "impossible")
    assert result.returncode == 1
    assert "GPU 0: error attempting multiple config orderings" in result.stderr
    created = sum("CreateGpuInstance" in line and line.endswith("-> 0") for line in node.mutations())
    destroyed = sum("GpuInstanceDestroy" in line for line in node.mutations())
    assert created == 2 and destroyed == 2


def test_a_pending_mode_change_resets_every_gpu(lab_node):
    node = Node(lab_node("gpu-a30-0"), "gpu-a30-0", config="""
version: v1
mig-configs:
  enabled: [{devices: all, mig-enabled: true, mig-devices: {}}]
""")
    node.fault("mig_needs_reset", True)
    result = node.mig_parted("apply", "--mode-only", "-c", "enabled")
    assert result.returncode == 0, result.stderr
    assert node.mutations()[2:] == [
        "nvidia-smi -r -i 00000000:%s -> 0" % ",00000000:".join(
            gpu.bus_id.split(":", 1)[1] for gpu in gpusim_state.load(node.state).gpus)]
    assert node.mig_parted("assert", "-c", "enabled").returncode == 0


def test_gpus_without_mig(lab_node):
    node = Node(lab_node("gpu-l40s-0"), "gpu-l40s-0", config="""
version: v1
mig-configs:
  all-disabled: [{devices: all, mig-enabled: false}]
  all-enabled: [{devices: all, mig-enabled: true, mig-devices: {}}]
""")
    assert node.mig_parted("apply", "-c", "all-disabled").returncode == 0
    assert node.mig_parted("assert", "-c", "all-disabled").returncode == 0
    result = node.mig_parted("apply", "-c", "all-enabled")
    assert result.returncode == 1 and "GPU 0: error setting MIG mode" in result.stderr
    assert node.mig_parted("assert", "--valid-config", "-c", "all-enabled").returncode == 0
    assert node.mig_parted("assert", "--valid-config", "-c", "none").returncode == 1


def test_reads_the_labs_own_config():
    config = yaml.safe_load((LAB.parents[1] / "inventories" / "lab" / "group_vars" / "all.yml").read_text())
    assert sorted(mig_parted.parse_spec(yaml.safe_dump(config["mig_config"]))) == [
        "a100-1g.5gb", "a30-halves", "all-disabled", "h100-mixed"]
