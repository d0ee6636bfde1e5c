"""The "frozen leading blocks" preset of the freeze panel, embeddings included.

`freezelab.speed.readouts.PanelLayout.freeze_first_blocks` freezes blocks
1..k and trains every other layer. In VGG16 nothing with weights comes before
``block1``; in a transformer the embeddings do (``patch_embedding``,
``position_embedding`` in `freezelab.sources.vit.tiny_vit`). Left
trainable, they would pull the gradient back through every frozen block, and
a learner who freezes "the lower blocks" means the layers below them too. So
the panel's preset freezes the layers before the first block with it; for
VGG-style models the masks are exactly `PanelLayout`'s.
"""

from __future__ import annotations

from freezelab.speed.readouts import PanelLayout


def freeze_leading_blocks(layout: PanelLayout, count: int) -> dict[str, bool]:
    """The mask that freezes the first ``count`` blocks and every layer before them.

    Args:
        layout: The panel's layout.
        count: How many blocks to freeze, from 0 to the number of blocks.

    Returns:
        Layer name to trainable flag for every layer with weights: frozen
        for the layers of blocks 1..``count`` and, when ``count`` is at least
        1, for the layers before the first block (embeddings); trainable
        otherwise.

    Raises:
        ValueError: As `PanelLayout.freeze_first_blocks`, for a model without
            blocks or a count out of range.
    """
    mask = layout.freeze_first_blocks(count)
    if count:
        for name in _before_first_block(layout):
            mask[name] = False
    return mask


def leading_frozen_blocks(layout: PanelLayout, mask: dict[str, bool]) -> int | None:
    """The ``count`` of `freeze_leading_blocks` that gives ``mask``, or None ("custom").

    Args:
        layout: The panel's layout.
        mask: Layer name to trainable flag for the layers with weights.

    Returns:
        The count, or None for any other mask and for models without blocks.
    """
    for count in range(len(layout.block_groups) + 1):
        preset = freeze_leading_blocks(layout, count)
        if all(mask.get(name, False) == flag for name, flag in preset.items()):
            return count
    return None


def _before_first_block(layout: PanelLayout) -> list[str]:
    names = []
    for row in layout.weighted:
        if row.block.startswith("block"):
            break
        names.append(row.name)
    return names
