"""Honest timing of one training step, on any Keras 3 backend.

`time_train_step` times the same compiled train function that ``fit()`` runs
(built by ``make_train_function`` and called through ``train_on_batch``),
with the rules that make a step time mean something:

* the model is compiled again, with a **fresh optimizer**, for the mask being
  timed: the rule to rely on is "recompile after every change to
  ``trainable``" (Keras 3.15 reads the trainable set when the train function
  is first traced, and keeps it for that compiled function: lesson 01);
* the first calls (tracing, XLA compilation, memory allocation) are warm-up
  and are not timed;
* the device is **synchronised** before the clock is read: GPU work is
  asynchronous, so the clock would otherwise stop when the work was queued;
* the step is repeated and reported as a median and interquartile range;
* the device is named honestly: a CPU is reported as a CPU with its thread
  count, never as a GPU.

The model's weights, trainable flags and compile settings are restored
afterwards, so timing a learner's model does not change it.
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass

import keras
import numpy as np

from freezelab._quiet import expected_retracing
from freezelab._validation import check_int
from freezelab.core.freezing import get_mask, set_mask
from freezelab.core.keras_adapter import compile_arguments, optimizer_variables
from freezelab.core.shapes import model_input_shape
from freezelab.settings import pick


class StepOutOfMemoryError(RuntimeError):
    """A training step did not fit in the accelerator's memory."""


@dataclass(frozen=True)
class StepTiming:
    """Wall-clock time of one training step, with what it was measured on.

    Attributes:
        median_ms: Median step time in milliseconds.
        iqr_ms: Interquartile range (75th - 25th percentile) in milliseconds.
        device: What ran the step, e.g. ``"CPU (2 threads)"`` or
            ``"GPU: NVIDIA H100 80GB HBM3"``.
        backend: Keras backend (``"tensorflow"``, ``"jax"``, ``"torch"``).
        jit_compile: Whether the train step was XLA-compiled.
        batch_size: Examples per step.
        input_shape: Shape of one example, e.g. ``(96, 96, 3)``.
        peak_memory_bytes: Peak accelerator memory during the timed steps,
            or None where the backend does not expose it (always on CPU).
        times_ms: Every timed step, in order.
        run_eagerly: Whether the step ran eagerly (no compiled graph).
        trainable_params: Parameters the timed steps' optimizer updated.
    """

    median_ms: float
    iqr_ms: float
    device: str
    backend: str
    jit_compile: bool
    batch_size: int
    input_shape: tuple[int, ...]
    peak_memory_bytes: int | None
    times_ms: tuple[float, ...] = ()
    run_eagerly: bool = False
    trainable_params: int = 0

    @property
    def is_gpu(self) -> bool:
        """True only when the step ran on a GPU."""
        return self.device.startswith("GPU")

    def __str__(self) -> str:
        shape = "x".join(str(d) for d in self.input_shape)
        memory = (
            f", peak memory {self.peak_memory_bytes / 2**20:,.0f} MiB"
            if self.peak_memory_bytes is not None
            else ""
        )
        mode = "eager" if self.run_eagerly else ("XLA" if self.jit_compile else "graph, no XLA")
        return (
            f"{self.median_ms:.1f} ms/step (IQR {self.iqr_ms:.1f} ms, {len(self.times_ms)} steps) "
            f"on {self.device}, Keras backend {self.backend} ({mode}), "
            f"batch {self.batch_size} of {shape}{memory}"
        )


def time_train_step(
    model: keras.Model,
    mask: dict[str, bool] | None = None,
    batch_size: int = 8,
    repeats: int | None = None,
    warmup: int = 2,
    optimizer: str = "adam",
    *,
    jit_compile: bool | str = "auto",
    run_eagerly: bool = False,
    seed: int = 0,
) -> StepTiming:
    """Times one compiled training step of ``model`` under a freeze mask.

    The inputs are random arrays of the model's input shape and the targets
    random arrays of its output shape, with a mean-squared-error loss: the
    loss is cheap, so the time is the network's. Weights, trainable flags and
    compile settings are put back afterwards.

    Args:
        model: A built single-input Keras model with a fixed input size.
        mask: Layer name to trainable flag (see `get_mask`); None times the
            model's current flags.
        batch_size: Examples per step.
        repeats: Timed steps; None means 20 (5 in quick mode).
        warmup: Untimed steps first (tracing, compilation).
        optimizer: Optimizer name for ``compile()``; a fresh one is built.
        jit_compile: Passed to ``compile()``; ``"auto"`` is Keras's default
            (XLA on GPU, not on CPU with TensorFlow; always with JAX).
        run_eagerly: Run the step eagerly, as ``compile(run_eagerly=True)``
            does: no graph, so gradients of frozen layers may not be pruned.
        seed: Seed of the random inputs.

    Returns:
        A `StepTiming`.

    Raises:
        ValueError: For a mask naming layers the model lacks, a batch size,
            repeat or warm-up count out of range, an optimizer name Keras does
            not know, or a model without a fixed single input shape.
        StepOutOfMemoryError: If a step does not fit in accelerator memory;
            the message gives the batch size and input shape tried.
    """
    repeats = _check_counts(batch_size, repeats, warmup)
    check_optimizer(optimizer)
    input_shape = model_input_shape(model, "time_train_step", fixed=True)
    x, y = _random_batch(model, input_shape, batch_size, seed)

    saved_mask = get_mask(model)
    if mask is not None:
        set_mask(model, mask)  # Validates the names first; raises ValueError.
    saved_weights = [np.array(v) for v in model.weights]
    saved_compile = _compile_settings(model)
    try:
        with out_of_memory_message(batch_size, input_shape):
            _compile_for_timing(model, optimizer, jit_compile, run_eagerly)
            _warm_up(model, x, y, warmup)
            _reset_peak_memory()
            times = [_timed_step(model, x, y) for _ in range(repeats)]
        return _summary(model, times, batch_size, input_shape, run_eagerly)
    finally:
        for variable, value in zip(model.weights, saved_weights):
            variable.assign(value)
        set_mask(model, saved_mask)
        _restore_compile(model, saved_compile)


@dataclass
class TimedArm:
    """One thing timed in interleaved rounds: a compiled model and its batch.

    Attributes:
        label: Name of the arm, e.g. ``"blocks 1-2"`` or ``"floor"``.
        model: A compiled Keras model (its own copy: arms never share one).
        x: The input batch.
        y: The targets; None times the forward pass alone (``predict_on_batch``).
        run_eagerly: Whether the model was compiled with ``run_eagerly=True``.
    """

    label: str
    model: keras.Model
    x: np.ndarray
    y: np.ndarray | None = None
    run_eagerly: bool = False

    def step_ms(self) -> float:
        """One training step (or forward pass) in milliseconds, the device synchronised."""
        if self.y is None:
            return _timed_forward(self.model, self.x)
        return _timed_step(self.model, self.x, self.y)


def time_arms(
    arms: list[TimedArm], repeats: int, warmup: int = 2, seed: int = 0
) -> list[StepTiming]:
    """Times arms side by side: every round runs one step of each, in a new random order.

    On a shared machine the load drifts while a sweep runs; timing one arm
    after another would let the drift pass for a difference between arms.
    Taking turns gives every arm the same conditions, so the i-th times of
    two arms form a pair (compare them with `freezelab.verdicts.paired_verdict`).

    Args:
        arms: The arms, each with its own compiled model.
        repeats: Timed rounds.
        warmup: Untimed steps of each arm first (tracing, compilation).
        seed: Seed of the round orders.

    Returns:
        One `StepTiming` per arm, in order; ``times_ms[i]`` is round ``i``.

    Raises:
        ValueError: For no arms or counts out of range.
        StepOutOfMemoryError: If a step does not fit in memory.
    """
    if not arms:
        raise ValueError("time_arms needs at least one arm. Received: arms=[]")
    check_int(repeats, "repeats", minimum=1)
    check_int(warmup, "warmup", minimum=0)
    first = arms[0]
    with out_of_memory_message(len(first.x), tuple(first.x.shape[1:])), expected_retracing():
        for arm in arms:
            for _ in range(warmup):
                arm.step_ms()
        _reset_peak_memory()
        times: list[list[float]] = [[] for _ in arms]
        order = np.random.default_rng(seed)
        for _ in range(repeats):
            # A new order each round: no arm always runs first (or right after another).
            for index in order.permutation(len(arms)):
                times[index].append(arms[index].step_ms())
    return [
        _summary(
            arm.model,
            record,
            len(arm.x),
            tuple(int(d) for d in arm.x.shape[1:]),
            arm.run_eagerly,
            forward_only=arm.y is None,
        )
        for arm, record in zip(arms, times)
    ]


def compiled_copy(
    model: keras.Model,
    mask: dict[str, bool],
    optimizer: str = "adam",
    *,
    jit_compile: bool | str = "auto",
    run_eagerly: bool = False,
) -> keras.Model:
    """A copy of ``model`` (same weights) with ``mask`` applied, compiled for timing.

    Args:
        model: A built Keras model; it is not changed.
        mask: Layer name to trainable flag (see `get_mask`).
        optimizer: Optimizer name; the copy gets a fresh one.
        jit_compile, run_eagerly: As in `time_train_step`.

    Returns:
        The compiled copy.

    Raises:
        ValueError: For a mask naming layers the model lacks, or an optimizer
            name Keras does not know.
    """
    check_optimizer(optimizer)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    set_mask(copy, mask)  # Validates the names; raises ValueError.
    _compile_for_timing(copy, optimizer, jit_compile, run_eagerly)
    return copy


def random_batch(
    model: keras.Model, batch_size: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs of ``model``'s input shape and random targets of its output shape.

    Args:
        model: A built single-input, single-output Keras model with a fixed input size.
        batch_size: Examples in the batch.
        seed: Seed of the values.

    Returns:
        ``(x, y)`` as float32 arrays.

    Raises:
        ValueError: For a model without a fixed single input or with several outputs.
    """
    input_shape = model_input_shape(model, "time_train_step", fixed=True)
    return _random_batch(model, input_shape, batch_size, seed)


def time_interleaved(
    model: keras.Model,
    masks: list[dict[str, bool]],
    batch_size: int = 8,
    repeats: int | None = None,
    warmup: int = 2,
    optimizer: str = "adam",
    *,
    jit_compile: bool | str = "auto",
    run_eagerly: bool = False,
    seed: int = 0,
    with_forward: bool = False,
) -> list[StepTiming]:
    """Times several masks side by side, one step of each in turn (see `time_arms`).

    Each mask gets its own copy of the model (same weights), compiled with its
    own fresh optimizer; ``model`` itself is not changed. It needs memory for
    one model copy (weights and optimizer state) per mask.

    Args:
        model: A built single-input Keras model with a fixed input size.
        masks: One mask (see `get_mask`) per configuration.
        batch_size, repeats, warmup, optimizer, jit_compile, run_eagerly,
            seed: As in `time_train_step`; ``repeats`` is per mask.
        with_forward: Also time the forward pass alone (``predict_on_batch``
            on the first copy) in the same rounds, as `time_forward` does.

    Returns:
        One `StepTiming` per mask, in order; with ``with_forward``, one more
        at the end for the forward pass.

    Raises:
        ValueError: As `time_train_step`, or for an empty list of masks.
        StepOutOfMemoryError: If the copies or a step do not fit in memory.
    """
    repeats = _check_counts(batch_size, repeats, warmup)
    if not masks:
        raise ValueError("time_interleaved needs at least one mask. Received: masks=[]")
    x, y = random_batch(model, batch_size, seed)
    input_shape = tuple(x.shape[1:])
    with out_of_memory_message(batch_size, input_shape), expected_retracing():
        arms = [
            TimedArm(
                f"mask {index}",
                compiled_copy(
                    model, mask, optimizer, jit_compile=jit_compile, run_eagerly=run_eagerly
                ),
                x,
                y,
                run_eagerly,
            )
            for index, mask in enumerate(masks)
        ]
    if with_forward:
        arms.append(TimedArm("forward", arms[0].model, x, None))
    return time_arms(arms, repeats, warmup, seed)


def time_forward(
    model: keras.Model,
    batch_size: int = 8,
    repeats: int | None = None,
    warmup: int = 2,
    *,
    seed: int = 0,
) -> StepTiming:
    """Times the compiled forward pass alone (``predict_on_batch``), no gradients.

    It is the floor that freezing cannot go below: a frozen layer still runs
    forward in every training step, unless its outputs are computed once and
    cached (feature extraction).

    Args:
        model: A built single-input Keras model with a fixed input size.
        batch_size, repeats, warmup, seed: As in `time_train_step`.

    Returns:
        A `StepTiming` of the forward pass (``trainable_params`` is 0).

    Raises:
        ValueError: For counts out of range or a model without a fixed input.
        StepOutOfMemoryError: If the batch does not fit in memory.
    """
    repeats = _check_counts(batch_size, repeats, warmup)
    input_shape = model_input_shape(model, "time_train_step", fixed=True)
    x, _ = _random_batch(model, input_shape, batch_size, seed)

    with out_of_memory_message(batch_size, input_shape):
        for _ in range(warmup):
            _timed_forward(model, x)
        _reset_peak_memory()
        times = [_timed_forward(model, x) for _ in range(repeats)]
    return _summary(model, times, batch_size, input_shape, run_eagerly=False, forward_only=True)


def describe_device() -> str:
    """Names the device Keras computes on: a GPU's name, or the CPU and threads.

    Returns:
        ``"GPU: <name>"`` when the backend places work on a GPU, else
        ``"CPU (<n> threads, <model>, <architecture>)"``, the model as the
        system names it (``/proc/cpuinfo`` on Linux) and left out where it
        does not, e.g. ``"CPU (2 threads, Intel(R) Xeon(R) Processor, x86_64)"``.
    """
    gpu = _gpu_name()
    if gpu:
        return f"GPU: {gpu}"
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            names = [
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            ]
        model = names[0] if names else model
    except OSError:  # Not Linux: platform.processor() is the best there is.
        pass
    parts = [f"{cpu_threads()} threads", model, platform.machine()]
    return f"CPU ({', '.join(part for part in dict.fromkeys(parts) if part)})"


def cpu_threads() -> int:
    """CPU cores this process may run on (what the backend's thread pool uses)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not on Linux.
        return os.cpu_count() or 1


def synchronize(model: keras.Model) -> None:
    """Waits until the device has finished the work queued so far.

    JAX and TensorFlow return before a GPU has finished; reading a value back
    to the host waits for it. The last weight is read, which the optimizer
    update writes at the very end of the step.

    Args:
        model: The model whose step was queued.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return
    variables = model.trainable_weights or model.weights
    if not variables:
        return
    if backend == "jax":
        import jax

        jax.block_until_ready([v.value for v in variables])
        return
    keras.ops.convert_to_numpy(variables[-1])


@functools.cache
def optimizer_names() -> tuple[str, ...]:
    """The optimizer names ``compile()`` accepts: Keras's optimizer classes it can look up by name."""
    base = keras.optimizers.Optimizer
    names = []
    for attribute in dir(keras.optimizers):
        value = getattr(keras.optimizers, attribute)
        if isinstance(value, type) and issubclass(value, base) and value is not base:
            try:
                keras.optimizers.get(attribute.lower())
            except Exception:
                continue  # not known by name (e.g. wrappers that need another optimizer)
            names.append(attribute.lower())
    return tuple(sorted(names))


def check_optimizer(optimizer) -> None:
    """Raises a clear error for an optimizer ``compile()`` would not understand.

    Args:
        optimizer: An optimizer name or a Keras optimizer instance.

    Raises:
        ValueError: For a name Keras does not know, or another kind of value;
            the message lists the accepted names.
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return
    if isinstance(optimizer, str) and optimizer.lower() in optimizer_names():
        return
    raise ValueError(
        "optimizer must be a Keras optimizer or one of its names: "
        f"{', '.join(optimizer_names())}. Received: optimizer={optimizer!r}"
    )


def _compile_for_timing(model, optimizer, jit_compile, run_eagerly) -> None:
    """Compiles with a fresh optimizer, so the step trains exactly the current flags."""
    model.compile(
        optimizer=optimizer,
        loss="mean_squared_error",
        jit_compile=jit_compile,
        run_eagerly=run_eagerly,
    )


def _warm_up(model, x, y, warmup: int) -> None:
    for _ in range(warmup):
        model.train_on_batch(x, y)
    synchronize(model)


def _timed_step(model, x, y) -> float:
    """One training step in milliseconds, the device synchronised before the clock stops."""
    start = time.perf_counter()
    model.train_on_batch(x, y)
    synchronize(model)
    return (time.perf_counter() - start) * 1000.0


def _timed_forward(model, x) -> float:
    """One forward pass in milliseconds; reading the result back waits for the device."""
    start = time.perf_counter()
    keras.ops.convert_to_numpy(model.predict_on_batch(x))
    return (time.perf_counter() - start) * 1000.0


def _summary(model, times, batch_size, input_shape, run_eagerly, forward_only=False) -> StepTiming:
    # Inclusive quartiles, as everywhere in freezelab (verdicts, sweep tables).
    quartiles = (
        statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else [times[0]] * 3
    )
    return StepTiming(
        median_ms=statistics.median(times),
        iqr_ms=quartiles[2] - quartiles[0],
        device=describe_device(),
        backend=keras.backend.backend(),
        jit_compile=bool(model.jit_compile) and not run_eagerly,
        batch_size=batch_size,
        input_shape=input_shape,
        peak_memory_bytes=_peak_memory_bytes(),
        times_ms=tuple(times),
        run_eagerly=run_eagerly,
        trainable_params=0 if forward_only else _updated_params(model),
    )


@contextmanager
def out_of_memory_message(batch_size: int, input_shape: tuple[int, ...]):
    """Turns a backend's out-of-memory error into one that names the batch tried.

    Args:
        batch_size: The batch size being run.
        input_shape: One example's shape.

    Raises:
        StepOutOfMemoryError: In place of the backend's out-of-memory error.
    """
    try:
        yield
    except Exception as error:
        if not _is_out_of_memory(error):
            raise
        shape = "x".join(str(d) for d in input_shape)
        raise StepOutOfMemoryError(
            f"A training step with batch_size={batch_size} of {shape} inputs ran out of "
            f"memory on {describe_device()}. Try a smaller batch (e.g. "
            f"batch_size={max(batch_size // 2, 1)}) or a smaller input size. "
            f"Received: batch_size={batch_size}, input_shape={input_shape}"
        ) from None


def _is_out_of_memory(error: BaseException) -> bool:
    text = f"{type(error).__name__} {error}".lower()
    markers = ("resourceexhausted", "resource_exhausted", "out of memory", "oom when allocating")
    return any(marker in text for marker in markers)


def _random_batch(model, input_shape, batch_size, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(batch_size, *input_shape)).astype("float32")
    outputs = model.outputs if getattr(model, "outputs", None) else [model.output]
    if len(outputs) != 1:
        raise ValueError(
            "time_train_step times single-output models. "
            f"Received: model {model.name!r} with {len(outputs)} outputs"
        )
    out_shape = tuple(int(d) for d in outputs[0].shape[1:])
    y = rng.uniform(0.0, 1.0, size=(batch_size, *out_shape)).astype("float32")
    return x, y


def _updated_params(model) -> int:
    """Parameters the timed steps' optimizer actually updated (what was compiled in)."""
    variables = optimizer_variables(model.optimizer)
    if variables is None:
        variables = model.trainable_weights
    return sum(int(np.prod(v.shape)) for v in variables)


def _compile_settings(model):
    config = compile_arguments(model)
    if config is None:
        return None
    config["optimizer"] = model.optimizer
    return config


def _restore_compile(model, settings) -> None:
    if settings is not None:
        model.compile(**settings)


def _check_counts(batch_size, repeats, warmup) -> int:
    """Validates the counts and returns ``repeats`` with its default filled in."""
    _check_count("batch_size", batch_size, minimum=1)
    repeats = pick(20, 5) if repeats is None else repeats
    _check_count("repeats", repeats, minimum=1)
    _check_count("warmup", warmup, minimum=0)
    return repeats


def _check_count(name: str, value, minimum: int) -> None:
    check_int(value, name, minimum=minimum)  # numpy integers accepted


def _gpu_name() -> str | None:
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            return device.device_kind if device.platform == "gpu" else None
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                return None
            details = tf.config.experimental.get_device_details(gpus[0])
            return details.get("device_name", gpus[0].name)
    except (ImportError, RuntimeError):
        return None
    return None


def _reset_peak_memory() -> None:
    backend = keras.backend.backend()
    if _gpu_name() is None:
        return
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("GPU:0")
    elif backend == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats()
    # JAX has no reset: its peak counts since the process started.


def _peak_memory_bytes() -> int | None:
    if _gpu_name() is None:
        return None
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    if backend == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated())
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return int(peak) if peak is not None else None
    return None
