import hashlib
import re
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from freezelab.core import models
from freezelab.core.models import (
    describe_weights,
    load_vgg16,
    validate_input_size,
    weights_source,
    with_head,
)
from tests.support.servers import closed_port_url, serve, silent_listener


def test_vgg16_facts_without_and_with_top():
    base = load_vgg16(weights=None, verbose=False)
    assert len(base.layers) == 19
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in base.layers) == 13
    assert base.count_params() == 14_714_688
    full = load_vgg16(weights=None, include_top=True, verbose=False)
    assert full.count_params() == 138_357_544


def test_weights_from_a_local_file_round_trip(tmp_path):
    source = load_vgg16(weights=None, input_size=32, verbose=False)
    path = tmp_path / "mine.weights.h5"
    source.save_weights(path)
    loaded = load_vgg16(weights=str(path), input_size=32, verbose=False)
    for a, b in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert weights_source(loaded) == f"file:{path}"


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_vgg16(weights=str(tmp_path / "absent.weights.h5"), verbose=False)


def legacy_h5(path, model):
    """Writes ``model``'s weights in the legacy .h5 layout Keras publishes ImageNet weights in."""
    import h5py

    weighted = [layer for layer in model.layers if layer.weights]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in weighted]
        for layer in weighted:
            group = f.create_group(layer.name)
            names = [f"{layer.name}_{i}:0".encode() for i in range(len(layer.weights))]
            group.attrs["weight_names"] = names
            for name, weight in zip(names, layer.weights):
                group.create_dataset(name.decode(), data=weight.numpy())
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def keras_home(monkeypatch, tmp_path):
    """An empty Keras cache, and downloads pointed at a local port that refuses them."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(models, "VGG16_WEIGHTS_URL", closed_port_url())
    return tmp_path


def test_auto_falls_back_quickly_and_says_so(keras_home, capsys):
    model = load_vgg16(weights="auto", input_size=32, timeout=2)
    assert weights_source(model) == "untrained"
    out = capsys.readouterr().out
    assert "UNTRAINED" in out and "notice" in out
    # The notice gives the real reason and the real elapsed time, not the timeout.
    notice = next(line for line in out.splitlines() if "notice" in line)
    assert "connection refused by 127.0.0.1" in notice
    assert re.search(r"gave up after 0\.\d s", notice), notice


def test_auto_uses_cached_imagenet_file_without_network(keras_home, monkeypatch):
    source = load_vgg16(weights=None, input_size=32, verbose=False)
    cached = models.imagenet_cache_path(include_top=False)
    cached.parent.mkdir(parents=True)
    md5 = legacy_h5(cached, source)
    monkeypatch.setitem(models.VGG16_MD5, cached.name, md5)
    assert models.imagenet_available(timeout=0.1)
    loaded = load_vgg16(weights="auto", input_size=32, verbose=False, timeout=0.1)
    assert weights_source(loaded) == "imagenet"
    for a, b in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_imagenet_is_downloaded_verified_and_loaded(keras_home, monkeypatch, tmp_path):
    source = load_vgg16(weights=None, input_size=32, verbose=False)
    served = tmp_path / "served.h5"
    md5 = legacy_h5(served, source)
    monkeypatch.setitem(models.VGG16_MD5, models.VGG16_NOTOP_FILE, md5)
    with serve({models.VGG16_NOTOP_FILE: served.read_bytes()}) as url:
        monkeypatch.setattr(models, "VGG16_WEIGHTS_URL", url)
        loaded = load_vgg16(weights="imagenet", input_size=32, verbose=False, timeout=5)
    assert weights_source(loaded) == "imagenet"
    assert models.imagenet_cache_path().read_bytes() == served.read_bytes()
    np.testing.assert_array_equal(loaded.weights[-1].numpy(), source.weights[-1].numpy())


def test_auto_never_hangs_when_server_never_answers(keras_home, monkeypatch, capsys):
    with silent_listener() as url:
        monkeypatch.setattr(models, "VGG16_WEIGHTS_URL", url)
        start = time.perf_counter()
        assert not models.imagenet_available(timeout=1.0)
        assert time.perf_counter() - start < 3
        start = time.perf_counter()
        model = load_vgg16(weights="auto", input_size=32, timeout=1.0)
        elapsed = time.perf_counter() - start
    assert weights_source(model) == "untrained"
    assert elapsed < 4
    notice = capsys.readouterr().out
    assert "no answer from 127.0.0.1" in notice and "within 1 s" in notice
    assert re.search(r"gave up after 1\.\d s", notice), notice


def test_imagenet_never_hangs_when_server_never_answers(keras_home, monkeypatch):
    with silent_listener() as url:
        monkeypatch.setattr(models, "VGG16_WEIGHTS_URL", url)
        start = time.perf_counter()
        with pytest.raises(ConnectionError, match=r"no answer from 127\.0\.0\.1.*within 1 s"):
            load_vgg16(weights="imagenet", input_size=32, timeout=1.0, verbose=False)
        assert time.perf_counter() - start < 4


def test_truncated_cached_imagenet_file_is_detected_and_auto_falls_back(keras_home, capsys):
    cached = models.imagenet_cache_path(include_top=False)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 4096)  # an interrupted download
    assert not models.imagenet_available(timeout=0.5)
    model = load_vgg16(weights="auto", input_size=32, timeout=0.5)
    assert weights_source(model) == "untrained"
    notice = capsys.readouterr().out
    assert str(cached) in notice and "incomplete or corrupt" in notice and "4,104 bytes" in notice
    with pytest.raises(ConnectionError, match=re.escape(str(cached))):
        load_vgg16(weights="imagenet", input_size=32, timeout=0.5, verbose=False)


def test_published_hashes_and_address_are_keras_own():
    source = Path(keras.__file__).parent / "src" / "applications" / "vgg16.py"
    text = source.read_text()
    for name, md5 in models.VGG16_MD5.items():
        assert f'"{name}"' in text and f'file_hash="{md5}"' in text
    from keras.src.applications import vgg16  # Keras's own record, read in the test only

    assert vgg16.WEIGHTS_PATH_NO_TOP == models.VGG16_WEIGHTS_URL + models.VGG16_NOTOP_FILE
    assert vgg16.WEIGHTS_PATH == models.VGG16_WEIGHTS_URL + models.VGG16_TOP_FILE


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("notes.h5", b"these are not weights", r"not an HDF5 file \(21 bytes"),
        ("notes.weights.h5", b"<html>404</html>", r"not an HDF5 file"),
        ("weights.txt", b"x", r"\.weights\.h5, \.h5, \.hdf5, \.keras files"),
    ],
)
def test_unreadable_weights_file_is_named(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as error:
        load_vgg16(weights=str(path), input_size=32, verbose=False)
    assert str(path) in str(error.value)


def test_weights_of_another_model_are_named(tmp_path):
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match=r"does not fit model 'vgg16'") as error:
        load_vgg16(weights=path, input_size=32, verbose=False)
    assert f"Received: weights='{path}'" in str(error.value)


def test_a_folder_is_not_a_weights_file(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        load_vgg16(weights=tmp_path, input_size=32, verbose=False)


@pytest.mark.parametrize(
    ("size", "match"),
    [
        (31, "at least 32x32.*Received: input_size=31"),
        ((64, 64, 1), "3 channels.*Received: input_shape=\\(64, 64, 1\\)"),
        ((64, 48), "Received: input_size=\\(64, 48\\)"),
        ("224", "Received: input_size='224'"),
    ],
)
def test_inputs_vgg16_cannot_take(size, match):
    with pytest.raises(ValueError, match=match):
        validate_input_size(size)
    with pytest.raises(ValueError, match=match):
        load_vgg16(weights=None, input_size=size, verbose=False)


def test_unknown_weights_value():
    with pytest.raises(ValueError, match="Received: weights='imagenet21k'"):
        load_vgg16(weights="imagenet21k", verbose=False)


def test_with_head_flattened_and_nested():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    flat = with_head(base, (16, 3))
    assert "block1_conv1" in [layer.name for layer in flat.layers]
    nested = with_head(load_vgg16(weights=None, input_size=32, verbose=False), (16, 3), nested=True)
    assert [layer.name for layer in nested.layers][1] == "vgg16"
    with pytest.raises(ValueError, match="pooling"):
        with_head(base, (3,), pooling="max")


def test_untrained_notice_claims_exact_counts_and_nothing_about_timings():
    model = load_vgg16(weights=None, input_size=32, verbose=False)
    line = describe_weights(model)
    assert "UNTRAINED" in line
    assert "Parameter and FLOP counts do not depend on the weights' values" in line
    assert "timing" not in line  # no run measures whether timings depend on the values


def test_a_model_built_on_a_freezelab_base_is_described_by_its_layers():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    head = keras.layers.Dense(3, name="head")
    model = keras.Model(base.input, head(keras.layers.Flatten()(base.output)))
    line = describe_weights(model)
    # Plain words (issue 25): the base by name and its weights, the added head, and
    # the sentence the app page prints for untrained weights.
    assert f"for {model.name!r}: base 'vgg16': UNTRAINED (random weights); " in line
    assert "head: 1 layer added outside freezelab, initialised by Keras" in line
    assert "Parameter and FLOP counts do not depend on the weights' values" in line
    assert "came from a freezelab model" not in line and "unknown" not in line
    # A layer with weights before the base is no head.
    stem = keras.layers.Dense(3, name="stem")
    inputs = keras.Input((32, 32, 3))
    before = keras.Model(inputs, base(stem(inputs)))
    assert "; 1 layer added outside freezelab" in describe_weights(before)
    stranger = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert "unknown (a model freezelab did not build)" in describe_weights(stranger)


def test_teacher_notice_says_who_pretrained_it_and_on_what():
    from freezelab.sources.teacher import load_teacher

    line = describe_weights(load_teacher(input_size=32, verbose=False))
    assert "pretrained by tools/train_teacher.py on its 20-class source task" in line
    assert "(not ImageNet)" in line
    assert "pretrained here" not in line  # "here" read as "in this notebook"
