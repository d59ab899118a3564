"""Execute one student notebook in a Jupyter kernel and stream each cell's outputs. Runs inside the sandbox:

    python -I /sandbox/grader/_nbrun.py REQUEST.json

The notebook it gets holds no test: the grader replaced each test cell by an export of the answers the test
reads (:mod:`autograder._answers`). After each code cell it writes one JSON line to its standard output,
``{"cell": index, "outputs": [...]}``, with the outputs cut to a size; the grader reads those lines as untrusted
data. The kernel (:mod:`autograder._kernel`) can create no process; a cell that runs longer than the per-cell
timeout is interrupted (after one such cell the later ones get a shorter timeout), and once the notebook's deadline has passed the remaining cells are not run.
"""

import json
import os
import shutil
import sys
import time

MAX_TEXT = 100_000          # characters of one text output
MAX_IMAGE = 2_000_000       # characters of one base64 image
KEPT = {"text/plain", "image/png", "application/vnd.optimlab.answers+json"}


def trim(outputs: list) -> list:
    kept = []
    for output in outputs[:200]:
        kind = output.get("output_type")
        if kind == "stream":
            kept.append({"output_type": "stream", "name": output.get("name", "stdout"),
                         "text": str(output.get("text", ""))[:MAX_TEXT]})
        elif kind in ("display_data", "execute_result"):
            data = {mime: value for mime, value in output.get("data", {}).items() if mime in KEPT}
            data = {mime: (value if isinstance(value, str) else "".join(map(str, value)))
                    for mime, value in data.items()}
            data = {mime: value[:MAX_IMAGE if mime == "image/png" else MAX_TEXT] for mime, value in data.items()}
            if data:
                kept.append({"output_type": kind, "data": data})
        elif kind == "error":
            kept.append({"output_type": "error", "ename": str(output.get("ename", ""))[:200],
                         "evalue": str(output.get("evalue", ""))[:2000],
                         "traceback": [str(line)[:2000] for line in output.get("traceback", [])[-20:]]})
    return kept


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    grader = os.path.dirname(os.path.abspath(__file__))
    kernels = os.path.join(os.environ["HOME"], "jupyter", "kernels", "optimlab-sandbox")
    os.makedirs(kernels)
    with open(os.path.join(kernels, "kernel.json"), "w") as f:
        json.dump({"argv": [sys.executable, "-I", os.path.join(grader, "_kernel.py"), "-f", "{connection_file}"],
                   "display_name": "optimlab (sandboxed)", "language": "python"}, f)
    os.environ["JUPYTER_PATH"] = os.path.join(os.environ["HOME"], "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(os.environ["HOME"], "runtime")
    cache = os.path.join(grader, "matplotlib")
    if os.path.isdir(cache):  # the font list, built once by the grader, so no kernel spends seconds on it
        shutil.copytree(cache, os.environ["MPLCONFIGDIR"], dirs_exist_ok=True)

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(request["notebook"], as_version=4)
    deadline = time.monotonic() + request["deadline"]
    client = NotebookClient(nb, timeout=request["cell_timeout"], kernel_name="optimlab-sandbox",
                            allow_errors=True, interrupt_on_timeout=True, startup_timeout=60,
                            record_timing=False, resources={"metadata": {"path": request["cwd"]}})

    def say(line: dict) -> None:
        report.write(json.dumps(line) + "\n")
        report.flush()

    with client.setup_kernel():
        say({"started": True})
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if time.monotonic() > deadline:
                say({"deadline": index})
                break
            started = time.monotonic()
            try:
                client.execute_cell(cell, index)
            except Exception as exc:  # noqa: BLE001 — a dead kernel, a timeout that could not interrupt ...
                say({"cell": index, "outputs": trim(cell.get("outputs", [])),
                     "failed": f"{type(exc).__name__}: {str(exc)[:300]}"})
                if type(exc).__name__ == "DeadKernelError":
                    say({"kernel_died": index})
                    break
                continue
            if time.monotonic() - started >= client.timeout:
                # one cell ran out of time: the student's code hangs, and the later cells that call it would
                # each wait as long, so they get a short timeout (a cell that is merely slow was slow already)
                client.timeout = request["timeout_after_a_timeout"]
            say({"cell": index, "outputs": trim(cell.get("outputs", []))})
    say({"done": True})
    report.close()
    os._exit(0)


if __name__ == "__main__":
    main()
