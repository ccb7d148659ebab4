"""The slow work that tests wait for (nbgrader runs, an install), run in background threads.

tests/conftest.py starts it when the session starts, so that it runs while the library's tests
do (they leave a core idle) and the tests that need it only wait for what is not done yet. Jobs
have names; a job may start after another and then receives that job's result. Each lane has
threads of its own, so that a long chain of jobs in one lane is not queued behind another's.
Each job's start and end are kept (``timings``), for the summary at the end of the run.

Example:
    >>> work = CourseWork()
    >>> work.lane("numbers", workers=1)
    >>> work.start("two", lambda: 2, lane="numbers")
    >>> work.start("four", lambda two: two * 2, lane="numbers", after="two")
    >>> work.result("four")
    4
    >>> sorted(work.timings())
    ['four', 'two']
    >>> work.close()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any


class JobFailed(RuntimeError):
    """A job could not run because the job it starts after failed or was cancelled."""


class CourseWork:
    """Named background jobs in lanes of threads; see the module's docstring."""

    def __init__(self) -> None:
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._jobs: dict[str, Future] = {}
        self._made = time.monotonic()
        self._timings: dict[str, tuple[float, float]] = {}

    def lane(self, name: str, workers: int) -> None:
        """A lane of ``workers`` threads for the jobs started in it."""
        self._lanes[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    def start(self, name: str, run: Callable[..., Any], *args: Any, lane: str, after: str | None = None) -> None:
        """Run ``run(*args)`` in ``lane``; with ``after``, once that job is done, as ``run(*args, its result)``."""
        if name in self._jobs:
            raise ValueError(f"a job named {name!r} was already started")
        pool, done = self._lanes[lane], Future()
        self._jobs[name] = done

        def timed(*arguments: Any) -> Any:
            started = time.monotonic() - self._made
            try:
                return run(*arguments)
            finally:
                self._timings[name] = (started, time.monotonic() - self._made)

        def launch(before: Future | None = None) -> None:
            extra = ()
            if before is not None:
                if before.cancelled() or before.exception() is not None:
                    done.set_exception(JobFailed(f"{name}: {after} did not finish"))
                    return
                extra = (before.result(),)
            try:
                pool.submit(timed, *args, *extra).add_done_callback(lambda job: _copy(job, done))
            except RuntimeError as error:  # the lanes were closed in the meantime
                done.set_exception(error)

        if after is None:
            launch()
        else:
            self._jobs[after].add_done_callback(launch)

    def result(self, name: str, timeout: float | None = None) -> Any:
        """The result of job ``name``, once it is done (its exception, if it raised one)."""
        return self._jobs[name].result(timeout)

    def timings(self) -> dict[str, tuple[float, float]]:
        """When each finished job started and ended, in seconds since this object was made."""
        return dict(self._timings)

    def wait(self) -> None:
        """Return when every job started so far is done."""
        wait(list(self._jobs.values()))

    def close(self) -> None:
        """Cancel what has not started and wait for what runs."""
        for pool in self._lanes.values():
            pool.shutdown(wait=True, cancel_futures=True)


def _copy(job: Future, done: Future) -> None:
    if job.cancelled():
        done.set_exception(JobFailed("cancelled"))
    elif job.exception() is not None:
        done.set_exception(job.exception())
    else:
        done.set_result(job.result())
