"""The recorded recipe that pretrains freezelab's teacher (data/teacher.weights.h5).

Every epoch draws fresh procedural images (seed ``seed * 1000 + epoch``), so
the network never sees the same image twice; the held-out set is drawn from
seed ``HELD_OUT_SEED``, which no epoch uses. The loop is
`freezelab.sources.pretraining.pretrain_on_source_task`, shared with
tools/train_bn_teacher.py. The run's figures are printed at the end and go
into data/README.md.

Usage (the exact command recorded in data/README.md):

    nice -n 10 .venv/bin/python tools/train_teacher.py --epochs 12 --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from freezelab.sources.pretraining import pretrain_on_source_task
from freezelab.sources.teacher import build_teacher, teacher_weights_path

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


def main() -> None:
    args = parse_args()
    run = pretrain_on_source_task(
        build_teacher,
        preprocess,
        args.out,
        epochs=args.epochs,
        images_per_epoch=args.images_per_epoch,
        held_out=args.held_out,
        image_size=args.image_size,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        held_out_seed=HELD_OUT_SEED,
    )
    _, accuracy = run.model.evaluate(run.x_held, run.held_out.labels, verbose=0)
    print(
        f"done: seed={args.seed} epochs={args.epochs} images/epoch={args.images_per_epoch} "
        f"size={args.image_size} held-out accuracy={accuracy:.4f} "
        f"time={time.perf_counter() - run.started:.0f} s -> {args.out}"
    )


if __name__ == "__main__":
    main()
