"""A small planner: which mix of data, FSDP, tensor and pipeline parallelism fits, and what it sends per step.

A transformer of ``L`` layers, hidden size ``h`` and sequences of ``s`` tokens has about
``12 L h^2`` parameters (attention 4h^2, MLP 8h^2 per layer). Trained with Adam in mixed
precision it keeps 16 bytes per parameter (:mod:`dlparallel.memory`), and its activations take
about ``34 s h`` bytes per layer and sequence in 16-bit (Korthikanti et al., 2022, with the
attention scores recomputed, as flash attention does), or ``2 s h`` (each layer's input) with
activation checkpointing. ``D`` devices are split into ``d`` data-parallel groups (plain, or
FSDP) of ``t`` tensor-parallel ranks times ``p`` pipeline stages, ``d * t * p = D``:

- model states per device: ``16 P / (t p)``, divided by ``d`` again under FSDP;
- activations per device: those of ``L / p`` layers, ``batch / d`` sequences, divided by ``t``
  (tensor parallelism with sequence parallelism splits them all);
- bytes each device sends per step: data parallelism all-reduces its 16-bit gradients
  (``2 (d - 1) / d * 2 P / (t p)``), FSDP all-gathers the weights twice and reduce-scatters the
  gradients (``3 (d - 1) / d * 2 P / (t p)``), tensor parallelism all-reduces a ``2 s h``-byte
  activation per sequence twice per layer in the forward pass and as often in the backward pass,
  and pipeline parallelism sends each micro-batch's activations forward and their gradients back.

A step's time is then estimated as the computation (``6 P`` FLOPs per token, ``8 P`` with
checkpointing, which repeats the forward pass), shared by all devices at ``device_flops_per_s``
and stretched by the pipeline bubble, plus the communication over one link of the given bandwidth
per device, with no overlap: an upper bound, good for comparing layouts.

Example:
    >>> model = Transformer(layers=32, hidden=4096, seq_len=2048)
    >>> round(model.parameters / 1e9, 2)
    6.44
    >>> plans = plan(model, batch=64, devices=8, device_bytes=80e9, link_bytes_per_s=100e9, checkpointing=True)
    >>> best = choose(plans)
    >>> best.name, round(best.memory_bytes / 1e9, 1), round(best.communication_bytes / 1e9, 1)
    ('FSDP 8', 17.2, 33.8)
"""

from __future__ import annotations

from dataclasses import dataclass

from .memory import bytes_per_parameter
from .pipeline import bubble_fraction
from .validation import positive_int

__all__ = ["Transformer", "Plan", "plan", "choose"]

ACTIVATION_BYTES = 34  # per layer, token and hidden unit, 16-bit, attention scores not stored
CHECKPOINTED_BYTES = 2  # only each layer's 16-bit input is kept


@dataclass(frozen=True)
class Transformer:
    """The shape of a transformer: layers, hidden size, tokens per sequence."""

    layers: int
    hidden: int
    seq_len: int

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "seq_len"):
            positive_int(getattr(self, name), name)

    @property
    def parameters(self) -> int:
        return 12 * self.layers * self.hidden ** 2


@dataclass(frozen=True)
class Plan:
    """One way to lay the model out on the devices, with its memory and communication per device."""

    data: int
    tensor: int
    pipeline: int
    sharded: bool
    state_bytes: float
    activation_bytes: float
    fits: bool
    communication_bytes: float
    communication_s: float
    bubble: float
    step_s: float

    @property
    def name(self) -> str:
        parts = [f"{'FSDP' if self.sharded else 'data'} {self.data}"] if self.data > 1 else []
        parts += [f"{kind} {n}" for kind, n in (("tensor", self.tensor), ("pipeline", self.pipeline)) if n > 1]
        return " x ".join(parts) or "one device"

    @property
    def memory_bytes(self) -> float:
        return self.state_bytes + self.activation_bytes


def plan(model: Transformer, batch: int, devices: int, device_bytes: float, link_bytes_per_s: float, *,
         micro_batches: int = 8, checkpointing: bool = False, device_flops_per_s: float = 400e12) -> list[Plan]:
    """Every layout of ``devices`` devices for ``model`` on ``batch`` sequences per step, as in the module's model.

    A layout needs ``t`` to divide the hidden size, ``p`` the layers and ``d`` the batch;
    pipelines run ``micro_batches`` micro-batches (GPipe), which must divide ``batch / d``.
    ``device_flops_per_s``, the rate one device sustains (400 TFLOP/s is about half an H100's bf16
    matmul peak), sets the computation time. Sorted by estimated step time.

    Example:
        >>> plans = plan(Transformer(4, 64, 16), batch=8, devices=2, device_bytes=1e9, link_bytes_per_s=1e9)
        >>> [p.name for p in plans]
        ['pipeline 2', 'tensor 2', 'data 2', 'FSDP 2']
    """
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    for name, value in (("batch", batch), ("devices", devices), ("micro_batches", micro_batches)):
        positive_int(value, name)
    if not (device_bytes > 0 and link_bytes_per_s > 0 and device_flops_per_s > 0):
        raise ValueError("device_bytes, link_bytes_per_s and device_flops_per_s must be positive, got "
                         f"{device_bytes}, {link_bytes_per_s}, {device_flops_per_s}")
    compute_s = (8 if checkpointing else 6) * model.parameters * batch * model.seq_len / (devices * device_flops_per_s)
    states_total = bytes_per_parameter("adam", "mixed").total * model.parameters
    per_token = CHECKPOINTED_BYTES if checkpointing else ACTIVATION_BYTES
    plans = []
    for t in _divisors(devices):
        for p in _divisors(devices // t):
            d = devices // (t * p)
            if model.hidden % t or model.layers % p or batch % d or (p > 1 and batch // d % micro_batches):
                continue
            sequences, layers, weights_16bit = batch // d, model.layers // p, 2 * model.parameters / (t * p)
            activations = per_token * model.seq_len * model.hidden * layers * sequences / t
            one_activation = 2 * model.seq_len * model.hidden * sequences  # 16-bit, for the rank's sequences
            tensor = 4 * layers * 2 * (t - 1) / t * one_activation
            pipe = 2 * one_activation if p > 1 else 0.0
            for sharded in ((False, True) if d > 1 else (False,)):
                data = (3 if sharded else 2) * (d - 1) / d * weights_16bit
                states = states_total / (t * p) / (d if sharded else 1)
                sent = data + tensor + pipe
                bubble = bubble_fraction(p, micro_batches) if p > 1 else 0.0
                plans.append(Plan(data=d, tensor=t, pipeline=p, sharded=sharded, state_bytes=states,
                                  activation_bytes=activations, fits=states + activations <= device_bytes,
                                  communication_bytes=sent, communication_s=sent / link_bytes_per_s,
                                  bubble=bubble, step_s=compute_s / (1 - bubble) + sent / link_bytes_per_s))
    return sorted(plans, key=lambda q: (q.step_s, q.memory_bytes))


def choose(plans: list[Plan]) -> Plan:
    """The layout that fits with the shortest estimated step (then the least memory) among ``plans``.

    Example:
        >>> choose(plan(Transformer(32, 4096, 2048), batch=64, devices=8, device_bytes=80e9, link_bytes_per_s=100e9))
        Traceback (most recent call last):
        ...
        ValueError: no layout fits in the devices' memory: add devices, use activation checkpointing, or a smaller batch
    """
    fitting = [q for q in plans if q.fits]
    if not fitting:
        raise ValueError("no layout fits in the devices' memory: add devices, use activation checkpointing, "
                         "or a smaller batch")
    return min(fitting, key=lambda q: (q.step_s, q.memory_bytes))


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]
