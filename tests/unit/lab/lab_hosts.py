# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the lab's stand-ins: a seeded simulated GPU host with the simulated NVML
library, laid out as the lab lays out a node (tests/lab/lab.py seed_gpu_hosts). A module the
tests import, not a conftest.py: tests elsewhere import ``conftest`` by name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "tests" / "lab"
GPUSIM = ROOT / "tests" / "gpusim"
sys.path.insert(0, str(LAB))
sys.path.insert(0, str(GPUSIM))

from gpusim import host as gpusim_host  # noqa: E402


@pytest.fixture(name="nvml_lib", scope="session")
def fixture_nvml_lib():
    """The simulated libnvidia-ml.so.1's directory (tests/gpusim/build.sh, cached)."""
    result = subprocess.run([str(GPUSIM / "build.sh")], env=dict(os.environ, FGPU_PYTHON=sys.executable),
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        pytest.skip("the simulated NVML library cannot be built here: %s" % result.stderr.strip()[-200:])
    return result.stdout.strip()


@pytest.fixture(name="lab_node")
def fixture_lab_node(tmp_path, nvml_lib):
    """node name -> the lab directory holding gpusim/<node>.state, gpusim/lib and gpusim/bin."""
    def make(node):
        gpusim = tmp_path / "gpusim"
        gpusim.mkdir(exist_ok=True)
        for name, target in (("lib", nvml_lib), ("bin", GPUSIM / "bin")):
            if not (gpusim / name).exists():
                (gpusim / name).symlink_to(target, target_is_directory=True)
        gpusim_host.seed(str(LAB / "nodes.yaml"), node, str(gpusim / ("%s.state" % node)))
        return tmp_path
    return make
