"""Data-parallel training throughput: a small CNN trained with DDP, one process per rank, under torchrun.

Every rank trains on its own shard of synthetic 28x28 images, resident on its device (its GPU
with NCCL, the CPU with gloo), with ``--batch-size`` examples per rank per step. Rank 0 prints
each epoch's loss and throughput, all ranks together and per rank; the first epoch includes
the warm-up. Compare runs with different ``--nproc_per_node`` for the scaling efficiency.

    torchrun --nproc_per_node=2 benchmarks/ddp_train.py                    # 2 ranks, one node
    torchrun --standalone --nproc_per_node=2 benchmarks/ddp_train.py --backend gloo --train-size 2048
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
        --nproc_per_node=8 benchmarks/ddp_train.py                        # on each of two nodes

The last line prints the final epoch's examples per second, in all and per rank.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.distributed as dist

import dlparallel as dp
from dlparallel.ddp import train_ddp
from dlparallel.distributed import init_process_group_from_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("gloo", "nccl"), default=None,
                        help="default: nccl where CUDA is available, else gloo")
    parser.add_argument("--train-size", type=int, default=60_000, help="examples, split across the ranks")
    parser.add_argument("--batch-size", type=int, default=256, help="examples per rank per step")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--json", default=None, help="rank 0 also writes the figures to this file")
    args = parser.parse_args()

    rank, world_size, device = init_process_group_from_env(args.backend)
    backend = dist.get_backend()
    try:
        data = dp.synthetic_images(args.train_size, (1, 28, 28), device=device, seed=0)
        result = train_ddp(dp.small_cnn, data, args.epochs, batch_size=args.batch_size, lr=args.lr)
    finally:
        dist.destroy_process_group()
    if rank != 0:
        return
    print(f"{world_size} ranks, {backend}; rank 0: {dp.describe_hardware(device)}")
    print(f"small CNN, {args.train_size} synthetic 28x28 images, batch {args.batch_size} per rank "
          f"({args.batch_size * world_size} per step), SGD lr {args.lr}")
    for record in result.history.records:
        print(f"epoch {record.epoch}: loss {record.loss:.4f}, accuracy {record.accuracy:.3f}, "
              f"{record.seconds:.2f} s, {record.examples_per_second:,.0f} examples/s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"device": str(dp.describe_hardware(device)), "torch": torch.__version__,
                       "world_size": world_size, "workload": vars(args),
                       "epochs": result.history.as_dicts()}, out, indent=2)
    rate = result.history.examples_per_second[-1]
    print(f"DDP throughput: {rate:,.0f} examples/s, {rate / world_size:,.0f} per rank ({world_size} ranks)")


if __name__ == "__main__":
    main()
