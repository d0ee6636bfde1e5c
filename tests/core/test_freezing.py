import keras
import pytest

from freezelab.core.freezing import freeze, get_mask, select_layers, set_mask, unfreeze
from tests.support.helpers import keras_counts


def names(layers):
    return [layer.name for layer in layers]


def test_index_and_slice_follow_model_layers(vgg_flat):
    assert names(select_layers(vgg_flat, 1)) == [vgg_flat.layers[1].name]
    assert names(select_layers(vgg_flat, slice(0, 10))) == names(vgg_flat.layers[:10])
    assert names(select_layers(vgg_flat, -1)) == ["predictions"]


def test_index_on_nested_model_selects_the_whole_base(vgg_nested):
    assert names(select_layers(vgg_nested, 1)) == ["vgg16"]
    freeze(vgg_nested, 1)
    assert vgg_nested.get_layer("vgg16").trainable is False
    assert keras_counts(vgg_nested)[1] == 14_714_688


def test_name_glob_and_block(vgg_flat):
    assert names(select_layers(vgg_flat, "block2_conv1")) == ["block2_conv1"]
    assert names(select_layers(vgg_flat, "block[1-2]_conv*")) == [
        "block1_conv1",
        "block1_conv2",
        "block2_conv1",
        "block2_conv2",
    ]
    assert names(select_layers(vgg_flat, "block5")) == [
        "block5_conv1",
        "block5_conv2",
        "block5_conv3",
        "block5_pool",
    ]
    assert "predictions" in names(select_layers(vgg_flat, "head"))


def test_names_reach_inside_nested_base(vgg_nested):
    freeze(vgg_nested, "block1")
    inner = vgg_nested.get_layer("vgg16")
    assert inner.get_layer("block1_conv1").trainable is False
    assert inner.get_layer("block2_conv1").trainable is True


def test_up_to_includes_the_named_layer(vgg_flat):
    selected = names(select_layers(vgg_flat, up_to="block3_pool"))
    assert selected[-1] == "block3_pool"
    assert "block4_conv1" not in selected
    assert names(select_layers(vgg_flat, up_to="block2")) == names(
        select_layers(vgg_flat, up_to="block2_pool")
    )


def test_freeze_up_to_counts_match_keras(vgg_flat):
    freeze(vgg_flat, up_to="block3_pool")
    _trainable, non_trainable = keras_counts(vgg_flat)
    assert non_trainable == 38_720 + 221_440 + 1_475_328


def test_list_spec_mixes_kinds_and_dedups(vgg_flat):
    selected = names(select_layers(vgg_flat, ["block1", "block1_conv1", 0]))
    assert selected.count("block1_conv1") == 1
    assert selected[0] == "block1_conv1"


def test_unfreeze_inside_frozen_nested_base_keeps_others_frozen(vgg_nested):
    base = vgg_nested.get_layer("vgg16")
    base.trainable = False
    changed = unfreeze(vgg_nested, "block5")
    assert "block5_conv3" in changed
    assert base.trainable is True
    assert base.get_layer("block4_conv3").trainable is False
    mask = get_mask(vgg_nested)
    assert mask["block5_conv1"] and not mask["block4_conv3"]
    expected_trainable = (
        sum(layer.count_params() for layer in base.layers if layer.name.startswith("block5"))
        + vgg_nested.get_layer("head_dense_1").count_params()
        + vgg_nested.get_layer("predictions").count_params()
    )
    assert keras_counts(vgg_nested)[0] == expected_trainable


def test_get_mask_agrees_with_keras_trainable_weights(vgg_flat):
    freeze(vgg_flat, ["block1", "block3_conv2", "predictions"])
    trainable_ids = {id(w) for w in vgg_flat.trainable_weights}
    for name, trains in get_mask(vgg_flat).items():
        layer = vgg_flat.get_layer(name)
        assert trains == all(id(w) in trainable_ids for w in layer.weights), name


def test_set_mask_round_trips(vgg_flat):
    freeze(vgg_flat, "block[1-3]_*")
    mask = get_mask(vgg_flat)
    other = keras.models.clone_model(vgg_flat)
    set_mask(other, mask)
    assert get_mask(other) == mask


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("block9", r"block9.*Did you mean.*block"),
        ("blok1_conv1", r"block1_conv1"),
        ("zz*", r"matches no layer.*Received: 'zz\*'"),
        (99, r"valid indices are -\d+\.\.\d+\. Received: 99"),
        (1.5, r"Received: 1.5 of type float"),
        (True, r"Received: True"),
    ],
)
def test_bad_specs_raise_clear_errors(vgg_flat, spec, expected):
    with pytest.raises(ValueError, match=expected):
        freeze(vgg_flat, spec)


def test_nothing_selected_is_an_error(vgg_flat):
    with pytest.raises(ValueError, match="Received: spec=None"):
        freeze(vgg_flat)


def test_bad_up_to_suggests_closest(vgg_flat):
    with pytest.raises(ValueError, match=r"block3_pool.*Received: up_to='block3_pol'"):
        freeze(vgg_flat, up_to="block3_pol")


def test_bad_mask_is_rejected_before_any_change(vgg_flat):
    before = get_mask(vgg_flat)
    with pytest.raises(ValueError, match="no_such_layer"):
        set_mask(vgg_flat, {"block1_conv1": False, "no_such_layer": False})
    assert get_mask(vgg_flat) == before
    with pytest.raises(ValueError, match="True or False"):
        set_mask(vgg_flat, {"block1_conv1": "no"})


def test_slices_are_checked_like_indices(small_vgg_flat):
    count = len(small_vgg_flat.layers)
    # The full range is fine at both ends, as in Python.
    assert names(select_layers(small_vgg_flat, slice(-count, count))) == names(
        small_vgg_flat.layers
    )
    for bad in (slice(0, count + 1), slice(-count - 1, None), slice(count + 5, count + 9)):
        with pytest.raises(ValueError, match=rf"slice bounds go from {-count} to {count}"):
            select_layers(small_vgg_flat, bad)


def test_numpy_indices_select_like_ints(small_vgg_flat):
    import numpy as np

    assert names(select_layers(small_vgg_flat, np.int64(3))) == [small_vgg_flat.layers[3].name]
    assert names(select_layers(small_vgg_flat, [np.int32(1), "block2_conv1"])) == [
        small_vgg_flat.layers[1].name,
        "block2_conv1",
    ]


def test_empty_in_range_slice_warns_and_changes_nothing(small_vgg_flat):
    from freezelab._validation import EmptySelectionWarning

    before = get_mask(small_vgg_flat)
    with pytest.warns(EmptySelectionWarning, match="selects no layer"):
        assert freeze(small_vgg_flat, slice(4, 2)) == []
    assert get_mask(small_vgg_flat) == before


def test_a_dict_is_refused_with_set_mask_suggested(small_vgg_flat):
    before = get_mask(small_vgg_flat)
    with pytest.raises(TypeError, match=r"fl\.set_mask\(model, mask\)"):
        freeze(small_vgg_flat, {"block1": True})
    assert get_mask(small_vgg_flat) == before  # not silently frozen


def test_unbuilt_model_can_be_frozen_but_not_counted():
    model = keras.Sequential([keras.layers.Dense(3, name="d")])
    assert freeze(model, "d") == ["d"]  # Keras honours flags set before build
    with pytest.raises(ValueError, match="not built yet"):
        get_mask(model)
    model.build((None, 4))
    assert get_mask(model) == {"d": False}
    assert model.trainable_weights == []
