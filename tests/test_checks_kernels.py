"""The kernel helpers of dlparallel.grading.checks that ps3's hidden tests use: a launch spy and a
per-thread trace of kernels run by numba's CUDA simulator (``numba.cuda.simulator.jit`` here, so
that these tests run the same with and without a GPU)."""

import numpy as np
import pytest
import torch

from dlparallel import kernels

# numba is imported the course's way (the simulator chosen first where there is no GPU), so that
# the other tests of this run find it as dlparallel.kernels would have set it up.
kernels.kernel_backend()

from numba import cuda, float32  # noqa: E402
from numba.cuda import simulator  # noqa: E402
from numba.cuda.simulator import kernel as simulated_kernel, kernelapi  # noqa: E402

from dlparallel.grading.checks import LaunchSpy, trace_simulator  # noqa: E402

THREADS = 8


@simulator.jit
def block_sum(x, partial):
    cache = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    cache[t] = x[cuda.grid(1)] if cuda.grid(1) < x.shape[0] else 0.0
    s = THREADS // 2
    while s > 0:
        cuda.syncthreads()
        if t < s:
            cache[t] += cache[t + s]
        s //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@simulator.jit
def block_count(x, partial):
    if cuda.threadIdx.x == 0:
        partial[cuda.blockIdx.x] = -1.0


def test_launch_spy_records_launches_and_runs_the_kernel():
    spy = LaunchSpy(block_sum)
    x, partial = np.arange(12, dtype=np.float32), np.zeros(2, dtype=np.float32)
    spy[2, THREADS](x, partial)
    spy[(1,), (THREADS, 1)](partial, partial[:1])
    assert spy.launches == [((2, 1, 1), (8, 1, 1)), ((1, 1, 1), (8, 1, 1))]
    assert partial.tolist()[0] == 66.0
    spy.check_launches([(2, THREADS), (1, (THREADS, 1, 1))], what="sum")
    with pytest.raises(AssertionError, match=r"sum: launch 2 has \(1, 1, 1\) blocks per grid .* expected \(2, 1, 1\)"):
        spy.check_launches([(2, THREADS), (2, THREADS)], what="sum")
    with pytest.raises(AssertionError, match="must launch the kernel 1 time"):
        spy.check_launches([(2, THREADS)], what="sum")


def test_launch_spy_runs_a_stand_in_or_nothing():
    x, partial = np.arange(12, dtype=np.float32), np.zeros(2, dtype=np.float32)
    LaunchSpy(block_sum, stand_in=block_count)[2, THREADS](x, partial)
    assert partial.tolist() == [-1.0, -1.0]
    spy = LaunchSpy(block_sum, run=False)
    spy[2, THREADS](x, partial)
    assert partial.tolist() == [-1.0, -1.0] and spy.launches == [((2, 1, 1), (8, 1, 1))]
    with pytest.raises(AssertionError, match="must name blocks and threads"):
        spy[2]


def test_trace_sees_each_thread_s_accesses_and_barriers():
    x, partial = np.arange(1, 21, dtype=np.float32), np.full(3, np.nan, dtype=np.float32)
    with trace_simulator() as trace:
        block_sum[3, THREADS](trace.watch(x, "x"), trace.watch(partial, "partial"))
    assert partial.tolist() == [36.0, 100.0, 74.0]
    assert trace.counts("x", "read") == {(i,): 1 for i in range(20)}
    assert trace.counts("partial", "write") == {(0,): 1, (1,): 1, (2,): 1}
    assert trace.shared_arrays == [("shared 0", (THREADS,), np.dtype(np.float32))]
    assert set(trace.barriers.values()) == {3} and len(trace.barriers) == 3 * THREADS
    # between barriers, block 1's writes of shared memory: all 8 threads, then 4, 2, 1
    writes = [a for a in trace.of("shared 0", "write") if a.block == (1, 0, 0)]
    by_round = {}
    for access in writes:
        by_round.setdefault(access.barriers, []).append(access.thread[0])
    assert {r: sorted(t) for r, t in by_round.items()} == {0: list(range(8)), 1: [0, 1, 2, 3], 2: [0, 1], 3: [0]}
    assert all(a.index == (a.thread[0],) for a in writes)


def test_trace_records_slices_as_such_and_restores_the_simulator():
    @simulator.jit
    def copy_by_slice(x, out):
        if cuda.grid(1) == 0:
            out[0] = x[0:4].sum()

    array_before, sync_before = kernelapi.FakeCUDAShared.array, simulated_kernel.BlockThread.syncthreads
    x, out = np.ones(4, dtype=np.float32), np.zeros(1, dtype=np.float32)
    with pytest.raises(ValueError):
        with trace_simulator() as trace:
            copy_by_slice[1, 2](trace.watch(x, "x"), trace.watch(out, "out"))
            raise ValueError("leaving the block by an error")
    assert [a.index[0] for a in trace.of("x", "read")] == ["not one element"]
    assert out.tolist() == [4.0]
    assert kernelapi.FakeCUDAShared.array is array_before
    assert simulated_kernel.BlockThread.syncthreads is sync_before


def test_a_traced_launch_spy_watches_array_and_tensor_arguments():
    x, partial = torch.arange(16, dtype=torch.float32), np.zeros(2, dtype=np.float32)
    with trace_simulator() as trace:
        spy = LaunchSpy(block_sum, trace=trace)
        spy[2, THREADS](x, partial)
        spy[1, THREADS](partial, np.zeros(1, dtype=np.float32))
    assert trace.counts("launch 1 argument 0", "read") == {(i,): 1 for i in range(16)}
    assert trace.counts("launch 1 argument 1", "write") == {(0,): 1, (1,): 1}
    assert trace.counts("launch 2 argument 0", "read") == {(0,): 1, (1,): 1}
    assert partial.tolist() == [28.0, 92.0]
