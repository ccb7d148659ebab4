"""Checks for lesson 05's "your turn" cells: a ring all-reduce's traffic, and DistributedSampler's split.

Example:
    >>> check_ring_bytes(...)
    Not answered yet: replace ... with the bytes each of 8 workers sends to all-reduce 40 MB with a ring.
    >>> check_shard(lambda n, rank, world_size: list(range(rank, n, world_size)))
    Not yet: shard(n, rank, world_size) returned [0, 3, 6, 9] for the input (10, 0, 3), expected another value. \
Hint: every rank gets the same number of indices: the last n % world_size are dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.data.distributed import DistributedSampler

from ..allreduce_cost import ring_allreduce_bytes
from . import NOT_ANSWERED, Verdict, check_function, check_value

__all__ = ["RING_BYTES", "RING_WORKERS", "check_ring_bytes", "check_shard"]

RING_BYTES, RING_WORKERS = 40e6, 8
SHARD_CASES = [(10, 0, 3), (10, 2, 3), (8, 1, 2), (5, 4, 5), (7, 1, 4)]


def check_ring_bytes(answer: object) -> Verdict:
    """The bytes each of ``RING_WORKERS`` workers sends to all-reduce ``RING_BYTES`` bytes with the ring."""
    return check_value(answer, ring_allreduce_bytes(RING_BYTES, RING_WORKERS),
                       name="the bytes each of 8 workers sends to all-reduce 40 MB with a ring",
                       hint="the ring takes 2(N-1) steps and in each a worker sends one chunk of G/N bytes",
                       meaning="70 MB, less than twice the 40 MB buffer, as it is for any number of workers")


def _sampler_indices(n: int, rank: int, world_size: int) -> list[int]:
    return list(DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False, drop_last=True))


def check_shard(function: Callable[[int, int, int], list[int]] | object) -> Verdict:
    """``function(n, rank, world_size)``: the indices of ``n`` examples that DistributedSampler gives ``rank``."""
    if function is NOT_ANSWERED:
        return check_value(NOT_ANSWERED, 0.0, name="shard with your function")
    cases = [((n, rank, world), _sampler_indices(n, rank, world)) for n, rank, world in SHARD_CASES]
    return check_function(function, cases, name="shard(n, rank, world_size)",
                          compare=lambda got, expected: list(got) == expected,
                          hint="every rank gets the same number of indices: the last n % world_size are dropped",
                          meaning="rank r takes r, r + W, r + 2W, ... of the first W * (n // W) examples, "
                                  "as DistributedSampler(shuffle=False, drop_last=True) does")
