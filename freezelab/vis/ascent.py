"""Gradient ascent: pictures of what most excites chosen filters of a convolutional layer.

Start from a grey, slightly noisy picture and change its pixels, step by
step, in the direction that raises one filter's mean activation. Many filters
are optimised together as one batch: each picture's loss depends only on its
own pixels, so one forward and backward pass serves them all.

Plain ascent gives high-frequency noise; these techniques make pictures
readable (each can be switched off):

* **jitter**: shift the picture by a few random pixels before each step;
* **scale jitter**: zoom in by a random few per cent before each step;
* **regularisation**: a light Gaussian blur every few steps (``"blur"``) or a
  total-variation penalty (``"tv"``) against pixel-to-pixel noise;
* **octaves**: start at a coarse resolution and refine, so large structure
  forms first.

The picture always lives in RGB pixels 0..255. With ``preprocessing="caffe"``
(VGG16 and the teacher) it is turned into BGR, mean-subtracted input for the
model at each step, so the result needs no guessing to display. Randomness
comes from one generator per filter, seeded by ``(seed, filter)``, for the
start noise and the shifts, and from one generator seeded by the seed alone
for the zoom (one zoom per step, shared by the batch): the same call gives
the same pictures, and a filter's picture does not depend on which other
filters share its batch.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab._validation import (
    check_array,
    check_float,
    check_indices,
    check_int,
    check_model,
)
from freezelab.core.shapes import square_input_side
from freezelab.vis.activations import feature_model, spatial_layer
from freezelab.vis.filter_target import FilterTarget, selected_means
from freezelab.vis.images import to_caffe

if TYPE_CHECKING:
    from collections.abc import Sequence

REGULARIZERS = ("blur", "tv", None)
_TARGET_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
PREPROCESSINGS = ("caffe", None)
# Seeds the zoom's generator with (seed, _ZOOM_STREAM): no filter index is this large.
_ZOOM_STREAM = 2**31 - 1


@dataclass(frozen=True)
class AscentSettings:
    """How gradient ascent runs; see `filter_pictures` for each field."""

    steps: int = 40
    step_size: float = 2.0
    octaves: int = 2
    octave_scale: float = 1.5
    jitter: int = 4
    scale_jitter: float = 0.1
    regularization: str | None = "blur"
    blur_sigma: float = 0.5
    blur_every: int = 4
    tv_weight: float = 0.2
    border: float = 0.125
    preprocessing: str | None = "caffe"
    seed: int = 0

    def __post_init__(self):
        _check_settings(self)


def make_settings(**settings) -> AscentSettings:
    """`AscentSettings` from keyword arguments, with a clear error for unknown names.

    Raises:
        ValueError: For a name that is not a field of `AscentSettings`, or a
            value out of range.
    """
    known = set(AscentSettings.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(
            f"Unknown gradient-ascent settings {unknown}. Accepted: {sorted(known)}. "
            f"Received: {settings}"
        )
    return AscentSettings(**settings)


@dataclass(frozen=True)
class FilterPictures:
    """Pictures made by gradient ascent, one per filter.

    Attributes:
        layer_name: The layer whose filters were pictured.
        filters: Filter (channel) indices, in the order of the pictures.
        pixels: Float32 ``(N, S, S, 3)`` RGB pixels 0..255, exactly as
            optimised (the model saw ``to_caffe(pixels)`` for caffe models).
        start_activation: Each filter's mean activation for its starting
            picture.
        final_activation: The same for the final picture.
        settings: The `AscentSettings` used.
    """

    layer_name: str
    filters: list[int]
    pixels: np.ndarray
    start_activation: np.ndarray
    final_activation: np.ndarray
    settings: AscentSettings

    @property
    def pictures(self) -> np.ndarray:
        """``(N, S, S, 3)`` uint8 pictures for display (`stretch_contrast` applied)."""
        return stretch_contrast(self.pixels)

    @property
    def gain(self) -> np.ndarray:
        """How much each filter's activation rose: ``final - start``."""
        return self.final_activation - self.start_activation


def filter_pictures(
    model: keras.Model,
    layer_name: str,
    filters: int | Sequence[int],
    size: int | None = None,
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = True,
    **settings,
) -> FilterPictures:
    """Pictures of what most excites chosen filters of a layer, by gradient ascent.

    Args:
        model: A model taking RGB images (VGG16, the teacher, a small demo).
        layer_name: A layer with spatial output ``(h, w, channels)``,
            usually a convolution.
        filters: Channel indices: an int, a list or a range.
        size: Side of the pictures. Models built for one input size (VGG16
            from `load_vgg16`) take only that size, the default.
        batch_size: Filters optimised together; all of them when None. 1
            optimises one filter at a time, as the common Keras example does.
        progress: Show a Keras progress bar (True), nothing (False), or call
            ``progress(done_steps, total_steps)`` after each step (a widget's
            progress bar; it may raise to cancel, see `freezelab.progress`).
        **settings: Fields of `AscentSettings`: ``steps`` per octave,
            ``step_size`` (pixels per step, along the gradient scaled to unit
            RMS), ``octaves``, ``octave_scale``, ``jitter`` (pixels),
            ``scale_jitter`` (largest extra zoom, e.g. 0.1 for 10 %),
            ``regularization`` (``"blur"``, ``"tv"`` or None),
            ``blur_sigma``, ``blur_every``, ``tv_weight``, ``border`` (share
            of each side of the feature map left out of the target),
            ``preprocessing``
            (``"caffe"`` or None for models taking raw pixels), ``seed``.

    Returns:
        A `FilterPictures`.

    Raises:
        ValueError: For a ``model`` that is not a built Keras model, an
            unknown layer or setting, a filter index out of range (an empty
            list included), a layer without spatial output, or a size the
            model cannot take.
        TypeError: For filters that are not ints (``1.5``; numpy integers
            are accepted) or a setting of the wrong type (also a ValueError).
    """
    check_model(model, "filter_pictures")
    spatial_layer(model, layer_name, "Gradient ascent")
    config = make_settings(**settings)
    target = _target(model, layer_name, config.border)
    filters = _check_filters(filters, target.extractor, layer_name)
    canvas = _canvas_size(target.extractor, size)
    batch_size = len(filters) if batch_size is None else _positive_int(batch_size, "batch_size")
    total_steps = _total_steps(len(filters), config)
    if callable(progress):
        bar = _CallbackBar(progress, total_steps)
    else:
        bar = keras.utils.Progbar(total_steps, interval=1.0) if progress else None
    chunks = [filters[i : i + batch_size] for i in range(0, len(filters), batch_size)]
    results = [_ascend(target, chunk, canvas, config, bar) for chunk in chunks]
    return FilterPictures(
        layer_name=layer_name,
        filters=filters,
        pixels=np.concatenate([r[0] for r in results]),
        start_activation=np.concatenate([r[1] for r in results]),
        final_activation=np.concatenate([r[2] for r in results]),
        settings=config,
    )


def start_pictures(filters: int | Sequence[int], size: int, **settings) -> np.ndarray:
    """The start noise of `filter_pictures`, put through the same schedule without a gradient.

    What a filter's picture would be if it never fired: the same seeded noise,
    the same resizing between octaves, the same blur (or total-variation) steps
    and clipping. Measures of the drawn pictures (`colourfulness`,
    `high_frequency_share`) need this baseline: part of what they show comes
    from the schedule, not from the filter.

    Args:
        filters: Channel indices, as for `filter_pictures` (they seed the noise).
        size: Side of the pictures (the canvas of `filter_pictures`).
        **settings: Fields of `AscentSettings`, as for `filter_pictures`.

    Returns:
        float32 ``(len(filters), size, size, 3)`` pixels in 0..255, as
        ``FilterPictures.pixels``.

    Raises:
        ValueError: For an unknown setting, a filter index below 0 or a size
            below 1.
    """
    config = make_settings(**settings)
    size = _positive_int(size, "size")
    filters = [check_int(f, "filter", minimum=0) for f in _as_list(filters)]
    sizes = _octave_sizes(size, config.octaves, config.octave_scale)
    rngs = [np.random.default_rng([config.seed, f]) for f in filters]
    pixels = np.stack([128.0 + rng.uniform(-20, 20, (sizes[0], sizes[0], 3)) for rng in rngs])
    pixels = pixels.astype(np.float32)
    for octave, side in enumerate(sizes):
        if octave:
            pixels = _resize(pixels, side)
        for step in range(config.steps):
            if config.regularization == "tv":
                pixels = pixels - config.step_size * config.tv_weight * _tv_gradient(pixels)
            if config.regularization == "blur" and (step + 1) % config.blur_every == 0:
                pixels = _blur(pixels, config.blur_sigma)
            pixels = np.clip(pixels, 0.0, 255.0)
    return pixels


def _as_list(filters):
    return [filters] if isinstance(filters, (int, np.integer)) else list(filters)


def filter_activation(
    model: keras.Model,
    layer_name: str,
    filters: int | Sequence[int],
    pixels: np.ndarray,
    preprocessing: str | None = "caffe",
    border: float = AscentSettings.border,
) -> np.ndarray:
    """Mean activation of filter ``filters[i]`` for picture ``pixels[i]``, the ascent's target.

    Args:
        model: The model.
        layer_name: The layer.
        filters: One channel index per picture.
        pixels: ``(N, S, S, 3)`` RGB pixels 0..255.
        preprocessing: ``"caffe"`` or None, as in `filter_pictures`.
        border: Share of each side of the feature map left out of the mean.

    Returns:
        A float32 ``(N,)`` array.

    Raises:
        ValueError: As `filter_pictures`, for pixels that are not a finite
            ``(N, S, S, 3)`` batch, or one filter count that differs from the
            number of pictures.
    """
    check_model(model, "filter_activation")
    spatial_layer(model, layer_name, "filter_activation")
    extractor = feature_model(model, layer_name)
    filters = _check_filters(filters, extractor, layer_name)
    pixels = check_array(pixels, "pixels", ndim=4, shape_hint="(N, S, S, 3)")
    if len(filters) != len(pixels):
        raise ValueError(
            f"filter_activation takes one filter per picture. Received: {len(filters)} "
            f"filters for {len(pixels)} pictures"
        )
    outputs = keras.ops.convert_to_numpy(
        extractor(_to_model(np.asarray(pixels, np.float32), preprocessing), training=False)
    )
    return selected_means(outputs, filters, border)


def stretch_contrast(pixels: np.ndarray, spread: float = 0.15) -> np.ndarray:
    """Makes ascent pictures visible: each centred on mid-grey, its spread set to ``spread``.

    Ascent moves pixels only a little away from grey; as the Keras example
    does, each picture's deviation is divided by its own standard deviation
    and scaled to ``spread`` of the 0..255 range.

    Args:
        pixels: ``(N, S, S, 3)`` or ``(S, S, 3)`` RGB pixels 0..255.
        spread: Target standard deviation as a share of 255.

    Returns:
        uint8 pictures of the same shape.

    Raises:
        ValueError: For pictures that are not ``(S, S, 3)`` or a batch of
            them, NaN or infinite pixels, or a spread that is not above 0.
    """
    pixels = check_array(pixels, "pixels", ndim=(3, 4), shape_hint="(S, S, 3) or (N, S, S, 3)")
    pixels = pixels.astype(np.float32)
    check_float(spread, "spread", above=0.0)
    axes = tuple(range(pixels.ndim - 3, pixels.ndim))
    centred = pixels - pixels.mean(axis=axes, keepdims=True)
    scaled = centred / (centred.std(axis=axes, keepdims=True) + 1e-5) * spread * 255.0 + 127.5
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


class _CallbackBar:
    """Counts ascent steps like `keras.utils.Progbar` and reports them to a callback."""

    def __init__(self, callback: Callable[[int, int], None], total: int):
        self.callback, self.total, self.done = callback, total, 0

    def add(self, steps: int) -> None:
        self.done += steps
        self.callback(self.done, self.total)


def _ascend(target, filters, canvas, config, bar):
    """Runs all octaves for one batch of filters; returns pixels, start and final activation."""
    rngs = [np.random.default_rng([config.seed, f]) for f in filters]
    zoom_rng = np.random.default_rng([config.seed, _ZOOM_STREAM])  # the same for every batch
    weights = target.weights_for(filters)  # read once: the weights stay put during the ascent
    sizes = _octave_sizes(canvas, config.octaves, config.octave_scale)
    pixels = np.stack([128.0 + rng.uniform(-20, 20, (sizes[0], sizes[0], 3)) for rng in rngs])
    pixels = pixels.astype(np.float32)
    start = _activation(target, _resize(pixels, canvas), filters, config)
    for octave, side in enumerate(sizes):
        if octave:
            pixels = _resize(pixels, side)
        for step in range(config.steps):
            gradient = _jittered_gradient(target, pixels, canvas, weights, rngs, zoom_rng, config)
            pixels = pixels + config.step_size * _unit_rms(gradient)
            if config.regularization == "tv":
                pixels = pixels - config.step_size * config.tv_weight * _tv_gradient(pixels)
            if config.regularization == "blur" and (step + 1) % config.blur_every == 0:
                pixels = _blur(pixels, config.blur_sigma)
            pixels = np.clip(pixels, 0.0, 255.0)
            if bar is not None:
                bar.add(len(filters))
    final = _activation(target, _resize(pixels, canvas), filters, config)
    return pixels, start, final


def _jittered_gradient(target, pixels, canvas, weights, rngs, zoom_rng, config):
    """Gradient at the picture's resolution, through random shift (per picture) and zoom (per step)."""
    shifts = [tuple(rng.integers(-config.jitter, config.jitter + 1, 2)) for rng in rngs]
    zoom = 1.0 + float(zoom_rng.uniform(0.0, config.scale_jitter)) if config.scale_jitter else 1.0
    shifted = np.stack([np.roll(p, s, axis=(0, 1)) for p, s in zip(pixels, shifts)])
    zoomed_side = round(canvas * zoom)
    model_pixels = _center_crop(_resize(shifted, zoomed_side), canvas)
    gradient = target.gradient(_to_model(model_pixels, config.preprocessing), weights)
    if config.preprocessing == "caffe":
        gradient = gradient[..., ::-1]  # d/dRGB from d/dBGR: the means only shift values.
    gradient = _resize(_center_pad(gradient, zoomed_side), pixels.shape[1])
    return np.stack([np.roll(g, (-s[0], -s[1]), axis=(0, 1)) for g, s in zip(gradient, shifts)])


def _target(model, layer_name, border):
    """The layer's `FilterTarget`, built once per model, layer and border.

    Rebuilding it would trace new compiled functions at every call. They read
    the model's weights when they run, so a cached target still shows weights
    changed later by training.
    """
    cache = _TARGET_CACHE.setdefault(model, {})
    key = (layer_name, border)
    if key not in cache:
        cache[key] = FilterTarget(model, layer_name, border)
    return cache[key]


def _activation(target, model_pixels, filters, config):
    return target.activation(_to_model(model_pixels, config.preprocessing), filters)


def _to_model(pixels, preprocessing):
    return to_caffe(pixels) if preprocessing == "caffe" else np.asarray(pixels, np.float32)


def _unit_rms(gradient):
    rms = np.sqrt(np.mean(gradient**2, axis=(1, 2, 3), keepdims=True))
    return gradient / (rms + 1e-8)


def _tv_gradient(pixels):
    """Subgradient of the anisotropic total variation ``sum |x[i+1] - x[i]|`` per picture."""
    gradient = np.zeros_like(pixels)
    for axis in (1, 2):
        sign = np.sign(np.diff(pixels, axis=axis))
        pad_before = [(0, 0)] * 4
        pad_after = [(0, 0)] * 4
        pad_before[axis] = (1, 0)
        pad_after[axis] = (0, 1)
        gradient += np.pad(sign, pad_before) - np.pad(sign, pad_after)
    return gradient


def _blur(pixels, sigma):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(pixels, sigma=(0, sigma, sigma, 0), mode="reflect")


def _resize(batch, side):
    """Bilinear resize of a ``(N, h, w, C)`` batch to ``side`` x ``side``, antialiased when shrinking.

    A backend op (``tf.image.resize``, ``jax.image.resize``, torch's
    interpolate) rather than scikit-image: it runs twice per ascent step, and
    scikit-image's Gaussian prefilter cost more than the step's other NumPy
    work. The two agree away from the edges (tests/vis/test_ascent.py).
    """
    if batch.shape[1] == side and batch.shape[2] == side:
        return batch
    downsampling = side < batch.shape[1]
    resized = keras.ops.image.resize(
        np.asarray(batch, np.float32),
        (side, side),
        interpolation="bilinear",
        antialias=downsampling,
        data_format="channels_last",
    )
    return keras.ops.convert_to_numpy(resized).astype(np.float32, copy=False)


def _center_crop(batch, side):
    offset = (batch.shape[1] - side) // 2
    return batch[:, offset : offset + side, offset : offset + side]


def _center_pad(batch, side):
    total = side - batch.shape[1]
    if total == 0:
        return batch
    before = total // 2
    return np.pad(batch, ((0, 0), (before, total - before), (before, total - before), (0, 0)))


def _octave_sizes(canvas, octaves, octave_scale):
    return [max(8, round(canvas / octave_scale ** (octaves - 1 - i))) for i in range(octaves)]


def _total_steps(filter_count, config):
    return filter_count * config.steps * config.octaves


def _canvas_size(extractor, size):
    if size is not None:
        size = check_int(size, "size", minimum=8)
    side = square_input_side(extractor, "Gradient ascent")
    if side is not None:
        if size not in (None, side):
            raise ValueError(
                f"This model takes {side}x{side} inputs only; build it with "
                f"input_size={size} for pictures of that size. Received: size={size}"
            )
        return side
    if size is None:
        raise ValueError("This model takes any input size: pass size=. Received: size=None")
    return _positive_int(size, "size")


def _check_filters(filters, extractor, layer_name) -> list[int]:
    shape = extractor.output.shape
    if len(shape) != 4:
        raise ValueError(
            f"Gradient ascent needs a layer with output (h, w, channels). Layer {layer_name!r} "
            f"gives {tuple(shape)}. Received: layer_name={layer_name!r}"
        )
    return check_indices(filters, "filters", int(shape[-1]), f"Layer {layer_name!r}")


def _positive_int(value, name):
    return check_int(value, name, minimum=1)


def _check_settings(config: AscentSettings) -> None:
    if config.regularization not in REGULARIZERS:
        raise ValueError(
            f"regularization must be one of {REGULARIZERS}. "
            f"Received: regularization={config.regularization!r}"
        )
    if config.preprocessing not in PREPROCESSINGS:
        raise ValueError(
            f"preprocessing must be one of {PREPROCESSINGS}. "
            f"Received: preprocessing={config.preprocessing!r}"
        )
    for name in ("steps", "octaves", "blur_every"):
        _positive_int(getattr(config, name), name)
    check_int(config.jitter, "jitter", minimum=0)
    check_int(config.seed, "seed")
    check_float(config.step_size, "step_size", above=0.0)
    check_float(config.octave_scale, "octave_scale", minimum=1.0)
    check_float(config.scale_jitter, "scale_jitter", minimum=0.0)
    check_float(config.blur_sigma, "blur_sigma", above=0.0)
    check_float(config.tv_weight, "tv_weight", minimum=0.0)
    check_float(config.border, "border", minimum=0.0)
    if not 0 <= config.border < 0.5:
        raise ValueError(f"border must be in [0, 0.5). Received: border={config.border!r}")
    if config.jitter < 0 or config.scale_jitter < 0 or config.octave_scale < 1:
        raise ValueError(
            "jitter and scale_jitter must be >= 0 and octave_scale >= 1. Received: "
            f"jitter={config.jitter}, scale_jitter={config.scale_jitter}, "
            f"octave_scale={config.octave_scale}"
        )


def high_frequency_share(pixels: np.ndarray, cutoff: float = 0.125) -> np.ndarray:
    """Share of each picture's spectral energy above ``cutoff`` cycles per pixel.

    A number for how fine a picture's pattern is: smooth colour blobs give a
    small share, fine stripes and textures a large one.

    Args:
        pixels: ``(N, S, S, 3)`` or ``(S, S, 3)`` pictures.
        cutoff: Frequency (0 to 0.5 cycles per pixel) that separates fine from coarse.

    Returns:
        One share in 0..1 per picture (a float for one picture).

    Raises:
        ValueError: For pictures that are not ``(S, S, 3)`` or a batch of them,
            hold NaN or infinite values, or a cutoff outside 0..0.5.
    """
    pixels = check_array(pixels, "pixels", ndim=(3, 4), shape_hint="(S, S, 3) or (N, S, S, 3)")
    pixels = pixels.astype(np.float64)
    check_float(cutoff, "cutoff", minimum=0.0, maximum=0.5)
    single = pixels.ndim == 3
    batch = pixels[None] if single else pixels
    grey = batch.mean(axis=-1)
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)
    energy = np.abs(np.fft.fft2(grey)) ** 2
    fy = np.fft.fftfreq(grey.shape[1])[:, None]
    fx = np.fft.fftfreq(grey.shape[2])[None, :]
    fine = np.hypot(fx, fy) > cutoff
    shares = energy[:, fine].sum(axis=1) / np.maximum(energy.sum(axis=(1, 2)), 1e-12)
    return float(shares[0]) if single else shares


def colourfulness(pixels: np.ndarray) -> np.ndarray:
    """Mean distance of each picture's pixels from grey (0 for grey pictures, up to ~255).

    Args:
        pixels: ``(N, S, S, 3)`` or ``(S, S, 3)`` RGB pictures.

    Returns:
        One value per picture (a float for one picture).

    Raises:
        ValueError: For pictures that are not ``(S, S, 3)`` or a batch of
            them, or hold NaN or infinite values.
    """
    pixels = check_array(pixels, "pixels", ndim=(3, 4), shape_hint="(S, S, 3) or (N, S, S, 3)")
    pixels = pixels.astype(np.float64)
    spread = np.abs(pixels - pixels.mean(axis=-1, keepdims=True)).mean(axis=(-3, -2, -1))
    return float(spread) if np.ndim(spread) == 0 else spread


def chroma_share(pixels: np.ndarray) -> np.ndarray:
    """Share of each picture's energy that lies in colour rather than in grey level.

    Each pixel's RGB vector splits into its grey level (the mean of its three
    channels, on every channel) and the rest, its chroma; the two parts are
    orthogonal, so their energies add up. Meant for a pattern measured from
    zero, such as what gradient ascent added to its start picture. The share
    does not change when the pattern is scaled, so a pattern does not count
    as more colourful for being larger: 0 for a grey pattern, 2/3 for one
    that adds only red, 1 for one whose channels sum to zero at every pixel.

    Args:
        pixels: ``(N, S, S, 3)`` or ``(S, S, 3)`` RGB patterns, measured from zero.

    Returns:
        One share in 0..1 per picture (a float for one picture); 0 for an
        all-zero pattern.

    Raises:
        ValueError: For pictures that are not ``(S, S, 3)`` or a batch of
            them, or hold NaN or infinite values.
    """
    pixels = check_array(pixels, "pixels", ndim=(3, 4), shape_hint="(S, S, 3) or (N, S, S, 3)")
    pixels = pixels.astype(np.float64)
    chroma = pixels - pixels.mean(axis=-1, keepdims=True)
    total = (pixels**2).sum(axis=(-3, -2, -1))
    share = np.where(total > 0, (chroma**2).sum(axis=(-3, -2, -1)) / np.maximum(total, 1e-300), 0.0)
    return float(share) if np.ndim(share) == 0 else share
