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
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from freezelab._validation import check_float, check_int, check_timeout
from freezelab.core.downloads import fetch
from freezelab.settings import pick

FLOWERS_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
)
#: Seconds the flowers download may take in all (each wait on the server is
#: bounded by ``load_flowers``'s ``timeout`` as well).
FLOWERS_DOWNLOAD_LIMIT_S = 1800.0
_FLOWERS_DONE = ".freezelab-complete"

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
        ValueError: For an ``image_size`` below 8, a non-positive count, or an
            argument that is not an int (numpy integers are accepted).
    """
    image_size = check_int(image_size, "image_size", minimum=MIN_IMAGE_SIZE)
    seed = check_int(seed, "seed", minimum=0)
    train_per_class = pick(64, 24) if train_per_class is None else train_per_class
    val_per_class = pick(24, 8) if val_per_class is None else val_per_class
    train_per_class = check_int(train_per_class, "train_per_class", minimum=1)
    val_per_class = check_int(val_per_class, "val_per_class", minimum=1)

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


def count_overlaps(train_split: TargetDataset, val_split: TargetDataset) -> int:
    """Counts validation patches that share a pixel with a training patch.

    A patch's label is its photo, so only boxes of the same label can
    overlap. Pass one split twice to check that split; pass two seeds'
    splits to see how different they are.

    Args:
        train_split: The dataset whose training boxes are compared.
        val_split: The dataset whose validation boxes are counted.

    Returns:
        How many of ``val_split``'s validation patches overlap at least one
        of ``train_split``'s training patches of the same label.

    Raises:
        ValueError: If either dataset has no boxes (whole, distinct photos).
    """
    for name, split in (("train_split", train_split), ("val_split", val_split)):
        if split.train_boxes is None or split.val_boxes is None:
            raise ValueError(
                f"`{name}` must record patch boxes (a dataset from load_target_dataset). "
                f"Received: {name} with boxes None"
            )
    count = 0
    for (top, left, bottom, right), label in zip(val_split.val_boxes, val_split.y_val):
        train = train_split.train_boxes[train_split.y_train == label]
        hit = (
            (train[:, 0] < bottom)
            & (top < train[:, 2])
            & (train[:, 1] < right)
            & (left < train[:, 3])
        )
        count += bool(np.any(hit))
    return count


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

    The archive (about 220 MB) is downloaded once into ``~/.keras/datasets``
    (``$KERAS_HOME/datasets``) and unpacked there; later calls read the
    unpacked photos. The download never hangs: every wait on the server is
    bounded by ``timeout`` and the whole download by
    `FLOWERS_DOWNLOAD_LIMIT_S`; a cut download is detected by its size and
    never unpacked. Photos are split into train and validation by file before
    resizing, so each photo is on one side only. Never called by tests with
    the real address: it needs the network the first time.

    Args:
        image_size: Side of the square images returned (photos are
            centre-cropped to a square, then resized), at least 8.
        seed: Seed for the choice of photos and the split.
        max_per_class: At most this many photos per class, to keep memory small.
        val_share: Share of each class's photos kept for validation, in (0, 1).
        timeout: Seconds any single wait on the download server may take.

    Returns:
        A `TargetDataset` without boxes (each image is a whole, distinct photo).

    Raises:
        ConnectionError: If the archive is not cached and cannot be
            downloaded in time; the message gives the reason and elapsed time.
        ValueError: For an argument out of range or of the wrong type, or a
            cached archive that is damaged (the message names it).
    """
    from skimage.io import imread
    from skimage.transform import resize

    image_size = check_int(image_size, "image_size", minimum=MIN_IMAGE_SIZE)
    seed = check_int(seed, "seed", minimum=0)
    max_per_class = check_int(max_per_class, "max_per_class", minimum=2)
    val_share = check_float(val_share, "val_share", above=0.0)
    if val_share >= 1:
        raise ValueError(f"val_share must be between 0 and 1. Received: val_share={val_share}")
    timeout = check_timeout(timeout)
    folder = flowers_folder(timeout)
    class_dirs = sorted({path.parent for path in folder.rglob("*.jpg")})
    if not class_dirs:
        raise ValueError(f"No photos found in {folder}: delete it and download again.")
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"xt": [], "yt": [], "xv": [], "yv": []}
    for label, class_dir in enumerate(class_dirs):
        files = sorted(class_dir.glob("*.jpg"))
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
    names = tuple(class_dir.name for class_dir in class_dirs)
    return TargetDataset(
        x_train=np.stack(parts["xt"]),
        y_train=np.asarray(parts["yt"], dtype=np.int64),
        x_val=np.stack(parts["xv"]),
        y_val=np.asarray(parts["yv"], dtype=np.int64),
        class_names=names,
        provenance={name: f"TensorFlow flower_photos ({FLOWERS_URL})" for name in names},
    )


def flowers_folder(timeout: float = 10.0) -> Path:
    """The unpacked flower_photos folder, downloading and unpacking it first if needed.

    Args:
        timeout: Seconds any single wait on the server may take.

    Returns:
        The folder holding one subfolder of photos per class.

    Raises:
        ConnectionError: If the archive cannot be downloaded in time.
        ValueError: If the archive is damaged or holds unsafe paths.
    """
    timeout = check_timeout(timeout)
    root = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    folder = root / "flower_photos"
    if (folder / _FLOWERS_DONE).is_file():
        return folder
    archive = root / "flower_photos.tgz"
    if not archive.is_file():
        result = fetch(
            FLOWERS_URL, archive, timeout=timeout, total_timeout=FLOWERS_DOWNLOAD_LIMIT_S
        )
        if not result.ok:
            raise ConnectionError(
                f"The flowers archive is not cached and could not be downloaded from "
                f"{FLOWERS_URL}: {result.reason} (gave up after {result.elapsed_s:.1f} s). "
                f"Use load_target_dataset() offline. Received: timeout={timeout:g}"
            )
    _unpack(archive, root)
    (folder / _FLOWERS_DONE).write_text("unpacked by freezelab\n")
    return folder


def _unpack(archive: Path, root: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            unsafe = [
                m.name for m in members if m.name.startswith("/") or ".." in Path(m.name).parts
            ]
            if unsafe:
                raise ValueError(
                    f"The archive {archive} holds paths outside its folder, e.g. {unsafe[0]!r}; "
                    "it is not the flowers archive. Delete it."
                )
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, members=members, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(root, members=members)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(
            f"The cached flowers archive {archive} is damaged ({type(error).__name__}: "
            f"{error}); an interrupted download? Delete it and try again."
        ) from None
