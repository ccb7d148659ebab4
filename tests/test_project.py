"""The project's own set-up files agree with each other."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# A figure as written in prose or a table: 368, 1,368, 54.6 (a trailing dot or comma ends a sentence).
NUMBER = re.compile(r"(?<![\d.,])\d+(?:,\d{3})*(?:\.\d+)?(?!\d|[.,]\d)")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    first_commands = re.findall(r"^make (\w+)", readme, flags=re.M)[:2]
    assert first_commands == ["lab", "test"]


def test_makefile_pins_torch_through_constraints_within_pyprojects_bounds():
    """`make` installs one exact torch (the one the lessons' outputs were made with), and that
    version is one pyproject.toml allows."""
    pinned = re.findall(r"^torch==(\S+)$", (ROOT / "constraints.txt").read_text(), flags=re.M)
    assert len(pinned) == 1, "constraints.txt must pin torch to one exact version"
    torch_bounds = next(Requirement(r) for r in _project()["dependencies"] if Requirement(r).name == "torch")
    assert torch_bounds.specifier.contains(pinned[0]), f"torch=={pinned[0]} is outside {torch_bounds}"
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def test_makefile_and_environment_yml_use_the_same_python():
    makefile = (ROOT / "Makefile").read_text()
    python = re.search(r"command -v python(3\.\d+)", makefile).group(1)
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    assert f"python={python}" in conda, f"the Makefile prefers python{python}, environment.yml has {conda[:2]}"
    assert SpecifierSet(_project()["requires-python"]).contains(Version(python)), python


def test_version_is_written_once():
    version = _project()["version"]
    Version(version)  # a valid version string
    import dlparallel

    try:
        installed = metadata.version("dlparallel")
    except metadata.PackageNotFoundError:
        pytest.skip("dlparallel runs from the checkout (PYTHONPATH), not installed")
    assert dlparallel.__version__ == installed == version, "reinstall (`make install`) after changing the version"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    released = re.findall(r"^## \[(\d[^\]]*)\]", changelog, flags=re.M)
    assert released and Version(released[0]) <= Version(version), (released, version)


def _numbers(text: str) -> set[float]:
    return {float(n.replace(",", "")) for n in NUMBER.findall(text)}


def test_numbers_are_read_whole():
    assert _numbers("1,368 and 368.0, then 54.6. And 2026-11-26: 12,000") == {1368, 368, 54.6, 2026, 11, 26, 12000}
    assert 368 not in _numbers("p99 1368 µs") and 54.6 not in _numbers("154.6 or 54.62")


def test_recorded_figures_match_benchmarks_results():
    """The figures lessons show as recorded are the ones benchmarks/RESULTS.md reports, under the
    heading of the device they were recorded on."""
    import dlparallel as dp

    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    for recorded in (dp.recorded.H100_MATMUL_TFLOPS, dp.recorded.H100_TRAINING,
                     dp.recorded.H100_BATCH1_LATENCY_US):
        section = re.search(rf"^## {re.escape(recorded.device)}.*?(?=^## |\Z)", results, flags=re.M | re.S)
        assert section, f"benchmarks/RESULTS.md has no section for {recorded.device}"
        assert recorded.software.split()[-1] in section.group(0) and recorded.date in section.group(0)
        assert (ROOT / recorded.source).is_file()
        found = _numbers(section.group(0))
        for name, value in recorded.values.items():
            assert value in found, f"{recorded.what}, {name}: {value} is not in {recorded.device}'s results"
