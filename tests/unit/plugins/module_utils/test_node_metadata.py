# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Labels and annotations of many nodes: the patches from one read, and bad input refused."""

import threading
import time

from ansible_collections.fractional.gpu.plugins.module_utils.node_metadata import (
    summary,
    failure_message,
    key_problem,
    names,
    plan,
    write_all,
)


def node(name, labels=None, annotations=None):
    return {"metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}}


NODES = [node("a", {"pool": "x", "keep": "1"}), node("b", {"pool": "y"}, {"note": "old"}),
         node("c")]


def test_only_the_keys_that_differ_are_patched():
    result = plan(NODES, {"a": {"pool": "x"}, "b": {"pool": "x"}, "c": {"pool": None}})
    assert result["patches"] == {"b": {"metadata": {"labels": {"pool": "x"}}}}
    assert result["before"] == {"b": {"labels": {"pool": "y"}}}
    assert result["after"] == {"b": {"labels": {"pool": "x"}}}
    assert result["missing"] == [] and result["problems"] == []


def test_a_null_removes_and_annotations_go_with_labels():
    result = plan(NODES, {"a": {"keep": None}}, {"b": {"note": None, "new": "v"}})
    assert result["patches"] == {
        "a": {"metadata": {"labels": {"keep": None}}},
        "b": {"metadata": {"annotations": {"note": None, "new": "v"}}}}
    assert result["before"]["a"] == {"labels": {"keep": "1"}}
    assert result["after"]["a"] == {"labels": {}}


def test_a_converged_fleet_needs_no_patch_whatever_its_size():
    nodes = [node("n%d" % i, {"pool": "p"}) for i in range(1000)]
    result = plan(nodes, dict(("n%d" % i, {"pool": "p"}) for i in range(1000)))
    assert result["patches"] == {}


def test_missing_nodes_and_bad_input_are_reported():
    result = plan(NODES, {"zz": {"pool": "x"}, "a": {"bad key!": "x", "pool": "no spaces"},
                          "b": {"pool": ["list"]}})
    assert result["missing"] == ["zz"]
    assert len(result["problems"]) == 3
    assert any("bad key!" in p for p in result["problems"])
    assert any("'no spaces'" in p for p in result["problems"])
    assert any("node b" in p and "not a string" in p for p in result["problems"])


def test_values_are_written_as_yaml_shows_them():
    result = plan(NODES, {"c": {"count": 4, "on": True}})
    assert result["patches"]["c"]["metadata"]["labels"] == {"count": "4", "on": "true"}


def test_keys_follow_the_apiservers_rules():
    assert key_problem("nvidia.com/gpu.deploy.device-plugin") is None
    assert key_problem("fractional.gpu/pool") is None
    assert key_problem("Upper.Case/x") is not None
    assert key_problem("x" * 64) is not None
    assert key_problem("") is not None


def test_a_failure_part_way_says_what_was_and_was_not_written():
    message = failure_message("Label the pool nodes", ["a", "b"], ["c", "d"], "c", "HTTP 503")
    assert message.startswith("Label the pool nodes: writing node c failed (HTTP 503)")
    assert "2 node(s): a, b" in message and "not written: 2 node(s): c, d" in message
    assert names(["n%d" % i for i in range(25)]).endswith("and 5 more")


def test_write_all_writes_every_node_a_few_at_a_time():
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def write(_node):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
    nodes = ["n%02d" % i for i in range(20)]
    assert write_all(nodes, write, workers=4) == (nodes, [], None)
    assert 1 < state["most"] <= 4


def test_write_all_starts_nothing_after_a_failure_and_counts_what_finished():
    started, n1_failed = [], threading.Event()

    def write(node):
        started.append(node)
        if node == "n1":
            n1_failed.set()
            raise ConnectionRefusedError("refused")
        n1_failed.wait(5)  # still in flight when n1 fails
    written, not_written, failure = write_all(["n%d" % i for i in range(10)], write, workers=3)
    assert failure[0] == "n1" and isinstance(failure[1], ConnectionRefusedError)
    assert written == ["n0", "n2"] and not_written == ["n1"] + ["n%d" % i for i in range(3, 10)]
    assert sorted(started) == ["n0", "n1", "n2"]


def test_a_summary_keeps_the_nodes_shape_and_only_what_the_collection_reads():
    full = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "gpu-0", "labels": {"pool": "a"}, "annotations": {"x": "1"},
                     "uid": "u", "resourceVersion": "7", "managedFields": [{"manager": "kubelet"}] * 50},
        "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}], "podCIDR": "10.0.0.0/24"},
        "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": "8"},
                   "conditions": [{"type": "Ready"}], "images": [{"names": ["a"]}], "nodeInfo": {"kernelVersion": "6"}},
    }
    assert summary(full) == {
        "metadata": {"name": "gpu-0", "labels": {"pool": "a"}, "annotations": {"x": "1"}},
        "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}]},
        "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": "8"}},
    }
    # A bare node (no labels, no status yet) keeps the shape, with nothing invented.
    assert summary({"metadata": {"name": "new"}}) == {"metadata": {"name": "new"}, "spec": {}, "status": {}}
