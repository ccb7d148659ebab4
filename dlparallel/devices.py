"""Choosing the device to compute on, and describing the hardware behind it.

Example:
    >>> from dlparallel.devices import pick_device, describe_hardware
    >>> device = pick_device()            # CUDA if present, then MPS, then CPU
    >>> print(describe_hardware(device))  # doctest: +SKIP
    cpu: Intel(R) Xeon(R) ... | 2 cores | 23.4 GiB | torch 2.13.0+cpu | 2 BLAS threads
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import torch

__all__ = ["DeviceUnavailableError", "HardwareSummary", "available_devices", "pick_device",
           "describe_hardware", "synchronize"]


class DeviceUnavailableError(RuntimeError):
    """Raised when a device is asked for by name and this machine does not have it."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Names of the device types usable here, fastest first.

    Example:
        >>> "cpu" in available_devices()
        True
    """
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """Return ``requested`` if this machine has it, else the fastest device present.

    With no argument: CUDA, then Apple's MPS, then the CPU. Asking for a device that is absent
    raises :class:`DeviceUnavailableError` naming what is available, instead of failing later
    inside a kernel launch.

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
    """
    if requested is None:
        return torch.device(available_devices()[0])
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{requested!r} is not a device name; use one of "
                         f"{available_devices()}") from error
    present = available_devices()
    if device.type not in present:
        hint = (" This PyTorch build has no CUDA support (a CPU build)."
                if device.type == "cuda" and torch.version.cuda is None else "")
        raise DeviceUnavailableError(
            f"device {str(device)!r} was requested but is not available on this machine; "
            f"available: {', '.join(present)}.{hint}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"device {str(device)!r} was requested but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)")
    return device


def synchronize(device: torch.device | str) -> None:
    """Wait until all queued work on ``device`` has finished (a no-op on the CPU).

    Example:
        >>> synchronize("cpu")
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class HardwareSummary:
    """What a device is: its name, parallel units, memory and the software driving it."""

    device: str
    name: str
    parallel_units: int
    parallel_unit_kind: str
    memory_gib: float
    torch_version: str
    cpu_threads: int
    cuda_version: str | None = None
    compute_capability: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.device}: {self.name}", f"{self.parallel_units} {self.parallel_unit_kind}",
                 f"{self.memory_gib:.1f} GiB", f"torch {self.torch_version}"]
        if self.cuda_version:
            parts.append(f"CUDA {self.cuda_version}, sm_{self.compute_capability}")
        parts.append(f"{self.cpu_threads} CPU/BLAS threads")
        return " | ".join(parts)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _host_memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def describe_hardware(device: torch.device | str | None = None) -> HardwareSummary:
    """Summarise the hardware behind ``device`` (default: :func:`pick_device`).

    Example:
        >>> summary = describe_hardware("cpu")
        >>> summary.parallel_unit_kind
        'cores'
    """
    device = pick_device(device)
    common = {"torch_version": torch.__version__, "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return HardwareSummary(
            device=str(device), name=props.name, parallel_units=props.multi_processor_count,
            parallel_unit_kind="SMs", memory_gib=props.total_memory / 2**30,
            cuda_version=torch.version.cuda, compute_capability=f"{props.major}{props.minor}",
            **common)
    if device.type == "mps":
        return HardwareSummary(device="mps", name="Apple GPU (MPS)", parallel_units=0,
                               parallel_unit_kind="GPU cores (not reported)",
                               memory_gib=_host_memory_gib(), **common)
    return HardwareSummary(device="cpu", name=_cpu_name(), parallel_units=os.cpu_count() or 1,
                           parallel_unit_kind="cores", memory_gib=_host_memory_gib(), **common)
