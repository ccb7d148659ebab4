"""Submissions of ps3_gpu_kernels for tests/test_grading.py."""

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    'reduce': '''
@cuda.jit
def block_sum_kernel(x, partial):
    cache = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    acc = float32(0.0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    cache[t] = acc
    cuda.syncthreads()
    s = 1
    while s < THREADS:
        if t % (2 * s) == 0:
            cache[t] += cache[t + s]
        cuda.syncthreads()
        s *= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


def reduce_sum(x, blocks=None):
    n = x.shape[0]
    if blocks is None:
        blocks = (n + THREADS - 1) // THREADS
    partial = np.empty(blocks, dtype=np.float32)
    block_sum_kernel[blocks, THREADS](x.numpy(), partial)
    return float(partial.sum())
''',
    'transpose': '''
@cuda.jit
def transpose_kernel(a, out):
    col, row = cuda.grid(2)
    if row < a.shape[0] and col < a.shape[1]:
        out[col, row] = a[row, col]


def transpose(a):
    m, n = a.shape
    out = np.empty((n, m), dtype=np.float32)
    transpose_kernel[((n + TILE - 1) // TILE, (m + TILE - 1) // TILE), (TILE, TILE)](a.numpy(), out)
    return a.T.contiguous()
''',
    'sectors': '''
def warp_sectors(addresses, size=4):
    return len({a // 32 for a in addresses if a is not None})


def load_efficiency(addresses, size=4):
    active = [a for a in addresses if a is not None]
    return len(active) * size / (32 * warp_sectors(addresses, size))
''',
    'concepts': '''q1_warps = 7
q2_occupancy = 0.75
q3_occupancy = 0.3125
q4_sectors = 512
q5_interleaved = 47
q6_sequential = 12''',
}
# The tree is the interleaved one (right sums, divergent warps); reduce_sum adds the partial sums
# with NumPy after one launch; the transpose kernel is the naive one (right values, uncoalesced
# writes, no shared memory) and its launcher returns PyTorch's transpose (the forbidden
# shortcut: it loses the launcher's point although the values are right); warp_sectors forgets that an access can straddle two sectors and
# load_efficiency counts a broadcast's bytes once per thread; q1 rounds the warps down, q4 counts
# the tiled transpose's sectors.
LOST = {'test_block_sum_tree': 2, 'test_reduce_sum': 2, 'test_transpose_coalesced': 2, 'test_transpose_launcher': 1,
        'test_warp_sectors_edges': 1, 'test_load_efficiency': 1, 'test_q1': 1, 'test_q4': 1}

# Right answers that write warnings to stderr while the test cells run them.
NOISY = {
    'sectors': '''
import warnings


def warp_sectors(addresses, size=4):
    warnings.warn("warp_sectors assumes sectors of 32 bytes", UserWarning)
    spans = [np.arange(a, a + size) // 32 for a in addresses if a is not None]
    return len(np.unique(np.concatenate(spans))) if spans else 0


def load_efficiency(addresses, size=4):
    wanted = {byte for a in addresses if a is not None for byte in range(a, a + size)}
    return np.float64(len(wanted)) / (32 * warp_sectors(addresses, size))
''',
    'transpose': '''
import warnings

from numba.core.errors import NumbaPerformanceWarning


@cuda.jit
def transpose_kernel(a, out):
    tile = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x, cuda.blockIdx.y
    if by * TILE + ty < a.shape[0] and bx * TILE + tx < a.shape[1]:
        tile[ty, tx] = a[by * TILE + ty, bx * TILE + tx]
    cuda.syncthreads()
    if bx * TILE + ty < out.shape[0] and by * TILE + tx < out.shape[1]:
        out[bx * TILE + ty, by * TILE + tx] = tile[tx, ty]


def transpose(a):
    m, n = a.shape
    grid = (-(-n // TILE), -(-m // TILE))
    if grid[0] * grid[1] < 4:  # what numba says on a GPU about a tiny grid
        warnings.warn(NumbaPerformanceWarning(f"Grid size {grid[0] * grid[1]} will likely result in GPU "
                                              "under-utilization due to low occupancy."))
    out = np.empty((n, m), dtype=np.float32)
    transpose_kernel[grid, (TILE, TILE)](a.numpy(), out)
    return torch.from_numpy(out)
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell): they
# pass the visible tests, not the hidden ones. reduce_sum still launches its kernel twice but
# returns what NumPy computed (the forbidden shortcut: it loses all the launcher's points).
# Counts as a float or a NumPy integer are right.
FAKES = {
    'reduce': '''
_reduce_sum = reduce_sum


def reduce_sum(x, blocks=None):
    _reduce_sum(x, blocks)
    return float(np.sum(x.numpy(), dtype=np.float64))
''',
    'sectors': '''
_warp_sectors = warp_sectors


def warp_sectors(addresses, size=4):
    return float(_warp_sectors(addresses, size))
''',
    'concepts': '''
q1_warps = np.int64(8)
q5_interleaved = AlwaysEqual()
''',
}
FAKES_LOST = {'test_reduce_sum': 2, 'test_q5': 1}
