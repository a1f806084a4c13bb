# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Picks a GPU sharing strategy (MIG, time slicing, KAI Scheduler) for a node pool.

The facts come from one table, ``STRATEGIES``: the comparison of the three strategies in the
project's upstream reference (hardware, isolation, memory and fault protection, granularity,
reconfiguration, what each fits). The rules below only read it.
"""

from __future__ import absolute_import, division, print_function

from ansible_collections.fractional.gpu.plugins.module_utils.gfd_labels import gpu_model
from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    GPU_MODELS,
    model_by_key,
)

__metaclass__ = type

MIG = "mig"
TIME_SLICING = "time_slicing"
KAI = "kai"

# The comparison table, one row per strategy.
STRATEGIES = {
    MIG: {
        "title": "MIG",
        "isolation": "hardware partition (SMs, memory, cache)",
        "memory_protection": True,
        "fault_isolation": True,
        "hardware": "MIG-capable data-centre GPUs (A100, A30, H100, H200, B200, GB200)",
        "granularity": "fixed shapes, up to 7 per GPU",
        "reconfiguration": "static; may need a GPU reset or reboot and drains the node",
        "fits": "production, multi-tenant, per-instance billing, predictable latency",
    },
    TIME_SLICING: {
        "title": "time slicing",
        "isolation": "none at hardware level",
        "memory_protection": False,
        "fault_isolation": False,
        "hardware": "nearly any NVIDIA GPU",
        "granularity": "integer replicas per GPU",
        "reconfiguration": "dynamic",
        "fits": "dev/test, batch, bursty inference, notebooks",
    },
    KAI: {
        "title": "KAI Scheduler",
        "isolation": "none; cooperative",
        "memory_protection": False,
        "fault_isolation": False,
        "hardware": "any GPU under the GPU Operator",
        "granularity": "fractions (0.25) or MiB of GPU memory",
        "reconfiguration": "dynamic",
        "fits": "internal, cooperative teams sharing a cluster with queues and quotas",
    },
}

ISOLATION_LEVELS = ("none", "memory", "fault")
WORKLOADS = ("inference", "training", "notebooks", "batch")
GRANULARITIES = ("instance", "replica", "fraction")


class AdviceError(ValueError):
    """The pool's needs cannot be met, or the input is not understood."""


def _model(gpu_model_name):
    try:
        return model_by_key(gpu_model_name)
    except KeyError:
        pass
    # A node's product label says how the GPU is shared now (-SHARED, -MIG-<profile>): the
    # advice is about the GPU itself.
    model = gpu_model(gpu_model_name)
    if model is None:
        raise AdviceError(
            "unknown GPU model '%s'; known: %s" % (gpu_model_name, ", ".join(sorted(GPU_MODELS))))
    return model


def _check_choice(name, value, choices):
    if value not in choices:
        raise AdviceError("%s must be one of %s, not '%s'" % (name, ", ".join(choices), value))


def advise(gpu_model, isolation="none", workload="inference", granularity=None):
    """Returns ``{strategy, reasons, alternatives, gpu_model, mig_capable}`` for one pool.

    ``isolation``: none, memory (a tenant must not read or exhaust another's memory) or
    fault (a crash must not take down the neighbours). ``granularity``: instance (fixed
    hardware slices), replica (N equal shares), fraction (arbitrary fractions or MiB);
    None lets the workload decide.
    """
    _check_choice("isolation", isolation, ISOLATION_LEVELS)
    _check_choice("workload", workload, WORKLOADS)
    if granularity is not None:
        _check_choice("granularity", granularity, GRANULARITIES)
    model = _model(gpu_model)
    reasons = []

    if isolation != "none":
        if not model.mig_capable:
            raise AdviceError(
                "%s is not MIG-capable, and only MIG gives %s isolation (time slicing and "
                "KAI share one fault domain and do not protect memory); choose isolation "
                "'none' for this pool or run the workload on a MIG-capable pool"
                % (model.product_name, isolation))
        strategy = MIG
        reasons.append("%s isolation asked: only MIG has %s" % (
            isolation, STRATEGIES[MIG]["isolation"]))
    elif granularity == "instance":
        if not model.mig_capable:
            raise AdviceError(
                "%s is not MIG-capable: fixed hardware instances need MIG; choose "
                "granularity 'replica' or 'fraction'" % model.product_name)
        strategy = MIG
        reasons.append("fixed hardware instances asked: MIG offers %s"
                       % STRATEGIES[MIG]["granularity"])
    elif granularity == "fraction":
        strategy = KAI
        reasons.append("fractional requests asked: KAI schedules %s"
                       % STRATEGIES[KAI]["granularity"])
    elif granularity == "replica":
        strategy = TIME_SLICING
        reasons.append("equal shares asked: time slicing advertises %s"
                       % STRATEGIES[TIME_SLICING]["granularity"])
    elif workload == "training":
        strategy = KAI
        reasons.append("training jobs of several teams: KAI fits %s" % STRATEGIES[KAI]["fits"])
    elif workload == "inference" and model.mig_capable:
        strategy = MIG
        reasons.append("inference on a MIG-capable GPU: MIG gives each replica dedicated "
                       "memory and compute, so latency stays predictable")
    else:
        strategy = TIME_SLICING
        reasons.append("%s without isolation needs: time slicing fits %s and runs on %s"
                       % (workload, STRATEGIES[TIME_SLICING]["fits"],
                          STRATEGIES[TIME_SLICING]["hardware"]))

    if strategy != MIG:
        reasons.append("trade-off: %s gives no memory or fault protection (isolation: %s)"
                       % (STRATEGIES[strategy]["title"], STRATEGIES[strategy]["isolation"]))
    else:
        reasons.append("trade-off: MIG reconfiguration is %s"
                       % STRATEGIES[MIG]["reconfiguration"])
    alternatives = [name for name in (MIG, TIME_SLICING, KAI)
                    if name != strategy and (name != MIG or model.mig_capable)]
    return {
        "strategy": strategy,
        "reasons": reasons,
        "alternatives": alternatives,
        "gpu_model": model.key,
        "mig_capable": model.mig_capable,
    }
