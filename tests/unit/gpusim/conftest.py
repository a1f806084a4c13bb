# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the GPU simulator tests: a seeded host per test, the simulated nvidia-smi,
and the real pynvml against the simulated NVML in a subprocess (the library loads once per
process, so each check that needs a fresh view runs in its own interpreter)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GPUSIM = ROOT / "tests" / "gpusim"
NODES = ROOT / "tests" / "lab" / "nodes.yaml"
sys.path.insert(0, str(GPUSIM))

from gpusim import host as gpusim_host  # noqa: E402
from gpusim import state as gpusim_state  # noqa: E402


class SimHost:
    """One simulated GPU host: its state file and ways to drive it."""

    def __init__(self, path, nvml_dir=None):
        self.path = str(path)
        self.nvml_dir = nvml_dir
        self.env = dict(os.environ, FGPU_GPUSIM_STATE=self.path, FGPU_PYTHON=sys.executable)

    def smi(self, *args):
        """Run the simulated nvidia-smi; returns the CompletedProcess (text)."""
        return subprocess.run([str(GPUSIM / "bin" / "nvidia-smi"), *args], env=self.env,
                              capture_output=True, text=True, timeout=60, check=False)

    def cli(self, *args):
        env = dict(self.env, PYTHONPATH=str(GPUSIM))
        result = subprocess.run([sys.executable, "-m", "gpusim", *args], env=env, capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return result

    def nvml(self, body):
        """Run ``body`` with pynvml as ``nvml`` against the simulated library; it stores what
        it wants to return in ``out`` (a dict), which comes back decoded."""
        if self.nvml_dir is None:
            pytest.skip("no simulated NVML library for this host")
        script = ("import json, pynvml as nvml\nout = {}\nnvml.nvmlInit()\n%s\n"
                  "nvml.nvmlShutdown()\nprint(json.dumps(out))\n" % textwrap.dedent(body))
        env = dict(self.env, LD_LIBRARY_PATH=self.nvml_dir)
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                                check=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[-1])

    def state(self):
        return gpusim_state.load(self.path)

    def mutations(self):
        log = Path(self.path + ".mutations.log")
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def seed(tmp_path):
    """seed(node) -> SimHost for that node of tests/lab/nodes.yaml, without NVML."""
    def make(node="gpu-h100-0"):
        path = tmp_path / ("%s.state" % node)
        gpusim_host.seed(str(NODES), node, str(path))
        return SimHost(path)
    return make


@pytest.fixture(scope="session")
def nvml_dir():
    """The simulated libnvidia-ml.so.1's directory, built (or found cached) by build.sh;
    skips when it is not cached and no C compiler can build it."""
    result = subprocess.run([str(GPUSIM / "build.sh")], env=dict(os.environ, FGPU_PYTHON=sys.executable),
                            capture_output=True, text=True, timeout=300, check=False)
    compiler = os.environ.get("CC", "cc")
    if result.returncode != 0 and shutil.which(compiler) is None:
        pytest.skip("no C compiler (%s) on PATH: the simulated NVML cannot be built" % compiler)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def seed_with_nvml(seed, nvml_dir):
    def make(node="gpu-h100-0"):
        sim = seed(node)
        sim.nvml_dir = nvml_dir
        return sim
    return make
