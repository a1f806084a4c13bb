# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A picture of the fleet: one self-contained HTML page (no script, no external asset).

Per node: its pool, strategy and status, and each GPU drawn as a bar of memory slices with
its MIG instances to scale (start and size in slices), or its time-slicing replicas, or
the KAI note. Mismatches are marked in red and listed. Pure function of its input: the
page is the same for the same data, which the tests compare with the summary rows.

``picture_nodes`` builds the node list from the summary rows: MIG instances as NVML found
them on the host (its validation report), else as planned from the MIG config, placed as
the driver would place them; time-slicing replicas from the pool's settings.

Input of ``render_html(nodes, title, generated, version)``, one dict per node::

    {"node": "gpu-h100-0", "pool": "h100", "strategy": "mig", "gpu_model": "NVIDIA-H100...",
     "ok": True, "problems": [], "expected": {...}, "found": {...},
     "gpus": [{"index": 0, "slices": 8,
               "instances": [{"profile": "3g.40gb", "start": 0, "size": 4}],
               "replicas": None}]}
"""

from __future__ import absolute_import, division, print_function

from html import escape

from ansible_collections.fractional.gpu.plugins.module_utils.gfd_labels import gpu_model
from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import GPU_RESOURCE, resource_name
from ansible_collections.fractional.gpu.plugins.module_utils.mig_placement import find_placement
from ansible_collections.fractional.gpu.plugins.module_utils.mig_strategy import mig_layouts

__metaclass__ = type

KAI_NOTE = "KAI: fractions by scheduling"

# Colours per MIG compute size (the "Ng" of a profile), so equal shapes look equal.
SLICE_COLOURS = {"1": "#8ecae6", "2": "#219ebc", "3": "#ffb703", "4": "#fb8500",
                 "7": "#90be6d"}
OTHER_COLOUR = "#adb5bd"
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#212529}
h1{font-size:1.4em;margin:0 0 .2em}
.meta{color:#6c757d;margin-bottom:1em}
.totals span{margin-right:1.2em}
.node{border:1px solid #dee2e6;border-radius:6px;margin:.8em 0;padding:.6em .8em}
.node.bad{border-color:#d00000;background:#fff5f5}
.node h2{font-size:1.05em;margin:0 0 .4em}
.tag{display:inline-block;padding:0 .5em;border-radius:3px;background:#e9ecef;
margin-left:.4em;font-weight:normal;font-size:.85em}
.tag.ok{background:#d8f3dc}.tag.bad{background:#d00000;color:#fff}
.gpu{display:flex;align-items:center;margin:.2em 0}
.gpu .label{width:4em;font-size:.85em;color:#495057}
.bar{position:relative;height:1.6em;flex:1;max-width:48em;background:#f1f3f5;
border:1px solid #ced4da;border-radius:3px}
.inst{position:absolute;top:0;bottom:0;border-right:1px solid #fff;font-size:.75em;
overflow:hidden;white-space:nowrap;text-align:center;line-height:2.1em}
.bar.planned{border-style:dashed;opacity:.75}
.problems{color:#d00000;margin:.3em 0 0;font-size:.9em}
.res{font-size:.85em;color:#495057}
"""


def _colour(profile):
    size = profile.split("g.", 1)[0].split(".")[-1]
    return SLICE_COLOURS.get(size, OTHER_COLOUR)


def _percent(value, total):
    return "%.4g%%" % (100.0 * value / total)


def _resources(resources):
    return ", ".join("%s=%s" % (name.replace("nvidia.com/", ""), count)
                     for name, count in sorted((resources or {}).items()) if count) or "-"


def gpu_bar(gpu):
    """One GPU as HTML: MIG instances to scale, replicas as equal stripes, else whole."""
    slices = int(gpu.get("slices") or 1)
    parts = []
    if gpu.get("instances"):
        for inst in sorted(gpu["instances"], key=lambda i: (i["start"], i["size"])):
            parts.append(
                '<div class="inst" data-profile="%s" data-start="%d" data-size="%d" '
                'style="left:%s;width:%s;background:%s" title="%s at slice %d">%s</div>'
                % (escape(inst["profile"]), inst["start"], inst["size"],
                   _percent(inst["start"], slices), _percent(inst["size"], slices),
                   _colour(inst["profile"]), escape(inst["profile"]), inst["start"],
                   escape(inst["profile"])))
    elif gpu.get("replicas"):
        replicas = int(gpu["replicas"])
        for index in range(replicas):
            parts.append(
                '<div class="inst" data-replica="%d" style="left:%s;width:%s;background:%s">'
                '%s</div>' % (index, _percent(index, replicas), _percent(1, replicas),
                              SLICE_COLOURS["1"], "1/%d" % replicas if replicas <= 16 else ""))
    else:
        parts.append('<div class="inst" style="left:0;width:100%%;background:%s">%s</div>'
                     % (OTHER_COLOUR, escape(gpu.get("note") or "whole GPU")))
    planned = bool(gpu.get("planned"))
    return ('<div class="gpu" data-gpu="%d"%s><span class="label">GPU %d</span>'
            '<div class="bar%s"%s>%s</div></div>'
            % (gpu["index"], ' data-planned="true"' if planned else "", gpu["index"],
               " planned" if planned else "",
               ' title="planned from the MIG config: the host was not checked through NVML"'
               if planned else "", "".join(parts)))


def node_section(node):
    ok = bool(node.get("ok"))
    problems = node.get("problems") or []
    return "".join([
        '<section class="node%s" data-node="%s" data-ok="%s" data-strategy="%s">'
        % ("" if ok else " bad", escape(node["node"]), "true" if ok else "false",
           escape(node.get("strategy") or "")),
        "<h2>%s<span class=\"tag\">pool %s</span><span class=\"tag\">%s</span>"
        "<span class=\"tag\">%s</span><span class=\"tag %s\">%s</span></h2>"
        % (escape(node["node"]), escape(node.get("pool") or "-"),
           escape(node.get("strategy") or "-"), escape(node.get("gpu_model") or "?"),
           "ok" if ok else "bad", "ok" if ok else "MISMATCH"),
        '<div class="res">expected %s &middot; found %s</div>'
        % (escape(_resources(node.get("expected"))), escape(_resources(node.get("found")))),
        "".join(gpu_bar(gpu) for gpu in node.get("gpus") or []),
        ('<ul class="problems">%s</ul>' % "".join("<li>%s</li>" % escape(p) for p in problems)
         if problems else ""),
        "</section>",
    ])


def render_html(nodes, title, generated, version):
    """The whole page; ``generated``: when the run made it, ``version``: the collection's."""
    bad = [n for n in nodes if not n.get("ok")]
    strategies = {}
    for node in nodes:
        strategies[node.get("strategy") or "none"] = strategies.get(node.get("strategy") or "none", 0) + 1
    totals = "".join("<span>%s: %d</span>" % (escape(name), count)
                     for name, count in sorted(strategies.items()))
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>%s</title><style>%s</style></head><body>" % (escape(title), STYLE),
        "<h1>%s</h1>" % escape(title),
        '<div class="meta">generated %s by fractional.gpu %s &middot; MIG instances to scale, '
        'as NVML found them on the host (dashed: planned from the MIG config)</div>'
        % (escape(generated), escape(version)),
        '<div class="totals" data-nodes="%d" data-mismatched="%d"><span>%d node(s)</span>'
        "<span>%d ok</span><span>%d mismatched</span>%s</div>"
        % (len(nodes), len(bad), len(nodes), len(nodes) - len(bad), len(bad), totals),
        "".join(node_section(node) for node in sorted(bad, key=lambda n: n["node"])),
        "".join(node_section(node) for node in sorted(nodes, key=lambda n: n["node"])
                if node.get("ok")),
        "</body></html>\n",
    ])


def _gi_profile(name):
    """The GPU-instance profile of a MIG device name ('1c.3g.40gb' -> '3g.40gb')."""
    head, sep, rest = name.partition("c.")
    return rest if sep and head.isdigit() else name


def planned_gpus(mig_config, config_name, gpu_product, gpu_count):
    """Each GPU with the MIG instances the config gives it, placed on the slices as the
    driver places them (the collection's table of the model's profiles); None when the
    model or the config cannot tell."""
    layouts = mig_layouts(mig_config, config_name, gpu_product, gpu_count)
    model = gpu_model(gpu_product)
    if layouts is None or model is None or not model.memory_slices:
        return None
    by_name = dict((profile.name, profile) for profile in model.profiles)
    gpus = []
    for index in range(int(gpu_count)):
        names = layouts.get(index) or []
        profiles = [by_name.get(_gi_profile(name)) for name in names]
        starts = find_placement(profiles, model.memory_slices) if all(profiles) else None
        if starts is None:
            gpus.append({"index": index, "slices": model.memory_slices,
                         "note": ", ".join(names) or "MIG off"})
            continue
        gpus.append({"index": index, "slices": model.memory_slices, "instances": [
            {"profile": name, "start": start, "size": profile.memory_slices}
            for name, profile, start in sorted(zip(names, profiles, starts), key=lambda x: x[2])]})
    return gpus


def found_gpus(report):
    """Each GPU as NVML found it on the host (nvml_validate's report)."""
    gpus = []
    for gpu in report.get("gpus") or []:
        placed = [inst for inst in gpu.get("instances") or []
                  if inst.get("start") is not None and inst.get("size")]
        if placed and gpu.get("slices"):
            gpus.append({"index": gpu["index"], "slices": gpu["slices"], "instances": placed})
        else:
            gpus.append({"index": gpu["index"],
                         "note": "MIG off" if not placed else "MIG instances, placement unknown"})
    return gpus


def _replicas(time_slicing):
    for resource in (time_slicing or {}).get("resources") or []:
        if resource_name(resource.get("name")) == GPU_RESOURCE:
            return int(resource.get("replicas") or 1)
    return None


def picture_nodes(rows, gpu_counts, entries, mig_config=None, nvml_reports=None):
    """The picture's node list: the summary ``rows`` (fleet_report), each with its GPUs.

    ``gpu_counts``: {node: its GPUs (the nvidia.com/gpu.count label)}; ``entries``: the
    summary's entry per host (strategy, mig_config_name, time_slicing); ``nvml_reports``:
    {host: nvml_validate's report} of the hosts validated through NVML.
    """
    nvml_reports = nvml_reports or {}
    nodes = []
    for row in rows:
        name = row["node"]
        entry = entries.get(name) or {}
        strategy = row.get("strategy")
        count = int(gpu_counts.get(name) or 0)
        gpus = None
        if strategy == "mig":
            report = nvml_reports.get(name)
            if report and report.get("gpus"):
                gpus = found_gpus(report)
            else:
                gpus = planned_gpus(mig_config or {}, entry.get("mig_config_name"),
                                    row.get("gpu_model") or "", count)
                for gpu in gpus or []:
                    gpu["planned"] = True
        elif strategy == "time_slicing":
            replicas = _replicas(entry.get("time_slicing"))
            gpus = [{"index": index, "replicas": replicas} for index in range(count)]
        elif strategy == "kai":
            gpus = [{"index": index, "note": KAI_NOTE} for index in range(count)]
        if gpus is None:
            gpus = [{"index": index} for index in range(count)]
        node = dict((key, row.get(key)) for key in
                    ("node", "pool", "strategy", "gpu_model", "ok", "problems", "expected", "found"))
        node["gpus"] = gpus
        nodes.append(node)
    return nodes
