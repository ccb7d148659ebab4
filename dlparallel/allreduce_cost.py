"""What the gradient all-reduce costs, and what that does to data-parallel scaling.

A cost model, no communication: bytes each worker sends in a ring all-reduce, the time of a
data-parallel step under the latency-bandwidth (alpha-beta) model of a link, and the scaling
efficiency that follows. :mod:`dlparallel.ddp` trains for real.

Example:
    >>> ring_allreduce_bytes(100e6, 4) / 1e6
    150.0
    >>> round(scaling_efficiency(0.1, 100e6, 4, 10e9, 5e-6), 3)
    0.869
"""

from __future__ import annotations

from .validation import positive_int, positive_number

__all__ = ["ring_allreduce_bytes", "data_parallel_step_time", "scaling_efficiency"]


def ring_allreduce_bytes(n_bytes: float, workers: int) -> float:
    """Bytes each worker sends (and receives) to all-reduce ``n_bytes`` with the ring algorithm.

    The ring cuts the buffer into ``N`` chunks and takes ``N - 1`` steps of reduce-scatter,
    then ``N - 1`` of all-gather, each worker sending one chunk per step::

        2 * (N - 1) / N * n_bytes

    which tends to twice the buffer, whatever the number of workers.

    Example:
        >>> ring_allreduce_bytes(100e6, 4)
        150000000.0
        >>> ring_allreduce_bytes(100e6, 1)
        0.0
    """
    positive_int(workers, "workers")
    if n_bytes < 0:
        raise ValueError(f"n_bytes must be non-negative, got {n_bytes}")
    return 2 * (workers - 1) / workers * n_bytes


def data_parallel_step_time(compute_s: float, grad_bytes: float, workers: int,
                            bandwidth_bytes_per_s: float, latency_s: float = 0.0) -> float:
    """Seconds per training step of ``workers`` data-parallel workers, each with the same local batch.

    A step is the computation of one worker plus a ring all-reduce of the gradients, whose
    ``2 * (N - 1)`` steps each pay the link's latency and send a ``grad_bytes / N`` chunk::

        compute_s + 2 * (N - 1) * latency_s + 2 * (N - 1) / N * grad_bytes / bandwidth_bytes_per_s

    DDP overlaps much of the all-reduce with the backward pass, so measured steps can be shorter
    than this, which assumes no overlap.

    Example:
        >>> round(data_parallel_step_time(0.1, 100e6, 4, 10e9, 5e-6), 6)
        0.11503
    """
    for name, value in (("compute_s", compute_s), ("grad_bytes", grad_bytes), ("latency_s", latency_s)):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
    positive_number(bandwidth_bytes_per_s, "bandwidth_bytes_per_s")
    communication = ring_allreduce_bytes(grad_bytes, workers) / bandwidth_bytes_per_s
    return compute_s + 2 * (workers - 1) * latency_s + communication


def scaling_efficiency(compute_s: float, grad_bytes: float, workers: int,
                       bandwidth_bytes_per_s: float, latency_s: float = 0.0) -> float:
    """Throughput of ``workers`` workers over ``workers`` times that of one, under the step-time model.

    One worker needs no all-reduce, so its step takes ``compute_s``; ``N`` workers process
    ``N`` times the examples per step of :func:`data_parallel_step_time`, so the efficiency is
    ``compute_s / data_parallel_step_time(...)``: 1 when communication is free.

    Example:
        >>> round(scaling_efficiency(0.1, 100e6, 4, 10e9, 5e-6), 3)
        0.869
    """
    positive_number(compute_s, "compute_s")
    return compute_s / data_parallel_step_time(compute_s, grad_bytes, workers, bandwidth_bytes_per_s, latency_s)
