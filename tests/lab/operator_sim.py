# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A SIMULATED GPU Operator controller and MIG manager for the lab. Test-only.

The real operator controller and its MIG manager (a DaemonSet pod that runs mig-parted on
each GPU node) are container images; the lab's nodes are kwok nodes where no container
runs. This stand-in plays both, following what they do (GPU Operator
controllers/object_controls.go TransformMIGManager; mig-parted cmd/nvidia-mig-manager and
pkg/mig/reconfigure), so that a role that would fail against them fails here too:

the controller
  - ClusterPolicy ``cluster-policy`` gets ``status.state=ready`` (the real one reports
    ready once its operands run);
  - while the ClusterPolicy exists with ``spec.migManager.enabled`` not false, a REAL
    DaemonSet ``nvidia-mig-manager`` (pods labelled ``app=nvidia-mig-manager``) runs on the
    MIG-capable nodes, its volume ``mig-parted-config`` naming the ConfigMap of
    ``spec.migManager.config.name`` (``default-mig-parted-config`` when unset). The lab's
    controller-manager runs it: a changed name rolls its pods, a deleted pod comes back.
    It is owned by the ClusterPolicy, so it goes when the operator is uninstalled.
    (The real operator selects nodes labelled ``nvidia.com/gpu.deploy.mig-manager=true``,
    which it sets on MIG-capable nodes; this one selects ``nvidia.com/mig.capable=true``
    so as not to label nodes.)

the MIG manager, in each Running pod of that DaemonSet
  - it reads the config from ITS MOUNTED COPY of the ConfigMap: taken when the pod
    starts, refreshed every ``FGPU_OPERATOR_SIM_KUBELET_SYNC_S`` seconds (default 60), as
    the kubelet refreshes ConfigMap volumes (a pod whose ConfigMap does not exist does not
    start, as the kubelet cannot mount it);
  - it applies the config its node's ``nvidia.com/mig.config`` label names ONLY when that
    label's value changes, and once when the pod starts (if the label is set). Removing
    ``nvidia.com/mig.config.state`` or changing the ConfigMap makes it apply nothing;
  - applying: a name the mounted config lacks -> state ``failed``; GPUs that already
    match -> ``success`` at once; else ``pending``, then ``success`` or ``failed``.

Applying uses the collection's own nvidia-smi planner (plugins/module_utils/mig_apply.py)
on the node's simulated GPUs (tests/gpusim) in place of mig-parted, which cannot be built
here without its container. So the tests that use it prove the mig role's side of
operator mode (ConfigMap, ClusterPolicy, labels, restarts, waiting, failure reports); the
GPUs it leaves are checked independently through NVML. Each pod keeps what its manager
read (the label value, its mounted copy) in its annotation ``lab.fractional.gpu/mig-manager``.

    operator_sim.py sync     one pass, then exit
    operator_sim.py start    pass every second in the background (pid and log in the lab)
    operator_sim.py stop     stop the background one
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402  pylint: disable=wrong-import-position

NAME = "operator-sim"
CONFIG_LABEL = "nvidia.com/mig.config"
STATE_LABEL = "nvidia.com/mig.config.state"
CAPABLE_LABEL = "nvidia.com/mig.capable"
OPERATOR_NAMESPACE = os.environ.get("FGPU_OPERATOR_NAMESPACE", "gpu-operator")
POLICY = "cluster-policy"
MANAGER = "nvidia-mig-manager"
CONFIG_VOLUME = "mig-parted-config"
DEFAULT_CONFIGMAP = "default-mig-parted-config"
# What a pod's MIG manager has read: {"read": label value, "config": mounted text or
# null, "synced": epoch seconds of the mounted copy}.
POD_ANNOTATION = "lab.fractional.gpu/mig-manager"
KUBELET_SYNC_S = float(os.environ.get("FGPU_OPERATOR_SIM_KUBELET_SYNC_S", "60"))
GONE_AFTER_S = 60


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


# --- the controller ---------------------------------------------------------------------

def report_ready(api: lab.Api, policy: dict) -> None:
    if (policy.get("status") or {}).get("state") != "ready":
        api.call("PATCH", f"/apis/nvidia.com/v1/clusterpolicies/{POLICY}/status",
                 {"status": {"state": "ready"}})
        log(f"ClusterPolicy {POLICY}: status.state=ready")


def configmap_name(policy: dict) -> str:
    manager = (policy.get("spec") or {}).get("migManager") or {}
    return (manager.get("config") or {}).get("name") or DEFAULT_CONFIGMAP


def daemonset(policy: dict) -> dict:
    manager = (policy.get("spec") or {}).get("migManager") or {}
    image = "%s/%s:%s" % (manager.get("repository") or "nvcr.io/nvidia/cloud-native",
                          manager.get("image") or "k8s-mig-manager",
                          manager.get("version") or "simulated")
    labels = {"app": MANAGER, "lab.fractional.gpu/simulated": "true"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": MANAGER, "namespace": OPERATOR_NAMESPACE, "labels": labels,
            "ownerReferences": [{"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
                                 "name": POLICY, "uid": policy["metadata"]["uid"],
                                 "controller": True}],
        },
        "spec": {
            "selector": {"matchLabels": {"app": MANAGER}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {CAPABLE_LABEL: "true"},
                    "containers": [{
                        "name": MANAGER, "image": image,
                        "env": [{"name": "CONFIG_FILE",
                                 "value": f"/{CONFIG_VOLUME}/config.yaml"}],
                        "volumeMounts": [{"name": CONFIG_VOLUME,
                                          "mountPath": f"/{CONFIG_VOLUME}"}],
                    }],
                    "volumes": [{"name": CONFIG_VOLUME,
                                 "configMap": {"name": configmap_name(policy)}}],
                },
            },
        },
    }


def mounted_name(obj: dict) -> str | None:
    """The ConfigMap a pod (spec) or DaemonSet (spec.template.spec) mounts as the config."""
    spec = obj.get("spec") or {}
    spec = (spec.get("template") or {}).get("spec") or spec
    for volume in spec.get("volumes") or []:
        if volume.get("name") == CONFIG_VOLUME:
            return (volume.get("configMap") or {}).get("name")
    return None


def reconcile_daemonset(api: lab.Api, policy: dict) -> None:
    path = f"/apis/apps/v1/namespaces/{OPERATOR_NAMESPACE}/daemonsets"
    current = api.call("GET", f"{path}/{MANAGER}")
    enabled = ((policy.get("spec") or {}).get("migManager") or {}).get("enabled") is not False
    if not enabled:
        if current is not None:
            api.call("DELETE", f"{path}/{MANAGER}")
            log("ClusterPolicy disables the MIG manager: DaemonSet deleted")
        return
    want = daemonset(policy)
    if current is None:
        namespace = api.call("GET", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}")
        if namespace is None or (namespace.get("status") or {}).get("phase") != "Active":
            return
        api.call("POST", path, want)
        log(f"DaemonSet {MANAGER} created, config from ConfigMap {configmap_name(policy)}")
    elif mounted_name(current) != configmap_name(policy):
        api.call("PATCH", f"{path}/{MANAGER}",
                 {"spec": {"template": {"spec": {"volumes": want["spec"]["template"]["spec"]["volumes"]}}}})
        log(f"DaemonSet {MANAGER}: config from ConfigMap {configmap_name(policy)} (rolling its pods)")


# --- the MIG manager --------------------------------------------------------------------

def read_configmap(api: lab.Api, name: str) -> tuple[bool, str | None]:
    """(exists, config.yaml text or None)."""
    cm = api.call("GET", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/configmaps/{name}")
    if cm is None:
        return False, None
    return True, (cm.get("data") or {}).get("config.yaml")


def geometry_run(node: str, config: dict, config_name: str, check_mode: bool):
    """A GeometryRun on the node's simulated GPUs: (result, error)."""
    # Imported here: the collection is importable only once the lab links it.
    from ansible_collections.fractional.gpu.plugins.module_utils import nvidia_smi
    from ansible_collections.fractional.gpu.plugins.module_utils.mig_apply import (
        ApplyError, GeometryRun)
    from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
        MigConfigError)

    gpusim = lab.LAB_DIR / "gpusim"
    env = dict(os.environ, FGPU_GPUSIM_STATE=str(gpusim / f"{node}.state"),
               FGPU_PYTHON=sys.executable)

    def run(argv):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    client = nvidia_smi.NvidiaSmi(run, path=str(gpusim / "bin" / "nvidia-smi"))
    try:
        return GeometryRun(client, config, config_name, check_mode=check_mode).run(), None
    except (ApplyError, MigConfigError, nvidia_smi.NvidiaSmiError) as exc:
        return None, str(exc)


def set_state(api: lab.Api, node: str, state: str) -> None:
    api.call("PATCH", f"/api/v1/nodes/{node}", {"metadata": {"labels": {STATE_LABEL: state}}})


def apply_config(api: lab.Api, node: str, wanted: str, text: str | None) -> str:
    """What reconfigure's Run() does for one label value; returns the final state."""
    try:
        config = yaml.safe_load(text or "") or {}
    except yaml.YAMLError:
        config = {}
    if wanted not in (config.get("mig-configs") or {}):
        log(f"{node}: {wanted}: not in the mounted config: failed")
        set_state(api, node, "failed")
        return "failed"
    plan, error = geometry_run(node, config, wanted, check_mode=True)
    if plan is not None and not plan.get("changed_gpus"):
        log(f"{node}: {wanted}: already applied: success")
        set_state(api, node, "success")
        return "success"
    if error is None:
        set_state(api, node, "pending")
        result, error = geometry_run(node, config, wanted, check_mode=False)
        if error is None and result.get("reboot_required"):
            error = "GPUs %s need a reboot" % result["reboot_required_gpus"]
    state = "failed" if error else "success"
    set_state(api, node, state)
    log(f"{node}: {wanted}: {error or 'applied'}: {state}")
    return state


def run_manager(api: lab.Api, pod: dict, node: dict) -> bool:
    """One look of the pod's MIG manager at its node; True when it applied something."""
    meta = pod["metadata"]
    seen = json.loads((meta.get("annotations") or {}).get(POD_ANNOTATION) or "null")
    label = (node["metadata"].get("labels") or {}).get(CONFIG_LABEL) or ""
    now = time.time()
    cm_name = mounted_name(pod)
    if seen is None or now - seen["synced"] >= KUBELET_SYNC_S:
        exists, text = read_configmap(api, cm_name) if cm_name else (False, None)
        if seen is None and not exists:
            return False  # the kubelet cannot mount it: the pod does not start
        fresh = {"read": "" if seen is None else seen["read"], "config": text, "synced": now}
    else:
        fresh = dict(seen)
    # The informer's Add (pod start) and Update (label value changed) set the value to
    # apply; an empty value is never applied.
    applied = False
    if label and label != fresh["read"]:
        fresh["read"] = label
        apply_config(api, node["metadata"]["name"], label, fresh["config"])
        applied = True
    if fresh != seen:
        api.call("PATCH", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/pods/{meta['name']}",
                 {"metadata": {"annotations": {POD_ANNOTATION: json.dumps(fresh)}}})
    return applied


def sync(api: lab.Api) -> int:
    policy = api.call("GET", f"/apis/nvidia.com/v1/clusterpolicies/{POLICY}") \
        if api.call("GET", "/apis/nvidia.com/v1") is not None else None
    if policy is None:
        return 0
    report_ready(api, policy)
    reconcile_daemonset(api, policy)
    pods = api.call("GET", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/pods"
                           f"?labelSelector=app%3D{MANAGER}") or {"items": []}
    changed = 0
    for pod in pods["items"]:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if (pod["metadata"].get("deletionTimestamp") or not node_name
                or (pod.get("status") or {}).get("phase") != "Running"):
            continue
        node = api.call("GET", f"/api/v1/nodes/{node_name}")
        if node is not None and run_manager(api, pod, node):
            changed += 1
    return changed


def run_loop() -> None:
    api = lab.Api()
    last_ok = time.monotonic()
    while time.monotonic() - last_ok < GONE_AFTER_S:
        try:
            sync(api)
            last_ok = time.monotonic()
        except ConnectionError as exc:
            log(f"pass failed: {exc}")
        except RuntimeError as exc:  # a conflict or a namespace going away: next pass
            log(f"pass failed: {exc}")
            last_ok = time.monotonic()
        time.sleep(1)
    log("the apiserver is gone; exiting")


def start() -> None:
    if lab.running_pid(NAME):
        return
    lab.log_file(NAME).parent.mkdir(parents=True, exist_ok=True)
    lab.pid_file(NAME).parent.mkdir(parents=True, exist_ok=True)
    with open(lab.log_file(NAME), "ab") as out:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "run"], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    lab.pid_file(NAME).write_text(str(proc.pid))
    log(f"started, pid {proc.pid}, log {lab.log_file(NAME)}")


def stop() -> None:
    pid = lab.running_pid(NAME)
    if pid:
        os.kill(pid, signal.SIGTERM)
    lab.pid_file(NAME).unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sync", "run", "start", "stop"])
    args = parser.parse_args(argv)
    sys.path.insert(0, str(lab.link_collection()))
    if args.command == "sync":
        sync(lab.Api())
    else:
        {"run": run_loop, "start": start, "stop": stop}[args.command]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
