"""Tests for freezelab.core.mask_text: the printable, pasteable form of a mask."""

import pytest

from freezelab.core.freezing import get_mask, set_mask
from freezelab.core.mask_text import layer_blocks, mask_from_text, mask_to_text

VGG_NAMES = [
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3",
    "block4_conv1", "block4_conv2", "block4_conv3",
    "block5_conv1", "block5_conv2", "block5_conv3",
    "head_dense_1", "predictions",
]  # fmt: skip


def vgg_mask(frozen_prefixes=(), frozen_names=()):
    return {
        name: not (name.startswith(tuple(frozen_prefixes)) or name in frozen_names)
        for name in VGG_NAMES
    }


def test_layer_blocks_marks_head_after_vgg_blocks():
    blocks = layer_blocks(VGG_NAMES)
    assert blocks["block3_conv2"] == "block3"
    assert blocks["predictions"] == "head"
    assert layer_blocks(["dense_64", "dense_10"]) == {"dense_64": "", "dense_10": ""}


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        (vgg_mask(), "T:all"),
        (vgg_mask(["block", "head", "pred"]), "F:all"),
        (vgg_mask(["block1", "block2", "block3"]), "F:block1-3 T:block4-5,head"),
        (vgg_mask(["block2", "block4"]), "F:block2,block4 T:block1,block3,block5,head"),
        (
            vgg_mask(["block1", "block2", "block3", "block4"], ["block5_conv1"]),
            "F:block1-4,block5_conv1 T:block5_conv2,block5_conv3,head",
        ),
    ],
)
def test_mask_to_text_writes_the_documented_form(mask, expected):
    assert mask_to_text(mask) == expected


@pytest.mark.parametrize(
    "mask",
    [
        vgg_mask(),
        vgg_mask(["block1", "block2", "block3"]),
        vgg_mask(["block2", "block4"], ["predictions"]),
        vgg_mask([], ["block3_conv2", "head_dense_1"]),
        vgg_mask(["block", "head"]),
    ],
)
def test_text_form_round_trips(mask):
    assert mask_from_text(mask_to_text(mask), VGG_NAMES) == mask


def test_model_without_vgg_blocks_is_written_by_layer_name():
    mask = {"dense_64": False, "dense_32": True, "dense_10": True}
    text = mask_to_text(mask)
    assert text == "F:dense_64 T:dense_32,dense_10"
    assert mask_from_text(text, list(mask)) == mask


def test_reads_a_mix_of_all_blocks_runs_and_names():
    mask = mask_from_text("T:all F:block1-2,block3_conv1", VGG_NAMES)
    frozen = [name for name, flag in mask.items() if not flag]
    assert frozen == [
        "block1_conv1",
        "block1_conv2",
        "block2_conv1",
        "block2_conv2",
        "block3_conv1",
    ]


def test_reads_against_a_model(sequential):
    set_mask(sequential, {"dense_64": False})
    text = mask_to_text(get_mask(sequential))
    set_mask(sequential, {"dense_64": True})
    assert mask_from_text(text, sequential) == {
        "dense_64": False,
        "dense_32": True,
        "dense_10": True,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("F:block1-3 T:block4-5", "leaves out 'head_dense_1'"),
        ("F:block9 T:all", "Unknown layer or block 'block9'"),
        ("F:block1_conv3 T:all", "Did you mean"),
        ("F:block1-7 T:all", "block6, block7"),
        ("F:block1 T:block1-5,head", "both frozen and trainable"),
        ("frozen:block1 T:all", "starts with 'F:'"),
        ("block1-3", "starts with 'F:'"),
    ],
)
def test_bad_text_raises_a_clear_error(text, message):
    with pytest.raises(ValueError, match="Received") as error:
        mask_from_text(text, VGG_NAMES)
    assert message in str(error.value)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="must be a string"):
        mask_from_text(3, VGG_NAMES)
    with pytest.raises(ValueError, match="layer_names takes"):
        mask_from_text("T:all", 5)
    with pytest.raises(ValueError, match="A mask is a dict"):
        mask_to_text({"block1_conv1": "yes"})
    assert mask_to_text({}) == ""
