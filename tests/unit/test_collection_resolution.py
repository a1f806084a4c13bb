# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every stage of the test script runs the working tree's collection: with another version
installed where Ansible looks by default (~/.ansible/collections), the working tree still
wins, and a path that would resolve another copy is refused."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tests" / "lab" / "lab.py"


def decoy(base):
    """Another version of fractional.gpu, installed as ansible-galaxy would."""
    collection = base / "ansible_collections" / "fractional" / "gpu"
    collection.mkdir(parents=True)
    (collection / "MANIFEST.json").write_text('{"collection_info": {"namespace": "fractional", '
                                              '"name": "gpu", "version": "0.0.1"}}')
    return base


def run_lab(tmp_path, *args):
    env = dict(os.environ, ANSIBLE_HOME=str(decoy(tmp_path / "ansible-home" / "collections").parent),
               FGPU_LAB_DIR=str(tmp_path / "lab"))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    return subprocess.run([sys.executable, str(LAB), *args], env=env, text=True,
                          capture_output=True, check=False)


def test_the_working_tree_wins_over_an_installed_copy(tmp_path):
    proc = run_lab(tmp_path, "collections")
    assert proc.returncode == 0, proc.stderr
    link = Path(proc.stdout.strip()) / "ansible_collections" / "fractional" / "gpu"
    assert link.resolve() == ROOT


def test_a_path_that_resolves_another_copy_is_refused(tmp_path):
    sys.path.insert(0, str(LAB.parent))
    try:
        import lab  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.remove(str(LAB.parent))
    with pytest.raises(lab.LabError, match="not this working tree"):
        lab.check_collection(decoy(tmp_path / "other"))
