"""nbgrader's execution step, made safe to run on a hostile notebook.

:class:`GuardedExecute` replaces nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``
(see ``nbgrader_config.py``). Compared with it, it

- starts the kernel in a sandbox of its own (:mod:`dlparallel.grading.bubblewrap`): its own PID
  namespace, no network, the course directory and home hidden, private size-bounded folders, a
  fixed environment, limits on memory, processes, open files and file size. Where bubblewrap cannot
  run, grading refuses unless ``GuardedExecute.sandbox = False`` (``--unsandboxed``); then the
  kernel limits its own memory and hides the course directory with Landlock where it can;
- seals the kernel before the student's first cell (:func:`dlparallel.grading.integrity.seal`):
  the genuine functions recorded;
- runs every test cell between two integrity checks, after importing again what the notebook's
  locked setup cells import (so ``torch = something_else`` does not reach the tests);
- scores what completed when the notebook misbehaves: if the kernel dies, ignores an interrupt,
  runs past ``notebook_timeout`` or tampers with the tests' tools, the cells after that point are
  not run and get an error output that names the reason (nbgrader scores them 0);
- keeps at most ``max_output_bytes`` of output per cell, as it arrives.

Example (``nbgrader_config.py``)::

    c.Autograde.autograde_preprocessors = ["dlparallel.grading.execute.GuardedExecute", ...]
    c.GuardedExecute.memory_limit = 4 * 2**30
"""

from __future__ import annotations

import ast
import contextlib
import json
import tempfile
from pathlib import Path
from time import monotonic

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_locked
from traitlets import Bool, Enum, Integer

from . import gradebook_lock
from .answers import MIME
from .cells import grade_id, is_test
from .bubblewrap import SandboxedKernelManager, SandboxLimits, course_checkout, installed_code, sandbox_problem
from .cgroups import kernel_cgroup
from .sandbox import landlock_abi

__all__ = ["GuardedExecute", "NOT_RUN"]

NOT_RUN = "NotRun"
_INTEGRITY = "GradingIntegrityError"
_VERIFY = "__import__('dlparallel.grading.integrity').grading.integrity.verify()"
_CHECKS = "__import__('dlparallel.grading.checks').grading.checks"


def _setup_imports(nb: NotebookNode) -> str:
    """The import statements of the notebook's locked, ungraded code cells."""
    imports = []
    for cell in nb.cells:
        if cell.cell_type == "code" and is_locked(cell) and not is_grade(cell):  # is_locked excludes answers
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            imports += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(imports)


def _error(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """nbgrader's Execute with a sealed kernel, integrity checks and bounded misbehaviour."""

    # The methods below override nbclient's NotebookClient and nbconvert's ExecutePreprocessor, the
    # classes under nbgrader's Execute, and depend on how they call each other. Tested with nbgrader
    # 0.9.6, nbclient 0.11.0 and nbconvert 7.17.2; pyproject.toml bounds nbgrader <0.10 and nbclient
    # <0.12. On an upgrade, re-check each method named in the comments, then run tests/test_grading.py.

    memory_limit = Integer(4 * 2**30, help="Bytes of data memory a student's kernel may use (0: no limit)."
                           ).tag(config=True)
    notebook_timeout = Integer(1800, help="Seconds for the whole notebook; cells after it are not run."
                               ).tag(config=True)
    max_output_bytes = Integer(200_000, help="Bytes of output kept per cell; the rest is dropped."
                               ).tag(config=True)
    hide_course_files = Bool(True, help="Hide the course directory's files (source/, the gradebook, other "
                             "students) from the kernel.").tag(config=True)
    sandbox = Bool(True, help="Run the kernel in a bubblewrap sandbox; False grades without one (the kernel then "
                   "hides the course directory with Landlock where available).").tag(config=True)
    max_processes = Integer(4096, help="Processes and threads a sandboxed kernel may run, all together where "
                            "control groups can be made (root); elsewhere those of the grading user, all its "
                            "processes counted.").tag(config=True)
    max_answer_bytes = Integer(64 * 2**20, help="Bytes of answers a test cell may hand out of the kernel "
                               "(dlparallel.grading.answers), apart from max_output_bytes.").tag(config=True)
    # nbclient's NotebookClient.shutdown_kernel: a graceful shutdown waits seconds for the kernel's atexit
    # hooks, which a graded notebook does not need (what it hands in has arrived by then).
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate", help="How the kernel is "
                           "stopped after the last cell: killed at once (default), or given time to exit."
                           ).tag(config=True)
    disk_limit = Integer(512 * 2**20, help="Bytes a sandboxed kernel may write in each of its private folders "
                         "(working folder, /tmp, home); /dev/shm gets half.").tag(config=True)

    # nbconvert's ExecutePreprocessor.preprocess: runs every cell, through preprocess_cell, in one kernel.
    def preprocess(self, nb: NotebookNode, resources: dict, km=None) -> tuple[NotebookNode, dict]:
        self._stopped = ""
        self._deadline = monotonic() + self.notebook_timeout
        self._output_bytes: dict[int, int] = {}
        self._answer_bytes: dict[int, int] = {}
        self._preamble = f"{_VERIFY}\n{_CHECKS}.begin_answers()\n{_setup_imports(nb)}\n"
        if self.sandbox:
            problem = sandbox_problem()
            if problem:
                raise RuntimeError(f"{problem}; to grade without a sandbox, pass --unsandboxed")
        prelude = self._prelude = new_code_cell(self._seal_source(resources))
        nb.cells.insert(0, prelude)
        # The sandboxed kernel's connection file and sockets, shared with this process alone.
        sockets = tempfile.TemporaryDirectory(prefix="dlp-kernel-") if self.sandbox else contextlib.nullcontext()
        # Its processes and memory, all together, where control groups can be made.
        group = kernel_cgroup(self.max_processes, self._limits().total_memory) if self.sandbox else \
            contextlib.nullcontext()
        try:
            # Others may use the gradebook while this kernel runs.
            with sockets as self._sockets, group as self._cgroup, gradebook_lock.released():
                nb, resources = super().preprocess(nb, resources, km)
        finally:
            nb.cells.remove(prelude)
        failed = [o for o in prelude.outputs if o.get("output_type") == "error"]
        if failed:
            raise RuntimeError(f"the grading kernel could not be sealed: {failed[0].get('ename')}: "
                               f"{failed[0].get('evalue')}")
        return nb, resources

    # nbclient's NotebookClient.create_kernel_manager: sets and returns self.km, using self.kernel_name and self.nb.
    def create_kernel_manager(self):
        if not self.sandbox:
            return super().create_kernel_manager()
        self.kernel_name = self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name") or "python3"
        hidden = [CourseDirectory(config=self.config).root, *course_checkout()] if self.hide_course_files else []
        self.km = SandboxedKernelManager(kernel_name=self.kernel_name, config=self.config, sockets=self._sockets,
                                         workdir=str(self._path), hidden=[str(p) for p in hidden],
                                         readable=[str(p) for p in installed_code()], limits=self._limits(),
                                         cgroup=self._cgroup)
        return self.km

    def _limits(self) -> SandboxLimits:
        return SandboxLimits(memory=self.memory_limit, processes=self.max_processes, disk=self.disk_limit,
                             shared_memory=self.disk_limit // 2)

    def _seal_source(self, resources: dict) -> str:
        self._path = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        hide, memory_limit = None, 0  # the sandbox hides the course and limits memory from outside
        if not self.sandbox:
            memory_limit = self.memory_limit
            if self.hide_course_files and landlock_abi():  # else the autograde summary warns the instructor
                hide = CourseDirectory(config=self.config).root
        return ("import dlparallel.grading.integrity\n"
                f"dlparallel.grading.integrity.seal(memory_limit={memory_limit!r}, hide={hide!r}, "
                f"writable=[{str(self._path)!r}], hand_in_answers=True)\n")

    # nbclient's private NotebookClient._get_timeout(cell): each cell's time limit in seconds, None for none.
    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        timeout = super()._get_timeout(cell)
        left = max(1, int(self._deadline - monotonic()))
        if cell is self._prelude:  # the seal imports torch and the library, slowly on a busy machine: no cell limit
            return left
        return left if timeout is None else min(timeout, left)

    # nbconvert's ExecutePreprocessor.preprocess_cell: runs one cell; nbclient raises DeadKernelError when
    # the kernel dies and CellTimeoutError when a cell ignores its interrupt, and self.km is the kernel's manager.
    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type != "code":
            return cell, resources
        if not self._stopped and monotonic() > self._deadline:
            self._stopped = f"the notebook ran longer than {self.notebook_timeout} s"
        if self._stopped:
            cell.outputs = [_error(NOT_RUN, f"this cell was not run: {self._stopped}")]
            return cell, resources
        source = cell.source
        label = grade_id(cell) or f"#{index - 1}"  # cell 0 is the seal
        if is_test(cell):
            cell.source = f"{self._preamble}{source}\n{_VERIFY}\n{_CHECKS}.send_answers()"
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(_error("DeadKernelError", "the kernel died while this cell ran (it exited, "
                                       "was killed, or crashed)"))
            self._stopped = f"the kernel died in an earlier cell ({label})"
        except CellTimeoutError:
            cell.outputs.append(_error("CellTimeoutError", "this cell ignored the interrupt after its time "
                                       "limit; the kernel was stopped"))
            self._stopped = f"an earlier cell ({label}) could not be interrupted"
            run_sync(self.km.shutdown_kernel)(now=True)
        finally:
            cell.source = source
        if any(o.get("ename") == _INTEGRITY for o in cell.outputs if o.get("output_type") == "error"):
            self._stopped = f"the notebook changed what the tests rely on (found in {label})"
        return cell, resources

    # nbclient's NotebookClient.output (undocumented): turns one output message into an output; None drops it.
    # Answers handed out of the kernel (display data of type answers.MIME alone) have a budget of their own.
    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        size = len(json.dumps(msg.get("content", {})))
        data = msg.get("content", {}).get("data") if msg.get("msg_type") == "display_data" else None
        is_answer = isinstance(data, dict) and list(data) == [MIME]
        budget, limit = (self._answer_bytes, self.max_answer_bytes) if is_answer else \
            (self._output_bytes, self.max_output_bytes)
        used = budget.get(cell_index, 0)
        budget[cell_index] = used + size
        if used + size <= limit or msg.get("msg_type") == "error":
            return super().output(outs, msg, display_id, cell_index)
        if is_answer:
            return None  # the answer is missing, and the grader scores the test 0
        if used <= self.max_output_bytes:
            outs.append(new_output("stream", name="stdout",
                                   text=f"\n[output cut: this cell wrote more than {self.max_output_bytes} bytes]\n"))
        return None
