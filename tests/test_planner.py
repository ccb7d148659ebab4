"""The layout planner: memory and communication per device follow the stated formulas."""

import pytest

from dlparallel.memory import zero_bytes_per_rank
from dlparallel.planner import Transformer, choose, plan

MODEL = Transformer(layers=32, hidden=4096, seq_len=2048)


def _by_name(plans):
    return {p.name: p for p in plans}


def test_every_layout_uses_all_devices_and_fsdp_states_match_zero3():
    plans = plan(MODEL, batch=64, devices=8, device_bytes=80e9, link_bytes_per_s=100e9)
    assert all(p.data * p.tensor * p.pipeline == 8 for p in plans)
    fsdp = _by_name(plans)["FSDP 8"]
    assert fsdp.state_bytes == zero_bytes_per_rank(MODEL.parameters, 8, stage=3)
    data = _by_name(plans)["data 8"]
    assert data.state_bytes == 16 * MODEL.parameters
    assert data.communication_bytes == pytest.approx(2 * 7 / 8 * 2 * MODEL.parameters)
    assert fsdp.communication_bytes == pytest.approx(1.5 * data.communication_bytes)


def test_checkpointing_shrinks_activations_and_makes_layouts_fit():
    plain = _by_name(plan(MODEL, 64, 8, 80e9, 100e9))
    checkpointed = _by_name(plan(MODEL, 64, 8, 80e9, 100e9, checkpointing=True))
    assert checkpointed["FSDP 8"].activation_bytes * 17 == pytest.approx(plain["FSDP 8"].activation_bytes)
    assert not plain["FSDP 8"].fits and checkpointed["FSDP 8"].fits
    assert checkpointed["FSDP 8"].step_s > plain["FSDP 8"].step_s  # recomputation costs time


def test_pipeline_plans_carry_the_bubble_and_one_device_sends_nothing():
    plans = _by_name(plan(Transformer(4, 64, 16), batch=8, devices=2, device_bytes=1e9, link_bytes_per_s=1e9,
                          micro_batches=4))
    assert plans["pipeline 2"].bubble == pytest.approx(1 / 5)
    single = plan(Transformer(4, 64, 16), batch=8, devices=1, device_bytes=1e9, link_bytes_per_s=1e9)
    assert [p.name for p in single] == ["one device"] and single[0].communication_bytes == 0


def test_choose_picks_the_fastest_layout_that_fits():
    plans = plan(MODEL, 64, 8, 80e9, 100e9, checkpointing=True)
    best = choose(plans)
    assert best.fits and all(best.step_s <= p.step_s for p in plans if p.fits)
    with pytest.raises(ValueError, match="no layout fits"):
        choose(plan(MODEL, 64, 8, 80e9, 100e9))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="layers"):
        Transformer(0, 8, 8)
    with pytest.raises(ValueError, match="devices"):
        plan(MODEL, 64, 0, 80e9, 100e9)
    with pytest.raises(TypeError, match="Transformer"):
        plan("gpt", 64, 8, 80e9, 100e9)
