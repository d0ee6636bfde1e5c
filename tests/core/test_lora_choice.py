"""Tests for freezelab.core.lora_choice: LoRA on a copy, the rank's range, the factor rule."""

import keras
import numpy as np
import pytest

from freezelab.core.freezing import get_mask, set_mask
from freezelab.core.lora_choice import (
    check_lora_rank,
    keep_lora_rule,
    lora_attention_layers,
    lora_code,
    lora_copy,
    lora_rank_menu,
    lora_variables,
    max_lora_rank,
)
from freezelab.core.models import set_weights_source, weights_source
from freezelab.core.peft import apply_strategy, lora_layer_paths
from freezelab.sources.vit import tiny_vit
from tests.support.helpers import keras_counts

# Width 8 in 2 heads of size 4: the query/value kernels are (8, 2, 4).
SIZES = dict(image_size=8, patch_size=4, width=8, depth=2, num_heads=2, mlp_width=8, num_classes=3)


def small_vit():
    return tiny_vit(**SIZES)


def test_the_targets_are_lesson_07s_query_and_value_projections():
    model = small_vit()
    assert [layer.name for layer in lora_attention_layers(model)] == [
        "block1_attention",
        "block2_attention",
    ]
    lesson = small_vit()
    apply_strategy(lesson, "lora", rank=2)
    expected = {f"{a.name}/{p}" for a in lora_attention_layers(model) for p in ("query", "value")}
    assert set(lora_layer_paths(lesson)) == expected


def test_rank_range_follows_the_head_size(functional):
    model = small_vit()
    assert max_lora_rank(model) == 4  # min(width 8, head size 4)
    assert lora_rank_menu(model) == [0, 1, 2, 4]
    assert lora_rank_menu(tiny_vit(image_size=8, patch_size=4, width=64, depth=1)) == [
        0,
        1,
        2,
        4,
        8,
        16,
    ]
    assert (max_lora_rank(functional), lora_rank_menu(functional)) == (0, [])
    assert check_lora_rank(np.int64(3), model) == 3


@pytest.mark.parametrize("rank", [-1, 5, 2.0, False, "2"])
def test_a_bad_rank_names_what_is_accepted(rank):
    with pytest.raises(ValueError, match=r"an int from 0 \(LoRA off\) to 4.*Received: rank="):
        check_lora_rank(rank, small_vit())


def test_no_rank_for_a_model_without_attention(functional):
    with pytest.raises(ValueError, match=r"has none\. Received: rank=2"):
        check_lora_rank(2, functional)


def test_lora_copy_keeps_the_model_and_copies_weights_and_ticks():
    model = small_vit()
    set_weights_source(model, "teacher")
    set_mask(model, {"block1_mlp1": False, "source_predictions": False})
    before = [w.copy() for w in model.get_weights()]
    copy = lora_copy(model, 2, get_mask(model))
    assert lora_layer_paths(model) == []
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    originals = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    for variable in copy.weights:
        if "lora_kernel" not in variable.path:
            assert np.array_equal(keras.ops.convert_to_numpy(variable), originals[variable.path])
    assert get_mask(copy) == get_mask(model)
    assert weights_source(copy) == "teacher"
    # Same outputs: the B factors start at zero, so the adapted kernels equal the originals.
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_lora_copy_refuses_rank_0_and_a_model_with_lora():
    model = small_vit()
    with pytest.raises(ValueError, match="Received: rank=0"):
        lora_copy(model, 0, get_mask(model))
    apply_strategy(model, "lora", rank=2)
    with pytest.raises(ValueError, match="already has LoRA"):
        lora_copy(model, 2, get_mask(model))


def test_keep_lora_rule_undoes_what_layer_trainable_did():
    model = small_vit()
    apply_strategy(model, "lora", rank=2)
    factors, adapted = lora_variables(model)
    assert len(factors) == 8 and len(adapted) == 4
    attention = model.get_layer("block1_attention")
    attention.trainable = True  # Keras's setter: every variable, the kernels included
    attention.trainable = False
    attention.trainable = True
    assert all(v.trainable for v in attention.query_dense.weights)
    keep_lora_rule(model)
    assert [v.trainable for v in factors] == [True] * 8
    assert [v.trainable for v in adapted] == [False] * 4
    assert not attention.query_dense.weights[0].trainable  # the kernel itself


def test_lora_code_rebuilds_a_copy():
    model = small_vit()
    mask = {**get_mask(model), "block1_attention": False, "patch_embedding": False}
    copy = lora_copy(model, 2, mask)
    fresh = small_vit()
    code = "\n".join(
        [
            "model.trainable = True",
            f"frozen = {sorted(n for n, f in mask.items() if not f)}",
            "for layer in model.layers:",
            "    layer.trainable = layer.name not in frozen",
            lora_code(["block1_attention", "block2_attention"], 2),
        ]
    )
    exec(code, {"model": fresh})
    assert keras_counts(fresh) == keras_counts(copy)
    assert {v.path for v in fresh.trainable_weights} == {v.path for v in copy.trainable_weights}
