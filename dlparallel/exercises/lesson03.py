"""Checks for lesson 03's "your turn" cells: a CPU's peak from its specifications, and an intensity.

Example:
    >>> from dlparallel.exercises import lesson03
    >>> lesson03.check_laptop_peak(...)
    Not answered yet: replace ... with the float32 peak of the laptop CPU in GFLOP/s.
"""

from __future__ import annotations

from ..peaks import CpuPeak
from . import Verdict, check_value

__all__ = ["LAPTOP", "check_laptop_peak", "check_axpy_intensity"]

#: The laptop CPU of the first exercise: 8 cores at 3.0 GHz, AVX2 (8 float32 lanes), 2 FMA units.
LAPTOP = CpuPeak(cores=8, clock_hz=3.0e9, lanes=8, fma_units=2)


def check_laptop_peak(answer: object) -> Verdict:
    """Is ``answer`` (GFLOP/s) the float32 peak of :data:`LAPTOP`?

    Example:
        >>> check_laptop_peak(8 * 3.0 * 8 * 2)
        Not yet: the float32 peak of the laptop CPU in GFLOP/s is 384, which is not right. Hint: \
an FMA is a multiply and an add, 2 FLOPs per lane.
    """
    expected = LAPTOP.flops_per_second / 1e9
    try:
        near_half = abs(2 * float(answer) - expected) < 1e-6  # type: ignore[arg-type]
    except (TypeError, ValueError):
        near_half = False
    hint = ("an FMA is a multiply and an add, 2 FLOPs per lane" if near_half
            else "multiply cores, clock (in GHz, for GFLOP/s), SIMD lanes, FMA units and 2 FLOPs per FMA")
    return check_value(answer, expected, name="the float32 peak of the laptop CPU in GFLOP/s", hint=hint,
                       meaning="8 cores x 3.0 GHz x 8 lanes x 2 FMA units x 2 FLOPs, the ceiling no float32 code "
                               "on it can pass")


def check_axpy_intensity(answer: object) -> Verdict:
    """Is ``answer`` the arithmetic intensity (FLOP/byte) of ``y = a * x + y`` on float64 vectors?

    Example:
        >>> check_axpy_intensity(2 / 16)
        Not yet: the arithmetic intensity of y = a * x + y in float64 is 0.125, which is not right. \
Hint: per element, count the bytes read from memory (x and y) and written back (y), 8 bytes each.
    """
    return check_value(answer, 2 / 24, name="the arithmetic intensity of y = a * x + y in float64",
                       hint="per element, count the bytes read from memory (x and y) and written back (y), "
                            "8 bytes each",
                       meaning="2 FLOPs per 24 bytes: far left of any ridge point, so AXPY is memory-bound "
                               "everywhere")
