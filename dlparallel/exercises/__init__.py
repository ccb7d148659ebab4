""""Your turn" exercises inside the lessons: a check that runs at once and says what is wrong.

A lesson's exercise cell leaves a blank for the student (``answer = ...`` or a function whose
body raises ``NotImplementedError``); the next cell calls a check from this package, which prints
one of three verdicts and never raises, so that the lesson still runs top to bottom:

- ``Not answered yet: ...`` while the blank is still ``...`` (or the function is not written);
- ``Not yet: ...`` with what is wrong, for which input, and a hint;
- ``Correct: ...`` with one sentence on what the answer means.

Each lesson's exercises live in their own module (``dlparallel.exercises.lesson01`` ...), which
computes the expected answer itself instead of printing it. These are practice, never graded:
the problem sets ask for other things.

Example:
    >>> from dlparallel.exercises import Verdict, check_value
    >>> check_value(..., 6.0, name="the FLOPs of a 1x3 by 3x1 product")
    Not answered yet: replace ... with the FLOPs of a 1x3 by 3x1 product.
    >>> check_value(3.0, 6.0, name="the FLOPs of a 1x3 by 3x1 product", hint="count multiplies and adds")
    Not yet: the FLOPs of a 1x3 by 3x1 product is 3, which is not right. Hint: count multiplies and adds.
    >>> check_value(6, 6.0, name="the FLOPs of a 1x3 by 3x1 product", meaning="three multiplies, three adds")
    Correct: three multiplies, three adds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Verdict", "NOT_ANSWERED", "check_value", "check_function"]

NOT_ANSWERED = ...


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: shown as one line in the notebook, and true when correct."""

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return self.message


def _not_answered(name: str) -> Verdict:
    return Verdict(False, f"Not answered yet: replace ... with {name}.")


def _wrong(what: str, hint: str) -> Verdict:
    return Verdict(False, f"Not yet: {what}." + (f" Hint: {hint}." if hint else ""))


def _close(got: float, expected: float, rtol: float) -> bool:
    return math.isclose(got, expected, rel_tol=rtol, abs_tol=rtol * 1e-12)


def check_value(answer: object, expected: float, *, name: str, rtol: float = 1e-6, hint: str = "",
                meaning: str = "") -> Verdict:
    """Compare a number the student computed with ``expected``, within relative tolerance ``rtol``.

    ``name`` says what the number is (``"the FLOPs of ..."``), ``hint`` what to think about when it
    is wrong, ``meaning`` what the right number tells (shown when correct).
    """
    if answer is NOT_ANSWERED:
        return _not_answered(name)
    try:
        got = float(answer)
    except (TypeError, ValueError):
        return _wrong(f"{name} should be a number, got {type(answer).__name__} {answer!r}", hint)
    if not _close(got, expected, rtol):
        return _wrong(f"{name} is {got:g}, which is not right", hint)
    return Verdict(True, f"Correct: {meaning or name + ' is right'}.")


def check_function(function: Callable, cases: Iterable[tuple[Sequence[object], object]], *, name: str,
                   compare: Callable[[object, object], bool] | None = None, hint: str = "",
                   meaning: str = "") -> Verdict:
    """Call the student's ``function`` on each ``(args, expected)`` case and say which one fails.

    ``compare(got, expected)`` decides a match (default: numbers within 1e-6, else ``==``). A
    function that still raises ``NotImplementedError`` is not answered yet; any other exception is
    reported with the input that raised it.

    Example:
        >>> check_function(lambda n: 2 * n ** 3, [((2,), 16), ((3,), 54)], name="matmul_flops(n)")
        Correct: matmul_flops(n) is right.
        >>> check_function(lambda n: n ** 3, [((2,), 16)], name="matmul_flops(n)", hint="a multiply and an add")
        Not yet: matmul_flops(n) returned 8 for the input (2,), expected another value. Hint: a multiply and an add.
    """
    compare = compare or _equal
    for args, expected in cases:
        try:
            got = function(*args)
        except NotImplementedError:
            return _not_answered(f"the body of {name}")
        except Exception as error:  # the student's code: report, never stop the lesson
            return _wrong(f"{name} raised {type(error).__name__}: {error} for the input {tuple(args)!r}", hint)
        if not compare(got, expected):
            return _wrong(f"{name} returned {got!r} for the input {tuple(args)!r}, expected another value", hint)
    return Verdict(True, f"Correct: {meaning or name + ' is right'}.")


def _equal(got: object, expected: object) -> bool:
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return _close(float(got), float(expected), 1e-6)
        except (TypeError, ValueError):
            return False
    return got == expected
