# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's MIG manager stand-in (tests/lab/mig_manager.py) in one pod, against a small
in-memory Kubernetes API and a simulated GPU host: when it applies, the order of its label
changes (state, operand pause and restore), and what reaches the GPUs. Independent of the
collection."""

import re
from urllib.parse import unquote

import pytest

# Sets up the import paths of the lab and the simulator, and the fixtures.
from lab_hosts import fixture_lab_node, fixture_nvml_lib  # noqa: F401  pylint: disable=unused-import
import lab
import mig_manager
from gpusim import host as gpusim_host

NAMESPACE = "gpu-operator"
NODE = "gpu-a100-0"
CONFIG = """
version: v1
mig-configs:
  all-disabled: [{devices: all, mig-enabled: false}]
  small: [{device-filter: "0x20B010DE", devices: all, mig-enabled: true, mig-devices: {"1g.5gb": 7}}]
  impossible: [{device-filter: "0x20B010DE", devices: all, mig-enabled: true, mig-devices: {"3g.20gb": 3}}]
"""
OPERAND_APPS = {label: app for label, app in mig_manager.OPERANDS.items() if app}


def manager_pod(with_reboot=False):
    """A pod of the operator's nvidia-mig-manager DaemonSet, as far as the manager reads it."""
    env = [{"name": "CONFIG_FILE", "value": "/mig-parted-config/config.yaml"}]
    if with_reboot:
        env.append({"name": "WITH_REBOOT", "value": "true"})
    return {"metadata": {"name": "nvidia-mig-manager-x", "namespace": NAMESPACE, "uid": "uid-1"},
            "spec": {"nodeName": NODE,
                     "containers": [{"name": "nvidia-mig-manager", "env": env,
                                     "volumeMounts": [{"name": "mig-parted-config", "mountPath": "/mig-parted-config"}]}],
                     "volumes": [{"name": "mig-parted-config", "configMap": {"name": "custom-mig-config"}}]}}


class FakeApi:
    """The node, the operand pods on it and the MIG ConfigMap; operand pods leave the node
    when their deploy label stops being 'true', as their DaemonSets' pods would."""

    def __init__(self, labels, configmap=CONFIG):
        self.labels = dict(labels)
        self.configmap = configmap
        self.pods = {app: 1 for app in OPERAND_APPS.values()}
        self.pods.update({"nvidia-operator-validator": 1})
        self.stuck = set()
        self.changes = []  # every label change, in order
        self.deleted = []

    def call(self, method, path, body=None):
        if path == f"/api/v1/nodes/{NODE}":
            if method == "PATCH":
                changed = body["metadata"]["labels"]
                self.changes.append(changed)
                self.labels.update(changed)
                for label, app in OPERAND_APPS.items():
                    if self.labels.get(label) != "true" and app not in self.stuck:
                        self.pods[app] = 0
                return {}
            return {"metadata": {"name": NODE, "labels": dict(self.labels)}}
        if path.startswith(f"/api/v1/namespaces/{NAMESPACE}/configmaps/"):
            return None if self.configmap is None else {"data": {"config.yaml": self.configmap}}
        match = re.match(rf"/api/v1/namespaces/{NAMESPACE}/pods(/(?P<name>[^?]+))?(\?(?P<query>.*))?$", path)
        if match and method == "DELETE":
            self.deleted.append(match.group("name"))
            self.pods[match.group("name")] = 0
            return {}
        if match:
            query = dict(part.split("=", 1) for part in match.group("query").split("&"))
            app = unquote(query["labelSelector"]).removeprefix("app=")
            assert unquote(query["fieldSelector"]) == f"spec.nodeName={NODE}"
            return {"items": [{"metadata": {"name": app}}] * self.pods.get(app, 0)}
        raise AssertionError(f"unexpected call {method} {path}")


@pytest.fixture
def node(lab_node, monkeypatch):
    monkeypatch.setattr(lab, "LAB_DIR", lab_node(NODE))
    return lab.LAB_DIR / "gpusim" / f"{NODE}.state"


def deploy_labels(**values):
    labels = {label: "true" for label in OPERAND_APPS}
    labels.update({f"nvidia.com/gpu.deploy.{k.replace('_', '-')}": v for k, v in values.items()})
    return labels


def mutations(state):
    try:
        with open(f"{state}.mutations.log") as log:
            return log.read().splitlines()
    except FileNotFoundError:
        return []


def test_reads_the_config_from_the_mounted_configmap():
    assert mig_manager.mounted_config(manager_pod()) == ("mig-parted-config", "config.yaml")


def test_pauses_the_operands_applies_and_restores_them(node):
    api = FakeApi({**deploy_labels(dcgm="false"), "nvidia.com/mig.config": "small"})
    manager = mig_manager.Manager(api, manager_pod())
    manager.step()
    paused = {label: "paused-for-mig-change" for label in mig_manager.OPERANDS}
    restored = {label: "true" for label in mig_manager.OPERANDS}
    # An operand forced off (false) stays off; one without a label is paused and then
    # enabled, as mig-parted's maybeSetPaused / maybeSetTrue do.
    paused["nvidia.com/gpu.deploy.dcgm"] = restored["nvidia.com/gpu.deploy.dcgm"] = "false"
    assert api.changes == [{"nvidia.com/mig.config.state": "pending"}, paused,
                           {**restored, "nvidia.com/mig.config.state": "success"}]
    assert api.deleted == ["nvidia-operator-validator"]
    assert sum("CreateGpuInstance" in line for line in mutations(node)) == 28
    # The same value again: nothing; a pod's start is what applies it again.
    manager.step()
    assert len(api.changes) == 3


def test_success_at_once_when_the_gpus_already_have_it(node):
    api = FakeApi({**deploy_labels(), "nvidia.com/mig.config": "all-disabled"})
    mig_manager.Manager(api, manager_pod()).step()
    assert api.changes == [{**{label: "true" for label in mig_manager.OPERANDS},
                            "nvidia.com/mig.config.state": "success"}]
    assert mutations(node) == []


def test_a_name_missing_from_the_mounted_copy_fails_before_any_change(node):
    api = FakeApi({**deploy_labels(), "nvidia.com/mig.config": "halves"})
    mig_manager.Manager(api, manager_pod()).step()
    assert [change.get("nvidia.com/mig.config.state") for change in api.changes] == ["failed"]
    assert mutations(node) == []


def test_a_pod_without_its_configmap_does_not_start(node):
    api = FakeApi({**deploy_labels(), "nvidia.com/mig.config": "small"}, configmap=None)
    mig_manager.Manager(api, manager_pod()).step()
    assert api.changes == [] and mutations(node) == []


def test_a_failed_apply_restores_the_operands(node):
    api = FakeApi({**deploy_labels(), "nvidia.com/mig.config": "impossible"})
    mig_manager.Manager(api, manager_pod()).step()
    assert api.changes[-1] == {**{label: "true" for label in mig_manager.OPERANDS},
                               "nvidia.com/mig.config.state": "failed"}


def test_operand_pods_that_stay_leave_it_pending_and_paused(node, monkeypatch):
    monkeypatch.setattr(mig_manager, "POD_DELETE_TIMEOUT_S", 1)
    api = FakeApi({**deploy_labels(), "nvidia.com/mig.config": "small"})
    api.stuck.add("nvidia-dcgm-exporter")
    mig_manager.Manager(api, manager_pod()).step()
    assert api.labels["nvidia.com/mig.config.state"] == "pending"
    assert api.labels["nvidia.com/gpu.deploy.device-plugin"] == "paused-for-mig-change"
    assert mutations(node) == []


def test_with_reboot_a_mode_change_that_needs_one_reboots_the_node(node):
    gpusim_host.set_fault(str(node), "mig_needs_reboot", True)
    api = FakeApi({**deploy_labels(), "nvidia.com/mig.config": "small"})
    manager = mig_manager.Manager(api, manager_pod(with_reboot=True))
    manager.step()
    assert api.labels["nvidia.com/mig.config.state"] == "rebooting"
    # The pod starts again after the reboot, the mode is now applied, and so is the config.
    manager.step()
    assert api.labels["nvidia.com/mig.config.state"] == "success"
    assert api.labels["nvidia.com/gpu.deploy.device-plugin"] == "true"
