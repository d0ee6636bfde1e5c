"""Tests for freezelab.sources.teacher: the shipped weights load, learned the task, and learned edges."""

import keras
import numpy as np
import pytest

from freezelab.core.accounting import count_params
from freezelab.core.freezing import freeze, get_mask
from freezelab.core.models import weights_source
from freezelab.sources import teacher
from freezelab.sources.source_task import make_source_images
from freezelab.vis.kernels import kernel_stats

# The recipe's held-out accuracy is recorded in data/README.md; a broken
# file, wrong preprocessing or wrong layer order falls far below this.
MIN_SOURCE_ACCURACY = 0.90
# Seeds the recipe never trained on (it used 0..11 and 987654).
UNSEEN_SEED = 2024


@pytest.fixture(scope="module")
def classifier():
    return teacher.load_teacher(input_size=32, verbose=False, with_source_head=True)


def test_layer_names_are_exactly_vgg16s():
    vgg16 = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    base = teacher.load_teacher(input_size=32, verbose=False)
    assert [layer.name for layer in base.layers[1:]] == [layer.name for layer in vgg16.layers[1:]]
    assert base.output.shape == (None, 1, 1, teacher.TEACHER_WIDTHS[-1])
    assert weights_source(base) == "teacher"


def test_load_teacher_says_which_weights(capsys):
    teacher.load_teacher(input_size=48)
    assert "offline teacher" in capsys.readouterr().out


def test_source_task_accuracy_on_unseen_images(classifier):
    held_out = make_source_images(400, image_size=32, seed=UNSEEN_SEED)
    inputs = keras.applications.vgg16.preprocess_input(held_out.images.copy())
    predicted = np.argmax(classifier.predict(inputs, verbose=0), axis=-1)
    assert np.mean(predicted == held_out.labels) >= MIN_SOURCE_ACCURACY


def test_source_accuracy_is_the_share_predicted_right(classifier):
    # The lesson's figure against an independent count made here.
    held_out = make_source_images(200, image_size=32, seed=UNSEEN_SEED)
    inputs = keras.applications.vgg16.preprocess_input(held_out.images.copy())
    expected = np.mean(np.argmax(classifier.predict(inputs, verbose=0), -1) == held_out.labels)
    assert teacher.source_accuracy(classifier, 200, seed=UNSEEN_SEED) == pytest.approx(expected)


def test_source_accuracy_defaults_to_the_held_out_draw(classifier):
    assert teacher.source_accuracy(classifier, 100) == teacher.source_accuracy(
        classifier, 100, seed=987_654
    )


def test_most_first_layer_kernels_detect_edges_or_colours(classifier):
    learned = kernel_stats(classifier.get_layer("block1_conv1").get_weights()[0])
    random_shares = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        untrained = teacher.build_teacher(32)
        random_shares.append(
            kernel_stats(untrained.get_layer("block1_conv1").get_weights()[0]).selective_share
        )
    assert learned.selective_share > 0.5
    assert learned.selective_share > max(random_shares) + 0.3


def test_freezing_and_counts_work_on_the_teacher():
    base = teacher.load_teacher(input_size=32, verbose=False)
    freeze(base, up_to="block3_pool")
    # Hand count: block4 = 3*3*64*128+128 + 2*(3*3*128*128+128); block5 = 3*(3*3*128*128+128).
    block4 = 73_856 + 2 * 147_584
    block5 = 3 * 147_584
    assert count_params(base).trainable == block4 + block5
    mask = get_mask(base)
    assert next(name for name, trains in mask.items() if trains) == "block4_conv1"
    assert sum(int(np.prod(w.shape)) for w in base.trainable_weights) == block4 + block5


def test_pretrained_base_falls_back_to_the_teacher(monkeypatch, capsys):
    monkeypatch.setattr(teacher, "imagenet_available", lambda timeout: False)
    base = teacher.pretrained_base(input_size=32)
    assert weights_source(base) == "teacher"
    assert "using freezelab's offline teacher" in capsys.readouterr().out


def test_pretrained_base_prefers_imagenet_when_available(monkeypatch):
    calls = []
    monkeypatch.setattr(teacher, "imagenet_available", lambda timeout: True)
    monkeypatch.setattr(
        teacher, "load_vgg16", lambda weights, input_size, verbose: calls.append(weights)
    )
    teacher.pretrained_base(input_size=32)
    assert calls == ["imagenet"]


def test_missing_weights_file_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setattr(teacher, "teacher_weights_path", lambda: tmp_path / "none.weights.h5")
    with pytest.raises(FileNotFoundError, match=r"train_teacher\.py"):
        teacher.load_teacher(verbose=False)


@pytest.mark.parametrize(
    "call",
    [
        lambda: teacher.pretrained_base(prefer="resnet"),
        lambda: teacher.build_teacher(16),
        lambda: teacher.build_teacher(32, widths=(8, 8, 8)),
    ],
)
def test_bad_arguments_raise_clear_errors(call):
    with pytest.raises(ValueError, match="Received"):
        call()


def test_cost_model_and_timing_work_on_the_teacher():
    from freezelab.speed.cost import layer_costs
    from freezelab.speed.timing import time_train_step

    base = teacher.load_teacher(input_size=32, verbose=False)
    costs = {cost.name: cost for cost in layer_costs(base)}
    # Hand count: 32*32 output pixels, each 3*3*3 inputs times 16 filters.
    assert costs["block1_conv1"].macs == 32 * 32 * 3 * 3 * 3 * 16
    assert costs["block5_conv3"].params == 147_584
    timing = time_train_step(base, batch_size=2, repeats=2, warmup=1)
    assert timing.median_ms > 0


def test_source_accuracy_hides_only_the_retracing_warning_of_its_predict(monkeypatch):
    """Measuring many freshly trained copies traces predict once per copy; TensorFlow
    would warn about that (2 warnings per process) in the lesson's output."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    retracing = "5 out of the last 5 calls to <predict> triggered tf.function retracing."
    model = teacher.source_classifier(teacher.build_teacher(32))
    original_predict = model.predict

    def predict_that_warns(*args, **kwargs):
        logger.warning(retracing)
        logger.warning("another tensorflow warning")
        return original_predict(*args, **kwargs)

    monkeypatch.setattr(model, "predict", predict_that_warns)
    logger.addHandler(handler)
    try:
        teacher.source_accuracy(model, 4, batch_size=4)
        during = [r.getMessage() for r in records]
        records.clear()
        logger.warning(retracing)  # after the measurement, the warning shows again
        after = [r.getMessage() for r in records]
    finally:
        logger.removeHandler(handler)
    assert during == ["another tensorflow warning"]
    assert after == [retracing]
