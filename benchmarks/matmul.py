"""Matrix-multiply TFLOP/s by dtype: dlparallel's measurement against raw torch, same run.

The raw figure is a plain loop of ``torch.mm`` timed with CUDA events (on a CPU, with a clock
after the loop), on random inputs. The two take turns for several rounds of similar length, so
that a GPU slowing its clock under sustained load (tensor-core products draw the most power)
hits both alike; each reports its median. The library's figure must agree within 5%: the last
line prints the worst ratio.

    python benchmarks/matmul.py                 # 8192^3 on CUDA, 1024^3 on a CPU
    python benchmarks/matmul.py --size 4096
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import dlparallel as dp
from dlparallel.peaks import MATMUL_DTYPES


def raw_torch_tflops(device: torch.device, dtype: str, size: int, seconds: float) -> float:
    """TFLOP/s of a timed loop of products lasting about ``seconds``."""
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    a = torch.randn(size, size, device=device).to(MATMUL_DTYPES[dtype])
    b = torch.randn(size, size, device=device).to(MATMUL_DTYPES[dtype])
    dp.synchronize(device)
    begin = time.perf_counter()
    for _ in range(3):
        torch.mm(a, b)
    dp.synchronize(device)
    repeats = max(3, round(seconds / ((time.perf_counter() - begin) / 3)))
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            torch.mm(a, b)
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1e3 / repeats
    else:
        begin = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        seconds = (time.perf_counter() - begin) / repeats
    torch.backends.cuda.matmul.allow_tf32 = False
    return dp.matmul_flops(size, size, size) / seconds / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.2, help="length of one measurement")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    device = dp.pick_device(args.device)
    on_gpu = device.type == "cuda"
    size = args.size or (8192 if on_gpu else 1024)
    dtypes = ["bfloat16", "float16", "tf32", "float32"] if on_gpu else ["float32", "float64"]
    print(dp.describe_hardware(device))
    print(f"{size}^3 matrix product, TFLOP/s, median of {args.rounds} alternating rounds")
    rows, ratios = {}, []
    for dtype in dtypes:
        raws, libraries = [], []
        for _ in range(args.rounds):
            raws.append(raw_torch_tflops(device, dtype, size, args.seconds))
            libraries.append(dp.matmul_tflops(device, dtype, size, min_run_time=args.seconds))
        raw, library = statistics.median(raws), statistics.median(libraries)
        ratios.append(library / raw)
        rows[dtype] = {"raw_torch": raw, "dlparallel": library}
        print(f"{dtype:9s} raw torch {raw:9.3f}   dlparallel {library:9.3f}   ratio {library / raw:.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"device": str(dp.describe_hardware(device)), "torch": torch.__version__,
                       "size": size, "tflops": rows}, out, indent=2)
    worst = max(ratios, key=lambda r: abs(r - 1))
    print(f"dlparallel / raw torch: worst ratio {worst:.3f} over {len(dtypes)} dtypes "
          f"({'within' if abs(worst - 1) <= 0.05 else 'OUTSIDE'} 5%)")


if __name__ == "__main__":
    main()
