"""Answers handed out of the grading kernel, to be checked again by the grader outside it.

Hidden tests run in the student's own kernel, where a notebook can change anything, the tests'
tools included. So while a notebook is graded, every check of :mod:`dlparallel.grading.checks`
records what it compared, and each test cell hands those records out of the kernel at its end,
in one display output of type :data:`MIME` that holds plain numbers and strings (floats as base64
of little-endian doubles, never a pickle): the value each check was given, the value it expected,
and whether that expected value is fixed by the test. The grader
(:class:`dlparallel.grading.verify.VerifyAnswers`) compares them again outside the kernel, against
the answer key: what the same checks handed in when the instructor's solution ran
(:mod:`dlparallel.grading.answer_key`), whose names, tolerances and fixed expected values it uses.
A test that passes inside the kernel without handing in the key's answers, or with values that
are not close to what it expected, scores 0.

This module is used on both sides, so it needs neither torch nor nbgrader.

Example:
    >>> answer = Answer("tensor", "grad", shape=(2,), values=(1.0, float("inf")), rtol=1e-6)
    >>> decode(encode(answer)) == answer
    True
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from dataclasses import dataclass

__all__ = ["MIME", "Answer", "HandedIn", "AnswerFormatError", "encode", "decode", "encode_handed_in",
           "decode_handed_in", "close", "verify", "take_answers"]

MIME = "application/vnd.dlparallel.answer+json"
KINDS = ("tensor", "number", "choice", "exact")
MAX_VALUES = 2**22  # values in one answer (32 MiB of doubles)
MAX_TEXT = 4096  # characters of a name, a choice or an exact number
MAX_DIMS = 16
MAX_ANSWERS = 100_000  # answers handed in by one test cell


# Taken now: inside the kernel, the checks compare with close() after a notebook may have replaced these.
_isnan, _isfinite, _abs = math.isnan, math.isfinite, abs


class AnswerFormatError(ValueError):
    """A handed-in answer that is not of the form :func:`encode` writes."""


@dataclass(frozen=True)
class Answer:
    """One value given to a check: a tensor (``shape``, ``values``), a number (one value), a choice
    (``text``: one letter) or an exact rational (``text``: ``"p/q"``), with the check's tolerance."""

    kind: str
    name: str
    shape: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    text: str = ""
    rtol: float = 0.0
    atol: float = 0.0


def _pack(values: tuple[float, ...]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode("ascii")


def encode(answer: Answer) -> dict:
    """``answer`` as a JSON-safe dictionary (floats, infinities and NaN included, in base64)."""
    return {"kind": answer.kind, "name": answer.name, "shape": list(answer.shape), "values": _pack(answer.values),
            "text": answer.text, "tolerance": _pack((answer.rtol, answer.atol))}


def _field(data: dict, key: str, kind: type) -> object:
    value = data.get(key)
    if type(value) is not kind:
        raise AnswerFormatError(f"an answer's {key} is not of type {kind.__name__}")
    return value


def decode(data: object) -> Answer:
    """The :class:`Answer` that ``data`` (parsed JSON from outside) holds; :class:`AnswerFormatError`
    for anything else: wrong types, too many values, a shape that does not fit the values."""
    if not isinstance(data, dict):  # a dict parsed from JSON (nbformat's NotebookNode is one)
        raise AnswerFormatError("an answer is not a JSON object")
    kind, name, text = _field(data, "kind", str), _field(data, "name", str), _field(data, "text", str)
    if kind not in KINDS or len(name) > MAX_TEXT or len(text) > MAX_TEXT:
        raise AnswerFormatError("an answer has an unknown kind, or a name or text that is too long")
    shape = _field(data, "shape", list)
    if len(shape) > MAX_DIMS or any(type(n) is not int or n < 0 for n in shape):
        raise AnswerFormatError("an answer's shape is not a short list of sizes")
    values = _unpack(_field(data, "values", str))
    if kind == "tensor" and math.prod(shape) != len(values):
        raise AnswerFormatError("an answer's shape does not fit its number of values")
    tolerance = _unpack(_field(data, "tolerance", str))
    if len(tolerance) != 2:
        raise AnswerFormatError("an answer's tolerance is not two numbers")
    return Answer(kind, name, tuple(shape), values, text, *tolerance)


def _unpack(encoded: str) -> tuple[float, ...]:
    if len(encoded) > 4 * (8 * MAX_VALUES + 2) // 3 + 4:
        raise AnswerFormatError("an answer holds too many values")
    try:
        packed = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise AnswerFormatError(f"an answer's values are not base64 ({error})") from None
    if len(packed) % 8:
        raise AnswerFormatError("an answer's values are not whole doubles")
    return struct.unpack(f"<{len(packed) // 8}d", packed)


def close(actual: float, expected: float, rtol: float, atol: float) -> bool:
    """``actual`` within ``atol + rtol * |expected|`` of ``expected``; NaN only matches NaN, an
    infinity only itself.

    Example:
        >>> close(1.0 + 1e-9, 1.0, 1e-6, 0.0), close(float("nan"), float("nan"), 0.0, 0.0), close(2.0, 1.0, 0.5, 0.0)
        (True, True, False)
    """
    if _isnan(expected):
        return _isnan(actual)
    if not _isfinite(expected):
        return actual == expected
    return _isfinite(actual) and _abs(actual - expected) <= atol + rtol * _abs(expected)


def _mismatch(given: Answer, key: Answer) -> str | None:
    """Why ``given`` is not the answer ``key`` expects, or None when it is."""
    if key.kind in ("choice", "exact"):
        return None if given.text == key.text else f"{given.text!r} handed in, which is not the expected answer"
    if given.shape != key.shape or len(given.values) != len(key.values):
        return f"shape {given.shape} handed in, expected {key.shape}"
    wrong = sum(not close(g, w, key.rtol, key.atol) for g, w in zip(given.values, key.values, strict=True))
    if not wrong:
        return None
    if key.kind == "number":
        return f"{given.values[0]:.6g} handed in, which is not the expected value"
    return f"differs from the expected values at {wrong} of {len(key.values)} positions"


@dataclass(frozen=True)
class HandedIn:
    """What one check handed out of the kernel: the value it was given, the value it expected, and
    whether that expected value is fixed by the test (``pinned``: the same for every student, so
    the answer key's is used) or computed from the student's own results."""

    actual: Answer
    expected: Answer
    pinned: bool = True


def encode_handed_in(handed: HandedIn) -> dict:
    """``handed`` as a JSON-safe dictionary (the display output's data)."""
    return {"actual": encode(handed.actual), "expected": encode(handed.expected), "pinned": handed.pinned}


def decode_handed_in(data: object) -> HandedIn:
    """The :class:`HandedIn` that ``data`` (parsed JSON from outside) holds; :class:`AnswerFormatError` else."""
    if not isinstance(data, dict) or type(data.get("pinned")) is not bool:
        raise AnswerFormatError("a handed-in answer is not a JSON object with actual, expected and pinned")
    return HandedIn(decode(data.get("actual")), decode(data.get("expected")), data["pinned"])


def verify(key: list[HandedIn], handed_in: list[HandedIn]) -> list[str]:
    """What is wrong with the answers ``handed_in`` by one test, against what the solution handed in
    (``key``): each key answer must be matched by one of the same kind and name (in any order),
    whose value is close, within the key's tolerance, to the key's expected value where it is
    pinned and to the expected value handed in with it where not; nothing more may be handed in.
    [] when all is well.

    Example:
        >>> key = HandedIn(Answer("number", "loss", values=(2.5,)), Answer("number", "loss", values=(2.5,), rtol=1e-6))
        >>> verify([key], [HandedIn(Answer("number", "loss", values=(2.5000001,)), key.expected)])
        []
        >>> verify([key], [HandedIn(Answer("number", "loss", values=(3.0,)), Answer("number", "loss", values=(3.0,)))])
        ['loss: 3 handed in, which is not the expected value']
        >>> verify([key], [])
        ['loss was not handed in']
    """
    left = list(handed_in)
    problems = []
    for entry in key:
        want = entry.expected
        same = [h for h in left if (h.actual.kind, h.actual.name) == (want.kind, want.name)]
        if not same:
            problems.append(f"{want.name} was not handed in")
            continue
        why = [_mismatch(h.actual, want if entry.pinned else _with_tolerance(h.expected, want)) for h in same]
        index = next((i for i, reason in enumerate(why) if reason is None), 0)
        if why[index] is not None:
            problems.append(f"{want.name}: {why[index]}")
        left.remove(same[index])
    if left:
        problems.append(f"{len(left)} more answer(s) were handed in than the tests check "
                        f"({', '.join(sorted({h.actual.name for h in left})[:3])})")
    return problems


def _with_tolerance(expected: Answer, key: Answer) -> Answer:
    """``expected`` as handed in, with the key's kind, name and tolerance (never the kernel's)."""
    return Answer(key.kind, key.name, expected.shape, expected.values, expected.text, key.rtol, key.atol)


def take_answers(outputs: list) -> tuple[list[HandedIn], list[str]]:
    """Remove the answers handed in from a code cell's ``outputs`` (display data of type
    :data:`MIME`, each holding a list ``handed_in``); return them and why any could not be read.

    Example:
        >>> choice = HandedIn(Answer("choice", "q1", text="b"), Answer("choice", "q1", text="b"))
        >>> outputs = [{"output_type": "display_data", "data": {MIME: {"handed_in": [encode_handed_in(choice)]}}},
        ...            {"output_type": "stream", "name": "stdout", "text": "hello"}]
        >>> take_answers(outputs) == ([choice], []), len(outputs)
        (True, 1)
    """
    answers, problems, kept = [], [], []
    for output in outputs:
        data = output.get("data") if output.get("output_type") == "display_data" else None
        if not (isinstance(data, dict) and MIME in data):
            kept.append(output)
            continue
        batch = data[MIME].get("handed_in") if isinstance(data[MIME], dict) else None
        if not isinstance(batch, list) or len(answers) + len(batch) > MAX_ANSWERS:
            problems.append("answers were handed in that are not a list of at most "
                            f"{MAX_ANSWERS} answers")
            continue
        for item in batch:
            try:
                answers.append(decode_handed_in(item))
            except AnswerFormatError as error:
                problems.append(str(error))
    outputs[:] = kept
    return answers, problems
