"""Grading a class on several machines: each grades one slice of the class (a shard) in a course
directory of its own and writes a result file; :func:`merge` then writes every result into the
course's gradebook, as if one machine had graded the whole class.

A result file is a zip archive that does not depend on the database the shard graded into:
``result.json`` holds every graded submission (student, assignment, timestamp, extension, and per
notebook its late penalty, flag, each grade's auto, manual and extra-credit scores and whether it
needs grading by hand, and each comment) and the summary's lines; ``autograded/<student>/
<assignment>/`` holds the autograded notebooks and ``timestamp.txt``. :func:`merge` treats a result
as untrusted: it refuses links, paths outside that layout, files too large, malformed JSON or
notebooks, and assignments, notebooks or cells this gradebook lacks, before it writes anything.

Example (on each of N machines, then on the course's own):

    python -m dlparallel.grading autograde ps1_backprop --shard 0/4 --result shard0.zip
    python -m dlparallel.grading merge shard*.zip
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import stat
import tempfile
import types
import typing
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .autograde import MAX_NOTEBOOK_BYTES, SubmissionReport, notebook_problems
from .gradebook import course_directory, open_gradebook

__all__ = ["Shard", "ResultError", "write_result", "read_result", "merge"]

FORMAT = "dlparallel-grading-result"
VERSION = 1
RESULT_JSON = "result.json"
MAX_RESULT_JSON_BYTES = 256 * 2**20
TIMESTAMP = "timestamp.txt"
_NAME = re.compile(r"[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,127}")  # one path component, not hidden
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (from 0) of ``count`` slices of a class.

    Example:
        >>> shard = Shard.parse("1/3")
        >>> shard.of(["dan", "alice", "carol", "bob", "erin"])  # sorted, then every third from the second
        ['bob', 'erin']
        >>> Shard.parse("3/3")
        Traceback (most recent call last):
        ...
        ValueError: shard 3/3: I must be 0 to 2 (I/N counts from 0)
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"``, with 0 <= I < N; a ValueError that says why otherwise."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ValueError(f"shard {text!r} is not I/N (the I-th of N slices, I from 0), e.g. 0/4")
        index, count = int(match[1]), int(match[2])
        if count < 1:
            raise ValueError(f"shard {text}: N must be at least 1")
        if index >= count:
            raise ValueError(f"shard {text}: I must be 0 to {count - 1} (I/N counts from 0)")
        return cls(index, count)

    def of(self, students: Iterable[str]) -> list[str]:
        """This shard's students: every N-th of the sorted ``students``, from the I-th."""
        return sorted(students)[self.index::self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class ResultError(ValueError):
    """A result file that cannot be merged (unreadable, malformed, hostile, or for other assignments)."""


@dataclass
class GradeRecord:
    name: str
    auto_score: float | None
    manual_score: float | None
    extra_credit: float | None
    needs_manual_grade: bool


@dataclass
class CommentRecord:
    name: str
    auto_comment: str | None
    manual_comment: str | None


@dataclass
class NotebookRecord:
    name: str
    late_submission_penalty: float | None
    flagged: bool
    grades: list[GradeRecord]
    comments: list[CommentRecord]


@dataclass
class StudentRecord:
    id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    lms_user_id: str | None


@dataclass
class SubmissionRecord:
    student: StudentRecord
    assignment: str
    timestamp: str | None  # ISO 8601, UTC
    extension_seconds: float | None
    notebooks: list[NotebookRecord]


@dataclass
class ResultFile:
    """What a result file holds, checked: its submissions, its summary and its files (archive name ->
    (student, assignment, file name))."""

    submissions: list[SubmissionRecord]
    reports: list[SubmissionReport]
    files: dict[str, tuple[str, str, str]]


def _record(submission) -> SubmissionRecord:
    """A gradebook's ``SubmittedAssignment`` as plain data."""
    student = submission.student
    return SubmissionRecord(
        StudentRecord(student.id, student.first_name, student.last_name, student.email, student.lms_user_id),
        submission.assignment.name,
        submission.timestamp.isoformat() if submission.timestamp else None,
        submission.extension.total_seconds() if submission.extension is not None else None,
        [NotebookRecord(nb.name, nb.late_submission_penalty, bool(nb.flagged),
                        [GradeRecord(g.name, g.auto_score, g.manual_score, g.extra_credit, bool(g.needs_manual_grade))
                         for g in sorted(nb.grades, key=lambda g: g.name)],
                        [CommentRecord(c.name, c.auto_comment, c.manual_comment)
                         for c in sorted(nb.comments, key=lambda c: c.name)])
         for nb in sorted(submission.notebooks, key=lambda nb: nb.name)])


def write_result(path: Path | str, root: Path | str, reports: Sequence[SubmissionReport],
                 options: Sequence[str] = ()) -> int:
    """Write the grades and autograded notebooks of the submissions ``reports`` name, as the
    gradebook of course directory ``root`` (given nbgrader ``options``) holds them, to the result
    file ``path`` (replaced whole, never half-written); return how many submissions it holds."""
    from nbgrader.api import MissingEntry

    root, path = Path(root), Path(path)
    with open_gradebook(root, options) as gradebook:
        submissions = []
        for report in reports:
            try:
                submissions.append(_record(gradebook.find_submission(report.assignment, report.student)))
            except MissingEntry:
                continue  # not graded: nothing to merge; the summary says why
    document = {"format": FORMAT, "version": VERSION, "submissions": [asdict(s) for s in submissions],
                "reports": [asdict(r) for r in reports]}
    partial = path.with_name(f".{path.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(RESULT_JSON, json.dumps(document, indent=1))
        for s in submissions:
            folder = root / "autograded" / s.student.id / s.assignment
            for name in [f"{nb.name}.ipynb" for nb in s.notebooks] + [TIMESTAMP]:
                if (folder / name).is_file() and not (folder / name).is_symlink():
                    archive.write(folder / name, f"autograded/{s.student.id}/{s.assignment}/{name}")
    os.replace(partial, path)
    return len(submissions)


def _typed(kind, value: object, where: str):
    """``value`` (parsed JSON) as ``kind`` (a type hint of the records above), or a ResultError."""
    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else ()
    if options:
        if value is None and type(None) in options:
            return None
        kind = next(k for k in options if k is not type(None))
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ResultError(f"{where} is not a JSON object")
        hints = typing.get_type_hints(kind)
        missing = [f.name for f in dataclasses.fields(kind) if f.name not in value]
        if missing:
            raise ResultError(f"{where} lacks {', '.join(missing)}")
        return kind(**{f.name: _typed(hints[f.name], value[f.name], f"{where}.{f.name}")
                       for f in dataclasses.fields(kind)})
    if typing.get_origin(kind) is list:
        if not isinstance(value, list):
            raise ResultError(f"{where} is not a list")
        return [_typed(typing.get_args(kind)[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ResultError(f"{where} is not a finite number")
        return float(value)
    if not isinstance(value, kind):
        raise ResultError(f"{where} is not of type {kind.__name__}")
    return value


def _check_names(result: list[SubmissionRecord]) -> None:
    seen = set()
    for i, s in enumerate(result):
        names = [s.student.id, s.assignment, *(nb.name for nb in s.notebooks)]
        bad = [n for n in names if not _NAME.fullmatch(n)]
        if bad:
            raise ResultError(f"submission {i} names {bad[0]!r}, which is not a plain file name")
        if (s.student.id, s.assignment) in seen:
            raise ResultError(f"{s.student.id}'s {s.assignment} appears twice")
        seen.add((s.student.id, s.assignment))
        if s.timestamp is not None:
            try:
                datetime.fromisoformat(s.timestamp)
            except ValueError:
                raise ResultError(f"{s.student.id}'s timestamp {s.timestamp!r} is not ISO 8601") from None


def _member_problem(info: zipfile.ZipInfo, limit: int) -> str:
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return "is a link or not a regular file"
    if info.file_size > limit:
        return f"is larger than {limit // 2**20} MB"
    return ""


def read_result(path: Path | str) -> ResultFile:
    """The checked contents of the result file ``path``; a ResultError that says what is wrong
    (not a result, malformed, a link, a path outside ``autograded/<student>/<assignment>/``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise ResultError("it holds the same path twice")
            if RESULT_JSON not in names:
                raise ResultError(f"it holds no {RESULT_JSON}: not a grading result")
            info = archive.getinfo(RESULT_JSON)
            problem = _member_problem(info, MAX_RESULT_JSON_BYTES)
            if problem:
                raise ResultError(f"{RESULT_JSON} {problem}")
            document = json.loads(archive.read(info).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ResultError(f"it is not a readable result file ({error.__class__.__name__}: {error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ResultError(f"its {RESULT_JSON} is not a grading result")
    if document.get("version") != VERSION:
        raise ResultError(f"it is of version {document.get('version')!r}; this grader reads version {VERSION}")
    submissions = _typed(list[SubmissionRecord], document.get("submissions"), "submissions")
    reports = _typed(list[SubmissionReport], document.get("reports"), "reports")
    _check_names(submissions)
    for report in reports:  # printed in the merged summary: plain names, no terminal control characters
        if not (_NAME.fullmatch(report.student) and _NAME.fullmatch(report.assignment)):
            raise ResultError(f"a summary line names {report.student!r}, which is not a plain file name")
        report.status = _CONTROL.sub("?", report.status)
        report.attention = [_CONTROL.sub("?", line) for line in report.attention]
    allowed = {f"autograded/{s.student.id}/{s.assignment}/{name}": (s.student.id, s.assignment, name)
               for s in submissions for name in [f"{nb.name}.ipynb" for nb in s.notebooks] + [TIMESTAMP]}
    files = {}
    for info in infos:
        if info.filename == RESULT_JSON:
            continue
        if info.filename not in allowed:
            raise ResultError(f"it holds {info.filename!r}, which is not an autograded file of a submission "
                              f"it grades (autograded/<student>/<assignment>/<notebook>.ipynb or {TIMESTAMP})")
        problem = _member_problem(info, MAX_NOTEBOOK_BYTES)
        if problem:
            raise ResultError(f"{info.filename} {problem}")
        files[info.filename] = allowed[info.filename]
    return ResultFile(submissions, reports, files)


def _check_against(gradebook, submissions: list[SubmissionRecord]) -> None:
    """A ResultError unless every assignment, notebook and cell of ``submissions`` is in ``gradebook``
    as graded (the same release)."""
    from nbgrader.api import MissingEntry

    for s in submissions:
        try:
            assignment = gradebook.find_assignment(s.assignment)
        except MissingEntry:
            raise ResultError(f"this gradebook has no assignment {s.assignment!r}: release it here "
                              f"(make release ASSIGNMENTS={s.assignment}) before merging its grades") from None
        notebooks = {nb.name: nb for nb in assignment.notebooks}
        for record in s.notebooks:
            notebook = notebooks.get(record.name)
            if notebook is None:
                raise ResultError(f"{s.assignment} has no notebook {record.name!r} in this gradebook")
            grades = {c.name for c in [*notebook.grade_cells, *notebook.task_cells]}
            comments = {c.name for c in [*notebook.solution_cells, *notebook.task_cells]}
            if {g.name for g in record.grades} != grades or {c.name for c in record.comments} != comments:
                raise ResultError(f"{s.student.id}'s {s.assignment}/{record.name} was graded against other cells "
                                  "than this gradebook's: grade every shard from the same release")


def _write_grades(gradebook, s: SubmissionRecord) -> None:
    from nbgrader.api import MissingEntry
    from sqlalchemy.exc import SAWarning

    try:
        gradebook.find_student(s.student.id)
    except MissingEntry:
        gradebook.add_student(s.student.id, **{k: v for k, v in asdict(s.student).items() if k != "id"})
    extension = None if s.extension_seconds is None else timedelta(seconds=s.extension_seconds)
    with warnings.catch_warnings():  # nbgrader's add_submission, under SQLAlchemy 2: harmless autoflush warnings
        warnings.simplefilter("ignore", SAWarning)
        gradebook.update_or_create_submission(s.assignment, s.student.id, timestamp=s.timestamp, extension=extension)
    for record in s.notebooks:
        notebook = gradebook.find_submission_notebook(record.name, s.assignment, s.student.id)
        notebook.late_submission_penalty = record.late_submission_penalty
        notebook.flagged = record.flagged
        for g in record.grades:
            grade = gradebook.find_grade(g.name, record.name, s.assignment, s.student.id)
            grade.auto_score, grade.manual_score = g.auto_score, g.manual_score
            grade.extra_credit, grade.needs_manual_grade = g.extra_credit, g.needs_manual_grade
        for c in record.comments:
            comment = gradebook.find_comment(c.name, record.name, s.assignment, s.student.id)
            comment.auto_comment, comment.manual_comment = c.auto_comment, c.manual_comment
    gradebook.db.commit()


def _unpack(path: Path, result: ResultFile, into: Path) -> None:
    """Extract the result's files under ``into``/<student>/<assignment>/, each notebook checked."""
    with zipfile.ZipFile(path) as archive:
        for member, (student, assignment, name) in result.files.items():
            with archive.open(member) as file:
                data = file.read(MAX_NOTEBOOK_BYTES + 1)
            problems = notebook_problems(data) if name.endswith(".ipynb") else []
            if len(data) > MAX_NOTEBOOK_BYTES or problems:
                raise ResultError(f"{member} is not a notebook this grader accepts: "
                                  f"{problems[0] if problems else 'too large'}")
            (into / student / assignment).mkdir(parents=True, exist_ok=True)
            (into / student / assignment / name).write_bytes(data)


def merge(path: Path | str, root: Path | str = ".", options: Sequence[str] = ()) -> ResultFile:
    """Write the result file ``path`` into the gradebook of course directory ``root`` (as configured,
    given nbgrader ``options``) and its autograded notebooks into ``root/autograded/``, replacing what
    was there for the same submissions (merging twice changes nothing). Everything is checked first:
    a ResultError, and nothing written, when any of it is wrong."""
    from sqlalchemy.engine import make_url

    path, root = Path(path), Path(root).resolve()
    result = read_result(path)
    url = make_url(course_directory(root, options).db_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise ResultError(f"there is no gradebook at {url.database}: release the assignments "
                          "in this course directory first (make release)")
    (root / "autograded").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".merging-", dir=root) as staging:
        _unpack(path, result, Path(staging))
        with open_gradebook(root, options) as gradebook:
            _check_against(gradebook, result.submissions)
            for submission in result.submissions:
                _write_grades(gradebook, submission)
        for s in result.submissions:
            target = root / "autograded" / s.student.id / s.assignment
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = Path(staging) / s.student.id / s.assignment
            staged.mkdir(parents=True, exist_ok=True)  # a submission without files: an empty folder
            staged.rename(target)
    return result
