# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Messages the roles build in YAML: one problem a line, with real newlines (ansible-core
does not turn a backslash-n inside a block scalar's Jinja string into a newline; YAML does
inside a double-quoted scalar)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_operator_checks_list_one_problem_a_line():
    tasks = yaml.safe_load((ROOT / "roles" / "mig" / "tasks" / "operator.yml").read_text())
    check = next(t for t in tasks if t["name"] == "Check the node's GPUs can take the MIG configuration")
    assert "\n- " in check["vars"]["mig_operator_error_lines"]
    assert "\\n" not in check["ansible.builtin.assert"]["fail_msg"]
