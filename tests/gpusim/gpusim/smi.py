# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated nvidia-smi (run through tests/gpusim/bin/nvidia-smi).

Output text, table layouts and exit codes follow published output of the real tool
(NVIDIA MIG user guide examples, driver 510-580 transcripts); where no transcript was at
hand the text is modelled on the neighbouring real message and marked [INFERRED].
Exit codes: 0 success, 2 invalid arguments, 3 not supported, 6 not found / nothing to
list, 255 other errors (the nvidia-smi man page's list; which NVML error maps to which
code is [INFERRED] except 255 for a failed reset, seen in transcripts).
"""

import os
import shlex
import signal
import sys
import time
import xml.etree.ElementTree as ET

from . import mig, state as statefile
from .mig import NvmlError
from .state import MIG_DISABLED, MIG_ENABLED, NO_INSTANCE

INVALID_ARGUMENTS = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."
NO_MIG_DEVICES = "No MIG-enabled devices found."
EXIT_BY_ERROR = {mig.NVML_ERROR_INVALID_ARGUMENT: 2, mig.NVML_ERROR_NOT_SUPPORTED: 3,
                 mig.NVML_ERROR_NOT_FOUND: 6}


class UsageError(Exception):
    """A command line the real tool would refuse."""


def exit_code(error):
    return EXIT_BY_ERROR.get(error.code, 255)


def _out(text=""):
    sys.stdout.write(text + "\n")


def _err(text):
    sys.stderr.write(text + "\n")


# ---------------------------------------------------------------------------------------
# Command line


def parse(argv):
    """Split argv into (command, options). Options keep the real tool's spellings."""
    args = list(argv)
    options = {}
    command = None
    if args and args[0] == "mig":
        args.pop(0)
        command = "mig"
    while args:
        arg = args.pop(0)
        name, unused_separator, inline = arg.partition("=")
        if name in ("-i", "--id"):
            options["id"] = inline or _take(args, arg)
        elif command == "mig":
            _parse_mig_option(name, inline, args, options)
        elif name in ("-L", "--list-gpus"):
            options["action"] = "list"
        elif name in ("-q", "--query"):
            options["query"] = True
        elif name in ("-x", "--xml-format"):
            options["xml"] = True
        elif name == "--query-gpu":
            options["action"], options["fields"] = "query-gpu", inline or _take(args, arg)
        elif name == "--query-compute-apps":
            options["action"], options["fields"] = "query-compute-apps", inline or _take(args, arg)
        elif name == "--format":
            options["format"] = inline or _take(args, arg)
        elif name in ("-mig", "--multi-instance-gpu"):
            options["action"], options["mode"] = "set-mig", inline or _take(args, arg)
        elif name in ("-r", "--gpu-reset"):
            options["action"] = "reset"
        else:
            raise UsageError(arg)
    if command == "mig":
        options.setdefault("action", None)
        if options["action"] is None:
            raise UsageError("mig")
        return "mig", options
    if options.pop("query", False):
        if not options.pop("xml", False) or "action" in options:
            raise UsageError("-q without -x is not simulated")
        options["action"] = "query-xml"
    return options.get("action"), options


_MIG_ACTIONS = {"-lgip": "lgip", "--list-gpu-instance-profiles": "lgip",
                "-lgipp": "lgipp", "--list-gpu-instance-possible-placements": "lgipp",
                "-lgi": "lgi", "--list-gpu-instances": "lgi",
                "-lci": "lci", "--list-compute-instances": "lci",
                "-dci": "dci", "--destroy-compute-instance": "dci",
                "-dgi": "dgi", "--destroy-gpu-instance": "dgi"}


def _parse_mig_option(name, inline, args, options):
    if name in _MIG_ACTIONS:
        _set_action(options, _MIG_ACTIONS[name])
    elif name in ("-cgi", "--create-gpu-instance"):
        _set_action(options, "cgi")
        options["profiles"] = inline or _take(args, name)
    elif name in ("-cci", "--create-compute-instance"):
        _set_action(options, "cci")
        # The profile list is optional: without one -cci creates the default (full) CI.
        if inline or (args and not args[0].startswith("-")):
            options["profiles"] = inline or args.pop(0)
    elif name in ("-C", "--default-compute-instance"):
        options["default_ci"] = True
    elif name in ("-gi", "--gpu-instance-id"):
        options["gi"] = _int_list(inline or _take(args, name))
    elif name in ("-ci", "--compute-instance-id"):
        options["ci"] = _int_list(inline or _take(args, name))
    else:
        raise UsageError(name)


def _set_action(options, action):
    if options.get("action"):
        raise UsageError(action)
    options["action"] = action


def _take(args, option):
    if not args:
        raise UsageError(option)
    return args.pop(0)


def _int_list(text):
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(text)


def select_gpus(state, selector):
    """GPUs named by -i: indices, UUIDs or PCI bus ids, comma separated; all without -i."""
    if selector is None:
        return list(state.gpus)
    chosen = []
    for item in selector.split(","):
        item = item.strip()
        for gpu in state.gpus:
            if item in (str(gpu.index), gpu.uuid) or item.lower() in (gpu.bus_id.lower(), gpu.bus_id[4:].lower()):
                chosen.append(gpu)
                break
        else:
            return None
    return chosen


# ---------------------------------------------------------------------------------------
# Read-only commands


def list_gpus(state, gpus):
    for gpu in gpus:
        _out("GPU %d: %s (UUID: %s)" % (gpu.index, gpu.name, gpu.uuid))
        for number, ci in enumerate(mig.mig_devices(state, gpu)):
            name = mig.ci_profile_of(state, gpu, ci).name
            _out("  MIG %-12s Device %2d: (UUID: %s)" % (name, number, ci.uuid))
    return 0


def _mib(value):
    return "%d MiB" % value


def _used_mib(state, gpu, gi=None, ci=None):
    return sum(p.used_mib for p in state.processes_of(gpu)
               if gi is None or (p.gi == gi and (ci is None or p.ci == ci)))


def _sub(parent, tag, text=None):
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def query_xml(state, gpus):
    """nvidia-smi -q -x with the real element names for the parts the collection reads."""
    root = ET.Element("nvidia_smi_log")
    _sub(root, "timestamp", time.strftime("%a %b %d %H:%M:%S %Y"))
    _sub(root, "driver_version", state.host.driver_version)
    _sub(root, "cuda_version", "%d.%d" % (state.host.cuda_version // 1000, state.host.cuda_version % 1000 // 10))
    _sub(root, "attached_gpus", len(state.gpus))
    for gpu in gpus:
        node = _sub(root, "gpu")
        node.set("id", gpu.bus_id)
        _sub(node, "product_name", gpu.name)
        _sub(node, "product_brand", "NVIDIA")
        _sub(node, "product_architecture", gpu.architecture)
        _sub(node, "persistence_mode", "Enabled")
        mode = _sub(node, "mig_mode")
        _sub(mode, "current_mig", mig.mode_name(gpu, gpu.mig_current))
        _sub(mode, "pending_mig", mig.mode_name(gpu, gpu.mig_pending))
        devices = mig.mig_devices(state, gpu)
        mig_node = _sub(node, "mig_devices", None if devices else "None")
        for number, ci in enumerate(devices):
            gi = mig.find_gpu_instance(state, gpu, ci.gi)
            gi_profile = state.gi_profile(gpu, gi.profile)
            device = _sub(mig_node, "mig_device")
            _sub(device, "index", number)
            _sub(device, "gpu_instance_id", ci.gi)
            _sub(device, "compute_instance_id", ci.id)
            shared = _sub(_sub(device, "device_attributes"), "shared")
            _sub(shared, "multiprocessor_count", mig.ci_profile_of(state, gpu, ci).sm)
            for tag, value in (("copy_engine_count", gi_profile.ce), ("encoder_count", gi_profile.enc),
                               ("decoder_count", gi_profile.dec), ("ofa_count", gi_profile.ofa),
                               ("jpg_count", gi_profile.jpeg)):
                _sub(shared, tag, value)
            _memory_usage(device, gi_profile.memory_mib, _used_mib(state, gpu, ci.gi, ci.id))
        _sub(node, "uuid", gpu.uuid)
        _sub(node, "minor_number", gpu.index)
        pci = _sub(node, "pci")
        _sub(pci, "pci_bus", gpu.bus_id.split(":")[1])
        _sub(pci, "pci_device", gpu.bus_id.split(":")[2].split(".")[0])
        _sub(pci, "pci_domain", gpu.bus_id.split(":")[0][-4:])
        _sub(pci, "pci_device_id", "%08X" % gpu.pci_device_id)
        _sub(pci, "pci_bus_id", gpu.bus_id)
        _sub(pci, "pci_sub_system_id", "%08X" % statefile.subsystem_id(gpu))
        _memory_usage(node, gpu.memory_mib, _used_mib(state, gpu))
        _sub(node, "compute_mode", "Default")
        processes = _sub(node, "processes")
        for process in state.processes_of(gpu):
            info = _sub(processes, "process_info")
            _sub(info, "gpu_instance_id", "N/A" if process.gi == NO_INSTANCE else process.gi)
            _sub(info, "compute_instance_id", "N/A" if process.ci == NO_INSTANCE else process.ci)
            _sub(info, "pid", process.pid)
            _sub(info, "type", "C")
            _sub(info, "process_name", process.name)
            _sub(info, "used_memory", _mib(process.used_mib))
    ET.indent(root, space="\t")
    _out('<?xml version="1.0" ?>')
    _out('<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">')
    _out(ET.tostring(root, encoding="unicode"))
    return 0


def _memory_usage(parent, total, used):
    usage = _sub(parent, "fb_memory_usage")
    _sub(usage, "total", _mib(total))
    _sub(usage, "reserved", _mib(0))
    _sub(usage, "used", _mib(used))
    _sub(usage, "free", _mib(total - used))


def _gpu_fields(state):
    """--query-gpu fields: name -> (header, value(gpu, with_units))."""
    def mib(value):
        return lambda gpu, units: "%d MiB" % value(gpu) if units else str(value(gpu))

    def mode(attribute):
        return lambda gpu, units: "[N/A]" if not gpu.mig_capable else mig.mode_name(gpu, getattr(gpu, attribute))

    table = {
        "index": ("index", lambda gpu, units: str(gpu.index)),
        "count": ("count", lambda gpu, units: str(len(state.gpus))),
        "name": ("name", lambda gpu, units: gpu.name),
        "uuid": ("uuid", lambda gpu, units: gpu.uuid),
        "driver_version": ("driver_version", lambda gpu, units: state.host.driver_version),
        "memory.total": ("memory.total [MiB]", mib(lambda gpu: gpu.memory_mib)),
        "memory.used": ("memory.used [MiB]", mib(lambda gpu: _used_mib(state, gpu))),
        "memory.free": ("memory.free [MiB]", mib(lambda gpu: gpu.memory_mib - _used_mib(state, gpu))),
        "mig.mode.current": ("mig.mode.current", mode("mig_current")),
        "mig.mode.pending": ("mig.mode.pending", mode("mig_pending")),
        "pci.bus_id": ("pci.bus_id", lambda gpu, units: gpu.bus_id),
        "pci.device_id": ("pci.device_id", lambda gpu, units: "0x%08X" % gpu.pci_device_id),
        "pci.sub_device_id": ("pci.sub_device_id", lambda gpu, units: "0x%08X" % statefile.subsystem_id(gpu)),
    }
    for alias, name in (("gpu_name", "name"), ("gpu_uuid", "uuid"), ("gpu_bus_id", "pci.bus_id")):
        table[alias] = (alias, table[name][1])
    return table


def query_csv(rows, names, table, options):
    """CSV the way --format=csv[,noheader][,nounits] prints it."""
    formats = set(options.get("format", "").split(","))
    if "csv" not in formats:
        _err('"--format" option requires "csv".')  # [INFERRED] wording
        return 2
    columns = []
    for name in names:
        key = name.strip()
        if key not in table:
            _err('Field "%s" is not a valid field to query.' % name)
            return 2
        columns.append(table[key])
    if "noheader" not in formats:
        _out(", ".join(header for header, unused_value in columns))
    for row in rows:
        _out(", ".join(value(row, "nounits" not in formats) for unused_header, value in columns))
    return 0


def query_compute_apps(state, gpus, options):
    processes = [(gpu, p) for gpu in gpus for p in state.processes_of(gpu)]
    table = {
        "pid": ("pid", lambda row, units: str(row[1].pid)),
        "process_name": ("process_name", lambda row, units: row[1].name),
        "name": ("process_name", lambda row, units: row[1].name),
        "used_memory": ("used_gpu_memory [MiB]",
                        lambda row, units: "%d MiB" % row[1].used_mib if units else str(row[1].used_mib)),
        "gpu_uuid": ("gpu_uuid", lambda row, units: row[0].uuid),
        "gpu_bus_id": ("gpu_bus_id", lambda row, units: row[0].bus_id),
        "gpu_name": ("gpu_name", lambda row, units: row[0].name),
    }
    table["used_gpu_memory"] = table["used_memory"]
    return query_csv(processes, options["fields"].split(","), table, options)


_LGIP_RULE = "+" + "-" * 79 + "+"


def list_gi_profiles(state, gpus):
    capable = [gpu for gpu in gpus if gpu.mig_capable]
    if not capable:
        _out(NO_MIG_DEVICES)
        return 6
    _out(_LGIP_RULE)
    _out("| GPU instance profiles:".ljust(80) + "|")
    _out("| GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  |")
    _out("|                                Free/Total   GiB              CE    JPEG  OFA  |")
    _out("|" + "=" * 79 + "|")
    for gpu in capable:
        for profile in state.gi_profiles_of(gpu):
            # With MIG off the real tool prints Free = Total (a real H200, driver 580).
            free = mig.remaining_gi_capacity(state, gpu, profile) if gpu.mig_current == MIG_ENABLED else profile.max
            _out("|%4d  MIG %-16s%2d%8s        %-11s%-7s%-7d%-6d%-4d|" % (
                gpu.index, profile.name, profile.id, "%d/%d" % (free, profile.max),
                "%.2f" % (profile.memory_mib / 1024), "No", profile.sm, profile.dec, profile.enc))
            _out("|%s%2d     %-6d%-4d|" % (" " * 62, profile.ce, profile.jpeg, profile.ofa))
            _out(_LGIP_RULE)
    return 0


def list_gi_placements(state, gpus):
    capable = [gpu for gpu in gpus if gpu.mig_capable]
    if not capable:
        _out(NO_MIG_DEVICES)
        return 6
    for gpu in capable:
        for profile in state.gi_profiles_of(gpu):
            label = "Placements:" if len(profile.placements) > 1 else "Placement :"
            _out("GPU %2d Profile ID %2d %s {%s}:%d" % (gpu.index, profile.id, label,
                                                        ",".join(map(str, profile.placements)),
                                                        profile.memory_slices))
    return 0


def list_gpu_instances(state, gpus, options):
    rows = [(gpu, gi) for gpu in gpus for gi in state.gis_of(gpu)
            if options.get("gi") is None or gi.id in options["gi"]]
    if not rows:
        _out("No GPU instances found: Not Found")
        return 6
    rule = "+" + "-" * 55 + "+"
    _out(rule)
    _out("| GPU instances:".ljust(56) + "|")
    _out("| GPU   Name             Profile  Instance   Placement  |")
    _out("|                          ID       ID       Start:Size |")
    _out("|" + "=" * 55 + "|")
    for gpu, gi in rows:
        profile = state.gi_profile(gpu, gi.profile)
        _out("|%4d  MIG %-16s%2d%9d%13s     |" % (gpu.index, profile.name, profile.id, gi.id,
                                                  "%d:%d" % (gi.start, profile.memory_slices)))
        _out(rule)
    return 0


def list_compute_instances(state, gpus, options):
    rows = [(gpu, ci) for gpu in gpus for gi in state.gis_of(gpu)
            if options.get("gi") is None or gi.id in options["gi"]
            for ci in state.cis_of(gpu, gi.id) if options.get("ci") is None or ci.id in options["ci"]]
    if not rows:
        _out("No compute instances found: Not Found")
        return 6
    rule = "+" + "-" * 68 + "+"
    _out(rule)
    _out("| Compute instances:".ljust(69) + "|")
    _out("| GPU     GPU       Name             Profile   Instance   Placement  |")
    _out("|       Instance                       ID        ID       Start:Size |")
    _out("|         ID                                                         |")
    _out("|" + "=" * 68 + "|")
    for gpu, ci in rows:
        profile = mig.ci_profile_of(state, gpu, ci)
        _out("|%4d%7d       MIG %-16s%2d%10d%13s     |" % (gpu.index, ci.gi, profile.name, profile.id, ci.id,
                                                           "%d:%d" % (ci.start, profile.compute)))
        _out(rule)
    return 0


# ---------------------------------------------------------------------------------------
# Mutating commands. Each runs under the state's exclusive lock, counts once against the
# fail_after_mutations fault and is appended to <state>.mutations.log.


class _Guard:
    """Raises the injected failure at the command's first change, then lets changes pass."""

    def __init__(self, armed):
        self.armed = armed

    def check(self):
        if self.armed:
            self.armed = False
            raise NvmlError(mig.NVML_ERROR_UNKNOWN)


def set_mig(state, gpus, options, guard):
    if options["mode"] not in ("0", "1"):
        raise UsageError(options["mode"])
    mode = MIG_ENABLED if options["mode"] == "1" else MIG_DISABLED
    verb = "enable" if mode == MIG_ENABLED else "disable"
    rc = 0
    for gpu in gpus:
        try:
            guard.check()
            activation = mig.set_mig_mode(state, gpu, mode)
        except NvmlError as error:
            _err("Unable to %s MIG Mode for GPU %s: %s" % (verb, gpu.bus_id, error))  # [INFERRED]
            rc = exit_code(error)
            continue
        if activation == mig.NVML_SUCCESS:
            _out("%sd MIG Mode for GPU %s" % (verb.capitalize(), gpu.bus_id))
        elif activation == mig.NVML_ERROR_IN_USE:
            _out("Warning: MIG mode is in pending %s state for GPU %s:In use by another client" % (verb, gpu.bus_id))
            _out("%s is currently being used by one or more other processes (e.g. CUDA application or a "
                 "monitoring application such as another instance of nvidia-smi). Please first kill all "
                 "processes using the device and retry the command or reboot the system to make MIG mode "
                 "effective." % gpu.bus_id)
        else:
            _out("Warning: MIG mode is in pending %s state for GPU %s:Not Supported" % (verb, gpu.bus_id))
            _out("Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU %s"
                 % gpu.bus_id)
    if rc == 0:
        _out("All done.")
    return rc


def reset(state, gpus, options, guard):
    failed = []
    for gpu in gpus:
        try:
            guard.check()
            mig.reset_gpu(state, gpu)
        except NvmlError as error:
            failed.append((gpu, error))
            continue
        _out("GPU %s was successfully reset." % gpu.bus_id)
    if not failed:
        _out("All done.")
        return 0
    _err("The following GPUs could not be reset:")
    for gpu, error in failed:
        _err("  GPU %s: %s" % (gpu.bus_id, error))
    in_use = sum(1 for unused_gpu, error in failed if error.code == mig.NVML_ERROR_IN_USE)
    if in_use:
        _err("")
        _err("%d %s currently being used by one or more other processes (e.g., Fabric Manager, CUDA "
             "application, graphics application such as an X server, or a monitoring application such as "
             "another instance of nvidia-smi). Please first kill all processes using this device and all "
             "compute applications running in the system." % (in_use, "device is" if in_use == 1 else "devices are"))
    return 255


def _gi_profile_for(state, gpu, token):
    """A -cgi item: a profile id or name, optionally ":<start>" for a placement."""
    text, unused_separator, start = token.partition(":")
    text = text.strip()
    profile = None
    if text.isdigit():
        profile = state.gi_profile(gpu, int(text))
    else:
        wanted = text.lower().replace("mig ", "")
        profile = next((p for p in state.gi_profiles_of(gpu) if p.name == wanted), None)
    if profile is None or (start and not start.isdigit()):
        raise NvmlError(mig.NVML_ERROR_INVALID_ARGUMENT)
    return profile, int(start) if start else None


def create_gpu_instances(state, gpus, options, guard):
    for gpu in gpus:
        for token in options["profiles"].split(","):
            try:
                guard.check()
                profile, start = _gi_profile_for(state, gpu, token)
                gi = mig.create_gpu_instance(state, gpu, profile.id, start)
            except NvmlError as error:
                _err("Unable to create a GPU instance on GPU %2d using profile %s: %s" % (gpu.index, token, error))
                _err("Failed to create GPU instances: %s" % error)
                return exit_code(error)
            _out("Successfully created GPU instance ID %2d on GPU %2d using profile MIG %s (ID %2d)"
                 % (gi.id, gpu.index, profile.name, profile.id))
            if options.get("default_ci"):
                rc = _create_ci(state, gpu, gi, None, guard)
                if rc:
                    return rc
    return 0


def _create_ci(state, gpu, gi, token, guard):
    try:
        guard.check()
        if token is not None and not token.strip().isdigit():
            wanted = token.strip().lower().replace("mig ", "")
            match = [p for p in state.ci_profiles_of(gpu, gi.profile) if p.name == wanted]
            if not match:
                raise NvmlError(mig.NVML_ERROR_INVALID_ARGUMENT)
            token = str(match[0].id)
        ci = mig.create_compute_instance(state, gpu, gi, None if token is None else int(token))
    except NvmlError as error:
        # [INFERRED] from the GPU-instance variant of this message.
        _err("Unable to create a compute instance on GPU %2d GPU instance ID %2d using profile %s: %s"
             % (gpu.index, gi.id, "default" if token is None else token, error))
        _err("Failed to create compute instances: %s" % error)
        return exit_code(error)
    profile = mig.ci_profile_of(state, gpu, ci)
    _out("Successfully created compute instance ID %2d on GPU %2d GPU instance ID %2d using profile MIG %s (ID %2d)"
         % (ci.id, gpu.index, gi.id, profile.name, profile.id))
    return 0


def _selected_gis(state, gpu, options):
    wanted = options.get("gi")
    if wanted is None:
        return state.gis_of(gpu)
    return [mig.find_gpu_instance(state, gpu, gi_id) for gi_id in wanted]


def create_compute_instances(state, gpus, options, guard):
    tokens = options["profiles"].split(",") if "profiles" in options else [None]
    for gpu in gpus:
        try:
            gis = _selected_gis(state, gpu, options)
        except NvmlError as error:
            _err("Failed to create compute instances: %s" % error)
            return exit_code(error)
        for gi in gis:
            for token in tokens:
                rc = _create_ci(state, gpu, gi, token, guard)
                if rc:
                    return rc
    return 0


def destroy_compute_instances(state, gpus, options, guard):
    destroyed = 0
    for gpu in gpus:
        try:
            for gi in _selected_gis(state, gpu, options):
                for ci in state.cis_of(gpu, gi.id):
                    if options.get("ci") is not None and ci.id not in options["ci"]:
                        continue
                    guard.check()
                    mig.destroy_compute_instance(state, gpu, ci)
                    destroyed += 1
                    _out("Successfully destroyed compute instance ID %2d from GPU %2d GPU instance ID %2d"
                         % (ci.id, gpu.index, gi.id))
        except NvmlError as error:
            _err("Failed to destroy compute instances: %s" % error)  # [INFERRED]
            return exit_code(error)
    if not destroyed:
        _err("No compute instances found: Not Found")
        return 6
    return 0


def destroy_gpu_instances(state, gpus, options, guard):
    destroyed = 0
    for gpu in gpus:
        try:
            gis = _selected_gis(state, gpu, options)
        except NvmlError as error:
            _err("Failed to destroy GPU instances: %s" % error)
            return exit_code(error)
        for gi in gis:
            try:
                guard.check()
                mig.destroy_gpu_instance(state, gpu, gi)
            except NvmlError as error:
                # [INFERRED] from the creation variant of this message.
                _err("Unable to destroy GPU instance ID %2d from GPU %2d: %s" % (gi.id, gpu.index, error))
                _err("Failed to destroy GPU instances: %s" % error)
                return exit_code(error)
            destroyed += 1
            _out("Successfully destroyed GPU instance ID %2d from GPU %2d" % (gi.id, gpu.index))
    if not destroyed:
        _err("No GPU instances found: Not Found")
        return 6
    return 0


_MIG_ONLY = {"lgi": list_gpu_instances, "lci": list_compute_instances}
_MUTATIONS = {"set-mig": set_mig, "reset": reset, "cgi": create_gpu_instances, "cci": create_compute_instances,
              "dci": destroy_compute_instances, "dgi": destroy_gpu_instances}


def log_mutation(path, argv, rc):
    with open(path + ".mutations.log", "a") as log:
        log.write("%s nvidia-smi %s -> %d\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), shlex.join(argv), rc))


def run(argv, path):
    command, options = parse(argv)
    action = options.get("action")
    if action is None:
        raise UsageError("no command")
    if action in _MUTATIONS:
        with statefile.updating(path) as state:
            rc = _mutate(state, action, options, argv)
            log_mutation(path, argv, rc)
        return rc
    state = statefile.load(path)
    gpus = select_gpus(state, options.get("id"))
    if gpus is None:
        _out("No devices were found")  # [INFERRED] for an -i that names no GPU
        return 6
    if action == "list":
        return list_gpus(state, gpus)
    if action == "query-xml":
        return query_xml(state, gpus)
    if action == "query-gpu":
        return query_csv(gpus, options["fields"].split(","), _gpu_fields(state), options)
    if action == "query-compute-apps":
        return query_compute_apps(state, gpus, options)
    if action == "lgip":
        return list_gi_profiles(state, gpus)
    if action == "lgipp":
        return list_gi_placements(state, gpus)
    enabled = [gpu for gpu in gpus if gpu.mig_capable and gpu.mig_current == MIG_ENABLED]
    if not enabled:
        _out(NO_MIG_DEVICES)
        return 0  # -lgi / -lci exit 0 here (a real H200, driver 580, MIG off)
    return _MIG_ONLY[action](state, enabled, options)


def _mutate(state, action, options, argv):
    gpus = select_gpus(state, options.get("id"))
    if gpus is None:
        _out("No devices were found")
        return 6
    guard = _Guard(mig.consume_injected_failure(state))
    if action in ("cgi", "cci", "dci", "dgi"):
        gpus = [gpu for gpu in gpus if gpu.mig_capable and gpu.mig_current == MIG_ENABLED]
        if not gpus:
            _out(NO_MIG_DEVICES)
            return 6
    return _MUTATIONS[action](state, gpus, options, guard)


NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
             "Make sure that the latest NVIDIA driver is installed and running.")
NO_DRIVER_EXIT = 9  # nvidia-smi(1): "NVIDIA driver is not loaded"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = os.environ.get("FGPU_GPUSIM_STATE")
    if not path or not os.path.isfile(path):
        _out(NO_DRIVER)  # no simulated host: as a host whose driver is not loaded
        return NO_DRIVER_EXIT
    try:
        return run(argv, path)
    except (OSError, statefile.StateError) as error:  # an unreadable or corrupt state file
        _err("gpusim: %s" % error)
        _out(NO_DRIVER)
        return NO_DRIVER_EXIT
    except UsageError:
        _out(INVALID_ARGUMENTS)
        return 2
    except NvmlError as error:  # e.g. -gi naming a missing GPU instance on a read-only list
        _err("Failed: %s" % error)
        return exit_code(error)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `nvidia-smi ... | head` ends quietly, like the real one
    sys.exit(main())
