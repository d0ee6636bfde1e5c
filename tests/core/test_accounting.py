import pytest

from freezelab.core.accounting import count_params, layer_table, param_report
from freezelab.core.freezing import freeze
from tests.support.helpers import keras_counts

# Hand-computed: a 3x3 conv with c_in inputs and c_out filters has 9*c_in*c_out + c_out.
VGG16_CONV_PARAMS = sum(
    9 * cin * cout + cout
    for cin, cout in [
        (3, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ]
)


def test_vgg16_base_total_matches_hand_computation(vgg_flat):
    assert VGG16_CONV_PARAMS == 14_714_688
    conv_rows = [row for row in layer_table(vgg_flat) if row.type == "Conv2D"]
    assert len(conv_rows) == 13
    assert sum(row.params for row in conv_rows) == VGG16_CONV_PARAMS


def test_sequential_first_dense_frozen_matches_keras(sequential):
    freeze(sequential, "dense_64")
    counts = count_params(sequential)
    assert (counts.trainable, counts.non_trainable) == keras_counts(sequential)
    # 100*64+64 frozen; 64*32+32 + 32*10+10 trainable.
    assert counts.non_trainable == 6464
    assert counts.trainable == 2080 + 330


def test_functional_middle_dense_frozen_matches_keras(functional):
    freeze(functional, "dense_32")
    counts = count_params(functional)
    assert (counts.trainable, counts.non_trainable) == keras_counts(functional)
    assert counts.non_trainable == 2080


def test_vgg_flat_first_ten_layers_frozen_matches_keras(vgg_flat):
    freeze(vgg_flat, slice(0, 10))
    counts = count_params(vgg_flat)
    assert (counts.trainable, counts.non_trainable) == keras_counts(vgg_flat)
    assert counts.non_trainable == 38_720 + 221_440 + 1_475_328  # blocks 1-3


def test_vgg_nested_base_frozen_matches_keras(vgg_nested):
    vgg_nested.get_layer("vgg16").trainable = False
    counts = count_params(vgg_nested)
    assert (counts.trainable, counts.non_trainable) == keras_counts(vgg_nested)
    assert counts.non_trainable == VGG16_CONV_PARAMS
    assert counts.trainable == (7 * 7 * 512 * 256 + 256) + (256 * 10 + 10)


def test_inner_layer_unfrozen_inside_frozen_base_matches_keras(vgg_nested):
    vgg_nested.get_layer("vgg16").trainable = False
    vgg_nested.get_layer("vgg16").get_layer("block5_conv3").trainable = True
    counts = count_params(vgg_nested)
    assert (counts.trainable, counts.non_trainable) == keras_counts(vgg_nested)


def test_whole_model_frozen_matches_keras(vgg_flat):
    vgg_flat.trainable = False
    counts = count_params(vgg_flat)
    assert counts.trainable == 0
    assert (counts.trainable, counts.non_trainable) == keras_counts(vgg_flat)


def test_batchnorm_moving_statistics_are_non_trainable():
    import keras

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()]
    )
    row = layer_table(model)[-1]
    assert row.trainable == "partly"
    assert (count_params(model).trainable, count_params(model).non_trainable) == keras_counts(model)


def test_table_rows_have_blocks_shapes_and_types(vgg_flat):
    rows = {row.name: row for row in layer_table(vgg_flat)}
    assert rows["block3_conv2"].block == "block3"
    assert rows["block3_conv2"].output_shape == (None, 56, 56, 256)
    assert rows["predictions"].block == "head"
    assert rows["block1_pool"].params == 0
    assert rows["block1_pool"].trainable == "-"


def test_report_renders_text_and_html(vgg_flat):
    freeze(vgg_flat, "block1")
    report = param_report(vgg_flat, only_weighted=True)
    text = report.text()
    assert "block1_conv1" in text and "block1_pool" not in text
    assert f"{count_params(vgg_flat).trainable:,}" in text
    html = report._repr_html_()
    assert "<table>" in html and "frozen" in html


def test_count_params_rejects_non_models():
    with pytest.raises(ValueError, match="Received"):
        count_params("vgg16")
