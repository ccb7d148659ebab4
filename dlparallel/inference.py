"""Low-latency inference: a CUDA-graph predictor, latency percentiles, throughput vs batch size.

At batch 1 a small network spends most of its time launching kernels, not running them.
:class:`Predictor` captures the forward pass once in a CUDA graph and replays it, so one call
costs one launch; where there is no CUDA it runs the model eagerly under ``inference_mode``.

Example:
    >>> import torch
    >>> from dlparallel import lenet5
    >>> from dlparallel.inference import Predictor, measure_latency
    >>> predict = Predictor(lenet5(), torch.zeros(1, 1, 28, 28), device="cpu")
    >>> predict(torch.rand(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    >>> report = measure_latency(predict, torch.rand(1, 1, 28, 28), repeats=20)
    >>> report.p50 <= report.p99
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from . import cuda_graphs
from .devices import pick_device
from .timing import latency_samples, percentiles, time_callable
from .validation import is_positive_int

__all__ = ["Predictor", "LatencyReport", "measure_latency", "BatchThroughput",
           "throughput_vs_batch_size"]


class Predictor:
    """``model``'s forward pass for inputs shaped like ``example_input``, as fast as it goes.

    On CUDA (unless ``cuda_graph=False``) the forward pass is captured in a CUDA graph: a call
    copies the input into the graph's input buffer, replays the graph and returns a copy of its
    output. Elsewhere the model runs eagerly under ``torch.inference_mode``. Inputs must match
    the example's shape and dtype; they are moved to the device if needed.

    Example:
        >>> p = Predictor(torch.nn.Linear(3, 2), torch.zeros(1, 3), device="cpu")
        >>> p.uses_cuda_graph
        False
    """

    def __init__(self, model: nn.Module, example_input: torch.Tensor,
                 device: torch.device | str | None = None, cuda_graph: bool | None = None,
                 warmup: int = 3) -> None:
        if not isinstance(example_input, torch.Tensor):
            raise TypeError(f"example_input must be a tensor, got {type(example_input).__name__}")
        self.device = pick_device(device)
        if cuda_graph and self.device.type != "cuda":
            raise ValueError(f"cuda_graph=True needs a CUDA device, got {self.device}")
        self.model = model.to(self.device).eval()
        self.shape, self.dtype = tuple(example_input.shape), example_input.dtype
        self.uses_cuda_graph = self.device.type == "cuda" if cuda_graph is None else cuda_graph
        self._graph: torch.cuda.CUDAGraph | None = None
        if self.uses_cuda_graph:
            self._capture(example_input.to(self.device), warmup)

    def _capture(self, example: torch.Tensor, warmup: int) -> None:
        self._static_input = example.clone()

        def forward(capturing: bool) -> torch.Tensor:
            with torch.no_grad():
                return self.model(self._static_input)

        self._graph, self._static_output = cuda_graphs.capture(forward, self.device, warmup)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a tensor, got {type(x).__name__}")
        if tuple(x.shape) != self.shape or x.dtype != self.dtype:
            raise ValueError(f"this predictor was built for inputs of shape {self.shape} and dtype "
                             f"{self.dtype}; got shape {tuple(x.shape)} and dtype {x.dtype}. "
                             "Build another Predictor for another shape.")
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x)
        if self._graph is None:
            with torch.inference_mode():
                return self.model(x.to(self.device))
        self._static_input.copy_(x, non_blocking=True)
        self._graph.replay()
        return self._static_output.clone()


@dataclass(frozen=True)
class LatencyReport:
    """Latency percentiles of single calls, in seconds."""

    p50: float
    p90: float
    p99: float
    mean: float
    samples: int

    def in_microseconds(self) -> dict[str, float]:
        """The percentiles and mean in microseconds, rounded to 0.1."""
        return {k: round(getattr(self, k) * 1e6, 1) for k in ("p50", "p90", "p99", "mean")}


def measure_latency(predict: Callable[[torch.Tensor], torch.Tensor], example_input: torch.Tensor,
                    repeats: int = 500, warmup: int = 20,
                    device: torch.device | str | None = None) -> LatencyReport:
    """p50/p90/p99 latency of ``predict(example_input)``, each call waited for.

    ``device`` defaults to the predictor's device, else the input's.

    Example:
        >>> r = measure_latency(lambda x: x + 1, torch.zeros(3), repeats=10)
        >>> r.samples
        10
    """
    device = device or getattr(predict, "device", None) or example_input.device
    samples = latency_samples(lambda: predict(example_input), repeats, warmup, device)
    p = percentiles(samples)
    return LatencyReport(p50=p[50], p90=p[90], p99=p[99], mean=sum(samples) / len(samples),
                         samples=len(samples))


@dataclass(frozen=True)
class BatchThroughput:
    """Seconds per forward pass and examples per second at one batch size."""

    batch_size: int
    seconds: float
    examples_per_second: float


def throughput_vs_batch_size(model: nn.Module, example_shape: Sequence[int], batch_sizes: Sequence[int],
                             device: torch.device | str | None = None,
                             min_run_time: float = 0.2) -> list[BatchThroughput]:
    """Forward-pass time and throughput of ``model`` for each batch size (inference mode).

    ``example_shape`` is one example's shape, without the batch dimension.

    Example:
        >>> rows = throughput_vs_batch_size(torch.nn.Linear(8, 2), (8,), [1, 16], device="cpu",
        ...                                 min_run_time=0.01)
        >>> [r.batch_size for r in rows]
        [1, 16]
    """
    if not batch_sizes or not all(map(is_positive_int, batch_sizes)):
        raise ValueError(f"batch_sizes must be positive integers, got {list(batch_sizes)}")
    device = pick_device(device)
    model = model.to(device).eval()
    rows = []
    for batch in batch_sizes:
        x = torch.rand((batch, *example_shape), device=device)

        def forward(x: torch.Tensor = x) -> torch.Tensor:
            with torch.inference_mode():
                return model(x)

        seconds = time_callable(forward, min_run_time=min_run_time).median
        rows.append(BatchThroughput(batch, seconds, batch / seconds))
    return rows
