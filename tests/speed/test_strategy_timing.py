"""Step timing per strategy: one interleaved run, counts from Keras, predictions from the cost model."""

import math

import pytest

from freezelab.core.peft import apply_strategy
from freezelab.sources.vit import tiny_vit
from freezelab.speed.cost import step_cost
from freezelab.speed.strategy_timing import prepare_strategy, time_strategies


def build():
    return tiny_vit(image_size=8, patch_size=4, width=8, depth=2, num_heads=2, mlp_width=16)


@pytest.fixture(scope="module")
def timings():
    return time_strategies(
        build, ["head", ("lora", {"rank": 2}), "bitfit", "full"], batch_size=4, rounds=3, warmup=1
    )


def test_rows_follow_the_order_asked_and_count_what_keras_counts(timings):
    assert [r.label for r in timings.rows] == ["head", "lora r2", "bitfit", "full"]
    for row in timings.rows:
        model = build()
        apply_strategy(model, row.strategy, **row.options)
        assert row.trainable_params == sum(math.prod(v.shape) for v in model.trainable_weights)
        assert row.all_params == model.count_params()
        assert row.optimizer_bytes == 2 * 4 * row.trainable_params  # Adam: two float32 moments
        assert row.predicted_flops == step_cost(model, None, 4).total_flops
    assert timings.row("full").predicted_fraction == 1.0
    assert timings.row("head").predicted_fraction < timings.row("bitfit").predicted_fraction < 1


def test_times_are_one_per_round_and_summarised(timings):
    for row in timings.rows:
        assert len(row.times_ms) == 3 and all(t > 0 for t in row.times_ms)
        assert row.q1_ms <= row.median_ms <= row.q3_ms
    assert timings.measured_fraction("full") == 1.0
    ratios = timings.round_ratios("head")
    assert len(ratios) == 3
    assert "lora r2" in timings.table() and "interleaved rounds" in timings.table()
    assert timings.to_json()["rows"][1]["options"] == {"rank": 2}


def test_labels_and_bad_specs():
    label, _model, options, result = prepare_strategy(build, ("top_blocks", {"top_blocks": 2}))
    assert label == "top_blocks 2" and result.top_blocks == 2 and options == {"top_blocks": 2}
    with pytest.raises(ValueError, match="Unknown strategy"):
        prepare_strategy(build, "adapters")
    with pytest.raises(ValueError, match="takes options"):
        prepare_strategy(build, ("head", {"rank": 2}))
    with pytest.raises(ValueError, match="own label"):
        time_strategies(build, ["head", "head"], rounds=1)
    with pytest.raises(ValueError, match="non-empty"):
        time_strategies(build, [])
