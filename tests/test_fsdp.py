"""FSDP2 on two gloo ranks trains like one process, holding half the parameters on each rank."""

import functools
import multiprocessing

import pytest

import dlparallel as dp
from dlparallel.fsdp import train_fsdp
from dlparallel.distributed import spawn_local

MODEL = functools.partial(dp.mlp, [64, 32, 10])


@pytest.mark.quiet
def test_two_ranks_train_like_one_process_on_half_the_parameters():
    data = dp.load_digits("cpu").train
    runs = spawn_local(train_fsdp, 2, MODEL, data, steps=4, batch_size=64, timeout=120)
    single = train_fsdp(MODEL, data, steps=4, batch_size=64)
    assert runs[0].losses == runs[1].losses
    assert runs[0].losses == pytest.approx(single.losses, abs=1e-5)
    total = single.total_parameters
    assert [r.local_parameters for r in runs] == [total // 2, total // 2]
    assert [r.local_optimizer_state for r in runs] == [total, total]  # Adam: two entries per local parameter
    # per step: the weights gathered for the forward and again for the backward, the gradients scattered once
    assert runs[0].all_gathered_bytes == 4 * 2 * 4 * total
    assert runs[0].reduce_scattered_bytes == 4 * 4 * total
    assert single.all_gathered_bytes == single.reduce_scattered_bytes == 0
    assert multiprocessing.active_children() == []


def test_bad_batch_is_named():
    with pytest.raises(ValueError, match="batch_size"):
        train_fsdp(MODEL, dp.load_digits("cpu").train, steps=1, batch_size=0)
