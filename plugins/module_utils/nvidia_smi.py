# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia-smi: parsers of its outputs, builders of its mutating commands, error classes.

Formats, as the NVIDIA MIG user guide and nvidia-smi(1) show them (fixtures under
tests/fixtures/nvidia_smi/ say where each sample comes from):

- ``nvidia-smi -q -x``: ``<nvidia_smi_log><gpu id=BUS>`` elements in index order, with
  ``product_name``, ``uuid``, ``pci/pci_device_id`` ("233010DE"), ``mig_mode/current_mig``
  and ``pending_mig`` (Enabled | Disabled | N/A), ``mig_devices/mig_device`` (``index``,
  ``gpu_instance_id``, ``compute_instance_id``, ``fb_memory_usage/total``),
  ``fb_memory_usage/total`` ("81559 MiB") and ``processes/process_info``.
- ``nvidia-smi mig -lgi`` / ``-lci`` / ``-lgip``: boxed tables, one row per instance or
  profile; ``-lgipp``: "GPU 0 Profile ID 9 Placements: {0,4}:4". ``-lgip``/``-lgipp`` list
  a MIG-capable GPU's profiles whether MIG is on or off (a real H200 on driver 580 does,
  Free = Total); they are the driver's description of the GPU (``driver_profiles``).
  ``-lci`` of older drivers has no Placement column: both layouts are read, and a row of
  neither layout is an error, never "no compute instances".
- ``nvidia-smi mig -cgi 9:4,19:0 -C``: "<profile id>:<start>" places an instance at a
  start slot (nvidia-smi's "profile tuple ... optional placement specifier").

Stdlib only.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    COMPUTE_SLICES_BY_CI_PROFILE,
    make_profile,
    mib_from_gib,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import (
    ComputeInstance,
    GpuInstance,
    GpuProcess,
    GpuState,
    ci_slices_from_name,
    effective_model,
    find_model,
    parse_device_id,
    strip_mig_prefix,
)

# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

IN_USE = "in_use"
RESET_REQUIRED = "reset_required"
NOT_SUPPORTED = "not_supported"
INSUFFICIENT_RESOURCES = "insufficient_resources"
NO_PERMISSION = "no_permission"
MIG_DISABLED = "mig_disabled"
NOT_FOUND = "not_found"
UNKNOWN = "unknown"

# First match wins: "pending ... In use by another client" is a reset-required case.
_ERROR_PATTERNS = (
    (RESET_REQUIRED, re.compile(r"pending (enable|disable) state|requires? (a )?(restart|reset)"
                                r"|reset required|reboot the system", re.IGNORECASE)),
    (IN_USE, re.compile(r"in use by another client|currently (being )?(used|in use)"
                        r"|being used by|NVML_ERROR_IN_USE", re.IGNORECASE)),
    (NOT_SUPPORTED, re.compile(r"not supported|NVML_ERROR_NOT_SUPPORTED", re.IGNORECASE)),
    (INSUFFICIENT_RESOURCES, re.compile(r"insufficient resources", re.IGNORECASE)),
    (NO_PERMISSION, re.compile(r"insufficient permissions|permission denied"
                               r"|must be run as root|NVML_ERROR_NO_PERMISSION", re.IGNORECASE)),
    (MIG_DISABLED, re.compile(r"No MIG-enabled devices found", re.IGNORECASE)),
    (NOT_FOUND, re.compile(r"No (GPU|compute) instances found|Not Found", re.IGNORECASE)),
)

_HINTS = {
    IN_USE: "a process, a compute instance or a monitoring agent (DCGM, nvsm, "
            "nvidia-persistenced) holds the GPU",
    RESET_REQUIRED: "the change waits for a GPU reset or a reboot",
    NOT_SUPPORTED: "the GPU or driver does not support this operation",
    INSUFFICIENT_RESOURCES: "no room left on the GPU for the instance",
    NO_PERMISSION: "nvidia-smi must run as root to change MIG settings",
}


def classify_error(text):
    """The class of an nvidia-smi message: one of the constants above."""
    for kind, pattern in _ERROR_PATTERNS:
        if pattern.search(text or ""):
            return kind
    return UNKNOWN


class NvidiaSmiError(Exception):
    """A failed nvidia-smi call, with its class (``kind``) and output."""

    def __init__(self, argv, rc, output):
        self.argv = list(argv)
        self.rc = rc
        self.output = (output or "").strip()
        self.kind = classify_error(self.output)
        hint = _HINTS.get(self.kind)
        message = "'%s' failed (rc=%s, %s): %s" % (" ".join(self.argv), rc, self.kind,
                                                   self.output or "no output")
        if hint:
            message += " [%s]" % hint
        super().__init__(message)


# ---------------------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------------------


def _text(element, path, default=None):
    found = element.find(path) if element is not None else None
    if found is None or found.text is None:
        return default
    value = found.text.strip()
    return value if value else default


def _mode(value):
    if value is None or value.upper() == "N/A":
        return None
    return value.lower() == "enabled"


def _int_or_none(value):
    if value is None:
        return None
    match = re.match(r"^\s*(\d+)", str(value))
    return int(match.group(1)) if match else None


def parse_query_xml(text):
    """``nvidia-smi -q -x`` -> list of GpuState (index = position, as nvidia-smi orders
    GPUs). GPU instances carry ids and their MIG devices' memory only; profiles and
    placements come from ``mig -lgi`` (see merge_instances)."""
    root = ET.fromstring(text)
    gpus = []
    for index, node in enumerate(root.findall("gpu")):
        current = _mode(_text(node, "mig_mode/current_mig"))
        pending = _mode(_text(node, "mig_mode/pending_mig"))
        gpu = GpuState(
            index=index,
            name=_text(node, "product_name", ""),
            uuid=_text(node, "uuid", ""),
            pci_bus_id=node.get("id") or _text(node, "pci/pci_bus_id", ""),
            pci_device_id=parse_device_id(_text(node, "pci/pci_device_id")),
            pci_subsystem_id=parse_device_id(_text(node, "pci/pci_sub_system_id")),
            memory_mib=_int_or_none(_text(node, "fb_memory_usage/total")),
            mig_capable=current is not None,
            mig_current=current,
            mig_pending=pending,
            architecture=_text(node, "product_architecture", ""),
        )
        model = find_model(gpu.pci_device_id, gpu.name)
        gpu.model = model.key if model else None
        instances = {}
        for dev in node.findall("mig_devices/mig_device"):
            gi_id = _int_or_none(_text(dev, "gpu_instance_id"))
            ci_id = _int_or_none(_text(dev, "compute_instance_id"))
            if gi_id is None:
                continue
            gi = instances.setdefault(gi_id, GpuInstance(id=gi_id))
            if ci_id is not None:
                gi.compute_instances.append(ComputeInstance(
                    id=ci_id, memory_mib=_int_or_none(_text(dev, "fb_memory_usage/total"))))
        gpu.gpu_instances = [instances[k] for k in sorted(instances)]
        for proc in node.findall("processes/process_info"):
            pid = _int_or_none(_text(proc, "pid"))
            if pid is None:
                continue
            gpu.processes.append(GpuProcess(
                pid=pid,
                name=_text(proc, "process_name", ""),
                gpu_instance_id=_int_or_none(_text(proc, "gpu_instance_id")),
                compute_instance_id=_int_or_none(_text(proc, "compute_instance_id")),
                used_memory_mib=_int_or_none(_text(proc, "used_memory")),
            ))
        gpus.append(gpu)
    return gpus


_LGI_ROW = re.compile(r"^\|\s*(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)\s*\|")
_LCI_ROW = re.compile(r"^\|\s*(\d+)\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\*?\s+(\d+)\s+(\d+):(\d+)\s*\|")
# Older drivers (R450/R460) print -lci without the Placement column.
_LCI_ROW_NO_PLACEMENT = re.compile(r"^\|\s*(\d+)\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\*?\s+(\d+)\s*\|$")
_LGIP_ROW = re.compile(r"^\|\s*(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)/(\d+)\s+([\d.]+)\s+(\S+)"
                       r"\s+(\d+)\s+(\d+)\s+(\d+)\s*\|")
_LGIP_ROW2 = re.compile(r"^\|\s+(\d+)\s+(\d+)\s+(\d+)\s*\|$")
_LGIPP_ROW = re.compile(r"^GPU\s+(\d+)\s+Profile\s+ID\s+(\d+)\s+Placements?\s*:\s*\{([\d,\s]*)\}:(\d+)")
_DATA_ROW = re.compile(r"^\|\s*\d+\s+")


def _empty_listing(text):
    """True for nvidia-smi's 'nothing to list' answers (no MIG GPU, no instances)."""
    return classify_error(text) in (MIG_DISABLED, NOT_FOUND)


def _rows(text, patterns, what):
    """Matches of ``patterns`` (tried in order) for every data row of a boxed table; a data
    row that none matches is a layout this module does not know: ValueError, never a
    silently empty result."""
    result = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not _DATA_ROW.match(line):
            continue
        for pattern in patterns:
            match = pattern.match(line)
            if match:
                result.append((pattern, match.groups()))
                break
        else:
            raise ValueError("cannot read this row of 'nvidia-smi mig %s' (an output layout the "
                             "collection does not know): %r" % (what, line))
    return result


def parse_lgi(text):
    """``nvidia-smi mig -lgi`` -> {gpu index: [GpuInstance]} (profile name as printed)."""
    result = {}
    for _pattern, groups in _rows(text, (_LGI_ROW,), "-lgi"):
        gpu, name, profile_id, gi_id, start, size = groups
        result.setdefault(int(gpu), []).append(GpuInstance(
            id=int(gi_id), profile_id=int(profile_id), profile=strip_mig_prefix(name),
            placement_start=int(start), placement_size=int(size)))
    return result


def parse_lci(text):
    """``nvidia-smi mig -lci`` -> {gpu index: {gi id: [ComputeInstance]}}, from either
    layout (with or without the Placement column; placement_start None without).

    ``compute_slices`` comes from the profile name ('1c.3g.40gb' -> 1) when it has a
    prefix, else from the CI profile id (7, 1_SLICE_REV1, is one slice; 8, 7_SLICE_NVL,
    seven); None for a full-size CI named like its GI when the id is unknown (the caller
    fills in the GI's slices).
    """
    result = {}
    for pattern, groups in _rows(text, (_LCI_ROW, _LCI_ROW_NO_PLACEMENT), "-lci"):
        gpu, gi_id, name, profile_id, ci_id = groups[:5]
        start = int(groups[5]) if pattern is _LCI_ROW else None
        slices = ci_slices_from_name(name, None)
        if slices is None:
            slices = COMPUTE_SLICES_BY_CI_PROFILE.get(int(profile_id))
        result.setdefault(int(gpu), {}).setdefault(int(gi_id), []).append(ComputeInstance(
            id=int(ci_id), compute_slices=slices, profile_id=int(profile_id),
            placement_start=start))
    return result


def parse_lgip(text):
    """``nvidia-smi mig -lgip`` -> {gpu index: [profile dict]} with name, id,
    free/total instances, memory_gib, p2p, sm, dec, enc (and ce, jpeg, ofa when the
    second row of the entry is present)."""
    result = {}
    last = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        match = _LGIP_ROW.match(line)
        if match:
            gpu, name, pid, free, total, mem, p2p, sm, dec, enc = match.groups()
            last = {"name": strip_mig_prefix(name), "id": int(pid), "free": int(free),
                    "total": int(total), "memory_gib": float(mem), "p2p": p2p,
                    "sm": int(sm), "dec": int(dec), "enc": int(enc)}
            result.setdefault(int(gpu), []).append(last)
            continue
        match = _LGIP_ROW2.match(line)
        if match and last is not None and "ce" not in last:
            last["ce"], last["jpeg"], last["ofa"] = (int(v) for v in match.groups())
    return result


def parse_lgipp(text):
    """``nvidia-smi mig -lgipp`` -> {gpu index: {profile id: (starts tuple, size)}}."""
    result = {}
    for line in (text or "").splitlines():
        match = _LGIPP_ROW.match(line.strip())
        if not match:
            continue
        gpu, pid, starts, size = match.groups()
        result.setdefault(int(gpu), {})[int(pid)] = (
            tuple(int(s) for s in starts.replace(" ", "").split(",") if s), int(size))
    return result


def driver_profiles(lgip_text, lgipp_text):
    """The profiles the driver describes: ``-lgip`` rows completed with ``-lgipp``
    placements -> {gpu index: [gpu_models.MigProfile]}. A profile without placements is
    left out (it cannot be placed)."""
    placements = parse_lgipp(lgipp_text)
    result = {}
    for gpu, rows in parse_lgip(lgip_text).items():
        profiles = []
        for row in rows:
            where = placements.get(gpu, {}).get(row["id"])
            if where is None:
                continue
            try:
                profiles.append(make_profile(row["name"], row["id"], row["total"], where[0],
                                             where[1], mib_from_gib(row["memory_gib"])))
            except ValueError:
                continue  # a name that is not <g>g.<mem>gb: not a profile mig-parted can ask for
        result[gpu] = profiles
    return result


_CREATED_GI = re.compile(r"Successfully created GPU instance ID\s+(\d+) on GPU\s+(\d+) using "
                         r"profile MIG (\S+) \(ID\s+(\d+)\)")


def parse_created_gpu_instances(text):
    """Output of ``mig -cgi`` -> list of (gpu index, gi id, profile name, profile id)."""
    return [(int(g), int(i), name, int(p))
            for i, g, name, p in _CREATED_GI.findall(text or "")]


def merge_instances(gpus, lgi_text, lci_text):
    """Complete the GPU instances of ``gpus`` (from parse_query_xml) with profile,
    placement and compute instances from ``mig -lgi`` / ``mig -lci`` outputs.

    GIs listed by -lgi replace the XML's id-only ones (a GI without a CI has no MIG
    device, so only -lgi knows it); MIG device memory is carried over from the XML.
    """
    lgi = parse_lgi(lgi_text)
    lci = parse_lci(lci_text)
    for gpu in gpus:
        model = effective_model(gpu)[0]
        xml_memory = dict(((gi.id, ci.id), ci.memory_mib) for gi, ci in gpu.mig_devices())
        instances = []
        for gi in lgi.get(gpu.index, []):
            if model is not None:
                try:
                    profile = model.profile_by_id(gi.profile_id)
                    gi.profile, gi.compute_slices = profile.name, profile.compute_slices
                except KeyError:
                    pass
            if gi.compute_slices is None:
                gi.compute_slices = _g_slices(gi.profile)
            for ci in lci.get(gpu.index, {}).get(gi.id, []):
                if ci.compute_slices is None:
                    ci.compute_slices = gi.compute_slices
                ci.memory_mib = xml_memory.get((gi.id, ci.id))
                gi.compute_instances.append(ci)
            instances.append(gi)
        gpu.gpu_instances = sorted(instances, key=lambda g: g.id)
    return gpus


def _g_slices(profile_name):
    match = re.match(r"^(\d+)g\.", profile_name or "")
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------
# Command builders
# ---------------------------------------------------------------------------------------


def cmd_query(path="nvidia-smi"):
    return [path, "-q", "-x"]


def cmd_list_gpu_instances(path="nvidia-smi"):
    return [path, "mig", "-lgi"]


def cmd_list_compute_instances(path="nvidia-smi"):
    return [path, "mig", "-lci"]


def cmd_list_gpu_instance_profiles(path="nvidia-smi", index=None):
    return [path, "mig", "-lgip"] + ([] if index is None else ["-i", str(index)])


def cmd_list_gpu_instance_placements(path="nvidia-smi"):
    return [path, "mig", "-lgipp"]


def cmd_set_mig_mode(index, enabled, path="nvidia-smi"):
    """``nvidia-smi -i N -mig 1|0``."""
    return [path, "-i", str(index), "-mig", "1" if enabled else "0"]


def cmd_reset(index, path="nvidia-smi"):
    """``nvidia-smi -r -i N``: reset one GPU (makes a pending MIG mode current)."""
    return [path, "-r", "-i", str(index)]


def cmd_create_gpu_instances(index, entries, default_compute_instance=True, path="nvidia-smi"):
    """``nvidia-smi mig -i N -cgi ID[:START],... [-C]``.

    :param entries: sequence of (gi profile id, start slot or None), created in order.
    :param default_compute_instance: add ``-C`` (one full-size CI per new GI).
    """
    tuples = ",".join(str(pid) if start is None else "%d:%d" % (pid, start)
                      for pid, start in entries)
    argv = [path, "mig", "-i", str(index), "-cgi", tuples]
    if default_compute_instance:
        argv.append("-C")
    return argv


def cmd_create_compute_instance(index, gi_id, ci_profile_id, path="nvidia-smi"):
    """``nvidia-smi mig -i N -gi GI -cci CI_PROFILE_ID``."""
    return [path, "mig", "-i", str(index), "-gi", str(gi_id), "-cci", str(ci_profile_id)]


def _destroy(flag, index, gi_ids, path):
    argv = [path, "mig", "-i", str(index), flag]
    if gi_ids is not None:
        argv += ["-gi", ",".join(str(i) for i in gi_ids)]
    return argv


def cmd_destroy_compute_instances(index, gi_ids=None, path="nvidia-smi"):
    """``nvidia-smi mig -i N -dci [-gi A,B]``: every CI of the GPU, or of the listed GIs."""
    return _destroy("-dci", index, gi_ids, path)


def cmd_destroy_gpu_instances(index, gi_ids=None, path="nvidia-smi"):
    """``nvidia-smi mig -i N -dgi [-gi A,B]``: every GI of the GPU, or the listed ones."""
    return _destroy("-dgi", index, gi_ids, path)


# ---------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------


class NvidiaSmi:
    """Runs nvidia-smi through ``run(argv) -> (rc, stdout, stderr)`` (AnsibleModule's
    run_command fits) and records every mutating call in ``mutations``."""

    def __init__(self, run, path="nvidia-smi"):
        self._run = run
        self.path = path
        self.mutations = []

    def _call(self, argv, allow_empty=False):
        rc, out, err = self._run(argv)
        text = (out or "") + ("\n" + err if err else "")
        if rc != 0:
            if allow_empty and _empty_listing(text):
                return ""
            raise NvidiaSmiError(argv, rc, text)
        return out or ""

    def _parse(self, argv, parser, *texts):
        try:
            return parser(*texts)
        except ValueError as exc:
            raise NvidiaSmiError(argv, 0, str(exc))

    def read_state(self):
        """The host's GPUs (list of GpuState) from ``-q -x``; with ``mig -lgip`` and
        ``-lgipp`` (the profiles the driver describes) when some GPU can do MIG, and
        ``mig -lgi`` and ``mig -lci`` when some GPU has MIG mode enabled."""
        gpus = parse_query_xml(self._call(cmd_query(self.path)))
        if any(g.mig_capable for g in gpus):
            lgip = self._call(cmd_list_gpu_instance_profiles(self.path), allow_empty=True)
            lgipp = (self._call(cmd_list_gpu_instance_placements(self.path), allow_empty=True)
                     if lgip else "")
            described = driver_profiles(lgip, lgipp)
            for gpu in gpus:
                gpu.profiles = described.get(gpu.index, [])
        if any(g.mig_current for g in gpus):
            lgi = self._call(cmd_list_gpu_instances(self.path), allow_empty=True)
            lci = self._call(cmd_list_compute_instances(self.path), allow_empty=True) if lgi else ""
            self._parse(cmd_list_compute_instances(self.path), merge_instances, gpus, lgi, lci)
        else:
            for gpu in gpus:
                gpu.gpu_instances = []
        return gpus

    def mutate(self, argv):
        """Run a mutating command; raises NvidiaSmiError on a non-zero exit."""
        self.mutations.append(" ".join(argv))
        return self._call(argv)
