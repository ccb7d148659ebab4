"""Data parallelism in one namespace: process groups, DDP training and the all-reduce cost model.

The names live in three modules, one idea each, and are gathered here for lessons and scripts:
:mod:`dlparallel.distributed` (joining a process group under torchrun, or running ranks as local
processes), :mod:`dlparallel.ddp` (training with ``DistributedDataParallel``) and
:mod:`dlparallel.allreduce_cost` (what the gradient all-reduce costs, and how data parallelism
scales).

Example:
    >>> import dlparallel as dp
    >>> from dlparallel.parallel import spawn_local, train_ddp
    >>> train_ddp is dp.ddp.train_ddp and spawn_local is dp.distributed.spawn_local
    True
    >>> dp.parallel.ring_allreduce_bytes(100e6, 4) / 1e6
    150.0
"""

from .allreduce_cost import data_parallel_step_time, ring_allreduce_bytes, scaling_efficiency
from .ddp import DDPResult, train_ddp
from .distributed import (ENV_VARIABLES, ProcessGroupInfo, free_port, import_dynamo_first,
                          init_process_group_from_env, rank_device, spawn_local)

__all__ = ["ENV_VARIABLES", "ProcessGroupInfo", "DDPResult", "free_port", "import_dynamo_first",
           "init_process_group_from_env", "rank_device", "train_ddp", "spawn_local", "ring_allreduce_bytes",
           "data_parallel_step_time", "scaling_efficiency"]
