"""The notebooks, run in real Jupyter kernels: solutions run clean; the release stops at the first exercise."""

import json
import os
import shutil
import time

import matplotlib
import numpy as np
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
import nbformat

from conftest import COURSE, ROOT, SOLUTIONS, browser_missing, checked_exercises, execute, notebooks, submodule

matplotlib.use("Agg")


def test_there_are_notebooks():
    assert notebooks(SOLUTIONS) and [p.relative_to(SOLUTIONS) for p in notebooks(SOLUTIONS)] == [
        p.relative_to(COURSE) for p in notebooks(COURSE)]


@pytest.mark.parametrize("path", notebooks(SOLUTIONS) + notebooks(COURSE), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_are_committed_without_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, path


@pytest.mark.parametrize("path", notebooks(SOLUTIONS), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_exercise_of_a_unit_has_its_check_cell(path):
    checked = set(checked_exercises(nbformat.read(path, as_version=4)).values())
    unit = json.loads((SOLUTIONS / "optimlab" / "check_data" / f"{path.parent.name}.json").read_text())
    assert unit["exercises"] and set(unit["exercises"]) <= checked


@pytest.mark.skipif(not browser_missing(), reason="tests/test_browser.py runs each completed notebook top to bottom "
                    "in JupyterLab, in a fresh kernel, and asserts that no cell fails and every check passes")
@pytest.mark.parametrize("path", notebooks(SOLUTIONS), ids=lambda p: str(p.relative_to(ROOT)))
def test_solution_notebook_runs_top_to_bottom_in_a_fresh_kernel(path):
    nb = execute(path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    for index, name in checked_exercises(nb).items():
        assert f"✔ {name}: all" in "".join(o.get("text", "") for o in nb.cells[index].outputs)


def _first_exercise(path) -> tuple[int, str]:
    """Index of the first check cell and the name of the exercise it checks."""
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.strip().startswith("check("):
            return index, cell.source.strip()[len('check("'):-len('")')]
    raise AssertionError(f"{path} has no check cell")


@pytest.mark.parametrize("path", notebooks(COURSE), ids=lambda p: str(p.relative_to(ROOT)))
def test_course_notebook_runs_until_the_first_exercise_and_stops_at_its_stub(path):
    expected_index, exercise = _first_exercise(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    failure = None
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                failure = (index, error)
                break
    assert failure is not None, "the untouched release ran to the end: its exercises check nothing"
    index, error = failure
    assert (index, error.ename) == (expected_index, "NotImplementedError"), (
        f"the first error is {error.ename} in cell {index}, expected the stub of {exercise} in cell "
        f"{expected_index}:\n{error}")
    assert f"{exercise} is not implemented yet" in error.evalue


def test_the_explorer_draws_the_students_own_path(ref):
    problems = submodule(ref, "problems")
    quad = problems.Quadratic.with_condition(10)
    explorer = submodule(ref, "plots").Explorer(quad, (2.0, -1.0), steps=30)
    left, right = explorer.draw(lr=0.1).axes
    expected = problems.descend(quad, (2.0, -1.0), update=submodule(ref, "gd").gd_update, steps=30, lr=0.1)
    assert np.allclose(explorer.path_line.get_xydata(), expected)
    assert "after 30 steps" in left.get_title() and "lr = 0.1" in right.get_title()
    assert "diverged" in explorer.draw(lr=0.5).axes[0].get_title()
    assert explorer.png(lr=0.2).startswith(b"\x89PNG")


def test_the_explorer_carries_the_state_of_a_stateful_update(ref):
    problems, optim = submodule(ref, "problems"), submodule(ref, "optim")
    quad = problems.Quadratic.with_condition(10)
    explorer = submodule(ref, "plots").Explorer(quad, (2.0, -1.0), update="optim.adam_update", steps=50,
                                                sliders={"lr": (1e-3, 1.0, 0.1), "beta1": (0.0, 0.99, 0.9)},
                                                hyper=lambda v: {"lr": v["lr"], "betas": (v["beta1"], 0.999)})
    explorer.draw(lr=0.1, beta1=0.9)
    x, state = np.array([2.0, -1.0]), {}
    for _ in range(50):
        x, state = optim.adam_update(x, quad.grad(x), state, lr=0.1, betas=(0.9, 0.999))
    assert np.allclose(explorer.path_line.get_xydata()[-1], x)


def test_the_explorer_says_when_the_update_is_a_stub(stubs):
    quad = submodule(stubs, "problems").Quadratic.with_condition(10)
    fig = submodule(stubs, "plots").Explorer(quad, (2.0, 1.0)).draw(lr=0.1)
    assert "gd_update is still a stub" in fig.axes[0].get_title()


def test_an_edit_to_the_package_takes_effect_without_restarting_the_kernel(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(COURSE, course, ignore=shutil.ignore_patterns("__pycache__"))
    path = notebooks(course)[0]
    check_index, exercise = _first_exercise(path)
    module = json.loads((course / "optimlab" / "check_data" / f"{path.parent.name}.json").read_text())[
        "exercises"][exercise]["module"]
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells[:check_index]):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        with pytest.raises(CellExecutionError, match="is not implemented yet"):
            client.execute_cell(nb.cells[check_index], check_index)
        target = course / "optimlab" / f"{module}.py"
        target.write_text((SOLUTIONS / "optimlab" / f"{module}.py").read_text())
        later = time.time() + 5
        os.utime(target, (later, later))  # autoreload looks at modification times
        client.execute_cell(nb.cells[check_index], check_index)
    printed = "".join(o.get("text", "") for o in nb.cells[check_index].outputs)
    assert f"✔ {exercise}: all" in printed
