"""Pipeline parallelism: consecutive layers on consecutive ranks, a batch cut into micro-batches.

With ``p`` stages of equal time and ``m`` micro-batches, GPipe (Huang et al., 2019) runs every
micro-batch's forward pass through the stages, then every backward pass in reverse. Stage ``s``
starts its first forward ``s`` slots late and the last stage's backward reaches stage ``s`` late
again, so each stage idles for ``p - 1`` of the ``m + p - 1`` slots of each phase: the pipeline
*bubble*, a fraction ``(p - 1) / (m + p - 1)`` of the step. :func:`gpipe_schedule` draws that
schedule; :func:`run_gpipe` runs it for real on the ranks of a process group (one stage per
rank, activations and their gradients sent with ``torch.distributed.send``/``recv``) and
records when each rank computed, so the measured idle time can be set against the formula.

Example:
    >>> bubble_fraction(4, 13)
    0.1875
    >>> [(t.stage, t.micro_batch, t.phase, t.start) for t in gpipe_schedule(2, 2)][:3]
    [(0, 0, 'forward', 0.0), (0, 1, 'forward', 1.0), (1, 0, 'forward', 1.0)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .devices import synchronize
from .distributed import rank_device
from .validation import positive_int

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Task", "PipelineRun", "bubble_fraction", "gpipe_schedule", "plot_schedule", "split_stages",
           "uniform_blocks", "run_gpipe", "gpipe_sweep"]


@dataclass(frozen=True)
class Task:
    """One stage's forward or backward pass of one micro-batch, from ``start`` to ``end`` (any time unit)."""

    stage: int
    micro_batch: int
    phase: str
    start: float
    end: float


def bubble_fraction(stages: int, micro_batches: int) -> float:
    """Fraction of a GPipe step that each of ``stages`` equal stages spends idle: ``(p - 1) / (m + p - 1)``.

    Example:
        >>> bubble_fraction(2, 1), bubble_fraction(2, 8)
        (0.5, 0.1111111111111111)
    """
    positive_int(stages, "stages")
    positive_int(micro_batches, "micro_batches")
    return (stages - 1) / (micro_batches + stages - 1)


def gpipe_schedule(stages: int, micro_batches: int, forward_time: float = 1.0,
                   backward_time: float = 2.0) -> list[Task]:
    """The GPipe schedule of ``stages`` stages that each take the same time per micro-batch.

    Stage ``s`` runs the forward pass of micro-batch ``i`` in slot ``s + i``; after the last
    forward, the backward passes run in reverse, micro-batch ``m - 1`` first, from the last stage
    to the first. Every stage is busy ``m * (forward_time + backward_time)`` of the
    ``(m + p - 1) * (forward_time + backward_time)`` that the step takes.

    Example:
        >>> tasks = gpipe_schedule(3, 4)
        >>> max(t.end for t in tasks)
        18.0
        >>> sum(t.end - t.start for t in tasks if t.stage == 0) / 18
        0.6666666666666666
    """
    positive_int(stages, "stages")
    positive_int(micro_batches, "micro_batches")
    if not (forward_time > 0 and backward_time > 0):
        raise ValueError(f"forward_time and backward_time must be positive, got {forward_time}, {backward_time}")
    forward_end = (micro_batches + stages - 1) * forward_time
    tasks = []
    for stage in range(stages):
        for i in range(micro_batches):
            start = float((stage + i) * forward_time)
            tasks.append(Task(stage, i, "forward", start, start + forward_time))
        for j, i in enumerate(reversed(range(micro_batches))):
            start = forward_end + (stages - 1 - stage + j) * backward_time
            tasks.append(Task(stage, i, "backward", start, start + backward_time))
    return sorted(tasks, key=lambda t: (t.start, t.stage))


def plot_schedule(tasks: Sequence[Task], ax: Axes | None = None, title: str = "", unit: str = "time slot") -> Axes:
    """Draw ``tasks`` as a timeline, one row per stage: forward passes blue, backward orange, idle blank.

    Example:
        >>> ax = plot_schedule(gpipe_schedule(2, 3))
        >>> len(ax.patches)
        12
        >>> import matplotlib.pyplot as plt
        >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt  # on first use, so that a notebook's backend is chosen by then

    if not tasks:
        raise ValueError("tasks is empty: nothing to draw")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.5 + 0.5 * (1 + max(t.stage for t in tasks))))
    colours = {"forward": "tab:blue", "backward": "tab:orange"}
    for t in tasks:
        ax.barh(t.stage, t.end - t.start, left=t.start, height=0.8, color=colours[t.phase],
                edgecolor="white", linewidth=0.5)
        ax.text((t.start + t.end) / 2, t.stage, str(t.micro_batch), ha="center", va="center",
                color="white", fontsize=8)
    stages = sorted({t.stage for t in tasks})
    ax.set_yticks(stages, [f"stage {s}" for s in stages])
    ax.set_ylim(max(stages) + 0.6, -0.6)
    ax.set_xlim(min(t.start for t in tasks), max(t.end for t in tasks))
    ax.set(xlabel=unit, title=title)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()], labels=list(colours),
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return ax


def split_stages(model: nn.Sequential, stages: int) -> list[nn.Sequential]:
    """Cut ``model`` into ``stages`` consecutive pieces with the same number of modules each.

    Example:
        >>> split_stages(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.ReLU()), 2)[1]
        Sequential(
          (2): Linear(in_features=2, out_features=2, bias=True)
          (3): ReLU()
        )
    """
    positive_int(stages, "stages")
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    if len(model) % stages:
        raise ValueError(f"a model of {len(model)} modules cannot be cut into {stages} stages of equal length: "
                         "build it from a multiple of that many blocks")
    size = len(model) // stages
    return [model[s * size:(s + 1) * size] for s in range(stages)]


def uniform_blocks(width: int, blocks: int) -> nn.Sequential:
    """``blocks`` identical blocks (a ``width x width`` linear layer and tanh): stages of equal time.

    Example:
        >>> len(split_stages(uniform_blocks(16, 8), 4)[0])
        2
    """
    positive_int(width, "width")
    positive_int(blocks, "blocks")
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.Tanh()) for _ in range(blocks)])


@dataclass
class PipelineRun:
    """What :func:`run_gpipe` returns on each rank: its tasks (seconds from the step's start) and gradients."""

    rank: int
    stages: int
    micro_batches: int
    tasks: list[Task]
    wall_s: float
    loss: float
    gradients: list[torch.Tensor]

    @property
    def busy_s(self) -> float:
        return sum(t.end - t.start for t in self.tasks)

    @property
    def idle_fraction(self) -> float:
        """The share of the step this rank did not compute: waiting for its neighbours, or sending."""
        return 1.0 - self.busy_s / self.wall_s


def run_gpipe(model_fn: Callable[[], nn.Sequential], inputs: torch.Tensor, targets: torch.Tensor,
              micro_batches: int, seed: int = 0) -> PipelineRun:
    """One GPipe training step (forward, backward, no optimizer step) of ``model_fn()`` on this rank's stage.

    Call it on every rank of a process group (for example through
    :func:`dlparallel.distributed.spawn_local`); rank ``r`` builds the whole model with ``seed``
    and keeps stage ``r`` of :func:`split_stages`. The batch is cut into ``micro_batches`` equal
    micro-batches, which flow forward from rank to rank, then backward in reverse order; the
    last stage's loss is the mean squared error against ``targets`` over the whole batch, so the
    gradients equal those of one process on the whole batch. Every stage boundary must carry a
    tensor of the inputs' width. Outside a process group the whole model is one stage.

    Example:
        >>> model_fn = lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU())
        >>> run = run_gpipe(model_fn, torch.ones(6, 4), torch.zeros(6, 4), micro_batches=3)
        >>> run.stages, len(run.tasks), [g.shape for g in run.gradients]
        (1, 6, [torch.Size([4, 4]), torch.Size([4])])
    """
    positive_int(micro_batches, "micro_batches")
    if len(inputs) != len(targets) or len(inputs) % micro_batches:
        raise ValueError(f"inputs and targets must have the same length, divisible by micro_batches={micro_batches}; "
                         f"got {len(inputs)} and {len(targets)}")
    grouped = dist.is_initialized()
    rank, stages = (dist.get_rank(), dist.get_world_size()) if grouped else (0, 1)
    device = rank_device()
    torch.manual_seed(seed)
    stage = split_stages(model_fn(), stages)[rank].to(device)
    first, last = rank == 0, rank == stages - 1
    xs = inputs.to(device).chunk(micro_batches)
    ys = targets.to(device).chunk(micro_batches)
    shape = xs[0].shape
    kept: list[tuple[torch.Tensor, torch.Tensor]] = []
    tasks: list[Task] = []
    sends: list[dist.Work] = []
    loss_sum = torch.zeros((), device=device)
    if grouped:
        dist.barrier()
    t0 = time.perf_counter()

    @contextmanager
    def timed(phase: str, i: int) -> Iterator[None]:
        start = time.perf_counter()
        yield
        synchronize(device)
        tasks.append(Task(rank, i, phase, start - t0, time.perf_counter() - t0))

    for i in range(micro_batches):
        if first:
            x = xs[i]
        else:
            x = torch.empty(shape, device=device)
            dist.recv(x, rank - 1)
        x.requires_grad_(not first)
        with timed("forward", i):
            out = stage(x)
            if last:
                out = F.mse_loss(out, ys[i], reduction="sum") / inputs.numel()
        if last:
            loss_sum += out.detach()
        else:
            sends.append(dist.isend(out.detach(), rank + 1))  # do not wait: go on with the next one
        kept.append((x, out))
    for i in reversed(range(micro_batches)):
        x, out = kept[i]
        if last:
            grad = None
        else:
            grad = torch.empty(shape, device=device)
            dist.recv(grad, rank + 1)
        with timed("backward", i):
            out.backward(grad)
        if not first:
            sends.append(dist.isend(x.grad, rank - 1))
    for work in sends:
        work.wait()
    if grouped:
        dist.barrier()  # the step ends when the last stage to finish does
    wall = time.perf_counter() - t0
    return PipelineRun(rank=rank, stages=stages, micro_batches=micro_batches, tasks=tasks, wall_s=wall,
                       loss=float(loss_sum), gradients=[p.grad.detach().cpu() for p in stage.parameters()])




def gpipe_sweep(model_fn: Callable[[], nn.Sequential], inputs: torch.Tensor, targets: torch.Tensor,
                micro_batches: Sequence[int], repeats: int = 3) -> list[PipelineRun]:
    """:func:`run_gpipe` for each number of micro-batches, ``repeats`` times; the fastest step of each.

    The fastest of a few repeats is the one least disturbed by other work on the machine; all
    ranks pick the same repeat (the one whose slowest rank was fastest).

    Example:
        >>> runs = gpipe_sweep(lambda: uniform_blocks(4, 2), torch.ones(4, 4), torch.zeros(4, 4), [1, 2], repeats=2)
        >>> [run.micro_batches for run in runs]
        [1, 2]
    """
    positive_int(repeats, "repeats")
    fastest = []
    for m in micro_batches:
        runs = [run_gpipe(model_fn, inputs, targets, m) for _ in range(repeats)]
        walls = torch.tensor([r.wall_s for r in runs], device=rank_device())
        if dist.is_initialized():
            dist.all_reduce(walls, op=dist.ReduceOp.MAX)
        fastest.append(runs[int(walls.argmin())])
    return fastest
