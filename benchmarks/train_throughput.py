"""Training throughput: dlparallel's ``fit`` against the usual textbook loop, same device, one run.

Workload (the defaults): LeNet-5 (sigmoid, average pooling) on 60,000 synthetic 28x28 images,
batch 256, SGD with lr 0.9. The textbook loop keeps the data on the host in a ``DataLoader``
with 4 workers and shuffling, copies every batch to the device and turns loss and accuracy into
Python floats after every batch. Each contender trains ``--epochs`` epochs from the same initial
weights; the figure reported is the last epoch's (steady state: workers started, kernels warm,
graph captured).

    python benchmarks/train_throughput.py                      # the full workload
    python benchmarks/train_throughput.py --train-size 6000    # a quick look

The last line prints the ratio of ``fit`` to the textbook loop.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import dlparallel as dp


def textbook_epochs(model: torch.nn.Module, data: dp.LabelledData, device: torch.device, epochs: int,
                    batch_size: int, lr: float, workers: int) -> list[float]:
    """Examples/s of each epoch of the loop found in most tutorials."""
    dataset = TensorDataset(data.inputs.cpu(), data.labels.cpu())
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rates = []
    for _ in range(epochs):
        dp.synchronize(device)
        start = time.perf_counter()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
        rates.append(seen / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the fastest present)")
    parser.add_argument("--train-size", type=int, default=60_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers of the textbook loop")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    device = dp.pick_device(args.device)
    print(dp.describe_hardware(device))
    print(f"LeNet-5, {args.train_size} synthetic 28x28 images, batch {args.batch_size}, "
          f"SGD lr {args.lr}, {args.epochs} epochs each, last epoch reported")
    data = dp.synthetic_images(args.train_size, (1, 28, 28), device="cpu", seed=0)
    torch.manual_seed(0)
    initial = dp.lenet5().state_dict()

    def fresh_model() -> torch.nn.Module:
        model = dp.lenet5()
        model.load_state_dict(initial)
        return model

    results = {"device": str(dp.describe_hardware(device)), "torch": torch.__version__,
               "workload": vars(args)}
    textbook = textbook_epochs(fresh_model(), data, device, args.epochs, args.batch_size, args.lr,
                               args.workers)[-1]
    results["textbook_examples_per_s"] = textbook
    print(f"textbook loop (DataLoader, {args.workers} workers, per-batch .item()): {textbook:12,.0f} examples/s")
    variants = [("fit, eager", False)] + ([("fit, CUDA graph", True)] if device.type == "cuda" else [])
    ratios = []
    for name, graph in variants:
        history = dp.fit(fresh_model(), data, args.epochs, lr=args.lr, batch_size=args.batch_size,
                         device=device, cuda_graph=graph, progress=False)
        rate = history.examples_per_second[-1]
        ratios.append(f"{name} {rate / textbook:.2f}x")
        results[f"{name}_examples_per_s"] = rate
        print(f"{name + ':':54s}{rate:12,.0f} examples/s  ({rate / textbook:.2f}x)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    print("ratio to the textbook loop: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
