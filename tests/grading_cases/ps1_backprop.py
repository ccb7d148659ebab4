"""Submissions of ps1_backprop for tests/test_grading.py."""

# Answers replaced by wrong ones (grade_id of the answer cell -> the student's code).
PARTIAL = {
    # Q1 stores tanh's output twice (it is also the second linear layer's input); Q2 counts
    # one-sided differences; Q3 is right.
    'concepts': '''q1_bytes = 4 * 256 * (64 + 128 + 1 + 128 + 128 + 10)
q2_calls = 32 * 100 + 100 + 100
q3_grad = torch.tensor([0.0, 1.0, 10.0, 0.0, 100.0, 0.0, 0.0, 0.0])''',
    # Forgets the factor 2 of the square's derivative.
    'mse': '''
def mse_loss(pred, target):
    return ((pred - target) ** 2).mean()


def mse_backward(pred, target):
    return (pred - target) / pred.numel()
''',
    # Overlapping windows overwrite each other's gradient instead of adding up (scatter_, not
    # scatter_add_): right for the visible, non-overlapping example only.
    'maxpool': '''
def max_pool1d_forward(x, kernel_size, stride=None):
    return x.unfold(-1, kernel_size, stride or kernel_size).max(dim=-1).values


def max_pool1d_backward(grad_out, x, kernel_size, stride=None):
    stride = stride or kernel_size
    windows = x.unfold(-1, kernel_size, stride)
    where = windows.argmax(dim=-1) + stride * torch.arange(windows.shape[-2])
    return torch.zeros_like(x).scatter_(-1, where, grad_out)
''',
    # One-sided differences (in both checks): their truncation error (about h) flags the correct
    # gradients too.
    'gradcheck': '''
def gradient_errors(forward, backward, inputs, grad_out, h=1e-5):
    args = {k: v.double().clone() if torch.is_tensor(v) and v.is_floating_point() else v
            for k, v in inputs.items()}
    weights = grad_out.double()
    errors = {}
    for name, grad in backward(weights, **args).items():
        base = float((forward(**args) * weights).sum())
        estimate = torch.zeros_like(args[name])
        for i in range(args[name].numel()):
            args[name].view(-1)[i] += h
            estimate.view(-1)[i] = (float((forward(**args) * weights).sum()) - base) / h
            args[name].view(-1)[i] -= h
        errors[name] = float((grad.double() - estimate).norm() / max(grad.norm(), estimate.norm()))
    return errors


def directional_errors(forward, backward, inputs, grad_out, seed=0, h=1e-5):
    args = {k: v.double().clone() if torch.is_tensor(v) and v.is_floating_point() else v
            for k, v in inputs.items()}
    weights, rng, errors = grad_out.double(), torch.Generator().manual_seed(seed), {}
    for name, grad in backward(weights, **args).items():
        v = torch.randn(args[name].shape, generator=rng, dtype=torch.float64)
        base = float((forward(**args) * weights).sum())
        point, args[name] = args[name], args[name] + h * v
        estimate = (float((forward(**args) * weights).sum()) - base) / h
        args[name] = point
        stated = float((grad.double() * v).sum())
        errors[name] = abs(estimate - stated) / max(abs(estimate), abs(stated))
    return errors


def wrong_gradients(forward, backward, inputs, grad_out, tolerance=1e-6):
    return sorted(n for n, e in gradient_errors(forward, backward, inputs, grad_out).items() if e > tolerance)


planted_bug = wrong_gradients(rms_norm, rms_norm_backward, rms_inputs, rms_grad_out)
''',
}
LOST = {'test_q1': 1, 'test_q2': 1, 'test_mse': 2, 'test_maxpool_backward': 2, 'test_gradient_errors': 1,
        'test_directional_errors': 2, 'test_planted_bug': 1}

# Right answers that write warnings to stderr while the test cells run them (tanh_backward also
# runs inside the network's and the training's tests).
NOISY = {
    'tanh': '''
import warnings


def tanh_backward(grad_out, y):
    warnings.warn("tanh_backward is a slow reference implementation", UserWarning)
    y = torch.tensor(y)  # PyTorch warns: copy-construct from a tensor with clone().detach()
    return grad_out * (1 - y * y)
''',
}

# Answers that are not what they claim (code appended to the worked solution of a cell). They pass
# the visible tests, not the hidden ones. The forbidden shortcuts lose every point of their task,
# and of the tasks that run them: layer_norm_backward runs inside the network's gradients and its
# training. Q2 as a NumPy integer is right and keeps its point.
FAKES = {
    'concepts': '''
import numpy as np


class Agreeable(torch.Tensor):
    """A tensor that says it equals anything it is compared with."""
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.equal, torch.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


q1_bytes = AlwaysEqual()
q2_calls = np.int64(6800)
q3_grad = torch.zeros(8).as_subclass(Agreeable)
''',
    # Autograd through a reference taken long before the tests run.
    'layer_norm': '''
_grad = torch.autograd.grad


def layer_norm_backward(grad_out, x, gamma, eps=1e-5):
    leaves = [x.detach().clone().requires_grad_(), gamma.detach().clone().requires_grad_(),
              torch.zeros_like(gamma, requires_grad=True)]
    return _grad(layer_norm_forward(*leaves, eps=eps), leaves, grad_out)
''',
    # Forward-mode AD: no backward pass runs, the tangents are ordinary sub/mul/sum operations.
    'mse': '''
def mse_backward(pred, target):
    return torch.func.jacfwd(lambda p: mse_loss(p, target))(pred)
''',
    # PyTorch's own max-pooling, which the task re-implements.
    'maxpool': '''
def max_pool1d_forward(x, kernel_size, stride=None):
    return F.max_pool1d(x, kernel_size, stride)
''',
}
FAKES_LOST = {'test_q1': 1, 'test_q3': 1, 'test_layer_norm_forward': 1, 'test_layer_norm_backward_params': 1,
              'test_layer_norm_backward_x': 3, 'test_network_gradients': 2, 'test_train_network': 2,
              'test_mse': 2, 'test_maxpool_forward': 1, 'test_maxpool_backward': 2}

# Backward passes by automatic differentiation, reached by routes a check by name would miss (each
# graded in tests/test_shortcuts.py): answer cell -> (code, failing tests).
SHORTCUTS = {
    # A reference to torch.autograd.grad taken when the cell runs, before any test forbids autograd.
    'saved_reference': ('tanh', '''
_grad = torch.autograd.grad


def tanh_backward(grad_out, y):
    x = torch.atanh(y.clamp(-1 + 1e-15, 1 - 1e-15)).detach().requires_grad_()
    return _grad(torch.tanh(x), x, grad_out)[0]
'''),
    # torch.func's reverse mode, with the loss written out by hand.
    'functional_vjp': ('mse', '''
import torch.func


def mse_loss(pred, target):
    difference = pred - target
    return (difference * difference).sum() / difference.numel()


def mse_backward(pred, target):
    _, pullback = torch.func.vjp(lambda p: mse_loss(p, target), pred)
    return pullback(torch.ones((), dtype=pred.dtype))[0]
'''),
}
SHORTCUTS_LOST = {
    # The network's backward pass and its training call tanh_backward: autograd ran in them too.
    'saved_reference': ['test_tanh_backward', 'test_network_gradients', 'test_train_network'],
    'functional_vjp': ['test_mse'],
}
