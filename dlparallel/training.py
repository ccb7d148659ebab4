"""Training and evaluation with the data resident on the device and no per-batch host sync.

The usual textbook loop copies every batch from the host and turns the loss into a Python float
after every step, which makes the host wait for the device hundreds of times an epoch. Here the
data stays on the device, loss and accuracy are summed on the device, and the host reads them
once per epoch. On CUDA the whole training step can also be captured in a CUDA graph and
replayed, which removes the per-kernel launch cost that dominates small models.

Example:
    >>> import torch
    >>> from dlparallel import load_digits, mlp, fit, evaluate
    >>> _ = torch.manual_seed(0)
    >>> digits = load_digits("cpu")
    >>> model = mlp([64, 64, 10])
    >>> history = fit(model, digits.train, epochs=10, lr=0.2, batch_size=32, progress=False)
    >>> evaluate(model, digits.test).accuracy > 0.9
    True
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from . import cuda_graphs
from .data import DeviceLoader, LabelledData
from .devices import pick_device, synchronize
from .validation import positive_int, positive_number

__all__ = ["EpochRecord", "History", "Evaluation", "TrainingDivergedError", "Trainer", "fit", "evaluate"]

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite; ``history`` holds the epochs before it."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of training measured."""

    epoch: int
    loss: float
    accuracy: float
    seconds: float
    examples_per_second: float
    test_loss: float | None = None
    test_accuracy: float | None = None


@dataclass
class History:
    """Per-epoch records of a :func:`fit` run, which can plot themselves.

    Example:
        >>> h = History(device="cpu")
        >>> h.records.append(EpochRecord(1, 0.5, 0.8, 2.0, 500.0))
        >>> h.loss, h.accuracy
        ([0.5], [0.8])
    """

    device: str
    records: list[EpochRecord] = field(default_factory=list)

    @property
    def loss(self) -> list[float]:
        return [r.loss for r in self.records]

    @property
    def accuracy(self) -> list[float]:
        return [r.accuracy for r in self.records]

    @property
    def test_loss(self) -> list[float | None]:
        return [r.test_loss for r in self.records]

    @property
    def test_accuracy(self) -> list[float | None]:
        return [r.test_accuracy for r in self.records]

    @property
    def examples_per_second(self) -> list[float]:
        return [r.examples_per_second for r in self.records]

    def as_dicts(self) -> list[dict]:
        """The records as plain dictionaries (for a table or a JSON file)."""
        return [asdict(r) for r in self.records]

    def plot(self, title: str | None = None):
        """Loss and accuracy per epoch, side by side; returns the matplotlib figure."""
        import matplotlib.pyplot as plt

        fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
        epochs = [r.epoch for r in self.records]
        loss_ax.plot(epochs, self.loss, marker="o", label="train")
        acc_ax.plot(epochs, self.accuracy, marker="o", label="train")
        if any(r.test_loss is not None for r in self.records):
            loss_ax.plot(epochs, self.test_loss, marker="s", label="test")
            acc_ax.plot(epochs, self.test_accuracy, marker="s", label="test")
        loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
        acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
        for ax in (loss_ax, acc_ax):
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig


@dataclass(frozen=True)
class Evaluation:
    """Mean loss and accuracy of a model on a data set."""

    loss: float
    accuracy: float
    examples: int


def _autocast(device: torch.device, bf16: bool, in_graph: bool = False) -> contextlib.AbstractContextManager:
    if not bf16:
        return contextlib.nullcontext()
    # Autocast's weight cache must be off inside a CUDA graph (PyTorch's CUDA graphs notes).
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=not in_graph)


def evaluate(model: nn.Module, data: LabelledData, batch_size: int = 1024,
             loss_fn: LossFunction | None = None, device: torch.device | str | None = None,
             bf16: bool = False) -> Evaluation:
    """Mean loss and accuracy of ``model`` on ``data``, summed on the device, read once.

    Example:
        >>> from dlparallel import synthetic_images, mlp
        >>> result = evaluate(mlp([4, 3]), synthetic_images(10, (4,), num_classes=3, device="cpu"))
        >>> 0.0 <= result.accuracy <= 1.0
        True
    """
    device = pick_device(device) if device is not None else _model_device(model)
    loss_fn = loss_fn or nn.functional.cross_entropy
    data = data.to(device)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    try:
        with torch.inference_mode(), _autocast(device, bf16):
            for x, y in DeviceLoader(data, batch_size, shuffle=False):
                out = model(x)
                loss_sum += loss_fn(out.float(), y) * len(y)
                correct += (out.argmax(dim=1) == y).sum()
    finally:
        model.train(was_training)
    n = len(data)
    return Evaluation(loss=loss_sum.item() / n, accuracy=correct.item() / n, examples=n)


def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ValueError("the model has no parameters, so there is nothing to train") from None


class Trainer:
    """Trains a model one epoch at a time, one step per batch, eager or replayed from a CUDA graph.

    Each step adds the batch's loss and correct answers to sums kept on the device; :meth:`epoch`
    reads them once, at its end (on a GPU the host then waits for the device once per epoch, not
    once per batch), appends an :class:`EpochRecord` to :attr:`history` and stops with
    :class:`TrainingDivergedError` once the loss is not finite. Under data parallelism
    ``all_reduce`` (``torch.distributed.all_reduce``) first sums the epoch's totals over the ranks,
    so that every rank records the figures of all. :func:`fit` and
    :func:`~dlparallel.ddp.train_ddp` drive one.

    Example:
        >>> from dlparallel import DeviceLoader, mlp, synthetic_images
        >>> model = mlp([8, 3])
        >>> trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1))
        >>> data = synthetic_images(64, (8,), num_classes=3, device="cpu")
        >>> for _ in range(2):
        ...     record = trainer.epoch(DeviceLoader(data, batch_size=16), test=data)
        >>> record.epoch, len(trainer.history.records), 0 <= record.test_accuracy <= 1
        (2, 2, True)
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFunction | None = None,
                 *, device: torch.device | str | None = None, bf16: bool = False,
                 all_reduce: Callable[[torch.Tensor], object] | None = None, label: str | None = None) -> None:
        self.model, self.optimizer = model, optimizer
        self.loss_fn = loss_fn or nn.functional.cross_entropy
        self.device = pick_device(device) if device is not None else _model_device(model)
        self.bf16, self.all_reduce = bf16, all_reduce
        #: The records of the epochs so far; ``label`` names its device (default: ``device``).
        self.history = History(device=label or str(self.device))
        self.loss_sum = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), device=self.device, dtype=torch.int64)
        self.graph: torch.cuda.CUDAGraph | None = None

    def _step(self, x: torch.Tensor, y: torch.Tensor, in_graph: bool = False) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.device, self.bf16, in_graph):
            out = self.model(x)
            loss = self.loss_fn(out, y)
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach().float() * y.shape[0]
        self.correct += (out.detach().argmax(dim=1) == y).sum()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One optimizer step on the batch ``(x, y)``: the captured graph's replay, once there is one."""
        if self.graph is None:
            self._step(x, y)
        else:
            self.static_x.copy_(x)
            self.static_y.copy_(y)
            self.graph.replay()

    def capture(self, x: torch.Tensor, y: torch.Tensor, warmup_steps: int = 3) -> None:
        """Record one training step on batches shaped like ``x`` and ``y`` into a CUDA graph.

        Every later batch must have that shape. The warm-up steps that capture needs
        (:func:`~dlparallel.cuda_graphs.capture`) change the weights and the optimizer state, so
        both are put back afterwards: capture does not train.
        """
        saved_model = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        saved_optim = {id(p): {k: v.clone() for k, v in s.items() if torch.is_tensor(v)}
                       for p, s in self.optimizer.state.items()}
        self.static_x, self.static_y = x.clone(), y.clone()
        self.graph, _ = cuda_graphs.capture(
            lambda capturing: self._step(self.static_x, self.static_y, in_graph=capturing), self.device,
            warmup_steps, before_capture=lambda: self.optimizer.zero_grad(set_to_none=True))
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(saved_model[k])
            for p, s in self.optimizer.state.items():
                for k, v in s.items():
                    if torch.is_tensor(v):
                        v.copy_(saved_optim.get(id(p), {}).get(k, torch.zeros_like(v)))

    def epoch(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
              test: LabelledData | None = None) -> EpochRecord:
        """Take one step per batch of ``batches``, then score the model on ``test`` if given; record the epoch."""
        synchronize(self.device)
        start = time.perf_counter()
        self.loss_sum.zero_()
        self.correct.zero_()
        seen = 0
        for x, y in batches:
            self.step(x, y)
            seen += len(y)  # a shape, known on the host: no wait for the device
        if seen == 0:
            raise ValueError("the epoch had no batches: there is nothing to train on")
        loss_sum, correct, seen = self._totals(seen)  # the epoch's one host synchronisation
        seconds = time.perf_counter() - start
        number, loss = len(self.history.records) + 1, loss_sum / seen
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"the training loss became {loss} in epoch {number}: the model diverged. "
                f"Lower the learning rate (it was {self.optimizer.param_groups[0]['lr']}) or check "
                "the inputs for NaN or infinite values.", self.history)
        scored = (evaluate(self.model, test, device=self.device, loss_fn=self.loss_fn, bf16=self.bf16)
                  if test else None)
        record = EpochRecord(epoch=number, loss=loss, accuracy=correct / seen, seconds=seconds,
                             examples_per_second=seen / seconds,
                             test_loss=scored.loss if scored else None,
                             test_accuracy=scored.accuracy if scored else None)
        self.history.records.append(record)
        return record

    def _totals(self, seen: int) -> tuple[float, float, int]:
        """The epoch's loss sum, correct answers and examples, over all ranks where there is ``all_reduce``."""
        if self.all_reduce is None:
            return self.loss_sum.item(), self.correct.item(), seen
        totals = torch.stack([self.loss_sum, self.correct.to(self.loss_sum.dtype),
                              torch.full((), seen, dtype=self.loss_sum.dtype, device=self.device)])
        self.all_reduce(totals)
        loss_sum, correct, seen_everywhere = totals.tolist()
        return loss_sum, correct, round(seen_everywhere)


def fit(model: nn.Module, train: LabelledData, epochs: int, *, lr: float = 0.1,
        batch_size: int = 128, optimizer: torch.optim.Optimizer | None = None,
        loss_fn: LossFunction | None = None, test: LabelledData | None = None,
        device: torch.device | str | None = None, bf16: bool = False, cuda_graph: bool = False,
        channels_last: bool | None = None, progress: bool | None = None, seed: int = 0) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs and return the per-epoch history.

    The data is moved to the device once; batches are slices of it (:class:`DeviceLoader`);
    a :class:`Trainer` sums loss and accuracy on the device and reads them once per epoch, which
    is also when a NaN or infinite loss stops training with :class:`TrainingDivergedError`.

    Args:
        model: the network; it is moved to ``device`` and trained in place.
        train: training inputs and integer labels.
        epochs: passes over ``train``.
        lr: learning rate of the default optimizer, plain SGD.
        batch_size: examples per step.
        optimizer: an optimizer over ``model``'s parameters, instead of SGD.
        loss_fn: defaults to cross-entropy on logits.
        test: if given, evaluated after every epoch.
        device: defaults to :func:`~dlparallel.devices.pick_device` (CUDA, MPS, CPU).
        bf16: run forward and loss under bfloat16 autocast.
        cuda_graph: capture the whole step (forward, backward, update, metric sums) in a CUDA
            graph and replay it. CUDA only; batches then all have ``batch_size`` examples (the
            last, partial batch of each shuffled epoch is skipped).
        channels_last: keep image batches and convolution weights in the channels-last (NHWC)
            memory layout. ``None`` turns it on for 4-D image data on the CPU, where oneDNN's
            convolutions run faster in that layout.
        progress: a tqdm bar; ``None`` shows it only on a terminal or in Jupyter.
        seed: seeds the shuffling of batches.

    Example:
        >>> from dlparallel import synthetic_images, mlp
        >>> h = fit(mlp([8, 4]), synthetic_images(64, (8,), num_classes=4, device="cpu"),
        ...         epochs=2, progress=False)
        >>> len(h.records)
        2
    """
    positive_int(epochs, "epochs")
    positive_number(lr, "lr", finite=True)
    if not isinstance(train, LabelledData):
        raise TypeError(f"train must be a LabelledData (see dlparallel.data), got {type(train).__name__}")
    device = pick_device(device)
    if cuda_graph and device.type != "cuda":
        raise ValueError(f"cuda_graph=True needs a CUDA device, but training runs on {device}; "
                         "pass cuda_graph=(device.type == 'cuda') to use it only where it exists")
    model.to(device).train()
    train = _layout(model, train.to(device), channels_last)
    test = test.to(device) if test is not None else None
    loader = DeviceLoader(train, batch_size, shuffle=True, drop_last=cuda_graph, seed=seed)
    trainer = Trainer(model, optimizer or torch.optim.SGD(model.parameters(), lr=lr), loss_fn,
                      device=device, bf16=bf16)
    if cuda_graph:
        trainer.capture(train.inputs[:batch_size], train.labels[:batch_size])
    with _progress_bar(progress, total=epochs * len(loader)) as bar:
        for _ in range(epochs):
            record = trainer.epoch(_ticking(loader, bar), test)
            bar.set_postfix(loss=f"{record.loss:.4f}", acc=f"{record.accuracy:.3f}")
    return trainer.history


def _layout(model: nn.Module, train: LabelledData, channels_last: bool | None) -> LabelledData:
    """``train`` (and ``model``) in the channels-last layout where asked; ``None``: 4-D images on a CPU."""
    if channels_last is None:
        channels_last = train.device.type == "cpu" and train.inputs.ndim == 4
    if not channels_last:
        return train
    if train.inputs.ndim != 4:
        raise ValueError("channels_last=True needs 4-D image inputs (N, C, H, W), got shape "
                         f"{tuple(train.inputs.shape)}")
    model.to(memory_format=torch.channels_last)
    return LabelledData(train.inputs.contiguous(memory_format=torch.channels_last), train.labels)


def _progress_bar(progress: bool | None, total: int):
    """A tqdm bar over ``total`` batches; ``progress=None`` shows it only on a terminal or in Jupyter."""
    show = progress if progress is not None else sys.stderr.isatty() or "ipykernel" in sys.modules
    if show:  # a widget in Jupyter, text on a terminal
        from tqdm.auto import tqdm
    else:  # tqdm.auto would warn on stderr in a kernel without ipywidgets, even when disabled
        from tqdm import tqdm
    return tqdm(total=total, disable=not show, unit="batch", desc="training")


def _ticking(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], bar) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``batches``, moving ``bar`` on by one after each has been trained on."""
    for batch in batches:
        yield batch
        bar.update()
