"""Feedback pages that say which checks failed, and why, without showing the hidden tests.

nbgrader's feedback is the autograded notebook as HTML, and autograding puts the hidden tests
back into every test cell, so a student reading feedback would see them, and the traceback of a
failed one would quote its code. :class:`HideHiddenTests` removes the hidden-test regions from
the cells and cuts each error output down to its last line (``AssertionError: q1_answer is not
the correct choice``), so the problem sets can be used again next term. Any other output that quotes a hidden
test's line (a student's cell that printed the kernel's input history) is removed too, and marker
text a student typed into an answer is left alone instead of stopping feedback for the class.
``nbgrader_config.py`` adds it to ``GenerateFeedback.preprocessors``.

Example:
    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell(metadata={"nbgrader": {"grade": True, "solution": False}},
    ...                                  source="assert f(1) == 2\\n### BEGIN HIDDEN TESTS\\nassert f(-1) == 0\\n"
    ...                                  "### END HIDDEN TESTS")
    >>> cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="f(-1) is wrong", traceback=[
    ...     "...", "assert f(-1) == 0", "AssertionError: f(-1) is wrong"])]
    >>> cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    >>> cell.source
    'assert f(1) == 2'
    >>> cell.outputs[0].traceback
    ['AssertionError: f(-1) is wrong']
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests

from .cells import is_test

__all__ = ["HideHiddenTests"]

_REMOVED = "[output removed from the feedback: it quoted the hidden tests]\n"


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden tests from test cells, the code they quote from error outputs, and any output
    that quotes them."""

    _hidden: frozenset[str] = frozenset()  # the hidden tests' lines of the notebook being processed

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        lines = set()
        for cell in filter(is_test, nb.cells):
            inside = False
            for line in cell.source.splitlines():
                if self.begin_test_delimeter in line or self.end_test_delimeter in line:
                    inside = self.begin_test_delimeter in line
                elif inside and len(line.strip()) >= 12:
                    lines.add(line.strip())
        self._hidden = frozenset(lines)
        return super().preprocess(nb, resources)

    # Replaces nbgrader's ClearHiddenTests.preprocess_cell and calls its private _remove_hidden_test_region(cell),
    # which removes the hidden tests from the cell's source and says whether there were any. Tested with nbgrader
    # 0.9.6; pyproject.toml bounds nbgrader <0.10. On an upgrade, re-check both, then run tests/test_grading.py.
    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int
                        ) -> tuple[NotebookNode, dict]:
        if is_test(cell) and self._remove_hidden_test_region(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        if self._hidden and cell.cell_type == "code":
            cell.outputs = [new_output("stream", name="stdout", text=_REMOVED)
                            if any(line in text for text in _strings(output) for line in self._hidden) else output
                            for output in cell.get("outputs", [])]
        return cell, resources
