"""Capturing work in a CUDA graph, the way PyTorch's CUDA graphs notes prescribe.

A captured graph replays all of its kernels with one launch. Before capture, the work runs a few
times on a side stream, so that lazy initialisation (cuBLAS handles, autograd buffers, optimizer
state) happens outside the graph; then :func:`torch.cuda.graph` records one more call. The
inputs and outputs of that call are the graph's fixed buffers: replay reads and writes the same
memory, so callers copy new inputs into the one and read results out of the other. Used by
:class:`~dlparallel.training.Trainer` (a whole training step) and
:class:`~dlparallel.inference.Predictor` (a forward pass).

Example (on a CUDA machine; elsewhere nothing runs):
    >>> import torch
    >>> if torch.cuda.is_available():
    ...     x = torch.zeros(3, device="cuda")
    ...     graph, doubled = capture(lambda capturing: x * 2, x.device)
    ...     _ = x.fill_(1.5)
    ...     graph.replay()
    ...     assert doubled.tolist() == [3.0, 3.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

__all__ = ["capture"]

T = TypeVar("T")


def capture(fn: Callable[[bool], T], device: torch.device, warmup: int = 3,
            before_capture: Callable[[], object] | None = None) -> tuple[torch.cuda.CUDAGraph, T]:
    """Run ``fn(False)`` ``warmup`` times on a side stream, then capture ``fn(True)`` in a CUDA graph.

    ``fn``'s argument says whether it is being captured (autocast, for one, must then run without
    its weight cache). ``before_capture`` runs between warm-up and capture, outside the graph:
    setting gradients to None there lets the captured backward pass allocate them from the
    graph's private memory pool. Returns the graph and what the captured call returned, whose
    tensors each replay overwrites.

    Example:
        >>> capture(lambda capturing: None, torch.device("cpu"))
        Traceback (most recent call last):
        ...
        ValueError: a CUDA graph needs a CUDA device, got cpu
    """
    if device.type != "cuda":
        raise ValueError(f"a CUDA graph needs a CUDA device, got {device}")
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn(False)
    torch.cuda.current_stream(device).wait_stream(side)
    if before_capture is not None:
        before_capture()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = fn(True)
    return graph, output
