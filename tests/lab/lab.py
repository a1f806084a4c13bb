# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab: a real Kubernetes control plane on loopback with simulated GPU nodes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as local processes
(built by tests/lab/build.sh); kwok keeps the simulated nodes Ready and runs their pods.
Every node comes from one description file (tests/lab/nodes.yaml) and starts as a GPU node
does before the GPU Operator runs: no GPU labels or capacity of NVIDIA's. The lab's node
runtime (tests/lab/nvidia_operands.py) gives each node what NFD labels it with, its
kubelet's device manager, and runs NVIDIA's device plugin and GPU feature discovery in the
pods the GPU Operator's controller (run for real, tests/lab/gpu_operator.py) deploys.

    lab.py up [--extra-nodes N]   start (or find running) and create the nodes; N light
                                  scale nodes more (tests/lab/scale_nodes.py)
    lab.py down                   stop everything it started; leaves no process or port
    lab.py status                 say what runs
    lab.py scale N                exactly N light scale nodes on the running lab
    lab.py apiserver stop|start   crash the apiserver (SIGKILL; --when-label SELECTOR: as
                                  soon as a node matches), or start it again (faults)
    lab.py env                    print shell exports (KUBECONFIG, PATH, ...)
    lab.py collections            link this clone as ansible_collections/fractional/gpu, and
                                  check that Ansible resolves fractional.gpu to it alone
    lab.py audit [--since OFFSET] the audit log's offset now, or the collection's requests
                                  (and writes) since OFFSET, as JSON
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LAB_DIR = Path(os.environ.get("FGPU_LAB_DIR", REPO / ".lab"))
APISERVER_PORT = int(os.environ.get("FGPU_LAB_APISERVER_PORT", "16443"))
ETCD_PORT = int(os.environ.get("FGPU_LAB_ETCD_PORT", "12379"))
NODES_FILE = Path(os.environ.get("FGPU_LAB_NODES", HERE / "nodes.yaml"))
READY_TIMEOUT_S = 90
SERVICE_CIDR = "10.96.0.0/24"
# Marks the nodes kwok simulates; kwok manages only nodes carrying this annotation.
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")

# Processes in start order; down stops them in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# What runs in the containers of GPU Operator pods on kwok nodes, started with the lab (as a
# kubelet would run them, tests/lab/pods.py; each acts only while its pods exist): NVIDIA's
# operator controller, the node runtime with NVIDIA's device plugin and GPU feature
# discovery, and the stand-in for the operator's MIG manager.
POD_RUNNERS = {"gpu-operator": "gpu_operator.py", "nvidia-operands": "nvidia_operands.py",
               "mig-manager": "mig_manager.py", "scale-nodes": "scale_nodes.py"}
# The light scale nodes (up --extra-nodes): no simulated GPUs and no node runtime; the GPU
# Operator deploys nothing there (OPERANDS_OFF), and tests/lab/scale_nodes.py, one process
# for all of them, stands in for NFD, GFD and the device plugin (see its docstring).
LIGHT_LABEL = "lab.fractional.gpu/light"
OPERANDS_OFF = ("nvidia.com/gpu.deploy.operands", "false")
# Carried in the environment of every process the node runtime starts (kubelets, pods and
# containers), with the lab's directory, so that down finds them all.
NODE_PROCESS_MARK = "FGPU_LAB_NODE_PROCESS"
# NFD's record of the labels it applied to a node.
NFD_LABELS_ANNOTATION = "nfd.node.kubernetes.io/feature-labels"
# A node's machine (write_node_root): where the driver's libnvidia-ml.so.1 sits, the MIG
# capability minors the driver publishes, the kubelet's device plugin directory.
DRIVER_LIBRARY_DIR = "/usr/lib/x86_64-linux-gnu"
NVIDIA_CAPS = "/proc/driver/nvidia-caps"
DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"


class LabError(Exception):
    """A failure with a one-line message that says what failed and what to do."""


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


# --- paths and state --------------------------------------------------------------------

def pki(name: str) -> Path:
    return LAB_DIR / "pki" / name


def kubeconfig_path() -> Path:
    return LAB_DIR / "kubeconfig"


def audit_log() -> Path:
    return LAB_DIR / "logs" / "audit.log"


def light_nodes_file() -> Path:
    """The light scale nodes' description, for tests/lab/scale_nodes.py."""
    return LAB_DIR / "light-nodes.yaml"


def pid_file(component: str) -> Path:
    return LAB_DIR / "run" / f"{component}.pid"


def log_file(component: str) -> Path:
    return LAB_DIR / "logs" / f"{component}.log"


def running_pid(component: str) -> int | None:
    try:
        pid = int(pid_file(component).read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


# --- build ------------------------------------------------------------------------------

def build() -> Path:
    """Runs build.sh and operator_build.sh (cached) and returns the directory holding the
    lab's binaries."""
    try:
        out = subprocess.run([str(HERE / "build.sh"), "--print-bin"], check=True,
                             stdout=subprocess.PIPE, text=True)
        subprocess.run([str(HERE / "operator_build.sh")], check=True, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        raise LabError("building the lab's binaries failed (see the lines above); "
                       "fix the cause and run `tests/lab/lab.py up` again") from exc
    return Path(out.stdout.strip().splitlines()[-1])


# --- certificates -----------------------------------------------------------------------

def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_certs() -> None:
    """A throw-away CA, the apiserver's serving cert, an admin client cert and the
    service-account key pair. Regenerated only when missing."""
    if pki("admin.crt").exists():
        return
    if not shutil.which("openssl"):
        raise LabError("openssl is not on PATH; install it (apt-get install openssl)")
    pki("").mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", "/CN=fractional-gpu-lab-ca", "-keyout", str(pki("ca.key")),
            "-out", str(pki("ca.crt")))
    ext = pki("apiserver.ext")
    ext.write_text("subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
                   "DNS:kubernetes.default,DNS:kubernetes.default.svc,"
                   "DNS:kubernetes.default.svc.cluster.local\n"
                   "extendedKeyUsage=serverAuth\n")
    for name, subject, extfile in (
        ("apiserver", "/CN=kube-apiserver", ext),
        ("admin", "/O=system:masters/CN=lab-admin", None),
    ):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                "-keyout", str(pki(f"{name}.key")), "-out", str(pki(f"{name}.csr")))
        args = ["x509", "-req", "-in", str(pki(f"{name}.csr")), "-CA", str(pki("ca.crt")),
                "-CAkey", str(pki("ca.key")), "-CAcreateserial", "-days", "3650",
                "-out", str(pki(f"{name}.crt"))]
        if extfile:
            args += ["-extfile", str(extfile)]
        openssl(*args)
    openssl("genrsa", "-out", str(pki("sa.key")), "2048")
    openssl("rsa", "-in", str(pki("sa.key")), "-pubout", "-out", str(pki("sa.pub")))


def write_kubeconfig() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab", "cluster": {
            "server": f"https://127.0.0.1:{APISERVER_PORT}",
            "certificate-authority": str(pki("ca.crt"))}}],
        "users": [{"name": "lab-admin", "user": {
            "client-certificate": str(pki("admin.crt")),
            "client-key": str(pki("admin.key"))}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab-admin"}}],
        "current-context": "lab",
    }
    kubeconfig_path().write_text(yaml.safe_dump(config))


def write_audit_policy() -> None:
    """Every request once, when its answer is complete, at level Metadata (user, user agent,
    verb, resource; no bodies): what the benchmarks count. Leases are left out."""
    (LAB_DIR / "audit-policy.yaml").write_text(yaml.safe_dump({
        "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
        "omitStages": ["RequestReceived", "ResponseStarted"],
        # The nodes' heartbeats (kwok renews every node's lease) are noise here.
        "rules": [{"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
                  {"level": "Metadata"}]}))


# --- processes --------------------------------------------------------------------------

def component_args(component: str, bin_dir: Path) -> list[str]:
    kubeconfig = str(kubeconfig_path())
    if component == "etcd":
        return [str(bin_dir / "etcd"), "--data-dir", str(LAB_DIR / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                "--advertise-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PORT + 1}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PORT + 1}",
                "--initial-cluster", f"default=http://127.0.0.1:{ETCD_PORT + 1}",
                "--unsafe-no-fsync", "--quota-backend-bytes", str(2 * 1024 ** 3)]
    if component == "kube-apiserver":
        return [str(bin_dir / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={APISERVER_PORT}",
                f"--client-ca-file={pki('ca.crt')}",
                f"--tls-cert-file={pki('apiserver.crt')}",
                f"--tls-private-key-file={pki('apiserver.key')}",
                f"--service-account-key-file={pki('sa.pub')}",
                f"--service-account-signing-key-file={pki('sa.key')}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC", "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--endpoint-reconciler-type=none",
                f"--audit-policy-file={LAB_DIR / 'audit-policy.yaml'}",
                f"--audit-log-path={audit_log()}", "--audit-log-format=json",
                "--audit-log-maxsize=500", "--audit-log-maxbackup=2"]
    if component == "kube-controller-manager":
        return [str(bin_dir / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
                f"--service-account-private-key-file={pki('sa.key')}",
                f"--root-ca-file={pki('ca.crt')}", "--leader-elect=false",
                "--secure-port=0", "--controllers=*,-nodeipam,-service-lb-controller",
                "--concurrent-gc-syncs=5"]
    if component == "kube-scheduler":
        return [str(bin_dir / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
                "--leader-elect=false", "--secure-port=0"]
    if component == "kwok":
        return [str(bin_dir / "kwok"), f"--kubeconfig={kubeconfig}",
                f"--config={bin_dir / 'kwok-stages.yaml'}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={'='.join(KWOK_ANNOTATION)}",
                "--cidr=10.244.0.0/16", "--node-ip=10.0.0.1",
                "--node-lease-duration-seconds=40", "--server-address="]
    raise ValueError(component)


def start(component: str, bin_dir: Path) -> None:
    if running_pid(component):
        return
    log_file(component).parent.mkdir(parents=True, exist_ok=True)
    pid_file(component).parent.mkdir(parents=True, exist_ok=True)
    with open(log_file(component), "ab") as out:
        proc = subprocess.Popen(component_args(component, bin_dir), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    pid_file(component).write_text(str(proc.pid))
    time.sleep(0.3)
    if proc.poll() is not None:
        raise LabError(f"{component} exited at start (code {proc.returncode}); "
                       f"last lines of {log_file(component)}:\n{tail(log_file(component))}")


def start_background(component: str, script: str) -> subprocess.Popen | None:
    """Runs ``script run`` (a pod runner) in the background, in a process group of its own,
    as ``component`` (its pid and log in the lab directory). None if it runs already."""
    if running_pid(component):
        return None
    log_file(component).parent.mkdir(parents=True, exist_ok=True)
    pid_file(component).parent.mkdir(parents=True, exist_ok=True)
    with open(log_file(component), "ab") as out:
        proc = subprocess.Popen([sys.executable, script, "run"], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file(component).write_text(str(proc.pid))
    log(f"{component} started, pid {proc.pid}, log {log_file(component)}")
    return proc


def check_started(procs: dict[str, subprocess.Popen | None]) -> None:
    """Fails for a background process that exited at start (a moment after)."""
    time.sleep(0.5)
    for component, proc in procs.items():
        if proc is not None and proc.poll() is not None:
            raise LabError(f"{component} exited at start (code {proc.returncode}); last lines of "
                           f"{log_file(component)}:\n{tail(log_file(component))}")


def stop_components(components, timeout_s: float = 20) -> list[str]:
    """Stops the components' process groups together: SIGTERM, SIGKILL after ``timeout_s``.
    Returns those that ran."""
    running = {component: running_pid(component) for component in components}
    running = {component: pid for component, pid in running.items() if pid}
    for pid in running.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(running_pid(component) for component in running):
        time.sleep(0.1)
    for component, pid in running.items():
        if running_pid(component):
            os.killpg(pid, signal.SIGKILL)
    for component in components:
        pid_file(component).unlink(missing_ok=True)
    return list(running)


def runner_main(argv: list[str], doc: str, component: str, script: str, run) -> int:
    """The command line of a lab process that runs in the background: ``run`` (``run()`` in
    the foreground), ``start`` (``script run`` in the background), ``stop``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "start", "stop"])
    command = parser.parse_args(argv).command
    if command == "run":
        run()
    elif command == "start":
        check_started({component: start_background(component, script)})
    else:
        stop_components([component])
    return 0


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_all() -> list[str]:
    stopped = []
    if (LAB_DIR / "kai").is_dir():
        subprocess.run([str(HERE / "kai.sh"), "stop"], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    # The pod runners together (they need the apiserver to stop cleanly), then the control
    # plane in reverse start order.
    stopped += stop_components(POD_RUNNERS)
    for component in reversed(COMPONENTS):
        stopped += stop_components([component], timeout_s=15)
    return stopped


# --- readiness --------------------------------------------------------------------------

def api_get(path: str, timeout: float = 5) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(pki("ca.crt")))
    ctx.load_cert_chain(str(pki("admin.crt")), str(pki("admin.key")))
    url = f"https://127.0.0.1:{APISERVER_PORT}{path}"
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


class Api:
    """Just enough of the Kubernetes API for the lab's simulators, over the lab's admin
    client certificate; the apiserver's address comes from the lab's kubeconfig."""

    def __init__(self) -> None:
        self.ctx = ssl.create_default_context(cafile=str(pki("ca.crt")))
        self.ctx.load_cert_chain(str(pki("admin.crt")), str(pki("admin.key")))
        config = yaml.safe_load(kubeconfig_path().read_text())
        self.base = config["clusters"][0]["cluster"]["server"]

    def call(self, method: str, path: str, body: dict | None = None):
        """The decoded answer; None for 404."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH"
                           else "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise RuntimeError(f"{method} {path}: HTTP {exc.code} "
                               f"{exc.read().decode(errors='replace')[:300]}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectionError(f"the apiserver does not answer: {exc}") from exc


def wait_ready() -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if not running_pid("kube-apiserver"):
            raise LabError("kube-apiserver exited; last lines of its log:\n"
                           + tail(log_file("kube-apiserver")))
        try:
            status, body = api_get("/readyz")
            if status == 200:
                # The default namespace's service account means the controllers run too.
                status = api_get("/api/v1/namespaces/default/serviceaccounts/default")[0]
                if status == 200:
                    return
                last = "waiting for the default service account (controller-manager)"
            else:
                last = body.strip().splitlines()[-1] if body.strip() else f"HTTP {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise LabError(f"the apiserver did not become ready in {READY_TIMEOUT_S}s ({last}); "
                   f"see {LAB_DIR / 'logs'}")


# --- nodes ------------------------------------------------------------------------------

def load_host() -> dict:
    """What every node's machine reports (nodes.yaml ``host``)."""
    return yaml.safe_load(NODES_FILE.read_text())["host"]


def node_root(node: str) -> Path:
    """The node's machine's files: where its pods' hostPath volumes are."""
    return LAB_DIR / "nodes" / node / "root"


def host_path(node: str, path: str) -> Path:
    return node_root(node) / path.lstrip("/")


def write_node_root(node: str, host: dict) -> None:
    """What a GPU node's machine holds before any pod runs: its /etc/os-release; the driver's
    libraries as a driver package installs them (libnvidia-ml is the simulated NVML; libcuda
    an empty stand-in that nothing here loads, but NVIDIA's CDI spec generation lists it);
    the MIG capability minors the driver publishes; the operator validator's status files
    for a driver installed on the host; the kubelet's device plugin directory."""
    release = host_path(node, "/etc/os-release")
    release.parent.mkdir(parents=True, exist_ok=True)
    release.write_text("".join(f'{key}="{value}"\n' for key, value in host["os_release"].items()))
    sys.path.insert(0, str(REPO / "tests" / "gpusim"))
    from gpusim import procfs, state  # pylint: disable=import-outside-toplevel
    version = state.load(str(gpusim_dir() / f"{node}.state")).host.driver_version
    libraries = host_path(node, DRIVER_LIBRARY_DIR)
    libraries.mkdir(parents=True, exist_ok=True)
    links = {f"libnvidia-ml.so.{version}": (gpusim_dir() / "lib" / "libnvidia-ml.so.1").resolve(),
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


def nfd_labels(host: dict) -> dict:
    """What Node Feature Discovery labels a node with an NVIDIA GPU (PCI vendor 10de) and
    this kernel and OS with (its default configuration); the node runtime applies them
    with the feature files GPU feature discovery writes (tests/lab/nvidia_operands.py)."""
    prefix = "feature.node.kubernetes.io/"
    kernel = host["kernel"].split("-", maxsplit=1)[0].split(".")
    version = str(host["os_release"]["VERSION_ID"])
    major, _dot, minor = version.partition(".")
    return {f"{prefix}pci-10de.present": "true",
            f"{prefix}kernel-version.full": host["kernel"],
            f"{prefix}kernel-version.major": kernel[0],
            f"{prefix}kernel-version.minor": kernel[1],
            f"{prefix}kernel-version.revision": kernel[2],
            f"{prefix}system-os_release.ID": host["os_release"]["ID"],
            f"{prefix}system-os_release.VERSION_ID": version,
            f"{prefix}system-os_release.VERSION_ID.major": major,
            f"{prefix}system-os_release.VERSION_ID.minor": minor}


def load_nodes(extra_nodes: int) -> tuple[list[dict], list[dict]]:
    """The lab's nodes (nodes.yaml), and ``extra_nodes`` light scale nodes shaped like the
    first (the benchmark's inventory puts them in a pool of their own)."""
    description = yaml.safe_load(NODES_FILE.read_text())
    nodes = list(description["nodes"])
    template = nodes[0]
    light = []
    for index in range(extra_nodes):
        node = copy.deepcopy(template)
        node["name"] = f"gpu-scale-{index}"
        light.append(node)
    return nodes, light


def node_manifest(node: dict, host: dict, light: bool = False) -> dict:
    """A node as its kubelet registers it, before the GPU Operator: NFD's labels come from
    the node runtime, nvidia.com/gpu.present from the operator's controller (from NFD's PCI
    label), the other GPU labels and the capacity from NVIDIA's GPU feature discovery and
    device plugin, the pool label from the collection (from the inventory). A light scale
    node carries LIGHT_LABEL, OPERANDS_OFF so that the operator deploys nothing there, and a
    taint that keeps every other pod away."""
    name = node["name"]
    capacity = {"cpu": "64", "memory": "512Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1],
                            "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **(dict([(LIGHT_LABEL, "true"), OPERANDS_OFF]) if light else {}),
            },
        },
        # A light node takes no pod: nothing would run its containers (no node runtime).
        "spec": {"taints": [{"key": LIGHT_LABEL, "value": "true", "effect": "NoSchedule"}]} if light else {},
        "status": {"capacity": capacity, "allocatable": dict(capacity),
                   # What the kubelet reports (the GPU Operator picks its container runtime
                   # from it); kwok fills the fields left empty.
                   "nodeInfo": {"containerRuntimeVersion": host["container_runtime"],
                                "kernelVersion": host["kernel"],
                                "osImage": host["os_release"]["PRETTY_NAME"],
                                "operatingSystem": "linux", "architecture": "amd64",
                                **dict.fromkeys(("machineID", "systemUUID", "bootID",
                                                 "kubeletVersion", "kubeProxyVersion"), "")}},
    }


def kubectl(bin_dir: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([str(bin_dir / "kubectl"), f"--kubeconfig={kubeconfig_path()}",
                           *args], input=stdin, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise LabError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def create_nodes(bin_dir: Path, nodes: list[dict], light: list[dict]) -> None:
    host = load_host()
    items = ([node_manifest(node, host) for node in nodes]
             + [node_manifest(node, host, light=True) for node in light])
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    # create (not apply): kwok and the kubelet stand-ins own the status afterwards.
    existing = set(kubectl(bin_dir, "get", "nodes", "-o", "name").split())
    new = [item for item in items if f"node/{item['metadata']['name']}" not in existing]
    if new:
        manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": new})
        kubectl(bin_dir, "create", "-f", "-", stdin=manifest)
    wait_nodes(bin_dir, [item["metadata"]["name"] for item in items],
               lambda n: any(c["type"] == "Ready" and c["status"] == "True"
                             for c in n.get("status", {}).get("conditions", [])),
               f"kwok did not make the simulated nodes Ready; see {log_file('kwok')}")


def set_light_nodes(bin_dir: Path, light: list[dict]) -> None:
    """Makes ``light`` the light scale nodes (for tests/lab/scale_nodes.py), deleting the
    light nodes no longer in it; create_nodes creates the missing ones."""
    light_nodes_file().write_text(yaml.safe_dump({"nodes": light}))
    existing = set(kubectl(bin_dir, "get", "nodes", "-l", f"{LIGHT_LABEL}=true", "-o", "name").split())
    gone = sorted(existing - {f"node/{node['name']}" for node in light})
    if gone:
        kubectl(bin_dir, "delete", *gone, "--wait=false")


def wait_nodes(bin_dir: Path, names: list[str], condition, failure: str) -> None:
    """Waits until every named node meets ``condition`` (longer for many nodes: a thousand
    light nodes are labelled one patch each)."""
    deadline = time.monotonic() + READY_TIMEOUT_S + 0.2 * len(names)
    while time.monotonic() < deadline:
        found = json.loads(kubectl(bin_dir, "get", "nodes", "-o", "json"))["items"]
        if {n["metadata"]["name"] for n in found if condition(n)} >= set(names):
            return
        time.sleep(0.5 if len(names) < 100 else 3)
    raise LabError(failure)


# --- the collection under test -----------------------------------------------------------

def link_collection() -> Path:
    """A directory holding ansible_collections/fractional/gpu -> this clone, so that Ansible
    (ANSIBLE_COLLECTIONS_PATH) and Python (sys.path) find the collection without installing
    it. Returns that directory."""
    root = LAB_DIR / "collections"
    link = root / "ansible_collections" / "fractional" / "gpu"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and link.resolve() == REPO):
        tmp = link.with_name(f".gpu.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(REPO, target_is_directory=True)
        os.replace(tmp, link)  # atomic: several runs may link at once
    return root


# How Ansible finds a collection: its configured paths (ANSIBLE_COLLECTIONS_PATH) first,
# then Python's (the installed ansible package); the first copy wins.
_RESOLVE = """
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
import ansible_collections.fractional.gpu as collection
print(list(collection.__path__)[0])
"""


def check_collection(root: Path) -> None:
    """Fails unless Ansible, with ANSIBLE_COLLECTIONS_PATH set to ``root`` alone, resolves
    fractional.gpu to this working tree: a test of another copy (an older install under
    ~/.ansible/collections, a tool's cache, a pip package) proves nothing about this one."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(root))
    proc = subprocess.run([sys.executable, "-c", _RESOLVE], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    found = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or Path(found).resolve() != REPO:
        raise LabError(f"Ansible resolves fractional.gpu to {found or proc.stderr.strip()[-300:]}, "
                       f"not this working tree {REPO}: remove that copy, or unset what puts it "
                       "first (ANSIBLE_COLLECTIONS_SCAN_SYS_PATH, a collection installed into "
                       "the Python environment)")


# --- simulated GPU hosts ----------------------------------------------------------------

def gpusim_dir() -> Path:
    return LAB_DIR / "gpusim"


def seed_gpu_hosts(nodes: list[dict], fresh: bool) -> None:
    """Builds the simulated NVML library (cached) and gives every node a simulated GPU host
    state. ``fresh``: the control plane started anew, so the GPUs start anew too."""
    sim = REPO / "tests" / "gpusim"
    env = dict(os.environ, FGPU_PYTHON=sys.executable)
    try:
        lib_dir = subprocess.run([str(sim / "build.sh")], check=True, env=env,
                                 stdout=subprocess.PIPE, text=True).stdout.strip()
    except subprocess.CalledProcessError as exc:
        raise LabError("building the simulated NVML library failed (see above); it needs "
                       "a C compiler (cc) and the nvidia-nvml-dev package") from exc
    gpusim_dir().mkdir(parents=True, exist_ok=True)
    for name, target in (("lib", Path(lib_dir)), ("bin", sim / "bin")):
        link = gpusim_dir() / name
        link.unlink(missing_ok=True)
        link.symlink_to(target, target_is_directory=True)
    nodes_file = gpusim_dir() / "nodes.yaml"
    nodes_file.write_text(yaml.safe_dump({"nodes": nodes}))
    for node in nodes:
        state = gpusim_dir() / f"{node['name']}.state"
        if state.exists() and not fresh:
            continue
        for stale in gpusim_dir().glob(f"{node['name']}.state*"):
            stale.unlink()
        subprocess.run([sys.executable, "-m", "gpusim", "seed", "--nodes", str(nodes_file),
                        "--node", node["name"], "--out", str(state)], check=True,
                       env=dict(env, PYTHONPATH=str(sim)))


# --- commands ---------------------------------------------------------------------------

def fetch_charts() -> dict[str, str]:
    """The upstream charts the roles install in the lab (fetched once, cached), as the
    environment variables the lab inventory and the scenarios read them from."""
    try:
        charts = {"FGPU_GPU_OPERATOR_CHART": subprocess.run(
            [str(HERE / "operator_chart.sh")], check=True, stdout=subprocess.PIPE,
            text=True).stdout.strip().splitlines()[-1]}
        # KAI's chart comes with its binaries (one module); `env` names the chart.
        subprocess.run([str(HERE / "kai.sh"), "build"], check=True, stdout=sys.stderr)
        exports = subprocess.run([str(HERE / "kai.sh"), "env"], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
    except subprocess.CalledProcessError as exc:
        raise LabError(f"fetching the charts failed ({' '.join(exc.cmd)}; see above)") from exc
    for line in exports.splitlines():
        key, _sep, value = line.removeprefix("export ").partition("=")
        charts[key] = value.strip("'")
    return charts


def env_exports(bin_dir: Path, charts: dict[str, str]) -> dict[str, str]:
    return {"KUBECONFIG": str(kubeconfig_path()), "K8S_AUTH_KUBECONFIG": str(kubeconfig_path()),
            "FGPU_LAB_DIR": str(LAB_DIR), "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            **charts}


def cmd_up(args) -> None:
    started = time.monotonic()
    bin_dir = build()
    charts = fetch_charts()
    fresh = not (running_pid("kube-apiserver") and running_pid("etcd"))
    if not fresh:
        log("already running")
    else:
        stop_all()  # a half-started lab from an earlier run
        for port in (ETCD_PORT, ETCD_PORT + 1, APISERVER_PORT):
            # A port held a moment longer (a client connection closing) frees itself.
            deadline = time.monotonic() + 10
            while port_in_use(port) and time.monotonic() < deadline:
                time.sleep(0.5)
            if port_in_use(port):
                raise LabError(f"port {port} on 127.0.0.1 is in use by another program; stop "
                               "it, or choose other ports with FGPU_LAB_ETCD_PORT / "
                               "FGPU_LAB_APISERVER_PORT")
        shutil.rmtree(LAB_DIR / "etcd", ignore_errors=True)
        make_certs()
        write_kubeconfig()
        write_audit_policy()
        try:
            for component in COMPONENTS:
                start(component, bin_dir)
                if component == "etcd":
                    time.sleep(0.5)
            wait_ready()
        except LabError:
            stop_all()
            raise
    nodes, light = load_nodes(args.extra_nodes)
    set_light_nodes(bin_dir, light)
    create_nodes(bin_dir, nodes, light)
    if fresh:
        shutil.rmtree(LAB_DIR / "nodes", ignore_errors=True)  # pods and sockets of a past lab
    seed_gpu_hosts(nodes, fresh)
    host = load_host()
    for node in nodes:
        write_node_root(node["name"], host)
    check_started({component: start_background(component, str(HERE / script))
                   for component, script in POD_RUNNERS.items()})
    # The node runtime's first pass gives each node NFD's labels.
    wait_nodes(bin_dir, [node["name"] for node in nodes + light],
               lambda n: NFD_LABELS_ANNOTATION in n["metadata"].get("annotations", {}),
               f"the node runtime did not label the nodes as NFD does; see {log_file('nvidia-operands')}")
    (LAB_DIR / "env").write_text("".join(f"export {k}={v!r}\n"
                                         for k, v in env_exports(bin_dir, charts).items()))
    log(f"up in {time.monotonic() - started:.1f}s: apiserver https://127.0.0.1:{APISERVER_PORT}, "
        f"{len(nodes)} GPU nodes{f' and {len(light)} light scale nodes' if light else ''}; "
        f"`source {LAB_DIR / 'env'}` for kubectl")


def leftover_processes() -> list[int]:
    """Processes of this lab's node stand-ins still alive (NODE_PROCESS_MARK)."""
    mark = f"{NODE_PROCESS_MARK}={LAB_DIR}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cmd_down(_args) -> None:  # pylint: disable=unused-argument
    stopped = stop_all()
    leftovers = leftover_processes()
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sockets = list((LAB_DIR / "nodes").glob("*/root/var/lib/kubelet/device-plugins/*.sock"))
    for socket_file in sockets:
        socket_file.unlink(missing_ok=True)
    busy = [p for p in (ETCD_PORT, ETCD_PORT + 1, APISERVER_PORT) if port_in_use(p)]
    log(f"stopped {', '.join(stopped) or 'nothing (was not running)'}")
    if leftovers or sockets:
        log(f"removed what the stop left: processes {leftovers}, sockets {[str(s) for s in sockets]}")
    if busy:
        raise LabError(f"ports still in use after stop: {busy}")


def cmd_status(args) -> None:
    """Prints each component's state; exits 1 unless the whole lab runs."""
    all_running = True
    for component in (*COMPONENTS, *POD_RUNNERS):
        pid = running_pid(component)
        all_running = all_running and pid is not None
        if not args.quiet:
            print(f"{component:26} {'running, pid ' + str(pid) if pid else 'stopped'}")
    if not all_running:
        raise SystemExit(1)


def cmd_scale(args) -> None:
    """On the running lab: exactly N light scale nodes, each with NFD's labels."""
    if not running_pid("kube-apiserver"):
        raise LabError("the lab does not run; start it first (tests/scripts/test.sh lab-up)")
    bin_dir = build()
    nodes, light = load_nodes(args.count)
    set_light_nodes(bin_dir, light)
    create_nodes(bin_dir, [], light)
    wait_nodes(bin_dir, [node["name"] for node in light],
               lambda n: NFD_LABELS_ANNOTATION in n["metadata"].get("annotations", {}),
               f"the scale nodes' stand-in did not label them as NFD does; see {log_file('scale-nodes')}")
    log(f"{len(light)} light scale node(s), {len(nodes)} GPU nodes")


def wait_for_label(selector: str) -> str:
    """Watches the nodes until one matches ``selector`` (a label selector); returns its name.
    One watch stream, so that a caller acts within milliseconds of the change."""
    ctx = ssl.create_default_context(cafile=str(pki("ca.crt")))
    ctx.load_cert_chain(str(pki("admin.crt")), str(pki("admin.key")))
    conn = http.client.HTTPSConnection("127.0.0.1", APISERVER_PORT, context=ctx, timeout=3600)
    conn.request("GET", f"/api/v1/nodes?watch=true&labelSelector={urllib.parse.quote(selector)}")
    response = conn.getresponse()
    if response.status != 200:
        raise LabError(f"watching nodes {selector}: HTTP {response.status}")
    while True:
        line = response.readline()
        if not line:
            raise LabError(f"the watch of nodes {selector} ended before a node matched")
        event = json.loads(line)
        if event.get("type") in ("ADDED", "MODIFIED"):
            return event["object"]["metadata"]["name"]


def cmd_apiserver(args) -> None:
    """Crashes the apiserver (SIGKILL, as a dead machine or OOM kill would), at once or as
    soon as a node carries a label (--when-label), or starts it again and waits until it
    serves: the faults the scale scenarios put a run through."""
    if args.action == "stop":
        if args.when_label:
            log(f"kube-apiserver dies when a node matches {args.when_label}")
            log(f"{wait_for_label(args.when_label)} matches {args.when_label}")
        pid = running_pid("kube-apiserver")
        if pid:
            os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while running_pid("kube-apiserver") and time.monotonic() < deadline:
                time.sleep(0.05)
        pid_file("kube-apiserver").unlink(missing_ok=True)
        log(f"kube-apiserver killed{f' (pid {pid})' if pid else ' (was not running)'}")
        return
    start("kube-apiserver", build())
    wait_ready()
    log("kube-apiserver serves again")


# The collection's clients in the audit log: kubernetes.core and the collection's modules
# (the Kubernetes Python client), and Helm.
COLLECTION_CLIENTS = ("OpenAPI-Generator/", "Helm/")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def audit_offset() -> int:
    try:
        return audit_log().stat().st_size
    except OSError:
        return 0


def collection_requests(offset: int) -> Counter:
    """The collection's requests in the audit log after ``offset``, by 'verb resource'."""
    counts: Counter = Counter()
    with open(audit_log(), "rb") as handle:
        handle.seek(offset)
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not str(event.get("userAgent", "")).startswith(COLLECTION_CLIENTS):
                continue
            ref = event.get("objectRef") or {}
            what = ref.get("resource") or event.get("requestURI", "?").split("?")[0]
            counts[f"{event.get('verb')} {what}"] += 1
    return counts


def cmd_audit(args) -> None:
    """The audit log's offset now; with --since OFFSET, the collection's requests after it
    and the writes among them (JSON): how a scenario shows that a run wrote nothing."""
    if args.since is None:
        print(audit_offset())
        return
    time.sleep(1)  # the apiserver writes its audit lines a moment after the response
    requests = collection_requests(args.since)
    writes = dict((key, count) for key, count in requests.items() if key.split(" ")[0] in WRITE_VERBS)
    print(json.dumps({"requests": dict(requests), "writes": writes}, sort_keys=True))


def cmd_collections(_args) -> None:  # pylint: disable=unused-argument
    root = link_collection()
    check_collection(root)
    print(root)


def cmd_env(_args) -> None:
    print((LAB_DIR / "env").read_text(), end="")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--extra-nodes", type=int, default=0,
                    help="add N light scale nodes shaped like the first (tests/lab/scale_nodes.py)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down").set_defaults(func=cmd_down)
    status = sub.add_parser("status")
    status.add_argument("--quiet", action="store_true", help="only the exit code")
    status.set_defaults(func=cmd_status)
    sub.add_parser("env").set_defaults(func=cmd_env)
    scale = sub.add_parser("scale", help="exactly N light scale nodes on the running lab")
    scale.add_argument("count", type=int)
    scale.set_defaults(func=cmd_scale)
    apiserver = sub.add_parser("apiserver", help="crash (stop) or start the apiserver")
    apiserver.add_argument("action", choices=["stop", "start"])
    apiserver.add_argument("--when-label", metavar="SELECTOR",
                           help="stop: wait until a node matches this label selector first")
    apiserver.set_defaults(func=cmd_apiserver)
    sub.add_parser("collections", help="link the clone as a collection; print the path"
                   ).set_defaults(func=cmd_collections)
    audit = sub.add_parser("audit", help="the audit log's offset, or the collection's requests since one")
    audit.add_argument("--since", type=int, metavar="OFFSET")
    audit.set_defaults(func=cmd_audit)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except LabError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
