"""The instructor's pipeline, end to end with real nbgrader runs, for every problem set.

A course directory is made in a temporary folder from this repository's nbgrader_config.py and
source/. The problem sets are released with nbgrader, students' submissions are made from the
release (solved, untouched, partly wrong, with a duplicated test cell, and the hostile ones of
tests/hostile_submissions.py: right answers that warn on stderr, deleted and tampered test cells,
crashes and hangs, ...), the class is autograded with ``python -m dlparallel.grading autograde``,
and the gradebook must hold exactly the expected scores.
"""

from __future__ import annotations

import copy
import csv
import functools
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import is_grade, is_solution

from course_work import CourseWork
from courses import ENV, autograded_points, course_of
from courses import PROBLEM_SETS as ALL_SETS
from hostile_submissions import HOSTILE

from dlparallel.grading.autograde import submission_problems
from dlparallel.grading.cells import grade_id
from dlparallel.grading.solutions import (HIDDEN_TEST_MARKERS, SOLUTION_MARKERS, solution_notebook,
                                          with_answers, worked_answers)

ROOT = Path(__file__).resolve().parents[1]
PROBLEM_SETS = [ps for ps in ALL_SETS if ps in os.environ.get("PROBLEM_SETS", ps).split()]  # to test one set
CASES = ROOT / "tests" / "grading_cases"
# Seconds per cell while the tests grade: above the slowest hidden test under load, short enough
# that the submissions which hang do not hold up the run.
CELL_TIMEOUT = {"ps1_backprop": 45}
# Attacks whose outcome does not depend on the problem set (on the tools, the kernel, the machine)
# are graded in one set of the run only; the others in every set. That set is one graded first
# with the usual cell limit: its submissions that hang then wait out their limits while other
# tests keep the cores busy, instead of at the end of the run.
ANY_SET = {"tampered_tools", "bypasses", "misbehaving", "killed", "reads_answers"}
ANY_SET_IN = next((ps for ps in PROBLEM_SETS if ps not in CELL_TIMEOUT), PROBLEM_SETS[0])


def _hostile(ps: str) -> list[str]:
    """The hostile submissions graded in problem set ``ps``."""
    return [student for student in HOSTILE if student not in ANY_SET or ps == ANY_SET_IN]


def _students(ps: str) -> list[str]:
    return ["solved", "untouched", "partial", "duplicated_test", *_hostile(ps)]


GRADING_TIMEOUT_S = 1500
# A test here may wait for its set's grading (fixture set-up), which its own limits bound: the time
# limit of each nbgrader call and GRADING_TIMEOUT_S. pytest-timeout bounds the tests themselves.
pytestmark = pytest.mark.timeout(600, func_only=True)
MARK_SCHEME = ("BEGIN MARK SCHEME", "END MARK SCHEME")
CODE_STUB = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}


@functools.cache
def _case(ps: str):
    """tests/grading_cases/<ps>.py: PARTIAL (wrong answers), LOST (points they lose), NOISY (answers
    that are right but write warnings to stderr while the tests run them)."""
    spec = importlib.util.spec_from_file_location(f"grading_case_{ps}", CASES / f"{ps}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _submissions(root: Path, ps: str) -> tuple[dict[str, nbformat.NotebookNode], dict[str, dict[str, float]]]:
    """One submission per student, made from the release of ``ps`` in the course directory ``root``;
    and the points each hostile submission must lose, per autograded test."""
    name = f"{ps}.ipynb"
    source = nbformat.read(root / "source" / ps / name, as_version=4)
    release = nbformat.read(root / "release" / ps / name, as_version=4)
    answers = worked_answers(source)
    first_test = next(gid for gid in autograded_points(source))
    duplicated = with_answers(release, answers)
    copied = copy.deepcopy(next(c for c in duplicated.cells if grade_id(c) == first_test))
    copied.id = "a-copy-of-a-test"
    duplicated.cells.append(copied)
    submissions = {"solved": with_answers(release, answers), "untouched": release,
                   "partial": with_answers(release, {**answers, **_case(ps).PARTIAL}),
                   "duplicated_test": duplicated}
    points, losses = autograded_points(source), {}
    for student in _hostile(ps):
        submissions[student], lost = HOSTILE[student](release, answers, _case(ps))
        losses[student] = {g: points[g] if value is None else value for g, value in lost.items()}
    assert list(submissions) == _students(ps)
    return submissions, losses


def _hand_in(root: Path, ps: str, submissions: dict[str, nbformat.NotebookNode]) -> None:
    for student, notebook in submissions.items():
        folder = root / "submitted" / student / ps
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{ps}.ipynb")


def _run(command: list[str], cwd: Path) -> str:
    """Run ``command`` in ``cwd``; its output, which must end in success within the time limit."""
    done = subprocess.run(command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=GRADING_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}"
    return done.stdout


@dataclass(frozen=True)
class Graded:
    """One problem set's course directory after the class was autograded, its feedback generated
    and its grades exported."""

    root: Path
    summary: str
    submitted_before: dict[str, str]
    losses: dict[str, dict[str, float]]


def _grade(ps: str, root: Path, released: Path) -> Graded:
    """Problem set ``ps`` in a course directory of its own, every submission above handed in, the
    class autograded with `python -m dlparallel.grading autograde`, then nbgrader's feedback and export."""
    course_of(released, ps, root)
    submissions, losses = _submissions(root, ps)
    _hand_in(root, ps, submissions)
    before = _hashes(root / "submitted")
    summary = _run([sys.executable, "-m", "dlparallel.grading", "autograde", ps, "--jobs=1",
                    f"--set=GuardedExecute.timeout={CELL_TIMEOUT.get(ps, 15)}",
                    *(f"--student={s}" for s in _students(ps))], root)
    _run([sys.executable, "-m", "nbgrader", "generate_feedback", ps, "--force"], root)
    _run([sys.executable, "-m", "nbgrader", "export"], root)
    return Graded(root, summary, before, losses)


def _grade_unfiltered(ps: str, root: Path, released: Path) -> Path:
    """The submission whose right answers warn on stderr, graded by plain nbgrader with its stderr
    filter off: it must lose points, which shows that its warnings do reach stderr inside the
    test cells."""
    course_of(released, ps, root)
    submissions, _ = _submissions(root, ps)
    _hand_in(root, ps, {"fake_answers": submissions["fake_answers"]})
    _run([sys.executable, "-m", "nbgrader", "autograde", ps, "--student", "fake_answers",
          "--IgnorePattern.enabled=False", "--force"], root)
    return root


def start_course_work(work: CourseWork, tmp: pytest.TempPathFactory, fixturenames: set[str]) -> None:
    """Every problem set graded in the background as soon as it is released, each as a job of its
    own ("graded PS", and "graded unfiltered" for the stderr check's), so that a failure in one set
    fails only that set's tests. Two at a time: other lanes and the tests running meanwhile use the
    other cores, and the submissions that hang leave theirs idle until their time limit."""
    if "grading" not in fixturenames:
        return
    work.lane("grading", workers=2)
    for ps in sorted(PROBLEM_SETS, key=lambda ps: ps != ANY_SET_IN):  # the set with the hangs first
        work.start(f"graded {ps}", _grade, ps, tmp.mktemp(ps), lane="grading", after="released")
    work.start("graded unfiltered", _grade_unfiltered, PROBLEM_SETS[0], tmp.mktemp("unfiltered"),
               lane="grading", after="released")


@pytest.fixture
def grading(course_work, released) -> Callable[[str], object]:
    """The result of a grading job started by start_course_work: a problem set's Graded, or
    "unfiltered" -> the stderr check's course directory."""
    return lambda job: course_work.result(f"graded {job}", timeout=GRADING_TIMEOUT_S)


@pytest.fixture
def course(grading, ps) -> Graded:
    """Problem set ``ps`` (the test's parameter) after grading."""
    return grading(ps)


def _scores(root: Path, ps: str, student: str) -> dict[str, float | None]:
    """grade id -> score of ``student``'s submission of ``ps`` in the gradebook of course directory ``root``."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ps, student)
        return {g.name: g.score for nb in submission.notebooks for g in nb.grades}


def _source(ps: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "source" / ps / f"{ps}.ipynb", as_version=4)


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_problem_set_points_and_parts(ps):
    source = _source(ps)
    metas = [_nbgrader_meta(c) for c in source.cells if _nbgrader_meta(c)]
    manual = [m for m in metas if m.get("grade") and m.get("solution")]
    assert manual, f"{ps} has no answer graded by hand"
    total = sum(m["points"] for m in metas if m.get("grade"))
    intro = source.cells[0].source
    assert f"**{total:g}**" in intro, f"{ps}'s introduction must state the total of {total:g} points"
    for cell in source.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{ps} source stores outputs"
            if is_grade(cell):
                assert "### BEGIN HIDDEN TESTS" in cell.source, f"{grade_id(cell)} has no hidden tests"


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_solved_submission_scores_every_autograded_point(course, ps):
    scores = _scores(course.root, ps, "solved")
    for name, points in autograded_points(_source(ps)).items():
        assert scores[name] == points, f"{name}: {scores[name]} of {points}"


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_untouched_release_scores_zero_everywhere(course, ps):
    scores = _scores(course.root, ps, "untouched")
    assert all(scores[g] == 0 for g in autograded_points(_source(ps))), scores


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_partly_wrong_submission_scores_exactly_the_expected_total(course, ps):
    scores = _scores(course.root, ps, "partial")
    points = autograded_points(_source(ps))
    lost = _case(ps).LOST
    assert set(lost) <= set(points) and sum(lost.values()) > 0
    expected = {g: p - lost.get(g, 0) for g, p in points.items()}
    assert {g: scores[g] for g in points} == expected


def test_warnings_would_cost_points_without_the_stderr_filter(grading):
    ps = PROBLEM_SETS[0]
    points = autograded_points(_source(ps))
    filtered = _scores(grading(ps).root, ps, "fake_answers")  # its answers warn on stderr
    unfiltered = _scores(grading("unfiltered"), ps, "fake_answers")
    assert sum(unfiltered[g] for g in points) < sum(filtered[g] for g in points)


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_duplicated_test_cell_is_reported_and_does_not_stop_the_class(course, ps):
    summary = course.summary
    assert f"duplicated_test ({ps}): {ps}.ipynb has duplicated graded cells" in summary
    for student in ("solved", "untouched", "partial", *_hostile(ps)):
        assert _scores(course.root, ps, student), student


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_summary_lists_every_student_and_manual_work(course, ps):
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in course.summary.splitlines() if line.strip()}
    points = autograded_points(_source(ps))
    total = sum(float(c.metadata.nbgrader.points) for c in _source(ps).cells if is_grade(c))
    assert rows[("solved", ps)] == ["graded", f"{sum(points.values()):g}", "/", f"{total:g}"]
    assert rows[("untouched", ps)] == ["graded", "0", "/", f"{total:g}"]
    assert rows[("duplicated_test", ps)] == ["failed", "-"]
    assert f"solved ({ps}): 1 answer(s) to grade by hand" in course.summary


@pytest.mark.parametrize("ps, student", [(ps, student) for ps in PROBLEM_SETS for student in _hostile(ps)])
def test_hostile_submission_scores_exactly_what_it_deserves(course, ps, student):
    scores = _scores(course.root, ps, student)
    lost = course.losses[student]
    expected = {g: p - lost.get(g, 0) for g, p in autograded_points(_source(ps)).items()}
    assert {g: scores[g] for g in expected} == expected


def _said(course: Graded, ps: str, student: str, words: str) -> bool:
    """Whether the summary's manual-attention list says ``words`` of ``student``'s ``ps``."""
    attention = [line.strip() for line in course.summary.splitlines() if line.startswith("  ")]
    return any(line.startswith(f"{student} ({ps}):") and words in line for line in attention)


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_summary_names_the_answers_the_grader_refused(course, ps):
    refused = "passed inside the kernel, but the grader found other answers than the key's"
    for student in ("resealed", "bypasses") if ps == ANY_SET_IN else ("resealed",):
        assert _said(course, ps, student, refused), student
    assert not _said(course, ps, "solved", "the grader found other answers")


@pytest.mark.parametrize("ps", [ANY_SET_IN])
def test_summary_names_what_each_hostile_submission_did(course, ps):
    said = functools.partial(_said, course, ps)
    assert said("tampered_tools", "found the tests' tools changed (the notebook changed what the tests rely on: ")
    assert said("tampered_tools", "later cell(s) were not run")
    for words in ("ran out of memory", "was interrupted at its time limit", "timed out", "later cell(s) were not run"):
        assert said("misbehaving", words), words
    assert said("killed", "killed its kernel")


@pytest.mark.parametrize("ps", [ANY_SET_IN])
def test_hostile_submissions_leave_bounded_output_and_read_nothing_hidden(course, ps):
    root = course.root
    flooded = root / "autograded" / "misbehaving" / ps / f"{ps}.ipynb"
    assert flooded.stat().st_size < 2_000_000, "a flood of output reached the autograded notebook"
    reader = nbformat.read(root / "autograded" / "reads_answers" / ps / f"{ps}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in reader.cells if c.cell_type == "code" for o in c.get("outputs", []))
    # The course directory is not in the kernel's sandbox: nothing of it can be read or overwritten.
    assert "cannot read gradebook.db" in printed and "found []" in printed, printed[-2000:]


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_submitted_folder_is_never_modified(course, ps):
    assert _hashes(course.root / "submitted") == course.submitted_before


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_feedback_and_export(course, ps):
    root = course.root
    for student in ("solved", "partial"):
        page = (root / "feedback" / student / ps / f"{ps}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in page and "dlparallel.grading" not in page, \
            f"{student}'s feedback shows hidden tests"
    failures = (root / "feedback" / "partial" / ps / f"{ps}.html").read_text()
    assert "AssertionError" in failures, "the failed checks' messages belong in the feedback"
    assert not any(f"{name}(" in failures for name in ("check_tensor", "check_number", "check_choice")), \
        "a traceback in the feedback quotes hidden-test code"
    with open(root / "grades.csv", newline="") as table:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(table)}
    assert float(rows[(ps, "solved")]["score"]) == sum(autograded_points(_source(ps)).values())
    assert float(rows[(ps, "untouched")]["score"]) == 0


def _lines(cells: list) -> set[str]:
    return {line.strip() for cell in cells for line in cell.source.splitlines()} - {""}


def _secret_lines(source: nbformat.NotebookNode) -> set[str]:
    """The lines of ``source`` that only its solutions, hidden tests and mark schemes hold: the
    lines inside those markers (the whole cell for a solution cell without markers) that appear
    nowhere else in the source, and are not the stub nbgrader writes in their place."""
    secret, public = set(), set(CODE_STUB)
    for cell in source.cells:
        lines = cell.source.splitlines()
        whole = is_solution(cell) and not any(SOLUTION_MARKERS[0] in line for line in lines)
        inside = False
        for line in lines:
            if any(begin in line for begin, _ in (SOLUTION_MARKERS, HIDDEN_TEST_MARKERS, MARK_SCHEME)):
                inside = True
            elif any(end in line for _, end in (SOLUTION_MARKERS, HIDDEN_TEST_MARKERS, MARK_SCHEME)):
                inside = False
            else:
                (secret if inside or whole else public).add(line.strip())
    return secret - public - {""}


def _leaked_lines(source: nbformat.NotebookNode, release: nbformat.NotebookNode) -> set[str]:
    return _secret_lines(source) & _lines(release.cells)


def test_the_leak_check_catches_a_one_line_solution():
    def cell(text, **meta):
        made = nbformat.v4.new_code_cell(text)
        made.metadata["nbgrader"] = meta
        return made

    source = nbformat.v4.new_notebook(cells=[
        cell("def relu(x):\n    ### BEGIN SOLUTION\n    return x.clamp(min=0)\n    ### END SOLUTION",
             grade_id="relu", solution=True),
        cell("assert relu(t).min() >= 0\n### BEGIN HIDDEN TESTS\nassert relu(-t).max() == 0\n### END HIDDEN TESTS",
             grade_id="test_relu", grade=True, points=1)])
    assert _secret_lines(source) == {"return x.clamp(min=0)", "assert relu(-t).max() == 0"}
    stub = cell("def relu(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    release = nbformat.v4.new_notebook(cells=[stub, cell("assert relu(t).min() >= 0")])
    assert not _leaked_lines(source, release)
    release.cells[0].source = "def relu(x):\n    return x.clamp(min=0)"
    assert _leaked_lines(source, release) == {"return x.clamp(min=0)"}


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_release_hides_solutions_and_hidden_tests(released, ps):
    folder = released / "release" / ps
    assert sorted(p.name for p in folder.iterdir()) == [f"{ps}.ipynb"], "the release holds other files"
    release = nbformat.read(folder / f"{ps}.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in release.cells if c.cell_type == "code"), "the release holds outputs"
    text = (folder / f"{ps}.ipynb").read_text()
    for marker in HIDDEN_TEST_MARKERS + SOLUTION_MARKERS + ("=== BEGIN MARK SCHEME",):
        assert marker not in text
    source = _source(ps)
    assert len(_secret_lines(source)) >= len(worked_answers(source)), "too few secret lines to look for"
    leaked = _leaked_lines(source, release)
    assert not leaked, f"lines of {ps}'s solutions or hidden tests are in the release: {sorted(leaked)}"


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_committed_solutions_are_current_and_free_of_hidden_tests(ps):
    committed = ROOT / "solutions" / ps / f"{ps}.ipynb"
    assert committed.is_file(), "run `make solutions`"
    expected = solution_notebook(_source(ps))
    assert [c.source for c in nbformat.read(committed, as_version=4).cells] == [c.source for c in expected.cells], \
        "solutions/ is out of date with source/: run `make solutions`"
    text = committed.read_text()
    for marker in HIDDEN_TEST_MARKERS + SOLUTION_MARKERS + ("MARK SCHEME", "check_tensor", "forbid_autograd"):
        assert marker not in text


def test_submission_problems_are_named():
    release = ROOT / "source" / PROBLEM_SETS[0]
    name = f"{PROBLEM_SETS[0]}.ipynb"
    problems = submission_problems(Path("/nonexistent"), release)
    assert problems == [f"{name} is missing from the submission"]


def test_unreadable_submission_is_reported(tmp_path):
    release = ROOT / "source" / PROBLEM_SETS[0]
    name = f"{PROBLEM_SETS[0]}.ipynb"
    (tmp_path / name).write_text("{ not json")
    assert "is not a readable notebook" in submission_problems(tmp_path, release)[0]
    (tmp_path / name).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert "none of the assignment's graded cells" in submission_problems(tmp_path, release)[0]
