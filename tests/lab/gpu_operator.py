# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA's GPU Operator controller, for real, in the lab.

The chart's ``gpu-operator`` Deployment runs its pod on a kwok node, where no container
runs. This runner plays that pod's container: while the pod is Running it runs NVIDIA's
controller, built from the operator's Go module at the pinned version
(tests/lab/operator_build.sh), as a process against the lab's apiserver, the way the
kubelet would run it:

  - in the filesystem the operator's image gives it (docker/Dockerfile in the module): the
    binary at /usr/bin/gpu-operator, the operand manifests (the module's assets/ and
    manifests/) and CRDs in /opt/gpu-operator, where the controller reads them by fixed
    paths;
  - with the pod's volumes: its hostPath /etc/os-release (mounted at /host-etc/os-release)
    is the lab nodes' os-release (tests/lab/nodes.yaml ``host``);
  - as the pod's service account: a token from the TokenRequest API bound to the pod,
    refreshed as the kubelet refreshes it, with the API's CA and the pod's namespace at
    /var/run/secrets/kubernetes.io/serviceaccount and KUBERNETES_SERVICE_HOST/PORT pointing
    at the lab apiserver (in-cluster configuration: the chart's RBAC is what it may do);
  - with the container's command, arguments and environment (``fieldRef`` values resolved),
    except two lab choices: no leader election (one replica; a restarted controller would
    otherwise wait out its predecessor's lease), and its metrics and health endpoints off
    (they would listen on the machine's loopback, shared with other labs);
  - restarted with a growing delay if it exits while the pod runs; stopped when the pod goes
    (Helm uninstall), started again for a new pod.

The filesystem is a private mount namespace in a user namespace (``unshare``, util-linux)
around a chroot under the lab directory: nothing outside the lab is written, and no root
is needed. What the controller then does to the cluster is NVIDIA's: labelling GPU nodes,
creating the operand DaemonSets (kwok runs their pods), pausing on nvidia.com/gpu.deploy.*
labels, and ClusterPolicy status.

    gpu_operator.py start    run in the background (pid and log in the lab directory)
    gpu_operator.py stop     stop it and the controller
    gpu_operator.py run      in the foreground
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402  pylint: disable=wrong-import-position

NAME = "gpu-operator"
POD_SELECTOR = "app=gpu-operator,app.kubernetes.io/component=gpu-operator"
IMAGE_BINARY = "/usr/bin/gpu-operator"
# What the image copies from the module into /opt/gpu-operator (docker/Dockerfile); assets/
# entry by entry, since manifests/ goes inside the same directory.
IMAGE_OPT = "/opt/gpu-operator"
IMAGE_FILES = {"manifests": "manifests",
               "deployments/gpu-operator/crds/nvidia.com_clusterpolicies.yaml": "nvidia.com_clusterpolicies.yaml",
               "deployments/gpu-operator/crds/nvidia.com_nvidiadrivers.yaml": "nvidia.com_nvidiadrivers.yaml",
               "deployments/gpu-operator/charts/node-feature-discovery/crds/nfd-api-crds.yaml": "nfd-api-crds.yaml"}
SERVICE_ACCOUNT_DIR = "var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_SECONDS = 3600
# The kubelet renews a projected token once 80% of its life has passed.
TOKEN_RENEW_S = TOKEN_SECONDS * 0.8
# Arguments the lab overrides (see the module's docstring).
DROPPED_ARGS = ("--leader-elect",)
LAB_ARGS = ("--metrics-bind-address=0", "--health-probe-bind-address=0")
GONE_AFTER_S = 60
BACKOFF_MAX_S = 300


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


def build() -> tuple[Path, Path]:
    """The controller binary and the module's directory (tests/lab/operator_build.sh, cached)."""
    out = subprocess.run([str(lab.HERE / "operator_build.sh")], check=True, stdout=subprocess.PIPE,
                         text=True).stdout.splitlines()
    return Path(out[-2]), Path(out[-1])


def root_dir() -> Path:
    return lab.LAB_DIR / "gpu-operator" / "root"


def field_value(pod: dict, path: str) -> str:
    """A downward-API fieldRef (metadata.namespace, spec.nodeName, ...)."""
    value = pod
    for part in path.split("."):
        value = (value or {}).get(part)
    return "" if value is None else str(value)


def container_env(pod: dict, container: dict) -> dict[str, str]:
    env = {}
    for item in container.get("env") or []:
        if "valueFrom" not in item:
            env[item["name"]] = item.get("value", "")
        elif "fieldRef" in item["valueFrom"]:
            env[item["name"]] = field_value(pod, item["valueFrom"]["fieldRef"]["fieldPath"])
        else:
            log(f"env {item['name']}: only values and fieldRefs are resolved; left out")
    return env


def image_files(binary: Path, module: Path) -> list[tuple[Path, str]]:
    """(file or directory here, its path in the operator's image)."""
    files = [(binary, IMAGE_BINARY)]
    files += [(entry, f"{IMAGE_OPT}/{entry.name}") for entry in sorted((module / "assets").iterdir())]
    files += [(module / source, f"{IMAGE_OPT}/{target}") for source, target in IMAGE_FILES.items()]
    return files


def host_path_mounts(pod: dict, container: dict) -> list[tuple[Path, str]]:
    """(lab node path, mount path in the container) for each hostPath volume it mounts."""
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    mounts = []
    for mount in container.get("volumeMounts") or []:
        host_path = (volumes.get(mount["name"]) or {}).get("hostPath")
        if host_path:
            mounts.append((lab.node_root() / host_path["path"].lstrip("/"), mount["mountPath"]))
    return mounts


class Controller:
    """The controller process standing in for one operator pod's container."""

    def __init__(self, api: lab.Api, pod: dict, binary: Path, module: Path):
        self.api = api
        self.pod = pod
        self.binary = binary
        self.module = module
        self.proc: subprocess.Popen | None = None
        self.token_at = 0.0
        self.restarts = 0
        self.next_start = 0.0

    @property
    def uid(self) -> str:
        return self.pod["metadata"]["uid"]

    def write_token(self) -> None:
        meta = self.pod["metadata"]
        account = self.pod["spec"].get("serviceAccountName") or "default"
        answer = self.api.call("POST", f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": self.uid}}})
        directory = root_dir() / SERVICE_ACCOUNT_DIR
        directory.mkdir(parents=True, exist_ok=True)
        files = {"token": answer["status"]["token"], "namespace": meta["namespace"],
                 "ca.crt": lab.pki("ca.crt").read_text()}
        for name, text in files.items():
            tmp = directory / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, directory / name)
        self.token_at = time.monotonic()

    def command(self) -> tuple[list[str], dict[str, str]]:
        container = self.pod["spec"]["containers"][0]
        argv = [IMAGE_BINARY if arg == "gpu-operator" else arg for arg in container.get("command") or [IMAGE_BINARY]]
        argv += [arg for arg in container.get("args") or [] if arg not in DROPPED_ARGS] + list(LAB_ARGS)
        root = root_dir()
        binds = image_files(self.binary, self.module) + host_path_mounts(self.pod, container)
        script = []
        for source, target in binds:
            if not source.exists():
                raise lab.LabError(f"{source} (for {target} in the operator's container) does not exist")
            inside = root / target.lstrip("/")
            inside.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                inside.mkdir(exist_ok=True)
            else:
                inside.touch()
            script.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(inside))}")
        (root / "tmp").mkdir(exist_ok=True)
        script.append(f"exec chroot {shlex.quote(str(root))} {shlex.join(argv)}")
        # PATH finds unshare, mount and chroot here; the controller runs no other program.
        env = {"PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin", "HOME": "/",
               **container_env(self.pod, container),
               "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(lab.APISERVER_PORT)}
        return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", " && ".join(script)], env

    def start(self) -> None:
        self.write_token()
        argv, env = self.command()
        # Same process group as the runner: stopping the runner's group stops it too.
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
        log(f"controller started for pod {self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}, "
            f"pid {self.proc.pid}: {argv[-1].rsplit(' && ', maxsplit=1)[-1]}")

    def tend(self) -> None:
        """Start it when due, restart it after a crash, renew its token."""
        now = time.monotonic()
        if self.proc is not None and self.proc.poll() is not None:
            delay = min(BACKOFF_MAX_S, 10 * 2 ** self.restarts)
            log(f"controller exited with code {self.proc.returncode}; starting it again in {delay}s")
            self.proc, self.restarts, self.next_start = None, self.restarts + 1, now + delay
        if self.proc is None and now >= self.next_start:
            self.start()
        elif self.proc is not None and now - self.token_at >= TOKEN_RENEW_S:
            self.write_token()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            log("controller stopped")
        self.proc = None


def operator_pod(api: lab.Api) -> dict | None:
    pods = api.call("GET", f"/api/v1/pods?labelSelector={POD_SELECTOR.replace('=', '%3D').replace(',', '%2C')}")
    running = [p for p in (pods or {}).get("items", [])
               if not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("phase") == "Running"]
    return min(running, key=lambda p: p["metadata"]["creationTimestamp"]) if running else None


def run_loop() -> None:
    binary, module = build()
    api = lab.Api()
    controller: Controller | None = None
    last_ok = time.monotonic()

    def terminate(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    try:
        while time.monotonic() - last_ok < GONE_AFTER_S:
            try:
                pod = operator_pod(api)
                last_ok = time.monotonic()
                if controller is not None and (pod is None or pod["metadata"]["uid"] != controller.uid):
                    log("the operator pod is gone" if pod is None else "the operator pod was replaced")
                    controller.stop()
                    controller = None
                if pod is not None and controller is None:
                    controller = Controller(api, pod, binary, module)
                if controller is not None:
                    controller.tend()
            except (ConnectionError, RuntimeError, lab.LabError) as exc:
                log(f"pass failed: {exc}")
            time.sleep(1)
        log("the apiserver is gone; exiting")
    finally:
        if controller is not None:
            controller.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        build()  # fail here, in the foreground, if it cannot be built
    return lab.runner_main(argv, __doc__, NAME, os.path.abspath(__file__), run_loop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
