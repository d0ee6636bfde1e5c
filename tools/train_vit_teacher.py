"""The recorded recipe that pretrains freezelab's ViT teacher (data/vit_teacher.weights.h5).

Same source task and held-out draw as the convolutional teacher
(tools/train_teacher.py): every epoch draws fresh procedural images (seed
``seed * 1000 + epoch``), the held-out set comes from seed
``HELD_OUT_SEED``, which no epoch uses. The model is
`freezelab.sources.vit.tiny_vit` with its defaults (32-pixel inputs, patch 4,
width 64, 4 blocks, 4 heads, MLP 128), its initial weights seeded by
``--seed``; inputs are caffe-preprocessed like the teacher's. AdamW with a
cosine-decayed learning rate from 1e-3. The run's figures are printed at the
end and go into data/README.md.

Usage (the exact command recorded in data/README.md):

    flock /tmp/freezelab-heavy.lock .venv/bin/python tools/train_vit_teacher.py --epochs 10 --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras

from freezelab.sources.source_task import HELD_OUT_SEED, make_source_images
from freezelab.sources.teacher import source_accuracy
from freezelab.sources.vit import tiny_vit, vit_teacher_weights_path
from freezelab.vis.images import to_caffe


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--images-per-epoch", type=int, default=6_000)
    parser.add_argument("--held-out", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=vit_teacher_weights_path())
    return parser.parse_args()


def save_weights_only(model: keras.Model, path: Path) -> None:
    """Saves the model's weights without the optimizer's state (a third the size)."""
    clean = tiny_vit(seed=None)
    clean.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save_weights(path)


def main() -> None:
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    model = tiny_vit(seed=args.seed, name="vit_teacher")
    image_size = int(model.input.shape[1])
    held_out = make_source_images(args.held_out, image_size, seed=HELD_OUT_SEED)
    steps = args.epochs * (args.images_per_epoch // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    for epoch in range(args.epochs):
        data = make_source_images(args.images_per_epoch, image_size, seed=args.seed * 1000 + epoch)
        history = model.fit(
            to_caffe(data.images),
            data.labels,
            batch_size=args.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=(to_caffe(held_out.images), held_out.labels),
            verbose=2,
        )
        elapsed = time.perf_counter() - started
        val_accuracy = history.history["val_accuracy"][-1]
        print(
            f"epoch {epoch + 1}: held-out accuracy {val_accuracy:.4f}, {elapsed:.0f} s", flush=True
        )
    training_seconds = time.perf_counter() - started
    save_weights_only(model, args.out)
    accuracy = source_accuracy(model, args.held_out, seed=HELD_OUT_SEED)
    print(
        f"done: seed={args.seed} epochs={args.epochs} images/epoch={args.images_per_epoch} "
        f"size={image_size} params={model.count_params():,} held-out accuracy={accuracy:.4f} "
        f"time={training_seconds:.0f} s -> {args.out} ({args.out.stat().st_size:,} bytes)"
    )


if __name__ == "__main__":
    main()
