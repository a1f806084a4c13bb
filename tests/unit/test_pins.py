# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a file format cannot read a pin from its one source (the EE definition cannot
read galaxy.yml or the lab's versions.env), the copy is checked against the source here."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def lab_versions():
    pairs = (line.split("=", 1) for line in (ROOT / "tests/lab/versions.env").read_text().splitlines()
             if line and not line.startswith("#"))
    return dict(pairs)


def test_execution_environment_matches_the_sources():
    ee = yaml.safe_load((ROOT / "meta/execution-environment.yml").read_text())
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    core = re.search(r"^ansible-core==(\S+)$", (ROOT / "tests/requirements.txt").read_text(), re.M)
    tarball = "%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])
    assert ee["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==" + core.group(1)
    assert {"name": tarball, "type": "file"} in ee["dependencies"]["galaxy"]["collections"]
    assert ee["additional_build_files"][0]["src"] == tarball
    assert ee["dependencies"]["galaxy"]["collections"][0]["version"] == \
        galaxy["dependencies"]["kubernetes.core"]
    helm_arg = [step for step in ee["additional_build_steps"]["append_final"]
                if step.startswith("ARG HELM_VERSION=")]
    assert helm_arg == ["ARG HELM_VERSION=" + lab_versions()["HELM_VERSION"]]


def test_readme_names_the_versions_the_lab_runs():
    """README's table of what is real in the lab says which versions run: those pinned."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The lab, and what is real in the tests", 1)[1].split("\n## ", 1)[0]
    versions = lab_versions()
    for key in ("KUBERNETES_VERSION", "ETCD_VERSION", "HELM_VERSION", "KWOK_VERSION",
                "GPU_OPERATOR_MODULE_VERSION", "KAI_VERSION", "NVIDIA_DEVICE_PLUGIN_VERSION"):
        assert versions[key] in section, (key, versions[key])
