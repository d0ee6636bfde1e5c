"""Tests for freezelab.widgets.mask_code: the Keras code shown for a mask does what it says."""

import itertools
import random

import keras
import pytest

from freezelab.widgets.mask_code import mask_code


def small_model() -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="block1_conv1")(inputs)
    x = keras.layers.Conv2D(4, 3, name="block1_conv2")(x)
    x = keras.layers.MaxPooling2D(name="block1_pool")(x)
    x = keras.layers.Conv2D(4, 1, name="block2_conv1")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, name="dense_1")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small")


WEIGHTED = ["block1_conv1", "block1_conv2", "block2_conv1", "dense_1", "predictions"]


def keras_flags(model: keras.Model) -> dict[str, bool]:
    """Which weighted layers train, read from Keras itself (the independent truth)."""
    trained = {id(w) for w in model.trainable_weights}
    return {name: all(id(w) in trained for w in model.get_layer(name).weights) for name in WEIGHTED}


@pytest.mark.parametrize("start", ["all train", "all frozen", "random"])
def test_running_the_code_gives_the_mask_whatever_the_flags_were(start):
    rng = random.Random(0)
    for flags in itertools.product([True, False], repeat=len(WEIGHTED)):
        mask = dict(zip(WEIGHTED, flags))
        model = small_model()
        if start == "all frozen":
            model.trainable = False
        elif start == "random":
            for name in WEIGHTED:
                model.get_layer(name).trainable = rng.random() < 0.5
        code = mask_code(mask)
        exec(code, {"model": model, "keras": keras})  # the code under test
        assert keras_flags(model) == mask, code
        assert model.compiled
        # A fresh Adam at the lessons' rate, not the default 1e-3.
        assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)


def test_names_the_smaller_set_and_compiles_last():
    few_train = dict(zip(WEIGHTED, [False, False, False, True, True]))
    code = mask_code(few_train)
    assert 'trains = {"dense_1", "predictions"}' in code
    assert "layer.trainable = layer.name in trains" in code
    few_frozen = dict(zip(WEIGHTED, [False, True, True, True, True]))
    assert 'frozen = {"block1_conv1"}' in mask_code(few_frozen)
    assert mask_code(few_frozen).splitlines()[-1].startswith("model.compile(")
    assert mask_code(dict.fromkeys(WEIGHTED, True)).splitlines()[2] == (
        "    layer.trainable = True  # every layer trains"
    )


def test_long_sets_break_one_name_a_line():
    mask = {f"block{b}_conv{c}": b >= 4 for b in range(1, 6) for c in range(1, 4)}
    code = mask_code(mask)
    assert '    "block4_conv1",' in code
    assert max(len(line) for line in code.splitlines()[:-1]) <= 88


@pytest.mark.parametrize("bad", [{}, {"a": 1}, [("a", True)], None])
def test_rejects_what_is_not_a_mask(bad):
    with pytest.raises(ValueError, match="Received"):
        mask_code(bad)


def test_comments_say_only_what_the_code_does():
    # The all-trainable loop freezes nothing, so no comment may say it freezes;
    # the model's own flag line must not claim to reset every layer.
    for mask in (
        dict.fromkeys(WEIGHTED, True),
        dict(zip(WEIGHTED, [False, True, True, True, True])),
    ):
        first = mask_code(mask).splitlines()[0]
        assert "freezes" not in first
        assert "sets every layer" not in first


def test_comments_are_whole_sentences_on_lines_that_do_not_wrap():
    # Issue 25: the model-flag comment read as cut off, and the compile call's trailing
    # comment wrapped mid-phrase. The first says why; the second sits on its own line.
    lines = mask_code(dict(zip(WEIGHTED, [False, True, True, True, True]))).splitlines()
    assert lines[0] == (
        "model.trainable = True  # if False, no layer trains, whatever the loop sets"
    )
    assert lines[-2] == "# a fresh optimizer after every change to trainable"
    assert len(lines[0]) <= 78  # one line where the code box is narrowest (1024 px)
    assert "#" not in lines[-1]  # the compile call carries no trailing comment
    assert max(len(line) for line in lines[:-1]) <= 88
