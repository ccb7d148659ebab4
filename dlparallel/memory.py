"""The memory budget of training: bytes per parameter, ZeRO sharding, and activations saved for backward.

Training keeps, for every parameter, its weight, its gradient and the optimizer's state. In mixed
precision the weights and gradients used by the forward and backward passes are 16-bit, and
the optimizer updates an fp32 *master* copy of the weights; so Adam needs
2 + 2 + (4 + 4 + 4) = 16 bytes per parameter. ZeRO (Rajbhandari et al., 2020) divides these
states across the ``N`` data-parallel ranks: stage 1 the optimizer state, stage 2 also the
gradients, stage 3 also the weights. Activations, what the forward pass saves for the backward
pass, come on top and grow with the batch and the depth.

Example:
    >>> bytes_per_parameter("adam", "mixed").total
    16
    >>> zero_bytes_per_rank(1_000_000, 4, stage=3)
    4000000
    >>> max_parameters(80e9) / 1e9
    5.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from .validation import positive_int, positive_number

__all__ = ["ParameterBytes", "OPTIMIZERS", "PRECISIONS", "bytes_per_parameter", "zero_bytes_per_rank",
           "max_parameters", "saved_activation_bytes"]

OPTIMIZERS = ("sgd", "momentum", "adam")
PRECISIONS = ("fp32", "mixed")
_STATE_FP32 = {"sgd": 0, "momentum": 4, "adam": 8}  # momentum: one fp32 buffer; Adam: two (m and v)


@dataclass(frozen=True)
class ParameterBytes:
    """Bytes that training keeps per parameter: weights, gradients, optimizer state (master weights included)."""

    weights: int
    gradients: int
    optimizer_state: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state


def bytes_per_parameter(optimizer: str = "adam", precision: str = "mixed") -> ParameterBytes:
    """Bytes per parameter of training with ``optimizer`` ("sgd", "momentum", "adam") in ``precision``.

    ``"fp32"``: 4-byte weights and gradients, plus the optimizer's fp32 buffers (none for plain
    SGD, one for momentum, two for Adam). ``"mixed"``: 2-byte (fp16 or bf16) weights and
    gradients for the passes, and an fp32 master copy of the weights (4 bytes) counted with the
    optimizer state, because only the optimizer needs it.

    Example:
        >>> bytes_per_parameter("adam", "fp32")
        ParameterBytes(weights=4, gradients=4, optimizer_state=8)
        >>> bytes_per_parameter("adam", "mixed")
        ParameterBytes(weights=2, gradients=2, optimizer_state=12)
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return ParameterBytes(4, 4, _STATE_FP32[optimizer])
    return ParameterBytes(2, 2, 4 + _STATE_FP32[optimizer])


def zero_bytes_per_rank(parameters: int, ranks: int, stage: int, optimizer: str = "adam",
                        precision: str = "mixed") -> int:
    """Bytes of model states per rank under ZeRO ``stage`` (0 is plain data parallelism, DDP).

    With ``P = parameters`` split over ``N = ranks`` and ``w, g, s`` the bytes per parameter of
    weights, gradients and optimizer state (:func:`bytes_per_parameter`)::

        stage 0: (w + g + s) * P          stage 2: w * P + (g + s) * P / N
        stage 1: (w + g) * P + s * P / N  stage 3: (w + g + s) * P / N

    This is the ZeRO paper's formula, for a parameter count that ``N`` divides.

    Example:
        >>> [zero_bytes_per_rank(8_000, 8, stage) for stage in range(4)]
        [128000, 44000, 30000, 16000]
    """
    positive_int(parameters, "parameters")
    positive_int(ranks, "ranks")
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"stage must be 0 (no sharding), 1, 2 or 3, got {stage!r}")
    if parameters % ranks:
        raise ValueError(f"the formula splits {parameters} parameters into {ranks} equal shards: "
                         "give a parameter count that the number of ranks divides")
    b = bytes_per_parameter(optimizer, precision)
    sharded = (0, b.optimizer_state, b.optimizer_state + b.gradients, b.total)[stage]
    return (b.total - sharded) * parameters + sharded * parameters // ranks


def max_parameters(device_bytes: float, optimizer: str = "adam", precision: str = "mixed") -> int:
    """The most parameters whose model states fit in ``device_bytes`` on one device, activations aside.

    Example:
        >>> max_parameters(80e9, "sgd", "fp32") / 1e9
        10.0
    """
    positive_number(device_bytes, "device_bytes")
    return int(device_bytes // bytes_per_parameter(optimizer, precision).total)


def saved_activation_bytes(fn: Callable[..., Any], *args: Any, exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the tensors that ``fn(*args)`` saves for its backward pass, each storage counted once.

    Autograd keeps these tensors alive from the forward pass until the backward pass has used
    them: they are the activation memory of a training step. The count comes from
    :func:`torch.autograd.graph.saved_tensors_hooks`, so it is exact and the same on every run
    and device. Tensors that share storage are counted once (a ReLU's output that the next
    layer saves as its input), and those sharing storage with ``exclude`` (pass the model's
    parameters, which a linear layer also saves) not at all. It does not count temporaries
    freed during the forward pass, the gradients, or the allocator's overhead: a peak-memory
    measurement on a GPU (``torch.cuda.max_memory_allocated``) includes those as well.

    Example:
        >>> layer = torch.nn.Linear(100, 100)
        >>> x = torch.ones(8, 100)
        >>> saved_activation_bytes(lambda x: torch.relu(layer(x)), x, exclude=layer.parameters())
        6400
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    excluded = {t.untyped_storage().data_ptr() for t in exclude}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*args)
    return sum(saved.values())
