# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a MIG geometry through nvidia-smi: the whole of the mig_geometry module's work,
minus Ansible. Stdlib only.

Order of work (everything derives from the observed state, so a rerun after any failure
converges):

1. read the GPUs (``-q -x``, ``mig -lgi``, ``mig -lci``); parse, select, resolve and
   validate the config, collecting every error; plan (mig_planner). Nothing has changed
   if any of this fails.
2. refuse when a GPU the plan touches runs processes, unless ``force``.
3. mode phase: on GPUs going to MIG disabled, destroy their instances; issue
   ``-mig 0|1``; re-read; reset (``-r -i N``) each GPU whose change is still pending (if
   ``reset_gpus``); re-read. A GPU still pending is reported in ``reboot_required`` and its
   instances are left for the run after the reboot. (Ampere keeps a pending mode across
   the reboot and applies it; Hopper and later lose the mode at a reboot, and the run after
   it enables it again, needing no reset.)
4. layout phase: on GPUs whose MIG devices differ, destroy the instances that go and
   create the missing ones at planned start slots.
5. re-read and check that every managed GPU now matches.
"""

from __future__ import annotations

from ansible_collections.fractional.gpu.plugins.module_utils import nvidia_smi as smi
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    MigConfigError,
    desired_from_config,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_planner import (
    PlanError,
    plan_gpu,
    plan_host,
    render_layout,
)


class ApplyError(Exception):
    """Stops the run; ``result`` holds what the module returns alongside the message."""

    def __init__(self, msg, result=None):
        super().__init__(msg)
        self.msg = msg
        self.result = result or {}


def observed_layout(gpus):
    """Layout dicts (as in a plan's before/after) of observed GPUs."""
    return [plan_gpu(g, None).before() for g in sorted(gpus, key=lambda g: g.index)]


def _process_text(proc):
    where = []
    if proc.gpu_instance_id is not None:
        where.append("GI %d" % proc.gpu_instance_id)
    if proc.compute_instance_id is not None:
        where.append("CI %d" % proc.compute_instance_id)
    if proc.used_memory_mib is not None:
        where.append("%d MiB" % proc.used_memory_mib)
    return "pid %d (%s%s)" % (proc.pid, proc.name or "?",
                              ", " + ", ".join(where) if where else "")


def blocking_processes(plan, gpus):
    """{gpu label: [process text]} for GPUs the plan changes that run processes."""
    by_index = dict((g.index, g) for g in gpus)
    busy = {}
    for gpu_plan in plan.gpus:
        gpu = by_index[gpu_plan.index]
        if gpu_plan.changed and gpu.processes:
            busy[gpu_plan.label] = [_process_text(p) for p in gpu.processes]
    return busy


def _matches(gpu, desired):
    if gpu.mig_current != desired.mig_enabled:
        return False
    if not desired.mig_enabled:
        return True
    return gpu.layout_names() == desired.layout_names()


class GeometryRun:
    """One mig_geometry run. ``client`` is an nvidia_smi.NvidiaSmi."""

    def __init__(self, client, config, config_name=None, force=False, reset_gpus=True,
                 check_mode=False, allow_no_match=False):
        self.client = client
        self.config = config
        self.config_name = config_name
        self.allow_no_match = allow_no_match
        self.force = force
        self.reset_gpus = reset_gpus
        self.check_mode = check_mode
        self.warnings = []
        self.reboot_required = []

    # -- helpers --------------------------------------------------------------------------

    def _partial(self, extra=None):
        """What the module returns when a step fails after changes began."""
        result = {"changed": bool(self.client.mutations),
                  "commands": list(self.client.mutations),
                  "reboot_required": bool(self.reboot_required),
                  "reboot_required_gpus": list(self.reboot_required)}
        try:
            result["layout"] = observed_layout(self.client.read_state())
        except smi.NvidiaSmiError as exc:
            result["layout_error"] = str(exc)
        result.update(extra or {})
        return result

    def _mutate(self, argv):
        try:
            return self.client.mutate(argv)
        except smi.NvidiaSmiError as exc:
            done = self.client.mutations[:-1]
            msg = "nvidia-smi failed: %s. Commands already applied: %s. The GPUs are left " \
                  "as listed in 'layout'; rerunning converges from there." % (
                      exc, "; ".join(done) if done else "none")
            raise ApplyError(msg, self._partial({"failed_command": " ".join(argv),
                                                 "error_class": exc.kind}))

    # -- phases ---------------------------------------------------------------------------

    def prepare(self):
        """Read, resolve, validate and plan. Returns (gpus, desired, plan)."""
        try:
            gpus = self.client.read_state()
        except smi.NvidiaSmiError as exc:
            raise ApplyError("cannot read the GPUs: %s" % exc)
        if not gpus:
            raise ApplyError("nvidia-smi reports no GPU on this host")
        try:
            name, desired, warnings = desired_from_config(self.config, self.config_name, gpus,
                                                          self.allow_no_match)
        except MigConfigError as exc:
            raise ApplyError(exc.report(", no GPU was changed"), {"errors": exc.errors})
        self.config_name = name
        self.warnings.extend(warnings)
        try:
            plan = plan_host(gpus, desired)
        except PlanError as exc:
            raise ApplyError("cannot plan the MIG change: %s" % exc)
        return gpus, desired, plan

    def _mode_phase(self, plan, desired):
        flips = [g for g in plan.gpus if g.changes_mode]
        if not flips:
            return None
        for gpu_plan in flips:
            if gpu_plan.desired_mode is False:
                for argv in gpu_plan.destroy_commands(self.client.path):
                    self._mutate(argv)
            if gpu_plan.set_mode is not None:
                self._mutate(smi.cmd_set_mig_mode(gpu_plan.index, gpu_plan.set_mode,
                                                  self.client.path))
        gpus = self.client.read_state()
        by_index = dict((g.index, g) for g in gpus)
        pending = [g for g in flips if by_index[g.index].mig_current != g.desired_mode]
        if pending and self.reset_gpus:
            for gpu_plan in pending:
                try:
                    self.client.mutate(smi.cmd_reset(gpu_plan.index, self.client.path))
                except smi.NvidiaSmiError as exc:
                    self.warnings.append("%s: reset failed, MIG mode stays pending until "
                                         "a reboot: %s" % (gpu_plan.label, exc))
            gpus = self.client.read_state()
            by_index = dict((g.index, g) for g in gpus)
        for gpu_plan in flips:
            gpu = by_index[gpu_plan.index]
            if gpu.mig_current != gpu_plan.desired_mode:
                self.reboot_required.append(gpu_plan.index)
                if not self.reset_gpus:
                    advice = "reset_gpus is false: reset the GPU or reboot, then run again"
                else:
                    advice = "reboot the host (or reset the GPU) and run again"
                    if gpu_plan.desired_mode:
                        advice += " to create its instances"
                self.warnings.append("%s: MIG mode is %s with %s pending; %s" % (
                    gpu_plan.label, "enabled" if gpu.mig_current else "disabled",
                    "enabled" if gpu.mig_pending else "disabled", advice))
        return gpus

    def _layout_phase(self, plan):
        for gpu_plan in plan.gpus:
            if gpu_plan.desired_mode is not True or not gpu_plan.changes_layout:
                continue
            if gpu_plan.index in self.reboot_required:
                continue
            for argv in gpu_plan.destroy_commands(self.client.path):
                self._mutate(argv)
            full = [(s.gi_profile_id, s.start) for s in gpu_plan.create
                    if s.ci_profile_id is None]
            if full:
                self._mutate(smi.cmd_create_gpu_instances(gpu_plan.index, full, True,
                                                          self.client.path))
            for step in gpu_plan.create:
                if step.ci_profile_id is None:
                    continue
                out = self._mutate(smi.cmd_create_gpu_instances(
                    gpu_plan.index, [(step.gi_profile_id, step.start)], False, self.client.path))
                created = smi.parse_created_gpu_instances(out)
                if not created:
                    raise ApplyError("%s: cannot tell which GPU instance '-cgi %d:%d' created "
                                     "(output: %s)" % (gpu_plan.label, step.gi_profile_id,
                                                       step.start, out.strip()),
                                     self._partial())
                self._mutate(smi.cmd_create_compute_instance(
                    gpu_plan.index, created[0][1], step.ci_profile_id, self.client.path))

    def run(self):
        gpus, desired, plan = self.prepare()
        result = {
            "config_name": self.config_name,
            "plan": plan.to_list(self.client.path),
            "summary": plan.summary(),
            "changed_gpus": plan.changed_gpus(),
            "diff": {"before": render_layout(plan.before()),
                     "after": render_layout(plan.after(), mark_new=True),
                     "before_header": "MIG layout (observed)",
                     "after_header": "MIG layout (%s)" % self.config_name},
        }
        busy = blocking_processes(plan, gpus)
        if busy and not self.force:
            lines = ["%s: %s" % (label, ", ".join(procs)) for label, procs in busy.items()]
            raise ApplyError("refusing to change GPUs that run processes (stop them, or set "
                             "force: true); no GPU was changed:\n%s" % "\n".join(
                                 "- " + line for line in lines),
                             dict(result, busy_gpus=busy, layout=observed_layout(gpus)))
        if busy:
            self.warnings.append("force: changing GPUs that run processes: %s"
                                 % "; ".join("%s: %s" % (k, ", ".join(v))
                                             for k, v in busy.items()))
        if self.check_mode or not plan.changed:
            result.update(changed=plan.changed, reboot_required=False, reboot_required_gpus=[],
                          layout=plan.after() if self.check_mode else observed_layout(gpus),
                          commands=[], warnings=self.warnings)
            return result

        fresh = self._mode_phase(plan, desired)
        if fresh is not None:
            # Instances follow the observed state after the mode change (a GPU just put in
            # MIG mode has none); GPUs still pending are skipped.
            try:
                plan = plan_host(fresh, desired)
            except PlanError as exc:
                raise ApplyError("cannot plan the MIG change after the mode change: %s" % exc,
                                 self._partial())
        self._layout_phase(plan)

        final = self.client.read_state()
        mismatched = []
        for gpu in final:
            wanted = desired.get(gpu.index)
            if wanted is None or gpu.index in self.reboot_required or not gpu.mig_capable:
                continue
            if not _matches(gpu, wanted):
                mismatched.append("%s: has %s, MIG %s; wanted %s, MIG %s" % (
                    gpu.label(), gpu.layout_names(), gpu.mig_current, wanted.layout_names(),
                    wanted.mig_enabled))
        result.update(changed=True, commands=list(self.client.mutations),
                      reboot_required=bool(self.reboot_required),
                      reboot_required_gpus=list(self.reboot_required),
                      layout=observed_layout(final), warnings=self.warnings)
        result["diff"]["after"] = render_layout(result["layout"])
        if mismatched:
            raise ApplyError("the GPUs do not match the config after applying it:\n%s"
                             % "\n".join("- " + m for m in mismatched), result)
        return result
