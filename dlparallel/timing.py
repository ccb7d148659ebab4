"""Timing CPU and GPU work correctly.

A CUDA kernel launch returns before the kernel has run, so a host clock read straight after it
measures the launch, not the work. Everything here waits for the device before reading a clock:
:func:`time_callable` wraps ``torch.utils.benchmark.Timer`` (warm-up, adaptive repeat count,
accelerator synchronisation); :func:`latency_samples` times single calls the way a caller
waiting for each answer sees them.

Example:
    >>> import torch
    >>> from dlparallel.timing import time_callable, latency_samples, percentiles
    >>> a = torch.randn(64, 64)
    >>> timing = time_callable(lambda: a @ a, min_run_time=0.05)
    >>> timing.median > 0
    True
    >>> sorted(percentiles(latency_samples(lambda: a @ a, repeats=20, device="cpu")))
    [50, 90, 99]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils import benchmark

from .devices import pick_device, synchronize

__all__ = ["Timing", "time_callable", "latency_samples", "percentiles"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed callable: median, mean, interquartile range, all samples."""

    median: float
    mean: float
    iqr: float
    samples: tuple[float, ...]

    @property
    def calls_per_second(self) -> float:
        return 1.0 / self.median


def time_callable(fn: Callable[[], object], min_run_time: float = 0.2, warmup: int = 1,
                  num_threads: int | None = None) -> Timing:
    """Seconds per call of ``fn()``, measured by ``torch.utils.benchmark.Timer``.

    ``fn`` runs ``warmup`` times first (compilation, caches, CUDA handles), then in blocks until
    ``min_run_time`` seconds have passed; the timer synchronises the accelerator before each
    clock read. ``num_threads`` defaults to torch's current thread count (``Timer`` itself would
    use one thread).

    Example:
        >>> time_callable(lambda: sum(range(100)), min_run_time=0.01).mean > 0
        True
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if min_run_time <= 0 or warmup < 0:
        raise ValueError(f"min_run_time must be positive and warmup non-negative, got "
                         f"{min_run_time}, {warmup}")
    for _ in range(warmup):
        fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn},
                            num_threads=num_threads or torch.get_num_threads())
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    return Timing(median=measurement.median, mean=measurement.mean, iqr=measurement.iqr,
                  samples=tuple(measurement.times))


def latency_samples(fn: Callable[[], object], repeats: int = 200, warmup: int = 10,
                    device: torch.device | str | None = None) -> list[float]:
    """Seconds taken by each of ``repeats`` calls of ``fn()``, each waited for on ``device``.

    This is the latency a caller who needs every answer before going on would see, so its
    percentiles (see :func:`percentiles`) describe a real-time service.

    Example:
        >>> len(latency_samples(lambda: None, repeats=5, device="cpu"))
        5
    """
    if repeats <= 0 or warmup < 0:
        raise ValueError(f"repeats must be positive and warmup non-negative, got {repeats}, {warmup}")
    device = pick_device(device)
    for _ in range(warmup):
        fn()
    synchronize(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return samples


def percentiles(samples: Sequence[float], qs: Sequence[float] = (50, 90, 99)) -> dict[float, float]:
    """The ``qs`` percentiles of ``samples``, by ``numpy.percentile`` (linear interpolation).

    Example:
        >>> percentiles([1.0, 2.0, 3.0, 4.0, 5.0], qs=(50, 100))
        {50: 3.0, 100: 5.0}
    """
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"samples must be a non-empty sequence of numbers, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("samples contain NaN or infinite values")
    if any(not 0 <= q <= 100 for q in qs):
        raise ValueError(f"percentiles must lie in 0..100, got {list(qs)}")
    return {q: float(np.percentile(values, q)) for q in qs}
