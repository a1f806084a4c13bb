# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig-parted configuration: parse, select, resolve against a host's GPUs, validate.

The format is mig-parted's ``v1`` spec (github.com/NVIDIA/mig-parted, api/spec/v1)::

    version: v1
    mig-configs:
      NAME:
        - device-filter: "0x233010DE"   # optional; a string or a list of them
          devices: all                   # or a list of GPU indices; required
          mig-enabled: true              # required
          mig-devices: {"1g.10gb": 7}    # required when enabled ({} allowed), empty when not

As mig-parted does (cmd/nvidia-mig-parted: apply, assert), unknown fields are rejected,
``mig-devices`` must be empty when MIG is disabled, an entry applies to the GPUs its
``device-filter`` selects (all without one) among those its ``devices`` name, and a GPU that
no entry matches is left alone. Every config of the file is parsed (a format error anywhere
refuses the file, as mig-parted does), but only the selected one is held to the host's GPUs.

Stricter than mig-parted (which finds out only while applying, or never): every problem of
the selected config is reported before anything changes, all of them at once, each naming
the entry, the GPU (index and model) and the profile: a profile the GPU does not have, more
instances than the profile allows (checked before anything is expanded), more compute or
memory slices than the GPU has, more than one media-extension instance, a set of instances
no placement fits, a device index the host does not have (for entries whose device-filter
selects some GPU of the host; others are skipped, as mig-parted skips them), MIG asked of a
GPU that cannot do it, a GPU that two entries configure differently, and a config that
selects no GPU of the host at all (``mig-parted assert`` fails on it: "not all GPUs match";
``allow_no_match`` accepts it where that is expected).

The GPUs' profiles are the ones their driver reports when the GPU state carries them
(mig_state.effective_model), else the collection's table.

Profile keys: ``<g>g.<mem>gb`` (``1g.10gb``), with a compute-instance prefix
``<c>c.<g>g.<mem>gb`` (one GPU instance holding one compute instance of ``c`` slices, as
mig-parted creates them), and attributes as NVIDIA/go-nvlib parses them: ``+`` a list of
attributes (``+me``, ``+me.all``, ``+gfx``) or ``-`` the attributes a profile lacks
(``-me``), not both.

Stdlib only.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import (
    GPU_MODELS,
    compute_profiles,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_placement import find_placement
from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import effective_model

VERSION = "v1"
ENTRY_FIELDS = ("device-filter", "devices", "mig-enabled", "mig-devices")

# The options every module that reads a mig-parted configuration takes, documented in
# plugins/doc_fragments/mig_config.py.
MIG_CONFIG_ARGUMENT_SPEC = {
    "config": {"type": "dict"},
    "config_file": {"type": "path"},
    "config_name": {"type": "str"},
    "allow_no_match": {"type": "bool", "default": False},
}
MIG_CONFIG_CHOICE = {
    "mutually_exclusive": [("config", "config_file")],
    "required_one_of": [("config", "config_file")],
}


def mig_config_module_args(**argument_spec):
    """AnsibleModule keyword arguments: the mig-parted config options plus the module's own."""
    return dict(argument_spec=dict(MIG_CONFIG_ARGUMENT_SPEC, **argument_spec),
                supports_check_mode=True, **MIG_CONFIG_CHOICE)


_PROFILE_KEY = re.compile(r"^(?:(\d+)c\.)?(\d+)g\.(\d+)gb(?:([+-])(.*))?$")
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9.]*$")


class MigConfigError(Exception):
    """Invalid configuration; ``errors`` lists every problem found."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))

    def report(self, note=""):
        """'invalid MIG configuration (N problems<note>):' and one '- ' line per problem."""
        count = len(self.errors)
        return "invalid MIG configuration (%d problem%s%s):\n%s" % (
            count, "" if count == 1 else "s", note, "\n".join("- " + e for e in self.errors))


# ---------------------------------------------------------------------------------------
# Parsed form
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceFilter:
    device_id: int  # packed device<<16 | vendor, 0x233010DE
    subsystem_id: Optional[int] = None  # packed, mig-parted's "0x233010DE:0x16C110DE"

    def matches(self, pci_device_id, pci_subsystem_id):
        if pci_device_id != self.device_id:
            return False
        return self.subsystem_id is None or pci_subsystem_id == self.subsystem_id

    def __str__(self):
        text = "0x%08X" % self.device_id
        return text if self.subsystem_id is None else text + ":0x%08X" % self.subsystem_id


@dataclass(frozen=True)
class ProfileKey:
    """A parsed ``mig-devices`` key: GI profile name and compute-instance slices."""

    gi_profile: str  # "3g.40gb", "1g.10gb+me"
    ci_slices: Optional[int] = None  # None: one full-size compute instance

    @property
    def name(self):
        if self.ci_slices is None:
            return self.gi_profile
        return "%dc.%s" % (self.ci_slices, self.gi_profile)


@dataclass(frozen=True)
class ConfigEntry:
    position: int
    devices: object  # "all" or tuple of indices
    mig_enabled: bool
    mig_devices: Tuple[Tuple[str, int], ...] = ()  # (key as written, count), in file order
    device_filters: Tuple[DeviceFilter, ...] = ()


@dataclass
class MigPartedConfig:
    version: str
    configs: Dict[str, List[ConfigEntry]]


@dataclass(frozen=True)
class DesiredGpu:
    """What one GPU should look like."""

    index: int
    mig_enabled: bool
    instances: Tuple[ProfileKey, ...] = ()  # sorted by name
    model: Optional[str] = None
    source: str = ""  # the config entry that asked for it, "mig-configs.NAME[i]"

    def layout_names(self):
        return sorted(k.name for k in self.instances)

    def to_dict(self):
        return {"index": self.index, "model": self.model, "mig_enabled": self.mig_enabled,
                "instances": self.layout_names(), "source": self.source}


# ---------------------------------------------------------------------------------------
# Parsing (format only: no host needed)
# ---------------------------------------------------------------------------------------


def parse_profile_key(key):
    """``'1c.3g.40gb+me'`` -> ProfileKey. Raises ValueError with the reason.

    Attributes follow NVIDIA/go-nvlib's grammar (pkg/nvlib/device/mig_profile.go): after
    ``+`` the attributes the profile has, after ``-`` those it lacks, comma separated, each
    a letter then letters, digits or dots, not ending with a dot, none twice. A prefix equal
    to the GI's own size (``3c.3g.40gb``) is the full-size CI and is normalised away, as
    mig-parted prints it.
    """
    if not isinstance(key, str):
        raise ValueError("profile key %r is not a string" % (key,))
    match = _PROFILE_KEY.match(key)
    if not match:
        raise ValueError("invalid profile %r: expected '<g>g.<mem>gb' such as '1g.10gb', "
                         "optionally with a compute-instance prefix ('1c.3g.40gb') and "
                         "attributes ('+me', '+me.all', '+gfx', '-me')" % key)
    c, g, gb, sign, attrs = match.groups()
    suffix = ""
    if sign is not None:
        listed = (attrs or "").split(",")
        bad = [a for a in listed if not _ATTRIBUTE.match(a) or a.endswith(".")]
        if bad or "+" in attrs or "-" in attrs:
            raise ValueError("profile %r: invalid attribute list '%s' (attributes are letters, "
                             "digits and dots, comma separated, after one '+' or one '-')"
                             % (key, attrs))
        if len(listed) != len(set(listed)):
            raise ValueError("profile %r: attribute listed twice" % key)
        suffix = sign + ",".join(sorted(listed))
    gi_profile = "%dg.%dgb%s" % (int(g), int(gb), suffix)
    ci = int(c) if c is not None else None
    if ci is not None and ci == int(g):
        ci = None
    if ci is not None and (ci < 1 or ci > int(g)):
        raise ValueError("profile %r: a compute instance of %d slices cannot sit in a %dg "
                         "GPU instance" % (key, ci, int(g)))
    return ProfileKey(gi_profile, ci)


def parse_device_filter(value):
    """``'0x233010DE'`` or ``'0x233010DE:0x16C110DE'`` -> DeviceFilter; ValueError if not."""
    if not isinstance(value, str):
        raise ValueError("device-filter item %r is not a string" % (value,))
    parts = value.strip().split(":")
    if len(parts) > 2:
        raise ValueError("invalid device-filter %r: expected '0x<device><vendor>' or "
                         "'0x<device><vendor>:0x<subdevice><subvendor>'" % value)
    ids = []
    for part in parts:
        try:
            number = int(part, 0)
        except ValueError:
            raise ValueError("invalid device-filter %r: '%s' is not a number; write it as "
                             "0x<device><vendor>, e.g. 0x233010DE" % (value, part))
        if number < 0 or number > 0xFFFFFFFF:
            raise ValueError("invalid device-filter %r: more than 32 bits" % value)
        if number <= 0xFFFF:
            raise ValueError("invalid device-filter %r: a bare device id; mig-parted wants "
                             "device and vendor, e.g. 0x%04X10DE" % (value, number))
        ids.append(number)
    return DeviceFilter(ids[0], ids[1] if len(ids) == 2 else None)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_entry(where, position, raw, errors):
    if not isinstance(raw, dict):
        errors.append("%s: an entry must be a mapping, got %s" % (where, type(raw).__name__))
        return None
    start = len(errors)
    for key in raw:
        if key not in ENTRY_FIELDS:
            errors.append("%s: unexpected field %r (allowed: %s)"
                          % (where, key, ", ".join(ENTRY_FIELDS)))
    for key in ("devices", "mig-enabled"):
        if key not in raw:
            errors.append("%s: missing required field %r" % (where, key))

    filters = []
    if "device-filter" in raw:
        value = raw["device-filter"]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            errors.append("%s: device-filter must be a string or a list of strings" % where)
            items = []
        for item in items:
            try:
                filters.append(parse_device_filter(item))
            except ValueError as exc:
                errors.append("%s: %s" % (where, exc))

    devices = raw.get("devices", "all")
    if isinstance(devices, str):
        if devices != "all":
            errors.append("%s: devices must be 'all' or a list of GPU indices, got %r"
                          % (where, devices))
    elif isinstance(devices, list) and all(_is_int(d) and d >= 0 for d in devices):
        devices = tuple(devices)
    else:
        errors.append("%s: devices must be 'all' or a list of GPU indices, got %r"
                      % (where, devices))

    enabled = raw.get("mig-enabled", False)
    if not isinstance(enabled, bool):
        errors.append("%s: mig-enabled must be true or false, got %r" % (where, enabled))

    mig_devices = raw.get("mig-devices")
    pairs = []
    if mig_devices is None:
        if enabled is True:
            errors.append("%s: missing required field 'mig-devices' when 'mig-enabled' is "
                          "true" % where)
    elif not isinstance(mig_devices, dict):
        errors.append("%s: mig-devices must be a mapping of profile to count" % where)
    else:
        for key, count in mig_devices.items():
            try:
                parse_profile_key(key)
            except ValueError as exc:
                errors.append("%s: mig-devices: %s" % (where, exc))
            if not _is_int(count) or count < 0:
                errors.append("%s: mig-devices: count of %r must be a whole number >= 0, got "
                              "%r" % (where, key, count))
            pairs.append((key, count))
        if enabled is False and mig_devices:
            errors.append("%s: MIG devices included when 'mig-enabled' is false" % where)

    if len(errors) != start:
        return None
    return ConfigEntry(position, devices, enabled, tuple(pairs), tuple(filters))


def parse_config(data):
    """A loaded mig-parted config (dict) -> MigPartedConfig; MigConfigError listing every
    format problem of every named config, as mig-parted refuses the whole file."""
    errors = []
    if not isinstance(data, dict):
        raise MigConfigError(["the MIG config must be a mapping with 'version' and "
                              "'mig-configs', got %s" % type(data).__name__])
    if "version" not in data:
        errors.append("missing 'version' field (expected %r)" % VERSION)
    elif data["version"] != VERSION:
        errors.append("unknown version %r (expected %r)" % (data["version"], VERSION))
    for key in data:
        if key not in ("version", "mig-configs"):
            errors.append("unexpected field %r (allowed: version, mig-configs)" % (key,))
    configs = {}
    raw_configs = data.get("mig-configs")
    if not isinstance(raw_configs, dict) or not raw_configs:
        errors.append("'mig-configs' must be a mapping with at least one named config")
        raw_configs = {}
    for name, raw_entries in raw_configs.items():
        where = "mig-configs.%s" % name
        if not isinstance(raw_entries, list) or not raw_entries:
            errors.append("%s: at least one entry is required" % where)
            continue
        entries = [_parse_entry("%s[%d]" % (where, i), i, raw, errors)
                   for i, raw in enumerate(raw_entries)]
        configs[str(name)] = entries
    if errors:
        raise MigConfigError(errors)
    return MigPartedConfig(data["version"], configs)


def select_config(config, name=None):
    """(name, entries) of the config called ``name``; with no name, the only one.
    MigConfigError when it is missing or ambiguous."""
    names = sorted(config.configs)
    if not name:
        if len(names) == 1:
            return names[0], config.configs[names[0]]
        raise MigConfigError(["config_name is required when the file holds more than one "
                              "config (%s)" % ", ".join(names)])
    if name not in config.configs:
        raise MigConfigError(["selected mig-config %r not present; available: %s"
                              % (name, ", ".join(names))])
    return name, config.configs[name]


# ---------------------------------------------------------------------------------------
# Validation against a GPU model
# ---------------------------------------------------------------------------------------


def validate_gpu_layout(label, model, mig_devices):
    """Check ``mig-devices`` pairs against a MIG-capable GpuModel.

    :param label: how errors name the GPU, e.g. "GPU 3 (H100-SXM5-80GB)".
    :returns: (tuple of ProfileKey sorted by name, list of errors). The keys are only
        meaningful when there are no errors. Counts are checked against each profile's
        limit before anything is expanded, so a huge count costs nothing.
    """
    errors = []
    wanted = []  # (ProfileKey, MigProfile, count)
    for key, count in mig_devices:
        if count == 0:
            continue
        try:
            parsed = parse_profile_key(key)
        except ValueError as exc:
            errors.append("%s: %s" % (label, exc))
            continue
        try:
            profile = model.profile(parsed.gi_profile)
        except KeyError:
            errors.append("%s: profile %r does not exist on %s (valid: %s)"
                          % (label, key, model.key, ", ".join(p.name for p in model.profiles)))
            continue
        if parsed.ci_slices is not None:
            sizes = [c.compute_slices for c in compute_profiles(profile)]
            if parsed.ci_slices not in sizes:
                errors.append("%s: profile %r: no compute instance of %d slices in a %s GPU "
                              "instance (sizes: %s)" % (label, key, parsed.ci_slices,
                                                        profile.name,
                                                        ", ".join(str(s) for s in sizes)))
                continue
        wanted.append((ProfileKey(profile.name, parsed.ci_slices), profile, count))

    per_profile = Counter()
    for _key, profile, count in wanted:
        per_profile[profile.name] += count
    for name, count in sorted(per_profile.items()):
        limit = model.profile(name).max_instances
        if count > limit:
            errors.append("%s: profile %r: %d instances requested, %s allows at most %d"
                          % (label, name, count, model.key, limit))
    if errors:
        return (), errors

    keys = [key for key, _profile, count in wanted for _copy in range(count)]
    profiles = [profile for _key, profile, count in wanted for _copy in range(count)]
    media = [p.name for p in profiles if p.media_extensions]
    if len(media) > 1:
        errors.append("%s: %d instances with media extensions (%s); a GPU has one set of "
                      "media engines, so at most one '+me' or '+me.all' instance"
                      % (label, len(media), ", ".join(sorted(media))))
    compute = sum(p.compute_slices for p in profiles)
    if compute > model.compute_slices:
        errors.append("%s: %d compute slices requested (%s), %s has %d"
                      % (label, compute, _summary(keys), model.key, model.compute_slices))
    memory = sum(p.memory_slices for p in profiles)
    if memory > model.memory_slices:
        errors.append("%s: %d memory slices requested (%s), %s has %d"
                      % (label, memory, _summary(keys), model.key, model.memory_slices))
    if not errors and profiles and find_placement(profiles, model.memory_slices) is None:
        errors.append("%s: no placement of %s fits the GPU: each profile has fixed start "
                      "slots (nvidia-smi mig -lgipp) and every assignment overlaps"
                      % (label, _summary(keys)))
    return tuple(sorted(keys, key=lambda k: k.name)), errors


def _summary(keys):
    counts = Counter(key.name for key in keys)
    return ", ".join("%s x%d" % (name, n) for name, n in sorted(counts.items()))


# ---------------------------------------------------------------------------------------
# Resolution against the host
# ---------------------------------------------------------------------------------------


def _gpu_label(gpu, model):
    name = model.key if model else (getattr(gpu, "name", "") or "unknown model")
    return "GPU %d (%s)" % (gpu.index, name)


def _passes_filter(entry, gpu):
    return not entry.device_filters or any(
        f.matches(gpu.pci_device_id, getattr(gpu, "pci_subsystem_id", None))
        for f in entry.device_filters)


def resolve(name, entries, gpus, allow_no_match=False):
    """Desired state per GPU for the selected config, as mig-parted reads it.

    :param name: the config's name (for messages).
    :param entries: its ConfigEntry list.
    :param gpus: the host's GPUs (mig_state.GpuState: ``index``, ``name``,
        ``pci_device_id``, ``pci_subsystem_id``, ``profiles``...).
    :param allow_no_match: a config that selects no GPU of the host is accepted (with a
        warning) instead of refused.
    :returns: ({index: DesiredGpu} for every GPU some entry matches, [warnings]).
    :raises MigConfigError: with every problem found.
    """
    errors, warnings = [], []
    desired = {}
    indices = sorted(g.index for g in gpus)
    models = {}
    for gpu in gpus:
        model, notes = effective_model(gpu)
        models[gpu.index] = model
        warnings.extend(notes)
    for entry in entries:
        where = "mig-configs.%s[%d]" % (name, entry.position)
        # mig-parted walks each entry over the GPUs its device-filter selects: an entry for
        # another model is skipped whole, its device indices unchecked.
        filtered = [g for g in gpus if _passes_filter(entry, g)]
        if not filtered:
            continue
        if entry.devices != "all":
            for index in entry.devices:
                if index not in indices:
                    errors.append("%s: device index %d out of range: the host has %d GPU(s)%s"
                                  % (where, index, len(indices),
                                     " (indices %d-%d)" % (indices[0], indices[-1])
                                     if indices else ""))
        matched = [g for g in filtered if entry.devices == "all" or g.index in entry.devices]
        for gpu in matched:
            model = models[gpu.index]
            label = _gpu_label(gpu, model)
            if entry.mig_enabled:
                if model is None:
                    errors.append("%s: %s: unknown GPU model (PCI device id %s) and its driver "
                                  "reports no MIG profiles (known models: %s)"
                                  % (where, label, _hex(gpu), ", ".join(sorted(GPU_MODELS))))
                    continue
                if not model.mig_capable:
                    errors.append("%s: %s is not MIG capable (%s); mig-enabled must be false "
                                  "for it, or exclude it with device-filter or devices"
                                  % (where, label, model.product_name))
                    continue
                keys, problems = validate_gpu_layout("%s: %s" % (where, label), model,
                                                     entry.mig_devices)
                errors.extend(problems)
                if problems:
                    continue
                wanted = DesiredGpu(gpu.index, True, keys, model.key, where)
            else:
                wanted = DesiredGpu(gpu.index, False, (), model.key if model else None, where)
            previous = desired.get(gpu.index)
            if previous is not None and (previous.mig_enabled, previous.instances) != (
                    wanted.mig_enabled, wanted.instances):
                errors.append("%s: %s is also matched by %s with a different layout (%s vs %s)"
                              % (where, label, previous.source, _describe(previous),
                                 _describe(wanted)))
                continue
            desired.setdefault(gpu.index, wanted)
    if not desired and not errors:
        text = ("MIG config %r selects none of this host's %d GPU(s) (%s): no entry's "
                "device-filter and devices match them, so nothing would be configured "
                "('mig-parted assert' fails the same way)"
                % (name, len(gpus), ", ".join("%s %s" % (_gpu_label(g, models[g.index]),
                                                         _hex(g)) for g in sorted(gpus, key=lambda g: g.index))))
        if not allow_no_match:
            errors.append(text + "; check the device-filter ids (0x<device><vendor>) or set "
                                 "allow_no_match where this is expected")
        else:
            warnings.append(text)
    elif desired and len(desired) < len(gpus):
        warnings.append("MIG config %r leaves GPU(s) %s of this host alone (no entry matches "
                        "them; 'mig-parted assert' would report the host as not matching)"
                        % (name, ", ".join(str(g.index) for g in sorted(gpus, key=lambda g: g.index)
                                           if g.index not in desired)))
    if errors:
        raise MigConfigError(errors)
    return desired, warnings


def _hex(gpu):
    value = getattr(gpu, "pci_device_id", None)
    return "unknown" if value is None else "0x%08X" % value


def _describe(desired):
    if not desired.mig_enabled:
        return "MIG disabled"
    return "MIG enabled: %s" % (", ".join(desired.layout_names()) or "no instances")


def desired_from_config(data, config_name, gpus, allow_no_match=False):
    """parse_config + select_config + resolve in one call.

    :returns: (selected name, {index: DesiredGpu}, warnings).
    """
    config = parse_config(data)
    name, entries = select_config(config, config_name)
    desired, warnings = resolve(name, entries, gpus, allow_no_match)
    return name, desired, warnings


def read_config_file(path):
    """Load a mig-parted config file (YAML, or JSON) from the managed host.

    JSON is read with the standard library; YAML needs PyYAML (MigConfigError if absent).
    """
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (IOError, OSError, UnicodeDecodeError) as exc:
        raise MigConfigError(["cannot read config_file %s: %s" % (path, exc)])
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml
    except ImportError:
        raise MigConfigError(["config_file %s is not JSON and PyYAML is not installed on the "
                              "managed host to read it as YAML" % path])
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MigConfigError(["config_file %s is not valid YAML: %s" % (path, exc)])


def load_config(config=None, config_file=None):
    """The config from a module's ``config`` (already a dict) or ``config_file`` option."""
    return config if config is not None else read_config_file(config_file)
