"""Start-up of the grader's own processes: what they need not import.

Every process that imports nbformat imports jsonschema, whose format checkers import
``rfc3987_syntax`` for the ``iri`` formats; that module compiles about 35 Earley parsers as it
loads (2.2 s on a 2-core machine, python-jsonschema/jsonschema#1428), once per graded student.
nbformat's and nbgrader's schemas use no ``iri`` format, so the grader's processes mark the module
absent before anything imports jsonschema; jsonschema then simply leaves those formats unchecked.

Example:
    >>> import subprocess, sys
    >>> code = ("from dlparallel.grading.startup import skip_iri_formats; skip_iri_formats(); "
    ...         "import nbformat, sys; print('rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'])")
    >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    'None\\n'
"""

from __future__ import annotations

import sys

__all__ = ["skip_iri_formats"]


def skip_iri_formats() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax`` in this process (it must not have imported jsonschema yet)."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None in sys.modules: its import raises ImportError
