"""The PATH that puts this Python's scripts first, for the programs the grader starts.

nbgrader calls its database tool (alembic) by name, and the kernels it starts look up ``jupyter``
and ``python``: each must find the tools of the environment that runs the grader, not others.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SYSTEM_PATH = os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"])


def python_first_path(rest: str = SYSTEM_PATH) -> str:
    """A PATH on which the folder of this Python's scripts comes first, then the PATH ``rest``.

    Example:
        >>> path = python_first_path("/usr/bin")
        >>> path.split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]
        True
    """
    return os.pathsep.join([str(Path(sys.executable).parent), rest])
