import pytest
import torch

import dlparallel as dp


def test_matmul_flops():
    assert dp.matmul_flops(3, 5, 7) == 210
    with pytest.raises(ValueError, match="k must"):
        dp.matmul_flops(3, 5, -1)
    with pytest.raises(ValueError, match="m must"):
        dp.matmul_flops(2.5, 5, 1)


def test_lenet5_forward_flops_match_a_hand_count():
    conv1 = 2 * 6 * 28 * 28 * (1 * 5 * 5)
    conv2 = 2 * 16 * 10 * 10 * (6 * 5 * 5)
    dense = 2 * (400 * 120 + 120 * 84 + 84 * 10)
    assert dp.count_flops(dp.lenet5(), torch.zeros(4, 1, 28, 28)) == 4 * (conv1 + conv2 + dense)


def test_training_step_costs_about_three_forward_passes():
    model = dp.mlp([256, 512, 512, 10])
    x = torch.zeros(32, 256)
    forward = dp.count_flops(model, x)
    step = dp.training_step_flops(model, x)
    assert 2.5 * forward < step <= 3 * forward
    assert all(p.grad is None for p in model.parameters())


def test_count_flops_keeps_the_mode_and_rejects_non_tensors():
    model = dp.mlp([4, 2]).eval()
    dp.count_flops(model, torch.zeros(1, 4), backward=True)
    assert not model.training
    with pytest.raises(TypeError, match="tensor"):
        dp.count_flops(model, [[0.0] * 4])


def test_achieved_rate():
    assert dp.achieved_flops_per_second(1e9, 2.0) == 5e8
    with pytest.raises(ValueError, match="seconds"):
        dp.achieved_flops_per_second(1e9, 0.0)
    with pytest.raises(ValueError, match="flops"):
        dp.achieved_flops_per_second(-1, 1.0)
