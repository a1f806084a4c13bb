# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small in-process stand-in for nvidia-smi, for unit tests of mig_apply.

It keeps GPUs in memory, prints ``-q -x`` / ``mig -lgip`` / ``-lgipp`` / ``-lgi`` /
``-lci`` in the shapes of tests/fixtures/nvidia_smi, and executes the mutating commands the
collection issues. Its GPUs are the collection's own table (a mock that encodes our own
facts: the last resort, for unit tests only); the lab's simulator (tests/gpusim, with its
own model data) is what the integration tests use. This one only serves fast unit tests of
the orchestration and its failure handling. MIG mode follows the generation: an Ampere GPU
with ``sticky_pending`` keeps a change pending across resets; from Hopper on a change
needs no reset.
"""

from __future__ import annotations

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import model_by_key
from ansible_collections.fractional.gpu.plugins.module_utils.mig_placement import _mask


class FakeGpu:
    def __init__(self, model, mig=False):
        self.model = model_by_key(model)
        self.current = mig if self.model.mig_capable else None
        self.pending = self.current
        self.gis = {}  # id -> [profile, start, {ci id: slices}]
        self.processes = []  # (pid, name, gi id or None)
        self.sticky_pending = False  # mode change needs a reboot, reset does not help
        self.reset_fails = False


class FakeSmi:
    def __init__(self, groups, mig=False):
        self.gpus = [FakeGpu(key, mig) for key, count in groups for dummy in range(count)]
        self.calls = []
        self.mutations = []
        self.fail_after = None  # fail the mutation after this many successful ones

    # -- rendering ------------------------------------------------------------------------

    def _xml(self):
        out = ['<?xml version="1.0" ?>', "<nvidia_smi_log>"]
        for i, gpu in enumerate(self.gpus):
            mode = {None: "N/A", True: "Enabled", False: "Disabled"}
            out.append('<gpu id="00000000:%02X:00.0">' % (i + 16))
            out.append("<product_name>%s</product_name>" % gpu.model.product_name)
            out.append("<product_architecture>%s</product_architecture>" % gpu.model.architecture)
            out.append("<mig_mode><current_mig>%s</current_mig><pending_mig>%s</pending_mig>"
                       "</mig_mode>" % (mode[gpu.current], mode[gpu.pending]))
            out.append("<mig_devices>")
            for gid, (profile, _start, cis) in sorted(gpu.gis.items()):
                for cid in sorted(cis):
                    out.append("<mig_device><gpu_instance_id>%d</gpu_instance_id>"
                               "<compute_instance_id>%d</compute_instance_id><fb_memory_usage>"
                               "<total>%d MiB</total></fb_memory_usage></mig_device>"
                               % (gid, cid, gpu.model.profile(profile).memory_mib or 0))
            out.append("</mig_devices>")
            out.append("<uuid>GPU-fake-%d</uuid>" % i)
            out.append("<pci><pci_device_id>%04X10DE</pci_device_id></pci>"
                       % gpu.model.pci_device_ids[0])
            out.append("<fb_memory_usage><total>%d MiB</total></fb_memory_usage>"
                       % (gpu.model.memory_mib or 0))
            out.append("<processes>")
            for pid, name, gid in gpu.processes:
                out.append("<process_info><gpu_instance_id>%s</gpu_instance_id>"
                           "<compute_instance_id>%s</compute_instance_id><pid>%d</pid>"
                           "<process_name>%s</process_name><used_memory>100 MiB</used_memory>"
                           "</process_info>" % ("N/A" if gid is None else gid,
                                                "N/A" if gid is None else 0, pid, name))
            out.append("</processes></gpu>")
        out.append("</nvidia_smi_log>")
        return "\n".join(out)

    def _lgip(self):
        rows = []
        for i, gpu in enumerate(self.gpus):
            for p in gpu.model.profiles:
                if p.gi_profile_id is None:
                    continue
                rows.append("|%4d  MIG %-16s%2d%8s        %-11s%-7s%-7d%-6d%-4d|" % (
                    i, p.name, p.gi_profile_id, "%d/%d" % (p.max_instances, p.max_instances),
                    "%.2f" % ((p.memory_mib or 0) / 1024.0), "No", 0, 0, 0))
        if not rows:
            return 6, "No MIG-enabled devices found."
        return 0, "| GPU instance profiles: |\n|====|\n" + "\n".join(rows)

    def _lgipp(self):
        rows = ["GPU %2d Profile ID %2d Placements: {%s}:%d"
                % (i, p.gi_profile_id, ",".join(str(s) for s in p.placements), p.memory_slices)
                for i, gpu in enumerate(self.gpus) for p in gpu.model.profiles
                if p.gi_profile_id is not None]
        return (0, "\n".join(rows)) if rows else (6, "No MIG-enabled devices found.")

    def _lgi(self):
        rows = []
        for i, gpu in enumerate(self.gpus):
            if not gpu.current:
                continue
            for gid, (profile, start, _cis) in sorted(gpu.gis.items()):
                p = gpu.model.profile(profile)
                rows.append("|  %2d  MIG %-16s %4d %8d %10d:%d     |"
                            % (i, p.name, p.gi_profile_id, gid, start, p.memory_slices))
        if not any(g.current for g in self.gpus):
            return 6, "No MIG-enabled devices found."
        if not rows:
            return 6, "No GPU instances found: Not Found"
        return 0, "| GPU instances: |\n|====|\n" + "\n".join(rows)

    def _lci(self):
        rows = []
        for i, gpu in enumerate(self.gpus):
            if not gpu.current:
                continue
            for gid, (profile, _start, cis) in sorted(gpu.gis.items()):
                p = gpu.model.profile(profile)
                for cid, slices in sorted(cis.items()):
                    name = p.name if slices == p.compute_slices else "%dc.%s" % (slices, p.name)
                    rows.append("|  %2d %6d       MIG %-16s %4d %8d %10d:%d     |"
                                % (i, gid, name, {1: 0, 2: 1, 3: 2, 4: 3, 7: 4}[slices], cid,
                                   0, slices))
        if not rows:
            return 6, "No compute instances found: Not Found"
        return 0, "| Compute instances: |\n|====|\n" + "\n".join(rows)

    # -- commands -------------------------------------------------------------------------

    def __call__(self, argv):
        self.calls.append(list(argv))
        args = argv[1:]
        if args == ["-q", "-x"]:
            return 0, self._xml(), ""
        listing = {"-lgip": self._lgip, "-lgipp": self._lgipp, "-lgi": self._lgi, "-lci": self._lci}
        if len(args) == 2 and args[0] == "mig" and args[1] in listing:
            rc, out = listing[args[1]]()
            return rc, out, ""
        if self.fail_after is not None and len(self.mutations) >= self.fail_after:
            return 255, "", "Unknown Error (injected)"
        self.mutations.append(" ".join(argv))
        return self._mutate(args)

    def _opt(self, args, flag):
        return args[args.index(flag) + 1] if flag in args else None

    def _mutate(self, args):
        if "-mig" in args:
            gpu = self.gpus[int(self._opt(args, "-i"))]
            want = args[args.index("-mig") + 1] == "1"
            if want is False and gpu.gis:
                return 1, "", "Unable to disable MIG Mode: In use by another client"
            gpu.pending = want
            if gpu.processes or (gpu.sticky_pending and gpu.model.mig_mode_persists):
                return 0, "Warning: MIG mode is in pending %s state for GPU: In use by another " \
                          "client\nAll done." % ("enable" if want else "disable"), ""
            gpu.current = want
            return 0, "Enabled MIG Mode\nAll done.", ""
        if args[0] == "-r":
            gpu = self.gpus[int(self._opt(args, "-i"))]
            if gpu.reset_fails or gpu.processes:
                return 255, "", "The following GPUs could not be reset:\n  GPU 0: In use by " \
                                "another client"
            if not (gpu.sticky_pending and gpu.model.mig_mode_persists):
                gpu.current = gpu.pending
            gpu.gis = {}
            return 0, "GPU was successfully reset.\nAll done.", ""
        assert args[0] == "mig"
        gpu = self.gpus[int(self._opt(args, "-i"))]
        if not gpu.current:
            return 6, "", "No MIG-enabled devices found."
        only = self._opt(args, "-gi")
        only = None if only is None else [int(x) for x in only.split(",")]
        if "-dci" in args:
            for gid, (_p, _s, cis) in gpu.gis.items():
                if only is None or gid in only:
                    if any(proc[2] == gid for proc in gpu.processes):
                        return 19, "", "Unable to destroy compute instance: In use by another client"
                    cis.clear()
            return 0, "Successfully destroyed compute instances", ""
        if "-dgi" in args:
            for gid in list(gpu.gis):
                if only is None or gid in only:
                    if gpu.gis[gid][2]:
                        return 19, "", "Unable to destroy GPU instance ID %d: In use by another " \
                                       "client" % gid
                    del gpu.gis[gid]
            return 0, "Successfully destroyed GPU instances", ""
        if "-cci" in args:
            gid = int(only[0])
            slices = {0: 1, 1: 2, 2: 3, 3: 4, 4: 7}[int(self._opt(args, "-cci"))]
            gpu.gis[gid][2][0] = slices
            return 0, "Successfully created compute instance", ""
        if "-cgi" in args:
            out = []
            for item in self._opt(args, "-cgi").split(","):
                pid, dummy, start = item.partition(":")
                profile = gpu.model.profile_by_id(int(pid))
                used = 0
                for name, s, dummy in gpu.gis.values():
                    used |= _mask(s, gpu.model.profile(name).memory_slices)
                starts = [int(start)] if start else list(profile.placements)
                free = [s for s in starts if not used & _mask(s, profile.memory_slices)]
                if not free or int(free[0]) not in profile.placements:
                    return 2, "\n".join(out), "Unable to create a GPU instance: Insufficient " \
                                              "Resources"
                gid = max(list(gpu.gis) + [0]) + 1
                gpu.gis[gid] = [profile.name, free[0], {}]
                out.append("Successfully created GPU instance ID %2d on GPU %2d using profile "
                           "MIG %s (ID %2d)" % (gid, self.gpus.index(gpu), profile.name,
                                                profile.gi_profile_id))
                if "-C" in args:
                    gpu.gis[gid][2][0] = profile.compute_slices
            return 0, "\n".join(out), ""
        raise AssertionError("unexpected command %r" % (args,))
