"""Data parallelism: process groups (dlparallel.distributed), DDP training (dlparallel.ddp), whose
two gloo ranks equal one process on the combined batch, and the all-reduce cost model
(dlparallel.allreduce_cost), all three also reachable as dlparallel.parallel.

Ranks run as local processes (spawn_local, torchrun); every test leaves none of them behind.
"""

import datetime
import functools
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import dlparallel as dp
from dlparallel import allreduce_cost, ddp, distributed, parallel
from dlparallel.ddp import train_ddp
from dlparallel.distributed import spawn_local

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
MODEL = functools.partial(dp.mlp, [8, 16, 3])


@pytest.fixture(autouse=True)
def _no_rank_left_behind():
    yield
    assert multiprocessing.active_children() == []


@pytest.fixture
def one_rank_group(monkeypatch):
    """A process group of this process alone, as torchrun would describe it."""
    for name, value in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                            MASTER_PORT=str(distributed.free_port())).items():
        monkeypatch.setenv(name, value)
    yield distributed.init_process_group_from_env("gloo", timeout=datetime.timedelta(seconds=60))
    dist.destroy_process_group()


@pytest.mark.quiet
def test_one_ddp_step_on_two_ranks_equals_one_step_on_the_combined_batch():
    data = dp.synthetic_images(32, (8,), num_classes=3, device="cpu", seed=1)
    runs = spawn_local(train_ddp, 2, MODEL, data, 1, batch_size=16, lr=0.5, seed=3, timeout=120)

    torch.manual_seed(3)
    model = MODEL()
    loss = torch.nn.functional.cross_entropy(model(data.inputs), data.labels)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad
    assert [run.rank for run in runs] == [0, 1] and runs[0].world_size == 2
    for run in runs:
        assert run.history.loss == pytest.approx([loss.item()], rel=1e-6)
        for mine, reference in zip(run.model.parameters(), model.parameters()):
            torch.testing.assert_close(mine, reference, rtol=1e-6, atol=1e-7)


@pytest.mark.quiet
def test_train_ddp_keeps_every_rank_identical_and_learns():
    data = dp.synthetic_images(97, (8,), num_classes=3, device="cpu")
    runs = spawn_local(train_ddp, 2, MODEL, data, 3, batch_size=8, lr=0.2, timeout=120)
    first, second = runs
    assert first.history.loss == second.history.loss
    assert first.history.accuracy == second.history.accuracy
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    assert first.history.loss[-1] < first.history.loss[0]
    assert first.history.device == "2 x cpu" and len(first.history.records) == 3


def test_train_ddp_on_a_single_rank_matches_the_history_format_of_fit(one_rank_group):
    assert one_rank_group == (0, 1, torch.device("cpu"))
    data = dp.synthetic_images(40, (8,), num_classes=3, device="cpu")
    result = train_ddp(MODEL, data, 2, batch_size=8)
    assert [r.epoch for r in result.history.records] == [1, 2]
    assert all(r.examples_per_second > 0 for r in result.history.records)
    assert isinstance(result.model, torch.nn.Sequential)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"model_fn": "mlp"}, TypeError, "model_fn"),
    ({"data": (torch.zeros(4, 8), torch.zeros(4))}, TypeError, "LabelledData"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"data": dp.LabelledData(torch.zeros(0, 8), torch.zeros(0, dtype=torch.int64))}, ValueError, "0 examples"),
])
def test_train_ddp_rejects_bad_arguments(one_rank_group, kwargs, error, message):
    arguments = {"model_fn": MODEL, "data": dp.synthetic_images(8, (8,), num_classes=3, device="cpu"),
                 "epochs": 1} | kwargs
    with pytest.raises(error, match=message):
        train_ddp(arguments.pop("model_fn"), arguments.pop("data"), arguments.pop("epochs"), **arguments)


def test_train_ddp_needs_a_process_group():
    with pytest.raises(RuntimeError, match="init_process_group_from_env"):
        train_ddp(MODEL, dp.synthetic_images(8, (8,), num_classes=3, device="cpu"), 1)


def test_shards_are_disjoint_equal_and_cover_all_but_the_remainder():
    data = dp.LabelledData(torch.arange(10.0).unsqueeze(1), torch.arange(10))
    shards = [ddp._shard(data, rank, 3, seed=5) for rank in range(3)]
    labels = torch.cat([s.labels for s in shards])
    assert [len(s) for s in shards] == [3, 3, 3] and len(set(labels.tolist())) == 9
    assert torch.equal(shards[0].inputs.squeeze(1).long(), shards[0].labels)
    assert not torch.equal(ddp._shard(data, 0, 3, seed=6).labels, shards[0].labels)


@pytest.mark.quiet
def test_a_failing_rank_raises_here_and_stops_the_others():
    start = time.monotonic()
    with pytest.raises(Exception, match="rank 1 fails"):
        spawn_local(_fail_on_rank_one, 2, timeout=120)
    assert time.monotonic() - start < 60, "rank 0 was not stopped"


def _fail_on_rank_one() -> None:
    if dist.get_rank() == 1:
        raise ZeroDivisionError("rank 1 fails")
    time.sleep(120)  # rank 0 would still be here, if it were not stopped


@pytest.mark.quiet
def test_spawn_local_stops_ranks_that_overrun_the_timeout():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="did not finish within 2 s"):
        spawn_local(time.sleep, 2, 300, timeout=2)
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((dist.get_rank, 0), {}, ValueError, "world_size"),
    ((dist.get_rank, 1.5), {}, ValueError, "world_size"),
    (("not a function", 2), {}, TypeError, "fn must be callable"),
    ((dist.get_rank, 2), {"backend": "mpi"}, ValueError, "backend"),
])
def test_spawn_local_rejects_bad_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        spawn_local(*args, **kwargs)


def test_missing_torchrun_variables_are_named(monkeypatch):
    for name in distributed.ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RuntimeError, match="WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT not set.*torchrun"):
        distributed.init_process_group_from_env()


@pytest.mark.parametrize("env, backend, message", [
    ({"WORLD_SIZE": "0"}, "gloo", "WORLD_SIZE must be a positive integer, got 0"),
    ({"RANK": "2"}, "gloo", r"RANK must lie in 0..WORLD_SIZE-1 = 0..1, got 2"),
    ({"RANK": "first"}, "gloo", "RANK must be an integer"),
    ({}, "mpi", "backend must be"),
])
def test_bad_torchrun_variables_are_clear_errors(monkeypatch, env, backend, message):
    base = dict(RANK="0", WORLD_SIZE="2", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="29500")
    for name, value in (base | env).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        distributed.init_process_group_from_env(backend)


def test_nccl_needs_a_gpu_per_local_rank(monkeypatch):
    for name, value in dict(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="29500",
                            LOCAL_RANK=str(torch.cuda.device_count())).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="LOCAL_RANK is .* NCCL needs one GPU per process"):
        distributed.init_process_group_from_env("nccl")


@pytest.mark.quiet
def test_torchrun_runs_the_ddp_benchmark_on_two_ranks(tmp_path):
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(ROOT / "benchmarks" / "ddp_train.py"),
               "--backend", "gloo", "--train-size", "256", "--batch-size", "32", "--epochs", "2",
               "--json", str(tmp_path / "ddp.json")]
    # Its own session, so that a timeout can stop torchrun and both of its ranks together.
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"torchrun did not finish within 180 s:\n{output}")
    assert process.returncode == 0, output
    assert "2 ranks, gloo" in output and "epoch 2:" in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("DDP throughput:") and "per rank (2 ranks)" in last, output
    assert (tmp_path / "ddp.json").is_file()


def test_ring_allreduce_sends_twice_the_buffer_in_the_limit():
    assert allreduce_cost.ring_allreduce_bytes(1000, 1) == 0
    assert allreduce_cost.ring_allreduce_bytes(1000, 2) == 1000
    assert allreduce_cost.ring_allreduce_bytes(1000, 8) == pytest.approx(1750)
    assert allreduce_cost.ring_allreduce_bytes(1000, 10_000) == pytest.approx(2000, rel=1e-3)


def test_step_time_and_efficiency_follow_the_alpha_beta_model():
    step = allreduce_cost.data_parallel_step_time(0.1, 1e8, 4, 1e10, latency_s=1e-5)
    assert step == pytest.approx(0.1 + 6 * 1e-5 + 1.5e8 / 1e10)
    assert allreduce_cost.data_parallel_step_time(0.1, 1e8, 1, 1e10, 1e-5) == 0.1
    assert allreduce_cost.scaling_efficiency(0.1, 1e8, 1, 1e10) == 1.0
    assert allreduce_cost.scaling_efficiency(0.1, 1e8, 4, 1e10, 1e-5) == pytest.approx(0.1 / step)
    efficiencies = [allreduce_cost.scaling_efficiency(0.05, 1e8, n, 1e10, 1e-5) for n in (2, 4, 8, 64)]
    assert efficiencies == sorted(efficiencies, reverse=True) and efficiencies[-1] > 0.5


@pytest.mark.parametrize("call, message", [
    (lambda: allreduce_cost.ring_allreduce_bytes(100, 0), "workers"),
    (lambda: allreduce_cost.ring_allreduce_bytes(-1, 2), "n_bytes"),
    (lambda: allreduce_cost.data_parallel_step_time(-0.1, 100, 2, 1e9), "compute_s"),
    (lambda: allreduce_cost.data_parallel_step_time(0.1, -100, 2, 1e9), "grad_bytes"),
    (lambda: allreduce_cost.data_parallel_step_time(0.1, 100, 2, 0), "bandwidth_bytes_per_s"),
    (lambda: allreduce_cost.data_parallel_step_time(0.1, 100, 2, 1e9, -1e-6), "latency_s"),
    (lambda: allreduce_cost.scaling_efficiency(0.0, 100, 2, 1e9), "compute_s"),
])
def test_cost_model_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_parallel_gathers_the_names_that_lessons_and_scripts_use():
    for module in (distributed, ddp, allreduce_cost):
        for name in module.__all__:
            assert getattr(parallel, name) is getattr(module, name), name
    assert sorted(parallel.__all__) == sorted({*distributed.__all__, *ddp.__all__, *allreduce_cost.__all__})
