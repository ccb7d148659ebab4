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
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from hostile_submissions import HOSTILE

from dlparallel.grading.autograde import submission_problems
from dlparallel.grading.sandbox import landlock_abi
from dlparallel.grading.solutions import (HIDDEN_TEST_MARKERS, SOLUTION_MARKERS, solution_notebook,
                                          with_answers, worked_answers)

ROOT = Path(__file__).resolve().parents[1]
PROBLEM_SETS = sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir()
                      if p.name in os.environ.get("PROBLEM_SETS", p.name).split())  # to test one set
ENV = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}

CASES = ROOT / "tests" / "grading_cases"


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


def _autograded_points(source: nbformat.NotebookNode) -> dict[str, float]:
    return {_nbgrader_meta(c)["grade_id"]: float(_nbgrader_meta(c)["points"]) for c in source.cells
            if _nbgrader_meta(c).get("grade") and not _nbgrader_meta(c).get("solution")}


# Without Landlock a submission can read and overwrite the course's files, the gradebook included.
if not landlock_abi():
    del HOSTILE["reads_answers"]
STUDENTS = ["solved", "untouched", "partial", "duplicated_test", *HOSTILE]
# Seconds per cell while the tests grade: above the slowest hidden test under load, short enough
# that the submissions which hang do not hold up the run.
CELL_TIMEOUT = {"ps1_backprop": 45}


def _submit(root: Path, ps: str) -> dict[str, dict[str, float]]:
    """Release ``ps`` in the course directory ``root`` and hand in one submission per student;
    return the points each hostile submission must lose, per autograded test."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ps, "--force"],
                          cwd=root, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    name = f"{ps}.ipynb"
    source = nbformat.read(root / "source" / ps / name, as_version=4)
    release = nbformat.read(root / "release" / ps / name, as_version=4)
    answers = worked_answers(source)
    first_test = next(gid for gid in _autograded_points(source))
    duplicated = with_answers(release, answers)
    copied = copy.deepcopy(next(c for c in duplicated.cells if _nbgrader_meta(c).get("grade_id") == first_test))
    copied.id = "a-copy-of-a-test"
    duplicated.cells.append(copied)
    submissions = {"solved": with_answers(release, answers), "untouched": release,
                   "partial": with_answers(release, {**answers, **_case(ps).PARTIAL}),
                   "duplicated_test": duplicated}
    points, losses = _autograded_points(source), {}
    for student, build in HOSTILE.items():
        submissions[student], lost = build(release, answers, _case(ps))
        losses[student] = {g: points[g] if value is None else value for g, value in lost.items()}
    assert list(submissions) == STUDENTS
    for student, notebook in submissions.items():
        folder = root / "submitted" / student / ps
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / name)
    return losses


def _run_concurrently(commands: dict[str, tuple[list[str], Path]], jobs: int, timeout: float) -> dict[str, str]:
    """Run the commands, ``jobs`` at a time; return each one's output (all must succeed in ``timeout`` s)."""
    pending, running, outputs, deadline = list(commands.items()), {}, {}, time.monotonic() + timeout
    while pending or running:
        while pending and len(running) < jobs:
            key, (command, cwd) = pending.pop(0)
            log = tempfile.TemporaryFile(mode="w+")
            running[key] = (subprocess.Popen(command, cwd=cwd, env=ENV, stdout=log, stderr=subprocess.STDOUT), log)
        assert time.monotonic() < deadline, f"still running after {timeout} s: {sorted(running)}"
        for key, (process, log) in list(running.items()):
            if process.poll() is not None:
                log.seek(0)
                outputs[key] = log.read()
                log.close()
                assert process.returncode == 0, f"{commands[key][0]} failed:\n{outputs[key]}"
                del running[key]
        time.sleep(0.2)
    return outputs


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """For each problem set, a course directory of its own (so that they can be graded at the same
    time): released, submitted in every way above, autograded with `python -m dlparallel.grading`."""
    roots, losses = {}, {}
    for ps in PROBLEM_SETS:
        roots[ps] = root = tmp_path_factory.mktemp(ps)
        shutil.copy(ROOT / "nbgrader_config.py", root)
        shutil.copytree(ROOT / "source" / ps, root / "source" / ps)
        losses[ps] = _submit(root, ps)
    before = {ps: _hashes(root / "submitted") for ps, root in roots.items()}
    # The submission whose right answers warn on stderr once more, in a copy of the first course,
    # graded with nbgrader's stderr filter off: it must lose points, which shows that its warnings
    # do reach stderr inside the test cells.
    unfiltered = tmp_path_factory.mktemp("unfiltered")
    shutil.copytree(roots[PROBLEM_SETS[0]], unfiltered, dirs_exist_ok=True)
    commands = {ps: ([sys.executable, "-m", "dlparallel.grading", "autograde", ps, "--jobs=1",
                      f"--set=GuardedExecute.timeout={CELL_TIMEOUT.get(ps, 15)}",
                      *(f"--student={s}" for s in STUDENTS)], root) for ps, root in roots.items()}
    commands["unfiltered"] = ([sys.executable, "-m", "nbgrader", "autograde", PROBLEM_SETS[0], "--student",
                               "fake_answers", "--IgnorePattern.enabled=False", "--force"], unfiltered)
    # One more job than cores: the submissions that hang leave a core idle until their time limit.
    summaries = _run_concurrently(commands, jobs=(os.cpu_count() or 1) + 1, timeout=1500)
    return {ps: {"root": root, "summary": summaries[ps], "submitted_before": before[ps], "losses": losses[ps],
                 "unfiltered": unfiltered} for ps, root in roots.items()}


def _scores(course, ps: str, student: str, root_key: str = "root") -> dict[str, float | None]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course[ps][root_key] / 'gradebook.db'}") as gradebook:
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
            if _nbgrader_meta(cell).get("grade"):
                assert "### BEGIN HIDDEN TESTS" in cell.source, f"{_nbgrader_meta(cell)['grade_id']} has no hidden tests"


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_solved_submission_scores_every_autograded_point(course, ps):
    scores = _scores(course, ps, "solved")
    for grade_id, points in _autograded_points(_source(ps)).items():
        assert scores[grade_id] == points, f"{grade_id}: {scores[grade_id]} of {points}"


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_untouched_release_scores_zero_everywhere(course, ps):
    scores = _scores(course, ps, "untouched")
    assert all(scores[g] == 0 for g in _autograded_points(_source(ps))), scores


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_partly_wrong_submission_scores_exactly_the_expected_total(course, ps):
    scores = _scores(course, ps, "partial")
    points = _autograded_points(_source(ps))
    lost = _case(ps).LOST
    assert set(lost) <= set(points) and sum(lost.values()) > 0
    expected = {g: p - lost.get(g, 0) for g, p in points.items()}
    assert {g: scores[g] for g in points} == expected


def test_warnings_would_cost_points_without_the_stderr_filter(course):
    points = _autograded_points(_source(PROBLEM_SETS[0]))
    filtered = _scores(course, PROBLEM_SETS[0], "fake_answers")  # its answers warn on stderr
    unfiltered = _scores(course, PROBLEM_SETS[0], "fake_answers", root_key="unfiltered")
    assert sum(unfiltered[g] for g in points) < sum(filtered[g] for g in points)


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_duplicated_test_cell_is_reported_and_does_not_stop_the_class(course, ps):
    summary = course[ps]["summary"]
    assert f"duplicated_test ({ps}): {ps}.ipynb has duplicated graded cells" in summary
    for student in ("solved", "untouched", "partial", *HOSTILE):
        assert _scores(course, ps, student), student


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_summary_lists_every_student_and_manual_work(course, ps):
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in course[ps]["summary"].splitlines() if line.strip()}
    points = _autograded_points(_source(ps))
    total = sum(float(_nbgrader_meta(c)["points"]) for c in _source(ps).cells if _nbgrader_meta(c).get("grade"))
    assert rows[("solved", ps)] == ["graded", f"{sum(points.values()):g}", "/", f"{total:g}"]
    assert rows[("untouched", ps)] == ["graded", "0", "/", f"{total:g}"]
    assert rows[("duplicated_test", ps)] == ["failed", "-"]
    assert f"solved ({ps}): 1 answer(s) to grade by hand" in course[ps]["summary"]


@pytest.mark.parametrize("student", list(HOSTILE))
@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_hostile_submission_scores_exactly_what_it_deserves(course, ps, student):
    scores = _scores(course, ps, student)
    lost = course[ps]["losses"][student]
    expected = {g: p - lost.get(g, 0) for g, p in _autograded_points(_source(ps)).items()}
    assert {g: scores[g] for g in expected} == expected


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_summary_names_what_each_hostile_submission_did(course, ps):
    attention = [line.strip() for line in course[ps]["summary"].splitlines() if line.startswith("  ")]
    said = lambda student, words: any(line.startswith(f"{student} ({ps}):") and words in line  # noqa: E731
                                      for line in attention)
    assert said("tampered_tools", "found the tests' tools changed (the notebook changed what the tests rely on: ")
    assert said("tampered_tools", "later cell(s) were not run")
    for words in ("ran out of memory", "was interrupted at its time limit", "timed out", "later cell(s) were not run"):
        assert said("misbehaving", words), words
    assert said("killed", "killed its kernel")


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_hostile_submissions_leave_bounded_output_and_read_nothing_hidden(course, ps):
    root = course[ps]["root"]
    flooded = root / "autograded" / "misbehaving" / ps / f"{ps}.ipynb"
    assert flooded.stat().st_size < 2_000_000, "a flood of output reached the autograded notebook"
    if "reads_answers" not in HOSTILE:
        pytest.skip("this Linux kernel has no Landlock: the course's files cannot be hidden")
    reader = nbformat.read(root / "autograded" / "reads_answers" / ps / f"{ps}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in reader.cells if c.cell_type == "code" for o in c.get("outputs", []))
    # The course directory is not in the kernel's sandbox (or, unsandboxed, hidden by Landlock).
    assert "cannot read gradebook.db" in printed and "found []" in printed, printed[-2000:]


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_submitted_folder_is_never_modified(course, ps):
    assert _hashes(course[ps]["root"] / "submitted") == course[ps]["submitted_before"]


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_feedback_and_export(course, ps):
    root = course[ps]["root"]
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", ps, "--force"],
                          cwd=root, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    for student in ("solved", "partial"):
        page = (root / "feedback" / student / ps / f"{ps}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in page and "dlparallel.grading" not in page, \
            f"{student}'s feedback shows hidden tests"
    failures = (root / "feedback" / "partial" / ps / f"{ps}.html").read_text()
    assert "AssertionError" in failures, "the failed checks' messages belong in the feedback"
    assert not any(f"{name}(" in failures for name in ("check_tensor", "check_number", "check_choice")), \
        "a traceback in the feedback quotes hidden-test code"
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export"], cwd=root, env=ENV,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(root / "grades.csv", newline="") as table:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(table)}
    assert float(rows[(ps, "solved")]["score"]) == sum(_autograded_points(_source(ps)).values())
    assert float(rows[(ps, "untouched")]["score"]) == 0


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_release_hides_solutions_and_hidden_tests(course, ps):
    folder = course[ps]["root"] / "release" / ps
    assert sorted(p.name for p in folder.iterdir()) == [f"{ps}.ipynb"], "the release holds other files"
    released = nbformat.read(folder / f"{ps}.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in released.cells if c.cell_type == "code"), "the release holds outputs"
    release = (folder / f"{ps}.ipynb").read_text()
    source = _source(ps)
    for marker in HIDDEN_TEST_MARKERS + SOLUTION_MARKERS + ("=== BEGIN MARK SCHEME",):
        assert marker not in release
    for grade_id, answer in worked_answers(source).items():
        solution_lines = {line.strip() for line in answer.splitlines() if len(line.strip()) > 25
                          and not line.strip().startswith(("def ", '"""'))}
        leaked = [line for line in solution_lines if line in release]
        assert not leaked, f"solution of {grade_id} leaks into the release: {leaked}"


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
