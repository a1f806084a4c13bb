# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fractional.gpu.node_labels in-process, over an in-memory stand-in for the two API calls it
makes (list the nodes, merge-patch one node); the lab's scenarios run it against a real
apiserver, and stop that apiserver half-way (scenario scale_faults)."""

from __future__ import annotations

import threading

import pytest
from module_run import ApiResponse, run_module

from ansible_collections.fractional.gpu.plugins.module_utils import kube
from ansible_collections.fractional.gpu.plugins.modules import node_labels


class FakeApi:
    """Nodes in memory; ``fail_after`` patches succeed, then every request fails."""

    def __init__(self, nodes, fail_after=None):
        self.nodes = dict((n, {"metadata": {"name": n, "labels": dict(l)}}) for n, l in nodes.items())
        self.lists = 0
        self.patched = []
        self.fail_after = fail_after
        self.lock = threading.Lock()  # the module patches from several threads

    def list_node(self, _preload_content=True, **_kwargs):
        self.lists += 1
        return ApiResponse({"items": list(self.nodes.values())})

    def patch_node(self, name, patch, _content_type=None, _preload_content=True):
        assert _content_type == kube.MERGE_PATCH
        with self.lock:
            if self.fail_after is not None and len(self.patched) >= self.fail_after:
                raise ConnectionRefusedError("[Errno 111] Connection refused")
            for key, value in patch["metadata"].get("labels", {}).items():
                if value is None:
                    self.nodes[name]["metadata"]["labels"].pop(key, None)
                else:
                    self.nodes[name]["metadata"]["labels"][key] = value
            self.patched.append(name)


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi({"n%d" % i: {"pool": "old"} for i in range(5)})
    monkeypatch.setattr(kube, "core_api", lambda module: fake)
    return fake


def run(args, capsys):
    return run_module(node_labels, args, capsys)


def test_one_read_patches_only_what_differs_then_nothing(api, capsys):
    wanted = {"labels": {"n%d" % i: {"pool": "new" if i < 3 else "old"} for i in range(5)}}
    out = run(wanted, capsys)
    assert out["_rc"] == 0 and out["changed"] and out["changed_nodes"] == ["n0", "n1", "n2"]
    assert api.lists == 1 and sorted(api.patched) == ["n0", "n1", "n2"]
    out = run(wanted, capsys)
    assert not out["changed"] and api.lists == 2 and len(api.patched) == 3


def test_check_and_diff_mode_write_nothing(api, capsys):
    out = run({"labels": {"n0": {"pool": None}}, "_ansible_check_mode": True,
               "_ansible_diff": True}, capsys)
    assert out["changed"] and api.patched == []
    assert out["diff"] == {"before": {"n0": {"labels": {"pool": "old"}}}, "after": {"n0": {"labels": {}}}}


def test_bad_input_and_missing_nodes_fail_before_any_write(api, capsys):
    out = run({"labels": {"n0": {"pool": "new"}, "ghost": {"pool": "new"}}, "step": "Label"}, capsys)
    assert out["_rc"] == 1 and api.patched == []
    assert out["msg"].startswith("Label: 1 problem(s), nothing was written: no node named ghost")
    out = run({"labels": {"n0": {"pool": "new"}, "ghost": {"pool": "new"}}, "missing": "ignore"}, capsys)
    assert out["_rc"] == 0 and out["missing"] == ["ghost"] and api.patched == ["n0"]


def test_a_failure_part_way_reports_written_and_not_written(api, capsys):
    api.fail_after = 2
    out = run({"labels": {"n%d" % i: {"pool": "new"} for i in range(5)},
               "step": "Label the pool nodes"}, capsys)
    assert out["_rc"] == 1
    # Patches run side by side: which two got through is up to the threads, the account is not.
    assert len(out["written"]) == 2 and sorted(out["written"] + out["not_written"]) == \
        ["n%d" % i for i in range(5)]
    assert out["written"] == sorted(api.patched)
    assert out["msg"].startswith("Label the pool nodes: writing node ")
    assert "Connection refused" in out["msg"]
    # Each node is whole: written ones carry the new value, the others the old one.
    assert all(api.nodes[n]["metadata"]["labels"]["pool"] == "new" for n in out["written"])
    assert all(api.nodes[n]["metadata"]["labels"]["pool"] == "old" for n in out["not_written"])


def test_a_failed_read_writes_nothing(monkeypatch, capsys):
    class Down(FakeApi):
        def list_node(self, _preload_content=True, **_kwargs):
            raise ConnectionRefusedError("[Errno 111] Connection refused")
    monkeypatch.setattr(kube, "core_api", lambda module: Down({}))
    out = run({"labels": {"n0": {"pool": "x"}}, "step": "Label"}, capsys)
    assert out["_rc"] == 1 and "could not read the nodes" in out["msg"]
    assert "nothing was written" in out["msg"]


def test_a_bad_key_is_named_before_the_nodes_are_read(monkeypatch, capsys):
    class Down(FakeApi):
        def list_node(self, _preload_content=True, **_kwargs):
            raise ConnectionRefusedError("[Errno 111] Connection refused")
    down = Down({})
    monkeypatch.setattr(kube, "core_api", lambda module: down)
    out = run({"labels": {"n0": {"Bad Key": "x", "pool": "L40S pool"}}, "step": "Label"}, capsys)
    assert out["_rc"] == 1 and down.lists == 0
    assert out["msg"].startswith("Label: 2 problem(s), nothing was written: ")
    assert "'Bad Key'" in out["msg"] and "'L40S pool'" in out["msg"] and "Connection refused" not in out["msg"]
