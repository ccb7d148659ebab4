"""Batch-1 LeNet-5 latency: eager vs dlparallel's graph-captured Predictor, same device, one run.

Every call is waited for before the next starts, as a real-time caller would. On CUDA a
hand-written capture-and-replay (the minimal graph loop from PyTorch's documentation) runs too,
as the reference the Predictor should stay close to. The last line prints the speedup of the
Predictor over eager.

    python benchmarks/latency.py [--device cuda] [--repeats 2000]
"""

from __future__ import annotations

import argparse
import json

import torch

import dlparallel as dp


def raw_graph_predict(model: torch.nn.Module, example: torch.Tensor):
    """The smallest capture-and-replay loop, with no checks: the reference point."""
    static_in = example.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.no_grad():
        for _ in range(3):
            model(static_in)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        static_out = model(static_in)

    def predict(x: torch.Tensor) -> torch.Tensor:
        static_in.copy_(x)
        graph.replay()
        return static_out

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    device = dp.pick_device(args.device)
    print(dp.describe_hardware(device))
    torch.manual_seed(0)
    model = dp.lenet5().to(device).eval()
    x = torch.rand(1, 1, 28, 28, device=device)

    def eager(inp: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(inp)

    contenders = {"eager (inference_mode)": eager, "dlparallel Predictor": dp.Predictor(model, x)}
    if device.type == "cuda":
        contenders["raw CUDA graph replay"] = raw_graph_predict(model, x)
    reports = {}
    for name, predict in contenders.items():
        report = dp.measure_latency(predict, x, repeats=args.repeats, device=device)
        reports[name] = report
        us = report.in_microseconds()
        print(f"{name:26s} p50 {us['p50']:9.1f} us   p90 {us['p90']:9.1f} us   p99 {us['p99']:9.1f} us")
    eager_p50 = reports["eager (inference_mode)"].p50
    predictor = reports["dlparallel Predictor"]
    summary = f"Predictor speedup over eager: p50 {eager_p50 / predictor.p50:.2f}x"
    if "raw CUDA graph replay" in reports:
        raw = reports["raw CUDA graph replay"]
        summary += (f"; Predictor / raw graph: p50 {predictor.p50 / raw.p50:.2f}x, "
                    f"p99 {predictor.p99 / raw.p99:.2f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"device": str(dp.describe_hardware(device)), "torch": torch.__version__,
                       "microseconds": {k: r.in_microseconds() for k, r in reports.items()}},
                      out, indent=2)
    print(summary)


if __name__ == "__main__":
    main()
