"""Hostile submissions of any problem set, for tests/test_grading.py.

Each builder takes the released notebook, the worked answers and the set's grading case (the
module in tests/grading_cases/) and returns the student's notebook together with the points it
must lose: grade id of an autograded test -> points lost (None: all of them). Every other test
must score full points.
"""

from __future__ import annotations

import copy
import json

import nbformat
from nbformat import NotebookNode
from nbgrader.utils import is_grade, is_solution

from dlparallel.grading.cells import grade_id
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

# Fools the checks inside the kernel (their comparison, and the visible tests' allclose), then makes
# the in-kernel guard take the changes for the genuine state: only the grader's own comparison,
# outside the kernel (dlparallel/grading/verify.py), still sees which answers are wrong.
RESEALED = '''
import math, numpy, torch
import dlparallel.grading.checks as _checks, dlparallel.grading.integrity as _integrity
torch.allclose = numpy.allclose = math.isclose = lambda *args, **kwargs: True
_checks._close = lambda *args, **kwargs: True
_integrity._SNAPSHOT[:] = [_integrity._record()]
'''

# Bypasses the in-kernel guard cannot see, each fooling the checks inside the kernel: IPython's event
# hooks swap the comparison's code object in before every cell and back after it (the function keeps
# its identity), torch is given a module class whose allclose and equal always agree (its namespace
# unchanged), and an input transformer the guard does not watch makes every assert statement pass.
BYPASSES = '''
import types, torch
import dlparallel.grading.answers as _answers
_genuine, _agreeing = _answers.close.__code__, (lambda actual, expected, rtol, atol: True).__code__


def _swap_in(*args):
    _answers.close.__code__ = _agreeing


def _swap_out(*args):
    _answers.close.__code__ = _genuine


class _AgreeingModule(types.ModuleType):
    def __getattribute__(self, name):
        if name in ("allclose", "equal"):
            return lambda *args, **kwargs: True
        return super().__getattribute__(name)


def _asserts_pass(lines):
    return [line.replace("assert ", "assert True or ", 1) if line.lstrip().startswith("assert ") else line
            for line in lines]


shell = get_ipython()
shell.events.register("pre_run_cell", _swap_in)
shell.events.register("post_run_cell", _swap_out)
shell.input_transformer_manager.line_transforms.append(_asserts_pass)
torch.__class__ = _AgreeingModule
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
IGNORES_INTERRUPTS = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                      "while True:\n    time.sleep(0.5)")
KILLS_ITS_KERNEL = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"


def _meta(cell: NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _tests(notebook: NotebookNode, start: int = 0) -> list[str]:
    return [grade_id(c) for c in notebook.cells[start:] if is_grade(c) and not is_solution(c) and c.cell_type == "code"]


def _index(notebook: NotebookNode, name: str) -> int:
    return next(i for i, c in enumerate(notebook.cells) if grade_id(c) == name)


def _first_answer(notebook: NotebookNode) -> int:
    return next(i for i, c in enumerate(notebook.cells) if is_solution(c) and c.cell_type == "code")


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
    for name, code in case.FAKES.items():
        notebook.cells[_index(notebook, name)].source += "\n" + code
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
        lambda c: notebook.cells.__setitem__(notebook.cells.index(c),
                                             nbformat.v4.new_markdown_cell(c.source, metadata=c.metadata)),
        lambda c: _meta(c).update(grade_id="my_own_test"),
        lambda c: c.metadata.pop("nbgrader"),
        lambda c: (_meta(c).update(locked=False), setattr(c, "source", "print('fine')")),
    ]
    for edit in edits:
        name = next(lost, None)
        if name is not None:
            edit(notebook.cells[_index(notebook, name)])
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
    stuck = next(i for i in range(first, len(notebook.cells)) if is_solution(notebook.cells[i]))
    notebook.cells.insert(stuck, nbformat.v4.new_code_cell(IGNORES_INTERRUPTS))
    return notebook, dict.fromkeys(_tests(notebook, stuck))


def killed(release, answers, case):
    """Right answers; the kernel is killed after the first answer's tests: the rest scores 0."""
    notebook = with_answers(release, answers)
    first = _first_answer(notebook)
    after = next(i for i in range(first + 1, len(notebook.cells)) if is_solution(notebook.cells[i]))
    notebook.cells.insert(after, nbformat.v4.new_code_cell(KILLS_ITS_KERNEL))
    return notebook, dict.fromkeys(_tests(notebook, after))


def resealed(release, answers, case):
    """Partly wrong answers behind checks fooled inside the kernel and a guard re-sealed over the
    changes (RESEALED): it must score exactly what the partly wrong answers deserve."""
    notebook = with_answers(release, {**answers, **case.PARTIAL})
    notebook.cells.insert(1, nbformat.v4.new_code_cell(RESEALED))
    return notebook, dict(case.LOST)


def bypasses(release, answers, case):
    """Partly wrong answers behind checks fooled in ways the in-kernel guard cannot see (BYPASSES):
    it must score exactly what the partly wrong answers deserve."""
    notebook = with_answers(release, {**answers, **case.PARTIAL})
    notebook.cells.insert(1, nbformat.v4.new_code_cell(BYPASSES))
    return notebook, dict(case.LOST)


def reads_answers(release, answers, case):
    """Nothing answered but the concept questions, read from the course's files instead: the files
    must stay hidden, so that it scores nothing (and the gradebook survives)."""
    notebook = copy.deepcopy(release)
    notebook.cells[_index(notebook, "concepts")].source = READ_ANSWERS
    return notebook, dict.fromkeys(_tests(notebook))


HOSTILE = {builder.__name__: builder for builder in
           (tampered_tools, fake_answers, tampered_notebook, resealed, bypasses, misbehaving, killed,
            reads_answers)}


# What follows attacks the grading machinery rather than the tests (tests/test_sandbox.py): every
# file or process it leaves is named with ATTACK, so that the test can look for survivors.
ATTACK = "dlp-attack"

# Configuration and start-up files where the grader or a later kernel would read them, files that
# fill the disk and shared memory, a flood of processes, a daemon that looks for other kernels and
# outlives its own, a grandchild holding the kernel's output, and reads through /proc.
PERSISTENCE = r'''
import os, pathlib, subprocess, sys
ATTACK = "dlp-attack"
payload = f"open('/tmp/{ATTACK}-config-ran', 'w').write('ran')\n"
home, here = pathlib.Path.home(), pathlib.Path.cwd()
for path in [home / ".jupyter" / "nbgrader_config.py", home / ".jupyter" / "jupyter_config.py",
             home / ".ipython" / "profile_default" / "startup" / "00-attack.py",
             home / ".ipython" / "profile_default" / "ipython_kernel_config.py",
             here / "nbgrader_config.py", here / "ipykernel_launcher.py", here / "dlparallel" / "__init__.py",
             here.parents[2] / "nbgrader_config.py", pathlib.Path("/tmp") / f"{ATTACK}-startup.py"]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(payload)
    except OSError as error:
        print("cannot write", path, type(error).__name__)
for folder in (here, pathlib.Path("/dev/shm"), pathlib.Path("/tmp")):
    written = 0
    try:
        with open(folder / f"{ATTACK}-fill", "wb") as file:
            for _ in range(1024):
                file.write(b"x" * 2**20)
                written += 1
    except OSError:
        pass
    print("filled", folder, written, "MiB")
flood = 0
try:
    for _ in range(200):
        subprocess.Popen(["sleep", "1234.5"], start_new_session=True, stdout=subprocess.DEVNULL)
        flood += 1
except OSError:
    pass
print("started", flood, "processes")
subprocess.Popen(["setsid", "sleep", "1234.6"])  # holds the kernel's stdout and stderr
daemon = f"""
import os, time
for _ in range(600):
    kernels = [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getppid()
               and b'ipykernel' in open(f'/proc/{{p}}/cmdline', 'rb').read()]
    open('/tmp/{ATTACK}-daemon-saw-' + str(len(kernels)), 'w').close()
    time.sleep(0.1)
"""
subprocess.Popen([sys.executable, "-c", daemon, ATTACK], start_new_session=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
seen = {}
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        seen[int(pid)] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        pass
print("other kernels", sum("ipykernel_launcher" in c and "bwrap" not in c.split()[0]  # not the sandbox's init
                           for p, c in seen.items() if p != os.getpid()))
print("graders seen", sum("nbgrader" in c or "gradebook_lock" in c for c in seen.values()))
try:
    variables = open("/proc/1/environ", "rb").read().split(b"\0")
    print("init environment", sorted(v.split(b"=")[0].decode() for v in variables if v))
except OSError:
    print("init environment unreadable")
def _is_connection_file(path):  # a kernel's connection file holds its key; a kernelspec does not
    try:
        return '"key"' in path.read_text(errors="replace")
    except OSError:
        return False


print("connection files", sum(map(_is_connection_file, pathlib.Path("/tmp").rglob("kernel*.json"))))  # its own

'''

# Shipped next to the notebook: a module named like the kernel's launcher, a package that would
# shadow the course's, a grader configuration, and links to the gradebook and the hidden tests.
SHIPPED = {
    "ipykernel_launcher.py": f"open('/tmp/{ATTACK}-launcher-ran', 'w').close()\n",
    "dlparallel/__init__.py": f"open('/tmp/{ATTACK}-package-ran', 'w').close()\n",
    "nbgrader_config.py": f"open('/tmp/{ATTACK}-shipped-config-ran', 'w').close()\n",
}
SHIPPED_LINKS = {"gradebook.db": "gradebook.db", "source": "source"}  # name -> path in the course directory

# A later cell prints the kernel's input history, where the hidden tests of earlier cells were.
PRINTS_HISTORY = "print('\\n'.join(In))  # what ran before, hidden tests included\n"
# Marker text in an answer, which nbgrader's feedback step stops at.
MARKER_TEXT = "# ### BEGIN HIDDEN TESTS (not really)\n"


def persistence(release, answers, case):
    """Nothing answered; the concept cell attacks the machine (PERSISTENCE): it must score nothing,
    leave nothing behind and change nothing for the students graded after it."""
    notebook = copy.deepcopy(release)
    notebook.cells[_index(notebook, "concepts")].source = PERSISTENCE
    return notebook, dict.fromkeys(_tests(notebook))


def marker_text(release, answers, case):
    """Nothing answered but the hidden-test marker text in the first answer, and a last cell printing
    the input history: it scores nothing, and its feedback page is made, without the hidden tests."""
    notebook = copy.deepcopy(release)
    notebook.cells[_first_answer(notebook)].source = MARKER_TEXT + notebook.cells[_first_answer(notebook)].source
    notebook.cells.append(nbformat.v4.new_code_cell(PRINTS_HISTORY))
    return notebook, dict.fromkeys(_tests(notebook))


def malformed(release: NotebookNode) -> dict[str, bytes]:
    """Notebook files nbgrader would crash on: student -> the bytes handed in."""
    text = nbformat.writes(release)
    bad_cell = json.loads(text)
    bad_cell["cells"][1] = []
    bad_id = json.loads(text)  # plain JSON, as nbgrader would be handed it
    next(c for c in bad_id["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))["metadata"]["nbgrader"][
        "grade_id"] = ["a", "list"]
    deep = json.loads(text)
    deep["cells"][0]["metadata"]["deep"] = "__DEEP__"
    depth = 100_000
    return {"cell_not_an_object": json.dumps(bad_cell).encode(),
            "grade_id_a_list": json.dumps(bad_id).encode(),
            "nested_100000_deep": json.dumps(deep).replace('"__DEEP__"', "[" * depth + "]" * depth).encode()}
