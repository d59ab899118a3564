"""Generate the student release ``course/`` from ``solutions/``.

- Notebooks go through nbgrader's own ``generate_assignment`` (solutions cleared, hidden tests removed, cells
  locked and checksummed), run in a temporary course directory.
- ``.py`` files get the same treatment by :func:`strip_solutions`, since nbgrader leaves them alone: every region
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes a ``raise NotImplementedError(...)`` naming the
  function and the notebook section that explains it. Comments above the markers (the hints) stay.
- The self-check data is rebuilt from the reference first (``solutions/optimlab/check_data``) and shipped as is.

The result depends only on the contents of ``solutions/`` and the catalogue: generating twice gives the same bytes,
on any machine. The check data are the one part computed with floating point, and their last digits depend on the
machine (see :data:`DATA_TOLERANCES`); they are compared as numbers, and a regenerated file that holds the same
numbers as the one on disk keeps the bytes on disk.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import re
import tempfile
from pathlib import Path

from . import checkdata, nbgrader_course
from .paths import COURSE, PACKAGE, SOLUTIONS

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc"}

# Check data are compared as numbers, at these (rtol, atol) per dtype, and every other file byte for byte.
# Why: the reference's matrix products go through BLAS, and OpenBLAS picks its kernel by CPU (OPENBLAS_CORETYPE
# overrides it), so the same solutions give check data that differ in the last digit or two from one machine to
# another: 2.0217250167194623 here, 2.021725016719462 on a SkylakeX. Across the 17 kernels an AMD EPYC runs
# (three distinct results), the largest difference is 2.5e-16 relative (1-2 units in the last place, all in
# least_squares_grad); NumPy's own SIMD dispatch for exp, log or sqrt can do the same. Such data are equally
# right, and regenerating them on another machine must neither call the release stale nor rewrite the files.
# How much: a tenth of what the checks themselves accept (optimlab.check.TOLERANCES: float64 1e-9, 1e-12;
# float32 1e-5, 1e-6), so data that pass as equal here give every student the same verdict unless the student's
# answer sits within a tenth of the tolerance of the boundary; for float64 that is still about 10^5 times the
# rounding differences above. Anything beyond is a real change, reported stale. Numbers outside an array with
# a dtype (a scalar output, a learning rate) are Python floats, compared as float64. Everything that is not a
# float (keys, strings, integers, list lengths, which mistakes are recorded) must be equal.
DATA_TOLERANCES = {"float64": (1e-10, 1e-13), "float32": (1e-6, 1e-7)}
DATA_DIR = "check_data"


class ReleaseError(Exception):
    """The solutions cannot be turned into a release (a marker without its partner, a region outside an exercise)."""


# --------------------------------------------------------------------------------------------------- check data


def data_difference(old: str, new: str) -> str | None:
    """How two check-data JSON texts differ beyond :data:`DATA_TOLERANCES`, or None when they hold the same data.

    The answer names the first place that differs (a JSON path such as
    ``exercises/least_squares_grad/cases[3]/expected/array[1]``) and the two values.
    """
    try:
        a, b = json.loads(old), json.loads(new)
    except ValueError as error:
        return f"not valid JSON ({error})"
    return _value_difference(a, b, "", "float64")


def _value_difference(a, b, where: str, dtype: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where or '(top)'} has keys {sorted(a)} on disk, {sorted(b)} generated"
        if "array" in a and a.get("dtype") != b.get("dtype"):
            return f"{where}/dtype is {a.get('dtype')!r} on disk, {b.get('dtype')!r} generated".lstrip("/")
        inner = a.get("dtype", dtype) if "array" in a else dtype
        for key in a:
            found = _value_difference(a[key], b[key], f"{where}/{key}".lstrip("/"), inner)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where} has {len(a)} items on disk, {len(b)} generated"
        for i, (x, y) in enumerate(zip(a, b)):
            found = _value_difference(x, y, f"{where}[{i}]", dtype)
            if found:
                return found
        return None
    if type(a) is float and type(b) is float:
        rtol, atol = DATA_TOLERANCES.get(dtype, DATA_TOLERANCES["float64"])
        if math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
            return None
        return f"{where} is {a!r} on disk, {b!r} generated (beyond rtol={rtol:g}, atol={atol:g} for {dtype})"
    if type(a) is not type(b) or a != b:
        return f"{where} is {a!r} on disk, {b!r} generated"
    return None


def keep_equivalent_data(fresh: dict[str, str], root: Path) -> dict[str, str]:
    """``fresh`` check data, except that a file under ``root`` holding the same data keeps its text.

    So the release writes the same bytes on every machine, and ``--check`` can compare everything byte for byte
    once this has been applied: a file on disk is stale only when its numbers differ beyond the tolerance.
    """
    kept = {}
    for name, text in fresh.items():
        on_disk = root / name
        old = on_disk.read_text(encoding="utf-8") if on_disk.is_file() else None
        kept[name] = old if old is not None and data_difference(old, text) is None else text
    return kept


# --------------------------------------------------------------------------------------------------- .py files


def _exercise_of(tree: ast.Module, line: int, path: str) -> tuple[str, str, str]:
    """(function name, unit, section) of the ``@exercise``-decorated function enclosing ``line``."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= node.end_lineno:
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "exercise":
                    keywords = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}
                    return node.name, keywords["unit"], keywords["section"]
    raise ReleaseError(f"{path}:{line}: a solution region must sit inside a function decorated with @exercise")


def strip_solutions(source: str, path: str, *, keep: frozenset[str] = frozenset()) -> str:
    """Replace each solution region of a Python source with a stub raising ``NotImplementedError``.

    Regions inside the functions named in ``keep`` keep their code and lose only the marker lines (the sample
    submissions use this to implement some functions and not others).
    """
    tree = ast.parse(source, filename=path)
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        begin = BEGIN.match(lines[i].rstrip("\n"))
        if not begin:
            if END.match(lines[i].rstrip("\n")):
                raise ReleaseError(f"{path}:{i + 1}: END SOLUTION without BEGIN SOLUTION")
            out.append(lines[i])
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if END.match(lines[j].rstrip("\n"))), None)
        nested = next((j for j in range(i + 1, end or len(lines)) if BEGIN.match(lines[j].rstrip("\n"))), None)
        if end is None or nested is not None:
            raise ReleaseError(f"{path}:{i + 1}: BEGIN SOLUTION without a matching END SOLUTION")
        name, unit, section = _exercise_of(tree, i + 1, path)
        if name in keep:
            out.extend(lines[i + 1:end])
            i = end + 1
            continue
        indent = begin["indent"]
        message = (f"{name} is not implemented yet: write it in {path} "
                   f"(explained in notebook {unit}, section {section!r}).")
        out.append(f"{indent}raise NotImplementedError(\n{indent}    {message!r}\n{indent})\n")
        i = end + 1
    return "".join(out)


# --------------------------------------------------------------------------------------------------- notebooks


def generate_notebooks(assignments: list[str]) -> dict[str, bytes]:
    """Run ``nbgrader generate_assignment`` on each assignment folder; ``{relative path: notebook bytes}``."""
    result: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="optimlab-release-") as tmp:
        root = nbgrader_course.create(Path(tmp), assignments, gradebook=False)
        api = nbgrader_course.api(root)
        for assignment in assignments:
            outcome = api.generate_assignment(assignment, force=True, create=False)
            if not outcome["success"]:
                raise ReleaseError(f"nbgrader generate_assignment {assignment} failed:\n"
                                   f"{outcome.get('log', '')}{outcome.get('error', '')}")
            for notebook in sorted((root / "release" / assignment).rglob("*.ipynb")):
                result[notebook.relative_to(root / "release").as_posix()] = notebook.read_bytes()
    return result


# --------------------------------------------------------------------------------------------------- the release


#: Files of solutions/ written for the course's authors, not released to students.
AUTHORS_ONLY = {"CONVENTIONS.md"}


def _solution_files() -> list[Path]:
    files = []
    for path in sorted(SOLUTIONS.rglob("*")):
        relative = path.relative_to(SOLUTIONS)
        if relative.as_posix() in AUTHORS_ONLY:
            continue
        if path.is_file() and not SKIP_DIRS & set(relative.parts) and path.suffix not in SKIP_SUFFIXES:
            files.append(relative)
    return files


def build(check_data: dict[str, str]) -> dict[str, bytes]:
    """The whole release, ``{path relative to course/: bytes}``, given the freshly built check data."""
    files = _solution_files()
    data_dir = Path(PACKAGE) / DATA_DIR
    assignments = sorted({f.parts[0] for f in files if f.suffix == ".ipynb"})
    release = generate_notebooks(assignments)
    for relative in files:
        if relative.suffix == ".ipynb" or relative.parent == data_dir:
            continue
        if relative.suffix == ".py":
            source = (SOLUTIONS / relative).read_text(encoding="utf-8")
            release[relative.as_posix()] = strip_solutions(source, relative.as_posix()).encode()
        else:
            release[relative.as_posix()] = (SOLUTIONS / relative).read_bytes()
    for name, text in check_data.items():
        release[(data_dir / name).as_posix()] = text.encode()
    return dict(sorted(release.items()))


def _differences(wanted: dict[str, bytes], root: Path) -> list[str]:
    """Lines describing how the files under ``root`` differ from ``wanted`` (check data: where, in numbers)."""
    present = {p.relative_to(root).as_posix() for p in root.rglob("*")
               if p.is_file() and not SKIP_DIRS & set(p.relative_to(root).parts)
               and p.suffix not in SKIP_SUFFIXES} if root.exists() else set()
    lines = []
    for path in sorted(present - set(wanted)):
        lines.append(f"extra:   {root.name}/{path} (not generated from solutions/)")
    for path, content in wanted.items():
        if path not in present:
            lines.append(f"missing: {root.name}/{path}")
        elif (root / path).read_bytes() != content:
            old = (root / path).read_text(encoding="utf-8", errors="replace").splitlines()
            new = content.decode("utf-8", errors="replace").splitlines()
            diff = list(difflib.unified_diff(old, new, f"{root.name}/{path} (on disk)", "(generated)", lineterm="", n=1))
            shown = diff[:12] + ([f"... {len(diff) - 12} more diff lines"] if len(diff) > 12 else [])
            if DATA_DIR in (root / path).relative_to(root.parent).parts and path.endswith(".json"):
                difference = data_difference("\n".join(old), content.decode("utf-8", errors="replace"))
                shown.append(f"first difference: {difference or 'none beyond the tolerance, only in the text'}")
            lines.append(f"stale:   {root.name}/{path}\n" + "\n".join("           " + d for d in shown))
    return lines


def run(*, check: bool = False) -> int:
    """Regenerate (or with ``check``, compare) the check data and ``course/``. Returns an exit status."""
    data_root = SOLUTIONS / PACKAGE / DATA_DIR
    check_data = keep_equivalent_data(checkdata.build_all(), data_root)
    data_wanted = {name: text.encode() for name, text in check_data.items()}
    course_wanted = build(check_data)
    if check:
        problems = _differences(data_wanted, data_root) + _differences(course_wanted, COURSE)
        if problems:
            print("course/ is out of date with solutions/. Run `python -m autograder release`.\n")
            print("\n".join(problems))
            return 1
        print(f"course/ is up to date ({len(course_wanted)} files).")
        return 0
    _write_tree(data_wanted, data_root)
    _write_tree(course_wanted, COURSE)
    print(f"wrote course/ ({len(course_wanted)} files) and {len(check_data)} check-data file(s).")
    return 0


def _write_tree(files: dict[str, bytes], root: Path) -> None:
    """Make ``root`` hold exactly ``files``: write what differs, delete what is not wanted."""
    for path in root.rglob("*") if root.exists() else []:
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative not in files and not SKIP_DIRS & set(path.relative_to(root).parts):
            path.unlink()
    for relative, content in files.items():
        target = root / relative
        if not target.exists() or target.read_bytes() != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
