"""Shared fixtures: every device-parametrised test runs on the CPU and, where present, on CUDA;
the problem sets are released by nbgrader once per test run."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from courses import release_every_set  # noqa: E402

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


def pytest_collection_modifyitems(items):
    """Tests that need the released problem sets run nbgrader: they belong to the `pipeline` tier."""
    for item in items:
        if "released" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pipeline)


@pytest.fixture(scope="session")
def released(tmp_path_factory) -> Path:
    """A course directory in which every problem set is released (see courses.release_every_set),
    made once per test run. Tests only read it: they copy what they change (courses.course_of)."""
    root = tmp_path_factory.mktemp("released")
    release_every_set(root)
    return root
