"""Instructor commands: ``python -m dlparallel.grading solutions | autograde ASSIGNMENT... | student``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .autograde import autograde, format_summary
from .solutions import write_solutions
from .student_edition import ReleaseMissingError, build_student_edition


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlparallel.grading", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    solutions = commands.add_parser("solutions", help="write worked solutions (no hidden tests) from source/")
    solutions.add_argument("--source", default="source")
    solutions.add_argument("--out", default="solutions")
    grade = commands.add_parser("autograde", help="autograde every student, one at a time, and summarise")
    grade.add_argument("assignments", nargs="+")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--timeout", type=float, default=2400.0,
                       help="seconds for one student's whole nbgrader run (a last resort)")
    grade.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="an nbgrader option for this run, e.g. GuardedExecute.timeout=30 (repeatable)")
    grade.add_argument("--root", default=".", help="the course directory")
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

    if args.command == "solutions":
        for path in write_solutions(args.source, args.out):
            print(f"wrote {path}")
        return 0
    reports = []
    for assignment in args.assignments:
        if not (Path(args.root) / "release" / assignment).is_dir():
            parser.error(f"release/{assignment} does not exist: run `make release` first")
        reports += autograde(assignment, args.root, args.student, args.timeout, [f"--{o}" for o in args.set])
    print(format_summary(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
