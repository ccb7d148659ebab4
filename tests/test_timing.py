import numpy as np
import pytest
import torch

import dlparallel as dp


def test_time_callable_measures_a_sleep():
    import time

    timing = dp.time_callable(lambda: time.sleep(0.002), min_run_time=0.05, warmup=0)
    assert 0.0018 < timing.median < 0.02
    assert timing.calls_per_second == pytest.approx(1 / timing.median)
    assert len(timing.samples) >= 1 and timing.iqr >= 0


def test_time_callable_waits_for_the_device(device):
    a = torch.randn(512, 512, device=device)
    timing = dp.time_callable(lambda: a @ a, min_run_time=0.05)
    flops_rate = dp.matmul_flops(512, 512, 512) / timing.median
    assert 1e6 < flops_rate < 5e15


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


def test_percentiles_match_numpy():
    rng = np.random.default_rng(0)
    samples = rng.exponential(size=1001).tolist()
    got = dp.percentiles(samples, qs=(1, 50, 99, 99.9))
    for q, value in got.items():
        assert value == pytest.approx(np.percentile(samples, q))
    assert dp.percentiles([4.0]) == {50: 4.0, 90: 4.0, 99: 4.0}


@pytest.mark.parametrize("samples, qs, message", [
    ([], (50,), "non-empty"),
    ([1.0, float("nan")], (50,), "NaN"),
    ([1.0, 2.0], (101,), "0..100"),
])
def test_percentiles_reject_bad_input(samples, qs, message):
    with pytest.raises(ValueError, match=message):
        dp.percentiles(samples, qs)
