"""The training loop the teachers' recipes share: a base pretrained on fresh source-task images.

``tools/train_teacher.py`` and ``tools/train_bn_teacher.py`` pretrain two
bases the same way; `pretrain_on_source_task` is that loop, written once:

* the base goes under the source-task head (`freezelab.sources.teacher.source_classifier`);
* Adam with a cosine decay over every step of the run (down to 5 % of the
  starting rate), sparse categorical cross-entropy, accuracy;
* every epoch draws fresh images from seed ``seed * 1000 + epoch``, so the
  network never sees an image twice; the held-out set comes from
  ``held_out_seed``, which no epoch uses;
* after every epoch it prints the held-out accuracy and the seconds so far,
  and saves the weights without the optimizer's state (`save_weights_only`).

Each script keeps its own preprocessing, its own base and its closing report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from freezelab._validation import check_float, check_int
from freezelab.sources.source_task import HELD_OUT_SEED, SourceTaskData, make_source_images
from freezelab.sources.teacher import source_classifier

#: The cosine decay ends at this share of the starting learning rate.
FINAL_RATE_SHARE = 0.05


@dataclass(frozen=True)
class SourcePretraining:
    """What `pretrain_on_source_task` leaves for the recipe's closing report.

    Attributes:
        model: The trained source classifier (base plus head), still compiled.
        held_out: The held-out images and labels (RGB in 0..255).
        x_held: ``held_out.images`` after the recipe's preprocessing.
        started: ``time.perf_counter()`` when the first epoch began.
    """

    model: keras.Model
    held_out: SourceTaskData
    x_held: np.ndarray
    started: float


def save_weights_only(
    model: keras.Model,
    build_base: Callable[[int], keras.Model],
    image_size: int,
    path: Path,
) -> None:
    """Saves a source classifier's weights (BN statistics included) without the optimizer's state.

    ``save_weights`` on a compiled, trained model also stores Adam's two
    moments (the file is about three times the size); a fresh classifier
    given the same weights stores only the model's.

    Args:
        model: A source classifier built on ``build_base(image_size)``.
        build_base: Builds the untrained base for an input size.
        image_size: The input size ``model`` was built for.
        path: The ``.weights.h5`` file to write; its folder is made if missing.
    """
    clean = source_classifier(build_base(image_size))
    clean.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save_weights(path)


def pretrain_on_source_task(
    build_base: Callable[[int], keras.Model],
    preprocess: Callable[[np.ndarray], np.ndarray],
    out: Path,
    *,
    epochs: int,
    images_per_epoch: int,
    held_out: int,
    image_size: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    held_out_seed: int = HELD_OUT_SEED,
) -> SourcePretraining:
    """Pretrains ``build_base(image_size)`` on the source task, saving after every epoch.

    Args:
        build_base: Builds the untrained base for an input size (e.g.
            `freezelab.sources.teacher.build_teacher`).
        preprocess: Turns RGB images in 0..255 into the base's inputs.
        out: The ``.weights.h5`` file written after every epoch.
        epochs: How many epochs, at least 1.
        images_per_epoch: Fresh images drawn for each epoch, at least ``batch_size``.
        held_out: How many held-out images, at least 1.
        image_size: Side of the square images.
        batch_size: Images per step, at least 1.
        learning_rate: Adam's starting rate, above 0.
        seed: Seeds Keras's random state and the epochs' draws, at least 0.
        held_out_seed: Seed of the held-out draw, at least 0.

    Returns:
        A `SourcePretraining`: the model, the held-out set, its preprocessed
        images and the time the first epoch began.

    Raises:
        ValueError: For a count, size or seed out of range, or fewer images
            per epoch than one batch.
    """
    epochs = check_int(epochs, "epochs", minimum=1)
    images_per_epoch = check_int(images_per_epoch, "images_per_epoch", minimum=1)
    held_out = check_int(held_out, "held_out", minimum=1)
    image_size = check_int(image_size, "image_size", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = check_float(learning_rate, "learning_rate", above=0.0)
    seed = check_int(seed, "seed", minimum=0)
    held_out_seed = check_int(held_out_seed, "held_out_seed", minimum=0)
    if images_per_epoch < batch_size:
        raise ValueError(
            f"images_per_epoch must hold at least one batch of {batch_size}. "
            f"Received: images_per_epoch={images_per_epoch}"
        )
    keras.utils.set_random_seed(seed)
    held_out_data = make_source_images(held_out, image_size, seed=held_out_seed)
    x_held, y_held = preprocess(held_out_data.images), held_out_data.labels
    model = source_classifier(build_base(image_size))
    steps = epochs * (images_per_epoch // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=steps, alpha=FINAL_RATE_SHARE
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    for epoch in range(epochs):
        data = make_source_images(images_per_epoch, image_size, seed=seed * 1000 + epoch)
        history = model.fit(
            preprocess(data.images),
            data.labels,
            batch_size=batch_size,
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
        save_weights_only(model, build_base, image_size, out)
    return SourcePretraining(model=model, held_out=held_out_data, x_held=x_held, started=started)
