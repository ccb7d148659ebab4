"""The networks the lessons train: an MLP, the classic LeNet-5 and a small CNN.

Example:
    >>> import torch
    >>> from dlparallel.models import mlp, lenet5
    >>> mlp([64, 32, 10])(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    >>> lenet5()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .validation import is_positive_int

__all__ = ["mlp", "lenet5", "small_cnn"]

_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}


def _activation(name: str) -> type[nn.Module]:
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}") from None


def mlp(widths: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """A multilayer perceptron: flatten, then linear layers of the given widths.

    ``widths`` runs from the input features to the number of outputs, so ``[64, 128, 10]`` has
    one hidden layer of 128 units. The activation follows every layer but the last.

    Example:
        >>> mlp([4, 3, 2])
        Sequential(
          (0): Flatten(start_dim=1, end_dim=-1)
          (1): Linear(in_features=4, out_features=3, bias=True)
          (2): ReLU()
          (3): Linear(in_features=3, out_features=2, bias=True)
        )
    """
    widths = list(widths)
    if len(widths) < 2 or not all(map(is_positive_int, widths)):
        raise ValueError(f"widths must be at least two positive integers (inputs, ..., outputs), got {widths}")
    act = _activation(activation)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def lenet5(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Sequential:
    """LeNet-5 in its classic form: 5x5 convolutions, sigmoid activations, average pooling.

    The first convolution pads by 2, so 28x28 inputs give the original 32x32 geometry.

    Example:
        >>> sum(p.numel() for p in lenet5().parameters())
        61706
    """
    if image_size < 12:
        raise ValueError(f"LeNet-5 needs images of at least 12x12 pixels, got {image_size}; "
                         "use small_cnn or mlp for smaller images")
    if in_channels <= 0 or num_classes <= 0:
        raise ValueError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
    side = ((image_size // 2) - 4) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * side * side, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


def small_cnn(in_channels: int = 1, num_classes: int = 10, width: int = 16) -> nn.Sequential:
    """A small modern CNN (3x3 convolutions, ReLU, max pooling) for images of any size >= 2x2.

    Example:
        >>> import torch
        >>> small_cnn()(torch.zeros(3, 1, 8, 8)).shape
        torch.Size([3, 10])
    """
    if in_channels <= 0 or num_classes <= 0 or width <= 0:
        raise ValueError("in_channels, num_classes and width must be positive, got "
                         f"{in_channels}, {num_classes}, {width}")
    return nn.Sequential(
        nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2),
        nn.Conv2d(2 * width, 2 * width, kernel_size=3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )
