"""Answers handed out of the grading kernel and checked again by the grader
(dlparallel.grading.answers, checks' hand-in, verify.VerifyAnswers, answer_key)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook, new_output
from traitlets.config import Config

from dlparallel.grading import checks
from dlparallel.grading.answer_key import FORMAT, AnswerKeyError, _checks_digest, key_path, load_answer_key
from dlparallel.grading.answers import (MIME, Answer, AnswerFormatError, HandedIn, decode, decode_handed_in, encode,
                                        encode_handed_in, verify)
from dlparallel.grading.verify import MISMATCH, VerifyAnswers


def _number(name: str, value: float, rtol: float = 0.0, atol: float = 0.0) -> Answer:
    return Answer("number", name, values=(value,), rtol=rtol, atol=atol)


def _handed(name: str, actual: float, expected: float, *, pinned: bool = True, rtol: float = 1e-6) -> HandedIn:
    return HandedIn(_number(name, actual), _number(name, expected, rtol), pinned)


@pytest.mark.parametrize("answer", [
    Answer("tensor", "grad", (2, 0, 3), ()),
    Answer("tensor", "grad", (3,), (float("inf"), -0.0, 1e-300), rtol=1e-9, atol=float("inf")),
    Answer("choice", "q1", text="b"),
    Answer("exact", "median", text="12345678901234567890/3"),
])
def test_answers_survive_json_exactly(answer):
    assert decode(json.loads(json.dumps(encode(answer)))) == answer


def test_nan_is_handed_in_as_nan():
    decoded = decode(encode(_number("x", float("nan"))))
    assert decoded.values[0] != decoded.values[0]


@pytest.mark.parametrize("data, message", [
    ([], "not a JSON object"),
    ({**encode(_number("x", 1.0)), "kind": "pickle"}, "unknown kind"),
    ({**encode(_number("x", 1.0)), "kind": "tensor", "shape": [2]}, "does not fit"),
    ({**encode(_number("x", 1.0)), "shape": [[1]]}, "shape"),
    ({**encode(_number("x", 1.0)), "shape": [-1]}, "shape"),
    ({**encode(_number("x", 1.0)), "values": "not base64!"}, "not base64"),
    ({**encode(_number("x", 1.0)), "values": "AAAA"}, "whole doubles"),
    ({**encode(_number("x", 1.0)), "values": "A" * (48 * 2**20)}, "too many values"),
    ({**encode(_number("x", 1.0)), "tolerance": ""}, "tolerance"),
    ({**encode(_number("x", 1.0)), "name": 7}, "name"),
    ({**encode(_number("x", 1.0)), "name": "x" * 5000}, "too long"),
])
def test_malformed_answers_are_refused_with_a_reason(data, message):
    with pytest.raises(AnswerFormatError, match=message):
        decode(data)


def test_handed_in_needs_a_boolean_pin():
    data = encode_handed_in(_handed("x", 1.0, 1.0))
    assert decode_handed_in(data) == _handed("x", 1.0, 1.0)
    with pytest.raises(AnswerFormatError, match="pinned"):
        decode_handed_in({**data, "pinned": 1})


def test_verify_uses_the_keys_expected_value_and_tolerance():
    key = [_handed("loss", 2.0, 2.0, rtol=1e-6)]
    assert verify(key, [_handed("loss", 2.0 + 1e-7, 2.0)]) == []
    # The kernel cannot widen the tolerance or move the expected value of a pinned check.
    assert verify(key, [HandedIn(_number("loss", 3.0), _number("loss", 3.0, rtol=10.0), True)]) == [
        "loss: 3 handed in, which is not the expected value"]


def test_unpinned_checks_compare_with_the_expected_value_handed_in_under_the_keys_tolerance():
    key = [_handed("second call", 5.0, 5.0, pinned=False, rtol=0.0)]
    assert verify(key, [_handed("second call", 7.0, 7.0, pinned=False)]) == []
    wide = HandedIn(_number("second call", 7.0), _number("second call", 7.5, rtol=1.0), False)
    assert verify(key, [wide]) == ["second call: 7 handed in, which is not the expected value"]


def test_verify_wants_every_answer_once_in_any_order_and_nothing_more():
    key = [_handed("a", 1.0, 1.0), _handed("b", 2.0, 2.0)]
    assert verify(key, [_handed("b", 2.0, 2.0), _handed("a", 1.0, 1.0)]) == []
    assert verify(key, [_handed("a", 1.0, 1.0)]) == ["b was not handed in"]
    guesses = [_handed("a", value, value) for value in (0.0, 1.0, 2.0)] + [_handed("b", 2.0, 2.0)]
    assert verify(key, guesses) == ["2 more answer(s) were handed in than the tests check (a)"]


def test_tensor_answers_must_have_the_keys_shape():
    key = [HandedIn(Answer("tensor", "g", (2,), (1.0, 2.0)), Answer("tensor", "g", (2,), (1.0, 2.0), rtol=1e-9))]
    given = Answer("tensor", "g", (2, 1), (1.0, 2.0))
    assert verify(key, [HandedIn(given, key[0].expected)]) == ["g: shape (2, 1) handed in, expected (2,)"]
    wrong = Answer("tensor", "g", (2,), (1.0, 2.5))
    assert verify(key, [HandedIn(wrong, key[0].expected)]) == [
        "g: differs from the expected values at 1 of 2 positions"]


def test_checks_hand_in_what_they_compared_at_the_end_of_the_test(monkeypatch):
    published = []
    monkeypatch.setattr(checks, "_publish", published.append)
    checks.check_number(1.0, 1.0, name="the student's own call, before the test")
    checks.begin_answers()
    checks.check_tensor(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), rtol=1e-3, name="t")
    checks.check_number(3, 3.0, name="n", pinned=False)
    checks.check_choice(" B ", "b", options="abcd", name="c")
    with pytest.raises(AssertionError):
        checks.check_number(4.0, 3.0, name="wrong")  # recorded before it fails
    checks.expect_raises(ValueError, int, "seven", what="int('seven')")
    with pytest.raises(AssertionError):
        checks.expect_raises(ValueError, int, "7")
    assert published == []
    checks.send_answers()
    (sent,) = published
    handed = [decode_handed_in(data) for data in sent[MIME]["handed_in"]]
    assert [(h.actual.name, h.pinned) for h in handed] == [("t", True), ("n", False), ("c", True), ("wrong", True),
                                                           ("int('seven')", True), ("int must raise ValueError", True)]
    assert [(h.actual.text, h.expected.text) for h in handed[4:]] == [("raised ValueError", "raised ValueError"),
                                                                      ("returned", "raised ValueError")]
    assert handed[0].actual == Answer("tensor", "t", (2,), (1.0, 2.0))
    assert (handed[0].expected.rtol, handed[2].actual.text, handed[3].actual.values) == (1e-3, "b", (4.0,))


def test_checks_hand_in_nothing_outside_grading():
    assert checks._publish is None
    checks.check_number(1.0, 1.0)


def _course(tmp_path: Path, key_answers: dict[str, list[HandedIn]]) -> Path:
    """A course directory with one source notebook and an answer key made from ``key_answers``."""
    source = tmp_path / "source" / "ps" / "ps.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(new_notebook(), source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    key_path(tmp_path, "ps").parent.mkdir()
    key = {"format": FORMAT, "checks_sha256": _checks_digest(), "assignment": "ps", "notebooks": {"ps": {
        "source_sha256": digest, "answers": {g: [encode_handed_in(a) for a in v] for g, v in key_answers.items()}}}}
    key_path(tmp_path, "ps").write_text(json.dumps(key))
    return tmp_path


def _test_cell(grade_id: str, *outputs) -> nbformat.NotebookNode:
    metadata = {"nbgrader": {"grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": 1}}
    return new_code_cell("...", metadata=metadata, outputs=list(outputs))


def _answer_output(*handed: HandedIn) -> nbformat.NotebookNode:
    return new_output("display_data", data={MIME: {"handed_in": [encode_handed_in(h) for h in handed]}})


def _verified(root: Path, cells: list) -> list:
    config = Config()
    config.CourseDirectory.root = str(root)
    resources = {"nbgrader": {"assignment": "ps", "notebook": "ps"}}
    notebook, _ = VerifyAnswers(config=config).preprocess(new_notebook(cells=cells), resources)
    return notebook.cells


def test_the_grader_scores_0_a_test_whose_answers_differ_from_the_key(tmp_path):
    root = _course(tmp_path, {"right": [_handed("x", 1.0, 1.0)], "fooled": [_handed("x", 1.0, 1.0)],
                              "silent": [_handed("x", 1.0, 1.0)], "failed": [_handed("x", 1.0, 1.0)]})
    printed = new_output("stream", name="stdout", text="hello\n")
    error = new_output("error", ename="AssertionError", evalue="no", traceback=[])
    cells = _verified(root, [
        _test_cell("right", printed, _answer_output(_handed("x", 1.0, 1.0))),
        _test_cell("fooled", _answer_output(_handed("x", 2.0, 2.0))),
        _test_cell("silent"),
        _test_cell("failed", _answer_output(_handed("x", 2.0, 1.0)), error),
        new_code_cell("print(1)", outputs=[_answer_output(_handed("x", 2.0, 2.0))]),
    ])
    assert cells[0].outputs == [printed]  # passed, and the answer is gone from the outputs
    assert [o.ename for o in cells[1].outputs] == [MISMATCH]
    assert "x: 2 handed in" in cells[1].outputs[0].evalue
    assert "x was not handed in" in cells[2].outputs[0].evalue
    assert cells[3].outputs == [error]  # it scores 0 already
    assert cells[4].outputs == []


@pytest.mark.parametrize("payload", [{"kind": "tensor"}, {"handed_in": [{"kind": "tensor"}]}, [], "x",
                                     {"handed_in": [encode_handed_in(_handed("x", 1.0, 1.0))] * 100_001}])
def test_unreadable_answers_fail_the_test(tmp_path, payload):
    root = _course(tmp_path, {"t": []})
    garbage = new_output("display_data", data={MIME: payload})
    assert [o.ename for o in _verified(root, [_test_cell("t", garbage)])[0].outputs] == [MISMATCH]


def test_a_stale_or_missing_key_stops_grading_with_what_to_run(tmp_path, monkeypatch):
    root = _course(tmp_path, {})
    load_answer_key(root, "ps", "ps")
    with monkeypatch.context() as patched:
        patched.setattr("dlparallel.grading.answer_key._checks_digest", lambda: "other checks")
        with pytest.raises(AnswerKeyError, match="the checks changed since it was made"):
            load_answer_key(root, "ps", "ps")
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), root / "source" / "ps" / "ps.ipynb")
    with pytest.raises(AnswerKeyError, match="changed since it was made.*answer-key ps"):
        load_answer_key(root, "ps", "ps")
    key_path(root, "ps").unlink()
    with pytest.raises(AnswerKeyError, match="there is none"):
        _verified(root, [])
