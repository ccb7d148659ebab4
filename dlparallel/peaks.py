"""This machine's peaks, measured: matrix-multiply rate, memory bandwidth, and a CPU's specification peak.

:func:`measure_peaks` gives the two roofs of the roofline model (:mod:`dlparallel.roofline`) as
:class:`~dlparallel.roofline.Peaks`: the best matrix-multiply rate (on a CPU at least the
peak its specifications give) and the STREAM triad bandwidth of main memory.

Example:
    >>> from dlparallel.peaks import matmul_tflops, triad_bandwidth
    >>> matmul_tflops("cpu", size=128, min_run_time=0.05) > 0, triad_bandwidth("cpu", 16, 0.05) > 0
    (True, True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .devices import describe_hardware, pick_device
from .flops import matmul_flops
from .roofline import Peaks
from .timing import time_callable
from .validation import positive_int

__all__ = ["MATMUL_DTYPES", "CpuPeak", "matmul_tflops", "memory_bandwidth", "triad_bandwidth", "cpu_peak",
           "last_level_cache_bytes", "measure_peaks"]

#: Names accepted by :func:`matmul_tflops`; "tf32" is float32 storage on TensorFloat-32 units.
MATMUL_DTYPES = {"float64": torch.float64, "float32": torch.float32, "tf32": torch.float32,
                 "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class CpuPeak:
    """A CPU's float32 peak from its specifications: cores x clock x SIMD lanes x FMA units x 2.

    A fused multiply-add (FMA) instruction does one multiply and one add (2 FLOPs) in every SIMD
    lane, and a core that has ``fma_units`` FMA pipelines can start that many per clock cycle.

    Example:
        >>> peak = CpuPeak(cores=2, clock_hz=2.6e9, lanes=16, fma_units=2)
        >>> peak.flops_per_second / 1e9
        332.8
        >>> print(peak)
        2 cores x 2.60 GHz x 16 float32 lanes x 2 FMA units x 2 FLOP = 332.8 GFLOP/s
    """

    cores: int
    clock_hz: float
    lanes: int
    fma_units: int

    @property
    def flops_per_second(self) -> float:
        return self.cores * self.clock_hz * self.lanes * self.fma_units * 2

    def __str__(self) -> str:
        return (f"{self.cores} cores x {self.clock_hz / 1e9:.2f} GHz x {self.lanes} float32 lanes x "
                f"{self.fma_units} FMA units x 2 FLOP = {self.flops_per_second / 1e9:.1f} GFLOP/s")


def _simd_lanes(flags: set[str]) -> int:
    """float32 lanes of the widest SIMD unit named in the CPU flags (AVX-512 16, AVX 8, SSE/NEON 4)."""
    if "avx512f" in flags:
        return 16
    if "avx" in flags or "avx2" in flags:
        return 8
    return 4


def cpu_peak(cores: int | None = None, fma_units: int = 2, cpuinfo: str | None = None) -> CpuPeak | None:
    r"""This CPU's float32 peak, read from ``/proc/cpuinfo`` (Linux): clock and SIMD flags.

    ``cores`` defaults to torch's thread count (one per physical core). The number of FMA units
    per core is not in the flags: ``fma_units=2`` is right for server cores since Intel's
    Skylake-SP and AMD's Zen 5, an overestimate (so still an upper bound) for older ones. The clock
    read is the one the operating system reports, often the base clock: a core running faster
    (turbo) can beat this figure, which is why :func:`measure_peaks` also takes the best measured
    product. Returns None where the file is absent (macOS, Windows).

    Example:
        >>> text = "cpu MHz\t\t: 2600.000\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n"
        >>> print(cpu_peak(cores=2, cpuinfo=text))
        2 cores x 2.60 GHz x 16 float32 lanes x 2 FMA units x 2 FLOP = 332.8 GFLOP/s
    """
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        if not path.exists():
            return None
        cpuinfo = path.read_text()
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    if "cpu mhz" not in fields:
        return None
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    has_fma = "fma" in flags or "avx512f" in flags or "asimd" in flags
    return CpuPeak(cores=cores or torch.get_num_threads(), clock_hz=float(fields["cpu mhz"]) * 1e6,
                   lanes=_simd_lanes(flags), fma_units=fma_units if has_fma else 1)


def last_level_cache_bytes() -> int | None:
    """Size of the largest CPU cache (Linux sysfs), or None where it cannot be read.

    Example:
        >>> size = last_level_cache_bytes()
        >>> size is None or size > 0
        True
    """
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = entry.read_text().strip().upper()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes) if sizes else None


@contextlib.contextmanager
def _tf32(enabled: bool):
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def matmul_tflops(device: torch.device | str | None = None, dtype: str = "float32", size: int = 1024,
                  min_run_time: float = 0.3, best: bool = False) -> float:
    """Measured TFLOP/s of a ``size``-cubed matrix product in ``dtype`` on ``device``.

    Random inputs (never zeros, which some units multiply faster), the output written in place,
    timed by :func:`~dlparallel.timing.time_callable`. ``"float32"`` disables TF32 so that it
    measures true single precision; ``"tf32"`` enables it.

    Example:
        >>> matmul_tflops("cpu", "float32", size=128, min_run_time=0.05) > 0
        True
    """
    if dtype not in MATMUL_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(MATMUL_DTYPES)}")
    positive_int(size, "size")
    device = pick_device(device)
    torch_dtype = MATMUL_DTYPES[dtype]
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, generator=generator).to(torch_dtype)
    b = torch.randn(size, size, device=device, generator=generator).to(torch_dtype)
    out = torch.empty(size, size, device=device, dtype=torch_dtype)
    with _tf32(dtype == "tf32"):
        timing = time_callable(lambda: torch.mm(a, b, out=out), min_run_time=min_run_time)
    seconds = min(timing.samples) if best else timing.median
    return matmul_flops(size, size, size) / seconds / 1e12


def memory_bandwidth(device: torch.device | str | None = None, megabytes: int = 256,
                     min_run_time: float = 0.3) -> float:
    """Measured bytes per second of a large device-to-device copy (bytes read plus written).

    Pick ``megabytes`` well above the last-level cache, or the cache is what gets measured. The
    count leaves out a CPU's write-allocate reads, so it understates what memory moves: for a
    roof, use :func:`triad_bandwidth`.

    Example:
        >>> memory_bandwidth("cpu", megabytes=16, min_run_time=0.05) > 0
        True
    """
    positive_int(megabytes, "megabytes")
    device = pick_device(device)
    n = megabytes * 2**20 // 4
    src = torch.rand(n, device=device)
    dst = torch.empty_like(src)
    timing = time_callable(lambda: dst.copy_(src), min_run_time=min_run_time)
    return 2 * n * 4 / timing.median


def triad_bandwidth(device: torch.device | str | None = None, megabytes: int | None = None,
                    min_run_time: float = 0.3, write_allocate: bool | None = None) -> float:
    """Bytes per second main memory moves for the STREAM triad ``a = b + s * c`` (float32).

    Each array holds ``megabytes`` (default: 128 MB or four times the last-level cache on a CPU,
    1 GB on CUDA), so that the data comes from memory, not from a cache. Each element reads 8
    bytes and writes 4. With ``write_allocate`` (the default on a CPU) 4 more are counted: a CPU
    store to a line that is not in cache first reads that line from memory, so the memory moves
    16 bytes per element, not the 12 the program asks for. Reports the fastest block of calls.

    Example:
        >>> triad_bandwidth("cpu", megabytes=16, min_run_time=0.05) > 0
        True
    """
    device = pick_device(device)
    if megabytes is None:
        cache = last_level_cache_bytes() or 0
        megabytes = 1024 if device.type == "cuda" else max(128, 4 * cache // 2**20)
    positive_int(megabytes, "megabytes")
    n = megabytes * 2**20 // 4
    a = torch.empty(n, device=device)
    b, c = torch.rand(n, device=device), torch.rand(n, device=device)
    timing = time_callable(lambda: torch.add(b, c, alpha=3.0, out=a), min_run_time=min_run_time)
    if write_allocate is None:
        write_allocate = device.type == "cpu"
    return (16 if write_allocate else 12) * n / min(timing.samples)


def measure_peaks(device: torch.device | str | None = None, dtype: str = "float32",
                  matmul_size: int | Sequence[int] | None = None, megabytes: int | None = None) -> Peaks:
    """This device's roofs: the compute peak in ``dtype`` and the triad memory bandwidth, as :class:`Peaks`.

    The compute roof is the best of the matrix products of ``matmul_size`` (one size or several;
    default 1024 and 2048 on a CPU, 8192 on CUDA), each its fastest block, and on a CPU in
    float32 also the specification peak of :func:`cpu_peak`, whichever is higher. The bandwidth
    roof is :func:`triad_bandwidth` on ``megabytes`` per array.

    Example:
        >>> peaks = measure_peaks("cpu", matmul_size=128, megabytes=16)
        >>> peaks.ridge_intensity > 0
        True
    """
    device = pick_device(device)
    on_gpu = device.type == "cuda"
    sizes = matmul_size or ((8192,) if on_gpu else (1024, 2048))
    sizes = (sizes,) if isinstance(sizes, int) else tuple(sizes)
    flops = max(matmul_tflops(device, dtype, size, best=True) * 1e12 for size in sizes)
    source = "measured matmul"
    specification = cpu_peak() if device.type == "cpu" and dtype == "float32" else None
    if specification is not None and specification.flops_per_second > flops:
        flops, source = specification.flops_per_second, "CPU specifications"
    bandwidth = triad_bandwidth(device, megabytes)
    return Peaks(flops, bandwidth, label=f"{describe_hardware(device).name} ({dtype}, peak from {source})")
