"""The answer key of a problem set: what its checks expect, recorded by running the solution.

Each notebook of ``source/<assignment>/`` (the instructor's solution with its hidden tests) is run
once, sealed and sandboxed like a student's (:class:`dlparallel.grading.execute.GuardedExecute`),
and what its checks hand out (:mod:`dlparallel.grading.answers`: names, expected values,
tolerances), grouped by test cell, is written to ``answer_keys/<assignment>.json`` in the course
directory, with digests of the notebook and of the checks' code (a key made from an older version
of either is made again). The grader compares each student's handed-in answers with them
(:class:`dlparallel.grading.verify.VerifyAnswers`). The key holds hidden values: like ``source/``,
it stays in the course directory, which no student's kernel can see.

Example (from the course directory, after ``nbgrader generate_assignment``)::

    python -m dlparallel.grading answer-key ps1_backprop
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tempfile
from pathlib import Path

import nbformat
from traitlets.config import Config

from .answers import HandedIn, decode_handed_in, encode_handed_in, take_answers
from .cells import grade_id, is_test
from .gradebook import course_config

__all__ = ["AnswerKeyError", "key_path", "make_answer_key", "ensure_answer_key", "load_answer_key"]

FORMAT = 1  # of the key file; a key of another format is made again


class AnswerKeyError(RuntimeError):
    """The answer key is missing, out of date, unreadable, or the solution failed its own tests."""


def key_path(root: Path | str, assignment: str) -> Path:
    """Where the answer key of ``assignment`` lives in the course directory ``root``."""
    return Path(root) / "answer_keys" / f"{assignment}.json"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checks_digest() -> str:
    """A digest of the code that decides what the checks hand in: a key made by other code is remade."""
    files = [importlib.util.find_spec(f"{__package__}.{name}").origin for name in ("answers", "checks")]
    return hashlib.sha256(b"".join(Path(f).read_bytes() for f in files)).hexdigest()  # checks imports torch: not here


def _course_config(root: Path, sandboxed: bool) -> Config:
    config = course_config(root)
    config.GuardedExecute.sandbox = sandboxed
    return config


def _run_solution(source: Path, config: Config) -> dict[str, list[dict]]:
    """grade id -> what each test cell of the solution ``source`` handed in."""
    from .execute import GuardedExecute  # imports nbclient and the sandbox: only when a key is made

    notebook = nbformat.read(source, as_version=4)
    with tempfile.TemporaryDirectory(prefix="dlp-answer-key-") as work:
        GuardedExecute(config=config).preprocess(notebook, {"metadata": {"path": work}})
    key = {}
    for cell in notebook.cells:
        if not is_test(cell):
            continue
        answers, problems = take_answers(cell.outputs)
        errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs if o.get("output_type") == "error"]
        if errors or problems:
            raise AnswerKeyError(f"{source.name}: the solution fails its own test {grade_id(cell)} "
                                 f"({(errors + problems)[0]}); fix source/ before grading")
        key[grade_id(cell)] = [encode_handed_in(a) for a in answers]
    return key


def make_answer_key(root: Path | str, assignment: str, sandboxed: bool = True) -> Path:
    """Run every notebook of ``source/<assignment>/`` and write its answer key; return its path.

    Raises :class:`AnswerKeyError` when a test of the solution fails.
    """
    root = Path(root).resolve()
    sources = sorted((root / "source" / assignment).glob("*.ipynb"))
    if not sources:
        raise AnswerKeyError(f"source/{assignment} holds no notebooks")
    config = _course_config(root, sandboxed)
    notebooks = {path.stem: {"source_sha256": _digest(path), "answers": _run_solution(path, config)}
                 for path in sources}
    path = key_path(root, assignment)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(json.dumps({"format": FORMAT, "checks_sha256": _checks_digest(), "assignment": assignment,
                                "notebooks": notebooks}), encoding="utf-8")
    return path


def _stale(root: Path, assignment: str) -> str:
    """Why the key of ``assignment`` cannot be used as it is, or "" when it can."""
    path = key_path(root, assignment)
    if not path.is_file():
        return "there is none"
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"it cannot be read ({error})"
    if not isinstance(key, dict) or key.get("format") != FORMAT or not isinstance(key.get("notebooks"), dict):
        return "it is of another format"
    if key.get("checks_sha256") != _checks_digest():
        return "the checks changed since it was made"
    sources = {p.stem: p for p in (root / "source" / assignment).glob("*.ipynb")}
    recorded = {name: entry.get("source_sha256") for name, entry in key["notebooks"].items()}
    if recorded != {name: _digest(p) for name, p in sources.items()}:
        return f"source/{assignment} changed since it was made"
    return ""


def ensure_answer_key(root: Path | str, assignment: str, sandboxed: bool = True) -> Path:
    """The path of a current answer key of ``assignment``, made first if it is missing or out of date."""
    root = Path(root).resolve()
    return key_path(root, assignment) if not _stale(root, assignment) else make_answer_key(root, assignment, sandboxed)


def load_answer_key(root: Path | str, assignment: str, notebook: str) -> dict[str, list[HandedIn]]:
    """grade id -> what the tests of ``notebook`` (its name without .ipynb) handed in for the solution.

    Raises :class:`AnswerKeyError` when the key is missing or out of date.
    """
    root = Path(root).resolve()
    why = _stale(root, assignment)
    if why:
        raise AnswerKeyError(f"the answer key of {assignment} cannot be used: {why}. Grade with "
                             "`python -m dlparallel.grading autograde` (make autograde), which makes it, or run "
                             f"`python -m dlparallel.grading answer-key {assignment}`")
    entries = json.loads(key_path(root, assignment).read_text(encoding="utf-8"))["notebooks"].get(notebook)
    if entries is None:
        raise AnswerKeyError(f"the answer key of {assignment} has no notebook {notebook}")
    return {gid: [decode_handed_in(a) for a in answers] for gid, answers in entries["answers"].items()}
