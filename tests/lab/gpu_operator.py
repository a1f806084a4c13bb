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
    is its node's (tests/lab/nodes.yaml ``host``);
  - as the pod's service account (in-cluster configuration: the chart's RBAC is what it may
    do), with the container's command, arguments and environment, the way the kubelet gives
    them (tests/lab/pods.py), except two lab choices: no leader election (one replica; a
    restarted controller would otherwise wait out its predecessor's lease), and its metrics
    and health endpoints off (they would listen on the machine's loopback, shared with
    other labs);
  - restarted with the kubelet's back-off if it exits while the pod runs; stopped when the
    pod goes (Helm uninstall), started again for a new pod.

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
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402  pylint: disable=wrong-import-position
import pods  # noqa: E402  pylint: disable=wrong-import-position

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
# Arguments the lab overrides (see the module's docstring).
DROPPED_ARGS = ("--leader-elect",)
LAB_ARGS = ("--metrics-bind-address=0", "--health-probe-bind-address=0")


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


def build() -> tuple[Path, Path]:
    """The controller binary and the module's directory (tests/lab/operator_build.sh, cached)."""
    out = subprocess.run([str(lab.HERE / "operator_build.sh")], check=True, stdout=subprocess.PIPE,
                         text=True).stdout.splitlines()
    return Path(out[-2]), Path(out[-1])


def root_dir() -> Path:
    return lab.LAB_DIR / "gpu-operator" / "root"


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
            mounts.append((lab.host_path(pod["spec"]["nodeName"], host_path["path"]), mount["mountPath"]))
    return mounts


class Controller:
    """The controller process standing in for one operator pod's container."""

    def __init__(self, api: lab.Api, pod: dict, binary: Path, module: Path):
        self.api = api
        self.pod = pod
        self.binary = binary
        self.module = module
        self.proc: subprocess.Popen | None = None
        self.token = pods.ServiceAccountToken(api, pod, root_dir() / pods.SERVICE_ACCOUNT_DIR.lstrip("/"))
        self.backoff = pods.Backoff()

    @property
    def uid(self) -> str:
        return self.pod["metadata"]["uid"]

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
               **pods.container_env(self.pod, container)}
        return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", " && ".join(script)], env

    def start(self) -> None:
        self.token.refresh()
        argv, env = self.command()
        # Same process group as the runner: stopping the runner's group stops it too.
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
        self.backoff.started()
        log(f"controller started for pod {self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}, "
            f"pid {self.proc.pid}: {argv[-1].rsplit(' && ', maxsplit=1)[-1]}")

    def tend(self) -> None:
        """Start it when due, restart it after a crash, renew its token."""
        if self.proc is not None and self.proc.poll() is not None:
            delay = self.backoff.exited()
            log(f"controller exited with code {self.proc.returncode}; starting it again in {delay:.0f}s")
            self.proc = None
        if self.proc is None and self.backoff.due():
            self.start()
        elif self.proc is not None:
            self.token.refresh()

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
    """The chart's operator pod that runs (the oldest, while a rollout replaces it)."""
    running = pods.running_pods(api, POD_SELECTOR)
    return min(running, key=lambda p: p["metadata"]["creationTimestamp"]) if running else None


def run_loop() -> None:
    binary, module = build()
    api = lab.Api()
    current: list[Controller] = []

    def each_pass() -> None:
        pod = operator_pod(api)
        if current and (pod is None or pod["metadata"]["uid"] != current[0].uid):
            log("the operator pod is gone" if pod is None else "the operator pod was replaced")
            current.pop().stop()
        if pod is not None and not current:
            current.append(Controller(api, pod, binary, module))
        if current:
            current[0].tend()

    pods.run_passes(each_pass, log, finish=lambda: [controller.stop() for controller in current])


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        build()  # fail here, in the foreground, if it cannot be built
    return lab.runner_main(argv, __doc__, NAME, os.path.abspath(__file__), run_loop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
