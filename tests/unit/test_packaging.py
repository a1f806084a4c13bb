# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection artifact holds the collection only, and building it twice works."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# Working state a build machine may hold in the clone (what .gitignore names, plus an
# ansible-builder context and ansible-lint's cache).
WORKING_STATE = (".venv/", ".lab/", ".ansible/", ".pytest_cache/", "context/", "tests/output/",
                 ".git/", ".ci/")


def ansible_galaxy() -> str:
    beside = Path(sys.executable).with_name("ansible-galaxy")
    return str(beside) if beside.exists() else shutil.which("ansible-galaxy")


def test_build_twice_ships_no_working_state(tmp_path):
    source = tmp_path / "fractional" / "gpu"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    for stray in ("context/_build/requirements.txt", ".ansible/collections/x", "tests/output/x",
                  "plugins/module_utils/__pycache__/x.cpython-311.pyc", "fractional-gpu-0.0.1.tar.gz"):
        (source / stray).parent.mkdir(parents=True, exist_ok=True)
        (source / stray).write_text("working state\n")
    out = tmp_path / "dist"
    for dummy in range(2):  # the README's build step, run twice in a row
        subprocess.run([ansible_galaxy(), "collection", "build", "--force", "--output-path",
                        str(out), str(source)], check=True, capture_output=True)
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    with tarfile.open(out / f"fractional-gpu-{version}.tar.gz") as artifact:
        names = artifact.getnames()
    shipped = [name for name in names
               if name.startswith(WORKING_STATE) or "__pycache__" in name or name.endswith(".tar.gz")]
    assert not shipped, shipped
    assert "plugins/modules/mig_geometry.py" in names and "roles/mig/tasks/main.yml" in names
