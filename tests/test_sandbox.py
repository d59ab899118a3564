"""The operating-system boundary around student code, shown without the audit hook.

Every package attack here runs with the hook switched off (``guard=False``): what stops it is bubblewrap's
namespaces and the process filter, not Python. Each attack is the smallest code that does it. A test passes
when the attack changed nothing outside the student's scratch copy, learned nothing it should not see, left
nothing running, and did not hang the grader; the attacking function may keep its points only where the
attack did not change its result.
"""

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from autograder import grade, intake, jail, sandbox, seccomp
from conftest import ROOT, SOLUTIONS, needs_sandbox
from test_hostile import ALL, submission

pytestmark = needs_sandbox
OPEN = sandbox.Limits(cpu_seconds=3, wall_seconds=5.0, memory_bytes=1 << 30, guard=False)


def graded(root: Path, tmp_path: Path, limits: sandbox.Limits = OPEN) -> dict[str, dict]:
    return grade.grade_functions(root, seed=12345, student="student", work=tmp_path / "work", limits=limits)


def attack(tmp_path: Path, body: str) -> dict[str, dict]:
    """Grade a reference package whose gd_update first runs ``body`` (exceptions swallowed), then answers
    correctly."""
    code = "def gd_update(param, grad, *, lr):\n    try:\n" + textwrap.indent(textwrap.dedent(body), " " * 8) + (
        "\n    except BaseException:\n        pass\n    return param - lr * grad\n")
    return graded(submission(tmp_path, code=code), tmp_path)


def full_marks(results: dict) -> bool:
    return all(r["points"] == r["max"] for r in results.values())


def test_the_sandbox_is_available_here():
    assert jail.unavailable() is None


def test_the_repository_and_the_grader_side_do_not_exist_inside(tmp_path):
    # The function answers correctly only when it can see none of these.
    secret = tmp_path / "grading-seed"
    secret.write_text("42\n")
    paths = [str(ROOT / "solutions" / "optimlab" / "gd.py"), str(secret), str(ROOT / "autograder"),
             str(ROOT / ".git"), str(tmp_path), "/etc/passwd", "/etc/hostname", str(Path.home() / ".bashrc")]
    code = f"""
        def gd_update(param, grad, *, lr):
            import os
            seen = [p for p in {paths!r} if os.path.exists(p)]
            return param - lr * grad if not seen else param
        """
    assert full_marks(graded(submission(tmp_path, code=code), tmp_path))


@pytest.mark.parametrize("how", ["open", "rename", "link", "symlink", "dir_fd", "sqlite3", "truncate"])
def test_nothing_outside_the_scratch_copy_can_be_changed(tmp_path, how):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    check = SOLUTIONS / "optimlab" / "check.py"
    before = check.read_bytes()
    body = {
        "open": f"open({str(check)!r}, 'a').write('\\n# changed\\n'); open({str(victim)!r}, 'w').write('x')",
        "rename": f"import os; os.rename('optimlab/gd.py', {str(tmp_path / 'moved.py')!r})",
        "link": f"import os; os.link('optimlab/gd.py', {str(tmp_path / 'linked.py')!r})",
        "symlink": f"import os; os.symlink('/etc/passwd', {str(tmp_path / 'linked')!r})",
        "dir_fd": f"import os; fd = os.open({str(tmp_path)!r}, os.O_RDONLY); "
                  "os.close(os.open('victim.txt', os.O_WRONLY | os.O_TRUNC, dir_fd=fd))",
        "sqlite3": f"import sqlite3; sqlite3.connect({str(tmp_path / 'gradebook.db')!r}).execute('create table t(x)')",
        "truncate": f"import os; os.truncate({str(victim)!r}, 0)",
    }[how]
    results = attack(tmp_path, body)
    assert check.read_bytes() == before
    assert victim.read_text() == "untouched\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student", "victim.txt", "work"]
    assert full_marks(results)


@pytest.mark.parametrize("how", ["os.fork", "fork_exec", "subprocess", "os.system", "posix_spawn"])
def test_no_process_can_be_started_so_nothing_outlives_the_grading(tmp_path, how):
    marker = tmp_path / "daemon-wrote"
    script = f"import time; time.sleep(2); open({str(marker)!r}, 'w').write('late')"
    body = {
        "os.fork": f"import os\nif os.fork() == 0:\n    exec({script!r})\n    os._exit(0)",
        "fork_exec": ("import _posixsubprocess, os, sys\n"
                      f"_posixsubprocess.fork_exec([sys.executable, '-c', {script!r}], [sys.executable.encode()], "
                      "True, (), None, None, -1, -1, -1, -1, -1, -1, *os.pipe(), False, False, -1, None, None, "
                      "None, -1, None, False)"),
        "subprocess": f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {script!r}])",
        "os.system": f"import os, sys; os.system(sys.executable + ' -c ' + repr({script!r}) + ' &')",
        "posix_spawn": f"import os, sys; os.posix_spawn(sys.executable, [sys.executable, '-c', {script!r}], {{}})",
    }[how]
    results = attack(tmp_path, body)
    time.sleep(3)
    assert not marker.exists()
    assert full_marks(results)
    leftover = subprocess.run(["pgrep", "-f", str(marker)], capture_output=True, text=True).stdout
    assert leftover == ""


def test_the_disk_cannot_be_filled(tmp_path):
    body = """
        import os
        block = b"x" * (8 << 20)
        for folder in (".", "/tmp"):
            for i in range(200):          # 1.6 GB in 8 MB files, in each place
                with open(os.path.join(folder, f"fill{i}"), "wb") as f:
                    f.write(block)
        """
    results = attack(tmp_path, body)
    assert full_marks(results)
    written = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert written < 50 << 20, f"{written >> 20} MB written on the grader's disk"


def test_a_fork_bomb_is_refused(tmp_path):
    results = attack(tmp_path, "import os\nwhile True:\n    os.fork()")
    assert full_marks(results)   # every fork fails at once: the loop ends on the first OSError


def test_there_is_no_network(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(8)
    port = listener.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(_accept(listener)))
    thread.start()
    attack(tmp_path, f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')")
    thread.join()
    listener.close()
    assert accepted == [None]


def _accept(listener):
    try:
        return listener.accept()
    except OSError:
        return None


def test_the_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIMLAB_GRADER_SECRET", "s3cret")
    code = """
        def gd_update(param, grad, *, lr):
            import os
            leaked = "OPTIMLAB_GRADER_SECRET" in os.environ or any("s3cret" in v for v in os.environ.values())
            return param if leaked else param - lr * grad
        """
    assert full_marks(graded(submission(tmp_path, code=code), tmp_path))


def test_only_the_sandbox_processes_are_visible(tmp_path):
    code = f"""
        def gd_update(param, grad, *, lr):
            import os
            pids = [p for p in os.listdir("/proc") if p.isdigit()]
            return param - lr * grad if len(pids) <= 3 and not os.path.exists("/proc/{os.getpid()}/cwd") else param
        """
    assert full_marks(graded(submission(tmp_path, code=code), tmp_path))


# ----------------------------------------------------------------------------------------- the report channel


def test_forged_and_unknown_report_lines_cost_only_the_forger(tmp_path):
    body = """
        import json, os
        for fd in range(3, 20):
            try:
                for line in [{"function": "gd_update", "observations": "not a list"}, {"function": "no_such"},
                             {"importing": None}, {"function": "adam_update", "import_error": "x"}, [1, 2], "x"]:
                    os.write(fd, (json.dumps(line) + "\\n").encode())
                os.write(fd, b"\\xff\\xfe not json\\n")
            except OSError:
                pass
        """
    results = attack(tmp_path, body)
    assert sorted(results) == sorted(ALL)
    others = {name: r for name, r in results.items() if name != "gd_update"}
    assert all(r["points"] == r["max"] for r in others.values()), others


def test_a_trickle_of_newlines_cannot_keep_the_child_alive(tmp_path):
    code = """
        def gd_update(param, grad, *, lr):
            import os, time
            while True:
                for fd in range(3, 12):
                    try:
                        os.write(fd, b"\\n")
                    except OSError:
                        pass
                time.sleep(0.5)
        """
    limits = sandbox.Limits(cpu_seconds=3, wall_seconds=1.0, guard=False)
    start = time.monotonic()
    results = graded(submission(tmp_path, code=code), tmp_path, limits)
    assert time.monotonic() - start < 5 * len(ALL) + 10
    assert results["gd_update"]["points"] == 0 and "could not be graded" in results["gd_update"]["message"]


def test_a_flood_without_newlines_is_cut_at_the_limit(tmp_path):
    code = """
        def gd_update(param, grad, *, lr):
            import os
            block = b"x" * (1 << 20)
            for _ in range(2048):   # 2 GB, no newline
                for fd in range(3, 12):
                    try:
                        os.write(fd, block)
                    except OSError:
                        pass
        """
    limits = sandbox.Limits(cpu_seconds=20, wall_seconds=20.0, guard=False)
    results = graded(submission(tmp_path, code=code), tmp_path, limits)
    entry = results["gd_update"]
    assert entry["points"] == 0 and ("larger than" in entry["message"] or "more than" in entry["message"]), entry
    assert all(r["points"] == r["max"] for n, r in results.items() if n != "gd_update")


# ----------------------------------------------------------------------------------------- the process filter


def test_the_process_filter_refuses_processes_but_not_threads():
    code = textwrap.dedent("""
        import os, subprocess, sys, threading
        sys.path.insert(0, sys.argv[1])
        import seccomp
        seccomp.forbid_new_processes()
        t = threading.Thread(target=print, args=("thread",)); t.start(); t.join()
        for start in (os.fork, lambda: subprocess.run(["true"])):
            try:
                start()
                print("started")
            except OSError as exc:
                print("refused", exc.errno)
        """)
    if not seccomp.supported():
        pytest.skip("no process filter for this platform")
    out = subprocess.run([sys.executable, "-c", code, str(Path(seccomp.__file__).parent)], capture_output=True,
                         text=True, timeout=60).stdout.split("\n")
    assert out[:3] == ["thread", "refused 1", "refused 1"], out


# ----------------------------------------------------------------------------------------- intake


def test_links_and_special_files_in_a_folder_submission_are_never_followed(tmp_path):
    folder = tmp_path / "submissions" / "linker"
    (folder / "01_gradient_descent").mkdir(parents=True)
    os.symlink(SOLUTIONS / "optimlab", folder / "optimlab")
    os.symlink("/etc/passwd", folder / "01_gradient_descent" / "passwd.txt")
    os.symlink("/dev/zero", folder / "01_gradient_descent" / "zero.bin")
    os.mkfifo(folder / "01_gradient_descent" / "pipe")
    (folder / "01_gradient_descent" / "notes.txt").write_text("mine\n")
    start = time.monotonic()
    assert intake.fingerprint(folder)
    [found] = intake.discover(tmp_path / "submissions")
    root = intake.materialize(found, tmp_path / "copy")
    assert time.monotonic() - start < 10
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*"))
    assert "files/01_gradient_descent/notes.txt" in copied
    assert not any(name.endswith(("passwd.txt", "zero.bin", "pipe")) or "/optimlab" in name for name in copied)
    assert not (root / "optimlab").exists()
    [note] = intake.notes(tmp_path / "copy")
    assert "4 link(s) or special file(s)" in note and "optimlab (link)" in note


def test_a_submission_that_links_the_reference_package_scores_nothing(tmp_path):
    folder = tmp_path / "linker"
    folder.mkdir()
    os.symlink(SOLUTIONS / "optimlab", folder / "optimlab")
    submitted = intake.Submission("linker", folder, [folder])
    root = intake.materialize(submitted, tmp_path / "copy")
    results = grade.grade_functions(root, 1, "linker", tmp_path / "work", OPEN)
    assert all(r["points"] == 0 for r in results.values())
    assert all("no optimlab/ package" in r["message"] for r in results.values())


def test_a_secret_folder_inside_a_bound_folder_is_hidden():
    secret = Path("/usr/share/doc")
    if not any(secret.iterdir()):
        pytest.skip("no files in /usr/share/doc to hide")
    probe = "import os, sys; print(len(os.listdir(sys.argv[1])))"
    seen = subprocess.run(jail.command([sys.executable, "-I", "-c", probe, str(secret)], scratch=None,
                                       secrets=(secret,)), capture_output=True, text=True, timeout=60)
    assert seen.returncode == 0 and seen.stdout.strip() == "0", seen
    shown = subprocess.run(jail.command([sys.executable, "-I", "-c", probe, str(secret)], scratch=None),
                           capture_output=True, text=True, timeout=60)
    assert int(shown.stdout.strip()) > 0       # the same folder, not hidden, is visible: the probe can tell
