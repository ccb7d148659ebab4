"""Submissions of ps3_gpu_kernels for tests/test_grading.py."""

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    'saxpy': '''
def blocks_for(n, threads_per_block):
    return (n + threads_per_block - 1) // threads_per_block


@cuda.jit
def saxpy_kernel(a, x, y, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = a * x[i] + y[i]


def saxpy(a, x, y, threads_per_block=32, blocks=None):
    if blocks is None:
        blocks = blocks_for(len(x), threads_per_block)
    out = np.zeros(len(x), dtype=np.float32)
    saxpy_kernel[blocks, threads_per_block](a, x.numpy(), y.numpy(), out)
    return torch.from_numpy(out)
''',
    'naive': '''
@cuda.jit
def matmul_naive_kernel(a, b, c):
    row, col = cuda.grid(2)
    if row < c.shape[0] and col < c.shape[1]:
        total = 0.0
        for i in range(a.shape[1]):
            total += a[row, i] * b[i, col]
        c[row, col] = total


def matmul_naive(a, b, block=8):
    m, n = a.shape[0], b.shape[1]
    c = np.zeros((m, n), dtype=np.float32)
    matmul_naive_kernel[(blocks_for(n, block), blocks_for(m, block)), (block, block)](a.numpy(), b.numpy(), c)
    return torch.from_numpy(c)
''',
    'tiled': '''
@cuda.jit
def matmul_tiled_kernel(a, b, c):
    sa = cuda.shared.array((TILE, TILE), float32)
    sb = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row, col = cuda.blockIdx.y * TILE + ty, cuda.blockIdx.x * TILE + tx
    total = float32(0.0)
    for p in range((a.shape[1] + TILE - 1) // TILE):
        if row < a.shape[0] and p * TILE + tx < a.shape[1]:
            sa[ty, tx] = a[row, p * TILE + tx]
        if p * TILE + ty < b.shape[0] and col < b.shape[1]:
            sb[ty, tx] = b[p * TILE + ty, col]
        cuda.syncthreads()
        for i in range(TILE):
            total += sa[ty, i] * sb[i, tx]
        cuda.syncthreads()
    if row < c.shape[0] and col < c.shape[1]:
        c[row, col] = total


def matmul_tiled(a, b):
    m, n = a.shape[0], b.shape[1]
    c = np.zeros((m, n), dtype=np.float32)
    matmul_tiled_kernel[(blocks_for(n, TILE), blocks_for(m, TILE)), (TILE, TILE)](a.numpy(), b.numpy(), c)
    return torch.from_numpy(c)
''',
    'reads': '''
def global_reads_naive(m, n, k):
    return 2 * m * n * k


def global_reads_tiled(m, n, k, tile):
    return 2 * m * n * k // tile
''',
    'concepts': '''q1_warps = 4
q2_answer = "a"
q3_answer = "b"
q4_occupancy = 1.0''',
}
# The SAXPY kernel has no grid-stride loop (a grid smaller than n leaves elements unwritten); the
# naive kernel takes row from x, so wider-than-tall grids miss columns; the tiled kernel never stores
# zeros past the edges, so stale tiles from the previous phase leak into the sums; the tiled read
# count is only right when the tile divides m and n; q1 rounds the warps down, q4 ignores the
# shared-memory limit.
LOST = {'test_saxpy_kernel': 2, 'test_naive_matmul': 2, 'test_naive_kernel_bounds': 1,
        'test_tiled_any_shape': 2, 'test_reads_tiled': 2, 'test_q1': 1, 'test_q4': 1}

# Right answers that write warnings to stderr while the test cells run them.
NOISY = {
    'saxpy': '''
import warnings


def blocks_for(n, threads_per_block):
    return -(-n // threads_per_block)


@cuda.jit
def saxpy_kernel(a, x, y, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = a * x[i] + y[i]


def saxpy(a, x, y, threads_per_block=32, blocks=None):
    warnings.warn("saxpy copies its inputs to NumPy arrays", UserWarning)
    out = np.empty(len(x), dtype=np.float32)
    saxpy_kernel[blocks or blocks_for(len(x), threads_per_block), threads_per_block](a, x.numpy(), y.numpy(), out)
    return torch.tensor(torch.from_numpy(out))  # PyTorch warns: copy-construct from a tensor with clone().detach()
''',
    'naive': '''
import warnings

from numba.core.errors import NumbaPerformanceWarning


@cuda.jit
def matmul_naive_kernel(a, b, c):
    col, row = cuda.grid(2)
    if row < c.shape[0] and col < c.shape[1]:
        total = float32(0.0)
        for i in range(a.shape[1]):
            total += a[row, i] * b[i, col]
        c[row, col] = total


def matmul_naive(a, b, block=8):
    m, n = a.shape[0], b.shape[1]
    grid = (blocks_for(n, block), blocks_for(m, block))
    if grid[0] * grid[1] < 4:  # what numba says on a GPU about a tiny grid
        warnings.warn(NumbaPerformanceWarning(f"Grid size {grid[0] * grid[1]} will likely result in GPU "
                                              "under-utilization due to low occupancy."))
    c = np.empty((m, n), dtype=np.float32)
    matmul_naive_kernel[grid, (block, block)](a.numpy(), b.numpy(), c)
    return torch.from_numpy(c)
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell): they
# pass the visible tests, not the hidden ones. Counts as a NumPy integer or a float are right.
FAKES = {
    'reads': '''
_naive = global_reads_naive


def global_reads_naive(m, n, k):
    return float(_naive(m, n, k))
''',
    'concepts': '''
q1_warps = np.int64(5)
q2_answer = AlwaysEqual()
''',
}
FAKES_LOST = {'test_q2': 1}
