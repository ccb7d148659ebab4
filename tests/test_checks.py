"""The hidden tests' assertion helpers: what they accept, what they refuse and what they say."""

from __future__ import annotations

import fractions
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F

from dlparallel.grading.checks import (OpCall, check_exact, expect_raises, forbid_autodiff, forbid_autograd,
                                       forbid_ops, product_flops, record_ops)


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


def _layer_norm(x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt((centred * centred).mean(dim=-1, keepdim=True) + 1e-5)


def _dual_numbers(x: torch.Tensor) -> torch.Tensor:
    with fwAD.dual_level():
        return fwAD.unpack_dual(_layer_norm(fwAD.make_dual(x, torch.ones_like(x)))).tangent


def _raw_dual_level(x: torch.Tensor) -> torch.Tensor:
    enter, leave = torch._C._enter_dual_level, torch._C._exit_dual_level  # references taken early
    level = enter()
    try:
        return torch._unpack_dual(_layer_norm(torch._make_dual(x, torch.ones_like(x), level=level)), level=level)[1]
    finally:
        leave(level=level)


@pytest.mark.parametrize("use_autodiff", [
    lambda x: torch.func.jacfwd(_layer_norm)(x),
    lambda x: torch.func.jvp(_layer_norm, (x,), (torch.ones_like(x),)),
    _dual_numbers,
    _raw_dual_level,
    lambda x: torch.func.vjp(_layer_norm, x)[1](torch.ones_like(x)),
    lambda x: torch.autograd.grad(_layer_norm(x.requires_grad_()).sum(), x),
], ids=["jacfwd", "jvp", "forward_ad", "raw dual level", "vjp", "autograd.grad"])
def test_forbid_autodiff_catches_forward_and_reverse_mode(use_autodiff):
    x = torch.randn(2, 5, dtype=torch.float64)
    with pytest.raises(AssertionError, match="layer_norm_backward must not use autograd"):
        with forbid_autodiff("layer_norm_backward"):
            use_autodiff(x)


def test_forbid_autodiff_accepts_hand_written_code_and_vmap_and_leaves_no_dual_level():
    x = torch.randn(3, 4, dtype=torch.float64)
    with forbid_autodiff("layer_norm_backward", {"native_layer_norm"}) as calls:
        torch.vmap(_layer_norm)(x)
        _layer_norm(x)
    assert calls and "mean" in {call.name for call in calls}
    level = torch._C._enter_dual_level()  # raises if the check left a dual level open
    torch._C._exit_dual_level(level=level)
    assert level == 0


def test_forbid_autodiff_names_forbidden_operations():
    x = torch.randn(2, 4)
    with pytest.raises(AssertionError, match="must not use torch's native_layer_norm"):
        with forbid_autodiff("layer_norm_forward", {"native_layer_norm"}):
            torch.nn.functional.layer_norm(x, (4,))


def test_removing_the_watch_is_detected():
    with pytest.raises(AssertionError, match="removed the tests' operation recorder"):
        with forbid_autodiff("layer_norm_backward"):
            torch.utils._python_dispatch._pop_mode()


def test_product_flops_counts_every_kind_of_matrix_product():
    a, b, v = torch.randn(4, 3), torch.randn(3, 5), torch.randn(3)
    with record_ops() as calls:
        a @ b                                        # mm: 2 * 4 * 3 * 5 = 120
        torch.randn(2, 4, 3) @ torch.randn(2, 3, 5)  # bmm: 240
        F.linear(a, b.T, torch.zeros(5))             # addmm: 120
        torch.einsum("ij,jk->ik", a, b)              # einsum runs a bmm: 120
        a @ v                                        # mv: 24
        v @ v                                        # dot: 6
    assert product_flops(calls) == 120 + 240 + 120 + 120 + 24 + 6


def test_product_flops_ignores_elementwise_work_and_empty_products():
    a = torch.randn(6, 6)
    with record_ops() as calls:
        (a[:, :, None] * a[None, :, :]).sum(1)       # a product by broadcasting: no matrix product
        torch.randn(0, 6) @ a                        # an empty product: 0 FLOPs
    assert product_flops(calls) == 0


def test_product_flops_reads_the_last_two_operands():
    calls = [OpCall("addmm", ((7,), (5, 6), (6, 7)), False), OpCall("mul", ((9, 9), (9, 9)), False),
             OpCall("baddbmm", ((2, 5, 7), (2, 5, 6), (2, 6, 7)), False)]
    assert product_flops(calls) == 2 * 5 * 6 * 7 + 2 * 2 * 5 * 6 * 7


def test_equal_rationals_pass_in_any_form():
    check_exact(Fraction(6, 4), Fraction(3, 2))
    check_exact(3, Fraction(6, 2))
    check_exact(Fraction(-5, 1), -5)


@pytest.mark.parametrize("actual", [1.5, np.float64(1.5), "3/2", None, True])
def test_inexact_or_foreign_types_fail(actual):
    with pytest.raises(AssertionError, match="must be an exact Fraction"):
        check_exact(actual, Fraction(3, 2))


def test_a_wrong_value_is_named():
    with pytest.raises(AssertionError, match=r"the p99 is 7/3, expected 5/2"):
        check_exact(Fraction(7, 3), Fraction(5, 2), name="the p99")


def test_subclasses_and_replaced_methods_do_not_fool_it():
    class Lenient(Fraction):
        def __eq__(self, other):
            return True

    with pytest.raises(AssertionError, match="got Lenient"):
        check_exact(Lenient(1, 3), Fraction(1, 2))
    saved = Fraction.__eq__, Fraction.numerator, Fraction.denominator
    try:
        fractions.Fraction.__eq__ = lambda self, other: True
        fractions.Fraction.numerator = property(lambda self: 1)
        fractions.Fraction.denominator = property(lambda self: 2)
        with pytest.raises(AssertionError, match="is 1/3, expected 1/2"):
            check_exact(Fraction(1, 3), Fraction(1, 2))
    finally:
        Fraction.__eq__, Fraction.numerator, Fraction.denominator = saved


def test_expected_must_be_rational():
    with pytest.raises(TypeError):
        check_exact(Fraction(1, 2), 0.5)
