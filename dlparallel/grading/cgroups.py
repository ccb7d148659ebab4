"""Limits on everything one sandboxed kernel starts, together, with Linux control groups.

Resource limits (``prlimit``) bound each process on its own, and Linux does not apply the process
limit to root at all. A control group bounds the kernel and every process it starts as a whole:
how many processes and threads (the ``pids`` controller) and how much memory, the files it writes
to its private memory folders included (``memory``). :func:`kernel_cgroup` makes one for a kernel
and removes it, with anything still in it, afterwards. The group is made inside the grader's own
groups, so whatever limits those have still apply. It works with cgroup v2 (where the grader's
group delegates ``pids`` and ``memory``) and v1 (a hierarchy per controller), where the grader may
create groups (root, usually); elsewhere it gives ``None`` and the per-process limits are all
there is.

Example:
    >>> with kernel_cgroup(processes=64, memory=2**30) as group:
    ...     command = group.wrap(["python", "-c", "print(1)"]) if group else ["python", "-c", "print(1)"]
    >>> command[-3:]
    ['python', '-c', 'print(1)']
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KernelCgroup", "kernel_cgroup"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class KernelCgroup:
    """The control-group folders (one per hierarchy) that a kernel's processes join."""

    folders: tuple[Path, ...]

    def wrap(self, command: list[str]) -> list[str]:
        """``command``, started by a shell that first moves itself into the group (so everything it
        then starts is counted there)."""
        join = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
        return ["sh", "-c", join, "sh", *(str(folder / "cgroup.procs") for folder in self.folders), "--", *command]

    def pids(self) -> set[int]:
        """The processes in the group now."""
        found: set[int] = set()
        for folder in self.folders:
            with contextlib.suppress(OSError):
                found.update(int(line) for line in (folder / "cgroup.procs").read_text().split())
        return found


def _write(path: Path, value: int | str) -> None:
    path.write_text(str(value))


def _own(controller: str) -> Path:
    """The folder of this process's own group in ``controller``'s hierarchy ("" for cgroup v2's)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return CGROUP_ROOT / (controller if controller else "") / path.lstrip("/")
    raise OSError(f"this process is in no {controller or 'cgroup v2'} group")


def _v2_group(name: str, processes: int, memory: int) -> tuple[Path, ...]:
    parent = _own("")
    if not {"pids", "memory"} <= set((parent / "cgroup.subtree_control").read_text().split()):
        raise OSError("cgroup v2 does not delegate pids and memory here")
    folder = parent / name
    folder.mkdir()
    _write(folder / "pids.max", processes or "max")
    _write(folder / "memory.max", memory or "max")
    with contextlib.suppress(OSError):
        _write(folder / "memory.swap.max", 0)
    return (folder,)


def _v1_groups(name: str, processes: int, memory: int) -> tuple[Path, ...]:
    pids, mem = _own("pids") / name, _own("memory") / name  # inside this process's groups, under their limits
    pids.mkdir()
    mem.mkdir()
    _write(pids / "pids.max", processes or "max")
    _write(mem / "memory.limit_in_bytes", memory or -1)
    with contextlib.suppress(OSError):  # present only where swap accounting is on
        _write(mem / "memory.memsw.limit_in_bytes", memory or -1)
    return pids, mem


def _remove(folders: tuple[Path, ...]) -> None:
    """Kill what is left in ``folders`` and remove them."""
    group = KernelCgroup(folders)
    for _ in range(100):
        left = group.pids()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            for folder in folders:
                if folder.exists():
                    folder.rmdir()
        if not any(folder.exists() for folder in folders):
            return
        time.sleep(0.05)


@contextlib.contextmanager
def kernel_cgroup(processes: int, memory: int) -> Iterator[KernelCgroup | None]:
    """A fresh control group allowing ``processes`` processes and threads and ``memory`` bytes in
    all (0: no limit), removed (with whatever is still in it) at the end; ``None`` where none can be
    made."""
    name = f"dlp-kernel-{uuid.uuid4().hex[:12]}"
    v2 = (CGROUP_ROOT / "cgroup.controllers").is_file()
    made: tuple[Path, ...] = ()
    try:
        made = _v2_group(name, processes, memory) if v2 else _v1_groups(name, processes, memory)
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            _remove(tuple(p for p in [_own(c) / name for c in (("",) if v2 else ("pids", "memory"))] if p.exists()))
    try:
        yield KernelCgroup(made) if made else None
    finally:
        if made:
            _remove(made)
