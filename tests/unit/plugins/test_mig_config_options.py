# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mig-parted config options: one argument spec, one doc fragment, one action group."""
from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.fractional.gpu.plugins.doc_fragments.mig_config import ModuleDocFragment
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    MIG_CONFIG_ARGUMENT_SPEC,
    mig_config_module_args,
)

COLLECTION = Path(__file__).resolve().parents[3]


def test_fragment_documents_the_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert {name: {key: opt[key] for key in ("type", "default") if key in opt}
            for name, opt in documented.items()} == MIG_CONFIG_ARGUMENT_SPEC


def test_module_args_add_the_module_own_options():
    args = mig_config_module_args(force={"type": "bool", "default": False})
    assert set(args["argument_spec"]) == {*MIG_CONFIG_ARGUMENT_SPEC, "force"}
    assert args["mutually_exclusive"] == args["required_one_of"] == [("config", "config_file")]
    assert args["supports_check_mode"] is True
    assert "force" not in MIG_CONFIG_ARGUMENT_SPEC  # the shared spec is not changed


def test_action_group_holds_the_modules_that_share_the_options():
    runtime = yaml.safe_load((COLLECTION / "meta/runtime.yml").read_text())
    group = runtime["action_groups"]["mig_config"]
    for module in group:
        source = (COLLECTION / "plugins/modules" / f"{module}.py").read_text()
        assert "fractional.gpu.mig_config" in source and "mig_config_module_args(" in source
    assert set(runtime["action_groups"]) == {"kubernetes", "mig_config"}


def test_kubernetes_group_holds_the_modules_with_kubernetes_cores_connection_options():
    runtime = yaml.safe_load((COLLECTION / "meta/runtime.yml").read_text())
    modules = {path.stem for path in (COLLECTION / "plugins/modules").glob("*.py")
               if "AUTH_ARG_SPEC" in path.read_text()}
    assert set(runtime["action_groups"]["kubernetes"]) == modules == {"mig_manager", "node_info", "node_labels"}
