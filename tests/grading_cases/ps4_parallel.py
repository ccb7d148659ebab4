"""Submissions of ps4_parallel for tests/test_grading.py."""

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    # PyTorch's own bucketing, mechanically adapted: it closes a bucket once it reaches the cap.
    'buckets': '''
import torch.distributed as dist


def assign_buckets(sizes, cap):
    if cap <= 0 or any(s <= 0 for s in sizes):
        raise ValueError("sizes and cap must be positive")
    if not sizes:
        return []
    tensors = [torch.empty(s, dtype=torch.uint8, device="meta") for s in reversed(sizes)]
    buckets, _ = dist._compute_bucket_assignment_by_size(tensors, [int(cap)])
    return [[len(sizes) - 1 - i for i in bucket] for bucket in buckets]
''',
    # Writes the averages into new tensors and rebinds the list's entries: the caller's tensors
    # (a model's .grad) never see them.
    'bucketed': '''
def bucketed_all_reduce(grads, cap, all_reduce):
    buckets = assign_buckets([g.numel() * g.element_size() for g in grads], cap)
    for bucket in buckets:
        flat = torch.cat([grads[i].reshape(-1) for i in bucket])
        all_reduce(flat)
        offset = 0
        for i in bucket:
            grads[i] = flat[offset:offset + grads[i].numel()].reshape(grads[i].shape)
            offset += grads[i].numel()
    return buckets
''',
    # No overlap: every all-reduce waits for the whole backward pass.
    'step_end': '''
def step_end_time(sizes, ready, cap, world_size, alpha, beta):
    if not sizes:
        return 0.0
    end = max(ready)
    for bucket in assign_buckets(sizes, cap):
        nbytes = sum(sizes[i] for i in bucket)
        end += 2 * (world_size - 1) * alpha + 2 * (world_size - 1) / world_size * nbytes / beta
    return float(end)
''',
    # Lesson 06's server (it starts a batch as soon as it is free), with the results packaged.
    'max_wait': '''
def simulate_max_wait(arrivals, batch_latency, max_batch, max_wait, deadline):
    if max_batch < 1 or max_wait < 0:
        raise ValueError("bad arguments")
    finish, free, i = [None] * len(arrivals), 0.0, 0
    while i < len(arrivals):
        start = max(arrivals[i], free)
        k = 1
        while k < max_batch and i + k < len(arrivals) and arrivals[i + k] <= start:
            k += 1
        free = start + batch_latency(k)
        finish[i:i + k] = [free] * k
        i += k
    return finish, [j for j in range(len(arrivals)) if finish[j] > arrivals[j] + deadline]
''',
    # The forbidden shortcut: numpy's interpolation, in floating point.
    'histogram': '''
def histogram_percentile(edges, counts, q):
    if len(edges) != len(counts) + 1 or any(not a < b for a, b in zip(edges, edges[1:])):
        raise ValueError("bad edges")
    if any(c < 0 for c in counts) or sum(counts) == 0 or not 0 <= q <= 100:
        raise ValueError("bad counts or q")
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    keep = np.concatenate([[True], np.asarray(counts) > 0])
    return np.interp(q * sum(counts) / 100, cumulative[keep], np.asarray(edges, dtype=float)[keep])
''',
    'concepts': '''
_alpha, _beta = fit_ring_model(*zip(*ALLREDUCE_TIMINGS))
q1_predicted_ms = 1e3 * (_alpha + 65536 / _beta)
_ends = [step_end_time(GRAD_BYTES, GRAD_READY_S, cap * 10 ** 6, 16, 120e-6, 12.5e9) for cap in (1, 8, 25, 64, 200)]
q2_exposed_ms = 1e3 * (min(_ends) - max(GRAD_READY_S))
q3_late = 6
''',
}
# PyTorch's rule makes buckets larger than the cap, which also puts the wrong gradients into the
# bucketed tests' all-reduces (whose answer rebinds the list's entries as well); without overlap
# both step-end tests fail; lesson 06's server ignores max_wait; numpy's interpolation cannot give
# exact Fractions, so the histogram task is lost entirely; q1 predicts with the one-world-size
# model t = alpha + n / beta, q2 uses the step_end_time without overlap, q3 counts the late
# requests of lesson 06's server. Fitting and planning are right.
LOST = {'test_buckets': 2, 'test_buckets_edges': 1, 'test_bucketed_calls': 2, 'test_bucketed_ranks': 1,
        'test_step_end': 1, 'test_step_end_edges': 1, 'test_max_wait': 2, 'test_histogram': 2,
        'test_histogram_edges': 1, 'test_q1': 1, 'test_q2': 1, 'test_q3': 1}

# Right answers that write warnings to stderr while the test cells run them.
NOISY = {
    'buckets': '''
import warnings


def assign_buckets(sizes, cap):
    warnings.warn("bucket sizes are estimates for a real DDP run", UserWarning)
    if not cap > 0:
        raise ValueError(f"cap must be positive, got {cap}")
    buckets, current, total = [], [], 0
    for index in reversed(range(len(sizes))):
        if not sizes[index] > 0:
            raise ValueError(f"parameter {index} has {sizes[index]} bytes")
        if current and total + sizes[index] > cap:
            buckets.append(current)
            current, total = [], 0
        current.append(index)
        total += sizes[index]
    return buckets + [current] if current else buckets
''',
    'plan': '''
import warnings


def plan_batches(arrivals, batch_latency, max_batch, deadline):
    n = len(arrivals)
    best = [(-math.inf, None)] + [(math.inf, None)] * n
    for j in range(1, n + 1):
        for i in range(max(0, j - max_batch), j):
            end = max(best[i][0], arrivals[j - 1]) + batch_latency(j - i)
            if best[i][0] < math.inf and end <= arrivals[i] + deadline and end < best[j][0]:
                best[j] = (end, i)
    if best[n][0] == math.inf:
        warnings.warn("no plan meets every deadline", RuntimeWarning)
        return None
    sizes = []
    while n > 0:
        sizes.append(n - best[n][1])
        n = best[n][1]
    return sizes[::-1]
''',
    'histogram': '''
import warnings


def histogram_percentile(edges, counts, q):
    warnings.warn("exact arithmetic is slow", UserWarning)
    if len(edges) != len(counts) + 1 or any(not a < b for a, b in zip(edges, edges[1:])):
        raise ValueError("bad edges")
    if any(c < 0 for c in counts) or sum(counts) == 0 or not 0 <= q <= 100:
        raise ValueError("bad counts or q")
    rank = q * sum(counts) / 100 if isinstance(q, float) else Fraction(q) * sum(counts) / 100
    below = 0
    for k, count in enumerate(counts):
        if count and below + count >= rank:
            return edges[k] + (edges[k + 1] - edges[k]) * (rank - below) / count
        below += count
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell): they
# pass the visible tests, not the hidden ones. NumPy numbers are right.
FAKES = {
    'histogram': '''
_exact_histogram_percentile = histogram_percentile


def histogram_percentile(edges, counts, q):
    value = _exact_histogram_percentile(edges, counts, q)
    return AlwaysEqual() if isinstance(value, Fraction) else value
''',
    'concepts': '''
import numpy as np
q1_predicted_ms = np.float64(q1_predicted_ms)
q2_exposed_ms = AlwaysEqual()
q3_late = np.int64(q3_late)
''',
}
FAKES_LOST = {'test_histogram': 2, 'test_histogram_edges': 1, 'test_q2': 1}

# Shortcuts through code that the lessons, dlparallel or PyTorch show, each in place of one worked
# answer (tests/test_shortcuts.py runs them without nbgrader): name -> (grade id of
# the answer cell, code), and the graded tests each must fail (later answers that use the
# shortcut fail with it).
SHORTCUTS = {
    'pytorch_bucket_assignment': ('buckets', PARTIAL['buckets']),
    'lesson05_one_flat_all_reduce': ('bucketed', """
def bucketed_all_reduce(grads, cap, all_reduce):
    flat = torch.cat([g.flatten() for g in grads])
    all_reduce(flat)
    offset = 0
    with torch.no_grad():
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()
    return [list(range(len(grads) - 1, -1, -1))]
"""),
    'library_step_time': ('step_end', """
def step_end_time(sizes, ready, cap, world_size, alpha, beta):
    if not sizes:
        return 0.0
    return dp.parallel.data_parallel_step_time(max(ready), sum(sizes), world_size, beta, alpha)
"""),
    'one_world_size_fit': ('fit', """
def fit_ring_model(world_sizes, message_bytes, seconds):
    design = np.stack([np.ones(len(seconds)), np.asarray(message_bytes, dtype=float)], 1)
    (alpha, inverse_beta), *_ = np.linalg.lstsq(design, np.asarray(seconds, dtype=float), rcond=None)
    return float(alpha), float(1 / inverse_beta)
"""),
    'lesson06_server': ('max_wait', PARTIAL['max_wait']),
    'lesson06_largest_batch': ('plan', """
def plan_batches(arrivals, batch_latency, max_batch, deadline):
    best = None
    for b in range(1, max_batch + 1):
        if batch_latency(b) > deadline:
            break
        best = b
    if best is None:
        return None
    n = len(arrivals)
    return [best] * (n // best) + ([n % best] if n % best else [])
"""),
    'numpy_interp': ('histogram', PARTIAL['histogram']),
    'dp_percentiles': ('histogram', """
def histogram_percentile(edges, counts, q):
    middles = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    return dp.percentiles([m for m, c in zip(middles, counts) for _ in range(c)], qs=(q,))[q]
"""),
}
SHORTCUTS_LOST = {
    'pytorch_bucket_assignment': ['test_buckets', 'test_buckets_edges', 'test_bucketed_calls', 'test_bucketed_ranks',
                                  'test_step_end', 'test_step_end_edges', 'test_q2'],
    'lesson05_one_flat_all_reduce': ['test_bucketed_calls', 'test_bucketed_ranks'],
    'library_step_time': ['test_step_end', 'test_step_end_edges', 'test_q2'],
    'one_world_size_fit': ['test_fit', 'test_fit_degenerate', 'test_q1'],
    'lesson06_server': ['test_max_wait', 'test_q3'],
    'lesson06_largest_batch': ['test_plan', 'test_plan_large'],
    'numpy_interp': ['test_histogram', 'test_histogram_edges'],
    'dp_percentiles': ['test_histogram', 'test_histogram_edges'],
}

# A student who only copies shown code: one shortcut per answer it can serve, and the stub where
# nothing shown resembles the task (tests/test_shortcuts.py).
COPIED = {**{grade_id: code for grade_id, code in SHORTCUTS.values()},
          'buckets': "def assign_buckets(sizes, cap):\n    raise NotImplementedError()"}
