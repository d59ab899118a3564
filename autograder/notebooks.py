"""Notebook grading through nbgrader, one student and one notebook at a time, and one gradebook for the class.

nbgrader has no parallel autograde, its SQLite gradebook wants one writer, a dead kernel fails every notebook of
the student it belongs to, and a corrupt notebook fails the run (../shared/GRADING.md). So:

- the instructor's course lives in ``OUT/nbgrader`` (``generate_assignment`` once, from ``solutions/``); a copy
  of its fresh gradebook is the template for private courses;
- each (student, notebook) is autograded by ``nbgrader autograde`` in the student's **private** course, so a
  failure costs that notebook only and any number of students can be autograded at once;
- the main process then copies the autograded notebook into the main course and records its grades in the one
  gradebook with nbgrader's own ``SaveAutoGrades``, which never overwrites a manual grade. Formgrader works on it
  as usual.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import nbgrader_course
from .paths import PACKAGE, SOLUTIONS



class InfrastructureError(Exception):
    """nbgrader itself does not work here: nothing a student did."""


@dataclass
class NotebookResult:
    unit: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "ok"           # "ok", "missing", "corrupt", "failed"
    reason: str = ""
    tests: list[dict] = field(default_factory=list)   # per test cell: id, score, max, passed, error

    def to_json(self) -> dict:
        return self.__dict__.copy()


def assignments() -> list[str]:
    return nbgrader_course.notebook_folders(SOLUTIONS)


def expected_notebooks(assignment: str) -> list[str]:
    return sorted(p.name for p in (SOLUTIONS / assignment).glob("*.ipynb"))


def _source_hash() -> str:
    digest = hashlib.sha256()
    for assignment in assignments():
        for path in sorted((SOLUTIONS / assignment).rglob("*")):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                digest.update(path.relative_to(SOLUTIONS).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def prepare_main_course(out: Path, db_url: str | None = None) -> tuple[Path, Path]:
    """Create or refresh the main course in ``out/nbgrader`` (its gradebook at ``db_url``, by default SQLite in
    that folder) and a private template course; returns (the main root, the template's SQLite gradebook)."""
    root = out / "nbgrader"
    template_root = out / "work" / "template"
    stamp = root / ".source-hash"
    current = _source_hash() + (db_url or "")
    if stamp.exists() and stamp.read_text() == current and (template_root / "gradebook.db").exists():
        return root, template_root / "gradebook.db"
    if template_root.exists():
        shutil.rmtree(template_root)
    for course, url in ((template_root, None), (root, db_url)):
        nbgrader_course.create(course, db_url=url)
        api = nbgrader_course.api(course)
        for assignment in assignments():
            outcome = api.generate_assignment(assignment)
            if not outcome["success"]:
                raise InfrastructureError(f"nbgrader generate_assignment {assignment} failed:\n"
                                          f"{outcome.get('log', '')[-2000:]}{outcome.get('error', '')[-2000:]}")
    stamp.write_text(current)
    return root, template_root / "gradebook.db"


def find_notebook(course_root: Path, assignment: str, name: str) -> tuple[Path | None, str]:
    """The student's notebook and a note: the expected name, or the only notebook of the unit's folder."""
    folder = course_root / assignment
    if (folder / name).is_file():
        return folder / name, ""
    others = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if len(others) == 1:
        return others[0], f"graded {others[0].name} (expected the name {name})"
    return None, ""


def validate(path: Path) -> str | None:
    """Why the notebook cannot be graded (not UTF-8, not JSON, not a notebook), or None."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except UnicodeDecodeError:
        return "the notebook file is not valid UTF-8 text"
    except nbformat.reader.NotJSONError:
        return "the notebook file is not valid JSON (cut short, or edited outside Jupyter?)"
    except Exception as exc:  # nbformat raises several kinds for broken files
        return f"the notebook file is corrupt ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    if not any("nbgrader" in cell.get("metadata", {}) for cell in nb.cells):
        return "the notebook has none of the course's graded cells (is it the right notebook?)"
    return None


def autograde(private: Path, template: Path, main_root: Path, assignment: str, student: str,
              notebooks: dict[str, Path], package_root: Path | None) -> NotebookResult:
    """Autograde one student's notebooks of one assignment in their private course.

    nbgrader runs in this (worker) process; the notebook runs in a kernel that nbgrader starts, with the
    student's package on its ``PYTHONPATH``, one thread for BLAS, and nbgrader's per-cell timeout.
    """
    result = NotebookResult(assignment)
    if not private.exists():
        nbgrader_course.create(private, [])
        shutil.copytree(main_root / "source", private / "source")
    shutil.copy(template, private / "gradebook.db")
    submitted = private / "submitted" / student / assignment
    if submitted.exists():
        shutil.rmtree(submitted)
    submitted.mkdir(parents=True)
    for name, path in notebooks.items():
        shutil.copy(path, submitted / name)
    kernel_env = {"PYTHONPATH": str(package_root) if package_root else "", "OPENBLAS_NUM_THREADS": "1",
                  "OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    saved = {name: os.environ.get(name) for name in kernel_env}
    os.environ.update(kernel_env)
    try:
        outcome = nbgrader_course.api(private).autograde(assignment, student, force=True)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if not outcome["success"]:
        log = outcome.get("log", "") + outcome.get("error", "")
        if "DeadKernelError" in log or "kernel died" in log.lower():
            return _failed(result, "the Jupyter kernel died while running the notebook "
                                   "(a cell called exit() or crashed Python)")
        return _failed(result, "nbgrader could not grade the notebook: " + _last_error(log))
    return _read_grades(private, assignment, student, result)


def _failed(result: NotebookResult, reason: str) -> NotebookResult:
    result.status, result.reason = "failed", reason
    return result


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "[ERROR]" in line or "Error" in line:
            return line.split("]", 2)[-1].strip()[:300]
    return lines[-1][:300] if lines else "no output"


def _read_grades(private: Path, assignment: str, student: str, result: NotebookResult) -> NotebookResult:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{private / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        result.score, result.max_score = float(submission.code_score), float(submission.max_code_score)
        for notebook in submission.notebooks:
            autograded = private / "autograded" / student / assignment / f"{notebook.name}.ipynb"
            errors = _cell_errors(autograded)
            for grade in notebook.grades:
                if grade.cell.cell_type != "code":
                    continue
                result.tests.append({
                    "notebook": notebook.name, "id": grade.name, "score": float(grade.score or 0),
                    "max": float(grade.max_score), "passed": float(grade.score or 0) >= float(grade.max_score),
                    "error": errors.get(grade.name, "")})
    return result


def _cell_errors(path: Path) -> dict[str, str]:
    """The name of the exception each failing graded cell raised (no message: it could quote a hidden test)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return {}
    errors = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if grade_id and output.get("output_type") == "error":
                errors[grade_id] = output.get("ename", "Error")
    return errors


def import_into_main(main_root: Path, private: Path, assignment: str, student: str, db_url: str) -> None:
    """Copy the autograded notebooks into the main course and record their grades in its gradebook.

    nbgrader's ``SaveAutoGrades`` sets the automatic scores and leaves manual grades alone, so grading a student
    again never erases what an instructor graded by hand in formgrader.
    """
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import SaveAutoGrades

    source = private / "autograded" / student / assignment
    for kind in ("submitted", "autograded"):
        target = main_root / kind / student / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(private / kind / student / assignment, target)
    with warnings.catch_warnings():  # nbgrader's own SQLAlchemy usage warns here; the rows are right
        warnings.simplefilter("ignore")
        with Gradebook(db_url) as gradebook:
            gradebook.update_or_create_student(student)
            gradebook.update_or_create_submission(assignment, student)
    for path in sorted(source.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        resources = {"nbgrader": {"notebook": path.stem, "assignment": assignment, "student": student,
                                  "db_url": db_url}}
        SaveAutoGrades().preprocess(nb, resources)


def feedback(main_root: Path, graded: list[tuple[str, str]]) -> None:
    """nbgrader's own per-notebook feedback (hidden tests cleared), for each (assignment, student) given."""
    api = nbgrader_course.api(main_root)
    for assignment, student in graded:
        outcome = api.generate_feedback(assignment, student)
        if not outcome["success"]:
            raise InfrastructureError(f"nbgrader generate_feedback {assignment} for {student} failed:\n"
                                      f"{outcome.get('log', '')[-2000:]}")


def package_copy(course_root: Path, destination: Path) -> Path | None:
    """A copy of the student's package for the notebook's kernel to import; None when there is none."""
    package = course_root / PACKAGE
    if not package.is_dir():
        return None
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(package, destination / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    return destination
