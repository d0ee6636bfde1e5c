"""The exercise checks: right answers counted by hand pass, wrong ones get a hint that does not
print the answer, and bad ids or settings raise Keras-style errors."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

import freezelab as fl
from freezelab import exercises

# Right answers worked out by hand, independently of the checks' own Keras builds.
DENSE_32 = 64 * 32 + 32
CONV_512 = 3 * 3 * 512 * 512 + 512
ADAM_MIB = (2 * CONV_512 + 512 * 128 + 128 + 128 * 10 + 10) * 2 * 4 / 2**20
HEAD_224 = 7 * 7 * 512 * 256 + 256 + 256 * 10 + 10
# Lesson 02's exercise 4 in multiply-adds per example: forward of all three layers, the
# weight-gradients of dense_32 and dense_10, the input-gradient of dense_10 only.
MACS = {"dense_64": 100 * 64, "dense_32": 64 * 32, "dense_10": 32 * 10}
STEP = 2 * sum(MACS.values()) + MACS["dense_32"] + MACS["dense_10"]
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
}


@pytest.mark.parametrize("exercise_id", sorted(BY_HAND))
def test_right_answers_counted_by_hand_pass(exercise_id, capsys):
    result = exercises.check(exercise_id, BY_HAND[exercise_id])
    assert result and result.right
    assert capsys.readouterr().out.strip() == f"{exercise_id}: right."


def test_every_exercise_has_a_hint_and_its_truth_is_not_written_in_the_module():
    source = Path(exercises.__file__).read_text()
    for exercise_id, exercise in exercises.EXERCISES.items():
        assert exercise.hint and exercise.question, exercise_id
    for number in ("2080", "2,080", "6425354", "36.5", "0.636", "42.4", "block1_conv2"):
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
    if isinstance(truth, int) and not isinstance(truth, bool):
        assert str(truth) not in printed and f"{truth:,}" not in printed
    if isinstance(truth, float):
        assert f"{truth:.3f}" not in printed and f"{truth:.1%}" not in printed


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
