import pytest
import torch

import dlparallel as dp


def test_predictor_matches_the_model(device):
    model = dp.lenet5().eval()
    x = torch.rand(1, 1, 28, 28)
    predict = dp.Predictor(model, x, device=device)
    assert predict.uses_cuda_graph == (device.type == "cuda")
    for _ in range(3):
        x = torch.rand(1, 1, 28, 28, device=device)
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(predict(x), expected)


def test_graph_predictor_output_survives_the_next_call(cuda):
    predict = dp.Predictor(dp.lenet5(), torch.rand(1, 1, 28, 28, device=cuda))
    first_input = torch.rand(1, 1, 28, 28, device=cuda)
    first = predict(first_input)
    predict(torch.rand(1, 1, 28, 28, device=cuda))
    torch.testing.assert_close(first, predict(first_input))


def test_predictor_rejects_other_shapes_and_types(device):
    predict = dp.Predictor(dp.lenet5(), torch.zeros(1, 1, 28, 28), device=device)
    with pytest.raises(ValueError, match=r"shape \(1, 1, 28, 28\).*got shape \(2, 1, 28, 28\)"):
        predict(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="dtype"):
        predict(torch.zeros(1, 1, 28, 28, dtype=torch.float64))
    with pytest.raises(TypeError, match="tensor"):
        predict([[0.0]])
    with pytest.raises(TypeError, match="tensor"):
        dp.Predictor(dp.lenet5(), None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_predictor_graph_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        dp.Predictor(dp.lenet5(), torch.zeros(1, 1, 28, 28), device="cpu", cuda_graph=True)


def test_measure_latency_reports_ordered_percentiles(device):
    predict = dp.Predictor(dp.mlp([16, 8]), torch.zeros(1, 16), device=device)
    report = dp.measure_latency(predict, torch.rand(1, 16, device=device), repeats=50)
    assert 0 < report.p50 <= report.p90 <= report.p99 and report.samples == 50
    micro = report.in_microseconds()
    assert micro["p50"] == round(report.p50 * 1e6, 1)


@pytest.mark.quiet  # it compares two timings, which other work running meanwhile would skew
def test_throughput_grows_with_batch_size(device):
    """A small model's batch of one is all call overhead, which a batch of 256 shares: far more
    than 4x the examples per second."""
    rows = dp.throughput_vs_batch_size(dp.mlp([16, 32, 10]), (16,), [1, 256], device=device,
                                       min_run_time=0.05)
    assert [r.batch_size for r in rows] == [1, 256]
    assert rows[1].examples_per_second > 4 * rows[0].examples_per_second
    with pytest.raises(ValueError, match="batch_sizes"):
        dp.throughput_vs_batch_size(dp.mlp([4, 2]), (4,), [0])
