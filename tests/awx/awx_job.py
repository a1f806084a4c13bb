# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a job the way AWX runs it, and checks what AWX reads back. Test-only.

AWX launches a job template through ansible-runner (the engine of its execution
environments) with the project's playbook, the inventory, and the survey's answers as
extra vars typed by question type: text, textarea, password and multiple choice as strings,
integer as an integer, float as a float, multiple select as a list of strings
(github.com/ansible/awx, awx/main/models/mixins.py SurveyJobTemplateMixin). It reads the
job's artifacts from the playbook_on_stats event's artifact_data, which set_stats fills.

    awx_job.py --survey extensions/awx/surveys/site.json --project extensions/awx/project \
               --inventory inventories/lab [--answer variable=value ...]

Exits 0 when the job succeeded and its artifacts hold fractional_gpu_summary; prints the
summary's rows either way.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import ansible_runner

# How AWX types a survey answer, by question type.
AWX_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str,
             "integer": int, "float": float,
             "multiselect": lambda value: [str(v) for v in value]}
PLAYBOOK_PREFIX = "fractional_gpu_"
ARTIFACT = "fractional_gpu_summary"


def survey_extra_vars(spec: dict, answers: dict | None = None) -> dict:
    """The extra vars AWX sends for a survey: each question's answer, else its default,
    typed as AWX types it."""
    extra_vars = {}
    for question in spec["spec"]:
        value = (answers or {}).get(question["variable"], question.get("default"))
        if value is None or value == "":
            if question.get("required"):
                raise ValueError(f"survey question {question['variable']} needs an answer")
            continue
        extra_vars[question["variable"]] = AWX_TYPES[question["type"]](value)
    return extra_vars


def run_job(survey: Path, project: Path, inventory: Path, answers: dict) -> tuple[str, dict, list]:
    """(status, artifacts, failed hosts) of the survey's job template run as AWX runs it:
    the survey ``site.json`` selects the project's ``fractional_gpu_site.yml``."""
    spec = json.loads(survey.read_text())
    extra_vars = survey_extra_vars(spec, answers)
    print(f"awx_job: {PLAYBOOK_PREFIX}{survey.stem}.yml with extra vars {json.dumps(extra_vars)}",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="awx-job-") as private:
        runner = ansible_runner.run(private_data_dir=private, project_dir=str(project),
                                    playbook=f"{PLAYBOOK_PREFIX}{survey.stem}.yml",
                                    inventory=str(inventory), extravars=extra_vars,
                                    quiet=False)
        stats = [event for event in runner.events if event.get("event") == "playbook_on_stats"]
        artifacts = (stats[-1].get("event_data") or {}).get("artifact_data") or {} if stats else {}
        failed = sorted(set(runner.stats.get("failures", {})) | set(runner.stats.get("dark", {})))
        return runner.status, artifacts, failed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--survey", type=Path, required=True)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--inventory", type=Path, required=True)
    parser.add_argument("--answer", action="append", default=[], metavar="VARIABLE=VALUE",
                        help="answer a question (as typed in AWX's form) instead of its default")
    args = parser.parse_args(argv)
    answers = dict(item.split("=", 1) for item in args.answer)
    status, artifacts, failed = run_job(args.survey, args.project, args.inventory, answers)
    rows = artifacts.get(ARTIFACT)
    print(f"awx_job: status {status}; failed hosts {failed or 'none'}; "
          f"fractional_gpu_ok {artifacts.get('fractional_gpu_ok')}")
    for row in rows or []:
        print(f"awx_job: {row['node']} {row['pool']} {row['strategy']} "
              f"{'ok' if row['ok'] else '; '.join(row['problems'])}")
    if status != "successful" or not rows:
        print(f"awx_job: FAILED: the job {status}" + ("" if rows else f", no {ARTIFACT} artifact"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
