"""GPU kernels written in Python with numba-cuda: a vector add, a naive and a tiled matmul.

On a machine whose CUDA GPU both PyTorch and numba can use, the kernels compile for the GPU.
Everywhere else they run in numba's CUDA simulator, which executes every thread of the grid
as Python on the CPU: correct, and slow, so keep the sizes small there. The simulator must be
chosen before numba is first imported, so this module imports numba only when a kernel is
first needed (``import dlparallel`` never imports it) and sets ``NUMBA_ENABLE_CUDASIM=1``
first if there is no GPU.

Kernel launches take float32 torch tensors on :func:`kernel_device` and return torch tensors.
On a GPU the kernels read and write the tensors' own device memory, with no copy to the host.

Example:
    >>> import torch
    >>> from dlparallel.kernels import kernel_device, launch_matmul, launch_vector_add
    >>> a = torch.arange(6.0, device=kernel_device()).reshape(2, 3)
    >>> launch_matmul(a, a.T.contiguous(), kernel="tiled", tile=4).tolist()
    [[5.0, 14.0], [14.0, 50.0]]
    >>> launch_vector_add(a[0], a[1]).tolist()
    [3.0, 5.0, 7.0]
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Literal, NamedTuple

import torch

from .validation import is_positive_int, non_negative_int

__all__ = ["KernelBackendError", "LaunchConfig", "kernel_backend", "kernel_device", "get_kernel",
           "launch_config", "launch_vector_add", "launch_matmul", "global_reads"]

MAX_THREADS_PER_BLOCK = 1024  # the CUDA limit on every GPU since compute capability 2.0
KERNELS = ("vector_add", "naive", "tiled")

# numba.cuda once _numba_cuda() has imported it. The kernels must reach it as a global of this
# module: the simulator runs them by swapping such globals for its per-thread fake of the module.
cuda: ModuleType | None = None


class KernelBackendError(RuntimeError):
    """numba can neither compile for a GPU here nor switch to its CUDA simulator any more."""


@functools.cache
def _numba_cuda() -> ModuleType:
    """``numba.cuda``, imported on first use: the real target if a GPU is usable, else the simulator."""
    global cuda
    if "numba" not in sys.modules and not torch.cuda.is_available():
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # read once, when numba is first imported
    try:
        import numba
        import numba.cuda
    except ImportError as error:
        raise ImportError("the GPU kernels need numba and numba-cuda: "
                          "pip install 'numba>=0.68,<0.69' 'numba-cuda>=0.30,<0.31'") from error
    if numba.config.ENABLE_CUDASIM or (torch.cuda.is_available() and numba.cuda.is_available()):
        cuda = numba.cuda
        return cuda
    if torch.cuda.is_available():
        raise KernelBackendError(
            "PyTorch sees a CUDA GPU but numba-cuda cannot use it (check the CUDA driver and "
            "numba-cuda's install); to run the kernels in numba's CUDA simulator instead, set "
            "NUMBA_ENABLE_CUDASIM=1 in the environment before numba is imported")
    raise KernelBackendError(
        "PyTorch has no CUDA GPU here, and numba was imported before dlparallel.kernels without "
        "its CUDA simulator; NUMBA_ENABLE_CUDASIM=1 must be set before numba is first imported. "
        "Restart the kernel (the Python process) and use dlparallel.kernels before importing "
        "numba, or set NUMBA_ENABLE_CUDASIM=1 in the environment")


def kernel_backend() -> Literal["cuda", "simulator"]:
    """Where the kernels run: ``"cuda"`` (compiled for a GPU) or ``"simulator"`` (numba's, on the CPU).

    Example:
        >>> kernel_backend() in ("cuda", "simulator")
        True
    """
    _numba_cuda()  # imports numba, choosing the simulator first where there is no GPU
    return "simulator" if sys.modules["numba"].config.ENABLE_CUDASIM else "cuda"


def kernel_device() -> torch.device:
    """The device that kernel inputs must live on: the current CUDA device, or the CPU for the simulator.

    Example:
        >>> kernel_device().type in ("cuda", "cpu")
        True
    """
    if kernel_backend() == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


@functools.cache
def _vector_add() -> Callable:
    _numba_cuda()

    @cuda.jit
    def vector_add(a, b, out):
        # Grid-stride loop: a grid of any size covers any n, each thread stepping by the grid's size.
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, out.shape[0], stride):
            out[i] = a[i] + b[i]

    return vector_add


@functools.cache
def _naive_matmul() -> Callable:
    _numba_cuda()
    from numba import float32

    @cuda.jit
    def naive_matmul(a, b, c):
        # One thread per element of c; x runs along the columns, so neighbouring threads of a
        # warp read neighbouring elements of b's rows and write neighbouring elements of c.
        col, row = cuda.grid(2)
        if row < c.shape[0] and col < c.shape[1]:
            acc = float32(0.0)
            for i in range(a.shape[1]):
                acc += a[row, i] * b[i, col]
            c[row, col] = acc

    return naive_matmul


@functools.cache
def _tiled_matmul(tile: int) -> Callable:
    _numba_cuda()
    from numba import float32

    @cuda.jit
    def tiled_matmul(a, b, c):
        # A tile x tile block of threads computes a tile x tile block of c. In each phase it
        # stages one tile of a and one of b in shared memory, each thread loading one element
        # of each, then every thread reads its row and column from shared memory. Elements
        # past the edges of a and b are stored as zeros, which leave the sums unchanged.
        sa = cuda.shared.array((tile, tile), float32)
        sb = cuda.shared.array((tile, tile), float32)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * tile + ty
        col = cuda.blockIdx.x * tile + tx
        m, k = a.shape
        n = b.shape[1]
        acc = float32(0.0)
        for phase in range((k + tile - 1) // tile):
            offset = phase * tile
            if row < m and offset + tx < k:
                sa[ty, tx] = a[row, offset + tx]
            else:
                sa[ty, tx] = 0.0
            if offset + ty < k and col < n:
                sb[ty, tx] = b[offset + ty, col]
            else:
                sb[ty, tx] = 0.0
            cuda.syncthreads()  # the tiles are complete before anyone reads them
            for i in range(tile):
                acc += sa[ty, i] * sb[i, tx]
            cuda.syncthreads()  # everyone is done with them before the next phase overwrites them
        if row < m and col < n:
            c[row, col] = acc

    return tiled_matmul


def get_kernel(name: str, tile: int = 16) -> Callable:
    """The compiled kernel ``name`` (one of :data:`KERNELS`), to launch as ``kernel[blocks, threads](...)``.

    ``"vector_add"`` takes ``(a, b, out)``; ``"naive"`` and ``"tiled"`` take ``(a, b, c)`` and
    compute ``c = a @ b``. The tiled kernel is compiled once per ``tile`` (its shared-memory
    arrays need a size known at compile time) and must be launched with ``tile x tile``
    threads per block.

    Example:
        >>> import numpy as np
        >>> add = get_kernel("vector_add")
        >>> a, out = np.arange(5, dtype=np.float32), np.zeros(5, dtype=np.float32)
        >>> add[1, 2](a, a, out)  # one block of two threads: each adds every other element
        >>> out.tolist()
        [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    if name == "vector_add":
        return _vector_add()
    if name == "naive":
        return _naive_matmul()
    if name == "tiled":
        return _tiled_matmul(_check_tile(tile))
    raise ValueError(f"unknown kernel {name!r}; choose one of {KERNELS}")


class LaunchConfig(NamedTuple):
    """Blocks per grid and threads per block, in CUDA's (x, y, z) order: ``kernel[config](...)``."""

    blocks: tuple[int, ...]
    threads: tuple[int, ...]


def _as_dims(value: int | Sequence[int], name: str) -> tuple[int, ...]:
    dims = tuple(value) if isinstance(value, Sequence) else (value,)
    if not 1 <= len(dims) <= 3 or not all(map(is_positive_int, dims)):
        raise ValueError(f"{name} must be a positive integer or 1 to 3 of them, got {value!r}")
    return dims


def launch_config(shape: int | Sequence[int], threads: int | Sequence[int]) -> LaunchConfig:
    """Enough blocks of ``threads`` threads to give one thread to each of ``shape`` elements.

    Both are in CUDA's (x, y, z) order, x first: for a matrix of ``m`` rows and ``n`` columns
    with x along the columns, ``shape`` is ``(n, m)``. Blocks per grid are
    ``ceil(shape / threads)`` in each dimension, so the grid may overhang the data and the
    kernel must check its indices.

    Example:
        >>> launch_config(1000, 256)
        LaunchConfig(blocks=(4,), threads=(256,))
        >>> launch_config((31, 33), (16, 16))
        LaunchConfig(blocks=(2, 3), threads=(16, 16))
    """
    shape, threads = _as_dims(shape, "shape"), _as_dims(threads, "threads")
    if len(shape) != len(threads):
        raise ValueError(f"shape {shape} and threads {threads} differ in their number of dimensions")
    if math.prod(threads) > MAX_THREADS_PER_BLOCK:
        raise ValueError(f"a block of {threads} has {math.prod(threads)} threads; CUDA allows at "
                         f"most {MAX_THREADS_PER_BLOCK}")
    return LaunchConfig(tuple(-(-s // t) for s, t in zip(shape, threads)), threads)


def _check_tile(tile: int) -> int:
    if not is_positive_int(tile) or tile * tile > MAX_THREADS_PER_BLOCK:
        raise ValueError(f"tile must be an integer from 1 to 32 (a tile x tile block has at most "
                         f"{MAX_THREADS_PER_BLOCK} threads), got {tile!r}")
    return tile


def _check_tensor(x: torch.Tensor, name: str, ndim: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if x.dtype != torch.float32:
        raise TypeError(f"{name} must be float32, got {x.dtype}; convert it with .float()")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    device = kernel_device()
    if x.device != device:
        where = "numba's CUDA simulator runs on the host" if device.type == "cpu" else "the kernels run on the GPU"
        raise ValueError(f"{name} is on {x.device} but {where}: move it with .to({str(device)!r})")
    if not x.is_contiguous():
        raise ValueError(f"{name} must be contiguous (row-major), e.g. {name}.contiguous()")


def _launch(kernel: Callable, config: LaunchConfig, *tensors: torch.Tensor) -> None:
    """Run ``kernel`` on the tensors' own memory: device arrays on a GPU, host arrays in the simulator."""
    tensors = tuple(t.detach() for t in tensors)
    if kernel_backend() == "simulator":
        kernel[config](*(t.numpy() for t in tensors))
        return
    device = tensors[0].device
    with cuda.gpus[device.index]:
        # Launch on PyTorch's current stream, so the kernel is ordered with the work around it.
        stream = cuda.external_stream(torch.cuda.current_stream(device).cuda_stream)
        kernel[config.blocks, config.threads, stream](*(cuda.as_cuda_array(t) for t in tensors))


def launch_vector_add(a: torch.Tensor, b: torch.Tensor, threads: int = 256,
                      blocks: int | None = None) -> torch.Tensor:
    """``a + b`` computed by the grid-stride vector-add kernel.

    ``blocks`` defaults to enough blocks of ``threads`` to give each element its own thread;
    fewer blocks still cover every element, each thread then adding several, ``blocks *
    threads`` apart.

    Example:
        >>> x = torch.ones(10, device=kernel_device())
        >>> launch_vector_add(x, x, threads=4, blocks=1).tolist() == [2.0] * 10
        True
    """
    _check_tensor(a, "a", 1)
    _check_tensor(b, "b", 1)
    if a.shape != b.shape:
        raise ValueError(f"a and b differ in length: {a.shape[0]} and {b.shape[0]}")
    config = launch_config(max(a.shape[0], 1), threads)
    if blocks is not None:
        config = LaunchConfig(_as_dims(blocks, "blocks"), config.threads)
        if len(config.blocks) != 1:
            raise ValueError(f"blocks must be one integer for a 1-D launch, got {blocks!r}")
    out = torch.empty_like(a)
    if out.numel():
        _launch(_vector_add(), config, a, b, out)
    return out


def launch_matmul(a: torch.Tensor, b: torch.Tensor, kernel: Literal["naive", "tiled"] = "tiled",
                  tile: int = 16) -> torch.Tensor:
    """``a @ b`` for ``(m, k)`` and ``(k, n)`` float32 matrices, by the naive or the tiled kernel.

    Both launch blocks of ``tile x tile`` threads, one thread per element of the result, on a
    grid of ``ceil(n / tile) x ceil(m / tile)`` blocks (x along the columns).

    Example:
        >>> a = torch.ones(3, 5, device=kernel_device())
        >>> launch_matmul(a, a.T.contiguous(), kernel="naive", tile=2).tolist()
        [[5.0, 5.0, 5.0], [5.0, 5.0, 5.0], [5.0, 5.0, 5.0]]
    """
    if kernel not in ("naive", "tiled"):
        raise ValueError(f"kernel must be 'naive' or 'tiled', got {kernel!r}")
    _check_tile(tile)
    _check_tensor(a, "a", 2)
    _check_tensor(b, "b", 2)
    (m, k), (k_b, n) = a.shape, b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: a is {m}x{k} but b is {k_b}x{n}")
    c = torch.empty((m, n), dtype=torch.float32, device=a.device)
    if c.numel():
        _launch(get_kernel(kernel, tile), launch_config((n, m), (tile, tile)), a, b, c)
    return c


def global_reads(m: int, n: int, k: int, kernel: Literal["naive", "tiled"] = "tiled", tile: int = 16) -> int:
    """Elements of ``a`` and ``b`` read from global memory by one ``(m, k) @ (k, n)`` product.

    Naive: each of the ``m * n`` threads reads a row of ``a`` and a column of ``b``, ``k``
    elements each, so ``2 * m * n * k``.

    Tiled with ``T = tile``: the grid has ``ceil(m / T)`` block rows and ``ceil(n / T)`` block
    columns. Every block of a block row loads, over its ``ceil(k / T)`` phases, the block
    row's whole ``T``-row stripe of ``a``; padding past the edges is written as zeros, not
    read. So each of the ``ceil(n / T)`` block columns reads all ``m * k`` elements of ``a``
    once, and likewise each block row all ``k * n`` of ``b``::

        m * k * ceil(n / T) + k * n * ceil(m / T)

    which is ``2 * m * n * k / T`` when ``T`` divides ``m`` and ``n``: ``T`` times fewer.

    Example:
        >>> global_reads(64, 64, 64, "naive"), global_reads(64, 64, 64, "tiled", tile=16)
        (524288, 32768)
        >>> global_reads(17, 5, 9, "tiled", tile=4)
        531
    """
    for name, value in (("m", m), ("n", n), ("k", k)):
        non_negative_int(value, name)
    if kernel == "naive":
        return 2 * m * n * k
    if kernel == "tiled":
        tile = _check_tile(tile)
        return m * k * -(-n // tile) + k * n * -(-m // tile)
    raise ValueError(f"kernel must be 'naive' or 'tiled', got {kernel!r}")
