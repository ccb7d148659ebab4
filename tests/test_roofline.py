import pytest
import torch

import dlparallel as dp


def test_roofline_bounds():
    peaks = dp.Peaks(flops_per_second=1e12, bytes_per_second=1e11, label="x")
    assert peaks.ridge_intensity == 10
    assert dp.attainable_flops_per_second(1.0, peaks) == 1e11
    assert dp.attainable_flops_per_second(100.0, peaks) == 1e12
    with pytest.raises(ValueError, match="intensity"):
        dp.attainable_flops_per_second(0.0, peaks)
    with pytest.raises(ValueError, match="positive"):
        dp.Peaks(0.0, 1.0, "x")


def test_measured_peaks_are_plausible(device):
    small = device.type == "cpu"
    peaks = dp.measure_peaks(device, matmul_size=256 if small else 4096, megabytes=64 if small else 1024)
    assert 1e8 < peaks.flops_per_second < 2e15
    assert 1e8 < peaks.bytes_per_second < 2e13
    assert dp.describe_hardware(device).name in peaks.label


def test_matmul_tflops_rejects_unknown_dtype_and_size():
    with pytest.raises(ValueError, match="int8"):
        dp.matmul_tflops("cpu", "int8")
    with pytest.raises(ValueError, match="size"):
        dp.matmul_tflops("cpu", size=0)
    with pytest.raises(ValueError, match="megabytes"):
        dp.memory_bandwidth("cpu", megabytes=0)


def test_tf32_setting_is_restored(cuda):
    before = torch.backends.cuda.matmul.allow_tf32
    tf32 = dp.matmul_tflops(cuda, "tf32", size=4096)
    fp32 = dp.matmul_tflops(cuda, "float32", size=4096)
    assert torch.backends.cuda.matmul.allow_tf32 == before
    assert tf32 > 1.5 * fp32


def test_plot_roofline_draws_the_roof_and_the_kernels():
    fig = dp.plot_roofline(dp.Peaks(1e11, 1e10, "toy"), {"a": (0.5, 1e9), "b": (100.0, 5e10)})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["toy", "a", "b"]
    with pytest.raises(ValueError, match="'bad'"):
        dp.plot_roofline(dp.Peaks(1e11, 1e10, "toy"), {"bad": (-1.0, 1e9)})
