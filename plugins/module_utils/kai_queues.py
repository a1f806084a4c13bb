# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""KAI Scheduler queue trees: validation and the Kubernetes objects that express them.

A queue tree is given as a flat list of queues, each naming its parent (or none, for a
top-level queue). Everything here is pure Python, so that a bad tree is rejected before
anything is changed, with every problem listed at once, and so that it is unit-tested.

Queue semantics follow KAI's ``scheduling.run.ai/v2`` Queue: per resource (gpu, cpu,
memory) a ``quota`` (guaranteed; -1 unlimited), a ``limit`` (hard cap; -1 none) and an
``overQuotaWeight`` (share of what is left over). Units: gpu in devices (0.5 is half a GPU),
cpu in millicores, memory in megabytes. Only leaf queues take workloads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

RESOURCES = ("gpu", "cpu", "memory")
RESOURCE_FIELDS = ("quota", "limit", "over_quota_weight")
QUEUE_FIELDS = ("name", "parent", "display_name", "priority", "resources", "team")
TEAM_FIELDS = ("namespace", "subjects", "create_namespace")
SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
UNLIMITED = -1
# What an omitted resource field means: no guarantee, no cap, the default weight (as the
# chart's own default queues are written).
RESOURCE_DEFAULTS = {"quota": 0, "limit": UNLIMITED, "over_quota_weight": 1}

QUEUE_API_VERSION = "scheduling.run.ai/v2"
QUEUE_KIND = "Queue"
QUEUE_LABEL = "kai.scheduler/queue"
MANAGED_LABEL = "fractional.gpu/managed-by"
MANAGED_VALUE = "kai_scheduler"

# Queue names are object names and pod label values: a DNS-1123 label fits both.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value):
    """1.0 -> '1', 0.5 -> '0.5': numbers as a person writes them."""
    if _is_number(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _valid_name(name):
    return isinstance(name, str) and len(name) <= 63 and bool(_DNS_LABEL.match(name))


def normalize_resources(resources):
    """The three resources with every field set (omitted fields take RESOURCE_DEFAULTS)."""
    resources = resources or {}
    result = {}
    for resource in RESOURCES:
        given = resources.get(resource) or {}
        result[resource] = {field: given.get(field, RESOURCE_DEFAULTS[field])
                            for field in RESOURCE_FIELDS}
    return result


def _check_queue_shape(index, queue, problems):
    """Problems with one entry on its own; returns its name when it has a usable one."""
    where = "queue #%d" % (index + 1)
    if not isinstance(queue, dict):
        problems.append("%s: must be a mapping with at least 'name', got %r" % (where, queue))
        return None
    name = queue.get("name")
    if name is None or name == "":
        problems.append("%s: 'name' is missing" % where)
        name = None
    elif not _valid_name(name):
        problems.append("%s: name %r is not a valid queue name (lowercase letters, digits and "
                        "'-', at most 63 characters, starting and ending alphanumeric)"
                        % (where, name))
        name = None
    else:
        where = "queue '%s'" % name
    for key in sorted(set(queue) - set(QUEUE_FIELDS)):
        problems.append("%s: unknown key '%s' (known: %s)" % (where, key, ", ".join(QUEUE_FIELDS)))
    parent = queue.get("parent")
    if parent is not None and not isinstance(parent, str):
        problems.append("%s: 'parent' must be a queue name, got %r" % (where, parent))
    priority = queue.get("priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        problems.append("%s: 'priority' must be an integer, got %r" % (where, priority))
    display_name = queue.get("display_name")
    if display_name is not None and not isinstance(display_name, str):
        problems.append("%s: 'display_name' must be a string, got %r" % (where, display_name))
    _check_resources(where, queue.get("resources"), problems)
    _check_team(where, queue.get("team"), problems)
    return name


def _check_resources(where, resources, problems):
    if resources is None:
        return
    if not isinstance(resources, dict):
        problems.append("%s: 'resources' must be a mapping of gpu/cpu/memory" % where)
        return
    for resource in sorted(set(resources) - set(RESOURCES)):
        problems.append("%s: unknown resource '%s' (known: %s)"
                        % (where, resource, ", ".join(RESOURCES)))
    for resource in RESOURCES:
        given = resources.get(resource)
        if given is None:
            continue
        if not isinstance(given, dict):
            problems.append("%s: resources.%s must be a mapping of %s"
                            % (where, resource, ", ".join(RESOURCE_FIELDS)))
            continue
        for field in sorted(set(given) - set(RESOURCE_FIELDS)):
            problems.append("%s: resources.%s: unknown key '%s' (known: %s)"
                            % (where, resource, field, ", ".join(RESOURCE_FIELDS)))
        values = {}
        for field in RESOURCE_FIELDS:
            value = given.get(field, RESOURCE_DEFAULTS[field])
            if not _is_number(value):
                problems.append("%s: resources.%s.%s must be a number, got %r"
                                % (where, resource, field, value))
                continue
            values[field] = value
        quota, limit = values.get("quota"), values.get("limit")
        if quota is not None and quota < 0 and quota != UNLIMITED:
            problems.append("%s: resources.%s.quota is %s; use a number >= 0, or -1 for unlimited"
                            % (where, resource, _fmt(quota)))
        if limit is not None and limit < 0 and limit != UNLIMITED:
            problems.append("%s: resources.%s.limit is %s; use a number >= 0, or -1 for no limit"
                            % (where, resource, _fmt(limit)))
        weight = values.get("over_quota_weight")
        if weight is not None and weight < 0:
            problems.append("%s: resources.%s.over_quota_weight is %s; it must be >= 0"
                            % (where, resource, _fmt(weight)))
        if quota is not None and limit is not None and limit != UNLIMITED:
            if quota == UNLIMITED:
                problems.append("%s: resources.%s has an unlimited quota (-1) but a limit of %s"
                                % (where, resource, _fmt(limit)))
            elif limit < quota:
                problems.append("%s: resources.%s.limit %s is below its quota %s"
                                % (where, resource, _fmt(limit), _fmt(quota)))


def _check_team(where, team, problems):
    if team is None:
        return
    if not isinstance(team, dict):
        problems.append("%s: 'team' must be a mapping with 'namespace' and 'subjects'" % where)
        return
    for key in sorted(set(team) - set(TEAM_FIELDS)):
        problems.append("%s: team: unknown key '%s' (known: %s)"
                        % (where, key, ", ".join(TEAM_FIELDS)))
    namespace = team.get("namespace")
    if not _valid_name(namespace):
        problems.append("%s: team.namespace %r is not a valid namespace name" % (where, namespace))
    subjects = team.get("subjects")
    if not isinstance(subjects, list) or not subjects:
        problems.append("%s: team.subjects must list at least one User, Group or ServiceAccount"
                        % where)
        return
    for position, subject in enumerate(subjects, 1):
        if not isinstance(subject, dict) or not subject.get("name"):
            problems.append("%s: team.subjects #%d needs a 'kind' and a 'name'" % (where, position))
            continue
        if subject.get("kind") not in SUBJECT_KINDS:
            problems.append("%s: team.subjects #%d: kind %r is not one of %s"
                            % (where, position, subject.get("kind"), ", ".join(SUBJECT_KINDS)))
        unknown = sorted(set(subject) - {"kind", "name", "namespace"})
        if unknown:
            problems.append("%s: team.subjects #%d: unknown key(s) %s"
                            % (where, position, ", ".join(unknown)))


def _find_cycles(parents):
    """Names of queues that sit on a parent cycle, each cycle once, as 'a -> b -> a'."""
    cycles, seen = [], set()
    for start in sorted(parents):
        path, node = [], start
        while node in parents and node not in seen and node not in path:
            path.append(node)
            node = parents[node]
        if node in path:
            loop = path[path.index(node):]
            cycles.append(" -> ".join(loop + [node]))
        seen.update(path)
    return cycles


def validate_queues(queues, smoke_queue=None, allow_oversubscription=False):
    """Every problem with a queue tree, as sentences; an empty list means it is valid.

    queues: list of queue entries (see the role's argument spec).
    smoke_queue: the queue the smoke pod goes to; must be a leaf when it is in the list.
    allow_oversubscription: accept children whose quotas add up to more than the parent's.
    """
    problems = []
    if queues is None:
        queues = []
    if not isinstance(queues, list):
        return ["the queue list must be a list, got %s" % type(queues).__name__]

    entries = {}
    for index, queue in enumerate(queues):
        name = _check_queue_shape(index, queue, problems)
        if name is None:
            continue
        if name in entries:
            problems.append("queue '%s' is defined more than once" % name)
            continue
        entries[name] = queue

    parents = {}
    for name, queue in entries.items():
        parent = queue.get("parent")
        if not isinstance(parent, str) or parent == "":
            continue
        if parent == name:
            problems.append("queue '%s' names itself as its parent" % name)
            continue
        if parent not in entries:
            problems.append("queue '%s': parent '%s' is not defined in the queue list"
                            % (name, parent))
            continue
        parents[name] = parent
    for cycle in _find_cycles(parents):
        problems.append("queues form a cycle: %s" % cycle)

    children = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    for parent, kids in sorted(children.items()):
        _check_quotas_against_parent(parent, sorted(kids), entries, problems,
                                     allow_oversubscription)
        team = entries[parent].get("team")
        if team:
            problems.append("queue '%s' has child queues (%s), so it cannot take workloads; "
                            "give its 'team' to a leaf queue" % (parent, ", ".join(sorted(kids))))

    team_namespaces = {}
    for name, queue in entries.items():
        team = queue.get("team")
        if isinstance(team, dict) and _valid_name(team.get("namespace")):
            team_namespaces.setdefault(team["namespace"], []).append(name)
    for namespace, owners in sorted(team_namespaces.items()):
        if len(owners) > 1:
            problems.append("queues %s give their team the same namespace '%s'; a namespace "
                            "submits to one queue" % (", ".join("'%s'" % o for o in sorted(owners)),
                                                      namespace))

    if smoke_queue:
        if smoke_queue in children:
            problems.append("the smoke test queue '%s' has child queues (%s); only leaf queues "
                            "take workloads, pick one of its leaves"
                            % (smoke_queue, ", ".join(sorted(children[smoke_queue]))))
        elif entries and smoke_queue not in entries:
            problems.append("the smoke test queue '%s' is not in the queue list (leaf queues: %s)"
                            % (smoke_queue, ", ".join(leaf_queue_names(queues)) or "none"))
    return problems


def _check_quotas_against_parent(parent, kids, entries, problems, allow_oversubscription):
    parent_resources = entries[parent].get("resources")
    if parent_resources is not None and not isinstance(parent_resources, dict):
        return
    parent_res = _safe_normalize(parent_resources)
    for resource in RESOURCES:
        parent_quota = parent_res[resource]["quota"]
        if not _is_number(parent_quota) or parent_quota == UNLIMITED:
            continue
        total, counted = 0, []
        for kid in kids:
            kid_quota = _safe_normalize(entries[kid].get("resources"))[resource]["quota"]
            if not _is_number(kid_quota):
                continue
            if kid_quota == UNLIMITED:
                problems.append("queue '%s': %s quota is unlimited (-1) but its parent '%s' "
                                "has a quota of %s" % (kid, resource, parent, _fmt(parent_quota)))
                continue
            if kid_quota > parent_quota:
                problems.append("queue '%s': %s quota %s is above its parent '%s' quota %s"
                                % (kid, resource, _fmt(kid_quota), parent, _fmt(parent_quota)))
                continue
            total += kid_quota
            counted.append(kid)
        if not allow_oversubscription and len(counted) > 1 and total > parent_quota:
            problems.append("queues %s: %s quotas add up to %s, above their parent '%s' quota %s "
                            "(set kai_scheduler_allow_quota_oversubscription to accept this)"
                            % (", ".join("'%s'" % k for k in counted), resource, _fmt(total),
                               parent, _fmt(parent_quota)))


def _safe_normalize(resources):
    if not isinstance(resources, dict):
        resources = {}
    return normalize_resources({k: v for k, v in resources.items() if isinstance(v, dict)})


def leaf_queue_names(queues):
    """Names of the queues no other queue names as parent, in list order."""
    queues = [q for q in (queues or []) if isinstance(q, dict) and q.get("name")]
    parents = {q.get("parent") for q in queues if q.get("parent")}
    return [q["name"] for q in queues if q["name"] not in parents]


def queue_manifests(queues, labels=None):
    """Queue objects for a valid queue list, parents before children."""
    labels = dict(labels or {})
    labels.setdefault(MANAGED_LABEL, MANAGED_VALUE)
    by_name = {q["name"]: q for q in queues}

    def depth(name):
        level = 0
        while by_name[name].get("parent"):
            name = by_name[name]["parent"]
            level += 1
        return level

    ordered = sorted(queues, key=lambda q: depth(q["name"]))
    manifests = []
    for queue in ordered:
        resources = normalize_resources(queue.get("resources"))
        spec = {"resources": {
            resource: {"quota": values["quota"], "limit": values["limit"],
                       "overQuotaWeight": values["over_quota_weight"]}
            for resource, values in resources.items()}}
        if queue.get("parent"):
            spec["parentQueue"] = queue["parent"]
        if queue.get("display_name"):
            spec["displayName"] = queue["display_name"]
        if queue.get("priority") is not None:
            spec["priority"] = queue["priority"]
        manifests.append({
            "apiVersion": QUEUE_API_VERSION,
            "kind": QUEUE_KIND,
            "metadata": {"name": queue["name"], "labels": dict(labels)},
            "spec": spec,
        })
    return manifests


def queues_to_prune(existing, queues):
    """Managed queues found in the cluster that the list no longer has, children before
    their parents. existing: Queue objects as read from the cluster, or
    {'name': ..., 'parent': ...} entries."""
    wanted = {q["name"] for q in queues or [] if isinstance(q, dict)}
    parent_of = {}
    for entry in existing or []:
        if "metadata" in entry:
            parent_of[entry["metadata"]["name"]] = (entry.get("spec") or {}).get("parentQueue")
        else:
            parent_of[entry["name"]] = entry.get("parent")
    doomed = [n for n in parent_of if n not in wanted]

    def depth(name, seen=()):
        parent = parent_of.get(name)
        if not parent or parent not in parent_of or parent in seen:
            return 0
        return 1 + depth(parent, seen + (name,))

    return sorted(doomed, key=lambda n: (-depth(n), n))


def cluster_queue_problems(existing, queues, smoke_queue=None, check_children=True):
    """What keeps the queues in the cluster (Queue objects as read) from matching the list:
    missing queues, parents whose status does not yet list their children (KAI's queue
    controller writes status.childQueues), and a smoke queue that is missing or not a leaf.
    An empty list means the queues are accepted."""
    found = {}
    for obj in existing or []:
        found[obj["metadata"]["name"]] = obj
    problems = []
    for queue in queues or []:
        if queue["name"] not in found:
            problems.append("queue '%s' does not exist" % queue["name"])
    if check_children:
        for queue in queues or []:
            parent = queue.get("parent")
            if not parent or parent not in found or queue["name"] not in found:
                continue
            listed = (found[parent].get("status") or {}).get("childQueues") or []
            if queue["name"] not in listed:
                problems.append("queue '%s' does not list '%s' among its children yet "
                                "(status.childQueues: %s)"
                                % (parent, queue["name"], ", ".join(listed) or "none"))
    if smoke_queue:
        if smoke_queue not in found:
            problems.append("the smoke test queue '%s' does not exist" % smoke_queue)
        else:
            children = sorted(name for name, obj in found.items()
                              if (obj.get("spec") or {}).get("parentQueue") == smoke_queue)
            if children:
                problems.append("the smoke test queue '%s' has child queues (%s); only leaf "
                                "queues take workloads" % (smoke_queue, ", ".join(children)))
    return problems


def stale_objects(existing, wanted):
    """Objects read from the cluster that the wanted list no longer has, matched by kind,
    namespace and name; returned as {kind, namespace, name} for deletion."""
    def key(obj):
        meta = obj.get("metadata") or {}
        return (obj.get("kind"), meta.get("namespace") or "", meta.get("name"))

    wanted_keys = {key(obj) for obj in wanted or []}
    stale = []
    for obj in existing or []:
        kind, namespace, name = key(obj)
        if (kind, namespace, name) not in wanted_keys:
            stale.append({"kind": kind, "namespace": namespace, "name": name})
    return sorted(stale, key=lambda o: (o["kind"], o["namespace"], o["name"]))


# --- team access ------------------------------------------------------------------------

SUBMIT_ROLE_RULES = [
    # Submit, watch and remove its own pods, and read why they wait.
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["create", "delete", "get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
    # KAI's pod groups carry the scheduling conditions (why a pod is not placed).
    {"apiGroups": ["scheduling.run.ai"], "resources": ["podgroups"],
     "verbs": ["get", "list", "watch"]},
]


def team_rbac_manifests(queues, name_prefix="kai-queue", labels=None):
    """Namespace, Role, RoleBinding, ClusterRole and ClusterRoleBinding per leaf queue with a
    'team': the least a team needs to submit pods to its queue in its own namespace and to
    read that one queue (and no other)."""
    base = dict(labels or {})
    base.setdefault(MANAGED_LABEL, MANAGED_VALUE)
    objects = []
    for queue in queues or []:
        team = queue.get("team")
        if not team:
            continue
        name, namespace = queue["name"], team["namespace"]
        labels_q = dict(base)
        labels_q[QUEUE_LABEL] = name
        subjects = []
        for subject in team["subjects"]:
            entry = {"kind": subject["kind"], "name": subject["name"]}
            if subject["kind"] == "ServiceAccount":
                entry["namespace"] = subject.get("namespace") or namespace
            else:
                entry["apiGroup"] = "rbac.authorization.k8s.io"
            subjects.append(entry)
        role_name = "%s-submit" % name_prefix
        cluster_name = "%s-%s-read" % (name_prefix, name)
        if team.get("create_namespace", True):
            objects.append({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": namespace, "labels": dict(labels_q)}})
        objects.extend([
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": role_name, "namespace": namespace, "labels": dict(labels_q)},
             "rules": [dict(rule) for rule in SUBMIT_ROLE_RULES]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": role_name, "namespace": namespace, "labels": dict(labels_q)},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                         "name": role_name},
             "subjects": subjects},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": cluster_name, "labels": dict(labels_q)},
             "rules": [{"apiGroups": ["scheduling.run.ai"], "resources": ["queues"],
                        "resourceNames": [name], "verbs": ["get"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": cluster_name, "labels": dict(labels_q)},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": cluster_name},
             "subjects": subjects},
        ])
    return objects


def team_queue_policy_manifests(name_prefix="kai-queue", queue_label_key=QUEUE_LABEL,
                                scheduler_name="kai-scheduler", labels=None):
    """A ValidatingAdmissionPolicy and its binding that hold team namespaces to their queue.

    RBAC cannot say which queue label a pod may carry, nor that a pod must go through KAI.
    In every namespace the role labelled for a team (managed label and queue label), a pod
    must name KAI as its scheduler and carry the namespace's queue label. The team Role
    allows bare pods only, so the pod is its own top owner and KAI files it under that
    label: a team can submit to its own queue and no other."""
    base = dict(labels or {})
    base.setdefault(MANAGED_LABEL, MANAGED_VALUE)
    name = "%s-membership" % name_prefix
    key = queue_label_key.replace("'", "\\'")
    expression = (
        "object.spec.schedulerName == '%s' && has(object.metadata.labels) && "
        "'%s' in object.metadata.labels && "
        "object.metadata.labels['%s'] == namespaceObject.metadata.labels['%s']"
        % (scheduler_name, key, key, key))
    message = ("pods in a team namespace must use schedulerName %s and carry the label %s "
               "with the namespace's queue" % (scheduler_name, queue_label_key))
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name, "labels": dict(base)},
         "spec": {
             "failurePolicy": "Fail",
             "matchConstraints": {"resourceRules": [{
                 "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                 "operations": ["CREATE", "UPDATE"]}]},
             "validations": [{"expression": expression, "message": message}],
         }},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": name, "labels": dict(base)},
         "spec": {
             "policyName": name,
             "validationActions": ["Deny"],
             "matchResources": {"namespaceSelector": {"matchExpressions": [
                 {"key": MANAGED_LABEL, "operator": "In", "values": [MANAGED_VALUE]},
                 {"key": queue_label_key, "operator": "Exists"}]}},
         }},
    ]
