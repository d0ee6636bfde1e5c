"""Does the teacher transfer? Fine-tune it (early blocks frozen) vs train from scratch.

On the offline target dataset, the same architecture (the teacher's narrow
VGG16 plus a small head) is trained twice with the same budget: once from
the teacher's weights with block1..block3 frozen, once from random weights
with everything trainable. Prints both validation accuracies and training
times, per seed and on average.

Usage:

    nice -n 10 .venv/bin/python tools/transfer_check.py --epochs 15 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from freezelab.core.freezing import freeze
from freezelab.core.models import with_head
from freezelab.finetune.data import load_target_dataset
from freezelab.finetune.teacher import build_teacher, load_teacher


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--frozen-up-to", default="block3_pool")
    return parser.parse_args()


def train_and_score(base, dataset, args, seed: int) -> tuple[float, float]:
    """Trains ``base`` plus a fresh head; returns (validation accuracy, seconds)."""
    keras.utils.set_random_seed(seed)
    model = with_head(base, head_units=(64, dataset.num_classes), pooling="avg")
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    preprocess = keras.applications.vgg16.preprocess_input
    x_train, x_val = preprocess(dataset.x_train.copy()), preprocess(dataset.x_val.copy())
    started = time.perf_counter()
    model.fit(x_train, dataset.y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    seconds = time.perf_counter() - started
    _, accuracy = model.evaluate(x_val, dataset.y_val, verbose=0)
    return float(accuracy), seconds


def main() -> None:
    args = parse_args()
    dataset = load_target_dataset(image_size=args.image_size, seed=0)
    print(dataset.describe())
    results: dict[str, list[tuple[float, float]]] = {"teacher": [], "scratch": []}
    for seed in args.seeds:
        pretrained = load_teacher(args.image_size, verbose=False)
        freeze(pretrained, up_to=args.frozen_up_to)
        results["teacher"].append(train_and_score(pretrained, dataset, args, seed))
        keras.utils.set_random_seed(seed)
        scratch = build_teacher(args.image_size)
        results["scratch"].append(train_and_score(scratch, dataset, args, seed))
        for name, runs in results.items():
            accuracy, seconds = runs[-1]
            print(f"seed {seed} {name:<8}: val accuracy {accuracy:.3f}, training {seconds:.1f} s")
    print(f"\n{args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr}, seeds {args.seeds}")
    for name, label in (
        ("teacher", f"teacher, frozen up to {args.frozen_up_to}"),
        ("scratch", "same network from scratch, all trainable"),
    ):
        accuracies = np.array([a for a, _ in results[name]])
        seconds = np.array([s for _, s in results[name]])
        print(
            f"{label:<44} val accuracy {accuracies.mean():.3f} "
            f"(min {accuracies.min():.3f}, max {accuracies.max():.3f}), "
            f"training {seconds.mean():.1f} s"
        )


if __name__ == "__main__":
    main()
