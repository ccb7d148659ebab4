import pytest
import torch

from dlparallel import cuda_graphs


def test_capture_needs_a_cuda_device():
    calls = []
    with pytest.raises(ValueError, match="needs a CUDA device, got cpu"):
        cuda_graphs.capture(calls.append, torch.device("cpu"))
    assert calls == [], "nothing may run before the device is known to be CUDA"


def test_capture_warms_up_then_records_one_replayable_call(cuda):
    x = torch.zeros(4, device=cuda)
    calls, prepared = [], []

    def double(capturing: bool) -> torch.Tensor:
        calls.append(capturing)
        return x * 2

    graph, out = cuda_graphs.capture(double, cuda, warmup=2, before_capture=lambda: prepared.append(len(calls)))
    assert calls == [False, False, True] and prepared == [2]
    x.fill_(1.5)
    graph.replay()
    assert out.tolist() == [3.0] * 4
