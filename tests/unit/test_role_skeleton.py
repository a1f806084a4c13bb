# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One skeleton for every role: the Kubernetes connection settings are set once, in
module_defaults, and reach every Kubernetes call of every entry point; the private names of
the roles that follow the ``__<role>_`` scheme keep to it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
CONNECTION = ("kubeconfig", "context")
# The modules that talk to the cluster with kubernetes.core's connection options.
KUBERNETES = re.compile(r"^(kubernetes\.core\.[a-z0-9_]+|fractional\.gpu\.(node_info|node_labels|mig_manager))$")
INCLUDES = ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks")
PRIVATE_SCHEME_ROLES = ("gpu_operator", "kai_scheduler", "mig", "pool", "time_slicing")
# Facts of the run that the playbooks read (set with a noqa for the role prefix).
RUN_FACT = re.compile(r"^fleet_[a-z0-9_]+$")


def load(path: Path):
    return yaml.safe_load(path.read_text()) or []


def action(task: dict) -> str | None:
    """The module a task calls: FQCN everywhere, so the one key with a dot in its name."""
    names = [key for key in task if "." in key]
    return names[0] if len(names) == 1 else None


def tasks(items: list, defaults: tuple = ()):
    """Every task of a task list with the module_defaults of the blocks around it."""
    for item in items or []:
        around = defaults + ((item["module_defaults"],) if "module_defaults" in item else ())
        if "block" in item:
            for key in ("block", "rescue", "always"):
                yield from tasks(item.get(key), around)
        else:
            yield item, around


def plays_tasks(playbook: list):
    for play in playbook:
        around = (play["module_defaults"],) if "module_defaults" in play else ()
        for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            yield from tasks(play.get(key), around)


def task_files() -> list[Path]:
    return sorted(ROLES.glob("*/tasks/*.yml")) + sorted(ROLES.glob("*/handlers/*.yml"))


def test_no_task_sets_the_connection_itself():
    found = []
    calls = 0
    for path in task_files():
        found += [(path, task) for task, _around in tasks(load(path))]
    for path in sorted((REPO / "playbooks").glob("*.yml")):
        found += [(path, task) for task, _around in plays_tasks(load(path))]
    problems = []
    for path, task in found:
        module = action(task)
        if module and KUBERNETES.match(module):
            calls += 1
        args = task.get(module) if module else None
        if isinstance(args, dict):
            problems += ["%s: %r sets %s" % (path.relative_to(REPO), task.get("name"), key)
                         for key in CONNECTION if key in args]
    assert calls > 50, "the walk should find the roles' Kubernetes calls"
    assert not problems, "kubeconfig/context belong in module_defaults only:\n" + "\n".join(problems)


def action_groups(collection: str, runtime: Path) -> dict[str, set[str]]:
    groups = yaml.safe_load(runtime.read_text())["action_groups"]
    return {"group/%s.%s" % (collection, name): {"%s.%s" % (collection, module)
                                                 for module in modules if isinstance(module, str)}
            for name, modules in groups.items()}


def kubernetes_groups() -> dict[str, set[str]]:
    """The action groups of kubernetes.core (the installed collection's meta/runtime.yml) and
    of this collection."""
    for entry in sys.path:
        runtime = Path(entry) / "ansible_collections" / "kubernetes" / "core" / "meta" / "runtime.yml"
        if runtime.is_file():
            return {**action_groups("kubernetes.core", runtime),
                    **action_groups("fractional.gpu", REPO / "meta" / "runtime.yml")}
    pytest.skip("kubernetes.core is not installed")
    return {}


def entry_points() -> list[Path]:
    """Each role's entry points: those its argument specs name, and any task file that a
    playbook, scenario or test runs with tasks_from."""
    points = set()
    for role in sorted(ROLES.iterdir()):
        specs = load(role / "meta" / "argument_specs.yml") or {}
        points |= {role / "tasks" / ("%s.yml" % name) for name in specs.get("argument_specs", {})}
    listed = subprocess.run(["git", "grep", "-h", "-A1", "-E", r"name: fractional\.gpu\.[a-z_]+$"],
                            cwd=REPO, capture_output=True, text=True, check=False).stdout
    for role, tasks_from in re.findall(r"name: fractional\.gpu\.([a-z_]+)\n\s+tasks_from: (\S+)", listed):
        name = tasks_from if tasks_from.endswith(".yml") else tasks_from + ".yml"
        points.add(ROLES / role / "tasks" / name)
    return sorted(path for path in points if path.is_file())


def reachable(path: Path, defaults: tuple = (), seen: tuple = ()):
    """The tasks of a task file and of the files it imports or includes (by a plain name),
    each with the module_defaults around it."""
    for task, around in tasks(load(path), defaults):
        module = action(task)
        if module in INCLUDES:
            target = task[module]["file"] if isinstance(task[module], dict) else task[module]
            included = path.parent / target
            if "{" not in target and included not in seen:
                yield from reachable(included, around, seen + (path,))
        else:
            yield path, task, around


@pytest.mark.parametrize("entry", entry_points(), ids=lambda path: "%s/%s" % (path.parts[-3], path.name))
def test_every_kubernetes_call_of_an_entry_point_gets_the_connection(entry):
    groups = kubernetes_groups()
    problems = []
    for path, task, around in reachable(entry):
        module = action(task)
        if not (module and KUBERNETES.match(module)):
            continue
        covering = [settings for defaults in around for key, settings in defaults.items()
                    if key == module or module in groups.get(key, ())]
        if not any(all(option in settings for option in CONNECTION) for settings in covering):
            problems.append("%s: %r (%s)" % (path.relative_to(REPO), task.get("name"), module))
    assert not problems, ("no module_defaults with kubeconfig and context around:\n" + "\n".join(problems))


def everything(items: list):
    """Every block and task of a task list."""
    for item in items or []:
        yield item
        if "block" in item:
            for key in ("block", "rescue", "always"):
                yield from everything(item.get(key))


def private_names(items: list):
    """The names a task list registers, sets as facts or as block and task variables."""
    for item in everything(items):
        if "register" in item:
            yield item["register"]
        module = action(item)
        if module == "ansible.builtin.set_fact":
            yield from (key for key in item[module] if key != "cacheable")
        yield from (item.get("vars") or {})


def documented_inputs(role: str) -> set[str]:
    """The options of every entry point of the role: one entry point may set another's
    inputs (the mig role's main hands mig_operator_nodes to operator)."""
    specs = load(ROLES / role / "meta" / "argument_specs.yml") or {}
    return {name for spec in specs.get("argument_specs", {}).values()
            for name in (spec.get("options") or {})}


@pytest.mark.parametrize("role", PRIVATE_SCHEME_ROLES)
def test_private_names_follow_the_role_scheme(role):
    names = set()
    for path in sorted((ROLES / role / "tasks").glob("*.yml")):
        names |= set(private_names(load(path)))
    if (ROLES / role / "vars" / "main.yml").is_file():
        names |= set(load(ROLES / role / "vars" / "main.yml") or {})
    pattern = re.compile(r"^__%s_[a-z0-9]+(_[a-z0-9]+)*$" % role)
    assert names, "the walk should find the role's registered and set names"
    inputs = documented_inputs(role)
    assert sorted(name for name in names
                  if not (pattern.match(name) or RUN_FACT.match(name) or name in inputs)) == []
