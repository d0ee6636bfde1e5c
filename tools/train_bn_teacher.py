"""The recorded recipe that pretrains freezelab's BN teacher (data/bn_teacher.weights.h5).

The same source task and schedule as the teacher's (tools/train_teacher.py):
every epoch draws fresh procedural images (seed ``seed * 1000 + epoch``), so
the network never sees an image twice; the held-out set comes from seed
``SOURCE_HELD_OUT_SEED``, which no epoch uses. The architecture is
`freezelab.finetune.bn_teacher.build_bn_teacher` under the teacher's source
head (`freezelab.finetune.teacher.source_classifier`). The run's figures are
printed at the end and go into data/README.md.

Usage (the exact command recorded in data/README.md):

    nice -n 10 .venv/bin/python tools/train_bn_teacher.py --epochs 12 --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from freezelab.finetune.bn_teacher import (
    SOURCE_HELD_OUT_SEED,
    bn_teacher_weights_path,
    build_bn_teacher,
)
from freezelab.finetune.source_task import make_source_images
from freezelab.finetune.strategies import preprocess_images
from freezelab.finetune.teacher import source_accuracy, source_classifier


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--images-per-epoch", type=int, default=20_000)
    parser.add_argument("--held-out", type=int, default=2_000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=bn_teacher_weights_path())
    return parser.parse_args()


def save_weights_only(model: keras.Model, image_size: int, path: Path) -> None:
    """Saves the classifier's weights and BN statistics, without the optimizer's state."""
    # save_weights on a compiled, trained model also stores Adam's two moments.
    clean = source_classifier(build_bn_teacher(image_size))
    clean.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save_weights(path)


def main() -> None:
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    held_out = make_source_images(args.held_out, args.image_size, seed=SOURCE_HELD_OUT_SEED)
    x_held, y_held = preprocess_images(held_out.images), held_out.labels
    model = source_classifier(build_bn_teacher(args.image_size))
    steps = args.epochs * (args.images_per_epoch // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    for epoch in range(args.epochs):
        data = make_source_images(
            args.images_per_epoch, args.image_size, seed=args.seed * 1000 + epoch
        )
        history = model.fit(
            preprocess_images(data.images),
            data.labels,
            batch_size=args.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=(x_held, y_held),
            verbose=2,
        )
        elapsed = time.perf_counter() - started
        val_accuracy = history.history["val_accuracy"][-1]
        print(
            f"epoch {epoch + 1}: held-out accuracy {val_accuracy:.4f}, {elapsed:.0f} s", flush=True
        )
        save_weights_only(model, args.image_size, args.out)
    accuracy = source_accuracy(model, args.held_out, seed=SOURCE_HELD_OUT_SEED)
    unseen = source_accuracy(model, args.held_out, seed=2024)
    predictions = np.argmax(model.predict(x_held, verbose=0), axis=-1)
    gratings = held_out.labels < 16
    print(
        f"done: seed={args.seed} epochs={args.epochs} images/epoch={args.images_per_epoch} "
        f"size={args.image_size} held-out accuracy={accuracy:.4f} "
        f"(gratings {np.mean(predictions[gratings] == y_held[gratings]):.4f}, "
        f"shapes {np.mean(predictions[~gratings] == y_held[~gratings]):.4f}) "
        f"unseen seed 2024={unseen:.4f} "
        f"time={time.perf_counter() - started:.0f} s -> {args.out} "
        f"({args.out.stat().st_size:,} bytes)"
    )


if __name__ == "__main__":
    main()
