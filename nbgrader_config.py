"""nbgrader configuration of the course. The course directory is the repository root:
source/ (instructor's notebooks with solutions and hidden tests), release/ (what students get),
submitted/<student>/<assignment>/ (what they hand in), autograded/, feedback/, gradebook.db."""

from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "dlparallel"
# Released assignments are published to an exchange inside the course directory, so that the
# Assignments panel of `make lab` lists them on one machine; on a JupyterHub, point this at the
# exchange the students share.
c.Exchange.root = str(Path(__file__).resolve().parent / "exchange")

# Submissions downloaded from Canvas (`make zip-collect`: downloaded/<assignment>/archive/*.zip) are
# named <name>_<canvas user id>_<submission id>_<notebook>.ipynb; each goes to the student whose
# lms_user_id (roster.csv, `make roster`) is that Canvas user id (dlparallel/grading/canvas.py).
c.ZipCollectApp.collector_plugin = "dlparallel.grading.canvas.CanvasCollector"

# Late submissions: a submission whose timestamp.txt is after its assignment's due date (`nbgrader
# db assignment add <assignment> --duedate="2027-02-12 17:00:00 Europe/Berlin"`) loses 10% of each
# notebook's score per day or part of a day late, and all of it after ten days
# (dlparallel/grading/late.py; AssignLatePenalties, below, records the penalty in the gradebook).
c.AssignLatePenalties.plugin_class = "dlparallel.grading.late.LatePenaltyPerDay"
c.LatePenaltyPerDay.percent_per_day = 10

# Each student's notebook runs in a guarded kernel (dlparallel/grading/execute.py): started in a
# bubblewrap sandbox of its own (dlparallel/grading/bubblewrap.py: no view of the course directory,
# private size-bounded folders, its own processes only, resource limits), sealed before the
# student's first cell (genuine functions recorded), each test cell checked for tampering, and
# what completed is scored when the notebook misbehaves. Each test's checks also hand the values they
# were given out of the kernel, and the grader scores 0 every test whose values differ from the answer
# key, made by running source/ (dlparallel/grading/verify.py, answer_key.py).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "dlparallel.grading.cells.ForgetUnknownCells",
    "nbgrader.preprocessors.OverwriteCells",
    "dlparallel.grading.cells.RestoreCellOrder",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "dlparallel.grading.execute.GuardedExecute",
    "dlparallel.grading.verify.VerifyAnswers",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Limits per submission. A cell that runs longer than `timeout` is interrupted and scores 0; a
# notebook that runs longer than `notebook_timeout` is scored on the cells that ran.
c.GuardedExecute.timeout = 120
c.GuardedExecute.interrupt_on_timeout = True
c.GuardedExecute.notebook_timeout = 1800
c.GuardedExecute.memory_limit = 4 * 2**30      # bytes of data memory (RLIMIT_DATA); 0 for none
c.GuardedExecute.max_output_bytes = 200_000    # per cell, as the output arrives
c.GuardedExecute.hide_course_files = True      # source/, the gradebook, others' work are not in view
c.GuardedExecute.disk_limit = 512 * 2**20      # bytes in each private folder of the kernel (/dev/shm: half)
c.GuardedExecute.max_processes = 4096          # processes and threads of one kernel, all together
# A flood of output is cut, so that one submission cannot fill the disk or the feedback page.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# nbgrader scores a test cell 0 if anything reaches stderr. Warnings (PyTorch's, numba's) say
# nothing about the answer's correctness, so stderr output that is a warning is dropped first.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning\b"

# A test cell a student deleted is put back (and run), instead of being counted as 0 silently.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Feedback pages keep the visible tests and the failure messages, but not the hidden tests or the
# code their tracebacks quote, so that the problem sets can be used again.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "dlparallel.grading.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
