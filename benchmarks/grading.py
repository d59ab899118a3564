"""Seconds per submission for `python -m autograder grade`, against the floor of one Jupyter kernel per notebook.

    .venv/bin/python benchmarks/grading.py [--students 6]

Grades copies of the perfect sample (every function, every notebook), first with --jobs 1, then with --jobs 2,
each into a fresh output folder, and with --jobs 2 --no-sandbox (the sandbox's cost is the ratio of the two
--jobs 2 runs), after an empty class that measures the fixed cost (setting up the nbgrader
course). The floor is what starting a kernel and running one empty cell costs, once per notebook of a submission,
measured in the same run: no notebook grader can go below it. For scale, it also reports plainly executing one
submission's notebooks, which is most of what grading them costs.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder import grade, notebooks  # noqa: E402
from autograder import samples  # noqa: E402


def kernel_floor(repeat: int = 3) -> float:
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        NotebookClient(empty, timeout=60, kernel_name="python3").execute()
        times.append(time.perf_counter() - start)
    return min(times)


def plain_execution(submission: Path) -> float:
    """Executing the submission's notebooks with nbclient, one fresh kernel each, no grading at all."""
    start = time.perf_counter()
    for path in sorted(submission.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def timed_grade(submissions: Path, out: Path, jobs: int, seed: str, sandboxed: bool = True) -> float:
    out.mkdir(parents=True)
    (out / "grading-seed").write_text(seed)
    start = time.perf_counter()
    status = grade.grade(submissions, out, jobs=jobs, progress=False, sandboxed=sandboxed)
    assert status == 0, f"grading failed with status {status}"
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=6)
    args = parser.parse_args()
    n_notebooks = sum(len(notebooks.expected_notebooks(a)) for a in notebooks.assignments())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "none").mkdir()
        samples.write(tmp / "samples")
        for i in range(args.students):
            shutil.copytree(tmp / "samples" / "perfect", tmp / "class" / f"student{i:02d}")
        seed = "4242\n"
        setup = timed_grade(tmp / "none", tmp / "out0", 1, seed)
        one = timed_grade(tmp / "class", tmp / "out1", 1, seed)
        two = timed_grade(tmp / "class", tmp / "out2", 2, seed)
        bare = timed_grade(tmp / "class", tmp / "out3", 2, seed, sandboxed=False)
        floor = kernel_floor() * n_notebooks
        plain = plain_execution(tmp / "class" / "student00")
    per_one, per_two = (one - setup) / args.students, (two - setup) / args.students
    per_bare = (bare - setup) / args.students
    print(f"{args.students} perfect submissions, {n_notebooks} notebooks each")
    print(f"  fixed cost (nbgrader course set-up)      {setup:6.1f} s")
    print(f"  floor: one kernel per notebook           {floor:6.2f} s per submission")
    print(f"  just running its notebooks (nbclient)    {plain:6.2f} s per submission  ({plain / floor:.1f}x floor)")
    print(f"  --jobs 1                                 {per_one:6.2f} s per submission  ({per_one / floor:.1f}x floor)")
    print(f"  --jobs 2                                 {per_two:6.2f} s per submission  ({per_two / floor:.1f}x floor)")
    print(f"  --jobs 2 --no-sandbox (the same grader)  {per_bare:6.2f} s per submission")
    print(f"  cost of the sandbox, --jobs 2            {per_two / per_bare:6.2f}x the unsandboxed run")
    print(f"  speed-up of --jobs 2 over --jobs 1       {per_one / per_two:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
