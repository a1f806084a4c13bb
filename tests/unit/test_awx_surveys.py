# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX survey specs are well-formed, and every variable they set is one the playbook
they belong to reads."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SURVEYS = sorted((ROOT / "extensions/awx/surveys").glob("*.json"))
TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


@pytest.mark.parametrize("path", SURVEYS, ids=lambda p: p.name)
def test_survey_is_valid_and_its_variables_are_read(path):
    survey = json.loads(path.read_text())
    assert survey["name"] and survey["description"] and survey["spec"]
    playbook = (ROOT / "playbooks" / (path.stem + ".yml")).read_text()
    imported = "".join((ROOT / "playbooks" / line.split()[-1]).read_text()
                       for line in playbook.splitlines() if "import_playbook:" in line)
    roles = "".join(p.read_text() for p in (ROOT / "roles").glob("*/*/*.yml"))
    variables = [q["variable"] for q in survey["spec"]]
    assert len(variables) == len(set(variables))
    for question in survey["spec"]:
        assert question["type"] in TYPES
        assert {"question_name", "required", "variable"} <= set(question)
        if question["type"] == "multiplechoice":
            assert str(question["default"]) in question["choices"]
        if question["type"] == "integer":
            assert question["min"] <= question["default"] <= question["max"]
        assert question["variable"] in playbook + imported + roles, question["variable"]
