"""Tests for freezelab.sources.pretraining: the teachers' shared loop, on a tiny base, by hand."""

import contextlib
import io

import h5py
import keras
import numpy as np
import pytest

from freezelab.sources.pretraining import pretrain_on_source_task
from freezelab.sources.source_task import make_source_images
from freezelab.sources.teacher import source_classifier

SIZE = 16
# Hand numbers: 2 epochs of 8 images in batches of 4 is 2 * (8 // 4) = 4 steps.
RECIPE = dict(
    epochs=2,
    images_per_epoch=8,
    held_out=6,
    image_size=SIZE,
    batch_size=4,
    learning_rate=0.01,
    seed=3,
    held_out_seed=5,
)


def tiny_base(image_size: int) -> keras.Model:
    inputs = keras.Input(shape=(image_size, image_size, 3))
    outputs = keras.layers.Conv2D(2, 3, padding="same", name="block1_conv1")(inputs)
    return keras.Model(inputs, outputs)


class Recorder:
    """A preprocessing that scales to 0..1 and keeps every batch it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, images):
        self.calls.append(images.copy())
        return images / 255.0


def train(out):
    recorder = Recorder()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run = pretrain_on_source_task(tiny_base, recorder, out, **RECIPE)
    return run, recorder, printed.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretraining") / "new_folder" / "tiny.weights.h5"
    return (*train(out), out)


def test_held_out_then_one_fresh_draw_per_epoch_from_seed_times_1000_plus_epoch(trained):
    run, recorder, _, _ = trained
    held_out = make_source_images(6, SIZE, seed=5)
    expected = [
        held_out.images,
        *(make_source_images(8, SIZE, seed=s).images for s in (3000, 3001)),
    ]
    assert len(recorder.calls) == 3
    assert all(np.array_equal(got, want) for got, want in zip(recorder.calls, expected))
    assert np.array_equal(run.held_out.labels, held_out.labels)
    assert np.array_equal(run.x_held, held_out.images / 255.0)


def test_four_steps_and_the_cosine_decay_ends_at_5_percent_of_the_rate(trained):
    run, _, _, _ = trained
    assert int(run.model.optimizer.iterations) == 4
    # Step 4 of a 4-step cosine decay: the floor, 0.05 * 0.01.
    assert float(run.model.optimizer.learning_rate) == pytest.approx(0.0005)


def test_prints_one_line_per_epoch(trained):
    _, _, printed, _ = trained
    lines = [line for line in printed.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1", "epoch 2"]
    assert all("held-out accuracy" in line and line.endswith(" s") for line in lines)


def test_saved_file_holds_the_models_weights_and_no_optimizer_state(trained):
    run, _, _, out = trained
    stored = []
    with h5py.File(out, "r") as handle:
        handle.visititems(
            lambda name, item: stored.append(name) if isinstance(item, h5py.Dataset) else None
        )
    assert stored and not [name for name in stored if name.startswith("optimizer")]
    fresh = source_classifier(tiny_base(SIZE))
    fresh.load_weights(out)
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), run.model.get_weights()))


def test_same_seed_same_weights(trained, tmp_path):
    run, _, _, _ = trained
    again, _, _ = train(tmp_path / "again.weights.h5")
    assert all(
        np.array_equal(a, b) for a, b in zip(again.model.get_weights(), run.model.get_weights())
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(epochs=0), "Received: epochs=0"),
        (dict(batch_size=16), "Received: images_per_epoch=8"),
        (dict(learning_rate=0.0), "Received: learning_rate=0.0"),
        (dict(seed=-1), "Received: seed=-1"),
    ],
)
def test_bad_recipes_are_refused_keras_style(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        pretrain_on_source_task(
            tiny_base, Recorder(), tmp_path / "w.weights.h5", **{**RECIPE, **change}
        )
