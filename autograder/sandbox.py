"""Run a student's package functions in a sandboxed process, and bring back raw observations.

The child (:mod:`autograder._child`) runs with ``python -I -B`` inside the operating-system sandbox of
:mod:`autograder.jail` (bubblewrap: the disk it sees holds the Python installation, the grader's public files and
a scratch copy of this student's package, nothing else), with a scrubbed environment, standard input from
``/dev/null``, no network, no way to create processes, and limits on CPU time, address space, file size and open
files. One deadline covers the whole child, however it spaces its output. The parent reads at most
``Limits.output_bytes`` of the child's report and accepts only well-formed JSON lines naming the functions it
asked about; it never unpickles or imports anything the child wrote.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import intake, jail
from .paths import PACKAGE, SOLUTIONS

CHILD = Path(__file__).with_name("_child.py")
CHECK_MODULE = SOLUTIONS / PACKAGE / "check.py"


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 8              # per function asked about
    wall_seconds: float = 12.0        # per function asked about; one deadline for the whole child
    memory_bytes: int = 1 << 30       # address space; numpy with one BLAS thread needs far less
    file_bytes: int = 8 << 20         # the largest file the child may write
    open_files: int = 64
    output_bytes: int = 16 << 20      # the largest report the parent reads
    sandboxed: bool = True            # False only with the instructor's explicit --no-sandbox
    guard: bool = True                # the audit hook, a second layer inside the sandbox
    secrets: tuple = field(default=())  # folders that must not be visible inside (the output, the submissions)


def copy_package(package_dir: Path, target: Path) -> None:
    """A scratch copy of a student's package: regular files only (never a link), no compiled files."""
    intake.copy_regular(package_dir, target, what="the package", max_files=2000, max_bytes=64 << 20,
                        skip_suffixes=(".pyc", ".so", ".pyd"))


def grader_folder(work: Path) -> Path:
    """A folder holding copies of the grader's public files, for ``/sandbox/grader`` inside the sandbox."""
    folder = work / "grader"
    folder.mkdir(parents=True, exist_ok=True)
    # public code only: check.py ships with the course
    files = {"_child.py": CHILD, "seccomp.py": CHILD.with_name("seccomp.py"), "check.py": CHECK_MODULE}
    for name, source in files.items():
        shutil.copyfile(source, folder / name)
    return folder


@dataclass
class ChildResult:
    """What came back. ``status`` is "ok" or a short word for what went wrong; ``reason`` says it in words."""

    status: str
    reason: str = ""
    observations: list | None = None
    import_error: dict | None = None
    infrastructure: bool = False      # the grader's own machinery failed, not the student's code


@dataclass(frozen=True)
class Job:
    """One function to call on some cases: ``optimlab.<module>.<function>(**case["args"])``."""

    module: str
    function: str
    cases: list


def run(package_dir: Path, jobs: list[Job], *, limits: Limits = Limits(), work: Path | None = None,
        seconds: float | None = None) -> dict[str, ChildResult]:
    """Run every job against (a scratch copy of) the student's package; ``{function: result}``.

    All jobs share one child while they behave. When one hangs, crashes, floods or breaks a rule, it alone gets
    the failure (or, if it happened while importing a module, every job of that module), and the jobs after it
    run in a fresh child: one function's bug never costs another function's points. ``seconds`` bounds the
    whole: the jobs not reached by then fail with that reason.
    """
    import time

    results: dict[str, ChildResult] = {}
    pending = list(jobs)
    deadline = None if seconds is None else time.monotonic() + seconds
    while pending:
        if deadline is not None and time.monotonic() > deadline:
            late = ChildResult("timeout", f"not graded: this student's time for the package ({seconds:g} s) ran "
                                          "out on the functions before it")
            return results | {job.function: late for job in pending}
        outcome = _run_child(package_dir, pending, limits, work)
        if isinstance(outcome, ChildResult):  # nothing could run at all
            return results | {job.function: outcome for job in pending}
        finished, failure, running_module, running_function = outcome
        results |= finished
        pending = [job for job in pending if job.function not in finished]
        if not pending:
            break
        if failure is None:
            failure = ChildResult("malformed", "it ended without a readable result")
        if failure.infrastructure or (running_module is None and not finished):
            # it ended before any student code ran: the grader's own machinery is broken
            failure = ChildResult("infrastructure", f"the grading process failed before running any student "
                                                    f"code: {failure.reason}", infrastructure=True)
            return results | {job.function: failure for job in pending}
        if running_function is not None:
            blamed = [job for job in pending if job.function == running_function]
        else:
            blamed = [job for job in pending if job.module == running_module] or pending[:1]
            if blamed is not pending[:1]:
                failure = ChildResult(failure.status, f"importing {PACKAGE}.{running_module}: {failure.reason}")
        results |= {job.function: failure for job in blamed}
        pending = [job for job in pending if job not in blamed]
    return results


def _run_child(package_dir: Path, jobs: list[Job], limits: Limits, work: Path | None):
    """One child for ``jobs``; returns (finished results, failure or None, module being imported, function
    being run), or a single ChildResult when the child could not even start."""
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="optimlab-sandbox-", dir=work) as tmp:
        tmp = Path(tmp)
        scratch = tmp / "scratch"
        scratch.mkdir()
        try:
            copy_package(package_dir, scratch / PACKAGE)
        except (OSError, intake.IntakeError) as exc:
            return ChildResult("unreadable", f"the package could not be copied: {exc}")
        grader = grader_folder(tmp)
        inside = jail.WORK if limits.sandboxed else str(scratch)
        child = f"{jail.GRADER}/_child.py" if limits.sandboxed else str(grader / "_child.py")
        (scratch / "request.json").write_text(json.dumps({
            "scratch": inside, "package": PACKAGE,
            "check_module": f"{jail.GRADER}/check.py" if limits.sandboxed else str(grader / "check.py"),
            "guard": limits.guard, "forbid_processes": True,
            "jobs": [{"module": j.module, "function": j.function, "cases": j.cases} for j in jobs]}))
        os_limits = jail.Limits(cpu_seconds=limits.cpu_seconds * len(jobs), wall_seconds=limits.wall_seconds
                                * len(jobs), memory_bytes=limits.memory_bytes, file_bytes=limits.file_bytes,
                                open_files=limits.open_files, output_bytes=limits.output_bytes)
        names = {job.function for job in jobs}
        state = {"finished": {}, "module": None, "function": None, "failure": None}

        def on_line(raw: bytes) -> bool:
            return _take(raw, names, state)

        try:
            outcome = jail.run([sys.executable, "-I", "-B", child, f"{inside}/request.json"], scratch=scratch,
                               grader=grader, limits=os_limits, sandboxed=limits.sandboxed,
                               secrets=limits.secrets, on_line=on_line, quiet_seconds=limits.wall_seconds)
        except OSError as exc:
            return ChildResult("infrastructure", f"could not start the grading process: {exc}",
                               infrastructure=True)
    failure = state["failure"]
    if failure is None and outcome.timed_out:
        failure = ChildResult("timeout", f"it did not finish within {limits.wall_seconds:g} seconds "
                                         "(an endless loop, or far too slow)")
    if failure is None and outcome.overflow:
        failure = ChildResult("output", f"its output was larger than {limits.output_bytes >> 20} MB")
    if failure is None and len(state["finished"]) < len(jobs):
        failure = _why(outcome.returncode)
    return state["finished"], failure, state["module"], state["function"]


#: The most of one line of the report the parent parses (a function's observations on all its cases).
MAX_LINE = 4 << 20


def _take(raw: bytes, names: set[str], state: dict) -> bool:
    """Take one line of the child's report into ``state``; True when the child must be stopped."""
    if len(raw) > MAX_LINE:
        state["failure"] = ChildResult("output", f"it reported more than {MAX_LINE >> 20} MB in one line")
        return True
    try:
        line = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False  # not ours: the only lines that count are well-formed JSON objects
    if not isinstance(line, dict):
        return False
    if "violation" in line:
        state["failure"] = ChildResult("violation", f"the code {str(line['violation'])[:300]}")
        return True
    if isinstance(line.get("importing"), str):
        state["module"], state["function"] = line["importing"][:100], None
    elif isinstance(line.get("running"), str):
        state["function"] = line["running"][:100]
    elif line.get("function") in names and line["function"] not in state["finished"]:
        name = line["function"]
        observations = line.get("observations")
        if isinstance(line.get("import_error"), dict):
            error = line["import_error"]
            state["finished"][name] = ChildResult("ok", observations=[], import_error={
                "type": str(error.get("type", "Error"))[:100], "message": str(error.get("message", ""))[:500]})
        elif isinstance(observations, list):
            state["finished"][name] = ChildResult("ok", observations=observations)
        state["module"] = state["function"] = None
        if len(state["finished"]) == len(names):
            return True
    return False


def _why(returncode: int | None) -> ChildResult:
    """What an early end of the child means."""
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL):
        return ChildResult("cpu", "it used up its CPU time (an endless loop, or far too slow)")
    if returncode == 0:
        return ChildResult("malformed", "it ended without a readable result")
    return ChildResult("crashed", f"the process ended with exit status {returncode} before reporting "
                                  "(did the code call exit() or crash the interpreter?)")
