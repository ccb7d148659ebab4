"""Lesson 05's data-parallel script, written out in full: every function runs on every rank.

Start it with torchrun, which starts one process per rank and gives each its ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``::

    torchrun --standalone --nproc_per_node=2 -m dlparallel.ddp_script --task train
    torchrun --standalone --nproc_per_node=2 -m dlparallel.ddp_script --task all --json report.json
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
        -m dlparallel.ddp_script --task train                          # on each of two machines

``--task train`` trains an MLP on the handwritten digits twice, once with
``DistributedDataParallel`` and once averaging the gradients with an explicit ``all_reduce``;
``allreduce`` times ``dist.all_reduce`` against the message size; ``overlap`` measures how much
of the gradient all-reduce DDP hides behind the backward pass. Rank 0 prints the figures and,
with ``--json``, writes them to a file.

Example (a process group of one rank, formed in this process):
    >>> from unittest import mock
    >>> from dlparallel.distributed import free_port
    >>> env = dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    >>> with mock.patch.dict(os.environ, env):
    ...     rank, world_size, device = join_group("gloo")
    >>> epochs = train_digits(device, epochs=2)
    >>> [e["epoch"] for e in epochs], epochs[-1]["test_accuracy"] > 0.5
    ([1, 2], True)
    >>> dist.destroy_process_group()
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from .data import load_digits
from .devices import describe_hardware, synchronize
from .models import mlp
from .distributed import import_dynamo_first

__all__ = ["join_group", "train_digits", "average_gradients", "time_allreduce", "measure_overlap", "main"]

MESSAGE_BYTES = tuple(4 ** k * 1024 for k in range(1, 8))  # 4 KiB .. 16 MiB


def join_group(backend: str | None = None) -> tuple[int, int, torch.device]:
    """Join the process group that torchrun describes in the environment; return rank, world size, device."""
    if "RANK" not in os.environ:
        raise RuntimeError("RANK is not set: start this script with torchrun, for example "
                           "torchrun --standalone --nproc_per_node=2 -m dlparallel.ddp_script")
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])               # this process's number on its machine
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)                       # one GPU per process
    import_dynamo_first()                                   # torch._dynamo before the group: gloo then exits cleanly
    dist.init_process_group(backend, rank=rank, world_size=world_size)  # meets at MASTER_ADDR:MASTER_PORT
    return rank, world_size, device


def average_gradients(model: nn.Module) -> None:
    """What DDP does for you: sum every gradient over the ranks with ``all_reduce``, divide by their number."""
    for p in model.parameters():
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)       # every rank now holds the sum
        p.grad /= dist.get_world_size()


def train_digits(device: torch.device, *, epochs: int = 10, batch_per_rank: int = 32, lr: float = 0.1,
                 seed: int = 0, use_ddp: bool = True) -> list[dict]:
    """Train an MLP on the digits, data-parallel over all ranks; return each epoch's loss and test accuracy.

    With ``use_ddp=False`` the same training averages the gradients by :func:`average_gradients`.
    """
    rank, world_size = dist.get_rank(), dist.get_world_size()
    digits = load_digits("cpu")
    torch.manual_seed(seed)                                 # the same initial weights on every rank
    model = mlp([64, 64, 10]).to(device)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if use_ddp else model                               # DDP also broadcasts rank 0's weights
    train = TensorDataset(digits.train.inputs, digits.train.labels)
    sampler = DistributedSampler(train, num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                                 drop_last=True)            # this rank's equal share of each epoch
    loader = DataLoader(train, batch_size=batch_per_rank, sampler=sampler)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    test_x = digits.test.inputs[rank::world_size].to(device)  # evaluation is split over the ranks too
    test_y = digits.test.labels[rank::world_size].to(device)
    history = []
    for epoch in range(1, epochs + 1):
        sampler.set_epoch(epoch)                            # a new shuffle, the same on every rank
        totals = torch.zeros(4, device=device)              # loss sum, examples, test correct, test examples
        start = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()                                 # with DDP, the all-reduce runs in here
            if not use_ddp:
                average_gradients(model)
            optimizer.step()
            totals[0] += loss.detach() * len(y)
            totals[1] += len(y)
        with torch.no_grad():
            totals[2] += (model(test_x).argmax(1) == test_y).sum()
            totals[3] += len(test_y)
        dist.all_reduce(totals)                             # add up every rank's counts
        seconds = time.perf_counter() - start
        loss_sum, seen, correct, tested = totals.tolist()
        history.append({"epoch": epoch, "loss": loss_sum / seen, "test_accuracy": correct / tested,
                        "examples_per_second": seen / seconds})
    return history


def _slowest(seconds: float, device: torch.device) -> float:
    """The largest of every rank's ``seconds``: a collective ends when its slowest rank does."""
    t = torch.tensor([seconds], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.item()


def _best_seconds(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """The fastest of ``repeats`` timed calls (the one least disturbed by other programs), slowest rank's."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        dist.barrier()                                      # all ranks start together
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return _slowest(min(samples), device)


def time_allreduce(device: torch.device, message_bytes: Sequence[int] = MESSAGE_BYTES,
                   repeats: int = 20) -> list[dict]:
    """The best time of one ``all_reduce`` of a float32 tensor of each size in ``message_bytes``."""
    rows = []
    for size in message_bytes:
        buffer = torch.ones(size // 4, device=device)
        rows.append({"bytes": size, "seconds": _best_seconds(lambda b=buffer: dist.all_reduce(b), device,
                                                               repeats)})
    return rows


def measure_overlap(device: torch.device, *, width: int = 1024, depth: int = 2, batch: int = 64,
                    bucket_cap_mb: float = 1.0, repeats: int = 8) -> dict:
    """Forward and backward of an MLP: alone (``no_sync``), with DDP's all-reduce, and that all-reduce alone.

    ``hidden_fraction`` is the share of the all-reduce's own time that the DDP step did not add.
    """
    torch.manual_seed(0)
    model = mlp([64] + [width] * depth + [10]).to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                  bucket_cap_mb=bucket_cap_mb)
    x = torch.randn(batch, 64, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def forward_backward() -> None:
        ddp.zero_grad()
        F.cross_entropy(ddp(x), y).backward()

    def without_communication() -> None:
        with ddp.no_sync():                                 # gradients stay local, nothing is sent
            forward_backward()

    compute = _best_seconds(without_communication, device, repeats)
    with_ddp = _best_seconds(forward_backward, device, repeats)
    gradients = torch.cat([p.grad.flatten() for p in model.parameters()])
    allreduce = _best_seconds(lambda: dist.all_reduce(gradients), device, repeats)
    return {"gradient_bytes": gradients.numel() * 4, "bucket_cap_mb": bucket_cap_mb,
            "compute_s": compute, "ddp_s": with_ddp, "allreduce_s": allreduce,
            "hidden_fraction": (compute + allreduce - with_ddp) / allreduce}


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the chosen task on this rank; rank 0 prints a report and returns the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("train", "allreduce", "overlap", "all"), default="train")
    parser.add_argument("--backend", choices=("gloo", "nccl"), default=None,
                        help="default: nccl where CUDA is available, else gloo")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--json", default=None, help="rank 0 writes the figures to this file")
    args = parser.parse_args(argv)
    rank, world_size, device = join_group(args.backend)
    report: dict = {"world_size": world_size, "backend": dist.get_backend(), "torch": torch.__version__,
                    "device": str(describe_hardware(device))}
    try:
        if args.task in ("train", "all"):
            report["ddp"] = train_digits(device, epochs=args.epochs)
            report["explicit_all_reduce"] = train_digits(device, epochs=args.epochs, use_ddp=False)
        if args.task in ("allreduce", "all"):
            report["allreduce"] = time_allreduce(device)
        if args.task in ("overlap", "all"):
            report["overlap"] = measure_overlap(device)
    finally:
        dist.destroy_process_group()
    if rank == 0:
        _print(report)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(report, out, indent=2)
    return report


def _print(report: dict) -> None:
    print(f"{report['world_size']} ranks, {report['backend']}; rank 0: {report['device']}")
    for name in ("ddp", "explicit_all_reduce"):
        for e in report.get(name, []):
            print(f"{name:>19} epoch {e['epoch']:2d}: loss {e['loss']:.4f}, test accuracy {e['test_accuracy']:.3f}")
    for row in report.get("allreduce", []):
        print(f"all_reduce of {row['bytes']:>10,} bytes: {row['seconds'] * 1e6:10,.0f} µs")
    if "overlap" in report:
        o = report["overlap"]
        print(f"forward+backward without communication {o['compute_s'] * 1e3:.2f} ms, with DDP "
              f"{o['ddp_s'] * 1e3:.2f} ms, all_reduce of {o['gradient_bytes']:,} bytes alone "
              f"{o['allreduce_s'] * 1e3:.2f} ms: {o['hidden_fraction']:.0%} hidden")


if __name__ == "__main__":
    main()
