"""Process groups: joining the one torchrun describes, or running ranks as local processes.

Every rank of a ``torch.distributed`` program is its own process, which joins a process group
at ``MASTER_ADDR:MASTER_PORT`` and learns its rank in it. Ranks talk through gloo on CPUs and
NCCL on CUDA GPUs (one GPU per process). Launch one process per GPU (or per CPU rank) with
torchrun, on one node or several::

    torchrun --nproc_per_node=2 benchmarks/ddp_train.py
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=8 script.py

and call :func:`init_process_group_from_env` at the top of the script; or, in a notebook, run
ranks as local processes with :func:`spawn_local`.

Example (the variables torchrun sets for each rank):
    >>> ENV_VARIABLES
    ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')
"""

from __future__ import annotations

import datetime
import importlib
import os
import pickle
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .validation import positive_int

__all__ = ["ENV_VARIABLES", "ProcessGroupInfo", "free_port", "import_dynamo_first", "init_process_group_from_env",
           "rank_device", "spawn_local"]

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
                           "in-process with dlparallel.distributed.spawn_local")
    rank, world_size, local_rank = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    positive_int(world_size, "WORLD_SIZE")
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


def rank_device() -> torch.device:
    """The device this process computes on: its GPU in an NCCL process group, else the CPU.

    Example:
        >>> rank_device()  # no process group here
        device(type='cpu')
    """
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


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
    positive_int(world_size, "world_size")
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
