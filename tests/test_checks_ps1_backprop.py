"""forbid_autodiff, added for ps1_backprop: forward-mode AD is autograd too."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD

from dlparallel.grading.checks import forbid_autodiff


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
