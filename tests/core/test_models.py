import keras
import numpy as np
import pytest

from freezelab.core import models
from freezelab.core.models import load_vgg16, validate_input_size, weights_source, with_head


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


def test_auto_falls_back_quickly_and_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(models, "_WEIGHTS_HOST", ("127.0.0.1", 9))  # nothing listens there
    model = load_vgg16(weights="auto", input_size=32, timeout=2)
    assert weights_source(model) == "untrained"
    out = capsys.readouterr().out
    assert "UNTRAINED" in out and "notice" in out


def test_auto_uses_cached_imagenet_file_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cached = models.imagenet_cache_path(include_top=False)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert models.imagenet_available(timeout=0.1)


def test_auto_never_hangs_when_server_never_answers(monkeypatch, tmp_path):
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # accepts the connection, never sends a byte
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(models, "_WEIGHTS_HOST", listener.getsockname())

    def never_returns(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(keras.utils, "get_file", never_returns)
    start = time.perf_counter()
    assert not models.imagenet_available(timeout=1.0)
    assert time.perf_counter() - start < 3
    listener.close()


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
