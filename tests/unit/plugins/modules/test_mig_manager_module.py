# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fractional.gpu.mig_manager in-process, over an in-memory stand-in for the reads it makes
(GPU nodes, ClusterPolicy, DaemonSet, MIG manager pods); the scenario mig_operator runs it
against a real apiserver and NVIDIA's operator controller."""

from __future__ import annotations

import pytest
from module_run import ApiResponse, run_module

from ansible_collections.fractional.gpu.plugins.module_utils import kube
from ansible_collections.fractional.gpu.plugins.modules import mig_manager

CONFIG = {"version": "v1", "mig-configs": {
    "balanced": [{"device-filter": "0x20B010DE", "devices": "all", "mig-enabled": True,
                  "mig-devices": {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2}}],
    "impossible": [{"device-filter": "0x20B010DE", "devices": "all", "mig-enabled": True,
                    "mig-devices": {"3g.20gb": 3}}]}}
A100 = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB",
        "nvidia.com/gpu.count": "4"}
CM = "fractional-gpu-mig-parted-config"


class NotFound(Exception):
    status = 404


class Fake:
    """The cluster's objects in memory, and every read made."""

    def __init__(self):
        self.nodes = {}
        self.policy = {"metadata": {"name": "cluster-policy"}, "spec": {"migManager": {}}}
        self.daemonsets = []
        self.pods = []
        self.reads = []

    def node(self, name, **labels):
        self.nodes[name] = {"metadata": {"name": name, "labels": dict(A100, **labels)}}

    def list_node(self, label_selector=None, _preload_content=True):
        self.reads.append(("nodes", label_selector))
        return ApiResponse({"items": list(self.nodes.values())})

    def list_namespaced_pod(self, namespace, label_selector=None, _preload_content=True):
        self.reads.append(("pods", namespace, label_selector))
        return ApiResponse({"items": self.pods})

    def get_cluster_custom_object(self, group, version, plural, name, _preload_content=True):
        self.reads.append(("policy", group, version, plural, name))
        if self.policy is None:
            raise NotFound()
        return ApiResponse(self.policy)

    def read_namespaced_daemon_set(self, name, namespace, _preload_content=True):
        self.reads.append(("daemonset", namespace, name))
        current = self.daemonsets.pop(0) if len(self.daemonsets) > 1 else self.daemonsets[0]
        if current is None:
            raise NotFound()
        return ApiResponse(current)


@pytest.fixture
def fake(monkeypatch):
    cluster = Fake()
    monkeypatch.setattr(kube, "apis", lambda module: {"core": cluster, "apps": cluster, "custom": cluster})
    monkeypatch.setattr(kube, "ApiException", NotFound)
    return cluster


@pytest.fixture
def clock(monkeypatch):
    """Seconds that pass only when the module sleeps."""
    now = {"t": 0.0, "sleeps": []}

    def sleep(seconds):
        now["sleeps"].append(seconds)
        now["t"] += seconds
    monkeypatch.setattr(mig_manager.time, "monotonic", lambda: now["t"])
    monkeypatch.setattr(mig_manager.time, "sleep", sleep)
    return now


def run(args, capsys):
    return run_module(mig_manager, args, capsys)


def test_check_fails_on_the_nodes_one_a_line_before_it_reads_the_policy(fake, capsys):
    fake.node("a")
    fake.node("b")
    out = run({"step": "check", "nodes": {"a": "impossible", "ghost": "balanced"}, "config": CONFIG,
               "configmap": CM}, capsys)
    assert out["_rc"] == 1
    lines = out["msg"].split("\n")
    assert lines[0].startswith("a: invalid MIG configuration for its GPUs as GPU feature discovery")
    assert lines[-1] == "no Kubernetes node named ghost"
    assert [read[0] for read in fake.reads] == ["nodes"]
    assert fake.reads[0][1] == "nvidia.com/gpu.present=true"


def test_check_fails_on_the_policy_and_returns_the_labels_decide_reads(fake, capsys):
    fake.node("a", **{"nvidia.com/mig.config": "all-disabled", "nvidia.com/mig.config.state": "success"})
    fake.policy = None
    out = run({"step": "check", "nodes": {"a": "balanced"}, "config": CONFIG, "configmap": CM}, capsys)
    assert out["_rc"] == 1 and out["msg"].startswith("There is no ClusterPolicy cluster-policy")
    assert ("policy", "nvidia.com", "v1", "clusterpolicies", "cluster-policy") in fake.reads
    fake.policy = {"spec": {"migManager": {"config": {"name": "other"}}}}
    out = run({"step": "check", "nodes": {"a": "balanced"}, "config": CONFIG, "configmap": CM,
               "patch_cluster_policy": False}, capsys)
    assert out["_rc"] == 1 and "names ConfigMap other" in out["msg"]
    out = run({"step": "check", "nodes": {"a": "balanced"}, "plans": {"a": {"changed_gpus": []}},
               "config": CONFIG, "configmap": CM, "_ansible_check_mode": True}, capsys)
    assert out["_rc"] == 0 and not out["changed"]
    assert out["labels"] == {"a": {"nvidia.com/mig.config": "all-disabled",
                                   "nvidia.com/mig.config.state": "success"}}


def daemonset(configmap, available):
    return {"metadata": {"generation": 3},
            "spec": {"template": {"spec": {"volumes": [{"name": "mig-parted-config",
                                                        "configMap": {"name": configmap}}]}}},
            "status": {"observedGeneration": 3, "desiredNumberScheduled": 2,
                       "updatedNumberScheduled": 2, "numberAvailable": available}}


def test_rollout_waits_inside_the_module_until_every_pod_is_ready(fake, clock, capsys):
    fake.daemonsets = [None, daemonset("default-mig-parted-config", 2), daemonset(CM, 1), daemonset(CM, 2)]
    out = run({"step": "rollout", "configmap": CM, "timeout": 60, "delay": 5}, capsys)
    assert out["_rc"] == 0 and clock["sleeps"] == [5, 5, 5]
    fake.daemonsets = [daemonset("default-mig-parted-config", 2)]
    out = run({"step": "rollout", "configmap": CM, "namespace": "ops", "timeout": 12, "delay": 5}, capsys)
    assert out["_rc"] == 1
    assert out["msg"] == ("DaemonSet ops/nvidia-mig-manager mounts ConfigMap default-mig-parted-config and "
                          "has 2 updated, 2 available of 2 pods after 12s; it should mount %s with every "
                          "pod updated and available" % CM)
    fake.daemonsets = [None]
    out = run({"step": "rollout", "configmap": CM, "timeout": 0}, capsys)
    assert out["msg"].startswith("There is no DaemonSet gpu-operator/nvidia-mig-manager after 0s")


def test_decide_reads_the_pods_once_with_the_time_now_and_batches(fake, monkeypatch, capsys):
    monkeypatch.setattr(mig_manager, "utc_now", lambda: "2026-01-01T12:00:00Z")
    fake.pods = [{"metadata": {"name": "p-" + node, "creationTimestamp": "2026-01-01T10:00:00Z"},
                  "spec": {"nodeName": node}} for node in ("a", "b", "c")]
    labels = {"a": {"nvidia.com/mig.config": "balanced", "nvidia.com/mig.config.state": "success"},
              "b": {"nvidia.com/mig.config": "all-disabled", "nvidia.com/mig.config.state": "success"},
              "c": {"nvidia.com/mig.config": "balanced", "nvidia.com/mig.config.state": "failed"}}
    args = {"step": "decide", "nodes": dict.fromkeys("abc", "balanced"), "labels": labels,
            "serial": 1, "selector": "app=mm", "namespace": "ops",
            # Changed a minute ago, after the pods started: a label change needs a new pod first.
            "configmap_object": {"metadata": {"managedFields": [{"time": "2026-01-01T11:59:00Z"}]}}}
    out = run(args, capsys)
    assert out["_rc"] == 0 and fake.reads == [("pods", "ops", "app=mm")]
    assert out["decision"]["actions"] == {"a": "restart", "b": "restart-relabel", "c": "restart"}
    assert [batch["nodes"] for batch in out["batches"]] == [["a"], ["b"], ["c"]]
    out = run(dict(args, configmap_object={}), capsys)
    assert out["decision"]["actions"] == {"a": "none", "b": "relabel", "c": "restart"}
    fake.pods = fake.pods[:2]
    out = run(args, capsys)
    assert out["_rc"] == 1 and out["msg"].startswith("c: no MIG manager pod (app=mm) runs on it")


def test_settle_and_result_wait_then_name_the_nodes(fake, clock, capsys):
    fake.node("ok", **{"nvidia.com/mig.config.state": "success"})
    fake.node("bad", **{"nvidia.com/mig.config.state": "failed"})
    fake.node("slow", **{"nvidia.com/mig.config.state": "pending"})
    common = {"configs": dict.fromkeys(["ok", "bad", "slow"], "small"), "timeout": 10, "delay": 5,
              "namespace": "ops", "selector": "app=mm"}
    out = run(dict(common, step="settle", nodes=["ok", "slow"]), capsys)
    assert out["_rc"] == 1 and clock["sleeps"] == [5, 5]
    assert out["msg"].startswith("slow: the new MIG manager pod set no nvidia.com/mig.config.state "
                                 "for 'small' in 10s")
    out = run(dict(common, step="result", nodes=["ok", "bad"]), capsys)
    assert out["_rc"] == 0 and not out["changed"] and out["stop"]
    assert out["problems"][0].startswith("bad: nvidia.com/mig.config.state is 'failed' for 'small'.")
    out = run(dict(common, step="result", nodes=["ok", "bad"], max_fail_percentage=50), capsys)
    assert not out["stop"] and len(out["problems"]) == 1


def test_bad_input_and_a_failed_read_say_so(fake, capsys):
    out = run({"step": "settle", "nodes": {"a": "x"}}, capsys)
    assert out["_rc"] == 1 and out["msg"].startswith("step settle: nodes must be a list of node names")
    out = run({"step": "check", "nodes": {}}, capsys)
    assert out["_rc"] == 1 and out["msg"] == "step check needs configmap"

    def down(**_kwargs):
        raise ConnectionRefusedError("[Errno 111] Connection refused")
    fake.list_namespaced_pod = lambda *args, **kwargs: down()
    out = run({"step": "decide", "nodes": {"a": "x"}}, capsys)
    assert out["_rc"] == 1 and out["msg"] == (
        "step decide: reading the cluster failed ([Errno 111] Connection refused); the MIG role changed nothing")
