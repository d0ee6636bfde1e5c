"""The exercise checks: right answers counted by hand pass, wrong ones get a hint that does not
print the answer, and bad ids or settings raise Keras-style errors."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import pytest

import freezelab as fl
from freezelab import _exercises_04_06, exercises

# Right answers worked out by hand, independently of the checks' own Keras builds.
DENSE_32 = 64 * 32 + 32
CONV_512 = 3 * 3 * 512 * 512 + 512
ADAM_MIB = (2 * CONV_512 + 512 * 128 + 128 + 128 * 10 + 10) * 2 * 4 / 2**20
HEAD_224 = 7 * 7 * 512 * 256 + 256 + 256 * 10 + 10
# Lesson 02's exercise 4 in multiply-adds per example: forward of all three layers, the
# weight-gradients of dense_32 and dense_10, the input-gradient of dense_10 only.
MACS = {"dense_64": 100 * 64, "dense_32": 64 * 32, "dense_10": 32 * 10}
STEP = 2 * sum(MACS.values()) + MACS["dense_32"] + MACS["dense_10"]
# Lesson 03's model (VGG16, Flatten, Dense 128, Dense 10): 13 convolutions and 2 Dense layers.
# Everything frozen but block1: all 15 pass the gradient down except block1_conv1 (nothing below).
PASSING_DOWN_03 = 13 + 2 - 1
# Adam's state for all of lesson 03's model at 96 px: VGG16's base, then Flatten (3x3x512) -> 128 -> 10.
ADAM_MIB_03_ALL = (14_714_688 + 3 * 3 * 512 * 128 + 128 + 128 * 10 + 10) * 2 * 4 / 2**20


def conv(c_in: int, c_out: int) -> int:
    """A 3x3 convolution's parameters: kernel and bias."""
    return 3 * 3 * c_in * c_out + c_out


# Lessons 04-05's teacher: VGG16's layers with its own filter widths, read from the layers.
_TEACHER = fl.pretrained_base(input_size=32, prefer="teacher", verbose=False)
W = [_TEACHER.get_layer(f"block{b}_conv1").filters for b in range(1, 6)]
BLOCK5 = conv(W[3], W[4]) + 2 * conv(W[4], W[4])
BLOCKS_3_TO_5 = (
    conv(W[1], W[2]) + 2 * conv(W[2], W[2]) + conv(W[2], W[3]) + 2 * conv(W[3], W[3]) + BLOCK5
)
SCENE_HEAD = W[4] * 64 + 64 + 64 * 4 + 4  # lesson 04: Dense 64, then the 4 scene classes
SHAPES = fl.load_shape_dataset(
    image_size=32, seed=0, train_per_class=1, val_per_class=1
).num_classes
SHAPE_HEAD = W[4] * 64 + 64 + 64 * SHAPES + SHAPES  # lesson 05: Dense 64, then the shapes
# Lesson 06's BN teacher: four blocks of a 3x3 convolution without a bias (BN follows) and BN
# (gamma, beta, moving mean and variance).
_BN_TEACHER = fl.load_bn_teacher(32, verbose=False)
BN_CHANNELS = [_BN_TEACHER.get_layer(f"block{b}_conv").filters for b in range(1, 5)]
BN_CONVS = sum(3 * 3 * c_in * c_out for c_in, c_out in zip([3, *BN_CHANNELS], BN_CHANNELS))
PHOTO_CLASSES = 10  # lesson 06's photo patches
BY_HAND = {
    "01.1": DENSE_32,
    "01.2": 1 + 3 + 3 + 4 + 1,  # InputLayer, blocks 1-3 with their pools, block4_conv1
    "01.3": {"A": 256 * 10 + 10, "B": HEAD_224, "C": HEAD_224},
    "01.5": True,
    "02.1a": ADAM_MIB,
    "02.2b": "block1_conv2",
    "02.3": ["avg_pool", "block5_pool"],
    "02.4a": (100 * 64 + 64) / (100 * 64 + 64 + DENSE_32 + 32 * 10 + 10),
    "02.4b": (MACS["dense_64"] + MACS["dense_32"]) / STEP,
    "03.1b": PASSING_DOWN_03,
    "03.2a": True,
    "03.2b": 2.0,
    "03.4": 3 * CONV_512 * 2 * 4 / 2**20,  # block5's three convolutions, two float32 moments
    "04.1a": [
        *(f"block{b}_conv{i}" for b in (3, 4, 5) for i in (1, 2, 3)),
        "head_dense_1",
        "predictions",
    ],
    "04.1b": BLOCKS_3_TO_5 + SCENE_HEAD,
    # At 96 px block4_pool's 100-px fields are 16 px apart, the first centred near 8: none reaches
    # both edges; block5_conv1 adds 2 * 16 px on each side.
    "04.3": "block5_conv1",
    "04.6a": 1 + 2 + 2 + 1 + 2 * (2 + 2 + 1) + 4 * 2,  # conv, conv, pool; conv, conv, pool; conv
    "04.6b": 2 * 2,  # two poolings of stride 2
    "04.7a": "block5_conv3",
    "04.7b": 96 // 16,  # four poolings before block5_conv3
    "05.3a": ["block5_conv1", "block5_conv2", "block5_conv3"],
    "05.3b": BLOCK5,
    "05.3c": SHAPE_HEAD,
    "05.3d": _TEACHER.count_params() + SHAPE_HEAD,
    "06.1": 0.99 ** (12 * math.ceil(PHOTO_CLASSES * 64 / 16)),
    "06.2": ["block2_bn", "block3_bn", "block4_bn"],
    "06.3": 0,
    "06.5a": 4,  # the outer call's training=True reaches the unfrozen base's four BN layers
    "06.5b": BN_CONVS,
}


@pytest.mark.parametrize("exercise_id", sorted(BY_HAND))
def test_right_answers_counted_by_hand_pass(exercise_id, capsys):
    result = exercises.check(exercise_id, BY_HAND[exercise_id])
    assert result and result.right
    assert capsys.readouterr().out.strip() == f"{exercise_id}: right."


def test_every_exercise_has_a_hint_and_its_truth_is_not_written_in_the_module():
    source = Path(exercises.__file__).read_text() + Path(_exercises_04_06.__file__).read_text()
    for exercise_id, exercise in exercises.EXERCISES.items():
        assert exercise.hint and exercise.question, exercise_id
    for number in (
        "2080",
        "2,080",
        "6425354",
        "36.5",
        "0.636",
        "42.4",
        "block1_conv2",
        "54.0",
        "0.708",
        "912644",
        "442752",
        "442,752",
        "8646",
        "97200",
        "0.00803",
    ):
        assert number not in source


def test_fractions_are_right_within_a_tenth_of_a_percent():
    truth = BY_HAND["02.4b"]
    assert exercises.check("02.4b", round(truth, 3))
    assert not exercises.check("02.4b", truth + 0.002)


@pytest.mark.parametrize(
    ("exercise_id", "wrong", "says"),
    [
        ("01.1", 6794, "frozen count"),
        ("01.1", 64 * 32, "bias"),
        ("01.2", 11, "base.layers[0]"),
        ("01.3", {"A": HEAD_224, "B": HEAD_224, "C": HEAD_224}, "model_a.layers[-1]"),
        ("02.1a", ADAM_MIB / 2, "two numbers per trainable parameter"),
        ("02.1a", ADAM_MIB * 2**20 / 1e6, "MiB"),
        ("02.2b", "block1_conv1", "never needed its input-gradient"),
        ("02.4b", MACS["dense_64"] / STEP, "weight-gradient alone"),
        ("02.4b", BY_HAND["02.4a"], "parameters, not of the step's FLOPs"),
        ("02.4a", 72.8, "fraction between 0 and 1"),
        ("03.1b", PASSING_DOWN_03 + 1, "block1_conv1 too"),
        ("03.1b", 4, "blocks 1-4"),
        ("03.1b", 11, "frozen layers only"),
        ("03.1b", PASSING_DOWN_03 + 6, "without weights"),  # + 5 pools and flatten
        ("03.2a", False, "grows with the batch"),
        ("03.2b", 1.0, "FLOP counts themselves"),
        ("03.2b", 4.0, "image's side"),
        ("03.2b", -2, "positive number"),
        ("03.4", BY_HAND["03.4"] / 2, "two numbers per trainable parameter"),
        ("03.4", BY_HAND["03.4"] * 2**20 / 1e6, "MiB"),
        ("03.4", ADAM_MIB_03_ALL, "whole model"),
        ("03.4", ADAM_MIB_03_ALL - BY_HAND["03.4"], "with block5 frozen"),
        ("04.1b", SCENE_HEAD, "head alone"),
        ("04.1b", BY_HAND["04.1b"] + 1, "classifier.trainable_weights"),
        ("04.3", "block4_pool", "reach both edges"),
        ("04.3", "block5_pool", "fl.receptive_field"),
        ("04.6a", 1 + 2 + 2 + 1 + 2 + 2 + 1 + 2, "multiply each span"),
        ("04.6a", BY_HAND["04.6b"], "the stride"),
        ("04.6b", BY_HAND["04.6a"], "the field's size"),
        ("04.7a", "block5_pool", "before any pooling"),
        ("04.7b", 96 // 32, "after block5_pool"),
        ("05.3a", [*BY_HAND["05.3a"], "block5_pool"], "no weights"),
        ("05.3b", BLOCK5 - 3 * W[4], "one bias per filter"),
        ("05.3c", BLOCK5, "flat base's count"),
        ("05.3d", BLOCK5, "flat base's count"),
        ("06.1", 1 - BY_HAND["06.1"], "replaced"),
        ("06.1", 48.0, "fraction between 0 and 1"),
        ("06.2", ["block1_bn", "block2_bn", "block3_bn", "block4_bn"], "inference mode"),
        ("06.3", 4, "before the freeze"),
        ("06.5a", 0, "which one wins"),
        ("06.5a", "four", "whole number"),
        ("06.5b", _BN_TEACHER.count_params() - 2 * sum(BN_CHANNELS), "gamma and beta"),
        ("01.3", [1, 2, 3], "keys"),
        ("01.5", "yes", "True or False"),
        ("02.5", "maybe", "'moved', 'stayed', 'refused'"),
    ],
)
def test_wrong_answers_get_a_hint_that_does_not_print_the_answer(exercise_id, wrong, says, capsys):
    result = exercises.check(exercise_id, wrong)
    printed = capsys.readouterr().out
    assert not result and result.message == printed.strip()
    assert printed.startswith(f"{exercise_id}: not yet") and says in printed
    truth = BY_HAND.get(exercise_id)
    hint = printed.removeprefix(exercise_id)  # the id's own digits are no answer
    if isinstance(truth, int) and not isinstance(truth, bool):
        assert str(truth) not in hint and f"{truth:,}" not in hint
    if isinstance(truth, float):
        assert f"{truth:.3f}" not in hint and f"{truth:.1%}" not in hint


def test_a_share_is_checked_at_the_learners_input_size():
    at_32 = 1 - fl.step_cost(small_lesson02(32)).relative_cost
    assert exercises.check("02.1b", at_32, input_size=32)
    assert exercises.check("02.1b", round(at_32, 3), input_size=32)
    assert not exercises.check("02.1b", at_32 - 0.002, input_size=32)


def small_lesson02(input_size: int) -> keras.Model:
    """Lesson 02's model built here, with only block5_conv2/3 and the head trainable."""
    base = fl.load_vgg16(weights=None, input_size=input_size, verbose=False)
    model = fl.with_head(base, (128, 10), pooling="avg")
    for layer in model.layers:
        layer.trainable = layer.name in (
            "block5_conv2",
            "block5_conv3",
            "head_dense_1",
            "predictions",
        )
    return model


def test_the_recompile_trap_is_checked_on_the_backend_in_use():
    expected = {"tensorflow": "moved", "jax": "refused", "torch": "stayed"}
    assert exercises.check("02.5", expected[keras.backend.backend()])
    assert not exercises.check(
        "02.5", "stayed" if expected[keras.backend.backend()] != "stayed" else "moved"
    )


def test_an_unknown_id_names_the_ids_accepted():
    with pytest.raises(
        ValueError,
        match=r"Accepted ids: 01\.1, 01\.2.*Did you mean: '01\.3'.*Received: exercise_id='1.3'",
    ):
        exercises.check("1.3", 3)


def test_a_setting_the_exercise_does_not_take_is_refused():
    with pytest.raises(
        ValueError, match=r"Exercise 01\.1 takes these settings: none\. Received: input_size=32"
    ):
        exercises.check("01.1", DENSE_32, input_size=32)
    with pytest.raises(ValueError, match="input_size"):
        exercises.check("02.1b", 0.5, input_size=8)


def test_the_exported_name_is_the_same_check(capsys):
    assert fl.check_exercise("01.1", DENSE_32)
    assert capsys.readouterr().out.strip() == "01.1: right."
    assert repr(exercises.check("01.1", 1)) == "CheckResult('01.1', right=False)"


def lesson03_model(frozen_blocks: tuple[str, ...]) -> keras.Model:
    """Lesson 03's model at 96 px built here, frozen with plain Keras flags (not a mask)."""
    base = fl.load_vgg16(weights=None, input_size=96, verbose=False)
    x = keras.layers.Flatten()(base.output)
    x = keras.layers.Dense(128, activation="relu")(x)
    model = keras.Model(base.input, keras.layers.Dense(10)(x))
    for layer in model.layers:
        layer.trainable = not layer.name.startswith(frozen_blocks)
    return model


def test_lesson03_share_is_the_cost_model_on_a_model_frozen_by_its_flags():
    all_but_block1 = fl.step_cost(lesson03_model(("block2", "block3", "block4", "block5")))
    blocks_1_to_4 = fl.step_cost(lesson03_model(("block1", "block2", "block3", "block4")))
    truth = all_but_block1.relative_cost
    assert exercises.check("03.1a", truth)
    assert exercises.check("03.1a", round(truth, 3))
    assert not exercises.check("03.1a", truth + 0.002)
    # Blocks 1-4 frozen leaves far less of the step: four frozen blocks, but a prefix.
    assert blocks_1_to_4.relative_cost < truth - 0.2
    rows = [row for row in all_but_block1.layers if row.has_weights]
    assert sum(row.computes_input_grad for row in rows) == PASSING_DOWN_03
    assert "blocks 1-4" in exercises.check("03.1a", blocks_1_to_4.relative_cost).message
    assert "share the mask removes" in exercises.check("03.1a", 1 - truth).message


def test_lesson03_settings_are_checked_and_a_doubled_batch_doubles_at_any_batch():
    assert exercises.check("03.2b", 2.0, batch_size=16)
    assert exercises.check("03.2a", True, batch_size=1)
    with pytest.raises(ValueError, match=r"`batch_size` must be an int.*Received: batch_size=0"):
        exercises.check("03.2b", 2.0, batch_size=0)
    with pytest.raises(ValueError, match=r"Exercise 03\.4 takes these settings: none\."):
        exercises.check("03.4", BY_HAND["03.4"], input_size=96)


def test_lesson04_first_full_view_is_checked_at_the_learners_size():
    # At 64 px block4_conv2's 76-px fields, 8 px apart, first reach both edges (block4_conv1: 60 px).
    assert exercises.check("04.3", "block4_conv2", input_size=64)
    assert not exercises.check("04.3", BY_HAND["04.3"], input_size=64)
    assert exercises.check("04.7b", 64 // 16, input_size=64)


def test_lesson06_share_is_checked_at_the_learners_steps_and_bad_steps_are_refused():
    assert exercises.check("06.1", 0.99**40, steps=40)
    assert not exercises.check("06.1", BY_HAND["06.1"], steps=40)
    with pytest.raises(ValueError, match=r"`steps` must be an int.*Received: steps=-1"):
        exercises.check("06.1", 0.5, steps=-1)
    with pytest.raises(ValueError, match=r"Exercise 06\.2 takes these settings: none\."):
        exercises.check("06.2", BY_HAND["06.2"], steps=40)
