"""The project's own set-up files agree with each other."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_split(r) for r in project["dependencies"])
    for extra in ("course", "test"):
        wanted.update(_split(r) for r in project["optional-dependencies"][extra])
    wanted = {CONDA_NAMES.get(name, name): spec for name, spec in wanted.items()}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = conda.pop("python")
    conda.pop("pip")

    assert conda == wanted
    assert pip_section == ["--editable ."]
    assert python == "=3.11"
    makefile = (ROOT / "Makefile").read_text()
    assert "python3.11" in makefile, "the Makefile and environment.yml must use the same Python"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    first_commands = re.findall(r"^make (\w+)", readme, flags=re.M)[:2]
    assert first_commands == ["lab", "test"]


def test_makefile_pins_torch_through_constraints():
    constraints = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", constraints, flags=re.M)
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def test_recorded_figures_match_benchmarks_results():
    """The figures lessons show as recorded are the ones benchmarks/RESULTS.md reports."""
    import dlparallel as dp

    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    for recorded in (dp.recorded.H100_MATMUL_TFLOPS, dp.recorded.H100_TRAINING,
                     dp.recorded.H100_BATCH1_LATENCY_US):
        assert recorded.device in results and recorded.software.split()[-1] in results
        assert (ROOT / recorded.source).is_file()
        for value in recorded.values.values():
            assert f"{value:,}".rstrip("0").rstrip(".") in results, value
