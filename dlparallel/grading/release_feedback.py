"""``nbgrader release_feedback`` for the students who submitted through the exchange.

nbgrader publishes a feedback page to the exchange under a hash of the secret that ``nbgrader
submit`` left in the submission (``submission_secret.txt``), reading it from the feedback folder;
the student's ``nbgrader fetch_feedback`` (the *Assignments* panel) finds it by the same secret.
The secret travels with the notebook through grading (:mod:`dlparallel.grading.autograde`) to the
feedback folder. A submission without one, or with a file there that is not what ``nbgrader
submit`` writes (collected from an LMS's archive, or written by hand), has no place in the
exchange: its feedback is held back, named, and stays in ``feedback/<student>/<assignment>/`` to
hand back through the LMS, instead of stopping nbgrader for everyone.

Run as ``python -m dlparallel.grading.release_feedback ASSIGNMENT... [--root COURSE]``
(``make release-feedback``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from .gradebook import course_config

SECRET = "submission_secret.txt"
# What nbgrader submit writes: secrets.token_hex(64).
SECRET_PATTERN = re.compile(r"[0-9a-f]{32,256}")


def read_secret(submission: Path) -> str | None:
    """The submission secret of the folder ``submission``, or None where there is no plain file
    holding one (missing, a link, too long, not hexadecimal).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / SECRET).write_text("ab" * 64)
        >>> read_secret(folder) == "ab" * 64, read_secret(folder / "missing")
        (True, None)
    """
    try:
        descriptor = os.open(submission / SECRET, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as file:
        data = file.read(257)
    text = data.decode("ascii", errors="replace").strip()
    return text if SECRET_PATTERN.fullmatch(text) else None


def held_back(assignment: str, root: Path) -> list[str]:
    """The students whose feedback on ``assignment`` cannot go through the exchange: no readable
    secret, or no timestamp, next to it."""
    return [feedback.parent.name for feedback in sorted((root / "feedback").glob(f"*/{assignment}"))
            if read_secret(feedback) is None or not (feedback / "timestamp.txt").is_file()]


def release_feedback(assignment: str, root: Path | str = ".") -> list[str]:
    """Publish every student's feedback on ``assignment`` to the exchange of the course directory
    ``root`` (nbgrader's exchange, configured by the course's nbgrader_config.py); return the
    students held back. nbgrader's ``ExchangeError`` says why it could not."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory

    root = Path(root).resolve()
    excluded = held_back(assignment, root)
    config = course_config(root)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id_exclude = ",".join(excluded)
    ExchangeFactory(config=config).ReleaseFeedback(coursedir=CourseDirectory(config=config),
                                                   authenticator=Authenticator(config=config)).start()
    return excluded


def main(argv: list[str] | None = None) -> int:
    from nbgrader.exchange import ExchangeError

    parser = argparse.ArgumentParser(prog="python -m dlparallel.grading.release_feedback", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="+")
    parser.add_argument("--root", default=".", help="the course directory")
    args = parser.parse_args(argv)
    status = 0
    for assignment in args.assignments:
        try:
            excluded = release_feedback(assignment, args.root)
        except ExchangeError as error:
            print(f"{assignment}: {error}", file=sys.stderr)
            status = 1
            continue
        print(f"{assignment}: feedback released to the exchange"
              + (f"; held back (no exchange submission: hand back feedback/<student>/{assignment}/ "
                 f"through the LMS): {', '.join(excluded)}" if excluded else ""))
    return status


if __name__ == "__main__":
    sys.exit(main())
