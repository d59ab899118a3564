"""Run a student's package function in a separate, resource-limited process, and bring back raw observations.

The child (:mod:`autograder._child`) runs with ``python -I -B`` from a scratch copy of the student's package, with
a scrubbed environment, standard input from ``/dev/null``, its own session, and limits on CPU time, address
space, file size and open files; the parent enforces a wall-clock limit and kills the whole process group on every
exit path. The parent reads at most ``Limits.output_bytes`` of the child's report and parses it as JSON, nothing
else: it never unpickles or imports anything the child wrote.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from .paths import PACKAGE, SOLUTIONS

CHILD = Path(__file__).with_name("_child.py")
CHECK_MODULE = SOLUTIONS / PACKAGE / "check.py"


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 8
    wall_seconds: float = 12.0
    memory_bytes: int = 1 << 30       # address space; numpy with one BLAS thread needs far less
    file_bytes: int = 8 << 20         # the largest file the child may write
    open_files: int = 64
    output_bytes: int = 16 << 20      # the largest report the parent reads


@dataclass
class ChildResult:
    """What came back. ``status`` is "ok" or a short word for what went wrong; ``reason`` says it in words."""

    status: str
    reason: str = ""
    observations: list | None = None
    import_error: dict | None = None
    infrastructure: bool = False      # the grader's own machinery failed, not the student's code


def _limit(limits: Limits):
    def apply() -> None:  # runs in the child between fork and exec
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        resource.setrlimit(resource.RLIMIT_NPROC, (min(64, hard) if hard != resource.RLIM_INFINITY else 64,) * 2)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing silently

    return apply


def _environment(home: Path) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMEXPR_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}


@dataclass(frozen=True)
class Job:
    """One function to call on some cases: ``optimlab.<module>.<function>(**case["args"])``."""

    module: str
    function: str
    cases: list


def run(package_dir: Path, jobs: list[Job], *, limits: Limits = Limits(), work: Path | None = None
        ) -> dict[str, ChildResult]:
    """Run every job against (a scratch copy of) the student's package; ``{function: result}``.

    All jobs share one child while they behave. When one hangs, crashes, floods or breaks a rule, it alone gets
    the failure (or, if it happened while importing a module, every job of that module), and the jobs after it
    run in a fresh child: one function's bug never costs another function's points.
    """
    results: dict[str, ChildResult] = {}
    pending = list(jobs)
    while pending:
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
    with tempfile.TemporaryDirectory(prefix="optimlab-sandbox-", dir=work) as tmp:
        tmp = Path(tmp)
        scratch = tmp / "scratch"
        scratch.mkdir()
        try:
            shutil.copytree(package_dir, scratch / PACKAGE, symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.pyd"))
        except (OSError, shutil.Error) as exc:
            return ChildResult("unreadable", f"the package could not be copied: {exc}")
        request = tmp / "request.json"
        request.write_text(json.dumps({
            "scratch": str(scratch), "package": PACKAGE, "check_module": str(CHECK_MODULE),
            "jobs": [{"module": j.module, "function": j.function, "cases": j.cases} for j in jobs]}))
        scaled = Limits(**{**limits.__dict__, "cpu_seconds": limits.cpu_seconds * len(jobs)})
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-B", str(CHILD), str(request)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    env=_environment(scratch), cwd=scratch, preexec_fn=_limit(scaled),
                                    close_fds=True)
        except OSError as exc:
            return ChildResult("infrastructure", f"could not start the grading process: {exc}",
                               infrastructure=True)
        try:
            return _supervise(proc, jobs, limits)
        finally:
            _kill(proc)
            proc.stdout.close()


def _supervise(proc: subprocess.Popen, jobs: list[Job], limits: Limits):
    lines: queue.Queue = queue.Queue()
    budget = [limits.output_bytes]

    def read() -> None:
        for raw in proc.stdout:
            budget[0] -= len(raw)
            if budget[0] < 0:
                lines.put(b"\0overflow")
                return
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    finished: dict[str, ChildResult] = {}
    module = function = None
    failure = None
    while True:
        try:
            raw = lines.get(timeout=limits.wall_seconds)
        except queue.Empty:
            failure = ChildResult("timeout", f"it did not finish within {limits.wall_seconds:g} seconds "
                                             "(an endless loop, or far too slow)")
            break
        if raw is None:
            break
        if raw == b"\0overflow":
            failure = ChildResult("output", f"its output was larger than {limits.output_bytes >> 20} MB")
            break
        try:
            line = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue  # not ours: the only lines that count are well-formed JSON objects
        if not isinstance(line, dict):
            continue
        if "violation" in line:
            failure = ChildResult("violation", f"the code {str(line['violation'])[:300]}")
            break
        if "importing" in line:
            module, function = line["importing"], None
        elif "running" in line:
            function = line["running"]
        elif "function" in line and any(job.function == line["function"] for job in jobs):
            name = line["function"]
            observations = line.get("observations")
            if isinstance(line.get("import_error"), dict):
                finished[name] = ChildResult("ok", observations=[], import_error=line["import_error"])
            elif isinstance(observations, list):
                finished[name] = ChildResult("ok", observations=observations)
            module = function = None
    _kill(proc)
    returncode = proc.wait()
    if failure is None and len(finished) < len(jobs):
        failure = _why(returncode)
    return finished, failure, module, function


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _why(returncode: int) -> ChildResult:
    """What an early end of the child means."""
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return ChildResult("cpu", "it used up its CPU time (an endless loop, or far too slow)")
    if returncode == 0:
        return ChildResult("malformed", "it ended without a readable result")
    return ChildResult("crashed", f"the process ended with exit status {returncode} before reporting "
                                  "(did the code call exit() or crash the interpreter?)")
