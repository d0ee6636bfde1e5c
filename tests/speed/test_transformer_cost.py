"""The cost model's transformer formulas against hand counts (d=8, 2 heads, 4 tokens)."""

import math

import keras
import pytest
from keras import layers

from freezelab.core.peft import apply_strategy
from freezelab.sources.vit import tiny_vit
from freezelab.speed.cost import layer_costs, step_cost, trained_variables
from freezelab.speed.transformer_cost import is_added_table

# One attention layer, self-attention, batch 1: T = S = 4 tokens, d = 8, h = 2 heads of
# k = v = 4 dimensions (h * k = d = 8).
#   projections: query, key, value, output: 2 * T * d * d = 2 * 4 * 8 * 8 = 512 FLOPs each
#   scores Q K^T: 2 * h * T * S * k = 2 * 2 * 4 * 4 * 4 = 256 (= 2 * tokens^2 * d)
#   weights . V:  2 * h * T * S * v = 256
#   softmax: 3 per weight, h * T * S = 32 weights -> 96
#   query scaling by 1/sqrt(k): T * h * k = 32
#   biases: 32 output elements per projection -> 4 * 32 = 128
ATTENTION_FORWARD = 4 * 512 + 256 + 256 + 96 + 32 + 128  # 2816
# Input gradient: each projection's input gradient (4 * 512), through both score products
# (two inputs each, one product per input: 2 * 256 + 2 * 256), softmax 96, scaling 32.
ATTENTION_INPUT_GRAD = 4 * 512 + 4 * 256 + 96 + 32  # 3200
# Every weight: 4 kernel gradients (4 * 512) + 4 bias sums (4 * 32), and the path to the
# query, key and value: output projection's input gradient 512, both score products
# 4 * 256, softmax 96, scaling 32.
ATTENTION_WEIGHT_GRAD = 4 * 512 + 4 * 32 + 512 + 4 * 256 + 96 + 32  # 3840


def attention_model():
    inputs = keras.Input((4, 8))
    outputs = layers.MultiHeadAttention(2, key_dim=4, name="attention")(inputs, inputs)
    return keras.Model(inputs, outputs)


def small_vit():
    """Tokens of 4 patches, width 8, 2 heads, MLP 16, 3 classes, one block."""
    return tiny_vit(
        image_size=8, patch_size=4, width=8, depth=1, num_heads=2, mlp_width=16, num_classes=3
    )


def test_one_attention_layer_by_hand():
    cost = {c.name: c for c in layer_costs(attention_model())}["attention"]
    assert cost.forward_flops == ATTENTION_FORWARD == 2816
    assert cost.input_grad_flops == ATTENTION_INPUT_GRAD == 3200
    assert cost.weight_grad_flops == ATTENTION_WEIGHT_GRAD == 3840
    assert cost.macs == 4 * 256 + 128 + 128
    assert cost.params == 4 * (8 * 8) + 3 * 8 + 8


def test_attention_scales_with_tokens_squared_in_the_scores_only():
    def forward(tokens):
        inputs = keras.Input((tokens, 8))
        outputs = layers.MultiHeadAttention(2, key_dim=4, name="attention")(inputs, inputs)
        return layer_costs(keras.Model(inputs, outputs))[-1].forward_flops

    # per token: projections 4 * 2 * 64 + biases 32 + scaling 8 = 552; per token pair:
    # two score products 2 * 2 * 2 * 4 = 32 and softmax 3 * 2 = 6 -> 38
    for tokens in (1, 4, 9):
        assert forward(tokens) == 552 * tokens + 38 * tokens**2


def test_one_vit_block_by_hand():
    costs = {c.name: c for c in layer_costs(small_vit(), batch_size=1)}
    # Tokens 4 x width 8 = 32 elements. LayerNormalization: 5 per element forward and back;
    # gamma gradient 2 per element, beta 1.
    assert costs["block1_norm1"].forward_flops == 5 * 32
    assert costs["block1_norm1"].weight_grad_flops == 3 * 32
    assert costs["block1_attention"].forward_flops == ATTENTION_FORWARD
    assert costs["block1_add1"].forward_flops == 32
    # mlp1: Dense on token sequences, 4 tokens x 8 x 16 = 512 multiply-adds, 64 outputs:
    # 2 * 512 + bias 64 + GELU 5 * 64
    mlp1 = costs["block1_mlp1"]
    assert mlp1.macs == 4 * 8 * 16
    assert mlp1.forward_flops == 2 * 512 + 64 + 5 * 64 == 1408
    assert mlp1.input_grad_flops == 2 * 512
    assert mlp1.weight_grad_flops == 2 * 512 + 64
    assert mlp1.activation_grad_flops == 64 + 5 * 64
    # mlp2: 4 x 16 x 8 = 512 multiply-adds, linear, 32 outputs
    assert costs["block1_mlp2"].forward_flops == 2 * 512 + 32
    # the position table: one add per element, its gradient one sum per element
    position = costs["position_embedding"]
    assert (position.forward_flops, position.input_grad_flops, position.weight_grad_flops) == (
        32,
        32,
        32,
    )
    assert costs["patch_tokens"].forward_flops == 0
    assert costs["token_pool"].forward_flops == 32  # one add per element pooled
    block = sum(c.forward_flops for c in costs.values() if c.block == "block1")
    assert block == 160 + 2816 + 32 + 160 + 1408 + 1056 + 32


@pytest.mark.parametrize("strategy", ["full", "head", "top_blocks", "bitfit", "lora"])
def test_layer_costs_and_step_cost_count_what_keras_counts(strategy):
    model = tiny_vit(depth=2, width=16, mlp_width=32, num_heads=2)
    apply_strategy(model, strategy, rank=2)
    assert sum(c.params for c in layer_costs(model)) == model.count_params()
    keras_trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    assert step_cost(model).trainable_params == keras_trainable


def by_name(cost):
    return {row.name: row for row in cost.layers}


def test_bitfit_pays_every_input_gradient_and_only_bias_sums():
    model = small_vit()
    apply_strategy(model, "bitfit")
    variables = trained_variables(model)
    assert variables["block1_mlp1"] == ("bias",)
    assert variables["block1_attention"] == (
        "query/bias",
        "key/bias",
        "value/bias",
        "attention_output/bias",
    )
    rows = by_name(step_cost(model))
    # patch_embedding is the lowest trainable layer: its bias sum (2 x 2 x 8 = 32) and the
    # fused bias's backward (32), no kernel gradient, no input gradient
    assert rows["patch_embedding"].backward_flops == 32 + 32
    assert not rows["patch_embedding"].computes_input_grad
    # mlp1: input gradient 1024 + bias sum 64 + fused bias and GELU 64 + 320
    assert rows["block1_mlp1"].backward_flops == 1024 + 64 + 384
    # attention: the whole input gradient (3200) already passes every path; + 4 bias sums
    assert rows["block1_attention"].backward_flops == 3200 + 4 * 32
    # the position table does not train under BitFit, but passes the gradient down
    assert rows["position_embedding"].backward_flops == 32
    full = step_cost(small_vit())
    bitfit = step_cost(model)
    # skipped: the kernel gradients of patch_embedding (2 x 2 x 8 outputs x 48 = 1536
    # multiply-adds), the attention (4 x 512), mlp1 and mlp2 (1024 each), and the position
    # table's sum (32); the head trains under both
    skipped = 2 * 1536 + 4 * 512 + 1024 + 1024 + 32
    assert full.backward_flops - bitfit.backward_flops == skipped == 7200


def test_lora_pays_the_adapted_kernel_gradient_and_the_factors():
    model = small_vit()
    apply_strategy(model, "lora", rank=2)
    rows = by_name(step_cost(model))
    # The attention layer is the lowest trainable one: no input gradient. The query
    # factors need the path output 512 -> weights 256 -> softmax 96 -> scores (query) 256
    # -> scaling 32; the value factors the path output -> weights . V (value) 256. Each
    # adapted kernel (64 scalars): its full gradient 512, the scale 64, each factor
    # 2 * 64 * 2 = 256.
    path = 512 + 256 + 96 + 256 + 32 + 256
    per_projection = 512 + 64 + 2 * 256
    assert rows["block1_attention"].backward_flops == path + 2 * per_projection == 3584
    assert not rows["block1_attention"].computes_input_grad
    assert rows["block1_norm1"].backward_flops == 0
    # Forward: the frozen layer's forward plus A @ B (2 * 64 * 2) and its scale and
    # addition (2 * 64), per adapted projection
    costs = {c.name: c for c in layer_costs(model)}
    assert costs["block1_attention"].forward_flops == 2816 + 2 * (256 + 128)


def test_head_only_pays_the_head_alone():
    model = small_vit()
    apply_strategy(model, "head")
    rows = by_name(step_cost(model))
    assert sum(r.backward_flops for r in rows.values() if r.block != "head") == 0
    # final_norm gamma/beta 96; token_pool passes 32; predictions: kernel 48 + bias 3,
    # input 48, fused bias and softmax 3 + 3
    assert sum(r.backward_flops for r in rows.values()) == 96 + 32 + 51 + 48 + 6


def test_a_mask_overrides_the_variables_of_the_layers_it_names():
    model = small_vit()
    apply_strategy(model, "bitfit")
    bitfit = step_cost(model)
    with_kernel = step_cost(model, {"block1_mlp1": True})
    assert with_kernel.backward_flops - bitfit.backward_flops == 2 * 512
    assert with_kernel.trainable_params - bitfit.trainable_params == 8 * 16
    assert step_cost(model, {"block1_mlp1": False}).trainable_params == bitfit.trainable_params - 16


def test_full_strategy_matches_the_layer_level_reading():
    model = small_vit()
    cost = step_cost(model)
    assert cost.relative_cost == 1.0
    assert cost.trainable_params == model.count_params()


def test_position_table_is_recognised_by_shape_not_name():
    model = small_vit()
    assert is_added_table(model.get_layer("position_embedding"))
    assert not is_added_table(model.get_layer("block1_norm1"))
