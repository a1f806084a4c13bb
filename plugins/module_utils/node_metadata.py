# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Labels and annotations of many nodes: what to write, decided from one read of the nodes.

The wanted state is ``{node: {key: value or None}}`` (None: the key goes); a node is patched
only where one of its keys differs, with exactly the keys that differ. Keys and values are
checked by the apiserver's own rules first, so that bad input fails before anything is
written (k8s.io/apimachinery pkg/util/validation IsQualifiedName and IsValidLabelValue).

Pure functions over plain data, stdlib only; ``write_all`` runs the writes it is given.
"""

from __future__ import absolute_import, division, print_function

import re
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from itertools import islice

__metaclass__ = type

KINDS = ("labels", "annotations")
# k8s.io/apimachinery pkg/util/validation/validation.go: qualifiedNameFmt, labelValueFmt,
# dns1123SubdomainFmt and their lengths.
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_MAX = 63
_SUBDOMAIN_MAX = 253
# How many names a message lists before it says how many more there are.
SHOWN = 20
# Patches in flight at once: one request per node is the minimum (each node gets its own
# keys), and 1000 of them one after another took 56-82 s on the lab (issue 13's benchmark).
WRITERS = 8


# What the collection reads of a node: its name, labels and annotations, whether it is
# cordoned and tainted, what it advertises. The rest (managedFields, conditions, images,
# nodeInfo) is most of a Node's size and nothing here reads it.
SUMMARY_FIELDS = {
    "metadata": ("name", "labels", "annotations"),
    "spec": ("unschedulable", "taints"),
    "status": ("capacity", "allocatable"),
}


def summary(node):
    """The parts of a Node object the collection reads, in the Node's own shape (so that what
    takes ``k8s_info`` resources takes these too)."""
    kept = {}
    for part, fields in SUMMARY_FIELDS.items():
        source = node.get(part) or {}
        kept[part] = dict((field, source[field]) for field in fields if field in source)
    return kept


def names(items, shown=SHOWN):
    """'a, b, c' for a message, and 'and N more' past ``shown``."""
    items = list(items)
    text = ", ".join(items[:shown])
    if len(items) > shown:
        text += " and %d more" % (len(items) - shown)
    return text or "none"


def key_problem(key):
    """Why ``key`` is not a valid label or annotation key; None when it is."""
    if not isinstance(key, str) or not key:
        return "the key %r is not a non-empty string" % (key,)
    prefix, _sep, name = key.rpartition("/")
    if prefix and (len(prefix) > _SUBDOMAIN_MAX or not _SUBDOMAIN.match(prefix)):
        return ("the key %r has a prefix that is not a DNS subdomain (lower case letters, "
                "digits, '-' and '.', at most %d characters)" % (key, _SUBDOMAIN_MAX))
    if len(name) > _NAME_MAX or not _NAME.match(name):
        return ("the key %r has a name that is not 1 to %d letters, digits, '-', '_' or '.', "
                "beginning and ending with a letter or digit" % (key, _NAME_MAX))
    return None


def label_value_problem(value):
    """Why ``value`` (a string) is not a valid label value; None when it is."""
    if value and (len(value) > _NAME_MAX or not _NAME.match(value)):
        return ("the value %r is not empty or 1 to %d letters, digits, '-', '_' or '.', "
                "beginning and ending with a letter or digit" % (value, _NAME_MAX))
    return None


def as_value(value):
    """A wanted value as the API stores it: a string, or None to remove the key. Booleans
    and numbers are written as YAML shows them ('true', '4'); anything else is refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise ValueError("%r is not a string, a number, a boolean or null" % (value,))


def normalise(wanted, kind):
    """``wanted`` ({node: {key: value}}) with values as strings or None, and every problem
    with it (one sentence each, naming the node and key)."""
    result, problems = {}, []
    if not isinstance(wanted, dict):
        return {}, ["%s must map node names to {key: value}" % kind]
    for node, keys in sorted(wanted.items()):
        if not isinstance(keys, dict):
            problems.append("%s of node %s must be a mapping of key to value" % (kind, node))
            continue
        result[node] = {}
        for key, value in sorted(keys.items()):
            problem = key_problem(key)
            if problem is None:
                try:
                    value = as_value(value)
                except ValueError as exc:
                    problem = "the value of %s: %s" % (key, exc)
            if problem is None and kind == "labels" and value is not None:
                problem = label_value_problem(value)
            if problem:
                problems.append("node %s, %s: %s" % (node, kind[:-1], problem))
            else:
                result[node][key] = value
    return result, problems


def input_problems(labels=None, annotations=None):
    """Every problem with the wanted labels and annotations alone, before any node is read."""
    problems = []
    for kind, value in zip(KINDS, (labels, annotations)):
        problems.extend(normalise(value or {}, kind)[1])
    return problems


def plan(nodes, labels=None, annotations=None):
    """What to write so that the nodes carry the wanted labels and annotations.

    ``nodes``: the nodes as the API lists them (only ``metadata`` is read). Returns
    ``patches`` ({node: {"metadata": {"labels": {...}, "annotations": {...}}}}, only the
    keys that differ; a merge patch, where None removes a key), ``missing`` (wanted nodes
    the cluster lacks), ``problems`` (bad input: nothing may be written), and ``before`` /
    ``after`` ({node: {"labels": ..., "annotations": ...}}, the wanted keys of each patched
    node, for a diff).
    """
    wanted, problems = {}, []
    for kind, value in zip(KINDS, (labels, annotations)):
        wanted[kind], kind_problems = normalise(value or {}, kind)
        problems.extend(kind_problems)
    current = {}
    for node in nodes:
        metadata = node.get("metadata") or {}
        current[metadata.get("name")] = metadata
    patches, before, after, missing = {}, {}, {}, []
    for node in sorted(set(wanted["labels"]) | set(wanted["annotations"])):
        if node not in current:
            missing.append(node)
            continue
        metadata = {}
        for kind in KINDS:
            have = current[node].get(kind) or {}
            changes = dict((key, value) for key, value in wanted[kind].get(node, {}).items()
                           if have.get(key) != value)
            if changes:
                metadata[kind] = changes
                before.setdefault(node, {})[kind] = dict(
                    (key, have[key]) for key in sorted(changes) if key in have)
                after.setdefault(node, {})[kind] = dict(
                    (key, value) for key, value in sorted(changes.items()) if value is not None)
        if metadata:
            patches[node] = {"metadata": metadata}
    return {"patches": patches, "missing": missing, "problems": problems,
            "before": before, "after": after}


def failure_message(step, written, not_written, node, error):
    """The message of a write that failed part-way: the step, what was written and what was
    not, the node it failed at and why."""
    return ("%s: writing node %s failed (%s). Written before the failure: %d node(s)%s; not "
            "written: %d node(s): %s. Running the step again writes what is still missing."
            % (step, node, error, len(written), (": " + names(written)) if written else "",
               len(not_written), names(not_written)))


def write_all(nodes, write, workers=WRITERS):
    """Calls ``write(node)`` for each of ``nodes``, ``workers`` at a time. After the first
    failure no new write starts; those in flight finish and count. Returns ``(written,
    not_written, failure)``: the nodes written (sorted), the others in their given order,
    and ``(node, exception)`` of the first failure, or None."""
    pending = iter(nodes)
    written, failure = [], None
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        running = dict((pool.submit(write, node), node) for node in islice(pending, max(1, workers)))
        while running:
            finished = wait(running, return_when=FIRST_COMPLETED)[0]
            for future in finished:
                node = running.pop(future)
                error = future.exception()
                if error is None:
                    written.append(node)
                elif failure is None:
                    failure = (node, error)
            if failure is None:
                for node in islice(pending, len(finished)):
                    running[pool.submit(write, node)] = node
    done = set(written)
    return sorted(written), [node for node in nodes if node not in done], failure
