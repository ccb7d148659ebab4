"""Pipeline parallelism: the GPipe schedule and bubble, and a real pipeline step equal to one process's."""

import functools
import multiprocessing

import pytest
import torch
from torch import nn

from dlparallel.distributed import spawn_local
from dlparallel.pipeline import bubble_fraction, gpipe_schedule, plot_schedule, run_gpipe, split_stages


def _model(width=8, blocks=4):
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.Tanh()) for _ in range(blocks)])


@pytest.mark.parametrize("stages, micro_batches", [(1, 1), (2, 1), (3, 4), (4, 8), (5, 2)])
def test_schedule_idles_each_stage_by_the_bubble_fraction(stages, micro_batches):
    tasks = gpipe_schedule(stages, micro_batches, forward_time=1.0, backward_time=2.0)
    makespan = max(t.end for t in tasks)
    assert makespan == (micro_batches + stages - 1) * 3.0
    for s in range(stages):
        mine = sorted((t for t in tasks if t.stage == s), key=lambda t: t.start)
        assert len(mine) == 2 * micro_batches
        assert all(a.end <= b.start for a, b in zip(mine, mine[1:], strict=False)), "a stage runs one task at a time"
        idle = 1 - sum(t.end - t.start for t in mine) / makespan
        assert idle == pytest.approx(bubble_fraction(stages, micro_batches))


def test_schedule_respects_dependencies():
    tasks = {(t.stage, t.micro_batch, t.phase): t for t in gpipe_schedule(3, 3)}
    for (s, i, phase), t in tasks.items():
        if phase == "forward" and s > 0:
            assert tasks[(s - 1, i, "forward")].end <= t.start
        if phase == "backward" and s < 2:
            assert tasks[(s + 1, i, "backward")].end <= t.start
        if phase == "backward":
            assert tasks[(s, i, "forward")].end <= t.start


def test_bubble_fraction_errors_and_limits():
    assert bubble_fraction(1, 5) == 0
    assert bubble_fraction(8, 1) == pytest.approx(7 / 8)
    with pytest.raises(ValueError, match="micro_batches"):
        bubble_fraction(2, 0)


def test_plot_draws_one_bar_per_task():
    ax = plot_schedule(gpipe_schedule(3, 2))
    assert len(ax.patches) == 12
    with pytest.raises(ValueError):
        plot_schedule([])


def test_split_stages_needs_equal_pieces():
    pieces = split_stages(_model(blocks=4), 2)
    assert [len(p) for p in pieces] == [2, 2]
    with pytest.raises(ValueError, match="equal length"):
        split_stages(_model(blocks=3), 2)


@pytest.mark.quiet
def test_two_stage_pipeline_gives_the_single_process_gradients():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(12, 8, generator=g), torch.randn(12, 8, generator=g)
    runs = spawn_local(run_gpipe, 2, _model, x, y, 4, timeout=120)
    torch.manual_seed(0)
    reference = _model()
    loss = nn.functional.mse_loss(reference(x), y)
    loss.backward()
    expected = [p.grad for p in reference.parameters()]
    got = runs[0].gradients + runs[1].gradients
    assert len(got) == len(expected)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-8) for a, b in zip(got, expected, strict=True))
    assert runs[1].loss == pytest.approx(loss.item(), rel=1e-5)
    assert [len(r.tasks) for r in runs] == [8, 8]
    assert all(0 <= r.idle_fraction < 1 for r in runs)
    assert multiprocessing.active_children() == []


def test_one_process_runs_the_whole_model_as_one_stage():
    x = torch.randn(6, 8)
    run = run_gpipe(functools.partial(_model, 8, 2), x, x, micro_batches=2)
    assert run.stages == 1 and len(run.gradients) == 4
    with pytest.raises(ValueError, match="divisible"):
        run_gpipe(_model, x, x, micro_batches=4)
