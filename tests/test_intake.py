"""Finding submissions: student folders, Canvas and Moodle zip files, several attempts, hostile zips."""

import os
import zipfile

import pytest

from autograder import intake


def _zip(path, files: dict[str, bytes], mtime: float | None = None):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


COURSE = {"course/optimlab/__init__.py": b"", "course/01_gradient_descent/gradient_descent.ipynb": b"{}"}


def test_folders_and_lms_zips_become_one_submission_per_student(tmp_path):
    (tmp_path / "Alice").mkdir()
    _zip(tmp_path / "doejane_123456_7890123_course.zip", COURSE)
    _zip(tmp_path / "doejane_LATE_123456_7890555_course.zip", COURSE)
    _zip(tmp_path / "Ada Lovelace_4242_assignsubmission_file_course.zip", COURSE)
    (tmp_path / "Grace Hopper_77_assignsubmission_file_").mkdir()
    _zip(tmp_path / "Grace Hopper_77_assignsubmission_file_" / "mywork.zip", COURSE)
    _zip(tmp_path / "bob.zip", COURSE)
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / ".DS_Store").write_text("")
    found = {s.student: s for s in intake.discover(tmp_path)}
    assert sorted(found) == ["ada_lovelace", "alice", "bob", "doejane", "grace_hopper"]
    assert found["doejane"].path.name == "doejane_LATE_123456_7890555_course.zip"
    assert "2 attempts; graded the newest" in found["doejane"].note
    assert found["grace_hopper"].path.name == "mywork.zip"


def test_the_newest_attempt_wins_by_the_documented_rule(tmp_path):
    _zip(tmp_path / "doejane_1_100_course.zip", COURSE, mtime=3000)      # oldest submission id, newest file
    _zip(tmp_path / "doejane_1_200_course.zip", COURSE, mtime=1000)
    _zip(tmp_path / "doejane_1_200_course-1.zip", COURSE, mtime=500)     # Canvas resubmission of id 200
    _zip(tmp_path / "Jo Ng_9_assignsubmission_file_a.zip", COURSE, mtime=1000)
    _zip(tmp_path / "Jo Ng_9_assignsubmission_file_b.zip", COURSE, mtime=2000)   # same id: newer file wins
    found = {s.student: s for s in intake.discover(tmp_path)}
    assert found["doejane"].path.name == "doejane_1_200_course-1.zip"
    assert found["jo_ng"].path.name == "Jo Ng_9_assignsubmission_file_b.zip"


def test_a_zip_is_unpacked_to_the_folder_that_holds_the_course(tmp_path):
    archive = _zip(tmp_path / "x.zip", COURSE)
    root = intake.materialize(intake.Submission("x", archive), tmp_path / "work")
    assert (root / "optimlab" / "__init__.py").exists() and root.name == "course"


@pytest.mark.parametrize("name, complaint", [
    ("../evil.py", "unsafe path"),
    ("/etc/evil.py", "unsafe path"),
    ("course/../../evil.py", "unsafe path"),
])
def test_hostile_zip_paths_are_refused(tmp_path, name, complaint):
    archive = _zip(tmp_path / "x.zip", {name: b"boom"})
    with pytest.raises(intake.IntakeError, match=complaint):
        intake.materialize(intake.Submission("x", archive), tmp_path / "work")
    assert not (tmp_path / "evil.py").exists()


def test_a_zip_bomb_is_refused(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("course/big.bin", b"\0" * (intake.MAX_BYTES + 1))
    with pytest.raises(intake.IntakeError, match="more than"):
        intake.materialize(intake.Submission("x", archive), tmp_path / "work")


def test_a_link_in_a_zip_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as z:
        info = zipfile.ZipInfo("course/optimlab/gd.py")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    with pytest.raises(intake.IntakeError, match="link"):
        intake.materialize(intake.Submission("x", archive), tmp_path / "work")


def test_a_corrupt_zip_is_reported(tmp_path):
    archive = tmp_path / "x.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(intake.IntakeError, match="corrupt"):
        intake.materialize(intake.Submission("x", archive), tmp_path / "work")
