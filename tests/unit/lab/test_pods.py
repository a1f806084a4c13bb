# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kubelet's part the lab's pod runners share (tests/lab/pods.py): which pods run, a
container's environment, ConfigMap volumes, restarts."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "lab"))
import pods  # noqa: E402  pylint: disable=wrong-import-position


def pod(**meta):
    return {"metadata": {"name": "p", "namespace": "gpu-operator", "uid": "u1", **meta},
            "spec": {"nodeName": "gpu-x"}, "status": {"phase": "Running"}}


def test_a_pod_runs_once_bound_and_running_until_it_is_deleted():
    assert pods.is_running(pod())
    assert not pods.is_running(pod(deletionTimestamp="2025-01-01T00:00:00Z"))
    assert not pods.is_running({**pod(), "status": {"phase": "Pending"}})
    assert not pods.is_running({**pod(), "spec": {}})


def test_container_env_resolves_values_and_the_downward_api():
    container = {"name": "c", "env": [
        {"name": "DST", "value": "/config/config.yaml"},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "EMPTY", "value": ""}]}
    env = pods.container_env(pod(), container, translate=lambda v: "/lab" + v if v.startswith("/config/") else v)
    assert env["DST"] == "/lab/config/config.yaml" and env["EMPTY"] == ""
    assert (env["NODE_NAME"], env["NAMESPACE"]) == ("gpu-x", "gpu-operator")
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    with pytest.raises(pods.lab.LabError, match="SECRET"):
        pods.container_env(pod(), {"name": "c", "env": [{"name": "SECRET", "valueFrom": {"secretKeyRef": {}}}]})


def test_configmap_volumes_are_swapped_atomically_as_the_kubelet_does(tmp_path):
    target = tmp_path / "cm"
    assert pods.project_configmap(target, {"a": "1", "b": "2"})
    assert (target / "a").read_text() == "1" and (target / "a").is_symlink()
    first = (target / "..data").resolve()
    assert not pods.project_configmap(target, {"a": "1", "b": "2"})
    assert pods.project_configmap(target, {"a": "one"})
    assert (target / "a").read_text() == "one" and not (target / "b").exists()
    assert not first.exists() and {p.name for p in target.iterdir() if p.name.startswith("..")} == {
        "..data", (target / "..data").resolve().name}


class ConfigMapApi:
    def __init__(self, data):
        self.data = data
        self.calls = 0

    def call(self, method, path, body=None):
        assert (method, path, body) == ("GET", "/api/v1/namespaces/gpu-operator/configmaps/cfg", None)
        self.calls += 1
        return None if self.data is None else {"data": self.data}


def test_a_missing_configmap_keeps_the_pod_from_starting_and_later_keeps_the_copy(tmp_path, monkeypatch):
    with_volume = {**pod(), "spec": {"nodeName": "gpu-x", "volumes": [{"name": "v", "configMap": {"name": "cfg"}}]}}
    api = ConfigMapApi(None)
    volumes = pods.ConfigMapVolumes(api, with_volume, tmp_path)
    assert volumes.sync() == (False, [])
    api.data = {"k": "1"}
    assert volumes.sync() == (True, ["cfg"]) and (tmp_path / "v" / "k").read_text() == "1"
    api.data = {"k": "2"}
    assert volumes.sync() == (True, []) and api.calls == 2  # not due yet: the kubelet's sync period
    monkeypatch.setattr(pods, "KUBELET_SYNC_S", 0)
    api.data = None
    assert volumes.sync() == (True, []) and (tmp_path / "v" / "k").read_text() == "1"


def test_restarts_back_off_as_the_kubelets_do(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(pods.time, "monotonic", lambda: now[0])
    backoff = pods.Backoff()
    assert backoff.due()
    backoff.started()
    assert [backoff.exited() for _restart in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    assert not backoff.due() and backoff.restarts == 7
    now[0] += 300
    assert backoff.due()
    backoff.started()
    now[0] += 601  # up for more than 10 minutes: the back-off starts again
    assert backoff.exited() == 10
