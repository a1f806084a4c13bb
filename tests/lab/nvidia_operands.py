# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's node runtime: NVIDIA's device plugin and GPU feature discovery, for real, in the
pods the GPU Operator deploys.

The lab's nodes are kwok nodes: no kubelet and no container runtime. NVIDIA's operator
controller (tests/lab/gpu_operator.py) creates the DaemonSets `nvidia-device-plugin-daemonset`
and `gpu-feature-discovery` on the nodes it labels `nvidia.com/gpu.deploy.<operand>=true`,
and kwok runs their pods. For every such pod that runs, this runs its containers as
processes, from the pod spec the controller rendered: NVIDIA's own `nvidia-device-plugin`,
`gpu-feature-discovery` and `config-manager` (built from github.com/NVIDIA/k8s-device-plugin
by tests/lab/build.sh), each pod in its own mount and PID namespaces, against its node's
simulated GPUs (tests/gpusim). A pod that leaves the node (a MIG change pauses the operands
through their deploy labels; an uninstall) stops its processes; its pod object goes only
once they have stopped, as with a kubelet (the pod carries the runtime's finalizer while its
containers run). A pod that comes back starts them again. The parts of a node that are not
NVIDIA's are stand-ins, kept small:

- the kubelet's part of a pod (tests/lab/pods.py, shared with the lab's other pod runners):
  the container's environment and the downward API, ConfigMap volumes refreshed as the
  kubelet does, the pod's service account (config-manager reads the node's labels as the
  pod's service account, in-cluster), containers restarted with the kubelet's back-off,
  init containers first; emptyDir and hostPath volumes as directories under the lab
  (hostPath P of node N is the node's machine's P, tests/lab/lab.py write_node_root);
- what the container runtime does: a volume mounted at a path that appears in the
  container's environment is found at its host directory (the variable is rewritten);
  /var/lib/kubelet/device-plugins and /var/run/cdi (paths the plugin uses without a flag),
  the service account directory and /proc/driver/nvidia-caps are bind-mounted there in the
  pod's mount namespace; NVIDIA's container toolkit's library injection is LD_LIBRARY_PATH
  to the node's driver library; the device plugin container's entrypoint (the operator's
  ConfigMap nvidia-device-plugin-entrypoint: wait for the validator's driver-ready file,
  export it, exec the plugin) is done here;
- the kubelet's device manager: tests/lab/kubelet (fgpu-kubelet), one per node;
- NFD: each node's labels are NFD's for its machine (lab.py nfd_labels) and the feature
  files in its features.d directory (where GFD writes its output file); a label NFD applied
  before and no longer has goes (tracked, as NFD does, in the node annotation
  nfd.node.kubernetes.io/feature-labels); other labels are left alone.

    nvidia_operands.py start     run in the background (pid and log under the lab dir)
    nvidia_operands.py stop      stop it and everything it started
    nvidia_operands.py status    say what runs, per node and pod
    nvidia_operands.py run       in the foreground
"""

from __future__ import annotations

import ctypes
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
import pods  # noqa: E402  pylint: disable=wrong-import-position

NAME = "nvidia-operands"
GRACE_S = 10.0
# Held by a pod while the runtime runs its containers: the pod object goes once they stopped.
FINALIZER = "lab.fractional.gpu/node-runtime"
FEATURES_DIR = "/etc/kubernetes/node-feature-discovery/features.d"  # NFD's local feature files
GFD_OUTPUT = FEATURES_DIR + "/gfd"  # GFD's default --output-file
# Paths the device plugin and in-cluster clients use without a flag: the kubelet's socket
# directory, where CDI specs go, the service account; bind-mounted in the pod's namespace.
FIXED_PATHS = (lab.DEVICE_PLUGIN_DIR, "/var/run/cdi")


class Operand:
    """One of the operator's DaemonSets whose pods this runs."""

    def __init__(self, key: str, app: str, main: str):
        self.key = key
        self.app = app  # its pods' `app` label (the DaemonSet's name)
        self.main = main  # the main container, which uses NVML


OPERANDS = (Operand("device-plugin", "nvidia-device-plugin-daemonset", "nvidia-device-plugin"),
            Operand("gpu-feature-discovery", "gpu-feature-discovery", "gpu-feature-discovery"))
# The executable each container of those pods runs (its image's command).
EXECUTABLES = {"nvidia-device-plugin": "nvidia-device-plugin", "gpu-feature-discovery": "gpu-feature-discovery",
               "config-manager": "config-manager", "config-manager-init": "config-manager"}


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


# --- the kubelet's part: volumes, environment, processes --------------------------------

def pod_dir(pod: dict) -> Path:
    return lab.LAB_DIR / "nodes" / pod["spec"]["nodeName"] / "pods" / pod["metadata"]["name"]


def volume_dirs(pod: dict) -> dict:
    """Volume name -> host directory (hostPath P: the node's machine's P)."""
    dirs = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if "hostPath" in volume:
            path = volume["hostPath"]["path"]
            dirs[volume["name"]] = Path("/sys") if path == "/sys" else lab.host_path(pod["spec"]["nodeName"], path)
        else:
            dirs[volume["name"]] = pod_dir(pod) / "volumes" / volume["name"]
    return dirs


def container_env(container: dict, pod: dict, dirs: dict, operand_main: str) -> dict:
    """The container's environment as its process gets it."""
    node = pod["spec"]["nodeName"]
    mounts = sorted(((m["mountPath"], dirs[m["name"]]) for m in container.get("volumeMounts") or []
                     if m["name"] in dirs), key=lambda m: -len(m[0]))

    def translate(value: str) -> str:
        for path, where in mounts:
            if value == path or value.startswith(path.rstrip("/") + "/"):
                return str(where) + value[len(path.rstrip("/")):]
        return value

    env = {"PATH": f"{lab_bin_dir()}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "HOSTNAME": node,
           lab.NODE_PROCESS_MARK: str(lab.LAB_DIR), **pods.container_env(pod, container, translate)}
    if container["name"] == operand_main:
        # NVIDIA's container toolkit makes the driver's libraries visible to the container.
        env["LD_LIBRARY_PATH"] = str(lab.host_path(node, lab.DRIVER_LIBRARY_DIR))
        env["FGPU_GPUSIM_STATE"] = str(lab.gpusim_dir() / f"{node}.state")
        if container["name"] == "gpu-feature-discovery" and "GFD_OUTPUT_FILE" not in env:
            env["GFD_OUTPUT_FILE"] = translate(GFD_OUTPUT)
    env["FGPU_POD_TRANSLATE"] = json.dumps(mounts and [[p, str(w)] for p, w in mounts])
    return env


def lab_bin_dir() -> Path:
    return Path(os.environ.get("FGPU_CACHE", Path.home() / ".cache" / "fractional-gpu")) / "bin" / "current"


def pod_plan(pod: dict, operand: Operand) -> dict:
    """What the pod's init process needs: its containers as processes and the mounts."""
    node = pod["spec"]["nodeName"]
    dirs = volume_dirs(pod)
    spec = pod.get("spec") or {}

    def process(container):
        return {"name": container["name"], "executable": EXECUTABLES.get(container["name"]),
                "env": container_env(container, pod, dirs, operand.main)}

    mounts = {}
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for volume_mount in container.get("volumeMounts") or []:
            if volume_mount["mountPath"] in FIXED_PATHS and volume_mount["name"] in dirs:
                mounts[volume_mount["mountPath"]] = str(dirs[volume_mount["name"]])
    mounts[lab.NVIDIA_CAPS] = str(lab.host_path(node, lab.NVIDIA_CAPS))
    if spec.get("automountServiceAccountToken") is not False:
        mounts[pods.SERVICE_ACCOUNT_DIR] = str(pod_dir(pod) / "serviceaccount")
    return {"pod": pod["metadata"]["name"], "node": node, "dir": str(pod_dir(pod)),
            "mounts": mounts, "validations": str(lab.host_path(node, "/run/nvidia/validations")),
            "init": [process(c) for c in spec.get("initContainers", [])],
            "containers": [process(c) for c in spec.get("containers", [])]}


# --- one pod, inside its namespaces (pid 1) ---------------------------------------------

def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def bind_fixed_path(target: str, source: str, tmpfs: list[Path]) -> None:
    """Bind ``source`` at ``target`` in this mount namespace; missing parents are made on
    a tmpfs over the deepest one that exists (only this pod sees it), unless that is on a
    tmpfs made before (``tmpfs``, which this extends)."""
    path = Path(target)
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if ancestor != path:
        if not any(ancestor == made or made in ancestor.parents for made in tmpfs):
            mount("-t", "tmpfs", "tmpfs", str(ancestor))
            tmpfs.append(ancestor)
        path.mkdir(parents=True, exist_ok=True)
    mount("--bind", source, target)


class Container:
    """A container of the pod as a process, restarted with the kubelet's back-off."""

    def __init__(self, spec: dict, log_dir: Path, init: bool = False):
        self.spec = spec
        self.init = init
        self.log = log_dir / f"{spec['name']}.log"
        self.proc = None
        self.backoff = pods.Backoff()
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
        self.backoff.started()

    def start_if_due(self) -> None:
        """Starts the container unless it runs, completed (init) or waits out its back-off."""
        if self.proc is None and not self.completed and self.backoff.due():
            self.start()

    @property
    def completed(self) -> bool:
        return self.init and self.last_exit == 0

    def exited(self, code: int) -> None:
        self.last_exit = code
        self.proc = None
        if not self.completed:
            self.backoff.exited()

    def status(self, stopped: bool = False) -> dict:
        if self.proc:
            state = "running"
        elif stopped:
            state = "terminated"
        elif self.completed:
            state = "completed"
        else:
            state = "waiting" if self.last_exit is None else "back-off"
        return {"state": state, "restarts": self.backoff.restarts, "last_exit": self.last_exit}


VALIDATIONS = ""


def run_pod(plan_file: str) -> int:
    """The pod: pid 1 of its PID namespace, in its own mount namespace."""
    global VALIDATIONS  # pylint: disable=global-statement
    plan = json.loads(Path(plan_file).read_text())
    VALIDATIONS = plan["validations"]
    directory = Path(plan["dir"])
    tmpfs = []
    for target, source in plan["mounts"].items():
        bind_fixed_path(target, source, tmpfs)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    status_file = directory / "status.json"

    def report(phase, containers):
        status = {"pod": plan["pod"], "phase": phase,
                  "containers": {c.spec["name"]: c.status(stopped=phase == "Terminated")
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

    inits = [Container(spec, directory, init=True) for spec in plan["init"]]
    mains = [Container(spec, directory) for spec in plan["containers"]]
    for init in inits:
        while not stopping and not init.completed:
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


# --- the agent: pods, kubelets and NFD of every node -------------------------------------

def die_with_parent() -> None:
    """In a child before exec: receive SIGTERM when the agent dies, however it dies."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def check_namespaces() -> None:
    """The pods need private mount and PID namespaces: root and util-linux's unshare."""
    probe = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
                            "sh", "-c", f"mount -t tmpfs tmpfs {lab.NVIDIA_CAPS.rsplit('/', 1)[0]}"],
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


def feature_labels(text: str) -> dict:
    """A features.d file as NFD reads it: `name=value` lines; `#` lines are comments."""
    labels = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            labels[name if "/" in name else "feature.node.kubernetes.io/" + name] = value
    return labels


def label_patch(node: dict, labels: dict) -> dict | None:
    """The node patch that makes ``labels`` the labels NFD applied (None: nothing to do).
    Labels NFD applied before and no longer has go; other labels stay."""
    meta = node["metadata"]
    current = meta.get("labels") or {}
    annotation = (meta.get("annotations") or {}).get(lab.NFD_LABELS_ANNOTATION) or None
    applied = [n for n in (annotation or "").split(",") if n]
    patch = {name: None for name in applied if name not in labels and name in current}
    patch.update({name: value for name, value in labels.items() if current.get(name) != value})
    wanted = ",".join(sorted(labels)) or None
    if not patch and wanted == annotation:
        return None
    return {"metadata": {"labels": patch, "annotations": {lab.NFD_LABELS_ANNOTATION: wanted}}}


def set_finalizer(api: lab.Api, pod: dict, held: bool) -> None:
    """Adds or removes the runtime's finalizer (on the pod as it is now; a pod that is gone
    needs nothing). A concurrent change fails on the resourceVersion: the next pass retries."""
    meta = pod["metadata"]
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
    current = api.call("GET", path)
    if current is None or current["metadata"]["uid"] != meta["uid"]:
        return
    finalizers = current["metadata"].get("finalizers") or []
    if (FINALIZER in finalizers) == held:
        return
    finalizers = [*finalizers, FINALIZER] if held else [f for f in finalizers if f != FINALIZER]
    api.call("PATCH", path, {"metadata": {"finalizers": finalizers or None,
                                          "resourceVersion": current["metadata"]["resourceVersion"]}})


class Run:
    """A pod whose containers run: its init process and what the kubelet keeps up for it."""

    def __init__(self, api: lab.Api, operand: Operand, pod: dict):
        self.operand = operand
        self.pod = pod
        self.volumes = pods.ConfigMapVolumes(api, pod, pod_dir(pod) / "volumes")
        self.token = pods.ServiceAccountToken(api, pod, pod_dir(pod) / "serviceaccount")
        self.proc: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return f"{self.pod['spec']['nodeName']}: pod {self.pod['metadata']['name']}"

    def refresh(self) -> bool:
        """The kubelet's periodic work: ConfigMap volumes and the token. False while a
        ConfigMap volume the pod needs to start is missing."""
        ready, changed = self.volumes.sync()
        for name in changed:
            if self.proc is not None:
                log(f"{self.name}: ConfigMap {name} refreshed")
        if ready and self.pod["spec"].get("automountServiceAccountToken") is not False:
            self.token.refresh()
        return ready


class Agent:
    """Runs the containers of every operand pod that runs, and each node's kubelet and NFD."""

    def __init__(self) -> None:
        self.api = lab.Api()
        self.host = lab.load_host()
        self.runs: dict[str, Run] = {}  # pod uid -> its run
        self.waiting: set[str] = set()  # pods that cannot start yet (logged once)
        self.kubelets: dict[str, subprocess.Popen] = {}  # node -> its device manager

    @property
    def nodes(self) -> list[str]:
        """The lab's nodes (lab.py up writes them; a later up may add some)."""
        return [n["name"] for n in yaml.safe_load((lab.gpusim_dir() / "nodes.yaml").read_text())["nodes"]]

    def start_kubelets(self) -> None:
        config = yaml.safe_load(lab.kubeconfig_path().read_text())
        server = config["clusters"][0]["cluster"]["server"]
        interval = os.environ.get("FGPU_LAB_KUBELET_STATUS_S", "10")
        for node in self.nodes:
            if node in self.kubelets and self.kubelets[node].poll() is None:
                continue
            logs = lab.LAB_DIR / "nodes" / node / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            with open(logs / "kubelet.log", "ab") as out:
                self.kubelets[node] = subprocess.Popen(
                    [str(lab_bin_dir() / "fgpu-kubelet"), "--node", node,
                     "--dir", str(lab.host_path(node, lab.DEVICE_PLUGIN_DIR)), "--server", server,
                     "--ca", str(lab.pki("ca.crt")), "--cert", str(lab.pki("admin.crt")),
                     "--key", str(lab.pki("admin.key")), f"--status-interval={interval}s"],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, preexec_fn=die_with_parent,
                    env=dict(os.environ, **{lab.NODE_PROCESS_MARK: str(lab.LAB_DIR)}))

    def apply_labels(self) -> None:
        """NFD's part: each node's labels for its machine and its feature files."""
        machine = lab.nfd_labels(self.host)
        for node in self.nodes:
            labels = dict(machine)
            for feature_file in sorted(lab.host_path(node, FEATURES_DIR).glob("*")):
                labels.update(feature_labels(feature_file.read_text()))
            current = self.api.call("GET", f"/api/v1/nodes/{node}")
            if current is None:
                continue
            patch = label_patch(current, labels)
            if patch:
                self.api.call("PATCH", f"/api/v1/nodes/{node}", patch)
                log(f"{node}: NFD labels applied ({len(patch['metadata']['labels'])} changed)")

    def start_pod(self, operand: Operand, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        run = Run(self.api, operand, pod)
        shutil.rmtree(pod_dir(pod), ignore_errors=True)
        pod_dir(pod).mkdir(parents=True)
        for where in volume_dirs(pod).values():
            if where != Path("/sys"):
                where.mkdir(parents=True, exist_ok=True)
        if not run.refresh():
            if uid not in self.waiting:
                log(f"{run.name} waits for its ConfigMap")
                self.waiting.add(uid)
            return
        self.waiting.discard(uid)
        set_finalizer(self.api, pod, held=True)
        plan = pod_dir(pod) / "plan.json"
        plan.write_text(json.dumps(pod_plan(pod, operand), indent=1))
        with open(pod_dir(pod) / "pod.log", "ab") as out:
            run.proc = subprocess.Popen(
                ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
                 "--kill-child=SIGTERM", sys.executable, os.path.abspath(__file__), "pod", str(plan)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent, env=dict(os.environ, **{lab.NODE_PROCESS_MARK: str(lab.LAB_DIR)}))
        self.runs[uid] = run
        log(f"{run.name} started")

    def stop_pods(self, uids) -> None:
        """Stops the pods' containers (all at once), then lets their pod objects go."""
        runs = [self.runs.pop(uid) for uid in uids]
        for run in runs:
            try:
                os.killpg(run.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for run in runs:
            stop_group(run.proc, GRACE_S + 5)
            set_finalizer(self.api, run.pod, held=False)
            log(f"{run.name} stopped")

    def sync(self) -> None:
        self.start_kubelets()
        self.apply_labels()
        listed = [(operand, pod) for operand in OPERANDS for pod in pods.list_pods(self.api, f"app={operand.app}")]
        running = {pod["metadata"]["uid"]: (operand, pod) for operand, pod in listed if pods.is_running(pod)}
        self.stop_pods([uid for uid in self.runs if uid not in running])
        for uid, run in list(self.runs.items()):
            if run.proc.poll() is not None:
                log(f"{run.name} ended (code {run.proc.returncode})")
                del self.runs[uid]
        for uid, (operand, pod) in running.items():
            if uid in self.runs:
                self.runs[uid].refresh()
            else:
                self.start_pod(operand, pod)
        self.waiting &= set(running)
        # Pods that left while this did not run them (a restart of the runtime).
        for _operand, pod in listed:
            if pod["metadata"].get("deletionTimestamp") and FINALIZER in (pod["metadata"].get("finalizers") or []):
                if pod["metadata"]["uid"] not in self.runs:
                    set_finalizer(self.api, pod, held=False)

    def shutdown(self) -> None:
        self.stop_pods(list(self.runs))
        for proc in self.kubelets.values():
            stop_group(proc, 5)
        for node in self.nodes:
            for socket in lab.host_path(node, lab.DEVICE_PLUGIN_DIR).glob("*.sock"):
                socket.unlink(missing_ok=True)


def run_agent() -> None:
    try:
        check_namespaces()
    except RuntimeError as exc:
        log(f"error: {exc}")
        sys.exit(1)
    agent = Agent()
    log(f"running the containers of NVIDIA's device plugin and GFD pods on {len(agent.nodes)} node(s)")
    pods.run_passes(agent.sync, log, finish=agent.shutdown)


def cmd_status() -> int:
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
    if argv[:1] == ["pod"] and len(argv) == 2:
        return run_pod(argv[1])  # one pod, as pid 1 of its namespaces (started by the agent)
    if argv == ["status"]:
        return cmd_status()
    return lab.runner_main(argv, __doc__, NAME, os.path.abspath(__file__), run_agent)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
