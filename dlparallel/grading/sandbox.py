"""Limits a grading kernel puts on itself when it is graded without a sandbox: memory and files.

Sandboxed kernels (:mod:`dlparallel.grading.bubblewrap`, the default) get both from outside and
never see the course directory; these are the fallback for ``--unsandboxed`` grading. Both are
inherited by every process the kernel starts and cannot be lifted by an unprivileged process
afterwards. Files are hidden with Linux's Landlock (kernel 5.13 and newer, usable without
privileges): the kernel keeps read and write access to everything outside the course directory,
and inside it only to the paths it is given (the student's own folder, the installed library).
Where Landlock is missing (or the system is not Linux), :func:`landlock_abi` returns 0 and the
autograde summary says so.

Example (in a child process, since the limits are for good):
    >>> import subprocess, sys
    >>> code = ("from dlparallel.grading.sandbox import limit_memory\\n"
    ...         "limit_memory(2 * 2**30)\\n"
    ...         "try:\\n    bytearray(8 * 2**30)\\nexcept MemoryError:\\n    print('refused')")
    >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    'refused\\n'
"""

from __future__ import annotations

import ctypes
import enum
import os
import resource
import sys
from pathlib import Path

__all__ = ["limit_memory", "landlock_abi", "hide_directory", "Access"]

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on x86-64 and arm64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38


class Access(enum.IntFlag):
    """Landlock's filesystem access rights (``LANDLOCK_ACCESS_FS_*`` in ``linux/landlock.h``)."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13  # ABI 2
    TRUNCATE = 1 << 14  # ABI 3


_ALL_RIGHTS_V1 = Access((1 << 13) - 1)  # EXECUTE ... MAKE_SYM
_FILE_RIGHTS = Access.EXECUTE | Access.WRITE_FILE | Access.READ_FILE | Access.TRUNCATE  # what a file can be granted
_READ_ONLY = Access.EXECUTE | Access.READ_FILE | Access.READ_DIR


def limit_memory(max_bytes: int) -> None:
    """Cap the data memory of this process (and of each child) at ``max_bytes``.

    Allocations beyond it fail with ``MemoryError`` (or PyTorch's out-of-memory ``RuntimeError``)
    instead of exhausting the grading machine. The limit is on data (heap and private writable
    mappings, ``RLIMIT_DATA``), not on address space, so CUDA's large reservations still work.
    """
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    resource.setrlimit(resource.RLIMIT_DATA, (max_bytes, max_bytes))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The Landlock ABI version of the running kernel, or 0 where Landlock is unavailable.

    Example:
        >>> landlock_abi() >= 0
        True
    """
    if sys.platform != "linux":
        return 0
    try:
        version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _outside(hidden: Path) -> list[Path]:
    """Everything on the filesystem outside ``hidden``: the siblings of it and of each ancestor.
    Links are left out: a rule on a link would grant its target, which may be ``hidden`` itself."""
    paths = []
    for parent, child in zip(hidden.parents, [hidden, *hidden.parents], strict=False):
        paths += [entry for entry in parent.iterdir() if entry != child and not entry.is_symlink()]
    return paths


def hide_directory(hidden: Path | str, readable: list[Path | str], writable: list[Path | str]) -> None:
    """Forbid this process and its children any access to ``hidden``, except the paths listed.

    ``readable`` and ``writable`` are paths inside ``hidden`` that stay readable (and, for
    ``writable``, writable too). Raises ``OSError`` where Landlock is unavailable.
    """
    abi = landlock_abi()
    if abi < 1:
        raise OSError("Landlock is not available in this Linux kernel")
    handled = _ALL_RIGHTS_V1 | (Access.TRUNCATE if abi >= 3 else Access(0))
    hidden = Path(hidden).resolve()
    rules = [(path, handled) for path in _outside(hidden)]
    rules += [(Path(path).resolve(), _READ_ONLY) for path in readable]
    rules += [(Path(path).resolve(), handled) for path in writable]
    libc = _libc()
    attr = ctypes.c_uint64(int(handled))
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(8), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # vanished, or a dangling link: nothing to allow
            try:
                if not os.path.isdir(path):
                    rights &= _FILE_RIGHTS
                rule = _PathBeneath(int(rights & handled), fd)
                if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    try:
        os.listdir(hidden)
    except PermissionError:
        return
    raise OSError(f"{hidden} is still readable after restricting access to it")
