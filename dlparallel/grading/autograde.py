"""Autograde a whole class, one student at a time, so one bad submission never stops the rest.

Each student's submission is checked first (readable notebooks, no duplicated grade ids), then
graded by ``nbgrader autograde ASSIGNMENT --student S`` in its own process with a time limit.
Inside it, :class:`dlparallel.grading.execute.GuardedExecute` scores what completed when the
notebook hangs, crashes, floods output or tampers with the tests. Whatever one submission does,
the others are still graded; the summary says who needs manual attention and why (every cell
that timed out, ran out of memory, killed its kernel, was not run, or found the tests' tools
replaced). ``submitted/`` is only read.

Example (from the course directory, after students' notebooks were put in ``submitted/``)::

    python -m dlparallel.grading autograde ps1_backprop
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .execute import NOT_RUN
from .sandbox import landlock_abi

__all__ = ["SubmissionReport", "submission_problems", "autograde", "format_summary", "ISOLATION_WARNING"]

ISOLATION_WARNING = ("warning: this machine's kernel has no Landlock, so submissions could read the course's "
                     "files (source/, the gradebook, other students' work) while they were graded; grade "
                     "inside a container that holds only what autograding needs")


@dataclass
class SubmissionReport:
    """What grading one student's submission of one assignment gave."""

    student: str
    assignment: str
    status: str  # "graded", "failed" or "timed out"
    score: float | None = None
    max_score: float | None = None
    attention: list[str] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        return self.status != "graded" or bool(self.attention)


def _grade_ids(notebook: dict) -> list[str]:
    return [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in notebook.get("cells", [])
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")]


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
        if not path.is_file():
            problems.append(f"{name} is missing from the submission")
            continue
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            problems.append(f"{name} is not a readable notebook ({error.__class__.__name__}: {error})")
            continue
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            problems.append(f"{name} is not a notebook (no list of cells)")
            continue
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


def _run_nbgrader(root: Path, assignment: str, student: str, timeout: float,
                  options: list[str]) -> tuple[str, str]:
    """Run nbgrader autograde for one student; return (status, last error line)."""
    command = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student, "--force", *options]
    # nbgrader calls its database tool (alembic) by name: put this Python's scripts first on PATH.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True, env=env)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # nbgrader and the kernel it started
        process.communicate()
        return "timed out", f"grading took longer than {timeout:.0f} s and was stopped"
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
}


def _cell_trouble(autograded: Path) -> list[str]:
    """What went wrong in the autograded notebooks: cells that timed out, ran out of memory, killed
    the kernel or found tampering, and how many cells were then not run."""
    trouble = []
    for path in sorted(autograded.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        not_run = 0
        for index, cell in enumerate(notebook.get("cells", [])):
            label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{index}"
            for output in cell.get("outputs", []):
                name = output.get("ename", "")
                if name == NOT_RUN:
                    not_run += 1
                elif name in _TROUBLE:
                    evalue = f" ({output.get('evalue')})" if name == "GradingIntegrityError" else ""
                    trouble.append(f"{path.name}: cell {label} {_TROUBLE[name]}{evalue}")
        if not_run:
            trouble.append(f"{path.name}: {not_run} later cell(s) were not run and score 0")
    return trouble


def autograde(assignment: str, root: Path | str = ".", students: list[str] | None = None,
              timeout: float = 2400.0, options: list[str] = ()) -> list[SubmissionReport]:
    """Autograde every submission of ``assignment`` under ``root/submitted`` (or only ``students``).

    ``timeout`` bounds one student's whole nbgrader run (a last resort: the notebook's own limits
    in ``nbgrader_config.py`` are shorter); ``options`` are passed to nbgrader, e.g.
    ``["--GuardedExecute.timeout=30"]``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    root = Path(root).resolve()
    release = root / "release" / assignment
    found = sorted(p.parent.name for p in (root / "submitted").glob(f"*/{assignment}") if p.is_dir())
    students = students or found
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    reports = []
    for student in students:
        report = SubmissionReport(student, assignment, "failed")
        reports.append(report)
        problems = submission_problems(root / "submitted" / student / assignment, release)
        if problems:
            report.attention.extend(problems)
            continue
        report.status, error = _run_nbgrader(root, assignment, student, timeout, list(options))
        if error:
            report.attention.append(error)
        if report.status != "graded":
            continue
        report.attention.extend(_cell_trouble(root / "autograded" / student / assignment))
        with Gradebook(db_url) as gradebook:
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry:
                report.status = "failed"
                report.attention.append("nbgrader recorded no grades for this submission")
                continue
            report.score, report.max_score = submission.score, submission.max_score
            manual = [g.name for nb in submission.notebooks for g in nb.grades if g.needs_manual_grade]
        if manual:
            report.attention.append(f"{len(manual)} answer(s) to grade by hand: {', '.join(manual)}")
    return reports


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
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    if not landlock_abi():
        lines += ["", ISOLATION_WARNING]
    attention = [r for r in reports if r.needs_attention]
    if attention:
        lines += ["", "needs manual attention:"]
        for r in attention:
            lines += [f"  {r.student} ({r.assignment}): {reason}" for reason in r.attention or [r.status]]
    return "\n".join(lines)
