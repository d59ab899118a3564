"""Find the submissions in a folder: one folder per student, or the zip files an LMS exports.

Recognized file names (the student's name becomes the student id, in lower case, with anything other than
letters, digits, ``-`` and ``_`` turned into ``_``):

- Canvas: ``<name>[_LATE]_<user id>_<submission id>_<file>.zip``, e.g. ``doejane_123456_7890123_course.zip``;
  a resubmission of the same file gets a ``-1``, ``-2`` ... before ``.zip``.
- Moodle: ``<Full Name>_<participant id>_assignsubmission_file_<file>.zip``, or a folder of that name holding
  the zip.
- Anything else: ``<student>.zip``, or a folder ``<student>/`` holding a copy of ``course/``.

**Several attempts by one student: the newest wins.** Attempts are ordered by the LMS's numbers in the file name
(Canvas's submission id, then its ``-N`` resubmission suffix), then by the file's modification time, then by
name; the last one is graded and the others are listed in the student's status.

Extraction is defensive: no absolute paths, no ``..``, no links, at most ``MAX_FILES`` files and
``MAX_BYTES`` bytes unpacked. Nothing is ever written into the submissions folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .paths import PACKAGE

MAX_FILES = 2000
MAX_BYTES = 200 << 20

CANVAS = re.compile(r"^(?P<name>[^_]+?)(?:_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+?)(?:-(?P<retry>\d+))?$")
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_file_(?P<file>.*)$")


class IntakeError(Exception):
    """A submission cannot be opened (a corrupt or hostile zip); the message says why, for the instructor."""


@dataclass
class Submission:
    student: str                 # the student id used everywhere in the output
    path: Path                   # the folder or zip that is graded
    attempts: list[Path] = field(default_factory=list)  # every file found for this student, oldest first

    @property
    def note(self) -> str:
        if len(self.attempts) < 2:
            return ""
        others = ", ".join(p.name for p in self.attempts if p != self.path)
        return f"{len(self.attempts)} attempts; graded the newest, {self.path.name} (not: {others})"


def student_id(raw: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]+", "_", raw.strip().lower()).strip("_")
    return cleaned or "unnamed"


def _identify(path: Path) -> tuple[str, tuple]:
    """(student id, ordering key) for one entry of the submissions folder."""
    stem = path.name[:-4] if path.suffix.lower() == ".zip" else path.name
    mtime = path.lstat().st_mtime
    match = MOODLE.match(stem)
    if match:
        return student_id(match["name"]), (int(match["participant"]), 0, mtime, path.name)
    match = CANVAS.match(stem)
    if match and path.suffix.lower() == ".zip":
        return student_id(match["name"]), (int(match["submission"]), int(match["retry"] or 0), mtime, path.name)
    return student_id(stem), (0, 0, mtime, path.name)


def discover(folder: Path) -> list[Submission]:
    """Every student's newest submission in ``folder``, sorted by student id."""
    by_student: dict[str, list[tuple[tuple, Path]]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name.startswith("__MACOSX"):
            continue
        if entry.is_dir() and MOODLE.match(entry.name):
            zips = sorted(entry.glob("*.zip"))
            if len(zips) == 1 and not (entry / PACKAGE).exists():
                entry_name, key = _identify(entry)
                by_student.setdefault(entry_name, []).append((key, zips[0]))
                continue
        if not (entry.is_dir() or entry.suffix.lower() == ".zip"):
            continue
        name, key = _identify(entry)
        by_student.setdefault(name, []).append((key, entry))
    submissions = []
    for name, found in sorted(by_student.items()):
        ordered = [path for _, path in sorted(found, key=lambda item: item[0])]
        submissions.append(Submission(name, ordered[-1], ordered))
    return submissions


def _walk(top: Path):
    """(relative path, lstat) of every entry below ``top``, links never followed, in a stable order."""
    for folder, dirs, files in os.walk(top, followlinks=False):
        dirs.sort()
        for name in sorted(dirs + files):
            path = Path(folder) / name
            yield path.relative_to(top), os.lstat(path)


def _read_regular(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        return f.read(MAX_BYTES + 1)


def fingerprint(path: Path) -> str:
    """A hash of a submission's content (file names and bytes), to recognize it when grading again. Links,
    devices and pipes count by their name and kind only: they are never opened."""
    digest = hashlib.sha256()
    if path.is_file() and not path.is_symlink():
        digest.update(hashlib.sha256(_read_regular(path)).digest())
        return digest.hexdigest()
    for relative, info in _walk(path):
        digest.update(relative.as_posix().encode() + b"\0" + str(stat.S_IFMT(info.st_mode)).encode())
        if stat.S_ISREG(info.st_mode):
            digest.update(hashlib.sha256(_read_regular(path / relative)).digest())
        elif stat.S_ISLNK(info.st_mode):
            digest.update(os.readlink(path / relative).encode("utf-8", "replace"))
    return digest.hexdigest()


NOTES = ".intake-notes.json"


def materialize(submission: Submission, destination: Path) -> Path:
    """A private copy of the submission in ``destination``; returns the folder that holds the course.

    A folder is copied file by file: regular files and folders only, never following a link (links, devices,
    pipes and sockets are left out, with a note, see :func:`notes`), at most ``MAX_FILES`` files and
    ``MAX_BYTES`` bytes."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    if submission.path.is_dir() and not submission.path.is_symlink():
        skipped = copy_regular(submission.path, destination / "files")
        if skipped:
            (destination / NOTES).write_text(json.dumps(skipped))
    elif submission.path.is_symlink():
        raise IntakeError("the submission is a link, not a folder or a zip file")
    else:
        _extract(submission.path, destination / "files")
    return find_course_root(destination / "files")


def notes(destination: Path) -> list[str]:
    """What :func:`materialize` left out of the copy, in words."""
    try:
        skipped = json.loads((destination / NOTES).read_text())
    except (OSError, ValueError):
        return []
    shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return [f"ignored {len(skipped)} link(s) or special file(s) in the submission: {shown}"]


def copy_regular(source: Path, target: Path, *, what: str = "the submission", max_files: int = MAX_FILES,
                 max_bytes: int = MAX_BYTES, skip_suffixes: tuple[str, ...] = ()) -> list[str]:
    """Copy the folders and regular files of ``source`` to ``target``, never following a link; returns the
    links and special files (devices, pipes, sockets) left out. Caches are left out too, and files ending in
    ``skip_suffixes``. Raises :class:`IntakeError` past ``max_files`` files or ``max_bytes`` bytes."""
    skipped, count, size = [], 0, 0
    target.mkdir(parents=True, exist_ok=True)
    for relative, info in _walk(source):
        if any(part in ("__pycache__", ".ipynb_checkpoints") for part in relative.parts):
            continue
        if stat.S_ISDIR(info.st_mode):
            (target / relative).mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(info.st_mode):
            if relative.name.endswith(skip_suffixes):
                continue
            count, size = count + 1, size + info.st_size
            if count > max_files:
                raise IntakeError(f"{what} holds more than {max_files} files")
            if size > max_bytes:
                raise IntakeError(f"{what} is larger than {max_bytes >> 20} MB")
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_bytes(_read_regular(source / relative))
        else:
            kind = "link" if stat.S_ISLNK(info.st_mode) else "special file"
            skipped.append(f"{relative.as_posix()} ({kind})")
    return skipped


def _extract(archive: Path, target: Path) -> None:
    if not stat.S_ISREG(archive.lstat().st_mode):
        raise IntakeError("the submission is not a regular zip file (a link, a device or a pipe)")
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_FILES:
                raise IntakeError(f"the zip holds {len(members)} files, more than {MAX_FILES}")
            if sum(m.file_size for m in members) > MAX_BYTES:
                raise IntakeError(f"the zip unpacks to more than {MAX_BYTES >> 20} MB")
            target.mkdir(parents=True)
            for member in members:
                name = member.filename
                parts = Path(name).parts
                if name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name):
                    raise IntakeError(f"the zip holds an unsafe path: {name!r}")
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise IntakeError(f"the zip holds a link: {name!r}")
                if parts and parts[0] == "__MACOSX":
                    continue
                destination = target.joinpath(*parts)
                if member.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise IntakeError(f"the zip file is corrupt or unreadable ({exc})") from exc


def find_course_root(top: Path) -> Path:
    """The folder that holds ``optimlab/`` or the unit folders: ``top`` itself, or a single folder inside it."""
    for candidate in [top, *sorted(p for p in top.rglob("*") if p.is_dir() and len(p.relative_to(top).parts) <= 3)]:
        if (candidate / PACKAGE).is_dir() or any(candidate.glob("[0-9][0-9]_*/*.ipynb")):
            return candidate
    return top
