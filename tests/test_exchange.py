"""The instructor's exchange workflow with real nbgrader runs, on problem set 2's release: a roster
imported, a due date set, two students submitting through the exchange (one after the due date),
`make collect`, Canvas's download collected by `nbgrader zip_collect`, the two graded in their
sandboxes, feedback released to the exchange and fetched by a student, and grades exported for
Canvas. nbgrader's apps run in this process (seconds each) except `make collect`, run as an
instructor runs it, and grading (`python -m dlparallel.grading autograde`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import (DbAssignmentAddApp, DbStudentImportApp, DbStudentListApp, ExportApp, FetchFeedbackApp,
                           GenerateFeedbackApp, ReleaseAssignmentApp, SubmitApp, ZipCollectApp)
from nbgrader.utils import notebook_hash

from courses import ENV, ROOT, course_of

from dlparallel.grading.release_feedback import SECRET, release_feedback
from dlparallel.grading.solutions import with_answers, worked_answers

PS = "ps2_matmul"
NOTEBOOK = f"{PS}.ipynb"
COURSE = "dlparallel"
ROSTER = [
    {"id": "alice", "first_name": "Alice", "last_name": "Liddell", "email": "alice@example.edu", "lms_user_id": "1001"},
    {"id": "bob", "first_name": "Bob", "last_name": "Smith", "email": "bob@example.edu", "lms_user_id": "1002"},
    {"id": "carol", "first_name": "Carol", "last_name": "Lee", "email": "carol@example.edu", "lms_user_id": "4242"},
    {"id": "dan", "first_name": "Dan", "last_name": "Ito", "email": "", "lms_user_id": "5151"},
]
# Canvas's download: carol's marked late, dan's re-uploaded (-1), and one of a Canvas user the roster lacks.
CANVAS_FILES = {"leecarol_late_4242_99001_ps2_matmul.ipynb": "carol", "itodan_5151_99002_ps2_matmul-1.ipynb": "dan",
                "strangerann_9999_99003_ps2_matmul.ipynb": None}
pytestmark = pytest.mark.timeout(300, func_only=True)


def _app(app_class, cwd: Path, *argv: str) -> str:
    """Run the nbgrader app ``app_class`` with ``argv`` in this process, in the folder ``cwd`` (whose
    nbgrader_config.py it reads, if any); what it printed."""
    printed = io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(printed):
        app = app_class()
        app.initialize(list(argv))
        app.start()
    return printed.getvalue()


def _student(home: Path, student: str, root: Path) -> list[str]:
    """What a student's nbgrader is told on a shared machine: the course, the exchange, its own cache."""
    return [f"--course={COURSE}", f"--student={student}", f"--Exchange.root={root / 'exchange'}",
            f"--Exchange.cache={home / '.cache'}"]


def _submit(home: Path, student: str, root: Path, notebook: nbformat.NotebookNode) -> None:
    (home / PS).mkdir(parents=True)
    nbformat.write(notebook, home / PS / NOTEBOOK)
    _app(SubmitApp, home, PS, *_student(home, student, root))


@dataclass(frozen=True)
class Course:
    root: Path
    homes: dict[str, Path]
    submitted: nbformat.NotebookNode
    listing: str
    collect_output: str
    zip_output: str
    held_back: list[str]


@pytest.fixture(scope="module")
def course(released, tmp_path_factory) -> Course:
    """Problem set 2 taken through the exchange workflow, step by step as the README's table has it."""
    tmp = tmp_path_factory.mktemp("exchange")
    root = course_of(released, PS, tmp / "course")
    _app(ReleaseAssignmentApp, root, PS)
    with open(root / "roster.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(ROSTER[0]))
        writer.writeheader()
        writer.writerows(ROSTER)
    _app(DbStudentImportApp, root, "roster.csv")
    listing = _app(DbStudentListApp, root)

    # Both submit the same answers; the due date falls between alice's submission and bob's.
    source = nbformat.read(root / "source" / PS / NOTEBOOK, as_version=4)
    release = nbformat.read(root / "release" / PS / NOTEBOOK, as_version=4)
    submitted = with_answers(release, {"concepts": worked_answers(source)["concepts"]})
    homes = {student: tmp / student for student in ("alice", "bob")}
    _submit(homes["alice"], "alice", root, submitted)
    due = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    _app(DbAssignmentAddApp, root, PS, f"--duedate={due}")
    _submit(homes["bob"], "bob", root, submitted)

    done = subprocess.run(["make", "--no-print-directory", "-C", str(root), "-f", str(ROOT / "Makefile"),
                           "-o", ".venv/.installed-course", f"BIN={ROOT / '.venv' / 'bin'}", f"ASSIGNMENTS={PS}",
                           "collect"], env=ENV, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"make collect failed:\n{done.stdout}\n{done.stderr}"

    archive = root / "downloaded" / PS / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as bundle:
        for name in CANVAS_FILES:
            bundle.writestr(name, nbformat.writes(release))
    logged = io.StringIO()
    with contextlib.redirect_stderr(logged):
        _app(ZipCollectApp, root, PS, "--force")

    graded = subprocess.run([sys.executable, "-m", "dlparallel.grading", "autograde", PS, "--student", "alice",
                             "--student", "bob", "--jobs", "2"], cwd=root, env=ENV, capture_output=True, text=True,
                            timeout=600, stdin=subprocess.DEVNULL)
    assert graded.returncode == 0, f"autograde failed:\n{graded.stdout}\n{graded.stderr}"
    _app(GenerateFeedbackApp, root, PS)
    # carol's feedback, as if her notebook from Canvas had been graded: it has no exchange submission.
    shutil.copytree(root / "feedback" / "alice" / PS, root / "feedback" / "carol" / PS,
                    ignore=shutil.ignore_patterns("submission_secret.txt"))
    held_back = release_feedback(PS, root)
    return Course(root, homes, submitted, listing, done.stdout + done.stderr, logged.getvalue(), held_back)


def test_collect_brings_each_exchange_submission_to_submitted(course):
    for student in course.homes:
        folder = course.root / "submitted" / student / PS
        assert nbformat.read(folder / NOTEBOOK, as_version=4) == course.submitted
        assert (folder / "timestamp.txt").is_file() and (folder / SECRET).is_file()
    assert "Collecting submission: bob ps2_matmul" in course.collect_output


def test_zip_collect_files_canvas_names_under_roster_ids(course):
    downloaded = course.root / "downloaded" / PS / "extracted" / "submissions"
    for name, student in CANVAS_FILES.items():
        assert (downloaded / name).is_file(), "the extracted download is kept"
        if student:
            assert (course.root / "submitted" / student / PS / NOTEBOOK).is_file(), name
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == ["alice", "bob", "carol", "dan"]
    assert "no student of the roster has Canvas user id 9999" in course.zip_output


def test_roster_import_lists_every_student(course):
    assert f"There are {len(ROSTER)} students in the database" in course.listing
    for s in ROSTER:
        assert f"{s['id']} ({s['last_name']}, {s['first_name']}) -- {s['email'] or None}, {s['lms_user_id']}" \
            in course.listing


def test_late_submission_loses_ten_percent_per_day(course):
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", COURSE) as gradebook:
        on_time = gradebook.find_submission(PS, "alice")
        late = gradebook.find_submission(PS, "bob")
        assert on_time.total_seconds_late == 0 and on_time.late_submission_penalty == 0
        assert 0 < late.total_seconds_late < 60, "bob submitted moments after the due date"
        assert late.score == on_time.score > 0
        assert late.late_submission_penalty == pytest.approx(0.1 * late.score), "one day started: 10%"


def test_release_feedback_reaches_the_student(course):
    assert course.held_back == ["carol"], "carol's submission came from Canvas, not the exchange"
    released = course.root / "exchange" / COURSE / "feedback"
    for student in course.homes:
        secret = (course.root / "submitted" / student / PS / SECRET).read_text()
        assert (released / f"{notebook_hash(secret=secret, notebook_id=PS)}.html").is_file(), student
    assert len(list(released.iterdir())) == len(course.homes)
    home = course.homes["alice"]
    _app(FetchFeedbackApp, home, PS, *_student(home, "alice", course.root))
    fetched = list((home / PS / "feedback").glob(f"*/{PS}.html"))
    assert len(fetched) == 1 and "BEGIN HIDDEN TESTS" not in fetched[0].read_text()


def test_canvas_export_has_each_student_and_the_late_penalty(course):
    _app(ExportApp, course.root, "--to=grades.csv")
    _app(ExportApp, course.root, "--exporter=dlparallel.grading.canvas.CanvasExportPlugin", "--to=canvas.csv")
    with open(course.root / "grades.csv", newline="") as file:
        score = {row["student_id"]: float(row["score"]) for row in csv.DictReader(file)}
    with open(course.root / "canvas.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", PS]
    assert rows[1] == ["Points Possible", "", "", "", "", "25"]
    assert rows[2:] == [
        ["Liddell, Alice", "1001", "", "alice", "", f"{score['alice']:g}"],
        ["Smith, Bob", "1002", "", "bob", "", f"{round(score['bob'], 2):g}"],
        ["Lee, Carol", "4242", "", "carol", "", ""],
        ["Ito, Dan", "5151", "", "dan", "", ""],
    ]
    assert 0 < score["bob"] < score["alice"]
