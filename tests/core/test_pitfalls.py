import keras
import numpy as np

from freezelab.core.freezing import freeze
from freezelab.core.models import load_vgg16, with_head
from freezelab.core.pitfalls import check_pitfalls


def codes(report):
    return [p.code for p in report]


def test_dense_on_feature_map_is_a_spatial_head():
    base = load_vgg16(weights=None, input_size=224, verbose=False)
    model = with_head(base, (1,), pooling="none")
    assert model.output.shape == (None, 7, 7, 1)
    report = check_pitfalls(model)
    assert "spatial_head" in codes(report)
    assert "(None, 7, 7, 1)" in str(report)


def test_nested_head_or_base_is_flagged_with_its_index():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), nested=True)
    report = check_pitfalls(model)
    pitfall = next(p for p in report if p.code == "nested_layers_slice")
    assert "'vgg16' (index 1) holds 19 layers" in pitfall.message


def test_trainable_base_under_untrained_head_is_flagged_until_trained():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), pooling="avg")
    assert "unfrozen_base_untrained_head" in codes(check_pitfalls(model))
    freeze(model, "block[1-5]_*")
    assert "unfrozen_base_untrained_head" not in codes(check_pitfalls(model))


def test_clean_model_has_no_pitfalls():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), pooling="avg")
    freeze(model, "block[1-5]_*")
    report = check_pitfalls(model)
    assert list(report) == []
    assert str(report) == "No pitfalls found."


def test_recompile_needed_is_reported():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    freeze(model, "d")
    assert "recompile_needed" in codes(check_pitfalls(model))
