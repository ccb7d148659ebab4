"""Canvas's file formats for nbgrader: submissions downloaded from Canvas (``nbgrader zip_collect``)
and grades for Canvas's gradebook (``nbgrader export``).

Canvas's *Download Submissions* gives one zip of every student's files, each renamed
``<name>_<canvas user id>_<submission id>_<file as uploaded>`` (``_late`` after the name when
Canvas counted it late; ``-1`` before the extension of a re-uploaded file), e.g.
``smithbob_340934_208490284_ps1_backprop.ipynb``: see
https://github.com/mikewesthad/canvas-unzipper (README). The name is Canvas's, not the student's
login, so :class:`CanvasCollector` finds the student by the Canvas user id, which the roster
gives as ``lms_user_id``.

Canvas's *Import* in its gradebook reads a CSV file whose first columns identify the student
(``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``; one identifier is enough)
and whose every other column is an assignment, matched by name or created: see
https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades
and Canvas's own guide, "How do I import grades in the Gradebook?". :class:`CanvasExportPlugin`
writes that file from the gradebook, with the ``Points Possible`` row that Canvas's own export has.
"""

from __future__ import annotations

import csv
import functools
import os

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin, FileNameCollectorPlugin
from traitlets import Unicode

# A file of Canvas's download; groups: Canvas's name of the student, the Canvas user id, the notebook.
CANVAS_FILE_NAME = r"(?P<name>[^_]+)_(?:late_)?(?P<canvas_id>\d+)_\d+_(?P<file_id>.+?)(?:-\d+)?(?P<ext>\.\w+)$"
IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


class CanvasCollector(FileNameCollectorPlugin):
    """``nbgrader zip_collect``'s collector for Canvas's download: each file goes to the student whose
    ``lms_user_id`` in the gradebook is the Canvas user id in its name. A file of a Canvas user that
    the roster lacks is skipped with a warning that names it (it stays in ``extracted/``).

    Example:
        >>> import re
        >>> match = re.match(CANVAS_FILE_NAME, "smithbob_late_340934_208490284_ps1_backprop-1.ipynb")
        >>> match["canvas_id"], match["file_id"] + match["ext"]
        ('340934', 'ps1_backprop.ipynb')
    """

    named_regexp = Unicode(CANVAS_FILE_NAME, help="A file name of Canvas's download, with the "
                           "groups canvas_id and file_id").tag(config=True)

    @functools.cached_property
    def _students(self) -> dict[str, str]:
        """Canvas user id -> nbgrader student id, from the gradebook's roster."""
        coursedir = self.parent.coursedir
        with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
            return {str(s.lms_user_id): s.id for s in gradebook.students if s.lms_user_id}

    def collect(self, submitted_file: str) -> dict | None:
        info = super().collect(os.path.basename(submitted_file))
        if info is None:
            return None
        student = self._students.get(info["canvas_id"])
        if student is None:
            self.log.warning("Skipped %s: no student of the roster has Canvas user id %s (lms_user_id; "
                             "add it to roster.csv and run `make roster`)", submitted_file, info["canvas_id"])
            return None
        return {"student_id": student, "file_id": info["file_id"]}


def _points(value: float) -> str:
    """A score as Canvas shows it.

    Example:
        >>> _points(21.0), _points(18.9), _points(2 / 3)
        ('21', '18.9', '0.67')
    """
    return f"{round(value, 2):g}"


class CanvasExportPlugin(ExportPlugin):
    """``nbgrader export --exporter=dlparallel.grading.canvas.CanvasExportPlugin``: one row per
    student, one column per assignment, the score after the late penalty, in the CSV format that
    Canvas's gradebook imports (default file: ``canvas_grades.csv``).

    A student is identified by the roster's ``lms_user_id`` (Canvas's ``ID``) and nbgrader id
    (``SIS Login ID``, the login they use on the JupyterHub); a student who did not submit an
    assignment gets an empty cell, which Canvas leaves ungraded rather than 0.
    """

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "canvas_grades.csv"
        assignments = [a for a in gradebook.assignments if not self.assignment or a.name in self.assignment]
        students = [s for s in gradebook.students if not self.student or s.id in self.student]
        self.log.info("Exporting %d students' grades on %d assignments for Canvas to %s",
                      len(students), len(assignments), dest)
        with open(dest, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(IDENTITY + [a.name for a in assignments])
            writer.writerow(["Points Possible", "", "", "", ""] + [_points(a.max_score) for a in assignments])
            for student in sorted(students, key=lambda s: s.id):
                name = ", ".join(n for n in (student.last_name, student.first_name) if n)
                row = [name, student.lms_user_id or "", "", student.id, ""]
                for assignment in assignments:
                    try:
                        submission = gradebook.find_submission(assignment.name, student.id)
                    except MissingEntry:
                        row.append("")
                        continue
                    row.append(_points(max(0.0, submission.score - submission.late_submission_penalty)))
                writer.writerow(row)
