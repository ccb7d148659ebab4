"""Grading a class past one machine: ``autograde --shard I/N --result PATH`` in separate course
directories, then ``merge``, must give the gradebook one run gives, grade by grade; a hostile result
file merges nothing. The one run grades into a PostgreSQL gradebook (a real server, started here),
so that the shards (SQLite) must match it across database engines.

One problem set (the cheapest to execute) and a class of three: solved, untouched, and partly
wrong and late by less than a day (a due date, and the course's late policy of 10% a started day,
so that the penalty is not 0).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import importlib.util
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from courses import ENV, course_of

from dlparallel.grading.cli import main
from dlparallel.grading.autograde import SubmissionReport, autograde
from dlparallel.grading.gradebook import course_directory, open_gradebook
from dlparallel.grading.shards import ResultError, Shard, merge, write_result
from dlparallel.grading.solutions import with_answers, worked_answers

ROOT = Path(__file__).resolve().parents[1]
PS = "ps2_matmul"
DUE = "2026-01-10 12:00:00 UTC"
HANDED_IN = {"solved": "2026-01-09 08:00:00 UTC", "untouched": "2026-01-10 11:59:00 UTC",
             "partial": "2026-01-11 09:30:00 UTC"}
GRADING_OPTIONS = ["--set=GuardedExecute.timeout=30"]
TIMEOUT_S = 900
COURSE = "dlparallel"  # nbgrader_config.py's course id
pytestmark = pytest.mark.timeout(600, func_only=True)


def _partial_answers() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("grading_case", ROOT / "tests" / "grading_cases" / f"{PS}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PARTIAL


def _hand_in(root: Path) -> None:
    """The class's notebooks and hand-in times in ``root/submitted``."""
    source = nbformat.read(root / "source" / PS / f"{PS}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / PS / f"{PS}.ipynb", as_version=4)
    answers = worked_answers(source)
    notebooks = {"solved": with_answers(release, answers), "untouched": release,
                 "partial": with_answers(release, {**answers, **_partial_answers()})}
    for student, notebook in notebooks.items():
        folder = root / "submitted" / student / PS
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{PS}.ipynb")
        (folder / "timestamp.txt").write_text(HANDED_IN[student])


def _set_due_date(db_url: str) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id=COURSE) as gradebook:
        gradebook.update_or_create_assignment(PS, duedate=DUE)


def _course(released: Path, root: Path) -> Path:
    """A course directory of PS with the class handed in and the due date set in its gradebook."""
    course_of(released, PS, root)
    _hand_in(root)
    _set_due_date(_sqlite(root))
    return root


def _run(*args: str, cwd: Path, expect: int = 0) -> str:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert done.returncode == expect, f"{args} exited with {done.returncode}:\n{done.stdout[-5000:]}"
    return done.stdout


def _autograde(root: Path, *args: str) -> str:
    return _run("-m", "dlparallel.grading", "autograde", PS, "--jobs=1", *GRADING_OPTIONS, *args, cwd=root)


def _dump(db_url: str) -> dict:
    """Every submission of the gradebook at ``db_url``, grade by grade, as plain data."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id=COURSE) as gradebook:
        return {s.student.id: {
            "timestamp": s.timestamp, "extension": s.extension,
            "notebooks": {nb.name: {
                "late_submission_penalty": nb.late_submission_penalty, "flagged": nb.flagged,
                "grades": {g.name: (g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade)
                           for g in nb.grades},
                "comments": {c.name: (c.auto_comment, c.manual_comment) for c in nb.comments}}
                for nb in s.notebooks}}
            for s in gradebook.find_assignment(PS).submissions}


def _nbgrader_api(root: Path, *options: str):
    """nbgrader's API (what its formgrader calls) on the course directory ``root``, configured as
    its command line would be there (nbgrader_config.py, then ``options``)."""
    from nbgrader.apps import NbGraderAPI

    coursedir = course_directory(root, options)
    return NbGraderAPI(coursedir=coursedir, config=coursedir.config)


def _sqlite(root: Path) -> str:
    return f"sqlite:///{root / 'gradebook.db'}"


def test_merge_into_a_course_without_a_gradebook_creates_none(one_result, tmp_path):
    result, _ = one_result
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ResultError, match="there is no gradebook"):
        merge(result, empty)
    assert not any(empty.iterdir())


# --- a PostgreSQL gradebook -------------------------------------------------------------------------

def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def _postgres_missing() -> str:
    """Why there can be no PostgreSQL gradebook here, or "" when there can."""
    if _postgres_bin() is None:
        return "no PostgreSQL server: install Debian's postgresql (`make postgres` does as root)"
    if importlib.util.find_spec("psycopg") is None:
        return "no psycopg: install the test extra (`make install`)"
    return ""


@pytest.fixture(scope="module")
def postgres() -> Iterator[str | None]:
    """A PostgreSQL server of its own (Debian's, `make postgres`), on a unix socket in a private
    folder (no TCP port), run as the ``postgres`` user where the tests run as root: its URL, or
    None where there is none (the test that needs it then says why)."""
    if _postgres_missing():
        yield None
        return
    binaries = _postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="dlp-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        shutil.chown(folder, user, user)

    def pg(*args: str) -> None:
        done = subprocess.run([str(binaries / args[0]), *args[1:]], cwd=folder, user=user, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"

    try:
        pg("initdb", "-D", f"{folder}/data", "--auth=trust", "--username=postgres", "--no-sync", "-E", "UTF8")
        pg("pg_ctl", "-D", f"{folder}/data", "-l", f"{folder}/log", "-w", "-o",
           f"-c listen_addresses='' -k {folder} -c fsync=off", "start")
        yield f"postgresql+psycopg://postgres@/postgres?host={folder}"
    finally:
        if (folder / "data" / "postmaster.pid").exists():
            pg("pg_ctl", "-D", f"{folder}/data", "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Graded:
    single: Path  # the class graded in one run
    single_db: str  # into this gradebook (PostgreSQL where there is one)
    shards: list[Path]  # half of it graded in each
    merged: Path  # a fresh course directory into which both shards' results were merged
    results: list[Path]
    merge_output: str


def _grade_in_one_run(root: Path, options: list[str]) -> list[SubmissionReport]:
    """The whole class, graded as the command line does (called here: one interpreter less to start)."""
    nbgrader_options = ["--" + option.removeprefix("--set=") for option in GRADING_OPTIONS + options]
    return autograde(PS, root, timeout=TIMEOUT_S, options=nbgrader_options, jobs=1)


@pytest.fixture(scope="module")
def graded(released, postgres, tmp_path_factory) -> Graded:
    """The class graded in one run, into PostgreSQL where there is one (released there by nbgrader),
    and in two shards by the command line in two other course directories (all three at once);
    then both shards' results merged into a fourth."""
    base = tmp_path_factory.mktemp("shards")
    single, *shards = (_course(released, base / name) for name in ("single", "shard0", "shard1"))
    single_db, options = _sqlite(single), []
    if postgres:
        single_db, options = postgres, [f"--set=CourseDirectory.db_url={postgres}"]
        done = _nbgrader_api(single, f"--CourseDirectory.db_url={postgres}").generate_assignment(PS, force=True)
        assert done["success"], done["log"] + done["error"]
        _set_due_date(postgres)
    results = [base / f"shard{i}.zip" for i in range(2)]
    with ThreadPoolExecutor(3) as pool:
        one_run = pool.submit(_grade_in_one_run, single, options)
        outputs = [pool.submit(_autograde, root, f"--shard={i}/2", f"--result={results[i]}")
                   for i, root in enumerate(shards)]
        reports, outputs = one_run.result(), [run.result() for run in outputs]
    assert [(r.student, r.status) for r in reports] == [(s, "graded") for s in sorted(HANDED_IN)], reports
    assert "wrote 2 graded submission(s) of shard 0/2" in outputs[0], outputs[0]
    assert "wrote 1 graded submission(s) of shard 1/2" in outputs[1], outputs[1]
    merged = course_of(released, PS, base / "merged")
    with contextlib.redirect_stdout(io.StringIO()) as output:
        assert main(["merge", *map(str, results), f"--root={merged}"]) == 0
    return Graded(single, single_db, shards, merged, results, output.getvalue())


def test_merged_shards_give_the_gradebook_of_one_run(graded):
    single, merged = _dump(graded.single_db), _dump(_sqlite(graded.merged))
    assert sorted(merged) == sorted(HANDED_IN)
    assert merged == single
    penalties = {s: nb["late_submission_penalty"] for s, d in merged.items() for nb in d["notebooks"].values()}
    assert penalties["partial"] > 0 and not penalties["solved"] and not penalties["untouched"], penalties
    scores = {s: sum(g[0] or 0 for nb in d["notebooks"].values() for g in nb["grades"].values())
              for s, d in merged.items()}
    assert scores["solved"] > scores["partial"] > scores["untouched"] == 0, scores
    for i, shard in enumerate(graded.shards):
        for student in Shard(i, 2).of(HANDED_IN):
            notebook = Path("autograded", student, PS, f"{PS}.ipynb")
            assert (graded.merged / notebook).read_bytes() == (shard / notebook).read_bytes()
            assert any(c.get("outputs") for c in nbformat.read(graded.merged / notebook, as_version=4).cells)
    for line in (r"merged 2 submission\(s\)", r"merged 1 submission\(s\)", rf"solved\s+{PS}\s+graded\s+\d+ / 25",
                 rf"solved \({PS}\): 1 answer\(s\) to grade by hand"):
        assert re.search(line, graded.merge_output), graded.merge_output


def test_merging_a_result_again_changes_nothing(graded, tmp_path):
    before = _dump(_sqlite(graded.merged))
    merge(graded.results[0], graded.merged)
    assert _dump(_sqlite(graded.merged)) == before
    assert not list(graded.merged.glob(".merging-*"))


def test_feedback_and_export_work_on_the_merged_course(graded):
    from nbgrader.plugins.export import CsvExportPlugin

    root = graded.merged
    done = _nbgrader_api(root).generate_feedback(PS, force=True)
    assert done["success"], done["log"] + done["error"]
    assert all((root / "feedback" / s / PS / f"{PS}.html").is_file() for s in HANDED_IN)
    with open_gradebook(root) as gradebook:
        CsvExportPlugin(to=str(root / "grades.csv")).export(gradebook)
    with open(root / "grades.csv", newline="") as table:
        rows = {r["student_id"]: r for r in csv.DictReader(table)}
    assert sorted(rows) == sorted(HANDED_IN)
    late = {key: float(rows["partial"][key]) for key in ("raw_score", "late_submission_penalty", "score")}
    assert late["raw_score"] > 0 and late["late_submission_penalty"] == pytest.approx(0.1 * late["raw_score"])
    assert late["score"] == pytest.approx(late["raw_score"] - late["late_submission_penalty"])


# --- the shard of a class ------------------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_split_the_class_into_disjoint_slices_that_cover_it(count):
    students = [f"student{i:02d}" for i in range(10)][::-1]
    slices = [Shard(i, count).of(students) for i in range(count)]
    assert sorted(s for part in slices for s in part) == sorted(students)
    assert max(map(len, slices)) - min(map(len, slices)) <= 1


@pytest.mark.parametrize("text", ["2/2", "-1/2", "0/0", "1", "a/b", "1/2/3"])
def test_a_bad_shard_is_an_argparse_error(text, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["autograde", PS, f"--shard={text}", "--result=r.zip"])
    assert stop.value.code == 2
    assert "argument --shard: shard" in capsys.readouterr().err


def test_shard_needs_a_result(capsys):
    with pytest.raises(SystemExit):
        main(["autograde", PS, "--shard=0/2"])
    assert "--shard needs --result" in capsys.readouterr().err


# --- hostile result files merge nothing ----------------------------------------------------------

@pytest.fixture
def one_result(released, tmp_path) -> tuple[Path, Path]:
    """A real result file of one graded submission (written into a gradebook by nbgrader's API,
    without running it), and a fresh course directory to merge it into."""
    from nbgrader.api import Gradebook

    shard = course_of(released, PS, tmp_path / "shard")
    with Gradebook(_sqlite(shard)) as gradebook:
        gradebook.add_student("alice")
        gradebook.add_submission(PS, "alice", timestamp="2026-01-09 08:00:00 UTC")
        grade = gradebook.find_submission(PS, "alice").notebooks[0].grades[0]
        grade.auto_score, grade.needs_manual_grade = 1.0, False
        gradebook.db.commit()
    (shard / "autograded" / "alice" / PS).mkdir(parents=True)
    shutil.copy(shard / "release" / PS / f"{PS}.ipynb", shard / "autograded" / "alice" / PS)
    result = tmp_path / "alice.zip"
    assert write_result(result, shard, [SubmissionReport("alice", PS, "graded", 1.0, 25.0)]) == 1
    return result, course_of(released, PS, tmp_path / "course")


def _rewrite(result: Path, out: Path, edit=None, extra: tuple = ()) -> Path:
    """A copy of ``result`` whose result.json went through ``edit`` and with ``extra`` members
    ((name or ZipInfo, bytes)) added."""
    with zipfile.ZipFile(result) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "result.json" and edit:
                document = json.loads(data)
                edit(document)
                data = json.dumps(document).encode()
            target.writestr(info, data)
        for member, data in extra:
            target.writestr(member, data)
    return out


def _link(name: str, to: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, to.encode()


def _other_assignment(document: dict) -> None:
    """A second submission, of an assignment this gradebook lacks, after the good one."""
    other = copy.deepcopy(document["submissions"][0])
    other["assignment"] = "ps9_unknown"
    document["submissions"].append(other)


def _traversing_student(document: dict) -> None:
    document["submissions"][0]["student"]["id"] = "../../escaped"


def _not_a_notebook(result: Path, out: Path) -> Path:
    with zipfile.ZipFile(result) as source, zipfile.ZipFile(out, "w") as target:
        target.writestr("result.json", source.read("result.json"))
        target.writestr(NOTEBOOK, b'{"cells": [[]], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    return out


NOTEBOOK = f"autograded/alice/{PS}/{PS}.ipynb"
# What a result file holds that merge must refuse -> (how to make it from an honest one, the error).
HOSTILE = {
    "path traversal": (lambda r, o: _rewrite(r, o, extra=[(f"autograded/alice/{PS}/../../../../escaped.txt", b"x")]),
                       "not an autograded file"),
    "absolute path": (lambda r, o: _rewrite(r, o, extra=[(f"{o.parent}/escaped-absolute.txt", b"x")]),
                      "not an autograded file"),
    "file beside the notebooks": (lambda r, o: _rewrite(r, o, extra=[(f"autograded/alice/{PS}/helper.py", b"x")]),
                                  "not an autograded file"),
    "link": (lambda r, o: _rewrite(r, o, extra=[_link(f"autograded/alice/{PS}/timestamp.txt", "/etc/passwd")]),
             "is a link"),
    "student named as a path": (lambda r, o: _rewrite(r, o, _traversing_student), "not a plain file name"),
    "unknown assignment": (lambda r, o: _rewrite(r, o, _other_assignment), "has no assignment 'ps9_unknown'"),
    "not a notebook": (_not_a_notebook, "not a notebook this grader accepts"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_result_merges_nothing(one_result, tmp_path, case):
    result, course = one_result
    build, message = HOSTILE[case]
    hostile = build(result, tmp_path / "hostile.zip")
    gradebook_before = (course / "gradebook.db").read_bytes()
    with pytest.raises(ResultError, match=message):
        merge(hostile, course)
    assert (course / "gradebook.db").read_bytes() == gradebook_before
    assert not (course / "autograded").exists() or not any((course / "autograded").iterdir())
    assert not list(tmp_path.rglob("escaped*")) and not list(course.glob(".merging-*"))
    merge(result, course)  # the honest result still merges
    assert _dump(_sqlite(course))["alice"]["timestamp"] is not None
    assert (course / NOTEBOOK).is_file()


def test_merge_names_a_bad_result_and_merges_the_others(one_result, tmp_path, capsys):
    result, course = one_result
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip")
    assert main(["merge", str(garbage), str(result), f"--root={course}"]) == 1
    output = capsys.readouterr().out
    assert f"{garbage}: not merged: it is not a readable result file" in output
    assert f"{result}: merged 1 submission(s)" in output
    assert "alice" in _dump(_sqlite(course))


def test_a_postgresql_gradebook_grades_and_merges_as_sqlite_does(graded, postgres):
    """The single run above graded into PostgreSQL (and matched the shards merged into SQLite);
    merging the shards into it updates its submissions and creates one it lacks, changing nothing."""
    from nbgrader.api import Gradebook

    if postgres is None:
        if _in_ci():
            pytest.fail(f"CI is set and there is {_postgres_missing()}")
        pytest.skip(_postgres_missing())
    assert graded.single_db == postgres
    before = _dump(postgres)
    with Gradebook(postgres, course_id=COURSE) as gradebook:
        gradebook.remove_submission(PS, "partial")
    assert sorted(_dump(postgres)) == ["solved", "untouched"]
    assert main(["merge", *map(str, graded.results), f"--root={graded.single}",
                 f"--set=CourseDirectory.db_url={postgres}"]) == 0
    assert _dump(postgres) == before
