# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A STAND-IN for NVIDIA's mig-parted, for the lab's MIG manager (tests/lab/mig_manager.py).
Test-only.

NVIDIA's MIG manager runs ``nvidia-mig-parted`` on each GPU node; its Go module
(github.com/NVIDIA/mig-parted) is not served here, so this file does what its README and
code say, with its own code: it never imports the collection (plugins/) nor its GPU tables,
and reads every GPU fact (device IDs, MIG modes, profile names, instances) from the driver
through NVML (the real ``pynvml``; in the lab over the simulated library, tests/gpusim).
It is the independent side of the check the mig role's operator mode is put to.

What it follows (github.com/NVIDIA/mig-parted):
  - the config file, api/spec/v1/spec.go: ``version: v1``; ``mig-configs`` maps names to
    non-empty lists of entries; an entry has ``devices`` (``all`` or GPU indices) and
    ``mig-enabled`` (both required), optional ``device-filter`` (a PCI device ID such as
    ``0x20B010DE``, or a list of them), and ``mig-devices`` (profile -> count; required
    when enabled, empty when disabled); any other field is an error;
  - GPU selection, cmd/util WalkSelectedMigConfigForEachGPU: entry by entry, every GPU
    whose device ID passes the filter and whose index is in ``devices``;
  - apply, cmd/apply: when the MIG mode is not as asserted, set it on every selected GPU
    and, if a change is left pending on any, reset all GPUs (``nvidia-smi -r``); then on
    each selected GPU whose instances differ: destroy every compute instance, then every
    GPU instance, and create the requested ones in mig-parted's order (types.MigConfig
    Flatten: larger GPU instances first), trying the other distinct orders in turn if one
    fails (pkg/mig/config iteratePermutationsUntilSuccess), clearing the GPU after the
    last failure;
  - assert, cmd/assert: exit 1 when the selected config is not applied;
    ``--valid-config`` only checks the file and the name, ``--mode-only`` only MIG modes.

A profile name (``3g.20gb``, ``1c.3g.20gb``, ``1g.10gb+me``) is matched against the names
the driver gives its GPU instance profiles (NVML ``GetGpuInstanceProfileInfoV``), and the
compute-slice prefix against its compute instance profiles' slice counts.

    mig_parted.py [-d] assert [--valid-config | --mode-only] -f FILE -c NAME
    mig_parted.py [-d] apply [--mode-only] -f FILE -c NAME
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

import pynvml
import yaml

ENTRY_FIELDS = {"device-filter", "devices", "mig-enabled", "mig-devices"}
PROFILE_RE = re.compile(r"^(?:(?P<c>\d+)c\.)?(?P<gi>(?P<g>\d+)g\.\d+gb(?:\+[a-z]+(?:\.[a-z]+)?)*)$")


class SpecError(ValueError):
    """The config file is not a valid mig-parted config."""


class ApplyError(RuntimeError):
    """A GPU could not be brought to the selected config."""


@dataclass(frozen=True)
class Entry:
    """One item of a mig-config: which GPUs, and what they get."""
    device_filter: tuple[int, ...] | None
    devices: tuple[int, ...] | None  # None: all
    mig_enabled: bool
    mig_devices: dict[str, int]

    def selects(self, index: int, device_id: int) -> bool:
        return ((self.device_filter is None or device_id in self.device_filter)
                and (self.devices is None or index in self.devices))


@dataclass(frozen=True)
class Profile:
    """A MIG device as a config names it: C compute slices of a G-slice GPU instance."""
    name: str
    gi_name: str
    g: int
    c: int
    attributes: str


# --- the config file --------------------------------------------------------------------

def parse_profile(name: str) -> Profile:
    match = PROFILE_RE.match(name)
    if not match:
        raise SpecError(f"invalid MIG profile name: {name!r}")
    g = int(match.group("g"))
    c = int(match.group("c") or g)
    if c > g:
        raise SpecError(f"invalid MIG profile name: {name!r} (more compute slices than the GPU instance has)")
    return Profile(name=name, gi_name=match.group("gi"), g=g, c=c,
                   attributes=",".join(match.group("gi").split("+")[1:]))


def _device_id(value) -> int:
    if not isinstance(value, str):
        raise SpecError(f"device-filter must be a string or a list of strings, not {value!r}")
    try:
        return int(value, 0)  # 0x-prefixed hexadecimal, as the IDs mig-parted prints
    except ValueError as exc:
        raise SpecError(f"invalid device-filter {value!r}: not a PCI device ID like 0x20B010DE") from exc


def _entry(raw) -> Entry:
    if not isinstance(raw, dict):
        raise SpecError(f"a mig-config entry must be a mapping, not {raw!r}")
    for field in ("devices", "mig-enabled"):
        if field not in raw:
            raise SpecError(f"missing required field: {field}")
    unexpected = sorted(set(raw) - ENTRY_FIELDS)
    if unexpected:
        raise SpecError(f"unexpected field: {unexpected[0]}")
    device_filter = raw.get("device-filter")
    if device_filter is not None:
        device_filter = tuple(_device_id(v) for v in (
            device_filter if isinstance(device_filter, list) else [device_filter]))
    devices = raw["devices"]
    if isinstance(devices, str):
        if devices != "all":
            raise SpecError(f"invalid string input for 'devices': {devices}")
        devices = None
    elif isinstance(devices, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in devices):
        devices = tuple(devices)
    else:
        raise SpecError(f"devices must be 'all' or a list of GPU indices, not {devices!r}")
    enabled = raw["mig-enabled"]
    if not isinstance(enabled, bool):
        raise SpecError(f"mig-enabled must be true or false, not {enabled!r}")
    mig_devices = raw.get("mig-devices")
    if mig_devices is not None:
        if not isinstance(mig_devices, dict):
            raise SpecError(f"mig-devices must map profiles to counts, not {mig_devices!r}")
        for name, count in mig_devices.items():
            parse_profile(str(name))
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise SpecError(f"error validating values in 'mig-devices' field: invalid count for '{name}': {count!r}")
        if mig_devices and not any(mig_devices.values()):
            raise SpecError("error validating values in 'mig-devices' field: all counts for all MigProfiles are 0")
    if enabled and mig_devices is None:
        raise SpecError("missing required field 'mig-devices' when 'mig-enabled' is true")
    if not enabled and mig_devices:
        raise SpecError("MIG devices included when 'mig-enabled' is false")
    return Entry(device_filter=device_filter, devices=devices, mig_enabled=enabled,
                 mig_devices={str(k): v for k, v in (mig_devices or {}).items() if v})


def parse_spec(text: str) -> dict[str, list[Entry]]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"unmarshal error: {exc}") from exc
    if not raw:
        raise SpecError("empty config file")
    if not isinstance(raw, dict):
        raise SpecError("the config file must be a mapping")
    if "version" not in raw:
        raise SpecError("unable to parse with missing 'version' field")
    if raw["version"] != "v1":
        raise SpecError(f"unknown version: {raw['version']}")
    unexpected = sorted(set(raw) - {"version", "mig-configs"})
    if unexpected:
        raise SpecError(f"unexpected field: {unexpected[0]}")
    configs = raw.get("mig-configs")
    if not isinstance(configs, dict) or not configs:
        raise SpecError("at least one entry in 'mig-configs' is required")
    spec = {}
    for name, entries in configs.items():
        if not isinstance(entries, list) or not entries:
            raise SpecError(f"at least one entry in '{name}' is required")
        spec[str(name)] = [_entry(entry) for entry in entries]
    return spec


def select_config(spec: dict[str, list[Entry]], name: str) -> list[Entry]:
    if name not in spec:
        raise SpecError(f"selected mig-config not present: {name}")
    return spec[name]


def walk(entries: list[Entry], device_ids: list[int]):
    """(entry, GPU index) in mig-parted's order: entry by entry, then GPU by GPU."""
    for entry in entries:
        for index, device_id in enumerate(device_ids):
            if entry.selects(index, device_id):
                yield entry, index


def flatten(mig_devices: dict[str, int]) -> list[str]:
    """One name per MIG device to create, larger GPU instances (then compute instances) first,
    as mig-parted's types.MigConfig Flatten sorts them; equal ones keep the config's order."""
    names = []
    for name, count in mig_devices.items():
        names += [name] * count
    key = {name: (parse_profile(name).g, parse_profile(name).c, parse_profile(name).attributes)
           for name in mig_devices}
    return sorted(names, key=lambda name: key[name], reverse=True)


def orderings(names: list[str]):
    """Every distinct order of ``names``, the given one first, in mig-parted's order of
    trying them (swaps from the front, an equal name never swapped in twice)."""
    items = list(names)

    def visit(i):
        if i >= len(items):
            yield list(items)
            return
        for j in range(i, len(items)):
            if items[j] in items[i:j]:
                continue
            items[i], items[j] = items[j], items[i]
            yield from visit(i + 1)
            items[i], items[j] = items[j], items[i]

    yield from visit(0)


# --- the GPUs, through NVML ---------------------------------------------------------------

def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Gpus:
    """The node's GPUs as NVML shows them (parsing a config needs no driver; this does)."""

    def __init__(self, debug=False):
        self.debug = debug
        pynvml.nvmlInit()
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def log(self, msg):
        if self.debug:
            print(f"mig-parted: {msg}", file=sys.stderr, flush=True)

    def device_ids(self) -> list[int]:
        return [pynvml.nvmlDeviceGetPciInfo(h).pciDeviceId for h in self.handles]

    def bus_ids(self) -> list[str]:
        return [_text(pynvml.nvmlDeviceGetPciInfo(h).busId) for h in self.handles]

    def mig_mode(self, index: int) -> tuple[int, int] | None:
        """(current, pending), or None on a GPU without MIG."""
        try:
            current, pending = pynvml.nvmlDeviceGetMigMode(self.handles[index])
        except pynvml.NVMLError_NotSupported:
            return None
        return current, pending

    def set_mig_mode(self, index: int, enabled: bool) -> None:
        self.log(f"GPU {index}: MIG mode -> {'enabled' if enabled else 'disabled'}")
        pynvml.nvmlDeviceSetMigMode(self.handles[index], int(enabled))

    def gi_profiles(self, index: int) -> dict[int, tuple[str, object]]:
        """GPU instance profile ID -> (name without 'MIG ', info), as the driver lists them."""
        profiles = {}
        for slot in range(pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT):
            try:
                info = pynvml.nvmlDeviceGetGpuInstanceProfileInfoV(self.handles[index], slot)
            except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_InvalidArgument):
                continue
            profiles[info.id] = (_text(info.name).removeprefix("MIG "), info)
        return profiles

    def _gpu_instances(self, index: int, profile_id: int) -> list:
        capacity = 8
        array = (pynvml.c_nvmlGpuInstance_t * capacity)()
        count = pynvml.c_uint(0)
        pynvml.nvmlDeviceGetGpuInstances(self.handles[index], profile_id, array, pynvml.byref(count))
        return list(array[:count.value])

    def _ci_profiles(self, gpu_instance) -> list:
        infos = []
        for slot in range(pynvml.NVML_COMPUTE_INSTANCE_PROFILE_COUNT):
            try:
                infos.append(pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(
                    gpu_instance, slot, pynvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED))
            except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_InvalidArgument):
                continue
        return infos

    def _compute_instances(self, gpu_instance, profile_id: int) -> list:
        capacity = 8
        array = (pynvml.c_nvmlComputeInstance_t * capacity)()
        count = pynvml.c_uint(0)
        pynvml.nvmlGpuInstanceGetComputeInstances(gpu_instance, profile_id, array, pynvml.byref(count))
        return list(array[:count.value])

    def _walk(self, index: int):
        """(GPU instance, its profile name and slice count, [(compute instance, its slices)])
        in NVML's order: by GPU instance profile, then by compute instance profile."""
        for name, info in self.gi_profiles(index).values():
            for gpu_instance in self._gpu_instances(index, info.id):
                computes = [(ci, ci_info.sliceCount) for ci_info in self._ci_profiles(gpu_instance)
                            for ci in self._compute_instances(gpu_instance, ci_info.id)]
                yield gpu_instance, name, info.sliceCount, computes

    def current_config(self, index: int) -> Counter:
        """What the GPU has, named as a config names it."""
        config = Counter()
        for _gi, name, slices, computes in self._walk(index):
            for _ci, ci_slices in computes:
                config[name if ci_slices == slices else f"{ci_slices}c.{name}"] += 1
        return config

    def clear(self, index: int) -> None:
        """Destroy every compute instance, then its GPU instance, GPU instance by GPU instance."""
        for gpu_instance, name, _slices, computes in list(self._walk(index)):
            for compute_instance, _ci_slices in computes:
                pynvml.nvmlComputeInstanceDestroy(compute_instance)
            pynvml.nvmlGpuInstanceDestroy(gpu_instance)
            self.log(f"GPU {index}: destroyed a {name} GPU instance")

    def create(self, index: int, name: str) -> None:
        """One MIG device: a GPU instance of the named profile (NVML picks the placement) and a
        compute instance of the requested slices in it."""
        profile = parse_profile(name)
        matches = [info for gi_name, info in self.gi_profiles(index).values() if gi_name == profile.gi_name]
        if not matches:
            raise ApplyError(f"GPU {index}: no GPU instance profile named {profile.gi_name!r}")
        gpu_instance = pynvml.nvmlDeviceCreateGpuInstance(self.handles[index], matches[0].id)
        ci_infos = [info for info in self._ci_profiles(gpu_instance) if info.sliceCount == profile.c]
        if not ci_infos:
            raise ApplyError(f"GPU {index}: {profile.gi_name} has no compute instance profile of {profile.c} slices")
        pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, ci_infos[0].id)
        self.log(f"GPU {index}: created {name}")

    def reset(self) -> None:
        """Reset every GPU with nvidia-smi, as mig-parted does when a mode change is pending."""
        bus_ids = ",".join(self.bus_ids())
        proc = subprocess.run(["nvidia-smi", "-r", "-i", bus_ids], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ApplyError(f"error resetting all GPUs: {(proc.stdout + proc.stderr).strip()}")


# --- assert and apply ---------------------------------------------------------------------

def mode_problems(entries: list[Entry], gpus: Gpus) -> list[str]:
    problems = []
    for entry, index in walk(entries, gpus.device_ids()):
        mode = gpus.mig_mode(index)
        if mode is None:
            if entry.mig_enabled:
                problems.append(f"GPU {index}: MIG not supported")
            continue
        if mode[0] != int(entry.mig_enabled):
            problems.append(f"GPU {index}: current mode different than mode being asserted")
    return problems


def config_problems(entries: list[Entry], gpus: Gpus) -> list[str]:
    problems = mode_problems(entries, gpus)
    if problems:
        return problems
    for entry, index in walk(entries, gpus.device_ids()):
        if entry.mig_enabled and gpus.current_config(index) != Counter(entry.mig_devices):
            problems.append(f"GPU {index}: current MIG config different than config being asserted")
    return problems


def apply_mode(entries: list[Entry], gpus: Gpus) -> None:
    pending = False
    for entry, index in walk(entries, gpus.device_ids()):
        mode = gpus.mig_mode(index)
        if mode is None and not entry.mig_enabled:
            continue
        try:
            gpus.set_mig_mode(index, entry.mig_enabled)
        except pynvml.NVMLError as exc:
            raise ApplyError(f"GPU {index}: error setting MIG mode: {exc}") from exc
        current, wanted = gpus.mig_mode(index)
        pending = pending or current != wanted
    if pending:
        gpus.log("at least one mode change pending: resetting all GPUs")
        gpus.reset()


def set_config(gpus: Gpus, index: int, mig_devices: dict[str, int]) -> None:
    """mig-parted's SetMigConfig on one GPU."""
    errors = []
    for order in orderings(flatten(mig_devices)):
        try:
            if gpus.current_config(index):
                gpus.clear(index)
            for name in order:
                gpus.create(index, name)
            return
        except (pynvml.NVMLError, ApplyError) as exc:
            gpus.log(f"GPU {index}: order {order} failed: {exc}")
            errors.append(str(exc))
    try:
        gpus.clear(index)
    except pynvml.NVMLError as exc:
        gpus.log(f"GPU {index}: error clearing MIG config, erroneous devices may persist: {exc}")
    raise ApplyError(f"GPU {index}: error attempting multiple config orderings: {errors[-1] if errors else ''}")


def apply_config(entries: list[Entry], gpus: Gpus) -> None:
    for entry, index in walk(entries, gpus.device_ids()):
        mode = gpus.mig_mode(index)
        if mode is None:
            if entry.devices is None or not entry.mig_enabled:
                continue
            raise ApplyError(f"GPU {index}: cannot set MIG config on non MIG-capable GPU")
        if entry.mig_enabled and mode[0] == 0:
            raise ApplyError(f"GPU {index}: unable to apply MIG config with MIG mode disabled")
        if not entry.mig_enabled:
            if mode[0] == 1:
                raise ApplyError(f"GPU {index}: MIG mode is currently enabled, but the configuration "
                                 "specifies it should be disabled")
            continue
        if gpus.current_config(index) == Counter(entry.mig_devices):
            continue
        set_config(gpus, index, entry.mig_devices)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--debug", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("assert", "apply"):
        cmd = sub.add_parser(command)
        cmd.add_argument("-f", "--config-file", required=True)
        cmd.add_argument("-c", "--selected-config", required=True)
        cmd.add_argument("-m", "--mode-only", action="store_true")
        if command == "assert":
            cmd.add_argument("--valid-config", action="store_true")
    args = parser.parse_args(argv)
    try:
        with open(args.config_file, encoding="utf-8") as handle:
            entries = select_config(parse_spec(handle.read()), args.selected_config)
        if args.command == "assert" and args.valid_config:
            return 0
        gpus = Gpus(debug=args.debug)
        if args.command == "assert":
            problems = (mode_problems if args.mode_only else config_problems)(entries, gpus)
            for problem in problems:
                gpus.log(problem)
            if problems:
                print("Assertion failure: selected configuration not currently applied", file=sys.stderr)
            return 1 if problems else 0
        if mode_problems(entries, gpus):
            apply_mode(entries, gpus)
        if not args.mode_only and config_problems(entries, gpus):
            apply_config(entries, gpus)
        print("MIG configuration applied successfully")
        return 0
    except (OSError, SpecError, ApplyError, pynvml.NVMLError) as exc:
        print(f"mig-parted: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
