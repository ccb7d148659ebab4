"""Submissions of ps5_model_parallel for tests/test_grading.py."""

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    # Stage 2 treated like stage 1: the gradients are left whole.
    'rank_bytes': '''
def rank_bytes(units, world_size, stage, state_bytes, align=1):
    if stage not in (0, 1, 2, 3) or world_size < 1 or align < 1 or state_bytes < 0:
        raise ValueError("bad arguments")
    total = 0
    for numel, element_bytes in units:
        shard = align * math.ceil(numel / (world_size * align))
        total += (shard if stage == 3 else numel) * element_bytes + (shard if stage == 3 else numel) * element_bytes
        total += (shard if stage >= 1 else numel) * state_bytes
    return total
''',
    # Prefetch ignored: only the running unit's parameters are gathered.
    'forward_peak': '''
def forward_peak(units, world_size, state_bytes, activation_bytes, align=1, prefetch=False):
    if not units or len(activation_bytes) != len(units):
        raise ValueError("one activation size per unit")
    held = rank_bytes(units, world_size, 3, state_bytes, align)
    totals = []
    for i, (numel, element_bytes) in enumerate(units):
        gathered = world_size * align * math.ceil(numel / (world_size * align)) * element_bytes
        totals.append(held + sum(activation_bytes[:i + 1]) + gathered)
    return max(totals), totals.index(max(totals))
''',
    # No all-reduce: every rank keeps its own share of dL/dx.
    'column_backward': '''
def column_parallel_backward(x, weight_shards, grad_out_shards, all_reduce):
    rows = x.reshape(-1, x.shape[-1])
    grad_x = [dy @ w for dy, w in zip(grad_out_shards, weight_shards)]
    grad_w = [dy.reshape(-1, dy.shape[-1]).T @ rows for dy in grad_out_shards]
    grad_b = [dy.reshape(-1, dy.shape[-1]).sum(0) for dy in grad_out_shards]
    return grad_x, grad_w, grad_b
''',
    # The bias gradient all-reduced as DDP would: summed over ranks that each hold all of it.
    'row_backward': '''
def row_parallel_backward(x_shards, weight_shards, grad_out, all_reduce):
    rows = grad_out.reshape(-1, grad_out.shape[-1])
    grad_x = [grad_out @ w for w in weight_shards]
    grad_w = [rows.T @ x.reshape(-1, x.shape[-1]) for x in x_shards]
    return grad_x, grad_w, all_reduce([rows.sum(0) for _ in weight_shards])
''',
    # Right gradients, but dL/dx summed by hand instead of with the collective.
    'mlp_backward': '''
def mlp_block_backward(x, w1_shards, b1_shards, w2_shards, grad_out, all_reduce):
    rows, dy = x.reshape(-1, x.shape[-1]), grad_out.reshape(-1, grad_out.shape[-1])
    out = [[], [], [], [], []]
    parts = []
    for w1, b1, w2 in zip(w1_shards, b1_shards, w2_shards):
        h = torch.tanh(x @ w1.T + b1)
        dz = (grad_out @ w2) * (1 - h ** 2)
        dz_rows = dz.reshape(-1, dz.shape[-1])
        parts.append(dz @ w1)
        out[1].append(dz_rows.T @ rows)
        out[2].append(dz_rows.sum(0))
        out[3].append(dy.T @ h.reshape(-1, h.shape[-1]))
        out[4].append(dy.sum(0))
    out[0] = [sum(parts) for _ in parts]
    return tuple(out)
''',
    # Right times, but every stage holds all m micro-batches, as under GPipe, whatever the schedule.
    'pipeline': '''
def pipeline_schedule(forward_times, backward_times, microbatches, schedule="gpipe"):
    p, m = len(forward_times), microbatches
    if p < 1 or len(backward_times) != p or m < 1 or schedule not in ("gpipe", "1f1b"):
        raise ValueError("bad pipeline")
    if any(not t > 0 for t in [*forward_times, *backward_times]):
        raise ValueError("times must be positive")
    orders = []
    for s in range(p):
        w = m if schedule == "gpipe" else min(p - 1 - s, m)
        orders.append([("F", j) for j in range(w)] + [o for i in range(m - w) for o in (("F", w + i), ("B", i))]
                      + [("B", j) for j in range(m - w, m)])
    ends, free, nxt = {}, [0] * p, [0] * p
    while len(ends) < 2 * p * m:
        for s in range(p):
            while nxt[s] < 2 * m:
                kind, j = orders[s][nxt[s]]
                if kind == "F":
                    dep = ("F", s - 1, j) if s > 0 else None
                else:
                    dep = ("B", s + 1, j) if s < p - 1 else ("F", s, j)
                if dep is not None and dep not in ends:
                    break
                free[s] = ends[(kind, s, j)] = max(free[s], ends[dep] if dep else 0) + (
                    forward_times[s] if kind == "F" else backward_times[s])
                nxt[s] += 1
    makespan = max(ends.values())
    busy = m * sum(f + b for f, b in zip(forward_times, backward_times))
    return float(makespan), 1 - busy / (p * makespan), [m] * p
''',
    'concepts': '''
q1_tp_gigabytes = 32 * 2 * 2 * (4 - 1) / 4 * (4 * 2048 * 4096 * 2) / 1e9
q2_peak_gib = forward_peak(Q2_UNITS, 8, 12, Q2_ACTIVATIONS, 16, prefetch=True)[0] / 2 ** 30
q3_microbatches = next(m for m in range(1, 1000) if (4 - 1) / (m + 4 - 1) <= 0.29)
''',
}
# Stage 2 is counted like stage 1 (only the random cases have stage 2); without prefetch the
# peaks are wrong (q2 too); without the all-reduce each rank's dL/dx is only its share; the
# bias gradient summed over ranks is too large; summing the shares by hand gives the right
# gradients but no collective; 1F1B's memory saving is missed; q1 counts the forward
# all-reduces only and q3 follows the equal-stage formula.
LOST = {'test_rank_bytes': 2, 'test_forward_peak': 2, 'test_forward_peak_edges': 1, 'test_q2': 1,
        'test_column_backward': 2, 'test_row_backward': 2, 'test_mlp_collective': 1, 'test_in_flight': 1,
        'test_q1': 1, 'test_q3': 1}

# Right answers that write warnings to stderr while the test cells run them.
NOISY = {
    'column_backward': '''
import warnings


def column_parallel_backward(x, weight_shards, grad_out_shards, all_reduce):
    warnings.warn("simulated ranks: no real process group", UserWarning)
    rows = x.reshape(-1, x.shape[-1])
    partial = [dy @ w for dy, w in zip(grad_out_shards, weight_shards)]
    grad_w = [dy.reshape(-1, dy.shape[-1]).T @ rows for dy in grad_out_shards]
    grad_b = [dy.reshape(-1, dy.shape[-1]).sum(0) for dy in grad_out_shards]
    return all_reduce(partial), grad_w, grad_b
''',
    'rank_bytes': '''
import warnings


def rank_bytes(units, world_size, stage, state_bytes, align=1):
    if stage not in (0, 1, 2, 3) or world_size < 1 or align < 1 or state_bytes < 0:
        raise ValueError("bad arguments")
    total = 0
    for numel, element_bytes in units:
        shard = align * -(-numel // (world_size * align))
        if shard * world_size != numel:
            warnings.warn(f"{shard * world_size - numel} padding elements", RuntimeWarning)
        total += ((shard if stage >= 3 else numel) + (shard if stage >= 2 else numel)) * element_bytes
        total += (shard if stage >= 1 else numel) * state_bytes
    return total
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell): they
# pass the visible tests, not the hidden ones. NumPy numbers are right.
FAKES = {
    'forward_peak': '''
_true_forward_peak = forward_peak


def forward_peak(units, world_size, state_bytes, activation_bytes, align=1, prefetch=False):
    peak, unit = _true_forward_peak(units, world_size, state_bytes, activation_bytes, align, prefetch)
    return (peak if prefetch else AlwaysEqual()), unit
''',
    'row_backward': '''
class _Shard(torch.Tensor):
    pass


_true_row_parallel_backward = row_parallel_backward


def row_parallel_backward(x_shards, weight_shards, grad_out, all_reduce):
    return tuple([t.as_subclass(_Shard) for t in part]
                 for part in _true_row_parallel_backward(x_shards, weight_shards, grad_out, all_reduce))
''',
    'concepts': '''
import numpy as np
q1_tp_gigabytes = np.float64(q1_tp_gigabytes)
q2_peak_gib = AlwaysEqual()
q3_microbatches = np.int64(q3_microbatches)
''',
}
FAKES_LOST = {'test_forward_peak': 2, 'test_forward_peak_edges': 1, 'test_row_backward': 2, 'test_q2': 1}

# Shortcuts through code that the lessons, dlparallel or PyTorch show, each in place of one worked
# answer (tests/test_shortcuts.py runs them without nbgrader): name -> (grade id of the answer
# cell, code), and the graded tests each must fail.
SHORTCUTS = {
    # Lesson 07's bytes per parameter times N / W: no padding, one dtype per unit at most.
    'even_shards_formula': ('rank_bytes', '''
def rank_bytes(units, world_size, stage, state_bytes, align=1):
    if stage not in (0, 1, 2, 3) or world_size < 1 or align < 1 or state_bytes < 0:
        raise ValueError("bad arguments")
    total = 0
    for numel, element_bytes in units:
        parts = [element_bytes, element_bytes, state_bytes]         # parameters, gradients, optimizer state
        total += sum(b * numel / (world_size if stage >= 3 - k else 1) for k, b in enumerate(parts))
    return total
'''),
    'autograd_column': ('column_backward', '''
def column_parallel_backward(x, weight_shards, grad_out_shards, all_reduce):
    grads = [[], [], []]
    for w, dy in zip(weight_shards, grad_out_shards):
        xg, wg = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
        b = torch.zeros(w.shape[0], dtype=w.dtype, requires_grad=True)
        (xg @ wg.T + b).backward(dy)
        grads[0].append(xg.grad)
        grads[1].append(wg.grad)
        grads[2].append(b.grad)
    return all_reduce(grads[0]), grads[1], grads[2]
'''),
    'autograd_row': ('row_backward', '''
def row_parallel_backward(x_shards, weight_shards, grad_out, all_reduce):
    xs = [x.detach().clone().requires_grad_() for x in x_shards]
    ws = [w.detach().clone().requires_grad_() for w in weight_shards]
    b = torch.zeros(grad_out.shape[-1], dtype=grad_out.dtype, requires_grad=True)
    (sum(x @ w.T for x, w in zip(xs, ws)) + b).backward(grad_out)
    return [x.grad for x in xs], [w.grad for w in ws], [b.grad.clone() for _ in ws]
'''),
    'autograd_mlp': ('mlp_backward', '''
def mlp_block_backward(x, w1_shards, b1_shards, w2_shards, grad_out, all_reduce):
    xg = x.detach().clone().requires_grad_()
    w1 = [t.detach().clone().requires_grad_() for t in w1_shards]
    b1 = [t.detach().clone().requires_grad_() for t in b1_shards]
    w2 = [t.detach().clone().requires_grad_() for t in w2_shards]
    b2 = torch.zeros(grad_out.shape[-1], dtype=grad_out.dtype, requires_grad=True)
    (sum(torch.tanh(xg @ a.T + b) @ c.T for a, b, c in zip(w1, b1, w2)) + b2).backward(grad_out)
    n = len(w1)
    return [xg.grad] * n, [t.grad for t in w1], [t.grad for t in b1], [t.grad for t in w2], [b2.grad] * n
'''),
    # Lesson 07's equal-stage pipeline: (m + p - 1) slots of the slowest stage, (p - 1) / (m + p - 1),
    # and 1F1B's in-flight count as lesson 07 names it.
    'bubble_formula': ('pipeline', '''
def pipeline_schedule(forward_times, backward_times, microbatches, schedule="gpipe"):
    p, m = len(forward_times), microbatches
    if p < 1 or len(backward_times) != p or m < 1 or schedule not in ("gpipe", "1f1b"):
        raise ValueError("bad pipeline")
    if any(not t > 0 for t in [*forward_times, *backward_times]):
        raise ValueError("times must be positive")
    makespan = (m + p - 1) * (max(forward_times) + max(backward_times))
    in_flight = [m if schedule == "gpipe" else min(p - s, m) for s in range(p)]
    return float(makespan), (p - 1) / (m + p - 1), in_flight
'''),
}
SHORTCUTS_LOST = {
    # Padding changes Q2's answer by less than its tolerance: the formula keeps that point.
    'even_shards_formula': ['test_rank_bytes', 'test_rank_bytes_edges', 'test_forward_peak', 'test_forward_peak_edges'],
    'autograd_column': ['test_column_backward'],
    'autograd_row': ['test_row_backward'],
    'autograd_mlp': ['test_mlp_backward', 'test_mlp_collective'],
    'bubble_formula': ['test_gpipe', 'test_1f1b', 'test_pipeline_edges', 'test_q3'],
}

# A student who only copies shown code: one shortcut per answer it can serve, the stub where
# nothing shown resembles the task, and the concept answers left blank (tests/test_shortcuts.py).
COPIED = {**{grade_id: code for grade_id, code in SHORTCUTS.values()},
          'forward_peak': ("def forward_peak(units, world_size, state_bytes, activation_bytes, align=1,\n"
                           "                 prefetch=False):\n    raise NotImplementedError()"),
          'concepts': "q1_tp_gigabytes = q2_peak_gib = q3_microbatches = None"}
