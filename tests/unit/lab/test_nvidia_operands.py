# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's node runtime around NVIDIA's device plugin and GFD (tests/lab/nvidia_operands.py):
it follows the pods the operator's controller deploys, gives their containers the
environment the kubelet would, and labels nodes as NFD does. The processes themselves are
NVIDIA's and run in the Molecule scenarios."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "lab"))
import nvidia_operands as operands  # noqa: E402  pylint: disable=wrong-import-position

DEVICE_PLUGIN, GFD = operands.OPERANDS
ANNOTATION = operands.lab.NFD_LABELS_ANNOTATION


def operand_pod(app, uid, node="gpu-x", **meta):
    return {"metadata": {"name": f"{app}-{uid}", "namespace": "gpu-operator", "uid": uid, "resourceVersion": "1",
                         "labels": {"app": app}, **meta},
            "spec": {"nodeName": node}, "status": {"phase": "Running"}}


def test_container_env_translates_mounts_and_the_downward_api(monkeypatch, tmp_path):
    monkeypatch.setattr(operands.lab, "LAB_DIR", tmp_path)
    pod = operand_pod(DEVICE_PLUGIN.app, "u1")
    container = {"name": "config-manager", "env": [
        {"name": "CONFIG_FILE_DST", "value": "/config/config.yaml"},
        {"name": "CONFIG_FILE_SRCDIR", "value": "/available-configs"},
        {"name": "OTHER", "value": "/configs-elsewhere"},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "KUBECONFIG", "value": ""}],
        "volumeMounts": [{"name": "config", "mountPath": "/config"}, {"name": "cm", "mountPath": "/available-configs"}]}
    dirs = {"config": tmp_path / "v" / "config", "cm": tmp_path / "v" / "cm"}
    env = operands.container_env(container, pod, dirs, DEVICE_PLUGIN.main)
    assert env["CONFIG_FILE_DST"] == str(dirs["config"] / "config.yaml")
    assert env["CONFIG_FILE_SRCDIR"] == str(dirs["cm"])
    assert env["OTHER"] == "/configs-elsewhere" and env["NODE_NAME"] == "gpu-x"
    # In-cluster, as the pod's service account (the kubeconfig the operator leaves empty).
    assert env["KUBECONFIG"] == "" and env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env[operands.lab.NODE_PROCESS_MARK] == str(tmp_path) and "LD_LIBRARY_PATH" not in env
    main = operands.container_env({"name": "nvidia-device-plugin"}, pod, dirs, DEVICE_PLUGIN.main)
    assert main["LD_LIBRARY_PATH"] == str(tmp_path / "nodes" / "gpu-x" / "root" / "usr/lib/x86_64-linux-gnu")
    assert main["FGPU_GPUSIM_STATE"] == str(tmp_path / "gpusim" / "gpu-x.state")


def test_the_plan_mounts_the_paths_the_plugin_uses_without_a_flag(monkeypatch, tmp_path):
    monkeypatch.setattr(operands.lab, "LAB_DIR", tmp_path)
    pod = operand_pod(DEVICE_PLUGIN.app, "u1")
    pod["spec"].update(volumes=[{"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}],
                       containers=[{"name": "nvidia-device-plugin",
                                    "volumeMounts": [{"name": "device-plugin",
                                                      "mountPath": "/var/lib/kubelet/device-plugins"}]}])
    plan = operands.pod_plan(pod, DEVICE_PLUGIN)
    root = tmp_path / "nodes" / "gpu-x" / "root"
    assert plan["mounts"] == {"/var/lib/kubelet/device-plugins": str(root / "var/lib/kubelet/device-plugins"),
                              "/proc/driver/nvidia-caps": str(root / "proc/driver/nvidia-caps"),
                              "/var/run/secrets/kubernetes.io/serviceaccount":
                                  str(tmp_path / "nodes" / "gpu-x" / "pods" / pod["metadata"]["name"] / "serviceaccount")}
    assert [c["executable"] for c in plan["containers"]] == ["nvidia-device-plugin"]


def test_nfd_replaces_the_labels_it_applied_before():
    assert operands.feature_labels("# comment\nnvidia.com/gpu.count=8\nplain=1\n\n") == {
        "nvidia.com/gpu.count": "8", "feature.node.kubernetes.io/plain": "1"}
    node = {"metadata": {"labels": {"nvidia.com/gpu.count": "8", "nvidia.com/mig-1g.10gb.count": "7",
                                    "nvidia.com/device-plugin.config": "l40s", "nvidia.com/gpu.present": "true"},
                         "annotations": {ANNOTATION: "nvidia.com/gpu.count,nvidia.com/mig-1g.10gb.count"}}}
    patch = operands.label_patch(node, {"nvidia.com/gpu.count": "8", "nvidia.com/gpu.replicas": "4"})
    assert patch == {"metadata": {"labels": {"nvidia.com/mig-1g.10gb.count": None, "nvidia.com/gpu.replicas": "4"},
                                  "annotations": {ANNOTATION: "nvidia.com/gpu.count,nvidia.com/gpu.replicas"}}}
    applied = {"metadata": {"labels": {"nvidia.com/gpu.count": "8"}, "annotations": {ANNOTATION: "nvidia.com/gpu.count"}}}
    assert operands.label_patch(applied, {"nvidia.com/gpu.count": "8"}) is None
    assert operands.label_patch(applied, {}) == {"metadata": {"labels": {"nvidia.com/gpu.count": None},
                                                              "annotations": {ANNOTATION: None}}}


class FakeApi:
    """The operand pods the controller's DaemonSets have, by app label."""

    def __init__(self):
        self.pods = {DEVICE_PLUGIN.app: [], GFD.app: []}
        self.patches = []

    def call(self, method, path, body=None):
        if method == "GET" and path.startswith("/api/v1/pods?labelSelector=app%3D"):
            return {"items": self.pods[path.rsplit("%3D", 1)[1]]}
        found = [p for items in self.pods.values() for p in items if path.endswith("/pods/" + p["metadata"]["name"])]
        if method == "GET":
            return found[0] if found else None
        assert method == "PATCH" and found, (method, path)
        self.patches.append((found[0]["metadata"]["name"], body))
        return {}


class FakeProc:
    returncode = None

    @staticmethod
    def poll():
        return None


def agent_on(api, monkeypatch):
    agent = operands.Agent.__new__(operands.Agent)
    agent.api, agent.runs, agent.waiting = api, {}, set()
    events = []

    def start_pod(operand, pod):
        events.append(("start", operand.key, pod["metadata"]["uid"]))
        run = operands.Run.__new__(operands.Run)
        run.operand, run.pod, run.proc = operand, pod, FakeProc()
        run.refresh = lambda: True
        agent.runs[pod["metadata"]["uid"]] = run

    def stop_pods(uids):
        for uid in uids:
            events.append(("stop", agent.runs.pop(uid).operand.key, uid))
    monkeypatch.setattr(agent, "start_kubelets", lambda: None)
    monkeypatch.setattr(agent, "apply_labels", lambda: None)
    monkeypatch.setattr(agent, "start_pod", start_pod)
    monkeypatch.setattr(agent, "stop_pods", stop_pods)
    return agent, events


def test_the_runtime_follows_the_pods_through_a_mig_change(monkeypatch):
    api = FakeApi()
    agent, events = agent_on(api, monkeypatch)
    api.pods[DEVICE_PLUGIN.app] = [operand_pod(DEVICE_PLUGIN.app, "dp1")]
    api.pods[GFD.app] = [operand_pod(GFD.app, "gfd1"), {**operand_pod(GFD.app, "pending"), "status": {}}]
    agent.sync()
    assert events == [("start", "device-plugin", "dp1"), ("start", "gpu-feature-discovery", "gfd1")]
    agent.sync()
    assert len(events) == 2
    # The MIG manager pauses the operands: their DaemonSets delete the pods.
    for app, uid in ((DEVICE_PLUGIN.app, "dp1"), (GFD.app, "gfd1")):
        api.pods[app] = [operand_pod(app, uid, deletionTimestamp="now", finalizers=[operands.FINALIZER])]
    agent.sync()
    assert events[2:] == [("stop", "device-plugin", "dp1"), ("stop", "gpu-feature-discovery", "gfd1")]
    assert not agent.runs
    # Restored: new pods, started again.
    api.pods = {DEVICE_PLUGIN.app: [operand_pod(DEVICE_PLUGIN.app, "dp2")], GFD.app: []}
    agent.sync()
    assert events[4:] == [("start", "device-plugin", "dp2")]


def test_a_pod_that_left_while_the_runtime_was_away_is_let_go(monkeypatch):
    api = FakeApi()
    agent, events = agent_on(api, monkeypatch)
    api.pods[GFD.app] = [operand_pod(GFD.app, "old", deletionTimestamp="now", finalizers=["other", operands.FINALIZER])]
    agent.sync()
    assert events == []
    assert api.patches == [(f"{GFD.app}-old", {"metadata": {"finalizers": ["other"], "resourceVersion": "1"}})]


def test_a_pod_holds_the_finalizer_while_its_containers_run():
    api = FakeApi()
    pod = operand_pod(DEVICE_PLUGIN.app, "dp1")
    api.pods[DEVICE_PLUGIN.app] = [pod]
    operands.set_finalizer(api, pod, held=True)
    assert api.patches == [(pod["metadata"]["name"],
                            {"metadata": {"finalizers": [operands.FINALIZER], "resourceVersion": "1"}})]
    pod["metadata"]["finalizers"] = [operands.FINALIZER]
    operands.set_finalizer(api, pod, held=True)
    operands.set_finalizer(api, pod, held=False)
    assert api.patches[1:] == [(pod["metadata"]["name"], {"metadata": {"finalizers": None, "resourceVersion": "1"}})]
