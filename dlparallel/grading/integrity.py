"""The grading kernel's guard against a notebook that rewrites what the hidden tests rely on.

Hidden tests run in the student's own kernel, after the student's code. Autograding therefore
starts the kernel with :func:`seal`, before any student code: (when graded without a sandbox) it
limits memory and hides the course directory's files (:mod:`dlparallel.grading.sandbox`), imports
the assertion helpers (so that they capture genuine functions) and records every function and
class of the modules the tests use, the library's own modules and the machinery by which IPython
reports errors. Each test
cell then starts and ends with :func:`verify`, which raises :class:`GradingIntegrityError` when
any of it was replaced since: ``torch.allclose = lambda *a, **k: True`` earns nothing.

This is a guard inside the student's process, not a sandbox (that is
:mod:`dlparallel.grading.bubblewrap`'s job): code written to defeat it specifically (say, by
rewriting this module's memory) can. The autograde summary names every submission it stopped,
for the instructor to read.

Example:
    >>> import math
    >>> seal(memory_limit=0, hide=None)
    >>> verify()
    >>> isclose, math.isclose = math.isclose, lambda *args, **kwargs: True
    >>> verify()
    Traceback (most recent call last):
    ...
    dlparallel.grading.integrity.GradingIntegrityError: the notebook changed what the tests rely on: math.isclose was replaced
    >>> math.isclose = isclose
    >>> verify()
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys
import tempfile
import types
from pathlib import Path

from . import checks, sandbox

__all__ = ["GradingIntegrityError", "seal", "verify", "WATCHED_MODULES"]

WATCHED_MODULES = ("builtins", "math", "operator", "copy", "contextlib", "functools", "importlib",
                   "statistics", "fractions", "threading", "numpy", "numpy.testing", "numpy.linalg", "torch",
                   "torch.nn.functional", "torch.testing", "torch.autograd", "torch.func", "torch.linalg",
                   "torch.overrides", "torch.optim")
_CHECK_NAMES = tuple(checks.__all__)
# Rebound by ipykernel itself before each cell, to forward input() to the front end.
_REBOUND_PER_CELL = {("builtins", "input"), ("builtins", "raw_input")}
_IPYTHON_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")


# Taken now, so that a notebook which replaces builtins (isinstance, vars, ...) cannot blind the checks.
_isinstance, _callable, _vars, _getattr, _list, _set = isinstance, callable, vars, getattr, list, set


def _is_routine(value: object) -> bool:
    return _callable(value) or _isinstance(value, (staticmethod, classmethod))


class GradingIntegrityError(AssertionError):
    """The notebook replaced something the hidden tests rely on; its later tests are not graded."""


def _is_watched(value: object) -> bool:
    return _is_routine(value) or _isinstance(value, types.ModuleType)


def _python_classes(owner: object) -> list[type]:
    """The classes in ``owner``'s MRO whose attributes a notebook could reassign."""
    return [cls for cls in type(owner).__mro__ if cls is not object and not _is_builtin_type(cls)]


def _is_builtin_type(cls: type) -> bool:
    return not hasattr(cls, "__dict__") or cls.__module__ == "builtins"


def _namespaces() -> dict[str, object]:
    """label -> object whose attributes are recorded: modules, their Python classes, IPython's parts."""
    modules = {name: importlib.import_module(name) for name in WATCHED_MODULES}
    modules.update({name: module for name, module in sys.modules.items()
                    if name == "dlparallel" or name.startswith("dlparallel.")})
    spaces: dict[str, object] = dict(modules)
    for label, module in modules.items():
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__ and not _is_builtin_type(value):
                spaces[f"{label}.{name}"] = value
    spaces["torch.Tensor"] = sys.modules["torch"].Tensor
    shell = _shell()
    if shell is not None:
        for cls in _python_classes(shell):
            spaces[f"{cls.__module__}.{cls.__qualname__}"] = cls
        kernel = getattr(shell, "kernel", None)
        for part in (kernel, getattr(kernel, "session", None)):
            for cls in _python_classes(part) if part is not None else []:
                spaces[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return spaces


def _shell():
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


@dataclasses.dataclass
class _Snapshot:
    """The genuine state, recorded by :func:`seal` before any student code ran."""

    attributes: dict[tuple[str, str], object]  # (namespace label, name) -> function, class or module
    spaces: dict[str, object]  # namespace label -> the module or class
    modules: dict[str, object]  # module name -> the module in sys.modules
    class_names: dict[str, set[str]]  # class label -> the names it defined
    trace: tuple  # sys.gettrace(), sys.getprofile()
    shell: object | None = None  # IPython's shell, and its parts the error reporting relies on
    shell_lists: dict[str, list] = dataclasses.field(default_factory=dict)
    shell_custom: tuple = ()
    shell_overrides: dict[str, object] = dataclasses.field(default_factory=dict)


def _record() -> _Snapshot:
    spaces = _namespaces()
    attributes = {(label, name): value for label, owner in spaces.items()
                  for name, value in _list(_vars(owner).items())
                  if _is_watched(value) and (label, name) not in _REBOUND_PER_CELL}
    snapshot = _Snapshot(attributes, spaces, {name: sys.modules.get(name) for name in spaces if name in sys.modules},
                         {label: _set(_vars(owner)) for label, owner in spaces.items() if _isinstance(owner, type)},
                         (sys.gettrace(), sys.getprofile()))
    shell = _shell()
    if shell is not None:
        snapshot.shell = shell
        snapshot.shell_lists = {name: _list(_getattr(shell, name, [])) for name in _IPYTHON_LISTS}
        snapshot.shell_custom = (shell.custom_exceptions, shell.__dict__.get("CustomTB"))
        snapshot.shell_overrides = {name: value for name, value in _vars(shell).items() if _is_routine(value)}
    return snapshot


_SNAPSHOT: list[_Snapshot] = []  # the one snapshot, once sealed


def seal(memory_limit: int = 0, hide: str | Path | None = None, writable: list[str | Path] = (),
         hand_in_answers: bool = False) -> None:
    """Record the genuine state before student code runs, after applying the grading limits.

    ``memory_limit`` caps data memory in bytes (0: none). ``hide`` is the course directory: its
    files become unreadable, except the folders in ``writable`` and any installed code inside it.
    ``hand_in_answers`` makes every check hand what it compared to the grader (:func:`checks.hand_in_answers`).
    Sealing twice is refused, so that a notebook cannot record its own changes as genuine.
    """
    if _SNAPSHOT:
        raise GradingIntegrityError("the grading kernel was already sealed")
    import dlparallel

    dlparallel.import_all()  # the library's modules are recorded as they are now
    import torch._dynamo  # noqa: F401  (on first import it wraps torch.manual_seed and others)
    if memory_limit:
        sandbox.limit_memory(memory_limit)
    if hide is not None:
        _hide(Path(hide), [Path(p) for p in writable])
    checks.hand_in_answers(hand_in_answers)
    _SNAPSHOT.append(_record())


def _hide(course: Path, writable: list[Path]) -> None:
    """Hide the course directory, keeping this kernel's own code, its folder and a temporary folder."""
    course = course.resolve()
    inside = lambda path: course in path.parents  # noqa: E731
    code = [Path(p).resolve() for p in [*sys.path, sys.prefix, Path(checks.__file__).parents[2]] if p]
    temporary = Path(tempfile.mkdtemp(prefix="grading-kernel-"))
    os.environ["TMPDIR"] = tempfile.tempdir = str(temporary)
    sandbox.hide_directory(course, readable=[p for p in code if inside(p) and p not in writable],
                           writable=[*writable, temporary])


def _changes(saved: _Snapshot) -> list[str]:
    changes = [f"{label}.{name} was replaced" for (label, name), value in saved.attributes.items()
               if _vars(saved.spaces[label]).get(name) is not value]
    changes += [f"{label}.{name} was added" for label, names in saved.class_names.items()
                for name, value in _list(_vars(saved.spaces[label]).items())
                if name not in names and _is_routine(value)]
    changes += [f"the module {name} was swapped" for name, module in saved.modules.items()
                if sys.modules.get(name) is not module]
    if (sys.gettrace(), sys.getprofile()) != saved.trace:
        changes.append("a trace or profile function was installed")
    shell = saved.shell
    if shell is not None:
        changes += [f"IPython's {name} were changed" for name, lines in saved.shell_lists.items()
                    if _list(_getattr(shell, name, [])) != lines]
        if (shell.custom_exceptions, shell.__dict__.get("CustomTB")) != saved.shell_custom:
            changes.append("IPython's exception handling was changed (set_custom_exc)")
        overrides = {name: value for name, value in _vars(shell).items() if _is_routine(value)}
        changes += [f"IPython's {name} was replaced" for name, value in overrides.items()
                    if saved.shell_overrides.get(name) is not value]
        user = shell.user_ns
        changes += [f"the name {name} was rebound" for name in _CHECK_NAMES
                    if name in user and user[name] is not _getattr(checks, name)]
    return changes


def _repair_error_reporting(saved: _Snapshot) -> None:
    """Put back IPython's error reporting, so that the integrity error itself is shown."""
    shell = saved.shell
    if shell is None:
        return
    for name, lines in saved.shell_lists.items():
        _getattr(shell, name)[:] = lines
    shell.custom_exceptions, custom_tb = saved.shell_custom
    if custom_tb is not None:
        shell.CustomTB = custom_tb
    for name in [n for n, v in _vars(shell).items() if _is_routine(v) and saved.shell_overrides.get(n) is not v]:
        del shell.__dict__[name]
    for (label, name), value in saved.attributes.items():
        if label.startswith(("IPython.", "ipykernel.", "jupyter_client.")):
            setattr(saved.spaces[label], name, value)
    sys.settrace(None)
    sys.setprofile(None)


def verify() -> None:
    """Raise :class:`GradingIntegrityError` if anything recorded by :func:`seal` has changed."""
    if not _SNAPSHOT:
        raise GradingIntegrityError("the grading kernel was not sealed before the notebook ran")
    changes = _changes(_SNAPSHOT[0])
    if changes:
        _repair_error_reporting(_SNAPSHOT[0])
        shown = ", ".join(changes[:5]) + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")
        raise GradingIntegrityError(f"the notebook changed what the tests rely on: {shown}")
