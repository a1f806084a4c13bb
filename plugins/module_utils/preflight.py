# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every input of a run, checked at its start, before anything in the cluster or on a GPU
changes: the inputs alone (no cluster, no host), for every pool in scope at once.

Each check here is one a role makes again when its turn comes (the roles call the same
functions), so that a role run alone refuses the same way; run first, they keep a typo in
the last pool a run handles from being found after the first pool's nodes were drained.
Every problem names the pool (where the value is the pool's), the variable and the value.

Pure functions over plain data; ansible-core's argument spec validator for the types.
"""

from __future__ import absolute_import, division, print_function

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.fractional.gpu.plugins.module_utils import (
    device_plugin_config,
    fleet_plan,
    kai_queues,
    mig_config,
    mig_strategy,
    node_metadata,
)

__metaclass__ = type

# Options of the roles' argument specs that the playbooks compute and pass to the roles
# (facts of the run), never an input a user sets.
RUN_FACTS = ("pool_scope", "fleet_scope", "fleet_pools", "mig_operator_nodes")
# Checked by their own rules here (a selector's keys and values, the device plugin's
# config), which name what is wrong more precisely than a type.
OWN_RULES = ("pool_node_selector", "pool_time_slicing")
# The pool strategies whose pool_time_slicing is rendered for the device plugin (auto: the
# advisor may pick time slicing).
SHARING_STRATEGIES = ("auto", fleet_plan.TIME_SLICING)
NO_LOG_SHOWN = "********"


def option_specs(role_specs):
    """{option: spec} of every option of every entry point of ``role_specs`` ({role:
    argument_specs}), as a value is checked on its own: no option is required there (a role
    says what it needs when it runs), and no default is filled in. The first role (sorted)
    that declares an option gives its spec."""
    options = {}
    for _role, specs in sorted((role_specs or {}).items()):
        for _entry, entry in sorted((specs or {}).items()):
            for name, spec in sorted(((entry or {}).get("options") or {}).items()):
                if name in options or name in RUN_FACTS:
                    continue
                options[name] = _relaxed(spec)
    return options


def _relaxed(spec):
    spec = dict(spec or {})
    for key in ("required", "default", "description", "version_added"):
        spec.pop(key, None)
    for key in ("required_if", "required_together", "required_one_of", "required_by"):
        spec.pop(key, None)
    if isinstance(spec.get("options"), dict):
        spec["options"] = dict((name, _relaxed(sub)) for name, sub in spec["options"].items())
    return spec


def _scrub(message, secrets):
    for secret in secrets:
        if secret:
            message = message.replace(str(secret), NO_LOG_SHOWN)
    return message


def typed_problems(values, specs, where=""):
    """What the roles' argument specs refuse in ``values`` ({variable: value}), each
    sentence naming the variable (and ``where``, e.g. 'pool l40s'). A number given as text,
    as an AWX survey sends it, is a number; 'two' is not. Values of no_log options are never
    shown."""
    checked = dict((name, value) for name, value in (values or {}).items()
                   if name in specs and name not in OWN_RULES and value is not None)
    if not checked:
        return []
    spec = dict((name, specs[name]) for name in checked)
    result = ArgumentSpecValidator(spec).validate(checked)
    secrets = [value for name, value in checked.items() if spec[name].get("no_log")]
    secrets += list(getattr(result, "_no_log_values", ()) or ())
    prefix = "%s: " % where if where else ""
    # ansible-core says "argument 'mig_serial' is of type ..."; a variable is no argument.
    return ["%s%s" % (prefix, _scrub(str(getattr(error, "msg", error)), secrets)
                      .replace("argument '", "variable '", 1))
            for error in result.errors]


def _kind(value):
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a %s" % type(value).__name__


def selector_problems(where, selector):
    """Why ``selector`` (pool_node_selector) does not select Kubernetes nodes: it must map
    label keys to label values."""
    if selector in (None, {}):
        return []
    if not isinstance(selector, dict):
        return ["%s: pool_node_selector must map label keys to values (e.g. "
                "{cloud.google.com/gke-nodepool: gpu-l4}), got %s: %r"
                % (where, _kind(selector), selector)]
    problems = []
    for key, value in sorted(selector.items(), key=lambda item: str(item[0])):
        problem = node_metadata.key_problem(key)
        if problem:
            problems.append("%s: pool_node_selector: %s" % (where, problem))
        if not isinstance(value, str):
            problems.append("%s: pool_node_selector: the value of %s must be a string (a label "
                            "value), got %r" % (where, key, value))
            continue
        problem = node_metadata.label_value_problem(value)
        if problem:
            problems.append("%s: pool_node_selector: %s: %s" % (where, key, problem))
    return problems


def pool_problems(name, pool):
    """What is wrong with one pool's own inputs: its name where the collection writes it as
    a label value (the pool label, cluster_pool_label; no pool_node_selector), its node
    selector, and its device plugin sharing config by the plugin's rules that hold under
    every MIG strategy (the cluster's is checked against the cluster, later)."""
    where = "pool %s" % name
    problems = []
    selector = pool.get("node_selector")
    if selector in (None, {}):
        problem = node_metadata.label_value_problem(str(name))
        if problem:
            problems.append("%s: the pool's name is the value of its nodes' pool label "
                            "(cluster_pool_label), and %s; rename the group pool_<name> (or set "
                            "pool_name), or select the nodes by the platform's labels with "
                            "pool_node_selector" % (where, problem))
    else:
        problems.extend(selector_problems(where, selector))
    sharing = (pool.get("settings") or {}).get("pool_time_slicing")
    if sharing and _shares(pool):
        if not isinstance(sharing, dict):
            problems.append("%s: pool_time_slicing must be a mapping (resources, strategy, ...), "
                            "got %s: %r" % (where, _kind(sharing), sharing))
        else:
            problems.extend(
                problem.replace(where + ": ", where + ": pool_time_slicing ", 1)
                for problem in device_plugin_config.config_problems(
                    [dict(sharing, name=name)], mig_strategy=None))
    return problems


def _strategy(pool):
    return (pool.get("settings") or {}).get("pool_strategy") or "auto"


def _shares(pool):
    settings = pool.get("settings") or {}
    return _strategy(pool) in SHARING_STRATEGIES or (
        _strategy(pool) == fleet_plan.MIG and fleet_plan.as_bool(settings.get("pool_share_mig_devices")))


def run_strategy_problems(name, pool):
    """What the MIG strategy the run asks for (gpu_operator_mig_strategy, which the GPU
    Operator play writes to the ClusterPolicy before any pool is handled) makes of the
    pool: the rules of mig_strategy.pool_problems that need no GPU (MPS under mixed, MIG
    resources outside mixed, a MIG pool under none), so that a strategy that breaks a pool
    is refused before the cluster's is changed. Unset: the cluster's stays, and the pools
    are checked against it once read."""
    strategy = (pool.get("inputs") or {}).get("gpu_operator_mig_strategy")
    if strategy not in mig_strategy.STRATEGIES:
        return []  # unset, or not a strategy: the argument spec's check names it
    sharing = (pool.get("settings") or {}).get("pool_time_slicing")
    problems = []
    if _shares(pool) and isinstance(sharing, dict):
        problems.extend(mig_strategy.sharing_problems(
            "pool %s: pool_time_slicing" % name, sharing, strategy,
            mig_pool=_strategy(pool) == fleet_plan.MIG, source=mig_strategy.RUN_STRATEGY))
    # The pool's own rules under the strategy, less its sharing (above, named as such).
    problems.extend(mig_strategy.pool_problems({"name": name, "strategy": _strategy(pool), "time_slicing": {}},
                                               strategy, source=mig_strategy.RUN_STRATEGY))
    return problems


def document_problems(inputs, strategies):
    """What is wrong with the run's documents alone, as the roles that read them would
    refuse them: the mig-parted document ``mig_config`` (mig-parted's format rules: it
    refuses the whole file) where a pool may use MIG, and the KAI queue tree
    ``kai_scheduler_queues`` where a pool may use KAI (``strategies``: the pools'
    pool_strategy; auto may become either)."""
    problems = []
    document = inputs.get("mig_config")
    if document is not None and ({fleet_plan.MIG, "auto"} & set(strategies)):
        try:
            mig_config.parse_config(document)
        except mig_config.MigConfigError as exc:
            problems.extend("mig_config: %s" % error for error in exc.errors)
    queues = inputs.get("kai_scheduler_queues")
    if queues and ({"kai", "auto"} & set(strategies)):
        problems.extend("kai_scheduler_queues: %s" % problem for problem in kai_queues.validate_queues(
            queues, None, fleet_plan.as_bool(inputs.get("kai_scheduler_allow_quota_oversubscription"))))
    return problems


def mig_pool_problems(name, pool):
    """A MIG pool names a config of the run's mig-parted document (mig_config_name)."""
    if _strategy(pool) != fleet_plan.MIG:
        return []
    where = "pool %s" % name
    config_name = (pool.get("settings") or {}).get("mig_config_name")
    document = (pool.get("inputs") or {}).get("mig_config")
    if not config_name:
        return ["%s: pool_strategy mig needs mig_config_name, a key of mig_config's mig-configs" % where]
    if document is None:
        return ["%s: mig_config_name %r, but mig_config (the mig-parted document) is not set"
                % (where, config_name)]
    configs = document.get("mig-configs") if isinstance(document, dict) else None
    if isinstance(configs, dict) and config_name not in configs:
        return ["%s: mig_config_name %r is not a config of mig_config (available: %s)"
                % (where, config_name, ", ".join(sorted(str(key) for key in configs)) or "none")]
    return []


def input_problems(pools, specs):
    """Every problem with the inputs of the pools in scope (``pools``: {name: {node_selector,
    settings, inputs}}, ``inputs`` being every variable of the roles' argument specs as the
    pool's hosts see it). A variable whose value every pool shares (a run setting, an extra
    var, a survey answer) is reported once; one that differs, per pool."""
    problems = []
    names = sorted(pools or {})
    shared = {}
    if names:
        first = (pools[names[0]].get("inputs") or {})
        for variable, value in first.items():
            if all(variable in (pools[name].get("inputs") or {})
                   and pools[name]["inputs"][variable] == value for name in names):
                shared[variable] = value
    problems.extend(typed_problems(shared, specs))
    # The documents once where every pool reads the same (the usual: group_vars/all).
    problems.extend(document_problems(shared, [_strategy(pools[name]) for name in names]))
    by_problem = {}
    for name in names:
        pool = pools[name]
        own = dict((variable, value) for variable, value in (pool.get("inputs") or {}).items()
                   if variable not in shared)
        where = "pool %s" % name
        own_problems = (typed_problems(own, specs, where) + pool_problems(name, pool)
                        + mig_pool_problems(name, pool) + run_strategy_problems(name, pool))
        own_problems += ["%s: %s" % (where, problem) for problem in document_problems(own, [_strategy(pool)])]
        for problem in own_problems:
            # The same problem in several pools (an extra var that all of them read) once.
            by_problem.setdefault(problem[len(where):], []).append(name)
    for rest, pool_names in by_problem.items():
        problems.append("pool%s %s%s" % ("s" if len(pool_names) > 1 else "", ", ".join(pool_names), rest))
    return problems
