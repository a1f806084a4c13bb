# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet picture: the HTML itself, and what headless Chromium draws of it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_picture import (
    gpu_bar,
    picture_nodes,
    planned_gpus,
    render_html,
)
from ansible_collections.fractional.gpu.plugins.module_utils.fleet_report import fleet_summary

REPO = Path(__file__).resolve().parents[4]
BROWSER_CHECK = REPO / "tests" / "scripts" / "browser_check.py"
H100_LAYOUT = [{"profile": "3g.40gb", "start": 0, "size": 4},
               {"profile": "2g.20gb", "start": 4, "size": 2},
               {"profile": "1g.10gb", "start": 6, "size": 1},
               {"profile": "1g.10gb", "start": 7, "size": 1}]
NODES = [
    {"node": "gpu-h100-0", "pool": "h100", "strategy": "mig", "gpu_model": "NVIDIA-H100-80GB-HBM3",
     "ok": True, "problems": [], "expected": {"nvidia.com/mig-1g.10gb": 4},
     "found": {"nvidia.com/mig-1g.10gb": 4},
     "gpus": [{"index": i, "slices": 8, "instances": H100_LAYOUT} for i in range(2)]},
    {"node": "gpu-a30-0", "pool": "a30", "strategy": "mig", "gpu_model": "NVIDIA-A30",
     "ok": True, "problems": [], "expected": {}, "found": {},
     "gpus": [{"index": 0, "slices": 4, "instances": [{"profile": "2g.12gb", "start": 0, "size": 2},
                                                      {"profile": "2g.12gb", "start": 2, "size": 2}]}]},
    {"node": "gpu-l40s-0", "pool": "l40s", "strategy": "time_slicing", "gpu_model": "NVIDIA-L40S",
     "ok": False, "problems": ["nvidia.com/gpu: expected 4, found 1"],
     "expected": {"nvidia.com/gpu": 4}, "found": {"nvidia.com/gpu": 1},
     "gpus": [{"index": 0, "replicas": 4}]},
    {"node": "<script>x</script>", "pool": "kai", "strategy": "kai", "gpu_model": "NVIDIA-H200",
     "ok": True, "problems": [], "expected": {}, "found": {},
     "gpus": [{"index": 0, "note": "KAI: fractions by scheduling"}]},
]


def page():
    return render_html(NODES, "GPU fleet", "2026-11-28T12:00:00Z", "1.2.3")


def test_page_is_self_contained_and_escapes_names():
    html = page()
    assert "<script" not in html.replace("&lt;script&gt;", "")
    assert "http://" not in html and "https://" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "fractional.gpu 1.2.3" in html and "2026-11-28T12:00:00Z" in html


def test_mismatched_nodes_come_first():
    html = page()
    assert html.index('data-node="gpu-l40s-0"') < html.index('data-node="gpu-a30-0"')
    assert 'data-mismatched="1"' in html and 'data-nodes="4"' in html


def test_instances_are_drawn_to_scale():
    h100 = gpu_bar({"index": 0, "slices": 8, "instances": H100_LAYOUT})
    assert 'data-profile="3g.40gb" data-start="0" data-size="4" style="left:0%;width:50%' in h100
    assert 'data-start="6" data-size="1" style="left:75%;width:12.5%' in h100
    a30 = gpu_bar({"index": 1, "slices": 4, "instances": [{"profile": "2g.12gb", "start": 2, "size": 2}]})
    assert "left:50%;width:50%" in a30


def test_replicas_and_notes():
    assert gpu_bar({"index": 0, "replicas": 4}).count("data-replica=") == 4
    assert "whole GPU" in gpu_bar({"index": 0})


def chromium_or_skip():
    sys.path.insert(0, str(BROWSER_CHECK.parent))
    try:
        import browser_check  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    if browser_check.find_chromium() is None:
        if os.environ.get("FGPU_REQUIRE_BROWSER") == "1":
            pytest.fail("no Chromium: tests/scripts/test.sh installs chromium-headless-shell")
        pytest.skip("no Chromium (apt-get install chromium-headless-shell)")


def test_chromium_draws_what_the_rows_say(tmp_path):
    """Headless Chromium renders the page without console errors or external loads, and
    what it lays out matches the input: one section per node with its status, one bar per
    GPU, MIG boxes whose widths are their slice share of the bar."""
    chromium_or_skip()
    path = tmp_path / "fleet.html"
    path.write_text(page())
    out = subprocess.run([sys.executable, str(BROWSER_CHECK), str(path)], check=True,
                         capture_output=True, text=True, timeout=120)
    drawn = json.loads(out.stdout)
    assert drawn["errors"] == []
    assert drawn["title"] == "GPU fleet"
    by_node = {n["node"]: n for n in drawn["nodes"]}
    assert set(by_node) == {n["node"] for n in NODES}
    for node in NODES:
        seen = by_node[node["node"]]
        assert seen["ok"] == node["ok"] and seen["strategy"] == node["strategy"]
        assert seen["problems"] == node["problems"]
        assert [g["index"] for g in seen["gpus"]] == [g["index"] for g in node["gpus"]]
        for want, got in zip(node["gpus"], seen["gpus"]):
            assert all(box["visible"] for box in got["boxes"])
            if want.get("instances"):
                for inst, box in zip(sorted(want["instances"], key=lambda i: i["start"]), got["boxes"]):
                    assert box["profile"] == inst["profile"]
                    assert box["width"] == pytest.approx(got["width"] * inst["size"] / want["slices"], abs=2)
                    assert box["left"] == pytest.approx(got["width"] * inst["start"] / want["slices"], abs=2)
            elif want.get("replicas"):
                assert len(got["boxes"]) == want["replicas"]


MIG_CONFIG = {"version": "v1", "mig-configs": {"h100-mixed": [
    {"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}]}}


def summary_rows():
    nodes = [
        {"metadata": {"name": "gpu-h100-0", "labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                                                       "nvidia.com/gpu.count": "2"}},
         "status": {"allocatable": {"nvidia.com/mig-1g.10gb": "4", "nvidia.com/mig-2g.20gb": "2",
                                    "nvidia.com/mig-3g.40gb": "2"}}},
        {"metadata": {"name": "gpu-l40s-0", "labels": {"nvidia.com/gpu.product": "NVIDIA-L40S",
                                                       "nvidia.com/gpu.count": "1"}},
         "status": {"allocatable": {"nvidia.com/gpu": "1"}}},
        {"metadata": {"name": "gpu-h200-0", "labels": {"nvidia.com/gpu.product": "NVIDIA-H200",
                                                       "nvidia.com/gpu.count": "8"}},
         "status": {"allocatable": {"nvidia.com/gpu": "8"}}},
    ]
    entries = {
        "gpu-h100-0": {"pool": "h100", "strategy": "mig", "mig_config_name": "h100-mixed",
                       "time_slicing": {}, "checks": {"nvml": True}},
        "gpu-l40s-0": {"pool": "l40s", "strategy": "time_slicing", "mig_config_name": None,
                       "time_slicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]},
                       "checks": {}},
        "gpu-h200-0": {"pool": "h200", "strategy": "kai", "mig_config_name": None, "time_slicing": {},
                       "checks": {}},
    }
    summary = fleet_summary(nodes, entries, mig_config=MIG_CONFIG)
    counts = dict((n["metadata"]["name"], n["metadata"]["labels"]["nvidia.com/gpu.count"]) for n in nodes)
    return summary["rows"], counts, entries


def test_the_picture_is_built_from_the_summary_rows():
    rows, counts, entries = summary_rows()
    report = {"gpus": [{"index": i, "slices": 8, "instances": H100_LAYOUT} for i in range(2)]}
    drawn = picture_nodes(rows, counts, entries, MIG_CONFIG, {"gpu-h100-0": report})
    nodes = dict((n["node"], n) for n in drawn)
    assert [n["node"] for n in picture_nodes(rows, counts, entries)] == [r["node"] for r in rows]
    h100 = nodes["gpu-h100-0"]
    assert h100["ok"] and h100["gpus"][1]["instances"] == H100_LAYOUT and "planned" not in h100["gpus"][0]
    l40s = nodes["gpu-l40s-0"]
    assert not l40s["ok"] and l40s["problems"] == ["nvidia.com/gpu: expected 4, found 1"]
    assert l40s["gpus"] == [{"index": 0, "replicas": 4}]
    assert len(nodes["gpu-h200-0"]["gpus"]) == 8 and nodes["gpu-h200-0"]["gpus"][0]["note"].startswith("KAI")


def test_without_nvml_the_mig_layout_is_planned_and_placed():
    rows, counts, entries = summary_rows()
    h100 = [n for n in picture_nodes(rows, counts, entries, MIG_CONFIG) if n["node"] == "gpu-h100-0"][0]
    gpu = h100["gpus"][0]
    assert gpu["planned"] and gpu["slices"] == 8
    placed = sorted((i["start"], i["size"], i["profile"]) for i in gpu["instances"])
    assert sorted(p[2] for p in placed) == ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"]
    ends = [start + size for start, size, _profile in placed]
    assert all(a <= b[0] for a, b in zip(ends, placed[1:])) and ends[-1] <= 8
    assert 'data-planned="true"' in gpu_bar(gpu) and "bar planned" in gpu_bar(gpu)
    assert planned_gpus(MIG_CONFIG, "nope", "NVIDIA-H100-80GB-HBM3", 1) is None


def test_the_filter_names_the_collections_version_and_reads_the_nvml_reports():
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.fractional.gpu.plugins.filter.fleet_picture import collection_version, fleet_picture
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert collection_version() == version
    rows, counts, entries = summary_rows()
    nodes = [{"metadata": {"name": name, "labels": {"nvidia.com/gpu.count": count}}} for name, count in counts.items()]
    report = {"gpus": [{"index": i, "slices": 8, "instances": H100_LAYOUT} for i in range(2)]}
    html = fleet_picture(rows, nodes, entries, MIG_CONFIG, {"gpu-h100-0": {"report": report}, "x": {"msg": "down"}},
                         generated="2026-01-01T00:00:00Z")
    assert "fractional.gpu %s" % version in html and 'data-planned="true"' not in html
