import keras
import numpy as np
import pytest

from freezelab.core.freezing import freeze
from freezelab.core.models import load_vgg16, with_head
from freezelab.core.pitfalls import check_pitfalls


def codes(report):
    return [p.code for p in report]


def test_dense_on_feature_map_is_a_spatial_head():
    base = load_vgg16(weights=None, input_size=224, verbose=False)
    model = with_head(base, (1,), pooling="none")
    assert model.output.shape == (None, 7, 7, 1)
    report = check_pitfalls(model)
    assert "spatial_head" in codes(report)
    assert "(None, 7, 7, 1)" in str(report)


def test_nested_head_or_base_is_flagged_with_its_index():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), nested=True)
    assert "nested_layers_slice" not in codes(check_pitfalls(model))  # no slice yet
    for layer in model.layers[:-4]:  # meant: all but the last 4 layers train
        layer.trainable = False
    report = check_pitfalls(model)
    pitfall = next(p for p in report if p.code == "nested_layers_slice")
    assert "'vgg16' (index 1) holds 19 layers" in pitfall.message
    assert "froze no weights" in pitfall.message
    assert "fl.freeze(model, up_to='block5_conv3')" in pitfall.message


def nested_head_model():
    """A flattened VGG16 base under a head that is one nested Sequential of 3 layers."""
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    head = keras.Sequential(
        [
            keras.layers.Flatten(name="head_flatten"),
            keras.layers.Dense(8, activation="relu", name="head_dense"),
            keras.layers.Dense(3, activation="softmax", name="head_predictions"),
        ],
        name="head",
    )
    return keras.Model(base.input, head(base.output), name="nested_head")


def trainable_owners(model):
    """Names of the layers whose kernels Keras lists in model.trainable_weights."""
    ids = {id(w) for w in model.trainable_weights}
    owners = []
    for layer in model.layers:
        inner = layer.layers if isinstance(layer, keras.Model) else [layer]
        owners += [leaf.name for leaf in inner if leaf.weights and id(leaf.weights[0]) in ids]
    return owners


@pytest.mark.parametrize(
    ("n", "stopped_at", "still_base", "instead"),
    [
        (3, "'block5_conv2' (index 16)", ["block5_conv3"], "up_to='block5_pool'"),
        (
            5,
            "'block4_pool' (index 14)",
            ["block5_conv1", "block5_conv2", "block5_conv3"],
            "up_to='block5_conv2'",
        ),
    ],
)
def test_slice_over_a_nested_head_says_where_it_stopped_and_what_still_trains(
    n, stopped_at, still_base, instead
):
    model = nested_head_model()
    for layer in model.layers[:-n]:
        layer.trainable = False
    # Keras's own list: these base layers (and the head's two Dense) still train.
    assert trainable_owners(model) == [*still_base, "head_dense", "head_predictions"]
    pitfall = next(p for p in check_pitfalls(model) if p.code == "nested_layers_slice")
    message = pitfall.message
    assert f"model.layers[:-{n}]" in message and f"model.layers[:{20 - n}]" in message
    assert "'head' (index 19) holds 3 layers" in message
    assert f"stopped at {stopped_at}" in message
    assert (
        f"Still trainable: {', '.join(still_base)} and the 2 with weights inside 'head'" in message
    )
    assert "model.layers[:-1]" in message
    up_to = instead.split("=")[1]
    # When nothing after that layer but the head holds weights, "up to and including" it is the
    # whole base, the first alternative again: it is left out, with its freezelab call.
    whole_base = n == 3
    assert (f"every layer up to and including {up_to}" in message) is not whole_base
    assert (instead in message) is not whole_base
    # One alternative a line, plain Keras first.
    assert message.count("\n  - ") == (1 if whole_base else 2)
    assert pitfall.layers[: len(still_base)] == still_base


@pytest.mark.parametrize("n", [1, 2])
def test_slice_that_freezes_the_whole_base_is_not_flagged(n):
    model = nested_head_model()
    for layer in model.layers[:-n]:
        layer.trainable = False
    assert trainable_owners(model) == ["head_dense", "head_predictions"]
    assert "nested_layers_slice" not in codes(check_pitfalls(model))


def test_frozen_middle_is_not_read_as_a_slice():
    model = nested_head_model()
    freeze(model, "block3")
    assert "nested_layers_slice" not in codes(check_pitfalls(model))


def test_untrained_nested_head_is_detected():
    report = check_pitfalls(nested_head_model())
    pitfall = next(p for p in report if p.code == "unfrozen_base_untrained_head")
    assert "the nested head 'head' (2 layers with weights)" in pitfall.message
    assert len(pitfall.layers) == 13
    assert pitfall.message.startswith(
        "13 base layers with weights (block1_conv1, block1_conv2, block2_conv1, block2_conv2, "
        "block3_conv1, …, block5_conv3) train under the nested head 'head' (2 layers with "
        "weights), which has not been trained yet."
    )
    # The base was built untrained: the message does not speak of pretrained features.
    assert "untrained (random) weights" in pitfall.message
    assert "damage its pretrained features" not in pitfall.message


def test_pretrained_base_gets_the_pretrained_warning():
    from freezelab.sources.teacher import load_teacher

    model = with_head(load_teacher(input_size=32, verbose=False), (4,), pooling="avg")
    pitfall = next(p for p in check_pitfalls(model) if p.code == "unfrozen_base_untrained_head")
    assert "damage its pretrained features" in pitfall.message


def test_trainable_base_under_untrained_head_is_flagged_until_trained():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), pooling="avg")
    assert "unfrozen_base_untrained_head" in codes(check_pitfalls(model))
    freeze(model, "block[1-5]_*")
    assert "unfrozen_base_untrained_head" not in codes(check_pitfalls(model))


def test_head_trained_before_a_fresh_optimizer_is_not_called_untrained():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), pooling="avg")
    base.trainable = False  # phase 1: train the head only
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy")
    x = np.zeros((4, 32, 32, 3), dtype="float32")
    model.fit(x, np.zeros(4, dtype="int32"), epochs=1, batch_size=4, verbose=0)
    base.trainable = True  # phase 2: unfreeze and compile with a fresh optimizer
    model.compile(optimizer=keras.optimizers.SGD(1e-5), loss="sparse_categorical_crossentropy")
    assert int(model.optimizer.iterations.numpy()) == 0  # the old signal alone would misfire
    assert "unfrozen_base_untrained_head" not in codes(check_pitfalls(model))


def test_clean_model_has_no_pitfalls():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), pooling="avg")
    freeze(model, "block[1-5]_*")
    report = check_pitfalls(model)
    assert list(report) == []
    assert str(report) == "No pitfalls found."


def test_recompile_needed_is_reported():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    freeze(model, "d")
    assert "recompile_needed" in codes(check_pitfalls(model))


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (None, r"Received: model=None"),
        ("vgg16", r"Received: model='vgg16'"),
        (keras.Sequential([keras.layers.Dense(2)]), r"not built yet.*built=False"),
    ],
)
def test_bad_models_are_refused(model, match):
    with pytest.raises(ValueError, match=match):
        check_pitfalls(model)


def test_slice_message_offers_plain_keras_first_and_its_fix_works():
    model = nested_head_model()
    for layer in model.layers[:-5]:
        layer.trainable = False
    message = next(p for p in check_pitfalls(model) if p.code == "nested_layers_slice").message
    plain = message.index("in plain Keras:\n  - to train only 'head', base.trainable = False")
    assert plain < message.index("With freezelab: fl.freeze(model, slice(0, 19))")
    # The plain-Keras line it offers does leave only the head training (Keras's own list).
    model.trainable = True
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert trainable_owners(model) == ["head_dense", "head_predictions"]


def test_slice_over_a_nested_base_offers_get_layer_first():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), nested=True)
    for layer in model.layers[:-4]:
        layer.trainable = False
    message = next(p for p in check_pitfalls(model) if p.code == "nested_layers_slice").message
    plain = message.index("model.get_layer('vgg16').trainable = False")
    assert plain < message.index("With freezelab: fl.freeze(model, 'vgg16')")
    model.get_layer("vgg16").trainable = False
    trainable = {id(w) for w in model.trainable_weights}
    assert not any(id(w) in trainable for w in base.weights)


def test_untrained_head_message_leaves_the_mechanism_to_lesson_05():
    # Both messages (untrained or pretrained base) cite lesson 05's committed run, with its
    # optimizer, rate and seeds, for what the untrained head did there.
    from freezelab.sources.teacher import load_teacher

    pretrained = with_head(load_teacher(input_size=32, verbose=False), (4,), pooling="avg")
    for model in (nested_head_model(), pretrained):
        report = check_pitfalls(model)
        pitfall = next(p for p in report if p.code == "unfrozen_base_untrained_head")
        assert "above all at a high learning rate" in pitfall.message
        assert "lesson 05's committed run (Adam at 1e-3, 12 seeds)" in pitfall.message
        assert (
            "unfrozen under an untrained head moved further, and read worse to a probe"
            in pitfall.message
        )
        assert "depends on the optimizer" not in pitfall.message
