# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's model data (tests/gpusim/models.yaml) against the collection's table
(plugins/module_utils/gpu_models.py). Both are written from NVIDIA's published tables and
real captures, independently; this test fails when either is wrong. Figures the simulator
marks as inferred, and table figures that are None (no capture at hand), are not compared."""

import pytest

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    model_by_pci_device_id,
)
from gpusim import host as gpusim_host

SIM_MODELS = gpusim_host.load_models()


def test_the_lab_uses_only_simulated_models():
    import yaml
    from conftest import NODES
    nodes = yaml.safe_load(NODES.read_text())["nodes"]
    assert {n["gpu"]["model"] for n in nodes} <= set(SIM_MODELS)


@pytest.mark.parametrize("key", sorted(SIM_MODELS))
def test_the_simulated_model_agrees_with_the_collections_table(key):
    sim = SIM_MODELS[key]
    table = model_by_pci_device_id(sim["pci_device_id"])
    assert table is not None, "the table does not know %s (0x%04X)" % (key, sim["pci_device_id"])
    assert sim["product_name"] in table.product_names
    assert sim["architecture"] == table.architecture
    if table.memory_mib is not None:
        assert abs(sim["memory_mib"] - table.memory_mib) <= table.memory_mib * 0.02
    rows = {row["name"]: row for row in sim["profiles"]}
    assert sorted(rows) == sorted(p.name for p in table.profiles)
    for profile in table.profiles:
        row = rows[profile.name]
        starts, size = row["place"].split(":")
        assert (row["count"], int(size), int(name_g(row["name"]))) == (
            profile.max_instances, profile.memory_slices, profile.compute_slices), profile.name
        assert tuple(int(s) for s in starts.split(",")) == profile.placements, profile.name
        assert row["enum"] == profile.nvml_profile, profile.name
        if profile.gi_profile_id is not None:
            assert row["id"] == profile.gi_profile_id, profile.name
        if row.get("gib") and profile.memory_mib is not None:
            mib = gpusim_host.gib_to_mib(row["gib"])
            assert abs(mib - profile.memory_mib) <= profile.memory_mib * 0.02, (profile.name, mib)


def name_g(name):
    return name.split("g.")[0]


def test_every_inferred_figure_is_explained():
    for key, model in SIM_MODELS.items():
        inferred = [row["name"] for row in model["profiles"] if "inferred_gib" in row]
        if inferred:
            assert "inferred" in model.get("notes", ""), key
        for row in model["profiles"]:
            assert ("gib" in row) != ("inferred_gib" in row), (key, row["name"])
