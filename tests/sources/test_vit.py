"""Tests for freezelab.sources.vit: the tiny ViT's layout and counts, and the shipped teacher."""

import random

import h5py
import numpy as np
import pytest

from freezelab.core.layers import iter_layers
from freezelab.core.models import weights_source
from freezelab.sources import vit
from freezelab.sources.source_task import HELD_OUT_SEED
from freezelab.sources.teacher import source_accuracy

SMALL = dict(image_size=8, patch_size=4, width=8, depth=2, num_heads=2, mlp_width=16, num_classes=3)


def hand_count(image_size, patch_size, width, depth, num_heads, mlp_width, num_classes):
    """Parameters of a pre-norm ViT, written out layer by layer (heads do not change it)."""
    d, m = width, mlp_width
    patch = patch_size * patch_size * 3 * d + d
    positions = (image_size // patch_size) ** 2 * d
    norms = 2 * (2 * d)  # two LayerNormalizations: gamma and beta each
    attention = 4 * (d * d + d)  # query, key, value, output projections with biases
    mlp = (d * m + m) + (m * d + d)
    head = 2 * d + d * num_classes + num_classes  # final norm, softmax layer
    return patch + positions + depth * (norms + attention + mlp) + head


def test_parameter_count_equals_the_hand_count():
    assert hand_count(**SMALL) == 392 + 32 + 2 * 600 + 43  # the count done on paper
    assert vit.tiny_vit(**SMALL).count_params() == hand_count(**SMALL) == 1667
    teacher_config = dict(
        image_size=32, patch_size=4, width=64, depth=4, num_heads=4, mlp_width=128, num_classes=20
    )
    assert vit.tiny_vit().count_params() == hand_count(**teacher_config) == 142_548


def test_layer_names_say_which_block_each_layer_is_in():
    refs = iter_layers(vit.tiny_vit(**SMALL))
    blocks = {ref.name: ref.block for ref in refs}
    assert blocks["block1_attention"] == "block1"
    assert blocks["block2_mlp2"] == "block2"
    assert [name for name, block in blocks.items() if block == "head"] == [
        "final_norm",
        "token_pool",
        "source_predictions",
    ]
    assert [name for name, block in blocks.items() if block == ""] == [
        "input_scale",
        "patch_embedding",
        "patch_tokens",
        "position_embedding",
    ]
    per_block = [name for name, block in blocks.items() if block == "block2"]
    assert per_block == [f"block2_{part}" for part in vit.BLOCK_PARTS]


def test_same_seed_same_weights_and_global_random_state_untouched():
    state = random.getstate()
    first = vit.tiny_vit(**SMALL, seed=3).get_weights()
    assert random.getstate() == state
    second = vit.tiny_vit(**SMALL, seed=3).get_weights()
    other = vit.tiny_vit(**SMALL, seed=4).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(first[0], other[0])


def test_query_and_key_start_different():
    # One initializer serves all four projections: they must still get their own draws.
    attention = vit.tiny_vit(**SMALL).get_layer("block1_attention")
    query = np.asarray(attention.query_dense.kernel)
    assert not np.array_equal(query, np.asarray(attention.key_dense.kernel))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(image_size=10, patch_size=4), "Received: image_size=10"),
        (dict(width=10, num_heads=4), "Received: width=10"),
        (dict(depth=0), "Received: depth=0"),
    ],
)
def test_bad_sizes_are_refused_keras_style(arguments, message):
    with pytest.raises(ValueError, match=message):
        vit.tiny_vit(**arguments)


def test_shipped_teacher_says_which_weights_and_reproduces_its_held_out_accuracy(capsys):
    model = vit.load_vit_teacher()
    assert "data/vit_teacher.weights.h5" in capsys.readouterr().out
    assert weights_source(model) == vit.VIT_TEACHER_SOURCE
    # The recorded figure, on the same 2,000 held-out images; 5 images of slack for
    # float differences across machines (a wrong file or preprocessing falls far below).
    accuracy = source_accuracy(model, 2000, seed=HELD_OUT_SEED)
    assert abs(accuracy - vit.VIT_TEACHER_HELD_OUT_ACCURACY) <= 5 / 2000


def test_loaded_weights_are_the_files_arrays_bit_for_bit():
    def fingerprints(arrays):
        return sorted((a.shape, a.dtype.str, a.tobytes()) for a in arrays)

    stored = []
    with h5py.File(vit.vit_teacher_weights_path(), "r") as handle:
        handle.visititems(
            lambda _, item: (
                stored.append(np.asarray(item)) if isinstance(item, h5py.Dataset) else None
            )
        )
    loaded = vit.load_vit_teacher(verbose=False).get_weights()
    assert fingerprints(stored) == fingerprints(loaded)
    assert not np.array_equal(loaded[0], vit.tiny_vit(seed=0).get_weights()[0])  # trained
