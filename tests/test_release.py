"""solutions/ -> course/: stubs, hints, staleness, determinism, and nothing secret in the release."""

import hashlib
import json
import os
import platform
import re
import signal
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
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


# ------------------------------------------------------------------------- check data on any machine (issue 8)

from autograder import reference  # noqa: E402
from autograder.release import DATA_TOLERANCES, data_difference, keep_equivalent_data  # noqa: E402

DATA = '{"x": 1.5, "n": 3, "a": {"array": [%s, -2.25], "dtype": "%s", "shape": [2]}, "s": "text"}'


def _data(value: float, dtype: str = "float64") -> str:
    return DATA % (repr(float(value)), dtype)


def test_check_data_tolerance_is_a_tenth_of_what_the_checks_accept():
    reference.load()
    import optimlab.check

    for dtype, (rtol, atol) in DATA_TOLERANCES.items():
        check_rtol, check_atol = optimlab.check.TOLERANCES[dtype]
        assert rtol <= check_rtol / 10 and atol <= check_atol / 10, dtype
        assert rtol >= 1e4 * np.finfo(dtype).eps or dtype == "float32", "too tight for rounding across machines"


def test_rounding_differences_in_check_data_are_not_differences():
    value = 2.0217250167194623
    assert data_difference(_data(value), _data(np.nextafter(value, 3.0))) is None
    assert data_difference(_data(value), _data(value * (1 + 20 * np.finfo(np.float64).eps))) is None
    single = float(np.float32(value))
    assert data_difference(_data(single, "float32"), _data(float(np.float32(single * (1 + 4e-7))), "float32")) is None


@pytest.mark.parametrize("old, new, where", [
    (_data(2.0), _data(2.0 * (1 + 1e-9)), "a/array[0] is 2.0 on disk"),
    (_data(2.0), _data(2.0 * (1 + 1e-9)).replace('"float64"', '"float32"'), "a/dtype"),
    (_data(2.0, "float32"), _data(2.0 * (1 + 1e-5), "float32"), "a/array[0]"),
    (_data(2.0), _data(2.0).replace('"n": 3', '"n": 3.0'), "n is 3 on disk, 3.0 generated"),
    (_data(2.0), _data(2.0).replace('"text"', '"other"'), "s is 'text'"),
    (_data(2.0), _data(2.0).replace(', -2.25]', ']'), "a/array has 2 items on disk, 1 generated"),
    (_data(2.0), _data(2.0).replace('"s"', '"t"'), "keys"),
    (_data(2.0), "{", "not valid JSON"),
])
def test_real_changes_in_check_data_are_differences(old, new, where):
    assert where in (data_difference(old, new) or "no difference found")


def test_equivalent_check_data_keep_the_bytes_on_disk(tmp_path):
    (tmp_path / "same.json").write_text(_data(0.1 + 0.2))
    (tmp_path / "changed.json").write_text(_data(0.3))
    fresh = {"same.json": _data(0.3), "changed.json": _data(0.31), "new.json": _data(0.3)}
    kept = keep_equivalent_data(fresh, tmp_path)
    assert kept == {"same.json": _data(0.1 + 0.2), "changed.json": _data(0.31), "new.json": _data(0.3)}


# OpenBLAS kernels to try, per architecture; those the CPU lacks die of an illegal instruction and are left out.
KERNELS = {"x86_64": ["Prescott", "Nehalem", "Haswell", "SkylakeX"],
           "AMD64": ["Prescott", "Nehalem", "Haswell", "SkylakeX"],
           "aarch64": ["ARMV8", "CORTEXA57", "NEOVERSEN1", "NEOVERSEV1"],
           "arm64": ["ARMV8", "CORTEXA57", "NEOVERSEN1", "NEOVERSEV1"]}

# Builds the check data, prints a digest of them as built (before the release keeps equivalent bytes on disk),
# then runs `python -m autograder release --check` on the same data (built once, not twice).
CHECK_UNDER_KERNEL = """\
import hashlib, sys
from autograder import checkdata, release
raw = checkdata.build_all()
print("raw check data:", hashlib.sha256(repr(sorted(raw.items())).encode()).hexdigest(), flush=True)
checkdata.build_all = lambda: raw
sys.exit(release.run(check=True))
"""


def test_release_check_passes_under_several_blas_kernels(copy_of_repo):
    """A release made here is up to date under other BLAS kernels, as on other CPUs (they round differently)."""
    kernels = KERNELS.get(platform.machine())
    if not kernels:
        pytest.skip(f"no list of OpenBLAS kernels for {platform.machine()}")
    assert _release(copy_of_repo).returncode == 0
    runs = {kernel: subprocess.Popen([sys.executable, "-c", CHECK_UNDER_KERNEL], cwd=copy_of_repo, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env={**os.environ, "OPENBLAS_CORETYPE": kernel})
            for kernel in kernels}
    outcomes = {kernel: (proc.communicate(timeout=300)[0], proc.returncode) for kernel, proc in runs.items()}
    ran = {k: (out, rc) for k, (out, rc) in outcomes.items() if rc not in (-signal.SIGILL, 128 + signal.SIGILL)}
    assert len(ran) >= 2, f"fewer than two OpenBLAS kernels run on this CPU: {outcomes}"
    failed = {k: out for k, (out, rc) in ran.items() if rc != 0}
    assert not failed, "release --check fails under " + "\n\n".join(f"OPENBLAS_CORETYPE={k}:\n{out}"
                                                                    for k, out in failed.items())
    digests = {re.search(r"raw check data: (\w+)", out)[1] for out, _ in ran.values()}
    if len(digests) < 2:
        pytest.skip(f"the BLAS kernels {sorted(ran)} build the same check data on this machine, so this run "
                    "shows nothing about rounding (NumPy may not use OpenBLAS here)")


def test_a_real_change_to_check_data_is_stale(copy_of_repo):
    data = copy_of_repo / "solutions" / "optimlab" / "check_data" / "01_gradient_descent.json"
    original = data.read_text()
    number = re.search(r'"expected": \{\s*"array": \[(-?\d+\.\d+)', original)
    changed = float(number[1]) * (1 + 10 * DATA_TOLERANCES["float64"][0])
    data.write_text(original[:number.start(1)] + repr(changed) + original[number.end(1):])
    try:
        proc = _release(copy_of_repo, "--check")
    finally:
        data.write_text(original)
    assert proc.returncode == 1, proc.stdout
    assert "stale:   check_data/01_gradient_descent.json" in proc.stdout
    assert f"/expected/array[0] is {changed!r} on disk, {float(number[1])!r} generated" in proc.stdout
    assert "course/optimlab/check_data" not in proc.stdout, "the course copy still holds the true data"
