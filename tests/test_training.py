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


# Every way Python reads a tensor's values: on a GPU each one waits for the device.
VALUE_READS = ("item", "tolist", "numpy", "__float__", "__int__", "__bool__", "__index__", "__array__",
               "__format__", "__repr__")


@pytest.fixture
def value_reads(monkeypatch) -> list[str]:
    """The names of the tensor methods through which values are read from now on, one entry per
    read (a read inside another, such as repr calling item, counts once)."""
    reads, depth = [], [0]

    def counted(name, method):
        def read(self, *args, **kwargs):
            if depth[0] == 0:
                reads.append(name)
            depth[0] += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                depth[0] -= 1
        return read

    for name in VALUE_READS:
        monkeypatch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
    return reads


def test_fit_reads_the_device_a_few_times_per_epoch_whatever_the_batches(value_reads):
    """A read of a tensor's value is a host synchronisation on a GPU: fit may read the epoch's
    loss and accuracy (at most two reads per epoch), never something per batch."""
    data = dp.synthetic_images(320, (8,), num_classes=3, device="cpu")
    counts = {}
    for batch_size in (160, 10):
        value_reads.clear()
        dp.fit(dp.mlp([8, 3]), data, epochs=2, batch_size=batch_size, progress=False)
        counts[batch_size] = len(value_reads)
    assert counts[160] == counts[10] <= 2 * 2, f"value reads for 2 and 32 batches per epoch: {counts}"


def test_the_read_counter_sees_every_kind_of_read(value_reads):
    """The count above is not blind: a per-batch .tolist(), float() or f-string would be seen."""
    t = torch.tensor([1.5])
    t.tolist(), float(t), bool(t), t.numpy(), t.item(), f"{t[0]:.1f}", repr(t)
    assert value_reads == ["tolist", "__float__", "__bool__", "numpy", "item", "__format__", "__repr__"]


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


def test_trainer_sums_the_epoch_over_ranks_through_all_reduce():
    """An all_reduce that adds a second, identical rank's totals: the same loss and accuracy,
    twice the examples; without a batch there is no epoch to record."""
    data = dp.synthetic_images(48, (8,), num_classes=3, device="cpu")
    runs = {}
    for ranks in (1, 2):
        torch.manual_seed(0)
        model = dp.mlp([8, 3])
        trainer = dp.Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), label=f"{ranks} ranks",
                             all_reduce=(lambda totals: totals.mul_(2)) if ranks == 2 else None)
        runs[ranks] = trainer.epoch(dp.DeviceLoader(data, 16, shuffle=False)), trainer
    (one, _), (two, trainer) = runs[1], runs[2]
    assert two.loss == pytest.approx(one.loss) and two.accuracy == pytest.approx(one.accuracy)
    assert two.examples_per_second * two.seconds == pytest.approx(2 * len(data))
    assert trainer.history.device == "2 ranks" and trainer.history.records == [two]
    with pytest.raises(ValueError, match="no batches"):
        trainer.epoch([])
