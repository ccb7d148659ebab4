"""Checks for lesson 02's "your turn" cells: a gradient through a shared input, and sigmoid's backward.

Example:
    >>> from dlparallel.exercises import lesson02
    >>> lesson02.check_shared_input_gradient(...)
    Not answered yet: replace ... with df/db for f = (a + b) * (b * c) at a=1, b=2, c=3.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import Verdict, check_function, check_value

__all__ = ["check_shared_input_gradient", "check_sigmoid_backward"]


def check_shared_input_gradient(answer: object) -> Verdict:
    """Is ``answer`` the derivative df/db of ``f = (a + b) * (b * c)`` at a=1, b=2, c=3?

    Example:
        >>> check_shared_input_gradient(6.0)
        Not yet: df/db for f = (a + b) * (b * c) at a=1, b=2, c=3 is 6, which is not right. Hint: b \
feeds both u = a + b and v = b * c: add the gradients arriving along both paths.
    """
    a, b, c = (torch.tensor(value, dtype=torch.float64, requires_grad=True) for value in (1.0, 2.0, 3.0))
    ((a + b) * (b * c)).backward()
    return check_value(answer, b.grad.item(), name="df/db for f = (a + b) * (b * c) at a=1, b=2, c=3",
                       hint="b feeds both u = a + b and v = b * c: add the gradients arriving along both paths",
                       meaning="a value used twice collects the gradients of both uses, v * 1 + u * c")


def check_sigmoid_backward(function: Callable) -> Verdict:
    """Does ``function(dy, y)`` return sigmoid's input gradient from the upstream gradient and the output?

    Checked against autograd on random float64 tensors of a few shapes.

    Example:
        >>> check_sigmoid_backward(lambda dy, y: dy * y * (1 - y))
        Correct: sigmoid's derivative is y (1 - y), so the backward pass needs only the saved output.
        >>> check_sigmoid_backward(lambda dy, y: y * (1 - y))
        Not yet: sigmoid_backward(dy, y) returned a tensor of shape (4, 3) for the input ((4, 3), (4, 3)), \
expected another value. Hint: multiply the local derivative y (1 - y) by the gradient dy arriving from above.
    """
    generator = torch.Generator().manual_seed(2)
    cases = []
    for shape in ((4, 3), (2, 5), (7,)):
        x = torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True)
        dy = torch.randn(*shape, generator=generator, dtype=torch.float64)
        y = torch.sigmoid(x)
        y.backward(dy)
        cases.append(((_Shown(dy), _Shown(y.detach())), x.grad))
    return check_function(lambda dy, y: _Result(function(dy.tensor, y.tensor)), cases, name="sigmoid_backward(dy, y)",
                          compare=_same_tensor,
                          hint="multiply the local derivative y (1 - y) by the gradient dy arriving from above",
                          meaning="sigmoid's derivative is y (1 - y), so the backward pass needs only the saved output")


class _Shown:
    """A tensor argument that names its shape in a verdict instead of printing its values."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor.clone()

    def __repr__(self) -> str:
        return str(tuple(self.tensor.shape))


class _Result:
    """What the student's function returned, named by its type and shape rather than its values."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        if isinstance(self.value, torch.Tensor):
            return f"a tensor of shape {tuple(self.value.shape)}"
        return repr(self.value)


def _same_tensor(got: _Result, expected: torch.Tensor) -> bool:
    value = got.value
    return (isinstance(value, torch.Tensor) and value.shape == expected.shape
            and torch.allclose(value.to(expected.dtype), expected, rtol=1e-9, atol=1e-12))
