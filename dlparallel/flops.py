"""Counting the arithmetic a network does, and turning a count and a time into a rate.

The count for a whole model comes from PyTorch's own ``FlopCounterMode``, which counts the
matrix products and convolutions (one multiply-add = 2 FLOPs) that dominate the cost.

Example:
    >>> import torch
    >>> from dlparallel.flops import matmul_flops, count_flops
    >>> matmul_flops(2, 3, 4)
    48
    >>> count_flops(torch.nn.Linear(4, 3), torch.zeros(2, 4))
    48
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .validation import non_negative_int

__all__ = ["matmul_flops", "count_flops", "training_step_flops", "achieved_flops_per_second"]


def matmul_flops(m: int, n: int, k: int) -> int:
    """FLOPs of an ``(m, k) @ (k, n)`` product: ``m * n`` dot products of ``k`` multiply-adds.

    Example:
        >>> matmul_flops(1024, 1024, 1024) / 1e9
        2.147483648
    """
    for name, value in (("m", m), ("n", n), ("k", k)):
        non_negative_int(value, name)
    return 2 * m * n * k


def count_flops(model: nn.Module, example_input: torch.Tensor, backward: bool = False) -> int:
    """FLOPs of one forward pass of ``model`` on ``example_input`` (plus backward if asked).

    Example:
        >>> count_flops(torch.nn.Linear(4, 3), torch.zeros(2, 4), backward=True)
        96
    """
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a tensor, got {type(example_input).__name__}")
    counter = FlopCounterMode(display=False)
    was_training = model.training
    try:
        with counter:
            if backward:
                model(example_input).sum().backward()
            else:
                with torch.no_grad():
                    model(example_input)
    finally:
        if backward:
            model.zero_grad(set_to_none=True)
        model.train(was_training)
    return int(counter.get_total_flops())


def training_step_flops(model: nn.Module, example_input: torch.Tensor) -> int:
    """FLOPs of one training step (forward and backward) on a batch shaped like ``example_input``.

    The backward pass computes gradients for both the weights and the layer inputs, so a step
    costs about three forward passes; the first layer needs no input gradient, so a single
    layer costs two (forward 48 + weight gradient 48 below).

    Example:
        >>> training_step_flops(torch.nn.Linear(4, 3), torch.zeros(2, 4))
        96
    """
    return count_flops(model, example_input, backward=True)


def achieved_flops_per_second(flops: float, seconds: float) -> float:
    """The rate at which ``flops`` operations in ``seconds`` seconds were done.

    Example:
        >>> achieved_flops_per_second(2e9, 0.5)
        4000000000.0
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if flops < 0:
        raise ValueError(f"flops must be non-negative, got {flops}")
    return flops / seconds
