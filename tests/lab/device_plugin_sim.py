# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A SIMULATED NVIDIA device plugin + GPU feature discovery for the lab. Test-only.

The lab's GPU nodes are kwok nodes: no kubelet, no GPU, no container runs there, so the
real NVIDIA k8s-device-plugin and GPU feature discovery (GFD) that the GPU Operator
deploys cannot run. This controller stands in for them, and only for what the
time-slicing role observes: it reads the sharing config the way the plugin does and
writes the node's capacity / allocatable and GFD labels the way the plugin and GFD
document them. It proves nothing about the real plugin; it lets the tests prove the
collection's side (ConfigMap, ClusterPolicy reference, node labels, validation).

What it does, per GPU node (a node with an ``nvidia.com/gpu.count`` label), each pass:
  1. ClusterPolicy ``cluster-policy`` ``spec.devicePlugin.config`` gives the ConfigMap
     (in the operator's namespace, --namespace) and its default key;
  2. the node's key is its ``nvidia.com/device-plugin.config`` label, else the default;
     a key the ConfigMap lacks, or a config the plugin would refuse: the node is left as
     it is (the plugin's config manager keeps the previous config); no ClusterPolicy or
     no config reference: the plugin's built-in defaults, no sharing;
  3. for ``nvidia.com/gpu`` and each ``nvidia.com/mig-<profile>`` the node has devices of
     (``<name>.count`` label): shared with N replicas -> allocatable and capacity
     ``<name>`` = devices x N, or ``<name>.shared`` with ``renameByDefault: true`` (the one
     rename the plugin applies; ``<name>`` then drops to 0 as the kubelet keeps it);
     labels ``<name>.replicas`` = N, ``<name>.sharing-strategy`` = time-slicing | mps,
     ``<name>.product`` + ``-SHARED`` when not renamed. Unshared: devices, 1, none, plain.

It is written from the plugin's documented behaviour and its config API, independently of
plugins/module_utils/device_plugin_config.py (which the role validates with), so the lab
checks one against the other rather than a module against itself.

    python tests/lab/device_plugin_sim.py sync     one pass, then exit (prints what it changed)
    python tests/lab/device_plugin_sim.py run      a pass every --interval seconds, in the foreground
    python tests/lab/device_plugin_sim.py start    run in the background: pid file and log in $FGPU_LAB_DIR
    python tests/lab/device_plugin_sim.py stop     stop the background one
    python tests/lab/device_plugin_sim.py status   say whether it runs

The background loop exits by itself when the lab's apiserver has been gone for a minute.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from collections import Counter

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gpusim"))
# The lab's paths, certificates and process conventions.
import lab  # noqa: E402  pylint: disable=wrong-import-position

NAME = "device-plugin-sim"
CONFIG_LABEL = "nvidia.com/device-plugin.config"
GPU = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
SHARED = ".shared"
GONE_AFTER_S = 60


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


def load_config(text: str) -> dict:
    """The sharing part of a device plugin config, as the plugin reads it; ValueError if it
    would refuse the file (its parse errors keep the node on its previous config)."""
    config = yaml.safe_load(text) or {}
    if config.get("version", "v1") != "v1":
        raise ValueError(f"unknown version: {config.get('version')}")
    sharing = config.get("sharing") or {}
    # The plugin: MPS when sharing.mps is set, else timeSlicing.
    kind = "mps" if sharing.get("mps") is not None else "timeSlicing"
    options = sharing.get(kind)
    if options is None:
        return {"strategy": "none", "rename": False, "resources": {}}
    resources = options.get("resources")
    if not resources:
        raise ValueError("no resources specified")
    replicas = {}
    for resource in resources:
        if int(resource.get("replicas", 0)) < 2:
            raise ValueError("number of replicas must be >= 2")
        name = resource["name"]
        replicas[name if "/" in name else "nvidia.com/" + name] = int(resource["replicas"])
    # Only renameByDefault renames (a per-resource rename is ignored with a warning).
    return {"strategy": "mps" if kind == "mps" else "time-slicing",
            "rename": bool(options.get("renameByDefault", False)), "resources": replicas}


NO_SHARING = {"strategy": "none", "rename": False, "resources": {}}


def simulated_devices(node_name: str) -> Counter | None:
    """What GFD and the plugin would read through NVML on the node's simulated GPUs
    (tests/gpusim; None for a node without one): whole GPUs (not in MIG mode) as
    nvidia.com/gpu, and each MIG device as nvidia.com/mig-<profile> (mixed strategy)."""
    path = lab.LAB_DIR / "gpusim" / f"{node_name}.state"
    if not path.exists():
        return None
    from gpusim import state as gpusim_state  # pylint: disable=import-outside-toplevel
    host = gpusim_state.load(str(path))
    profile_names = {(p.model, p.id): p.name for p in host.gi_profiles}
    models = {gpu.index: gpu.model for gpu in host.gpus}
    mig_gpus = {gpu.index for gpu in host.gpus if gpu.mig_current == gpusim_state.MIG_ENABLED}
    devices = Counter({GPU: len(host.gpus) - len(mig_gpus)})
    for ci in host.compute_instances:
        if ci.gpu in mig_gpus:
            gi = next(g for g in host.gpu_instances if (g.gpu, g.id) == (ci.gpu, ci.gi))
            devices[MIG_PREFIX + profile_names[(models[ci.gpu], gi.profile)]] += 1
    return devices


def gfd_mig_labels(labels: dict, devices: Counter) -> dict:
    """GFD's <resource>.count and .product labels for the MIG devices (None removes a
    stale one); the product is the GPU's with -MIG-<profile>, as GFD names it."""
    gpu_product = labels.get(GPU + ".product", "")
    gpu_product = gpu_product[: -len("-SHARED")] if gpu_product.endswith("-SHARED") else gpu_product
    want = {}
    for name, count in devices.items():
        if name.startswith(MIG_PREFIX):
            want[name + ".count"] = str(count)
            want[name + ".product"] = f"{gpu_product}-MIG-{name[len(MIG_PREFIX):]}"
    for key in labels:
        if key.startswith(MIG_PREFIX) and key.endswith((".count", ".product")) and key not in want:
            want[key] = None
    return want


def node_target(node: dict, config: dict, devices: Counter | None = None) -> tuple[dict, dict]:
    """(label changes, resource quantities) the plugin and GFD would publish for the node.
    ``devices``: the node's devices read from its simulated GPUs, else its GFD labels."""
    labels = node["metadata"].get("labels", {})
    if devices is None:
        devices = Counter({name[: -len(".count")]: int(value) for name, value in labels.items()
                           if name.endswith(".count") and (name == GPU + ".count" or
                                                           name.startswith(MIG_PREFIX))})
    names = [GPU] + sorted(name for name in devices if name.startswith(MIG_PREFIX))
    want_labels, want_resources = {}, {}
    for name in names:
        count = devices.get(name, 0)
        replicas = config["resources"].get(name, 1)
        shared = replicas > 1
        renamed = shared and config["rename"]
        product = labels.get(name + ".product")
        if product is not None:
            base = product[: -len("-SHARED")] if product.endswith("-SHARED") else product
            want_labels[name + ".product"] = base + ("-SHARED" if shared and not renamed else "")
        want_labels[name + ".replicas"] = str(replicas)
        want_labels[name + ".sharing-strategy"] = config["strategy"] if shared else "none"
        if renamed:
            want_resources[name] = "0"
            want_resources[name + SHARED] = str(count * replicas)
        else:
            want_resources[name] = str(count * replicas)
            want_resources[name + SHARED] = None
    return want_labels, want_resources


def status_resources(node: dict) -> set:
    status = node.get("status", {})
    return set(status.get("capacity", {})) | set(status.get("allocatable", {}))


def sync(api: lab.Api, namespace: str) -> list[str]:
    """One pass over every GPU node; returns what changed."""
    policy = api.call("GET", "/apis/nvidia.com/v1/clusterpolicies/cluster-policy")
    ref = ((policy or {}).get("spec", {}).get("devicePlugin") or {}).get("config") or {}
    data = None
    if ref.get("name"):
        cm = api.call("GET", f"/api/v1/namespaces/{namespace}/configmaps/{ref['name']}")
        if cm is None:
            log(f"ConfigMap {namespace}/{ref['name']} named by the ClusterPolicy does not exist; "
                "nodes left as they are (the plugin would not start)")
            return []
        data = cm.get("data") or {}
    changed = []
    for node in api.call("GET", "/api/v1/nodes")["items"]:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels", {})
        if GPU + ".count" not in labels:
            continue
        if data is None:
            config = NO_SHARING
        else:
            key = labels.get(CONFIG_LABEL) or ref.get("default") or ""
            if not key:
                config = NO_SHARING
            elif key not in data:
                log(f"{name}: config key {key!r} is not in the ConfigMap; node left as it is")
                continue
            else:
                try:
                    config = load_config(data[key])
                except (ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
                    log(f"{name}: config {key!r} would be refused by the plugin ({exc}); node left as it is")
                    continue
        devices = simulated_devices(name)
        gfd = gfd_mig_labels(labels, devices) if devices is not None else {}
        # The plugin works on the labels as GFD leaves them, then adds its own.
        view = {k: v for k, v in {**labels, **gfd}.items() if v is not None}
        want_labels, want_resources = node_target(
            dict(node, metadata=dict(node["metadata"], labels=view)), config, devices)
        want_labels = {**gfd, **want_labels}
        if devices is not None:
            # MIG resources that are gone: the plugin stops advertising them.
            for resource in status_resources(node):
                if resource.startswith(MIG_PREFIX) and resource not in want_resources:
                    want_resources[resource] = None
        label_patch = {k: v for k, v in want_labels.items() if labels.get(k) != v}
        status = node.get("status", {})
        res_patch = {}
        for field in ("capacity", "allocatable"):
            current = status.get(field, {})
            diff = {k: v for k, v in want_resources.items()
                    if current.get(k) != v and not (v is None and k not in current)}
            if diff:
                res_patch[field] = diff
        if label_patch:
            api.call("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": label_patch}})
        if res_patch:
            api.call("PATCH", f"/api/v1/nodes/{name}/status", {"status": res_patch})
        if label_patch or res_patch:
            alloc = res_patch.get("allocatable", {})
            changed.append(f"{name}: {config['strategy']} "
                           + ", ".join(f"{k}={v}" for k, v in sorted(alloc.items()) if v is not None)
                           + (f" labels {sorted(label_patch)}" if label_patch else ""))
    return changed


def cmd_sync(args) -> int:
    for line in sync(lab.Api(), args.namespace):
        print(line)
    return 0


def cmd_run(args) -> int:
    api = lab.Api()
    last_ok = time.monotonic()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    log(f"watching nodes and the device plugin config in namespace {args.namespace} "
        f"every {args.interval}s")
    while not stop:
        try:
            for line in sync(api, args.namespace):
                log(line)
            last_ok = time.monotonic()
        except (OSError, RuntimeError) as exc:
            if time.monotonic() - last_ok > GONE_AFTER_S:
                log(f"the apiserver has been unreachable for {GONE_AFTER_S}s ({exc}); exiting")
                return 1
        time.sleep(args.interval)
    log("stopped")
    return 0


def cmd_start(args) -> int:
    pid = lab.running_pid(NAME)
    if pid:
        log(f"already running, pid {pid}")
        return 0
    if not lab.kubeconfig_path().exists():
        log(f"no lab in {lab.LAB_DIR}; start it first (tests/scripts/test.sh lab-up)")
        return 1
    lab.log_file(NAME).parent.mkdir(parents=True, exist_ok=True)
    lab.pid_file(NAME).parent.mkdir(parents=True, exist_ok=True)
    with open(lab.log_file(NAME), "ab") as out:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--namespace",
                                 args.namespace, "--interval", str(args.interval), "run"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    lab.pid_file(NAME).write_text(str(proc.pid))
    time.sleep(0.5)
    if proc.poll() is not None:
        log(f"exited at start; see {lab.log_file(NAME)}:\n{lab.tail(lab.log_file(NAME))}")
        return 1
    log(f"started, pid {proc.pid}, log {lab.log_file(NAME)}")
    return 0


def cmd_stop(_args) -> int:
    pid = lab.running_pid(NAME)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and lab.running_pid(NAME):
            time.sleep(0.1)
        if lab.running_pid(NAME):
            os.kill(pid, signal.SIGKILL)
        log(f"stopped pid {pid}")
    lab.pid_file(NAME).unlink(missing_ok=True)
    return 0


def cmd_status(_args) -> int:
    pid = lab.running_pid(NAME)
    print(f"{NAME:26} {'running, pid ' + str(pid) if pid else 'stopped'}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespace", default=os.environ.get("FGPU_OPERATOR_NAMESPACE", "gpu-operator"),
                        help="the GPU Operator's namespace, where the ConfigMap lives")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("sync", cmd_sync), ("run", cmd_run), ("start", cmd_start),
                       ("stop", cmd_stop), ("status", cmd_status)):
        sub.add_parser(name).set_defaults(func=func)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (OSError, RuntimeError) as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
