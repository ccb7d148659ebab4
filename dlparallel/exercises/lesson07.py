"""Checks for lesson 07's "your turn" exercises: model states under ZeRO, the pipeline bubble, a column shard.

Example:
    >>> check_zero2_bytes(...)
    Not answered yet: replace ... with the bytes per GPU under ZeRO stage 2.
    >>> check_column_shard_shape((4096, 128))
    Not yet: the shape of one rank's weight shard is (4096, 128), which is not right. Hint: nn.Linear stores its \
weight as (out_features, in_features), and a column-parallel layer splits the output features.
"""

from __future__ import annotations

from ..memory import zero_bytes_per_rank
from ..pipeline import bubble_fraction
from . import NOT_ANSWERED, Verdict, check_value

__all__ = ["ZERO2_CASE", "BUBBLE_CASE", "COLUMN_CASE", "check_zero2_bytes", "check_micro_batches",
           "check_column_shard_shape"]

ZERO2_CASE = {"parameters": 1_200_000_000, "ranks": 8}
BUBBLE_CASE = {"stages": 4, "max_bubble": 0.10}
COLUMN_CASE = {"in_features": 1024, "out_features": 4096, "ranks": 8}


def check_zero2_bytes(answer: object) -> Verdict:
    """Bytes per GPU of Adam in mixed precision under ZeRO stage 2, for ``ZERO2_CASE``."""
    expected = zero_bytes_per_rank(ZERO2_CASE["parameters"], ZERO2_CASE["ranks"], stage=2)
    return check_value(answer, expected, name="the bytes per GPU under ZeRO stage 2",
                       hint="stage 2 shards the gradients and the optimizer state (fp32 master weights "
                            "included) but every GPU keeps all 16-bit weights",
                       meaning=f"{expected / 1e9:.1f} GB per GPU, against "
                               f"{zero_bytes_per_rank(ZERO2_CASE['parameters'], 1, stage=0) / 1e9:.1f} GB unsharded")


def check_micro_batches(answer: object) -> Verdict:
    """The fewest micro-batches that keep the bubble of ``BUBBLE_CASE['stages']`` stages at most 10%."""
    stages, limit = BUBBLE_CASE["stages"], BUBBLE_CASE["max_bubble"]
    expected = next(m for m in range(1, 10_000) if bubble_fraction(stages, m) <= limit + 1e-12)
    name = f"the fewest micro-batches for a bubble of at most {limit:.0%} with {stages} stages"
    if answer is not NOT_ANSWERED and isinstance(answer, (int, float)) and answer > expected:
        return Verdict(False, f"Not yet: {answer:g} micro-batches keep the bubble small enough, but fewer do "
                              "too. Hint: solve (p - 1) / (m + p - 1) <= 0.1 for the smallest whole m.")
    return check_value(answer, expected, name=name, hint="solve (p - 1) / (m + p - 1) <= 0.1 for m",
                       meaning=f"{expected} micro-batches give a bubble of {bubble_fraction(stages, expected):.0%}")


def check_column_shard_shape(answer: object) -> Verdict:
    """The shape of one rank's weight shard of a column-parallel ``nn.Linear``, for ``COLUMN_CASE``."""
    name = "the shape of one rank's weight shard"
    if answer is NOT_ANSWERED:
        return Verdict(False, f"Not answered yet: replace ... with {name}.")
    expected = (COLUMN_CASE["out_features"] // COLUMN_CASE["ranks"], COLUMN_CASE["in_features"])
    try:
        got = tuple(int(n) for n in answer)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return Verdict(False, f"Not yet: {name} should be a pair of whole numbers such as (3, 4), got {answer!r}.")
    if got != expected:
        return Verdict(False, f"Not yet: {name} is {got}, which is not right. Hint: nn.Linear stores its weight as "
                              "(out_features, in_features), and a column-parallel layer splits the output features.")
    return Verdict(True, f"Correct: each rank computes {expected[0]} of the {COLUMN_CASE['out_features']} outputs "
                         f"from all {expected[1]} inputs.")
