"""nbgrader configuration of the course. The course directory is the repository root:
source/ (instructor's notebooks with solutions and hidden tests), release/ (what students get),
submitted/<student>/<assignment>/ (what they hand in), autograded/, feedback/, gradebook.db."""

from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "dlparallel"

# Every cell gets 120 s; a cell that runs longer is interrupted, scores 0 and grading goes on.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
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
