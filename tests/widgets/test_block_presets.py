"""Tests for freezelab.widgets.block_presets: leading blocks freeze the embeddings below them."""

from freezelab.sources.vit import tiny_vit
from freezelab.speed.readouts import PanelLayout
from freezelab.widgets.block_presets import freeze_leading_blocks, leading_frozen_blocks


def test_leading_blocks_of_a_vit_freeze_the_embeddings_too():
    model = tiny_vit(image_size=8, patch_size=4, width=8, depth=3, num_heads=2, mlp_width=8)
    layout = PanelLayout(model)
    mask = freeze_leading_blocks(layout, 2)
    frozen = {name for name, trains in mask.items() if not trains}
    below = {"patch_embedding", "position_embedding"}
    blocks = {layer.name for layer in model.layers if layer.name.startswith(("block1_", "block2_"))}
    assert frozen == below | {name for name in blocks if model.get_layer(name).weights}
    assert all(freeze_leading_blocks(layout, 0).values())
    for count in range(4):
        assert leading_frozen_blocks(layout, freeze_leading_blocks(layout, count)) == count
    assert leading_frozen_blocks(layout, {**mask, "patch_embedding": True}) is None


def test_vgg_masks_are_the_layouts_own(small_vgg_flat):
    layout = PanelLayout(small_vgg_flat)
    for count in range(6):
        assert freeze_leading_blocks(layout, count) == layout.freeze_first_blocks(count)
