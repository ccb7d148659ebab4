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

import importlib as _importlib
from importlib import metadata as _metadata

# Name -> the module that defines it. They are imported on first use (PEP 562), so that a program
# which needs one part does not import torch and matplotlib for the rest.
_EXPORTS = {
    "data": ("DeviceLoader", "LabelledData", "TrainTest", "load_digits", "synthetic_images"),
    "devices": ("DeviceUnavailableError", "HardwareSummary", "available_devices", "describe_hardware",
                "pick_device", "synchronize"),
    "flops": ("achieved_flops_per_second", "count_flops", "matmul_flops", "training_step_flops"),
    "inference": ("BatchThroughput", "LatencyReport", "Predictor", "measure_latency", "throughput_vs_batch_size"),
    "models": ("lenet5", "mlp", "small_cnn"),
    "peaks": ("cpu_peak", "matmul_tflops", "measure_peaks", "memory_bandwidth", "triad_bandwidth"),
    "roofline": ("Peaks", "attainable_flops_per_second", "plot_roofline"),
    "timing": ("Timing", "latency_samples", "percentiles", "time_callable"),
    "training": ("EpochRecord", "Evaluation", "History", "Trainer", "TrainingDivergedError", "evaluate", "fit"),
}
# The teaching library's modules (grading, the grader's package, is apart).
MODULES = ("allreduce_cost", "cuda_graphs", "data", "ddp", "devices", "distributed", "exercises", "flops",
           "fsdp", "inference", "kernels", "memory", "models", "parallel", "peaks", "pipeline", "planner",
           "recorded", "review", "roofline", "timing", "training", "validation")
_OWNER = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted([*_OWNER, *MODULES])


def __getattr__(name: str) -> object:
    if name in MODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    if name not in _OWNER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{_OWNER[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def import_all() -> None:
    """Import every module of the teaching library now (the grading kernel records them all)."""
    for name in MODULES:
        _importlib.import_module(f"{__name__}.{name}")


try:  # written once, in pyproject.toml
    __version__ = _metadata.version("dlparallel")
except _metadata.PackageNotFoundError:  # run from a checkout through PYTHONPATH, not installed
    __version__ = "unknown"
