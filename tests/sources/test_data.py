"""Tests for freezelab.sources.data: the offline target dataset and its honest split."""

import numpy as np
import pytest

from freezelab.sources.data import (
    SOURCES,
    TargetDataset,
    as_rgb,
    count_overlaps,
    load_target_dataset,
    source_photo,
    split_cells,
)


@pytest.fixture(scope="module")
def dataset():
    return load_target_dataset(image_size=32, seed=0, train_per_class=12, val_per_class=5)


def test_arrays_are_what_keras_fit_expects(dataset):
    assert dataset.x_train.shape == (10 * 12, 32, 32, 3)
    assert dataset.x_val.shape == (10 * 5, 32, 32, 3)
    assert dataset.x_train.dtype == np.float32 and dataset.x_val.dtype == np.float32
    assert dataset.x_train.min() >= 0.0 and dataset.x_train.max() <= 255.0
    assert dataset.y_train.dtype.kind == "i"
    assert dataset.num_classes == len(SOURCES) == 10
    assert np.bincount(dataset.y_train).tolist() == [12] * 10
    assert np.bincount(dataset.y_val).tolist() == [5] * 10
    assert "brick" in dataset.describe() and "no region is on both sides" in dataset.describe()


def overlaps(box, boxes):
    top, left, bottom, right = box
    return (
        (boxes[:, 0] < bottom) & (top < boxes[:, 2]) & (boxes[:, 1] < right) & (left < boxes[:, 3])
    )


def test_no_validation_pixel_was_seen_in_training(dataset):
    for label in range(dataset.num_classes):
        train_boxes = dataset.train_boxes[dataset.y_train == label]
        for box in dataset.val_boxes[dataset.y_val == label]:
            assert not overlaps(box, train_boxes).any()


def test_the_overlap_check_can_fail():
    boxes = np.array([[0, 0, 50, 50], [100, 100, 150, 150]])
    assert overlaps((40, 40, 90, 90), boxes).tolist() == [True, False]
    assert overlaps((50, 50, 100, 100), boxes).tolist() == [False, False]


def test_patches_hold_the_pixels_of_their_boxes(dataset):
    # Rotating, flipping and resizing keep a patch's mean colour.
    # Read the photos afresh (not through the loader's cache) as the reference.
    photos = {label: as_rgb(loader()) for label, (_, loader) in enumerate(SOURCES.values())}
    for patch, label, (top, left, bottom, right) in zip(
        dataset.x_val, dataset.y_val, dataset.val_boxes
    ):
        region = photos[label][top:bottom, left:right]
        np.testing.assert_allclose(patch.mean(axis=(0, 1)), region.mean(axis=(0, 1)), atol=2.0)


def test_cells_are_split_without_sharing():
    train, val = split_cells((512, 512), np.random.default_rng(0))
    assert len(train) + len(val) == 25 and len(val) == 6
    assert not set(train) & set(val)


def test_same_seed_same_dataset():
    first = load_target_dataset(image_size=16, seed=1, train_per_class=2, val_per_class=1)
    again = load_target_dataset(image_size=16, seed=1, train_per_class=2, val_per_class=1)
    other = load_target_dataset(image_size=16, seed=2, train_per_class=2, val_per_class=1)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.train_boxes, other.train_boxes)


def test_a_keras_model_trains_on_it(dataset):
    import keras

    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(dataset.num_classes, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(dataset.x_train, dataset.y_train, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_unknown_source_photo_is_a_clear_error():
    with pytest.raises(ValueError, match="Received: class_name='bricks'"):
        source_photo("bricks")


@pytest.mark.parametrize(
    "kwargs",
    [{"image_size": 4}, {"image_size": "64"}, {"train_per_class": 0}, {"val_per_class": -1}],
)
def test_bad_arguments_raise_clear_errors(kwargs):
    with pytest.raises(ValueError, match="Received"):
        load_target_dataset(**kwargs)


# --- the online flowers loader, against local servers (never the real address) -------------


def flowers_archive(path):
    """A tiny flower_photos.tgz: two classes of three 40x30 JPEG photos each."""
    import io
    import tarfile

    from skimage.io import imsave

    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for name in ("daisy", "roses"):
            for index in range(3):
                buffer = io.BytesIO()
                imsave(buffer, rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), extension=".jpg")
                info = tarfile.TarInfo(f"flower_photos/{name}/{index}.jpg")
                info.size = buffer.tell()
                buffer.seek(0)
                tar.addfile(info, buffer)
    return path.read_bytes()


@pytest.fixture
def flowers_home(monkeypatch, tmp_path):
    from freezelab.sources import data

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return data, tmp_path / "keras" / "datasets"


def test_flowers_are_downloaded_unpacked_and_split(flowers_home, monkeypatch, tmp_path):
    from tests.support.servers import serve

    data, _ = flowers_home
    body = flowers_archive(tmp_path / "flower_photos.tgz")
    with serve({"flower_photos.tgz": body}) as url:
        monkeypatch.setattr(data, "FLOWERS_URL", url + "flower_photos.tgz")
        flowers = data.load_flowers(image_size=16, val_share=0.34, timeout=2)
    assert flowers.class_names == ("daisy", "roses")
    assert flowers.x_train.shape == (4, 16, 16, 3) and flowers.x_val.shape == (2, 16, 16, 3)
    again = data.load_flowers(image_size=16, val_share=0.34, timeout=0.1)  # cached: no network
    np.testing.assert_array_equal(again.x_train, flowers.x_train)


def test_flowers_download_never_hangs(flowers_home, monkeypatch):
    import time

    from tests.support.servers import silent_listener

    data, datasets = flowers_home
    with silent_listener() as url:
        monkeypatch.setattr(data, "FLOWERS_URL", url + "flower_photos.tgz")
        start = time.perf_counter()
        with pytest.raises(ConnectionError, match=r"no answer from 127\.0\.0\.1.*within 1 s"):
            data.load_flowers(timeout=1)
        assert time.perf_counter() - start < 4
    assert not (datasets / "flower_photos.tgz").exists()


def test_cut_flowers_download_is_refused_and_a_damaged_archive_named(
    flowers_home, monkeypatch, tmp_path
):
    from tests.support.servers import serve

    data, datasets = flowers_home
    body = flowers_archive(tmp_path / "flower_photos.tgz")
    with serve({"f.tgz": body}, cut={"f.tgz": len(body) // 2}) as url:
        monkeypatch.setattr(data, "FLOWERS_URL", url + "f.tgz")
        with pytest.raises(ConnectionError, match="stopped after"):
            data.load_flowers(timeout=2)
    damaged = datasets / "flower_photos.tgz"
    damaged.write_bytes(body[: len(body) // 2])  # e.g. left by another tool
    with pytest.raises(ValueError, match="damaged") as error:
        data.load_flowers(timeout=1)
    assert str(damaged) in str(error.value)


def _split_with_boxes(train_boxes, y_train, val_boxes, y_val):
    empty = np.zeros((0, 8, 8, 3), dtype=np.float32)
    return TargetDataset(
        x_train=empty,
        y_train=np.array(y_train),
        x_val=empty,
        y_val=np.array(y_val),
        class_names=("a", "b"),
        train_boxes=np.array(train_boxes).reshape(-1, 4),
        val_boxes=np.array(val_boxes).reshape(-1, 4),
    )


def pixel_overlaps(train_split, val_split, side=200):
    # Independent truth: paint each label's training boxes on a pixel grid.
    count = 0
    for (top, left, bottom, right), label in zip(val_split.val_boxes, val_split.y_val):
        painted = np.zeros((side, side), dtype=bool)
        for t, lf, b, r in train_split.train_boxes[train_split.y_train == label]:
            painted[t:b, lf:r] = True
        count += bool(painted[top:bottom, left:right].any())
    return count


def test_count_overlaps_matches_a_pixel_count():
    split = _split_with_boxes(
        train_boxes=[[0, 0, 50, 50], [100, 100, 150, 150]],
        y_train=[0, 1],
        # overlaps label 0's box; touches it only at an edge; same place but label 1; overlaps label 1's
        val_boxes=[[40, 40, 90, 90], [50, 50, 100, 100], [10, 10, 20, 20], [140, 90, 160, 110]],
        y_val=[0, 0, 1, 1],
    )
    assert count_overlaps(split, split) == pixel_overlaps(split, split) == 2


def test_count_overlaps_of_two_seeds_agrees_with_pixels():
    first = load_target_dataset(image_size=16, seed=0, train_per_class=6, val_per_class=4)
    second = load_target_dataset(image_size=16, seed=1, train_per_class=6, val_per_class=4)
    side = int(max(first.train_boxes.max(), second.val_boxes.max())) + 1
    assert count_overlaps(first, first) == 0
    assert count_overlaps(first, second) == pixel_overlaps(first, second, side) > 0


def test_count_overlaps_needs_boxes(dataset):
    no_boxes = _split_with_boxes([], [], [], [])
    no_boxes = TargetDataset(
        no_boxes.x_train, no_boxes.y_train, no_boxes.x_val, no_boxes.y_val, ("a",)
    )
    with pytest.raises(ValueError, match="Received: train_split with boxes None"):
        count_overlaps(no_boxes, dataset)
