# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU feature discovery's product label in all its forms, and the discovery labels."""

import pytest

from ansible_collections.fractional.gpu.plugins.module_utils.gfd_labels import (
    gpu_model,
    missing_discovery_labels,
)
from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import parse_product


@pytest.mark.parametrize("label, product, profile, shared", [
    ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-80GB-HBM3", None, False),
    ("NVIDIA-L40S-SHARED", "NVIDIA-L40S", None, True),
    ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", "NVIDIA-A100-SXM4-40GB", "1g.5gb", False),
    ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb-SHARED", "NVIDIA-A100-SXM4-40GB", "1g.5gb", True),
    # GFD drops '+' from a profile name (internal/lm/resource.go sanitise).
    ("NVIDIA-H100-80GB-HBM3-MIG-1g.10gbme", "NVIDIA-H100-80GB-HBM3", "1g.10gbme", False),
    ("NVIDIA-A100-SXM4-40GB-MIG-INVALID", "NVIDIA-A100-SXM4-40GB", "INVALID", False),
    ("", "", None, False),
    (None, "", None, False),
])
def test_parse_product(label, product, profile, shared):
    assert tuple(parse_product(label)) == (product, profile, shared)


@pytest.mark.parametrize("label", ["NVIDIA-L40S", "NVIDIA-L40S-SHARED", "NVIDIA L40S"])
def test_every_form_names_the_same_model(label):
    assert gpu_model(label).key == "L40S"


def test_the_model_of_a_mig_device_is_its_gpu():
    assert gpu_model("NVIDIA-H100-80GB-HBM3-MIG-3g.40gb-SHARED").key == "H100-SXM5-80GB"
    assert gpu_model("RTX-4090") is None


def test_missing_discovery_labels():
    assert missing_discovery_labels({"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "X",
                                     "nvidia.com/gpu.count": "8"}) == []
    assert missing_discovery_labels({"nvidia.com/gpu.present": "false"}) == [
        "nvidia.com/gpu.present", "nvidia.com/gpu.product", "nvidia.com/gpu.count"]
    assert missing_discovery_labels(None) == [
        "nvidia.com/gpu.present", "nvidia.com/gpu.product", "nvidia.com/gpu.count"]
