"""The instructor's commands, ``python -m dlparallel.grading solutions | autograde ASSIGNMENT... | merge RESULT... |
answer-key ASSIGNMENT... | student``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .answer_key import make_answer_key
from .autograde import AnswerKeyError, SandboxUnavailable, autograde, format_summary, submitted_students
from .shards import ResultError, Shard, merge, write_result
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
    grade.add_argument("--shard", type=_shard, metavar="I/N",
                       help="grade only the I-th (from 0) of N slices of the sorted class; needs --result")
    grade.add_argument("--result", type=Path, metavar="PATH",
                       help="also write the grades and autograded notebooks to this result file (a zip), "
                            "for `merge` into the course's gradebook")
    combine = commands.add_parser("merge", help="write result files of `autograde --result` into this gradebook")
    combine.add_argument("results", nargs="+", type=Path)
    combine.add_argument("--root", default=".", help="the course directory")
    combine.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                         help="an nbgrader option, e.g. CourseDirectory.db_url=postgresql+psycopg://... (repeatable)")
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
    options = [f"--{o}" for o in args.set]
    if args.command == "merge":
        return _merge(args.results, args.root, options)
    if args.shard and not args.result:
        parser.error("--shard needs --result PATH: the shard's grades are merged from that file")
    reports = []
    for assignment in args.assignments:
        if not (Path(args.root) / "release" / assignment).is_dir():
            parser.error(f"release/{assignment} does not exist: run `make release` first")
        students = args.student or submitted_students(args.root, assignment)
        if args.shard:
            students = args.shard.of(students)
        try:
            reports += autograde(assignment, args.root, students, args.timeout, options,
                                 jobs=args.jobs, sandboxed=not args.unsandboxed)
        except (SandboxUnavailable, AnswerKeyError) as error:
            parser.error(str(error))
    print(format_summary(reports))
    if args.result:
        count = write_result(args.result, args.root, reports, options)
        print(f"\nwrote {count} graded submission(s){f' of shard {args.shard}' if args.shard else ''} to "
              f"{args.result}: merge it with `python -m dlparallel.grading merge {args.result}`")
    return 0


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _merge(results: list[Path], root: str, options: list[str]) -> int:
    """Merge every result (a bad one is named and merges nothing); print the class's summary."""
    reports, failed = [], 0
    for path in results:
        try:
            merged = merge(path, root, options)
        except ResultError as error:
            print(f"{path}: not merged: {error}")
            failed += 1
            continue
        print(f"{path}: merged {len(merged.submissions)} submission(s)")
        reports += merged.reports
    if reports:
        print("\n" + format_summary(reports))
    return 1 if failed else 0

