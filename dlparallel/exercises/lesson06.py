"""Checks for lesson 06's "your turn" cells: a frame budget, and symmetric int8 quantization of a weight.

Example:
    >>> check_budget(...)
    Not answered yet: replace ... with the milliseconds left for the network at 90 fps.
    >>> check_quantize(lambda w, max_abs: round(w / max_abs * 127))
    Correct: int8 stores round(w / scale) with scale = max|w| / 127, clipped to -127..127.
"""

from __future__ import annotations

from collections.abc import Callable

from . import NOT_ANSWERED, Verdict, check_function, check_value

__all__ = ["BUDGET_FPS", "BUDGET_OTHER_MS", "check_budget", "check_quantize"]

BUDGET_FPS, BUDGET_OTHER_MS = 90, 4.5     # frames per second, and ms of the frame taken by everything else
QUANTIZE_CASES = [(0.3, 0.8), (-0.8, 0.8), (0.0, 2.0), (0.001, 0.5), (1.0, 1.0), (-0.2, 0.5)]


def check_budget(answer: object) -> Verdict:
    """Milliseconds left for the network in one frame at ``BUDGET_FPS``, after ``BUDGET_OTHER_MS``."""
    return check_value(answer, 1000 / BUDGET_FPS - BUDGET_OTHER_MS, rtol=1e-3,
                       name="the milliseconds left for the network at 90 fps",
                       hint="the frame budget is 1000 / fps milliseconds; the rest of the pipeline uses 4.5 of them",
                       meaning="about 6.6 ms: 11.1 ms per frame minus 4.5 ms, and it must hold at the p99")


def _quantize(w: float, max_abs: float) -> int:
    return max(-127, min(127, round(w / (max_abs / 127))))


def check_quantize(function: Callable[[float, float], int] | object) -> Verdict:
    """``function(w, max_abs)``: the int8 code of weight ``w`` under symmetric per-tensor quantization."""
    if function is NOT_ANSWERED:
        return check_value(NOT_ANSWERED, 0.0, name="quantize with your function")
    cases = [((w, max_abs), _quantize(w, max_abs)) for w, max_abs in QUANTIZE_CASES]
    return check_function(function, cases, name="quantize(w, max_abs)",
                          compare=lambda got, expected: isinstance(got, int) and got == expected,
                          hint="scale = max_abs / 127; return round(w / scale) as a Python int",
                          meaning="int8 stores round(w / scale) with scale = max|w| / 127, clipped to -127..127")
