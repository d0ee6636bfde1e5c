"""Sweep cases, predictions, the measured table, its JSON record and plot."""

import json
import math
import statistics

import keras
import matplotlib.pyplot as plt
import pytest
from keras import layers
from matplotlib.collections import PathCollection

from freezelab.core.freezing import set_mask
from freezelab.plotting.timing import plot_block_shares, plot_measured_vs_predicted
from freezelab.speed.cost import step_cost
from freezelab.speed.probes import trainable_shapes
from freezelab.speed.sweep import (
    CACHED,
    FLOOR,
    OVERHEAD,
    UPDATE,
    predict_sweep,
    run_sweep,
    standard_cases,
)

EXPECTED_LABELS = [
    "nothing frozen",
    "block1",
    "blocks 1-2",
    "blocks 1-3",
    "blocks 1-4",
    "blocks 1-5",
    "block2 only",
    "block3 only",
    "block4 only",
    "block5 only",
]


def tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2")(x)
    outputs = layers.Dense(5, name="dense")(layers.Flatten(name="flatten")(x))
    return keras.Model(inputs, outputs)


def test_standard_cases_on_vgg(small_vgg_flat):
    cases = standard_cases(small_vgg_flat)
    assert [c.label for c in cases] == EXPECTED_LABELS
    assert [c.kind for c in cases] == ["none"] + ["prefix"] * 5 + ["middle"] * 3 + ["last"]


@pytest.mark.parametrize(
    ("label", "frozen_prefixes"),
    [
        ("blocks 1-2", ("block1_", "block2_")),
        ("block4 only", ("block4_",)),
        ("block5 only", ("block5_",)),
        ("blocks 1-5", ("block1_", "block2_", "block3_", "block4_", "block5_")),
    ],
)
def test_case_masks_freeze_exactly_their_blocks(small_vgg_flat, label, frozen_prefixes):
    case = next(c for c in standard_cases(small_vgg_flat) if c.label == label)
    set_mask(small_vgg_flat, case.mask)
    trainable_layers = {w.path.split("/")[0] for w in small_vgg_flat.trainable_weights}
    expected = {
        layer.name
        for layer in small_vgg_flat.layers
        if layer.weights and not layer.name.startswith(frozen_prefixes)
    }
    assert trainable_layers == expected
    assert "predictions" in trainable_layers  # the head always trains


def test_standard_cases_without_vgg_blocks_freeze_layer_prefixes():
    cases = standard_cases(tiny_model())
    assert [c.label for c in cases] == ["nothing frozen", "conv1", "layers 1-2"]
    assert cases[2].mask == {"conv1": False, "conv2": False, "dense": True}


def test_predictions_are_the_cost_models_and_prefixes_keep_getting_cheaper(small_vgg_flat):
    result = predict_sweep(small_vgg_flat, batch_size=4)
    cases = standard_cases(small_vgg_flat)
    for row, case in zip(result.rows, cases):
        assert row.predicted_fraction == step_cost(small_vgg_flat, case.mask, 4).relative_cost
    prefix = [r.predicted_fraction for r in result.rows if r.kind in ("none", "prefix")]
    assert prefix == sorted(prefix, reverse=True) and prefix[0] == 1.0
    rows = {r.label: r for r in result.rows}
    assert rows["block3 only"].predicted_fraction > rows["blocks 1-3"].predicted_fraction
    assert not result.measured and "predicted" in result.table()


def test_run_sweep_table_json_and_plot(tmp_path):
    model = tiny_model()
    case_masks = {c.label: c.mask for c in standard_cases(model)}
    lines = []
    result = run_sweep(
        model, batch_size=2, repeats=3, warmup=1, progress=lines.append, interleave=True
    )
    assert len(lines) == 4 and result.measured and result.setup["interleaved"]
    first = result.rows[0]
    assert first.measured_fraction == 1.0 and first.measured_speedup == 1.0
    floor, update = result.setup["floor_share"], result.setup["update_share"]
    full = step_cost(model, case_masks["nothing frozen"]).time_fraction(floor, update)
    for row, timing in zip(result.rows, result.timings):
        assert row.median_ms == timing.median_ms
        # Interleaved: the median of same-round ratios, robust to load drift between rounds.
        reference = result.timings[0].times_ms
        ratios = [t / r for t, r in zip(timing.times_ms, reference)]
        assert row.measured_fraction == pytest.approx(statistics.median(ratios))
        low, high = statistics.quantiles(ratios, n=4, method="inclusive")[::2]
        assert row.fraction_quartiles == pytest.approx((low, high))
        assert row.error == pytest.approx(row.predicted_fraction / row.measured_fraction - 1)
        expected = step_cost(model, case_masks[row.label]).time_fraction(floor, update) / full
        assert row.adjusted_fraction == pytest.approx(expected)
    # The floor is the same compiled train function with nothing trainable; the share is per round.
    floor_ratios = [f / r for f, r in zip(result.times(FLOOR), result.times("nothing frozen"))]
    assert floor == pytest.approx(min(statistics.median(floor_ratios), 1.0))
    updates = [u - o for u, o in zip(result.times(UPDATE), result.times(OVERHEAD))]
    assert result.setup["update_ms"] == pytest.approx(max(statistics.median(updates), 0.0))
    assert CACHED not in result.extras  # tiny_model has no VGG blocks, so no head to cache for
    record = json.loads(result.save_json(tmp_path / "sweep.json").read_text())
    assert record["setup"]["device"].startswith("CPU (")
    assert record["setup"]["backend"] == "tensorflow"
    import tensorflow as tf

    assert record["setup"]["backend_version"] == tf.__version__
    assert [r["label"] for r in record["rows"]] == ["nothing frozen", "conv1", "layers 1-2"]
    assert len(record["rows"][1]["times_ms"]) == 3
    assert set(record["extras"]) == {FLOOR, OVERHEAD, UPDATE}
    assert "ms/step" in result.table() and "terms" in result.table()
    fractions_only = result.table(times=False).splitlines()
    assert "ms/step" not in fractions_only[0] and "terms" in fractions_only[0]
    assert fractions_only[4].split()[:2] == ["layers", "1-2"]
    assert fractions_only[4].split()[2] == f"{result.rows[2].measured_fraction:.1%}"
    assert "update" in result.terms_table()
    assert len(result.setup["load_average_before"]) == 3
    ax = plot_measured_vs_predicted(result)
    hollow = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    assert sum(len(c.get_offsets()) for c in hollow) == len(result.rows)
    plt.close("all")


def test_compare_pairs_rounds_and_needs_an_interleaved_sweep():
    model = tiny_model()
    result = run_sweep(model, batch_size=2, repeats=3, warmup=1, progress=None, interleave=True)
    verdict = result.compare("layers 1-2", "nothing frozen")
    ratios = [a / b for a, b in zip(result.times("layers 1-2"), result.times("nothing frozen"))]
    assert verdict.median == pytest.approx(statistics.median(ratios)) and verdict.pairs == 3
    with pytest.raises(ValueError, match="Received: 'block9'"):
        result.times("block9")
    alone = run_sweep(model, batch_size=2, repeats=2, warmup=0, progress=None)
    with pytest.raises(ValueError, match="interleaved=False"):
        alone.compare("conv1", "nothing frozen")
    assert alone.rows[0].fraction_quartiles is None


def test_eager_arms_and_their_validation():
    model = tiny_model()
    result = run_sweep(
        model,
        batch_size=2,
        repeats=2,
        warmup=1,
        progress=None,
        interleave=True,
        eager=["nothing frozen"],
    )
    assert result.extras["eager: nothing frozen"].run_eagerly
    with pytest.raises(ValueError, match="Received: \\['block9'\\]"):
        run_sweep(model, eager=["block9"], progress=None)


def test_an_eager_floor_and_the_variable_count_probe(monkeypatch):
    import freezelab.speed.sweep as sweep

    built = []
    real_probe, real_copy = sweep.update_probe, sweep.compiled_copy
    monkeypatch.setattr(
        sweep, "update_probe", lambda shapes: built.append(shapes) or real_probe(shapes)
    )
    copies = []

    def copy_and_keep(*args, **kwargs):
        copies.append(real_copy(*args, **kwargs))
        return copies[-1]

    monkeypatch.setattr(sweep, "compiled_copy", copy_and_keep)
    model = tiny_model()
    result = run_sweep(
        model,
        batch_size=2,
        repeats=2,
        warmup=1,
        progress=None,
        interleave=True,
        eager=[sweep.FLOOR],
        variable_count_probe=True,
    )
    eager_floor = result.extras["eager: " + sweep.FLOOR]
    assert eager_floor.run_eagerly and len(eager_floor.times_ms) == 2
    assert copies[-1].trainable_weights == []  # the eager copy trains nothing: a floor
    # Independent truth: one single-number weight per variable Keras lists as trainable.
    assert built[-1] == [(1,)] * len(model.trainable_weights)
    assert len(result.times(sweep.VARIABLE_COUNT)) == 2


def test_cached_features_arm_on_a_vgg_style_model(small_vgg_flat):
    cases = standard_cases(small_vgg_flat)
    result = run_sweep(
        small_vgg_flat,
        [cases[0], cases[-1]],
        batch_size=2,
        repeats=2,
        warmup=1,
        progress=None,
        interleave=True,
    )
    assert result.setup["cached_ms"] == result.extras[CACHED].median_ms > 0


def test_plot_needs_measurements(small_vgg_flat):
    with pytest.raises(ValueError, match="predictions only"):
        plot_measured_vs_predicted(predict_sweep(small_vgg_flat))


def test_block_share_bars_are_drawn_one_pair_per_block(small_vgg_flat):
    from freezelab.speed.cost import block_shares

    shares = block_shares(small_vgg_flat)
    ax = plot_block_shares(shares)
    assert len(ax.patches) == 2 * len(shares)
    plt.close("all")


def test_run_sweep_needs_cases():
    with pytest.raises(ValueError, match="at least one case"):
        run_sweep(tiny_model(), cases=[])


def test_update_probes_hold_exactly_the_chosen_layers_weights(small_vgg_flat):
    cases = standard_cases(small_vgg_flat)
    probes = {"update probe: block3": ["block3_"], "update probe: block4": ["block4_"]}
    result = run_sweep(
        small_vgg_flat,
        [cases[0]],
        batch_size=2,
        repeats=2,
        warmup=1,
        progress=None,
        interleave=True,
        update_probes=probes,
    )
    for label in probes:
        assert len(result.times(label)) == 2 and result.extras[label].median_ms > 0
        verdict = result.compare(label, "update probe: block3")
        assert verdict.pairs == 2
    # Independent truth: the layers' own weights (VGG16: block3 1,475,328, block4 5,899,776).
    for prefix, params in [("block3_", 1_475_328), ("block4_", 5_899_776)]:
        own = [
            tuple(v.shape)
            for layer in small_vgg_flat.layers
            if layer.name.startswith(prefix)
            for v in layer.trainable_weights
        ]
        assert trainable_shapes(small_vgg_flat, [prefix]) == own and len(own) == 6
        assert sum(math.prod(shape) for shape in own) == params


def test_update_probe_arms_are_built_from_those_shapes(small_vgg_flat, monkeypatch):
    import freezelab.speed.sweep as sweep

    built = []
    real = sweep.update_probe
    monkeypatch.setattr(sweep, "update_probe", lambda shapes: built.append(shapes) or real(shapes))
    cases = standard_cases(small_vgg_flat)
    run_sweep(
        small_vgg_flat,
        [cases[0]],
        batch_size=2,
        repeats=1,
        warmup=0,
        progress=None,
        interleave=True,
        update_probes={"block4 weights": ["block4_"]},
    )
    expected = [
        tuple(v.shape)
        for layer in small_vgg_flat.layers
        if layer.name.startswith("block4_")
        for v in layer.trainable_weights
    ]
    assert built[-1] == expected


@pytest.mark.parametrize(
    ("probes", "message"),
    [
        ({"nothing frozen": ["block4_"]}, "must differ"),
        ({UPDATE: ["block4_"]}, "must differ"),
        ({"p": "block4_"}, "lists of layer-name prefixes"),
        ({"p": ["block9_"]}, "Received: prefixes=\\['block9_'\\]"),
        ([("p", ["block4_"])], "maps an arm label"),
    ],
)
def test_update_probes_are_checked(small_vgg_flat, probes, message):
    with pytest.raises(ValueError, match=message):
        run_sweep(small_vgg_flat, progress=None, update_probes=probes)


def test_a_dict_of_labelled_masks_times_under_those_labels_and_masks():
    model = tiny_model()
    cases = standard_cases(model)
    middle = {"conv1": True, "conv2": False, "dense": True}  # not a standard case
    labelled = {"reference": cases[0], "conv2 only": middle}
    result = run_sweep(
        model, labelled, batch_size=2, repeats=2, warmup=0, progress=None, interleave=True
    )
    assert [row.label for row in result.rows] == ["reference", "conv2 only"]
    assert [row.kind for row in result.rows] == ["none", "custom"]
    assert result.rows[1].frozen == ("conv2",)
    assert result.rows[1].predicted_fraction == step_cost(model, middle, 2).relative_cost
    assert len(result.times("conv2 only")) == 2
    with pytest.raises(TypeError, match="Received"):
        predict_sweep(model, {3: middle})
    with pytest.raises(TypeError, match="list of cases"):
        predict_sweep(model, middle)  # one bare mask is not a dict of labelled masks


def test_extra_arms_as_table_rows_with_their_same_round_fractions():
    import freezelab.speed.sweep as sweep

    model = tiny_model()
    result = run_sweep(model, batch_size=2, repeats=3, warmup=1, progress=None, interleave=True)
    table = result.table(predictions=False, extras=[sweep.FLOOR])
    floor_line = next(line for line in table.splitlines() if line.startswith(sweep.FLOOR))
    # By hand: the median of the floor's step over the same round's fully trainable step.
    ratios = [
        f / r for f, r in zip(result.extras[sweep.FLOOR].times_ms, result.timings[0].times_ms)
    ]
    assert f"{statistics.median(ratios):.1%}" in floor_line
    assert f"{result.extras[sweep.FLOOR].median_ms:.1f}" in floor_line
    with pytest.raises(ValueError, match="Received: \\['nowhere'\\]"):
        result.table(extras=["nowhere"])
    alone = run_sweep(model, batch_size=2, repeats=1, warmup=0, progress=None)
    with pytest.raises(ValueError, match="interleaved=False"):
        alone.table(extras=[sweep.FLOOR])
