"""A real nbgrader round trip in a temporary course: generate, autograde, feedback, export.

Two submissions: the solutions themselves (full autograded points) and the untouched release (zero).
"""

import csv
import html
import json
import os
import re
import shutil

import pytest
from nbgrader.api import Gradebook

from autograder import nbgrader_course
from conftest import COURSE, SOLUTIONS

ASSIGNMENTS = nbgrader_course.notebook_folders(SOLUTIONS)
SUBMISSIONS = {"reference": SOLUTIONS, "untouched": COURSE}


def _ok(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _api_ok(outcome: dict) -> dict:
    assert outcome["success"], outcome.get("log", "") + outcome.get("error", "")
    return outcome


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = nbgrader_course.create(tmp_path_factory.mktemp("nbgrader") / "course")
    # Generating, autograding and feedback through nbgrader's Python API (what formgrader calls), which saves
    # starting an nbgrader command each time; the export through its command line, as an instructor runs it.
    api = nbgrader_course.api(root)
    saved = os.environ.get("PYTHONPATH")
    try:
        for assignment in ASSIGNMENTS:
            _api_ok(api.generate_assignment(assignment, force=True))
            for student, top in SUBMISSIONS.items():
                target = root / "submitted" / student / assignment
                target.mkdir(parents=True)
                for notebook in (top / assignment).glob("*.ipynb"):
                    shutil.copy(notebook, target)
                # The notebook imports the package next to the student's notebooks; here, the copy in `top`
                # (the kernels nbgrader starts inherit this environment).
                os.environ["PYTHONPATH"] = str(top)
                _api_ok(api.autograde(assignment, student, force=True, create=True))
            _api_ok(api.generate_feedback(assignment, force=True))
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    _ok(nbgrader_course.nbgrader(root, "export", "--to", str(root / "grades.csv")))
    return root


def _max_autograded_points(assignment):
    points = 0.0
    for notebook in (SOLUTIONS / assignment).glob("*.ipynb"):
        for cell in json.loads(notebook.read_text())["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution") and cell["cell_type"] == "code":
                points += meta["points"]
    return points


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_get_every_autograded_point_and_the_release_none(course, assignment):
    max_points = _max_autograded_points(assignment)
    assert max_points > 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        reference = gradebook.find_submission(assignment, "reference")
        untouched = gradebook.find_submission(assignment, "untouched")
        assert reference.max_code_score == untouched.max_code_score == max_points
        assert reference.code_score == max_points
        assert untouched.code_score == 0
        assert reference.max_written_score > 0, "the unit has a manually graded written answer"
        assert reference.needs_manual_grade


def _hidden_and_public_test_lines(assignment):
    hidden, public = set(), set()
    for notebook in (SOLUTIONS / assignment).glob("*.ipynb"):
        for cell in json.loads(notebook.read_text())["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if not (meta.get("grade") and cell["cell_type"] == "code"):
                continue
            source = "".join(cell["source"])
            inside = "".join(re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, re.S))
            hidden |= {line.strip() for line in inside.splitlines() if len(line.strip()) > 10}
            outside = re.sub(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS", "", source, flags=re.S)
            public |= {line.strip() for line in outside.splitlines() if len(line.strip()) > 10}
    return hidden - public, public


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_shows_public_tests_but_not_hidden_ones(course, assignment):
    hidden, public = _hidden_and_public_test_lines(assignment)
    assert hidden and public
    for student in SUBMISSIONS:
        pages = list((course / "feedback" / student / assignment).glob("*.html"))
        assert pages, f"no feedback for {student}"
        text = html.unescape(re.sub(r"<[^>]+>", "", "".join(p.read_text() for p in pages)))
        assert not [line for line in hidden if line in text]
        assert any(line in text for line in public)


def test_export_has_one_row_per_student_with_their_score(course):
    with open(course / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    scores = {(r["assignment"], r["student_id"]): float(r["score"]) for r in rows}
    for assignment in ASSIGNMENTS:
        assert scores[(assignment, "reference")] == _max_autograded_points(assignment)
        assert scores[(assignment, "untouched")] == 0
