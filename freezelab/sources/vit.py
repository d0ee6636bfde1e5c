"""A tiny ViT-style classifier and the transformer teacher pretrained on the source task.

The convolutional teacher (`freezelab.sources.teacher`) stands in for VGG16;
this module does the same for a vision transformer, so a lesson can compare
freezing, bias-only training (BitFit), LoRA and full fine-tuning on a
transformer without downloads. It is small (142,548 parameters, a 0.7 MB
weights file), trained by ``tools/train_vit_teacher.py`` on the same 20-class
procedural source task as the teacher (held-out accuracy 89.35 %: every
grating, about half of the shapes), and shipped in
``data/vit_teacher.weights.h5``. It is not ImageNet and not a language model.

Layout, with layer names that say which block each layer is in
(`freezelab.core.layers.block_of` reads ``blockN_``):

* ``input_scale``: the inputs are caffe-preprocessed like the teacher's
  (``freezelab.vis.images.to_caffe``), scaled by 1/64 to about unit size;
* ``patch_embedding`` (a ``Conv2D`` with stride = kernel = patch size),
  ``patch_tokens`` (``Reshape`` to one token per patch),
  ``position_embedding`` (one learned vector per patch position);
* blocks ``block1`` … ``blockN``, pre-norm: ``blockN_norm1`` →
  ``blockN_attention`` (``keras.layers.MultiHeadAttention``) → ``blockN_add1``;
  ``blockN_norm2`` → ``blockN_mlp1`` (GELU) → ``blockN_mlp2`` → ``blockN_add2``;
* the head: ``final_norm``, ``token_pool`` (mean over tokens) and
  ``source_predictions`` (softmax over the 20 source classes).
"""

from __future__ import annotations

import random
from pathlib import Path

import keras
from keras import layers

from freezelab._validation import check_bool, check_int, check_str
from freezelab.core.models import describe_weights, load_weights_file, set_weights_source
from freezelab.sources.source_task import MIN_IMAGE_SIZE, NUM_CLASSES
from freezelab.sources.teacher import CAFFE_PIXEL_SCALE, SOURCE_HEAD_NAME

VIT_TEACHER_WEIGHTS_FILE = "vit_teacher.weights.h5"
#: The layers of each block, in order: ``blockN_norm1`` … ``blockN_add2``.
BLOCK_PARTS = ("norm1", "attention", "add1", "norm2", "mlp1", "mlp2", "add2")
#: The teacher's configuration: `tiny_vit`'s defaults.
VIT_IMAGE_SIZE = 32
#: Held-out source accuracy of the shipped weights (2,000 images, seed
#: ``HELD_OUT_SEED``), printed by tools/train_vit_teacher.py and recorded in data/README.md.
VIT_TEACHER_HELD_OUT_ACCURACY = 0.8935
VIT_TEACHER_SOURCE = (
    "freezelab's offline ViT teacher (4 transformer blocks, width 64), pretrained by "
    "tools/train_vit_teacher.py on its 20-class procedural source task (not ImageNet, not a "
    "language model), shipped in data/vit_teacher.weights.h5"
)


@keras.saving.register_keras_serializable(package="freezelab")
class PositionEmbedding(layers.Layer):
    """Adds one learned vector per token position (a ViT's position embedding).

    Args:
        initializer: Initializer of the ``(tokens, width)`` table.
        **kwargs: Base layer arguments (``name``…).
    """

    def __init__(
        self, initializer: str | keras.initializers.Initializer = "random_normal", **kwargs
    ):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(int(input_shape[-2]), int(input_shape[-1])),
            initializer=self.initializer,
        )

    def call(self, inputs):
        return inputs + self.embeddings

    def get_config(self) -> dict:
        config = super().get_config()
        config["initializer"] = keras.initializers.serialize(self.initializer)
        return config


def vit_teacher_weights_path() -> Path:
    """Where the shipped ViT teacher weights live (``data/vit_teacher.weights.h5``)."""
    return Path(__file__).resolve().parents[2] / "data" / VIT_TEACHER_WEIGHTS_FILE


def tiny_vit(
    image_size: int = VIT_IMAGE_SIZE,
    patch_size: int = 4,
    width: int = 64,
    depth: int = 4,
    num_heads: int = 4,
    mlp_width: int = 128,
    num_classes: int = NUM_CLASSES,
    seed: int | None = 0,
    name: str = "tiny_vit",
) -> keras.Model:
    """Builds a small pre-norm vision transformer classifier, untrained.

    Every layer's initial weights follow from ``seed``: the same arguments
    give bit-identical models. Keras's global random state is left as it was.

    Args:
        image_size: Side of the square RGB input, at least 8, a multiple of
            ``patch_size``.
        patch_size: Side of the square patches that become tokens.
        width: Size of each token vector (the model width ``d``), a multiple
            of ``num_heads``.
        depth: Number of transformer blocks.
        num_heads: Attention heads per block; each head has ``width //
            num_heads`` dimensions.
        mlp_width: Hidden units of each block's MLP.
        num_classes: Outputs of the softmax head.
        seed: Seed of the initial weights, or None for fresh random ones.
        name: Name of the model.

    Returns:
        A Functional model from caffe-preprocessed images ``(image_size,
        image_size, 3)`` to class probabilities, with the layer names listed
        in the module docstring.

    Raises:
        ValueError: For sizes that are not positive ints, an image size that
            is not a multiple of the patch size, or a width that is not a
            multiple of the number of heads.
    """
    image_size = check_int(image_size, "image_size", minimum=MIN_IMAGE_SIZE)
    patch_size = check_int(patch_size, "patch_size", minimum=1)
    width = check_int(width, "width", minimum=1)
    depth = check_int(depth, "depth", minimum=1)
    num_heads = check_int(num_heads, "num_heads", minimum=1)
    mlp_width = check_int(mlp_width, "mlp_width", minimum=1)
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    check_str(name, "name")
    if seed is not None:
        seed = check_int(seed, "seed", minimum=0)
    if image_size % patch_size:
        raise ValueError(
            f"image_size must be a multiple of patch_size ({patch_size}). "
            f"Received: image_size={image_size}"
        )
    if width % num_heads:
        raise ValueError(
            f"width must be a multiple of num_heads ({num_heads}). Received: width={width}"
        )
    # Unseeded Keras initializers draw their seeds from Python's `random`; seeding it
    # for the build alone makes the model reproducible without touching global state.
    saved_state = random.getstate()
    if seed is not None:
        random.seed(seed)
    try:
        return _build(image_size, patch_size, width, depth, num_heads, mlp_width, num_classes, name)
    finally:
        random.setstate(saved_state)


def _build(image_size, patch_size, width, depth, num_heads, mlp_width, num_classes, name):
    tokens = (image_size // patch_size) ** 2
    inputs = keras.Input(shape=(image_size, image_size, 3), name="input_layer")
    x = layers.Rescaling(1.0 / CAFFE_PIXEL_SCALE, name="input_scale")(inputs)
    x = layers.Conv2D(width, patch_size, strides=patch_size, name="patch_embedding")(x)
    x = layers.Reshape((tokens, width), name="patch_tokens")(x)
    x = PositionEmbedding(
        initializer=keras.initializers.RandomNormal(stddev=0.02), name="position_embedding"
    )(x)
    for block in range(1, depth + 1):
        y = layers.LayerNormalization(epsilon=1e-6, name=f"block{block}_norm1")(x)
        y = layers.MultiHeadAttention(
            num_heads, key_dim=width // num_heads, name=f"block{block}_attention"
        )(y, y)
        x = layers.Add(name=f"block{block}_add1")([x, y])
        y = layers.LayerNormalization(epsilon=1e-6, name=f"block{block}_norm2")(x)
        y = layers.Dense(mlp_width, activation="gelu", name=f"block{block}_mlp1")(y)
        y = layers.Dense(width, name=f"block{block}_mlp2")(y)
        x = layers.Add(name=f"block{block}_add2")([x, y])
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = layers.GlobalAveragePooling1D(name="token_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name=SOURCE_HEAD_NAME)(x)
    return keras.Model(inputs, outputs, name=name)


def load_vit_teacher(verbose: bool = True) -> keras.Model:
    """Loads the pretrained ViT teacher from ``data/vit_teacher.weights.h5``, offline.

    Args:
        verbose: Print which weights the model holds.

    Returns:
        A new `tiny_vit` with the default configuration (32-pixel inputs,
        caffe-preprocessed) holding the pretrained weights, source head
        included; `freezelab.weights_source` gives `VIT_TEACHER_SOURCE`.

    Raises:
        FileNotFoundError: If the weights file is missing (run
            ``tools/train_vit_teacher.py`` to make it).
        ValueError: If the file is damaged or holds another model's weights
            (the message names the file).
    """
    verbose = check_bool(verbose, "verbose")
    path = vit_teacher_weights_path()
    if not path.exists():
        raise FileNotFoundError(
            f"The ViT teacher weights are missing: expected {path}. "
            "Recreate them with `python tools/train_vit_teacher.py`."
        )
    model = tiny_vit(name="vit_teacher")
    load_weights_file(model, path, "ViT teacher weights")
    set_weights_source(model, VIT_TEACHER_SOURCE)
    if verbose:
        print(describe_weights(model))
    return model
