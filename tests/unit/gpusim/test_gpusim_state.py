# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state file, seeding from the lab's nodes and the gpusim CLI."""

import subprocess
import sys
from pathlib import Path

from gpusim import host as gpusim_host
from gpusim import state as gpusim_state

ROOT = Path(__file__).resolve().parents[3]
GPUSIM = ROOT / "tests" / "gpusim"
NODES = ROOT / "tests" / "lab" / "nodes.yaml"


def test_seed_takes_the_simulators_own_model_data(seed):
    sim = seed("gpu-h100-0")
    state = sim.state()
    h100 = gpusim_host.load_models()["H100-SXM5-80GB"]
    assert [g.index for g in state.gpus] == list(range(8))
    gpu = state.gpus[0]
    assert (gpu.name, gpu.memory_mib, gpu.mig_capable, gpu.architecture) == (
        h100["product_name"], h100["memory_mib"], True, "Hopper")
    assert (gpu.pci_device_id, gpu.pci_subsystem_id) == (0x233010DE, 0x16C110DE)
    assert (gpu.memory_slices, gpu.compute_slices) == (8, 7)
    assert len({g.uuid for g in state.gpus}) == 8 and len({g.bus_id for g in state.gpus}) == 8
    assert [(p.name, p.id, p.max, p.memory_mib) for p in state.gi_profiles][:3] == [
        ("1g.10gb", 19, 7, 9984), ("1g.10gb+me", 20, 1, 9984), ("1g.20gb", 15, 4, 20096)]
    sizes = {(c.gi_profile, c.name) for c in state.ci_profiles}
    assert (9, "1c.3g.40gb") in sizes and (9, "2c.3g.40gb") in sizes and (0, "4c.7g.80gb") in sizes
    assert (5, "3c.4g.40gb") not in sizes  # go-nvlib's rule: 2c <= g + 1


def test_seed_a_model_by_key(tmp_path):
    path = tmp_path / "rtx.state"
    state = gpusim_host.seed_model("RTX-PRO-6000-BW-96GB", 2, str(path))
    assert (state.gpus[0].memory_slices, state.gpus[0].compute_slices) == (4, 4)
    media = {p.name for p in state.gi_profiles if p.me}
    assert media == {"1g.24gb+me", "1g.24gb+me.all", "2g.48gb+me.all"}


def test_an_older_state_file_without_subsystem_ids_still_reads(seed):
    sim = seed("gpu-h200-0")
    text = open(sim.path).read().replace("\tpci_subsystem_id=415174878", "")
    assert "pci_subsystem_id" not in text
    state = gpusim_state.parse_state(text)
    assert gpusim_state.subsystem_id(state.gpus[0]) == 0x233510DE


def test_seed_is_stable_per_node_and_index(seed, tmp_path):
    first = seed("gpu-a100-0").state()
    again = gpusim_host.seed(str(NODES), "gpu-a100-0", str(tmp_path / "again.state"))
    assert [g.uuid for g in first.gpus] == [g.uuid for g in again.gpus]
    other = seed("gpu-h100-1").state()
    assert not {g.uuid for g in first.gpus} & {g.uuid for g in other.gpus}


def test_non_mig_model_has_no_profiles(seed):
    state = seed("gpu-l40s-0").state()
    assert (len(state.gpus), state.gpus[0].mig_capable, state.gi_profiles) == (1, False, [])


def test_format_round_trips(seed):
    sim = seed("gpu-a30-0")
    text = open(sim.path).read()
    assert gpusim_state.format_state(gpusim_state.parse_state(text)) == text
    assert text.startswith("gpusim-state 1\n")


def test_cli_seed_fault_reboot_show(tmp_path):
    path = tmp_path / "h.state"
    env = {"PYTHONPATH": str(GPUSIM), "FGPU_GPUSIM_STATE": str(path), "PATH": "/usr/bin:/bin"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "gpusim", *args], env=env, capture_output=True, text=True, check=False)

    assert cli("seed", "--nodes", str(NODES), "--node", "gpu-a30-0", "--out", str(path)).returncode == 0
    assert cli("fault", "process-add", "--gpu", "1", "--pid", "77", "--name", "train").returncode == 0
    assert cli("fault", "reset-fails", "on").returncode == 0
    assert cli("fault", "fail-after-mutations", "2").returncode == 0
    state = gpusim_state.load(str(path))
    assert [(p.gpu, p.pid, p.name) for p in state.processes] == [(1, 77, "train")]
    assert (state.faults.reset_fails, state.faults.fail_after_mutations) == (True, 2)
    assert '"node": "gpu-a30-0"' in cli("show").stdout
    assert cli("reboot").returncode == 0
    assert gpusim_state.load(str(path)).processes == []
    assert cli("fault", "clear").returncode == 0
    assert gpusim_state.load(str(path)).faults == gpusim_state.Faults()
    bad = cli("seed", "--nodes", str(NODES), "--node", "nope", "--out", str(path))
    assert bad.returncode != 0 and "no node 'nope'" in bad.stderr


def test_concurrent_writers_lose_no_update(seed):
    """Writers from separate processes serialise on the lock; every update survives."""
    sim = seed("gpu-h100-0")
    workers = [subprocess.Popen([sys.executable, "-m", "gpusim", "fault", "--state", sim.path, "process-add",
                                 "--gpu", str(n % 8), "--pid", str(1000 + n)],
                                env=dict(sim.env, PYTHONPATH=str(GPUSIM))) for n in range(6)]
    assert [w.wait(timeout=60) for w in workers] == [0] * 6
    assert sorted(p.pid for p in sim.state().processes) == list(range(1000, 1006))
