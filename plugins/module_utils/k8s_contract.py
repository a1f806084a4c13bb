# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes contract: the names of the objects, node labels and resources that the
collection shares with NVIDIA's GPU Operator, device plugin, GPU feature discovery (GFD) and
MIG manager, the rename rule of shared resources, and the form of GFD's product label.

This module is their one home. Python imports the constants; roles read them as the
``cluster`` role's ``cluster_contract`` and playbooks through the lookup
``fractional.gpu.k8s_contract``, both from ``contract()`` here. The ConfigMaps the
collection writes are not NVIDIA's names but the user's (``cluster_device_plugin_configmap``,
``cluster_mig_configmap`` in ``roles/cluster/defaults/main.yml``).

Sources (github.com/NVIDIA/gpu-operator, github.com/NVIDIA/k8s-device-plugin v0.17-v0.19):

- the ClusterPolicy the chart creates: deployments/gpu-operator/templates/clusterpolicy.yaml,
  and the operator's Deployment: deployments/gpu-operator/templates/operator.yaml;
- ``nvidia.com/gpu.present``, ``nvidia.com/gpu.deploy.<operand>``, ``nvidia.com/mig.config``:
  controllers/state_manager.go; ``paused-for-mig-change`` and ``nvidia.com/mig.config.state``:
  github.com/NVIDIA/mig-parted, pkg/mig/reconfigure;
- the operands' DaemonSets and their ``app`` labels: assets/state-device-plugin,
  assets/gpu-feature-discovery, assets/state-mig-manager;
- ``nvidia.com/device-plugin.config``: k8s-device-plugin cmd/config-manager;
- GFD's labels and the product label ``<product>[-MIG-<profile>][-SHARED]``:
  internal/lm/resource.go getProductName, internal/lm/mig-strategy.go. ``<product>`` is the
  GPU's name with runs of blanks as ``-`` and every character outside ``A-Za-z0-9-_.``
  dropped; ``-MIG-<profile>`` a MIG device (``nvidia.com/mig-1g.10gb.product`` under the
  ``mixed`` strategy, ``nvidia.com/gpu.product`` itself under ``single``, whose
  ``nvidia.com/gpu.count`` then counts MIG devices); ``-MIG-INVALID`` (count 0) a node the
  ``single`` strategy cannot describe; ``-SHARED`` a time-sliced or MPS-shared resource that
  is not renamed;
- resources and the rename rule (``renameByDefault`` advertises ``<name>.shared``):
  api/config/v1.

Stdlib only.
"""

from __future__ import absolute_import, division, print_function

from collections import namedtuple

__metaclass__ = type

# The GPU Operator's ClusterPolicy: one per cluster, under this name.
CLUSTER_POLICY = "cluster-policy"
CLUSTER_POLICY_GROUP = "nvidia.com"
CLUSTER_POLICY_VERSION = "v1"
CLUSTER_POLICY_PLURAL = "clusterpolicies"
CLUSTER_POLICY_KIND = "ClusterPolicy"

# Node labels of the GPU Operator: its mark of a GPU node, and the per-operand switches its
# DaemonSets select on (true, false, or paused-for-mig-change while a MIG change runs).
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
GPU_NODES_SELECTOR = "%s=true" % GPU_PRESENT_LABEL
DEPLOY_LABEL_PREFIX = "nvidia.com/gpu.deploy."
PAUSED_FOR_MIG_CHANGE = "paused-for-mig-change"
# The MIG manager's: the config a node gets (a key of its ConfigMap), and how applying it went.
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
MIG_CONFIG_STATE_LABEL = "nvidia.com/mig.config.state"
# The MIG config the operator gives a MIG-capable node without the label (its chart default).
MIG_CONFIG_ALL_DISABLED = "all-disabled"
# The device plugin's config manager: the key of the device plugin ConfigMap a node reads.
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
# GFD's: the GPUs' product and count, and MIG capability.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_COUNT_LABEL = "nvidia.com/gpu.count"
MIG_CAPABLE_LABEL = "nvidia.com/mig.capable"

# The operator's own Deployment and its pods' app label (deployments/gpu-operator/templates/
# operator.yaml).
OPERATOR_DEPLOYMENT = "gpu-operator"

# The operands' DaemonSets (their name is also their pods' app label).
DEVICE_PLUGIN_APP = "nvidia-device-plugin-daemonset"
GFD_APP = "gpu-feature-discovery"
DCGM_EXPORTER_APP = "nvidia-dcgm-exporter"
DCGM_APP = "nvidia-dcgm"
# The two that read the device plugin config, and the sidecar the operator adds to both
# when ClusterPolicy spec.devicePlugin.config names a ConfigMap (controllers/
# object_controls.go handleDevicePluginConfig).
CONFIG_DAEMONSETS = (DEVICE_PLUGIN_APP, GFD_APP)
CONFIG_MANAGER_CONTAINER = "config-manager"

# Resources the device plugin advertises: whole GPUs (and, under the single MIG strategy,
# MIG devices), one per MIG profile under mixed, and a shared one renamed.
RESOURCE_NAME_PREFIX = "nvidia.com/"  # k8s-device-plugin api/config/v1 ResourceNamePrefix
GPU_RESOURCE = RESOURCE_NAME_PREFIX + "gpu"
MIG_RESOURCE_PREFIX = RESOURCE_NAME_PREFIX + "mig-"
SHARED_RESOURCE_SUFFIX = ".shared"

# GFD's product label.
PRODUCT_SHARED_SUFFIX = "-SHARED"
PRODUCT_MIG_INFIX = "-MIG-"
PRODUCT_MIG_INVALID = "INVALID"

ProductLabel = namedtuple("ProductLabel", "product mig_profile shared")


def resource_name(name):
    """The resource a sharing config's ``name`` is in the device plugin: a bare name
    (``gpu``, ``mig-1g.10gb``) gets the ``nvidia.com/`` prefix (k8s-device-plugin
    api/config/v1/resources.go NewResourceName)."""
    if isinstance(name, str) and name and not name.startswith(RESOURCE_NAME_PREFIX):
        return RESOURCE_NAME_PREFIX + name
    return name


def advertised_resource(name, rename_by_default):
    """The name a shared resource is advertised under: ``<name>.shared`` with
    ``renameByDefault``, else its own."""
    return name + SHARED_RESOURCE_SUFFIX if rename_by_default else name


def parse_product(label):
    """``ProductLabel(product, mig_profile, shared)`` of a GFD product label: the GPU's
    product (GFD's form), the MIG profile the resource is a device of (None for whole GPUs;
    ``INVALID`` for GFD's mark of a node the single strategy cannot describe), and whether
    it is shared."""
    text = str(label or "")
    shared = text.endswith(PRODUCT_SHARED_SUFFIX)
    if shared:
        text = text[: -len(PRODUCT_SHARED_SUFFIX)]
    product, infix, profile = text.rpartition(PRODUCT_MIG_INFIX)
    if not infix:
        return ProductLabel(text, None, shared)
    return ProductLabel(product, profile, shared)


def contract():
    """The names roles and playbooks use, by the key they read them under."""
    return {
        "cluster_policy": CLUSTER_POLICY,
        "cluster_policy_api_version": "%s/%s" % (CLUSTER_POLICY_GROUP, CLUSTER_POLICY_VERSION),
        "cluster_policy_kind": CLUSTER_POLICY_KIND,
        "gpu_present_label": GPU_PRESENT_LABEL,
        "gpu_nodes_selector": GPU_NODES_SELECTOR,
        "deploy_label_prefix": DEPLOY_LABEL_PREFIX,
        "paused_for_mig_change": PAUSED_FOR_MIG_CHANGE,
        "mig_config_label": MIG_CONFIG_LABEL,
        "mig_config_state_label": MIG_CONFIG_STATE_LABEL,
        "device_plugin_config_label": DEVICE_PLUGIN_CONFIG_LABEL,
        "gpu_product_label": GPU_PRODUCT_LABEL,
        "gpu_count_label": GPU_COUNT_LABEL,
        "operator_deployment": OPERATOR_DEPLOYMENT,
        "operator_pods_selector": "app=%s" % OPERATOR_DEPLOYMENT,
        "config_daemonsets_selector": "app in (%s)" % ", ".join(CONFIG_DAEMONSETS),
        "gpu_resource": GPU_RESOURCE,
        "mig_resource_prefix": MIG_RESOURCE_PREFIX,
        "shared_resource_suffix": SHARED_RESOURCE_SUFFIX,
    }
