"""The hidden tests' assertion helpers: what they accept, what they refuse and what they say."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlparallel.grading.checks import OpCall, expect_raises, forbid_autograd, forbid_ops, record_ops


def test_record_ops_sees_operators_methods_and_references_taken_earlier():
    matmul, a, b = torch.matmul, torch.randn(2, 3), torch.randn(3, 4)
    with record_ops() as calls:
        matmul(a, b)
        a.T.contiguous()
        _ = a * 2
    names = [call.name for call in calls]
    assert "mm" in names and "mul" in names and "clone" in names
    assert OpCall("mm", ((2, 3), (3, 4)), False) in calls


def test_record_ops_marks_what_the_autograd_engine_ran():
    x = torch.randn(5, requires_grad=True)
    with record_ops() as calls:
        torch.tanh(x).sum().backward()
    assert [c.name for c in calls if c.by_autograd] and any(c.name == "tanh_backward" for c in calls)
    assert not any(c.by_autograd for c in calls if c.name in ("tanh", "sum"))


@pytest.mark.parametrize("use_autograd", [
    lambda x: torch.autograd.grad(torch.tanh(x).sum(), x),
    lambda x: torch.tanh(x).sum().backward(),
    lambda x: torch.func.grad(lambda t: torch.tanh(t).sum())(x.detach()),
    lambda x: torch.ops.aten.tanh_backward(torch.ones(3), torch.tanh(x.detach())),
], ids=["autograd.grad", "backward", "torch.func.grad", "aten tanh_backward"])
def test_forbid_autograd_catches_every_route_to_a_gradient(use_autograd):
    x = torch.randn(3, requires_grad=True)
    with pytest.raises(AssertionError, match="must not use autograd"):
        with forbid_autograd("tanh_backward"):
            use_autograd(x)


def test_forbid_autograd_accepts_a_hand_written_backward_pass():
    x, grad_out = torch.randn(4), torch.randn(4)
    with forbid_autograd("tanh_backward") as calls:
        y = torch.tanh(x)
        grad = grad_out * (1 - y * y)
    assert torch.allclose(grad, torch.ops.aten.tanh_backward(grad_out, y)) and calls


def test_forbid_ops_names_the_operation_and_its_operands():
    a = torch.ones(4, 4)
    with pytest.raises(AssertionError, match=r"must not use torch's mm \(on operands of shape \(4, 4\), \(4, 4\)\)"):
        with forbid_ops("tiled_matmul", {"mm"}):
            F.linear(a, a.T.contiguous().T)


def test_removing_the_recorder_is_detected():
    with pytest.raises(AssertionError, match="removed the tests' operation recorder"):
        with record_ops():
            torch.utils._python_dispatch._pop_mode()


def test_expect_raises_says_what_happened_instead():
    expect_raises(ValueError, int, "x")
    with pytest.raises(AssertionError, match=r"shard\(3 rows, 4 workers\) must raise ValueError, but it raised "
                                             r"ZeroDivisionError: division by zero"):
        expect_raises(ValueError, lambda: 1 / 0, what="shard(3 rows, 4 workers)")
    with pytest.raises(AssertionError, match="must raise KeyError, but it returned 1"):
        expect_raises(KeyError, dict(a=1).get, "a")
