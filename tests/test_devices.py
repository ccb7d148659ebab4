import pytest
import torch

import dlparallel as dp


def test_available_devices_lists_cpu_last():
    names = dp.available_devices()
    assert names[-1] == "cpu"
    assert ("cuda" in names) == torch.cuda.is_available()


def test_pick_device_defaults_to_fastest_present():
    expected = "cuda" if torch.cuda.is_available() else dp.available_devices()[0]
    assert dp.pick_device().type == expected


def test_pick_device_accepts_names_and_devices(device):
    assert dp.pick_device(str(device)).type == device.type
    assert dp.pick_device(device).type == device.type


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_absent_cuda_is_a_clear_error():
    with pytest.raises(dp.DeviceUnavailableError, match=r"'cuda'.*not available.*available: .*cpu"):
        dp.pick_device("cuda")


def test_absent_cuda_index_is_a_clear_error():
    with pytest.raises(dp.DeviceUnavailableError, match="cuda:99"):
        dp.pick_device("cuda:99")


def test_nonsense_device_name_is_rejected():
    with pytest.raises(ValueError, match="not a device name"):
        dp.pick_device("banana")


def test_describe_hardware(device):
    summary = dp.describe_hardware(device)
    assert summary.device.startswith(device.type)
    assert summary.parallel_units >= 1
    assert summary.memory_gib > 0
    text = str(summary)
    assert torch.__version__ in text and summary.name in text
    if device.type == "cuda":
        assert summary.parallel_unit_kind == "SMs" and summary.cuda_version


def test_synchronize_waits_on_accelerators_only(monkeypatch):
    """The CPU runs each operation before returning, so there is nothing to wait for; CUDA and MPS
    queue work, and synchronize must wait for that device's queue."""
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waited.append(("cuda", device)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waited.append(("mps", None)))
    dp.synchronize("cpu")
    assert waited == []
    dp.synchronize("cuda:1")
    dp.synchronize(torch.device("mps"))
    assert waited == [("cuda", torch.device("cuda:1")), ("mps", None)]


def test_synchronize_returns_after_the_queued_work(cuda):
    a = torch.randn(2048, 2048, device=cuda)
    for _ in range(20):
        a = torch.tanh(a @ a)
    done = torch.cuda.Event()
    done.record()
    dp.synchronize(cuda)
    assert done.query(), "synchronize returned before the queued products had run"
