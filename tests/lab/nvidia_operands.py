# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA's device plugin and GPU feature discovery, for real, on the lab's GPU nodes.

The lab's nodes are kwok nodes: no kubelet and no container runtime. This runs what the
GPU Operator's two DaemonSets would run on each node, as processes: NVIDIA's own
`nvidia-device-plugin`, `gpu-feature-discovery` and `config-manager` (built from
github.com/NVIDIA/k8s-device-plugin by tests/lab/build.sh), each node's pods in their own
mount and PID namespaces, against the node's simulated GPUs (tests/gpusim). The parts of
a node that are not NVIDIA's are stand-ins, kept small:

- which pods run where: the pods of the operator's DaemonSets `nvidia-device-plugin-daemonset`
  and `gpu-feature-discovery` (kwok runs them), with their containers and environment.
  While no operator controller runs, the lab stands in for the part of it that deploys
  them: it labels the GPU nodes (`nvidia.com/gpu.present` or NFD's NVIDIA PCI label)
  `nvidia.com/gpu.deploy.<operand>=true` where unset, and keeps the two DaemonSets as the
  operator renders them, from its own manifests (assets/ of its Go module, pinned in
  versions.env) and the ClusterPolicy the way controllers/object_controls.go transforms
  them (`MIG_STRATEGY` from spec.mig.strategy, the config-manager containers and
  `CONFIG_FILE` when spec.devicePlugin.config names a ConfigMap, spec.<operand>.env, CDI);
  a DaemonSet without the lab's mark is the real controller's and is left alone;
- the kubelet's part of a pod: ConfigMap volumes projected as the kubelet does (`..data`
  swapped atomically, refreshed every FGPU_LAB_KUBELET_SYNC_S seconds, default 60),
  emptyDir and hostPath volumes as directories under the lab (hostPath P of node N is
  <lab>/nodes/N/root/P), the fields of the downward API, containers restarted with the
  kubelet's back-off, init containers first;
- what the container runtime does: a volume mounted at a path that appears in the
  container's environment is found at its host directory (the variable is rewritten);
  /var/lib/kubelet/device-plugins and /var/run/cdi (paths the plugin uses without a flag) and
  /proc/driver/nvidia-caps are bind-mounted there in the pod's mount namespace; NVIDIA's
  container toolkit's library injection is LD_LIBRARY_PATH to the node's driver library;
  the pod's service account is the lab's admin kubeconfig; the device plugin container's
  entrypoint (wait for the operator validator's driver-ready file, export it) is done here;
- the kubelet's device manager: tests/lab/kubelet (fgpu-kubelet), one per node;
- NFD, which turns GFD's output file into node labels: GFD's label set replaces the one it
  applied before (tracked, as NFD does, in the node annotation
  nfd.node.kubernetes.io/feature-labels); other labels are left alone.

    nvidia_operands.py start     run in the background (pid and log under the lab dir)
    nvidia_operands.py stop      stop it and everything it started
    nvidia_operands.py status    say what runs, per node and pod
    nvidia_operands.py run       in the foreground
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402  pylint: disable=wrong-import-position

NAME = "nvidia-operands"
HERE = Path(__file__).resolve().parent
POLICY_API = "/apis/nvidia.com/v1/clusterpolicies"
OPERATOR_NAMESPACE = os.environ.get("FGPU_OPERATOR_NAMESPACE", "gpu-operator")
KUBELET_SYNC_S = float(os.environ.get("FGPU_LAB_KUBELET_SYNC_S", "60"))
GONE_AFTER_S = 60
# The kubelet's container restart back-off: 10 s doubling to 5 min, reset after 10 min up.
BACKOFF_S, BACKOFF_MAX_S, BACKOFF_RESET_S = 10.0, 300.0, 600.0
GRACE_S = 10.0
# The lab's mark on the DaemonSets it keeps while no operator controller runs: the hash
# of what it rendered.
SPEC_ANNOTATION = "lab.fractional.gpu/rendered-spec-hash"
# NFD's record of the labels it applied to a node.
NFD_LABELS_ANNOTATION = "nfd.node.kubernetes.io/feature-labels"
# GPU nodes as the operator recognises them (controllers/state_manager.go, gpuNodeLabels).
GPU_NODE_LABELS = {"feature.node.kubernetes.io/pci-10de.present": "true",
                   "feature.node.kubernetes.io/pci-0302_10de.present": "true",
                   "feature.node.kubernetes.io/pci-0300_10de.present": "true",
                   "nvidia.com/gpu.present": "true"}
LIBRARY_DIR = "usr/lib/x86_64-linux-gnu"  # where the driver's libnvidia-ml.so.1 sits in a node's root
GFD_OUTPUT = "/etc/kubernetes/node-feature-discovery/features.d/gfd"  # GFD's default --output-file
DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
# Paths the device plugin uses without a flag: its socket directory and where it writes
# CDI specs; the pod's volumes are bind-mounted there in its mount namespace.
FIXED_PATHS = (DEVICE_PLUGIN_DIR, "/var/run/cdi")
NVIDIA_CAPS = "/proc/driver/nvidia-caps"


class Operand:
    """One of the operator's DaemonSets that this runs for real."""

    def __init__(self, key, daemonset, asset, policy_field, main, deploy_label):
        self.key = key
        self.daemonset = daemonset  # its name, also its pods' `app` label
        self.asset = asset  # its manifest in the operator module's assets/
        self.policy_field = policy_field  # its section of the ClusterPolicy spec
        self.main = main  # the main container, which uses NVML
        self.deploy_label = deploy_label


OPERANDS = (
    Operand("device-plugin", "nvidia-device-plugin-daemonset", "state-device-plugin/0500_daemonset.yaml",
            "devicePlugin", "nvidia-device-plugin", "nvidia.com/gpu.deploy.device-plugin"),
    Operand("gpu-feature-discovery", "gpu-feature-discovery", "gpu-feature-discovery/0500_daemonset.yaml",
            "gfd", "gpu-feature-discovery", "nvidia.com/gpu.deploy.gpu-feature-discovery"),
)
# The executable each container of those pods runs (its image's command).
EXECUTABLES = {"nvidia-device-plugin": "nvidia-device-plugin", "gpu-feature-discovery": "gpu-feature-discovery",
               "config-manager": "config-manager", "config-manager-init": "config-manager"}


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


# --- the nodes' host side ---------------------------------------------------------------

def node_dir(node: str) -> Path:
    return lab.LAB_DIR / "nodes" / node


def node_root(node: str) -> Path:
    """The node's host filesystem: where its hostPath volumes live."""
    return node_dir(node) / "root"


def host_path(node: str, path: str) -> Path:
    return node_root(node) / path.lstrip("/")


def prepare_node(node: str) -> None:
    """What a GPU node's host holds before any pod runs: the driver's libraries as a driver
    package installs them (libnvidia-ml is the simulated NVML; libcuda an empty stand-in
    that nothing here loads, but NVIDIA's CDI spec generation lists it), the MIG
    capability minors the driver publishes, and the operator validator's status files for
    a driver installed on the host."""
    sys.path.insert(0, str(lab.REPO / "tests" / "gpusim"))
    from gpusim import procfs, state  # pylint: disable=import-outside-toplevel
    version = state.load(str(lab.LAB_DIR / "gpusim" / f"{node}.state")).host.driver_version
    libraries = host_path(node, LIBRARY_DIR)
    libraries.mkdir(parents=True, exist_ok=True)
    links = {f"libnvidia-ml.so.{version}": (lab.LAB_DIR / "gpusim" / "lib" / "libnvidia-ml.so.1").resolve(),
             "libnvidia-ml.so.1": f"libnvidia-ml.so.{version}", "libcuda.so.1": f"libcuda.so.{version}"}
    for name, target in links.items():
        link = libraries / name
        if not (link.is_symlink() and os.readlink(link) == str(target)):
            link.unlink(missing_ok=True)
            link.symlink_to(target)
    (libraries / f"libcuda.so.{version}").touch()
    caps = host_path(node, NVIDIA_CAPS)
    caps.mkdir(parents=True, exist_ok=True)
    (caps / "mig-minors").write_text(procfs.mig_minors())
    validations = host_path(node, "/run/nvidia/validations")
    validations.mkdir(parents=True, exist_ok=True)
    # validator/main.go createStatusFile for a host driver (root "/", seen at /host).
    (validations / "driver-ready").write_text(
        "IS_HOST_DRIVER=true\nNVIDIA_DRIVER_ROOT=/\nDRIVER_ROOT_CTR_PATH=/host\n"
        "NVIDIA_DEV_ROOT=/\nDEV_ROOT_CTR_PATH=/host\n")
    (validations / "toolkit-ready").write_text("")
    host_path(node, DEVICE_PLUGIN_DIR).mkdir(parents=True, exist_ok=True)


# --- which pods the operator would run --------------------------------------------------

def operator_assets() -> Path:
    """The operator module's assets/ directory, at the pinned version (already downloaded
    for its chart by tests/lab/operator_chart.sh; the hash is checked against the pin)."""
    pins = dict(line.split("=", 1) for line in (HERE / "versions.env").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    module = "github.com/NVIDIA/gpu-operator"
    out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{pins['GPU_OPERATOR_MODULE_VERSION']}"],
                         env=dict(os.environ, GONOSUMDB=module, GOFLAGS="-modcacherw"), capture_output=True,
                         text=True, check=False)
    info = json.loads(out.stdout or "{}")
    if info.get("Error") or info.get("Sum") != pins["GPU_OPERATOR_MODULE_SUM"]:
        raise RuntimeError(f"cannot read the GPU Operator module: {info.get('Error') or out.stderr.strip()}")
    return Path(info["Dir"]) / "assets"


def set_env(container: dict, name: str, value: str) -> None:
    """object_controls.go setContainerEnv: replace the variable, or append it."""
    for env in container.setdefault("env", []):
        if env["name"] == name:
            env.clear()
            env.update({"name": name, "value": value})
            return
    container["env"].append({"name": name, "value": value})


def rendered_pod_spec(operand: Operand, policy: dict, assets: Path) -> dict:
    """The pod spec of the operator's DaemonSet: its asset, transformed by the ClusterPolicy
    as TransformDevicePlugin / TransformGPUDiscoveryPlugin do (the parts that reach the
    processes: environment, config-manager containers, volumes)."""
    daemonset = yaml.safe_load((assets / operand.asset).read_text())
    spec = daemonset["spec"]["template"]["spec"]
    policy_spec = policy.get("spec") or {}
    section = policy_spec.get(operand.policy_field) or {}
    containers = spec["containers"]
    main = containers[0]
    if section.get("args"):
        main["args"] = section["args"]
    for env in section.get("env") or []:
        set_env(main, env["name"], env.get("value", ""))
    if operand.key == "device-plugin" and (policy_spec.get("gds") or {}).get("enabled"):
        set_env(main, "GDS_ENABLED", "true")
        set_env(main, "MOFED_ENABLED", "true")
    # Both operands take the device plugin's config (handleDevicePluginConfig).
    config = (policy_spec.get("devicePlugin") or {}).get("config") or {}
    if not config.get("name"):
        spec["initContainers"] = [c for c in spec.get("initContainers", []) if c["name"] != "config-manager-init"]
        spec["containers"] = containers = [c for c in containers if c["name"] != "config-manager"]
    else:
        set_env(main, "CONFIG_FILE", "/config/config.yaml")
        mounts = [{"name": "config", "mountPath": "/config"},
                  {"name": config["name"], "mountPath": "/available-configs"}]
        main.setdefault("volumeMounts", []).extend(mounts)
        spec["shareProcessNamespace"] = True
        spec.setdefault("volumes", []).extend([{"name": config["name"], "configMap": {"name": config["name"]}},
                                               {"name": "config", "emptyDir": {}}])
        for container in [*spec.get("initContainers", []), *containers]:
            if container["name"] in ("config-manager-init", "config-manager"):
                set_env(container, "DEFAULT_CONFIG", config.get("default") or "")
                set_env(container, "FALLBACK_STRATEGIES", "empty")
                container.setdefault("volumeMounts", []).extend(mounts)
    # applyMIGConfiguration
    strategy = (policy_spec.get("mig") or {}).get("strategy") or ""
    if strategy:
        set_env(main, "MIG_STRATEGY", strategy)
    if strategy != "none":
        set_env(main, "NVIDIA_MIG_MONITOR_DEVICES", "all")
    if operand.key == "device-plugin":
        if (policy_spec.get("cdi") or {}).get("enabled"):
            set_env(main, "CDI_ENABLED", "true")
            set_env(main, "DEVICE_LIST_STRATEGY", "envvar,cdi-annotations")
            set_env(main, "CDI_ANNOTATION_PREFIX", "nvidia.cdi.k8s.io/")
        root = ((section.get("mps") or {}).get("root") or "/run/nvidia/mps")
        if root != "/run/nvidia/mps":
            set_env(main, "MPS_ROOT", root)
            for volume in spec.get("volumes", []):
                if volume["name"] == "mps-root":
                    volume["hostPath"]["path"] = root
                elif volume["name"] == "mps-shm":
                    volume["hostPath"]["path"] = root + "/shm"
    # Images as gpuv1.ImagePath names them: the operand's, and the validator's for validation.

    def image(section):
        return "%s/%s:%s" % (section.get("repository", ""), section.get("image", ""), section.get("version", ""))
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        container["image"] = image(policy_spec.get("validator") or {}) if "validation" in container["name"] \
            else image(section if container is main else policy_spec.get("devicePlugin") or {})
    # The operator's service accounts do not exist without its controller: the default one.
    spec.pop("serviceAccountName", None)
    return spec


def operator_configmaps(operand: Operand, assets: Path) -> list[dict]:
    """ConfigMaps the operator creates with the DaemonSet (the device plugin's entrypoint)."""
    return [yaml.safe_load(path.read_text()) for path in (assets / operand.asset).parent.glob("*configmap*.yaml")]


def operand_enabled(policy: dict, operand: Operand) -> bool:
    return ((policy.get("spec") or {}).get(operand.policy_field) or {}).get("enabled") is not False


def selected(node: dict, operand: Operand) -> bool:
    """Whether the operator's DaemonSet would have a pod on the node."""
    labels = node["metadata"].get("labels") or {}
    if not any(labels.get(key) == value for key, value in GPU_NODE_LABELS.items()):
        return False
    return labels.get(operand.deploy_label, "true") == "true"


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def running(pod: dict) -> bool:
    return bool(not pod["metadata"].get("deletionTimestamp") and (pod.get("spec") or {}).get("nodeName")
                and (pod.get("status") or {}).get("phase") == "Running")


def reconcile_daemonset(api: lab.Api, operand: Operand, policy: dict | None, current: dict | None, nodes: list,
                        assets_dir) -> None:
    """While no operator controller runs, stand in for the part of it that deploys this
    operand: label the GPU nodes it selects `nvidia.com/gpu.deploy.<operand>=true` where
    unset, and keep its DaemonSet as the ClusterPolicy renders it (owned by the
    ClusterPolicy, so that uninstalling the operator removes it). The lab's
    controller-manager then runs the DaemonSet and kwok its pods. A DaemonSet without the
    lab's mark belongs to the real operator controller: it is left alone."""
    path = f"/apis/apps/v1/namespaces/{OPERATOR_NAMESPACE}/daemonsets"
    ours = current is not None and SPEC_ANNOTATION in (current["metadata"].get("annotations") or {})
    if current is not None and not ours:
        return
    if policy is None or not operand_enabled(policy, operand):
        if ours and not current["metadata"].get("deletionTimestamp"):
            api.call("DELETE", f"{path}/{operand.daemonset}")
        return
    namespace = api.call("GET", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}")
    if namespace is None or (namespace.get("status") or {}).get("phase") != "Active":
        return
    assets = assets_dir()
    owner = [{"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "name": policy["metadata"]["name"],
              "uid": policy["metadata"]["uid"]}]
    for configmap in operator_configmaps(operand, assets):
        configmap["metadata"].update(namespace=OPERATOR_NAMESPACE, ownerReferences=owner)
        name = configmap["metadata"]["name"]
        if api.call("GET", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/configmaps/{name}") is None:
            api.call("POST", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/configmaps", configmap)
    for node in nodes:
        labels = node["metadata"].get("labels") or {}
        if any(labels.get(k) == v for k, v in GPU_NODE_LABELS.items()) and operand.deploy_label not in labels:
            api.call("PATCH", f"/api/v1/nodes/{node['metadata']['name']}",
                     {"metadata": {"labels": {operand.deploy_label: "true"}}})
    daemonset = yaml.safe_load((assets / operand.asset).read_text())
    daemonset["spec"]["template"]["spec"] = rendered_pod_spec(operand, policy, assets)
    digest = spec_hash(daemonset["spec"])
    daemonset["metadata"].update(namespace=OPERATOR_NAMESPACE, ownerReferences=owner,
                                 annotations={SPEC_ANNOTATION: digest})
    if current is None:
        api.call("POST", path, daemonset)
    elif current["metadata"]["annotations"][SPEC_ANNOTATION] != digest:
        patch = {"metadata": {"annotations": {SPEC_ANNOTATION: digest}},
                 "spec": {"template": daemonset["spec"]["template"]}}
        api.call("PATCH", f"{path}/{operand.daemonset}", patch)


def desired_pods(api: lab.Api, assets_dir) -> dict:
    """(node, operand key) -> the operand's Running pod on that node."""
    result = {}
    policies = (api.call("GET", POLICY_API) or {}).get("items", []) \
        if api.call("GET", "/apis/nvidia.com/v1") is not None else []
    nodes = api.call("GET", "/api/v1/nodes")["items"]
    for operand in OPERANDS:
        found = api.call("GET", f"/apis/apps/v1/daemonsets?fieldSelector=metadata.name%3D{operand.daemonset}")
        daemonset = ((found or {}).get("items") or [None])[0]
        reconcile_daemonset(api, operand, (policies or [None])[0], daemonset, nodes, assets_dir)
        namespace = daemonset["metadata"]["namespace"] if daemonset else OPERATOR_NAMESPACE
        listed = api.call("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3D{operand.daemonset}")
        for pod in (listed or {}).get("items", []):
            if running(pod):
                result[(pod["spec"]["nodeName"], operand.key)] = pod
    return result


# --- the kubelet's part: volumes, environment, processes --------------------------------

def pod_dir(node: str, pod: dict) -> Path:
    return node_dir(node) / "pods" / pod["metadata"]["name"]


def volume_dirs(node: str, pod: dict) -> dict:
    """Volume name -> host directory (hostPath P: <node root>/P)."""
    dirs = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if "hostPath" in volume:
            path = volume["hostPath"]["path"]
            dirs[volume["name"]] = Path("/sys") if path == "/sys" else host_path(node, path)
        else:
            dirs[volume["name"]] = pod_dir(node, pod) / "volumes" / volume["name"]
    return dirs


def project_configmap(target: Path, data: dict) -> bool:
    """The kubelet's atomic writer: the keys as links into ..data, which is swapped in one
    rename. Returns whether anything changed."""
    current = target / "..data"
    if current.is_dir() and {p.name: p.read_text() for p in current.iterdir()} == data:
        return False
    target.mkdir(parents=True, exist_ok=True)
    stamp = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    stamp.mkdir()
    for key, value in data.items():
        (stamp / key).write_text(value)
    link = target / "..data_tmp"
    link.unlink(missing_ok=True)
    link.symlink_to(stamp.name)
    os.replace(link, current)
    for entry in target.iterdir():
        if entry.name.startswith("..") and entry.name not in ("..data", stamp.name):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        elif not entry.name.startswith("..") and entry.name not in data:
            entry.unlink()
    for key in data:
        if not (target / key).is_symlink():
            (target / key).symlink_to(f"..data/{key}")
    return True


def container_env(container: dict, pod: dict, node: str, dirs: dict, operand_main: str) -> dict:
    """The container's environment as its process gets it."""
    mounts = sorted(((m["mountPath"], dirs[m["name"]]) for m in container.get("volumeMounts") or []
                     if m["name"] in dirs), key=lambda m: -len(m[0]))

    def translate(value: str) -> str:
        for path, where in mounts:
            if value == path or value.startswith(path.rstrip("/") + "/"):
                return str(where) + value[len(path.rstrip("/")):]
        return value

    fields = {"spec.nodeName": node, "metadata.namespace": pod["metadata"]["namespace"],
              "metadata.name": pod["metadata"]["name"]}
    env = {"PATH": f"{lab_bin_dir()}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "HOSTNAME": node,
           lab.NODE_PROCESS_MARK: str(lab.LAB_DIR)}
    for item in container.get("env") or []:
        if "valueFrom" in item:
            field = ((item["valueFrom"] or {}).get("fieldRef") or {}).get("fieldPath")
            env[item["name"]] = fields.get(field, "")
        else:
            env[item["name"]] = translate(str(item.get("value", "")))
    if container["name"].startswith("config-manager"):
        # The pod's service account: the lab's credentials.
        env["KUBECONFIG"] = str(lab.kubeconfig_path())
    if container["name"] == operand_main:
        # NVIDIA's container toolkit makes the driver's libraries visible to the container.
        env["LD_LIBRARY_PATH"] = str(host_path(node, LIBRARY_DIR))
        env["FGPU_GPUSIM_STATE"] = str(lab.LAB_DIR / "gpusim" / f"{node}.state")
        if container["name"] == "gpu-feature-discovery" and "GFD_OUTPUT_FILE" not in env:
            env["GFD_OUTPUT_FILE"] = translate(GFD_OUTPUT)
    env["FGPU_POD_TRANSLATE"] = json.dumps(mounts and [[p, str(w)] for p, w in mounts])
    return env


def lab_bin_dir() -> Path:
    return Path(os.environ.get("FGPU_CACHE", Path.home() / ".cache" / "fractional-gpu")) / "bin" / "current"


def pod_plan(pod: dict, node: str, operand: Operand) -> dict:
    """What the pod's init process needs: its containers as processes and the mounts."""
    dirs = volume_dirs(node, pod)
    spec = pod.get("spec") or {}

    def process(container):
        return {"name": container["name"], "executable": EXECUTABLES.get(container["name"]),
                "env": container_env(container, pod, node, dirs, operand.main)}

    mounts = {}
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for mount in container.get("volumeMounts") or []:
            if mount["mountPath"] in FIXED_PATHS and mount["name"] in dirs:
                mounts[mount["mountPath"]] = str(dirs[mount["name"]])
    mounts[NVIDIA_CAPS] = str(host_path(node, NVIDIA_CAPS))
    return {"pod": pod["metadata"]["name"], "node": node, "dir": str(pod_dir(node, pod)),
            "mounts": mounts, "validations": str(host_path(node, "/run/nvidia/validations")),
            "init": [process(c) for c in spec.get("initContainers", [])],
            "containers": [process(c) for c in spec.get("containers", [])]}


# --- one pod, inside its namespaces (pid 1) ---------------------------------------------

def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def bind_fixed_path(target: str, source: str) -> None:
    """Bind ``source`` at ``target`` in this mount namespace; missing parents are made on
    a tmpfs over the deepest one that exists (only this pod sees it)."""
    path = Path(target)
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if ancestor != path:
        mount("-t", "tmpfs", "tmpfs", str(ancestor))
        path.mkdir(parents=True, exist_ok=True)
    mount("--bind", source, target)


class Container:
    """A container of the pod as a process, restarted with the kubelet's back-off."""

    def __init__(self, spec: dict, log_dir: Path):
        self.spec = spec
        self.log = log_dir / f"{spec['name']}.log"
        self.proc = None
        self.restarts = 0
        self.started = 0.0
        self.next_start = 0.0
        self.backoff = BACKOFF_S
        self.last_exit = None

    def start(self) -> None:
        env = dict(self.spec["env"])
        translate = json.loads(env.pop("FGPU_POD_TRANSLATE") or "[]")
        name = self.spec["name"]
        with open(self.log, "ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start {name}\n".encode())
            out.flush()
            if name == "toolkit-validation":
                argv = ["sh", "-c", f"until [ -f '{VALIDATIONS}/toolkit-ready' ]; do sleep 5; done"]
            elif name == "nvidia-device-plugin":
                # The operator's entrypoint.sh: wait for driver-ready, export it, exec.
                argv = [self.spec["executable"]]
                for line in (Path(VALIDATIONS) / "driver-ready").read_text().splitlines():
                    key, _sep, value = line.partition("=")
                    for path, where in translate:
                        if value == path or value.startswith(path.rstrip("/") + "/"):
                            value = where + value[len(path.rstrip("/")):]
                            break
                    env[key] = value
            elif self.spec["executable"]:
                argv = [self.spec["executable"]]
            else:
                argv = ["sleep", "infinity"]  # a container this lab does not run
            executable = shutil.which(argv[0], path=env["PATH"]) or argv[0]
            self.proc = subprocess.Popen(argv, executable=executable, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.started = time.monotonic()

    def start_if_due(self) -> None:
        """Starts the container unless it runs or waits out its back-off."""
        if self.proc is None and time.monotonic() >= self.next_start:
            if self.last_exit is not None:
                self.restarts += 1
            self.start()

    def exited(self, code: int) -> None:
        self.last_exit = code
        self.proc = None
        if time.monotonic() - self.started > BACKOFF_RESET_S:
            self.backoff = BACKOFF_S
        self.next_start = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX_S)

    def status(self, init: bool = False, stopped: bool = False) -> dict:
        if self.proc:
            state = "running"
        elif stopped:
            state = "terminated"
        elif init and self.last_exit == 0:
            state = "completed"
        else:
            state = "waiting" if self.last_exit is None else "back-off"
        return {"state": state, "restarts": self.restarts, "last_exit": self.last_exit}


VALIDATIONS = ""


def run_pod(plan_file: str) -> int:
    """The pod: pid 1 of its PID namespace, in its own mount namespace."""
    global VALIDATIONS  # pylint: disable=global-statement
    plan = json.loads(Path(plan_file).read_text())
    VALIDATIONS = plan["validations"]
    directory = Path(plan["dir"])
    for target, source in plan["mounts"].items():
        bind_fixed_path(target, source)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    status_file = directory / "status.json"

    def report(phase, containers):
        status = {"pod": plan["pod"], "phase": phase,
                  "containers": {c.spec["name"]: c.status(init=c in inits, stopped=phase == "Terminated")
                                 for c in containers}}
        tmp = status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=1))
        os.replace(tmp, status_file)

    def reap(containers):
        while True:
            try:
                pid, code = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for container in containers:
                if container.proc and container.proc.pid == pid:
                    container.proc.returncode = os.waitstatus_to_exitcode(code)
                    container.exited(container.proc.returncode)

    inits = [Container(spec, directory) for spec in plan["init"]]
    mains = [Container(spec, directory) for spec in plan["containers"]]
    for init in inits:
        while not stopping:
            if init.proc is None and init.last_exit == 0:
                break
            init.start_if_due()
            report("Pending", inits)
            time.sleep(0.2)
            reap(inits)
    while not stopping:
        for container in mains:
            container.start_if_due()
        report("Running", mains)
        time.sleep(0.2)
        reap(mains)
    for container in [*inits, *mains]:
        if container.proc:
            container.proc.terminate()
    deadline = time.monotonic() + GRACE_S
    while any(c.proc for c in [*inits, *mains]) and time.monotonic() < deadline:
        time.sleep(0.1)
        reap([*inits, *mains])
    for container in [*inits, *mains]:
        if container.proc:
            container.proc.kill()
    report("Terminated", [*inits, *mains])
    return 0


# --- the agent: pods and kubelets of every node -----------------------------------------

def die_with_parent() -> None:
    """In a child before exec: receive SIGTERM when the agent dies, however it dies."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def check_namespaces() -> None:
    """The pods need private mount and PID namespaces: root and util-linux's unshare."""
    probe = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
                            "sh", "-c", f"mount -t tmpfs tmpfs {NVIDIA_CAPS.rsplit('/', 1)[0]}"],
                           capture_output=True, text=True, check=False) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        raise RuntimeError("NVIDIA's device plugin needs its own mount and PID namespace per node "
                           "(`unshare --mount --pid`, as root) and this machine refuses it: "
                           + (probe.stderr.strip() if probe else "unshare (util-linux) is not installed"))


def stop_group(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group a child leads; SIGKILL what is left after ``timeout``."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def gfd_labels(text: str) -> dict:
    """A features.d file as NFD reads it: `name=value` lines; `#` lines are comments."""
    labels = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            labels[name if "/" in name else "feature.node.kubernetes.io/" + name] = value
    return labels


def label_patch(node: dict, labels: dict) -> dict | None:
    """The node patch that makes ``labels`` the feature labels NFD applied (None: nothing
    to do). Labels NFD applied before and no longer listed go; other labels stay."""
    meta = node["metadata"]
    current = meta.get("labels") or {}
    applied = [n for n in ((meta.get("annotations") or {}).get(NFD_LABELS_ANNOTATION) or "").split(",") if n]
    patch = {name: None for name in applied if name not in labels and name in current}
    patch.update({name: value for name, value in labels.items() if current.get(name) != value})
    annotation = ",".join(sorted(labels)) or None
    if not patch and annotation == ((meta.get("annotations") or {}).get(NFD_LABELS_ANNOTATION) or None):
        return None
    return {"metadata": {"labels": patch, "annotations": {NFD_LABELS_ANNOTATION: annotation}}}


class Agent:
    """Keeps every node's pods as the operator would have them, and their kubelets."""

    def __init__(self) -> None:
        self.api = lab.Api()
        self.pods = {}  # (node, operand key) -> run
        self.kubelets = {}  # node -> Popen
        self.waiting = set()  # pods that cannot start yet (logged once)
        self._assets = None

    @property
    def nodes(self) -> list[str]:
        """The lab's nodes (lab.py up writes them; a later up may add some)."""
        return [n["name"] for n in yaml.safe_load((lab.LAB_DIR / "gpusim" / "nodes.yaml").read_text())["nodes"]]

    def assets(self) -> Path:
        if self._assets is None:
            self._assets = operator_assets()
        return self._assets

    def start_kubelets(self) -> None:
        config = yaml.safe_load(lab.kubeconfig_path().read_text())
        server = config["clusters"][0]["cluster"]["server"]
        interval = os.environ.get("FGPU_LAB_KUBELET_STATUS_S", "10")
        for node in self.nodes:
            if node in self.kubelets and self.kubelets[node].poll() is None:
                continue
            prepare_node(node)
            logs = node_dir(node) / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            with open(logs / "kubelet.log", "ab") as out:
                self.kubelets[node] = subprocess.Popen(
                    [str(lab_bin_dir() / "fgpu-kubelet"), "--node", node,
                     "--dir", str(host_path(node, DEVICE_PLUGIN_DIR)), "--server", server,
                     "--ca", str(lab.pki("ca.crt")), "--cert", str(lab.pki("admin.crt")),
                     "--key", str(lab.pki("admin.key")), f"--status-interval={interval}s"],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, preexec_fn=die_with_parent,
                    env=dict(os.environ, **{lab.NODE_PROCESS_MARK: str(lab.LAB_DIR)}))

    def project(self, run: dict, force: bool = False) -> bool:
        """(Re)project the pod's ConfigMap volumes; False if one is missing at pod start."""
        pod = run["pod"]
        namespace = pod["metadata"]["namespace"]
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if "configMap" not in volume:
                continue
            name = volume["configMap"]["name"]
            cm = self.api.call("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
            if cm is None:
                if force:
                    return False  # the kubelet cannot mount it: the pod does not start
                continue  # the kubelet keeps what it mounted
            target = volume_dirs(run["node"], pod)[volume["name"]]
            if project_configmap(target, cm.get("data") or {}):
                log(f"{run['node']}: {pod['metadata']['name']}: ConfigMap {name} refreshed")
        run["synced"] = time.monotonic()
        return True

    def start_pod(self, key, pod) -> None:
        node, operand_key = key
        operand = next(o for o in OPERANDS if o.key == operand_key)
        directory = pod_dir(node, pod)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        run = {"pod": pod, "node": node, "uid": pod["metadata"]["uid"]}
        for name, where in volume_dirs(node, pod).items():
            if where != Path("/sys"):
                where.mkdir(parents=True, exist_ok=True)
        if not self.project(run, force=True):
            if key not in self.waiting:
                log(f"{node}: {pod['metadata']['name']}: waits for its ConfigMap")
                self.waiting.add(key)
            return
        self.waiting.discard(key)
        plan = directory / "plan.json"
        plan.write_text(json.dumps(pod_plan(pod, node, operand), indent=1))
        with open(directory / "pod.log", "ab") as out:
            run["proc"] = subprocess.Popen(
                ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
                 "--kill-child=SIGTERM", sys.executable, os.path.abspath(__file__), "pod", str(plan)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent, env=dict(os.environ, **{lab.NODE_PROCESS_MARK: str(lab.LAB_DIR)}))
        self.pods[key] = run
        log(f"{node}: started pod {pod['metadata']['name']}")

    def stop_pods(self, keys) -> None:
        runs = [self.pods.pop(key) for key in keys]
        for run in runs:
            try:
                os.killpg(run["proc"].pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for run in runs:
            stop_group(run["proc"], GRACE_S + 5)
            log(f"{run['node']}: stopped pod {run['pod']['metadata']['name']}")

    def sync(self) -> None:
        self.start_kubelets()
        desired = desired_pods(self.api, self.assets)
        self.stop_pods([key for key, run in self.pods.items()
                        if key not in desired or desired[key]["metadata"]["uid"] != run["uid"]])
        for key, run in list(self.pods.items()):
            if run["proc"].poll() is not None:
                log(f"{run['node']}: pod {run['pod']['metadata']['name']} ended (code {run['proc'].returncode})")
                del self.pods[key]
        for key, pod in desired.items():
            if key not in self.pods:
                self.start_pod(key, pod)
        now = time.monotonic()
        for run in self.pods.values():
            if now - run["synced"] >= KUBELET_SYNC_S:
                self.project(run)
        self.waiting &= set(desired)
        self.apply_labels()

    def apply_labels(self) -> None:
        """NFD's part: each node's GFD output file becomes its feature labels."""
        for node in self.nodes:
            output = host_path(node, GFD_OUTPUT)
            try:
                labels = gfd_labels(output.read_text())
            except FileNotFoundError:
                labels = {}
            current = self.api.call("GET", f"/api/v1/nodes/{node}")
            if current is None:
                continue
            patch = label_patch(current, labels)
            if patch:
                self.api.call("PATCH", f"/api/v1/nodes/{node}", patch)
                changed = sorted(patch["metadata"]["labels"])
                log(f"{node}: GFD labels {'applied' if labels else 'removed'} ({len(changed)} changed)")

    def shutdown(self) -> None:
        self.stop_pods(list(self.pods))
        for proc in self.kubelets.values():
            stop_group(proc, 5)
        for node in self.nodes:
            for socket in host_path(node, DEVICE_PLUGIN_DIR).glob("*.sock"):
                socket.unlink(missing_ok=True)


def cmd_run(_args) -> int:
    check_namespaces()
    agent = Agent()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    log(f"running NVIDIA's device plugin and GFD where the operator would, on {len(agent.nodes)} node(s)")
    last_ok = time.monotonic()
    try:
        while not stopping and time.monotonic() - last_ok < GONE_AFTER_S:
            try:
                agent.sync()
                last_ok = time.monotonic()
            except ConnectionError as exc:
                log(f"pass failed: {exc}")
            except RuntimeError as exc:  # an object going away mid-pass: the next pass
                log(f"pass failed: {exc}")
                last_ok = time.monotonic()
            time.sleep(1)
    finally:
        agent.shutdown()
    log("stopped" if stopping else "the apiserver is gone; stopped")
    return 0


def cmd_start(_args) -> int:
    if lab.running_pid(NAME):
        return 0
    check_namespaces()
    lab.log_file(NAME).parent.mkdir(parents=True, exist_ok=True)
    lab.pid_file(NAME).parent.mkdir(parents=True, exist_ok=True)
    with open(lab.log_file(NAME), "ab") as out:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "run"], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
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
        deadline = time.monotonic() + GRACE_S + 10
        while time.monotonic() < deadline and lab.running_pid(NAME):
            time.sleep(0.1)
    lab.pid_file(NAME).unlink(missing_ok=True)
    return 0


def cmd_status(_args) -> int:
    pid = lab.running_pid(NAME)
    print(f"{NAME:26} {'running, pid ' + str(pid) if pid else 'stopped'}")
    for status_file in sorted((lab.LAB_DIR / "nodes").glob("*/pods/*/status.json")):
        status = json.loads(status_file.read_text())
        if status["phase"] == "Terminated":
            continue
        containers = ", ".join(
            f"{name} {c['state']}" + (f" (restarts {c['restarts']}, last exit {c['last_exit']})" if c["restarts"] else "")
            for name, c in status["containers"].items())
        print(f"  {status_file.parts[-4]:14} {status['pod']:50} {status['phase']:10} {containers}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("run", cmd_run), ("start", cmd_start), ("stop", cmd_stop), ("status", cmd_status)):
        sub.add_parser(name).set_defaults(func=func)
    pod = sub.add_parser("pod", help="(internal) one pod, as pid 1 of its namespaces")
    pod.add_argument("plan")
    pod.set_defaults(func=lambda args: run_pod(args.plan))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (OSError, RuntimeError) as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
