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
import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator

import numpy
import torch
from torch.utils import _python_dispatch, _pytree

__all__ = ["check_tensor", "check_number", "check_choice", "expect_raises", "OpCall", "record_ops",
           "forbid_ops", "forbid_autograd"]

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
_frozenset = frozenset
_push_mode = _python_dispatch._push_mode
_pop_mode = _python_dispatch._pop_mode
_current_mode = _python_dispatch._get_current_dispatch_mode
_current_autograd_node = torch._C._current_autograd_node
_tree_leaves = _pytree.tree_leaves
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


def expect_raises(error: type[Exception], fn: Callable, *args: object, what: str | None = None,
                  **kwargs: object) -> None:
    """Assert that ``fn(*args, **kwargs)`` raises ``error`` (or a subclass of it).

    Example:
        >>> expect_raises(ValueError, int, "seven", what='int("seven")')
        >>> expect_raises(ValueError, int, "7", what='int("7")')
        Traceback (most recent call last):
        ...
        AssertionError: int("7") must raise ValueError, but it returned 7
    """
    what = what or f"{getattr(fn, '__name__', 'the function')}{args!r}"
    try:
        result = fn(*args, **kwargs)
    except error:
        return
    except Exception as other:
        raise AssertionError(f"{what} must raise {error.__name__}, but it raised "
                             f"{_type(other).__name__}: {other}") from None
    shown = _str(result)
    raise AssertionError(f"{what} must raise {error.__name__}, but it returned "
                         f"{shown if _len(shown) <= 60 else shown[:57] + '...'}")


@dataclasses.dataclass(frozen=True)
class OpCall:
    """One PyTorch operation as the dispatcher saw it: the aten name (``"mm"``, ``"tanh_backward"``),
    the shapes of its tensor operands, and whether the autograd engine ran it in a backward pass."""

    name: str
    shapes: tuple[tuple[int, ...], ...]
    by_autograd: bool


class _Recorder(_python_dispatch.TorchDispatchMode):
    def __init__(self, calls: list[OpCall]) -> None:
        super().__init__()
        self.calls = calls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shapes = _tuple(_tuple(leaf.shape) for leaf in _tree_leaves((args, kwargs)) if _isinstance(leaf, _Tensor))
        self.calls.append(OpCall(func.overloadpacket.__name__, shapes, _current_autograd_node() is not None))
        return func(*args, **kwargs)


@contextlib.contextmanager
def record_ops() -> Iterator[list[OpCall]]:
    """Record every PyTorch operation dispatched inside the block, in order.

    It works below Python, at PyTorch's dispatcher, so references to functions taken before the
    block, method calls and operators are all seen, and so are the operations the autograd engine
    runs for ``backward()`` or ``torch.autograd.grad``. Operations run by other threads are not.

    Example:
        >>> a, b = torch.ones(2, 3), torch.ones(3, 4)
        >>> with record_ops() as calls:
        ...     c = (a @ b).relu()
        >>> [(call.name, call.shapes) for call in calls]
        [('mm', ((2, 3), (3, 4))), ('relu', ((2, 4),))]
    """
    calls: list[OpCall] = []
    recorder = _Recorder(calls)
    _push_mode(recorder)
    intact = False
    try:
        yield calls
    finally:
        intact = _current_mode() is recorder
        if intact:
            _pop_mode()
    if not intact:
        raise AssertionError("the notebook removed the tests' operation recorder")


def _is_autograd(call: OpCall) -> bool:
    return call.by_autograd or call.name.endswith("_backward")


@contextlib.contextmanager
def forbid_ops(task: str, names: Iterable[str] = (), *, autograd: bool = False) -> Iterator[list[OpCall]]:
    """After the block, fail if an operation in ``names`` ran inside it, or (``autograd=True``) if
    autograd computed a gradient there: the engine ran a backward pass, or an aten ``*_backward``
    derivative was called directly. Checked by what ran, so no renamed reference escapes it.

    Example:
        >>> a = torch.ones(4, 4)
        >>> with forbid_ops("a tiled product", {"mm", "matmul", "bmm"}):
        ...     c = a[:2, :2] * a[:2, :2]
        >>> with forbid_ops("a tiled product", {"mm", "matmul", "bmm"}):
        ...     c = a @ a
        Traceback (most recent call last):
        ...
        AssertionError: a tiled product must not use torch's mm (on operands of shape (4, 4), (4, 4))
    """
    forbidden = _frozenset(names)
    with record_ops() as calls:
        yield calls
    for call in calls:
        if autograd and _is_autograd(call):
            how = "the autograd engine ran" if call.by_autograd else "it called"
            raise AssertionError(f"{task} must not use autograd ({how} {call.name})")
        if call.name in forbidden:
            shapes = ", ".join(_str(shape) for shape in call.shapes)
            raise AssertionError(f"{task} must not use torch's {call.name} (on operands of shape {shapes})")


def forbid_autograd(task: str = "this task") -> contextlib.AbstractContextManager[list[OpCall]]:
    """``forbid_ops(task, autograd=True)``: for tasks that ask for a hand-written backward pass.

    Example:
        >>> x = torch.ones(2, requires_grad=True)
        >>> grad = torch.autograd.grad            # a reference taken before the check
        >>> with forbid_autograd("a hand-written backward pass"):
        ...     _ = grad((x * 2).sum(), x)
        Traceback (most recent call last):
        ...
        AssertionError: a hand-written backward pass must not use autograd (the autograd engine ran expand)
    """
    return forbid_ops(task, autograd=True)
