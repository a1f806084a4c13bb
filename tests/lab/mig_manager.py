# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A STAND-IN for NVIDIA's MIG manager in the lab's ``nvidia-mig-manager`` pods. Test-only.

NVIDIA's GPU Operator controller runs for real in the lab (tests/lab/gpu_operator.py): it
creates DaemonSet ``nvidia-mig-manager`` on the nodes it labels
``nvidia.com/gpu.deploy.mig-manager=true``, and kwok runs its pods. Their container,
NVIDIA's k8s-mig-manager, cannot run (its module, github.com/NVIDIA/mig-parted, is not
served here; kwok runs no containers). This stand-in does what it does in every Running pod
of that DaemonSet, with its own code: it never imports the collection nor its GPU tables,
and changes the node's GPUs only through tests/lab/mig_parted.py (NVML, over the node's
simulated GPUs), as the MIG manager only through nvidia-mig-parted.

In each pod, as NVIDIA's MIG manager (mig-parted cmd/nvidia-mig-manager):
  - its config is the file CONFIG_FILE names in the container, i.e. the key of the
    ConfigMap volume mounted there, as the kubelet last projected it (tests/lab/pods.py:
    when the pod starts, a pod whose ConfigMap does not exist does not start; then every
    FGPU_LAB_KUBELET_SYNC_S seconds, default 60, the kubelet's sync period);
  - it applies the config its node's ``nvidia.com/mig.config`` label names when the pod
    starts and whenever that label's value changes, nothing else (an empty value is never
    applied);
and each apply follows mig-parted pkg/mig/reconfigure (Run):
  1. the selected config must be in the file (else state ``failed``); if the GPUs already
     have it, state ``success`` and nothing else;
  2. state ``pending``; the operands that hold the GPUs are paused: each of
     nvidia.com/gpu.deploy.{device-plugin,gpu-feature-discovery,dcgm-exporter,dcgm,nvsm}
     that is not ``false`` becomes ``paused-for-mig-change`` (the operator's DaemonSets
     select ``true``, so their pods leave the node), and it waits up to 5 minutes until the
     device plugin, GFD, DCGM exporter and DCGM pods are gone from the node (if they are
     not, it stops there, state left ``pending``, as upstream does);
  3. MIG mode (``mig-parted apply --mode-only``, then ``assert --mode-only`` that it took
     effect); if that fails and the container's
     WITH_REBOOT is ``true``: state ``rebooting``, the node reboots (tests/gpusim
     ``reboot``) and the manager starts again, as its pod would; after a reboot a mode
     still not applied is ``failed``;
  4. the config (``mig-parted apply``); on failure, state ``failed``;
  5. the operator validator pod on the node is deleted (it validates again), the operand
     labels go back to ``true`` (a ``false`` stays), state ``success``. On any failure the
     labels are restored too.
Host systemd GPU clients (WITH_SHUTDOWN_HOST_GPU_CLIENTS) and CDI specs do not exist here.

    mig_manager.py start    run in the background (pid and log in the lab directory)
    mig_manager.py stop     stop it
    mig_manager.py run      in the foreground
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402  pylint: disable=wrong-import-position
import pods  # noqa: E402  pylint: disable=wrong-import-position

NAME = "mig-manager"
MANAGER_SELECTOR = "app=nvidia-mig-manager"
CONFIG_LABEL = "nvidia.com/mig.config"
STATE_LABEL = "nvidia.com/mig.config.state"
PAUSED = "paused-for-mig-change"
# Each operand's deploy label and the app label of the pods to wait for (None: none).
OPERANDS = {
    "nvidia.com/gpu.deploy.device-plugin": "nvidia-device-plugin-daemonset",
    "nvidia.com/gpu.deploy.gpu-feature-discovery": "gpu-feature-discovery",
    "nvidia.com/gpu.deploy.dcgm-exporter": "nvidia-dcgm-exporter",
    "nvidia.com/gpu.deploy.dcgm": "nvidia-dcgm",
    "nvidia.com/gpu.deploy.nvsm": None,
}
VALIDATION_PODS = ("app=nvidia-cuda-validator", "app=nvidia-device-plugin-validator")
VALIDATOR_POD = "app=nvidia-operator-validator"
POD_DELETE_TIMEOUT_S = 300
MIG_PARTED = Path(__file__).resolve().parent / "mig_parted.py"


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


def selector(text: str) -> str:
    return quote(text, safe="")


def mounted_config(pod: dict) -> tuple[str, str] | None:
    """(ConfigMap volume, key) behind the container's CONFIG_FILE, or None."""
    container = pod["spec"]["containers"][0]
    path = next((e.get("value", "") for e in container.get("env") or [] if e["name"] == "CONFIG_FILE"), "")
    directory, _sep, key = path.rpartition("/")
    mount = next((m for m in container.get("volumeMounts") or [] if m["mountPath"].rstrip("/") == directory), None)
    volume = next((v for v in pod["spec"].get("volumes") or [] if mount and v["name"] == mount["name"]), None)
    if not volume or "configMap" not in volume:
        return None
    return volume["name"], key


def paused(value: str) -> str:
    """mig-parted's maybeSetPaused: an operand forced off (false) stays off."""
    return "false" if value == "false" else PAUSED


def restored(value: str) -> str:
    """mig-parted's maybeSetTrue."""
    return "false" if value == "false" else "true"


class Manager(threading.Thread):
    """The MIG manager of one pod."""

    def __init__(self, api: lab.Api, pod: dict):
        super().__init__(daemon=True, name=pod["metadata"]["name"])
        self.api = api
        self.pod = pod
        self.node = pod["spec"]["nodeName"]
        self.namespace = pod["metadata"]["namespace"]
        self.volumes = pods.ConfigMapVolumes(api, pod, lab.LAB_DIR / NAME / pod["metadata"]["uid"])
        source = mounted_config(pod)
        self.copy = self.volumes.directory / source[0] / source[1] if source else None
        self.applied: str | None = None
        self.stopping = threading.Event()
        container = pod["spec"]["containers"][0]
        self.with_reboot = any(e["name"] == "WITH_REBOOT" and e.get("value") == "true"
                               for e in container.get("env") or [])

    def say(self, msg: str) -> None:
        log(f"{self.node}: {msg}")

    # --- the node -------------------------------------------------------------------------

    def labels(self) -> dict:
        node = self.api.call("GET", f"/api/v1/nodes/{self.node}")
        return (node or {}).get("metadata", {}).get("labels") or {}

    def set_labels(self, labels: dict) -> None:
        self.api.call("PATCH", f"/api/v1/nodes/{self.node}", {"metadata": {"labels": labels}})

    def pods(self, label_selector: str) -> list:
        answer = self.api.call("GET", f"/api/v1/namespaces/{self.namespace}/pods?labelSelector="
                                      f"{selector(label_selector)}&fieldSelector={selector('spec.nodeName=' + self.node)}")
        return list((answer or {}).get("items", []))

    def delete_pods(self, label_selector: str) -> None:
        for pod in self.pods(label_selector):
            self.api.call("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{pod['metadata']['name']}")

    def gpu_env(self) -> dict:
        gpusim = lab.LAB_DIR / "gpusim"
        return dict(os.environ, FGPU_GPUSIM_STATE=str(gpusim / f"{self.node}.state"),
                    LD_LIBRARY_PATH=str(gpusim / "lib"), FGPU_PYTHON=sys.executable,
                    PATH=f"{gpusim / 'bin'}:{os.environ.get('PATH', '')}")

    def mig_parted(self, *args: str) -> bool:
        proc = subprocess.run([sys.executable, str(MIG_PARTED), "-d", *args, "-f", str(self.copy)],
                              env=self.gpu_env(), capture_output=True, text=True, check=False)
        for line in (proc.stdout + proc.stderr).splitlines():
            self.say(f"  {line}")
        return proc.returncode == 0

    def reboot(self) -> None:
        gpusim = lab.REPO / "tests" / "gpusim"
        subprocess.run([sys.executable, "-m", "gpusim", "reboot", "--state", self.gpu_env()["FGPU_GPUSIM_STATE"]],
                       env=dict(os.environ, PYTHONPATH=str(gpusim)), check=True)

    # --- pkg/mig/reconfigure ----------------------------------------------------------------

    def reconfigure(self, selected: str) -> None:
        labels = self.labels()
        deployed = {label: labels.get(label, "") for label in OPERANDS}
        state_before = labels.get(STATE_LABEL, "")
        config = ["-c", selected]

        def finish(state: str) -> None:
            self.set_labels({**{label: restored(v) for label, v in deployed.items()}, STATE_LABEL: state})
            self.say(f"{selected}: {state}")

        self.say(f"applying {selected!r} (operands {deployed}, state {state_before or 'unset'})")
        if not self.mig_parted("assert", "--valid-config", *config):
            return finish("failed")
        if self.mig_parted("assert", *config):
            return finish("success")
        if not self.mig_parted("assert", "--mode-only", *config) and state_before == "rebooting":
            self.say("MIG mode change did not take effect after rebooting")
            return finish("failed")
        self.set_labels({STATE_LABEL: "pending"})
        self.set_labels({label: paused(v) for label, v in deployed.items()})
        deadline = time.monotonic() + POD_DELETE_TIMEOUT_S
        for app in filter(None, OPERANDS.values()):
            while self.pods(f"app={app}"):
                if time.monotonic() > deadline or self.stopping.is_set():
                    self.say(f"{app} pod did not shut down; stopping with the state pending")
                    return None
                time.sleep(1)
        for validation in VALIDATION_PODS:
            self.delete_pods(validation)
        mode_applied = (self.mig_parted("apply", "--mode-only", *config)
                        and self.mig_parted("assert", "--mode-only", *config))
        if not mode_applied and self.with_reboot:
            self.set_labels({STATE_LABEL: "rebooting"})
            self.say("rebooting the node")
            self.reboot()
            self.applied = None  # the pod starts again after the reboot
            return None
        if not self.mig_parted("apply", *config):
            return finish("failed")
        self.delete_pods(VALIDATOR_POD)
        return finish("success")

    def step(self) -> None:
        """One look: the pod's first look at a set label, or a changed value, applies it."""
        if self.copy is not None and self.volumes.sync()[0]:
            value = self.labels().get(CONFIG_LABEL, "")
            if value and value != self.applied:
                self.applied = value
                self.reconfigure(value)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.step()
            except (ConnectionError, RuntimeError) as exc:
                self.say(f"pass failed: {exc}")
            self.stopping.wait(1)


def run_loop() -> None:
    api = lab.Api()
    managers: dict[str, Manager] = {}

    def each_pass() -> None:
        running = {p["metadata"]["uid"]: p for p in pods.running_pods(api, MANAGER_SELECTOR)}
        for uid in set(managers) - set(running):
            managers.pop(uid).stopping.set()
        for uid in set(running) - set(managers):
            managers[uid] = Manager(api, running[uid])
            managers[uid].start()
            log(f"{running[uid]['spec']['nodeName']}: MIG manager of pod {running[uid]['metadata']['name']} started")

    pods.run_passes(each_pass, log, finish=lambda: [manager.stopping.set() for manager in managers.values()])


def main(argv: list[str]) -> int:
    return lab.runner_main(argv, __doc__, NAME, os.path.abspath(__file__), run_loop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
