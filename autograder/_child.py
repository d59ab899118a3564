"""The child side of the isolated package grader. Not imported: run as a script by :mod:`autograder.sandbox`.

    python -I -B _child.py REQUEST.json

For each function the grader asks about, it imports the student's ``optimlab.<module>`` from a scratch copy,
calls the function on each case the grader sent, and writes the raw observations as one JSON line to its original
standard output (with a line before the import and before the calls, so the parent knows what was running when
something went wrong). It never sees expected values and
never decides pass or fail: the parent does, outside this process.

It runs inside the operating-system sandbox (:mod:`autograder.jail`), which is the boundary: the disk it sees
holds nothing but the Python installation, the grader's public files and this student's scratch copy. Before any
student code runs, it also forbids itself to create processes (:mod:`autograder.seccomp`), and, as a second layer
that only makes failures clearer, an audit hook confines the process: files may be read only from the scratch copy
and the Python installation, written only inside the scratch copy; no processes, sockets, native libraries,
tracing, or garbage-collector walks (the only way back to the hook itself). Breaking a rule ends the process at once with a report of what it tried.
"""

import json
import os
import sys

VIOLATION_EXIT = 86
READ_ONLY_DEVICES = ("/dev/null", "/dev/urandom", "/dev/random", "/proc/self/", "/proc/cpuinfo",
                     "/sys/devices/system/cpu/", "/sys/fs/cgroup/")
FORBIDDEN_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                    "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "socket.",
                    "ctypes.", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.settrace", "sys.setprofile", "sys.addaudithook",
                    "sys.monitoring", "webbrowser.open", "winreg.", "mmap.__new__", "os.chroot", "os.setuid",
                    "urllib.Request", "http.client.connect", "ftplib.", "smtplib.", "imaplib.", "poplib.",
                    "telnetlib.")
PATH_EVENTS = {"os.listdir": 0, "os.scandir": 0, "glob.glob": 0, "os.chdir": 0}
WRITE_EVENTS = {"os.remove": 0, "os.rmdir": 0, "os.mkdir": 0, "os.rename": 0, "os.replace": 0, "os.link": 0,
                "os.symlink": 0, "os.truncate": 0, "os.chmod": 0, "os.chown": 0, "os.utime": 0,
                "shutil.rmtree": 0, "shutil.copyfile": 1, "shutil.move": 1, "shutil.copytree": 1}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _install_guard(scratch: str, report_fd: int) -> None:
    readable = tuple(sorted({os.path.realpath(p) + os.sep for p in
                             (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}))
    scratch = os.path.realpath(scratch) + os.sep
    write, exit_now, realpath, fspath = os.write, os._exit, os.path.realpath, os.fspath
    dumps = json.dumps

    def stop(what: str) -> None:
        write(report_fd, dumps({"violation": what[:300]}).encode() + b"\n")
        exit_now(VIOLATION_EXIT)

    def resolve(path) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            path = fspath(path)
            if isinstance(path, bytes):
                path = path.decode("utf-8", "replace")
            return realpath(path)
        except Exception:
            return "<unreadable path>"

    def inside(path: str, roots) -> bool:
        return (path + os.sep).startswith(roots) or path.startswith(READ_ONLY_DEVICES)

    def guard(event: str, args: tuple) -> None:
        if event == "open":
            path = resolve(args[0])
            if path is None:
                return
            mode, flags = args[1] or "r", args[2] or 0
            writing = any(c in str(mode) for c in "wax+") or bool(flags & WRITE_FLAGS)
            if writing and not (path + os.sep).startswith(scratch):
                stop(f"tried to write {path}, outside its scratch copy")
            if not writing and not inside(path, (scratch,) + readable):
                stop(f"tried to read {path}, outside its scratch copy")
        elif event.startswith(FORBIDDEN_EVENTS):
            stop(f"tried a forbidden operation ({event})")
        elif event in PATH_EVENTS and args:
            path = resolve(args[PATH_EVENTS[event]])
            if path is not None and not inside(path, (scratch,) + readable):
                stop(f"tried to look at {path}, outside its scratch copy")
        elif event in WRITE_EVENTS and args:
            path = resolve(args[WRITE_EVENTS[event]])
            if path is not None and not (path + os.sep).startswith(scratch):
                stop(f"tried to change {path}, outside its scratch copy")

    sys.addaudithook(guard)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    # What the grader needs is imported before any student code can interfere with it.
    import importlib
    import types

    import numpy  # noqa: F401  (the real one, before the scratch copy is on sys.path)

    with open(request["check_module"], encoding="utf-8") as f:
        check_code = compile(f.read(), request["check_module"], "exec")
    loaded = [0]

    def fresh_check():
        """A private copy of the checks, made after the student's module is imported, under a name found nowhere:
        what a student's module patched at import time cannot reach the code that records its results."""
        loaded[0] += 1
        module = types.ModuleType(f"_grader_check_{loaded[0]}")
        module.__file__ = request["check_module"]
        sys.modules[module.__name__] = module  # only while it runs its own definitions
        try:
            exec(check_code, module.__dict__)
        finally:
            del sys.modules[module.__name__]
        return module

    fresh_check()  # everything it imports is imported now, before any student code
    if request.get("forbid_processes", True):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import seccomp
        sys.path.pop(0)
        seccomp.forbid_new_processes()

    report_fd = os.dup(1)  # results go to the original stdout; the student's prints (out and err) go nowhere
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    os.chdir(request["scratch"])
    sys.path.insert(0, request["scratch"])
    sys.dont_write_bytecode = True
    if request.get("guard", True):
        _install_guard(request["scratch"], report_fd)

    def report(line: dict) -> None:
        view = memoryview(json.dumps(line, allow_nan=True).encode() + b"\n")
        while view:
            view = view[os.write(report_fd, view):]

    for job in request["jobs"]:  # one line per function, as soon as it is done
        line: dict = {"function": job["function"]}
        try:
            report({"importing": job["module"]})
            module = importlib.import_module(f"{request['package']}.{job['module']}")
            fn = getattr(module, job["function"])
            if not callable(fn):
                raise TypeError(f"{job['function']} is not a function but a {type(fn).__name__}")
        except BaseException as exc:  # noqa: BLE001 — whatever the student's module does at import is a result
            line["import_error"] = {"type": type(exc).__name__, "message": str(exc)[:500]}
        else:
            report({"running": job["function"]})
            check = fresh_check()
            line["observations"] = []
            for case in job["cases"]:
                try:
                    observation = check.collect(fn, case)
                except BaseException as exc:  # noqa: BLE001 — SystemExit, KeyboardInterrupt, MemoryError ...
                    observation = {"error": {"type": type(exc).__name__, "message": str(exc)[:500]}}
                line["observations"].append(observation)
        report(line)
    os._exit(0)


if __name__ == "__main__":
    main()
