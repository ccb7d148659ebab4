"""Each student's grading kernel in an operating-system sandbox of its own, built with bubblewrap.

`bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``, Debian's ``bubblewrap``
package, what Flatpak uses) starts a command in new Linux namespaces without a daemon or a setuid
helper. Around a student's kernel it gives:

- its own PID namespace: the kernel is the only thing it sees, and every process it starts dies
  with it (a daemon cannot outlive its kernel or find the next student's);
- no network: the kernel talks to the grader through unix sockets (jupyter_client's ``ipc``
  transport) in a folder only the two of them share, with the connection file (its key);
- a read-only view of the machine, with the course directory, the grader's home and ``/tmp``
  replaced by empty folders: no ``source/``, gradebook, ``release/``, ``exchange/``,
  ``submitted/``, ``.git`` or other students; the installed Python and course package are put back
  read-only;
- a private, empty home, ``/tmp``, ``/dev/shm`` and working folder, each a size-bounded ``tmpfs``
  that disappears with the sandbox (nothing is left on disk);
- a fixed minimal environment, no capabilities (when the grader is root), and limits on data
  memory, processes, open files and file size (Linux does not apply the process limit to root);
- where control groups can be made (root, usually), a group of its own that bounds the processes
  and memory of everything it starts, together (:mod:`dlparallel.grading.cgroups`).

The grader (nbgrader) runs outside; :class:`SandboxedKernelManager` is the kernel manager that
:class:`dlparallel.grading.execute.GuardedExecute` starts kernels with.

Example:
    >>> command = bwrap_command(["python", "-m", "ipykernel_launcher"], workdir="/course/autograded/a/ps1",
    ...                         sockets="/tmp/k1", hidden=["/course"], readable=["/course/.venv"])
    >>> command[command.index("--chdir") + 1]
    '/course/autograded/a/ps1'
    >>> command[:2] == ["env", "-i"] and "--unshare-all" in command
    True
    >>> command[-3:] == ["python", "-m", "ipykernel_launcher"]
    True
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Instance, List, Unicode

from .cgroups import KernelCgroup
from .paths import python_first_path

__all__ = ["SandboxLimits", "bwrap_command", "sandbox_problem", "installed_code", "course_checkout",
           "SandboxedKernelManager"]

# Environment variables a kernel keeps from the grader's (everything else is cleared).
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "NUMBA_ENABLE_CUDASIM", "OMP_NUM_THREADS",
              "MKL_NUM_THREADS", "PYTHONHASHSEED")


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed kernel may use (bytes, or counts)."""

    memory: int = 4 * 2**30       # data memory of each process (RLIMIT_DATA)
    processes: int = 4096         # processes and threads of the grading user, all together (RLIMIT_NPROC)
    open_files: int = 1024        # per process (RLIMIT_NOFILE)
    file_size: int = 256 * 2**20  # largest file a process may write (RLIMIT_FSIZE)
    disk: int = 512 * 2**20       # each private folder: working folder, /tmp, home
    shared_memory: int = 256 * 2**20  # /dev/shm, which the memory limit does not cover

    @property
    def total_memory(self) -> int:
        """Bytes of memory the whole sandbox may hold: a process's data, and its memory folders full
        (0 when memory is not limited)."""
        return self.memory and self.memory + 3 * self.disk + self.shared_memory

    def prlimit(self) -> list[str]:
        """util-linux's ``prlimit`` command line that applies the limits to what follows it."""
        limits = {"data": self.memory, "nproc": self.processes, "nofile": self.open_files, "fsize": self.file_size}
        return ["prlimit", *(f"--{name}={value}:{value}" for name, value in limits.items() if value), "--"]


def _bwrap() -> str:
    return shutil.which("bwrap") or "bwrap"


def _under(path: Path, folders: list[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def bwrap_command(command: list[str], workdir: str | Path, sockets: str | Path, hidden: list[str | Path] = (),
                  readable: list[str | Path] = (), limits: SandboxLimits = SandboxLimits(),
                  env: dict[str, str] | None = None) -> list[str]:
    """``command`` wrapped to run in a sandbox whose working folder is an empty private ``workdir``.

    ``sockets`` is the folder shared with the grader (read-write); ``hidden`` are folders replaced by
    empty ones (the course directory), inside which ``readable`` paths (installed code) are put back
    read-only. ``env`` is the whole environment inside (default: PATH, HOME and :data:`PASSED_ENV`).
    """
    home = str(Path.home())  # the grader's home, emptied: the kernel's own
    hide = [Path(p) for p in ["/tmp", home, *hidden] if Path(p) != Path("/")]
    if env is None:
        env = {"PATH": python_first_path(), "HOME": home,
               "TMPDIR": "/tmp", "NUMBA_CACHE_DIR": "/tmp/numba",
               **{k: os.environ[k] for k in PASSED_ENV if k in os.environ}}
    args = [_bwrap(), "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--ro-bind", "/", "/",
            "--proc", "/proc", "--dev", "/dev"]
    for device in sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri/*")):
        args += ["--dev-bind", device, device]  # the GPU, for kernels that use one
    for folder in sorted(set(hide), key=lambda p: len(p.parts)):
        args += ["--size", str(limits.disk), "--tmpfs", str(folder)]
    for path in sorted({Path(p) for p in readable if _under(Path(p), hide) and Path(p).exists()},
                       key=lambda p: len(p.parts)):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--size", str(limits.shared_memory), "--tmpfs", "/dev/shm",
             "--bind", str(sockets), str(sockets), "--size", str(limits.disk), "--tmpfs", str(workdir),
             "--chdir", str(workdir), "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    # bwrap itself starts with an empty environment too: its process is the sandbox's /proc/1.
    return ["env", "-i", *args, "--", *limits.prlimit(), *command]


def installed_code() -> list[Path]:
    """What a kernel must be able to read: the Python installation, its packages, this package.

    Example:
        >>> Path(sys.prefix).resolve() in installed_code()
        True
    """
    import dlparallel

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, Path(dlparallel.__file__).parent,
             *[p for p in sys.path if "-packages" in p]}
    return sorted({Path(p).resolve() for p in paths})


def course_checkout() -> list[Path]:
    """The repository holding this package when it is a course directory (an editable install):
    its problem sources must be hidden like the course's own."""
    import dlparallel

    repository = Path(dlparallel.__file__).resolve().parents[1]
    return [repository] if (repository / "nbgrader_config.py").is_file() else []


def sandbox_problem() -> str:
    """Why a sandbox cannot start on this machine, or "" when one does.

    Example:
        >>> isinstance(sandbox_problem(), str)
        True
    """
    if not shutil.which("bwrap"):
        return "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` (or `make bubblewrap`)"
    with tempfile.TemporaryDirectory(prefix="dlp-probe-") as folder:
        command = bwrap_command([sys.executable, "-P", "-c", "print('sandboxed')"], f"{folder}/work", folder,
                                readable=installed_code())
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap could not start a sandbox: {error}"
    if done.stdout.strip() != "sandboxed":
        return f"bubblewrap could not start a sandbox: {(done.stderr.strip() or done.stdout.strip())[-300:]}"
    return ""


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in :func:`bwrap_command`'s sandbox.

    ``sockets`` is a fresh private folder for the connection file and the kernel's unix sockets
    (the caller removes it); ``workdir`` is the notebook's folder as the kernel sees it. Interrupts
    travel as messages, since the sandbox's own init process stands between a signal and the kernel.
    """

    sockets = Unicode(help="A private folder shared by the grader and this kernel alone.")
    workdir = Unicode("", help="The kernel's working folder inside the sandbox (empty, private).")
    hidden = List(Unicode(), help="Folders the kernel must not see (the course directory).")
    readable = List(Unicode(), help="Paths inside hidden folders that stay readable (installed code).")
    limits = Instance(SandboxLimits, ())
    cgroup = Instance(KernelCgroup, allow_none=True, help="The control group the kernel's processes join, if any.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.connection_file = os.path.join(self.sockets, "kernel.json")
        self.ip = os.path.join(self.sockets, "ipc")

    # jupyter_client's KernelManager.format_kernel_cmd: the kernel's command line, made just before it starts
    # (tested with jupyter_client 8.10.0, which nbclient brings).
    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        self.kernel_spec.interrupt_mode = "message"
        # -P: nothing in the working folder (an ipykernel_launcher.py, a dlparallel/) is importable.
        command = [command[0], "-P", "-s", *command[1:]]
        command = bwrap_command(command, self.workdir, self.sockets, self.hidden, self.readable, self.limits)
        return self.cgroup.wrap(command) if self.cgroup else command
