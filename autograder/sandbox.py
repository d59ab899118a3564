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
import threading
from dataclasses import dataclass
from pathlib import Path

from .paths import PACKAGE, SOLUTIONS

CHILD = Path(__file__).with_name("_child.py")
CHECK_MODULE = SOLUTIONS / PACKAGE / "check.py"
VIOLATION_EXIT = 86


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


def run(package_dir: Path, module: str, function: str, cases: list[dict], *,
        limits: Limits = Limits(), work: Path | None = None) -> ChildResult:
    """Call ``optimlab.<module>.<function>`` from (a scratch copy of) ``package_dir`` on ``cases``."""
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
        request.write_text(json.dumps({"scratch": str(scratch), "package": PACKAGE, "module": module,
                                       "function": function, "cases": cases, "check_module": str(CHECK_MODULE)}))
        with open(tmp / "stderr.txt", "wb") as stderr:
            return _supervise(request, stderr, tmp / "stderr.txt", limits, scratch)


def _supervise(request: Path, stderr, stderr_path: Path, limits: Limits, home: Path) -> ChildResult:
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-B", str(CHILD), str(request)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=stderr, env=_environment(home), cwd=home,
                                preexec_fn=_limit(limits), close_fds=True)
    except OSError as exc:
        return ChildResult("infrastructure", f"could not start the grading process: {exc}", infrastructure=True)
    chunks: list[bytes] = []
    size = [0]

    def read() -> None:
        while size[0] <= limits.output_bytes:
            chunk = proc.stdout.read(65536)
            if not chunk:
                return
            chunks.append(chunk)
            size[0] += len(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        reader.join(limits.wall_seconds)
        timed_out = reader.is_alive()
        if timed_out or size[0] > limits.output_bytes:
            _kill(proc)
        try:
            returncode = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill(proc)
            returncode = proc.wait()
    finally:
        _kill(proc)
        proc.stdout.close()
    if size[0] > limits.output_bytes:
        return ChildResult("output", f"its output was larger than {limits.output_bytes >> 20} MB")
    if timed_out:
        return ChildResult("timeout", f"it did not finish within {limits.wall_seconds:g} seconds "
                                      "(an endless loop, or far too slow)")
    return _interpret(b"".join(chunks), returncode, stderr_path)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, limit: int = 600) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - limit))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _interpret(raw: bytes, returncode: int, stderr_path: Path) -> ChildResult:
    try:
        report = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        report = None
    if isinstance(report, dict) and "violation" in report and returncode == VIOLATION_EXIT:
        return ChildResult("violation", f"the code {report['violation']}")
    if returncode == -signal.SIGXCPU or returncode == -signal.SIGKILL:
        return ChildResult("cpu", "it used up its CPU time (an endless loop, or far too slow)")
    if returncode != 0 or not isinstance(report, dict):
        detail = _tail(stderr_path)
        if "MemoryError" in detail or "Cannot allocate memory" in detail:
            return ChildResult("memory", "it ran out of memory")
        if returncode == 0:
            return ChildResult("malformed", "it ended without a readable result")
        return ChildResult("crashed", f"the process ended with exit status {returncode} before reporting "
                                      "(did the code call exit() or crash the interpreter?)")
    observations = report.get("observations")
    if not isinstance(observations, list):
        return ChildResult("malformed", "it ended without a readable result")
    return ChildResult("ok", observations=observations, import_error=report.get("import_error"))
