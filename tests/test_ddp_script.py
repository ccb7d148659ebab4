"""Lesson 05's data-parallel script: its training, all-reduce timing and overlap measurement on gloo ranks."""

import os
from unittest import mock

import pytest
import torch
import torch.distributed as dist

from dlparallel import ddp_script
from dlparallel.distributed import free_port, spawn_local


def _world_of_one() -> dict:
    return dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))


@pytest.fixture
def one_rank():
    with mock.patch.dict(os.environ, _world_of_one()):
        _, _, device = ddp_script.join_group("gloo")
    yield device
    dist.destroy_process_group()


@pytest.mark.quiet
def test_two_ranks_learn_the_digits_and_agree():
    runs = spawn_local(ddp_script.train_digits, 2, torch.device("cpu"), epochs=3, backend="gloo", timeout=120)
    figures = [[(e["loss"], e["test_accuracy"]) for e in run] for run in runs]
    assert figures[0] == figures[1]  # all-reduced, so every rank reports the same (only its own clock differs)
    assert runs[0][-1]["loss"] < runs[0][0]["loss"]
    assert all(0 <= e["test_accuracy"] <= 1 for e in runs[0])


def test_the_explicit_all_reduce_gives_the_losses_of_ddp(one_rank):
    with_ddp = ddp_script.train_digits(one_rank, epochs=2)
    explicit = ddp_script.train_digits(one_rank, epochs=2, use_ddp=False)
    assert [e["loss"] for e in with_ddp] == pytest.approx([e["loss"] for e in explicit], abs=1e-6)


def test_allreduce_timing_and_overlap_report_positive_times(one_rank):
    rows = ddp_script.time_allreduce(one_rank, [4096, 65536], repeats=2)
    assert [r["bytes"] for r in rows] == [4096, 65536] and all(r["seconds"] > 0 for r in rows)
    overlap = ddp_script.measure_overlap(one_rank, width=32, depth=1, batch=8, repeats=2)
    assert overlap["gradient_bytes"] == 4 * (64 * 32 + 32 + 32 * 10 + 10)
    assert min(overlap["compute_s"], overlap["ddp_s"], overlap["allreduce_s"]) > 0


def test_main_runs_a_task_and_writes_its_report(tmp_path, capsys):
    out = tmp_path / "report.json"
    with mock.patch.dict(os.environ, _world_of_one()):
        report = ddp_script.main(["--task", "allreduce", "--backend", "gloo", "--json", str(out)])
    assert not dist.is_initialized()
    assert report["world_size"] == 1 and len(report["allreduce"]) == len(ddp_script.MESSAGE_BYTES)
    assert out.is_file() and "all_reduce of" in capsys.readouterr().out


def test_without_torchrun_the_script_says_how_to_start_it():
    with mock.patch.dict(os.environ, {}, clear=True), pytest.raises(RuntimeError, match="torchrun"):
        ddp_script.main(["--task", "allreduce"])
