# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU feature discovery's labels read against the collection's GPU models: the model
a product label names, and the discovery labels a node still lacks. The label names and the
product label's form are the Kubernetes contract's (``k8s_contract``: ``parse_product``).
Stdlib only.
"""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    model_by_product_name,
)
from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import (
    GPU_COUNT_LABEL,
    GPU_PRESENT_LABEL,
    GPU_PRODUCT_LABEL,
    parse_product,
)

__metaclass__ = type

# The labels a GPU node carries once the GPU Operator's discovery ran: the operator's
# common label (from Node Feature Discovery's PCI labels) and GFD's product and count.
DISCOVERY_LABELS = (GPU_PRESENT_LABEL, GPU_PRODUCT_LABEL, GPU_COUNT_LABEL)


def gpu_model(label):
    """The collection's GpuModel for a product label in any of GFD's forms (``-SHARED``,
    ``-MIG-<profile>``) or a product name; None for a GPU the table does not know."""
    return model_by_product_name(parse_product(label).product)


def missing_discovery_labels(labels):
    """The discovery labels a node lacks (``nvidia.com/gpu.present`` must be ``true``)."""
    labels = labels or {}
    return [name for name in DISCOVERY_LABELS
            if not labels.get(name) or (name == GPU_PRESENT_LABEL and labels[name] != "true")]
