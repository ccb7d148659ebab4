"""Autograde one class of mixed submissions twice, one student at a time and two at a time.

The class (``--students``, default 40) cycles through solved, untouched, partly wrong and hostile
submissions (tests/hostile_submissions.py) of one problem set. Two copies of the same course
directory are graded with ``python -m dlparallel.grading autograde --jobs 1`` and ``--jobs 2``, each
student's kernel in its bubblewrap sandbox; the script checks that both gradebooks hold the same
scores, then prints seconds per submission and the speed-up. On a shared machine, run both in
one go, as here: only their ratio means something.

    .venv/bin/python benchmarks/autograde.py --problem-set ps1_backprop --students 40
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile_submissions as hostile  # noqa: E402

from dlparallel.grading.paths import python_first_path  # noqa: E402
from dlparallel.grading.solutions import with_answers, worked_answers  # noqa: E402

ENV = {**os.environ, "PATH": python_first_path(os.environ["PATH"])}
KINDS = ("solved", "untouched", "partial", "tampered_tools", "fake_answers", "killed", "reads_answers", "persistence")


def _case(ps: str):
    spec = importlib.util.spec_from_file_location(f"grading_case_{ps}", ROOT / "tests" / "grading_cases" / f"{ps}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_class(root: Path, ps: str, students: int) -> None:
    """A course directory at ``root`` with ``ps`` released and ``students`` submissions."""
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source" / ps, root / "source" / ps)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ps, "--force"], cwd=root, env=ENV,
                   check=True, capture_output=True)
    release = nbformat.read(root / "release" / ps / f"{ps}.ipynb", as_version=4)
    answers, case = worked_answers(nbformat.read(root / "source" / ps / f"{ps}.ipynb", as_version=4)), _case(ps)
    builders = {"solved": lambda: with_answers(release, answers), "untouched": lambda: release,
                "partial": lambda: with_answers(release, {**answers, **case.PARTIAL}),
                **{kind: (lambda kind=kind: getattr(hostile, kind)(release, answers, case)[0])
                   for kind in KINDS[3:]}}
    for index in range(students):
        kind = KINDS[index % len(KINDS)]
        folder = root / "submitted" / f"{index:02d}_{kind}" / ps
        folder.mkdir(parents=True)
        nbformat.write(builders[kind](), folder / f"{ps}.ipynb")


def grade(root: Path, ps: str, jobs: int) -> tuple[float, dict[str, float]]:
    """Seconds to autograde the class in ``root`` with ``jobs`` at a time, and each student's score."""
    from nbgrader.api import Gradebook

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlparallel.grading", "autograde", ps, f"--jobs={jobs}",
                    "--set=GuardedExecute.timeout=60", f"--set=GuardedExecute.disk_limit={64 * 2**20}"],
                   cwd=root, env=ENV, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions(ps)}
    return seconds, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem-set", default="ps1_backprop")
    parser.add_argument("--students", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dlp-bench-") as folder:
        one, two = Path(folder) / "one", Path(folder) / "two"
        one.mkdir()
        make_class(one, args.problem_set, args.students)
        shutil.copytree(one, two)
        sequential, scores_one = grade(one, args.problem_set, 1)
        parallel, scores_two = grade(two, args.problem_set, 2)
    assert scores_one == scores_two, "grading two at a time changed a score"
    print(f"{args.students} submissions of {args.problem_set} on {os.cpu_count()} cores "
          f"(kinds: {', '.join(KINDS)}), every score the same both ways")
    print(f"one at a time: {sequential:.0f} s, {sequential / args.students:.1f} s per submission")
    print(f"two at a time: {parallel:.0f} s, {parallel / args.students:.1f} s per submission")
    print(f"speed-up: {sequential / parallel:.2f}x")


if __name__ == "__main__":
    main()
