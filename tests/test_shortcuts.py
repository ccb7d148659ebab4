"""Forbidden shortcuts and copied code cost exactly the tests they must, checked without nbgrader.

A problem set's grading case (tests/grading_cases/<set>.py) may list ``SHORTCUTS``: name ->
(grade id of an answer cell, code that answers it by a forbidden or copied route), with
``SHORTCUTS_LOST``: name -> the graded cells that code must fail, and ``COPIED``: the answers of a
student who only copies and adapts shown code, which must keep at most a tenth of the points.
Each runs the source notebook's code cells, hidden tests included, in one namespace in this
process; the whole pipeline (tests/test_grading.py) grades some of them for real in ``PARTIAL``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import is_grade, is_solution

from dlparallel.grading.cells import grade_id
from dlparallel.grading.solutions import worked_answers

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "grading_cases"


def _case(ps: str):
    spec = importlib.util.spec_from_file_location(f"grading_case_{ps}", CASES / f"{ps}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WITH_SHORTCUTS = {ps: _case(ps) for ps in sorted(p.stem for p in CASES.glob("*.py"))
                  if hasattr(_case(ps), "SHORTCUTS")}


def _source(ps: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "source" / ps / f"{ps}.ipynb", as_version=4)


def _failing_tests(ps: str, answers: dict[str, str]) -> list[str]:
    """Run ``ps``'s source notebook with ``answers`` (grade id -> code) in place of its worked
    answers; return the grade ids of the graded cells that raise."""
    notebook = _source(ps)
    answers = {**worked_answers(notebook), **answers}
    namespace: dict = {}
    failing = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        name = grade_id(cell)
        code = answers.get(name, cell.source)
        try:
            exec(compile(code, name or "cell", "exec"), namespace)
        except Exception:
            if not is_grade(cell):
                raise
            failing.append(name)
    return failing


@pytest.mark.parametrize("ps, shortcut", [(ps, name) for ps, case in WITH_SHORTCUTS.items()
                                          for name in sorted(case.SHORTCUTS)])
def test_each_shortcut_loses_exactly_its_tests(ps, shortcut):
    case = WITH_SHORTCUTS[ps]
    grade_id, code = case.SHORTCUTS[shortcut]
    assert _failing_tests(ps, {grade_id: code}) == case.SHORTCUTS_LOST[shortcut]


@pytest.mark.parametrize("ps", sorted(WITH_SHORTCUTS))
def test_worked_answers_pass_every_test(ps):
    assert _failing_tests(ps, {}) == []


@pytest.mark.parametrize("ps", [ps for ps, case in WITH_SHORTCUTS.items() if hasattr(case, "COPIED")])
def test_copying_shown_code_keeps_at_most_a_tenth_of_the_points(ps):
    points = {grade_id(c): c.metadata.nbgrader.points for c in _source(ps).cells
              if c.cell_type == "code" and is_grade(c) and not is_solution(c)}
    failing = _failing_tests(ps, WITH_SHORTCUTS[ps].COPIED)
    kept = sum(p for g, p in points.items() if g not in failing)
    assert kept <= 0.1 * sum(points.values()), f"copied code keeps {kept} of {sum(points.values())} points"
