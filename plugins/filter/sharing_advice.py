# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.sharing_advice."""

from __future__ import absolute_import, division, print_function

from ansible.errors import AnsibleFilterError

from ansible_collections.fractional.gpu.plugins.module_utils.sharing_advisor import (
    AdviceError,
    advise,
)

__metaclass__ = type

DOCUMENTATION = r"""
name: sharing_advice
short_description: Pick MIG, time slicing or the KAI Scheduler for a GPU node pool
version_added: 0.1.0
description:
  - From the pool's GPU model and what its workloads need, picks the GPU sharing strategy
    and says why, from the comparison of the three strategies (isolation, memory and fault
    protection, hardware, granularity).
  - Pools whose strategy is C(auto) in the collection's playbooks use it.
  - Fails when no strategy meets the needs, for example memory isolation on a GPU that is
    not MIG-capable.
options:
  _input:
    description: GPU model, as a key of the collection's model table (C(H100-SXM5-80GB)), a
      product name (C(NVIDIA H100 80GB HBM3)) or the C(nvidia.com/gpu.product) node label.
    type: str
    required: true
  isolation:
    description: Isolation the pool's tenants need from each other.
    type: str
    choices: [none, memory, fault]
    default: none
  workload:
    description: What mostly runs on the pool.
    type: str
    choices: [inference, training, notebooks, batch]
    default: inference
  granularity:
    description:
      - How GPUs are cut. C(instance) fixed hardware slices, C(replica) N equal shares,
        C(fraction) arbitrary fractions or MiB of memory. Unset lets the workload decide.
    type: str
    choices: [instance, replica, fraction]
"""

EXAMPLES = r"""
- name: Advise a pool of H100s serving inference to several tenants
  ansible.builtin.debug:
    msg: "{{ 'H100-SXM5-80GB' | fractional.gpu.sharing_advice(isolation='memory') }}"
  # -> strategy: mig

- name: Advise a pool of L40S used for notebooks
  ansible.builtin.debug:
    msg: "{{ 'NVIDIA-L40S' | fractional.gpu.sharing_advice(workload='notebooks') }}"
  # -> strategy: time_slicing
"""

RETURN = r"""
_value:
  description: The advice.
  type: dict
  contains:
    strategy:
      description: C(mig), C(time_slicing) or C(kai).
      type: str
    reasons:
      description: Why, one sentence each, from the comparison table.
      type: list
      elements: str
    alternatives:
      description: The other strategies this GPU supports.
      type: list
      elements: str
    gpu_model:
      description: The model table's key for the GPU.
      type: str
    mig_capable:
      description: Whether the GPU supports MIG.
      type: bool
"""


def sharing_advice(gpu_model, isolation="none", workload="inference", granularity=None):
    try:
        return advise(gpu_model, isolation=isolation, workload=workload, granularity=granularity)
    except AdviceError as exc:
        raise AnsibleFilterError("sharing_advice: %s" % exc)


class FilterModule:
    def filters(self):
        return {"sharing_advice": sharing_advice}
