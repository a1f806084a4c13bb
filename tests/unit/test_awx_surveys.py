# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX survey specs are well-formed, each has the project playbook a job template
selects, every variable they set is one that playbook reads, and every toggle a survey
sets is read as a boolean (AWX sends a multiple choice answer as a string)."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SURVEYS = sorted((ROOT / "extensions/awx/surveys").glob("*.json"))
PROJECT = ROOT / "extensions/awx/project"
TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
YAML_FILES = sorted(p for d in ("roles", "playbooks") for p in (ROOT / d).rglob("*.yml"))

sys.path.insert(0, str(ROOT / "tests" / "awx"))
from awx_job import survey_extra_vars  # noqa: E402  pylint: disable=wrong-import-position


def imported(path):
    """A playbook's text with the playbooks it imports, recursively."""
    text = path.read_text()
    for line in text.splitlines():
        if "import_playbook:" in line:
            target = line.split()[-1]
            target = target.split(".")[-1] + ".yml" if target.startswith("fractional.gpu.") else target
            text += imported(ROOT / "playbooks" / target)
    return text


@pytest.mark.parametrize("path", SURVEYS, ids=lambda p: p.name)
def test_survey_is_valid_and_its_variables_are_read(path):
    survey = json.loads(path.read_text())
    assert survey["name"] and survey["description"] and survey["spec"]
    project_playbook = PROJECT / ("fractional_gpu_%s.yml" % path.stem)
    assert project_playbook.exists(), "no project playbook for the %s survey" % path.stem
    playbook = imported(project_playbook)
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
        assert question["variable"] in playbook + roles, question["variable"]


@pytest.mark.parametrize("path", SURVEYS, ids=lambda p: p.name)
def test_answers_are_typed_as_awx_types_them(path):
    survey = json.loads(path.read_text())
    extra_vars = survey_extra_vars(survey)
    for question in survey["spec"]:
        value = extra_vars[question["variable"]]
        assert isinstance(value, int if question["type"] == "integer" else str), question


def toggles():
    for path in SURVEYS:
        for question in json.loads(path.read_text())["spec"]:
            if question["type"] == "multiplechoice" and set(question["choices"]) <= {"true", "false"}:
                yield question["variable"]


@pytest.mark.parametrize("variable", sorted(set(toggles())))
def test_every_toggle_is_read_as_a_boolean(variable):
    # A string answer in a conditional fails on ansible-core 2.19 ("Conditionals must have a
    # boolean result"): every read goes through | bool, or is a module option (converted).
    uses = []
    for path in YAML_FILES:
        if path.name == "argument_specs.yml" or path.parts[-2] == "defaults":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in re.finditer(r"\b%s\b(?!:)" % variable, line):
                rest = line[match.end():]
                module_option = re.search(r':\s*"\{\{\s*%s\s*\}\}"\s*$' % variable, line)
                if not (re.match(r"\s*(\|\s*default\([^)]*\)\s*)?\|\s*bool", rest) or module_option
                        or line.lstrip().startswith("#")):
                    uses.append("%s:%d: %s" % (path.relative_to(ROOT), number, line.strip()))
    assert not uses, uses
