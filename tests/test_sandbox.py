"""Submissions that attack the grading machinery, graded for real, two at a time, each in its sandbox.

One problem set is released in a temporary course directory; the class holds the attackers of
tests/hostile_submissions.py (configuration and start-up files, disk and shared-memory fill, a
process flood, a daemon and a held output pipe, /proc reads, files and links shipped next to the
notebook, malformed notebooks, marker text in an answer) and innocent students graded after them.
Each must score exactly what it deserves, and nothing may be left running or on disk.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import hostile_submissions as hostile
from courses import ENV, autograded_points, course_of
from dlparallel.grading.cli import main as grading_main
from dlparallel.grading.autograde import SubmissionReport, format_summary, notebook_problems
from dlparallel.grading.bubblewrap import sandbox_problem
from dlparallel.grading.solutions import with_answers, worked_answers

ROOT = Path(__file__).resolve().parents[1]
PS = "ps1_backprop"
PROBLEM = sandbox_problem()
if PROBLEM and os.environ.get("CI"):
    raise RuntimeError(f"CI must grade in a sandbox: {PROBLEM}")
pytestmark = pytest.mark.skipif(bool(PROBLEM), reason=PROBLEM)

GRADED = ["persistence", "shipped_files", "innocent"]
DISK = 64 * 2**20  # each private folder of a kernel, for these tests (GuardedExecute.disk_limit)


def _points() -> dict[str, float]:
    return autograded_points(nbformat.read(ROOT / "source" / PS / f"{PS}.ipynb", as_version=4))


def _survivors() -> list[str]:
    """Command lines of processes on this machine that an attacker started."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(mark in command for mark in (hostile.ATTACK, "1234.5", "1234.6")):
            found.append(command)
    return found


@pytest.fixture(scope="module")
def course(released, tmp_path_factory):
    root = course_of(released, PS, tmp_path_factory.mktemp(PS))
    name = f"{PS}.ipynb"
    release = nbformat.read(root / "release" / PS / name, as_version=4)
    answers = worked_answers(nbformat.read(root / "source" / PS / name, as_version=4))
    notebooks = {"persistence": hostile.persistence(release, answers, None)[0],
                 "shipped_files": hostile.marker_text(release, answers, None)[0],  # and files next to it
                 "innocent": with_answers(release, answers)}
    for student, notebook in notebooks.items():
        (root / "submitted" / student / PS).mkdir(parents=True)
        nbformat.write(notebook, root / "submitted" / student / PS / name)
    shipped = root / "submitted" / "shipped_files" / PS
    for path, text in hostile.SHIPPED.items():
        (shipped / path).parent.mkdir(parents=True, exist_ok=True)
        (shipped / path).write_text(text)
    for link, target in hostile.SHIPPED_LINKS.items():
        (shipped / link).symlink_to(root / target)
    malformed = hostile.malformed(release)
    for student, data in malformed.items():
        (root / "submitted" / student / PS).mkdir(parents=True)
        (root / "submitted" / student / PS / name).write_bytes(data)
    (root / "submitted" / "linked_notebook" / PS).mkdir(parents=True)
    (root / "submitted" / "linked_notebook" / PS / name).symlink_to(root / "source" / PS / name)
    config = hashlib.sha256((root / "nbgrader_config.py").read_bytes()).hexdigest()
    order = ["persistence", "shipped_files", *malformed, "linked_notebook", "innocent"]
    done = subprocess.run([sys.executable, "-m", "dlparallel.grading", "autograde", PS, "--jobs=2",
                           "--set=GuardedExecute.timeout=60", f"--set=GuardedExecute.disk_limit={DISK}",
                           *(f"--student={s}" for s in order)],
                          cwd=root, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"root": root, "summary": done.stdout, "malformed": list(malformed), "config": config}


def _scores(root: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(PS, student)
        return {g.name: g.score for nb in submission.notebooks for g in nb.grades}


def _printed(root: Path, student: str) -> str:
    notebook = nbformat.read(root / "autograded" / student / PS / f"{PS}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.parametrize("student, full", [("persistence", False), ("shipped_files", False), ("innocent", True)])
def test_each_student_scores_exactly_what_it_deserves(course, student, full):
    scores = _scores(course["root"], student)
    assert {g: scores[g] for g in _points()} == {g: p if full else 0.0 for g, p in _points().items()}


def test_two_at_a_time_leave_one_consistent_gradebook(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gradebook:
        submissions = gradebook.assignment_submissions(PS)
        assert sorted(s.student.id for s in submissions) == sorted(GRADED)
        assert all(len(s.notebooks) == 1 and len(s.notebooks[0].grades) == len(_points()) + 1 for s in submissions)


def test_malformed_and_linked_notebooks_fail_alone_with_a_reason(course):
    summary = course["summary"]
    reasons = {"cell_not_an_object": "cell 1 is not a JSON object",
               "grade_id_a_list": "nbgrader grade_id is not of type str",
               "nested_100000_deep": "nested too deeply", "linked_notebook": "is a link, not a notebook"}
    for student, reason in reasons.items():
        assert any(line.strip().startswith(f"{student} ({PS}):") and reason in line
                   for line in summary.splitlines()), (student, summary)
    rows = {line.split()[0]: line.split()[2:] for line in summary.splitlines()[1:] if line.strip() and
            not line.startswith(" ") and len(line.split()) > 2}
    assert {s: rows[s][0] for s in reasons} == dict.fromkeys(reasons, "failed")
    assert rows["innocent"][0] == "graded"


def test_the_kernel_saw_only_its_own_sandbox(course):
    printed = _printed(course["root"], "persistence")
    assert "other kernels 0" in printed and "graders seen 0" in printed, printed
    assert "connection files 1" in printed, printed
    assert "init environment []" in printed or "init environment unreadable" in printed, printed
    for folder, limit in ((course["root"] / "autograded" / "persistence" / PS, DISK), ("/dev/shm", DISK // 2),
                          ("/tmp", DISK)):
        line = next(x for x in printed.splitlines() if x.startswith(f"filled {folder} "))
        assert int(line.split()[2]) <= limit // 2**20, line
    assert "started 200 processes" in printed


def test_nothing_is_left_running_or_on_disk(course):
    root = course["root"]
    assert _survivors() == []
    assert not list(Path("/tmp").glob(f"{hostile.ATTACK}*")) and not list(Path("/dev/shm").glob(f"{hostile.ATTACK}*"))
    for student in GRADED:
        folder = root / "autograded" / student / PS
        assert sorted(p.name for p in folder.iterdir()) == [f"{PS}.ipynb"], student
        assert (folder / f"{PS}.ipynb").stat().st_size < 2_000_000
    assert hashlib.sha256((root / "nbgrader_config.py").read_bytes()).hexdigest() == course["config"]
    assert not (Path.home() / ".jupyter" / "nbgrader_config.py").exists()


def test_feedback_goes_past_marker_text_and_hides_what_the_history_printed(course):
    root = course["root"]
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", PS, "--force"],
                          cwd=root, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (root / "feedback" / "shipped_files" / PS / f"{PS}.html").read_text()
    assert "check_number(" not in page and "check_tensor(" not in page and "dlparallel.grading" not in page
    assert "output removed from the feedback" in page
    assert (root / "feedback" / "innocent" / PS / f"{PS}.html").is_file()


def test_grading_refuses_without_a_sandbox_unless_asked(tmp_path, monkeypatch, capsys):
    (tmp_path / "release" / PS).mkdir(parents=True)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no bwrap on PATH
    with pytest.raises(SystemExit) as stopped:
        grading_main(["autograde", PS, "--root", str(tmp_path)])
    assert stopped.value.code == 2 and "pass --unsandboxed" in capsys.readouterr().err
    assert grading_main(["autograde", PS, "--root", str(tmp_path), "--unsandboxed"]) == 0  # nobody to grade


def test_summary_says_when_the_class_was_graded_unsandboxed():
    report = SubmissionReport("alice", PS, "graded", 1.0, 2.0, sandboxed=False)
    assert "graded WITHOUT a sandbox" in format_summary([report])
    assert "graded WITHOUT a sandbox" not in format_summary([SubmissionReport("bob", PS, "graded", 1.0, 2.0)])


def test_notebook_checks_name_the_problem():
    assert notebook_problems(b"{}") == ["it is not a notebook (no list of cells)"]
    assert "larger than" in notebook_problems(b" " * (21 * 2**20))[0]
    assert notebook_problems(b'{"cells": [], "metadata": {}, "nbformat": 3}')[0].startswith("it is not an nbformat 4")
