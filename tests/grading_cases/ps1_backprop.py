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
