"""The target dataset: a small real-image classification task that works offline.

Ten classes of real photo patches, cut from pictures that installed packages
ship (scikit-image's ``skimage.data`` and scikit-learn's sample images; see
data/README.md for provenance and licences):

    brick, grass, gravel (grey textures), cat_fur, coffee, deep_space,
    tissue, retina, flower, temple (colour photos)

How the split stays honest: each photo is first divided into a grid of
cells, and each cell goes wholly to training or wholly to validation. Only
then are patches cut, each inside a single cell. So no pixel of a
validation patch was ever seen in training, not even in another crop of
the same region. Every patch records its box in its source photo
(`TargetDataset.train_boxes`, `.val_boxes`) so this can be checked.

Patches have random side (48 to 96 pixels of the photo), position, flips
and quarter turns, and are resized to ``image_size``. The loader returns
float32 RGB in 0..255 and integer labels, as ``keras.Model.fit`` expects;
preprocess with ``keras.applications.vgg16.preprocess_input`` for VGG16 or
the teacher. Quick mode (`freezelab.settings.quick_mode`) makes fewer
patches per class through the same code.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from freezelab.settings import pick

FLOWERS_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
)

CELL_SIZE = 100
MIN_PATCH, MAX_PATCH = 48, 96
VAL_CELL_SHARE = 0.25
MIN_IMAGE_SIZE = 8
# A patch this flat (pixel std in 0..255) is empty background, e.g. the black
# border of the retina photo: skip it.
MIN_PATCH_STD = 6.0


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


# class name -> (provenance, loader). Order fixes the label numbers.
SOURCES: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    "brick": ("skimage.data.brick()", _skimage("brick")),
    "grass": ("skimage.data.grass()", _skimage("grass")),
    "gravel": ("skimage.data.gravel()", _skimage("gravel")),
    "cat_fur": ("skimage.data.chelsea()", _skimage("chelsea")),
    "coffee": ("skimage.data.coffee()", _skimage("coffee")),
    "deep_space": ("skimage.data.hubble_deep_field()", _skimage("hubble_deep_field")),
    "tissue": ("skimage.data.immunohistochemistry()", _skimage("immunohistochemistry")),
    "retina": ("skimage.data.retina()", _skimage("retina")),
    "flower": ("sklearn load_sample_image('flower.jpg')", _sklearn("flower.jpg")),
    "temple": ("sklearn load_sample_image('china.jpg')", _sklearn("china.jpg")),
}


@dataclass(frozen=True)
class TargetDataset:
    """Train and validation patches of the offline target task.

    Attributes:
        x_train: float32 ``(n_train, size, size, 3)``, RGB in 0..255.
        y_train: int64 ``(n_train,)`` labels.
        x_val: float32 ``(n_val, size, size, 3)``, RGB in 0..255.
        y_val: int64 ``(n_val,)`` labels.
        class_names: Class names, in label order.
        train_boxes: int ``(n_train, 4)``: ``(top, left, bottom, right)`` of
            each training patch in its source photo (the photo is its class);
            None for datasets of whole, distinct photos.
        val_boxes: The same for validation patches.
        provenance: Class name -> where its photo comes from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: tuple[str, ...]
    train_boxes: np.ndarray | None = None
    val_boxes: np.ndarray | None = None
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """How many classes."""
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        """Side of the square images."""
        return int(self.x_train.shape[1])

    def describe(self) -> str:
        """A short summary: sizes, classes, counts and where the photos come from."""
        train_counts = np.bincount(self.y_train, minlength=self.num_classes)
        val_counts = np.bincount(self.y_val, minlength=self.num_classes)
        lines = [
            f"Target dataset: {self.num_classes} classes, {len(self.y_train)} train + "
            f"{len(self.y_val)} validation patches of {self.image_size}x{self.image_size} RGB "
            "(float32, 0..255).",
        ]
        if self.train_boxes is not None:
            lines.append(
                "Split by grid cell of each photo before cropping: no region is on both sides."
            )
        for index, name in enumerate(self.class_names):
            lines.append(
                f"  {index}: {name:<11} train {train_counts[index]:>3}, "
                f"val {val_counts[index]:>3}   from {self.provenance.get(name, '?')}"
            )
        return "\n".join(lines)


def load_target_dataset(
    image_size: int = 64,
    seed: int = 0,
    train_per_class: int | None = None,
    val_per_class: int | None = None,
) -> TargetDataset:
    """Cuts the offline target dataset from photos that installed packages ship.

    The same arguments always give the same dataset.

    Args:
        image_size: Side of the square patches returned, at least 8.
        seed: Seed for the cell split and the patches.
        train_per_class: Training patches per class (default 64; 24 in
            quick mode).
        val_per_class: Validation patches per class (default 24; 8 in quick
            mode).

    Returns:
        A `TargetDataset`.

    Raises:
        ValueError: For an ``image_size`` below 8 or a non-positive count.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise ValueError(f"image_size must be an int. Received: image_size={image_size!r}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(
            f"image_size must be at least {MIN_IMAGE_SIZE}. Received: image_size={image_size}"
        )
    train_per_class = pick(64, 24) if train_per_class is None else train_per_class
    val_per_class = pick(24, 8) if val_per_class is None else val_per_class
    for label, count in (("train_per_class", train_per_class), ("val_per_class", val_per_class)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{label} must be a positive int. Received: {label}={count!r}")

    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {key: [] for key in ("xt", "yt", "bt", "xv", "yv", "bv")}
    for label, name in enumerate(SOURCES):
        photo = source_photo(name)
        train_cells, val_cells = split_cells(photo.shape[:2], rng)
        for cells, count, keys in (
            (train_cells, train_per_class, ("xt", "yt", "bt")),
            (val_cells, val_per_class, ("xv", "yv", "bv")),
        ):
            patches, boxes = cut_patches(photo, cells, count, image_size, rng)
            parts[keys[0]].append(patches)
            parts[keys[1]].append(np.full(count, label, dtype=np.int64))
            parts[keys[2]].append(boxes)
    train_order = rng.permutation(len(SOURCES) * train_per_class)
    val_order = rng.permutation(len(SOURCES) * val_per_class)
    return TargetDataset(
        x_train=np.concatenate(parts["xt"])[train_order],
        y_train=np.concatenate(parts["yt"])[train_order],
        x_val=np.concatenate(parts["xv"])[val_order],
        y_val=np.concatenate(parts["yv"])[val_order],
        class_names=tuple(SOURCES),
        train_boxes=np.concatenate(parts["bt"])[train_order],
        val_boxes=np.concatenate(parts["bv"])[val_order],
        provenance={name: source for name, (source, _) in SOURCES.items()},
    )


@functools.lru_cache(maxsize=len(SOURCES))
def source_photo(class_name: str) -> np.ndarray:
    """The photo a class is cut from, as read-only float32 RGB in 0..255 (cached).

    Args:
        class_name: One of the keys of `SOURCES`.

    Returns:
        The whole photo.

    Raises:
        ValueError: For an unknown class name.
    """
    if class_name not in SOURCES:
        raise ValueError(
            f"class_name must be one of {list(SOURCES)}. Received: class_name={class_name!r}"
        )
    photo = as_rgb(SOURCES[class_name][1]())
    photo.flags.writeable = False
    return photo


def as_rgb(photo: np.ndarray) -> np.ndarray:
    """Returns a photo as float32 RGB in 0..255 (grey is repeated, alpha dropped)."""
    photo = np.asarray(photo)
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=-1)
    photo = photo[..., :3].astype(np.float32)
    if photo.max() <= 1.0:
        photo = photo * 255.0
    return photo


def split_cells(
    photo_shape: tuple[int, int], rng: np.random.Generator
) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]]:
    """Divides a photo into grid cells and assigns each wholly to train or validation.

    Args:
        photo_shape: ``(height, width)`` of the photo.
        rng: Random generator.

    Returns:
        ``(train_cells, val_cells)``, boxes ``(top, left, bottom, right)``;
        a quarter of the cells (at least one) go to validation.
    """
    rows, cols = photo_shape[0] // CELL_SIZE, photo_shape[1] // CELL_SIZE
    cells = [
        (r * CELL_SIZE, c * CELL_SIZE, (r + 1) * CELL_SIZE, (c + 1) * CELL_SIZE)
        for r in range(rows)
        for c in range(cols)
    ]
    order = rng.permutation(len(cells))
    num_val = max(1, round(VAL_CELL_SHARE * len(cells)))
    val = [cells[i] for i in sorted(order[:num_val])]
    train = [cells[i] for i in sorted(order[num_val:])]
    return train, val


def cut_patches(
    photo: np.ndarray,
    cells: list[tuple[int, int, int, int]],
    count: int,
    image_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Cuts ``count`` random patches, each inside one of ``cells``, resized to ``image_size``.

    Flat patches (pixel std below `MIN_PATCH_STD`) are redrawn, and cells that
    only give flat patches are dropped (e.g. the retina photo's black border).

    Returns:
        ``(patches, boxes)``: float32 ``(count, image_size, image_size, 3)``
        and int ``(count, 4)`` boxes in the photo.

    Raises:
        ValueError: If no cell gives a textured patch.
    """
    from skimage.transform import resize

    patches = np.empty((count, image_size, image_size, 3), dtype=np.float32)
    boxes = np.empty((count, 4), dtype=np.int64)
    cells = list(cells)
    made, failures = 0, 0
    while made < count:
        if not cells:
            raise ValueError(
                "No textured region left to cut patches from. "
                f"Received: photo of shape {photo.shape}"
            )
        cell_index = int(rng.integers(len(cells)))
        top, left, bottom, right = cells[cell_index]
        side = int(rng.integers(MIN_PATCH, MAX_PATCH + 1))
        y = top + int(rng.integers(0, bottom - top - side + 1))
        x = left + int(rng.integers(0, right - left - side + 1))
        crop = photo[y : y + side, x : x + side]
        if crop.std() < MIN_PATCH_STD:
            failures += 1
            if failures > 20:
                cells.pop(cell_index)
                failures = 0
            continue
        failures = 0
        crop = np.rot90(crop, k=int(rng.integers(4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        patches[made] = resize(
            crop, (image_size, image_size), anti_aliasing=True, preserve_range=True
        )
        boxes[made] = (y, x, y + side, x + side)
        made += 1
    return patches, boxes


def load_flowers(
    image_size: int = 64,
    seed: int = 0,
    max_per_class: int = 200,
    val_share: float = 0.2,
    timeout: float = 10.0,
) -> TargetDataset:
    """Loads TensorFlow's "flower_photos" (5 classes) online, cached like Keras's datasets.

    The archive (about 220 MB) is downloaded once by ``keras.utils.get_file``
    into ``~/.keras/datasets`` and read from there afterwards. Photos are
    split into train and validation by file before resizing, so each photo is
    on one side only. Never called by tests: it needs the network the first time.

    Args:
        image_size: Side of the square images returned (photos are
            centre-cropped to a square, then resized).
        seed: Seed for the choice of photos and the split.
        max_per_class: At most this many photos per class, to keep memory small.
        val_share: Share of each class's photos kept for validation.
        timeout: Seconds to wait for the download server to answer before
            giving up (when the archive is not cached yet).

    Returns:
        A `TargetDataset` without boxes (each image is a whole, distinct photo).

    Raises:
        ConnectionError: If the archive is not cached and the server does not
            answer within ``timeout``.
        ValueError: For an ``image_size`` below 8 or a ``val_share`` outside (0, 1).
    """
    import socket
    from pathlib import Path

    import keras
    from skimage.io import imread
    from skimage.transform import resize

    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an int of at least 8. Received: {image_size!r}")
    if not 0 < val_share < 1:
        raise ValueError(f"val_share must be between 0 and 1. Received: val_share={val_share}")
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    if not any((keras_home / "datasets").glob("flower_photos*")):
        try:
            with socket.create_connection(("storage.googleapis.com", 443), timeout=timeout):
                pass
        except OSError as error:
            raise ConnectionError(
                f"The flowers archive is not cached and {FLOWERS_URL} could not be reached "
                f"within {timeout:g} s (offline?). Use load_target_dataset() offline."
            ) from error
    archive = Path(keras.utils.get_file("flower_photos", origin=FLOWERS_URL, extract=True))
    if archive.is_file():  # Older Keras versions return the archive, extracted beside it.
        archive = archive.parent / "flower_photos"
    class_dirs = sorted({path.parent for path in archive.rglob("*.jpg")})
    if not class_dirs:
        raise ConnectionError(f"No photos found in {archive}: the download may be incomplete.")
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"xt": [], "yt": [], "xv": [], "yv": []}
    for label, folder in enumerate(class_dirs):
        files = sorted(folder.glob("*.jpg"))
        files = [files[i] for i in rng.permutation(len(files))[:max_per_class]]
        num_val = max(1, round(val_share * len(files)))
        for index, file in enumerate(files):
            photo = as_rgb(imread(file))
            side = min(photo.shape[:2])
            top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
            square = photo[top : top + side, left : left + side]
            image = resize(
                square, (image_size, image_size), anti_aliasing=True, preserve_range=True
            )
            keys = ("xv", "yv") if index < num_val else ("xt", "yt")
            parts[keys[0]].append(image.astype(np.float32))
            parts[keys[1]].append(label)
    names = tuple(folder.name for folder in class_dirs)
    return TargetDataset(
        x_train=np.stack(parts["xt"]),
        y_train=np.asarray(parts["yt"], dtype=np.int64),
        x_val=np.stack(parts["xv"]),
        y_val=np.asarray(parts["yv"], dtype=np.int64),
        class_names=names,
        provenance={name: f"TensorFlow flower_photos ({FLOWERS_URL})" for name in names},
    )
