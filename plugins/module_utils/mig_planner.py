# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Minimal MIG change plan: from the observed GPUs and the desired state per GPU.

Per GPU the plan is one of: nothing; a MIG mode change (``nvidia-smi -i N -mig 0|1``,
then, on Ampere, a reset if the change stays pending); and/or GPU/compute instance steps.
Rules:

- MIG mode by generation (MIG user guide, "Deployment Considerations", "GPU Reset on
  Hopper+ GPUs"): on Ampere the mode persists and a change takes a GPU reset, so a pending
  change is made current by a reset; from Hopper on a change needs no reset and is not
  kept across a reboot, so ``-mig`` is issued whenever the current mode differs.

- A GPU whose multiset of MIG devices already matches gets no instance steps, wherever
  its instances sit.
- Otherwise the instances to keep are chosen so as many existing ones as possible survive
  (same profile, same compute-instance shape, a start slot that still fits the rest); only
  the others are destroyed (compute instances first, then GPU instances).
- Every GPU instance to create gets a concrete start slot from an exhaustive placement
  search (mig_placement), passed as ``-cgi <id>:<start>``, so creation cannot fail for lack
  of room whatever the driver would have picked; creations are also issued biggest first,
  the order NVIDIA's MIG user guide asks for when no placement is given (its 3g example).
- GPUs without a desired state (no config entry matches them) are left alone.

Stdlib only.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
from typing import List, Optional

from ansible_collections.fractional.gpu.plugins.module_utils import nvidia_smi as smi
from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    compute_profiles,
    mig_mode_persists,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_placement import (
    find_placement,
    placement_order,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import effective_model


class PlanError(Exception):
    pass


# What the placement search sees: the profile's geometry, named by the MIG device it yields.
_Slot = namedtuple("_Slot", "name memory_slices compute_slices placements")


@dataclass
class InstanceStep:
    """A GPU instance to destroy, keep or create, as shown in plans and layouts."""

    name: str  # what it provides, "3g.40gb" / "1c.3g.40gb" / "?" (not exactly one CI)
    profile: Optional[str]  # GI profile name
    start: Optional[int]
    size: Optional[int]
    gi_id: Optional[int] = None  # existing instances only
    ci_ids: List[int] = field(default_factory=list)
    gi_profile_id: Optional[int] = None
    ci_profile_id: Optional[int] = None  # create: None for the default full-size CI (-C)

    def slots(self):
        if self.start is None or self.size is None:
            return "?"
        if self.size == 1:
            return str(self.start)
        return "%d-%d" % (self.start, self.start + self.size - 1)

    def to_dict(self):
        data = {"name": self.name, "profile": self.profile, "start": self.start,
                "size": self.size}
        if self.gi_id is not None:
            data["gpu_instance_id"] = self.gi_id
            data["compute_instance_ids"] = list(self.ci_ids)
        return data


@dataclass
class GpuPlan:
    index: int
    model: Optional[str]
    current_mode: Optional[bool]
    pending_mode: Optional[bool]
    desired_mode: Optional[bool]  # None: not managed
    set_mode: Optional[bool] = None  # issue -mig 1/0
    reset_expected: bool = False  # the mode change needs a reset to become current
    destroy: List[InstanceStep] = field(default_factory=list)
    keep: List[InstanceStep] = field(default_factory=list)
    create: List[InstanceStep] = field(default_factory=list)
    managed: bool = True
    source: str = ""

    @property
    def label(self):
        return "GPU %d (%s)" % (self.index, self.model or "unknown model")

    @property
    def changes_mode(self):
        return self.set_mode is not None or self.reset_expected

    @property
    def changes_layout(self):
        return bool(self.destroy or self.create)

    @property
    def changed(self):
        return self.changes_mode or self.changes_layout

    def destroy_commands(self, path="nvidia-smi", destroy_all=None):
        """-dci then -dgi for the instances to destroy; whole-GPU forms when every GI
        goes (``destroy_all``; default: when nothing is kept)."""
        if not self.destroy:
            return []
        if destroy_all is None:
            destroy_all = not self.keep
        with_ci = [s.gi_id for s in self.destroy if s.ci_ids]
        gi_ids = [s.gi_id for s in self.destroy]
        commands = []
        if with_ci:
            commands.append(smi.cmd_destroy_compute_instances(
                self.index, None if destroy_all else with_ci, path))
        commands.append(smi.cmd_destroy_gpu_instances(
            self.index, None if destroy_all else gi_ids, path))
        return commands

    def create_commands(self, path="nvidia-smi"):
        """-cgi with explicit placements, biggest first: one call for the instances with a
        full-size CI (-C), one -cgi per instance with a smaller CI (its -cci needs the new
        GI's id, known only once it exists: see CI_PLACEHOLDER)."""
        full = [(s.gi_profile_id, s.start) for s in self.create if s.ci_profile_id is None]
        commands = []
        if full:
            commands.append(smi.cmd_create_gpu_instances(self.index, full, True, path))
        for step in self.create:
            if step.ci_profile_id is not None:
                commands.append(smi.cmd_create_gpu_instances(
                    self.index, [(step.gi_profile_id, step.start)], False, path))
                commands.append(smi.cmd_create_compute_instance(
                    self.index, CI_PLACEHOLDER, step.ci_profile_id, path))
        return commands

    def mode_commands(self, path="nvidia-smi"):
        commands = []
        if self.set_mode is not None:
            commands.append(smi.cmd_set_mig_mode(self.index, self.set_mode, path))
        if self.reset_expected:
            commands.append(smi.cmd_reset(self.index, path))
        return commands

    def commands(self, path="nvidia-smi"):
        """Every mutating command in apply order (the reset only runs if the mode is still
        pending after -mig)."""
        if self.desired_mode is False:
            return self.destroy_commands(path) + self.mode_commands(path)
        return self.mode_commands(path) + self.destroy_commands(path) + self.create_commands(path)

    def before(self):
        return _layout(self.index, self.model, self.current_mode, self.pending_mode,
                       self.keep + self.destroy)

    def after(self):
        if not self.managed:
            return self.before()
        return _layout(self.index, self.model, self.desired_mode, self.desired_mode,
                       self.keep + self.create)

    def to_dict(self, path="nvidia-smi"):
        return {
            "index": self.index,
            "model": self.model,
            "managed": self.managed,
            "source": self.source,
            "changed": self.changed,
            "mig_mode": {"current": self.current_mode, "pending": self.pending_mode,
                         "desired": self.desired_mode},
            "set_mig_mode": self.set_mode,
            "reset_expected": self.reset_expected,
            "destroy": [s.to_dict() for s in self.destroy],
            "keep": [s.to_dict() for s in self.keep],
            "create": [s.to_dict() for s in self.create],
            "commands": [" ".join(c) for c in self.commands(path)],
        }


CI_PLACEHOLDER = "<new GI id>"


def _layout(index, model, enabled, pending, steps):
    instances = sorted(steps, key=lambda s: (s.start is None, s.start or 0, s.name))
    return {
        "index": index,
        "model": model,
        "mig_enabled": enabled,
        "mig_pending": pending,
        "instances": [dict(s.to_dict(), slots=s.slots()) for s in instances],
    }


@dataclass
class Plan:
    gpus: List[GpuPlan]

    @property
    def changed(self):
        return any(g.changed for g in self.gpus)

    def changed_gpus(self):
        return [g.index for g in self.gpus if g.changed]

    def by_index(self, index):
        for gpu in self.gpus:
            if gpu.index == index:
                return gpu
        raise KeyError(index)

    def summary(self):
        changed = [g for g in self.gpus if g.changed]
        return {
            "gpus": len(self.gpus),
            "managed": [g.index for g in self.gpus if g.managed],
            "unmanaged": [g.index for g in self.gpus if not g.managed],
            "changed": [g.index for g in changed],
            "mode_changes": [g.index for g in changed if g.changes_mode],
            "layout_changes": [g.index for g in changed if g.changes_layout],
            "instances_destroyed": sum(len(g.destroy) for g in changed),
            "instances_created": sum(len(g.create) for g in changed),
            "instances_kept": sum(len(g.keep) for g in self.gpus if g.changes_layout),
        }

    def to_list(self, path="nvidia-smi"):
        return [g.to_dict(path) for g in self.gpus]

    def before(self):
        return [g.before() for g in self.gpus]

    def after(self):
        return [g.after() for g in self.gpus]


def _existing(gpu_instance):
    return InstanceStep(
        name=gpu_instance.layout_name() or "?",
        profile=gpu_instance.profile,
        start=gpu_instance.placement_start,
        size=gpu_instance.placement_size,
        gi_id=gpu_instance.id,
        ci_ids=sorted(ci.id for ci in gpu_instance.compute_instances),
        gi_profile_id=gpu_instance.profile_id,
    )


def _ci_profile_id(profile, ci_slices):
    if ci_slices is None:
        return None
    for candidate in compute_profiles(profile):
        if candidate.compute_slices == ci_slices:
            return candidate.ci_profile_id
    raise PlanError("no %d-slice compute instance profile in %s" % (ci_slices, profile.name))


def mode_steps(gpu, desired_mode, persists):
    """(mode to set with -mig or None, whether a reset is expected) to bring ``gpu`` to
    ``desired_mode``; ``persists``: the GPU keeps its mode across reboots (Ampere)."""
    if gpu.mig_current == desired_mode:
        # A change the other way may be pending: setting the mode again cancels it.
        cancel = gpu.mig_pending is not None and gpu.mig_pending != desired_mode
        return (desired_mode if cancel else None), False
    if not persists:
        return desired_mode, False
    return (None if gpu.mig_pending == desired_mode else desired_mode), True


def plan_gpu(gpu, desired):
    """GpuPlan for one GpuState and its DesiredGpu (None: not managed)."""
    existing = [_existing(gi) for gi in gpu.gpu_instances]
    plan = GpuPlan(gpu.index, gpu.model, gpu.mig_current, gpu.mig_pending,
                   None if desired is None else desired.mig_enabled)
    if desired is None:
        plan.managed, plan.keep = False, existing
        return plan
    plan.source = desired.source
    if not gpu.mig_capable:
        # resolve() refuses MIG on such GPUs, so the desired mode is "disabled": nothing to do.
        plan.keep = existing
        return plan

    model = effective_model(gpu)[0]
    persists = mig_mode_persists(gpu.architecture or (model.architecture if model else ""))
    plan.set_mode, plan.reset_expected = mode_steps(gpu, desired.mig_enabled, persists)
    if not desired.mig_enabled:
        plan.destroy = existing if gpu.mig_current else []
        plan.keep = [] if gpu.mig_current else existing
        return plan

    # MIG wanted.
    current = existing if gpu.mig_current else []
    if not gpu.mig_current:
        plan.keep = existing  # none on a GPU in non-MIG mode; kept for the record
    if sorted(s.name for s in current) == desired.layout_names():
        plan.keep = current
        return plan

    if model is None:
        raise PlanError("%s: unknown GPU model, cannot plan MIG instances" % plan.label)
    slots = []
    for key in desired.instances:
        profile = model.profile(key.gi_profile)
        if profile.gi_profile_id is None:
            raise PlanError("%s: the id of profile %s is not known (the driver did not list "
                            "it and the collection's table has none)" % (plan.label, profile.name))
        slots.append((key, profile, _Slot(key.name, profile.memory_slices,
                                          profile.compute_slices, profile.placements)))
    prefer = [(s.name, s.start) for s in current if s.start is not None and s.name != "?"]
    starts = find_placement([entry[2] for entry in slots], model.memory_slices, prefer=prefer)
    if starts is None:
        raise PlanError("%s: no placement fits %s" % (plan.label, desired.layout_names()))

    kept_pairs = set()
    creates = []
    by_pair = dict(((s.name, s.start), s) for s in current)
    for i in placement_order([entry[2] for entry in slots]):
        key, profile, slot = slots[i]
        pair = (slot.name, starts[i])
        if pair in by_pair and pair not in kept_pairs:
            kept_pairs.add(pair)
            continue
        creates.append(InstanceStep(
            name=key.name, profile=profile.name, start=starts[i], size=profile.memory_slices,
            gi_profile_id=profile.gi_profile_id,
            ci_profile_id=_ci_profile_id(profile, key.ci_slices)))
    plan.keep = [s for s in current if (s.name, s.start) in kept_pairs]
    plan.destroy = [s for s in current if (s.name, s.start) not in kept_pairs]
    plan.create = creates
    return plan


def plan_host(gpus, desired):
    """Plan for every GPU of the host.

    :param gpus: list of GpuState (observed).
    :param desired: {index: DesiredGpu} from mig_config.resolve.
    """
    return Plan([plan_gpu(gpu, desired.get(gpu.index)) for gpu in sorted(gpus, key=lambda g: g.index)])


# ---------------------------------------------------------------------------------------
# Diff rendering
# ---------------------------------------------------------------------------------------


def _mode_text(enabled, pending):
    if enabled is None:
        return "MIG not supported"
    text = "MIG enabled" if enabled else "MIG disabled"
    if pending is not None and pending != enabled:
        text += " (pending: %s)" % ("enabled" if pending else "disabled")
    return text


def render_layout(layouts, mark_new=False):
    """Text of layouts (Plan.before() / after()) for Ansible's diff."""
    lines = []
    for layout in layouts:
        lines.append("GPU %d (%s): %s" % (layout["index"], layout["model"] or "unknown model",
                                          _mode_text(layout["mig_enabled"],
                                                     layout["mig_pending"])))
        for inst in layout["instances"]:
            gi = inst.get("gpu_instance_id")
            suffix = " GI %d" % gi if gi is not None else (" (new)" if mark_new else "")
            lines.append("  slots %-4s %s%s" % (inst["slots"], inst["name"], suffix))
    return "\n".join(lines) + "\n"
