"""Sample submissions for trying the class grader, made on demand (never committed)::

    python -m autograder samples                  # writes autograder/samples/
    python -m autograder grade autograder/samples --out DIR

They are made from ``solutions/`` and the student release ``course/``, so they always fit the current course:

- ``perfect/``: every function and every notebook answer done;
- ``partial_1001_5002_course.zip``: a Canvas-style zip of a student part-way through (some functions, and the first
  unit's notebook with one answer);
- ``mistakes/``: every function done, with classic mistakes in some of them, and the first unit's notebook with a
  wrong answer (its only notebook);
- ``Broken Sample_31_assignsubmission_file_course.zip``: a Moodle-style zip with a syntax error, an endless loop,
  a function that exits the interpreter, one that reads a file outside its own folder, and a truncated notebook
  (inside the zip, so that the repository itself holds no broken notebook).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .exercises import units
from .paths import PACKAGE, SOLUTIONS

SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


class SampleError(Exception):
    """A sample's edit no longer fits the solutions (the text it replaces is not there exactly once)."""


@dataclass(frozen=True)
class Sample:
    implemented: frozenset[str] | None = None          # package functions done (None: all)
    answers: frozenset[str] | None = None               # notebook answer cells filled in, by grade_id (None: all)
    edits: tuple[tuple[str, str, str], ...] = ()        # (file in the release, old text, new text)
    notebook_edits: dict[str, str] = field(default_factory=dict)  # grade_id -> new source of that answer cell
    truncate: tuple[str, ...] = ()                      # notebooks (release paths) cut in half
    units: tuple[str, ...] | None = None                # the units whose notebooks it holds (None: all)


SAMPLES: dict[str, Sample] = {
    "perfect": Sample(),
    "partial_1001_5002_course.zip": Sample(
        implemented=frozenset({"gd_update", "least_squares_grad", "minibatches"}),
        answers=frozenset({"answer-lr-max"}), units=("01_gradient_descent",)),
    "mistakes": Sample(
        edits=(
            (f"{PACKAGE}/gd.py", "return param - lr * grad", "return param + lr * grad"),
            (f"{PACKAGE}/losses.py", "return X.T @ (X @ w - y) / len(y)", "return X.T @ (X @ w - y)"),
            (f"{PACKAGE}/data.py", "stop = n - n % batch_size if drop_last else n", "stop = n - n % batch_size"),
            (f"{PACKAGE}/optim.py", "step_size = lr / (1 - beta1**step)", "step_size = lr"),
            (f"{PACKAGE}/optim.py", "sqrt_correction2 = math.sqrt(1 - beta2**step)", "sqrt_correction2 = 1.0"),
            (f"{PACKAGE}/schedules.py", "return float(base_lr * gamma ** (int(t) // int(step_size)))",
             "return float(base_lr * gamma ** ((int(t) + 1) // int(step_size)))"),
            (f"{PACKAGE}/regularization.py", "return x * keep / (1 - p)", "return x * keep"),
            (f"{PACKAGE}/batchnorm.py", "xhat = centred / np.sqrt(var + eps)", "xhat = centred / (np.sqrt(var) + eps)"),
            (f"{PACKAGE}/search.py", "config[name] = float(np.exp(rng.uniform(log_low, log_high)))",
             "config[name] = float(rng.uniform(rest[0], rest[1]))"),
            (f"{PACKAGE}/rnn.py", "clipped = {name: g * g.dtype.type(coef) for name, g in grads.items()}",
             "clipped = {name: g * g.dtype.type(min(max_norm / (norm + 1e-6), 1.0))\n"
             "                   for (name, g), norm in zip(grads.items(), norms)}"),
        ),
        notebook_edits={"answer-lr-budget": "lr_budget = 0.25\n"}, units=("01_gradient_descent",)),
    "Broken Sample_31_assignsubmission_file_course.zip": Sample(
        edits=(
            (f"{PACKAGE}/gd.py", "return param - lr * grad", "return param - lr * grad)"),
            (f"{PACKAGE}/regularization.py", "shrunk = np.maximum(np.abs(w) - threshold, 0)",
             "while True:\n        pass"),
            (f"{PACKAGE}/gradcheck.py", "x = np.array(x, dtype=np.float64)", "raise SystemExit(0)"),
            (f"{PACKAGE}/losses.py", "return X.T @ (X @ w - y) / len(y)",
             "return np.array(open('/etc/hostname').read())"),
        ),
        truncate=("01_gradient_descent/gradient_descent.ipynb",)),
}


def _all_functions() -> frozenset[str]:
    return frozenset(e.name for unit in units().values() for e in unit)


def _package(sample: Sample, release: dict[str, bytes]) -> dict[str, bytes]:
    from .release import strip_solutions

    keep = _all_functions() if sample.implemented is None else sample.implemented
    files = {}
    for path, content in release.items():
        if path.startswith(f"{PACKAGE}/") and path.endswith(".py"):
            source = (SOLUTIONS / path).read_text(encoding="utf-8")
            files[path] = strip_solutions(source, path, keep=keep).encode()
        elif path.startswith(f"{PACKAGE}/"):
            files[path] = content
    for path, old, new in sample.edits:
        text = files[path].decode()
        if text.count(old) != 1:
            raise SampleError(f"sample edit of {path}: {old!r} occurs {text.count(old)} times, not once")
        files[path] = text.replace(old, new).encode()
    return files


def _notebooks(sample: Sample, release: dict[str, bytes]) -> dict[str, bytes]:
    files = {}
    for path, content in release.items():
        if not path.endswith(".ipynb") or (sample.units is not None and path.split("/")[0] not in sample.units):
            continue
        student = json.loads(content)
        solution = json.loads((SOLUTIONS / path).read_text(encoding="utf-8"))
        answers = {c["metadata"]["nbgrader"]["grade_id"]: c for c in solution["cells"]
                   if c["metadata"].get("nbgrader", {}).get("solution")}
        for cell in student["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if grade_id in sample.notebook_edits:
                cell["source"] = sample.notebook_edits[grade_id]
            elif grade_id in answers and (sample.answers is None or grade_id in sample.answers):
                cell["source"] = SOLUTION_MARKER.sub("", "".join(answers[grade_id]["source"]))
        text = json.dumps(student, indent=1, ensure_ascii=False) + "\n"
        if path in sample.truncate:
            text = text[: len(text) // 2]
        files[path] = text.encode()
    return files


def _zip(files: dict[str, bytes]) -> bytes:
    """A zip whose bytes depend only on ``files`` (fixed dates, no compression, sorted names)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path, content in sorted(files.items()):
            info = zipfile.ZipInfo(f"course/{path}", date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def build(release: dict[str, bytes]) -> dict[str, bytes]:
    """``{path relative to autograder/samples/: bytes}`` for every sample."""
    out: dict[str, bytes] = {}
    for name, sample in SAMPLES.items():
        files = _package(sample, release) | _notebooks(sample, release)
        if name.endswith(".zip"):
            out[name] = _zip(files)
        else:
            out |= {f"{name}/{path}": content for path, content in files.items()}
    return dict(sorted(out.items()))


SAMPLES_DIR = Path(__file__).with_name("samples")


def release_files(course: Path) -> dict[str, bytes]:
    """The student release as ``{path: bytes}``, read from ``course``."""
    return {p.relative_to(course).as_posix(): p.read_bytes() for p in sorted(course.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}


def write(destination: Path = SAMPLES_DIR, course: Path | None = None) -> list[str]:
    """Make ``destination`` hold exactly the sample submissions; returns their names."""
    import shutil

    from .paths import COURSE

    files = build(release_files(course or COURSE))
    if destination.exists():
        shutil.rmtree(destination)
    for path, content in files.items():
        (destination / path).parent.mkdir(parents=True, exist_ok=True)
        (destination / path).write_bytes(content)
    return list(SAMPLES)
