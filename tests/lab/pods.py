# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kubelet's part for the GPU Operator pods whose containers the lab runs.

kwok runs the pods of the lab's nodes without containers. For the operator's own pods the
lab runs what their containers would (tests/lab/lab.py POD_RUNNERS: NVIDIA's controller,
NVIDIA's device plugin and GPU feature discovery, the MIG manager stand-in), each runner in
a loop over the pods it stands behind. What a kubelet does for any pod is here, once:

  - which pods run: bound to a node, Running, not being deleted;
  - a container's environment: its values and downward-API ``fieldRef``s, and the
    apiserver's address as the kubelet gives every container (KUBERNETES_SERVICE_HOST/PORT);
  - ConfigMap volumes: the keys as links into ``..data``, swapped in one rename, refreshed
    every FGPU_LAB_KUBELET_SYNC_S seconds (default 60, the kubelet's sync period);
  - the pod's service account: a token from the TokenRequest API bound to the pod, the
    cluster's CA and the namespace, renewed as the kubelet renews a projected token;
  - container restarts with the kubelet's back-off;
  - the runner's loop: a pass a second until stopped, or until the apiserver is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from urllib.parse import quote

import lab

KUBELET_SYNC_S = float(os.environ.get("FGPU_LAB_KUBELET_SYNC_S", "60"))
# The kubelet's container restart back-off: 10 s doubling to 5 min, reset after 10 min up.
BACKOFF_S, BACKOFF_MAX_S, BACKOFF_RESET_S = 10.0, 300.0, 600.0
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_SECONDS = 3600
# The kubelet renews a projected token once 80% of its life has passed.
TOKEN_RENEW_S = TOKEN_SECONDS * 0.8
# A runner whose apiserver has not answered for this long stops (the lab went down).
GONE_AFTER_S = 60


def is_running(pod: dict) -> bool:
    """Whether a kubelet runs the pod's containers now."""
    return bool(not pod["metadata"].get("deletionTimestamp") and (pod.get("spec") or {}).get("nodeName")
                and (pod.get("status") or {}).get("phase") == "Running")


def list_pods(api: lab.Api, selector: str) -> list[dict]:
    """The pods of every namespace that match the label selector."""
    return list((api.call("GET", f"/api/v1/pods?labelSelector={quote(selector, safe='')}") or {}).get("items", []))


def running_pods(api: lab.Api, selector: str) -> list[dict]:
    return [pod for pod in list_pods(api, selector) if is_running(pod)]


def field_value(pod: dict, path: str) -> str:
    """A downward-API fieldRef (metadata.namespace, spec.nodeName, ...)."""
    value = pod
    for part in path.split("."):
        value = (value or {}).get(part)
    return "" if value is None else str(value)


def container_env(pod: dict, container: dict, translate=lambda value: value) -> dict[str, str]:
    """The environment the kubelet gives the container: the apiserver's address, then the
    container's own values (through ``translate``, for paths the lab moves) and fieldRefs."""
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(lab.APISERVER_PORT)}
    for item in container.get("env") or []:
        source = item.get("valueFrom")
        if source is None:
            env[item["name"]] = translate(str(item.get("value", "")))
        elif "fieldRef" in source:
            env[item["name"]] = field_value(pod, source["fieldRef"]["fieldPath"])
        else:
            raise lab.LabError(f"env {item['name']} of container {container['name']}: only values and "
                               "fieldRefs are resolved in the lab")
    return env


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


class ConfigMapVolumes:
    """A pod's ConfigMap volumes, projected under ``directory`` (one directory a volume)."""

    def __init__(self, api: lab.Api, pod: dict, directory: Path):
        self.api = api
        self.pod = pod
        self.directory = directory
        self.synced = 0.0

    def sync(self) -> tuple[bool, list[str]]:
        """Project them when due: (whether the pod can run, the ConfigMaps that changed). A
        ConfigMap missing at the first projection keeps the pod from starting; later the
        kubelet keeps what it projected."""
        if self.synced and time.monotonic() - self.synced < KUBELET_SYNC_S:
            return True, []
        namespace = self.pod["metadata"]["namespace"]
        changed = []
        for volume in self.pod["spec"].get("volumes") or []:
            if "configMap" not in volume:
                continue
            name = volume["configMap"]["name"]
            cm = self.api.call("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
            if cm is None:
                if not self.synced:
                    return False, []
                continue
            if project_configmap(self.directory / volume["name"], cm.get("data") or {}):
                changed.append(name)
        self.synced = time.monotonic()
        return True, changed


class ServiceAccountToken:
    """The pod's service account files (token, ca.crt, namespace) in ``directory``, which the
    runner makes the container's SERVICE_ACCOUNT_DIR: in-cluster clients authenticate as the
    pod, with the RBAC its chart or operator gave it."""

    def __init__(self, api: lab.Api, pod: dict, directory: Path):
        self.api = api
        self.pod = pod
        self.directory = directory
        self.written_at = 0.0

    def refresh(self) -> None:
        """Write the files when missing or due for renewal."""
        if self.written_at and time.monotonic() - self.written_at < TOKEN_RENEW_S:
            return
        meta = self.pod["metadata"]
        account = self.pod["spec"].get("serviceAccountName") or "default"
        answer = self.api.call("POST", f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}})
        if answer is None:
            raise RuntimeError(f"pod {meta['namespace']}/{meta['name']}: service account {account} does not exist")
        self.directory.mkdir(parents=True, exist_ok=True)
        files = {"token": answer["status"]["token"], "namespace": meta["namespace"],
                 "ca.crt": lab.pki("ca.crt").read_text()}
        for name, text in files.items():
            tmp = self.directory / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, self.directory / name)
        self.written_at = time.monotonic()


class Backoff:
    """When a container that exited may start again: the kubelet's back-off."""

    def __init__(self) -> None:
        self.delay = BACKOFF_S
        self.started_at = 0.0
        self.next_start = 0.0
        self.restarts = 0

    def due(self) -> bool:
        return time.monotonic() >= self.next_start

    def started(self) -> None:
        self.started_at = time.monotonic()

    def exited(self) -> float:
        """Records an exit (a restart to come); returns the seconds until it is due."""
        if time.monotonic() - self.started_at > BACKOFF_RESET_S:
            self.delay = BACKOFF_S
        wait = self.delay
        self.next_start = time.monotonic() + wait
        self.delay = min(self.delay * 2, BACKOFF_MAX_S)
        self.restarts += 1
        return wait


def run_passes(each_pass, log, finish=lambda: None, interval_s: float = 1.0) -> None:
    """Runs ``each_pass()`` every ``interval_s`` until SIGTERM or SIGINT, or until the
    apiserver has not answered for GONE_AFTER_S; then ``finish()``. A pass that fails is
    logged; the next one tries again."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    last_ok = time.monotonic()
    try:
        while not stopping and time.monotonic() - last_ok < GONE_AFTER_S:
            try:
                each_pass()
                last_ok = time.monotonic()
            except ConnectionError as exc:
                log(f"pass failed: {exc}")
            except (RuntimeError, lab.LabError) as exc:  # an object going away mid-pass: the next pass
                log(f"pass failed: {exc}")
                last_ok = time.monotonic()
            time.sleep(interval_s)
    finally:
        finish()
    log("stopped" if stopping else "the apiserver is gone; stopped")
