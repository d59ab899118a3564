"""`python -m autograder grade` on a whole class: real nbgrader, real kernels, real sandboxed children."""

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import grade, notebooks
from conftest import COURSE, ROOT, SOLUTIONS, needs_sandbox

pytestmark = needs_sandbox
UNITS = notebooks.assignments()


def _cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args, "--quiet"] if args[0] == "grade" else
                          [sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _package_only(folder: Path, code: str = "") -> Path:
    """A student who submitted only the reference package, with ``code`` appended to gd.py."""
    shutil.copytree(SOLUTIONS / "optimlab", folder / "optimlab", ignore=shutil.ignore_patterns("__pycache__"))
    if code:
        gd = folder / "optimlab" / "gd.py"
        gd.write_text(gd.read_text() + "\n\n" + textwrap.dedent(code))
    return folder


def _tree_digest(top: Path) -> dict[str, str]:
    return {p.relative_to(top).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(top.rglob("*")) if p.is_file()}


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len({r["student"] for r in rows}), "a student has two rows"
    return {r["student"]: r for r in rows}


LOOPS = """
    def gd_update(param, grad, *, lr):
        while True:
            pass
    """
# Right on the shipped cases (their learning rates), wrong on every other: only hidden cases catch it.
HIDDEN_ONLY = """
    def gd_update(param, grad, *, lr):
        return param - lr * grad if lr in (0.1, 0.5, 0.03) else param + lr * grad
    """


#: The class below is graded on the first two units (``--units``), all its students' work is about; the README's
#: demo grades every unit.
KLASS_UNITS = UNITS[:2]
KLASS_FUNCTIONS = grade.columns(KLASS_UNITS)[1]


@pytest.fixture(scope="module")
def klass(tmp_path_factory, samples_dir):
    """A class with a perfect student, broken notebooks, hostile code, a corrupt zip and an empty folder, graded
    on the first two units. The perfect student hands in those units' notebooks."""
    top = tmp_path_factory.mktemp("class")
    subs = top / "submissions"
    shutil.copytree(samples_dir / "perfect", subs / "perfect", ignore=shutil.ignore_patterns(*UNITS[2:]))
    for student in ("deadkernel", "corruptnb"):  # their package and the first two units' notebooks
        shutil.copytree(samples_dir / "perfect", subs / student, ignore=shutil.ignore_patterns(*UNITS[2:]))
    # graded again by test_grading_again_...: a perfect package and the first unit's notebook
    shutil.copytree(samples_dir / "perfect", subs / "again", ignore=shutil.ignore_patterns(*UNITS[1:]))
    first = subs / "deadkernel" / UNITS[0]
    notebook = next(first.glob("*.ipynb"))
    nb = json.loads(notebook.read_text())
    answer = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")
                  and c["cell_type"] == "code")
    answer["source"] = "import os\nos._exit(1)\n"
    notebook.write_text(json.dumps(nb))
    notebook = next((subs / "corruptnb" / UNITS[0]).glob("*.ipynb"))
    notebook.write_text(notebook.read_text()[:5000])
    untouched = subs / "untouched"   # the release as handed out: stubs, and the first notebook renamed
    shutil.copytree(COURSE / "optimlab", untouched / "optimlab")
    shutil.copytree(COURSE / UNITS[0], untouched / UNITS[0])
    next((untouched / UNITS[0]).glob("*.ipynb")).rename(untouched / UNITS[0] / "my copy.ipynb")
    _package_only(subs / "loops", LOOPS)
    _package_only(subs / "hidden", HIDDEN_ONLY)
    (subs / "corrupt_1_2_course.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    (subs / "empty").mkdir()
    before = _tree_digest(subs)
    out = top / "out"
    proc = _cli("grade", str(subs), "--out", str(out), "--jobs", "2", "--units", ",".join(KLASS_UNITS))
    return {"subs": subs, "out": out, "proc": proc, "before": before}


def test_every_submission_is_graded_and_the_run_succeeds(klass):
    assert klass["proc"].returncode == 0, klass["proc"].stderr
    rows = _rows(klass["out"])
    assert sorted(rows) == ["again", "corrupt", "corruptnb", "deadkernel", "empty", "hidden", "loops", "perfect",
                            "untouched"]
    header = list(next(iter(rows.values())))
    assert header[:3] == ["student", "total", "max_total"] and header[-1] == "status"
    assert header[3:-1] == KLASS_UNITS + KLASS_FUNCTIONS
    perfect = json.loads((klass["out"] / "results" / "perfect.json").read_text())
    assert sorted(perfect["functions"]) == sorted(KLASS_FUNCTIONS)
    assert all(f["points"] == f["max"] > 0 for f in perfect["functions"].values())
    assert {unit: (nb["status"], nb["score"] == nb["max_score"] > 0) for unit, nb in perfect["notebooks"].items()
            } == {unit: ("ok", True) for unit in KLASS_UNITS}
    assert _rows(klass["out"])["perfect"]["total"] == _rows(klass["out"])["perfect"]["max_total"]


def test_the_submissions_are_never_modified(klass):
    assert _tree_digest(klass["subs"]) == klass["before"]


def test_broken_code_costs_only_its_own_points(klass):
    rows = _rows(klass["out"])
    loops, hidden = rows["loops"], rows["hidden"]
    assert loops["gd_update"] == "0" and "gd_update could not be graded" in loops["status"]
    assert "CPU time" in loops["status"] or "did not finish" in loops["status"]
    assert hidden["gd_update"] == "0" and "gd_update" not in hidden["status"]
    others = [name for name in KLASS_FUNCTIONS if name != "gd_update"]
    perfect = rows["perfect"]
    assert all(loops[name] == hidden[name] == perfect[name] != "0" for name in others)
    assert all(loops[unit] == "0" for unit in KLASS_UNITS), "no notebooks were submitted"


def test_broken_submissions_get_a_zero_and_a_reason(klass):
    rows = _rows(klass["out"])
    assert rows["corrupt"]["total"] == "0" and "corrupt" in rows["corrupt"]["status"]
    assert rows["empty"]["total"] == "0" and "neither an optimlab/ package nor" in rows["empty"]["status"]


def test_a_dead_kernel_or_a_corrupt_notebook_costs_that_notebook_only(klass):
    rows = _rows(klass["out"])
    perfect = rows["perfect"]
    for student, words in [("deadkernel", "kernel died"), ("corruptnb", "not valid JSON")]:
        row = rows[student]
        assert row[UNITS[0]] == "0" and words in row["status"]
        assert row[UNITS[1]] == perfect[UNITS[1]] != "0"
        assert all(row[name] == perfect[name] != "0" for name in KLASS_FUNCTIONS)


def test_feedback_names_the_mistake_and_hides_hidden_cases(klass):
    feedback = klass["out"] / "feedback"
    assert sorted(p.stem for p in feedback.glob("*.html")) == sorted(_rows(klass["out"]))
    hidden = (feedback / "hidden.html").read_text()
    section = hidden[hidden.index("<code>gd_update</code>"):]
    section = section[:section.index("</tr>")]
    assert "fails a hidden case" in section and "wrong sign of the update" in section
    assert "expected:" not in section and "On the case" not in section
    assert "did not finish" in (feedback / "loops.html").read_text() or "CPU time" in (
        feedback / "loops.html").read_text()


def test_feedback_never_shows_hidden_test_code(klass):
    hidden_lines = set()
    for path in SOLUTIONS.glob("*/*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, re.S):
                hidden_lines |= {line.strip() for line in block.splitlines() if len(line.strip()) > 12}
    assert hidden_lines
    pages = list((klass["out"] / "feedback").glob("*.html")) + list(
        (klass["out"] / "nbgrader" / "feedback").rglob("*.html"))
    assert any("nbgrader" in str(p) for p in pages), "nbgrader's own feedback was generated"
    for page in pages:
        text = page.read_text()
        leaked = [line for line in hidden_lines if line in text]
        assert not leaked, f"{page} shows hidden tests: {leaked[:3]}"


def test_the_gradebook_holds_the_notebooks_for_formgrader(klass):
    with Gradebook(f"sqlite:///{klass['out'] / 'nbgrader' / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(UNITS[0], "perfect")
        assert submission.code_score == submission.max_code_score > 0
        assert submission.max_written_score > 0 and submission.needs_manual_grade
    assert (klass["out"] / "nbgrader" / "autograded" / "perfect" / UNITS[0]).is_dir()


def test_grading_again_changes_nothing_and_keeps_manual_grades(klass):
    out = klass["out"]
    db = f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}"
    with Gradebook(db) as gradebook:
        written = next(g for g in gradebook.find_submission(UNITS[0], "again").notebooks[0].grades
                       if g.cell.cell_type == "markdown")
        written.manual_score = 1.5
        gradebook.db.commit()
    csv_before = (out / "grades.csv").read_bytes()
    results_before = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    (out / "results" / "again.json").unlink()   # again is graded again, the others are skipped
    proc = _cli("grade", str(klass["subs"]), "--out", str(out), "--units", ",".join(KLASS_UNITS))
    assert proc.returncode == 0, proc.stderr
    assert (out / "grades.csv").read_bytes() == csv_before
    after = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert {k: v for k, v in after.items() if k != "again.json"} == {
        k: v for k, v in results_before.items() if k != "again.json"}
    with Gradebook(db) as gradebook:
        submission = gradebook.find_submission(UNITS[0], "again")
        written = next(g for g in submission.notebooks[0].grades if g.cell.cell_type == "markdown")
        assert written.manual_score == 1.5
        assert submission.code_score == submission.max_code_score


# ------------------------------------------------------------------------------------------ package-only classes


#: The package-only classes are graded on the first unit only (``--units``): what they test is the machinery.
FIRST = UNITS[0].split("_")[0]


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    subs = tmp_path_factory.mktemp("small") / "submissions"
    _package_only(subs / "ann")
    _package_only(subs / "ben", HIDDEN_ONLY)
    _package_only(subs / "cat", "def gd_update(param, grad, *, lr):\n    return param + lr * grad\n")
    (subs / "eve").mkdir()
    return subs


def _results(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))}


def test_jobs_and_shards_give_the_same_grades(small_class, tmp_path):
    """Two students at a time (--jobs 2), and the class in two shards graded one student at a time (the default
    --jobs 1), then merged: the same grades and feedback."""
    two = tmp_path / "two"
    assert _cli("grade", str(small_class), "--out", str(two), "--jobs", "2", "--units", FIRST).returncode == 0
    seed = (two / "grading-seed").read_text()
    for index in (1, 2):
        (tmp_path / f"shard{index}").mkdir()
        (tmp_path / f"shard{index}" / "grading-seed").write_text(seed)
        proc = _cli("grade", str(small_class), "--out", str(tmp_path / f"shard{index}"), "--shard", f"{index}/2",
                    "--units", FIRST)
        assert proc.returncode == 0, proc.stderr
    shards = [_results(tmp_path / f"shard{i}") for i in (1, 2)]
    assert not set(shards[0]) & set(shards[1]) and set(shards[0]) | set(shards[1]) == set(_results(two))
    assert shards[0] | shards[1] == _results(two)
    proc = _cli("merge", str(tmp_path / "shard1"), str(tmp_path / "shard2"), "--out", str(tmp_path / "merged"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "merged" / "grades.csv").read_bytes() == (two / "grades.csv").read_bytes()
    assert sorted(p.name for p in (tmp_path / "merged" / "feedback").iterdir()) == sorted(
        p.name for p in (two / "feedback").iterdir())


def test_a_selection_of_units_grades_and_reports_only_those_units(small_class, tmp_path):
    """--units 01: only that unit's functions and notebook, in the results, grades.csv and the feedback."""
    out = tmp_path / "out"
    assert _cli("grade", str(small_class), "--out", str(out), "--units", FIRST).returncode == 0
    first = [e.name for e in grade.units()[UNITS[0]]]
    header = list(next(iter(_rows(out).values())))
    assert header == ["student", "total", "max_total", UNITS[0], *first, "status"]
    ann = _results(out)["ann"]
    assert sorted(ann["functions"]) == sorted(first) and list(ann["notebooks"]) == [UNITS[0]]
    assert _rows(out)["ann"]["total"] == f"{sum(e.points for e in grade.units()[UNITS[0]]):g}", "every point"
    assert UNITS[1] not in (out / "feedback" / "ann.html").read_text()


def test_an_unknown_unit_is_refused_before_anything_is_graded(small_class, tmp_path):
    proc = _cli("grade", str(small_class), "--out", str(tmp_path / "out"), "--units", f"{FIRST},99")
    assert proc.returncode == 2
    assert "no unit '99'" in proc.stderr and UNITS[0] in proc.stderr
    assert not (tmp_path / "out").exists()
    assert grade.select_units([FIRST, UNITS[2]]) == [UNITS[0], UNITS[2]]
    assert grade.select_units([UNITS[2], FIRST, FIRST]) == [UNITS[0], UNITS[2]], "the course's order, once each"
    assert grade.select_units(None) == UNITS


def test_hidden_cases_depend_on_the_grading_seed(small_class, tmp_path):
    """Another seed draws other hidden cases (same verdicts here, since every wrong answer is wrong everywhere)."""
    a, b = grade._cases(grade.units()["01_gradient_descent"][0], 1, "ben"), grade._cases(
        grade.units()["01_gradient_descent"][0], 2, "ben")
    assert a[1] == b[1] and a[0]["cases"][:a[1]] == b[0]["cases"][:b[1]]
    assert a[0]["cases"][a[1]:] != b[0]["cases"][b[1]:]


def test_a_run_killed_midway_finishes_when_started_again(small_class, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(small_class), "--out", str(out),
                             "--quiet", "--units", FIRST], cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / "results").glob("*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert 1 <= len(done) < 4, "kill the run while it is midway"
    again = _cli("grade", str(small_class), "--out", str(out), "--units", FIRST)
    assert again.returncode == 0, again.stderr
    assert sorted(_rows(out)) == ["ann", "ben", "cat", "eve"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json") if p.name in done} == done
    assert not list((out / "results").glob("*.partial"))


def test_a_failure_of_the_grader_itself_exits_non_zero_and_grades_nobody_wrongly(small_class, tmp_path,
                                                                                 monkeypatch, capsys):
    """Break the grader's own machinery (the checks its child loads): that is no student's zero."""
    from autograder import sandbox

    monkeypatch.setattr(sandbox, "CHECK_MODULE", tmp_path / "missing-check.py")
    out = tmp_path / "out"
    assert grade.grade(small_class, out, jobs=1, progress=False, units=[FIRST]) == 1
    assert "grader failure while grading" in capsys.readouterr().err
    graded = {p.stem for p in (out / "results").glob("*.json")}
    assert graded == {"eve"}, "only the student with no package to run was graded; the others are retried next run"


def test_the_notebooks_run_with_the_students_own_package(klass):
    """nbgrader never swaps the student's package for the instructor's: the stubs' own error shows up."""
    rows = _rows(klass["out"])
    untouched = rows["untouched"]
    assert untouched["total"] == "0" and "graded my copy.ipynb" in untouched["status"]
    autograded = next((klass["out"] / "nbgrader" / "autograded" / "untouched" / UNITS[0]).glob("*.ipynb"))
    outputs = [o for c in json.loads(autograded.read_text())["cells"] if c["cell_type"] == "code"
               for o in c.get("outputs", [])]
    assert any(o.get("ename") == "NotImplementedError" and "is not implemented yet" in o.get("evalue", "")
               for o in outputs)


def test_grading_refuses_without_the_sandbox_and_says_what_to_install(small_class, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(small_class), "--out",
                           str(tmp_path / "out"), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PATH": str(tmp_path)}, timeout=300)
    assert proc.returncode == 2
    assert "bubblewrap" in proc.stderr and "apt-get install bubblewrap" in proc.stderr
    assert "--no-sandbox" in proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_no_sandbox_is_said_in_every_row(small_class, tmp_path):
    out = tmp_path / "out"
    assert grade.grade(small_class, out, jobs=2, progress=False, sandboxed=False, units=[FIRST]) == 0
    rows = _rows(out)
    assert rows and all("WITHOUT the sandbox" in row["status"] for row in rows.values())
