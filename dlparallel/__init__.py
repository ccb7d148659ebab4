"""dlparallel: the helper library of the course Parallel Processing Architectures for AI.

Each module holds one idea: ``devices`` (which hardware), ``data`` (digits and synthetic images
on the device), ``models``, ``training`` (``fit``, ``evaluate`` and the ``Trainer`` under both),
``cuda_graphs`` (capturing work in a CUDA graph), ``timing``, ``flops``, ``roofline`` (the model)
and ``peaks`` (measuring a device's roofs), ``inference``, ``kernels`` (numba-cuda kernels,
simulated where there is no GPU), ``distributed`` (process groups: torchrun, or local ranks),
``ddp`` (data-parallel training with DDP), ``allreduce_cost`` (what the gradient all-reduce costs;
``parallel`` gathers these three), ``memory`` (the memory budget of training, ZeRO), ``fsdp``
(sharded training with PyTorch's FSDP), ``pipeline`` (pipeline schedules and a pipeline on real
ranks), ``planner`` (choosing a mix of parallelisms), ``recorded`` (figures measured on a GPU, for
machines without one) and ``validation`` (the argument checks they share).

Example:
    >>> import dlparallel as dp
    >>> digits = dp.load_digits("cpu")
    >>> len(digits.train) + len(digits.test)
    1797
"""

from importlib import metadata as _metadata

from .data import DeviceLoader, LabelledData, TrainTest, load_digits, synthetic_images
from .devices import (DeviceUnavailableError, HardwareSummary, available_devices, describe_hardware,
                      pick_device, synchronize)
from .flops import achieved_flops_per_second, count_flops, matmul_flops, training_step_flops
from .inference import BatchThroughput, LatencyReport, Predictor, measure_latency, throughput_vs_batch_size
from .models import lenet5, mlp, small_cnn
from .peaks import cpu_peak, matmul_tflops, measure_peaks, memory_bandwidth, triad_bandwidth
from .roofline import Peaks, attainable_flops_per_second, plot_roofline
from . import allreduce_cost, ddp, distributed, fsdp, kernels, memory, parallel, peaks, pipeline, planner, recorded
from .timing import Timing, latency_samples, percentiles, time_callable
from .training import EpochRecord, Evaluation, History, Trainer, TrainingDivergedError, evaluate, fit

try:  # written once, in pyproject.toml
    __version__ = _metadata.version("dlparallel")
except _metadata.PackageNotFoundError:  # run from a checkout through PYTHONPATH, not installed
    __version__ = "unknown"
