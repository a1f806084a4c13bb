# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare observed GPUs (NVML facts) with the desired MIG state: a report of every
mismatch (GPU count, MIG mode current and pending, MIG devices per profile, memory per
MIG device). A MIG device's memory is compared with what the driver reports for its
profile (the GPU's ``profiles``), never with a table constant. Stdlib only."""

from __future__ import annotations

from collections import Counter

from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import (
    device_name,
    mode_name as _mode,
)


def _counts(names):
    return dict(Counter(names))


def _device_name(gi, ci):
    return device_name(gi, ci) or "unknown profile id %s" % gi.profile_id


def validate_gpu(gpu, desired, memory_tolerance_percent=2.0):
    """Report dict for one GPU against its DesiredGpu (None: not managed, only listed)."""
    report = {"index": gpu.index, "model": gpu.model, "uuid": gpu.uuid,
              "managed": desired is not None, "mismatches": []}
    devices = gpu.mig_devices()
    actual = _counts(_device_name(gi, ci) for gi, ci in devices)
    report["mig_mode"] = {"current": _mode(gpu.mig_current), "pending": _mode(gpu.mig_pending)}
    report["mig_devices"] = {"actual": actual}
    if desired is None:
        report["ok"] = True
        return report
    label = gpu.label()
    mismatches = report["mismatches"]
    expected_mode = desired.mig_enabled
    report["mig_mode"]["expected"] = _mode(expected_mode)
    if gpu.mig_capable or expected_mode:
        if gpu.mig_current != expected_mode:
            mismatches.append("%s: MIG mode is %s, expected %s" % (
                label, _mode(gpu.mig_current) or "not supported", _mode(expected_mode)))
        if (gpu.mig_pending is not None and gpu.mig_pending != gpu.mig_current
                and gpu.mig_pending != expected_mode):
            mismatches.append("%s: MIG mode change to %s is pending (needs a GPU reset or a "
                              "reboot)" % (label, _mode(gpu.mig_pending)))
    expected = _counts(desired.layout_names()) if expected_mode else {}
    report["mig_devices"]["expected"] = expected
    for name in sorted(set(expected) | set(actual)):
        want, have = expected.get(name, 0), actual.get(name, 0)
        if want != have:
            mismatches.append("%s: %d x %s MIG device(s), expected %d" % (label, have, name, want))
    for gi in gpu.gpu_instances:
        if len(gi.compute_instances) > 1:
            mismatches.append("%s: GPU instance %d (%s) holds %d compute instances, expected "
                              "one" % (label, gi.id, gi.profile, len(gi.compute_instances)))
    reported = dict((p.gi_profile_id, p) for p in gpu.profiles)
    memory = []
    for gi, ci in devices:
        profile = reported.get(gi.profile_id)
        entry = {"gpu_instance_id": gi.id, "compute_instance_id": ci.id,
                 "profile": _device_name(gi, ci), "uuid": ci.uuid,
                 "memory_mib": ci.memory_mib,
                 "expected_memory_mib": profile.memory_mib if profile else None}
        entry["ok"] = True
        if profile is not None and profile.memory_mib is not None and ci.memory_mib is not None:
            limit = profile.memory_mib * memory_tolerance_percent / 100.0
            if abs(ci.memory_mib - profile.memory_mib) > limit:
                entry["ok"] = False
                mismatches.append("%s: MIG device GI %d CI %d (%s) has %d MiB, the driver "
                                  "reports %d MiB for its profile" % (
                                      label, gi.id, ci.id, entry["profile"], ci.memory_mib,
                                      profile.memory_mib))
        memory.append(entry)
    report["memory"] = memory
    report["ok"] = not mismatches
    return report


def validate_host(gpus, desired, expected_gpu_count=None, memory_tolerance_percent=2.0):
    """Report for the host: ``ok``, ``gpu_count``, per-GPU reports and every mismatch."""
    reports = [validate_gpu(g, desired.get(g.index), memory_tolerance_percent)
               for g in sorted(gpus, key=lambda g: g.index)]
    mismatches = []
    count = {"actual": len(gpus), "expected": expected_gpu_count, "ok": True}
    if expected_gpu_count is not None and expected_gpu_count != len(gpus):
        count["ok"] = False
        mismatches.append("host has %d GPU(s), expected %d" % (len(gpus), expected_gpu_count))
    for report in reports:
        mismatches.extend(report["mismatches"])
    return {"ok": not mismatches, "gpu_count": count, "gpus": reports,
            "mismatches": mismatches}
