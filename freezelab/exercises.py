"""Checks for the lessons' exercises: right or wrong, with a hint that teaches.

Each exercise with a definite answer (a count, a slice, a share of the
step's FLOPs, which layers) has an id, ``"<lesson>.<number>"`` with a letter
where one exercise asks for several answers (``"02.1a"``, ``"02.1b"``).
`check` compares a learner's answer with the truth and prints one line:
right, or wrong with a hint that points at the idea without printing the
answer::

    import freezelab as fl

    fl.check_exercise("01.1", trainable)          # prints "01.1: right." or a hint
    assert fl.check_exercise("01.1", trainable)   # in a test: truthy exactly when right

The truth is never a number written here: each check builds the exercise's
model afresh and reads the answer from Keras itself (``trainable_weights``,
``model.layers``, an optimizer's variables) or from freezelab's cost model
(`freezelab.speed.cost.step_cost`, the figure the lesson prints). Answers
that depend on the learner's run take the run's settings as keywords (the
input size for a FLOP share), and behaviour that differs by backend (the
recompile trap) is run on the backend in use. Truths are cached per
exercise and settings, so a second check is instant. Lessons 04-06's truths
(freezelab's offline teachers: which layers train, receptive fields, Grad-CAM's
layer, BatchNorm's modes) live in `freezelab._exercises_04_06`.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from freezelab import _exercises_04_06 as later
from freezelab._validation import check_int, describe, suggestion
from freezelab.core.freezing import get_mask
from freezelab.core.models import demo_functional, demo_sequential, load_vgg16
from freezelab.speed.cost import StepCost, layer_costs, memory_estimate, step_cost
from freezelab.speed.sweep import predict_sweep

#: Tolerance of a share given as a fraction: a percentage rounded to one
#: decimal (63.6 % for 0.63583) is within it.
FRACTION_TOLERANCE = 0.001
#: Tolerance of a size in MiB given to one decimal.
MIB_TOLERANCE = 0.05
#: Relative tolerance of a factor (how many times larger), such as 2.0 for "doubles".
FACTOR_TOLERANCE = 0.01
#: The input size of lesson 02's VGG16 at full size (the lesson's quick mode uses 32).
LESSON_INPUT_SIZE = 224
#: Lesson 03's CPU settings (its set-up cell: VGG16 at 96x96, batch 8; a GPU uses 224 and 32).
LESSON03_INPUT_SIZE = 96
LESSON03_BATCH_SIZE = 8


@dataclass(frozen=True)
class CheckResult:
    """What `check` found.

    Attributes:
        exercise_id: The exercise checked.
        right: Whether the answer is right; the result is truthy exactly then.
        message: The line `check` printed.
    """

    exercise_id: str
    right: bool
    message: str

    def __bool__(self) -> bool:
        return self.right

    def _ipython_display_(self) -> None:
        """Shows nothing: `check` has printed the message already."""

    def __repr__(self) -> str:
        return f"CheckResult({self.exercise_id!r}, right={self.right})"


@dataclass(frozen=True)
class _Exercise:
    """One checked exercise.

    Attributes:
        question: The question in one line, printed with a wrong answer's hint.
        kind: How answers are read and compared: ``"count"``, ``"fraction"``,
            ``"mib"``, ``"factor"`` (a positive number, right within 1 %),
            ``"names"``, ``"name"``, ``"choice"``, ``"bool"`` or ``"counts"``
            (a dict of counts).
        truth: Computes the answer from the exercise's settings.
        hint: The hint for any wrong answer: it teaches, never tells.
        near_misses: Recognises common wrong answers: returns a more precise
            hint, or None.
        settings: Keyword settings the truth depends on, with defaults.
        choices: The accepted values of a ``"choice"`` answer.
        keys: The keys of a ``"counts"`` answer.
    """

    question: str
    kind: str
    truth: Callable[..., object]
    hint: str
    near_misses: Callable[[object, dict], str | None] = lambda answer, settings: None
    settings: dict = field(default_factory=dict)
    choices: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


def _size(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def _close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance


# Lesson 01 ---------------------------------------------------------------


def _functional_with_frozen(*names: str) -> keras.Model:
    model = demo_functional(input_dim=100)
    for name in names:
        model.get_layer(name).trainable = False
    return model


def _truth_01_1() -> int:
    return _size(_functional_with_frozen("dense_64", "dense_10").trainable_weights)


def _near_01_1(answer, settings) -> str | None:
    model = _functional_with_frozen("dense_64", "dense_10")
    if answer == _size(model.non_trainable_weights):
        return "That is the frozen count: the question asks what still trains."
    kernels = sum(
        int(np.prod(layer.kernel.shape)) for layer in model.layers if layer.trainable_weights
    )
    if answer == kernels:
        return "Close: each Dense layer also has a bias of `units` numbers."
    return None


def _vgg16(input_size: int) -> keras.Model:
    return load_vgg16(weights=None, input_size=input_size, verbose=False)


def _truth_01_2() -> int:
    names = [layer.name for layer in _vgg16(32).layers]
    return names.index("block4_conv1") + 1  # the stop of the slice that ends at it


def _near_01_2(answer, settings) -> str | None:
    if answer == _truth_01_2() - 1:
        return (
            "base.layers[:11] ends one entry too early. Print "
            "[layer.name for layer in base.layers[:3]]: what is base.layers[0]?"
        )
    return None


def _lesson01_builds(input_size: int) -> dict[str, keras.Model]:
    """Section 3's builds: A flattened, B nested head, C nested base and head."""
    layers = keras.layers

    def head_layers():
        return [
            layers.Flatten(name="head_flatten"),
            layers.Dense(256, activation="relu", name="head_dense"),
            layers.Dropout(0.5, name="head_dropout"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ]

    base_a = _vgg16(input_size)
    x = base_a.output
    for layer in head_layers():
        x = layer(x)
    model_a = keras.Model(base_a.input, x, name="A_flattened")
    base_b = _vgg16(input_size)
    head_b = keras.Sequential(head_layers(), name="head")
    model_b = keras.Model(base_b.input, head_b(base_b.output), name="B_question")
    base_c = _vgg16(input_size)
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    head_c = keras.Sequential(head_layers(), name="head")
    model_c = keras.Model(inputs, head_c(base_c(inputs)), name="C_nested_base")
    return {"A": model_a, "B": model_b, "C": model_c}


def _truth_01_3(input_size: int) -> dict[str, int]:
    counts = {}
    for key, model in _lesson01_builds(input_size).items():
        for layer in model.layers[:-1]:
            layer.trainable = False
        counts[key] = _size(model.trainable_weights)
    return counts


def _near_01_3(answer, settings) -> str | None:
    truth = _truth_01_3(settings["input_size"])
    if answer["A"] != truth["A"] and answer["A"] in (truth["B"], truth["C"]):
        return (
            "A is built from the head's layers one by one: each is an entry of model.layers. "
            "What is model_a.layers[-1] there?"
        )
    if truth["A"] in (answer["B"], answer["C"]):
        return "In B and C the head is one nested entry: model.layers[-1] is the whole head."
    return None


def _dense_run(reuse_optimizer: bool) -> bool:
    """Lesson 01's case 4/exercise 5: does dense_64 move after unfreeze + compile()?"""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 100)).astype("float32")
    y = rng.integers(0, 10, size=64)
    model = demo_sequential(input_dim=100)
    model.get_layer("dense_64").trainable = False
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.get_layer("dense_64").trainable = True
    if not reuse_optimizer:
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    start = model.get_layer("dense_64").kernel.numpy().copy()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return not np.array_equal(start, model.get_layer("dense_64").kernel.numpy())


def _truth_01_5() -> bool:
    return _dense_run(reuse_optimizer=False)


# Lesson 02 ---------------------------------------------------------------

_LESSON02_HEAD = ("head_dense_1", "predictions")


def _lesson02_model(input_size: int, trains: Callable[[str], bool]) -> keras.Model:
    """Lesson 02's model (VGG16, average pooling, Dense 128, Dense 10) with flags set."""
    base = _vgg16(input_size)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
    x = keras.layers.Dense(128, activation="relu", name="head_dense_1")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(base.input, outputs, name="vgg16_with_head")
    for layer in model.layers:
        layer.trainable = trains(layer.name)
    return model


def _keeps_block5_top(name: str) -> bool:
    return name in ("block5_conv2", "block5_conv3", *_LESSON02_HEAD)


def _truth_02_1a(input_size: int) -> float:
    model = _lesson02_model(input_size, _keeps_block5_top)
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    slots = [v for v in optimizer.variables if len(v.shape)]  # leave out the step counter
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in slots) / 2**20


def _near_02_1a(answer, settings) -> str | None:
    truth = _truth_02_1a(settings["input_size"])
    if _close(answer, truth / 2, MIB_TOLERANCE):
        return "Adam keeps two numbers per trainable parameter (its two moving averages)."
    if _close(answer, truth * 2**20 / 1e6, MIB_TOLERANCE):
        return "That is in MB (10**6 bytes); the course counts MiB (2**20 bytes)."
    return None


def _removed(model: keras.Model) -> float:
    return 1.0 - step_cost(model).relative_cost


def _truth_02_1b(input_size: int) -> float:
    return _removed(_lesson02_model(input_size, _keeps_block5_top))


def _param_share_hint(answer, model: keras.Model, frozen: bool) -> str | None:
    trainable = _size(model.trainable_weights)
    total = trainable + _size(model.non_trainable_weights)
    share = (total - trainable if frozen else trainable) / total
    for value in (share, 1 - share):
        if _close(answer, value, FRACTION_TOLERANCE):
            return (
                "That is a share of the parameters, not of the step's FLOPs: "
                "ask fl.step_cost(model) about compute."
            )
    return None


def _near_02_1b(answer, settings) -> str | None:
    return _param_share_hint(
        answer, _lesson02_model(settings["input_size"], _keeps_block5_top), frozen=True
    )


def _all_but_block1_conv1(name: str) -> bool:
    return name != "block1_conv1"


def _truth_02_2a(input_size: int) -> float:
    return _removed(_lesson02_model(input_size, _all_but_block1_conv1))


def _near_02_2a(answer, settings) -> str | None:
    return _param_share_hint(
        answer, _lesson02_model(settings["input_size"], _all_but_block1_conv1), frozen=True
    )


def _truth_02_2b(input_size: int) -> str:
    model = _lesson02_model(input_size, _all_but_block1_conv1)
    frozen = step_cost(model).layers
    everything = step_cost(model, {layer.name: True for layer in model.layers if layer.weights})
    lost = [
        row.name
        for row, full in zip(frozen, everything.layers)
        if full.computes_input_grad and not row.computes_input_grad
    ]
    return lost[0]


def _near_02_2b(answer, settings) -> str | None:
    if answer == "block1_conv1":
        return (
            "block1_conv1 never needed its input-gradient: nothing below it trains, even "
            "with every layer trainable. Which layer's input does block1_conv1 read from?"
        )
    return None


def _head_only(name: str) -> bool:
    return name in _LESSON02_HEAD


def _head_and_block5_conv3(name: str) -> bool:
    return name in (*_LESSON02_HEAD, "block5_conv3")


def _truth_02_3(input_size: int) -> tuple[str, ...]:
    before = step_cost(_lesson02_model(input_size, _head_only)).layers
    after = step_cost(_lesson02_model(input_size, _head_and_block5_conv3)).layers
    return tuple(
        row.name
        for row, old in zip(after, before)
        if row.computes_input_grad and not row.computes_weight_grad and not old.computes_input_grad
    )


def _sequential_with_dense_64_frozen() -> keras.Model:
    model = demo_sequential(input_dim=100)
    model.get_layer("dense_64").trainable = False
    return model


def _truth_02_4a() -> float:
    model = _sequential_with_dense_64_frozen()
    frozen = _size(model.non_trainable_weights)
    return frozen / (frozen + _size(model.trainable_weights))


def _truth_02_4b() -> float:
    return _removed(_sequential_with_dense_64_frozen())


def _near_02_4b(answer, settings) -> str | None:
    model = _sequential_with_dense_64_frozen()
    near = _param_share_hint(answer, model, frozen=True)
    if near:
        return near
    dense_64 = next(row for row in layer_costs(model) if row.name == "dense_64")
    weight_grad_only = dense_64.weight_grad_flops / step_cost(model).full_total_flops
    if _close(answer, weight_grad_only, 0.005):  # by hand in multiply-adds it is 0.3 % more
        return (
            "That is dense_64's weight-gradient alone. With dense_64 frozen, which other "
            "backward work has no layer left to serve? (Lesson 02's exercise 2.)"
        )
    return None


def _truth_02_5() -> str:
    """The recompile trap on this backend: freeze after fit(), fit() again without compile()."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 100)).astype("float32")
    y = rng.integers(0, 10, size=64)
    model = demo_sequential(input_dim=100)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.get_layer("dense_64").trainable = False
    start = model.get_layer("dense_64").kernel.numpy().copy()
    try:
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    except ValueError:
        return "refused"
    moved = not np.array_equal(start, model.get_layer("dense_64").kernel.numpy())
    return "moved" if moved else "stayed"


# Lesson 03 ---------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _lesson03_model(input_size: int) -> keras.Model:
    """Lesson 03's model (VGG16, Flatten, Dense 128, Dense 10 logits), every layer trainable.

    Built once per input size: the checks pass masks to the cost model and never change the
    model's flags, so one fresh build serves them all.
    """
    base = _vgg16(input_size)
    x = keras.layers.Flatten(name="flatten")(base.output)
    x = keras.layers.Dense(128, activation="relu", name="dense_128")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(base.input, outputs, name="vgg16_with_head")


def _mask_03(input_size: int, frozen: Callable[[str], bool]) -> dict[str, bool]:
    """A mask of lesson 03's model: True (trains) for every layer ``frozen`` does not name."""
    return {name: not frozen(name) for name in get_mask(_lesson03_model(input_size))}


def _all_but_block1(name: str) -> bool:
    return name.startswith("block") and not name.startswith("block1_")


def _blocks_1_to_4(name: str) -> bool:
    return name.startswith(("block1_", "block2_", "block3_", "block4_"))


def _block5(name: str) -> bool:
    return name.startswith("block5_")


def _cost_03(input_size: int, frozen: Callable[[str], bool]) -> StepCost:
    return step_cost(_lesson03_model(input_size), _mask_03(input_size, frozen))


def _truth_03_1a(input_size: int) -> float:
    return _cost_03(input_size, _all_but_block1).relative_cost


def _near_03_1a(answer, settings) -> str | None:
    size = settings["input_size"]
    truth = _truth_03_1a(size)
    if _close(answer, _cost_03(size, _blocks_1_to_4).relative_cost, FRACTION_TOLERANCE):
        return (
            "That is the figure of blocks 1-4 frozen. Here block1 trains and blocks 2-5 are "
            "frozen: build that mask and pass it to fl.step_cost."
        )
    if _close(answer, 1 - truth, FRACTION_TOLERANCE):
        return (
            "That is the share the mask removes; the question asks for the share of the step "
            "that is left (relative_cost)."
        )
    mask = _mask_03(size, _all_but_block1)
    model = _lesson03_model(size)
    trainable = sum(_size(layer.weights) for layer in model.layers if mask.get(layer.name))
    share = trainable / model.count_params()
    if any(_close(answer, value, FRACTION_TOLERANCE) for value in (share, 1 - share)):
        return (
            "That is a share of the parameters, not of the step's FLOPs: "
            "ask fl.step_cost(model, mask) about compute."
        )
    return None


def _passing_down(
    input_size: int, frozen: Callable[[str], bool], weighted_only: bool = True
) -> int:
    rows = _cost_03(input_size, frozen).layers
    return sum(row.computes_input_grad for row in rows if row.has_weights or not weighted_only)


def _truth_03_1b(input_size: int) -> int:
    return _passing_down(input_size, _all_but_block1)


def _near_03_1b(answer, settings) -> str | None:
    size = settings["input_size"]
    truth = _truth_03_1b(size)
    if answer == _passing_down(size, _blocks_1_to_4):
        return "That is the count of blocks 1-4 frozen. Here block1 trains: build its mask."
    if answer == _passing_down(size, _all_but_block1, weighted_only=False):
        return (
            "You counted the layers without weights too (pools, flatten): count only the rows "
            "with row.has_weights."
        )
    if answer == truth + 1:
        return (
            "You counted block1_conv1 too: nothing below it trains, so its input-gradient "
            "reaches no one and is never computed."
        )
    frozen = sum(not trains for trains in _mask_03(size, _all_but_block1).values())
    if answer == frozen:
        return (
            "You counted the frozen layers only. Every layer above a trainable one passes the "
            "gradient down, trainable or not: the trainable ones above block1_conv1 too."
        )
    return None


def _truth_03_2a(input_size: int, batch_size: int) -> bool:
    model = _lesson03_model(input_size)
    single = predict_sweep(model, batch_size=batch_size).rows
    double = predict_sweep(model, batch_size=2 * batch_size).rows
    return all(
        math.isclose(a.predicted_fraction, b.predicted_fraction, rel_tol=1e-9)
        for a, b in zip(single, double)
    )


def _truth_03_2b(input_size: int, batch_size: int) -> float:
    model = _lesson03_model(input_size)
    single = step_cost(model, batch_size=batch_size)
    double = step_cost(model, batch_size=2 * batch_size)
    return double.full_total_flops / single.full_total_flops


def _near_03_2b(answer, settings) -> str | None:
    if math.isclose(answer, 1.0, rel_tol=FACTOR_TOLERANCE):
        return (
            "The fractions stay the same; the question asks about the FLOP counts themselves: "
            "compare cost.forward_flops at the two batch sizes."
        )
    if math.isclose(answer, 4.0, rel_tol=FACTOR_TOLERANCE):
        return (
            "Four times is what doubling the image's side does (its area); doubling the batch "
            "adds examples of the same size."
        )
    return None


def _adam_mib_03(frozen: Callable[[str], bool]) -> float:
    size = LESSON03_INPUT_SIZE  # optimizer state does not depend on the input size of block5
    estimate = memory_estimate(_lesson03_model(size), _mask_03(size, frozen), optimizer="adam")
    return estimate.optimizer_bytes / 2**20


def _truth_03_4() -> float:
    return _adam_mib_03(lambda name: False) - _adam_mib_03(_block5)


def _near_03_4(answer, settings) -> str | None:
    truth = _truth_03_4()
    everything = _adam_mib_03(lambda name: False)
    if _close(answer, truth / 2, MIB_TOLERANCE):
        return "Adam keeps two numbers per trainable parameter (its two moving averages)."
    if _close(answer, truth * 2**20 / 1e6, MIB_TOLERANCE):
        return "That is in MB (10**6 bytes); the course counts MiB (2**20 bytes)."
    if _close(answer, everything, MIB_TOLERANCE):
        return (
            "That is Adam's state for the whole model. Block5's part is what freezing block5 "
            "alone takes away from it."
        )
    if _close(answer, everything - truth, MIB_TOLERANCE):
        return (
            "That is what Adam keeps with block5 frozen; the question asks for block5's own "
            "part: the difference from nothing frozen."
        )
    return None


_SIZE = {"input_size": LESSON_INPUT_SIZE}
_SIZE_04 = {"input_size": later.LESSON04_INPUT_SIZE}
_SIZE_03 = {"input_size": LESSON03_INPUT_SIZE}
_RUN_03 = {"input_size": LESSON03_INPUT_SIZE, "batch_size": LESSON03_BATCH_SIZE}

EXERCISES: dict[str, _Exercise] = {
    "01.1": _Exercise(
        question="fl.demo_functional(input_dim=100) with dense_64 and dense_10 frozen: how many "
        "parameters still train?",
        kind="count",
        truth=_truth_01_1,
        hint="A Dense layer holds inputs x units kernel numbers plus units biases; add up only "
        "the layers whose trainable flag is still True, as model.trainable_weights does.",
        near_misses=_near_01_1,
    ),
    "01.2": _Exercise(
        question="Which stop makes `for layer in base.layers[:stop]` freeze blocks 1-3 and "
        "block4_conv1?",
        kind="count",
        truth=_truth_01_2,
        hint="Print [layer.name for layer in base.layers[:stop]] for your stop: the last name "
        "must be block4_conv1.",
        near_misses=_near_01_2,
    ),
    "01.3": _Exercise(
        question="Trainable parameters left by `for layer in model.layers[:-1]: layer.trainable "
        "= False` in builds A, B and C (a dict with keys 'A', 'B', 'C').",
        kind="counts",
        truth=_truth_01_3,
        hint="A slice of model.layers counts entries: look at what model.layers[-1] is in each "
        "build, then count the weights that entry holds.",
        near_misses=_near_01_3,
        settings=dict(_SIZE),
        keys=("A", "B", "C"),
    ),
    "01.5": _Exercise(
        question="After unfreezing dense_64 and compile() with a new Adam, does the next fit() "
        "move dense_64 (True or False)?",
        kind="bool",
        truth=_truth_01_5,
        hint="Run it: copy dense_64's kernel (kernel.numpy().copy()) before the last fit() and "
        "compare it afterwards with np.array_equal.",
    ),
    "02.1a": _Exercise(
        question="Only block5_conv2, block5_conv3 and the head train: how many MiB does Adam keep?",
        kind="mib",
        truth=_truth_02_1a,
        hint="Adam's state is counted per trainable number, not per layer; 1 MiB is 2**20 "
        "bytes and a float32 takes 4.",
        near_misses=_near_02_1a,
        settings=dict(_SIZE),
    ),
    "02.1b": _Exercise(
        question="Only block5_conv2, block5_conv3 and the head train: what share of the step's "
        "FLOPs does the cost model predict this removes (a fraction)?",
        kind="fraction",
        truth=_truth_02_1b,
        hint="Set the flags on the model, then 1 - fl.step_cost(model).relative_cost.",
        near_misses=_near_02_1b,
        settings=dict(_SIZE),
    ),
    "02.2a": _Exercise(
        question="Only block1_conv1 frozen: what share of the step's FLOPs does the cost model "
        "predict this removes (a fraction)?",
        kind="fraction",
        truth=_truth_02_2a,
        hint="Set the flags on the model, then 1 - fl.step_cost(model).relative_cost.",
        near_misses=_near_02_2a,
        settings=dict(_SIZE),
    ),
    "02.2b": _Exercise(
        question="Only block1_conv1 frozen: which layer's input-gradient is no longer needed?",
        kind="name",
        truth=_truth_02_2b,
        hint="An input-gradient is needed only to reach a trainable layer further down. Compare "
        "the rows of fl.step_cost(model).layers with every layer trainable and with this mask.",
        near_misses=_near_02_2b,
        settings=dict(_SIZE),
    ),
    "02.3": _Exercise(
        question="Head only, then block5_conv3 unfrozen too: which layers must now pass the "
        "gradient down without computing a weight-gradient of their own?",
        kind="names",
        truth=_truth_02_3,
        hint="Follow the gradient from the loss down to block5_conv3: every layer on the way "
        "passes it on; name those that do not train themselves and did not pass it on before.",
        settings=dict(_SIZE),
    ),
    "02.4a": _Exercise(
        question="fl.demo_sequential() with dense_64 frozen: what share of the parameters is "
        "frozen (a fraction)?",
        kind="fraction",
        truth=_truth_02_4a,
        hint="Frozen parameters are those in model.non_trainable_weights; divide by all of them.",
    ),
    "02.4b": _Exercise(
        question="fl.demo_sequential() with dense_64 frozen: what share of the step's FLOPs "
        "does the cost model predict this removes (a fraction)?",
        kind="fraction",
        truth=_truth_02_4b,
        hint="1 - fl.step_cost(model).relative_cost, with dense_64 frozen on the model.",
        near_misses=_near_02_4b,
    ),
    "02.5": _Exercise(
        question="After a fit(), freeze a layer without compile() and fit() again: on this "
        "backend, does the frozen kernel 'moved', 'stayed', or was fit() 'refused'?",
        kind="choice",
        truth=_truth_02_5,
        hint="Run it on this backend: copy the kernel before the second fit(), compare it "
        "after; a ValueError from fit() means refused.",
        choices=("moved", "stayed", "refused"),
    ),
    "03.1a": _Exercise(
        question="Lesson 03's model with everything frozen except block1 and the head: what "
        "fraction of the fully trainable step's FLOPs does fl.step_cost predict?",
        kind="fraction",
        truth=_truth_03_1a,
        hint="Build the mask (True: the layer trains) and read fl.step_cost(model, mask)"
        ".relative_cost. Frozen blocks above a trainable one still pass the gradient down.",
        near_misses=_near_03_1a,
        settings=dict(_SIZE_03),
    ),
    "03.1b": _Exercise(
        question="The same mask: how many layers with weights compute an input-gradient (pass "
        "the gradient down)?",
        kind="count",
        truth=_truth_03_1b,
        hint="A layer passes the gradient down when some layer below it trains. Count the rows "
        "of fl.step_cost(model, mask).layers with has_weights and computes_input_grad.",
        near_misses=_near_03_1b,
        settings=dict(_SIZE_03),
    ),
    "03.2a": _Exercise(
        question="With the batch doubled, does every predicted fraction of fl.predict_sweep "
        "stay the same (True or False)?",
        kind="bool",
        truth=_truth_03_2a,
        hint="A fraction is a masked step's FLOPs over the fully trainable step's FLOPs: ask how "
        "each of the two grows with the batch, or compare the two sweeps' rows.",
        settings=dict(_RUN_03),
    ),
    "03.2b": _Exercise(
        question="With the batch doubled, by what factor do the fully trainable step's FLOPs grow?",
        kind="factor",
        truth=_truth_03_2b,
        hint="Every example runs through the same layers: divide fl.step_cost(model, "
        "batch_size=...).full_total_flops at the two batch sizes.",
        near_misses=_near_03_2b,
        settings=dict(_RUN_03),
    ),
    "03.4": _Exercise(
        question="How many MiB of Adam's state (estimated) does block5 alone carry?",
        kind="mib",
        truth=_truth_03_4,
        hint="fl.memory_estimate(model, mask, optimizer='adam').optimizer_bytes counts the state "
        "of the layers that train: compare nothing frozen with block5 frozen; 1 MiB is 2**20 "
        "bytes.",
        near_misses=_near_03_4,
    ),
    "04.1a": _Exercise(
        question="Lesson 04's scene classifier (blocks 1-2 of a copied base frozen, a new head): "
        "which layers does it train?",
        kind="names",
        truth=later.truth_04_1a,
        hint="A layer trains when it holds trainable weights: read the layer part of each path in "
        "classifier.trainable_weights (weight.path.split('/')[0]).",
    ),
    "04.1b": _Exercise(
        question="The same classifier: how many parameters does it train?",
        kind="count",
        truth=later.truth_04_1b,
        hint="Add up np.prod(weight.shape) over classifier.trainable_weights; the frozen blocks "
        "add nothing.",
        near_misses=later.near_04_1b,
    ),
    "04.3": _Exercise(
        question="At which layer of the base does a unit first see the whole image?",
        kind="name",
        truth=later.truth_04_3,
        hint="Walk base.layers[1:] with fl.receptive_field(base, name): a unit i is centred at "
        "field.centre + i * field.stride and sees field.size / 2 each way; stop at the first "
        "layer where one unit's field covers [0, SIZE).",
        near_misses=later.near_04_3,
        settings=dict(_SIZE_04),
    ),
    "04.6a": _Exercise(
        question=f"How many input pixels wide is the receptive field of a {later.FIELD_LAYER} "
        "unit?",
        kind="count",
        truth=later.truth_04_6a,
        hint="Start at 1 pixel; each layer adds (kernel - 1) times the product of the strides of "
        "the layers below it (a pooling doubles that step).",
        near_misses=later.near_04_6a,
    ),
    "04.6b": _Exercise(
        question=f"How many input pixels apart are two neighbouring {later.FIELD_LAYER} units?",
        kind="count",
        truth=later.truth_04_6b,
        hint="Multiply the strides of every layer from the input up to the layer: a 3x3 "
        "convolution with padding 'same' has stride 1, a 2x2 pooling stride 2.",
        near_misses=later.near_04_6b,
    ),
    "04.7a": _Exercise(
        question="fl.grad_cam(classifier, image, class_index=...) with no layer_name: which "
        "layer's maps does it explain?",
        kind="name",
        truth=later.truth_04_7a,
        hint="Call it and print cam.layer_name; the rule is the last layer whose output still "
        "has a grid of positions and a kernel of its own.",
        near_misses=later.near_04_7a,
    ),
    "04.7b": _Exercise(
        question="How many cells per side does that Grad-CAM map have at the lesson's image size?",
        kind="count",
        truth=later.truth_04_7b,
        hint="The map has one cell per position of the layer's output: read "
        "classifier.get_layer(name).output.shape, or cam.coarse.shape.",
        near_misses=later.near_04_7b,
        settings=dict(_SIZE_04),
    ),
    "05.3a": _Exercise(
        question="After `for layer in base.layers[:-4]: layer.trainable = False` on the teacher, "
        "which layers with weights still train?",
        kind="names",
        truth=later.truth_05_3a,
        hint="Print [layer.name for layer in base.layers[-4:]]: the slice leaves the last four "
        "entries, and only those with weights train anything.",
        near_misses=later.near_05_3a,
    ),
    "05.3b": _Exercise(
        question="The same slice: how many parameters still train?",
        kind="count",
        truth=later.truth_05_3b,
        hint="A 3x3 convolution holds 3*3*c_in*c_out + c_out numbers; read c_in and c_out from "
        "the filter widths of the blocks (block5's first convolution reads block4's maps).",
        near_misses=later.near_05_3b,
    ),
    "05.3c": _Exercise(
        question="Section 2's nested model (input, the whole base, the head): trainable "
        "parameters after `for layer in model.layers[:-1]: layer.trainable = False`?",
        kind="count",
        truth=later.truth_05_3c,
        hint="A slice of model.layers counts entries: print the nested model's layer names, "
        "then count the weights of the entries the slice leaves.",
        near_misses=later.near_05_3cd,
    ),
    "05.3d": _Exercise(
        question="The same nested model: trainable parameters after `model.layers[:-4]` frozen?",
        kind="count",
        truth=later.truth_05_3d,
        hint="How many entries does the nested model's model.layers hold? A slice that stops "
        "before the first entry freezes nothing.",
        near_misses=later.near_05_3cd,
    ),
    "06.1": _Exercise(
        question="What share of the source statistics do the BN layers keep after `steps` "
        "training-mode steps (the teacher's momentum; a fraction)?",
        kind="fraction",
        truth=later.truth_06_1,
        hint="Each training-mode step keeps momentum of the old moving statistic: "
        "moving = momentum * moving + (1 - momentum) * batch. Read layer.momentum from a BN "
        "layer and apply the rule once per step.",
        near_misses=later.near_06_1,
        settings={"steps": None},  # None: the lesson's full mode
    ),
    "06.2": _Exercise(
        question="Only block1_bn frozen, the model called once with training=True: which BN "
        "layers' moving statistics move?",
        kind="names",
        truth=later.truth_06_2,
        hint="Take fl.bn_snapshot(model) before and after the call and compare each layer with "
        "fl.bn_change; a BN layer's trainable flag decides its mode.",
        near_misses=later.near_06_2,
    ),
    "06.3": _Exercise(
        question="fl.reestimate_bn_statistics(base, x) called after base.trainable = False: how "
        "many BN layers does it change?",
        kind="count",
        truth=later.truth_06_3,
        hint="The helper calls the model with training=True at momentum 0: a BN layer updates "
        "only when it runs in training mode. Count what the helper returns.",
        near_misses=later.near_06_3,
    ),
    "06.5a": _Exercise(
        question="The guide's model, `base(inputs, training=False)` with the base unfrozen "
        "(base.trainable = True): called with training=True, how many BN layers update their "
        "moving statistics?",
        kind="count",
        truth=later.truth_06_5a,
        hint="Run it: fl.bn_snapshot before, the model called with training=True, then "
        "fl.bn_change per layer. The graph's training=False and the outer call's training both "
        "reach the base: check which one wins.",
    ),
    "06.5b": _Exercise(
        question="The BN teacher with every BatchNormalization layer frozen and the rest "
        "trainable: how many parameters train?",
        kind="count",
        truth=later.truth_06_5b,
        hint="A BN layer holds gamma, beta (trainable when the layer is) and the moving mean "
        "and variance (never trainable); add up base.trainable_weights after the freeze.",
        near_misses=later.near_06_5b,
    ),
}


@functools.cache
def _cached_truth(exercise_id: str, settings: tuple[tuple[str, object], ...]) -> object:
    # The truths of 01.5 and 02.5 train small models: TensorFlow's retracing notice about
    # those fit() calls is about the check, not the learner's code, so it is not shown.
    tensorflow_logger = logging.getLogger("tensorflow")
    level = tensorflow_logger.level
    tensorflow_logger.setLevel(logging.ERROR)
    try:
        return EXERCISES[exercise_id].truth(**dict(settings))
    finally:
        tensorflow_logger.setLevel(level)


def _read(exercise: _Exercise, answer: object) -> tuple[object, str | None]:
    """The answer in the exercise's form, or None and why it cannot be read."""
    kind = exercise.kind
    if kind == "count":
        if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer)):
            return None, f"give a whole number (an int), not {describe(answer)}."
        return int(answer), None
    if kind in ("fraction", "mib", "factor"):
        if isinstance(answer, (bool, np.bool_)) or not isinstance(
            answer, (int, float, np.integer, np.floating)
        ):
            return None, f"give a number, not {describe(answer)}."
        value = float(answer)
        if not math.isfinite(value):
            return None, f"give a finite number, not {value}."
        if kind == "fraction" and not 0 <= value <= 1:
            return None, "give the share as a fraction between 0 and 1, not a percentage."
        if kind == "factor" and value <= 0:
            return None, f"give how many times larger, a positive number, not {value}."
        return value, None
    if kind == "bool":
        if not isinstance(answer, (bool, np.bool_)):
            return None, f"answer True or False, not {describe(answer)}."
        return bool(answer), None
    if kind == "name":
        if not isinstance(answer, str):
            return None, f"give one layer name as a string, not {describe(answer)}."
        return answer.strip(), None
    if kind == "names":
        names = [answer] if isinstance(answer, str) else answer
        if not isinstance(names, (list, tuple, set, frozenset)) or not all(
            isinstance(name, str) for name in names
        ):
            return None, f"give the layer names as a list of strings, not {describe(answer)}."
        return frozenset(name.strip() for name in names), None
    if kind == "choice":
        if not isinstance(answer, str) or answer.strip().lower() not in exercise.choices:
            accepted = ", ".join(repr(c) for c in exercise.choices)
            return None, f"answer one of {accepted}, not {describe(answer)}."
        return answer.strip().lower(), None
    # "counts": a dict of whole numbers under the exercise's keys
    if not isinstance(answer, dict):
        return None, f"give a dict with keys {list(exercise.keys)}, not {describe(answer)}."
    by_key = {str(key).strip().upper(): value for key, value in answer.items()}
    if set(by_key) != set(exercise.keys):
        return None, f"give a dict with keys {list(exercise.keys)}; received keys {list(answer)}."
    if not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
        for v in by_key.values()
    ):
        return None, "give each count as a whole number (an int)."
    return {key: int(value) for key, value in by_key.items()}, None


def _is_right(exercise: _Exercise, answer: object, truth: object) -> bool:
    if exercise.kind == "fraction":
        return _close(answer, truth, FRACTION_TOLERANCE)
    if exercise.kind == "mib":
        return _close(answer, truth, MIB_TOLERANCE)
    if exercise.kind == "factor":
        return math.isclose(answer, truth, rel_tol=FACTOR_TOLERANCE)
    if exercise.kind == "names":
        return answer == frozenset(truth)
    return answer == truth


def check(exercise_id: str, answer: object, **settings: object) -> CheckResult:
    """Checks an answer to a lesson's exercise and prints right or a hint.

    The truth is computed from Keras (and freezelab's cost model) on a fresh
    build of the exercise's model, never stored; the hint for a wrong answer
    explains where to look and never prints the answer. A share is a fraction
    (0.25, not 25), right within 0.001; a size in MiB within 0.05; a factor
    (how many times larger) within 1 %.

    Args:
        exercise_id: ``"01.1"``, ``"02.1a"``, ...; `EXERCISES` lists them.
        answer: The learner's answer: an int, a fraction, a layer name, a list
            of names, True/False, or a dict, as the exercise asks.
        **settings: The learner's run settings the truth depends on:
            ``input_size`` (the square input size of VGG16; default 224 for
            lessons 01-02, lesson 03's CPU size 96 for its exercises) for the
            exercises on VGG16's FLOPs and Adam's memory and ``01.3``; lesson
            04's image side, default 96, for ``04.3`` and ``04.7b``),
            ``batch_size`` (default 8) for ``03.2a``/``03.2b``, and ``steps``
            (the training steps of the learner's mode; default: lesson 06's
            full mode) for ``06.1``.

    Returns:
        A `CheckResult`, truthy when the answer is right (so a test can
        ``assert check(...)``). An answer of the wrong form is wrong, with a
        hint about the form.

    Raises:
        ValueError: For an unknown exercise id (the accepted ids are named),
            a setting the exercise does not take, or an ``input_size`` below
            32, a ``batch_size`` below 1 or ``steps`` below 0.
    """
    if exercise_id not in EXERCISES:
        accepted = ", ".join(EXERCISES)
        raise ValueError(
            f"Unknown exercise id. Accepted ids: {accepted}."
            f"{suggestion(str(exercise_id), EXERCISES)} Received: exercise_id={describe(exercise_id)}"
        )
    exercise = EXERCISES[exercise_id]
    unknown = sorted(set(settings) - set(exercise.settings))
    if unknown:
        accepted = ", ".join(exercise.settings) or "none"
        raise ValueError(
            f"Exercise {exercise_id} takes these settings: {accepted}. "
            f"Received: {', '.join(f'{k}={describe(settings[k])}' for k in unknown)}"
        )
    merged = {**exercise.settings, **settings}
    if "input_size" in merged:
        merged["input_size"] = check_int(merged["input_size"], "input_size", minimum=32)
    if "batch_size" in merged:
        merged["batch_size"] = check_int(merged["batch_size"], "batch_size", minimum=1)
    if merged.get("steps") is not None:
        merged["steps"] = check_int(merged["steps"], "steps", minimum=0)
    value, problem = _read(exercise, answer)
    if problem is None:
        truth = _cached_truth(exercise_id, tuple(sorted(merged.items())))
        right = _is_right(exercise, value, truth)
    else:
        right = False
    if right:
        message = f"{exercise_id}: right."
    elif problem is not None:
        message = f"{exercise_id}: not yet: {problem}"
    else:
        hint = exercise.near_misses(value, merged) or exercise.hint
        message = f"{exercise_id}: not yet. {hint}"
    print(message)
    return CheckResult(exercise_id=exercise_id, right=right, message=message)


def check_exercise(exercise_id: str, answer: object, **settings: object) -> CheckResult:
    """`check` under the name freezelab exports (``fl.check_exercise``).

    Args:
        exercise_id: As in `check`.
        answer: As in `check`.
        **settings: As in `check`.

    Returns:
        As `check`.

    Raises:
        ValueError: As `check`.
    """
    return check(exercise_id, answer, **settings)


__all__ = ["EXERCISES", "CheckResult", "check", "check_exercise"]
