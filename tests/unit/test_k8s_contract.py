# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes contract has one home, plugins/module_utils/k8s_contract.py: no role,
playbook or plugin spells its names itself. Documentation may name them (argument specs,
the filters' documentation files, plugin docs and docstrings, the comments that document
a role's defaults); everything that runs gets them from the module (Python imports it,
roles read cluster_contract, playbooks the lookup fractional.gpu.k8s_contract)."""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.fractional.gpu.plugins.module_utils import k8s_contract, mig_host

REPO = Path(__file__).resolve().parents[2]
HOME = "plugins/module_utils/k8s_contract.py"
NAMES = (k8s_contract.CLUSTER_POLICY, k8s_contract.MIG_CONFIG_LABEL,
         k8s_contract.DEVICE_PLUGIN_CONFIG_LABEL, k8s_contract.GPU_PRESENT_LABEL,
         k8s_contract.DEPLOY_LABEL_PREFIX, k8s_contract.PAUSED_FOR_MIG_CHANGE,
         k8s_contract.DEVICE_PLUGIN_APP, k8s_contract.contract()["cluster_policy_api_version"],
         "['%s']" % k8s_contract.GPU_RESOURCE)
# The collection's own names, each with its one home too.
OWN_NAMES = {mig_host.MARK: "plugins/module_utils/mig_host.py"}
# A user's input whose default is a contract name: the default is documentation of a knob
# the user may point elsewhere.
USER_DEFAULTS = {("roles/kai_scheduler/defaults/main.yml", k8s_contract.GPU_PRESENT_LABEL)}
DOC_CONSTANTS = ("DOCUMENTATION", "EXAMPLES", "RETURN")


def shipped_files():
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "roles", "playbooks", "plugins"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return sorted(path for path in listed if (REPO / path).is_file())


def documentation(path: str) -> bool:
    return (path.endswith(".md") or path.endswith("/meta/argument_specs.yml")
            or (path.startswith("plugins/filter/") and path.endswith(".yml")))


def python_code_strings(text: str):
    """The string constants of a Python file that are not documentation (docstrings, the
    plugin doc constants), with their line."""
    tree = ast.parse(text)
    docs = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            docs.add(id(body[0].value))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in DOC_CONSTANTS
                                                for t in node.targets):
            docs.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def yaml_code_lines(path: str, text: str):
    """The lines of a YAML file; in a role's defaults without the comments, which document
    its knobs."""
    for number, line in enumerate(text.splitlines(), 1):
        if path.endswith("/defaults/main.yml"):
            line = line.split("#", 1)[0] if line.lstrip().startswith("#") or " #" not in line \
                else line.split(" #", 1)[0]
        yield number, line


def spelled_out(path: str, names=NAMES):
    text = (REPO / path).read_text()
    pieces = python_code_strings(text) if path.endswith(".py") else yaml_code_lines(path, text)
    for number, piece in pieces:
        for name in names:
            if name in piece and (path, name) not in USER_DEFAULTS:
                yield "%s:%d: %s" % (path, number, name)


def test_the_walk_sees_the_home_and_the_roles():
    files = shipped_files()
    assert HOME in files and "roles/time_slicing/tasks/apply.yml" in files
    assert list(spelled_out(HOME)), "the home spells every name"


def test_no_role_playbook_or_plugin_spells_a_contract_name():
    found = [line for path in shipped_files()
             if path != HOME and not documentation(path)
             for line in spelled_out(path)]
    assert not found, ("contract names belong in %s (cluster_contract, the lookup "
                       "fractional.gpu.k8s_contract):\n%s" % (HOME, "\n".join(found)))


@pytest.mark.parametrize("name, home", sorted(OWN_NAMES.items()))
def test_the_collections_own_names_have_one_home(name, home):
    assert list(spelled_out(home, [name]))
    found = [line for path in shipped_files()
             if path != home and not documentation(path)
             for line in spelled_out(path, [name])]
    assert not found, "%s belongs in %s:\n%s" % (name, home, "\n".join(found))


def test_the_cluster_role_reads_the_contract_from_its_home():
    variables = yaml.safe_load((REPO / "roles" / "cluster" / "vars" / "main.yml").read_text())
    assert variables == {"cluster_contract": "{{ lookup('fractional.gpu.k8s_contract') }}"}


def test_the_lookup_gives_the_contract():
    pytest.importorskip("ansible")
    from ansible_collections.fractional.gpu.plugins.lookup.k8s_contract import LookupModule

    lookup = LookupModule()
    assert lookup.run([], variables={}) == [k8s_contract.contract()]
    assert lookup.run(["cluster_policy", "mig_config_label"], variables={}) == \
        [k8s_contract.CLUSTER_POLICY, k8s_contract.MIG_CONFIG_LABEL]
    with pytest.raises(Exception, match="no name nope"):
        lookup.run(["nope"], variables={})


@pytest.mark.parametrize("label, product, profile, shared", [
    ("NVIDIA-H100-80GB-HBM3-MIG-1g.10gb-SHARED", "NVIDIA-H100-80GB-HBM3", "1g.10gb", True),
    ("NVIDIA-A100-SXM4-40GB-MIG-INVALID", "NVIDIA-A100-SXM4-40GB", k8s_contract.PRODUCT_MIG_INVALID, False),
    ("", "", None, False),
])
def test_product_label_form(label, product, profile, shared):
    assert k8s_contract.parse_product(label) == (product, profile, shared)


def test_the_rename_rule():
    assert k8s_contract.advertised_resource("nvidia.com/gpu", True) == "nvidia.com/gpu.shared"
    assert k8s_contract.advertised_resource("nvidia.com/mig-1g.10gb", False) == "nvidia.com/mig-1g.10gb"
