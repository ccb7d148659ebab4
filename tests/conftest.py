"""Shared fixtures: every device-parametrised test runs on the CPU and, where present, on CUDA;
the problem sets are released by nbgrader once per test run.

The slow work of the pipeline tests (releasing, grading, installing the student edition) starts in
background threads when the session starts (tests/course_work.py). The library's tests run first,
while it runs; then the pipeline tests, which wait for what they need; the lessons under nbval and
the tests marked `quiet` (they measure time, or start process groups whose ranks must meet within a
timeout) and the doctests that start process groups run last, once the background work is done.
"""

from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_work import CourseWork  # noqa: E402
from courses import release_every_set  # noqa: E402

COURSE_WORK = pytest.StashKey[CourseWork]()

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.cuda,
                                pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]),
]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture
def cuda() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    return torch.device("cuda")


@pytest.fixture(autouse=True)
def _seeded_and_closed():
    torch.manual_seed(0)
    yield
    plt.close("all")


def _needs_a_quiet_machine(item: pytest.Item) -> bool:
    """A lesson (its cells measure time), a test marked `quiet`, or a doctest that starts ranks."""
    if item.path.suffix == ".ipynb" or item.get_closest_marker("quiet") is not None:
        return True
    examples = getattr(getattr(item, "dtest", None), "examples", ())
    return any("spawn_local(" in example.source for example in examples)


def pytest_collection_modifyitems(items):
    """Tests that need the released problem sets run nbgrader: they belong to the `pipeline` tier.
    The library's tests run first, then the pipeline and browser tests (those that wait for
    background work last), then what needs a quiet machine."""
    for item in items:
        if "released" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pipeline)

    def phase(item: pytest.Item) -> int:
        if _needs_a_quiet_machine(item):
            return 3
        if not any(item.get_closest_marker(m) for m in ("pipeline", "browser")):
            return 0
        return 2 if hasattr(getattr(item, "module", None), "start_course_work") else 1

    items.sort(key=phase)


def pytest_runtest_setup(item):
    """What needs a quiet machine waits until the background work is done."""
    work = item.config.stash.get(COURSE_WORK, None)
    if work is not None and _needs_a_quiet_machine(item):
        work.wait()


def pytest_terminal_summary(terminalreporter, config):
    """When each background job ran, for whoever makes the run faster."""
    work = config.stash.get(COURSE_WORK, None)
    timings = work.timings() if work is not None else {}
    if timings:
        terminalreporter.write_sep("-", "background work (seconds since the session started)")
        for name, (start, end) in sorted(timings.items(), key=lambda job: job[1]):
            terminalreporter.write_line(f"{start:6.0f} to {end:4.0f} ({end - start:4.0f}): {name}")


@pytest.fixture(scope="session", autouse=True)
def course_work(request, tmp_path_factory) -> Iterator[CourseWork]:
    """The background work the collected tests use, started now: the release when a test uses
    ``released``, and what each test module's ``start_course_work(work, tmp, fixturenames)``
    starts for the fixtures its collected tests use."""
    work = CourseWork()
    request.config.stash[COURSE_WORK] = work
    tests = [item for item in request.session.items if isinstance(item, pytest.Function)]
    if any("released" in item.fixturenames for item in tests):
        work.lane("release", workers=1)
        work.start("released", _release, tmp_path_factory.mktemp("released"), lane="release")
    for module in dict.fromkeys(item.module for item in tests):
        start = getattr(module, "start_course_work", None)
        if start is not None:
            used = {name for item in tests if item.module is module for name in item.fixturenames}
            start(work, tmp_path_factory, used)
    try:
        yield work
    finally:
        work.close()


def _release(root: Path) -> Path:
    release_every_set(root)
    return root


@pytest.fixture(scope="session")
def released(course_work) -> Path:
    """A course directory in which every problem set is released (see courses.release_every_set),
    made once per test run. Tests only read it: they copy what they change (courses.course_of)."""
    return course_work.result("released")
