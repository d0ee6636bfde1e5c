"""How long the freeze panel takes from one checkbox tick to all readouts updated.

Builds VGG16 (untrained weights; latency does not depend on them) with a small
head, opens the panel, and toggles one layer's checkbox many times. Each tick
runs the observer synchronously: set the layer's flag on the model, compute
every readout, write every label and the recompile badge. Beside it, in the
same run, the time of ``model.summary()`` (printed into a discarded buffer),
the yardstick a learner would otherwise re-run after each change.

Target: under 20 ms median per tick on a 2-core CPU.

Usage: .venv/bin/python benchmarks/panel_latency.py [--ticks 200] [--input-size 224]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time


def median_and_iqr(samples_s: list[float]) -> tuple[float, float]:
    """Median and interquartile range of ``samples_s``, in milliseconds."""
    quartiles = statistics.quantiles(samples_s, n=4)
    return statistics.median(samples_s) * 1e3, (quartiles[2] - quartiles[0]) * 1e3


def time_calls(call, repeats: int) -> list[float]:
    """Seconds taken by each of ``repeats`` calls of ``call``."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200, help="checkbox changes to time")
    parser.add_argument("--input-size", type=int, default=224, help="VGG16 input side")
    args = parser.parse_args()

    import keras

    import freezelab
    from freezelab.speed.timing import describe_device
    from freezelab.widgets.freeze_panel import freeze_panel

    base = freezelab.load_vgg16(weights=None, input_size=args.input_size, verbose=False)
    model = freezelab.with_head(base, head_units=(128, 10), pooling="avg")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    panel = freeze_panel(model, timer=None)
    box = panel.checkboxes["block3_conv2"]

    def tick():
        box.value = not box.value

    def readout_only():
        panel.layout.readout(panel.mask)

    def summary():
        model.summary(print_fn=lambda *a, **k: None, line_length=100)

    def summary_to_buffer():
        buffer = io.StringIO()
        model.summary(print_fn=lambda line, **k: buffer.write(line))

    for call in (tick, readout_only, summary):  # warm caches and lazy imports
        call()
    tick_ms = median_and_iqr(time_calls(tick, args.ticks))
    readout_ms = median_and_iqr(time_calls(readout_only, args.ticks))
    summary_ms = median_and_iqr(time_calls(summary_to_buffer, max(10, args.ticks // 10)))

    print(f"machine: {describe_device()}; Keras {keras.__version__} ({keras.backend.backend()})")
    print(
        f"model: VGG16 {args.input_size}x{args.input_size} + head, "
        f"{len(panel.checkboxes)} checkboxes, cost source: {panel.layout.cost_source}"
    )
    print(
        f"tick -> all readouts updated: median {tick_ms[0]:.2f} ms (IQR {tick_ms[1]:.2f} ms, "
        f"{args.ticks} ticks)"
    )
    print(f"  of which readout arithmetic: median {readout_ms[0]:.3f} ms")
    print(
        f"model.summary():              median {summary_ms[0]:.2f} ms (IQR {summary_ms[1]:.2f} ms)"
    )
    print(
        f"summary / tick: {summary_ms[0] / tick_ms[0]:.1f}x; target tick < 20 ms: "
        f"{'met' if tick_ms[0] < 20 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
