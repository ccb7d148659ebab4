"""A control group per grading kernel bounds everything it starts, together, and leaves nothing behind."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import pytest

from dlparallel.grading.bubblewrap import SandboxLimits, bwrap_command, installed_code, sandbox_problem
from dlparallel.grading.cgroups import kernel_cgroup


@contextlib.contextmanager
def _group(processes: int, memory: int):
    with kernel_cgroup(processes=processes, memory=memory) as group:
        if group is None:
            pytest.skip("this user can make no control group here (not root, or no pids and memory controllers)")
        yield group


def test_the_processes_of_a_group_are_bounded_all_together():
    with _group(processes=6, memory=0) as group:
        done = subprocess.run(group.wrap(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait"]),
                              capture_output=True, text=True, timeout=60)
    assert "Cannot fork" in done.stderr


def test_the_memory_of_a_group_is_bounded_all_together():
    with _group(processes=0, memory=96 * 2**20) as group:
        # Two processes of 64 MiB each: neither alone passes the limit, together they do.
        code = "import time; x = bytearray(64 * 2**20); time.sleep(2); print('held')"
        both = f'{sys.executable} -c "{code}" & {sys.executable} -c "{code}"; wait'
        done = subprocess.run(group.wrap(["sh", "-c", both]), capture_output=True, text=True, timeout=60)
    assert done.stdout.count("held") < 2


def test_what_is_left_in_a_group_is_killed_and_the_group_removed():
    with _group(processes=64, memory=2**30) as group:
        daemon = subprocess.Popen(group.wrap(["sh", "-c", "sleep 300 & sleep 300"]), start_new_session=True)
        for _ in range(100):
            if len(group.pids()) == 3:  # the shell and its two sleeps
                break
            time.sleep(0.05)
        assert len(group.pids()) == 3
    assert daemon.wait(timeout=10) == -9
    assert not any(folder.exists() for folder in group.folders)


@pytest.mark.skipif(bool(sandbox_problem()), reason="bubblewrap cannot start a sandbox here")
def test_a_sandboxed_command_runs_inside_its_group(tmp_path):
    flood = "import subprocess\nfor _ in range(20):\n    subprocess.Popen(['sleep', '5'])\nprint('started 20')"
    with _group(processes=12, memory=2**30) as group:
        command = bwrap_command([sys.executable, "-P", "-c", flood], tmp_path / "work", tmp_path,
                                readable=installed_code(), limits=SandboxLimits())
        done = subprocess.run(group.wrap(command), capture_output=True, text=True, timeout=60)
    assert "started 20" not in done.stdout and "BlockingIOError" in done.stderr, done.stderr[-2000:]
