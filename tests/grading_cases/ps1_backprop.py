"""Submissions of ps1_backprop for tests/test_grading.py."""

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    'concepts': '''q1_answer = "a"
q2_flops = 160_000
q3_answer = "b"
q4_answer = "b"''',
    'softmax_ce': '''
def softmax_cross_entropy(logits, labels):
    probs = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    return -probs[torch.arange(len(labels)), labels].log().mean()


def softmax_cross_entropy_backward(logits, labels):
    probs = logits.softmax(dim=1)
    probs[torch.arange(len(labels)), labels] -= 1
    return probs / len(labels)
''',
    'numgrad': '''
def numerical_gradient(f, x, h=1e-6):
    grad = torch.zeros_like(x, dtype=torch.float64)
    flat = x.view(-1)
    for i in range(flat.numel()):
        flat[i] += h
        up = float(f(x))
        flat[i] -= 2 * h
        down = float(f(x))
        grad.view(-1)[i] = (up - down) / (2 * h)
    return grad
''',
}
# q1 and q2 wrong; a naive softmax overflows on large logits; the checker leaves x changed.
LOST = {'test_q1': 1, 'test_q2': 1, 'test_softmax_ce_stable': 1, 'test_numerical_gradient': 2}

# Right answers that write warnings to stderr while the test cells run them.
NOISY = {
    'linear': '''
import warnings


def linear_forward(x, W, b):
    warnings.warn("linear_forward is a slow reference implementation", UserWarning)
    return x @ W.T + b


def linear_backward(grad_out, x, W):
    W = torch.tensor(W)  # PyTorch warns: copy-construct from a tensor with clone().detach()
    return grad_out @ W, grad_out.T @ x, grad_out.sum(dim=0)
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell): they
# pass the visible tests, not the hidden ones. q2 as a NumPy integer is right and keeps its point.
FAKES = {
    'relu': '''
class Agreeable(torch.Tensor):
    """A tensor that says it equals anything it is compared with."""
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.equal, torch.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def relu_forward(x):
    return torch.zeros_like(x).as_subclass(Agreeable)
''',
    'concepts': '''
import numpy as np
q1_answer = AlwaysEqual()
q2_flops = np.int64(320_000)
''',
}
FAKES_LOST = {'test_relu_forward': 1, 'test_train_mlp': 4, 'test_q1': 1}  # training uses the fake ReLU
