# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin fractional.gpu.fleet_picture."""

from __future__ import absolute_import, division, print_function

import json
import os

from ansible_collections.fractional.gpu.plugins.module_utils.fleet_picture import (
    picture_nodes,
    render_html,
)
from ansible_collections.fractional.gpu.plugins.module_utils.k8s_contract import GPU_COUNT_LABEL

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_picture
short_description: The fleet summary as one self-contained HTML page
version_added: 0.1.0
description:
  - Per node of the summary rows (P(fractional.gpu.fleet_report#filter)), its pool, strategy and status,
    and each GPU drawn - its MIG instances to scale on the GPU's memory slices (as NVML found them on
    the host, or planned from the MIG config when the host was not checked), its time-slicing replicas,
    or the KAI note - mismatched nodes first and marked, with the run's time and the collection's
    version.
  - No script and no external asset - one file to open anywhere, or attach to a job.
positional: _input, nodes, entries, mig_config, nvml_results, generated, version, title
options:
  _input:
    description: The summary rows.
    type: list
    elements: dict
    required: true
  nodes:
    description: The GPU nodes as M(kubernetes.core.k8s_info) returns them (their GPU count).
    type: list
    elements: dict
    required: true
  entries:
    description: The summary's entry per host (P(fractional.gpu.fleet_summary_entries#filter)).
    type: dict
    required: true
  mig_config:
    description: The fleet's mig-parted document.
    type: dict
  nvml_results:
    description: Per host validated through NVML, the result of M(fractional.gpu.nvml_validate).
    type: dict
  generated:
    description: When the run made the page.
    type: str
    default: ""
  version:
    description: The collection's version; by default read from the collection's own metadata.
    type: str
  title:
    description: The page's title.
    type: str
    default: GPU fleet
"""

EXAMPLES = r"""
- name: Write the fleet picture
  ansible.builtin.copy:
    content: "{{ report.rows | fractional.gpu.fleet_picture(nodes.resources, entries, mig_config, generated=now(utc=true).isoformat()) }}"
    dest: /srv/reports/fleet.html
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The HTML page.
  type: str
"""

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def collection_version():
    """The version in the collection's MANIFEST.json (an installed collection), else in its
    galaxy.yml (a checkout)."""
    try:
        with open(os.path.join(_ROOT, "MANIFEST.json")) as handle:
            return json.load(handle)["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        with open(os.path.join(_ROOT, "galaxy.yml")) as handle:
            for line in handle:
                if line.startswith("version:"):
                    return line.split(":", 1)[1].strip().strip("'\"")
    except OSError:
        pass
    return "unknown"


def fleet_picture(rows, nodes, entries, mig_config=None, nvml_results=None, generated="",
                  version=None, title="GPU fleet"):
    reports = dict((host, result.get("report")) for host, result in (nvml_results or {}).items()
                   if isinstance(result, dict) and result.get("report"))
    counts = dict(((n.get("metadata") or {}).get("name"),
                   ((n.get("metadata") or {}).get("labels") or {}).get(GPU_COUNT_LABEL))
                  for n in nodes)
    return render_html(picture_nodes(rows, counts, entries, mig_config, reports),
                       title, generated, version or collection_version())


class FilterModule(object):
    """fractional.gpu.fleet_picture"""

    def filters(self):
        return {"fleet_picture": fleet_picture}
