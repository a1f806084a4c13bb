# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The light scale nodes' stand-in (tests/lab/scale_nodes.py): the device plugin's config read
as the plugin reads it, and what a node publishes under it."""

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "lab"))
import scale_nodes  # noqa: E402  pylint: disable=wrong-import-position

MODEL = {"product_name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559, "architecture": "Hopper",
         "profiles": [{"name": "1g.10gb"}]}
NFD = {"feature.node.kubernetes.io/pci-10de.present": "true"}


def node(**labels):
    return {"metadata": {"name": "gpu-scale-0", "labels": labels}}


def config(**sharing):
    return yaml.safe_dump({"version": "v1", "flags": {"migStrategy": "none"}, "sharing": sharing})


def test_the_config_is_read_as_the_plugin_reads_it():
    assert scale_nodes.sharing(config()) == scale_nodes.NO_SHARING
    shared = scale_nodes.sharing(config(timeSlicing={"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}))
    assert shared == {"strategy": "time-slicing", "rename": False, "replicas": 4}
    mps = scale_nodes.sharing(config(mps={"renameByDefault": True, "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}))
    assert mps == {"strategy": "mps", "rename": True, "replicas": 2}
    with pytest.raises(ValueError):
        scale_nodes.sharing(config(timeSlicing={"resources": [{"name": "nvidia.com/gpu", "replicas": 1}]}))
    with pytest.raises(ValueError):
        scale_nodes.sharing(config(timeSlicing={}))


def test_nfd_only_until_the_operator_marks_a_gpu_node():
    labels, resources = scale_nodes.wanted(node(), MODEL, 8, NFD, scale_nodes.NO_SHARING)
    assert labels == NFD and resources == {}


def test_gfd_labels_and_replicas_times_gpus():
    present = node(**{"nvidia.com/gpu.present": "true"})
    labels, resources = scale_nodes.wanted(present, MODEL, 8, NFD, {"strategy": "time-slicing", "rename": False, "replicas": 2})
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3-SHARED"
    assert labels["nvidia.com/gpu.count"] == "8" and labels["nvidia.com/gpu.replicas"] == "2"
    assert labels["nvidia.com/gpu.sharing-strategy"] == "time-slicing" and labels["nvidia.com/mig.capable"] == "true"
    assert resources == {"nvidia.com/gpu": "16", "nvidia.com/gpu.shared": None}
    labels, resources = scale_nodes.wanted(present, MODEL, 8, NFD, {"strategy": "mps", "rename": True, "replicas": 2})
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert resources == {"nvidia.com/gpu": "0", "nvidia.com/gpu.shared": "16"}
    labels, resources = scale_nodes.wanted(present, MODEL, 8, NFD, scale_nodes.NO_SHARING)
    assert labels["nvidia.com/gpu.sharing-strategy"] == "none" and resources["nvidia.com/gpu"] == "8"


def test_a_config_the_plugin_refuses_leaves_the_sharing_as_it_is():
    labels, resources = scale_nodes.wanted(node(**{"nvidia.com/gpu.present": "true"}), MODEL, 8, NFD, None)
    assert resources == {} and "nvidia.com/gpu.replicas" not in labels and "nvidia.com/gpu.product" not in labels
