"""The truths and near misses of lessons 04-06's checked exercises (`freezelab.exercises`).

Each truth builds the lesson's model afresh from freezelab's offline teachers and reads the
answer from Keras (``trainable_weights``, a BN layer's moving statistics after a call) or from
freezelab's own functions (`freezelab.vis.receptive_field.receptive_field`,
`freezelab.vis.gradcam.grad_cam`); none is a number written here. The registry, the reading
of answers and the printed lines live in `freezelab.exercises`.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from freezelab.sources.bn_teacher import load_bn_teacher
from freezelab.sources.data import load_target_dataset
from freezelab.sources.scenes import SCENE_CLASSES
from freezelab.sources.shape_task import TARGET_SHAPES
from freezelab.sources.teacher import load_teacher
from freezelab.vis.gradcam import grad_cam
from freezelab.vis.receptive_field import receptive_field

#: Lesson 04's image side in its full run (quick mode uses 64).
LESSON04_INPUT_SIZE = 96
#: Lessons 05 and 06 use their teachers at the size they were trained on.
TEACHER_INPUT_SIZE = 32
#: Lesson 06's full-mode training (FREEZELAB_QUICK=0): epochs, images per class, batch size.
LESSON06_FULL_EPOCHS, LESSON06_FULL_PER_CLASS, LESSON06_BATCH_SIZE = 12, 64, 16
#: The layer whose receptive field exercise 04.6 asks about.
FIELD_LAYER = "block3_conv1"


def size(weights) -> int:
    """The number of values in a list of weights."""
    return sum(int(np.prod(w.shape)) for w in weights)


def _teacher(input_size: int) -> keras.Model:
    return load_teacher(input_size, verbose=False)


# Lesson 04 ---------------------------------------------------------------


def _lesson04_classifier(input_size: int = TEACHER_INPUT_SIZE) -> keras.Model:
    """Section 5's scene classifier: blocks 1-2 frozen, average pooling, Dense 64, Dense 4."""
    scene_base = _teacher(input_size)
    for layer in scene_base.layers:
        if layer.name.startswith(("block1_", "block2_")):
            layer.trainable = False
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool")(scene_base.output)
    hidden = keras.layers.Dense(64, activation="relu", name="head_dense_1")(features)
    outputs = keras.layers.Dense(len(SCENE_CLASSES), activation="softmax", name="predictions")(
        hidden
    )
    return keras.Model(scene_base.input, outputs, name="scene_classifier")


def truth_04_1a() -> tuple[str, ...]:
    model = _lesson04_classifier()
    return tuple(layer.name for layer in model.layers if layer.trainable_weights)


def truth_04_1b() -> int:
    return size(_lesson04_classifier().trainable_weights)


def near_04_1b(answer, settings) -> str | None:
    model = _lesson04_classifier()
    if answer == size(model.non_trainable_weights):
        return "That is the frozen count (blocks 1-2): the question asks what trains."
    if answer == size(model.weights):
        return "That is every parameter: blocks 1 and 2 are frozen and train nothing."
    head = sum(size(model.get_layer(name).weights) for name in ("head_dense_1", "predictions"))
    if answer == head:
        return "That is the head alone: blocks 3-5 of the copied base train too."
    return None


def _covering_units(field, side: int, image_side: int) -> int:
    centres = field.centre + field.stride * np.arange(side)
    covers = (centres - field.size / 2 <= 0) & (centres + field.size / 2 >= image_side)
    return int(covers.sum())


def truth_04_3(input_size: int) -> str:
    base = _teacher(input_size)
    for layer in base.layers[1:]:
        field = receptive_field(base, layer.name)
        if _covering_units(field, layer.output.shape[1], input_size):
            return layer.name
    raise ValueError(  # the teacher's block5_pool sees more than any size it loads at
        f"No layer of the teacher sees the whole image. Received: input_size={input_size}"
    )


def near_04_3(answer, settings) -> str | None:
    base = _teacher(settings["input_size"])
    names = [layer.name for layer in base.layers[1:]]
    if answer not in names:
        return "Give a layer name of base, as [layer.name for layer in base.layers] prints it."
    field = receptive_field(base, answer)
    if field.size >= settings["input_size"] and names.index(answer) < names.index(
        truth_04_3(settings["input_size"])
    ):
        return (
            "Its field is as wide as the image, but centred at unit i * stride: does any unit's "
            "field reach both edges? Count the units whose field covers [0, SIZE)."
        )
    return None


def truth_04_6a() -> int:
    return receptive_field(_teacher(TEACHER_INPUT_SIZE), FIELD_LAYER).size


def truth_04_6b() -> int:
    return receptive_field(_teacher(TEACHER_INPUT_SIZE), FIELD_LAYER).stride


def _field_without_strides() -> int:
    """The field if every layer added its kernel's span in input pixels (strides forgotten)."""
    grown = 1
    for layer in _teacher(TEACHER_INPUT_SIZE).layers[1:]:
        kernel = getattr(layer, "kernel_size", None) or layer.pool_size
        grown += kernel[0] - 1
        if layer.name == FIELD_LAYER:
            return grown
    raise ValueError(f"The teacher has no {FIELD_LAYER}. Received: a different teacher")


def near_04_6a(answer, settings) -> str | None:
    if answer == _field_without_strides():
        return (
            "You added each kernel's span in pixels of its own input. After a 2x2 pooling of "
            "stride 2, one step of a 3x3 kernel moves 2 input pixels: multiply each span by the "
            "stride of the layers below."
        )
    if answer == truth_04_6b():
        return "That is the stride (the spacing of the units); the question asks the field's size."
    return None


def near_04_6b(answer, settings) -> str | None:
    if answer == truth_04_6a():
        return "That is the field's size; the stride is how far apart neighbouring units sit."
    return None


def _gradcam_of_classifier(input_size: int):
    model = _lesson04_classifier(input_size)
    image = np.random.default_rng(0).uniform(0, 255, (input_size, input_size, 3))
    return grad_cam(model, image.astype("float32"), class_index=0)


def truth_04_7a() -> str:
    return _gradcam_of_classifier(TEACHER_INPUT_SIZE).layer_name


def truth_04_7b(input_size: int) -> int:
    return int(_gradcam_of_classifier(input_size).coarse.shape[0])


def near_04_7a(answer, settings) -> str | None:
    if answer.endswith("_pool"):
        return (
            "Grad-CAM needs a convolution's maps, before any pooling: which is the last layer "
            "with a kernel in the model?"
        )
    return None


def near_04_7b(answer, settings) -> str | None:
    model = _lesson04_classifier(settings["input_size"])
    if answer == model.get_layer("block5_pool").output.shape[1]:
        return "That is the side after block5_pool; Grad-CAM reads the maps before it."
    return None


# Lesson 05 ---------------------------------------------------------------


def _lesson05_base() -> keras.Model:
    return _teacher(TEACHER_INPUT_SIZE)


def _lesson05_nested(stop: int) -> keras.Model:
    """Section 2's nested model (input, the whole base, a head) with ``model.layers[:stop]`` frozen."""
    head = keras.Sequential(
        [
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(len(TARGET_SHAPES), activation="softmax"),
        ],
        name="head",
    )
    inputs = keras.Input(shape=(TEACHER_INPUT_SIZE, TEACHER_INPUT_SIZE, 3), name="image")
    model = keras.Model(inputs, head(_lesson05_base()(inputs)), name="classifier")
    for layer in model.layers[:stop]:
        layer.trainable = False
    return model


def _flat_sliced() -> keras.Model:
    base = _lesson05_base()
    for layer in base.layers[:-4]:
        layer.trainable = False
    return base


def truth_05_3a() -> tuple[str, ...]:
    return tuple(layer.name for layer in _flat_sliced().layers if layer.trainable_weights)


def near_05_3a(answer, settings) -> str | None:
    if any(name.endswith("_pool") for name in answer):
        return "A pooling layer has no weights: name only the layers with weights that train."
    return None


def truth_05_3b() -> int:
    return size(_flat_sliced().trainable_weights)


def near_05_3b(answer, settings) -> str | None:
    base = _flat_sliced()
    kernels = sum(size([layer.kernel]) for layer in base.layers if layer.trainable_weights)
    if answer == kernels:
        return "Close: each convolution also has one bias per filter (c_out numbers)."
    if answer == size(base.non_trainable_weights):
        return "That is the frozen count: the question asks what still trains."
    return None


def truth_05_3c() -> int:
    return size(_lesson05_nested(-1).trainable_weights)


def truth_05_3d() -> int:
    return size(_lesson05_nested(-4).trainable_weights)


def near_05_3cd(answer, settings) -> str | None:
    if answer == truth_05_3b():
        return (
            "That is the flat base's count. Print [layer.name for layer in model.layers] for the "
            "nested model: how many entries does it have, and what is each one?"
        )
    return None


# Lesson 06 ---------------------------------------------------------------


def _lesson06_classes() -> int:
    """The classes of lesson 06's target task, the photo patches."""
    return load_target_dataset(TEACHER_INPUT_SIZE, train_per_class=1, val_per_class=1).num_classes


def lesson06_full_steps() -> int:
    """Lesson 06's full-mode step count: epochs x batches per epoch over its classes."""
    per_epoch = math.ceil(_lesson06_classes() * LESSON06_FULL_PER_CLASS / LESSON06_BATCH_SIZE)
    return LESSON06_FULL_EPOCHS * per_epoch


def _bn(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def truth_06_1(steps: int | None) -> float:
    steps = lesson06_full_steps() if steps is None else steps
    (momentum,) = {layer.momentum for layer in _bn(load_bn_teacher(verbose=False))}
    return momentum**steps


def near_06_1(answer, settings) -> str | None:
    truth = truth_06_1(settings["steps"])
    if abs(answer - (1 - truth)) <= 0.001:
        return "That is the share the batches have replaced; the question asks what is left."
    return None


def _images(count: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(count, TEACHER_INPUT_SIZE, TEACHER_INPUT_SIZE, 3)).astype("float32")


def _moved(model: keras.Model, call) -> tuple[str, ...]:
    """The BN layers (nested models opened) whose moving statistics ``call()`` changes."""
    layers = [
        bn
        for layer in model.layers
        for bn in (_bn(layer) if isinstance(layer, keras.Model) else _bn_of(layer))
    ]
    before = [np.array(keras.ops.convert_to_numpy(bn.moving_mean)) for bn in layers]
    call()
    return tuple(
        bn.name
        for bn, old in zip(layers, before)
        if not np.array_equal(keras.ops.convert_to_numpy(bn.moving_mean), old)
    )


def _bn_of(layer: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    return [layer] if isinstance(layer, keras.layers.BatchNormalization) else []


def _with_new_head(base: keras.Model) -> keras.Model:
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
    outputs = keras.layers.Dense(_lesson06_classes(), activation="softmax", name="predictions")(x)
    return keras.Model(base.input, outputs)


def truth_06_2() -> tuple[str, ...]:
    model = _with_new_head(load_bn_teacher(verbose=False))
    model.get_layer("block1_bn").trainable = False
    return _moved(model, lambda: model(_images(), training=True))


def near_06_2(answer, settings) -> str | None:
    if "block1_bn" in answer:
        return (
            "A BN layer with trainable = False runs in inference mode in Keras 3, even in a "
            "training-mode call: does block1_bn update its statistics then?"
        )
    return None


def truth_06_3() -> int:
    base = load_bn_teacher(verbose=False)
    base.trainable = False
    layers = _bn(base)
    momenta = [layer.momentum for layer in layers]
    for layer in layers:  # fl.reestimate_bn_statistics's recipe, written out
        layer.momentum = 0.0
    moved = _moved(base, lambda: base(_images(), training=True))
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    return len(moved)


def near_06_3(answer, settings) -> str | None:
    if answer == len(_bn(load_bn_teacher(verbose=False))):
        return (
            "That is what re-estimating changes before the freeze. Here base.trainable = False "
            "came first: in which mode does a frozen BN layer run?"
        )
    return None


def _guide_model() -> tuple[keras.Model, keras.Model]:
    """The guide's model: ``base(inputs, training=False)``, then the base unfrozen."""
    base = load_bn_teacher(verbose=False)
    base.trainable = False
    inputs = keras.Input(shape=(TEACHER_INPUT_SIZE, TEACHER_INPUT_SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    outputs = keras.layers.Dense(_lesson06_classes(), activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    base.trainable = True
    return model, base


def truth_06_5a() -> int:
    model, _ = _guide_model()
    return len(_moved(model, lambda: model(_images(), training=True)))


def truth_06_5b() -> int:
    base = load_bn_teacher(verbose=False)
    for layer in _bn(base):
        layer.trainable = False
    return size(base.trainable_weights)


def near_06_5b(answer, settings) -> str | None:
    base = load_bn_teacher(verbose=False)
    if answer == size(base.trainable_weights):
        return (
            "That is the count with BN trainable: a frozen BN layer's gamma and beta stop "
            "training too."
        )
    moving = sum(size([layer.moving_mean, layer.moving_variance]) for layer in _bn(base))
    if answer == size(base.weights) - moving:
        return "The moving statistics were never trainable; what does trainable = False add?"
    return None
