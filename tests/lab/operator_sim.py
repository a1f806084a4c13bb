# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A SIMULATED GPU Operator controller and MIG manager for the lab. Test-only.

The real operator controller and its MIG manager (a DaemonSet pod that runs mig-parted on
each GPU node) are container images; the lab's nodes are kwok nodes where no container
runs. This stand-in does two things of theirs:

- the controller's report: ClusterPolicy ``cluster-policy`` gets ``status.state=ready``
  (the real one reports ready once its operands run);
- the MIG manager's documented flow with the node labels, changing the node's simulated
  GPUs (tests/gpusim, through the simulated nvidia-smi):

  1. a node whose ``nvidia.com/mig.config`` label names a config it has not applied yet
     (or whose state label was removed) gets ``nvidia.com/mig.config.state=pending``;
  2. the config comes from the ConfigMap the ClusterPolicy's ``spec.migManager.config.name``
     names (key ``config.yaml``, in the operator's namespace);
  3. it is applied to the node's simulated GPUs; the state becomes ``success``, or
     ``failed`` when the config is unknown, invalid for the GPUs, or the apply fails.

Applying uses the collection's own nvidia-smi planner (plugins/module_utils/mig_apply.py)
in place of mig-parted, which cannot be built here without its container. So the tests
that use it prove the mig role's side of operator mode (ConfigMap, ClusterPolicy, labels,
waiting, failure reports); the GPUs it leaves are checked independently through NVML.

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
# Which config this stand-in applied last, so that a re-labelled node is applied again.
APPLIED_ANNOTATION = "lab.fractional.gpu/mig-config-applied"
OPERATOR_NAMESPACE = os.environ.get("FGPU_OPERATOR_NAMESPACE", "gpu-operator")
DEFAULT_CONFIGMAP = "default-mig-parted-config"
GONE_AFTER_S = 60


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


def kubectl_json(*args: str):
    proc = subprocess.run(["kubectl", f"--kubeconfig={lab.kubeconfig_path()}", *args,
                           "-o", "json"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def set_node(node: str, state: str, applied: str | None = None) -> None:
    subprocess.run(["kubectl", f"--kubeconfig={lab.kubeconfig_path()}", "label", "node",
                    node, f"{STATE_LABEL}={state}", "--overwrite"],
                   capture_output=True, check=True)
    if applied is not None:
        subprocess.run(["kubectl", f"--kubeconfig={lab.kubeconfig_path()}", "annotate",
                        "node", node, f"{APPLIED_ANNOTATION}={applied}", "--overwrite"],
                       capture_output=True, check=True)


def mig_parted_config() -> dict | None:
    policy = kubectl_json("get", "clusterpolicies.nvidia.com", "cluster-policy")
    name = DEFAULT_CONFIGMAP
    if policy:
        name = ((policy.get("spec") or {}).get("migManager") or {}).get("config", {}).get(
            "name") or DEFAULT_CONFIGMAP
    configmap = kubectl_json("get", "configmap", "-n", OPERATOR_NAMESPACE, name)
    if not configmap or "config.yaml" not in (configmap.get("data") or {}):
        return None
    return yaml.safe_load(configmap["data"]["config.yaml"])


def apply_on_gpus(node: str, config: dict, config_name: str) -> str | None:
    """Applies the config to the node's simulated GPUs; the error, or None."""
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
        result = GeometryRun(client, config, config_name).run()
    except (ApplyError, MigConfigError, nvidia_smi.NvidiaSmiError) as exc:
        return str(exc)
    if result.get("reboot_required"):
        return "GPUs %s need a reboot" % result["reboot_required_gpus"]
    return None


def report_ready() -> None:
    policy = kubectl_json("get", "clusterpolicies.nvidia.com", "cluster-policy")
    if policy and (policy.get("status") or {}).get("state") != "ready":
        subprocess.run(["kubectl", f"--kubeconfig={lab.kubeconfig_path()}", "patch",
                        "clusterpolicies.nvidia.com", "cluster-policy", "--subresource=status",
                        "--type=merge", "-p", '{"status": {"state": "ready"}}'],
                       capture_output=True, check=True)
        log("ClusterPolicy cluster-policy: status.state=ready")


def sync() -> int:
    nodes = kubectl_json("get", "nodes", "-l", CONFIG_LABEL)
    if nodes is None:
        raise ConnectionError("the apiserver does not answer")
    report_ready()
    changed = 0
    for node in nodes["items"]:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        wanted = labels[CONFIG_LABEL]
        applied = (node["metadata"].get("annotations") or {}).get(APPLIED_ANNOTATION)
        if labels.get(STATE_LABEL) in ("success", "failed") and applied == wanted:
            continue
        set_node(name, "pending")
        config = mig_parted_config()
        if config is None or wanted not in (config.get("mig-configs") or {}):
            error = f"no MIG config '{wanted}' in the MIG manager's ConfigMap"
        else:
            error = apply_on_gpus(name, config, wanted)
        set_node(name, "failed" if error else "success", applied=wanted)
        log(f"{name}: {wanted}: {error or 'success'}")
        changed += 1
    return changed


def run_loop() -> None:
    last_ok = time.monotonic()
    while time.monotonic() - last_ok < GONE_AFTER_S:
        try:
            sync()
            last_ok = time.monotonic()
        except (ConnectionError, subprocess.CalledProcessError) as exc:
            log(f"pass failed: {exc}")
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
    {"sync": sync, "run": run_loop, "start": start, "stop": stop}[args.command]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
