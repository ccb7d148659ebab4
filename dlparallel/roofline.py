"""The machine's own peaks (matrix-multiply rate, memory bandwidth) and the roofline they draw.

A kernel doing ``F`` FLOPs while moving ``B`` bytes has arithmetic intensity ``I = F / B``. It can
run no faster than ``min(peak_flops, I * bandwidth)``: below the ridge point
``peak_flops / bandwidth`` it is memory-bound, above it compute-bound.

Example:
    >>> from dlparallel.roofline import Peaks, attainable_flops_per_second
    >>> peaks = Peaks(flops_per_second=100e9, bytes_per_second=10e9, label="toy")
    >>> peaks.ridge_intensity
    10.0
    >>> attainable_flops_per_second(2.0, peaks) / 1e9
    20.0
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .devices import describe_hardware, pick_device
from .flops import matmul_flops
from .timing import time_callable

__all__ = ["MATMUL_DTYPES", "Peaks", "matmul_tflops", "memory_bandwidth", "measure_peaks",
           "attainable_flops_per_second", "plot_roofline"]

#: Names accepted by :func:`matmul_tflops`; "tf32" is float32 storage on TensorFloat-32 units.
MATMUL_DTYPES = {"float64": torch.float64, "float32": torch.float32, "tf32": torch.float32,
                 "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Peaks:
    """Measured ceilings of one device: arithmetic rate and memory bandwidth."""

    flops_per_second: float
    bytes_per_second: float
    label: str

    def __post_init__(self) -> None:
        if not (self.flops_per_second > 0 and self.bytes_per_second > 0):
            raise ValueError(f"peaks must be positive, got {self.flops_per_second} FLOP/s and "
                             f"{self.bytes_per_second} B/s")

    @property
    def ridge_intensity(self) -> float:
        """FLOPs per byte where memory-bound turns into compute-bound."""
        return self.flops_per_second / self.bytes_per_second


@contextlib.contextmanager
def _tf32(enabled: bool):
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def matmul_tflops(device: torch.device | str | None = None, dtype: str = "float32", size: int = 1024,
                  min_run_time: float = 0.3) -> float:
    """Measured TFLOP/s of a ``size``-cubed matrix product in ``dtype`` on ``device``.

    Random inputs (never zeros, which some units multiply faster), the output written in place,
    timed by :func:`~dlparallel.timing.time_callable`. ``"float32"`` disables TF32 so that it
    measures true single precision; ``"tf32"`` enables it.

    Example:
        >>> matmul_tflops("cpu", "float32", size=128, min_run_time=0.05) > 0
        True
    """
    if dtype not in MATMUL_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(MATMUL_DTYPES)}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    device = pick_device(device)
    torch_dtype = MATMUL_DTYPES[dtype]
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, generator=generator).to(torch_dtype)
    b = torch.randn(size, size, device=device, generator=generator).to(torch_dtype)
    out = torch.empty(size, size, device=device, dtype=torch_dtype)
    with _tf32(dtype == "tf32"):
        timing = time_callable(lambda: torch.mm(a, b, out=out), min_run_time=min_run_time)
    return matmul_flops(size, size, size) / timing.median / 1e12


def memory_bandwidth(device: torch.device | str | None = None, megabytes: int = 256,
                     min_run_time: float = 0.3) -> float:
    """Measured bytes per second of a large device-to-device copy (bytes read plus written).

    Pick ``megabytes`` well above the last-level cache, or the cache is what gets measured.

    Example:
        >>> memory_bandwidth("cpu", megabytes=16, min_run_time=0.05) > 0
        True
    """
    if megabytes <= 0:
        raise ValueError(f"megabytes must be positive, got {megabytes}")
    device = pick_device(device)
    n = megabytes * 2**20 // 4
    src = torch.rand(n, device=device)
    dst = torch.empty_like(src)
    timing = time_callable(lambda: dst.copy_(src), min_run_time=min_run_time)
    return 2 * n * 4 / timing.median


def measure_peaks(device: torch.device | str | None = None, dtype: str = "float32",
                  matmul_size: int | None = None, megabytes: int | None = None) -> Peaks:
    """This device's matmul rate in ``dtype`` and memory bandwidth, as :class:`Peaks`.

    Sizes default to what fills the device: 1024 / 256 MB on a CPU, 8192 / 2 GB on CUDA.

    Example:
        >>> peaks = measure_peaks("cpu", matmul_size=128, megabytes=16)
        >>> peaks.ridge_intensity > 0
        True
    """
    device = pick_device(device)
    on_gpu = device.type == "cuda"
    size = matmul_size or (8192 if on_gpu else 1024)
    mb = megabytes or (2048 if on_gpu else 256)
    flops = matmul_tflops(device, dtype, size) * 1e12
    bandwidth = memory_bandwidth(device, mb)
    return Peaks(flops, bandwidth, label=f"{describe_hardware(device).name} ({dtype})")


def attainable_flops_per_second(intensity: float, peaks: Peaks) -> float:
    """The roofline: the highest rate a kernel of this arithmetic intensity can reach.

    Example:
        >>> attainable_flops_per_second(1e6, Peaks(5.0, 1.0, "x"))
        5.0
    """
    if intensity <= 0:
        raise ValueError(f"arithmetic intensity must be positive, got {intensity}")
    return min(peaks.flops_per_second, intensity * peaks.bytes_per_second)


def plot_roofline(peaks: Peaks, kernels: Mapping[str, tuple[float, float]] | None = None,
                  ax=None):
    """Draw the roofline of ``peaks`` on log-log axes, with measured ``kernels`` as points.

    ``kernels`` maps a name to ``(arithmetic intensity in FLOP/byte, achieved FLOP/s)``.
    Returns the matplotlib figure.

    Example:
        >>> fig = plot_roofline(Peaks(1e11, 1e10, "toy"), {"matmul": (50.0, 6e10)})
        >>> len(fig.axes)
        1
    """
    import matplotlib.pyplot as plt
    import numpy as np

    kernels = dict(kernels or {})
    for name, (intensity, achieved) in kernels.items():
        if intensity <= 0 or achieved <= 0:
            raise ValueError(f"kernel {name!r}: intensity and rate must be positive, got "
                             f"{intensity}, {achieved}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    else:
        fig = ax.figure
    intensities = [i for i, _ in kernels.values()] + [peaks.ridge_intensity]
    low, high = min(intensities) / 8, max(intensities) * 8
    x = np.logspace(np.log10(low), np.log10(high), 200)
    roof = np.minimum(peaks.flops_per_second, x * peaks.bytes_per_second)
    ax.loglog(x, roof / 1e9, color="black", linewidth=2, label=peaks.label)
    ax.axvline(peaks.ridge_intensity, color="grey", linestyle=":", linewidth=1)
    ax.annotate(f"ridge {peaks.ridge_intensity:.1f} FLOP/B", (peaks.ridge_intensity, roof.min() / 1e9),
                textcoords="offset points", xytext=(4, 4), fontsize=8, color="grey")
    for name, (intensity, achieved) in kernels.items():
        ax.loglog([intensity], [achieved / 1e9], marker="o", linestyle="none", label=name)
    ax.set(xlabel="arithmetic intensity (FLOP/byte)", ylabel="GFLOP/s", title="roofline")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
