"""Data for the course: the real 8x8 handwritten digits, synthetic images, device-resident batches.

Nothing here touches the network: the digits ship inside scikit-learn.

Example:
    >>> from dlparallel.data import load_digits, DeviceLoader
    >>> digits = load_digits("cpu")
    >>> digits.train.inputs.shape, digits.test.inputs.shape
    (torch.Size([1347, 1, 8, 8]), torch.Size([450, 1, 8, 8]))
    >>> x, y = next(iter(DeviceLoader(digits.train, batch_size=64)))
    >>> x.shape
    torch.Size([64, 1, 8, 8])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from .devices import pick_device
from .validation import positive_int

__all__ = ["LabelledData", "TrainTest", "load_digits", "synthetic_images", "DeviceLoader"]


@dataclass(frozen=True)
class LabelledData:
    """Inputs and integer class labels of the same length, on one device."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, torch.Tensor) or not isinstance(self.labels, torch.Tensor):
            raise TypeError("inputs and labels must be torch tensors, got "
                            f"{type(self.inputs).__name__} and {type(self.labels).__name__}")
        if self.labels.ndim != 1:
            raise ValueError(f"labels must be one-dimensional, got shape {tuple(self.labels.shape)}")
        if self.inputs.ndim == 0 or self.inputs.shape[0] != self.labels.shape[0]:
            raise ValueError(f"inputs and labels differ in length: inputs {tuple(self.inputs.shape)}, "
                             f"labels {tuple(self.labels.shape)}")
        if self.labels.dtype.is_floating_point or self.labels.dtype == torch.bool:
            raise TypeError(f"labels must be an integer tensor, got {self.labels.dtype}")
        if self.inputs.device != self.labels.device:
            raise ValueError(f"inputs are on {self.inputs.device} but labels on {self.labels.device}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def device(self) -> torch.device:
        return self.inputs.device

    def to(self, device: torch.device | str) -> LabelledData:
        """The same data on ``device``."""
        device = pick_device(device)
        return LabelledData(self.inputs.to(device), self.labels.to(device))


@dataclass(frozen=True)
class TrainTest:
    """A training split and a held-out test split of one data set."""

    train: LabelledData
    test: LabelledData
    num_classes: int


def load_digits(device: torch.device | str | None = None, test_fraction: float = 0.25,
                seed: int = 0) -> TrainTest:
    """The 1,797 real 8x8 handwritten digits that scikit-learn ships, split into train and test.

    Pixels are scaled to [0, 1]; inputs have shape ``(N, 1, 8, 8)``, labels are ``int64`` in
    0..9. The split is stratified by class and fixed by ``seed``.

    Example:
        >>> load_digits("cpu").num_classes
        10
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed)
    test_index, train_index = [], []
    for label in range(10):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(len(members) * test_fraction)
        test_index.append(members[:n_test])
        train_index.append(members[n_test:])
    train_order = torch.cat(train_index)
    train_order = train_order[torch.randperm(len(train_order), generator=generator)]
    test_order = torch.cat(test_index).sort().values
    device = pick_device(device)
    return TrainTest(train=LabelledData(images[train_order], labels[train_order]).to(device),
                     test=LabelledData(images[test_order], labels[test_order]).to(device),
                     num_classes=10)


def synthetic_images(n: int, shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                     device: torch.device | str | None = None, seed: int = 0,
                     noise: float = 0.5) -> LabelledData:
    """``n`` labelled random images of ``shape`` made on ``device``, for throughput work.

    Each class has its own random template and every image is its template plus Gaussian noise,
    so a model can learn the labels: accuracy stays meaningful in a throughput run.

    Example:
        >>> data = synthetic_images(100, (3, 32, 32), device="cpu")
        >>> data.inputs.shape, data.labels.max().item() < 10
        (torch.Size([100, 3, 32, 32]), True)
    """
    shape = tuple(int(s) for s in shape)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"shape must be a non-empty sequence of positive sizes, got {shape}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    device = pick_device(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    templates = torch.randn((num_classes, *shape), generator=generator, device=device)
    labels = torch.randint(0, num_classes, (n,), generator=generator, device=device)
    inputs = templates[labels] + noise * torch.randn((n, *shape), generator=generator, device=device)
    return LabelledData(inputs, labels)


class DeviceLoader:
    """Shuffled mini-batches sliced from tensors that already live on the device.

    Unlike a ``DataLoader`` it never copies from the host or starts worker processes: each
    epoch draws one permutation on the device, gathers the data once in that order and yields
    views into it. Nothing here waits for the device.

    Example:
        >>> data = synthetic_images(10, (4,), device="cpu")
        >>> [len(y) for _, y in DeviceLoader(data, batch_size=4)]
        [4, 4, 2]
        >>> len(DeviceLoader(data, batch_size=4, drop_last=True))
        2
    """

    def __init__(self, data: LabelledData, batch_size: int, shuffle: bool = True,
                 drop_last: bool = False, seed: int = 0) -> None:
        if not isinstance(data, LabelledData):
            raise TypeError(f"data must be a LabelledData, got {type(data).__name__}")
        positive_int(batch_size, "batch_size")
        if len(data) == 0:
            raise ValueError("data is empty: there is nothing to load")
        if drop_last and batch_size > len(data):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(data)} examples, "
                             "and drop_last=True would yield no batch at all")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self._generator = torch.Generator(device=data.device).manual_seed(seed)

    def __len__(self) -> int:
        full, rest = divmod(len(self.data), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        inputs, labels = self.data.inputs, self.data.labels
        if self.shuffle:
            order = torch.randperm(len(self.data), device=self.data.device, generator=self._generator)
            inputs, labels = inputs[order], labels[order]
        for batch in range(len(self)):
            start = batch * self.batch_size
            yield inputs[start:start + self.batch_size], labels[start:start + self.batch_size]
