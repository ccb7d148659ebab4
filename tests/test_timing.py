import time
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dlparallel as dp


@pytest.mark.quiet
def test_time_callable_measures_a_sleep():
    timing = dp.time_callable(lambda: time.sleep(0.002), min_run_time=0.05, warmup=0)
    assert 0.0018 < timing.median < 0.02
    assert timing.calls_per_second == pytest.approx(1 / timing.median)
    assert len(timing.samples) >= 1 and timing.iqr >= 0


def _waited_seconds(fn, device: torch.device, calls: int = 7) -> list[float]:
    """Seconds of single calls of ``fn``, each waited for with torch's own synchronisation."""
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


@pytest.mark.quiet
def test_time_callable_waits_for_the_device(device):
    """A CUDA launch returns before its kernel has run: a timer that does not wait reports the
    launch (microseconds) instead of the product (milliseconds, on any GPU, at this size). The
    bounds leave room for a busy machine: at least a third of the fastest waited-for call, and at
    most ten times their median (a time per block of calls instead of per call would be more).
    On CUDA the run is short (2 ms against a product of about 20 ms) so that a timer that did not
    wait would finish before the launch queue (about a thousand kernels) filled up and slowed it."""
    n, run = (8192, 0.002) if device.type == "cuda" else (512, 0.05)
    a = torch.randn(n, n, device=device)

    def product():
        return a @ a

    product()
    waited = _waited_seconds(product, device)
    timing = dp.time_callable(product, min_run_time=run)
    assert min(waited) / 3 < timing.median < 10 * float(np.median(waited)), (timing.median, waited)


def test_time_callable_keeps_torch_thread_count():
    before = torch.get_num_threads()
    seen = []
    dp.time_callable(lambda: seen.append(torch.get_num_threads()), min_run_time=0.01)
    assert set(seen) == {before} and torch.get_num_threads() == before


def test_time_callable_rejects_bad_arguments():
    with pytest.raises(TypeError, match="callable"):
        dp.time_callable(42)
    with pytest.raises(ValueError, match="min_run_time"):
        dp.time_callable(lambda: None, min_run_time=0)


def test_latency_samples_one_per_call(device):
    calls = []
    samples = dp.latency_samples(lambda: calls.append(1), repeats=7, warmup=3, device=device)
    assert len(samples) == 7 and len(calls) == 10 and all(s >= 0 for s in samples)
    with pytest.raises(ValueError, match="repeats"):
        dp.latency_samples(lambda: None, repeats=0)


def _percentile(samples: list[float], q: float) -> float:
    """The definition: sorted samples x_0..x_{n-1}, rank h = (n - 1) q / 100, and the value
    interpolated linearly between x_floor(h) and x_ceil(h); in exact fractions."""
    x = sorted(Fraction(s) for s in samples)
    h = (len(x) - 1) * Fraction(q) / 100
    low = int(h)
    high = min(low + 1, len(x) - 1)
    return float(x[low] + (h - low) * (x[high] - x[low]))


def test_percentiles_by_hand():
    assert dp.percentiles([4.0, 1.0, 3.0, 2.0], qs=(0, 25, 50, 90, 100)) == {
        0: 1.0, 25: 1.75, 50: 2.5, 90: 3.7, 100: 4.0}
    assert dp.percentiles([4.0]) == {50: 4.0, 90: 4.0, 99: 4.0}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
       st.lists(st.floats(0, 100), min_size=1, max_size=5, unique=True))
def test_percentiles_follow_their_definition(samples, qs):
    got = dp.percentiles(samples, qs)
    assert list(got) == list(qs)
    for q, value in got.items():
        assert min(samples) <= value <= max(samples)
        assert value == pytest.approx(_percentile(samples, q), rel=1e-12, abs=1e-9)
    ordered = sorted(qs)
    assert all(got[a] <= got[b] for a, b in zip(ordered, ordered[1:]))


@pytest.mark.parametrize("samples, qs, message", [
    ([], (50,), "non-empty"),
    ([1.0, float("nan")], (50,), "NaN"),
    ([1.0, 2.0], (101,), "0..100"),
])
def test_percentiles_reject_bad_input(samples, qs, message):
    with pytest.raises(ValueError, match=message):
        dp.percentiles(samples, qs)
