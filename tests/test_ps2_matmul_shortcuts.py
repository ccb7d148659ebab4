"""ps2_matmul's forbidden shortcuts cost exactly the tests they must, checked without nbgrader.

Each shortcut of tests/grading_cases/ps2_matmul.py (``SHORTCUTS``) replaces one worked answer of
the source notebook; the notebook's code cells, hidden tests included, then run in one namespace
in this process, and the graded cells that fail must be exactly those ``SHORTCUTS_LOST`` names. The
whole grading pipeline (tests/test_grading.py) runs one shortcut, F.conv2d in ``PARTIAL``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from dlparallel.grading.solutions import worked_answers

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "ps2_matmul" / "ps2_matmul.ipynb"


def _case():
    spec = importlib.util.spec_from_file_location("grading_case_ps2_matmul", ROOT / "tests" / "grading_cases" / "ps2_matmul.py")
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


@pytest.mark.parametrize("shortcut", sorted(CASE.SHORTCUTS))
def test_each_shortcut_loses_exactly_its_tests(shortcut):
    grade_id, code = CASE.SHORTCUTS[shortcut]
    assert _failing_tests({grade_id: code}) == CASE.SHORTCUTS_LOST[shortcut]


def test_worked_answers_pass_every_test():
    assert _failing_tests({}) == []
