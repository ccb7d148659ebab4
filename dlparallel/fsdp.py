"""Fully sharded data parallelism (ZeRO stage 3) with PyTorch's FSDP2, ``torch.distributed.fsdp.fully_shard``.

Each rank keeps only its shard of every parameter, gradient and optimizer state. Before a layer
runs, FSDP all-gathers its full parameters, and frees them again after use; after the backward
pass it reduce-scatters the gradients, so each rank receives the averaged gradient of its own
shard only, and its optimizer updates that shard. :func:`train_fsdp` trains a model this way on
the ranks of a process group (one per GPU, or gloo ranks on a CPU) and counts what it moved;
called outside a process group, it trains the same model in one process on the same batches.

On two ranks each keeps half of every parameter, as ``tests/test_fsdp.py`` checks::

    runs = spawn_local(train_fsdp, 2, partial(mlp, [64, 32, 10]), load_digits("cpu").train, steps=2)
    [run.local_parameters for run in runs]   # [1205, 1205] of 2410

Example:
    >>> from dlparallel import load_digits, mlp
    >>> run = train_fsdp(lambda: mlp([64, 32, 10]), load_digits("cpu").train, steps=2)
    >>> run.local_parameters, run.total_parameters, run.all_gathered_bytes
    (2410, 2410, 0)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from unittest import mock

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .data import LabelledData
from .distributed import rank_device
from .validation import positive_int

__all__ = ["FSDPRun", "train_fsdp"]


@dataclass
class FSDPRun:
    """What :func:`train_fsdp` returns on each rank.

    ``losses``: the loss of every step over the whole batch (the same on every rank);
    ``local_parameters`` / ``local_optimizer_state``: the numbers of parameter and optimizer-state
    entries this rank holds; ``total_parameters``: the unsharded model's; ``all_gathered_bytes`` /
    ``reduce_scattered_bytes``: the full size of the tensors this rank all-gathered and
    reduce-scattered, summed over all steps (0 in one process).
    """

    rank: int
    world_size: int
    losses: list[float]
    local_parameters: int
    local_optimizer_state: int
    total_parameters: int
    all_gathered_bytes: int
    reduce_scattered_bytes: int


def _local_numel(tensor: torch.Tensor) -> int:
    return tensor.to_local().numel() if hasattr(tensor, "to_local") else tensor.numel()


@contextmanager
def _count_collectives(totals: dict[str, int]) -> Iterator[None]:
    """Add up the full tensor sizes of the all-gathers and reduce-scatters called through torch.distributed."""
    names = {"all_gather_single": ("all_gather", 0), "all_gather_into_tensor": ("all_gather", 0),
             "reduce_scatter_single": ("reduce_scatter", 1), "reduce_scatter_tensor": ("reduce_scatter", 1)}
    with ExitStack() as stack:
        for name, (kind, which) in names.items():
            if hasattr(dist, name):
                stack.enter_context(mock.patch.object(dist, name, _counting(getattr(dist, name), kind, which, totals)))
        yield


def _counting(collective: Callable, kind: str, which: int, totals: dict[str, int]) -> Callable:
    signature = inspect.signature(collective)

    def counted(*args, **kwargs):
        full = list(signature.bind(*args, **kwargs).arguments.values())[which]  # the unsharded tensor
        totals[kind] += full.numel() * full.element_size()
        return collective(*args, **kwargs)

    return counted


def train_fsdp(model_fn: Callable[[], nn.Module], data: LabelledData, steps: int, *, batch_size: int = 128,
               lr: float = 1e-2, seed: int = 0) -> FSDPRun:
    """Train ``model_fn()`` with Adam for ``steps`` steps of ``batch_size`` examples, sharded by FSDP2.

    Call it on every rank (through :func:`dlparallel.distributed.spawn_local`, or under torchrun
    after :func:`dlparallel.distributed.init_process_group_from_env`). Every linear or convolutional
    layer becomes its own FSDP unit (``fully_shard``), then the whole model; each rank takes an
    equal slice of every batch, which runs through ``data`` in order, wrapping around. Outside
    a process group, the same model trains in one process on the same whole batches, which is
    the single-process result that the sharded run must reproduce.

    Example:
        >>> from dlparallel import load_digits, mlp
        >>> run = train_fsdp(lambda: mlp([64, 10]), load_digits("cpu").train, steps=3)
        >>> run.world_size, len(run.losses), run.local_parameters == run.total_parameters
        (1, 3, True)
    """
    if not callable(model_fn):
        raise TypeError(f"model_fn must be a function that builds the model, got {type(model_fn).__name__}")
    if not isinstance(data, LabelledData):
        raise TypeError(f"data must be a LabelledData (see dlparallel.data), got {type(data).__name__}")
    positive_int(steps, "steps")
    grouped = dist.is_initialized()
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if grouped else (0, 1)
    if batch_size < world_size or batch_size % world_size or batch_size > len(data):
        raise ValueError(f"batch_size must be a multiple of the {world_size} rank(s) and at most the "
                         f"{len(data)} examples, got {batch_size}")
    device = rank_device()
    torch.manual_seed(seed)
    model = model_fn().to(device)
    total = sum(p.numel() for p in model.parameters())
    if grouped:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (world_size,))
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                fully_shard(module, mesh=mesh)
        fully_shard(model, mesh=mesh)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    inputs, labels = data.inputs.to(device), data.labels.to(device)
    totals = {"all_gather": 0, "reduce_scatter": 0}
    losses = []
    with _count_collectives(totals):
        for step in range(steps):
            rows = (torch.arange(batch_size, device=device) + step * batch_size) % len(data)
            mine = rows.chunk(world_size)[rank]
            loss = F.cross_entropy(model(inputs[mine]), labels[mine])
            optimizer.zero_grad()
            loss.backward()  # FSDP reduce-scatters the gradients and averages them over the ranks
            optimizer.step()
            whole = loss.detach().clone()
            if grouped:
                dist.all_reduce(whole)
            losses.append(whole.item() / world_size)
    state = sum(_local_numel(v) for s in optimizer.state.values() for v in s.values()
                if torch.is_tensor(v) and v.dim() > 0)
    return FSDPRun(rank=rank, world_size=world_size, losses=losses,
                   local_parameters=sum(_local_numel(p) for p in model.parameters()),
                   local_optimizer_state=state, total_parameters=total,
                   all_gathered_bytes=totals["all_gather"], reduce_scattered_bytes=totals["reduce_scatter"])
