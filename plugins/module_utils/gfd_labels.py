# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node labels GPU feature discovery (GFD) writes, and how to read its product label.

GFD names a resource's product ``<product>[-MIG-<profile>][-SHARED]``
(github.com/NVIDIA/k8s-device-plugin, internal/lm/resource.go getProductName and
internal/lm/mig-strategy.go, v0.17-v0.19):

- ``<product>``: the GPU's name with runs of blanks as ``-`` and every character outside
  ``A-Za-z0-9-_.`` dropped (``sanitise``): ``NVIDIA-H100-80GB-HBM3``;
- ``-MIG-<profile>``: a MIG device, e.g. ``nvidia.com/mig-1g.10gb.product`` under the
  ``mixed`` strategy, or ``nvidia.com/gpu.product`` itself under ``single``, where
  ``nvidia.com/gpu.count`` then counts MIG devices, not GPUs. ``-MIG-INVALID`` (count 0):
  a node the ``single`` strategy cannot describe (MIG and non-MIG GPUs, or several
  profiles);
- ``-SHARED``: the resource is time-sliced or shared by MPS and not renamed.

Every reader of a product label (the sharing advisor, the MIG checks from labels, the fleet
summary) goes through ``parse_product`` here. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

from collections import namedtuple

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    model_by_product_name,
)

__metaclass__ = type

PRESENT = "nvidia.com/gpu.present"
PRODUCT = "nvidia.com/gpu.product"
COUNT = "nvidia.com/gpu.count"
MIG_CAPABLE = "nvidia.com/mig.capable"
# The labels a GPU node carries once the GPU Operator's discovery ran: the operator's
# common label (from Node Feature Discovery's PCI labels) and GFD's product and count.
DISCOVERY_LABELS = (PRESENT, PRODUCT, COUNT)

SHARED_SUFFIX = "-SHARED"
MIG_INFIX = "-MIG-"
MIG_INVALID = "INVALID"

ProductLabel = namedtuple("ProductLabel", "product mig_profile shared")


def parse_product(label):
    """``ProductLabel(product, mig_profile, shared)`` of a GFD product label: the GPU's
    product (GFD's form), the MIG profile the resource is a device of (None for whole GPUs;
    ``INVALID`` for GFD's mark of a node the single strategy cannot describe), and whether
    it is shared."""
    text = str(label or "")
    shared = text.endswith(SHARED_SUFFIX)
    if shared:
        text = text[: -len(SHARED_SUFFIX)]
    product, infix, profile = text.rpartition(MIG_INFIX)
    if not infix:
        return ProductLabel(text, None, shared)
    return ProductLabel(product, profile, shared)


def gpu_model(label):
    """The collection's GpuModel for a product label in any of GFD's forms (``-SHARED``,
    ``-MIG-<profile>``) or a product name; None for a GPU the table does not know."""
    return model_by_product_name(parse_product(label).product)


def missing_discovery_labels(labels):
    """The discovery labels a node lacks (``nvidia.com/gpu.present`` must be ``true``)."""
    labels = labels or {}
    return [name for name in DISCOVERY_LABELS
            if not labels.get(name) or (name == PRESENT and labels[name] != "true")]
