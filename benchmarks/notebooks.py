"""Time the execution of every solution notebook in a fresh kernel, against the floor of an empty notebook.

    .venv/bin/python benchmarks/notebooks.py [--repeat N]

The floor (start a kernel, run one empty cell, shut it down) is measured in the same run, so the ratio says how
much the notebook itself costs on this machine, whatever else the machine is doing. Each notebook runs
``--repeat`` times; the best time is reported (the least disturbed by other load), with its slowest cell. The
budgets: a whole unit within BUDGET_SECONDS (more for the units that train networks, BUDGETS), no cell over
CELL_SECONDS; the benchmark exits 1 when a notebook is over either. The kernels get one BLAS thread
(``OPENBLAS_NUM_THREADS=1``, unless it is set), as in the test suite: the course's matrices are small, and on a
busy two-core machine a second BLAS thread makes the units that train networks several times slower.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # inherited by the kernels
ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 10.0  # what a student waits for a whole unit, at most
BUDGETS = {"05_schedules": 15.0, "06_regularization": 15.0, "07_batchnorm": 15.0,  # units that train networks
           "08_training": 20.0, "09_recurrent": 20.0}
CELL_SECONDS = 3.0  # what a student waits for one cell, at most


def run(nb: nbformat.NotebookNode, folder: Path) -> tuple[float, float, str]:
    """Execute ``nb`` in a fresh kernel: (seconds in all, seconds of the slowest cell, that cell's id)."""
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    start, slowest, which = time.perf_counter(), 0.0, ""
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                began = time.perf_counter()
                client.execute_cell(cell, index)
                if time.perf_counter() - began > slowest:
                    slowest, which = time.perf_counter() - began, cell.get("id", str(index))
    return time.perf_counter() - start, slowest, which


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    floor = min(run(empty, ROOT)[0] for _ in range(args.repeat))
    print(f"floor (kernel start + one empty cell): {floor:.2f} s")
    print(f"{'notebook':<44} {'best s':>7} {'x floor':>8} {'budget':>7}  {'slowest cell':<34}")
    over = 0
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        best, slowest, which = min(run(nbformat.read(path, as_version=4), path.parent) for _ in range(args.repeat))
        budget = BUDGETS.get(path.parent.name, BUDGET_SECONDS)
        late = best > budget or slowest > CELL_SECONDS
        over += late
        print(f"{str(path.relative_to(ROOT)):<44} {best:7.2f} {best / floor:8.1f} {budget:7.0f}  "
              f"{which} {slowest:.2f} s{'  OVER' if late else ''}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
