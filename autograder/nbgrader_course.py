"""An nbgrader course directory for optimlab, configured from what ../shared/GRADING.md records.

nbgrader reads ``nbgrader_config.py`` only from the current directory, so every command here runs with the
course directory as its working directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .paths import SOLUTIONS

SKIP = ("__pycache__", ".ipynb_checkpoints")

#: What replaces a solution region in a notebook cell (nbgrader's ClearSolutions).
CODE_STUB = '# YOUR CODE HERE\nraise NotImplementedError("Replace this line with your answer, then run the cell.")'
TEXT_STUB = "YOUR ANSWER HERE"

#: Seconds one notebook cell may run under nbgrader's own execution (the class grader has its own limits).
CELL_TIMEOUT = 60


def config_text(root: Path, db_url: str | None = None, *, gradebook: bool = True,
                class_grader: bool = False) -> str:
    """The ``nbgrader_config.py`` of a course rooted at ``root`` (with its gradebook at ``db_url``, if given;
    without any gradebook when ``gradebook`` is false, as for generating the student release). The class
    grader's course (``class_grader``) records test cells with their public text only, so its feedback has no
    hidden test to clear; a course graded by nbgrader itself clears them."""
    return "\n".join([
        "from nbgrader.preprocessors import ClearHiddenTests, GetGrades",
        "from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor",
        "",
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.root = {str(root)!r}",
        "c.CourseDirectory.source_directory = 'source'",
        "c.CourseDirectory.release_directory = 'release'",
        *([f"c.CourseDirectory.db_url = {db_url!r}"] if db_url else []),
        *([] if gradebook else ["c.SaveCells.enabled = False", "c.GenerateAssignment.no_database = True"]),
        f"c.ClearSolutions.code_stub = {{'python': {CODE_STUB!r}}}",
        f"c.ClearSolutions.text_stub = {TEXT_STUB!r}",
        "# a cell that runs too long is interrupted; the later cells still run",
        f"c.Execute.timeout = {CELL_TIMEOUT}",
        "# a test cell the student deleted is put back (otherwise it silently scores 0)",
        "c.OverwriteCells.add_missing_cells = True",
        *(["# feedback: the class grader records test cells with their public text only, so there is no hidden",
           "# test to clear (ClearHiddenTests would raise on a student's own marker comment in an answer cell)",
           "c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor]"] if class_grader else
          ["# feedback shows whether hidden tests passed, never their code",
           "c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]"]),
        "",
    ])


def create(root: Path, assignments: list[str] | None = None, *, db_url: str | None = None,
           gradebook: bool = True, class_grader: bool = False) -> Path:
    """Make ``root`` an nbgrader course whose source is (a copy of) the assignments in ``solutions/``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(config_text(root.resolve(), db_url, gradebook=gradebook,
                                                                   class_grader=class_grader))
    for assignment in assignments if assignments is not None else notebook_folders(SOLUTIONS):
        target = root / "source" / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(SOLUTIONS / assignment, target, ignore=shutil.ignore_patterns(*SKIP))
    return root


def notebook_folders(top: Path) -> list[str]:
    """The folders directly under ``top`` that hold notebooks: nbgrader's assignments."""
    return sorted(p.name for p in top.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def nbgrader(root: Path, *args: str, env: dict | None = None, timeout: float | None = None):
    """Run ``nbgrader ARGS`` in the course directory ``root``; returns the completed process.

    The interpreter's own ``bin`` folder goes first on ``PATH``: nbgrader runs ``alembic`` from there to set up
    its gradebook, and a virtual environment that was never activated is not on ``PATH``.
    """
    env = dict(env or os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, capture_output=True, text=True,
                          env=env | {"PYTHONHASHSEED": "0"}, timeout=timeout)


def api(root: Path):
    """nbgrader's Python API for the course in ``root``, configured from its ``nbgrader_config.py``.

    In-process calls save the few seconds that starting an ``nbgrader`` command costs each time. Every call
    returns nbgrader's own ``{"success": bool, "log": str, "error": str}``.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    _ensure_alembic_on_path()
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _ensure_alembic_on_path() -> None:
    """nbgrader creates a gradebook by running ``alembic`` from ``PATH``; make it this interpreter's."""
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([here, os.environ.get("PATH", "")])
