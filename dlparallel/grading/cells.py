"""Sanitising steps that undo what a student did to the structure of a released notebook.

nbgrader already restores the source, type and points of locked cells and puts back deleted test
cells. Two things it does not handle are added here, to run in ``Autograde.sanitize_preprocessors``
around nbgrader's ``OverwriteCells`` (see ``nbgrader_config.py``):

- :class:`ForgetUnknownCells`: a cell whose grade id the gradebook does not know (a renamed test,
  a copied cell given a new id) stops nbgrader with a ``KeyError``; it becomes an ordinary cell of
  the student's, and the renamed original is put back by ``OverwriteCells``.
- :class:`RestoreCellOrder`: released cells go back to their released order, and each cell the
  student added follows the released cell it followed, so moving tests around changes nothing.

Example (``nbgrader_config.py``)::

    c.Autograde.sanitize_preprocessors = [..., "dlparallel.grading.cells.ForgetUnknownCells",
                                          "nbgrader.preprocessors.OverwriteCells",
                                          "dlparallel.grading.cells.RestoreCellOrder", ...]
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution

__all__ = ["ForgetUnknownCells", "RestoreCellOrder", "grade_id", "is_test"]


def grade_id(cell: NotebookNode) -> str | None:
    """The nbgrader grade id of ``cell``; None for a cell without one (``nbgrader.utils`` reads the
    cell's flags, ``is_grade``, ``is_solution``, ``is_locked``, but not its id).

    Example:
        >>> import nbformat
        >>> cell = nbformat.v4.new_code_cell(metadata={"nbgrader": {"grade_id": "relu", "solution": True}})
        >>> grade_id(cell), grade_id(nbformat.v4.new_code_cell())
        ('relu', None)
    """
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_test(cell: NotebookNode) -> bool:
    """Whether ``cell`` is an autograded test: a graded code cell that is not an answer.

    Example:
        >>> import nbformat
        >>> is_test(nbformat.v4.new_code_cell(metadata={"nbgrader": {"grade": True, "solution": False}}))
        True
    """
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def _released_cell_names(resources: dict) -> list[str]:
    """Grade ids of the released notebook's nbgrader cells, in their released order."""
    info = resources["nbgrader"]
    with Gradebook(info["db_url"]) as gradebook:
        return [c.name for c in gradebook.find_notebook(info["notebook"], info["assignment"]).source_cells]


class ForgetUnknownCells(NbGraderPreprocessor):
    """Strip the nbgrader metadata of cells whose grade id the gradebook does not know."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        known = set(_released_cell_names(resources))
        for cell in nb.cells:
            if "nbgrader" in cell.get("metadata", {}) and grade_id(cell) not in known:
                self.log.warning("Cell %r is not in the gradebook: graded as the student's own cell", grade_id(cell))
                del cell.metadata["nbgrader"]
        return nb, resources


class RestoreCellOrder(NbGraderPreprocessor):
    """Put the released cells back in the released order; a student's own cells follow the cell
    they followed. Moving a test cell above its answer, or below code that it should not see,
    then changes nothing."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        rank = {name: i for i, name in enumerate(_released_cell_names(resources))}
        groups: list[tuple[int, list[NotebookNode]]] = [(-1, [])]
        for cell in nb.cells:
            name = grade_id(cell)
            if name in rank:
                groups.append((rank[name], [cell]))
            else:
                groups[-1][1].append(cell)
        nb.cells = [cell for _, cells in sorted(groups, key=lambda group: group[0]) for cell in cells]
        return nb, resources
