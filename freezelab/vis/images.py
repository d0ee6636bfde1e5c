"""Sample photos that work offline, and the trip into and out of VGG16's input space.

The photos ship with scikit-image (``skimage.data``), so lessons need no
download. Provenance and licences are listed in ``data/README.md``.

VGG16 expects "caffe" preprocessing: RGB turned into BGR and the ImageNet
channel means subtracted, with no scaling. `to_caffe` and `from_caffe` do
that trip in plain NumPy (no TensorFlow), so a picture made by gradient ascent
in VGG16's input space is turned back into colours exactly.
"""

from __future__ import annotations

import numpy as np

from freezelab._validation import check_array, check_int, suggestion

# ImageNet channel means in BGR order, as Keras's VGG16 preprocessing uses them.
CAFFE_MEANS_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

# name -> function of skimage.data that returns the photo (all RGB uint8).
_SKIMAGE_PHOTOS = {
    "astronaut": "astronaut",
    "chelsea": "chelsea",
    "coffee": "coffee",
    "rocket": "rocket",
}


def sample_names() -> list[str]:
    """Names accepted by `sample_image`, in alphabetical order."""
    return sorted(_SKIMAGE_PHOTOS)


def sample_image(name: str = "chelsea", size: int = 224) -> np.ndarray:
    """A photo shipped with scikit-image, center-cropped to a square and resized.

    Args:
        name: One of `sample_names()`: ``"astronaut"``, ``"chelsea"`` (a cat),
            ``"coffee"``, ``"rocket"``.
        size: Side of the square result in pixels (at least 8).

    Returns:
        A ``(size, size, 3)`` uint8 RGB array.

    Raises:
        ValueError: For an unknown name (close names suggested) or a size
            that is not an int >= 8 (numpy integers are accepted).
    """
    if not isinstance(name, str) or name not in _SKIMAGE_PHOTOS:
        hint = suggestion(name, sample_names()) if isinstance(name, str) else ""
        raise ValueError(
            f"Unknown sample photo.{hint} Accepted names: {sample_names()}. Received: name={name!r}"
        )
    size = check_int(size, "size", minimum=8)
    from skimage import data, transform

    photo = getattr(data, _SKIMAGE_PHOTOS[name])()
    square = center_crop_square(photo)
    resized = transform.resize(square, (size, size), anti_aliasing=True, preserve_range=True)
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def center_crop_square(image: np.ndarray) -> np.ndarray:
    """The largest centered square of an ``(H, W, ...)`` image.

    Raises:
        ValueError: For an array with fewer than 2 axes.
    """
    image = check_array(image, "image", finite=False)
    if image.ndim < 2:
        raise ValueError(f"Expected an image (H, W, ...). Received: image of shape {image.shape}")
    height, width = image.shape[:2]
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[top : top + side, left : left + side]


def to_caffe(images: np.ndarray) -> np.ndarray:
    """RGB pixels (0..255) to VGG16's caffe input: BGR with ImageNet means subtracted.

    Gives the same numbers as ``keras.applications.vgg16.preprocess_input``.

    Args:
        images: ``(..., 3)`` RGB array, one image or a batch, values 0..255.

    Returns:
        A float32 array of the same shape.

    Raises:
        ValueError: If the last axis does not hold 3 channels, or for NaN or
            infinite values.
    """
    images = check_array(images, "images")
    _check_rgb(images)
    return images[..., ::-1].astype(np.float32) - CAFFE_MEANS_BGR


def from_caffe(inputs: np.ndarray) -> np.ndarray:
    """VGG16 caffe input back to displayable RGB: means added, BGR to RGB, clipped, uint8.

    The exact inverse of `to_caffe` up to rounding and clipping to 0..255.

    Args:
        inputs: ``(..., 3)`` array in caffe space (BGR, mean-subtracted).

    Returns:
        A uint8 RGB array of the same shape.

    Raises:
        ValueError: If the last axis does not hold 3 channels, or for NaN or
            infinite values (clipping would hide them as black or white).
    """
    inputs = check_array(inputs, "inputs").astype(np.float32)
    _check_rgb(inputs)
    rgb = (inputs + CAFFE_MEANS_BGR)[..., ::-1]
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _check_rgb(array: np.ndarray) -> None:
    if array.ndim < 3 or array.shape[-1] != 3:
        raise ValueError(
            "Expected an RGB image or batch with 3 channels on the last axis. "
            f"Received: array of shape {array.shape}"
        )
