"""Record: lesson 06's parts d and e at full length (FREEZELAB_QUICK=0 sizes).

Lesson 06 (`notebooks/06_batchnorm_and_training_false.ipynb`) runs its accuracy
comparisons in quick mode in CI: 40 fine-tuning steps, where the "statistics
updating" arm's moving averages still hold 0.99 ** 40 = 67 % of the source
statistics. This script runs the lesson's part d (three BN arms, the lesson's
eight seeds 100-107, per-epoch evaluation and re-estimation) and part e (test 2: momentum 0.9;
test 3: frozen base with source or target statistics) at the lesson's full-mode
sizes (64 training images per class, 12 epochs: 480 steps; head-only 24 epochs),
with the lesson's arm builders, seeds, splits, budget and verdict rule, and
writes one JSON record with the device, the load average before and after, the
library versions, the date, the per-seed tables and the verdict lines.

The record is written after each part, so a run cut short keeps what finished.

The committed record of 2026-12-06 19:55 UTC was made by an earlier version of
this script with seeds 0-4: it took 292 s on a 2-thread CPU under a load
average of about 1.3-1.6. With eight seeds expect about 8/5 of that, roughly
8 minutes (scaled, not measured).

Usage (keep the machine otherwise idle)::

    python benchmarks/bn_lesson06_full.py --record benchmarks/records
"""

from __future__ import annotations

import os

os.environ["FREEZELAB_QUICK"] = "0"  # before freezelab reads it: full-mode sizes

import argparse
import datetime
import json
import math
import platform
import re
import time
from pathlib import Path

import keras
import numpy as np

import freezelab as fl

# The lesson's settings (cell 2), full mode.
IMAGE_SIZE = 32
NUM_CLASSES = 10
SEEDS = tuple(range(100, 108))  # the lesson's; the 2026-12-06 record ran seeds 0-4
TRAIN_PER_CLASS, EPOCHS, HEAD_EPOCHS = 64, 12, 24
VAL_PER_CLASS = 24
BUDGET = fl.Budget(epochs=EPOCHS, batch_size=16, learning_rate=1e-3)
HEAD_BUDGET = fl.Budget(epochs=HEAD_EPOCHS, batch_size=16, learning_rate=1e-3)


def make_base() -> keras.Model:
    """A fresh pretrained BN teacher base, as in the lesson."""
    return fl.load_bn_teacher(IMAGE_SIZE, verbose=False)


def with_new_head(base: keras.Model) -> keras.Model:
    """The lesson's new head: global average pooling and a 10-way softmax."""
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(base.input, outputs)


class KeptStatisticsBN(keras.layers.BatchNormalization):
    """Always inference mode: normalise with the stored statistics, never update them."""

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=False, mask=mask)


def statistics_updating(base, x_train):
    return with_new_head(base)


def statistics_kept(base, x_train):
    model = with_new_head(base)

    def swap(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            return KeptStatisticsBN.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    kept = keras.models.clone_model(model, clone_function=swap)
    kept.set_weights(model.get_weights())
    return kept


def bn_frozen(base, x_train):
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return with_new_head(base)


def statistics_updating_momentum_09(base, x_train):
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    return with_new_head(base)


def frozen_base_source_statistics(base, x_train):
    base.trainable = False
    return with_new_head(base)


def frozen_base_target_statistics(base, x_train):
    fl.reestimate_bn_statistics(base, x_train)
    base.trainable = False
    return with_new_head(base)


ARMS = {
    "statistics updating": statistics_updating,
    "statistics kept": statistics_kept,
    "BN frozen": bn_frozen,
}


def device_label() -> str:
    """The CPU, as the step-timing records name it."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU ({os.cpu_count()} threads, {model}, {platform.machine()})"


def versions() -> dict[str, str]:
    """Python and the libraries the run used."""
    from freezelab.speed.records import library_versions

    return library_versions(("keras", "numpy", "tensorflow", "jax", "torch"))


def per_seed(comparison, metric="val_accuracy") -> dict[str, list[float]]:
    return {arm: comparison.values(arm, metric) for arm in comparison.arms}


def main(argv: list[str] | None = None) -> int:
    """Runs parts d and e at full length and writes the record.

    Args:
        argv: Command-line arguments (``--record DIR``).

    Returns:
        The exit status, 0.
    """
    parser = argparse.ArgumentParser(prog="python benchmarks/bn_lesson06_full.py")
    parser.add_argument("--record", type=Path, default=Path("benchmarks/records"))
    args = parser.parse_args(argv)
    steps = EPOCHS * math.ceil(NUM_CLASSES * TRAIN_PER_CLASS / BUDGET.batch_size)
    steps_per_epoch = steps // EPOCHS
    device = device_label()
    started = datetime.datetime.now(datetime.timezone.utc)
    slug = re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")
    path = args.record / f"{started:%Y-%m-%d}_{slug}_bn_lesson06_full.json"
    record = {
        "record": "freezelab lesson 06 parts d and e, full mode",
        "date": started.isoformat(timespec="seconds"),
        "device": device,
        "backend": keras.backend.backend(),
        "versions": versions(),
        "load_average_before": list(os.getloadavg()),
        "command": "python benchmarks/bn_lesson06_full.py --record " + str(args.record),
        "settings": {
            "seeds": list(SEEDS),
            "image_size": IMAGE_SIZE,
            "train_per_class": TRAIN_PER_CLASS,
            "val_per_class": VAL_PER_CLASS,
            "epochs": EPOCHS,
            "steps": steps,
            "batch_size": BUDGET.batch_size,
            "learning_rate": BUDGET.learning_rate,
            "head_epochs": HEAD_EPOCHS,
            "source_share_momentum_0.99": 0.99**steps,
        },
        "complete": False,
    }

    def save():
        record["load_average_after"] = list(os.getloadavg())
        record["seconds"] = round(time.perf_counter() - clock, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print("wrote", path, flush=True)

    clock = time.perf_counter()
    splits = {
        seed: fl.load_target_dataset(
            IMAGE_SIZE, seed=seed, train_per_class=TRAIN_PER_CLASS, val_per_class=VAL_PER_CLASS
        )
        for seed in SEEDS
    }

    # Part d, with per-epoch evaluation and re-estimation (test 1), as in the lesson.
    comparison = fl.compare_arms(
        make_base, lambda seed: splits[seed], ARMS, BUDGET, SEEDS, reestimate=True,
        eval_every_epoch=True,
    )  # fmt: skip
    updating, kept, frozen = (comparison.values(name) for name in ARMS)
    reestimated = comparison.values("statistics updating", "reestimated_val_accuracy")
    verdicts = {
        "kept_vs_updating": fl.both_ways_line(
            fl.accuracy_both_ways("statistics kept", kept, "statistics updating", updating)
        ),
        "frozen_vs_kept": fl.both_ways_line(
            fl.accuracy_both_ways("BN frozen", frozen, "statistics kept", kept)
        ),
        "frozen_vs_updating": fl.both_ways_line(
            fl.accuracy_both_ways("BN frozen", frozen, "statistics updating", updating)
        ),
        "reestimate_helps": fl.both_ways_line(
            fl.accuracy_both_ways(
                "updating, re-estimated", reestimated, "updating as trained", updating
            )
        ),
        "reestimated_vs_kept": fl.both_ways_line(
            fl.accuracy_both_ways("updating, re-estimated", reestimated, "statistics kept", kept)
        ),
        "reestimated_vs_frozen": fl.both_ways_line(
            fl.accuracy_both_ways("updating, re-estimated", reestimated, "BN frozen", frozen)
        ),
    }
    by_epoch = []
    epochs = zip(
        comparison.epoch_values("statistics kept"),
        comparison.epoch_values("statistics updating"),
        comparison.epoch_values("statistics updating", "reestimated_val_accuracy"),
    )
    for epoch, (kept_now, updating_now, reestimated_now) in enumerate(epochs, start=1):
        by_epoch.append(
            {
                "steps": epoch * steps_per_epoch,
                "source_share": 0.99 ** (epoch * steps_per_epoch),
                "kept": kept_now,
                "updating": updating_now,
                "updating_reestimated": reestimated_now,
                "kept_vs_updating": fl.both_ways_line(
                    fl.accuracy_both_ways(
                        "statistics kept", kept_now, "statistics updating", updating_now
                    )
                ),
                "reestimated_vs_kept": fl.both_ways_line(
                    fl.accuracy_both_ways(
                        "updating, re-estimated", reestimated_now, "statistics kept", kept_now
                    )
                ),
            }
        )
    record["part_d"] = {
        "val_accuracy": per_seed(comparison),
        "reestimated_val_accuracy": per_seed(comparison, "reestimated_val_accuracy"),
        "fit_seconds": per_seed(comparison, "seconds"),
        "moving_statistics_moved": {
            name: sum(run.moving_change > 0 for run in comparison.of_arm(name)) for name in ARMS
        },
        "table": comparison.table(),
        "reestimated_table": comparison.table("reestimated_val_accuracy"),
        "verdicts": verdicts,
        "by_epoch": by_epoch,
    }
    print(comparison.table(), *verdicts.values(), sep="\n", flush=True)
    save()

    # Part e, test 2: momentum 0.9, paired with part d's "updating" runs.
    fast = fl.compare_arms(
        make_base,
        lambda seed: splits[seed],
        {"updating, momentum 0.9": statistics_updating_momentum_09},
        BUDGET,
        SEEDS,
        reestimate=True,
    )
    momentum_09 = fast.values("updating, momentum 0.9")
    fast_reestimated = fast.values("updating, momentum 0.9", "reestimated_val_accuracy")
    record["test_2"] = {
        "momentum_0.9": momentum_09,
        "momentum_0.9_reestimated": fast_reestimated,
        "largest_reestimated_difference": float(
            np.max(np.abs(np.subtract(fast_reestimated, reestimated)))
        ),
        "verdicts": {
            "momentum_helps": fl.both_ways_line(
                fl.accuracy_both_ways("momentum 0.9", momentum_09, "momentum 0.99", updating)
            ),
            "momentum_vs_kept": fl.both_ways_line(
                fl.accuracy_both_ways(
                    "updating, momentum 0.9", momentum_09, "statistics kept", kept
                )
            ),
        },
    }
    print(*record["test_2"]["verdicts"].values(), sep="\n", flush=True)
    save()

    # Part e, test 3: frozen base, source against target statistics.
    frozen_base = fl.compare_arms(
        make_base,
        lambda seed: splits[seed],
        {
            "source statistics": frozen_base_source_statistics,
            "target statistics": frozen_base_target_statistics,
        },
        HEAD_BUDGET,
        SEEDS,
    )
    record["test_3"] = {
        "val_accuracy": per_seed(frozen_base),
        "table": frozen_base.table(),
        "verdict": fl.both_ways_line(
            fl.accuracy_both_ways(
                "target statistics",
                frozen_base.values("target statistics"),
                "source statistics",
                frozen_base.values("source statistics"),
            )
        ),
    }
    print(frozen_base.table(), record["test_3"]["verdict"], sep="\n", flush=True)
    record["complete"] = True
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
