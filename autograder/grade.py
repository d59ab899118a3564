"""Grade a class: every submission's package functions (isolated grader) and notebooks (nbgrader).

    python -m autograder grade SUBMISSIONS --out DIR [--jobs N] [--shard I/N] [--units 03,04]
    python -m autograder merge DIR1 DIR2 ... --out DIR

For each student the result is written to ``DIR/results/<student>.json`` once everything about them is done
(their package graded, their notebooks autograded and recorded in the gradebook). Grading again into the same
``DIR`` skips students whose submission has not changed and finishes the others, so a run that was killed midway
is simply started again. ``grades.csv`` and ``feedback/`` are rebuilt from ``results/`` at the end of every run,
so a student never gets two rows.

``--units`` grades only some units (a week's assignment): their functions and notebooks, and only their columns
in ``grades.csv``. The selection is part of each result's fingerprint, so grading the same folder with another
selection grades everyone again.

Hidden cases are drawn from a seed kept in ``DIR/grading-seed`` (made on the first run, never shipped to
students) and the student id: the same submission gets the same cases, and so the same result, every time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import hashlib
import json
import os
import secrets
import shutil
import sys
import time
import traceback
import warnings
import zlib
from pathlib import Path

import numpy as np

from . import checkdata, intake, jail, notebooks, reference, sandbox
from .exercises import Exercise, units
from .feedback import render_html
from .paths import PACKAGE

#: Bump when a change to the grader could change a result: earlier results are then graded again.
GRADER_VERSION = "3"
#: Fresh hidden cases per exercise and student, on top of the public ones.
HIDDEN_CASES = 4
#: Seconds all of one student's package functions, and all of their notebooks, may take together (each child and
#: each notebook also has its own deadline).
STUDENT_PACKAGE_SECONDS = 120
#: Per unit's notebook, for all of a student's notebooks together: a complete submission runs each notebook in
#: 5-20 s on an idle machine, about twice that with --jobs 2 on two cores.
STUDENT_NOTEBOOK_SECONDS_PER_UNIT = 60
#: The only parts of a case the student's process receives: its inputs, never the expected outputs.
INPUT_KEYS = ("args", "steps")


class GraderFailure(Exception):
    """The grader's own machinery failed (not a student's code): the run exits non-zero."""


# --------------------------------------------------------------------------------------------------- one student


def _seed_for(seed: int, student: str, exercise: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{student}:{exercise}".encode()).digest()[:8], "little")


def _cases(exercise: Exercise, seed: int, student: str) -> tuple[dict, int]:
    """The exercise's check data on its public cases followed by fresh hidden ones; and the number public."""
    public = exercise.public()
    rng = np.random.default_rng(_seed_for(seed, student, exercise.name))
    hidden = [c for _ in range(HIDDEN_CASES) for c in exercise.hidden(rng)]
    for c in hidden:
        c["label"] = "a hidden case"
    return checkdata.record(exercise, public + hidden, validate=False), len(public)


def grade_functions(course_root: Path | None, seed: int, student: str, work: Path,
                    limits: sandbox.Limits, selected: list[str] | None = None) -> dict[str, dict]:
    """Each package function's points and, when it fails, why (in the words of the self-checks); the functions
    of the ``selected`` units only (default: every unit)."""
    entries, jobs, specs = {}, [], {}
    package = course_root / PACKAGE if course_root else None
    for unit, exercises in units().items():
        if selected is not None and unit not in selected:
            continue
        for exercise in exercises:
            entries[exercise.name] = {"unit": unit, "points": 0.0, "max": float(exercise.points), "passed": False,
                                      "message": "", "mistake": None}
            if package is None or not package.is_dir():
                entries[exercise.name]["message"] = f"no {PACKAGE}/ package in the submission"
            elif not (package / f"{exercise.module}.py").is_file():
                entries[exercise.name]["message"] = f"{PACKAGE}/{exercise.module}.py is missing"
            else:
                specs[exercise.name] = (exercise, *_cases(exercise, seed, student))
                inputs = [{key: c[key] for key in INPUT_KEYS if key in c} for c in specs[exercise.name][1]["cases"]]
                jobs.append(sandbox.Job(exercise.module, exercise.name, inputs))   # inputs only, no answers
    children = sandbox.run(package, jobs, limits=limits, work=work, seconds=STUDENT_PACKAGE_SECONDS) if jobs else {}
    for name, child in children.items():
        exercise, spec, n_public = specs[name]
        entries[name] |= _judge_child(exercise, spec, n_public, child)
    return entries


def _judge_child(exercise: Exercise, spec: dict, n_public: int, child: sandbox.ChildResult) -> dict:
    """Points and message for one function, from what its child reported."""
    from optimlab.check import explain, judge

    if child.infrastructure:
        raise GraderFailure(child.reason)
    if child.status != "ok":
        return {"message": f"{exercise.name} could not be graded: {child.reason}", "status": child.status}
    if child.import_error:
        error = child.import_error
        return {"message": f"importing {PACKAGE}.{exercise.module} failed with {error.get('type')}: "
                           f"{error.get('message')}"}
    observations = [sanitize(o) for o in child.observations]
    if len(observations) != len(spec["cases"]) or not all(isinstance(o, dict) for o in observations):
        return {"message": "the grading process returned the wrong number of results"}
    try:
        failures = [(i, case, obs, verdict) for i, (case, obs) in enumerate(zip(spec["cases"], observations))
                    if not (verdict := judge(spec, case, obs)).passed]
    except Exception as exc:  # noqa: BLE001 — data the checks cannot make sense of earn nothing, with a reason
        return {"message": f"{exercise.name}'s results could not be judged ({type(exc).__name__}): its outputs "
                           "are not of the kind the exercise asks for"}
    total = len(spec["cases"])
    if not failures:
        return {"points": float(exercise.points), "passed": True, "message": f"all {total} cases pass"}
    index, case, observation, verdict = failures[0]
    if index < n_public:
        try:
            message = explain(spec, case, observation, verdict)
        except Exception:  # noqa: BLE001
            message = f"{exercise.name} is not right yet: {verdict.message}"
    else:  # a hidden case: say what is wrong, never its inputs or expected values
        message = f"{exercise.name} fails a hidden case: {verdict.message}"
        if verdict.mistake:
            message += f"\n  This looks like a classic mistake: {verdict.mistake}."
    return {"mistake": verdict.mistake, "message": message + f"\n  ({total - len(failures)} of {total} cases pass.)"}


_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
           "uint64", "bool", "complex64", "complex128"}


def sanitize(value, depth: int = 0):
    """Keep only well-formed data from a child's observation: arrays of plain dtypes whose data match their
    shape, numbers, strings, lists and dicts of them. Anything else becomes ``{"unsupported": ...}``."""
    if depth > 40:
        return {"unsupported": "deeply nested data"}
    if isinstance(value, dict):
        if "array" in value:
            try:
                dtype, shape = value.get("dtype"), value.get("shape")
                if dtype not in _DTYPES or not isinstance(shape, list):
                    raise ValueError
                array = np.array(value["array"], dtype=np.dtype(dtype))
                if list(array.shape) != shape:
                    raise ValueError
            except (ValueError, TypeError, OverflowError):
                return {"unsupported": "a malformed array"}
            return {"array": value["array"], "dtype": dtype, "shape": shape}
        return {str(k): sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {"unsupported": type(value).__name__}


def grade_notebooks(course_root: Path | None, main_root: Path, student: str, work: Path, *, sandboxed: bool,
                    budget: float, secrets: tuple[Path, ...] = (),
                    selected: list[str] | None = None) -> dict[str, dict]:
    """Each unit's notebook points, from runs in the sandbox judged here; the autograded notebooks are staged
    in ``work/staging`` for the parent to record. ``budget`` is the student's time for all notebooks; only the
    ``selected`` units' notebooks are graded (default: every unit's)."""
    results = {}
    deadline = time.monotonic() + budget
    for assignment in selected if selected is not None else notebooks.assignments():
        found, notes, problem = {}, [], None
        for name in notebooks.expected_notebooks(assignment):
            path, note = notebooks.find_notebook(course_root, assignment, name) if course_root else (None, "")
            if path is None:
                problem = ("missing", f"{assignment}/{name} is missing")
                break
            reason = notebooks.validate(path)
            if reason:
                problem = ("corrupt", f"{assignment}/{path.name}: {reason}")
                break
            found[name] = path
            notes.append(note)
        left = deadline - time.monotonic()
        if problem is None and left < 20:
            problem = ("failed", f"not run: this student's time for notebooks ({budget:g} s) ran out")
        if problem:
            results[assignment] = notebooks.NotebookResult(assignment, status=problem[0], reason=problem[1]).to_json()
            continue
        result = notebooks.NotebookResult(assignment)
        for name, path in found.items():
            try:
                one, nb = notebooks.grade_notebook(path, course_root, assignment, name, student, main_root,
                                                   work / "notebooks" / assignment, sandboxed=sandboxed,
                                                   seconds=min(notebooks.NOTEBOOK_SECONDS, left), secrets=secrets)
            except notebooks.InfrastructureError:
                raise
            except Exception as exc:  # noqa: BLE001 — a notebook we cannot read costs that notebook only
                one, nb = notebooks.NotebookResult(assignment, status="failed",
                                                   reason=f"{name} could not be graded ({type(exc).__name__})"), None
            if nb is not None:
                notebooks.write_autograded(main_root, assignment, student, name, path, nb, work / "staging")
            result.score += one.score
            result.max_score += one.max_score
            result.tests += one.tests
            result.status = one.status if one.status != "ok" else result.status
            notes.append(one.reason)
            left = deadline - time.monotonic()
        result.reason = "; ".join(filter(None, notes))
        results[assignment] = result.to_json()
    return results


def grade_student(task: dict) -> dict:
    """Everything about one student; runs in a worker process."""
    reference.load()
    student, work = task["student"], Path(task["work"])
    sandboxed = task.get("sandboxed", True)
    secrets = tuple(Path(p) for p in task.get("secrets", ()))
    submission = intake.Submission(student, Path(task["path"]), [Path(p) for p in task["attempts"]])
    result = {"student": student, "source": submission.path.name, "fingerprint": task["fingerprint"],
              "notes": [n for n in [submission.note] if n], "functions": {}, "notebooks": {}}
    if not sandboxed:
        result["notes"].append("graded WITHOUT the sandbox (--no-sandbox)")
    course_root = None
    try:
        course_root = intake.materialize(submission, work / "submission")
    except intake.IntakeError as exc:
        result["notes"].append(f"could not open the submission: {exc}")
    except OSError as exc:
        result["notes"].append(f"could not read the submission: {exc}")
    if course_root is not None:
        result["notes"] += intake.notes(work / "submission")
        stray = sorted(p.name for p in course_root.glob("*.py"))
        if stray:
            result["notes"].append(f"ignored files outside the package: {', '.join(stray)}")
        if not (course_root / PACKAGE).is_dir() and not any(course_root.glob("[0-9][0-9]_*/*.ipynb")):
            result["notes"].append("the submission holds neither an optimlab/ package nor the course notebooks")
    limits = sandbox.Limits(sandboxed=sandboxed, secrets=secrets)
    selected = task.get("units") or notebooks.assignments()
    result["functions"] = grade_functions(course_root, task["seed"], student, work, limits, selected)
    with _output_to(work / "nbgrader.log"):  # nbgrader's chatter, kept out of the progress bar
        result["notebooks"] = grade_notebooks(course_root, Path(task["main_root"]), student, work,
                                              sandboxed=sandboxed, secrets=secrets, selected=selected,
                                              budget=STUDENT_NOTEBOOK_SECONDS_PER_UNIT * len(selected))
    return result


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's standard output and error (and its children's) to ``path`` for a while."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# --------------------------------------------------------------------------------------------------- the class


def _grading_seed(out: Path) -> int:
    path = out / "grading-seed"
    if not path.exists():
        path.write_text(f"{secrets.randbits(63)}\n")
    return int(path.read_text().strip())


def in_shard(student: str, shard: tuple[int, int] | None) -> bool:
    if shard is None:
        return True
    index, count = shard
    return zlib.crc32(student.encode()) % count == index - 1


def _grader_fingerprint() -> str:
    """Changes whenever the reference, the catalogue or the grader's version changes."""
    digest = hashlib.sha256(GRADER_VERSION.encode())
    for top in (reference.load().__file__, __file__):
        for path in sorted(Path(top).parent.rglob("*.py")):
            digest.update(path.read_bytes())
    for path in sorted((Path(__file__).parent / "exercises").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def select_units(names: list[str] | None) -> list[str]:
    """The course's units named by ``names`` (full names such as ``03_adaptive``, or their numbers such as
    ``03``), in the course's order; every unit when ``names`` is None. ValueError for a name that is no unit."""
    every = notebooks.assignments()
    if names is None:
        return every
    chosen = set()
    for name in names:
        matches = [unit for unit in every if name.strip() in (unit, unit.split("_", 1)[0])]
        if not matches:
            raise ValueError(f"no unit {name.strip()!r}: the units are {', '.join(every)}")
        chosen.update(matches)
    if not chosen:
        raise ValueError(f"name at least one unit: the units are {', '.join(every)}")
    return [unit for unit in every if unit in chosen]


def grade(submissions: Path, out: Path, *, jobs: int = 1, shard: tuple[int, int] | None = None,
          progress: bool = True, db_url: str | None = None, sandboxed: bool = True,
          units: list[str] | None = None) -> int:
    """Grade every submission in ``submissions`` into ``out`` (the ``units`` named, default all; see
    :func:`select_units`). Returns the exit status."""
    from tqdm import tqdm

    reference.load()
    try:
        selected = select_units(units)
    except ValueError as exc:
        print(f"cannot grade: {exc}", file=sys.stderr)
        return 2
    if not submissions.is_dir():
        print(f"{submissions} is not a folder of submissions", file=sys.stderr)
        return 2
    if sandboxed and (reason := jail.unavailable()):
        print(f"cannot grade: {reason}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(exist_ok=True)
    seed = _grading_seed(out)
    main_root = notebooks.prepare_main_course(out, db_url, selected)
    db_url = db_url or f"sqlite:///{main_root / 'gradebook.db'}"
    grader = _grader_fingerprint() + ("" if sandboxed else ":no-sandbox")
    if selected != notebooks.assignments():
        grader += ":units=" + ",".join(selected)
    secrets = [str(out.resolve()), str(submissions.resolve())]
    tasks = []
    for submission in intake.discover(submissions):
        if not in_shard(submission.student, shard):
            continue
        fingerprint = f"{grader}:{seed}:{intake.fingerprint(submission.path)}"
        if _already_graded(out / "results" / f"{submission.student}.json", fingerprint):
            continue
        tasks.append({"student": submission.student, "path": str(submission.path),
                      "attempts": [str(p) for p in submission.attempts], "fingerprint": fingerprint, "seed": seed,
                      "work": str(out / "work" / "students" / submission.student), "main_root": str(main_root),
                      "sandboxed": sandboxed, "secrets": secrets, "units": selected})
    failures = []
    bar = tqdm(total=len(tasks), desc="grading", unit="student", disable=not progress, file=sys.stderr)
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_student, task): task for task in tasks}
        for future in concurrent.futures.as_completed(futures):
            task = futures[future]
            try:
                result = future.result()
                _record_notebooks(result, main_root, Path(task["work"]) / "staging", db_url)
                _write_json(out / "results" / f"{task['student']}.json", result)
                shutil.rmtree(task["work"], ignore_errors=True)
            except Exception:  # the grader's own failure: report it, keep grading the others
                failures.append((task["student"], traceback.format_exc()))
            bar.update(1)
    bar.close()
    write_outputs([out], out)
    for student, trace in failures:
        print(f"grader failure while grading {student}:\n{trace}", file=sys.stderr)
    return 1 if failures else 0


def _already_graded(path: Path, fingerprint: str) -> bool:
    try:
        return json.loads(path.read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError, AttributeError):
        return False


def _record_notebooks(result: dict, main_root: Path, staging: Path, db_url: str) -> None:
    """Record the staged autograded notebooks in the gradebook, then nbgrader's feedback for this student."""
    student = result["student"]
    for assignment, nb in result["notebooks"].items():
        if not (staging / "autograded" / student / assignment).is_dir():
            continue
        try:
            notebooks.import_into_main(main_root, staging, assignment, student, db_url)
        except Exception as exc:  # noqa: BLE001 — a notebook nbgrader cannot record costs that notebook only
            nb.update(score=0.0, status="failed", reason=f"nbgrader could not record the notebook "
                                                         f"({type(exc).__name__})")
            continue
        problem = notebooks.feedback(main_root, assignment, student)
        if problem:
            nb["reason"] = "; ".join(filter(None, [nb["reason"], problem]))


def _write_json(path: Path, data: dict) -> None:
    """Write atomically: a reader (or a rerun after a kill) sees the old file or the new one, never half."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(partial, path)


# --------------------------------------------------------------------------------------------------- outputs


def load_results(directories: list[Path]) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for directory in directories:
        for path in sorted((directory / "results").glob("*.json")):
            result = json.loads(path.read_text())
            student = result["student"]
            if student in results and results[student]["fingerprint"] != result["fingerprint"]:
                raise GraderFailure(f"{student} was graded differently in two of the merged folders")
            results[student] = result
    return dict(sorted(results.items()))


def columns(selected: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(unit columns, function columns) of grades.csv for the ``selected`` units (default all), in the course's
    order."""
    chosen = notebooks.assignments() if selected is None else [u for u in notebooks.assignments() if u in selected]
    return chosen, [e.name for unit, exercises in units().items() if unit in chosen for e in exercises]


def graded_units(results: dict[str, dict]) -> list[str]:
    """The units the results were graded on (all units when there are none yet), in the course's order."""
    seen = {unit for result in results.values() for unit in result["notebooks"]}
    seen |= {function["unit"] for result in results.values() for function in result["functions"].values()}
    return [unit for unit in notebooks.assignments() if unit in seen] if seen else notebooks.assignments()


def summarize(result: dict) -> tuple[float, float, list[str]]:
    total = sum(f["points"] for f in result["functions"].values()) + sum(
        nb["score"] for nb in result["notebooks"].values())
    unit_max = _notebook_max()
    max_total = sum(f["max"] for f in result["functions"].values()) + sum(
        unit_max[unit] for unit in result["notebooks"] if unit in unit_max)
    problems = list(result["notes"])
    problems += [f"{unit}: {nb['reason']}" for unit, nb in result["notebooks"].items() if nb["reason"]]
    problems += [f"{name}: {f['message'].splitlines()[0]}" for name, f in result["functions"].items()
                 if f.get("status")]
    return total, max_total, problems


_NOTEBOOK_MAX: dict[str, float] = {}


def _notebook_max() -> dict[str, float]:
    """Autograded points of each unit's notebooks, read from the solutions' nbgrader metadata."""
    if not _NOTEBOOK_MAX:
        for assignment in notebooks.assignments():
            points = 0.0
            for name in notebooks.expected_notebooks(assignment):
                nb = json.loads((notebooks.SOLUTIONS / assignment / name).read_text())
                for cell in nb["cells"]:
                    meta = cell["metadata"].get("nbgrader", {})
                    if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
                        points += float(meta.get("points", 0))
            _NOTEBOOK_MAX[assignment] = points
    return _NOTEBOOK_MAX


def write_outputs(directories: list[Path], out: Path) -> None:
    """``out/grades.csv`` and ``out/feedback/<student>.html`` from the results in ``directories``."""
    results = load_results(directories)
    unit_columns, function_columns = columns(graded_units(results))
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    rows = []
    for student, result in results.items():
        total, max_total, problems = summarize(result)
        row = {"student": student, "total": _number(total), "max_total": _number(max_total)}
        row |= {unit: _number(result["notebooks"].get(unit, {}).get("score", 0)) for unit in unit_columns}
        row |= {name: _number(result["functions"].get(name, {}).get("points", 0)) for name in function_columns}
        row["status"] = "ok" if not problems else "; ".join(problems)
        rows.append(row)
        page = render_html(result, total, max_total, _notebook_max())
        (out / "feedback" / f"{student}.html").write_text(page, encoding="utf-8")
    partial = out / "grades.csv.partial"
    with open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["student", "total", "max_total", *unit_columns, *function_columns, "status"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, out / "grades.csv")


def _number(x: float) -> str:
    return f"{x:g}"


def merge(directories: list[Path], out: Path) -> int:
    """Combine the results of several shard folders into one ``grades.csv`` and ``feedback/``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(exist_ok=True)
    for student, result in load_results(directories).items():
        _write_json(out / "results" / f"{student}.json", result)
    write_outputs([out], out)
    return 0
