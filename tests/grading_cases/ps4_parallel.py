"""Submissions of ps4_parallel for tests/test_grading.py."""

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    'shard': '''
def shard(x, y, workers):
    if len(x) != len(y) or workers < 1 or workers > len(x):
        raise ValueError("cannot split the batch")
    return list(zip(torch.chunk(x, workers), torch.chunk(y, workers)))
''',
    'average': '''
def average_gradients(replicas, weights=None):
    with torch.no_grad():
        for params in zip(*(replica.parameters() for replica in replicas)):
            mean = sum(p.grad for p in params) / len(params)
            for p in params:
                p.grad.copy_(mean)
''',
    'train_step': '''
def train_step(model, optimizer, x, y, all_reduce, loss_fn=F.cross_entropy):
    loss = loss_fn(model(x), y)
    loss.backward()
    for p in model.parameters():
        all_reduce(p.grad)
    optimizer.step()
    return loss.item()
''',
    'percentiles': '''
import numpy as np
from numpy import percentile as np_percentile


def latency_percentiles(samples, qs=(50, 90, 99)):
    values = np.asarray([float(v) for v in samples], dtype=np.float64)
    if values.size == 0 or any(not 0 <= q <= 100 for q in qs):
        raise ValueError("no samples, or a percentile outside [0, 100]")
    return [float(v) for v in np_percentile(values, list(qs))]
''',
    'deadline': '''
def largest_batch_within_deadline(latency_of_batch, deadline_s, max_batch):
    best = 0
    for b in range(1, max_batch + 1):
        if latency_of_batch(b) > deadline_s:
            break
        best = b
    return best
''',
    'concepts': '''q1_megabytes = 87.5
q2_efficiency = 0.8
q3_answer = "a"
q4_budget_ms = 30''',
}
# torch.chunk makes shards of 3, 3, 3, 1 from 10 examples; unweighted averaging is wrong for
# unequal shards (which data_parallel_gradients then shows); a step that never clears the
# gradients keeps the replicas in step but drifts from the full-batch run; numpy's percentile,
# even imported under another name, is caught; a linear scan calls the latency too often;
# q1 forgets the factor 2 of the ring, q4 gives frames per second.
LOST = {'test_shard': 1, 'test_average_weighted': 1, 'test_dp_gradients_uneven_shards': 1,
        'test_dp_gradients_shards_only': 1, 'test_train_step_matches_full_batch': 2,
        'test_percentiles_no_library': 1, 'test_deadline_logarithmic': 1, 'test_q1': 1, 'test_q4': 1}

# Right answers that write warnings to stderr while the test cells run them.
NOISY = {
    'shard': '''
import warnings


def shard(x, y, workers):
    warnings.warn("shard copies nothing: the shards are views of the batch", UserWarning)
    n = len(x)
    if len(y) != n or workers < 1 or workers > n:
        raise ValueError("cannot split the batch")
    sizes = [n // workers + (1 if r < n % workers else 0) for r in range(workers)]
    return list(zip(torch.split(x, sizes), torch.split(y, sizes)))
''',
    'percentiles': '''
def latency_percentiles(samples, qs=(50, 90, 99)):
    values = torch.tensor(samples, dtype=torch.float64).sort().values.tolist()  # PyTorch warns for a tensor
    if not values:
        raise ValueError("no latency samples")
    result = []
    for q in qs:
        if not 0 <= q <= 100:
            raise ValueError(f"percentiles lie in [0, 100], got {q}")
        h = (len(values) - 1) * q / 100
        low = math.floor(h)
        high = min(low + 1, len(values) - 1)
        result.append(values[low] + (h - low) * (values[high] - values[low]))
    return result
''',
    'train_step': '''
import warnings


def train_step(model, optimizer, x, y, all_reduce, loss_fn=F.cross_entropy):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    for p in model.parameters():
        if p.grad is not None:
            all_reduce(p.grad)
    optimizer.step()
    # in the workers' threads: a warning of its own, and PyTorch's about float() of a tensor needing grad
    warnings.warn(f"worker thread {threading.get_ident()} took a step", RuntimeWarning)
    return float(loss)
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell): they
# pass the visible tests, not the hidden ones. A NumPy float is right.
FAKES = {
    'concepts': '''
import numpy as np
q1_megabytes = np.float64(175.0)
q3_answer = AlwaysEqual()
q4_budget_ms = AlwaysEqual()
''',
}
FAKES_LOST = {'test_q3': 1, 'test_q4': 1}
