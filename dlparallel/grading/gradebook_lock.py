"""One grading process at a time in the gradebook, while the students' kernels run in parallel.

nbgrader's default gradebook is an SQLite file, and SQLite refuses a writer while another holds the
file ("database is locked"). Parallel autograding therefore runs each student's nbgrader as
``python -m dlparallel.grading.gradebook_lock LOCK autograde ...``: the process takes an exclusive
lock on the file ``LOCK`` before nbgrader starts and keeps it to its end, except while its student's
kernel runs (:func:`released`, used by :class:`dlparallel.grading.execute.GuardedExecute`). Reading
the gradebook, checking the submission, sanitising and saving grades (seconds) take turns; running
the notebooks (minutes) overlaps. The same order works for any database nbgrader is configured with.

Example:
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as lock, held(lock.name):
    ...     with released():  # outside a grading process: nothing to release
    ...         pass
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["held", "released", "main"]

_lock: IO | None = None  # the lock this grading process holds, when started by main()


@contextlib.contextmanager
def held(path: str | Path) -> Iterator[None]:
    """Hold the lock ``path`` (waiting for it) for the duration of the block."""
    with open(path, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@contextlib.contextmanager
def released() -> Iterator[None]:
    """Let other grading processes use the gradebook during the block, then take it back."""
    if _lock is None:
        yield
        return
    fcntl.flock(_lock, fcntl.LOCK_UN)
    try:
        yield
    finally:
        fcntl.flock(_lock, fcntl.LOCK_EX)


def main(argv: list[str]) -> int:
    """``LOCK NBGRADER_ARGUMENTS...``: run nbgrader in this process, holding ``LOCK``."""
    global _lock
    _lock = open(argv[0], "a")  # closed on exec: a kernel never inherits it
    fcntl.flock(_lock, fcntl.LOCK_EX)
    from .startup import skip_iri_formats

    skip_iri_formats()
    from nbgrader.apps.nbgraderapp import main as nbgrader

    sys.argv = ["nbgrader", *argv[1:]]
    nbgrader()
    return 0


if __name__ == "__main__":
    from dlparallel.grading.gradebook_lock import main as _main  # the module GuardedExecute imports

    raise SystemExit(_main(sys.argv[1:]))
