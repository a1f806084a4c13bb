# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes contract for YAML: the names of plugins/module_utils/k8s_contract.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: k8s_contract
author:
  - fractional.gpu contributors (@fractional-gpu)
version_added: 0.1.0
short_description: The names the collection shares with NVIDIA's GPU Operator and device plugin
description:
  - The Kubernetes contract of the collection, from its one home (the module utility
    C(k8s_contract)) - the GPU Operator's ClusterPolicy (name, API version, kind) and
    Deployment, the node labels of the operator,
    its MIG manager, the device plugin's config manager and GPU feature discovery, the
    device plugin's resource names and the suffix of a renamed shared resource.
  - Without terms, one mapping of every name; with terms, the names under those keys.
  - Roles read the mapping as C(cluster_contract), a variable of the role
    C(fractional.gpu.cluster) set from this lookup.
options:
  _terms:
    description: Keys of the mapping (C(cluster_policy), C(gpu_present_label), ...); none for the whole mapping.
    type: list
    elements: str
    required: false
"""

EXAMPLES = r"""
- name: Read the GPU Operator's ClusterPolicy
  kubernetes.core.k8s_info:
    api_version: "{{ lookup('fractional.gpu.k8s_contract', 'cluster_policy_api_version') }}"
    kind: "{{ lookup('fractional.gpu.k8s_contract', 'cluster_policy_kind') }}"
    name: "{{ lookup('fractional.gpu.k8s_contract', 'cluster_policy') }}"

- name: Read the GPU nodes
  kubernetes.core.k8s_info:
    kind: Node
    label_selectors:
      - "{{ lookup('fractional.gpu.k8s_contract').gpu_nodes_selector }}"
"""

RETURN = r"""
_raw:
  description: The mapping of every name (no terms), or the name of each term.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import contract


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        names = contract()
        if not terms:
            return [names]
        unknown = [term for term in terms if term not in names]
        if unknown:
            raise AnsibleError("k8s_contract has no name %s; it has %s"
                               % (", ".join(unknown), ", ".join(sorted(names))))
        return [names[term] for term in terms]
