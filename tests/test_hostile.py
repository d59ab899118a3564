"""The isolated package grader against buggy and hostile submissions, one kind per test.

Each submission is the reference package with one function replaced (or one file added). The affected function
must score exactly what it deserves (0 where it cheats or breaks) with a clear reason, and every other function
of the same submission must still get its full points. Each hostile function is unit 01's gd_update, so those
submissions are graded on the first two units' functions (five modules); the reference is graded on every unit.
"""

import shutil
import textwrap
from pathlib import Path

import pytest

from autograder import grade, notebooks, sandbox
from conftest import SOLUTIONS, needs_sandbox

pytestmark = needs_sandbox

LIMITS = sandbox.Limits(cpu_seconds=3, wall_seconds=5.0, memory_bytes=1 << 30)
ALL = [name for name in grade.columns()[1]]
FIRST_TWO = notebooks.assignments()[:2]


def submission(tmp_path: Path, *, module: str = "gd", code: str = "", files: dict[str, bytes] | None = None) -> Path:
    """A copy of the reference package with ``code`` appended to ``optimlab/<module>.py`` (redefining a function
    there) and extra ``files`` (relative to the submission's root)."""
    root = tmp_path / "student"
    shutil.copytree(SOLUTIONS / "optimlab", root / "optimlab", ignore=shutil.ignore_patterns("__pycache__"))
    if code:
        target = root / "optimlab" / f"{module}.py"
        target.write_text(target.read_text() + "\n\n" + textwrap.dedent(code))
    for path, content in (files or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return root


def graded(root: Path, tmp_path: Path, units: list[str] | None = FIRST_TWO) -> dict[str, dict]:
    """The package functions' results, for the ``units`` given (None: every unit)."""
    return grade.grade_functions(root, seed=12345, student="student", work=tmp_path, limits=LIMITS, selected=units)


def assert_only(results: dict, broken: str, *words: str) -> dict:
    """``broken`` scores 0 with all ``words`` in its message; every other function scores full points."""
    entry = results[broken]
    assert entry["points"] == 0 and not entry["passed"], entry
    for word in words:
        assert word in entry["message"], entry["message"]
    others = {name: r["points"] for name, r in results.items() if name != broken}
    assert all(points == results[name]["max"] for name, points in others.items()), others
    return entry


def test_the_reference_gets_every_point(tmp_path):
    results = graded(submission(tmp_path), tmp_path, units=None)
    assert sorted(results) == sorted(ALL)
    assert all(r["passed"] and r["points"] == r["max"] for r in results.values())


def test_a_stub_scores_zero_saying_it_is_not_implemented(tmp_path):
    root = submission(tmp_path, code="""
        def gd_update(param, grad, *, lr):
            raise NotImplementedError("gd_update is not implemented yet")
        """)
    assert_only(graded(root, tmp_path), "gd_update", "not implemented yet")


def test_an_endless_loop_is_stopped(tmp_path):
    root = submission(tmp_path, code="""
        def gd_update(param, grad, *, lr):
            while True:
                pass
        """)
    entry = assert_only(graded(root, tmp_path), "gd_update", "could not be graded")
    assert entry["status"] in {"timeout", "cpu"}


def test_exhausting_memory_fails_only_that_function(tmp_path):
    root = submission(tmp_path, code="""
        def gd_update(param, grad, *, lr):
            hog = [np.ones(1 << 27) for _ in range(64)]   # 64 GiB
            return param - lr * grad
        """)
    assert_only(graded(root, tmp_path), "gd_update", "MemoryError")


@pytest.mark.parametrize("attack, event", [
    ("import os; os.fork()", "os.fork"),
    ("import subprocess; subprocess.run(['true'])", "subprocess.Popen"),
    ("import os; os.system('true')", "os.system"),
    ("import socket; socket.create_connection(('127.0.0.1', 9))", "socket."),
    ("import ctypes; ctypes.CDLL(None)", "ctypes."),
    ("import gc; gc.get_objects()", "gc.get_objects"),
])
def test_processes_sockets_and_native_code_are_refused(tmp_path, attack, event):
    root = submission(tmp_path, code=f"""
        def gd_update(param, grad, *, lr):
            {attack}
            return param - lr * grad
        """)
    entry = assert_only(graded(root, tmp_path), "gd_update", "forbidden operation", event)
    assert entry["status"] == "violation"


def test_flooding_the_output_changes_nothing(tmp_path):
    root = submission(tmp_path, code="""
        import sys
        def gd_update(param, grad, *, lr):
            for _ in range(200):
                print("spam " * 20_000)
                print("spam " * 20_000, file=sys.stderr)
            return param - lr * grad
        """)
    results = graded(root, tmp_path)
    assert all(r["passed"] for r in results.values())


@pytest.mark.parametrize("exit_call, words", [
    ("import sys; sys.exit(0)", ["raised SystemExit"]),
    ("raise KeyboardInterrupt", ["raised KeyboardInterrupt"]),
    ("import os; os._exit(0)", ["could not be graded", "without a readable result"]),
    ("import os; os._exit(3)", ["could not be graded", "exit status 3"]),
])
def test_exiting_the_interpreter_scores_zero(tmp_path, exit_call, words):
    root = submission(tmp_path, code=f"""
        def gd_update(param, grad, *, lr):
            {exit_call}
        """)
    assert_only(graded(root, tmp_path), "gd_update", *words)


def test_patching_numpy_does_not_fool_the_grader(tmp_path):
    root = submission(tmp_path, code="""
        np.allclose = lambda *args, **kwargs: True
        np.array_equal = lambda *args, **kwargs: True
        np.isclose = lambda *args, **kwargs: True
        def gd_update(param, grad, *, lr):
            return np.zeros_like(param)
        """)
    assert_only(graded(root, tmp_path), "gd_update", "wrong values")


def test_patching_the_test_helpers_does_not_fool_the_grader(tmp_path):
    root = submission(tmp_path, code="""
        import sys
        for name, module in list(sys.modules.items()):
            if name.endswith("check"):
                module.judge = lambda *args, **kwargs: None
                module.difference = lambda *args, **kwargs: None
                module.collect = lambda fn, case, **kw: {"output": case.get("expected"), "modified": []}
        def gd_update(param, grad, *, lr):
            return param
        """)
    assert_only(graded(root, tmp_path), "gd_update")


def test_nan_scores_zero(tmp_path):
    root = submission(tmp_path, code="""
        def gd_update(param, grad, *, lr):
            return param * np.nan
        """)
    assert_only(graded(root, tmp_path), "gd_update", "NaN or infinity")


def test_an_object_pretending_to_be_an_array_scores_zero(tmp_path):
    root = submission(tmp_path, code="""
        class Anything:
            shape, dtype = (3,), np.dtype("float64")
            def __eq__(self, other): return True
            def __array__(self, dtype=None, copy=None): return np.zeros(3)
            def tolist(self): return [0.95, -2.05, 0.6]
        def gd_update(param, grad, *, lr):
            return Anything()
        """)
    assert_only(graded(root, tmp_path), "gd_update", "should be a NumPy array", "Anything")


def test_an_ndarray_subclass_cannot_forge_its_values(tmp_path):
    root = submission(tmp_path, code="""
        class Forged(np.ndarray):
            def tolist(self):
                return "anything"
        def gd_update(param, grad, *, lr):
            return np.zeros_like(param).view(Forged)
        """)
    assert_only(graded(root, tmp_path), "gd_update")


def test_modifying_the_inputs_scores_zero(tmp_path):
    root = submission(tmp_path, code="""
        def gd_update(param, grad, *, lr):
            param -= lr * grad
            return param.copy()
        """)
    assert_only(graded(root, tmp_path), "gd_update", "in place")


def test_reading_the_reference_solution_is_refused(tmp_path):
    reference = SOLUTIONS / "optimlab" / "gd.py"
    root = submission(tmp_path, code=f"""
        def gd_update(param, grad, *, lr):
            source = open({str(reference)!r}).read()
            return param - lr * grad
        """)
    entry = assert_only(graded(root, tmp_path), "gd_update", "tried to read", str(reference))
    assert entry["status"] == "violation"


def test_reading_the_gradebook_is_refused(tmp_path):
    gradebook = tmp_path / "out" / "nbgrader" / "gradebook.db"
    gradebook.parent.mkdir(parents=True)
    gradebook.write_bytes(b"SQLite format 3\x00")
    root = submission(tmp_path, code=f"""
        def gd_update(param, grad, *, lr):
            np.fromfile({str(gradebook)!r}, dtype=np.uint8)
            return param - lr * grad
        """)
    assert_only(graded(root, tmp_path), "gd_update", "tried to read", "gradebook.db")


def test_listing_folders_outside_the_scratch_copy_is_refused(tmp_path):
    root = submission(tmp_path, code=f"""
        import os
        def gd_update(param, grad, *, lr):
            os.listdir({str(SOLUTIONS)!r})
            return param - lr * grad
        """)
    assert_only(graded(root, tmp_path), "gd_update", "tried to look at")


def test_writing_outside_the_scratch_copy_is_refused_and_nothing_is_written(tmp_path):
    target = tmp_path / "pwned.txt"
    root = submission(tmp_path, code=f"""
        def gd_update(param, grad, *, lr):
            with open({str(target)!r}, "w") as f:
                f.write("gotcha")
            return param - lr * grad
        """)
    assert_only(graded(root, tmp_path), "gd_update", "tried to write", str(target))
    assert not target.exists()


def test_writing_inside_the_scratch_copy_is_allowed(tmp_path):
    root = submission(tmp_path, code="""
        def gd_update(param, grad, *, lr):
            with open("notes.txt", "w") as f:
                f.write("scratch work is fine")
            return param - lr * grad
        """)
    assert all(r["passed"] for r in graded(root, tmp_path).values())


def test_a_shipped_numpy_py_and_conftest_py_change_nothing(tmp_path):
    hostile = b"raise RuntimeError('this file must never be imported')\n"
    root = submission(tmp_path, files={"numpy.py": hostile, "conftest.py": hostile,
                                       "optimlab/numpy.py": hostile, "optimlab/conftest.py": hostile})
    assert all(r["passed"] for r in graded(root, tmp_path).values())


def test_a_syntax_error_costs_only_its_module(tmp_path):
    root = submission(tmp_path, code="def gd_update(param, grad, *, lr)\n    return param\n")
    assert_only(graded(root, tmp_path), "gd_update", "importing optimlab.gd failed", "SyntaxError")


def test_a_file_that_is_not_utf8_costs_only_its_module(tmp_path):
    root = submission(tmp_path)
    gd = root / "optimlab" / "gd.py"
    gd.write_bytes(gd.read_bytes() + '\nNOTE = "réglé par l\'étudiant"\n'.encode("latin-1"))
    assert_only(graded(root, tmp_path), "gd_update", "importing optimlab.gd failed", "utf-8")


def test_a_missing_module_costs_only_its_functions(tmp_path):
    root = submission(tmp_path)
    (root / "optimlab" / "gd.py").unlink()
    assert_only(graded(root, tmp_path), "gd_update", "optimlab/gd.py is missing")


def test_a_misnamed_or_missing_package_scores_zero_with_a_reason(tmp_path):
    root = submission(tmp_path)
    (root / "optimlab").rename(root / "OptimLab")
    results = graded(root, tmp_path)
    assert all(r["points"] == 0 and "no optimlab/ package" in r["message"] for r in results.values())
