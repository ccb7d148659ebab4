"""Data-parallel training with ``torch.distributed``: DDP under torchrun, or in-process for lessons.

Every rank holds a full copy of the model and trains on its own shard of each epoch's
examples; ``DistributedDataParallel`` averages the gradients across ranks during the backward
pass (a ring all-reduce), so every rank takes the same step as one process training on all
the ranks' batches together. Ranks talk through gloo on CPUs and NCCL on CUDA GPUs.

Launch one process per GPU (or per CPU rank) with torchrun, on one node or several::

    torchrun --nproc_per_node=2 benchmarks/ddp_train.py
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=8 script.py

and call :func:`init_process_group_from_env` at the top of the script; or, in a notebook,
run ranks as local processes with :func:`spawn_local`. The cost model at the end says how
long the gradient all-reduce takes and how well data parallelism scales.

Example:
    >>> from functools import partial
    >>> import dlparallel as dp
    >>> from dlparallel.parallel import spawn_local, train_ddp
    >>> data = dp.synthetic_images(64, (8,), num_classes=3, device="cpu")
    >>> runs = spawn_local(train_ddp, 2, partial(dp.mlp, [8, 3]), data, epochs=2, batch_size=8)
    >>> [len(run.history.records) for run in runs]
    [2, 2]
"""

from __future__ import annotations

import datetime
import importlib
import math
import os
import pickle
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .data import DeviceLoader, LabelledData
from .devices import synchronize
from .training import EpochRecord, History, LossFunction, TrainingDivergedError, _Trainer

__all__ = ["ProcessGroupInfo", "DDPResult", "free_port", "import_dynamo_first", "init_process_group_from_env",
           "train_ddp", "spawn_local", "ring_allreduce_bytes", "data_parallel_step_time", "scaling_efficiency"]

ENV_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class ProcessGroupInfo(NamedTuple):
    """This process's rank, the number of ranks, and the device it computes on."""

    rank: int
    world_size: int
    device: torch.device


def _env_int(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def init_process_group_from_env(backend: str | None = None,
                                timeout: datetime.timedelta | None = None) -> ProcessGroupInfo:
    """Join the process group described by torchrun's environment variables.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (the rank within this node),
    ``MASTER_ADDR`` and ``MASTER_PORT``. ``backend`` defaults to ``"nccl"`` where CUDA is
    available, else ``"gloo"``. With NCCL each process computes on GPU ``cuda:LOCAL_RANK``,
    so a node may run at most one process per GPU; with gloo, on the CPU.

    Example:
        >>> from unittest import mock
        >>> torchrun_env = dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
        ...                     MASTER_PORT=str(free_port()))
        >>> with mock.patch.dict(os.environ, torchrun_env):
        ...     init_process_group_from_env("gloo")
        ProcessGroupInfo(rank=0, world_size=1, device=device(type='cpu'))
        >>> dist.destroy_process_group()
    """
    missing = [name for name in ENV_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(f"environment variable(s) {', '.join(missing)} not set: start this script "
                           "with torchrun (e.g. torchrun --nproc_per_node=2 script.py), or run ranks "
                           "in-process with dlparallel.parallel.spawn_local")
    rank, world_size, local_rank = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    if world_size < 1:
        raise ValueError(f"WORLD_SIZE must be at least 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK must lie in 0..WORLD_SIZE-1 = 0..{world_size - 1}, got {rank}")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    device = torch.device("cpu")
    if backend == "nccl":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK is {local_rank} but this node has {torch.cuda.device_count()} "
                             "CUDA device(s): NCCL needs one GPU per process; start fewer processes per "
                             "node or use backend='gloo'")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    import_dynamo_first()
    dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timeout,
                            device_id=device if device.type == "cuda" else None)
    return ProcessGroupInfo(rank, world_size, device)


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


def _process_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def train_ddp(model_fn: Callable[[], nn.Module], data: LabelledData, epochs: int, *,
              batch_size: int = 64, lr: float = 0.1, loss_fn: LossFunction | None = None,
              seed: int = 0) -> DDPResult:
    """Train ``model_fn()`` with DistributedDataParallel on every rank of the current process group.

    Call it on every rank, after :func:`init_process_group_from_env` (or as the function of
    :func:`spawn_local`). Each epoch the ranks split a shared shuffle of ``data`` into equal
    shards (:class:`~torch.utils.data.distributed.DistributedSampler`'s split, dropping the last
    ``len(data) % world_size`` examples) and step through them with ``batch_size`` examples per
    rank, so ``batch_size * world_size`` per optimizer step. The data stays on the rank's
    device; SGD with learning rate ``lr``. Loss and accuracy are summed over all ranks once per
    epoch, so every rank returns the same history, and ``examples_per_second`` counts the
    examples of all ranks together.

    Example:
        >>> from functools import partial
        >>> from dlparallel import mlp, synthetic_images
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
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    rank, world_size, device = dist.get_rank(), dist.get_world_size(), _process_device()
    if len(data) < world_size:
        raise ValueError(f"{len(data)} examples cannot be split across {world_size} ranks")
    torch.manual_seed(seed)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    model = model_fn().to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=lr)
    trainer = _Trainer(ddp, optimizer, loss_fn or nn.functional.cross_entropy, device, bf16=False)
    data = data.to(device)
    history = History(device=f"{world_size} x {device.type}")
    for epoch in range(1, epochs + 1):
        loader = DeviceLoader(_shard(data, rank, world_size, seed + epoch), batch_size, shuffle=False)
        synchronize(device)
        start = time.perf_counter()
        trainer.start_epoch()
        for x, y in loader:
            trainer.step(x, y)
        totals = torch.stack([trainer.loss_sum, trainer.correct.to(trainer.loss_sum.dtype)])
        dist.all_reduce(totals)
        loss_sum, correct = totals.tolist()  # the epoch's one host synchronisation
        seconds = time.perf_counter() - start
        seen = len(loader.data) * world_size
        if not math.isfinite(loss_sum):
            raise TrainingDivergedError(f"the training loss became {loss_sum / seen} in epoch {epoch}: the "
                                        f"model diverged. Lower the learning rate (it was {lr}).", history)
        history.records.append(EpochRecord(epoch=epoch, loss=loss_sum / seen, accuracy=correct / seen,
                                           seconds=seconds, examples_per_second=seen / seconds))
    return DDPResult(model=model, history=history, rank=rank, world_size=world_size)


def import_dynamo_first() -> None:
    """Import ``torch._dynamo`` now: call it before ``dist.init_process_group``.

    DDP imports ``torch._dynamo`` on first use. Imported while a process group exists, it keeps the
    group alive after ``destroy_process_group``, so that gloo's threads outlive the interpreter and
    can abort the process (SIGABRT) as it exits. Imported before the group is formed, it does not.

    Example:
        >>> import sys
        >>> import_dynamo_first()
        >>> "torch._dynamo" in sys.modules
        True
    """
    importlib.import_module("torch._dynamo")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for ``MASTER_PORT``, or a local server).

    Example:
        >>> 0 < free_port() < 65536
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned_rank(rank: int, world_size: int, port: int, backend: str, results: str,
                  fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if backend == "gloo":  # the ranks share this machine's cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    init_process_group_from_env(backend)
    try:
        result = fn(*args, **kwargs)
    finally:
        dist.destroy_process_group()
    with open(Path(results) / f"{rank}.pkl", "wb") as f:
        pickle.dump(result, f)
    # The result is written. Leave without the interpreter's teardown, in which threads that gloo
    # (or a module a rank imported while its group existed) left behind can abort the process
    # with SIGABRT ("terminate called without an active exception") and fail a finished run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def spawn_local(fn: Callable[..., Any], world_size: int, *args: Any, backend: str | None = None,
                timeout: float | None = None, **kwargs: Any) -> list[Any]:
    """Run ``fn(*args, **kwargs)`` on ``world_size`` local ranks, each its own process; return their results.

    Each rank is started with ``torch.multiprocessing.spawn``, joins a process group on a free
    localhost port (the environment variables torchrun would set are set for it) and calls
    ``fn``, which can ask ``torch.distributed`` for its rank. ``backend`` defaults to NCCL when
    there is a GPU for every rank, else gloo on the CPU. The results come back in rank order.
    If a rank fails, the others are stopped and its error is raised here (as
    ``torch.multiprocessing.ProcessRaisedException``, with the rank's traceback); after
    ``timeout`` seconds all are stopped and :class:`TimeoutError` is raised.

    ``fn``, its arguments and its result travel between processes by pickling, so ``fn`` must
    be importable by name: a function of a module (not one defined in a notebook), or a
    ``functools.partial`` of one.

    Example:
        >>> spawn_local(dist.get_rank, 2)
        [0, 1]
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive integer, got {world_size!r}")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world_size else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    with tempfile.TemporaryDirectory(prefix="dlparallel-ranks-") as results:
        context = mp.spawn(_spawned_rank, args=(world_size, free_port(), backend, results, fn, args, kwargs),
                           nprocs=world_size, join=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not context.join(None if deadline is None else max(0.0, deadline - time.monotonic())):
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"the {world_size} ranks did not finish within {timeout} s")
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
                    process.join()
        outputs = []
        for rank in range(world_size):
            with open(Path(results) / f"{rank}.pkl", "rb") as f:
                outputs.append(pickle.load(f))
        return outputs


def ring_allreduce_bytes(n_bytes: float, workers: int) -> float:
    """Bytes each worker sends (and receives) to all-reduce ``n_bytes`` with the ring algorithm.

    The ring cuts the buffer into ``N`` chunks and takes ``N - 1`` steps of reduce-scatter,
    then ``N - 1`` of all-gather, each worker sending one chunk per step::

        2 * (N - 1) / N * n_bytes

    which tends to twice the buffer, whatever the number of workers.

    Example:
        >>> ring_allreduce_bytes(100e6, 4)
        150000000.0
        >>> ring_allreduce_bytes(100e6, 1)
        0.0
    """
    _check_workers(workers)
    if n_bytes < 0:
        raise ValueError(f"n_bytes must be non-negative, got {n_bytes}")
    return 2 * (workers - 1) / workers * n_bytes


def data_parallel_step_time(compute_s: float, grad_bytes: float, workers: int,
                            bandwidth_bytes_per_s: float, latency_s: float = 0.0) -> float:
    """Seconds per training step of ``workers`` data-parallel workers, each with the same local batch.

    A step is the computation of one worker plus a ring all-reduce of the gradients, whose
    ``2 * (N - 1)`` steps each pay the link's latency and send a ``grad_bytes / N`` chunk::

        compute_s + 2 * (N - 1) * latency_s + 2 * (N - 1) / N * grad_bytes / bandwidth_bytes_per_s

    DDP overlaps much of the all-reduce with the backward pass, so measured steps can be shorter
    than this, which assumes no overlap.

    Example:
        >>> round(data_parallel_step_time(0.1, 100e6, 4, 10e9, 5e-6), 6)
        0.11503
    """
    for name, value in (("compute_s", compute_s), ("grad_bytes", grad_bytes), ("latency_s", latency_s)):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
    if bandwidth_bytes_per_s <= 0:
        raise ValueError(f"bandwidth_bytes_per_s must be positive, got {bandwidth_bytes_per_s}")
    communication = ring_allreduce_bytes(grad_bytes, workers) / bandwidth_bytes_per_s
    return compute_s + 2 * (workers - 1) * latency_s + communication


def scaling_efficiency(compute_s: float, grad_bytes: float, workers: int,
                       bandwidth_bytes_per_s: float, latency_s: float = 0.0) -> float:
    """Throughput of ``workers`` workers over ``workers`` times that of one, under the step-time model.

    One worker needs no all-reduce, so its step takes ``compute_s``; ``N`` workers process
    ``N`` times the examples per step of :func:`data_parallel_step_time`, so the efficiency is
    ``compute_s / data_parallel_step_time(...)``: 1 when communication is free.

    Example:
        >>> round(scaling_efficiency(0.1, 100e6, 4, 10e9, 5e-6), 3)
        0.869
    """
    if compute_s <= 0:
        raise ValueError(f"compute_s must be positive, got {compute_s}")
    return compute_s / data_parallel_step_time(compute_s, grad_bytes, workers, bandwidth_bytes_per_s, latency_s)


def _check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
