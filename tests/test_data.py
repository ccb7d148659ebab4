import pytest
import torch

import dlparallel as dp


def test_digits_split_is_stratified_complete_and_scaled():
    digits = dp.load_digits("cpu")
    assert digits.num_classes == 10
    assert digits.train.inputs.shape[1:] == (1, 8, 8) and digits.test.inputs.shape[1:] == (1, 8, 8)
    assert len(digits.train) + len(digits.test) == 1797
    assert 0.0 <= digits.train.inputs.min() and digits.train.inputs.max() <= 1.0
    labels = torch.cat([digits.train.labels, digits.test.labels])
    from sklearn.datasets import load_digits

    assert torch.equal(torch.bincount(labels), torch.bincount(torch.tensor(load_digits().target)))
    test_share = torch.bincount(digits.test.labels) / torch.bincount(labels)
    assert torch.allclose(test_share, torch.full((10,), 0.25), atol=0.01)


def test_digits_are_deterministic_per_seed_and_differ_between_seeds():
    a, b, c = dp.load_digits("cpu", seed=1), dp.load_digits("cpu", seed=1), dp.load_digits("cpu", seed=2)
    assert torch.equal(a.train.inputs, b.train.inputs)
    assert not torch.equal(a.train.labels, c.train.labels)


def test_digits_on_device(device):
    assert dp.load_digits(device).train.inputs.device.type == device.type


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 2])
def test_digits_reject_impossible_test_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        dp.load_digits("cpu", test_fraction=fraction)


def test_synthetic_images_shape_labels_and_determinism(device):
    data = dp.synthetic_images(50, (3, 16, 16), num_classes=4, device=device, seed=3)
    assert data.inputs.shape == (50, 3, 16, 16) and data.inputs.device.type == device.type
    assert data.labels.dtype == torch.int64 and 0 <= data.labels.min() and data.labels.max() < 4
    again = dp.synthetic_images(50, (3, 16, 16), num_classes=4, device=device, seed=3)
    assert torch.equal(data.inputs, again.inputs)


def test_synthetic_images_are_learnable():
    data = dp.synthetic_images(512, (16,), num_classes=4, device="cpu")
    model = dp.mlp([16, 4])
    dp.fit(model, data, epochs=5, lr=0.5, batch_size=32, progress=False)
    assert dp.evaluate(model, data).accuracy > 0.95


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "n must be positive"),
    ({"n": 4, "shape": (3, 0)}, "shape"),
    ({"n": 4, "shape": ()}, "shape"),
    ({"n": 4, "num_classes": 1}, "num_classes"),
])
def test_synthetic_images_reject_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dp.synthetic_images(device="cpu", **kwargs)


def test_labelled_data_validates_its_tensors():
    with pytest.raises(ValueError, match="differ in length"):
        dp.LabelledData(torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(TypeError, match="integer"):
        dp.LabelledData(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="one-dimensional"):
        dp.LabelledData(torch.zeros(3, 2), torch.zeros(3, 1, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch tensors"):
        dp.LabelledData([[0.0]], torch.zeros(1, dtype=torch.int64))


def test_loader_visits_every_example_once_per_epoch_in_a_new_order(device):
    data = dp.LabelledData(torch.arange(10.0, device=device).unsqueeze(1),
                           torch.arange(10, device=device))
    loader = dp.DeviceLoader(data, batch_size=4, seed=0)
    assert len(loader) == 3
    epochs = [torch.cat([y for _, y in loader]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1])
    for x, y in loader:
        assert torch.equal(x.squeeze(1).long(), y)
        assert x.device.type == device.type


def test_loader_without_shuffle_keeps_order_and_drop_last_drops_the_rest():
    data = dp.LabelledData(torch.zeros(10, 1), torch.arange(10))
    assert torch.equal(torch.cat([y for _, y in dp.DeviceLoader(data, 3, shuffle=False)]), torch.arange(10))
    assert [len(y) for _, y in dp.DeviceLoader(data, 3, drop_last=True)] == [3, 3, 3]


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_loader_rejects_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        dp.DeviceLoader(dp.LabelledData(torch.zeros(4, 1), torch.zeros(4, dtype=torch.int64)), batch_size)


def test_loader_rejects_empty_data_and_impossible_drop_last():
    with pytest.raises(ValueError, match="empty"):
        dp.DeviceLoader(dp.LabelledData(torch.zeros(0, 1), torch.zeros(0, dtype=torch.int64)), 2)
    with pytest.raises(ValueError, match="no batch"):
        dp.DeviceLoader(dp.LabelledData(torch.zeros(3, 1), torch.zeros(3, dtype=torch.int64)), 4,
                        drop_last=True)
    with pytest.raises(TypeError, match="LabelledData"):
        dp.DeviceLoader((torch.zeros(3, 1), torch.zeros(3)), 2)
