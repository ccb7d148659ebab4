"""The roofline model: the highest rate a kernel can reach, given a device's peaks.

A kernel doing ``F`` FLOPs while moving ``B`` bytes has arithmetic intensity ``I = F / B``. It can
run no faster than ``min(peak_flops, I * bandwidth)``: below the ridge point
``peak_flops / bandwidth`` it is memory-bound, above it compute-bound. The peaks come from a
datasheet (:data:`H100_SXM_DATASHEET`) or are measured on this machine by :mod:`dlparallel.peaks`,
whose names are also reachable from here.

Example:
    >>> from dlparallel.roofline import Peaks, attainable_flops_per_second
    >>> peaks = Peaks(flops_per_second=100e9, bytes_per_second=10e9, label="toy")
    >>> peaks.ridge_intensity
    10.0
    >>> attainable_flops_per_second(2.0, peaks) / 1e9
    20.0
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .validation import positive_number

__all__ = ["Peaks", "H100_SXM_DATASHEET", "attainable_flops_per_second", "plot_roofline"]


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


#: NVIDIA's datasheet peaks for the H100 SXM5 (80 GB HBM3), dense (the datasheet's larger figures
#: assume 2:4 structured sparsity). float32 runs on the CUDA cores; TF32, float16 and bfloat16 run
#: on the tensor cores. Memory: 3.35 TB/s of HBM3.
H100_SXM_DATASHEET = {dtype: Peaks(tflops * 1e12, 3.35e12, f"H100 SXM datasheet, {dtype}")
                      for dtype, tflops in {"float32": 67.0, "tf32": 494.7, "float16": 989.4,
                                            "bfloat16": 989.4}.items()}


def attainable_flops_per_second(intensity: float, peaks: Peaks) -> float:
    """The roofline: the highest rate a kernel of this arithmetic intensity can reach.

    Example:
        >>> attainable_flops_per_second(1e6, Peaks(5.0, 1.0, "x"))
        5.0
    """
    positive_number(intensity, "arithmetic intensity")
    return min(peaks.flops_per_second, intensity * peaks.bytes_per_second)


def plot_roofline(peaks: Peaks, kernels: Mapping[str, tuple[float, float]] | None = None,
                  ax=None, color: str | None = None):
    """Draw the roofline of ``peaks`` on log-log axes, with measured ``kernels`` as points.

    ``kernels`` maps a name to ``(arithmetic intensity in FLOP/byte, achieved FLOP/s)``.
    ``color`` draws the roof and its points in one colour, so that several rooflines (one per
    number format, say) can share ``ax``. Returns the matplotlib figure.

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
    ax.loglog(x, roof / 1e9, color=color or "black", linewidth=2, label=peaks.label)
    ax.axvline(peaks.ridge_intensity, color="grey", linestyle=":", linewidth=1)
    ax.annotate(f"ridge {peaks.ridge_intensity:.1f} FLOP/B", (peaks.ridge_intensity, roof.min() / 1e9),
                textcoords="offset points", xytext=(4, 4), fontsize=8, color="grey")
    for name, (intensity, achieved) in kernels.items():
        ax.loglog([intensity], [achieved / 1e9], marker="o", linestyle="none", label=name, color=color)
    ax.set(xlabel="arithmetic intensity (FLOP/byte)", ylabel="GFLOP/s", title="roofline")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def __getattr__(name: str) -> Any:
    """The measuring half, :mod:`dlparallel.peaks`, as ``dlparallel.roofline.<name>`` too."""
    peaks = importlib.import_module(".peaks", __package__)
    if name in peaks.__all__:
        return getattr(peaks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
