"""Assertions for the problem sets' tests that a student's notebook cannot talk its way past.

Tests run in the student's own kernel, after the student's code. So these helpers take their
references to Python and torch functions when this module is first imported, accept only exact
types (no subclasses with a forgiving ``__eq__``), move tensor values to plain Python floats
under ``torch._C.DisableTorchFunction`` (so no ``__torch_function__`` override or mode can
intervene) and compare them with arithmetic written here, not with ``torch.allclose`` or
``numpy.allclose``, which a notebook could have replaced.

While a notebook is graded, each check also hands what it compared out of the kernel, for the
grader to compare again against the answer key (:mod:`dlparallel.grading.answers`). The key's
expected value is used unless the check says ``pinned=False``: for an expected value computed from
the student's own results (a second call that must agree with the first, say), which differs
between right answers.

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
import fractions
import threading
from collections.abc import Callable, Iterable, Iterator

import numpy
import torch
from torch.utils import _python_dispatch, _pytree

from . import answers as _answers

__all__ = ["check_tensor", "check_number", "check_choice", "expect_raises", "OpCall", "record_ops",
           "forbid_ops", "forbid_autograd", "PRODUCT_OPS", "product_flops", "LaunchSpy", "trace_simulator",
           "check_exact", "forbid_autodiff", "hand_in_answers", "begin_answers", "send_answers"]

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


_close = _answers.close


def hand_in_answers(on: bool) -> None:
    """While a notebook is graded, every check also records what it compared, and each test cell
    hands those records out of the kernel at its end (:func:`send_answers`), for the grader to
    compare again (:mod:`dlparallel.grading.answers`). Called by
    :func:`dlparallel.grading.integrity.seal`, before any student code runs.

    Example:
        >>> hand_in_answers(False)
    """
    global _publish
    _publish = None
    if on:
        from IPython.display import publish_display_data as _publish
    _pending.clear()


_publish: Callable | None = None
_pending: list[dict] = []  # what the checks compared since the test cell began


def _hand_in(actual: _answers.Answer, expected: _answers.Answer, pinned: bool) -> None:
    if _publish is not None:
        _pending.append(_answers.encode_handed_in(_answers.HandedIn(actual, expected, pinned)))


def begin_answers() -> None:
    """Forget what was recorded before a test cell (by the student's own calls of the checks)."""
    _pending.clear()


def send_answers() -> None:
    """Hand what the checks of this test cell compared out of the kernel, in one display output."""
    if _publish is not None:
        sent = list(_pending)
        _pending.clear()
        _publish({_answers.MIME: {"handed_in": sent}})


def check_tensor(actual: object, expected: torch.Tensor, *, rtol: float = 1e-5, atol: float = 1e-6,
                 name: str = "result", allowed_dtypes: tuple[torch.dtype, ...] | None = None,
                 pinned: bool = True) -> None:
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
    _hand_in(_answers.Answer("tensor", name, actual_shape, _tuple(got)),
             _answers.Answer("tensor", name, expected_shape, _tuple(want), rtol=rtol, atol=atol), pinned)
    wrong = [i for i, g, w in _zip(_range(_len(want)), got, want) if not _close(g, w, rtol, atol)]
    if wrong:
        i = wrong[0]
        raise AssertionError(f"{name} differs from the expected values at {_len(wrong)} of {_len(want)} "
                             f"positions (first at flat index {i}: {got[i]:.6g} instead of {want[i]:.6g})")


def check_number(actual: object, expected: float, *, rtol: float = 1e-6, atol: float = 0.0,
                 name: str = "result", pinned: bool = True) -> None:
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
    _hand_in(_answers.Answer("number", name, values=(value,)),
             _answers.Answer("number", name, values=(_float(expected),), rtol=rtol, atol=atol), pinned)
    if not _close(value, _float(expected), rtol, atol):
        raise AssertionError(f"{name} is {value:.6g}, which is not the expected value")


def check_choice(actual: object, expected: str, *, options: str, name: str = "answer", pinned: bool = True) -> None:
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
    _hand_in(_answers.Answer("choice", name, text=letter), _answers.Answer("choice", name, text=expected), pinned)
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
    name = what or f"{getattr(fn, '__name__', 'the function')} must raise {error.__name__}"  # no addresses
    what = what or f"{getattr(fn, '__name__', 'the function')}{args!r}"
    wanted = f"raised {error.__name__}"
    try:
        result = fn(*args, **kwargs)
    except error:
        _hand_in(_answers.Answer("choice", name, text=wanted), _answers.Answer("choice", name, text=wanted), True)
        return
    except Exception as other:
        _hand_in(_answers.Answer("choice", name, text=f"raised {_type(other).__name__}"),
                 _answers.Answer("choice", name, text=wanted), True)
        raise AssertionError(f"{what} must raise {error.__name__}, but it raised "
                             f"{_type(other).__name__}: {other}") from None
    _hand_in(_answers.Answer("choice", name, text="returned"), _answers.Answer("choice", name, text=wanted), True)
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
def _pushed(mode: _python_dispatch.TorchDispatchMode) -> Iterator[None]:
    """Push a dispatch mode for the block; fail if the block removed it from the stack."""
    _push_mode(mode)
    intact = False
    try:
        yield
    finally:
        intact = _current_mode() is mode
        if intact:
            _pop_mode()
    if not intact:
        raise AssertionError("the notebook removed the tests' operation recorder")


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
    with _pushed(_Recorder(calls)):
        yield calls


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


#: aten operations that multiply matrices or vectors (what ``@``, ``torch.matmul``, ``torch.einsum``,
#: ``F.linear`` and the like run at the dispatcher), for :func:`product_flops`.
PRODUCT_OPS = frozenset({"mm", "addmm", "_addmm_activation", "bmm", "baddbmm", "addbmm", "mv", "addmv",
                         "dot", "vdot"})


def product_flops(calls: Iterable[OpCall]) -> int:
    """FLOPs (2 per multiply-add) of the matrix and vector products among recorded operations.

    The two factors of each product are its last two tensor operands (``addmm``'s first operand
    is the term added): an ``(..., a, b)`` by ``(..., b, c)`` product costs ``2 * (... * a * b) * c``,
    a matrix-vector or dot product ``2 * (size of the matrix or vector)``. Other operations
    (elementwise ``mul``, ``sum``, copies) are not counted.

    Example:
        >>> a, b, bias = torch.ones(2, 3), torch.ones(3, 4), torch.ones(4)
        >>> with record_ops() as calls:
        ...     _ = torch.addmm(bias, a, b)        # 2 * 2 * 3 * 4 = 48
        ...     _ = torch.ones(5, 2, 3) @ b        # matmul folds the batch: mm of (10, 3) by (3, 4): 240
        ...     _ = (a * a).sum()                  # elementwise: not a product
        >>> product_flops(calls)
        288
    """
    total = 0
    for call in calls:
        if call.name not in PRODUCT_OPS or _len(call.shapes) < 2:
            continue
        first, second = call.shapes[-2], call.shapes[-1]
        size = 1
        for extent in first:
            size *= extent
        total += 2 * size * (second[-1] if _len(second) >= 2 else 1)
    return total


# ---------------------------------------------------------------------------------------------
# Kernels written with numba-cuda: which launches ran, and what each simulated thread did.
# numba is imported only inside these helpers: importing it here, when the grading kernel is
# sealed, would happen before a notebook can ask for numba's CUDA simulator.


def _launch_dims(value: object) -> tuple[int, int, int]:
    dims = _tuple(value) if _isinstance(value, (_tuple, list)) else (value,)
    return _tuple(int(d) for d in dims) + (1,) * (3 - _len(dims))


class LaunchSpy:
    """Stands in for a ``@cuda.jit`` kernel in a notebook's namespace and records every launch.

    ``spy[blocks, threads](*args)`` records ``(blocks, threads)``, each as an (x, y, z) triple,
    in ``spy.launches``, then launches ``stand_in`` (a kernel of the same signature; by default
    the spied kernel itself) with that configuration, or nothing at all with ``run=False``. A
    stand-in that computes something else shows whether a launcher returns what its launches
    computed or got its result another way. Inside :func:`trace_simulator`, ``trace=`` records
    what each launch does to its array arguments (see :meth:`__getitem__`).

    Example:
        >>> spy = LaunchSpy(None, run=False)
        >>> spy[4, (8, 2)](1, 2, 3)
        >>> spy.launches
        [((4, 1, 1), (8, 2, 1))]
        >>> spy.check_launches([(4, (8, 2))], what="my launcher")
        >>> spy.check_launches([(4, (8, 2)), (1, 8)], what="my launcher")
        Traceback (most recent call last):
        ...
        AssertionError: my launcher must launch the kernel 2 time(s), it launched it 1 time(s)
    """

    def __init__(self, kernel: object, *, run: bool = True, stand_in: object = None,
                 trace: KernelTrace | None = None) -> None:
        self.kernel, self.run, self.launches, self.trace = kernel, run, [], trace
        self.stand_in = kernel if stand_in is None else stand_in

    def __getitem__(self, config):
        config = config if _isinstance(config, _tuple) else (config,)
        if _len(config) < 2:
            raise AssertionError("a kernel launch must name blocks and threads: kernel[blocks, threads](...)")
        self.launches.append((_launch_dims(config[0]), _launch_dims(config[1])))
        if not self.run:
            return lambda *args: None
        launch, trace, number = self.stand_in[config], self.trace, _len(self.launches)
        if trace is None:
            return launch

        def watched(*args):
            # Array arguments (NumPy arrays, or CPU tensors as views of their memory) are recorded as
            # "launch <number> argument <position>", counted from 1 and 0.
            arrays = [_detach(a).numpy() if _type(a) is _Tensor else a for a in args]
            return launch(*(trace.watch(a, f"launch {number} argument {k}") if _isinstance(a, numpy.ndarray)
                            else a for k, a in enumerate(arrays)))
        return watched

    def check_launches(self, expected: list, *, what: str = "the launcher") -> None:
        """Assert the launches were exactly ``expected``: a list of ``(blocks, threads)`` in order."""
        if _len(self.launches) != _len(expected):
            raise AssertionError(f"{what} must launch the kernel {_len(expected)} time(s), "
                                 f"it launched it {_len(self.launches)} time(s)")
        for number, ((grid, block), (want_grid, want_block)) in enumerate(_zip(self.launches, expected)):
            for got, want, name in [(grid, _launch_dims(want_grid), "blocks per grid"),
                                    (block, _launch_dims(want_block), "threads per block")]:
                if got != want:
                    raise AssertionError(f"{what}: launch {number + 1} has {got} {name} (x, y, z), "
                                         f"expected {want}")


class Access(_tuple):
    """One element access seen by :func:`trace_simulator`: ``(memory, kind, block, thread, index,
    barriers)``; ``kind`` is ``"read"`` or ``"write"``, ``block`` and ``thread`` are (x, y, z),
    ``index`` the element's index tuple, ``barriers`` how many ``cuda.syncthreads()`` that
    thread had passed before the access."""

    __slots__ = ()
    memory = property(lambda self: self[0])
    kind = property(lambda self: self[1])
    block = property(lambda self: self[2])
    thread = property(lambda self: self[3])
    index = property(lambda self: self[4])
    barriers = property(lambda self: self[5])


def _element_index(index: object, shape: tuple[int, ...]) -> tuple:
    items = index if _isinstance(index, _tuple) else (index,)
    if _len(items) != _len(shape) or not all(_isinstance(i, (int, numpy.integer)) for i in items):
        return ("not one element", repr(index))
    return _tuple(int(i) % s if s else int(i) for i, s in _zip(items, shape))


class KernelTrace:
    """What kernels launched in numba's CUDA simulator did, recorded by :func:`trace_simulator`.

    ``accesses``: every :class:`Access` to a watched global array (see :meth:`watch`) or to a
    shared array; ``shared_arrays``: ``(name, shape, dtype)`` of each ``cuda.shared.array``
    allocated (named ``"shared 0"``, ``"shared 1"``, ... per launch and block); ``barriers``:
    ``(block, thread) -> number of cuda.syncthreads() calls``.
    """

    def __init__(self) -> None:
        self.accesses: list[Access] = []
        self.shared_arrays: list[tuple[str, tuple, object]] = []
        self.barriers: dict[tuple, int] = {}
        self._lock = threading.Lock()

    def _record(self, memory: str, kind: str, index: tuple) -> None:
        thread = threading.current_thread()
        block, position = getattr(thread, "blockIdx", None), getattr(thread, "threadIdx", None)
        if block is None:  # touched outside a kernel (by the test itself): not recorded
            return
        key = (_tuple(block), _tuple(position))
        with self._lock:
            self.accesses.append(Access((memory, kind, key[0], key[1], index, self.barriers.get(key, 0))))

    def watch(self, array: numpy.ndarray, name: str):
        """``array`` wrapped so that the kernel's reads and writes of it are recorded as ``name``;
        pass the result to the kernel in place of the array (simulator only)."""
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        trace, shape = self, _tuple(array.shape)

        class Watched(FakeCUDAArray):
            def __getitem__(self, index):
                trace._record(name, "read", _element_index(index, shape))
                return super().__getitem__(index)

            def __setitem__(self, index, value):
                trace._record(name, "write", _element_index(index, shape))
                return super().__setitem__(index, value)

        return Watched(array)

    def of(self, memory: str, kind: str | None = None) -> list[Access]:
        """The accesses to ``memory`` (``kind`` ``"read"`` or ``"write"``, or both when None)."""
        return [a for a in self.accesses if a.memory == memory and (kind is None or a.kind == kind)]

    def counts(self, memory: str, kind: str) -> dict[tuple, int]:
        """index -> how many times ``memory`` was accessed there (by ``kind``)."""
        counted: dict[tuple, int] = {}
        for access in self.of(memory, kind):
            counted[access.index] = counted.get(access.index, 0) + 1
        return counted


@contextlib.contextmanager
def trace_simulator():
    """Record what kernels launched inside the block do in numba's CUDA simulator, thread by thread.

    Yields a :class:`KernelTrace`. Inside the block every ``cuda.shared.array`` a kernel
    allocates records its element reads and writes, every ``cuda.syncthreads()`` is counted per
    thread, and arrays passed through ``trace.watch`` record theirs. Only kernels that the
    simulator runs are recorded: those of a notebook started with ``NUMBA_ENABLE_CUDASIM=1``, or
    made with ``numba.cuda.simulator.jit`` as below (which works on any machine).

    Example:
        >>> from numba import cuda, float32
        >>> from numba.cuda import simulator
        >>> @simulator.jit
        ... def double(x):
        ...     buffer = cuda.shared.array(4, float32)
        ...     t = cuda.threadIdx.x
        ...     buffer[t] = x[t]
        ...     cuda.syncthreads()
        ...     x[t] = 2 * buffer[3 - t]
        >>> x = numpy.arange(4, dtype=numpy.float32)
        >>> with trace_simulator() as trace:
        ...     double[1, 4](trace.watch(x, "x"))
        >>> x.tolist(), trace.shared_arrays, set(trace.barriers.values())
        ([6.0, 4.0, 2.0, 0.0], [('shared 0', (4,), dtype('float32'))], {1})
        >>> sorted(trace.counts("x", "write").items())
        [((0,), 1), ((1,), 1), ((2,), 1), ((3,), 1)]
        >>> [a.barriers for a in trace.of("shared 0", "read")]
        [1, 1, 1, 1]
    """
    import sys

    from numba.cuda.simulator import kernel as simulated, kernelapi

    trace = KernelTrace()

    def shared_array(self, shape, dtype, alignment=None):
        from numba.cuda import types as numba_types
        from numba.cuda.np import numpy_support

        if _isinstance(shape, int) and shape == 0:  # dynamic shared memory: numba's own, not recorded
            return original_array(self, shape, dtype, alignment)
        if _isinstance(dtype, numba_types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)  # one array per line, as numba's own
        allocations = self.__dict__.setdefault("_traced_allocations", {})
        with trace._lock:
            if key not in allocations:
                name = f"shared {_len(allocations)}"
                full_shape = _tuple(shape) if _isinstance(shape, (_tuple, list)) else (shape,)
                allocations[key] = _traced_shared(numpy.zeros(full_shape, dtype), trace, name)
                trace.shared_arrays.append((name, full_shape, numpy.dtype(dtype)))
        return allocations[key]

    def syncthreads(self):
        key = (_tuple(self.blockIdx), _tuple(self.threadIdx))
        with trace._lock:
            trace.barriers[key] = trace.barriers.get(key, 0) + 1
        return original_sync(self)

    original_array, original_sync = kernelapi.FakeCUDAShared.array, simulated.BlockThread.syncthreads
    kernelapi.FakeCUDAShared.array, simulated.BlockThread.syncthreads = shared_array, syncthreads
    try:
        yield trace
    finally:
        kernelapi.FakeCUDAShared.array, simulated.BlockThread.syncthreads = original_array, original_sync


class _TracedShared(numpy.ndarray):
    """A simulated shared array that records element accesses (made by :func:`trace_simulator`)."""

    def __getitem__(self, index):
        trace = getattr(self, "_trace", None)
        if trace is not None:
            trace._record(self._name, "read", _element_index(index, self.shape))
        return numpy.ndarray.__getitem__(self, index)

    def __setitem__(self, index, value):
        trace = getattr(self, "_trace", None)
        if trace is not None:
            trace._record(self._name, "write", _element_index(index, self.shape))
        return numpy.ndarray.__setitem__(self, index, value)


def _traced_shared(array: numpy.ndarray, trace: KernelTrace, name: str) -> _TracedShared:
    traced = array.view(_TracedShared)
    traced._trace, traced._name = trace, name
    return traced


_Fraction = fractions.Fraction
# The slots that hold a Fraction's parts, read through descriptors taken now: a notebook that
# replaces Fraction's methods or properties (its ==, numerator, __repr__) cannot change them.
_numerator_slot = vars(fractions.Fraction)["_numerator"]
_denominator_slot = vars(fractions.Fraction)["_denominator"]


def _rational_parts(value: object) -> tuple[int, int] | None:
    if _type(value) is int:
        return value, 1
    if _type(value) is _Fraction:
        return _numerator_slot.__get__(value), _denominator_slot.__get__(value)
    return None


def check_exact(actual: object, expected: int | fractions.Fraction, *, name: str = "result",
                pinned: bool = True) -> None:
    """Assert that ``actual`` is an exact rational, a ``fractions.Fraction`` or an ``int``, equal to ``expected``.

    For answers that must be computed exactly (inputs on which floating-point libraries cannot
    give the answer): a float, a NumPy scalar or a subclass of Fraction fails whatever its value.

    Example:
        >>> from fractions import Fraction
        >>> check_exact(Fraction(6, 4), Fraction(3, 2))
        >>> check_exact(2, Fraction(4, 2))
        >>> check_exact(1.5, Fraction(3, 2))
        Traceback (most recent call last):
        ...
        AssertionError: result must be an exact Fraction (or int), got float 1.5
        >>> check_exact(Fraction(1, 3), Fraction(1, 2), name="the median")
        Traceback (most recent call last):
        ...
        AssertionError: the median is 1/3, expected 1/2
    """
    want = _rational_parts(expected)
    if want is None:
        raise TypeError(f"expected must be an int or a Fraction, got {_type(expected).__name__}")
    got = _rational_parts(actual)
    if got is None:
        shown = f" {_float(actual)!r}" if _type(actual) in _numbers else ""
        raise AssertionError(f"{name} must be an exact Fraction (or int), got {_type(actual).__name__}{shown}")
    as_text = lambda parts: _str(parts[0]) if parts[1] == 1 else f"{parts[0]}/{parts[1]}"  # noqa: E731
    _hand_in(_answers.Answer("exact", name, text=as_text(got)), _answers.Answer("exact", name, text=as_text(want)),
             pinned)
    if not (got[0] == want[0] and got[1] == want[1]):
        raise AssertionError(f"{name} is {as_text(got)}, expected {as_text(want)}")


# Forward-mode automatic differentiation (torch.func.jvp, torch.func.jacfwd,
# torch.autograd.forward_ad) runs no backward pass, so forbid_ops(autograd=True) does not see it:
# its tangents are computed by ordinary operations (mul, sub, ...). What gives it away is that
# a dual level is open while those operations run. PyTorch allows one dual level at a time, so
# trying to open one tells whether another is open.
_enter_dual_level = torch._C._enter_dual_level
_exit_dual_level = torch._C._exit_dual_level


def _forward_ad_active() -> bool:
    try:
        level = _enter_dual_level()
    except RuntimeError:
        return True
    _exit_dual_level(level=level)
    return False


class _ForwardADWatch(_python_dispatch.TorchDispatchMode):
    def __init__(self, seen: list[str]) -> None:
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.seen and _forward_ad_active():
            self.seen.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbid_autodiff(task: str, names: Iterable[str] = ()) -> Iterator[list[OpCall]]:
    """``forbid_ops(task, names, autograd=True)``, and forward-mode automatic differentiation
    too (``torch.func.jvp``, ``torch.func.jacfwd``, dual tensors of ``torch.autograd.forward_ad``),
    which runs no backward pass: for tasks that ask for a derivative computed by hand.

    Example:
        >>> x = torch.randn(3, dtype=torch.float64)
        >>> with forbid_autodiff("layer_norm_backward"):  # doctest: +ELLIPSIS
        ...     _ = torch.func.jacfwd(lambda t: (t - t.mean()) * t)(x)
        Traceback (most recent call last):
        ...
        AssertionError: layer_norm_backward must not use autograd (forward-mode AD ran ...)
        >>> with forbid_autodiff("layer_norm_backward", {"native_layer_norm"}):
        ...     _ = torch.nn.functional.layer_norm(x, (3,))
        Traceback (most recent call last):
        ...
        AssertionError: layer_norm_backward must not use torch's native_layer_norm (on operands of shape (3,))
    """
    seen: list[str] = []
    watch = _ForwardADWatch(seen)
    with forbid_ops(task, names, autograd=True) as calls:
        with _pushed(watch):
            yield calls
        if seen:
            raise AssertionError(f"{task} must not use autograd (forward-mode AD ran {seen[0]})")
