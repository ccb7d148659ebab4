"""Submissions of ps2_matmul for tests/test_grading.py."""

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    'counting': '''
def matmul_flops(m, n, k):
    return 2 * m * n * k


def matmul_bytes(m, n, k, bytes_per_element=4):
    return (m * k + k * n) * bytes_per_element


def matmul_intensity(m, n, k, bytes_per_element=4):
    return matmul_flops(m, n, k) / matmul_bytes(m, n, k, bytes_per_element)
''',
    'tiled': '''
def tiled_matmul(A, B, tile=16):
    m, k = A.shape
    n = B.shape[1]
    C = torch.zeros(m, n)
    for i in range(m // tile):
        for j in range(n // tile):
            for p in range(k // tile):
                rows, cols, inner = slice(i * tile, (i + 1) * tile), slice(j * tile, (j + 1) * tile), slice(p * tile, (p + 1) * tile)
                C[rows, cols] += A[rows, inner] @ B[inner, cols]
    return C
''',
    'roofline': '''
def roofline_time(flops, bytes_, peak_flops, bandwidth):
    return flops / peak_flops + bytes_ / bandwidth


def bound(flops, bytes_, peak_flops, bandwidth):
    return "memory" if bytes_ / bandwidth > flops / peak_flops else "compute"
''',
    'amdahl': '''
def amdahl_speedup(serial_fraction, workers):
    if not 0 <= serial_fraction <= 1 or workers < 1:
        raise ValueError("serial_fraction must lie in [0, 1] and workers must be at least 1")
    return 1 / (serial_fraction + (1 - serial_fraction) / workers)


def serial_fraction_from_speedup(speedup, workers):
    return 1 / speedup - 1 / workers
''',
    'concepts': '''q1_answer = "a"
q2_speedup = 20
q3_answer = "d"
q4_answer = "b"''',
}
# matmul_bytes forgets to write C (and the intensity built on it is wrong too); the tiled product
# drops the border tiles, accumulates in float32 whatever the inputs and checks nothing; the roofline
# adds the two times instead of taking the larger (so the predicted times are off); the inverse of
# Amdahl's law forgets to divide by 1 - 1/n and checks nothing; q1 and q3 wrong.
LOST = {'test_matmul_bytes': 1, 'test_matmul_intensity': 1,
        'test_tiled_any_shape': 2, 'test_tiled_dtypes': 1, 'test_tiled_validation': 1,
        'test_roofline_time': 1, 'test_predictions': 1,
        'test_serial_fraction': 1, 'test_serial_fraction_validation': 1,
        'test_q1': 1, 'test_q3': 1}

# Right answers that write warnings to stderr while the test cells run them.
NOISY = {
    'counting': '''
import warnings


def matmul_flops(m, n, k):
    warnings.warn("matmul_flops counts a multiply-add as two FLOPs", UserWarning)
    return 2 * m * n * k


def matmul_bytes(m, n, k, bytes_per_element=4):
    return (m * k + k * n + m * n) * bytes_per_element


def matmul_intensity(m, n, k, bytes_per_element=4):
    return matmul_flops(m, n, k) / matmul_bytes(m, n, k, bytes_per_element)
''',
    'tiled': '''
import warnings


def tiled_matmul(A, B, tile=16):
    if A.dim() != 2 or B.dim() != 2 or A.shape[1] != B.shape[0]:
        raise ValueError("A and B must be 2-D matrices with matching inner sizes")
    if type(tile) is not int or tile < 1:
        raise ValueError("tile must be a positive integer")
    warnings.warn("tiled_matmul is a teaching implementation, slower than torch.matmul", UserWarning)
    A = torch.tensor(A)  # PyTorch warns: copy-construct from a tensor with clone().detach()
    m, k = A.shape
    n = B.shape[1]
    C = torch.zeros(m, n, dtype=A.dtype)
    for i in range(0, m, tile):
        for j in range(0, n, tile):
            for p in range(0, k, tile):
                C[i:i + tile, j:j + tile] += A[i:i + tile, p:p + tile] @ B[p:p + tile, j:j + tile]
    return C
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell): they
# pass the visible tests, not the hidden ones. Counts as a float or a NumPy integer are right.
FAKES = {
    'counting': '''
import numpy as np
_flops, _bytes = matmul_flops, matmul_bytes


def matmul_flops(m, n, k):
    return float(_flops(m, n, k))


def matmul_bytes(m, n, k, bytes_per_element=4):
    return np.int64(_bytes(m, n, k, bytes_per_element))
''',
    'roofline': '''
class Agreeable(str):
    """A string that says it equals anything."""
    __eq__ = lambda self, other: True
    __hash__ = str.__hash__


_bound = bound


def bound(flops, bytes_, peak_flops, bandwidth):
    return Agreeable(_bound(flops, bytes_, peak_flops, bandwidth))
''',
}
FAKES_LOST = {'test_bound': 1, 'test_predictions': 1}
