"""Figures measured on a GPU, for lessons that run where there is none.

Each set says what was measured, on which device, with which software and when, so a lesson can
show it next to this machine's own figures, labelled as recorded. The numbers come from
``benchmarks/`` (see ``benchmarks/RESULTS.md``), or from what ``source`` names, and are never used
to pass a test.

Example:
    >>> from dlparallel.recorded import H100_MATMUL_TFLOPS
    >>> H100_MATMUL_TFLOPS.values["bfloat16"] > H100_MATMUL_TFLOPS.values["float32"]
    True
    >>> print(H100_MATMUL_TFLOPS.label())
    recorded on NVIDIA H100 80GB HBM3, torch 2.11.0+cu130, 2026-11-26
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Recorded", "H100_MATMUL_TFLOPS", "H100_TRAINING", "H100_BATCH1_LATENCY_US", "H200_KERNEL_TFLOPS"]

_H100 = {"device": "NVIDIA H100 80GB HBM3", "software": "torch 2.11.0+cu130", "date": "2026-11-26"}


@dataclass(frozen=True)
class Recorded:
    """A set of figures measured once on a named device."""

    what: str
    unit: str
    values: Mapping[str, float]
    device: str
    software: str
    date: str
    source: str

    def label(self) -> str:
        """Where and when the figures were measured."""
        return f"recorded on {self.device}, {self.software}, {self.date}"

    def table(self) -> str:
        """The figures as aligned text lines, under a heading that labels them as recorded.

        Example:
            >>> print(Recorded("x", "s", {"a": 1.0}, "GPU", "torch", "today", "here").table())
            x (s), recorded on GPU, torch, today
              a  1
        """
        width = max(len(k) for k in self.values)
        rows = [f"  {k:{width}s}  {v:,.0f}" if abs(v) >= 1000 else f"  {k:{width}s}  {v:.4g}"
                for k, v in self.values.items()]
        return "\n".join([f"{self.what} ({self.unit}), {self.label()}", *rows])


H100_MATMUL_TFLOPS = Recorded(
    what="8192^3 matrix product", unit="TFLOP/s",
    values={"bfloat16": 709.2, "float16": 671.1, "tf32": 368.9, "float32": 51.6},
    source="benchmarks/matmul.py", **_H100)

H100_TRAINING = Recorded(
    what="LeNet-5 training, 60,000 28x28 images, batch 256", unit="examples/s",
    values={"textbook loop": 61_542, "fit, eager": 118_857, "fit, CUDA graph": 674_631},
    source="benchmarks/train_throughput.py", **_H100)

H100_BATCH1_LATENCY_US = Recorded(
    what="LeNet-5 batch-1 inference latency", unit="microseconds",
    values={"eager p50": 197.5, "eager p99": 368.0, "CUDA graph p50": 54.6, "CUDA graph p99": 67.8},
    source="benchmarks/latency.py", **_H100)

H200_KERNEL_TFLOPS = Recorded(
    what="2048^3 float32 matrix product", unit="TFLOP/s",
    values={"naive kernel": 0.97, "tiled kernel, 16x16": 2.03, "torch.matmul (no TF32)": 49.4},
    device="NVIDIA H200", software="torch 2.11.0+cu130, numba-cuda 0.30.4", date="2026-11-26",
    source="the naive and tiled kernels of dlparallel.kernels, compiled by numba-cuda, against torch.matmul")
