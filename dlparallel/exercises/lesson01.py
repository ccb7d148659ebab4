"""Checks for lesson 01's "your turn" cells: counting a network's parameters and forward FLOPs.

Each check builds the network itself and counts with PyTorch, so the expected number is never
printed by the lesson.

Example:
    >>> from dlparallel.exercises import lesson01
    >>> lesson01.check_parameters(...)
    Not answered yet: replace ... with the number of parameters of mlp([32, 64, 64, 5]).
"""

from __future__ import annotations

from ..flops import count_flops
from ..models import mlp
from . import Verdict, check_value

__all__ = ["EXERCISE_WIDTHS", "EXERCISE_BATCH", "check_parameters", "check_forward_flops"]

#: The MLP of both exercises, ``dp.mlp(EXERCISE_WIDTHS)``, and the batch of the FLOP exercise.
EXERCISE_WIDTHS = (32, 64, 64, 5)
EXERCISE_BATCH = 8


def _network():
    return mlp(list(EXERCISE_WIDTHS))


def check_parameters(answer: object) -> Verdict:
    """Is ``answer`` the number of parameters (weights and biases) of ``mlp([32, 64, 64, 5])``?

    Example:
        >>> check_parameters(32 * 64 + 64 * 64 + 64 * 5)
        Not yet: the number of parameters of mlp([32, 64, 64, 5]) is 6464, which is not right. Hint: \
each linear layer has in * out weights and out biases.
    """
    expected = sum(p.numel() for p in _network().parameters())
    return check_value(answer, expected, name="the number of parameters of mlp([32, 64, 64, 5])",
                       hint="each linear layer has in * out weights and out biases",
                       meaning="three layers, each with in * out weights plus out biases")


def check_forward_flops(answer: object) -> Verdict:
    """Is ``answer`` the FLOPs of one forward pass of ``mlp([32, 64, 64, 5])`` on a batch of 8?

    Example:
        >>> check_forward_flops(8 * (32 * 64 + 64 * 64 + 64 * 5))
        Not yet: the FLOPs of a forward pass of mlp([32, 64, 64, 5]) on a batch of 8 is 51712, which \
is not right. Hint: a multiply-add counts as 2 FLOPs.
    """
    import torch

    expected = count_flops(_network(), torch.zeros(EXERCISE_BATCH, EXERCISE_WIDTHS[0]))
    return check_value(answer, expected, name="the FLOPs of a forward pass of mlp([32, 64, 64, 5]) on a batch of 8",
                       hint=("a multiply-add counts as 2 FLOPs" if answer is not ... and _half(answer, expected)
                             else "2 * in * out per example and layer, times the batch"),
                       meaning="2 * in * out per example and layer, summed over the layers, times 8 examples")


def _half(answer: object, expected: float) -> bool:
    try:
        return abs(float(answer) * 2 - expected) < 0.5
    except (TypeError, ValueError):
        return False
