"""The project's own set-up files agree with each other."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    first_commands = re.findall(r"^make (\w+)", readme, flags=re.M)[:2]
    assert first_commands == ["lab", "test"]


def test_makefile_pins_torch_through_constraints():
    constraints = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", constraints, flags=re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile
    assert "python3.11" in makefile, "the Makefile and environment.yml must use the same Python"


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
