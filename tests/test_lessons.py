"""Structure of the lesson notebooks; nbval (in `make test`) checks that they run and match."""

import ast
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = LESSONS + sorted((ROOT / "source").glob("*/*.ipynb"))
THIRD_PARTY = {"dlparallel", "torch", "numpy", "matplotlib", "tqdm", "sklearn", "IPython", "numba"}
SHARED_CELL_LINES = 4  # a code cell this long must not appear in two notebooks


def _cells(path: Path, kind: str) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _imports(code: str) -> set[str]:
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_lessons_exist():
    assert [p.name[:2] for p in LESSONS] == [f"{i:02d}" for i in range(1, len(LESSONS) + 1)]
    assert len(LESSONS) >= 3


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_imports_resolve_to_dlparallel_and_known_packages(path):
    imported = set().union(*(_imports(_source(c)) for c in _cells(path, "code")))
    assert "dlparallel" in imported, f"{path.name} does not use dlparallel"
    unknown = imported - THIRD_PARTY - set(sys.stdlib_module_names)
    assert not unknown, f"{path.name} imports {unknown}: helpers belong in dlparallel"
    spec = importlib.util.find_spec("dlparallel")
    assert Path(spec.origin).resolve().is_relative_to(ROOT), "dlparallel does not resolve to this checkout"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_is_executed_in_order_with_outputs_and_no_errors(path):
    code = [c for c in _cells(path, "code") if _source(c).strip()]
    counts = [c["execution_count"] for c in code]
    assert all(isinstance(n, int) for n in counts), f"{path.name}: cells without execution counts " \
        "turn nbval's strict mode into lax mode"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name} was not run top to bottom once"
    assert any(c["outputs"] for c in code)
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name} stores an error: {errors[0]['ename']}"
    images = [o for c in code for o in c["outputs"] if "image/png" in o.get("data", {})]
    assert images, f"{path.name} has no plot"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_has_the_parts_of_a_lesson(path):
    text = "\n".join(_source(c) for c in _cells(path, "markdown")).lower()
    for part in ("learning objectives", "self-check", "summary", "glossary"):
        assert part in text, f"{path.name} lacks a '{part}' section"
    assert "<details>" in text, f"{path.name}: self-check answers should be hidden in <details>"
    first = _source(_cells(path, "code")[0])
    assert re.search(r"manual_seed\(", first), f"{path.name}: seed the generators in the first code cell"


def _normalised(code: str) -> str:
    lines = [re.sub(r"\s+", " ", line).strip() for line in code.splitlines()]
    return "\n".join(line for line in lines if line and not line.startswith("#"))


def test_no_code_cell_is_pasted_into_two_notebooks():
    seen: dict[str, str] = {}
    for path in NOTEBOOKS:
        for cell in _cells(path, "code"):
            code = _normalised(_source(cell))
            if code.count("\n") + 1 < SHARED_CELL_LINES:
                continue
            other = seen.setdefault(code, path.name)
            assert other == path.name, f"the same cell is in {other} and {path.name}; move it to dlparallel:\n{code}"
