"""Autograde a whole class, each student in a sandbox, several at a time; one bad submission never
stops the rest.

Each student's submission is checked first (:func:`submission_problems`: a readable, well-formed
notebook of bounded size and nesting, made from the release, with no duplicated grade ids, and no
links), and only its notebooks (and ``timestamp.txt``) are copied to a private staging folder that
nbgrader grades from: files shipped next to a notebook never reach ``autograded/``. Each student is
then graded by ``nbgrader autograde ASSIGNMENT --student S`` in its own process with a time limit,
a memory limit, its output in a file, and private, empty Jupyter and IPython configuration, data
and runtime folders and home (so nothing a submission wrote can configure the grader; the course's
``nbgrader_config.py`` is the only configuration). Inside it,
:class:`dlparallel.grading.execute.GuardedExecute` runs the notebook in a bubblewrap sandbox and
scores what completed when the notebook hangs, crashes, floods output or tampers with the tests.

``jobs`` students are graded at once. The gradebook (nbgrader's configured ``CourseDirectory.db_url``,
SQLite by default: :mod:`dlparallel.grading.gradebook`) is written by one grading
process at a time: each holds a lock on it from its start to its end, except while its student's
kernel runs (:mod:`dlparallel.grading.gradebook_lock`), so kernels run in parallel and the
gradebook's transactions never overlap. The summary says who needs manual attention and why.
``submitted/`` is only read.

Example (from the course directory, after students' notebooks were put in ``submitted/``)::

    python -m dlparallel.grading autograde ps1_backprop --jobs 4
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import gradebook_lock
from .bubblewrap import PASSED_ENV, sandbox_problem
from .answer_key import AnswerKeyError, ensure_answer_key
from .execute import NOT_RUN
from .gradebook import open_gradebook
from .paths import python_first_path
from .sandbox import landlock_abi
from .verify import MISMATCH

__all__ = ["SubmissionReport", "submission_problems", "notebook_problems", "submitted_students", "autograde",
           "format_summary", "SandboxUnavailable", "AnswerKeyError", "UNSANDBOXED_WARNING", "ISOLATION_WARNING"]

UNSANDBOXED_WARNING = ("warning: graded WITHOUT a sandbox (--unsandboxed): each kernel ran as the grader, "
                       "with the grader's view of the machine")
ISOLATION_WARNING = ("warning: this machine's kernel has no Landlock either, so submissions could read the course's "
                     "files (source/, the gradebook, other students' work) while they were graded; grade "
                     "where bubblewrap runs")
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_JSON_DEPTH = 64
GRADER_MEMORY = 8 * 2**30  # data memory of one student's nbgrader process


class SandboxUnavailable(RuntimeError):
    """Bubblewrap cannot start a sandbox here, and grading without one was not asked for."""


@dataclass
class SubmissionReport:
    """What grading one student's submission of one assignment gave."""

    student: str
    assignment: str
    status: str  # "graded", "failed" or "timed out"
    score: float | None = None
    max_score: float | None = None
    attention: list[str] = field(default_factory=list)
    sandboxed: bool = True

    @property
    def needs_attention(self) -> bool:
        return self.status != "graded" or bool(self.attention)


# The notebook checks below read nbgrader's metadata by hand, not with nbgrader.utils or cells.grade_id:
# they run on the parsed JSON of a handed-in file before nbformat has validated it, where a cell may
# be no object, lack its metadata or hold the wrong types, and must be reported, not crash the grader.
def _grade_ids(notebook: dict) -> list[str]:
    return [c["metadata"]["nbgrader"]["grade_id"] for c in notebook["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")]


def _depth(value: object) -> int:
    """How deeply lists and objects nest in a parsed JSON value (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


_CELL_TYPES = {"code", "markdown", "raw"}
_NBGRADER_TYPES = {"grade_id": str, "grade": bool, "solution": bool, "locked": bool, "task": bool,
                   "points": (int, float), "schema_version": int, "checksum": str, "cell_type": str}


def _is_text(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(line, str) for line in value))


def notebook_problems(data: bytes) -> list[str]:
    """Why ``data`` is not a notebook nbgrader can grade safely, or [] when it is.

    Checks its size, that it is JSON nested at most :data:`MAX_JSON_DEPTH` deep, nbformat 4, and
    every cell's type, source, outputs and nbgrader metadata (a grade id must be a string).

    Example:
        >>> notebook_problems(b'{"cells": [[]], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        ['cell 0 is not a JSON object']
        >>> notebook_problems(b"[" * 100_000 + b"]" * 100_000)
        ['it is JSON nested too deeply (more than 64 levels)']
    """
    if len(data) > MAX_NOTEBOOK_BYTES:
        return [f"it is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB ({len(data) // 2**20} MB)"]
    try:
        notebook = json.loads(data.decode("utf-8"))
    except RecursionError:
        return [f"it is JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)"]
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return [f"it is not a readable notebook ({error.__class__.__name__}: {error})"]
    if _depth(notebook) > MAX_JSON_DEPTH:
        return [f"it is JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)"]
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return ["it is not a notebook (no list of cells)"]
    if notebook.get("nbformat") != 4 or not isinstance(notebook.get("metadata"), dict):
        return ["it is not an nbformat 4 notebook: open it in JupyterLab and save it again"]
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        if not isinstance(cell, dict):
            problems.append(f"cell {index} is not a JSON object")
            continue
        metadata = cell.get("metadata", {})
        if cell.get("cell_type") not in _CELL_TYPES or not _is_text(cell.get("source", "")):
            problems.append(f"cell {index} has no valid cell_type and source")
        elif not isinstance(metadata, dict) or not isinstance(metadata.get("nbgrader", {}), dict):
            problems.append(f"cell {index} has metadata that is not a JSON object")
        elif cell["cell_type"] == "code" and not (isinstance(cell.get("outputs", []), list)
                                                  and all(isinstance(o, dict) for o in cell.get("outputs", []))):
            problems.append(f"cell {index} has outputs that are not a list of objects")
        else:
            problems += [f"cell {index}'s nbgrader {key} is not of type {getattr(kind, '__name__', 'number')}"
                         for key, kind in _NBGRADER_TYPES.items()
                         if key in metadata.get("nbgrader", {}) and not isinstance(metadata["nbgrader"][key], kind)]
    return problems


def _read_plain_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, refusing links and anything but a regular file of at most ``limit`` bytes."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        data = file.read(limit + 1)
    return data


def submission_problems(submission: Path, release: Path) -> list[str]:
    """Why nbgrader could not grade ``submission`` (a student's assignment folder), if anything.

    ``release`` is the released assignment folder the student started from.

    Example:
        >>> submission_problems(Path("/nonexistent/alice/ps1"), Path("/nonexistent/release/ps1"))
        ['no released notebooks in /nonexistent/release/ps1']
    """
    expected = sorted(p.name for p in release.glob("*.ipynb"))
    if not expected:
        return [f"no released notebooks in {release}"]
    problems = []
    for name in expected:
        path = submission / name
        if path.is_symlink():
            problems.append(f"{name} is a link, not a notebook: hand in the notebook file itself")
            continue
        if not path.is_file():
            problems.append(f"{name} is missing from the submission")
            continue
        try:
            data = _read_plain_file(path, MAX_NOTEBOOK_BYTES)
        except OSError as error:
            problems.append(f"{name} cannot be read ({error})")
            continue
        found = notebook_problems(data)
        if found:
            problems += [f"{name}: {problem}" for problem in found[:5]]
            continue
        notebook = json.loads(data)
        released = set(_grade_ids(json.loads((release / name).read_text(encoding="utf-8"))))
        if not released & set(_grade_ids(notebook)):
            problems.append(f"{name} has none of the assignment's graded cells: it was not made from "
                            "the released notebook (or its cell metadata was removed)")
            continue
        duplicated = sorted(g for g, n in Counter(_grade_ids(notebook)).items() if n > 1)
        if duplicated:
            problems.append(f"{name} has duplicated graded cells {duplicated}: a student copied a "
                            "test or answer cell; delete the copies in a copy of the notebook and regrade")
    return problems


def _stage(submission: Path, release: Path, staged: Path) -> None:
    """Copy the released notebooks of ``submission`` (and its timestamp.txt and submission secret) to
    ``staged``, nothing else."""
    staged.mkdir(parents=True)
    # The submission secret (nbgrader submit's) goes on to feedback/, where release_feedback needs it.
    names = [p.name for p in release.glob("*.ipynb")] + ["timestamp.txt", "submission_secret.txt"]
    for name in names:
        try:
            (staged / name).write_bytes(_read_plain_file(submission / name, MAX_NOTEBOOK_BYTES))
        except OSError:
            continue  # a missing timestamp: nbgrader takes the time of grading; no secret: not from the exchange


def _grader_env(private: Path) -> dict[str, str]:
    """A fixed environment for one nbgrader run: empty private home, Jupyter and IPython folders."""
    folders = {name: private / name.lower() for name in
               ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "TMPDIR")}
    for folder in folders.values():
        folder.mkdir(mode=0o700, parents=True)
    return {"PATH": python_first_path(), **{k: str(v) for k, v in folders.items()},
            **{k: os.environ[k] for k in PASSED_ENV if k in os.environ}}


def _run_nbgrader(root: Path, assignment: str, student: str, timeout: float, options: list[str],
                  private: Path, lock: Path) -> tuple[str, str]:
    """Run nbgrader autograde for one student; return (status, last error line)."""
    command = ["prlimit", f"--data={GRADER_MEMORY}:{GRADER_MEMORY}", "--",
               sys.executable, "-P", "-s", "-m", "dlparallel.grading.gradebook_lock", str(lock),
               "autograde", assignment, "--student", student, "--force", *options]
    with open(private / "nbgrader.log", "w+", encoding="utf-8", errors="replace") as log:
        process = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=_grader_env(private))
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # nbgrader; its sandboxed kernel dies with it
            process.wait()
            return "timed out", f"grading took longer than {timeout:.0f} s and was stopped"
        log.seek(0)
        output = log.read()[-200_000:]
    if process.returncode != 0:
        return "failed", _failure_reason(output) or f"nbgrader exited with {process.returncode}"
    return "graded", ""


def _failure_reason(log: str) -> str:
    """The exception that stopped nbgrader, from its log (the last line naming one)."""
    exceptions = [m.group(1) for m in re.finditer(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception)\b.*)$", log, re.M)
                  if "Traceback" not in m.group(1)]
    return f"nbgrader failed: {exceptions[-1].strip()}" if exceptions else ""


_TROUBLE = {
    "CellTimeoutError": "timed out",
    "KeyboardInterrupt": "was interrupted at its time limit",
    "DeadKernelError": "killed its kernel",
    "MemoryError": "ran out of memory",
    "GradingIntegrityError": "found the tests' tools changed",
    MISMATCH: "passed inside the kernel, but the grader found other answers than the key's",
}


def _cell_trouble(autograded: Path) -> list[str]:
    """What went wrong in the autograded notebooks: cells that timed out, ran out of memory, killed
    the kernel or found tampering, and how many cells were then not run."""
    trouble = []
    for path in sorted(autograded.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        not_run = 0
        for index, cell in enumerate(notebook.get("cells", [])):  # plain JSON, as in the checks above
            label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{index}"
            for output in cell.get("outputs", []):
                name = output.get("ename", "")
                if name == NOT_RUN:
                    not_run += 1
                elif name in _TROUBLE:
                    evalue = f" ({output.get('evalue')})" if name in ("GradingIntegrityError", MISMATCH) else ""
                    trouble.append(f"{path.name}: cell {label} {_TROUBLE[name]}{evalue}")
        if not_run:
            trouble.append(f"{path.name}: {not_run} later cell(s) were not run and score 0")
    return trouble


def _grade_one(root: Path, assignment: str, student: str, timeout: float, options: list[str], private: Path,
               lock: Path, sandboxed: bool) -> SubmissionReport:
    from nbgrader.api import MissingEntry

    report = SubmissionReport(student, assignment, "failed", sandboxed=sandboxed)
    release = root / "release" / assignment
    submission = root / "submitted" / student / assignment
    problems = submission_problems(submission, release)
    if problems:
        report.attention.extend(problems)
        return report
    staged = private / "submitted"
    _stage(submission, release, staged / student / assignment)
    grading = [f"--CourseDirectory.submitted_directory={staged}", *options]
    if not sandboxed:
        grading.append("--GuardedExecute.sandbox=False")
    report.status, error = _run_nbgrader(root, assignment, student, timeout, grading, private, lock)
    if error:
        report.attention.append(error)
    if report.status != "graded":
        return report
    report.attention.extend(_cell_trouble(root / "autograded" / student / assignment))
    with gradebook_lock.held(lock), open_gradebook(root, options) as gradebook:
        try:
            found = gradebook.find_submission(assignment, student)
        except MissingEntry:
            report.status = "failed"
            report.attention.append("nbgrader recorded no grades for this submission")
            return report
        report.score, report.max_score = found.score, found.max_score
        manual = [g.name for nb in found.notebooks for g in nb.grades if g.needs_manual_grade]
    if manual:
        report.attention.append(f"{len(manual)} answer(s) to grade by hand: {', '.join(manual)}")
    return report


def submitted_students(root: Path | str, assignment: str) -> list[str]:
    """The students who handed in ``assignment`` in course directory ``root``, sorted."""
    return sorted(p.parent.name for p in (Path(root) / "submitted").glob(f"*/{assignment}") if p.is_dir())


def autograde(assignment: str, root: Path | str = ".", students: list[str] | None = None,
              timeout: float = 2400.0, options: list[str] = (), jobs: int = 1,
              sandboxed: bool = True) -> list[SubmissionReport]:
    """Autograde every submission of ``assignment`` under ``root/submitted`` (or only ``students``),
    ``jobs`` at a time; reports come back in the students' order.

    ``timeout`` bounds one student's whole nbgrader run (a last resort: the notebook's own limits
    in ``nbgrader_config.py`` are shorter); ``options`` are passed to nbgrader, e.g.
    ``["--GuardedExecute.timeout=30"]``; the gradebook is nbgrader's configured one
    (:mod:`dlparallel.grading.gradebook`), which ``--CourseDirectory.db_url=...`` changes. Raises
    :class:`SandboxUnavailable` where bubblewrap cannot run, unless ``sandboxed`` is False. The
    answer key is made first if it is missing or out of date
    (:func:`dlparallel.grading.answer_key.ensure_answer_key`); :class:`AnswerKeyError` if the
    solution fails its own tests.
    """
    if sandboxed:
        problem = sandbox_problem()
        if problem:
            raise SandboxUnavailable(f"{problem}. Grading without a sandbox lets every submission read and change "
                                     "what the grader can: pass --unsandboxed (make autograde UNSANDBOXED=1) "
                                     "only where each submission cannot harm the others.")
    root = Path(root).resolve()
    students = submitted_students(root, assignment) if students is None else students
    if students:
        ensure_answer_key(root, assignment, sandboxed)
    with tempfile.TemporaryDirectory(prefix="dlp-grading-") as folder:
        lock = Path(folder) / "gradebook.lock"
        lock.touch()
        runs = [(student, Path(folder) / f"student{index}") for index, student in enumerate(students)]
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            futures = [pool.submit(_grade_one, root, assignment, student, timeout, list(options), private, lock,
                                   sandboxed) for student, private in runs]
            return [future.result() for future in futures]


def format_summary(reports: list[SubmissionReport]) -> str:
    """A table of every student's score, then who needs manual attention and why.

    Example:
        >>> print(format_summary([SubmissionReport("alice", "ps1", "graded", 18.0, 20.0)]))
        student  assignment  status  score
        alice    ps1         graded  18 / 20
    """
    rows = [("student", "assignment", "status", "score")]
    for r in reports:
        score = f"{r.score:g} / {r.max_score:g}" if r.score is not None else "-"
        rows.append((r.student, r.assignment, r.status, score))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if not all(r.sandboxed for r in reports):
        lines += ["", UNSANDBOXED_WARNING] + ([ISOLATION_WARNING] if not landlock_abi() else [])
    attention = [r for r in reports if r.needs_attention]
    if attention:
        lines += ["", "needs manual attention:"]
        for r in attention:
            lines += [f"  {r.student} ({r.assignment}): {reason}" for reason in r.attention or [r.status]]
    return "\n".join(lines)
