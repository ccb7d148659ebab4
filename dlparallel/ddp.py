"""Data-parallel training with PyTorch's ``DistributedDataParallel`` (DDP), on every rank of a process group.

Every rank holds a full copy of the model and trains on its own shard of each epoch's
examples; ``DistributedDataParallel`` averages the gradients across ranks during the backward
pass (a ring all-reduce), so every rank takes the same step as one process training on all
the ranks' batches together. The ranks come from :mod:`dlparallel.distributed` (torchrun or
:func:`~dlparallel.distributed.spawn_local`); :mod:`dlparallel.allreduce_cost` says what the
all-reduce costs.

Example:
    >>> from functools import partial
    >>> import dlparallel as dp
    >>> from dlparallel.distributed import spawn_local
    >>> data = dp.synthetic_images(64, (8,), num_classes=3, device="cpu")
    >>> runs = spawn_local(train_ddp, 2, partial(dp.mlp, [8, 3]), data, epochs=2, batch_size=8)
    >>> [len(run.history.records) for run in runs]
    [2, 2]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .data import DeviceLoader, LabelledData
from .distributed import rank_device
from .training import History, LossFunction, Trainer
from .validation import positive_int, positive_number

__all__ = ["DDPResult", "train_ddp"]


@dataclass
class DDPResult:
    """What :func:`train_ddp` returns on every rank: the trained model and the (global) history."""

    model: nn.Module
    history: History
    rank: int
    world_size: int


def _shard(data: LabelledData, rank: int, world_size: int, seed: int) -> LabelledData:
    """This rank's share of one shuffled epoch, as DistributedSampler splits it (drop_last=True).

    Every rank draws the same permutation; rank ``r`` takes positions ``r, r + W, r + 2W, ...``
    of its first ``W * (N // W)`` entries, so the shards are disjoint and equally long.
    """
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    mine = order[rank:world_size * (len(data) // world_size):world_size].to(data.device)
    return LabelledData(data.inputs[mine], data.labels[mine])


def train_ddp(model_fn: Callable[[], nn.Module], data: LabelledData, epochs: int, *,
              batch_size: int = 64, lr: float = 0.1, loss_fn: LossFunction | None = None,
              seed: int = 0) -> DDPResult:
    """Train ``model_fn()`` with DistributedDataParallel on every rank of the current process group.

    Call it on every rank, after :func:`~dlparallel.distributed.init_process_group_from_env` (or
    as the function of :func:`~dlparallel.distributed.spawn_local`). Each epoch the ranks split a
    shared shuffle of ``data`` into equal shards
    (:class:`~torch.utils.data.distributed.DistributedSampler`'s split, dropping the last
    ``len(data) % world_size`` examples) and step through them with ``batch_size`` examples per
    rank, so ``batch_size * world_size`` per optimizer step. The data stays on the rank's
    device; SGD with learning rate ``lr``. A :class:`~dlparallel.training.Trainer` sums loss and
    accuracy over all ranks once per epoch, so every rank returns the same history, and
    ``examples_per_second`` counts the examples of all ranks together.

    Example:
        >>> from functools import partial
        >>> from dlparallel import mlp, synthetic_images
        >>> from dlparallel.distributed import spawn_local
        >>> data = synthetic_images(32, (8,), num_classes=3, device="cpu")
        >>> result = spawn_local(train_ddp, 1, partial(mlp, [8, 3]), data, epochs=1, batch_size=8)[0]
        >>> result.history.records[0].epoch, result.world_size
        (1, 1)
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("train_ddp needs a process group: call init_process_group_from_env() first "
                           "(under torchrun), or run it through spawn_local")
    if not callable(model_fn):
        raise TypeError(f"model_fn must be a function that builds the model, got {type(model_fn).__name__}")
    if not isinstance(data, LabelledData):
        raise TypeError(f"data must be a LabelledData (see dlparallel.data), got {type(data).__name__}")
    positive_int(epochs, "epochs")
    positive_number(lr, "lr", finite=True)
    rank, world_size, device = dist.get_rank(), dist.get_world_size(), rank_device()
    if len(data) < world_size:
        raise ValueError(f"{len(data)} examples cannot be split across {world_size} ranks")
    torch.manual_seed(seed)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    model = model_fn().to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    trainer = Trainer(ddp, torch.optim.SGD(ddp.parameters(), lr=lr), loss_fn, device=device,
                      all_reduce=dist.all_reduce, label=f"{world_size} x {device.type}")
    data = data.to(device)
    for epoch in range(1, epochs + 1):
        trainer.epoch(DeviceLoader(_shard(data, rank, world_size, seed + epoch), batch_size, shuffle=False))
    return DDPResult(model=model, history=trainer.history, rank=rank, world_size=world_size)
