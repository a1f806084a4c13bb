# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's node stand-ins around NVIDIA's device plugin and GFD (tests/lab/nvidia_operands.py):
the pod the operator would render, the kubelet's volumes and environment, NFD's labels.
The processes themselves are NVIDIA's and run in the Molecule scenarios."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "lab"))
import nvidia_operands as operands  # noqa: E402  pylint: disable=wrong-import-position

DEVICE_PLUGIN, GFD = operands.OPERANDS


@pytest.fixture(scope="module")
def assets():
    """The GPU Operator module's assets at the pinned version (fetched with Go)."""
    if not shutil.which("go"):
        pytest.skip("no Go toolchain to fetch the GPU Operator module")
    try:
        return operands.operator_assets()
    except (RuntimeError, subprocess.SubprocessError) as exc:
        pytest.skip(f"GPU Operator module not available: {exc}")


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def containers(spec):
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def test_the_plugin_takes_the_mig_strategy_and_env_from_the_cluster_policy(assets):
    policy = {"spec": {"mig": {"strategy": "mixed"}, "cdi": {"enabled": True},
                       "devicePlugin": {"env": [{"name": "DEVICE_LIST_STRATEGY", "value": "volume-mounts"},
                                                {"name": "EXTRA", "value": "1"}]}}}
    spec = operands.rendered_pod_spec(DEVICE_PLUGIN, policy, assets)
    env = env_of(containers(spec)["nvidia-device-plugin"])
    assert env["MIG_STRATEGY"] == "mixed" and env["NVIDIA_MIG_MONITOR_DEVICES"] == "all"
    assert env["FAIL_ON_INIT_ERROR"] == "true" and env["EXTRA"] == "1"
    # CDI comes after the ClusterPolicy's env, as in TransformDevicePlugin.
    assert env["DEVICE_LIST_STRATEGY"] == "envvar,cdi-annotations"
    assert "CONFIG_FILE" not in env and set(containers(spec)) == {"toolkit-validation", "nvidia-device-plugin"}
    assert "serviceAccountName" not in spec


def test_a_config_adds_the_config_manager_with_the_default_key(assets):
    policy = {"spec": {"devicePlugin": {"config": {"name": "sharing", "default": "base"}}}}
    for operand, main in ((DEVICE_PLUGIN, "nvidia-device-plugin"), (GFD, "gpu-feature-discovery")):
        spec = operands.rendered_pod_spec(operand, policy, assets)
        named = containers(spec)
        assert env_of(named[main])["CONFIG_FILE"] == "/config/config.yaml"
        for sidecar in ("config-manager-init", "config-manager"):
            env = env_of(named[sidecar])
            assert (env["DEFAULT_CONFIG"], env["FALLBACK_STRATEGIES"]) == ("base", "empty")
            assert {m["mountPath"] for m in named[sidecar]["volumeMounts"]} >= {"/config", "/available-configs"}
        assert {"name": "sharing", "configMap": {"name": "sharing"}} in spec["volumes"]
        assert "MIG_STRATEGY" not in env_of(named[main])  # no spec.mig.strategy: the plugin decides


def test_nodes_the_operator_selects():
    def node(**labels):
        return {"metadata": {"labels": labels}}
    assert operands.selected(node(**{"feature.node.kubernetes.io/pci-10de.present": "true"}), DEVICE_PLUGIN)
    assert operands.selected(node(**{"nvidia.com/gpu.present": "true"}), GFD)
    assert not operands.selected(node(), DEVICE_PLUGIN)
    paused = node(**{"nvidia.com/gpu.present": "true", DEVICE_PLUGIN.deploy_label: "paused-for-mig-change"})
    assert not operands.selected(paused, DEVICE_PLUGIN) and operands.selected(paused, GFD)


def test_container_env_translates_mounts_and_the_downward_api(monkeypatch, tmp_path):
    monkeypatch.setattr(operands.lab, "LAB_DIR", tmp_path)
    pod = {"metadata": {"name": "p", "namespace": "gpu-operator"}, "spec": {}}
    container = {"name": "config-manager", "env": [
        {"name": "CONFIG_FILE_DST", "value": "/config/config.yaml"},
        {"name": "CONFIG_FILE_SRCDIR", "value": "/available-configs"},
        {"name": "OTHER", "value": "/configs-elsewhere"},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "KUBECONFIG", "value": ""}],
        "volumeMounts": [{"name": "config", "mountPath": "/config"}, {"name": "cm", "mountPath": "/available-configs"}]}
    dirs = {"config": tmp_path / "v" / "config", "cm": tmp_path / "v" / "cm"}
    env = operands.container_env(container, pod, "gpu-x", dirs, "nvidia-device-plugin")
    assert env["CONFIG_FILE_DST"] == str(dirs["config"] / "config.yaml")
    assert env["CONFIG_FILE_SRCDIR"] == str(dirs["cm"])
    assert env["OTHER"] == "/configs-elsewhere" and env["NODE_NAME"] == "gpu-x"
    assert env["KUBECONFIG"] == str(tmp_path / "kubeconfig")
    assert env[operands.lab.NODE_PROCESS_MARK] == str(tmp_path) and "LD_LIBRARY_PATH" not in env
    main = operands.container_env({"name": "nvidia-device-plugin"}, pod, "gpu-x", dirs, "nvidia-device-plugin")
    assert main["LD_LIBRARY_PATH"] == str(tmp_path / "nodes" / "gpu-x" / "root" / operands.LIBRARY_DIR)
    assert main["FGPU_GPUSIM_STATE"] == str(tmp_path / "gpusim" / "gpu-x.state")


def test_configmap_volumes_are_swapped_atomically_as_the_kubelet_does(tmp_path):
    target = tmp_path / "cm"
    assert operands.project_configmap(target, {"a": "1", "b": "2"})
    assert (target / "a").read_text() == "1" and (target / "a").is_symlink()
    first = (target / "..data").resolve()
    assert not operands.project_configmap(target, {"a": "1", "b": "2"})
    assert operands.project_configmap(target, {"a": "one"})
    assert (target / "a").read_text() == "one" and not (target / "b").exists()
    assert not first.exists() and {p.name for p in target.iterdir() if p.name.startswith("..")} == {
        "..data", (target / "..data").resolve().name}


def test_gfd_output_replaces_the_labels_nfd_applied_before():
    assert operands.gfd_labels("# comment\nnvidia.com/gpu.count=8\nplain=1\n\n") == {
        "nvidia.com/gpu.count": "8", "feature.node.kubernetes.io/plain": "1"}
    node = {"metadata": {"labels": {"nvidia.com/gpu.count": "8", "nvidia.com/mig-1g.10gb.count": "7",
                                    "nvidia.com/device-plugin.config": "l40s", "nvidia.com/gpu.present": "true"},
                         "annotations": {operands.NFD_LABELS_ANNOTATION:
                                         "nvidia.com/gpu.count,nvidia.com/mig-1g.10gb.count"}}}
    patch = operands.label_patch(node, {"nvidia.com/gpu.count": "8", "nvidia.com/gpu.replicas": "4"})
    assert patch == {"metadata": {"labels": {"nvidia.com/mig-1g.10gb.count": None, "nvidia.com/gpu.replicas": "4"},
                                  "annotations": {operands.NFD_LABELS_ANNOTATION:
                                                  "nvidia.com/gpu.count,nvidia.com/gpu.replicas"}}}
    applied = {"metadata": {"labels": {"nvidia.com/gpu.count": "8"},
                            "annotations": {operands.NFD_LABELS_ANNOTATION: "nvidia.com/gpu.count"}}}
    assert operands.label_patch(applied, {"nvidia.com/gpu.count": "8"}) is None
    assert operands.label_patch(applied, {}) == {"metadata": {"labels": {"nvidia.com/gpu.count": None},
                                                              "annotations": {operands.NFD_LABELS_ANNOTATION: None}}}
