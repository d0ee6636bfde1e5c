"""Tests for freezelab.core.peft: each strategy's counts against Keras's lists and hand
counts, frozen weights bit-identical after fit(), and LoRA merged into plain kernels."""

import keras
import numpy as np
import pytest

from freezelab.core import peft
from freezelab.sources.vit import tiny_vit

D, HEADS, MLP, DEPTH, CLASSES, PATCH, SIZE = 8, 2, 16, 2, 3, 4, 8
HEAD = 2 * D + D * CLASSES + CLASSES  # final_norm gamma/beta, softmax kernel and bias
BLOCK = 4 * D + 4 * (D * D + D) + (D * MLP + MLP) + (MLP * D + D)
ALL = PATCH * PATCH * 3 * D + D + (SIZE // PATCH) ** 2 * D + DEPTH * BLOCK + HEAD


def small_vit(seed=0):
    return tiny_vit(
        image_size=SIZE,
        patch_size=PATCH,
        width=D,
        depth=DEPTH,
        num_heads=HEADS,
        mlp_width=MLP,
        num_classes=CLASSES,
        seed=seed,
    )


def size(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def lora_count(rank):
    # Keras's shapes for MultiHeadAttention's EinsumDense projections (kernel (d, h, d/h)):
    # A is (d, h, rank), B is (rank, d/h); two projections (query, value) per block.
    return 2 * DEPTH * (D * HEADS * rank + rank * D // HEADS)


HAND_COUNTS = {
    "head": HEAD,
    "top_blocks": HEAD + BLOCK,
    # Biases: patch embedding; per block q, k, v, output (d each), MLP (m + d); norms 4d.
    "bitfit": D + DEPTH * (4 * D + 4 * D + MLP + D) + HEAD,
    "lora": lora_count(2) + HEAD,
    "full": ALL,
}


@pytest.mark.parametrize("strategy", peft.PEFT_STRATEGIES)
def test_counts_equal_keras_lists_and_the_hand_count(strategy):
    model = small_vit()
    result = peft.apply_strategy(model, strategy, top_blocks=1, rank=2)
    assert result.trainable_params == size(model.trainable_weights) == HAND_COUNTS[strategy]
    extra = lora_count(2) if strategy == "lora" else 0
    assert result.all_params == size(model.weights) == ALL + extra
    assert result.peft_line().startswith(f"trainable params: {HAND_COUNTS[strategy]:,} ||")


def test_bitfit_trains_only_biases_norms_and_the_head():
    model = small_vit()
    peft.apply_strategy(model, "bitfit")
    names = {v.path for v in model.trainable_weights}
    assert {path.rsplit("/", 1)[-1] for path in names} == {"bias", "gamma", "beta", "kernel"}
    assert {p for p in names if p.endswith("kernel")} == {"source_predictions/kernel"}
    assert "position_embedding/embeddings" not in names


def test_lora_factors_have_kerass_shapes_and_nothing_else_in_attention_trains():
    model = small_vit()
    result = peft.apply_strategy(model, "lora", rank=2)
    attention = [v for v in model.trainable_weights if "attention" in v.path]
    assert {v.path.split("/", 1)[1] for v in attention} == {
        "query/lora_kernel_a",
        "query/lora_kernel_b",
        "value/lora_kernel_a",
        "value/lora_kernel_b",
    }
    assert {tuple(v.shape) for v in attention} == {(D, HEADS, 2), (2, D // HEADS)}
    assert sorted(result.lora_layers) == sorted(
        f"block{b}_attention/{p}" for b in (1, 2) for p in ("query", "value")
    )
    # The textbook count for a d x d matrix would be rank * (d + d) per projection.
    assert lora_count(2) != 2 * DEPTH * 2 * (D + D)


def test_peft_line_is_formatted_as_peft_prints_it():
    assert peft.peft_line(10_132, 151_252) == (
        "trainable params: 10,132 || all params: 151,252 || trainable%: 6.6988"
    )


@pytest.mark.parametrize("strategy", ["head", "bitfit", "lora"])
def test_frozen_weights_are_bit_identical_after_fit(strategy):
    model = small_vit()
    peft.apply_strategy(model, strategy, rank=2)
    trainable = {id(v) for v in model.trainable_weights}
    before = {v.path: np.array(v) for v in model.weights}
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 60, size=(8, SIZE, SIZE, 3)).astype("float32")
    model.fit(x, rng.integers(0, CLASSES, size=8), batch_size=4, epochs=2, verbose=0)
    for variable in model.weights:
        moved = not np.array_equal(before[variable.path], np.array(variable))
        assert moved == (id(variable) in trainable), variable.path


def test_merged_model_gives_the_same_outputs_without_lora_variables():
    model = small_vit()
    peft.apply_strategy(model, "lora", rank=2)
    rng = np.random.default_rng(1)
    for variable in model.weights:
        if variable.name == "lora_kernel_b":  # zero at start: give LoRA an effect to merge
            variable.assign(rng.normal(0, 0.5, size=variable.shape))
    x = rng.normal(0, 60, size=(6, SIZE, SIZE, 3)).astype("float32")
    merged = peft.merge_lora(model)
    assert not [v.path for v in merged.weights if "lora" in v.path]
    assert peft.lora_layer_paths(merged) == []
    assert len(peft.lora_layer_paths(model)) == 2 * DEPTH  # the original keeps its LoRA
    outputs = model.predict(x, verbose=0)
    np.testing.assert_allclose(merged.predict(x, verbose=0), outputs, rtol=0, atol=1e-6)
    # And the update matters: the weights without it give other outputs.
    assert np.abs(small_vit().predict(x, verbose=0) - outputs).max() > 1e-3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(strategy="lorra"), "Did you mean: 'lora'"),
        (dict(strategy="lora", rank=0), r"Received: rank=0"),
        (dict(strategy="top_blocks", top_blocks=3), r"Received: top_blocks=3"),
    ],
)
def test_bad_arguments_raise_keras_style(arguments, message):
    with pytest.raises(ValueError, match=message):
        peft.apply_strategy(small_vit(), **arguments)


def test_lora_twice_and_models_without_blocks_are_refused():
    model = small_vit()
    peft.apply_strategy(model, "lora", rank=2)
    with pytest.raises(ValueError, match="already enabled"):
        peft.apply_strategy(model, "full")
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="layers named by block"):
        peft.apply_strategy(plain, "head")


def test_resetting_trainable_after_lora_unfreezes_the_adapted_kernels():
    # The setter sets every trainable-capable variable's own flag, the kernel enable_lora
    # froze included: the pitfall apply_strategy's order (LoRA last) avoids.
    model = small_vit()
    peft.apply_strategy(model, "lora", rank=2)
    assert "block1_attention/query/kernel" not in {v.path for v in model.trainable_weights}
    model.trainable = False
    model.trainable = True
    assert "block1_attention/query/kernel" in {v.path for v in model.trainable_weights}


def test_assigning_the_same_trainable_value_is_skipped_only_on_tensorflow():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    layer.kernel.trainable = False
    layer.trainable = True  # already True
    assert layer.kernel.trainable == (keras.backend.backend() != "tensorflow")


@pytest.mark.parametrize(("second", "expected"), [("full", ALL), ("head", HEAD)])
def test_a_second_strategy_resets_the_first_ones_per_variable_flags(second, expected):
    model = small_vit()
    peft.apply_strategy(model, "bitfit")
    assert peft.apply_strategy(model, second).trainable_params == expected
