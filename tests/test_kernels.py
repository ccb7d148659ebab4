"""The numba-cuda kernels: right answers for awkward shapes, launch arithmetic, clear errors.

Without a GPU they run in numba's CUDA simulator, one Python thread per CUDA thread: sizes stay small.
"""

import itertools
import os
import subprocess
import sys

import pytest
import torch

from dlparallel import kernels

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def _run_clean(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose environment does not choose the simulator."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_backend_is_the_gpu_where_there_is_one_else_the_simulator():
    assert kernels.kernel_backend() == ("cuda" if torch.cuda.is_available() else "simulator")
    assert kernels.kernel_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@NO_GPU
def test_a_fresh_interpreter_picks_the_simulator_and_imports_numba_only_when_needed():
    result = _run_clean(
        "import os, sys, dlparallel\n"
        "from dlparallel import kernels\n"
        "assert 'numba' not in sys.modules, 'importing dlparallel imported numba'\n"
        "print(kernels.kernel_backend(), os.environ['NUMBA_ENABLE_CUDASIM'])\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["simulator", "1"]


@NO_GPU
def test_numba_imported_too_early_without_a_gpu_is_a_clear_error():
    result = _run_clean(
        "import numba\n"
        "from dlparallel import kernels\n"
        "try:\n"
        "    kernels.kernel_backend()\n"
        "except kernels.KernelBackendError as error:\n"
        "    print(error)\n")
    assert result.returncode == 0, result.stderr
    assert "NUMBA_ENABLE_CUDASIM=1 must be set before numba is first imported" in result.stdout
    assert "Restart" in result.stdout


@pytest.mark.parametrize("m, k, n, kernel, tile", [
    (1, 1, 1, "naive", 16),
    (1, 1, 1, "tiled", 4),
    (17, 5, 9, "naive", 4),
    (17, 5, 9, "tiled", 4),
    (17, 5, 9, "tiled", 16),
    (33, 32, 31, "naive", 16),
    (33, 32, 31, "tiled", 16),
    (8, 0, 3, "tiled", 4),
    (0, 4, 3, "naive", 4),
])
def test_matmul_kernels_match_torch(m, k, n, kernel, tile):
    a = torch.randn(m, k, device=kernels.kernel_device())
    b = torch.randn(k, n, device=kernels.kernel_device())
    c = kernels.launch_matmul(a, b, kernel=kernel, tile=tile)
    assert c.shape == (m, n) and c.device == a.device and c.dtype == torch.float32
    torch.testing.assert_close(c, a @ b, rtol=1e-5, atol=1e-5)


def test_matmul_accepts_tensors_that_require_grad():
    a = torch.randn(3, 4, device=kernels.kernel_device(), requires_grad=True)
    b = torch.randn(4, 2, device=kernels.kernel_device())
    torch.testing.assert_close(kernels.launch_matmul(a, b, tile=2), (a @ b).detach())


@pytest.mark.parametrize("n, threads, blocks", [(1000, 128, None), (1000, 64, 3), (5, 32, None), (0, 32, None)])
def test_vector_add_covers_every_element_with_any_grid(n, threads, blocks):
    a = torch.randn(n, device=kernels.kernel_device())
    b = torch.randn(n, device=kernels.kernel_device())
    torch.testing.assert_close(kernels.launch_vector_add(a, b, threads=threads, blocks=blocks), a + b)


def test_compiled_kernels_can_be_launched_by_hand():
    a = torch.arange(12.0, device=kernels.kernel_device()).reshape(3, 4)
    b = torch.ones(4, 2, device=kernels.kernel_device())
    expected = a @ b
    config = kernels.launch_config((2, 3), (2, 2))
    c = torch.zeros(3, 2, device=a.device)
    if kernels.kernel_backend() == "simulator":
        kernels.get_kernel("tiled", tile=2)[config](a.numpy(), b.numpy(), c.numpy())
    else:
        cuda = kernels.cuda
        kernels.get_kernel("tiled", tile=2)[config](*map(cuda.as_cuda_array, (a, b, c)))
        torch.cuda.synchronize()
    torch.testing.assert_close(c, expected)
    with pytest.raises(ValueError, match="unknown kernel 'fast'"):
        kernels.get_kernel("fast")


def test_launch_config_rounds_up_and_keeps_cuda_order():
    assert kernels.launch_config(1000, 256) == ((4,), (256,))
    assert kernels.launch_config(1024, 256).blocks == (4,)
    assert kernels.launch_config((31, 33), (16, 16)) == ((2, 3), (16, 16))
    assert kernels.launch_config((1, 1, 70), (8, 8, 8)).blocks == (1, 1, 9)


@pytest.mark.parametrize("shape, threads, message", [
    (0, 32, "shape"),
    ((4, 4), 2048, "threads"),
    ((4, 4), (32, 64), "at most 1024"),
    ((4, 4), 16, "number of dimensions"),
    ((1, 2, 3, 4), (1, 1, 1, 1), "1 to 3"),
    (4.0, 2, "shape"),
])
def test_launch_config_rejects_bad_arguments(shape, threads, message):
    with pytest.raises(ValueError, match=message):
        kernels.launch_config(shape, threads)


def _bad_inputs():
    device = kernels.kernel_device()
    elsewhere = "meta" if device.type == "cpu" else "cpu"
    good = torch.ones(4, 4, device=device)
    return [
        ((good.tolist(), good), {}, TypeError, "a must be a torch tensor"),
        ((good.double(), good), {}, TypeError, "a must be float32"),
        ((good, torch.ones(4, device=device)), {}, ValueError, "b must be 2-D"),
        ((good, torch.ones(3, 4, device=device)), {}, ValueError, "inner dimensions differ"),
        ((good, good.T), {}, ValueError, "b must be contiguous"),
        ((good, torch.ones(4, 4, device=elsewhere)), {}, ValueError, "b is on"),
        ((good, good), {"kernel": "fast"}, ValueError, "kernel must be"),
        ((good, good), {"tile": 0}, ValueError, "tile must be"),
        ((good, good), {"tile": 33}, ValueError, "tile must be"),
    ]


def test_launch_matmul_rejects_bad_inputs_clearly():
    for args, kwargs, error, message in _bad_inputs():
        with pytest.raises(error, match=message):
            kernels.launch_matmul(*args, **kwargs)


def test_launch_vector_add_rejects_bad_inputs_clearly():
    x = torch.ones(4, device=kernels.kernel_device())
    with pytest.raises(ValueError, match="differ in length"):
        kernels.launch_vector_add(x, torch.ones(5, device=x.device))
    with pytest.raises(ValueError, match="a must be 1-D"):
        kernels.launch_vector_add(x.reshape(2, 2), x)
    with pytest.raises(ValueError, match="blocks"):
        kernels.launch_vector_add(x, x, blocks=0)
    with pytest.raises(ValueError, match="threads"):
        kernels.launch_vector_add(x, x, threads=4096)


def _counted_reads(m: int, n: int, k: int, tile: int) -> int:
    """Global reads of the tiled kernel, thread by thread, phase by phase, as its guards allow."""
    reads = 0
    for block_row, block_col in itertools.product(range(-(-m // tile)), range(-(-n // tile))):
        for phase in range(-(-k // tile)):
            for ty, tx in itertools.product(range(tile), repeat=2):
                row, col, offset = block_row * tile + ty, block_col * tile + tx, phase * tile
                reads += (row < m and offset + tx < k) + (offset + ty < k and col < n)
    return reads


@pytest.mark.parametrize("m, n, k, tile", [(1, 1, 1, 4), (17, 5, 9, 4), (8, 8, 8, 4), (13, 21, 7, 8), (5, 6, 0, 2)])
def test_global_reads_formula_matches_a_brute_force_count(m, n, k, tile):
    assert kernels.global_reads(m, n, k, "tiled", tile) == _counted_reads(m, n, k, tile)
    naive = sum(2 for _ in itertools.product(range(m), range(n), range(k)))
    assert kernels.global_reads(m, n, k, "naive") == naive


def test_tiling_divides_the_reads_by_the_tile():
    assert kernels.global_reads(256, 256, 256, "naive") == 16 * kernels.global_reads(256, 256, 256, "tiled", 16)


@pytest.mark.parametrize("args, message", [
    ((-1, 2, 3), "m must be"),
    ((1, 2.0, 3), "n must be"),
    ((1, 2, True), "k must be"),
    ((1, 2, 3, "blocked"), "kernel must be"),
    ((1, 2, 3, "tiled", 64), "tile must be"),
])
def test_global_reads_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        kernels.global_reads(*args)
