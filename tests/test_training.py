import math
import warnings

import pytest
import torch

import dlparallel as dp


def test_fit_learns_the_digits(device):
    digits = dp.load_digits(device)
    model = dp.mlp([64, 64, 10])
    history = dp.fit(model, digits.train, epochs=10, lr=0.2, batch_size=32, test=digits.test,
                     device=device, progress=False)
    assert len(history.records) == 10 and history.device.startswith(device.type)
    assert history.loss[-1] < history.loss[0]
    assert history.test_accuracy[-1] >= 0.95
    assert history.test_loss[-1] < history.test_loss[0]
    record = history.records[-1]
    assert record.seconds > 0 and record.examples_per_second == pytest.approx(len(digits.train) / record.seconds)
    assert dp.evaluate(model, digits.test).accuracy == pytest.approx(record.test_accuracy)


def test_fit_moves_host_data_and_model_to_the_device(device):
    data = dp.synthetic_images(64, (8,), num_classes=3, device="cpu")
    model = dp.mlp([8, 3])
    dp.fit(model, data, epochs=1, device=device, progress=False)
    assert next(model.parameters()).device.type == device.type


def test_fit_reads_the_device_once_per_epoch_not_per_batch(monkeypatch):
    """Each .item() is a host synchronisation on a GPU: fit may do two per epoch, whatever the batches."""
    calls = {"n": 0}
    real_item = torch.Tensor.item

    def counting_item(self):
        calls["n"] += 1
        return real_item(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    data = dp.synthetic_images(320, (8,), num_classes=3, device="cpu")
    for batch_size in (160, 10):
        calls["n"] = 0
        dp.fit(dp.mlp([8, 3]), data, epochs=2, batch_size=batch_size, progress=False)
        assert calls["n"] == 4, f"{calls['n']} host reads for {320 // batch_size} batches per epoch"


def test_fit_with_custom_optimizer_and_bf16(device):
    data = dp.synthetic_images(256, (16,), num_classes=4, device=device)
    model = dp.mlp([16, 32, 4]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    history = dp.fit(model, data, epochs=4, optimizer=optimizer, bf16=True, device=device, progress=False)
    assert history.accuracy[-1] > 0.9


def test_divergence_stops_with_a_clear_error_and_keeps_the_history():
    data = dp.synthetic_images(64, (8,), num_classes=3, device="cpu")
    bad = dp.LabelledData(data.inputs.clone(), data.labels)
    bad.inputs[5, 0] = math.nan
    with pytest.raises(dp.TrainingDivergedError, match="epoch 1.*Lower the learning rate") as caught:
        dp.fit(dp.mlp([8, 3]), bad, epochs=3, progress=False)
    assert caught.value.history.records == []


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 1.5}, ValueError, "epochs"),
    ({"epochs": 1, "lr": 0}, ValueError, "lr"),
    ({"epochs": 1, "lr": float("inf")}, ValueError, "lr"),
    ({"epochs": 1, "batch_size": 0}, ValueError, "batch_size"),
])
def test_fit_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        dp.fit(dp.mlp([8, 3]), dp.synthetic_images(16, (8,), num_classes=3, device="cpu"),
               progress=False, **kwargs)


def test_fit_rejects_raw_tensors():
    with pytest.raises(TypeError, match="LabelledData"):
        dp.fit(dp.mlp([8, 3]), (torch.zeros(4, 8), torch.zeros(4)), epochs=1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_graph_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="cuda_graph=True needs a CUDA device"):
        dp.fit(dp.mlp([8, 3]), dp.synthetic_images(16, (8,), num_classes=3, device="cpu"),
               epochs=1, device="cpu", cuda_graph=True)


def test_evaluate_restores_the_training_mode_and_matches_a_manual_count():
    data = dp.synthetic_images(100, (8,), num_classes=3, device="cpu")
    model = dp.mlp([8, 3]).train()
    result = dp.evaluate(model, data, batch_size=7)
    assert model.training
    with torch.no_grad():
        logits = model(data.inputs)
    assert result.accuracy == pytest.approx((logits.argmax(1) == data.labels).float().mean().item())
    assert result.loss == pytest.approx(torch.nn.functional.cross_entropy(logits, data.labels).item(), rel=1e-5)
    assert result.examples == 100


def test_history_plots_loss_and_accuracy():
    data = dp.synthetic_images(64, (8,), num_classes=3, device="cpu")
    history = dp.fit(dp.mlp([8, 3]), data, epochs=2, test=data, progress=False)
    fig = history.plot(title="toy")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert all(len(ax.lines) == 2 for ax in fig.axes)
    assert history.as_dicts()[0]["epoch"] == 1


def test_cuda_graph_training_matches_eager_training(cuda):
    data = dp.synthetic_images(512, (1, 28, 28), device=cuda)
    torch.manual_seed(1)
    initial = dp.lenet5().state_dict()
    models = []
    for graph in (False, True):
        model = dp.lenet5()
        model.load_state_dict(initial)
        history = dp.fit(model, data, epochs=3, lr=0.5, batch_size=64, device=cuda, cuda_graph=graph,
                         progress=False)
        models.append((model, history))
    (eager, eager_h), (graphed, graph_h) = models
    assert graph_h.loss == pytest.approx(eager_h.loss, rel=1e-4)
    for a, b in zip(eager.parameters(), graphed.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_cuda_graph_with_bf16_and_adam_matches_eager_and_learns(cuda):
    """Capture must leave Adam's state (step count, moments) as it found it."""
    data = dp.synthetic_images(2048, (1, 28, 28), device=cuda)
    torch.manual_seed(0)
    initial = dp.lenet5().state_dict()
    histories = []
    for graph in (False, True):
        model = dp.lenet5().to(cuda)
        model.load_state_dict(initial)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, capturable=True)
        histories.append(dp.fit(model, data, epochs=6, batch_size=64, optimizer=optimizer, device=cuda,
                                bf16=True, cuda_graph=graph, progress=False))
    eager, graphed = histories
    assert graphed.loss == pytest.approx(eager.loss, rel=0.1)
    assert eager.accuracy[-1] > 0.9 and graphed.accuracy[-1] > 0.9


@pytest.mark.parametrize("graph", [False, True])
def test_fit_does_not_synchronise_per_batch_on_cuda(cuda, graph):
    """torch.cuda.set_sync_debug_mode warns on every synchronising call it detects: the count must
    not grow with the number of batches, and only by a few calls per epoch."""
    data = dp.synthetic_images(2048, (1, 28, 28), device=cuda)

    def sync_warnings(batch_size: int, epochs: int) -> list[str]:
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                dp.fit(dp.lenet5(), data, epochs=epochs, batch_size=batch_size, device=cuda,
                       cuda_graph=graph, progress=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return [str(w.message) for w in caught if "synchroniz" in str(w.message)]

    few, many, longer = sync_warnings(512, 1), sync_warnings(64, 1), sync_warnings(64, 3)
    assert len(few) == len(many), f"4 vs 32 batches per epoch: {len(few)} vs {len(many)} syncs: {set(many)}"
    per_epoch = (len(longer) - len(many)) / 2
    assert per_epoch <= 4, f"{per_epoch} syncs per epoch: {set(longer)}"


def test_channels_last_training_matches_the_default_layout():
    data = dp.synthetic_images(256, (1, 28, 28), device="cpu")
    torch.manual_seed(3)
    initial = dp.lenet5().state_dict()
    results = []
    for layout in (False, True):
        model = dp.lenet5()
        model.load_state_dict(initial)
        history = dp.fit(model, data, epochs=2, lr=0.5, batch_size=64, channels_last=layout, progress=False)
        results.append((history.loss, model))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-4)
    for a, b in zip(results[0][1].parameters(), results[1][1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert results[1][1][0].weight.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_needs_images():
    with pytest.raises(ValueError, match="4-D image inputs"):
        dp.fit(dp.mlp([8, 3]), dp.synthetic_images(16, (8,), num_classes=3, device="cpu"), epochs=1,
               channels_last=True, progress=False)
