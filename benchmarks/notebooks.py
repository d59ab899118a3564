"""Time the execution of every solution notebook in a fresh kernel, against the floor of an empty notebook.

    .venv/bin/python benchmarks/notebooks.py [--repeat N]

The floor (start a kernel, run one empty cell, shut it down) is measured in the same run, so the ratio says how
much the notebook itself costs on this machine, whatever else the machine is doing. Each notebook runs
``--repeat`` times; the best time is reported (the least disturbed by other load).
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 10.0  # what a student waits for a whole unit, at most


def run(nb: nbformat.NotebookNode, folder: Path) -> float:
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    floor = min(run(empty, ROOT) for _ in range(args.repeat))
    print(f"floor (kernel start + one empty cell): {floor:.2f} s")
    print(f"{'notebook':<52} {'best s':>7} {'x floor':>8}  budget {BUDGET_SECONDS:.0f} s")
    over = 0
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        best = min(run(nbformat.read(path, as_version=4), path.parent) for _ in range(args.repeat))
        flag = "ok" if best <= BUDGET_SECONDS else "OVER"
        over += best > BUDGET_SECONDS
        print(f"{str(path.relative_to(ROOT)):<52} {best:7.2f} {best / floor:8.1f}  {flag}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
