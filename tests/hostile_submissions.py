"""Hostile submissions of any problem set, for tests/test_grading.py.

Each builder takes the released notebook, the worked answers and the set's grading case (the
module in tests/grading_cases/) and returns the student's notebook together with the points it
must lose: grade id of an autograded test -> points lost (None: all of them). Every other test
must score full points.
"""

from __future__ import annotations

import copy

import nbformat
from nbformat import NotebookNode

from dlparallel.grading.solutions import with_answers

ALWAYS_EQUAL = '''
class AlwaysEqual:
    """Claims to equal, and to be on either side of, anything."""
    def __eq__(self, other):
        return True

    __ne__ = lambda self, other: False
    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = object.__hash__
'''

# Replaces the comparisons a test could use and the course's own assertion helpers.
TAMPER_WITH_TOOLS = '''
import math, numpy, torch
import dlparallel.grading.checks as _checks
numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
math.isclose = lambda *args, **kwargs: True
_checks.check_tensor = _checks.check_number = _checks.check_choice = lambda *args, **kwargs: None
'''

# Rebinds the names of modules the tests use to stand-ins whose comparisons always succeed.
SHADOW_MODULES = '''
import types as _types


def _lenient(module):
    stand_in = _types.SimpleNamespace(**{n: getattr(module, n) for n in dir(module) if not n.startswith("__")})
    for name in ("allclose", "isclose", "equal", "array_equal", "isfinite"):
        if hasattr(module, name):
            setattr(stand_in, name, lambda *args, **kwargs: True)
    return stand_in


torch, math = _lenient(torch), _lenient(math)
'''

# Reads the course's files (the gradebook holds the hidden tests, source/ the solutions, another
# student's submission the answers) and copies every answer it finds; tries to overwrite them too.
READ_ANSWERS = r'''
import pathlib, re
course = pathlib.Path.cwd().parents[2]
patterns = [r'check_choice\((q\w+), \\?"(\w)\\?"', r'(q\d_\w+) = \\?"(\w)\\?"',
            r'check_number\((q\w+), ([\d(][^,]*),', r'(q\d_\w+) = (\d[\d._e/* ]*)']
found = {}
for path in [course / "gradebook.db", *course.glob("source/*/*.ipynb"), *course.glob("submitted/*/*/*.ipynb")]:
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as error:
        print("cannot read", path.name, type(error).__name__)
        continue
    for pattern in patterns:
        found.update(re.findall(pattern, text))
for name, value in found.items():
    globals()[name] = eval(value, {"__builtins__": {}}) if value[:1] in "0123456789(" else value
print("found", sorted(found))
for path in [course / "gradebook.db", *course.glob("submitted/*/*/*.ipynb")]:
    try:
        path.write_text("overwritten")
    except OSError as error:
        print("cannot write", path.name, type(error).__name__)
'''

MISBEHAVING_CELLS = [
    "for i in range(100_000):\n    print('flood', i)\nprint('x' * 20_000_000)",
    "hog = bytearray(64 * 2**30)",
    "raise SystemExit(3)",
    "import time\nwhile True:\n    time.sleep(0.5)",
]
IGNORES_INTERRUPTS = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.5)"
KILLS_ITS_KERNEL = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"


def _meta(cell: NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _tests(notebook: NotebookNode, start: int = 0) -> list[str]:
    return [_meta(c)["grade_id"] for c in notebook.cells[start:]
            if _meta(c).get("grade") and not _meta(c).get("solution") and c.cell_type == "code"]


def _index(notebook: NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(notebook.cells) if _meta(c).get("grade_id") == grade_id)


def _first_answer(notebook: NotebookNode) -> int:
    return next(i for i, c in enumerate(notebook.cells) if _meta(c).get("solution") and c.cell_type == "code")


def tampered_tools(release, answers, case):
    """Right answers, but the first answer cell replaces the tests' tools: nothing scores."""
    notebook = with_answers(release, answers)
    cell = notebook.cells[_first_answer(notebook)]
    cell.source = TAMPER_WITH_TOOLS + "\n" + cell.source
    return notebook, dict.fromkeys(_tests(notebook))


def fake_answers(release, answers, case):
    """Objects that equal anything, tensor and string subclasses, NumPy scalars (which are right),
    among right answers that write warnings to stderr while the tests run them (which cost nothing)."""
    notebook = with_answers(release, {**answers, **case.NOISY})
    notebook.cells.insert(1, nbformat.v4.new_code_cell(ALWAYS_EQUAL))
    for grade_id, code in case.FAKES.items():
        notebook.cells[_index(notebook, grade_id)].source += "\n" + code
    return notebook, dict(case.FAKES_LOST)


def tampered_notebook(release, answers, case):
    """Partly wrong answers, module names rebound, the failing tests edited, re-typed, renamed,
    unlocked or stripped of their metadata, a passing test worth 100 points, another deleted, and
    every cell after the first in reverse order: it must score exactly what the partly wrong
    answers deserve."""
    notebook = with_answers(release, {**answers, **case.PARTIAL})
    notebook.cells.insert(1, nbformat.v4.new_code_cell(SHADOW_MODULES))
    lost = iter(case.LOST)
    edits = [
        lambda c: setattr(c, "source", "pass"),
        lambda c: notebook.cells.__setitem__(notebook.cells.index(c), nbformat.v4.new_markdown_cell(c.source, metadata=c.metadata)),
        lambda c: _meta(c).update(grade_id="my_own_test"),
        lambda c: c.metadata.pop("nbgrader"),
        lambda c: (_meta(c).update(locked=False), setattr(c, "source", "print('fine')")),
    ]
    for edit in edits:
        grade_id = next(lost, None)
        if grade_id is not None:
            edit(notebook.cells[_index(notebook, grade_id)])
    passing = [g for g in _tests(notebook) if g not in case.LOST]
    _meta(notebook.cells[_index(notebook, passing[0])])["points"] = 100
    del notebook.cells[_index(notebook, passing[1])]
    notebook.cells[1:] = notebook.cells[:0:-1]
    return notebook, dict(case.LOST)


def misbehaving(release, answers, case):
    """Right answers, with cells that flood output, exhaust memory, exit, hang (interruptibly),
    and, before the second answer, hang ignoring interrupts: the tests after that score 0."""
    notebook = with_answers(release, answers)
    first = _first_answer(notebook) + 1
    notebook.cells[first:first] = [nbformat.v4.new_code_cell(code) for code in MISBEHAVING_CELLS]
    stuck = next(i for i in range(first, len(notebook.cells)) if _meta(notebook.cells[i]).get("solution"))
    notebook.cells.insert(stuck, nbformat.v4.new_code_cell(IGNORES_INTERRUPTS))
    return notebook, dict.fromkeys(_tests(notebook, stuck))


def killed(release, answers, case):
    """Right answers; the kernel is killed after the first answer's tests: the rest scores 0."""
    notebook = with_answers(release, answers)
    first = _first_answer(notebook)
    after = next(i for i in range(first + 1, len(notebook.cells)) if _meta(notebook.cells[i]).get("solution"))
    notebook.cells.insert(after, nbformat.v4.new_code_cell(KILLS_ITS_KERNEL))
    return notebook, dict.fromkeys(_tests(notebook, after))


def reads_answers(release, answers, case):
    """Nothing answered but the concept questions, read from the course's files instead: the files
    must stay hidden, so that it scores nothing (and the gradebook survives)."""
    notebook = copy.deepcopy(release)
    notebook.cells[_index(notebook, "concepts")].source = READ_ANSWERS
    return notebook, dict.fromkeys(_tests(notebook))


HOSTILE = {builder.__name__: builder for builder in
           (tampered_tools, fake_answers, tampered_notebook, misbehaving, killed, reads_answers)}
