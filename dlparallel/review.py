"""The course's review: flash cards for every glossary term and a practice test scored on the spot.

``CARDS`` holds one card per term of the lessons' glossaries (with the lessons that define it) and
``QUESTIONS`` a practice test drawn from every lesson: multiple choice and numbers to compute for
a new case, each with an explanation. ``flash_cards()`` and ``practice_test()`` show them as
ipywidgets in JupyterLab; ``Question.mark`` scores one answer; ``glossary_terms`` reads the terms
of a lesson's "Glossary" section, so that a test can name any term without a card.

Example:
    >>> card = find_card("all-reduce")
    >>> card.term, card.lessons
    ('All-reduce', (5, 7))
    >>> question = QUESTIONS[0]
    >>> question.mark(...).outcome
    'blank'
    >>> question.mark(question.answer).outcome
    'right'
"""

from __future__ import annotations

import html
import json
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import ipywidgets as widgets

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Card", "Question", "Mark", "CARDS", "QUESTIONS", "find_card", "term_key", "glossary_terms",
           "Score", "FlashCards", "PracticeTest", "flash_cards", "practice_test", "glossary", "plot_score"]


# ----------------------------------------------------------------------------------------------
# What a card and a question are
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Card:
    """A glossary term, its definition and the lessons whose glossary defines it.

    ``also`` lists other names under which a glossary gives the same term (``"bf16"`` for
    ``"bfloat16"``).
    """

    term: str
    definition: str
    lessons: tuple[int, ...]
    also: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.term.strip() and self.definition.strip() and self.lessons):
            raise ValueError(f"card {self.term!r}: give a term, a definition and at least one lesson")

    @property
    def source(self) -> str:
        """Where the term is taught: ``"lesson 03"`` or ``"lessons 01, 03"``."""
        numbers = ", ".join(f"{n:02d}" for n in self.lessons)
        return f"lesson{'s' if len(self.lessons) > 1 else ''} {numbers}"


Outcome = Literal["right", "wrong", "blank"]


@dataclass(frozen=True)
class Mark:
    """The verdict on one answer: ``outcome`` and the message shown beside the question."""

    outcome: Outcome
    message: str

    @property
    def right(self) -> bool:
        return self.outcome == "right"


@dataclass(frozen=True)
class Question:
    """A practice question from ``lesson``: multiple choice when ``choices`` is given (``answer``
    is then the index of the right choice), otherwise a number (``answer``) accepted within the
    relative tolerance ``rtol``.
    """

    lesson: int
    topic: str
    prompt: str
    answer: float
    explanation: str
    choices: tuple[str, ...] = ()
    rtol: float = 0.01
    unit: str = ""

    def __post_init__(self) -> None:
        if self.choices and not (isinstance(self.answer, int) and 0 <= self.answer < len(self.choices)):
            raise ValueError(f"{self.prompt[:40]!r}: answer must index one of the {len(self.choices)} choices")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"{self.prompt[:40]!r}: two choices are the same")

    @property
    def kind(self) -> Literal["choice", "number"]:
        return "choice" if self.choices else "number"

    @property
    def right_answer(self) -> str:
        """The right answer as the student would give it."""
        if self.choices:
            return self.choices[int(self.answer)]
        return _format(self.answer) + (f" {self.unit}" if self.unit else "")

    def mark(self, response: object) -> Mark:
        """Score ``response``: a choice's index or text, or a number (text such as ``"3,907"``,
        ``"1e6"``, ``"20%"`` or ``"16.7 ms"`` is read too); ``None``, ``...`` or ``""`` is blank.

        Example:
            >>> q = Question(1, "FLOPs", "2 x 3?", 6, "A product of two numbers.")
            >>> q.mark("6").outcome, q.mark(7).outcome, q.mark("").outcome
            ('right', 'wrong', 'blank')
            >>> print(q.mark(7).message)
            Not quite: 7 is not right; the answer is 6. A product of two numbers.
        """
        if response is None or response is ... or (isinstance(response, str) and not response.strip()):
            return Mark("blank", "Not answered yet: " + ("pick one choice." if self.choices else "type a number."))
        if self.choices:
            index = self.choices.index(response) if response in self.choices else response
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self.choices):
                return Mark("blank", f"Not answered yet: {response!r} is none of the choices.")
            if index == self.answer:
                return Mark("right", f"Right. {self.explanation}")
            return Mark("wrong", f"Not quite: the answer is “{self.right_answer}”. {self.explanation}")
        number = _read_number(response, self.unit)
        if number is None:
            return Mark("blank", f"Not answered yet: {str(response).strip()!r} is not a number.")
        if math.isclose(number, float(self.answer), rel_tol=self.rtol, abs_tol=1e-12):
            return Mark("right", f"Right: {self.right_answer}. {self.explanation}")
        return Mark("wrong", f"Not quite: {_format(number)} is not right; the answer is {self.right_answer}. "
                             f"{self.explanation}")


def _format(number: float) -> str:
    """A whole number in full with thousands separators (``100,480``), others to 4 significant digits."""
    return f"{int(number):,}" if float(number).is_integer() and abs(number) < 1e15 else f"{number:,.4g}"


def _read_number(response: object, unit: str) -> float | None:
    """A number from what the student typed: commas, underscores, the unit and a % sign allowed."""
    if isinstance(response, bool):
        return None
    if isinstance(response, (int, float)):
        return float(response)
    text = str(response).strip().replace(",", "").replace("_", "").replace("−", "-")
    if unit and text.lower().endswith(unit.lower()):
        text = text[: -len(unit)].strip()
    scale = 0.01 if text.endswith("%") else 1.0
    try:
        number = float(text.rstrip("%").strip()) * scale
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# ----------------------------------------------------------------------------------------------
# The cards: every term of the lessons' glossaries
# ----------------------------------------------------------------------------------------------

CARDS: tuple[Card, ...] = (
    # Lesson 01: deep learning and its compute needs
    Card("Deep neural network", "A network of many layers, each transforming the previous layer's output (a "
         "linear map followed by a nonlinearity); depth lets it build complex features from simple ones.", (1,)),
    Card("Parallel processing", "Doing many parts of a computation at the same time on many processing units "
         "(cores, SIMD lanes, GPU threads, several devices) instead of one after the other.", (1, 3)),
    Card("Task parallelism", "Different workers doing different tasks at the same time, like the cooks of a "
         "busy kitchen: one grills, one chops, one plates.", (1,)),
    Card("Data parallelism", "The same operation done at once on different pieces of data: a GPU's threads "
         "applying one instruction to many numbers (lesson 01), or several workers that each hold a full copy "
         "of the model and process their own part of every batch (lesson 05).", (1, 5)),
    Card("FLOP", "One floating-point operation (an addition or a multiplication); a multiply-add counts as 2.",
         (1, 3)),
    Card("FLOP/s", "FLOPs per second, the rate of arithmetic; GFLOP/s = 10^9 and TFLOP/s = 10^12 FLOPs per "
         "second.", (1, 3), also=("GFLOP/s", "TFLOP/s")),
    Card("Parameter", "A number the network learns: a weight or a bias.", (1,)),
    Card("Linear (fully connected) layer", "Computes x @ W.T + b: every output depends on every input.", (1,)),
    Card("Activation (nonlinearity)", "A function applied element by element between layers, such as ReLU, "
         "max(0, z); without it a stack of linear layers is one linear layer.", (1,)),
    Card("Logits", "The raw class scores a classifier outputs; the largest one is the prediction.", (1,)),
    Card("Forward pass", "Computing the network's output (and the loss) from an input.", (1,)),
    Card("Backward pass", "Computing the gradients of the loss with respect to the weights (and the inputs), "
         "layer by layer from the output back; about twice the forward pass's FLOPs.", (1,)),
    Card("Training step", "A forward pass, a backward pass and an update of the weights on one mini-batch: "
         "about three forward passes of arithmetic.", (1,)),
    Card("Epoch", "One pass over the whole training set.", (1, 2)),
    Card("Throughput", "Work done per second: examples/s in training, requests answered per second in a "
         "service, FLOP/s for arithmetic.", (1, 6)),
    Card("Peak rate / utilisation", "The fastest rate the hardware reaches on its best operation (a large "
         "matrix product), and the fraction of it that a real workload achieves.", (1,)),
    Card("MLP (multilayer perceptron)", "A network of linear layers with nonlinearities between them.", (1,)),
    Card("CNN (convolutional neural network)", "A network whose layers slide small learned filters over an "
         "image.", (1,)),
    # Lesson 02: backpropagation and gradient descent
    Card("Computation graph", "The operations of a calculation as nodes, with edges from inputs to results.",
         (2,)),
    Card("Chain rule", "The derivative of a composition is the product of the local derivatives along the "
         "way.", (2,)),
    Card("Gradient", "The vector of partial derivatives of the loss with respect to each parameter; it points "
         "uphill, so training steps against it.", (2,)),
    Card("Backpropagation", "Computing all gradients in one backward sweep through the graph, by the chain "
         "rule, reusing the values the forward pass kept.", (1, 2)),
    Card("Autograd", "PyTorch's automatic differentiation: it records the graph during the forward pass and "
         "runs the backward pass on backward().", (2,)),
    Card("Finite differences", "Estimating a derivative from function values at nearby points; centred: "
         "(L(x+h) - L(x-h)) / 2h, with an error that shrinks like h².", (2,)),
    Card("Relative error", "The size of a difference divided by the size of the values compared.", (2,)),
    Card("Softmax", "Turns a vector of scores into probabilities: exp(z_k) / Σ_j exp(z_j).", (2,)),
    Card("Cross-entropy", "The loss -log p_y: the negative log-probability the model gives the true class.",
         (2,)),
    Card("Gradient descent", "Repeatedly moving the parameters a small step against the gradient.", (2,)),
    Card("Stochastic gradient descent (SGD)", "Gradient descent on one random mini-batch per step: many "
         "cheap, noisy steps per epoch instead of one exact step.", (2,)),
    Card("Profiler", "A tool that records how long each operation takes; torch.profiler does it for PyTorch's "
         "operators.", (2,)),
    Card("Learning rate", "The size η of a gradient-descent step: too small learns slowly, too large "
         "diverges.", (2,)),
    Card("Mini-batch", "The small random subset of examples on which one step's gradient is computed.", (2,)),
    Card("Dead ReLU", "A unit whose input is negative for every example, so it outputs 0 and passes no "
         "gradient: its weights stop changing.", (2,)),
    # Lesson 03: matrix multiplication
    Card("Matrix multiplication", "C = A @ B, each C[i, j] the dot product of row i of A with column j of "
         "B: 2mnk FLOPs for an m×k by k×n product, the operation most of deep learning's time goes to.", (1, 3)),
    Card("BLAS", "Basic Linear Algebra Subprograms: the standard interface of tuned vector and matrix "
         "routines (GEMM is its matrix product).", (3,)),
    Card("Interpreter overhead", "The time Python spends per operation on bytecode dispatch, lookups and "
         "object creation.", (3,)),
    Card("SIMD / vectorisation", "One instruction applied to several numbers at once (e.g. 16 float32 with "
         "AVX-512).", (3,)),
    Card("Cache", "Small, fast memory next to a core (L1, L2, L3) that holds recently used data.", (3,)),
    Card("Tiling (blocking)", "Splitting matrices into tiles that fit in cache (or in a GPU's shared memory), "
         "so that each loaded number is used many times.", (3,)),
    Card("Register blocking", "Keeping a small block of the output in CPU registers while inputs stream "
         "past.", (3,)),
    Card("Thread", "An independent stream of instructions. On a CPU, BLAS runs one per core on parts of a "
         "product; on a GPU, a thread is one execution of a kernel with its own registers and indices.",
         (3, 4)),
    Card("Speedup", "S(n) = T(1) / T(n): the one-thread time divided by the n-thread time.", (3,)),
    Card("Amdahl's law", "S(n) = 1 / (s + (1 - s) / n) for a serial fraction s: the speedup can never exceed "
         "1/s.", (3,)),
    Card("Serial fraction", "The share s of the one-thread run time that does not shrink with more threads "
         "(fitted from measurements, it also absorbs shared bandwidth and clock changes).", (3,)),
    Card("FMA (fused multiply-add)", "One instruction that computes a·b + c: 2 FLOPs per SIMD lane.", (3,)),
    Card("Peak FLOP/s", "cores × clock × SIMD lanes × FMA units × 2: the arithmetic rate no code can "
         "exceed.", (3,)),
    Card("STREAM triad", "The kernel a = b + s·c on arrays far larger than the caches: the standard measure "
         "of memory bandwidth.", (3,)),
    Card("Write-allocate", "A CPU reads a cache line from memory before writing into it, so a store to memory "
         "costs a read too.", (3,)),
    Card("Arithmetic intensity", "FLOPs per byte moved to and from main memory.", (3,)),
    Card("Memory bandwidth", "The bytes per second that main memory can deliver (reads plus writes).", (3,)),
    Card("Roofline", "Attainable FLOP/s = min(P, I·B) as a function of arithmetic intensity I, for peak rate P "
         "and memory bandwidth B.", (3,)),
    Card("Ridge point", "The intensity P/B where the memory roof meets the compute roof.", (3,)),
    Card("Memory-bound", "Limited by memory bandwidth: the time is set by the bytes read and written, not by "
         "the arithmetic (ReLU, adding a bias); arithmetic intensity below the ridge point.", (2, 3),
         also=("Memory-bound operation",)),
    Card("Compute-bound", "Limited by arithmetic: arithmetic intensity above the ridge point.", (3,)),
    Card("Tensor core", "A GPU unit that multiplies small matrix tiles in one instruction, fastest in narrow "
         "formats (TF32, bf16, fp16, fp8); plain float32 runs on the CUDA cores instead.", (3, 4)),
    Card("TF32", "TensorFloat-32: float32 storage multiplied with a 10-bit mantissa on tensor cores.", (3,)),
    Card("bfloat16", "A 16-bit float with float32's 8-bit exponent (the same range) and a 7-bit mantissa "
         "(about 3 significant digits).", (3, 4), also=("bf16",)),
    Card("float16", "A 16-bit float with a 5-bit exponent and a 10-bit mantissa: more precise than bfloat16 "
         "but with a small range: its smallest positive number is about 6e-8, and much smaller values "
         "underflow to zero.", (3,)),
    # Lesson 04: how a GPU runs your network
    Card("GPU", "Graphics processing unit: a throughput-oriented processor with thousands of simple lanes in "
         "many streaming multiprocessors and high-bandwidth memory; it hides memory latency by switching "
         "between many threads.", (4,)),
    Card("CUDA core", "NVIDIA's name for one float32 lane of an SM: a lane of a wide execution unit, not a "
         "core with its own instruction stream; plain float32 arithmetic runs on them.", (3, 4)),
    Card("Latency-oriented / throughput-oriented", "Designed to finish one instruction stream as soon as "
         "possible (a CPU core, with large caches and out-of-order execution) / to finish as much work per "
         "second as possible over many streams (a GPU).", (4,)),
    Card("Systolic array", "A grid of multiply-add cells through which operands flow from neighbour to "
         "neighbour, so that each loaded value is used many times (the matrix unit of Google's TPU).", (4,)),
    Card("NPU (neural processing unit)", "A small accelerator for neural-network inference in phones, laptops "
         "and cameras.", (4,)),
    Card("SIMT (single instruction, multiple threads)", "The GPU's execution model: one instruction is issued "
         "for a warp of threads, each thread working on its own data.", (4,)),
    Card("Kernel", "A function that runs on the GPU, once per thread of the grid it is launched on.", (4,)),
    Card("Grid", "All the blocks of one kernel launch.", (4,)),
    Card("Block", "A group of up to 1,024 threads that run on one SM and can share memory and synchronise.",
         (4,)),
    Card("Warp", "32 consecutive threads of a block that the SM schedules together: one instruction is issued "
         "for all of them, and when their branches differ the paths run one after the other.", (4,)),
    Card("Streaming multiprocessor (SM)", "One of the GPU's processors (132 on an H100 SXM); it runs blocks "
         "and switches between their warps.", (4,)),
    Card("Global memory", "The GPU's large main memory (HBM), shared by all SMs: high bandwidth, high "
         "latency.", (4,)),
    Card("Shared memory", "Fast on-chip memory of an SM, shared by the threads of a block and managed by the "
         "program.", (4,)),
    Card("Synchronisation", "Waiting until others are done: cuda.syncthreads() inside a block, "
         "torch.cuda.synchronize() between the host and the GPU.", (4,)),
    Card("Grid-stride loop", "Each thread handles elements i, i + stride, ... with stride = the grid's thread "
         "count, so any grid covers any size.", (4,)),
    Card("Coalescing", "Consecutive threads of a warp accessing consecutive addresses, served by a few wide "
         "memory transactions.", (4,)),
    Card("Occupancy", "The warps resident on an SM divided by the most it can hold; more warps hide memory "
         "latency.", (4,)),
    Card("CUDA simulator", "numba's pure-Python execution of CUDA kernels on the CPU "
         "(NUMBA_ENABLE_CUDASIM=1).", (4,)),
    Card("Asynchronous execution", "The host queues GPU work and continues without waiting for it to "
         "finish.", (4,)),
    Card("CUDA event", "A marker recorded into a GPU stream and timestamped by the GPU when it is reached.",
         (4,)),
    Card("Launch overhead", "The host time to issue one GPU operation (Python, dispatch, driver): "
         "microseconds each.", (4,)),
    Card("CUDA graph", "A recorded sequence of GPU kernels replayed with a single launch, removing the "
         "per-kernel launch overhead.", (4, 6)),
    Card("Autocast", "A region (with torch.autocast(...)) in which PyTorch runs suitable operations, such as "
         "matrix products, in a 16-bit format and keeps the others in float32.", (4, 6),
         also=("Autocast region",)),
    Card("Mixed precision", "Training with 16-bit arithmetic where it is safe and float32 where it matters "
         "(fp32 master weights for the update, reductions).", (4, 7)),
    Card("Underflow", "A number too small for its type's exponent range, stored as 0 (float16 gradients below "
         "about 6e-8).", (4,)),
    Card("Loss scaling", "Multiplying the loss by a large factor before backward (GradScaler) so that small "
         "float16 gradients do not underflow to zero, then dividing the gradients by it before the update.",
         (4,)),
    # Lesson 05: data-parallel training
    Card("Worker / rank", "One of the cooperating processes (usually one per GPU); its rank is its number, 0 "
         "to N-1.", (5,)),
    Card("Local rank", "A process's number among those on its own machine; it picks the GPU "
         "(cuda:LOCAL_RANK).", (5,)),
    Card("World size", "The number of ranks N in the job.", (5,)),
    Card("Process group", "The set of ranks that take part in collective operations together.", (5,)),
    Card("Shard", "The part of a batch or data set given to one worker, or the part of a tensor (parameters, "
         "gradients, optimizer state) that one rank holds.", (5, 7)),
    Card("Replica", "One worker's copy of the model.", (5,)),
    Card("All-reduce", "A collective operation that leaves the sum (or mean) of every rank's tensor on every "
         "rank; it can be done as a reduce-scatter followed by an all-gather.", (5, 7)),
    Card("Ring all-reduce", "An all-reduce in which ranks pass chunks round a ring: N-1 reduce-scatter and "
         "N-1 all-gather steps, 2(N-1)/N of the buffer sent per rank.", (5,)),
    Card("Reduce-scatter", "A collective after which each rank holds one chunk of the sum of every rank's "
         "tensor (the first half of a ring all-reduce; ZeRO uses it to shard gradients).", (5, 7)),
    Card("All-gather", "A collective after which every rank holds the concatenation of every rank's chunk "
         "(the second half of a ring all-reduce; FSDP uses it to rebuild a layer's parameters).", (5, 7)),
    Card("DistributedSampler", "PyTorch's sampler that gives each rank an equal, disjoint share of a data "
         "set's (shuffled) indices.", (5,)),
    Card("no_sync", "DDP's context manager that skips the gradient all-reduce, so that gradients accumulate "
         "over several micro-batches before one all-reduce.", (5,)),
    Card("gloo", "PyTorch's collective-communication backend for CPUs (over TCP).", (5,)),
    Card("NCCL", "NVIDIA Collective Communications Library, the backend for GPUs, over NVLink, PCIe and "
         "InfiniBand.", (5,)),
    Card("torchrun", "PyTorch's launcher: starts --nproc_per_node processes on each of --nnodes machines, sets "
         "their rank variables and arranges their rendezvous.", (5,)),
    Card("Rendezvous", "How the ranks of a job find each other (an address and port: MASTER_ADDR/MASTER_PORT "
         "or --rdzv_endpoint).", (5,)),
    Card("DDP (DistributedDataParallel)", "PyTorch's wrapper that keeps replicas identical by all-reducing and "
         "averaging gradients during the backward pass.", (5,)),
    Card("Bucket", "A group of gradients that DDP all-reduces together, as soon as all of them are ready.",
         (5,)),
    Card("Alpha-beta model", "Communication time = latency per message (α) + bytes × time per byte (β, the "
         "inverse of the bandwidth).", (5,)),
    Card("Scaling efficiency", "The throughput of N workers divided by N times the throughput of one; 1 is "
         "perfect.", (5,)),
    Card("Strong scaling", "A fixed total problem (global batch) split over more workers.", (5,)),
    Card("Weak scaling", "A fixed problem per worker (local batch), so that the total grows with the number "
         "of workers.", (5,)),
    # Lesson 06: real-time inference
    Card("Latency", "The time from a request's arrival to its answer, for one request.", (6,)),
    Card("p50 / p99", "The latencies that 50% / 99% of requests beat; p50 is the median.", (6,)),
    Card("Tail latency", "The slow end of the latency distribution, measured by p99, p99.9 or the maximum.",
         (6,)),
    Card("Deadline", "The latest time by which an answer is still useful.", (6,)),
    Card("Frame budget", "The time between two inputs of a periodic source (1/rate), within which each must "
         "be processed: 33.3 ms at 30 fps.", (6,)),
    Card("Batching", "Processing several inputs in one call to share its fixed costs: raises throughput, and "
         "the latency of each input.", (6,)),
    Card("Dynamic batching", "A server batching whatever requests are waiting when it becomes free, up to a "
         "maximum.", (6,)),
    Card("Inference mode", "torch.inference_mode(): running a model with autograd and its bookkeeping "
         "switched off.", (6,)),
    Card("Reduced precision", "Computing with 16-bit (or 8-bit) numbers instead of float32: less memory "
         "traffic and faster arithmetic where the hardware supports it, slightly less exact.", (6,)),
    Card("Quantization", "Storing numbers (weights, activations) as small integers, such as int8, with a scale "
         "that maps them back to real values: a quarter of float32's bytes.", (6,)),
    Card("Dynamic quantization", "int8 weights prepared once, and each layer's input quantized at run time "
         "with a scale computed from that input: smaller weights and integer arithmetic, at a small cost in "
         "accuracy.", (6,)),
    Card("AVX512-BF16 / AMX", "CPU instruction sets for bfloat16 dot products (AVX512-BF16) and for whole "
         "bfloat16 or int8 matrix tiles (Intel's Advanced Matrix Extensions): where a CPU has them, bf16 "
         "matrix products run faster than float32.", (6,)),
    Card("Utilisation", "ρ = λS, arrival rate times service time: the fraction of time a server is busy; it "
         "must stay below 1.", (6,)),
    Card("Queueing delay", "The time a request waits for the server before its own processing starts.", (6,)),
    Card("Poisson arrivals", "Requests whose gaps are independent and exponentially distributed: the "
         "standard model of many independent users.", (6,)),
    # Lesson 07: models larger than one device
    Card("Model states", "What training keeps per parameter: the weight, its gradient and the optimizer "
         "state.", (7,)),
    Card("Master weights", "The float32 copy of the weights that the optimizer updates in mixed-precision "
         "training.", (7,)),
    Card("Activations", "The values computed in the forward pass; those saved for the backward pass take "
         "activation memory, which grows with batch size and depth.", (7,)),
    Card("Optimizer state", "What the optimizer keeps per parameter besides the weight: a momentum buffer "
         "for SGD with momentum, two moments for Adam.", (7,)),
    Card("Activation checkpointing", "Keeping only some activations in the forward pass and recomputing the "
         "others during backward: less memory for about one extra forward pass.", (7,)),
    Card("ZeRO", "Zero Redundancy Optimizer: data parallelism that shards the optimizer state (stage 1), "
         "also the gradients (stage 2), and also the parameters (stage 3) across the ranks.", (7,)),
    Card("FSDP", "Fully Sharded Data Parallel, PyTorch's ZeRO stage 3: each rank keeps a shard of every "
         "parameter, all-gathers a layer's parameters just before using them and reduce-scatters its "
         "gradients.", (7,)),
    Card("Tensor parallelism", "Splitting each layer's weight matrices across devices (by columns or by rows), "
         "so that every device computes part of every layer, with a collective inside each block.", (7,)),
    Card("Column-parallel / row-parallel layer", "A linear layer split across ranks by its output features "
         "(each rank computes some outputs; an all-gather joins them) / by its input features (each rank "
         "computes a partial sum; an all-reduce adds them).", (7,)),
    Card("Device mesh", "The arrangement of ranks along which a model is sharded or split, e.g. 2 × 4 for data "
         "parallelism across one axis and tensor parallelism across the other (init_device_mesh).", (7,)),
    Card("Pipeline parallelism", "Placing consecutive groups of layers (stages) on different devices and "
         "streaming micro-batches through them like an assembly line.", (7,)),
    Card("Stage", "The group of consecutive layers that one pipeline rank computes.", (7,)),
    Card("Micro-batch", "A slice of a mini-batch that moves through a pipeline on its own, so that several "
         "stages can work at once.", (7,)),
    Card("Pipeline bubble", "The idle time of pipeline stages while it fills and drains: a fraction "
         "(p - 1) / (m + p - 1) of the step for p equal stages and m micro-batches.", (7,)),
    Card("GPipe", "The pipeline schedule that runs every micro-batch's forward pass, then every backward "
         "pass.", (7,)),
    Card("1F1B", "A pipeline schedule that alternates one forward and one backward micro-batch per stage once "
         "the pipeline is full, so that each stage holds few micro-batches' activations at a time.", (7,)),
)


# ----------------------------------------------------------------------------------------------
# The practice test: understanding and application, one question at a time
# ----------------------------------------------------------------------------------------------

QUESTIONS: tuple[Question, ...] = (
    # Lesson 01
    Question(1, "FLOPs", "A linear layer maps 100 inputs to 10 outputs (ignore the bias). How many FLOPs "
             "does its forward pass take for a batch of 32 examples (a multiply-add counts as 2)?", 64_000,
             "Each of the 32 × 10 outputs is a dot product of length 100: 100 multiply-adds, so "
             "2 × 32 × 100 × 10 = 64,000 FLOPs.", rtol=0),
    Question(1, "Parameters", "How many parameters does a linear layer from 784 inputs to 128 outputs have, "
             "bias included?", 100_480, "The weight matrix holds 784 × 128 = 100,352 numbers and the bias "
             "one per output, 128: 100,480 in all.", rtol=0),
    Question(1, "Training time", "A model's forward pass costs 4 GFLOP per example. Roughly how many seconds "
             "does one epoch of 50,000 examples take on a GPU that sustains 100 TFLOP/s on this model?", 6,
             "A training step is about three forward passes (backward is about twice forward): "
             "3 × 4e9 × 50,000 = 6e14 FLOPs, and 6e14 / 1e14 FLOP/s = 6 s.", rtol=0.05, unit="s"),
    Question(1, "Depth", "A network stacks three linear layers with no activation function between them. "
             "What can it compute?", 1,
             "A product of matrices is one matrix: without nonlinearities the stack collapses to a single "
             "linear map, however deep it is. The activations are what make depth useful.",
             choices=("More than one linear layer can, because it has more parameters",
                      "Exactly what one linear layer can",
                      "Any function, given enough width")),
    # Lesson 02
    Question(2, "Chain rule", "L = 3 · relu(w·x + b) with w = 2, x = 1.5, b = −1. What is dL/dw?", 4.5,
             "z = w·x + b = 2 is positive, so relu passes it with derivative 1, and by the chain rule "
             "dL/dw = 3 · 1 · x = 4.5. Had z been negative, relu's derivative 0 would have made dL/dw = 0."),
    Question(2, "Gradient descent", "Gradient descent on L(w) = w², starting at w = 1 with learning rate "
             "0.25. What is w after two steps?", 0.25,
             "dL/dw = 2w. Step 1: w = 1 − 0.25 × 2 = 0.5. Step 2: w = 0.5 − 0.25 × 1 = 0.25. Each step "
             "multiplies w by 1 − 2η = 0.5."),
    Question(2, "Cross-entropy", "A classifier gives the true class a probability of 0.25. What is its "
             "cross-entropy loss on this example (natural logarithm)?", math.log(4),
             "Cross-entropy is −ln p_y = −ln 0.25 = ln 4 ≈ 1.386. A confident right answer (p_y → 1) costs "
             "almost nothing; a confident wrong one costs a lot."),
    Question(2, "Dead ReLU", "A ReLU unit's input is negative for every training example. What happens to "
             "the weights that feed it while plain gradient descent (no weight decay) continues?", 2,
             "ReLU's derivative is 0 for negative inputs, so no gradient reaches the unit's incoming weights "
             "and gradient descent leaves them as they are: the unit is dead.",
             choices=("They grow until the input turns positive", "They shrink towards zero",
                      "They stop changing", "They change at random")),
    # Lesson 03
    Question(3, "Peak rate", "A CPU has 4 cores at 2.5 GHz; each core issues one 8-lane float32 fused "
             "multiply-add (FMA) per cycle. What is its peak rate in GFLOP/s?", 160,
             "cores × clock × lanes × 2 FLOPs per FMA = 4 × 2.5e9 × 8 × 2 = 160 GFLOP/s.", unit="GFLOP/s"),
    Question(3, "Amdahl's law", "A program has a serial fraction of 0.1. What speedup does Amdahl's law "
             "predict on 8 threads?", 1 / (0.1 + 0.9 / 8),
             "S = 1 / (s + (1 − s)/n) = 1 / (0.1 + 0.9/8) = 1 / 0.2125 ≈ 4.7, far from 8: the serial 10% "
             "dominates as n grows (the ceiling is 1/s = 10)."),
    Question(3, "Ridge point", "A machine's peak is 2 TFLOP/s and its memory bandwidth 100 GB/s. At what "
             "arithmetic intensity (FLOP per byte) is the ridge point?", 20,
             "The ridge point is P / B = 2e12 / 1e11 = 20 FLOP/byte: below it a kernel is memory-bound.",
             unit="FLOP/byte"),
    Question(3, "Roofline", "c = a + b on float32 vectors of 100 million elements, on the machine of the "
             "previous question (2 TFLOP/s, 100 GB/s). What limits it?", 0,
             "One FLOP per 12 bytes (two reads, one write of 4 bytes): intensity 1/12 FLOP/byte, far below "
             "the ridge point of 20. It runs at most at 100 GB/s × 1/12 ≈ 8 GFLOP/s.",
             choices=("Memory bandwidth", "The peak arithmetic rate", "The number of cores",
                      "Python's interpreter overhead")),
    # Lesson 04
    Question(4, "Launch", "A kernel handles one element per thread with 256 threads per block. How many "
             "blocks does it need for a vector of 1,000,000 elements?", 3907,
             "ceil(1,000,000 / 256) = 3,907 blocks; the last block's spare threads check the bound and do "
             "nothing (a grid-stride loop would let a smaller grid cover the vector).", rtol=0),
    Question(4, "GPU peak", "A GPU has 132 SMs with 128 float32 lanes (CUDA cores) each at 1.8 GHz, and each "
             "lane does one fused multiply-add per cycle. What is its float32 peak in TFLOP/s?",
             132 * 128 * 2 * 1.8e9 / 1e12,
             "132 × 128 × 2 × 1.8e9 ≈ 60.8 TFLOP/s: a CUDA core is one lane of a SIMT unit, just as a "
             "CPU's SIMD lane is.", unit="TFLOP/s"),
    Question(4, "Timing", "You time a large matrix product on a GPU with time.perf_counter() before and after "
             "the call, without torch.cuda.synchronize(). What do you measure?", 1,
             "GPU work is asynchronous: the call returns once the kernel is queued, so the clock measures "
             "the launch. Synchronise (or use CUDA events) before reading the clock.",
             choices=("The product's run time on the GPU", "Mostly the time to queue the kernel",
                      "The run time plus the copy back to the host")),
    Question(4, "Launch overhead", "A small model launches 50 kernels per forward pass; each runs for 2 µs on "
             "the GPU and costs the host 5 µs to launch. About how long does a forward pass take in eager "
             "mode, in µs?", 250,
             "The host issues a kernel every 5 µs and the GPU finishes each in 2 µs, so the GPU waits for the "
             "host: 50 × 5 µs = 250 µs. A CUDA graph launches all 50 at once and approaches 50 × 2 = 100 µs.",
             rtol=0.05, unit="µs"),
    Question(4, "Number formats", "A gradient of 1e-8 is stored in a 16-bit format. Which format keeps it "
             "non-zero?", 2,
             "float16's smallest positive number is about 6e-8, so 1e-8 rounds to zero; bfloat16 has "
             "float32's 8-bit exponent and keeps it. That is why float16 training scales the loss "
             "(GradScaler) and bfloat16 training need not.",
             choices=("float16", "Both", "bfloat16")),
    # Lesson 05
    Question(5, "Ring all-reduce", "8 ranks all-reduce a 100 MB gradient with ring all-reduce over links of "
             "25 GB/s. Ignoring latency, how many milliseconds does it take?", 7,
             "Each rank sends 2(N − 1)/N = 2 × 7/8 = 1.75 times the buffer, 175 MB, over its link: "
             "175 MB / 25 GB/s = 7 ms, almost independent of N.", unit="ms"),
    Question(5, "Scaling efficiency", "One worker trains at 1,000 examples/s; 8 workers together at 6,400 "
             "examples/s. What is the scaling efficiency?", 0.8,
             "6,400 / (8 × 1,000) = 0.8: 80% of perfect scaling; communication takes the rest."),
    Question(5, "DDP", "Why does DistributedDataParallel all-reduce gradients in buckets during the backward "
             "pass instead of once after it?", 3,
             "The last layers' gradients are ready first: all-reducing their bucket while backward still "
             "computes the earlier layers overlaps communication with computation.",
             choices=("To use less memory", "Because gloo cannot send large messages",
                      "To average the loss, not the gradients",
                      "To overlap communication with the rest of the backward pass")),
    Question(5, "Global batch", "Data-parallel training uses a local batch of 32 per rank. What is the "
             "global batch on 16 ranks?", 512,
             "Each step processes every rank's local batch: 16 × 32 = 512 examples, and the averaged gradient "
             "is that of the 512-example batch (weak scaling keeps the per-rank work fixed).", rtol=0),
    # Lesson 06
    Question(6, "Frame budget", "A camera delivers 25 frames per second and preprocessing takes 12 ms per "
             "frame. How many ms are left for the model if each frame must be done before the next "
             "arrives?", 28, "The frame budget is 1/25 s = 40 ms; 40 − 12 = 28 ms remain.", unit="ms"),
    Question(6, "Utilisation", "Requests arrive at 300 per second and each takes 2.5 ms to serve. What is "
             "the server's utilisation?", 0.75,
             "ρ = λS = 300/s × 0.0025 s = 0.75: busy 75% of the time. Random arrivals already queue at this "
             "load, and waits grow steeply as ρ approaches 1."),
    Question(6, "Overload", "A server takes S = 2 ms per request at utilisation ρ = 1.2. On average, how many "
             "ms of work does each arriving request add to the backlog?", 2 - 2 / 1.2,
             "Requests arrive every 1/λ = S/ρ = 2/1.2 ≈ 1.67 ms but take 2 ms, so each adds "
             "2 − 1.67 ≈ 0.33 ms: the wait grows without bound.", unit="ms"),
    Question(6, "Batching", "A server switches from batch 1 to batch 8. What happens, typically?", 0,
             "A batch shares the fixed costs of a call (launches, weight reads), so requests per second rise; "
             "but each request waits for its batch to fill and to finish, so its latency rises too.",
             choices=("Throughput rises and each request's latency rises",
                      "Throughput rises and each request's latency falls",
                      "Throughput falls and latency falls", "Nothing changes on a GPU")),
    # Lesson 07
    Question(7, "Memory per parameter", "A 2-billion-parameter model is trained in float32 with SGD with "
             "momentum. How many GB do its weights, gradients and optimizer state take (ignore activations; "
             "1 GB = 1e9 bytes)?", 24,
             "4 bytes each for the weight, its gradient and its momentum: 12 bytes per parameter, "
             "12 × 2e9 = 24 GB.", unit="GB"),
    Question(7, "ZeRO", "Going from ZeRO stage 2 to stage 3 (FSDP), what must the ranks do that they did "
             "not before?", 1,
             "Stage 3 also shards the parameters, so no rank holds a whole layer: each layer's parameters are "
             "all-gathered just before its forward and its backward pass, then freed.",
             choices=("All-reduce the loss", "All-gather each layer's parameters before using them",
                      "Keep a full copy of the optimizer state", "Recompute the activations")),
    Question(7, "Tensor parallelism", "A linear layer y = x W is split by rows of W (the input features) "
             "across 4 ranks; each rank multiplies its slice of x by its rows. What must follow to give y?",
             2,
             "Each rank's product is a partial sum over its input features, with y's full shape: summing "
             "the partial sums across ranks is an all-reduce. (Splitting by columns instead gives each rank "
             "some of y's features, which an all-gather concatenates.)",
             choices=("An all-gather of the ranks' outputs", "Nothing: each rank holds part of y",
                      "An all-reduce (sum) of the ranks' outputs", "A broadcast from rank 0")),
    Question(7, "Pipeline bubble", "A pipeline has 4 equal stages. What is the smallest number of "
             "micro-batches that keeps the bubble at or below 10% of the step?", 27,
             "The bubble is (p − 1)/(m + p − 1) = 3/(m + 3) ≤ 0.1, so m + 3 ≥ 30 and m ≥ 27.", rtol=0),
)


def term_key(term: str) -> str:
    """How terms are compared: markdown, maths and parentheses removed, lower case.

    Example:
        >>> term_key("**Linear (fully connected) layer**"), term_key("Serial fraction $s$")
        ('linear layer', 'serial fraction')
    """
    text = re.sub(r"\$[^$]*\$|\([^)]*\)|[*_`]", " ", term)
    return " ".join(text.split()).strip(" :.").lower()


def _card_index(cards: Iterable[Card]) -> dict[str, Card]:
    return {term_key(name): card for card in cards for name in (card.term, *card.also)}


def find_card(term: str, cards: Iterable[Card] = CARDS) -> Card | None:
    """The card for ``term`` as a glossary writes it, or ``None``. A combined entry such as
    ``"Reduce-scatter / all-gather"`` or ``"GFLOP/s, TFLOP/s"`` is found through the card of its
    first part when every part has a card.

    Example:
        >>> find_card("bf16").term, find_card("Reduce-scatter / all-gather").term, find_card("Quark")
        ('bfloat16', 'Reduce-scatter', None)
    """
    index = _card_index(cards)
    key = term_key(term)
    if key in index:
        return index[key]
    parts = [part for part in re.split(r"\s+/\s+|,\s+", key) if part]
    if len(parts) > 1 and all(part in index for part in parts):
        return index[parts[0]]
    return None


# ----------------------------------------------------------------------------------------------
# Reading a lesson's glossary
# ----------------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_CLAUSE_BOLD = re.compile(r"(?:^|[;.]\s+)(?:\*\*(.+?)\*\*|__(.+?)__)")


def _glossary_lines(cells: Sequence[dict]) -> list[str]:
    """The lines of the first "Glossary" section, up to the next heading or code cell."""
    lines: list[str] = []
    inside = False
    for cell in cells:
        if inside and cell["cell_type"] != "markdown":
            break
        if cell["cell_type"] != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in source.splitlines():
            heading = _HEADING.match(line)
            if heading and inside:
                return lines
            if heading and "glossary" in heading.group(2).lower():
                inside = True
            elif inside:
                lines.append(line)
    return lines


def _terms_of_line(line: str) -> list[str]:
    """The terms one line of a glossary defines: bold phrases that open the line or a clause, the
    first cell of a table row, or the words before the colon of a plain bullet."""
    if re.fullmatch(r"\s*\|?[\s:|-]*\|[\s:|-]*", line):  # a table's separator row
        return []
    if line.lstrip().startswith("|"):
        first = line.strip().strip("|").split("|")[0]
        return [first.strip()] if first.strip() and term_key(first) not in ("term", "terms") else []
    bulleted = _BULLET.match(line)
    body = line[bulleted.end():] if bulleted else line.strip()
    bold = [a or b for a, b in _CLAUSE_BOLD.findall(body)]
    if bold:
        return bold
    if bulleted and ":" in body and len(body.split(":")[0].split()) <= 6:
        return [body.split(":")[0]]
    return []


def glossary_terms(notebook: Path | str) -> list[str]:
    """The terms defined in the "Glossary" section of a lesson notebook, as written there.

    The section runs from a heading that says "Glossary" to the next heading or code cell. Terms are
    read from bullet lists with the term in bold (``- **Term**: ...``, and a second bold term after a
    semicolon), tables (first column) and plain ``- Term: ...`` bullets.

    Example:
        >>> import json, tempfile
        >>> cells = [{"cell_type": "markdown", "source": "## Glossary\\n\\n- **Warp**: 32 threads.\\n"
        ...           "- **Memory-bound**: slow; **compute-bound**: fast.\\n\\n## Next"}]
        >>> with tempfile.NamedTemporaryFile("w", suffix=".ipynb", delete=False) as f:
        ...     json.dump({"cells": cells}, f)
        >>> glossary_terms(f.name)
        ['Warp', 'Memory-bound', 'compute-bound']
    """
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    return [term.replace("**", "").strip() for line in _glossary_lines(cells) for term in _terms_of_line(line)]


# ----------------------------------------------------------------------------------------------
# Keeping score
# ----------------------------------------------------------------------------------------------

@dataclass
class Score:
    """The latest mark of each question answered so far (by its position in the test)."""

    questions: Sequence[Question]
    marks: dict[int, Mark] = field(default_factory=dict)

    def record(self, position: int, mark: Mark) -> None:
        """Keep ``mark`` as question ``position``'s latest; a blank answer forgets an earlier one."""
        if mark.outcome == "blank":
            self.marks.pop(position, None)
        else:
            self.marks[position] = mark

    @property
    def right(self) -> int:
        return sum(mark.right for mark in self.marks.values())

    @property
    def answered(self) -> int:
        return len(self.marks)

    def by_lesson(self) -> dict[int, tuple[int, int]]:
        """``{lesson: (right, questions)}`` for every lesson of the test."""
        table = {q.lesson: (0, 0) for q in sorted(self.questions, key=lambda q: q.lesson)}
        for position, question in enumerate(self.questions):
            right, total = table[question.lesson]
            mark = self.marks.get(position)
            table[question.lesson] = (right + bool(mark and mark.right), total + 1)
        return table

    def __str__(self) -> str:
        return f"Score: {self.right} right of {len(self.questions)} ({self.answered} answered)"


def plot_score(score: Score) -> Figure:
    """Bars per lesson: its questions, and how many of them are answered right so far."""
    import matplotlib.pyplot as plt  # on first use, so that a notebook's backend is chosen by then

    table = score.by_lesson()
    lessons = [f"{lesson:02d}" for lesson in table]
    totals = [total for _, total in table.values()]
    rights = [right for right, _ in table.values()]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(lessons, totals, color="#dddddd", edgecolor="grey", label="questions")
    ax.bar(lessons, rights, color="tab:green", label="answered right")
    ax.set(xlabel="lesson", ylabel="questions", title=str(score), ylim=(0, max(totals) + 1.5))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# The widgets
# ----------------------------------------------------------------------------------------------

class _Shown:
    """A widget with a short, deterministic text form (what nbval compares and a terminal shows)."""

    widget: widgets.Widget
    text: str

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        return {**bundle, "text/plain": self.text}


class FlashCards(_Shown):
    """A deck of cards shown one at a time: *Flip* reveals the definition, *Next* and *Previous* move."""

    def __init__(self, cards: Sequence[Card], seed: int = 0) -> None:
        if not cards:
            raise ValueError("no cards to show: pass at least one Card (e.g. dlparallel.review.CARDS)")
        self.cards = list(cards)
        random.Random(seed).shuffle(self.cards)
        self.position = 0
        self.flipped = False
        self.face = widgets.HTML().add_class("dlp-card")
        self.counter = widgets.Label().add_class("dlp-card-counter")
        buttons = []
        for name, action in (("Previous", self.previous), ("Flip", self.flip), ("Next", self.next)):
            buttons.append(widgets.Button(description=name))
            buttons[-1].on_click(lambda _, act=action: act())
        self.widget = widgets.VBox([self.face, widgets.HBox([*buttons, self.counter])]).add_class("dlp-cards")
        self.text = f"Flash cards: {len(self.cards)} terms (they show as cards in JupyterLab)."
        self._draw()

    def flip(self) -> None:
        self.flipped = not self.flipped
        self._draw()

    def next(self) -> None:
        self._move(1)

    def previous(self) -> None:
        self._move(-1)

    def _move(self, step: int) -> None:
        self.position = (self.position + step) % len(self.cards)
        self.flipped = False
        self._draw()

    def _draw(self) -> None:
        card = self.cards[self.position]
        style = "border:1px solid #999;border-radius:8px;padding:16px;min-height:90px;width:560px;"
        term = f"<div class='dlp-term' style='font-size:1.4em;font-weight:bold'>{html.escape(card.term)}</div>"
        back = (f"<div class='dlp-definition' style='margin-top:8px'>{html.escape(card.definition)}</div>"
                f"<div class='dlp-source' style='margin-top:6px;color:#666'>From {card.source}.</div>"
                if self.flipped else "<div style='margin-top:8px;color:#888'>Say the definition, then Flip.</div>")
        self.face.value = f"<div style='{style}'>{term}{back}</div>"
        self.counter.value = f"Card {self.position + 1} of {len(self.cards)}"


class PracticeTest(_Shown):
    """The questions one at a time, each with its answer field and a *Check* button that marks the
    answer on the spot; *Next* and *Previous* move and keep the answers given; the score runs on top."""

    def __init__(self, questions: Sequence[Question]) -> None:
        if not questions:
            raise ValueError("no questions: pass at least one Question (e.g. dlparallel.review.QUESTIONS)")
        self.questions = list(questions)
        self.score = Score(self.questions)
        self.position = 0
        self.responses: dict[int, object] = {}
        self.feedback_of: dict[int, Mark] = {}
        self.tally = widgets.HTML().add_class("dlp-score")
        self.prompt = widgets.HTML().add_class("dlp-prompt")
        self.choice = widgets.RadioButtons(options=[], value=None, layout=widgets.Layout(width="auto"))
        self.number = widgets.Text(placeholder="a number")
        self.feedback = widgets.HTML().add_class("dlp-feedback")
        self.counter = widgets.Label().add_class("dlp-question-counter")
        buttons = []
        for name, action in (("Check", self.check), ("Previous", self.previous), ("Next", self.next)):
            buttons.append(widgets.Button(description=name, button_style="primary" if name == "Check" else ""))
            buttons[-1].on_click(lambda _, act=action: act())
        self.widget = widgets.VBox([self.tally, self.prompt, self.choice, self.number, buttons[0], self.feedback,
                                    widgets.HBox([*buttons[1:], self.counter])]).add_class("dlp-test")
        lessons = ", ".join(f"{n:02d}" for n in sorted({q.lesson for q in self.questions}))
        self.text = (f"Practice test: {len(self.questions)} questions from lessons {lessons} "
                     "(answer them in JupyterLab, where they show as widgets).")
        self._draw()

    @property
    def field(self) -> widgets.ValueWidget:
        """The answer field of the question shown: choices, or a box for a number."""
        return self.choice if self.questions[self.position].choices else self.number

    def check(self) -> Mark:
        """Mark the answer in the field, show the verdict and update the score."""
        mark = self.questions[self.position].mark(self.field.value)
        self.responses[self.position] = self.field.value
        self.feedback_of[self.position] = mark
        self.score.record(self.position, mark)
        self._draw()
        return mark

    def next(self) -> None:
        self.go(self.position + 1)

    def previous(self) -> None:
        self.go(self.position - 1)

    def go(self, position: int) -> None:
        """Show question ``position`` (counted from 0, wrapping round), keeping the answer typed so far."""
        self.responses[self.position] = self.field.value
        self.position = position % len(self.questions)
        self._draw()

    def _draw(self) -> None:
        question, position = self.questions[self.position], self.position
        self.tally.value = f"<b>{html.escape(str(self.score))}</b>"
        self.prompt.value = (f"<b>{position + 1}. {html.escape(question.topic)}</b> "
                             f"<span style='color:#666'>(lesson {question.lesson:02d})</span><br>"
                             f"{html.escape(question.prompt)}")
        response = self.responses.get(position)
        if question.choices:
            self.choice.options = [(choice, i) for i, choice in enumerate(question.choices)]
            self.choice.value = response
        else:
            self.number.value = "" if response is None else str(response)
            self.number.placeholder = f"a number{' in ' + question.unit if question.unit else ''}"
        self.choice.layout.display = None if question.choices else "none"
        self.number.layout.display = "none" if question.choices else None
        mark = self.feedback_of.get(position)
        colour = {"right": "green", "wrong": "#b00020", "blank": "#666"}[mark.outcome] if mark else ""
        self.feedback.value = (f"<div class='dlp-{mark.outcome}' style='color:{colour}'>"
                               f"{html.escape(mark.message)}</div>" if mark else "")
        self.counter.value = f"Question {position + 1} of {len(self.questions)}"


def flash_cards(cards: Sequence[Card] = CARDS, *, lesson: int | None = None, seed: int = 0) -> FlashCards:
    """Flash cards for ``cards`` (those of one ``lesson`` if given), shuffled with ``seed``.

    Example:
        >>> deck = flash_cards(lesson=7)
        >>> deck.text
        'Flash cards: 21 terms (they show as cards in JupyterLab).'
        >>> deck.flip(); deck.flipped
        True
    """
    chosen = [card for card in cards if lesson is None or lesson in card.lessons]
    if not chosen:
        raise ValueError(f"no card comes from lesson {lesson}; lessons with cards: "
                         f"{sorted({n for card in cards for n in card.lessons})}")
    return FlashCards(chosen, seed)


def practice_test(questions: Sequence[Question] = QUESTIONS) -> PracticeTest:
    """The practice test as widgets; its ``score`` follows the answers checked so far.

    Example:
        >>> test = practice_test()
        >>> str(test.score)
        'Score: 0 right of 29 (0 answered)'
    """
    return PracticeTest(questions)


def glossary(cards: Iterable[Card] = CARDS) -> str:
    """Every card as one markdown line, A to Z: ``**term** (lesson NN): definition``."""
    return "\n".join(f"- **{card.term}** ({card.source}): {card.definition}"
                     for card in sorted(cards, key=lambda card: card.term.lower()))
