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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .data import DeviceLoader, LabelledData
from .devices import pick_device, synchronize

__all__ = ["EpochRecord", "History", "Evaluation", "TrainingDivergedError", "fit", "evaluate"]

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


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class _Trainer:
    """One training step, eager or replayed from a CUDA graph, with on-device metric sums."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFunction,
                 device: torch.device, bf16: bool) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.device, self.bf16 = device, bf16
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.int64)
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

    def start_epoch(self) -> None:
        self.loss_sum.zero_()
        self.correct.zero_()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.graph is None:
            self._step(x, y)
        else:
            self.static_x.copy_(x)
            self.static_y.copy_(y)
            self.graph.replay()

    def capture(self, x: torch.Tensor, y: torch.Tensor, warmup_steps: int = 3) -> None:
        """Record one training step on batches shaped like ``x`` and ``y`` into a CUDA graph.

        The warm-up steps that capture needs (on a side stream, as PyTorch requires) change the
        weights and the optimizer state, so both are put back afterwards: capture does not train.
        """
        saved_model = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        saved_optim = {id(p): {k: v.clone() for k, v in s.items() if torch.is_tensor(v)}
                       for p, s in self.optimizer.state.items()}
        self.static_x, self.static_y = x.clone(), y.clone()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(warmup_steps):
                self._step(self.static_x, self.static_y)
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self._step(self.static_x, self.static_y, in_graph=True)
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(saved_model[k])
            for p, s in self.optimizer.state.items():
                for k, v in s.items():
                    if torch.is_tensor(v):
                        v.copy_(saved_optim.get(id(p), {}).get(k, torch.zeros_like(v)))
        self.start_epoch()


def fit(model: nn.Module, train: LabelledData, epochs: int, *, lr: float = 0.1,
        batch_size: int = 128, optimizer: torch.optim.Optimizer | None = None,
        loss_fn: LossFunction | None = None, test: LabelledData | None = None,
        device: torch.device | str | None = None, bf16: bool = False, cuda_graph: bool = False,
        channels_last: bool | None = None, progress: bool | None = None, seed: int = 0) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs and return the per-epoch history.

    The data is moved to the device once; batches are slices of it (:class:`DeviceLoader`);
    loss and accuracy are summed on the device and read once per epoch, which is also when a
    NaN or infinite loss stops training with :class:`TrainingDivergedError`.

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
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not isinstance(train, LabelledData):
        raise TypeError(f"train must be a LabelledData (see dlparallel.data), got {type(train).__name__}")
    device = pick_device(device)
    if cuda_graph and device.type != "cuda":
        raise ValueError(f"cuda_graph=True needs a CUDA device, but training runs on {device}; "
                         "pass cuda_graph=(device.type == 'cuda') to use it only where it exists")
    model.to(device)
    model.train()
    train = train.to(device)
    if channels_last is None:
        channels_last = device.type == "cpu" and train.inputs.ndim == 4
    if channels_last and train.inputs.ndim != 4:
        raise ValueError("channels_last=True needs 4-D image inputs (N, C, H, W), got shape "
                         f"{tuple(train.inputs.shape)}")
    if channels_last:
        model.to(memory_format=torch.channels_last)
        train = LabelledData(train.inputs.contiguous(memory_format=torch.channels_last), train.labels)
    test = test.to(device) if test is not None else None
    loss_fn = loss_fn or nn.functional.cross_entropy
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    loader = DeviceLoader(train, batch_size, shuffle=True, drop_last=cuda_graph, seed=seed)
    trainer = _Trainer(model, optimizer, loss_fn, device, bf16)
    if cuda_graph:
        trainer.capture(train.inputs[:batch_size], train.labels[:batch_size])

    history = History(device=str(device))
    show = _progress_enabled(progress)
    if show:  # a widget in Jupyter, text on a terminal
        from tqdm.auto import tqdm
    else:  # tqdm.auto would warn on stderr in a kernel without ipywidgets, even when disabled
        from tqdm import tqdm

    with tqdm(total=epochs * len(loader), disable=not show, unit="batch", desc="training") as bar:
        for epoch in range(1, epochs + 1):
            synchronize(device)
            start = time.perf_counter()
            trainer.start_epoch()
            for x, y in loader:
                trainer.step(x, y)
                bar.update()
            seen = len(loader) * batch_size if cuda_graph else len(train)
            loss = trainer.loss_sum.item() / seen  # the epoch's one host synchronisation
            accuracy = trainer.correct.item() / seen
            seconds = time.perf_counter() - start
            if not math.isfinite(loss):
                raise TrainingDivergedError(
                    f"the training loss became {loss} in epoch {epoch}: the model diverged. "
                    f"Lower the learning rate (it was {optimizer.param_groups[0]['lr']}) or check "
                    "the inputs for NaN or infinite values.", history)
            scored = evaluate(model, test, device=device, loss_fn=loss_fn, bf16=bf16) if test else None
            history.records.append(EpochRecord(
                epoch=epoch, loss=loss, accuracy=accuracy, seconds=seconds,
                examples_per_second=seen / seconds,
                test_loss=scored.loss if scored else None,
                test_accuracy=scored.accuracy if scored else None))
            bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.3f}")
    return history

