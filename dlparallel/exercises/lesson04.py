"""Checks for lesson 04's "your turn" cells: a launch's grid size, and a GPU's peak FLOP/s from its parts.

Example:
    >>> check_blocks(...)
    Not answered yet: replace ... with the number of blocks of 256 threads for 1,000,000 elements.
    >>> check_blocks(1_000_000 // 256)
    Not yet: the number of blocks of 256 threads for 1,000,000 elements is 3906, which is not right. \
Hint: the last block may be only partly used: round up, not down.
"""

from __future__ import annotations

import math

from . import Verdict, check_value

__all__ = ["GRID_ELEMENTS", "GRID_THREADS", "GPU_PARTS", "check_blocks", "check_peak_tflops"]

GRID_ELEMENTS, GRID_THREADS = 1_000_000, 256
# A made-up GPU: streaming multiprocessors, float32 lanes per SM, clock in GHz.
GPU_PARTS = {"sms": 84, "fp32_lanes_per_sm": 128, "clock_ghz": 1.7}


def check_blocks(answer: object) -> Verdict:
    """Blocks of ``GRID_THREADS`` threads that give one thread to each of ``GRID_ELEMENTS`` elements."""
    return check_value(answer, math.ceil(GRID_ELEMENTS / GRID_THREADS),
                       name="the number of blocks of 256 threads for 1,000,000 elements",
                       hint="the last block may be only partly used: round up, not down",
                       meaning="3,907 blocks, 1,000,192 threads: the last 192 fall past the end and must be guarded")


def check_peak_tflops(answer: object) -> Verdict:
    """The float32 peak, in TFLOP/s, of the GPU described by ``GPU_PARTS``."""
    parts = GPU_PARTS
    peak = parts["sms"] * parts["fp32_lanes_per_sm"] * 2 * parts["clock_ghz"] * 1e9 / 1e12
    return check_value(answer, peak, rtol=1e-3,
                       name="the float32 peak in TFLOP/s of 84 SMs x 128 lanes at 1.7 GHz",
                       hint="every lane finishes one fused multiply-add (2 FLOPs) per clock; answer in TFLOP/s (1e12)",
                       meaning="about 36.6 TFLOP/s: 10,752 lanes ('CUDA cores') x 2 FLOPs x 1.7e9 clocks per second")
