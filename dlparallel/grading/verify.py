"""The grader's own check of each test, outside the student's kernel.

:class:`VerifyAnswers` runs in nbgrader's autograde process right after
:class:`dlparallel.grading.execute.GuardedExecute` ran the notebook. For each test cell that passed
inside the kernel, it compares the answers the cell handed out (:mod:`dlparallel.grading.answers`)
with the answer key (:mod:`dlparallel.grading.answer_key`): every answer the key holds for that
test must have been handed in, close to the key's value within the check's tolerance, and nothing
more. Otherwise the cell gets an error output (``AnswerMismatch``) that names what differed, and
nbgrader scores it 0. So a notebook that fools the checks inside its kernel (by replacing them,
rewriting the tests' source, or changing what they compare) earns nothing for a wrong answer. The
handed-in answers are then removed from every cell's outputs, so they never reach a feedback page.

A notebook that hands in the very values a test expected from inside the kernel is not caught here:
that takes code written against this mechanism, and the in-kernel guard
(:mod:`dlparallel.grading.integrity`) is what looks for it.

Example (``nbgrader_config.py``)::

    c.Autograde.autograde_preprocessors = ["dlparallel.grading.execute.GuardedExecute",
                                           "dlparallel.grading.verify.VerifyAnswers", ...]
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from .answer_key import load_answer_key
from .answers import take_answers, verify
from .cells import grade_id, is_test

__all__ = ["VerifyAnswers", "MISMATCH"]

MISMATCH = "AnswerMismatch"


def _mismatch(problems: list[str]) -> NotebookNode:
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    text = f"the answers this test handed to the grader are not the expected ones: {shown}"
    return new_output("error", ename=MISMATCH, evalue=text, traceback=[f"{MISMATCH}: {text}"])


class VerifyAnswers(NbGraderPreprocessor):
    """Score 0 each test that passed inside the kernel without handing in the answer key's answers."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        names = resources["nbgrader"]
        key = load_answer_key(CourseDirectory(config=self.config).root, names["assignment"], names["notebook"])
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            answers, unreadable = take_answers(cell.outputs)
            if not is_test(cell):
                continue
            if any(o.get("output_type") == "error" for o in cell.outputs):
                continue  # it scores 0 already
            problems = unreadable + verify(key.get(grade_id(cell), []), answers)
            if problems:
                cell.outputs.append(_mismatch(problems))
        return nb, resources
