"""Writes notebooks/01_what_freezing_does.ipynb (run tools/execute_notebook.sh on it after)."""

from pathlib import Path

import nbformat as nbf

cells = []


def md(text):
    cells.append(nbf.v4.new_markdown_cell(text.strip()))


def code(text):
    cells.append(nbf.v4.new_code_cell(text.strip()))


md("""
# 01 · What freezing does

**What you will learn**

- what `layer.trainable = False` changes: which weights the optimizer may update, and how
  parameters split into *trainable* and *non-trainable*;
- the classic examples, with counts you can check by hand: a Sequential network, the same
  network in the functional API, VGG16 with a new head (flattened), VGG16 as one nested layer;
- proof, by training, that frozen weights stay identical to the last bit while trainable ones move;
- **the recompile trap**: change `trainable` after training has started and Keras silently keeps
  training the old set — and how freezelab catches it;
- why a flattened base and a nested base behave differently, and the `model.layers[:-N]` surprise.

Cells marked `# NBVAL_CHECK_OUTPUT` print deterministic results that the course's CI compares.
""")

code("""
import keras
import numpy as np

import freezelab

print("Keras", keras.__version__, "on", keras.backend.backend())
print("quick mode (small inputs):", freezelab.quick_mode())
""")

md("""
## 1. Trainable and non-trainable weights

Every Keras layer has a `trainable` flag. When it is `False`, the layer's weights move from
`model.trainable_weights` to `model.non_trainable_weights`, and the optimizer never touches them.
The forward pass is unchanged: a frozen layer still computes its output.

Start with the classic network: Dense(64) → Dense(32) → Dense(10) on 100 input features.
By hand: the first Dense has 100·64 + 64 = 6,464 parameters, the second 64·32 + 32 = 2,080, the
third 32·10 + 10 = 330. Freeze the first.
""")

code("""
# NBVAL_CHECK_OUTPUT
sequential = freezelab.demo_sequential(input_dim=100)
freezelab.freeze(sequential, "dense_64")
print(freezelab.param_report(sequential))
""")

md("""
freezelab's totals are computed layer by layer; Keras keeps its own lists. They must agree:
""")

code("""
# NBVAL_CHECK_OUTPUT
def keras_counts(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return trainable, frozen


print("Keras says   trainable, non-trainable =", keras_counts(sequential))
counts = freezelab.count_params(sequential)
print("freezelab says trainable, non-trainable =", (counts.trainable, counts.non_trainable))
""")

md("""
The same network in the functional API, this time with the **middle** Dense frozen (2,080
parameters). Selecting by name works the same way; so do an index (`1`, as in `model.layers[1]`),
a slice, a glob such as `"dense_*"`, and `up_to="dense_32"` (everything up to and including it).
""")

code("""
# NBVAL_CHECK_OUTPUT
functional = freezelab.demo_functional(input_dim=100)
freezelab.freeze(functional, "dense_32")
print(freezelab.param_report(functional))
print("Keras:", keras_counts(functional))
""")

md("""
## 2. VGG16 with a new head

The transfer-learning classic: VGG16's convolutional base (no ImageNet classifier on top),
then Flatten → Dense(128) → Dense(10) for a new 10-class task. The base's output at 224×224 is
7×7×512, so Flatten gives 25,088 features and Dense(128) alone holds 25,088·128 + 128 = 3,211,392
parameters.

`load_vgg16(weights="auto")` uses ImageNet weights when it can reach them and says which weights
it holds. Counts do not depend on the weights.
""")

code("""
base = freezelab.load_vgg16(weights="auto", input_size=224)
flat_model = freezelab.with_head(base, head_units=(128, 10))
""")

md("""
Freeze the first 10 layers, as `for layer in model.layers[:10]: layer.trainable = False` would.
In this *flattened* model, `model.layers` lists VGG16's own layers, so the first 10 are the input,
blocks 1 and 2, and the three convolutions of block 3.
""")

code("""
# NBVAL_CHECK_OUTPUT
frozen_names = freezelab.freeze(flat_model, slice(0, 10))
print("frozen:", [name for name in frozen_names if not name.startswith("input")])
print(freezelab.param_report(flat_model, only_weighted=True))
print("Keras:", keras_counts(flat_model))
""")

md("""
Now the other way to build it: call the base as **one layer** (`base(inputs)`) and freeze it
with `base.trainable = False`, under Flatten → Dense(256) → Dense(10). All 14,714,688 parameters
of the base become non-trainable; the head trains.
""")

code("""
# NBVAL_CHECK_OUTPUT
nested_base = freezelab.load_vgg16(weights="auto", input_size=224, verbose=False)
nested_base.trainable = False
nested_model = freezelab.with_head(nested_base, head_units=(256, 10), nested=True)
print([layer.name for layer in nested_model.layers])
print(freezelab.count_params(nested_model))
print("Keras:", keras_counts(nested_model))
""")

md("""
## 3. Proof: frozen weights do not move

Counting is one thing; training is the test. A small VGG16 (small images keep it fast) with a
head, blocks 1–3 frozen, one epoch of training on random images. Then compare every layer's
weights with a copy taken before training.
""")

code("""
image_size = freezelab.settings.pick(96, 32)
keras.utils.set_random_seed(0)
proof_model = freezelab.with_head(
    freezelab.load_vgg16(weights="auto", input_size=image_size, verbose=False), head_units=(16, 3)
)
freezelab.freeze(proof_model, "block[1-3]_*")
proof_model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy")

rng = np.random.default_rng(0)
images = rng.uniform(0, 255, size=(16, image_size, image_size, 3)).astype("float32")
labels = rng.integers(0, 3, size=16)
before = {layer.name: [w.numpy().copy() for w in layer.weights] for layer in proof_model.layers if layer.weights}
history = proof_model.fit(images, labels, epochs=1, batch_size=8, verbose=0)
""")

code("""
# NBVAL_CHECK_OUTPUT
mask = freezelab.get_mask(proof_model)
for name, old in before.items():
    new = [w.numpy() for w in proof_model.get_layer(name).weights]
    identical = all(np.array_equal(a, b) for a, b in zip(old, new))
    status = "trainable" if mask[name] else "frozen"
    print(f"{name:14s} {status:9s} -> {'identical' if identical else 'moved'}")
""")

md("""
Every frozen layer is bit-for-bit identical; every trainable layer moved. (Frozen layers still
*compute* in the forward pass; lesson 03 measures what freezing saves in the backward pass.)

## 4. The recompile trap

Keras documents that the trainable set is fixed when you call `compile()`. What really happens
(Keras 3.15): a change made after `compile()` but before the first `fit()` still takes effect,
because the train function is built lazily. But once `fit()` has run, the **cached** train
function keeps updating the old set. Freeze a layer then, and it keeps training — with no
warning at all. Watch it happen:
""")

code("""
keras.utils.set_random_seed(1)
trap = freezelab.demo_sequential(input_dim=20)
trap.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy")
x = rng.normal(size=(64, 20)).astype("float32")
y = rng.integers(0, 10, size=64)
trap.fit(x, y, epochs=1, verbose=0)            # builds the train function

freezelab.freeze(trap, "dense_64")             # too late: the train function is cached
kernel_before = trap.get_layer("dense_64").kernel.numpy().copy()
history = trap.fit(x, y, epochs=1, verbose=0)
""")

code("""
# NBVAL_CHECK_OUTPUT
moved = not np.array_equal(trap.get_layer("dense_64").kernel.numpy(), kernel_before)
print("dense_64 is frozen:", not trap.get_layer("dense_64").trainable)
print("dense_64 moved during fit anyway:", moved)
""")

md("""
freezelab compares the flags with the ones the model was compiled with (and with the variables
the built optimizer actually updates), and says what changed:
""")

code("""
# NBVAL_CHECK_OUTPUT
status = freezelab.compile_status(trap)
print(status)
print("changed layers:", status.changed_layers)
""")

md("""
`freezelab.recompile(model)` compiles again with the same loss and metrics and a **fresh
optimizer of the same configuration** (a built optimizer would reject newly trainable weights
with "Unknown variable"). After it, the frozen layer stays put:
""")

code("""
# NBVAL_CHECK_OUTPUT
print(freezelab.recompile(trap))
kernel_before = trap.get_layer("dense_64").kernel.numpy().copy()
trap.fit(x, y, epochs=1, verbose=0)
print("dense_64 moved after recompile:", not np.array_equal(trap.get_layer("dense_64").kernel.numpy(), kernel_before))
""")

md("""
## 5. Flattened vs nested, and the `layers[:-N]` surprise

A flattened model lists every VGG16 layer in `model.layers`; a nested one lists the base as a
single entry. Code that slices `model.layers` means different things in the two.

A common recipe: "freeze everything except the last 3 layers (the head)". Here the head is
built as one nested `Sequential` of 3 layers on top of a flattened base:
""")

code("""
# NBVAL_CHECK_OUTPUT
surprise_base = freezelab.load_vgg16(weights="auto", input_size=224, verbose=False)
head = keras.Sequential(
    [
        keras.layers.Flatten(name="head_flatten"),
        keras.layers.Dense(128, activation="relu", name="head_dense"),
        keras.layers.Dense(10, activation="softmax", name="head_predictions"),
    ],
    name="head",
)
surprise = keras.Model(surprise_base.input, head(surprise_base.output), name="nested_head")
print("len(model.layers) =", len(surprise.layers), "; last three:", [layer.name for layer in surprise.layers[-3:]])

for layer in surprise.layers[:-3]:
    layer.trainable = False
still_training = [name for name, trains in freezelab.get_mask(surprise).items() if trains]
print("still trainable:", still_training)
""")

md("""
The head counts as **one** layer, so `[:-3]` spared `block5_conv3` too: 2,359,808 base parameters
still train. `check_pitfalls` spots nested models (and other mistakes it can see on inspection):
""")

code("""
# NBVAL_CHECK_OUTPUT
print(freezelab.check_pitfalls(surprise))
""")

md("""
Selecting by name or block says what you mean whatever the nesting:
""")

code("""
# NBVAL_CHECK_OUTPUT
freezelab.freeze(surprise, "block[1-5]_*")
print("still trainable:", [name for name, trains in freezelab.get_mask(surprise).items() if trains])
print(freezelab.count_params(surprise))
""")

md("""
One more mistake that inspection catches: a Dense head applied straight to the 7×7×512 feature
map, without Flatten or pooling, classifies each of the 49 positions separately:
""")

code("""
# NBVAL_CHECK_OUTPUT
no_flatten = freezelab.with_head(
    freezelab.load_vgg16(weights=None, input_size=224, verbose=False), head_units=(1,), pooling="none"
)
print("output shape:", no_flatten.output.shape)
print(freezelab.check_pitfalls(no_flatten))
""")

md("""
## Exercises

1. In the functional example, freeze `dense_64` **and** `dense_10` with one call (a list, or a
   glob). Predict the trainable count by hand, then check it with `freezelab.count_params`.
2. In `flat_model`, which single call freezes exactly blocks 1–3 (convolutions and pools)?
   Try three ways: a glob, `up_to=`, and a list of blocks. Do the counts agree?
3. Set `nested_base.trainable = False`, then unfreeze only `block5_conv3` with
   `freezelab.unfreeze(nested_model, "block5_conv3")`. What does `nested_base.trainable` say now,
   and how many parameters train? Compare with Keras's `trainable_weights`.
4. Repeat the recompile trap, but **unfreeze** a layer after `fit()` instead. Call
   `trap.compile(...)` yourself, reusing the old optimizer object, and read the error. Why does
   `freezelab.recompile` use a fresh optimizer?
5. Fix `no_flatten` with `pooling="avg"` and run `check_pitfalls` again. How many parameters does
   the head have now, compared with Flatten → Dense(128)?
""")

nb = nbf.v4.new_notebook(
    cells=cells,
    metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
)
out = Path(__file__).resolve().parent.parent / "notebooks" / "01_what_freezing_does.ipynb"
nbf.write(nb, out)
print("wrote", out)
