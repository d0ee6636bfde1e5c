"""Bad input never passes silently: one table of mistakes a learner plausibly makes.

Each case calls a public function with one wrong argument and checks the
exception type (``TypeError`` for a wrong type, which freezelab also makes a
``ValueError``; plain ``ValueError`` for a wrong value) and that the message
names the value received. A second table checks the inputs freezelab accepts
on purpose (numpy integers and bools, plain masks as sweep cases, ...).
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import keras
import numpy as np
import pytest

import freezelab as fl
from freezelab._validation import ArgumentTypeError, EmptySelectionWarning
from freezelab.core.compile_guard import fresh_optimizer
from freezelab.core.freezing import set_trainable
from freezelab.core.models import validate_input_size
from freezelab.sources.data import load_flowers, source_photo
from freezelab.sources.teacher import build_teacher
from freezelab.speed.cost import step_cost
from freezelab.speed.timing import time_forward

NAN_IMAGE = np.zeros((16, 16, 3), np.float32)
NAN_IMAGE[3, 4, 1] = np.nan


def conv_classifier():
    """16x16 RGB -> two 3x3 convolutions -> global average -> 3 classes."""
    inputs = keras.Input((16, 16, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="conv_classifier")


def any_size_base():
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs), name="any_size")


@pytest.fixture(autouse=True)
def _clear_keras_session():
    """Overrides conftest's per-test clear_session (about 1 s each): the table builds no models.

    The module-scoped ``env`` clears the session once, after the last case.
    """
    yield


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Tiny models and files built once for the whole table."""
    folder = tmp_path_factory.mktemp("bad_input")
    text_h5 = folder / "notes.h5"
    text_h5.write_text("these are not weights")
    html = folder / "page.weights.h5"
    html.write_text("<html>404 Not Found</html>")
    txt = folder / "weights.txt"
    txt.write_text("1 2 3")
    small = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other = folder / "other.weights.h5"
    small.save_weights(other)
    vgg = fl.with_head(
        fl.load_vgg16(weights=None, input_size=32, verbose=False), (4,), pooling="avg"
    )
    yield SimpleNamespace(
        vgg=vgg,
        names=list(fl.get_mask(vgg)),
        conv=conv_classifier(),
        seq=fl.demo_sequential(input_dim=8),
        unbuilt=keras.Sequential([keras.layers.Dense(3)], name="unbuilt"),
        any_size=any_size_base(),
        image=np.random.default_rng(0).uniform(-50, 50, (16, 16, 3)).astype(np.float32),
        heat=np.zeros((16, 16), np.float32),
        kernel=np.zeros((3, 3, 3, 8), np.float32),
        folder=folder,
        text_h5=text_h5,
        html=html,
        txt=txt,
        other=other,
    )
    keras.backend.clear_session()


T, V = TypeError, ValueError
# (function, case id, call, expected type, text the message must contain)
# fmt: off
CASES = [
    # --- freeze / unfreeze / select_layers: what names layers -------------------------------
    ("freeze", "dict spec is a mask", lambda e: fl.freeze(e.vgg, {"block1": True}), T, "{'block1': True}"),
    ("freeze", "slice past the end", lambda e: fl.freeze(e.vgg, slice(50, 60)), V, "slice(50, 60, None)"),
    ("freeze", "slice stop too far", lambda e: fl.freeze(e.vgg, slice(0, 100)), V, "slice(0, 100, None)"),
    ("freeze", "slice start too negative", lambda e: fl.freeze(e.vgg, slice(-99, None)), V, "slice(-99, None, None)"),
    ("freeze", "slice step zero", lambda e: fl.freeze(e.vgg, slice(0, 5, 0)), V, "slice(0, 5, 0)"),
    ("freeze", "slice float bound", lambda e: fl.freeze(e.vgg, slice(0.5, 3)), T, "slice(0.5, 3, None)"),
    ("freeze", "index past the end", lambda e: fl.freeze(e.vgg, 99), V, "Received: 99"),
    ("freeze", "numpy index past the end", lambda e: fl.freeze(e.vgg, np.int64(99)), V, "Received: 99"),
    ("freeze", "index too negative", lambda e: fl.freeze(e.vgg, -100), V, "Received: -100"),
    ("freeze", "float index", lambda e: fl.freeze(e.vgg, 1.5), T, "1.5"),
    ("freeze", "bool index", lambda e: fl.freeze(e.vgg, True), T, "True"),
    ("freeze", "numpy float index", lambda e: fl.freeze(e.vgg, np.float32(2.0)), T, "2.0"),
    ("freeze", "unknown block", lambda e: fl.freeze(e.vgg, "block9"), V, "'block9'"),
    ("freeze", "misspelt layer", lambda e: fl.freeze(e.vgg, "blok1_conv1"), V, "'blok1_conv1'"),
    ("freeze", "glob matching nothing", lambda e: fl.freeze(e.vgg, "zz*"), V, "'zz*'"),
    ("freeze", "empty name", lambda e: fl.freeze(e.vgg, ""), V, "''"),
    ("freeze", "nested list", lambda e: fl.freeze(e.vgg, ["block1", ["block2"]]), T, "['block1', ['block2']]"),
    ("freeze", "bytes name", lambda e: fl.freeze(e.vgg, b"block1"), T, "b'block1'"),
    ("freeze", "nothing asked for", lambda e: fl.freeze(e.vgg), V, "spec=None"),
    ("freeze", "misspelt up_to", lambda e: fl.freeze(e.vgg, up_to="block3_pol"), V, "'block3_pol'"),
    ("freeze", "up_to an index", lambda e: fl.freeze(e.vgg, up_to=3), T, "up_to=3"),
    ("freeze", "model None", lambda e: fl.freeze(None, "block1"), T, "model=None"),
    ("freeze", "model as its name", lambda e: fl.freeze("vgg16", "block1"), T, "'vgg16'"),
    ("unfreeze", "unknown block", lambda e: fl.unfreeze(e.vgg, "head9"), V, "'head9'"),
    ("select_layers", "foreign layer", lambda e: fl.select_layers(e.vgg, keras.layers.Dense(2, name="stranger")), V, "stranger"),
    ("set_trainable", "trainable as text", lambda e: set_trainable(e.vgg, "block1", trainable="no"), T, "'no'"),
    # --- masks ----------------------------------------------------------------------------------
    ("set_mask", "text instead of dict", lambda e: fl.set_mask(e.vgg, "F:block1 T:all"), T, "'F:block1 T:all'"),
    ("set_mask", "value as text", lambda e: fl.set_mask(e.vgg, {"block1_conv1": "no"}), T, "'no'"),
    ("set_mask", "value as int", lambda e: fl.set_mask(e.vgg, {"block1_conv1": 1}), T, "'block1_conv1': 1"),
    ("set_mask", "unknown layer", lambda e: fl.set_mask(e.vgg, {"nope": False}), V, "'nope'"),
    ("set_mask", "key not a name", lambda e: fl.set_mask(e.vgg, {1: False}), T, "key 1"),
    ("set_mask", "list of pairs", lambda e: fl.set_mask(e.vgg, [("block1_conv1", False)]), T, "[('block1_conv1', False)]"),
    ("get_mask", "model None", lambda e: fl.get_mask(None), T, "model=None"),
    ("get_mask", "unbuilt model", lambda e: fl.get_mask(e.unbuilt), V, "name=unbuilt, built=False"),
    ("mask_to_text", "value as text", lambda e: fl.mask_to_text({"a": "yes"}), T, "'yes'"),
    ("mask_to_text", "None", lambda e: fl.mask_to_text(None), T, "mask=None"),
    ("mask_to_text", "list", lambda e: fl.mask_to_text(["a"]), T, "['a']"),
    ("mask_from_text", "text as int", lambda e: fl.mask_from_text(3, e.names), T, "Received: 3"),
    ("mask_from_text", "names as int", lambda e: fl.mask_from_text("T:all", 5), T, "layer_names=5"),
    ("mask_from_text", "unknown block", lambda e: fl.mask_from_text("F:block9 T:all", e.names), V, "'block9'"),
    ("mask_from_text", "wrong prefix", lambda e: fl.mask_from_text("frozen:block1 T:all", e.names), V, "'frozen:block1'"),
    ("mask_from_text", "layers left out", lambda e: fl.mask_from_text("F:block1-3 T:block4-5", e.names), V, "'F:block1-3 T:block4-5'"),
    ("mask_from_text", "backwards run", lambda e: fl.mask_from_text("F:block3-1 T:all", e.names), V, "'block3-1'"),
    ("mask_from_text", "unbuilt model", lambda e: fl.mask_from_text("T:all", e.unbuilt), V, "built=False"),
    # --- counts ---------------------------------------------------------------------------------
    ("param_report", "model None", lambda e: fl.param_report(None), T, "model=None"),
    ("param_report", "unbuilt model", lambda e: fl.param_report(e.unbuilt), V, "name=unbuilt, built=False"),
    ("param_report", "only_weighted as text", lambda e: fl.param_report(e.seq, only_weighted="yes"), T, "'yes'"),
    ("count_params", "model as its name", lambda e: fl.count_params("vgg16"), T, "'vgg16'"),
    ("count_params", "unbuilt model", lambda e: fl.count_params(e.unbuilt), V, "built=False"),
    ("count_params", "a layer", lambda e: fl.count_params(keras.layers.Dense(3, name="lonely")), T, "lonely"),
    # --- the recompile trap ------------------------------------------------------------------------
    ("compile_status", "model None", lambda e: fl.compile_status(None), T, "model=None"),
    ("compile_status", "model as int", lambda e: fl.compile_status(42), T, "model=42"),
    ("recompile", "model None", lambda e: fl.recompile(None), T, "model=None"),
    ("recompile", "never compiled", lambda e: fl.recompile(fl.demo_sequential(4)), V, "'sequential_demo'"),
    ("recompile", "optimizer as int", lambda e: fl.recompile(e.seq, optimizer=3), T, "optimizer=3"),
    ("fresh_optimizer", "name", lambda e: fresh_optimizer("adam"), T, "'adam'"),
    ("guard", "model as text", lambda e: fl.guard("model"), T, "'model'"),
    ("guard", "unknown mode", lambda e: fl.guard(e.seq, on_stale="stop"), V, "'stop'"),
    ("check_pitfalls", "model None", lambda e: fl.check_pitfalls(None), T, "model=None"),
    ("check_pitfalls", "unbuilt model", lambda e: fl.check_pitfalls(e.unbuilt), V, "built=False"),
    ("check_pitfalls", "list of models", lambda e: fl.check_pitfalls([e.seq]), T, "[<Sequential"),
    # --- models and weights ------------------------------------------------------------------------
    ("load_vgg16", "input too small", lambda e: fl.load_vgg16(None, input_size=31), V, "input_size=31"),
    ("load_vgg16", "input as text", lambda e: fl.load_vgg16(None, input_size="224"), T, "'224'"),
    ("load_vgg16", "input not square", lambda e: fl.load_vgg16(None, input_size=(64, 48)), V, "(64, 48)"),
    ("load_vgg16", "grey input", lambda e: fl.load_vgg16(None, input_size=(64, 64, 1)), V, "(64, 64, 1)"),
    ("load_vgg16", "input as float", lambda e: fl.load_vgg16(None, input_size=64.0), T, "64.0"),
    ("load_vgg16", "unknown weights", lambda e: fl.load_vgg16("imagenet21k"), V, "'imagenet21k'"),
    ("load_vgg16", "weights as int", lambda e: fl.load_vgg16(123), T, "weights=123"),
    ("load_vgg16", "include_top as text", lambda e: fl.load_vgg16(None, include_top="yes"), T, "'yes'"),
    ("load_vgg16", "zero classes", lambda e: fl.load_vgg16(None, classes=0), V, "classes=0"),
    ("load_vgg16", "negative timeout", lambda e: fl.load_vgg16("auto", timeout=-1), V, "timeout=-1"),
    ("load_vgg16", "timeout as text", lambda e: fl.load_vgg16("auto", timeout="5"), T, "'5'"),
    ("load_vgg16", "timeout nan", lambda e: fl.load_vgg16("auto", timeout=float("nan")), V, "timeout=nan"),
    ("load_vgg16", "timeout None", lambda e: fl.load_vgg16("imagenet", timeout=None), T, "timeout=None"),
    ("load_vgg16", "verbose as text", lambda e: fl.load_vgg16(None, verbose="no"), T, "'no'"),
    ("load_vgg16", "text .h5 file", lambda e: fl.load_vgg16(e.text_h5, input_size=32), V, lambda e: str(e.text_h5)),
    ("load_vgg16", "html .weights.h5", lambda e: fl.load_vgg16(e.html, input_size=32), V, lambda e: str(e.html)),
    ("load_vgg16", ".txt file", lambda e: fl.load_vgg16(str(e.txt), input_size=32), V, lambda e: str(e.txt)),
    ("load_vgg16", "another model's weights", lambda e: fl.load_vgg16(e.other, input_size=32, verbose=False), V, lambda e: str(e.other)),
    ("load_vgg16", "a folder", lambda e: fl.load_vgg16(e.folder, input_size=32), V, lambda e: str(e.folder)),
    ("validate_input_size", "numpy float", lambda e: validate_input_size(np.float64(64)), T, "64.0"),
    ("with_head", "base None", lambda e: fl.with_head(None), T, "model=None"),
    ("with_head", "unbuilt base", lambda e: fl.with_head(e.unbuilt), V, "built=False"),
    ("with_head", "no head layers", lambda e: fl.with_head(e.any_size, (), pooling="avg"), V, "()"),
    ("with_head", "zero units", lambda e: fl.with_head(e.any_size, (0,), pooling="avg"), V, "head_units=0"),
    ("with_head", "float units", lambda e: fl.with_head(e.any_size, (12.5,), pooling="avg"), T, "12.5"),
    ("with_head", "units as text", lambda e: fl.with_head(e.any_size, "10", pooling="avg"), T, "'10'"),
    ("with_head", "unknown pooling", lambda e: fl.with_head(e.any_size, pooling="max"), V, "'max'"),
    ("with_head", "nested as text", lambda e: fl.with_head(e.any_size, nested="yes", pooling="avg"), T, "'yes'"),
    ("with_head", "flatten on any size", lambda e: fl.with_head(e.any_size, pooling="flatten"), V, "(None, None, None, 2)"),
    ("demo_sequential", "zero inputs", lambda e: fl.demo_sequential(input_dim=0), V, "input_dim=0"),
    ("demo_functional", "inputs as text", lambda e: fl.demo_functional(input_dim="100"), T, "'100'"),
    ("weights_source", "model as its name", lambda e: fl.weights_source("vgg16"), T, "'vgg16'"),
    ("describe_weights", "model None", lambda e: fl.describe_weights(None), T, "model=None"),
    # --- photos and preprocessing ------------------------------------------------------------------
    ("sample_image", "unknown photo", lambda e: fl.sample_image("dog"), V, "'dog'"),
    ("sample_image", "photo as int", lambda e: fl.sample_image(3), V, "name=3"),
    ("sample_image", "too small", lambda e: fl.sample_image("chelsea", size=4), V, "size=4"),
    ("sample_image", "size as float", lambda e: fl.sample_image("chelsea", size=32.0), T, "32.0"),
    ("to_caffe", "four channels", lambda e: fl.to_caffe(np.zeros((4, 4, 4))), V, "(4, 4, 4)"),
    ("to_caffe", "NaN pixel", lambda e: fl.to_caffe(NAN_IMAGE), V, "(16, 16, 3)"),
    ("to_caffe", "text", lambda e: fl.to_caffe("photo"), T, "'photo'"),
    ("to_caffe", "empty", lambda e: fl.to_caffe([]), V, "(0,)"),
    ("from_caffe", "infinite pixel", lambda e: fl.from_caffe(np.full((2, 2, 3), np.inf)), V, "(2, 2, 3)"),
    # --- feature maps, heatmaps, overlays ----------------------------------------------------------
    ("feature_maps", "NaN pixel", lambda e: fl.feature_maps(e.conv, NAN_IMAGE, "conv1"), V, "(16, 16, 3)"),
    ("feature_maps", "a batch", lambda e: fl.feature_maps(e.conv, e.image[None], "conv1"), V, "(1, 16, 16, 3)"),
    ("feature_maps", "unknown layer", lambda e: fl.feature_maps(e.conv, e.image, "conv9"), V, "'conv9'"),
    ("feature_maps", "Dense layer", lambda e: fl.feature_maps(e.conv, e.image, "predictions"), V, "'predictions'"),
    ("feature_maps", "channel out of range", lambda e: fl.feature_maps(e.conv, e.image, "conv1", [5]), V, "channels=[5]"),
    ("feature_maps", "no channels", lambda e: fl.feature_maps(e.conv, e.image, "conv1", []), V, "channels=[]"),
    ("feature_maps", "float channel", lambda e: fl.feature_maps(e.conv, e.image, "conv1", [1.5]), T, "[1.5]"),
    ("feature_maps", "channels as text", lambda e: fl.feature_maps(e.conv, e.image, "conv1", "0"), T, "'0'"),
    ("heatmap", "float channel", lambda e: fl.heatmap(e.conv, e.image, "conv1", channel=1.5), T, "1.5"),
    ("heatmap", "channel out of range", lambda e: fl.heatmap(e.conv, e.image, "conv1", channel=9), V, "channels=[9]"),
    ("heatmap", "wrong image size", lambda e: fl.heatmap(e.conv, np.zeros((32, 32, 3)), "conv1"), V, "(32, 32, 3)"),
    ("heatmap", "model as text", lambda e: fl.heatmap("model", e.image, "conv1"), T, "'model'"),
    ("heatmap", "layer as int", lambda e: fl.heatmap(e.conv, e.image, 3), T, "layer_name=3"),
    ("overlay", "sizes differ", lambda e: fl.overlay(e.image, np.zeros((5, 5))), V, "(5, 5)"),
    ("overlay", "alpha above 1", lambda e: fl.overlay(e.image, e.heat, alpha=1.5), V, "alpha=1.5"),
    ("overlay", "alpha as text", lambda e: fl.overlay(e.image, e.heat, alpha="0.5"), T, "'0.5'"),
    ("overlay", "unknown colormap", lambda e: fl.overlay(e.image, e.heat, colormap="jett"), V, "'jett'"),
    ("overlay", "NaN heatmap", lambda e: fl.overlay(e.image, np.full((16, 16), np.nan)), V, "(16, 16)"),
    # --- Grad-CAM --------------------------------------------------------------------------------
    ("grad_cam", "Dense layer", lambda e: fl.grad_cam(e.conv, e.image, layer_name="predictions"), V, "'predictions'"),
    ("grad_cam", "pooled layer", lambda e: fl.grad_cam(e.conv, e.image, layer_name="gap"), V, "'gap'"),
    ("grad_cam", "unknown layer", lambda e: fl.grad_cam(e.conv, e.image, layer_name="conv9"), V, "'conv9'"),
    ("grad_cam", "all-NaN image", lambda e: fl.grad_cam(e.conv, np.full((16, 16, 3), np.nan)), V, "(16, 16, 3)"),
    ("grad_cam", "class out of range", lambda e: fl.grad_cam(e.conv, e.image, class_index=3), V, "class_index=3"),
    ("grad_cam", "negative class", lambda e: fl.grad_cam(e.conv, e.image, class_index=-1), V, "class_index=-1"),
    ("grad_cam", "float class", lambda e: fl.grad_cam(e.conv, e.image, class_index=1.0), T, "1.0"),
    ("grad_cam", "a batch", lambda e: fl.grad_cam(e.conv, e.image[None]), V, "(1, 16, 16, 3)"),
    ("grad_cam", "model None", lambda e: fl.grad_cam(None, e.image), T, "model=None"),
    # --- gradient ascent and kernel pictures -------------------------------------------------------
    ("filter_pictures", "model as its name", lambda e: fl.filter_pictures("vgg16", "conv1", 0), T, "'vgg16'"),
    ("filter_pictures", "float filter", lambda e: fl.filter_pictures(e.conv, "conv1", 1.5, progress=False), T, "1.5"),
    ("filter_pictures", "filter out of range", lambda e: fl.filter_pictures(e.conv, "conv1", [9], progress=False), V, "filters=[9]"),
    ("filter_pictures", "no filters", lambda e: fl.filter_pictures(e.conv, "conv1", [], progress=False), V, "filters=[]"),
    ("filter_pictures", "Dense layer", lambda e: fl.filter_pictures(e.conv, "predictions", 0, progress=False), V, "'predictions'"),
    ("filter_pictures", "other size", lambda e: fl.filter_pictures(e.conv, "conv1", 0, size=32, progress=False), V, "size=32"),
    ("filter_pictures", "zero steps", lambda e: fl.filter_pictures(e.conv, "conv1", 0, steps=0, progress=False), V, "steps=0"),
    ("filter_pictures", "NaN step size", lambda e: fl.filter_pictures(e.conv, "conv1", 0, step_size=float("nan"), progress=False), V, "step_size=nan"),
    ("filter_pictures", "unknown regularizer", lambda e: fl.filter_pictures(e.conv, "conv1", 0, regularization="l2", progress=False), V, "'l2'"),
    ("filter_pictures", "unknown setting", lambda e: fl.filter_pictures(e.conv, "conv1", 0, stepz=3, progress=False), V, "stepz"),
    ("filter_pictures", "zero batch", lambda e: fl.filter_pictures(e.conv, "conv1", 0, batch_size=0, progress=False), V, "batch_size=0"),
    ("filter_pictures", "float jitter", lambda e: fl.filter_pictures(e.conv, "conv1", 0, jitter=1.5, progress=False), T, "jitter=1.5"),
    ("high_frequency_share", "NaN picture", lambda e: fl.high_frequency_share(NAN_IMAGE), V, "(16, 16, 3)"),
    ("high_frequency_share", "cutoff too high", lambda e: fl.high_frequency_share(e.image, cutoff=0.9), V, "cutoff=0.9"),
    ("chroma_share", "grey 2D", lambda e: fl.chroma_share(np.zeros((4, 4))), V, "(4, 4)"),
    ("kernel_pictures", "four input channels", lambda e: fl.kernel_pictures(np.zeros((3, 3, 4, 8))), V, "(3, 3, 4, 8)"),
    ("kernel_pictures", "count too large", lambda e: fl.kernel_pictures(e.kernel, count=9), V, "count=9"),
    ("kernel_pictures", "count as float", lambda e: fl.kernel_pictures(e.kernel, count=2.0), T, "count=2.0"),
    ("kernel_pictures", "NaN weights", lambda e: fl.kernel_pictures(np.full((3, 3, 3, 8), np.nan)), V, "(3, 3, 3, 8)"),
    ("kernel_pictures", "zero scale", lambda e: fl.kernel_pictures(e.kernel, scale=0), V, "scale=0"),
    # --- timing, sweeps, the cost model -----------------------------------------------------------
    ("time_train_step", "zero batch", lambda e: fl.time_train_step(e.seq, batch_size=0), V, "batch_size=0"),
    ("time_train_step", "float repeats", lambda e: fl.time_train_step(e.seq, repeats=1.5), T, "repeats=1.5"),
    ("time_train_step", "negative warmup", lambda e: fl.time_train_step(e.seq, warmup=-1), V, "warmup=-1"),
    ("time_train_step", "model None", lambda e: fl.time_train_step(None), V, "model None"),
    ("time_train_step", "unknown mask layer", lambda e: fl.time_train_step(e.seq, {"nope": False}, repeats=1, warmup=0), V, "'nope'"),
    ("time_train_step", "any input size", lambda e: fl.time_train_step(e.any_size), V, "(None, None, None, 3)"),
    ("time_forward", "bool batch", lambda e: time_forward(e.seq, batch_size=True), T, "batch_size=True"),
    ("predict_sweep", "no cases", lambda e: fl.predict_sweep(e.vgg, cases=[]), V, "cases=[]"),
    ("predict_sweep", "cases as text", lambda e: fl.predict_sweep(e.vgg, cases="all"), T, "'all'"),
    ("predict_sweep", "case as int", lambda e: fl.predict_sweep(e.vgg, cases=[3]), T, "cases[0]=3"),
    ("predict_sweep", "mask naming nothing", lambda e: fl.predict_sweep(e.vgg, cases=[{"nope": True}]), V, "'nope'"),
    ("run_sweep", "no cases", lambda e: fl.run_sweep(e.vgg, cases=[]), V, "cases=[]"),
    ("step_cost", "value as text", lambda e: step_cost(e.vgg, {"block1_conv1": "no"}), V, "'no'"),
    ("step_cost", "zero batch", lambda e: step_cost(e.vgg, batch_size=0), V, "batch_size=0"),
    ("layer_costs", "unbuilt model", lambda e: fl.layer_costs(e.unbuilt), V, "built=False"),
    ("layer_costs", "unknown choice", lambda e: fl.layer_costs(e.vgg, unknown="guess"), V, "'guess'"),
    ("memory_estimate", "unknown optimizer", lambda e: fl.memory_estimate(e.vgg, optimizer="adamx"), V, "'adamx'"),
    # --- datasets and the teacher ------------------------------------------------------------------
    ("load_target_dataset", "too small", lambda e: fl.load_target_dataset(image_size=4), V, "image_size=4"),
    ("load_target_dataset", "size as text", lambda e: fl.load_target_dataset(image_size="64"), T, "'64'"),
    ("load_target_dataset", "zero per class", lambda e: fl.load_target_dataset(train_per_class=0), V, "train_per_class=0"),
    ("load_target_dataset", "float per class", lambda e: fl.load_target_dataset(val_per_class=2.5), T, "val_per_class=2.5"),
    ("load_target_dataset", "negative seed", lambda e: fl.load_target_dataset(seed=-1), V, "seed=-1"),
    ("source_photo", "unknown class", lambda e: source_photo("bricks"), V, "'bricks'"),
    ("load_flowers", "share above 1", lambda e: load_flowers(val_share=1.5), V, "val_share=1.5"),
    ("load_flowers", "negative timeout", lambda e: load_flowers(timeout=-1), V, "timeout=-1"),
    ("pretrained_base", "unknown preference", lambda e: fl.pretrained_base(prefer="resnet"), V, "'resnet'"),
    ("pretrained_base", "input too small", lambda e: fl.pretrained_base(input_size=16), V, "input_size=16"),
    ("pretrained_base", "zero timeout", lambda e: fl.pretrained_base(timeout=0), V, "timeout=0"),
    ("build_teacher", "three widths", lambda e: build_teacher(32, widths=(8, 8, 8)), V, "(8, 8, 8)"),
    ("make_scenes", "float count", lambda e: fl.make_scenes(2.5), T, "num_images=2.5"),
    ("make_scenes", "too small", lambda e: fl.make_scenes(4, image_size=16), V, "image_size=16"),
    ("make_scenes", "unknown class", lambda e: fl.make_scenes(4, classes=("cross", "star")), V, "'star'"),
    ("make_pair_scene", "same class twice", lambda e: fl.make_pair_scene("ring", "ring"), V, "'ring'"),
    ("object_check", "shapes differ", lambda e: fl.object_check(np.ones((4, 4)), np.ones((1, 2, 2), bool), 0), V, "(1, 2, 2)"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "expected", "needle"),
    [
        pytest.param(call, kind, needle, id=f"{fn}: {case}")
        for fn, case, call, kind, needle in CASES
    ],
)
def test_bad_input_raises_a_clear_error_naming_the_value(env, call, expected, needle):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own chatter while loading a bad file
        with pytest.raises(Exception) as caught:
            call(env)
    error = caught.value
    if expected is TypeError:
        assert isinstance(error, ArgumentTypeError), repr(error)
        assert isinstance(error, ValueError)  # Keras-style callers catch ValueError
    else:
        assert type(error) is ValueError, repr(error)
    message = str(error)
    needle = needle(env) if callable(needle) else needle
    assert needle in message, message
    assert "Received" in message, message


def test_the_table_covers_enough_cases_and_functions():
    functions = {fn for fn, *_ in CASES}
    assert len(CASES) >= 100
    assert len(functions) >= 40


# --- inputs accepted on purpose ---------------------------------------------------------------


def layer_names(layers):
    return [layer.name for layer in layers]


def test_numpy_integers_are_accepted_wherever_ints_are(env):
    vgg, conv = env.vgg, env.conv
    index = np.argmax([0, 0, 5])  # np.int64(2), as learners get it
    assert layer_names(fl.select_layers(vgg, index)) == [vgg.layers[2].name]
    assert layer_names(fl.select_layers(vgg, slice(np.int32(0), np.int64(3)))) == layer_names(
        vgg.layers[:3]
    )
    assert layer_names(fl.select_layers(vgg, np.array([1, 2]))) == layer_names(vgg.layers[1:3])
    assert fl.sample_image("chelsea", size=np.int64(16)).shape == (16, 16, 3)
    assert fl.kernel_pictures(env.kernel, count=np.int16(2)).shape[0] == 2
    np.testing.assert_array_equal(
        fl.heatmap(conv, env.image, "conv1", channel=np.int64(1)),
        fl.heatmap(conv, env.image, "conv1", channel=1),
    )
    assert fl.grad_cam(conv, env.image, class_index=np.int64(1)).class_index == 1
    assert validate_input_size(np.int64(64)) == 64
    assert fl.demo_sequential(np.int32(5)).input_shape == (None, 5)
    data = fl.load_target_dataset(
        image_size=np.int64(16), train_per_class=np.int8(1), val_per_class=1
    )
    assert data.image_size == 16 and len(data.y_train) == data.num_classes


def test_numpy_bools_are_accepted_in_masks(env):
    model = fl.demo_sequential(4)
    fl.set_mask(model, {"dense_64": np.bool_(False)})
    frozen = {id(w) for w in model.non_trainable_weights}
    assert {id(w) for w in model.get_layer("dense_64").weights} == frozen
    assert (
        fl.mask_to_text({"dense_64": np.bool_(False), "dense_32": np.True_})
        == "F:dense_64 T:dense_32"
    )


def test_empty_selections_change_nothing_and_say_so_unless_written_empty(env):
    before = fl.get_mask(env.vgg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fl.freeze(env.vgg, []) == []  # written empty: nothing to say
        assert fl.set_mask(env.vgg, {}) == []
    with pytest.warns(EmptySelectionWarning, match=r"Received: spec=slice\(5, 5, None\)"):
        assert fl.freeze(env.vgg, slice(5, 5)) == []
    assert fl.get_mask(env.vgg) == before


def test_one_int_is_a_head_of_one_layer(env):
    model = fl.with_head(env.any_size, 3, pooling="avg")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [3]


def test_plain_masks_are_sweep_cases(env):
    mask = {name: not name.startswith("block1") for name in env.names}
    result = fl.predict_sweep(env.vgg, cases=[mask])
    (row,) = result.rows
    assert row.label == fl.mask_to_text(mask) == "F:block1 T:block2-5,head"
    assert row.predicted_fraction == step_cost(env.vgg, mask).relative_cost
    assert row.frozen == ("block1_conv1", "block1_conv2")


def test_optimizer_names_are_accepted_by_recompile():
    model = fl.demo_sequential(4)
    model.compile(optimizer="adam", loss="mse")
    fl.recompile(model, optimizer="sgd")
    assert isinstance(model.optimizer, keras.optimizers.SGD)
