"""The student edition (`make student`): what it holds, what it must never hold, and that it
installs with its own documented commands and runs on a machine without numba-cuda (as a Mac
is), with JupyterLab showing students nbgrader's Assignments and Validate but not the formgrader.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from dlparallel.grading.solutions import HIDDEN_TEST_MARKERS, SOLUTION_MARKERS, with_answers, worked_answers
from dlparallel.grading.student_edition import ReleaseMissingError, build_student_edition
from dlparallel.parallel import free_port
from course_work import CourseWork
from servers import stop_process_group, wait_for_jupyter

ROOT = Path(__file__).resolve().parents[1]
PROBLEM_SETS = sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
GPU_PROBLEM_SET = "ps3_gpu_kernels"
GPU_LESSON = "04_how_a_gpu_runs_your_network.ipynb"
TEACHING_MODULES = sorted(p.name for p in (ROOT / "dlparallel").glob("*.py"))
EDITION_ENTRIES = {".gitignore", "LICENSE", "Makefile", "README.md", "constraints.txt", "environment.yml",
                   "nbgrader_config.py", "pyproject.toml", "jupyter", "lessons", "problem_sets", "dlparallel"}
INSTRUCTOR_ONLY = {"source", "solutions", "release", "submitted", "autograded", "feedback", "exchange",
                   "grading", "tests", "benchmarks", "gradebook.db", ".ci"}
STUDENT_OFF = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list"}
STUDENT_ON = {"@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment"}
CONDA_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
PLATFORMS = {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}


def _clean_env() -> dict[str, str]:
    """This machine's environment, less what would point a program at the course's own checkout."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(command: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env or _clean_env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _copy_course(root: Path, released: Path) -> Path:
    """A copy of the course with every problem set released by nbgrader, as `make release` does."""
    for folder in ("lessons", "student", "dlparallel"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("source", "release"):
        shutil.copytree(released / folder, root / folder)
    for name in ("nbgrader_config.py", "pyproject.toml", "LICENSE", "constraints.txt", "environment.yml"):
        shutil.copy(ROOT / name, root / name)
    return root


def _build(out: Path, course: Path) -> Path:
    build_student_edition(course, out)
    return out


def start_course_work(work: CourseWork, tmp: pytest.TempPathFactory, fixturenames: set[str]) -> None:
    """The edition built, installed and its GPU notebooks run in the background, one step after
    the other in a lane of their own (the notebooks two at a time), as the collected tests need."""
    if not {"course", "edition", "student_env", "simulated_lesson", "visible_tests"} & fixturenames:
        return
    work.lane("student edition", workers=2)
    course = tmp.mktemp("course")
    work.start("student course", _copy_course, course, lane="student edition", after="released")
    work.start("student edition", _build, tmp.mktemp("edition") / "student", lane="student edition",
               after="student course")
    if {"student_env", "simulated_lesson", "visible_tests"} & fixturenames:
        work.start("student env", _install, tmp.mktemp("installed") / "student", lane="student edition",
                   after="student edition")
    if "simulated_lesson" in fixturenames:
        work.start("simulated lesson", _run_gpu_lesson, lane="student edition", after="student env")
    if "visible_tests" in fixturenames:
        work.start("visible tests", _run_visible_tests, course, lane="student edition", after="student env")


@pytest.fixture(scope="module")
def course(course_work, released) -> Path:
    return course_work.result("student course")


@pytest.fixture(scope="module")
def edition(course_work, course) -> Path:
    return course_work.result("student edition")


def _text_files(folder: Path) -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file()}


def _marked_lines(notebook: nbformat.NotebookNode, markers: tuple[str, str]) -> set[str]:
    """Every line between ``markers`` in the notebook's cells, stripped."""
    lines, inside = set(), False
    for cell in notebook.cells:
        for line in cell.source.splitlines():
            if line.strip() == markers[0]:
                inside = True
            elif line.strip() == markers[1]:
                inside = False
            elif inside and line.strip():
                lines.add(line.strip())
    return lines


def test_edition_holds_the_lessons_the_releases_and_the_teaching_library(edition, course):
    assert {p.name for p in edition.iterdir()} == EDITION_ENTRIES
    lessons = sorted(p.name for p in (ROOT / "lessons").glob("*.ipynb"))
    assert sorted(p.name for p in (edition / "lessons").iterdir()) == lessons
    for name in lessons:
        assert (edition / "lessons" / name).read_bytes() == (ROOT / "lessons" / name).read_bytes()
    assert sorted(p.name for p in (edition / "problem_sets").iterdir()) == PROBLEM_SETS
    for ps in PROBLEM_SETS:
        released = course / "release" / ps / f"{ps}.ipynb"
        assert (edition / "problem_sets" / ps / f"{ps}.ipynb").read_bytes() == released.read_bytes()
    assert sorted(p.name for p in (edition / "dlparallel").iterdir()) == sorted(TEACHING_MODULES + ["exercises"])
    exercises = sorted(p.name for p in (ROOT / "dlparallel" / "exercises").glob("*.py"))
    assert sorted(p.name for p in (edition / "dlparallel" / "exercises").iterdir()) == exercises
    project = tomllib.loads((edition / "pyproject.toml").read_text())
    assert set(project["project"]["optional-dependencies"]) == {"course", "gpu"}
    assert project["tool"]["setuptools"]["packages"] == ["dlparallel", "dlparallel.exercises"]


def test_edition_holds_nothing_an_instructor_keeps(edition):
    for path in edition.rglob("*"):
        assert not INSTRUCTOR_ONLY & set(path.relative_to(edition).parts), path
    for path, text in _text_files(edition).items():
        for marker in (*HIDDEN_TEST_MARKERS, *SOLUTION_MARKERS, "=== BEGIN MARK SCHEME ===", "dlparallel.grading",
                       "GuardedExecute"):
            assert marker not in text, f"{path.relative_to(edition)} contains {marker!r}"
    targets = re.findall(r"^([\w-]+):", (edition / "Makefile").read_text(), flags=re.M)
    assert set(targets) == {"lab", "install"}


def _lines_of(path: Path) -> set[str]:
    """The stripped lines of a file, and of a notebook's cell sources."""
    text = path.read_text(encoding="utf-8")
    lines = {line.strip() for line in text.splitlines()}
    if path.suffix == ".ipynb":
        lines |= {line.strip() for cell in nbformat.reads(text, 4).cells for line in cell.source.splitlines()}
    return lines


def _course_shows() -> set[str]:
    """Every line the course's lessons and teaching library show (the edition copies them as they
    are; that they give no answer away is tests/test_transcription.py's concern)."""
    shown: set[str] = set()
    for path in [*(ROOT / "lessons").glob("*.ipynb"), *(ROOT / "dlparallel").glob("*.py")]:
        shown |= _lines_of(path)
    return shown


def _secret_lines(course: Path, ps: str) -> set[str]:
    """The lines of ``ps``'s hidden tests and worked solutions that neither its release nor the
    course's lessons and library show (a shared idiom such as `tx = cuda.threadIdx.x` is not a
    secret). Lines shorter than a dozen characters (`try:`, `return out`) say nothing of an answer."""
    source = nbformat.read(course / "source" / ps / f"{ps}.ipynb", as_version=4)
    public = _lines_of(course / "release" / ps / f"{ps}.ipynb") | _course_shows()
    return {line for line in _marked_lines(source, HIDDEN_TEST_MARKERS) | _marked_lines(source, SOLUTION_MARKERS)
            if line not in public and len(line.replace(" ", "")) >= 12 and not line.startswith("#")}


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_edition_holds_no_hidden_test_and_no_solution_line(edition, course, ps):
    """No secret line of a problem set (see _secret_lines) appears in any file of the edition."""
    secret = _secret_lines(course, ps)
    assert len(secret) > 10, f"{ps} has too few hidden-test and solution lines to look for: {sorted(secret)}"
    leaks = [f"{path.relative_to(edition)}: {line}" for path in sorted(edition.rglob("*")) if path.is_file()
             for line in sorted(secret & _lines_of(path))]
    assert not leaks, "\n".join(leaks)


def test_the_leak_check_finds_a_worked_solution_put_in_the_edition(edition, course, tmp_path):
    """The check above is not vacuous: a worked solution copied into an edition is caught."""
    ps = PROBLEM_SETS[0]
    copy = tmp_path / "student"
    shutil.copytree(edition, copy)
    shutil.copy(ROOT / "solutions" / ps / f"{ps}.ipynb", copy / "problem_sets" / ps / "worked.ipynb")
    assert _secret_lines(course, ps) & _lines_of(copy / "problem_sets" / ps / "worked.ipynb")


def test_building_without_a_release_says_what_to_run(tmp_path):
    (tmp_path / "source" / "ps9_new").mkdir(parents=True)
    with pytest.raises(ReleaseMissingError, match="run `make release` first"):
        build_student_edition(tmp_path, tmp_path / "out")


def test_building_over_a_folder_in_use_is_refused(edition, course):
    with pytest.raises(FileExistsError, match="not empty"):
        build_student_edition(course, edition)
    with pytest.raises(ValueError, match="holds the course"):
        build_student_edition(course, course)


def _requirements(extra: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["optional-dependencies"].get(extra, project["dependencies"])]


def _selected(requirements: list[Requirement], platform: str, name: str) -> list[Requirement]:
    env = {"sys_platform": platform, "platform_system": PLATFORMS[platform], "python_version": "3.11"}
    return [r for r in requirements if r.name == name and (r.marker is None or r.marker.evaluate(env))]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_numba_cuda_and_its_numpy_bound_only_where_numba_cuda_has_wheels(platform):
    course, gpu = _requirements("course"), _requirements("gpu")
    has_wheels = platform != "darwin"
    assert bool(_selected(course, platform, "numba-cuda")) == has_wheels
    assert bool(_selected(gpu, platform, "numba-cuda")) == has_wheels
    numpy = SpecifierSet()
    for requirement in _selected(course + _requirements("dependencies"), platform, "numpy"):
        numpy &= requirement.specifier
    assert numpy.contains("2.5.0") != has_wheels, f"numpy {numpy} on {platform}"
    assert _selected(course, platform, "numba"), "numba (and its CUDA simulator) is needed everywhere"


def _same_range(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Whether two version ranges admit the same versions: compared at each bound either names,
    just below and just above it (so `<2.5,<3` equals `<2.5`)."""
    probes = {"0.0.1", "9999"}
    for spec in (*a, *b):
        major, minor, micro = (Version(spec.version).release + (0, 0))[:3]
        probes |= {spec.version, f"{major}.{minor}.{micro + 1}", f"{major + 1}.0.0",
                   f"{major}.{minor - 1}.99" if minor else f"{major - 1}.99.0"}
    return all(a.contains(v) == b.contains(v) for v in probes)


def test_environment_yml_matches_pyproject_by_name_and_bounds():
    """conda-forge gets what it builds for every platform, at pyproject's bounds (the strictest,
    Linux's, where a bound holds on some platforms only); pip gets torch at the pinned version
    and this package's course extra; the test tools are not in a student's environment."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda and "pip" in conda
    conda_specs = {}
    for line in conda:
        if line in ("python=3.11", "pip"):
            continue
        requirement = Requirement(line)
        conda_specs[CONDA_NAMES.get(requirement.name, requirement.name)] = requirement.specifier
    project = _requirements("dependencies") + _requirements("course")
    wanted: dict[str, SpecifierSet] = {}
    for requirement in project:
        if requirement.marker is None or requirement.marker.evaluate({"sys_platform": "linux"}):
            wanted[requirement.name] = wanted.get(requirement.name, SpecifierSet()) & requirement.specifier
    from_pip = {"torch", "numba-cuda"}
    assert set(conda_specs) == set(wanted) - from_pip
    for name, specifier in conda_specs.items():
        assert _same_range(specifier, wanted[name]), \
            f"{name}: environment.yml {specifier}, pyproject.toml {wanted[name]}"
    pinned = re.search(r"^torch==(\S+)$", (ROOT / "constraints.txt").read_text(), flags=re.M).group(1)
    assert pip_section == [f"torch=={pinned}", ".[course]"]
    assert Requirement(f"torch=={pinned}").specifier.contains(pinned) and wanted["torch"].contains(pinned)
    assert "test" not in str(env) and "playwright" not in str(env)


def _documented_install(edition: Path) -> list[list[str]]:
    """The student README's set-up commands for Linux and macOS, without the one that starts the
    server, with `python3` as this Python (the course's)."""
    readme = (edition / "README.md").read_text()
    block = re.search(r"\*\*Linux and macOS\*\*\s*```bash\n(.*?)```", readme, flags=re.S).group(1)
    commands = [line.split() for line in block.strip().splitlines() if "jupyter lab" not in line]
    assert len(commands) == 2, commands
    return [[sys.executable if word == "python3" else word.strip('"') for word in command] for command in commands]


def _install(clone: Path, edition: Path) -> Path:
    """A student's copy of the edition (``clone``), installed into a fresh virtual environment
    with the README's commands, then without numba-cuda, as on a Mac (numba's own CUDA simulator
    runs the kernels there). The edition itself stays as built, for the tests that read it."""
    shutil.copytree(edition, clone)
    # pip's byte-compiling of every installed module (torch's thousands) is left to first import.
    quicker = {**_clean_env(), "PIP_COMPILE": "0"}
    for command in _documented_install(clone):
        _run(command, clone, timeout=900, env=quicker)
    python = clone / ".venv" / "bin" / "python"
    _run([str(python), "-m", "pip", "uninstall", "--yes", "--quiet", "numba-cuda"], clone, timeout=300)
    return clone / ".venv"


@pytest.fixture(scope="module")
def student_env(course_work, edition) -> Path:
    return course_work.result("student env")


def test_student_install_uses_its_own_copy_without_numba_cuda(student_env, tmp_path):
    probe = ("import importlib.util, dlparallel, numba.cuda; "
             "print(dlparallel.__file__); print(importlib.util.find_spec('numba_cuda'))")
    lines = _run([str(student_env / "bin" / "python"), "-c", probe], tmp_path, timeout=120).split()
    assert Path(lines[0]).is_relative_to(student_env), lines
    assert lines[1] == "None", "numba-cuda is still installed"


def _execute(student_env: Path, notebook: Path, timeout: int) -> nbformat.NotebookNode:
    executed = notebook.with_name(f"executed-{notebook.name}")
    _run([str(student_env / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
          f"--ExecutePreprocessor.timeout={timeout}", "--output", executed.name, notebook.name],
         notebook.parent, timeout=timeout * 4)
    result = nbformat.read(executed, as_version=4)
    errors = [o for c in result.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors, f"{notebook.name}: {errors[0].ename}: {errors[0].evalue}"
    return result


def _run_gpu_lesson(student_env: Path) -> nbformat.NotebookNode:
    clone = student_env.parent
    return _execute(student_env, clone / "lessons" / GPU_LESSON, timeout=300)


def _run_visible_tests(course: Path, student_env: Path) -> str:
    """A solved copy of the released GPU problem set run in the student's environment (it must
    pass its visible tests), then the untouched release: why that failed."""
    clone = student_env.parent
    source = nbformat.read(course / "source" / GPU_PROBLEM_SET / f"{GPU_PROBLEM_SET}.ipynb", as_version=4)
    release_path = clone / "problem_sets" / GPU_PROBLEM_SET / f"{GPU_PROBLEM_SET}.ipynb"
    solved = release_path.with_name("solved.ipynb")
    nbformat.write(with_answers(nbformat.read(release_path, as_version=4), worked_answers(source)), solved)
    _execute(student_env, solved, timeout=300)
    with pytest.raises(AssertionError) as untouched:
        _execute(student_env, release_path, timeout=300)
    return str(untouched.value)


@pytest.fixture(scope="module")
def simulated_lesson(course_work, student_env) -> nbformat.NotebookNode:
    return course_work.result("simulated lesson")


@pytest.fixture(scope="module")
def visible_tests(course_work, student_env) -> str:
    return course_work.result("visible tests")


def test_gpu_lesson_runs_on_numbas_simulator_without_numba_cuda(simulated_lesson):
    assert any("image/png" in o.get("data", {}) for c in simulated_lesson.cells for o in c.get("outputs", []))


def test_gpu_problem_sets_visible_tests_pass_without_numba_cuda(visible_tests):
    """A solved copy of the released GPU problem set passes its visible tests in the student's
    environment; the untouched release fails them."""
    assert "NotImplementedError" in visible_tests, visible_tests


def _serve(jupyter: Path, root: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
               *(["--allow-root"] if os.geteuid() == 0 else [])]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=root, env=_clean_env(), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_jupyter(url, process, log)
    except BaseException:
        stop_process_group(process)
        raise
    return process, url


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _page_config(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/lab", timeout=30) as response:
        html = response.read().decode()
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, flags=re.S)
    return json.loads(found.group(1))


def test_students_jupyterlab_has_assignments_and_validate_but_no_formgrader(student_env, tmp_path):
    process, url = _serve(student_env / "bin" / "jupyter", student_env.parent, tmp_path / "student-lab.log")
    try:
        config = _page_config(url)
        disabled = set(config["disabledExtensions"])
        assert STUDENT_OFF <= disabled and not STUDENT_ON & disabled, disabled
        assert "@jupyter/nbgrader" in {e["name"] for e in config["federated_extensions"]}
        assert _status(f"{url}/formgrader") == 404
        assert _status(f"{url}/formgraders") == 404
        assert _status(f"{url}/nbgrader_version?version=0.9.6") == 200  # the Assignments panel's server part
    finally:
        stop_process_group(process)


@pytest.mark.pipeline
def test_instructors_jupyterlab_keeps_the_formgrader(tmp_path):
    """The same check on the course's own environment sees the formgrader, so the student one's
    absence is the edition's doing."""
    process, url = _serve(Path(sys.executable).parent / "jupyter", ROOT, tmp_path / "lab.log")
    try:
        assert not STUDENT_OFF & set(_page_config(url)["disabledExtensions"])
        assert _status(f"{url}/formgrader") == 200
    finally:
        stop_process_group(process)
