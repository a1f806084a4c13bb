# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fractional.gpu.node_info in-process, over an in-memory stand-in for the one API call it
makes (list the nodes); the lab's scenarios run it against a real apiserver."""

from __future__ import annotations

from module_run import ApiResponse, run_module

from ansible_collections.fractional.gpu.plugins.module_utils import kube
from ansible_collections.fractional.gpu.plugins.modules import node_info


class FakeApi:
    def __init__(self, nodes, error=None):
        self.nodes = nodes
        self.selectors = []
        self.error = error

    def list_node(self, _preload_content=True, **kwargs):
        self.selectors.append(kwargs.get("label_selector"))
        if self.error:
            raise self.error
        return ApiResponse({"items": self.nodes})


def run(args, capsys):
    return run_module(node_info, args, capsys)


def node(name):
    return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.present": "true"},
                         "managedFields": [{"manager": "kubelet"}]},
            "status": {"allocatable": {"nvidia.com/gpu": "4"}, "conditions": [{"type": "Ready"}]}}


def test_one_list_with_the_selectors_joined_sorted_by_name_and_cut(monkeypatch, capsys):
    api = FakeApi([node("b"), node("a")])
    monkeypatch.setattr(kube, "core_api", lambda module: api)
    out = run({"label_selectors": ["nvidia.com/gpu.present=true", "pool=a"]}, capsys)
    assert out["_rc"] == 0 and not out["changed"]
    assert api.selectors == ["nvidia.com/gpu.present=true,pool=a"]
    assert [n["metadata"]["name"] for n in out["resources"]] == ["a", "b"]
    assert "managedFields" not in out["resources"][0]["metadata"]
    assert out["resources"][0]["status"] == {"allocatable": {"nvidia.com/gpu": "4"}}


def test_no_selector_lists_every_node(monkeypatch, capsys):
    api = FakeApi([node("a")])
    monkeypatch.setattr(kube, "core_api", lambda module: api)
    assert run({}, capsys)["_rc"] == 0 and api.selectors == [None]


def test_a_failed_read_says_so(monkeypatch, capsys):
    api = FakeApi([], error=ConnectionRefusedError("[Errno 111] Connection refused"))
    monkeypatch.setattr(kube, "core_api", lambda module: api)
    out = run({}, capsys)
    assert out["_rc"] == 1 and out["msg"] == "Could not read the nodes: [Errno 111] Connection refused"
