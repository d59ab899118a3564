"""Shared helpers: the repository's folders, the reference and student packages, executing notebooks."""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from autograder import reference
from autograder.paths import COURSE, PACKAGE, ROOT, SOLUTIONS

# One BLAS thread in every kernel and child the tests start: on a busy 2-core machine, several threads per
# process make small matrix products hundreds of times slower, and the timings meaningless.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

__all__ = ["COURSE", "ROOT", "SOLUTIONS", "load_package", "execute", "notebooks"]


def load_package(top: Path, alias: str):
    """Import the ``optimlab`` package found in ``top`` under the module name ``alias``.

    The reference is imported as ``optimlab`` itself; a student's copy (here: the release's stubs) gets another
    name, so both can live in one test process.
    """
    if alias in sys.modules:
        return sys.modules[alias]
    spec = importlib.util.spec_from_file_location(
        alias, top / PACKAGE / "__init__.py", submodule_search_locations=[str(top / PACKAGE)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return module


def submodule(package, name: str):
    return importlib.import_module(f"{package.__name__}.{name}")


def notebooks(top: Path) -> list[Path]:
    return sorted(p for p in top.glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def execute(path: Path, *, timeout: int = 120) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom in a fresh kernel, in its own folder (as JupyterLab would)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


@pytest.fixture(scope="session")
def ref():
    """The reference package (``solutions/optimlab``), imported as ``optimlab``."""
    return reference.load()


@pytest.fixture(scope="session")
def stubs():
    """The student release's package (``course/optimlab``), imported as ``optimlab_course``."""
    return load_package(COURSE, "optimlab_course")


def _sandbox_missing() -> str | None:
    from autograder import jail

    reason = jail.unavailable()
    if reason and os.environ.get("CI"):
        raise RuntimeError(f"CI must be able to make the grading sandbox: {reason}")
    return reason


#: For tests that run student code in the real sandbox: they skip, saying what to install, where it cannot be
#: made (never in CI, where .ci/run installs bubblewrap).
needs_sandbox = pytest.mark.skipif(bool(_sandbox_missing()), reason=f"needs the grading sandbox: "
                                                                     f"{_sandbox_missing()}")


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory) -> Path:
    """The sample submissions, made as ``python -m autograder samples`` makes them (they are not committed)."""
    from autograder import samples

    destination = tmp_path_factory.mktemp("samples") / "samples"
    samples.write(destination)
    return destination


def recorded(unit: str, *, hidden_seed: int | None = None, draws: int = 12) -> dict[str, dict]:
    """Check data recorded here from the catalogue of ``unit``, ``{exercise: spec}``: on its public cases (where
    ``record`` also validates that every catalogued mistake is named), or on ``draws`` rounds of its hidden cases
    drawn from ``hidden_seed``."""
    from autograder.checkdata import record
    from autograder.exercises import units

    exercises = units()[unit]
    if hidden_seed is None:
        return {e.name: record(e, e.public()) for e in exercises}
    rng = np.random.default_rng(hidden_seed)
    return {e.name: record(e, [c for _ in range(draws) for c in e.hidden(rng)], validate=False) for e in exercises}


CHROMIUM = os.environ.get("OPTIMLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def browser_missing() -> str | None:
    """Why tests/test_browser.py cannot drive JupyterLab here (no Playwright, no Chromium), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright; no browser download needed)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium; or point "
                "OPTIMLAB_CHROMIUM at a Chromium binary)")
    return None


def checked_exercises(nb) -> dict[int, str]:
    """The check cells of a notebook: ``{cell index: the exercise it checks}``."""
    return {i: c.source.strip()[len('check("'):-len('")')] for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.source.strip().startswith("check(")}


def solution_lines(module: str) -> set[str]:
    """The distinctive lines (over 12 characters) of the solution regions of ``solutions/optimlab/<module>.py``:
    what must never reach the release, its hints, or a mistake's explanation."""
    import re

    source = (SOLUTIONS / PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    return {line.strip() for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source, re.S)
            for line in block.splitlines() if len(line.strip()) > 12}


def released(module: str) -> str:
    """The release's text of ``optimlab/<module>.py``, made from the solutions as the release makes it."""
    from autograder.release import strip_solutions

    source = (SOLUTIONS / PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    return strip_solutions(source, f"{PACKAGE}/{module}.py")


def assert_stub_fails_with_its_own_error(check, spec: dict, stub, unit: str) -> None:
    """A stub of the release stops its check with its own NotImplementedError (naming the unit), and fails
    every case when that error is not let through."""
    name = spec["name"]
    with pytest.raises(NotImplementedError, match=f"{name} is not implemented yet: .*{unit}"):
        check.run_check(spec, stub)
    passed, failure = check.run_check(spec, stub, reraise=())
    assert passed == 0 and f"{name} is not implemented yet" in failure


def assert_wrong_and_named(check, spec: dict, buggy, title: str | None) -> None:
    """An independently written wrong implementation fails some case of ``spec``, with the classic mistake
    ``title`` named (None: no name expected), and never with the checks unable to read its output."""
    passed, failure = check.run_check(spec, buggy)
    assert failure is not None, f"{buggy.__name__} passes the checks of {spec['name']}"
    assert passed < len(spec["cases"])
    if title is not None:
        assert f"classic mistake: {title}." in failure, failure
    assert "checks cannot read" not in failure


#: The test files that take longest (each grades a class, drives nbgrader or a browser over every unit), started
#: first: pytest-xdist hands out whole files (``--dist loadfile``) in collection order (``./run test`` turns off
#: its reordering by the number of tests, which would start the one-test README demo last), so a long file
#: collected last would keep one worker busy after the other has finished.
SLOW_FILES = ("test_grade.py", "test_readme_demo.py", "test_nbgrader.py", "test_browser.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        name = item.path.name
        return SLOW_FILES.index(name) if name in SLOW_FILES else len(SLOW_FILES)

    items.sort(key=rank)  # stable: the order inside a file, and of the other files, is kept
