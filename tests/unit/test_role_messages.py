# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Messages the roles build in YAML: one problem a line, with real newlines (ansible-core
does not turn a backslash-n inside a block scalar's Jinja string into a newline; YAML does
inside a double-quoted scalar)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _tasks(items):
    """The tasks of a task list, those inside blocks included."""
    for item in items:
        if "block" in item:
            for key in ("block", "rescue", "always"):
                yield from _tasks(item.get(key, []))
        else:
            yield item


def test_the_operator_failures_list_one_node_a_line():
    # The checks' messages are joined in Python (fractional.gpu.mig_manager, unit-tested);
    # the failures gathered over the batches are joined here.
    tasks = yaml.safe_load((ROOT / "roles" / "mig" / "tasks" / "operator.yml").read_text())
    by_name = dict((t["name"], t) for t in _tasks(tasks))
    message = by_name["Report the nodes the MIG manager did not apply its configuration to"]["ansible.builtin.fail"]["msg"]
    assert "join('\n')" in message and "\\n" not in message
    tasks = yaml.safe_load((ROOT / "roles" / "mig" / "tasks" / "operator_batch.yml").read_text())
    by_name = dict((t["name"], t) for t in _tasks(tasks))
    message = by_name["Stop the roll-out when more than mig_max_fail_percentage of the batch failed"]["ansible.builtin.assert"]["fail_msg"]
    assert "join('\n')" in message and "\\n" not in message
