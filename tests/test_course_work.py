"""The background jobs the pipeline tests wait for (tests/course_work.py)."""

import threading

import pytest

from course_work import CourseWork, JobFailed


def test_a_job_after_another_gets_its_result_and_runs_in_its_own_lane():
    work = CourseWork()
    work.lane("first", workers=1)
    work.lane("second", workers=1)
    gate = threading.Event()
    work.start("waits", gate.wait, 30, lane="first")
    work.start("two", lambda: 2, lane="second")
    work.start("four", lambda two: two * 2, lane="second", after="two")
    assert work.result("four", timeout=30) == 4  # not queued behind the blocked lane
    gate.set()
    work.wait()
    assert work.result("waits") is True
    timings = work.timings()
    assert set(timings) == {"waits", "two", "four"}
    assert timings["two"][1] <= timings["four"][0] <= timings["four"][1] <= timings["waits"][1]
    work.close()


def test_a_failure_reaches_the_jobs_after_it_and_names_are_unique():
    work = CourseWork()
    work.lane("only", workers=1)
    work.start("fails", lambda: 1 / 0, lane="only")
    work.start("after", lambda value: value, lane="only", after="fails")
    with pytest.raises(ZeroDivisionError):
        work.result("fails", timeout=30)
    with pytest.raises(JobFailed, match="after: fails did not finish"):
        work.result("after", timeout=30)
    with pytest.raises(ValueError, match="already started"):
        work.start("fails", int, lane="only")
    work.close()
