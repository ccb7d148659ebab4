import pytest
import torch

import dlparallel as dp


def test_mlp_shape_and_layers():
    model = dp.mlp([64, 32, 16, 10], activation="tanh")
    assert model(torch.zeros(7, 1, 8, 8)).shape == (7, 10)
    assert sum(isinstance(m, torch.nn.Tanh) for m in model) == 2


@pytest.mark.parametrize("widths", [[10], [], [4, 0], [4, -2, 3], [4.0, 2]])
def test_mlp_rejects_bad_widths(widths):
    with pytest.raises(ValueError, match="widths"):
        dp.mlp(widths)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="softsign"):
        dp.mlp([2, 2], activation="softsign")


def test_lenet5_classic_form():
    model = dp.lenet5()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 61_706
    kinds = {type(m) for m in model}
    assert torch.nn.Sigmoid in kinds and torch.nn.AvgPool2d in kinds and torch.nn.ReLU not in kinds


def test_lenet5_other_geometry():
    assert dp.lenet5(in_channels=3, num_classes=5, image_size=32)(torch.zeros(1, 3, 32, 32)).shape == (1, 5)


def test_lenet5_rejects_images_too_small():
    with pytest.raises(ValueError, match="at least 12x12"):
        dp.lenet5(image_size=8)


@pytest.mark.parametrize("side", [2, 8, 28])
def test_small_cnn_any_size(side):
    assert dp.small_cnn(in_channels=3, num_classes=4)(torch.zeros(2, 3, side, side)).shape == (2, 4)


def test_small_cnn_rejects_bad_sizes():
    with pytest.raises(ValueError, match="positive"):
        dp.small_cnn(width=0)
