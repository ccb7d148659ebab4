"""The course in a real browser: headless Chromium drives JupyterLab as students and instructors do.

JupyterLab is started by ``make lab`` (on a free port, serving a temporary copy). nbval already
executes every lesson, so one lesson (the one with a progress bar, a plot and the README's
screenshot) is run through JupyterLab itself (*Run All Cells*): each code cell must finish without
an error and every plot must be drawn on the page. Every other lesson is opened in turn on one
JupyterLab page, and its stored plots must be drawn. A screenshot of each lesson is saved in
``screenshots/``. A released problem set is validated with nbgrader's Validate button, and the
formgrader and the assignment list must load with the assignment in them.

The tests skip where there is no Chromium (``make test`` installs Debian's ``chromium`` when it
can) and fail instead when the environment variable ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from dlparallel.grading.solutions import with_answers, worked_answers
from dlparallel.parallel import free_port
from courses import course_of, nbgrader
from servers import stop_process_group, wait_for_jupyter

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
# The lesson run in the browser; the others are opened (nbval runs them all).
RUN_IN_BROWSER = "03_matrix_multiplication.ipynb"
SCREENSHOTS = ROOT / "screenshots"
PROBLEM_SET = "ps1_backprop"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
PLOT_DRAW_MS = 30_000

pytestmark = pytest.mark.browser

# Helpers the page gets before JupyterLab loads: the notebook panel open at a path, and how many of
# its images the browser has decoded.
PAGE_HELPERS = """
window.__panel = path => {
  for (const w of window.jupyterapp.shell.widgets('main')) if (w.context && w.context.path === path) return w;
  return null;
};
window.__images = path => Array.from(window.__panel(path).node.querySelectorAll('.jp-RenderedImage img'))
  .filter(img => img.complete && img.naturalWidth > 0).length;
"""
NOTEBOOK_READY = """path => {
  const panel = window.jupyterapp && window.__panel(path);
  return !!panel && panel.context.isReady && panel.sessionContext.isReady
    && panel.sessionContext.session?.kernel != null;
}"""
WAIT_FOR_IMAGES = """async ([path, wanted, ms]) => {
  const end = Date.now() + ms;
  while (window.__images(path) < wanted && Date.now() < end) await new Promise(r => setTimeout(r, 200));
  return window.__images(path);
}"""
# Quiet settings, so that no "news" toast covers the page.
USER_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                 '{"fetchNews": "false", "checkForUpdates": false}'}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run (Debian's, never a downloaded one)."""
    chromium = _chromium()
    if chromium is None:
        message = "no Chromium: install Debian's chromium (`make test` does as root) or set CHROMIUM"
        if _in_ci():
            pytest.fail(f"CI is set and there is {message}")
        pytest.skip(message)
    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield chrome
        finally:
            chrome.close()


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its address and the folder it serves."""

    url: str
    root: Path


def serve(root: Path, work: Path) -> Iterator[Lab]:
    """Serve ``root`` with ``make lab`` on a free port; stop it whatever happens."""
    settings = work / "settings"
    for name, text in USER_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(text)
    port = free_port()
    flags = ["--no-browser", "--ip=127.0.0.1", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
             f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={work / 'workspaces'}"]
    command = ["make", "--no-print-directory", "-C", str(ROOT), "-o", ".venv/.installed-course", "lab",
               f"BIN={Path(sys.executable).parent}", f"LAB_PORT={port}", f"LAB_ROOT={root}",
               f"LAB_ARGS={' '.join(flags)}"]
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    log = work / "jupyterlab.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_jupyter(url, process, log)
        yield Lab(url, root)
    finally:
        stop_process_group(process)


@contextlib.contextmanager
def new_page(browser: Browser) -> Iterator[Page]:
    """A page of a fresh browser context, with the helpers above."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    context.add_init_script(PAGE_HELPERS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser) as fresh:
        yield fresh


def open_notebook(page: Page, lab: Lab, path: str) -> None:
    """Open ``path`` (relative to the served folder) in JupyterLab and wait for its kernel."""
    page.goto(f"{lab.url}/lab/tree/{path}?reset")
    page.wait_for_function(NOTEBOOK_READY, arg=path)


def run_in_browser(page: Page, lab: Lab, path: str, screenshot: Path) -> tuple[nbformat.NotebookNode, int]:
    """Run every cell of ``path`` with JupyterLab's *Run All Cells*; save a screenshot after the run.

    Returns the notebook as the browser holds it and the number of its images drawn on the page.
    """
    open_notebook(page, lab, path)
    try:
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        notebook = nbformat.from_dict(page.evaluate("path => window.__panel(path).model.toJSON()", path))
        drawn = page.evaluate(WAIT_FOR_IMAGES, [path, _count_plots(notebook), PLOT_DRAW_MS])
        page.evaluate("""path => window.__panel(path).node.querySelector('.jp-RenderedImage img')
                         ?.scrollIntoView({block: 'center'})""", path)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot)
    finally:
        page.evaluate("path => window.__panel(path)?.sessionContext.shutdown()", path)
    return notebook, drawn


def _code_cells(notebook: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    """(1-based position in the notebook, cell) of every code cell that has code."""
    return [(i, c) for i, c in enumerate(notebook.cells, 1) if c.cell_type == "code" and c.source.strip()]


def _count_plots(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for _, c in _code_cells(notebook) for o in c.outputs)


def check_run(name: str, notebook: nbformat.NotebookNode, drawn: int) -> None:
    """Raise AssertionError naming ``name`` and the cell unless every code cell ran without an error
    and each of the notebook's plots (at least one) was drawn on the page."""
    cells = _code_cells(notebook)
    for position, cell in cells:
        for output in cell.outputs:
            if output.output_type == "error":
                raise AssertionError(f"{name}: cell {position} (In [{cell.execution_count}]) raised "
                                     f"{output.ename}: {output.evalue}")
    not_run = [position for position, cell in cells if cell.execution_count is None]
    assert not not_run, f"{name}: cells {not_run} did not run"
    plots = _count_plots(notebook)
    assert plots, f"{name}: no plot in the outputs"
    assert drawn == plots, f"{name}: {plots} plots in the outputs but {drawn} drawn on the page"


@pytest.fixture(scope="module")
def lessons_lab(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a copy of the lessons (a notebook keeps its kernel session per path), with
    the scripts they run (lesson 05 starts benchmarks/ddp_train.py under torchrun)."""
    root = tmp_path_factory.mktemp("course")
    for folder in ("lessons", "benchmarks"):
        shutil.copytree(ROOT / folder, root / folder)
    yield from serve(root, tmp_path_factory.mktemp("lab"))


@pytest.mark.quiet  # the lesson's cells measure time
@pytest.mark.timeout(240)
def test_a_lesson_runs_in_jupyterlab(lessons_lab: Lab, page: Page) -> None:
    lesson = ROOT / "lessons" / RUN_IN_BROWSER
    shot = SCREENSHOTS / f"{lesson.stem}.png"
    notebook, drawn = run_in_browser(page, lessons_lab, f"lessons/{lesson.name}", shot)
    check_run(lesson.name, notebook, drawn)


@pytest.fixture(scope="module")
def lab_page(browser: Browser, lessons_lab: Lab) -> Iterator[Page]:
    """One page on which JupyterLab is loaded once, for opening notebooks one after another."""
    with new_page(browser) as page:
        page.goto(f"{lessons_lab.url}/lab?reset")
        page.wait_for_function("() => window.jupyterapp?.commands.hasCommand('docmanager:open')")
        yield page


def show_in_browser(page: Page, lab: Lab, path: str, screenshot: Path) -> tuple[int, int]:
    """Open ``path`` in the JupyterLab already on ``page`` (File > Open) with its stored outputs,
    without running it; save a screenshot; close it. Returns the number of cells the page shows and
    of images drawn on it."""
    page.evaluate("path => { window.jupyterapp.commands.execute('docmanager:open', {path}); }", path)
    try:
        page.wait_for_function("path => !!window.__panel(path)?.context.isReady", arg=path)
        stored = nbformat.read(lab.root / path, as_version=4)
        drawn = page.evaluate(WAIT_FOR_IMAGES, [path, _count_plots(stored), PLOT_DRAW_MS])
        cells = page.evaluate("path => window.__panel(path).content.widgets.length", path)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot)
    finally:
        page.evaluate("path => { window.__panel(path)?.dispose(); }", path)
    return cells, drawn


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lesson", [p for p in LESSONS if p.name != RUN_IN_BROWSER], ids=lambda p: p.stem)
def test_lesson_opens_in_jupyterlab_with_its_plots(lesson: Path, lessons_lab: Lab, lab_page: Page) -> None:
    stored = nbformat.read(lesson, as_version=4)
    cells, drawn = show_in_browser(lab_page, lessons_lab, f"lessons/{lesson.name}",
                                   SCREENSHOTS / f"{lesson.stem}.png")
    assert cells == len(stored.cells), f"{lesson.name}: {cells} of {len(stored.cells)} cells shown"
    plots = _count_plots(stored)
    assert plots and drawn == plots, f"{lesson.name}: {plots} stored plots, {drawn} drawn on the page"


@pytest.mark.timeout(240)
def test_a_broken_lesson_fails_naming_the_lesson_and_the_cell(lessons_lab: Lab, page: Page,
                                                               tmp_path: Path) -> None:
    lesson = LESSONS[0]
    notebook = nbformat.read(lesson, as_version=4)
    position, cell = _code_cells(notebook)[1]
    cell.source = 'raise ValueError("a cell that fails")'
    (lessons_lab.root / "broken").mkdir(exist_ok=True)
    nbformat.write(notebook, lessons_lab.root / "broken" / lesson.name)

    result = run_in_browser(page, lessons_lab, f"broken/{lesson.name}", tmp_path / "broken.png")
    expected = (re.escape(f"{lesson.name}: cell {position} (In [")
                + r"\d+\]\) raised ValueError: a cell that fails$")
    with pytest.raises(AssertionError, match=expected):
        check_run(lesson.name, *result)


@pytest.fixture(scope="module")
def course_lab(browser: Browser, released: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a course directory (this repository's nbgrader_config.py and source/) in
    which the problem set is released to its exchange, as `make release` does, with a solved copy
    in ``solved/``. The release and the server have time limits of their own, so the tests using
    this count only their own time against theirs (``func_only``)."""
    root = course_of(released, PROBLEM_SET, tmp_path_factory.mktemp("nbgrader"))
    nbgrader("release_assignment", PROBLEM_SET, cwd=root, timeout=120)
    name = f"{PROBLEM_SET}.ipynb"
    release = nbformat.read(root / "release" / PROBLEM_SET / name, as_version=4)
    (root / "solved").mkdir()
    source = nbformat.read(root / "source" / PROBLEM_SET / name, as_version=4)
    nbformat.write(with_answers(release, worked_answers(source)), root / "solved" / name)
    yield from serve(root, tmp_path_factory.mktemp("lab"))


def validate(page: Page, lab: Lab, path: str) -> tuple[str, str]:
    """Open ``path``, press nbgrader's Validate button; return the result dialog's class and text."""
    open_notebook(page, lab, path)
    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=180_000)
    return message.get_attribute("class"), message.inner_text()


@pytest.mark.timeout(240, func_only=True)
def test_validate_fails_an_untouched_release(course_lab: Lab, page: Page) -> None:
    outcome, text = validate(page, course_lab, f"release/{PROBLEM_SET}/{PROBLEM_SET}.ipynb")
    assert "validation-failed" in outcome, text
    assert "The following cell failed" in text and "NotImplementedError" in text


@pytest.mark.timeout(240, func_only=True)
def test_validate_passes_a_solved_problem_set(course_lab: Lab, page: Page) -> None:
    outcome, text = validate(page, course_lab, f"solved/{PROBLEM_SET}.ipynb")
    assert "validation-success" in outcome, text
    assert "Success! Your notebook passes all the tests." in text


@pytest.mark.timeout(120, func_only=True)
def test_formgrader_lists_the_released_problem_set(course_lab: Lab, page: Page) -> None:
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(f"{course_lab.url}/formgrader")
    row = page.locator("#main-table tr", has_text=PROBLEM_SET)
    row.wait_for()
    assert "released" in row.inner_text()
    assert page.locator(".alert-danger:visible, .alert-warning:visible").count() == 0
    assert not errors, errors


@pytest.mark.timeout(120, func_only=True)
def test_assignment_list_shows_the_released_problem_set(course_lab: Lab, page: Page) -> None:
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(f"{course_lab.url}/lab?reset")
    page.wait_for_function("() => window.jupyterapp?.commands.hasCommand('nbgrader:open-assignment-list')")
    page.evaluate("() => window.jupyterapp.commands.execute('nbgrader:open-assignment-list')")
    released = page.locator("#released_assignments_list .list_item", has_text=PROBLEM_SET)
    released.wait_for()
    assert "dlparallel" in released.inner_text()
    assert page.locator("#released_assignments_list_error:visible").count() == 0
    assert not errors, errors


REVIEW = "lessons/08_review.ipynb"


@pytest.mark.timeout(240)
def test_review_cards_flip_and_practice_answers_are_marked_in_jupyterlab(lessons_lab: Lab, page: Page) -> None:
    """The review notebook's widgets work for a student: a flash card flips to its definition, a
    right answer is marked right and raises the score, a wrong one is marked wrong with the explanation."""
    from dlparallel.review import QUESTIONS, flash_cards

    card = flash_cards(seed=0).cards[0]  # the notebook deals the deck with seed 0
    choice = next(i for i, q in enumerate(QUESTIONS) if q.choices)
    open_notebook(page, lessons_lab, REVIEW)
    try:
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")  # until all ran
        cards, test = page.locator(".dlp-cards"), page.locator(".dlp-test")
        expect(cards.locator(".dlp-term")).to_have_text(card.term)
        expect(cards.locator(".dlp-definition")).to_have_count(0)
        cards.get_by_role("button", name="Flip").click()
        expect(cards.locator(".dlp-definition")).to_have_text(card.definition)
        expect(cards.locator(".dlp-source")).to_have_text(f"From {card.source}.")
        SCREENSHOTS.mkdir(exist_ok=True)
        cards.screenshot(path=SCREENSHOTS / "08_review_card.png")

        score = test.locator(".dlp-score")
        expect(score).to_have_text(f"Score: 0 right of {len(QUESTIONS)} (0 answered)")
        test.locator("input[type=text]").fill(f"{QUESTIONS[0].answer:,}")
        test.get_by_role("button", name="Check").click()
        expect(test.locator(".dlp-feedback .dlp-right")).to_have_text(re.compile(r"^Right: "))
        expect(score).to_have_text(f"Score: 1 right of {len(QUESTIONS)} (1 answered)")

        for position in range(1, choice + 1):
            test.get_by_role("button", name="Next").click()
            expect(test.locator(".dlp-question-counter")).to_have_text(f"Question {position + 1} of {len(QUESTIONS)}")
        question = QUESTIONS[choice]
        wrong = question.choices[(question.answer + 1) % len(question.choices)]
        test.locator(".widget-radio-box label", has_text=wrong).click()
        test.get_by_role("button", name="Check").click()
        verdict = f"Not quite: the answer is “{question.right_answer}”. {question.explanation}"
        expect(test.locator(".dlp-feedback .dlp-wrong")).to_have_text(verdict)
        expect(score).to_have_text(f"Score: 1 right of {len(QUESTIONS)} (2 answered)")
        page.screenshot(path=SCREENSHOTS / "08_review_answered.png")
    finally:
        page.evaluate("path => window.__panel(path)?.sessionContext.shutdown()", REVIEW)
