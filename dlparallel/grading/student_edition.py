"""The student edition: the folder that students receive, built from the course repository.

It holds what a student needs and nothing an instructor keeps: the lessons with their outputs,
the problem sets as nbgrader released them (``release/``, made by ``make release``), the
teaching modules of ``dlparallel`` (not ``dlparallel.grading``), the files of ``student/`` (a
README for students, a Makefile with ``make lab``, nbgrader's settings for students and the
JupyterLab settings that switch off the instructor's extensions), ``LICENSE``,
``constraints.txt``, ``environment.yml``, and a ``pyproject.toml`` made from the course's without
the test tools. No ``source/``, ``solutions/``, hidden test, grading code or gradebook.

Example:
    >>> print(toml_document({"project": {"name": "dlparallel", "dependencies": ["torch>=2.6"]}}))
    [project]
    name = "dlparallel"
    dependencies = [
        "torch>=2.6",
    ]
    <BLANKLINE>
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import nbformat

from .solutions import HIDDEN_TEST_MARKERS, SOLUTION_MARKERS

__all__ = ["build_student_edition", "student_pyproject", "teaching_packages", "toml_document", "ReleaseMissingError"]

# Files of the repository root that the edition carries as they are.
COPIED_FILES = ("LICENSE", "constraints.txt", "environment.yml")
# Extras of pyproject.toml that students do not get.
INSTRUCTOR_EXTRAS = ("test",)
# Where the JupyterLab and Jupyter Server settings of student/jupyter/ are installed, under the
# environment's prefix (as Jupyter extensions ship their own settings).
JUPYTER_SETTINGS = "etc/jupyter"
INSTRUCTOR_PACKAGES = ("grading",)  # subpackages of dlparallel that only the instructor's machine needs
MARK_SCHEME_MARKER = "=== BEGIN MARK SCHEME ==="


class ReleaseMissingError(FileNotFoundError):
    """A problem set of ``source/`` has not been released: run ``make release`` first."""


def _toml_value(value: object, indent: str = "") -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        items = "".join(f"{indent}    {_toml_value(item)},\n" for item in value)
        return f"[\n{items}{indent}]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _toml_key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else json.dumps(key)


def toml_document(tables: dict[str, dict]) -> str:
    """TOML text for ``{"table.name": {key: value}}`` with string, list and inline-table values."""
    blocks = []
    for name, entries in tables.items():
        lines = [f"[{name}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entries.items()]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def teaching_packages(root: Path) -> list[str]:
    """``dlparallel`` and its subpackages that students need, all but :data:`INSTRUCTOR_PACKAGES`.

    Example:
        >>> from pathlib import Path
        >>> import dlparallel
        >>> teaching_packages(Path(dlparallel.__file__).parents[1])
        ['dlparallel', 'dlparallel.exercises']
    """
    subpackages = sorted(p.parent.name for p in (root / "dlparallel").glob("*/__init__.py"))
    return ["dlparallel", *(f"dlparallel.{name}" for name in subpackages if name not in INSTRUCTOR_PACKAGES)]


def student_pyproject(course_pyproject: Path, settings: list[Path]) -> str:
    """The edition's pyproject.toml: the course's package and dependencies, without the test
    extra, installing the Jupyter settings files ``settings`` (paths relative to the edition,
    under ``jupyter/``) into the environment's ``etc/jupyter``."""
    course = tomllib.loads(course_pyproject.read_text(encoding="utf-8"))
    project = dict(course["project"])
    project["readme"] = "README.md"
    project["optional-dependencies"] = {name: requirements for name, requirements
                                        in project["optional-dependencies"].items()
                                        if name not in INSTRUCTOR_EXTRAS}
    data_files: dict[str, list[str]] = {}
    for path in settings:
        folder = Path(JUPYTER_SETTINGS, *path.parent.parts[1:]).as_posix()
        data_files.setdefault(folder, []).append(path.as_posix())
    header = ("# The course's helper library and what the lessons and problem sets need.\n"
              "# Install: python -m pip install -c constraints.txt \".[course]\"  (see README.md)\n\n")
    return header + toml_document({
        "build-system": course["build-system"],
        "project": {k: v for k, v in project.items() if k != "optional-dependencies"},
        "project.optional-dependencies": project["optional-dependencies"],
        "tool.setuptools": {"packages": teaching_packages(course_pyproject.parent)},
        "tool.setuptools.data-files": data_files,
    })


def _released_notebooks(root: Path) -> dict[str, Path]:
    """assignment -> its release folder, for every problem set in source/; checks what nbgrader
    released holds no solution, hidden test or mark scheme."""
    releases = {}
    for source in sorted(p for p in (root / "source").iterdir() if p.is_dir()):
        release = root / "release" / source.name
        if not (release / f"{source.name}.ipynb").is_file():
            raise ReleaseMissingError(f"{release.relative_to(root)}/{source.name}.ipynb does not exist: "
                                      "run `make release` first")
        for notebook in release.glob("*.ipynb"):
            text = notebook.read_text(encoding="utf-8")
            for marker in (*SOLUTION_MARKERS, *HIDDEN_TEST_MARKERS, MARK_SCHEME_MARKER):
                if marker in text:
                    raise ValueError(f"{notebook.relative_to(root)} contains {marker!r}: it is not a release "
                                     "made by nbgrader; run `make release` again")
            nbformat.validate(nbformat.read(notebook, as_version=4))
        releases[source.name] = release
    return releases


def build_student_edition(root: Path | str, out: Path | str, *, replace: bool = False) -> list[Path]:
    """Build the student edition of the course repository ``root`` in ``out``; return its files.

    ``out`` must not exist or be empty, unless ``replace`` is true, when it is deleted first.
    Raises :class:`ReleaseMissingError` when a problem set has not been released.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    if out == root or out in root.parents:
        raise ValueError(f"the edition needs a folder of its own, not {out}, which holds the course")
    releases = _released_notebooks(root)
    if out.exists() and any(out.iterdir()):
        if not replace:
            raise FileExistsError(f"{out} is not empty (pass replace=True, or --replace, to rebuild it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    template = root / "student"
    shutil.copytree(template, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    for name in COPIED_FILES:
        shutil.copy2(root / name, out / name)
    (out / "lessons").mkdir()
    for lesson in sorted((root / "lessons").glob("*.ipynb")):
        shutil.copy2(lesson, out / "lessons" / lesson.name)
    for assignment, release in releases.items():
        shutil.copytree(release, out / "problem_sets" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (out / "dlparallel").mkdir()
    for module in sorted((root / "dlparallel").glob("*.py")):
        shutil.copy2(module, out / "dlparallel" / module.name)
    for package in teaching_packages(root)[1:]:
        folder = Path(*package.split("."))
        shutil.copytree(root / folder, out / folder, ignore=shutil.ignore_patterns("__pycache__"))
    settings = sorted(p.relative_to(out) for p in (out / "jupyter").rglob("*.json"))
    (out / "pyproject.toml").write_text(student_pyproject(root / "pyproject.toml", settings), encoding="utf-8")
    return sorted(p for p in out.rglob("*") if p.is_file())
