"""Submissions of ps2_matmul for tests/test_grading.py."""

# A right im2col (shared by the answers below that keep it).
IM2COL = '''
def _pair(value, name, smallest):
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < smallest for v in pair):
        raise ValueError(f"bad {name}: {value!r}")
    return pair


def im2col(x, kernel_size, stride=1, padding=0):
    if x.dim() != 4:
        raise ValueError("x must be 4-D")
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size, "kernel", 1), _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    n, c, h, w = x.shape
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError("kernel larger than the padded input")
    padded = F.pad(x, (pw, pw, ph, ph))
    windows = padded.unfold(2, kh, sh).unfold(3, kw, sw)          # (n, c, h_out, w_out, kh, kw)
    h_out, w_out = windows.shape[2], windows.shape[3]
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(n * h_out * w_out, c * kh * kw)
'''

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    'conv': IM2COL + '''

def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
    if weight.dim() != 4 or x.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError("shapes do not fit")
    return F.conv2d(x, weight, bias, stride, padding)          # the forbidden shortcut
''',
    'traffic': '''
def blocked_traffic(m, n, k, tile, bytes_per_element=4):
    return (m * k * -(-n // tile) + k * n * -(-m // tile) + m * n) * bytes_per_element


def best_tile(m, n, k, cache_bytes, bytes_per_element=4):
    largest = math.isqrt(cache_bytes // (3 * bytes_per_element))
    if largest < 1:
        raise ValueError("no tile fits")
    return min(range(1, largest + 1), key=lambda t: (blocked_traffic(m, n, k, t, bytes_per_element), t))
''',
    'conv_cost': '''
def conv2d_cost(N, C_in, H, W, C_out, kernel_size, stride=1, padding=0, groups=1, bytes_per_element=4):
    if N < 0 or padding < 0 or min(C_in, H, W, C_out, kernel_size, stride, groups, bytes_per_element) < 1:
        raise ValueError("bad sizes")
    if C_in % groups or C_out % groups or kernel_size > min(H, W) + 2 * padding:
        raise ValueError("bad groups or kernel")
    h_out = (H + 2 * padding - kernel_size) // stride + 1
    w_out = (W + 2 * padding - kernel_size) // stride + 1
    flops = 2 * N * C_out * h_out * w_out * (C_in // groups) * kernel_size ** 2
    weights = C_out * C_in * kernel_size ** 2
    return flops, (N * C_in * H * W + weights + N * C_out * h_out * w_out) * bytes_per_element
''',
    'predictions': '''
def roofline(flops, bytes_):
    seconds = max(flops / PEAK_FLOPS, bytes_ / BANDWIDTH)
    return seconds, "memory" if bytes_ / BANDWIDTH > flops / PEAK_FLOPS else "compute"


conv_seconds, conv_bound = roofline(*conv2d_cost(32, 128, 28, 28, 128, 3, 1, 1, 1, BF16))
depthwise_seconds, depthwise_bound = roofline(*conv2d_cost(32, 128, 28, 28, 128, 3, 1, 1, 128, BF16))
heads, length, dim = 8 * 16, 2048, 64
scores_seconds, scores_bound = roofline(2 * heads * length * length * dim,
                                        (2 * heads * length * dim + heads * length * length) * 4)
tokens, width = 8 * 2048, 4096
layernorm_seconds, layernorm_bound = roofline(8 * tokens * width, (2 * tokens * width + 2 * width) * BF16)
''',
    'amdahl': '''
def fit_amdahl(workers, seconds):
    if len(workers) != len(seconds) or len(set(workers)) < 2:
        raise ValueError("need two distinct worker counts")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in workers) or min(seconds) <= 0:
        raise ValueError("bad measurements")
    (n1, t1), (n2, t2) = (workers[0], seconds[0]), (workers[-1], seconds[-1])
    if n1 == n2:
        n2, t2 = next((n, t) for n, t in zip(workers, seconds) if n != n1)
    parallel = (t1 - t2) / (1 / n1 - 1 / n2)
    serial = t1 - parallel / n1
    if serial + parallel <= 0:
        raise ValueError("no positive one-worker time")
    return serial / (serial + parallel), serial + parallel


def scaled_speedup(serial_seconds, parallel_seconds, workers):
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError("bad workers")
    if serial_seconds < 0 or parallel_seconds < 0 or serial_seconds + parallel_seconds == 0:
        raise ValueError("bad times")
    s = serial_seconds / (serial_seconds + parallel_seconds)
    return 1 / (s + (1 - s) / workers)
''',
    'concepts': '''
q1_ratio = 9
q2_seconds = 67.5
q3_speedup = 250.9
q4_intensity = 125
''',
}
# conv2d_im2col calls F.conv2d, the forbidden shortcut: all three of its tests score 0, while its
# own im2col (built on Tensor.unfold, which is allowed) keeps its points. blocked_traffic checks
# nothing (tile 0 divides by zero); best_tile returns the right tile (it keeps all tiles that fit).
# conv2d_cost counts the weights of an ungrouped convolution whatever the groups (so the depthwise
# prediction built on it is wrong too); the attention
# scores are counted in float32; fit_amdahl draws the line through two points (right only for
# exact data); scaled_speedup is Amdahl's speedup; q1 forgets the stride and q4 gives the ridge.
LOST = {'test_conv2d': 2, 'test_conv2d_edges': 1, 'test_conv2d_products': 1,
        'test_blocked_traffic_edges': 1, 'test_conv2d_cost_groups': 1, 'test_conv_predictions': 1,
        'test_attention_layernorm_predictions': 1, 'test_fit_amdahl_noisy': 1, 'test_scaled_speedup': 1,
        'test_q1': 1, 'test_q4': 1}

# Other shortcuts and wrong products, each with the tests it must fail (graded one by one in
# tests/test_ps2_matmul_answers.py, not through nbgrader): answer cell -> (code, failing tests).
SHORTCUTS = {
    'unfold': ('conv', '''
def im2col(x, kernel_size, stride=1, padding=0):
    cols = F.unfold(x, kernel_size, padding=padding, stride=stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
    c_out, c_in, kh, kw = weight.shape
    n, _, h, w = x.shape
    s, p = (stride, stride) if isinstance(stride, int) else stride, (padding, padding) if isinstance(padding, int) else padding
    h_out, w_out = (h + 2 * p[0] - kh) // s[0] + 1, (w + 2 * p[1] - kw) // s[1] + 1
    out = im2col(x, (kh, kw), stride, padding) @ weight.reshape(c_out, -1).T
    out = out if bias is None else out + bias
    return out.reshape(n, h_out, w_out, c_out).permute(0, 3, 1, 2)
'''),
    'broadcast': ('conv', IM2COL + '''

def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
    c_out, c_in, kh, kw = weight.shape
    if x.dim() != 4 or x.shape[1] != c_in or (bias is not None and tuple(bias.shape) != (c_out,)):
        raise ValueError("shapes do not fit")
    cols = im2col(x, (kh, kw), stride, padding)
    n, _, h, w = x.shape
    s, p = (stride, stride) if isinstance(stride, int) else stride, (padding, padding) if isinstance(padding, int) else padding
    h_out, w_out = (h + 2 * p[0] - kh) // s[0] + 1, (w + 2 * p[1] - kw) // s[1] + 1
    out = (cols[:, None, :] * weight.reshape(c_out, -1)[None]).sum(-1)     # every product by broadcasting
    out = out if bias is None else out + bias
    return out.reshape(n, h_out, w_out, c_out).permute(0, 3, 1, 2)
'''),
    'count_flops': ('conv_cost', '''
def conv2d_cost(N, C_in, H, W, C_out, kernel_size, stride=1, padding=0, groups=1, bytes_per_element=4):
    layer = torch.nn.Conv2d(C_in, C_out, kernel_size, stride, padding, groups=groups, bias=False, device="meta")
    x = torch.empty(N, C_in, H, W, device="meta")
    flops = dp.count_flops(layer, x)
    h_out = (H + 2 * padding - kernel_size) // stride + 1
    w_out = (W + 2 * padding - kernel_size) // stride + 1
    elements = N * C_in * H * W + layer.weight.numel() + N * C_out * h_out * w_out
    return flops, elements * bytes_per_element
'''),
}
SHORTCUTS_LOST = {
    'unfold': ['test_im2col', 'test_im2col_edges', 'test_conv2d', 'test_conv2d_edges', 'test_conv2d_products'],
    'broadcast': ['test_conv2d_products'],
    'count_flops': ['test_conv2d_cost', 'test_conv2d_cost_groups'],
}

# Right answers that write warnings to stderr while the test cells run them.
NOISY = {
    'conv': IM2COL + '''
import warnings


def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
    if x.dim() != 4 or weight.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError("shapes do not fit")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError("bias shape")
    warnings.warn("conv2d_im2col builds the whole im2col matrix in memory", UserWarning)
    c_out, c_in, kh, kw = weight.shape
    cols = im2col(x, (kh, kw), stride, padding)
    (sh, sw), (ph, pw) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    h_out, w_out = (x.shape[2] + 2 * ph - kh) // sh + 1, (x.shape[3] + 2 * pw - kw) // sw + 1
    out = cols @ weight.reshape(c_out, -1).T
    out = out if bias is None else out + bias
    return out.reshape(x.shape[0], h_out, w_out, c_out).permute(0, 3, 1, 2)
''',
    'amdahl': '''
import warnings
import numpy as np


def fit_amdahl(workers, seconds):
    if len(workers) != len(seconds) or len(set(workers)) < 2:
        raise ValueError("need two distinct worker counts")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in workers) or min(seconds) <= 0:
        raise ValueError("bad measurements")
    warnings.warn("fit_amdahl: a least-squares fit is only as good as the measurements", RuntimeWarning)
    serial, parallel = np.polyfit([1 / n for n in workers], seconds, 1)[::-1]
    if not serial + parallel > 0:
        raise ValueError("no positive one-worker time")
    return serial / (serial + parallel), serial + parallel


def scaled_speedup(serial_seconds, parallel_seconds, workers):
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError("bad workers")
    if serial_seconds < 0 or parallel_seconds < 0 or serial_seconds + parallel_seconds == 0:
        raise ValueError("bad times")
    return (serial_seconds + workers * parallel_seconds) / (serial_seconds + parallel_seconds)
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell): they
# pass the visible tests, not the hidden ones. Counts as NumPy integers or floats are right.
FAKES = {
    'conv': '''
class LooksRight(torch.Tensor):
    """A tensor subclass that could carry its own comparisons."""


_conv = conv2d_im2col


def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
    return _conv(x, weight, bias, stride, padding).as_subclass(LooksRight)
''',
    'traffic': '''
import numpy as np
_traffic = blocked_traffic


def blocked_traffic(m, n, k, tile, bytes_per_element=4):
    return np.int64(_traffic(m, n, k, tile, bytes_per_element))
''',
    'conv_cost': '''
import numpy as np
_cost = conv2d_cost


def conv2d_cost(*args, **kwargs):
    flops, bytes_ = _cost(*args, **kwargs)
    return float(flops), np.int64(bytes_)
''',
    'predictions': '''
class Agreeable(str):
    """A string that says it equals anything."""
    __eq__ = lambda self, other: True
    __hash__ = str.__hash__


conv_bound = Agreeable(conv_bound)
''',
    'concepts': '''
q1_ratio = AlwaysEqual()
''',
}
FAKES_LOST = {'test_conv2d': 2, 'test_conv2d_edges': 1, 'test_conv_predictions': 1, 'test_q1': 1}
