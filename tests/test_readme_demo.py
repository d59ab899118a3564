"""The README's demo: the sample submissions, made on demand, graded as the README describes them.

In a file of its own, so that the test suite's workers (pytest-xdist, one file each) share the grading tests.
"""

import csv
import subprocess
import sys
import time

from autograder import grade, notebooks
from conftest import ROOT, needs_sandbox

pytestmark = needs_sandbox
UNITS = notebooks.assignments()


def _cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args, "--quiet"], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _rows(out) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def test_the_readme_demo_samples_are_made_on_demand_and_grade_as_described(tmp_path):
    from autograder import samples

    made = subprocess.run([sys.executable, "-m", "autograder", "samples", "--out", str(tmp_path / "samples")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == sorted(samples.SAMPLES)
    start = time.monotonic()
    proc = _cli("grade", str(tmp_path / "samples"), "--out", str(tmp_path / "out"), "--jobs", "2")
    print(f"the README's demo took {time.monotonic() - start:.0f} s")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(tmp_path / "out")
    functions = grade.columns()[1]
    perfect = rows["perfect"]
    assert perfect["total"] == perfect["max_total"] and perfect["status"] == "ok"
    mistakes = rows["mistakes"]
    assert [mistakes[f] for f in ("gd_update", "least_squares_grad", "minibatches", "adam_update", "step_lr",
                                  "dropout_forward", "batchnorm_forward", "sample_config", "clip_grad_norm")] == ["0"] * 9
    assert mistakes["multistep_lr"] == perfect["multistep_lr"] != "0"
    assert mistakes[UNITS[0]] == "1"                           # lr_budget is wrong, lr_max is right
    feedback = (tmp_path / "out" / "feedback" / "mistakes.html").read_text()
    for named in ("wrong sign", "decaying one step early", "dropout not scaled", "eps outside the square root",
                  "uniform instead of log-uniform sampling", "each parameter clipped separately"):
        assert named in feedback, named
    partial = rows["partial"]
    assert {f for f in functions if partial[f] == "1"} == {"gd_update", "least_squares_grad", "minibatches"}
    broken = rows["broken_sample"]
    assert broken[UNITS[0]] == "0" and "not valid JSON" in broken["status"]
    assert "l1_prox could not be graded" in broken["status"] and broken["gd_update"] == "0"
