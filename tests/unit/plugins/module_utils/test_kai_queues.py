# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/kai_queues.py and the filters that expose it."""

from ansible_collections.fractional.gpu.plugins.module_utils import kai_queues

from ansible_collections.fractional.gpu.plugins.filter.kai_queues import FilterModule

validate = kai_queues.validate_queues


def res(gpu=None, cpu=None, memory=None):
    out = {}
    for key, value in (("gpu", gpu), ("cpu", cpu), ("memory", memory)):
        if value is not None:
            out[key] = value if isinstance(value, dict) else {"quota": value}
    return out


def tree():
    """A valid two-level tree: one parent, two leaves."""
    return [
        {"name": "research", "resources": res(gpu={"quota": 8, "limit": 16}, cpu=64000)},
        {"name": "team-a", "parent": "research", "resources": res(gpu=4, cpu=32000),
         "team": {"namespace": "team-a", "subjects": [{"kind": "Group", "name": "team-a"}]}},
        {"name": "team-b", "parent": "research",
         "resources": res(gpu={"quota": 2, "limit": -1, "over_quota_weight": 2})},
    ]


# --- valid trees ------------------------------------------------------------------------

def test_valid_tree_has_no_problems():
    assert validate(tree(), smoke_queue="team-a") == []


def test_empty_and_missing_lists_are_valid():
    assert validate([]) == []
    assert validate(None) == []


def test_unlimited_parent_accepts_any_child_quota():
    queues = [{"name": "p", "resources": res(gpu=-1)},
              {"name": "c", "parent": "p", "resources": res(gpu=100)},
              {"name": "d", "parent": "p", "resources": res(gpu=-1)}]
    assert validate(queues) == []


def test_children_filling_the_parent_exactly_is_valid():
    queues = [{"name": "p", "resources": res(gpu=4)},
              {"name": "c", "parent": "p", "resources": res(gpu=2)},
              {"name": "d", "parent": "p", "resources": res(gpu=2)}]
    assert validate(queues) == []


def test_fractional_gpu_quotas():
    queues = [{"name": "p", "resources": res(gpu=1)},
              {"name": "c", "parent": "p", "resources": res(gpu=0.5)},
              {"name": "d", "parent": "p", "resources": res(gpu=0.5)}]
    assert validate(queues) == []


def test_three_levels():
    queues = [{"name": "org", "resources": res(gpu=8)},
              {"name": "dept", "parent": "org", "resources": res(gpu=4)},
              {"name": "team", "parent": "dept", "resources": res(gpu=2)}]
    assert validate(queues, smoke_queue="team") == []


# --- rejected trees: each rule, and all problems at once ---------------------------------

def test_child_quota_above_parent():
    queues = tree()
    queues[1]["resources"]["gpu"] = {"quota": 9}
    problems = validate(queues)
    assert problems == ["queue 'team-a': gpu quota 9 is above its parent 'research' quota 8"]


def test_unlimited_child_under_limited_parent():
    queues = [{"name": "p", "resources": res(cpu=1000)},
              {"name": "c", "parent": "p", "resources": res(cpu=-1)}]
    assert validate(queues) == [
        "queue 'c': cpu quota is unlimited (-1) but its parent 'p' has a quota of 1000"]


def test_children_oversubscribing_parent():
    queues = [{"name": "p", "resources": res(gpu=4)},
              {"name": "c", "parent": "p", "resources": res(gpu=3)},
              {"name": "d", "parent": "p", "resources": res(gpu=2)}]
    problems = validate(queues)
    assert len(problems) == 1
    assert "quotas add up to 5, above their parent 'p' quota 4" in problems[0]
    assert validate(queues, allow_oversubscription=True) == []


def test_unknown_parent():
    queues = [{"name": "c", "parent": "nowhere"}]
    assert validate(queues) == ["queue 'c': parent 'nowhere' is not defined in the queue list"]


def test_self_parent():
    assert validate([{"name": "a", "parent": "a"}]) == ["queue 'a' names itself as its parent"]


def test_cycle_reported_once():
    queues = [{"name": "a", "parent": "c"}, {"name": "b", "parent": "a"},
              {"name": "c", "parent": "b"}, {"name": "d", "parent": "a"}]
    problems = validate(queues)
    assert problems == ["queues form a cycle: a -> c -> b -> a"]


def test_duplicate_names():
    queues = [{"name": "a"}, {"name": "a"}]
    assert validate(queues) == ["queue 'a' is defined more than once"]


def test_bad_names_and_unknown_keys():
    problems = validate([{"name": "Team_A"}, {"parnet": "x"}, "oops",
                         {"name": "ok", "resources": {"gpus": {"quota": 1},
                                                      "cpu": {"quotas": 1}}}])
    assert any("'Team_A' is not a valid queue name" in p for p in problems)
    assert any("queue #2: 'name' is missing" == p for p in problems)
    assert any("queue #2: unknown key 'parnet'" in p for p in problems)
    assert any("queue #3: must be a mapping" in p for p in problems)
    assert any("queue 'ok': unknown resource 'gpus'" in p for p in problems)
    assert any("queue 'ok': resources.cpu: unknown key 'quotas'" in p for p in problems)


def test_resource_value_rules():
    queues = [{"name": "a", "resources": {
        "gpu": {"quota": 4, "limit": 2},
        "cpu": {"quota": -5, "limit": -3, "over_quota_weight": -1},
        "memory": {"quota": "lots"},
    }}, {"name": "b", "resources": {"gpu": {"quota": -1, "limit": 4}}}]
    problems = validate(queues)
    assert "queue 'a': resources.gpu.limit 2 is below its quota 4" in problems
    assert any("resources.cpu.quota is -5" in p for p in problems)
    assert any("resources.cpu.limit is -3" in p for p in problems)
    assert any("resources.cpu.over_quota_weight is -1" in p for p in problems)
    assert "queue 'a': resources.memory.quota must be a number, got 'lots'" in problems
    assert "queue 'b': resources.gpu has an unlimited quota (-1) but a limit of 4" in problems


def test_booleans_are_not_numbers():
    problems = validate([{"name": "a", "resources": {"gpu": {"quota": True}}}])
    assert problems == ["queue 'a': resources.gpu.quota must be a number, got True"]


def test_smoke_queue_must_be_a_leaf():
    problems = validate(tree(), smoke_queue="research")
    assert problems == ["the smoke test queue 'research' has child queues (team-a, team-b); "
                        "only leaf queues take workloads, pick one of its leaves"]


def test_smoke_queue_must_be_in_a_non_empty_list():
    problems = validate(tree(), smoke_queue="elsewhere")
    assert problems == ["the smoke test queue 'elsewhere' is not in the queue list "
                        "(leaf queues: team-a, team-b)"]
    # With no queue list the role manages none; the queue is checked in the cluster.
    assert validate([], smoke_queue="default-queue") == []


def test_team_rules():
    queues = tree()
    queues[0]["team"] = {"namespace": "x", "subjects": [{"kind": "Group", "name": "g"}]}
    queues[2]["team"] = {"namespace": "team-a", "subjects": [{"kind": "Robot", "name": "r"}],
                         "extra": 1}
    problems = validate(queues)
    assert ("queue 'research' has child queues (team-a, team-b), so it cannot take workloads; "
            "give its 'team' to a leaf queue") in problems
    assert "queue 'team-b': team: unknown key 'extra' (known: namespace, subjects, create_namespace)" \
        in problems
    assert any("kind 'Robot' is not one of" in p for p in problems)
    assert any("give their team the same namespace 'team-a'" in p for p in problems)


def test_team_needs_subjects_and_namespace():
    problems = validate([{"name": "a", "team": {"namespace": "Bad NS", "subjects": []}}])
    assert any("team.namespace 'Bad NS' is not a valid namespace name" in p for p in problems)
    assert any("team.subjects must list at least one" in p for p in problems)


def test_every_problem_is_listed_at_once():
    queues = [{"name": "p", "resources": res(gpu=2)},
              {"name": "c", "parent": "p", "resources": res(gpu=3)},
              {"name": "orphan", "parent": "missing"},
              {"name": "p"}]
    problems = validate(queues, smoke_queue="p")
    assert len(problems) == 4
    assert "queue 'p' is defined more than once" in problems
    assert "queue 'c': gpu quota 3 is above its parent 'p' quota 2" in problems
    assert "queue 'orphan': parent 'missing' is not defined in the queue list" in problems
    assert any(p.startswith("the smoke test queue 'p' has child queues") for p in problems)


def test_not_a_list():
    assert validate({"name": "a"}) == ["the queue list must be a list, got dict"]


# --- objects ----------------------------------------------------------------------------

def test_manifests_fill_defaults_and_order_parents_first():
    queues = list(reversed(tree()))
    manifests = kai_queues.queue_manifests(queues, labels={"extra": "x"})
    assert [m["metadata"]["name"] for m in manifests] == ["research", "team-b", "team-a"]
    research = manifests[0]
    assert research["apiVersion"] == "scheduling.run.ai/v2"
    assert research["kind"] == "Queue"
    assert research["metadata"]["labels"] == {"extra": "x",
                                              "fractional.gpu/managed-by": "kai_scheduler"}
    assert "parentQueue" not in research["spec"]
    assert research["spec"]["resources"] == {
        "gpu": {"quota": 8, "limit": 16, "overQuotaWeight": 1},
        "cpu": {"quota": 64000, "limit": -1, "overQuotaWeight": 1},
        "memory": {"quota": 0, "limit": -1, "overQuotaWeight": 1},
    }
    team_b = manifests[1]
    assert team_b["spec"]["parentQueue"] == "research"
    assert team_b["spec"]["resources"]["gpu"] == {"quota": 2, "limit": -1, "overQuotaWeight": 2}


def test_manifest_optional_fields():
    manifest = kai_queues.queue_manifests(
        [{"name": "a", "display_name": "Team A", "priority": 200}])[0]
    assert manifest["spec"]["displayName"] == "Team A"
    assert manifest["spec"]["priority"] == 200


def test_leaves():
    assert kai_queues.leaf_queue_names(tree()) == ["team-a", "team-b"]
    assert kai_queues.leaf_queue_names([]) == []


def test_prune_children_before_parents():
    existing = [{"name": "old-parent"}, {"name": "old-child", "parent": "old-parent"},
                {"name": "team-a", "parent": "research"}, {"name": "research"}]
    assert kai_queues.queues_to_prune(existing, tree()) == ["old-child", "old-parent"]
    assert kai_queues.queues_to_prune([], tree()) == []
    objects = [{"metadata": {"name": "gone"}, "spec": {"parentQueue": "older"}},
               {"metadata": {"name": "older"}, "spec": {}},
               {"metadata": {"name": "research"}}]
    assert kai_queues.queues_to_prune(objects, tree()) == ["gone", "older"]


def test_team_rbac_is_least_privilege():
    objects = kai_queues.team_rbac_manifests(tree())
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Namespace", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]
    namespace, role, binding, cluster_role, cluster_binding = objects
    assert namespace["metadata"]["labels"]["kai.scheduler/queue"] == "team-a"
    assert role["metadata"]["namespace"] == "team-a"
    verbs = {tuple(r["resources"]): r["verbs"] for r in role["rules"]}
    assert verbs[("pods",)] == ["create", "delete", "get", "list", "watch"]
    assert all("update" not in v and "patch" not in v for v in verbs.values())
    assert not any(r.get("resources") == ["*"] or r.get("verbs") == ["*"] for r in role["rules"])
    assert binding["subjects"] == [{"kind": "Group", "name": "team-a",
                                    "apiGroup": "rbac.authorization.k8s.io"}]
    # Its own queue, read only, by name.
    assert cluster_role["rules"] == [{"apiGroups": ["scheduling.run.ai"], "resources": ["queues"],
                                      "resourceNames": ["team-a"], "verbs": ["get"]}]
    assert cluster_binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    for obj in objects:
        assert obj["metadata"]["labels"]["fractional.gpu/managed-by"] == "kai_scheduler"


def test_team_rbac_service_account_and_existing_namespace():
    queues = [{"name": "q", "team": {"namespace": "ns", "create_namespace": False,
                                     "subjects": [{"kind": "ServiceAccount", "name": "ci"}]}}]
    objects = kai_queues.team_rbac_manifests(queues, name_prefix="p")
    assert [o["kind"] for o in objects][0] == "Role"
    assert objects[1]["subjects"] == [{"kind": "ServiceAccount", "name": "ci", "namespace": "ns"}]
    assert objects[0]["metadata"]["name"] == "p-submit"


def test_filters_are_exposed():
    filters = FilterModule().filters()
    assert set(filters) == {"kai_queue_problems", "kai_queue_manifests", "kai_queue_leaves",
                            "kai_queues_to_prune", "kai_team_rbac_manifests",
                            "kai_stale_objects", "kai_cluster_queue_problems",
                            "kai_team_queue_policy_manifests"}
    assert filters["kai_queue_problems"](tree(), "team-a") == []
    assert filters["kai_queue_leaves"](tree()) == ["team-a", "team-b"]


def test_stale_objects_match_kind_namespace_and_name():
    wanted = kai_queues.team_rbac_manifests(tree())
    existing = [dict(o, metadata=dict(o["metadata"], uid="x")) for o in wanted
                if o["kind"] != "Namespace"]
    existing.append({"kind": "Role", "metadata": {"name": "kai-queue-submit",
                                                  "namespace": "old-team"}})
    existing.append({"kind": "ClusterRole", "metadata": {"name": "kai-queue-old-read"}})
    assert kai_queues.stale_objects(existing, wanted) == [
        {"kind": "ClusterRole", "namespace": "", "name": "kai-queue-old-read"},
        {"kind": "Role", "namespace": "old-team", "name": "kai-queue-submit"},
    ]


def cluster(children_listed=True):
    objects = [dict(m, status={}) for m in kai_queues.queue_manifests(tree())]
    if children_listed:
        objects[0]["status"] = {"childQueues": ["team-a", "team-b"]}
    return objects


def test_cluster_queues_accepted():
    assert kai_queues.cluster_queue_problems(cluster(), tree(), smoke_queue="team-a") == []


def test_cluster_queue_missing_and_children_not_listed():
    objects = cluster(children_listed=False)[:2]
    problems = kai_queues.cluster_queue_problems(objects, tree())
    assert "queue 'team-b' does not exist" in problems
    assert any(p.startswith("queue 'research' does not list 'team-a' among its children yet")
               for p in problems)
    assert kai_queues.cluster_queue_problems(objects, tree(), check_children=False) == [
        "queue 'team-b' does not exist"]


def test_cluster_smoke_queue_must_exist_and_be_a_leaf():
    assert kai_queues.cluster_queue_problems(cluster(), [], smoke_queue="nope") == [
        "the smoke test queue 'nope' does not exist"]
    assert kai_queues.cluster_queue_problems(cluster(), [], smoke_queue="research") == [
        "the smoke test queue 'research' has child queues (team-a, team-b); only leaf queues "
        "take workloads"]


def test_team_queue_policy():
    policy, binding = kai_queues.team_queue_policy_manifests("p", "kai.scheduler/queue", "kai")
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert policy["metadata"]["name"] == "p-membership"
    rule = policy["spec"]["matchConstraints"]["resourceRules"][0]
    assert rule["resources"] == ["pods"] and rule["operations"] == ["CREATE", "UPDATE"]
    expression = policy["spec"]["validations"][0]["expression"]
    assert "object.spec.schedulerName == 'kai'" in expression
    assert "namespaceObject.metadata.labels['kai.scheduler/queue']" in expression
    assert binding["spec"]["policyName"] == "p-membership"
    assert binding["spec"]["validationActions"] == ["Deny"]
    selector = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert {"key": "fractional.gpu/managed-by", "operator": "In",
            "values": ["kai_scheduler"]} in selector
    assert {"key": "kai.scheduler/queue", "operator": "Exists"} in selector
