"""solutions/ -> course/: stubs, hints, staleness, determinism, and nothing secret in the release."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.release import ReleaseError, strip_solutions
from conftest import COURSE, ROOT, SOLUTIONS

EXAMPLE = '''\
from ._exercise import exercise


@exercise(unit="01_gradient_descent", section="2. One step downhill")
def step(x, g, *, lr):
    """Docstring stays."""
    # Hint: go against the gradient.
    ### BEGIN SOLUTION
    return x - lr * g
    ### END SOLUTION


def helper():
    return 1
'''


def test_a_solution_region_becomes_a_stub_naming_the_function_and_section():
    stripped = strip_solutions(EXAMPLE, "optimlab/gd.py")
    assert "return x - lr * g" not in stripped and "SOLUTION" not in stripped
    assert "# Hint: go against the gradient." in stripped and '"""Docstring stays."""' in stripped
    namespace = {"exercise": lambda **kw: (lambda fn: fn)}
    exec(compile(stripped.replace("from ._exercise import exercise\n", ""), "gd.py", "exec"), namespace)
    with pytest.raises(NotImplementedError) as error:
        namespace["step"](1.0, 1.0, lr=0.1)
    assert "step" in str(error.value) and "2. One step downhill" in str(error.value)
    assert "optimlab/gd.py" in str(error.value) and "01_gradient_descent" in str(error.value)
    assert namespace["helper"]() == 1


@pytest.mark.parametrize("broken, complaint", [
    (EXAMPLE.replace("    ### END SOLUTION\n", ""), "without a matching END"),
    (EXAMPLE.replace("    ### BEGIN SOLUTION\n", ""), "END SOLUTION without BEGIN"),
    (EXAMPLE.replace('@exercise(unit="01_gradient_descent", section="2. One step downhill")\n', ""), "@exercise"),
])
def test_malformed_solution_regions_are_refused_with_the_line(broken, complaint):
    with pytest.raises(ReleaseError, match=complaint) as error:
        strip_solutions(broken, "optimlab/gd.py")
    assert re.search(r"optimlab/gd\.py:\d+", str(error.value))


def _release(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "release", *args], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_course_is_up_to_date():
    proc = _release(ROOT, "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def copy_of_repo(tmp_path_factory) -> Path:
    """A scratch copy of what the release reads and writes."""
    root = tmp_path_factory.mktemp("repo")
    for name in ("solutions", "course", "autograder"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _digest(top: Path) -> dict[str, str]:
    return {p.relative_to(top).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(top.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_release_is_deterministic(copy_of_repo):
    shutil.rmtree(copy_of_repo / "course")
    assert _release(copy_of_repo).returncode == 0
    first = _digest(copy_of_repo / "course")
    assert _release(copy_of_repo).returncode == 0
    assert _digest(copy_of_repo / "course") == first
    assert first == _digest(COURSE), "the committed course/ differs from a fresh release"


def test_check_lists_stale_missing_and_extra_files(copy_of_repo):
    assert _release(copy_of_repo, "--check").returncode == 0
    gd = copy_of_repo / "solutions" / "optimlab" / "gd.py"
    gd.write_text(gd.read_text().replace("# One line.", "# Just one line."))
    (copy_of_repo / "course" / "optimlab" / "stray.py").write_text("x = 1\n")
    (copy_of_repo / "course" / "optimlab" / "data.py").unlink()
    proc = _release(copy_of_repo, "--check")
    assert proc.returncode == 1
    assert "stale:   course/optimlab/gd.py" in proc.stdout and "Just one line" in proc.stdout
    assert "extra:   course/optimlab/stray.py" in proc.stdout
    assert "missing: course/optimlab/data.py" in proc.stdout
    assert _release(copy_of_repo).returncode == 0 and _release(copy_of_repo, "--check").returncode == 0
    assert not (copy_of_repo / "course" / "optimlab" / "stray.py").exists()


def _solution_lines() -> set[str]:
    """Every distinctive line of solution code and hidden tests in solutions/."""
    lines: set[str] = set()

    def regions(text: str, begin: str, end: str):
        for block in re.findall(rf"### {begin}\n(.*?)### {end}", text, re.S):
            lines.update(line.strip() for line in block.splitlines() if len(line.strip()) > 12)

    for path in SOLUTIONS.rglob("*.py"):
        regions(path.read_text(), "BEGIN SOLUTION", "END SOLUTION")
    for path in SOLUTIONS.rglob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            regions(source + "\n", "BEGIN SOLUTION", "END SOLUTION")
            regions(source + "\n", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    return lines


def test_no_solution_code_and_no_hidden_test_reaches_the_course():
    secrets = _solution_lines()
    assert len(secrets) >= 10, "the search found too few solution lines to mean anything"
    for path in COURSE.rglob("*"):
        if path.suffix not in {".py", ".ipynb", ".json", ".md", ".txt"}:
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{path} contains {marker}"
        leaked = sorted(line for line in secrets if line in text)
        assert not leaked, f"{path} contains solution lines: {leaked[:5]}"
