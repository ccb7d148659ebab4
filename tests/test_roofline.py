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


def test_cpu_peak_reads_clock_and_simd_flags():
    avx512 = "processor\t: 0\ncpu MHz\t\t: 2000.0\nflags\t\t: sse2 avx avx2 fma avx512f\n"
    assert dp.cpu_peak(cores=4, cpuinfo=avx512).flops_per_second == 4 * 2.0e9 * 16 * 2 * 2
    avx2 = "cpu MHz\t\t: 3000.0\nflags\t\t: sse2 avx avx2 fma\n"
    assert dp.cpu_peak(cores=1, cpuinfo=avx2).lanes == 8
    no_fma = dp.cpu_peak(cores=1, cpuinfo="cpu MHz\t: 1000.0\nflags\t: sse2\n")
    assert (no_fma.lanes, no_fma.fma_units) == (4, 1)
    assert dp.cpu_peak(cpuinfo="model name\t: some CPU\n") is None


def test_triad_counts_write_allocate_only_where_asked():
    with_allocate = dp.triad_bandwidth("cpu", megabytes=8, min_run_time=0.05, write_allocate=True)
    assert with_allocate > 1e8
    with pytest.raises(ValueError, match="megabytes"):
        dp.triad_bandwidth("cpu", megabytes=0)


def test_cpu_roof_is_at_least_the_specification_peak():
    peaks = dp.measure_peaks("cpu", matmul_size=(64, 128), megabytes=8)
    specification = dp.cpu_peak()
    if specification is not None:
        assert peaks.flops_per_second >= specification.flops_per_second


def test_h100_recorded_products_lie_under_the_datasheet_roofs():
    for dtype, tflops in dp.recorded.H100_MATMUL_TFLOPS.values.items():
        roof = dp.roofline.H100_SXM_DATASHEET[dtype]
        assert 0.5 * roof.flops_per_second < tflops * 1e12 < roof.flops_per_second, dtype
