"""Assertions for the problem sets' tests that a student's notebook cannot talk its way past.

Tests run in the student's own kernel, after the student's code. So these helpers take their
references to Python and torch functions when this module is first imported, accept only exact
types (no subclasses with a forgiving ``__eq__``), move tensor values to plain Python floats
under ``torch._C.DisableTorchFunction`` (so no ``__torch_function__`` override or mode can
intervene) and compare them with arithmetic written here, not with ``torch.allclose`` or
``numpy.allclose``, which a notebook could have replaced.

Example:
    >>> import torch
    >>> from dlparallel.grading.checks import check_tensor, check_number, check_choice
    >>> check_tensor(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-9]))
    >>> check_number(3.0000001, 3.0)
    >>> check_choice("b", "b", options="abcd")
    >>> check_tensor([1.0, 2.0], torch.tensor([1.0, 2.0]))
    Traceback (most recent call last):
    ...
    AssertionError: result must be a torch.Tensor, got list
"""

from __future__ import annotations

import contextlib
import math

import numpy
import torch

__all__ = ["check_tensor", "check_number", "check_choice", "forbid_autograd"]

_type = type
_isinstance = isinstance
_len = len
_abs = abs
_float = float
_str = str
_tuple = tuple
_zip = zip
_range = range
_str_eq = str.__eq__
_isfinite = math.isfinite
_isnan = math.isnan
_Tensor = torch.Tensor
_tolist = torch.Tensor.tolist
_detach = torch.Tensor.detach
_to = torch.Tensor.to
_float64 = torch.float64
_cpu = torch.device("cpu")
_no_torch_function = torch._C.DisableTorchFunction
_floating = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Plain numbers: Python's, and NumPy's scalar types (exact types, so no subclass can pose as one).
_numbers = (int, float, *{numpy.dtype(code).type for code in "bhilqBHILQefdg"})


def _flat_floats(tensor: torch.Tensor) -> list[float]:
    with _no_torch_function():
        values = _tolist(_to(_detach(tensor), _cpu, _float64).reshape(-1))
    return [_float(v) for v in values]


def _close(actual: float, expected: float, rtol: float, atol: float) -> bool:
    if _isnan(expected):
        return _isnan(actual)
    if not _isfinite(expected):
        return actual == expected
    return _isfinite(actual) and _abs(actual - expected) <= atol + rtol * _abs(expected)


def check_tensor(actual: object, expected: torch.Tensor, *, rtol: float = 1e-5, atol: float = 1e-6,
                 name: str = "result", allowed_dtypes: tuple[torch.dtype, ...] | None = None) -> None:
    """Assert that ``actual`` is a plain tensor of ``expected``'s shape with close values.

    Floating results may be any floating dtype unless ``allowed_dtypes`` narrows it (a float64
    answer where float32 was computed is still right); integer results must match exactly.

    Example:
        >>> check_tensor(torch.zeros(2, 3), torch.zeros(3, 2))
        Traceback (most recent call last):
        ...
        AssertionError: result has shape (2, 3), expected (3, 2)
    """
    if _type(actual) is not _Tensor:
        raise AssertionError(f"{name} must be a torch.Tensor, got {_type(actual).__name__}")
    with _no_torch_function():
        actual_shape, expected_shape = _tuple(actual.shape), _tuple(expected.shape)
        actual_dtype, expected_dtype = actual.dtype, expected.dtype
    if actual_shape != expected_shape:
        raise AssertionError(f"{name} has shape {actual_shape}, expected {expected_shape}")
    if allowed_dtypes is not None and actual_dtype not in allowed_dtypes:
        raise AssertionError(f"{name} has dtype {actual_dtype}, expected one of {allowed_dtypes}")
    if expected_dtype in _floating and actual_dtype not in _floating:
        raise AssertionError(f"{name} has dtype {actual_dtype}, expected a floating-point tensor")
    if expected_dtype not in _floating and actual_dtype != expected_dtype:
        raise AssertionError(f"{name} has dtype {actual_dtype}, expected {expected_dtype}")
    got, want = _flat_floats(actual), _flat_floats(expected)
    wrong = [i for i, g, w in _zip(_range(_len(want)), got, want) if not _close(g, w, rtol, atol)]
    if wrong:
        i = wrong[0]
        raise AssertionError(f"{name} differs from the expected values at {_len(wrong)} of {_len(want)} "
                             f"positions (first at flat index {i}: {got[i]:.6g} instead of {want[i]:.6g})")


def check_number(actual: object, expected: float, *, rtol: float = 1e-6, atol: float = 0.0,
                 name: str = "result") -> None:
    """Assert that ``actual`` is a number (Python's or a NumPy scalar) or a one-element tensor close
    to ``expected``.

    Example:
        >>> check_number(True, 1)
        Traceback (most recent call last):
        ...
        AssertionError: result must be a number, got bool
    """
    if _type(actual) is _Tensor:
        values = _flat_floats(actual)
        if _len(values) != 1:
            raise AssertionError(f"{name} must be a single number, got a tensor of {_len(values)} values")
        value = values[0]
    elif _type(actual) in _numbers:
        value = _float(actual)
    else:
        raise AssertionError(f"{name} must be a number, got {_type(actual).__name__}")
    if not _close(value, _float(expected), rtol, atol):
        raise AssertionError(f"{name} is {value:.6g}, which is not the expected value")


def check_choice(actual: object, expected: str, *, options: str, name: str = "answer") -> None:
    """Assert that a multiple-choice answer is the one letter ``expected`` among ``options``.

    Example:
        >>> check_choice("e", "b", options="abcd")
        Traceback (most recent call last):
        ...
        AssertionError: answer must be one of 'a', 'b', 'c', 'd', got 'e'
    """
    if _type(actual) is not _str:
        raise AssertionError(f"{name} must be a string such as 'a', got {_type(actual).__name__}")
    letter = actual.strip().lower()
    if letter not in [o for o in options]:
        allowed = ", ".join(f"'{o}'" for o in options)
        raise AssertionError(f"{name} must be one of {allowed}, got {actual!r}")
    if not _str_eq(letter, expected):
        raise AssertionError(f"{name} is not the correct choice")


@contextlib.contextmanager
def forbid_autograd(task: str = "this task"):
    """Inside the block, any use of autograd raises: for tasks that ask for a hand-written backward.

    Example:
        >>> x = torch.ones(2, requires_grad=True)
        >>> with forbid_autograd("a hand-written backward pass"):
        ...     (x * 2).sum().backward()
        Traceback (most recent call last):
        ...
        AssertionError: a hand-written backward pass must not use autograd (called Tensor.backward)
    """
    saved = {"grad": torch.autograd.grad, "backward": torch.autograd.backward,
             "tensor_backward": torch.Tensor.backward}

    def refuse(what: str):
        def refused(*args, **kwargs):
            raise AssertionError(f"{task} must not use autograd (called {what})")
        return refused

    torch.autograd.grad = refuse("torch.autograd.grad")
    torch.autograd.backward = refuse("torch.autograd.backward")
    torch.Tensor.backward = refuse("Tensor.backward")
    try:
        yield
    finally:
        torch.autograd.grad = saved["grad"]
        torch.autograd.backward = saved["backward"]
        torch.Tensor.backward = saved["tensor_backward"]
