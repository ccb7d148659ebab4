"""Instructor commands: ``python -m dlparallel.grading solutions | autograde ASSIGNMENT... | answer-key
ASSIGNMENT... | student``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .answer_key import make_answer_key
from .autograde import AnswerKeyError, SandboxUnavailable, autograde, format_summary
from .solutions import write_solutions
from .student_edition import ReleaseMissingError, build_student_edition


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlparallel.grading", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    solutions = commands.add_parser("solutions", help="write worked solutions (no hidden tests) from source/")
    solutions.add_argument("--source", default="source")
    solutions.add_argument("--out", default="solutions")
    grade = commands.add_parser("autograde", help="autograde every student, each in a sandbox, and summarise")
    grade.add_argument("assignments", nargs="+")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--timeout", type=float, default=2400.0,
                       help="seconds for one student's whole nbgrader run (a last resort)")
    grade.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="an nbgrader option for this run, e.g. GuardedExecute.timeout=30 (repeatable)")
    grade.add_argument("--root", default=".", help="the course directory")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="students graded at the same time (default: this machine's cores)")
    grade.add_argument("--unsandboxed", action="store_true",
                       help="grade even where bubblewrap cannot start a sandbox (the summary says so)")
    key = commands.add_parser("answer-key", help="run source/ASSIGNMENT's solution and record its answer key "
                              "(autograde does it when the key is missing or out of date)")
    key.add_argument("assignments", nargs="+")
    key.add_argument("--root", default=".", help="the course directory")
    key.add_argument("--unsandboxed", action="store_true", help="run the solution without a sandbox")
    student = commands.add_parser("student", help="build the student edition from the lessons and release/")
    student.add_argument("--out", default="dist/student")
    student.add_argument("--replace", action="store_true", help="delete and rebuild an existing edition")
    args = parser.parse_args(argv)

    if args.command == "student":
        try:
            files = build_student_edition(".", args.out, replace=args.replace)
        except (ReleaseMissingError, FileExistsError) as error:
            parser.error(str(error))
        print(f"wrote the student edition to {args.out}: {len(files)} files")
        return 0

    if args.command == "answer-key":
        for assignment in args.assignments:
            try:
                print(f"wrote {make_answer_key(args.root, assignment, sandboxed=not args.unsandboxed)}")
            except AnswerKeyError as error:
                parser.error(str(error))
        return 0

    if args.command == "solutions":
        for path in write_solutions(args.source, args.out):
            print(f"wrote {path}")
        return 0
    reports = []
    for assignment in args.assignments:
        if not (Path(args.root) / "release" / assignment).is_dir():
            parser.error(f"release/{assignment} does not exist: run `make release` first")
        try:
            reports += autograde(assignment, args.root, args.student, args.timeout, [f"--{o}" for o in args.set],
                                 jobs=args.jobs, sandboxed=not args.unsandboxed)
        except (SandboxUnavailable, AnswerKeyError) as error:
            parser.error(str(error))
    print(format_summary(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
