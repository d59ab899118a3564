"""The operating-system sandbox around every process that runs a student's code: bubblewrap.

``bwrap`` gives each run new user, mount, pid, network, IPC and UTS namespaces. Inside, the file system is:

- the Python installation and the environment (``sys.prefix``, ``sys.base_prefix``, the interpreter's real
  folder) and ``/usr``, read-only;
- ``/sandbox/grader``: a read-only folder holding the few grader files the run needs (never a reference solution, a
  hidden test, the seed or the gradebook: nothing secret is ever inside);
- ``/sandbox/work``: a private copy of *this* student's scratch folder in a size-limited tmpfs, the only
  writable place besides a fresh, also size-limited ``/tmp`` (the scratch folder itself is bound read-only at
  ``/sandbox/source``, from where it is copied);
- a fresh ``/proc`` (of the new pid namespace: only the sandbox's own processes) and a minimal ``/dev``.

Nothing else of the disk exists there: not the repository, not ``solutions/``, not the output folder, not another
student. Any of those that happens to lie inside a bound folder is hidden under an empty ``tmpfs``. The
environment is replaced by a handful of fixed variables, the network namespace has only a loopback, and the pid
namespace dies with its first process, so killing ``bwrap`` ends everything started inside. Resource limits
(CPU time, address space, file size, open files) are set before ``bwrap`` starts and hold for everything inside;
the processes that run student code also refuse to create processes (:mod:`autograder.seccomp`).
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .paths import ROOT

#: Where the scratch copy and the grader's files appear inside.
WORK, GRADER, SOURCE = "/sandbox/work", "/sandbox/grader", "/sandbox/source"
#: The most the processes inside may write, in ``/sandbox/work`` and in ``/tmp`` each (memory-backed).
DISK_BYTES = 256 << 20
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install "
                "bubblewrap) and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
                "or user.max_user_namespaces > 0; on Ubuntu 24.04 also "
                "kernel.apparmor_restrict_unprivileged_userns=0), or pass --no-sandbox to grade without it")


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 60
    wall_seconds: float = 60.0
    memory_bytes: int = 3 << 30       # address space of each process inside
    file_bytes: int = 64 << 20        # the largest file a process inside may write
    open_files: int = 256
    output_bytes: int = 16 << 20      # the most the parent reads of what the sandbox prints


@dataclass
class Outcome:
    returncode: int | None            # None: killed at the deadline
    output: bytes = b""
    overflow: bool = False            # it printed more than ``output_bytes``
    seconds: float = 0.0
    timed_out: bool = False
    lines: list[bytes] = field(default_factory=list)


_AVAILABLE: dict[str, str | None] = {}


def _probe() -> str | None:
    """Start Python in a sandbox; None when that works, else what went wrong."""
    try:
        probe = subprocess.run(command([sys.executable, "-I", "-c", "print('ok')"], scratch=None),
                               capture_output=True, timeout=60, preexec_fn=_limiter(Limits()))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not make a sandbox ({type(exc).__name__}: {exc})"
    if probe.returncode != 0 or probe.stdout.strip() != b"ok":
        error = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bubblewrap could not make a sandbox ({error[-1] if error else probe.returncode})"
    return None


def unavailable() -> str | None:
    """Why the sandbox cannot be made here (with what to install or enable), or None when it can."""
    if "reason" not in _AVAILABLE:
        if platform.system() != "Linux":
            reason = f"the sandbox needs Linux (bubblewrap), not {platform.system()}"
        elif shutil.which("bwrap") is None:
            reason = "bubblewrap (bwrap) is not installed"
        else:
            reason = _probe()
        _AVAILABLE["reason"] = reason and f"{reason}: {INSTALL_HINT}"
    return _AVAILABLE["reason"]


def works() -> bool:
    """Whether a sandbox can be made right now (the probe of :func:`unavailable`, not cached)."""
    return _probe() is None


def _python_roots() -> list[Path]:
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    roots.add(Path(sys.executable).resolve().parent.parent)
    roots = {r for r in roots if r != Path("/")}
    return sorted(r for r in roots if not any(r != o and o in r.parents for o in roots))


def _hidden_inside(bound: list[Path], secrets: list[Path]) -> list[Path]:
    """The secret folders that lie inside a bound folder, to be hidden under an empty tmpfs."""
    hidden = []
    for secret in secrets:
        secret = secret.resolve()
        if any(secret == b or b in secret.parents for b in bound):
            hidden.append(secret)
    return hidden


def command(argv: list[str], *, scratch: Path | None, grader: Path | None = None, cwd: str = WORK,
            env: dict[str, str] | None = None, secrets: tuple[Path, ...] = ()) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in a sandbox with ``scratch`` as the writable ``/work``
    and ``grader`` as the read-only ``/grader``. ``secrets`` are folders that must not be visible (the
    repository is always one)."""
    args = ["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--disable-userns",
            "--uid", "1000", "--gid", "1000", "--hostname", "sandbox", "--clearenv"]
    bound = [Path("/usr").resolve()]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
            bound.append(path)
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        if Path(path).exists():
            args += ["--ro-bind", path, path]
    secrets = (ROOT, *secrets)
    for hidden in _hidden_inside(bound, list(secrets)):   # e.g. the repository somewhere under /usr
        args += ["--tmpfs", str(hidden)]
    roots = []
    for root in _python_roots():
        if root == Path("/sandbox") or Path("/sandbox") in root.parents:
            raise OSError(f"the Python installation lies in {root}, where the sandbox puts its own folders")
        if not any(root == b or b in root.parents for b in bound):
            args += ["--ro-bind", str(root), str(root)]
            roots.append(root)
    # a secret inside the environment (an output folder inside the venv, say) is hidden too; a secret that
    # holds the environment (the repository holding .venv) is not bound at all, so it needs no hiding
    for hidden in _hidden_inside(roots, list(secrets)):
        args += ["--tmpfs", str(hidden)]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(DISK_BYTES), "--tmpfs", "/tmp", "--dir", "/tmp/home"]
    if grader is not None:
        args += ["--ro-bind", str(grader), GRADER]
    if scratch is not None:
        # The scratch copy is bound read-only and copied into a size-limited tmpfs before anything runs, so
        # a student can fill neither the grader's disk nor more than DISK_BYTES of memory.
        args += ["--ro-bind", str(scratch), SOURCE, "--size", str(DISK_BYTES), "--tmpfs", WORK]
        argv = ["/bin/sh", "-c", f'cp -R {SOURCE}/. {WORK}/ && cd "$0" && exec "$@"', cwd, *argv]
    args += ["--chdir", WORK if scratch is not None else "/tmp"]
    environment = {"PATH": "/usr/bin:/bin", "HOME": "/tmp/home", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                   "TMPDIR": "/tmp", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
                   "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib",
                   **(env or {})}
    for name, value in environment.items():
        args += ["--setenv", name, value]
    return args + ["--", *argv]


def _limiter(limits: Limits):
    def apply() -> None:  # runs between fork and exec; every process inside inherits these
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing silently

    return apply


def unconfined(argv: list[str], *, scratch: Path, env: dict[str, str] | None = None) -> tuple[list[str], dict]:
    """For ``--no-sandbox``: the same program, run directly from the scratch copy (path names inside it are
    rewritten by the caller); returns (argv, environment)."""
    home = scratch.parent / "home"
    home.mkdir(exist_ok=True)
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                   "TMPDIR": str(home), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
                   "MPLCONFIGDIR": str(home / "matplotlib"), **(env or {})}
    return argv, environment


def run(argv: list[str], *, scratch: Path, grader: Path | None, limits: Limits, sandboxed: bool = True,
        env: dict[str, str] | None = None, cwd: str = WORK, secrets: tuple[Path, ...] = (),
        on_line=None, quiet_seconds: float | None = None) -> Outcome:
    """Run ``argv`` in the sandbox until it ends or ``limits.wall_seconds`` pass (then everything inside is
    killed); collect at most ``limits.output_bytes`` of its standard output. ``on_line(line)`` is called with
    each complete line as it arrives (from a reader thread) and may return True to stop the run early. With
    ``quiet_seconds``, the run is also stopped when no line has come for that long (the overall deadline still
    holds however often lines come)."""
    if sandboxed:
        full = command(argv, scratch=scratch, grader=grader, cwd=cwd, env=env, secrets=secrets)
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        workdir = None
    else:
        full, environment = unconfined(argv, scratch=scratch, env=env)
        workdir = str(scratch / cwd[len(WORK):].lstrip("/")) if cwd.startswith(WORK) else str(scratch)
    start = time.monotonic()
    proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=environment, cwd=workdir, preexec_fn=_both(_limiter(limits), os.setsid),
                            close_fds=True)
    outcome = Outcome(returncode=None)
    stop = threading.Event()
    chunks: list[bytes] = []
    last_line = [time.monotonic()]

    def read() -> None:
        size, pending = 0, b""
        while True:
            chunk = proc.stdout.read1(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > limits.output_bytes:
                outcome.overflow = True
                break
            chunks.append(chunk)
            if on_line is not None:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    last_line[0] = time.monotonic()
                    if on_line(line):
                        stop.set()
        stop.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = start + limits.wall_seconds
        while not stop.wait(0.05):
            now = time.monotonic()
            if now > deadline or (quiet_seconds is not None and now > last_line[0] + quiet_seconds):
                outcome.timed_out = True
                break
    finally:
        kill(proc)
        outcome.returncode = proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()
    if outcome.timed_out:
        outcome.returncode = None
    outcome.output = b"".join(chunks)
    outcome.seconds = time.monotonic() - start
    return outcome


def _both(first, second):
    def apply() -> None:
        second()
        first()

    return apply


def kill(proc: subprocess.Popen) -> None:
    """End ``proc`` and its whole process group (with bwrap, its pid namespace dies with it)."""
    for target in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
        try:
            target()
        except (ProcessLookupError, PermissionError, OSError):
            pass
