"""Feedback pages that say which checks failed, and why, without showing the hidden tests.

nbgrader's feedback is the autograded notebook as HTML, and autograding puts the hidden tests
back into every test cell, so a student reading feedback would see them, and the traceback of a
failed one would quote its code. :class:`HideHiddenTests` removes the hidden-test regions from
the cells and cuts each error output down to its last line (``AssertionError: q1_answer is not
the correct choice``), so the problem sets can be used again next term. ``nbgrader_config.py``
adds it to ``GenerateFeedback.preprocessors``.

Example:
    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("assert f(1) == 2\\n### BEGIN HIDDEN TESTS\\nassert f(-1) == 0\\n"
    ...                                  "### END HIDDEN TESTS")
    >>> cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="f(-1) is wrong",
    ...                                        traceback=["...", "assert f(-1) == 0", "AssertionError: f(-1) is wrong"])]
    >>> cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    >>> cell.source
    'assert f(1) == 2'
    >>> cell.outputs[0].traceback
    ['AssertionError: f(-1) is wrong']
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests

__all__ = ["HideHiddenTests"]


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden tests from cells and the code they quote from error outputs."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int
                        ) -> tuple[NotebookNode, dict]:
        had_hidden_tests = self._remove_hidden_test_region(cell)
        if had_hidden_tests:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
