"""nbgrader course directories for the tests: the problem sets released once per test run
(tests/conftest.py's ``released`` fixture), and copies of one set's release to grade or serve."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from dlparallel.grading.paths import python_first_path

if TYPE_CHECKING:
    from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
PROBLEM_SETS = sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
# nbgrader and the kernels it starts find this Python's tools first.
ENV = {**os.environ, "PATH": python_first_path(os.environ["PATH"])}


def autograded_points(source: NotebookNode) -> dict[str, float]:
    """grade id -> points of every test cell of an nbgrader ``source`` notebook (not the answers graded by hand)."""
    # Imported here: conftest.py imports this module, and the GPU check runs the tests without nbgrader.
    from nbgrader.utils import is_grade, is_solution

    from dlparallel.grading.cells import grade_id

    return {grade_id(c): float(c.metadata.nbgrader.points) for c in source.cells if is_grade(c) and not is_solution(c)}


def python_module(module: str, *args: str, cwd: Path, timeout: float = 600) -> str:
    """Run ``python -m MODULE ARGS`` in the course directory ``cwd``; return its output, failing with it."""
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{module} {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def nbgrader(*args: str, cwd: Path, timeout: float = 600) -> str:
    """Run ``nbgrader ARGS`` in the course directory ``cwd``; return its output, failing with it."""
    return python_module("nbgrader", *args, cwd=cwd, timeout=timeout)


def release_every_set(root: Path, jobs: int = 2) -> None:
    """Make ``root`` a course directory (this repository's nbgrader_config.py and source/) in which
    every problem set is released by ``nbgrader generate_assignment``, each with a gradebook of its
    own (``<set>.db``, so that the sets are released at the same time), and has its answer key."""
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source", root / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))

    def release(ps: str) -> None:
        nbgrader("generate_assignment", ps, "--force", f"--CourseDirectory.db_url=sqlite:///{root}/{ps}.db", cwd=root)
        python_module("dlparallel.grading", "answer-key", ps, cwd=root)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(release, PROBLEM_SETS))


def course_of(released: Path, ps: str, dest: Path) -> Path:
    """``dest`` made a course directory holding problem set ``ps`` as ``released`` has it: its
    source, its release, its gradebook (``gradebook.db``) and its answer key, ready for submissions."""
    from dlparallel.grading.answer_key import key_path  # nbgrader: see autograded_points

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(released / "nbgrader_config.py", dest)
    for step in ("source", "release"):
        shutil.copytree(released / step / ps, dest / step / ps)
    shutil.copy(released / f"{ps}.db", dest / "gradebook.db")
    (dest / "answer_keys").mkdir(exist_ok=True)
    shutil.copy(key_path(released, ps), key_path(dest, ps))
    return dest
