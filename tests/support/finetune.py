"""Tiny models and data for the fine-tuning helpers' tests (head_first, head_damage)."""

import keras
import numpy as np

from freezelab.finetune.strategies import SplitData


def tiny_base(blocks=("block1", "block5")):
    """An 8x8x3 base of one 4-filter convolution per named block (``block1_conv1`` ...)."""
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for block in blocks:
        x = keras.layers.Conv2D(4, 3, padding="same", name=f"{block}_conv1")(x)
    return keras.Model(inputs, x, name="tiny_base")


def tiny_data(seed=0, classes=3):
    """24 learnable 8x8 images (class 1 red, class 2 dark); validation is the first 12."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (24, 8, 8, 3)).astype("float32")
    y = np.arange(24) % classes
    x[y == 1, ..., 0] = 255.0
    x[y == 2] *= 0.2
    return SplitData(x, y, x[:12], y[:12], classes)
