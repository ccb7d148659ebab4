"""Training throughput: dlparallel's ``fit`` against the usual textbook loop, same device, one run.

Workload (the defaults): LeNet-5 (sigmoid, average pooling) on 60,000 synthetic 28x28 images,
batch 256, SGD with lr 0.9. The textbook loop keeps the data on the host in a ``DataLoader``
with 4 workers and shuffling, copies every batch to the device and turns loss and accuracy into
Python floats after every batch; it is the reference of the ratios. A second textbook loop adds
the two usual DataLoader tunings (pinned memory, workers kept between epochs). The contenders
take turns, one epoch each per round, so that a drift in the machine's speed hits them alike;
the first round is a warm-up (workers started, kernels loaded, graph captured) and the figure
reported is each contender's median over the other rounds. On a CPU, ``fit`` keeps images
channels-last (NHWC), which oneDNN's convolutions prefer; a second ``fit`` in the NCHW layout
shows how much of the gain that layout gives.

    python benchmarks/train_throughput.py                      # the full workload
    python benchmarks/train_throughput.py --train-size 6000    # a quick look

The last line prints the ratio of ``fit`` to the textbook loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import dlparallel as dp


class TextbookLoop:
    """The loop found in most tutorials: host data, DataLoader workers, a float per batch."""

    def __init__(self, model: torch.nn.Module, data: dp.LabelledData, device: torch.device,
                 batch_size: int, lr: float, workers: int, tuned: bool = False) -> None:
        dataset = TensorDataset(data.inputs.cpu(), data.labels.cpu())
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                 pin_memory=tuned and device.type == "cuda",
                                 persistent_workers=tuned and workers > 0)
        self.model, self.device, self.tuned = model.to(device).train(), device, tuned
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(self) -> float:
        """Train one epoch; return its examples per second."""
        dp.synchronize(self.device)
        start = time.perf_counter()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in self.loader:
            x, y = x.to(self.device, non_blocking=self.tuned), y.to(self.device, non_blocking=self.tuned)
            self.optimizer.zero_grad()
            out = self.model(x)
            loss = self.loss_fn(out, y)
            loss.backward()
            self.optimizer.step()
            total_loss += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
        return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the fastest present)")
    parser.add_argument("--train-size", type=int, default=60_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.9)
    parser.add_argument("--rounds", type=int, default=4, help="one epoch per contender each; the first is a warm-up")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers of the textbook loop")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the first is a warm-up)")

    device = dp.pick_device(args.device)
    print(dp.describe_hardware(device))
    print(f"LeNet-5, {args.train_size} synthetic 28x28 images, batch {args.batch_size}, SGD lr {args.lr}; "
          f"median epoch of {args.rounds - 1} rounds after a warm-up round")
    print(f"textbook loop: DataLoader ({args.workers} workers, shuffle), per-batch copy and .item(); "
          "tuned: plus pinned memory and persistent workers")
    data = dp.synthetic_images(args.train_size, (1, 28, 28), device="cpu", seed=0)
    on_device = data.to(device)
    torch.manual_seed(0)
    initial = dp.lenet5().state_dict()

    def fresh_model() -> torch.nn.Module:
        model = dp.lenet5()
        model.load_state_dict(initial)
        return model.to(device)

    contenders = {}
    for tuned in (False, True):
        loop = TextbookLoop(fresh_model(), data, device, args.batch_size, args.lr, args.workers, tuned)
        contenders["textbook loop, tuned DataLoader" if tuned else "textbook loop"] = loop.epoch
    variants = ([("fit, eager", False, None), ("fit, CUDA graph", True, None)] if device.type == "cuda"
                else [("fit, eager", False, None), ("fit, eager, NCHW layout", False, False)])
    for name, graph, channels_last in variants:
        model = fresh_model()

        def fit_epoch(model: torch.nn.Module = model, graph: bool = graph,
                      channels_last: bool | None = channels_last) -> float:
            history = dp.fit(model, on_device, 1, lr=args.lr, batch_size=args.batch_size, device=device,
                             cuda_graph=graph, channels_last=channels_last, progress=False)
            return history.examples_per_second[-1]

        contenders[name] = fit_epoch

    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, epoch in contenders.items():
            rates[name].append(epoch())
    medians = {name: statistics.median(r[1:]) for name, r in rates.items()}
    reference = medians[next(iter(contenders))]
    for name, rate in medians.items():
        print(f"{name + ':':34s}{rate:12,.0f} examples/s  ({rate / reference:.2f}x)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"device": str(dp.describe_hardware(device)), "torch": torch.__version__,
                       "workload": vars(args), "examples_per_second": rates, "median": medians},
                      out, indent=2)
    ratios = [f"{name.removeprefix('fit, ')} {rate / reference:.2f}x"
              for name, rate in medians.items() if name.startswith("fit")]
    print("fit / textbook loop: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
