"""The BN teacher: its architecture by hand, and the shipped weights really pretrained."""

import re
from pathlib import Path

import numpy as np
import pytest

from freezelab.core.models import describe_weights, weights_source
from freezelab.finetune.batchnorm import bn_counts, bn_layers
from freezelab.sources.bn_teacher import (
    BN_TEACHER_SOURCE,
    SOURCE_HELD_OUT_SEED,
    bn_source_images,
    bn_teacher_weights_path,
    build_bn_teacher,
    load_bn_teacher,
)
from freezelab.sources.teacher import source_accuracy
from tests.support.helpers import keras_counts

# 3x3 convolutions without bias: 3*16, 16*32, 32*64, 64*128 input-output pairs.
CONV_PARAMS = 9 * (3 * 16 + 16 * 32 + 32 * 64 + 64 * 128)
BN_CHANNELS = 16 + 32 + 64 + 128


def test_architecture_counts_and_names_by_hand():
    base = build_bn_teacher(32)
    assert CONV_PARAMS == 97_200
    assert keras_counts(base) == (CONV_PARAMS + 2 * BN_CHANNELS, 2 * BN_CHANNELS)
    assert [layer.name for layer in bn_layers(base)] == [f"block{i}_bn" for i in range(1, 5)]
    assert base.output.shape[1:] == (4, 4, 128)  # 32 px halved by three poolings
    assert base.get_layer("block1_conv").bias is None


def test_bad_architecture_arguments_are_refused():
    with pytest.raises(ValueError, match="widths"):
        build_bn_teacher(32, widths=(16, 0))
    with pytest.raises(ValueError, match="widths"):
        build_bn_teacher(32, widths=())
    with pytest.raises(ValueError):
        build_bn_teacher(16)


def test_shipped_weights_are_small_and_hold_trained_statistics():
    assert bn_teacher_weights_path().stat().st_size < 1_000_000
    base = load_bn_teacher(32, verbose=False)
    assert weights_source(base) == BN_TEACHER_SOURCE
    assert bn_counts(base).moving == 2 * BN_CHANNELS
    first = base.get_layer("block1_bn")
    # A fresh layer starts at mean 0, variance 1; pretraining on caffe-scaled
    # pixels (spread about 64) leaves both far from that.
    assert np.abs(np.array(first.moving_mean)).max() > 1.0
    assert np.array(first.moving_variance).min() > 1.0


def test_pretrained_on_the_source_task_far_above_chance():
    classifier = load_bn_teacher(32, with_source_head=True, verbose=False)
    # An unseen seed (neither a training epoch nor the held-out set); chance is 0.05.
    assert source_accuracy(classifier, num_images=200, seed=2024) >= 0.85


def test_source_accuracy_refuses_a_model_with_other_outputs():
    with pytest.raises(ValueError, match="20 source classes"):
        source_accuracy(build_bn_teacher(32))


def test_source_images_are_the_held_out_draw_and_balanced():
    data = bn_source_images(40, image_size=16)
    assert data.seed == SOURCE_HELD_OUT_SEED
    assert np.bincount(data.labels).tolist() == [2] * 20
    assert data.images.shape == (40, 16, 16, 3)
    with pytest.raises(ValueError, match="num_images"):
        bn_source_images(0)


def test_held_out_seed_is_the_one_the_teacher_recipe_holds_out():
    recipe = Path(__file__).resolve().parents[2] / "tools" / "train_teacher.py"
    teacher_seed = re.search(r"^HELD_OUT_SEED = ([\d_]+)$", recipe.read_text(), re.M)
    assert int(teacher_seed.group(1)) == SOURCE_HELD_OUT_SEED


def test_notice_says_who_pretrained_it_where_and_on_what():
    line = describe_weights(load_bn_teacher(32, verbose=False))
    assert "pretrained by tools/train_bn_teacher.py on its 20-class source task" in line
    assert "(not ImageNet)" in line
    assert "data/bn_teacher.weights.h5" in line
    assert "pretrained here" not in line  # "here" read as "in this notebook"
