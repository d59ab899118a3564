"""Generate the student release ``course/`` from ``solutions/``.

- Notebooks go through nbgrader's own ``generate_assignment`` (solutions cleared, hidden tests removed, cells
  locked and checksummed), run in a temporary course directory.
- ``.py`` files get the same treatment by :func:`strip_solutions`, since nbgrader leaves them alone: every region
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes a ``raise NotImplementedError(...)`` naming the
  function and the notebook section that explains it. Comments above the markers (the hints) stay.
- The self-check data is rebuilt from the reference first (``solutions/optimlab/check_data``) and shipped as is.

The result depends only on the contents of ``solutions/`` and the catalogue: generating twice gives the same bytes.
"""

from __future__ import annotations

import ast
import difflib
import re
import tempfile
from pathlib import Path

from . import checkdata, nbgrader_course, samples
from .paths import COURSE, PACKAGE, SOLUTIONS

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc"}

class ReleaseError(Exception):
    """The solutions cannot be turned into a release (a marker without its partner, a region outside an exercise)."""


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


def _solution_files() -> list[Path]:
    files = []
    for path in sorted(SOLUTIONS.rglob("*")):
        relative = path.relative_to(SOLUTIONS)
        if path.is_file() and not SKIP_DIRS & set(relative.parts) and path.suffix not in SKIP_SUFFIXES:
            files.append(relative)
    return files


def build(check_data: dict[str, str]) -> dict[str, bytes]:
    """The whole release, ``{path relative to course/: bytes}``, given the freshly built check data."""
    files = _solution_files()
    data_dir = Path(PACKAGE) / "check_data"
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
    """Lines describing how the files under ``root`` differ from ``wanted``."""
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
            lines.append(f"stale:   {root.name}/{path}\n" + "\n".join("           " + d for d in shown))
    return lines


def run(*, check: bool = False) -> int:
    """Regenerate (or with ``check``, compare) the check data and ``course/``. Returns an exit status."""
    check_data = checkdata.build_all()
    data_root = SOLUTIONS / PACKAGE / "check_data"
    data_wanted = {name: text.encode() for name, text in check_data.items()}
    course_wanted = build(check_data)
    samples_wanted = samples.build(course_wanted)
    if check:
        problems = (_differences(data_wanted, data_root) + _differences(course_wanted, COURSE)
                    + _differences(samples_wanted, samples.SAMPLES_DIR))
        if problems:
            print("course/ or the samples are out of date with solutions/. Run `python -m autograder release`.\n")
            print("\n".join(problems))
            return 1
        print(f"course/ is up to date ({len(course_wanted)} files).")
        return 0
    _write_tree(data_wanted, data_root)
    _write_tree(course_wanted, COURSE)
    _write_tree(samples_wanted, samples.SAMPLES_DIR)
    print(f"wrote course/ ({len(course_wanted)} files), {len(check_data)} check-data file(s) and "
          f"{len(samples.SAMPLES)} sample submissions.")
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
