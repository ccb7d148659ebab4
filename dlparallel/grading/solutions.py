"""Worked solutions made from the nbgrader sources, without hidden tests or grading notes.

nbgrader's own ``generate_solution`` keeps the hidden tests, so publishing its output would
give them away. This applies nbgrader's own preprocessors for the parts it already knows how to
remove (``ClearHiddenTests``, ``ClearMarkScheme``, ``ClearOutput``), then drops the solution
markers and the grading metadata, leaving a clean notebook a student can read and run.

Example:
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    ...     "### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION\\nassert x == 1\\n"
    ...     "### BEGIN HIDDEN TESTS\\nassert x > 0\\n### END HIDDEN TESTS")])
    >>> print(solution_notebook(nb).cells[0].source)
    x = 1
    assert x == 1
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = ["solution_notebook", "write_solutions", "worked_answers", "with_answers"]

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TEST_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def solution_notebook(source: NotebookNode) -> NotebookNode:
    """The worked-solution version of one nbgrader source notebook (the input is not changed)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearOutput

    notebook = copy.deepcopy(source)
    for preprocessor in (ClearHiddenTests(enforce_metadata=False), ClearMarkScheme(enforce_metadata=False),
                         ClearOutput()):
        notebook, _ = preprocessor.preprocess(notebook, {})
    for cell in notebook.cells:
        lines = cell.source.splitlines()
        kept = [line for line in lines if line.strip() not in SOLUTION_MARKERS]
        cell.source = "\n".join(kept).strip("\n")
        cell.metadata.pop("nbgrader", None)
        if any(marker in cell.source for marker in SOLUTION_MARKERS + HIDDEN_TEST_MARKERS):
            raise ValueError(f"a grading marker is left inside a line of cell {cell.get('id', '?')}: "
                             "markers must stand on lines of their own")
    return notebook


def worked_answers(source: NotebookNode) -> dict[str, str]:
    """grade id -> worked solution of every cell a student answers, as ``solution_notebook`` has it.

    Example:
        >>> cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION")
        >>> cell.metadata["nbgrader"] = {"grade_id": "x", "solution": True}
        >>> worked_answers(nbformat.v4.new_notebook(cells=[cell]))
        {'x': 'x = 1'}
    """
    from nbgrader.utils import is_solution  # nbgrader is imported where it is used, as in solution_notebook

    return {cell.metadata["nbgrader"]["grade_id"]: worked.source
            for cell, worked in zip(source.cells, solution_notebook(source).cells) if is_solution(cell)}


def with_answers(release: NotebookNode, answers: dict[str, str]) -> NotebookNode:
    """A copy of the released notebook with the cells named in ``answers`` (by grade id) holding
    those sources: ``with_answers(release, worked_answers(source))`` is a fully solved submission."""
    from .cells import grade_id  # nbgrader is imported where it is used, as in solution_notebook

    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return notebook


def write_solutions(source_dir: Path | str, solutions_dir: Path | str) -> list[Path]:
    """Write the solution of every ``source_dir/<assignment>/*.ipynb`` under ``solutions_dir``.

    Returns the paths written. Files other than notebooks are not copied.
    """
    source_dir, solutions_dir = Path(source_dir), Path(solutions_dir)
    sources = sorted(source_dir.glob("*/*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no nbgrader source notebooks under {source_dir}/<assignment>/")
    written = []
    for path in sources:
        target = solutions_dir / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = solution_notebook(nbformat.read(path, as_version=4))
        nbformat.write(notebook, target)
        written.append(target)
    return written
