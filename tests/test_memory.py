"""The memory budget of training: bytes per parameter, the ZeRO formula, activations saved for backward."""

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from dlparallel.memory import bytes_per_parameter, max_parameters, saved_activation_bytes, zero_bytes_per_rank


@pytest.mark.parametrize("optimizer, fp32, mixed", [("sgd", 8, 8), ("momentum", 12, 12), ("adam", 16, 16)])
def test_bytes_per_parameter(optimizer, fp32, mixed):
    assert bytes_per_parameter(optimizer, "fp32").total == fp32
    assert bytes_per_parameter(optimizer, "mixed").total == mixed
    assert bytes_per_parameter(optimizer, "mixed").weights == 2


def test_adam_state_matches_what_torch_allocates():
    model = nn.Linear(30, 20)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 30)).sum().backward()
    optimizer.step()
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values() if t.dim() > 0)
    n = sum(p.numel() for p in model.parameters())
    assert state == bytes_per_parameter("adam", "fp32").optimizer_state * n


def test_zero_stages_shrink_towards_an_even_split():
    parameters, ranks = 1_000_000, 4
    per_rank = [zero_bytes_per_rank(parameters, ranks, stage) for stage in range(4)]
    assert per_rank[0] == 16 * parameters and per_rank[3] * ranks == per_rank[0]
    assert per_rank == sorted(per_rank, reverse=True)
    assert zero_bytes_per_rank(parameters, 1, 3) == per_rank[0]
    assert zero_bytes_per_rank(parameters, ranks, 1, "sgd", "fp32") == 8 * parameters  # nothing to shard


@pytest.mark.parametrize("kwargs, match", [(dict(parameters=10, ranks=3, stage=1), "divides"),
                                           (dict(parameters=10, ranks=2, stage=4), "stage"),
                                           (dict(parameters=0, ranks=2, stage=1), "parameters"),
                                           (dict(parameters=10, ranks=2, stage=1, optimizer="lamb"), "optimizer")])
def test_zero_errors_say_what_to_change(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zero_bytes_per_rank(**kwargs)


def test_max_parameters():
    assert max_parameters(80e9) == 5_000_000_000
    with pytest.raises(ValueError):
        max_parameters(0)


def _blocks(width, depth):
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
                           for _ in range(depth)])


def test_saved_bytes_count_each_layer_and_grow_with_batch_and_depth():
    model = _blocks(16, 3)
    x = torch.ones(8, 16)
    saved = saved_activation_bytes(model, x, exclude=model.parameters())
    # per block: its input (8 x 16), the first linear's output and the GELU's output (8 x 64 each)
    assert saved == 3 * (8 * 16 + 2 * 8 * 64) * 4
    assert saved_activation_bytes(model, torch.ones(16, 16), exclude=model.parameters()) == 2 * saved
    assert saved_activation_bytes(_blocks(16, 6), x) > saved


def test_checkpointing_keeps_only_each_blocks_input():
    model = _blocks(16, 3)
    x = torch.ones(8, 16)

    def checkpointed(h):
        for block in model:
            h = checkpoint(block, h, use_reentrant=False)
        return h

    assert saved_activation_bytes(checkpointed, x, exclude=model.parameters()) == 3 * 8 * 16 * 4
    checkpointed(x).sum().backward()  # and the gradients still come
    assert all(p.grad is not None for p in model.parameters())


def test_saved_bytes_needs_a_function():
    with pytest.raises(TypeError, match="callable"):
        saved_activation_bytes(3)
