"""The course's configuration and gradebook as nbgrader sees them in the grading processes: the
course directory's ``nbgrader_config.py``, then options such as ``--CourseDirectory.db_url=...``.
``CourseDirectory.db_url`` is SQLite's ``gradebook.db`` in the course directory by default, or any
database SQLAlchemy reaches (``postgresql+psycopg://...``).

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     course_directory(root).db_url == f"sqlite:///{root}/gradebook.db"
    True
    >>> course_directory("/nonexistent", ["--CourseDirectory.db_url=postgresql://grader@db/course"]).db_url
    'postgresql://grader@db/course'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

__all__ = ["course_config", "course_directory", "open_gradebook"]


def course_config(root: Path | str, options: Sequence[str] = ()) -> Config:
    """The configuration nbgrader runs with in the course directory ``root``: its
    ``nbgrader_config.py`` (if any), then nbgrader command-line ``options``."""
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, KVArgParseConfigLoader, PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    except ConfigFileNotFound:
        config = Config()
    config.merge(KVArgParseConfigLoader(list(options)).load_config())
    if "root" not in config.CourseDirectory:
        config.CourseDirectory.root = str(Path(root).resolve())
    return config


def course_directory(root: Path | str, options: Sequence[str] = ()) -> CourseDirectory:
    """nbgrader's view of the course directory ``root`` (its folders, course id and db_url), given
    nbgrader command-line ``options``."""
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=course_config(root, options))


def open_gradebook(root: Path | str, options: Sequence[str] = ()) -> Gradebook:
    """The gradebook of the course directory ``root`` (close it, or use it as a context manager)."""
    from nbgrader.api import Gradebook

    coursedir = course_directory(root, options)
    return Gradebook(coursedir.db_url, course_id=coursedir.course_id)
