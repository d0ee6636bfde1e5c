"""Tests for freezelab.core.layers: the flattened walk, block labels and weight counting."""

import keras
import pytest

from freezelab.core.layers import (
    block_labels,
    block_names,
    block_of,
    iter_layers,
    unique_weights,
    weight_size,
)


def test_flattened_walk_opens_a_nested_base_in_order(vgg_nested):
    refs = iter_layers(vgg_nested)
    inner = [layer.name for layer in vgg_nested.layers[1].layers]
    names = [ref.name for ref in refs]
    # The model's input, then the nested base's own layers, then the head, each once.
    assert names[0] == vgg_nested.layers[0].name
    assert names[1 : 1 + len(inner)] == inner
    assert names[1 + len(inner) :] == [layer.name for layer in vgg_nested.layers[2:]]
    assert all(ref.nested_in == vgg_nested.layers[1].name for ref in refs[1 : 1 + len(inner)])
    assert refs[-1].top_index == len(vgg_nested.layers) - 1


def test_blocks_of_vgg16_match_its_layer_names(vgg_flat):
    refs = iter_layers(vgg_flat)
    assert refs[0].block == "input"
    assert {ref.block for ref in refs if ref.name.startswith("block3_")} == {"block3"}
    assert [ref.block for ref in refs if not ref.name.startswith(("block", "input"))] == [
        "head"
    ] * 3
    assert block_names(refs) == ["block1", "block2", "block3", "block4", "block5"]
    assert block_names(refs, include_head=True)[-1] == "head"


def test_block_labels_rule_on_names_alone():
    names = ["stem", "block1_conv1", "block1_pool", "flatten", "dense"]
    assert block_labels(names) == ["", "block1", "block1", "head", "head"]
    assert block_labels(["input_1", "block1_conv1"], inputs={"input_1"}) == ["input", "block1"]
    assert block_of("block12_conv3") == "block12" and block_of("myblock1_conv") is None


def test_model_without_vgg_names_has_no_blocks(sequential):
    refs = iter_layers(sequential)
    assert {ref.block for ref in refs} == {""}
    assert block_names(refs) == []


def test_a_variable_is_counted_once_at_its_first_layer(small_vgg_flat):
    refs = iter_layers(small_vgg_flat)
    pairs = list(unique_weights(refs + refs))  # every variable offered twice
    assert len(pairs) == len(small_vgg_flat.weights)
    assert sum(weight_size(v) for _, v in pairs) == small_vgg_flat.count_params()
    first = next(ref for ref, _ in pairs)
    assert first.name == "block1_conv1"


def test_weight_size_is_the_product_of_the_shape():
    assert weight_size(keras.Variable(keras.ops.zeros((3, 3, 64, 128)))) == 3 * 3 * 64 * 128


def test_iter_layers_rejects_what_is_not_a_model():
    with pytest.raises(ValueError, match="Received: model='vgg16'"):
        iter_layers("vgg16")
