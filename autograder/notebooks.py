"""Notebook grading: the student's notebook runs in the sandbox, its tests are decided here, nbgrader records.

nbgrader stays the gradebook, the formgrader, manual grading, feedback and export. Only where the autograded
verdicts come from changes (../shared/GRADING.md says why the student's kernel cannot be trusted with them):

1. :func:`execution_notebook` merges the student's notebook with the release: answer cells keep the student's
   text, locked cells and test cells come from the release (a deleted one is put back), unknown or duplicate
   graded cells are dropped with a note, and every test cell becomes an export of the answers it reads
   (:mod:`autograder.answers`). The notebook that runs holds no test.
2. :func:`run_in_sandbox` executes it with nbclient and a kernel inside the sandbox (:mod:`autograder.jail`):
   one per-cell timeout, one deadline for the notebook; what comes back is untrusted JSON, cut to size.
3. :func:`autograded_notebook` judges each test on the exported answers, in this process, and builds the
   notebook nbgrader records: the student's cells with their outputs sanitized (plain text and PNG images only),
   each test cell with its public text and, as its output, the verdict (an error output when it fails, which is
   what nbgrader scores as 0).
4. The parent records it in the one gradebook with nbgrader's own ``SaveAutoGrades``, which never overwrites a
   manual grade, and makes nbgrader's feedback for that student alone.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import re
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import answers, jail, nbgrader_course
from .paths import PACKAGE, SOLUTIONS

#: Seconds one cell may run; the notebook's deadline; the most of a notebook's report that is read.
CELL_TIMEOUT = 15
CELL_TIMEOUT_AFTER_A_TIMEOUT = 5
NOTEBOOK_SECONDS = 90
MAX_NOTEBOOK_BYTES = 20 << 20
MAX_OUTPUT_CHARS = 20_000       # of one text output in what nbgrader records
MAX_CELL_OUTPUTS = 20
MAX_IMAGE_CHARS = 1_500_000
MAX_DATA_FILES, MAX_DATA_BYTES = 100, 16 << 20   # files next to the notebook that its run gets
MAX_RECORDED_CHARS = 8_000_000                     # of all outputs of one recorded notebook
GRADER_FILES = ("_nbrun.py", "_kernel.py", "_answers.py", "seccomp.py")


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


def _source_hash(assignment: str) -> str:
    digest = hashlib.sha256()
    for path in sorted((SOLUTIONS / assignment).rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            digest.update(path.relative_to(SOLUTIONS).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def prepare_main_course(out: Path, db_url: str | None = None, selected: list[str] | None = None) -> Path:
    """Create or refresh the main course in ``out/nbgrader`` (its gradebook at ``db_url``, by default SQLite in
    that folder) for the ``selected`` assignments (default all); returns its root. An assignment is generated
    again only when its source has changed (``--units`` grading a week's assignment generates that one)."""
    root = out / "nbgrader"
    stamp = root / ".source-hashes.json"
    course = (db_url or "") + ":class-grader-3"
    try:
        stamps = json.loads(stamp.read_text())
        if stamps.get("course") != course or not isinstance(stamps.get("assignments"), dict):
            raise ValueError
    except (OSError, ValueError, AttributeError):
        stamps = {"course": course, "assignments": {}}
    hashes = {assignment: _source_hash(assignment) for assignment in selected or assignments()}
    stale = [a for a, digest in hashes.items() if stamps["assignments"].get(a) != digest]
    if not stale and (root / "nbgrader_config.py").is_file():
        return root
    nbgrader_course.create(root, stale, db_url=db_url, class_grader=True)
    api = nbgrader_course.api(root)
    for assignment in stale:
        outcome = api.generate_assignment(assignment, force=True)
        if not outcome["success"]:
            raise InfrastructureError(f"nbgrader generate_assignment {assignment} failed:\n"
                                      f"{outcome.get('log', '')[-2000:]}{outcome.get('error', '')[-2000:]}")
        stamps["assignments"][assignment] = hashes[assignment]
        stamp.write_text(json.dumps(stamps, indent=1, sort_keys=True))
    return root


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
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return f"the notebook file is larger than {MAX_NOTEBOOK_BYTES >> 20} MB"
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


def release_notebook(main_root: Path, assignment: str, name: str) -> dict:
    """The notebook as released to students (solutions and hidden tests cleared, nbgrader's checksums in it)."""
    return json.loads((main_root / "release" / assignment / name).read_text(encoding="utf-8"))


def _meta(cell) -> dict:
    meta = cell.get("metadata", {})
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _text(cell) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


@dataclass
class Merged:
    cells: list[dict]                   # the cells in order, as nbgrader will record them
    roles: list[str]                    # "answer", "locked", "test" or "extra" (a cell the student added)
    notes: list[str] = field(default_factory=list)


def merge_with_release(student: dict, release: dict) -> Merged:
    """The student's cells in the release's order and form: see the module's docstring."""
    known = {}
    for cell in release["cells"]:
        if _meta(cell).get("grade_id"):
            known[_meta(cell)["grade_id"]] = cell
    chosen: dict[str, dict] = {}
    extras: dict[str | None, list[dict]] = {}
    anchor, dropped, duplicates = None, [], []
    for cell in student.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        meta = _meta(cell)
        grade_id = meta.get("grade_id")
        if isinstance(grade_id, str) and grade_id in known:
            if grade_id in chosen:
                duplicates.append(grade_id)
                continue
            chosen[grade_id] = cell
            anchor = grade_id
        elif meta:
            dropped.append(str(grade_id)[:60] if grade_id else "(no id)")
        elif cell["cell_type"] in ("code", "markdown"):
            extras.setdefault(anchor, []).append({"cell_type": cell["cell_type"], "metadata": {},
                                                  "source": _text(cell)[:200_000],
                                                  **({"outputs": [], "execution_count": None}
                                                     if cell["cell_type"] == "code" else {})})
    merged = Merged([], [])

    def add(cell: dict, role: str) -> None:
        merged.cells.append(cell)
        merged.roles.append(role)

    for cell in extras.get(None, []):
        add(cell, "extra")
    restored = []
    for grade_id, ref in known.items():
        meta = _meta(ref)
        cell = copy.deepcopy(ref)
        if ref["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if meta.get("solution"):
            if grade_id in chosen:
                cell["source"] = _text(chosen[grade_id])[:200_000]
            add(cell, "answer")
        else:
            add(cell, "test" if meta.get("grade") and ref["cell_type"] == "code" else "locked")
        if grade_id not in chosen:
            restored.append(grade_id)
        for extra in extras.get(grade_id, []):
            add(extra, "extra")
    if dropped:
        merged.notes.append(f"dropped {len(dropped)} graded cell(s) that are not in the course "
                            f"({', '.join(dropped[:5])})")
    if duplicates:
        merged.notes.append(f"ignored {len(duplicates)} duplicate copies of graded cells "
                            f"({', '.join(duplicates[:5])})")
    if restored:
        merged.notes.append(f"put back {len(restored)} deleted course cell(s) ({', '.join(restored[:5])})")
    return merged


def execution_notebook(merged: Merged, tests: dict[str, answers.TestCell], release: dict) -> dict:
    """The notebook the sandbox runs: ``merged`` with every test cell replaced by an export of its answers."""
    cells = []
    for cell, role in zip(merged.cells, merged.roles):
        cell = copy.deepcopy(cell)
        if role == "test":
            test = tests[_meta(cell)["grade_id"]]
            cell["source"] = f"__import__('_answers').export({test.grade_id!r}, {list(test.answers)!r})"
        cells.append(cell)
    return {"cells": cells, "metadata": copy.deepcopy(release.get("metadata", {})),
            "nbformat": 4, "nbformat_minor": release.get("nbformat_minor", 5)}


def grader_folder(work: Path) -> Path:
    """``/sandbox/grader`` for notebook runs, made once per grading run in ``work``: the runner, the kernel
    launcher, the exporter, the process filter, and matplotlib's font list (built here, so no kernel spends
    seconds on it). Made in a temporary folder and renamed, so parallel workers never see half of it."""
    here = Path(__file__).parent
    version = hashlib.sha256(b"".join((here / name).read_bytes() for name in GRADER_FILES)).hexdigest()[:12]
    folder = work / f"grader-notebooks-{version}"   # a new grader's files make a new folder
    if folder.is_dir():
        return folder
    import subprocess
    import tempfile

    work.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".grader-notebooks-", dir=work))
    for name in GRADER_FILES:
        shutil.copyfile(here / name, building / name)
    subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"], capture_output=True,
                   env={"MPLCONFIGDIR": str(building / "matplotlib"), "PATH": "/usr/bin:/bin",
                        "HOME": str(building)}, timeout=120)
    building.chmod(0o755)
    try:
        building.rename(folder)
    except OSError:  # another worker was first: use theirs
        shutil.rmtree(building, ignore_errors=True)
    return folder


@dataclass
class Run:
    outputs: dict[int, list]             # cell index -> outputs (untrusted, already cut to size)
    problem: str = ""                    # why the run did not reach its end, for the student


def run_in_sandbox(nb: dict, course_root: Path, assignment: str, name: str, work: Path, main_root: Path, *,
                   sandboxed: bool, seconds: float, secrets: tuple[Path, ...] = ()) -> Run:
    """Execute ``nb`` as ``<assignment>/<name>`` in a scratch copy of the student's course folder."""
    scratch = work / "scratch"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    if (course_root / PACKAGE).is_dir():
        from .sandbox import copy_package

        copy_package(course_root / PACKAGE, scratch / PACKAGE)
    (scratch / assignment).mkdir()
    data_files = sorted(p for p in (course_root / assignment).iterdir() if p.suffix != ".ipynb" and p.is_file()
                        and not p.is_symlink()) if (course_root / assignment).is_dir() else []
    room = MAX_DATA_BYTES
    for data in data_files[:MAX_DATA_FILES]:   # small data files next to the notebook, within a budget
        size = data.stat().st_size
        if size <= room:
            shutil.copyfile(data, scratch / assignment / data.name)
            room -= size
    target = scratch / assignment / name
    target.write_text(json.dumps(nb), encoding="utf-8")
    inside = jail.WORK if sandboxed else str(scratch)
    grader = grader_folder(main_root.parent / "work")
    runner = f"{jail.GRADER}/_nbrun.py" if sandboxed else str(grader / "_nbrun.py")
    (scratch / ".request.json").write_text(json.dumps({
        "notebook": f"{inside}/{assignment}/{name}", "cwd": f"{inside}/{assignment}",
        "cell_timeout": CELL_TIMEOUT, "timeout_after_a_timeout": CELL_TIMEOUT_AFTER_A_TIMEOUT,
        "deadline": max(1.0, seconds - 15)}))
    lines: list[bytes] = []
    outcome = jail.run([sys.executable, "-I", runner, f"{inside}/.request.json"], scratch=scratch, grader=grader,
                       limits=jail.Limits(cpu_seconds=int(seconds) + 5, wall_seconds=seconds,
                                          output_bytes=64 << 20),
                       sandboxed=sandboxed, cwd=f"{jail.WORK}/{assignment}", secrets=secrets,
                       env={"MPLBACKEND": "module://matplotlib_inline.backend_inline"},
                       on_line=lambda line: lines.append(line) or False)
    run = Run({})
    started = False
    for raw in lines:
        try:
            line = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            continue
        if not isinstance(line, dict):
            continue
        if line.get("started") is True:
            started = True
        elif type(line.get("cell")) is int and isinstance(line.get("outputs"), list):
            run.outputs[line["cell"]] = line["outputs"]
        elif type(line.get("deadline")) is int:
            run.problem = (f"the notebook ran out of its {NOTEBOOK_SECONDS} s: the cells from number "
                           f"{line['deadline'] + 1} on were not run")
        elif type(line.get("kernel_died")) is int:
            run.problem = (f"the kernel died in cell {line['kernel_died'] + 1} (a cell called exit() or crashed "
                           "Python, or used up its memory): the later cells were not run")
        elif line.get("done") is True and not run.problem:
            run.problem = ""
            started = "done"
    if started != "done" and not run.problem:
        if not started and not outcome.timed_out and sandboxed and not jail.works():
            raise InfrastructureError(f"the notebook runner did not start (exit status {outcome.returncode}), "
                                      "and the sandbox no longer works")
        if not started and not outcome.timed_out:
            run.problem = "the notebook's kernel could not be started from this submission"
        run.problem = (f"the notebook ran out of its {NOTEBOOK_SECONDS} s" if outcome.timed_out else
                       "its output was too large" if outcome.overflow else
                       "the notebook's run ended early (a cell crashed the kernel or its runner)")
    return run


_PNG = re.compile(r"^[A-Za-z0-9+/=\n]*$")


def sanitize_outputs(outputs) -> list[dict]:
    """Only what cannot carry markup into the feedback or formgrader: text (cut) and PNG images (checked)."""
    clean = []
    if not isinstance(outputs, list):
        return clean
    for output in outputs[:MAX_CELL_OUTPUTS]:
        if not isinstance(output, dict):
            continue
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") in ("stdout", "stderr"):
            clean.append(nbformat.v4.new_output("stream", name=output["name"],
                                                text=str(output.get("text", ""))[:MAX_OUTPUT_CHARS]))
        elif kind in ("display_data", "execute_result") and isinstance(output.get("data"), dict):
            data = {}
            text = output["data"].get("text/plain")
            if isinstance(text, str) and answers.MIME not in output["data"]:
                data["text/plain"] = text[:MAX_OUTPUT_CHARS]
            png = output["data"].get("image/png")
            if isinstance(png, str) and len(png) <= MAX_IMAGE_CHARS and _PNG.match(png):
                try:
                    if base64.b64decode(png, validate=False)[:8] == b"\x89PNG\r\n\x1a\n":
                        data["image/png"] = png
                except (binascii.Error, ValueError):
                    pass
            if data:
                clean.append(nbformat.v4.new_output("display_data", data=data))
        elif kind == "error":
            traceback = output.get("traceback") if isinstance(output.get("traceback"), list) else []
            clean.append(nbformat.v4.new_output("error", ename=str(output.get("ename", "Error"))[:200],
                                                evalue=str(output.get("evalue", ""))[:2000],
                                                traceback=[str(t)[:2000] for t in traceback[-10:]]))
    return clean


_SCHEMES = re.compile(r"(javascript|vbscript|data)\s*:", re.I)


def escape_markup(markdown: str) -> str:
    """A student's Markdown with its HTML shown as text and no script links, for the recorded copy that
    feedback and formgrader render (the submitted copy keeps the original)."""
    text = markdown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SCHEMES.sub(lambda m: m.group(1) + " :", text)


def _exported(outputs) -> str | None:
    """The last answers export among a test cell's outputs, as text, or None."""
    found = None
    for output in outputs if isinstance(outputs, list) else []:
        if isinstance(output, dict) and isinstance(output.get("data"), dict):
            value = output["data"].get(answers.MIME)
            if isinstance(value, str):
                found = value
    return found


def autograded_notebook(merged: Merged, run: Run, tests: dict[str, answers.TestCell], release: dict
                        ) -> tuple[dict, list[dict]]:
    """The notebook nbgrader records, and one entry per test (id, points, passed, reason)."""
    cells, results, room = [], [], MAX_RECORDED_CHARS
    for index, (cell, role) in enumerate(zip(merged.cells, merged.roles)):
        cell = copy.deepcopy(cell)
        if cell["cell_type"] == "markdown" and role in ("answer", "extra"):
            cell["source"] = escape_markup(_text(cell))
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
            if role == "test":
                test = tests[_meta(cell)["grade_id"]]
                verdict = answers.judge(test, _exported(run.outputs.get(index)))
                cell["source"] = test.public
                if verdict.passed:
                    cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text=verdict.output)]
                else:
                    cell["outputs"] = [nbformat.v4.new_output("error", ename="TestFailed", evalue=verdict.reason,
                                                              traceback=[f"TestFailed: {verdict.reason}"])]
                results.append({"id": test.grade_id, "max": test.points, "score": test.points * verdict.passed,
                                "passed": verdict.passed, "error": "" if verdict.passed else verdict.reason})
            else:
                cell["outputs"] = sanitize_outputs(run.outputs.get(index, []))
                size = sum(len(json.dumps(o)) for o in cell["outputs"])
                if size > room:
                    cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text=(
                        "[the grader did not keep this cell's output: the notebook's outputs are over "
                        f"{MAX_RECORDED_CHARS // 1_000_000} MB]\n"))]
                else:
                    room -= size
        cells.append(nbformat.from_dict(cell))
    nb = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(release.get("metadata", {})))
    return nb, results


def grade_notebook(student_path: Path, course_root: Path, assignment: str, name: str, student: str,
                   main_root: Path, work: Path, *, sandboxed: bool, seconds: float,
                   secrets: tuple[Path, ...] = ()) -> tuple[NotebookResult, dict | None]:
    """Grade one notebook of one student; returns the result and the autograded notebook (None on failure)."""
    result = NotebookResult(assignment)
    release = release_notebook(main_root, assignment, name)
    tests = {t.grade_id: t for t in answers.test_cells(SOLUTIONS / assignment / name)}
    result.max_score = sum(t.points for t in tests.values())
    student_nb = nbformat.read(student_path, as_version=4)
    merged = merge_with_release(student_nb, release)
    run = run_in_sandbox(execution_notebook(merged, tests, release), course_root, assignment, name, work,
                         main_root, sandboxed=sandboxed, seconds=seconds, secrets=secrets)
    nb, result.tests = autograded_notebook(merged, run, tests, release)
    result.score = sum(t["score"] for t in result.tests)
    result.reason = "; ".join(filter(None, [*merged.notes, run.problem]))
    return result, nb


def write_autograded(main_root: Path, assignment: str, student: str, name: str, submitted: Path,
                     nb: dict, staging: Path) -> None:
    """Stage the submitted copy and the autograded notebook for :func:`import_into_main`."""
    for kind in ("submitted", "autograded"):
        (staging / kind / student / assignment).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(submitted, staging / "submitted" / student / assignment / name)
    nbformat.write(nbformat.from_dict(nb), staging / "autograded" / student / assignment / name)

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


def feedback(main_root: Path, assignment: str, student: str) -> str:
    """nbgrader's own feedback for one student's notebook; returns why it failed, or "" (it never raises: one
    student's notebook must not stop anybody else's feedback)."""
    try:
        outcome = nbgrader_course.api(main_root).generate_feedback(assignment, student, force=True)
    except Exception as exc:  # noqa: BLE001
        return f"nbgrader's feedback could not be made ({type(exc).__name__})"
    if not outcome["success"]:
        return "nbgrader's feedback could not be made: " + _last_error(outcome.get("log", "") + outcome.get("error", ""))
    return ""


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "[ERROR]" in line or "Error" in line:
            return line.split("]", 2)[-1].strip()[:300]
    return lines[-1][:300] if lines else "no output"
