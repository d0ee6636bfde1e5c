"""The recorded recipe that pretrains freezelab's BN teacher (data/bn_teacher.weights.h5).

The same source task and schedule as the teacher's (tools/train_teacher.py):
every epoch draws fresh procedural images (seed ``seed * 1000 + epoch``), so
the network never sees an image twice; the held-out set comes from seed
``SOURCE_HELD_OUT_SEED``, which no epoch uses. The architecture is
`freezelab.sources.bn_teacher.build_bn_teacher` under the teacher's source
head (`freezelab.sources.teacher.source_classifier`), trained by the loop
tools/train_teacher.py shares (`freezelab.sources.pretraining.pretrain_on_source_task`).
The run's figures are printed at the end and go into data/README.md.

Usage (the exact command recorded in data/README.md):

    nice -n 10 .venv/bin/python tools/train_bn_teacher.py --epochs 12 --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from freezelab.finetune.strategies import preprocess_images
from freezelab.sources.bn_teacher import (
    SOURCE_HELD_OUT_SEED,
    bn_teacher_weights_path,
    build_bn_teacher,
)
from freezelab.sources.pretraining import pretrain_on_source_task
from freezelab.sources.teacher import source_accuracy


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


def main() -> None:
    args = parse_args()
    run = pretrain_on_source_task(
        build_bn_teacher,
        preprocess_images,
        args.out,
        epochs=args.epochs,
        images_per_epoch=args.images_per_epoch,
        held_out=args.held_out,
        image_size=args.image_size,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        held_out_seed=SOURCE_HELD_OUT_SEED,
    )
    model, held_out, x_held, y_held = run.model, run.held_out, run.x_held, run.held_out.labels
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
        f"time={time.perf_counter() - run.started:.0f} s -> {args.out} "
        f"({args.out.stat().st_size:,} bytes)"
    )


if __name__ == "__main__":
    main()
