"""ps4_parallel's shortcuts through shown code cost exactly the tests they must, checked without nbgrader.

Each shortcut of tests/grading_cases/ps4_parallel.py (``SHORTCUTS``: PyTorch's own bucket
assignment, lesson 05's single flat all-reduce, the library's step-time formula, lesson 05's
one-world-size fit, lesson 06's server and largest-batch walk, numpy's interpolation, the library's
percentiles) replaces one worked answer of the source notebook; the notebook's code cells, hidden
tests included, then run in one namespace in this process, and the graded cells that fail must be
exactly those ``SHORTCUTS_LOST`` names. All of them together, as a student who only copies and
adapts shown code would hand in, must earn nothing. The whole grading pipeline
(tests/test_grading.py) runs three of them in ``PARTIAL``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from dlparallel.grading.solutions import worked_answers

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "ps4_parallel" / "ps4_parallel.ipynb"


def _case():
    spec = importlib.util.spec_from_file_location("grading_case_ps4_parallel",
                                                  ROOT / "tests" / "grading_cases" / "ps4_parallel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASE = _case()


def _failing_tests(answers: dict[str, str]) -> list[str]:
    """Run the source notebook with ``answers`` (grade id -> code) in place of its worked answers;
    return the grade ids of the graded cells that raise."""
    notebook = nbformat.read(SOURCE, as_version=4)
    answers = {**worked_answers(notebook), **answers}
    namespace: dict = {}
    failing = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        code = answers.get(meta.get("grade_id"), cell.source)
        try:
            exec(compile(code, meta.get("grade_id", "cell"), "exec"), namespace)
        except Exception:
            if not meta.get("grade"):
                raise
            failing.append(meta["grade_id"])
    return failing


def _points() -> dict[str, float]:
    notebook = nbformat.read(SOURCE, as_version=4)
    metas = [c.metadata.get("nbgrader", {}) for c in notebook.cells if c.cell_type == "code"]
    return {m["grade_id"]: m["points"] for m in metas if m.get("grade") and not m.get("solution")}


@pytest.mark.parametrize("shortcut", sorted(CASE.SHORTCUTS))
def test_each_shortcut_loses_exactly_its_tests(shortcut):
    grade_id, code = CASE.SHORTCUTS[shortcut]
    assert _failing_tests({grade_id: code}) == CASE.SHORTCUTS_LOST[shortcut]


def test_worked_answers_pass_every_test():
    assert _failing_tests({}) == []


def test_copying_shown_code_earns_nothing():
    copied = {grade_id: code for grade_id, code in CASE.SHORTCUTS.values()}   # one shortcut per answer
    copied["buckets"] = "def assign_buckets(sizes, cap):\n    raise NotImplementedError()"   # nothing shown to copy
    points = _points()
    kept = sum(p for g, p in points.items() if g not in _failing_tests(copied))
    assert kept <= 0.1 * sum(points.values()), f"copied code keeps {kept} of {sum(points.values())} points"
    assert kept == 0
