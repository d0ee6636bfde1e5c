"""The recorded recipe that pretrains freezelab's teacher (data/teacher.weights.h5).

Every epoch draws fresh procedural images (seed ``seed * 1000 + epoch``), so
the network never sees the same image twice; the held-out set is drawn from
seed ``HELD_OUT_SEED``, which no epoch uses. The run's figures are printed
at the end and go into data/README.md.

Usage (the exact command recorded in data/README.md):

    nice -n 10 .venv/bin/python tools/train_teacher.py --epochs 12 --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from freezelab.finetune.source_task import make_source_images
from freezelab.finetune.teacher import build_teacher, source_classifier, teacher_weights_path

HELD_OUT_SEED = 987_654


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--images-per-epoch", type=int, default=20_000)
    parser.add_argument("--held-out", type=int, default=2_000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=teacher_weights_path())
    return parser.parse_args()


def preprocess(images: np.ndarray) -> np.ndarray:
    """VGG16's caffe preprocessing, the input convention the teacher keeps."""
    return keras.applications.vgg16.preprocess_input(images.copy())


def save_weights_only(model: keras.Model, image_size: int, path: Path) -> None:
    """Saves the classifier's weights without the optimizer's state (a third the size)."""
    # save_weights on a compiled, trained model also stores Adam's two moments.
    clean = source_classifier(build_teacher(image_size))
    clean.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save_weights(path)


def main() -> None:
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    held_out = make_source_images(args.held_out, args.image_size, seed=HELD_OUT_SEED)
    x_held, y_held = preprocess(held_out.images), held_out.labels
    model = source_classifier(build_teacher(args.image_size))
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
            preprocess(data.images),
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
    _, accuracy = model.evaluate(x_held, y_held, verbose=0)
    print(
        f"done: seed={args.seed} epochs={args.epochs} images/epoch={args.images_per_epoch} "
        f"size={args.image_size} held-out accuracy={accuracy:.4f} "
        f"time={time.perf_counter() - started:.0f} s -> {args.out}"
    )


if __name__ == "__main__":
    main()
