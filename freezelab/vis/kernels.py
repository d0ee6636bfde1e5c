"""First-layer convolution kernels: pictures of them, and what each one detects.

Unlike gradient ascent (`freezelab.vis.ascent`), which asks what input a
filter responds to, this draws the ``kh x kw x 3`` weights of a first-layer
filter as colours, so the same filters can be compared before and after
fine-tuning. `kernel_stats` measures what the pictures show, with a
random-kernel baseline for each number:

* **Orientedness** (0..1): the share of the kernel's spatial contrast
  energy (each channel with its mean removed) that lies in the two linear
  ramps, left-right and top-bottom. Any straight edge at any angle is a mix
  of the two (a Sobel filter scores 0.89). A random kernel scores about
  0.25 on average (2 of the 8 contrast directions of a 3x3 patch).
* **Colour selectivity** (0..3): how differently the kernel answers flat
  fields of different colours: the norm of its per-channel sums with their
  mean removed, over the kernel's norm. A flat colour-opponent kernel
  scores up to 3; a grey-only kernel 0; a random kernel about 0.8.

Pure NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from freezelab._validation import check_array, check_bool, check_float, check_int


def kernel_pictures(
    kernel: np.ndarray,
    count: int = 8,
    scale: float | None = None,
    input_bgr: bool = True,
) -> np.ndarray:
    """Turns a first-layer convolution kernel into small RGB pictures.

    Each filter of a 3-channel convolution is a ``kh x kw x 3`` patch of
    weights; mapped to colours around mid-grey, it shows which colour and
    orientation the filter responds to. Use the same ``scale`` for the
    pictures before and after fine-tuning so that they compare.

    Args:
        kernel: A ``(kh, kw, 3, filters)`` kernel, e.g.
            ``model.get_layer("block1_conv1").get_weights()[0]``.
        count: How many filters, from the first.
        scale: The weight magnitude drawn as full colour; defaults to the
            largest absolute weight among the chosen filters.
        input_bgr: The kernel reads BGR inputs (VGG16's caffe preprocessing,
            also the teacher's); its channels are flipped to show RGB.

    Returns:
        Float array ``(count, kh, kw, 3)`` in 0..1, 0.5 meaning a zero weight.

    Raises:
        ValueError: If the kernel does not take 3 input channels, holds NaN
            or infinite weights, ``count`` is out of range, or ``scale`` is
            not a positive number.
        TypeError: If ``count`` is not an int (numpy integers are accepted)
            or ``input_bgr`` not a bool (also a ValueError).
    """
    kernel = check_array(kernel, "kernel")
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(
            "kernel_pictures takes a first-layer kernel of shape (kh, kw, 3, filters). "
            f"Received: shape {kernel.shape}"
        )
    count = check_int(count, "count", minimum=1, maximum=kernel.shape[3])
    input_bgr = check_bool(input_bgr, "input_bgr")
    if scale is not None:
        scale = check_float(scale, "scale", above=0.0)
    chosen = np.moveaxis(kernel[..., :count], -1, 0).astype(np.float64)
    if input_bgr:
        chosen = chosen[..., ::-1]
    if scale is None:
        scale = float(np.max(np.abs(chosen))) or 1.0
    return np.clip(0.5 + chosen / (2.0 * scale), 0.0, 1.0)


ORIENTED_THRESHOLD = 0.5
COLOUR_THRESHOLD = 1.5


@dataclass(frozen=True)
class KernelStats:
    """Per-kernel measures of a conv layer with 3x3 kernels.

    Attributes:
        orientedness: ``(filters,)`` share of contrast energy in linear ramps.
        colour_selectivity: ``(filters,)`` chromatic flat-field response over norm.
    """

    orientedness: np.ndarray
    colour_selectivity: np.ndarray

    @property
    def oriented(self) -> np.ndarray:
        """Which kernels count as oriented-edge detectors."""
        return self.orientedness >= ORIENTED_THRESHOLD

    @property
    def colour_selective(self) -> np.ndarray:
        """Which kernels count as colour detectors."""
        return self.colour_selectivity >= COLOUR_THRESHOLD

    @property
    def selective_share(self) -> float:
        """Share of kernels that are oriented or colour-selective (or both)."""
        return float(np.mean(self.oriented | self.colour_selective))


def kernel_stats(kernel: np.ndarray) -> KernelStats:
    """Measures orientedness and colour selectivity of each kernel.

    Args:
        kernel: Conv weights of shape ``(3, 3, channels, filters)``, as
            ``layer.get_weights()[0]`` gives them for a Conv2D.

    Returns:
        A `KernelStats`.

    Raises:
        ValueError: If the kernel is not 3x3 with at least 2 input channels.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4 or kernel.shape[:2] != (3, 3) or kernel.shape[2] < 2:
        raise ValueError(
            "kernel_stats takes Conv2D kernels of shape (3, 3, channels>=2, filters). "
            f"Received: shape={kernel.shape}"
        )
    flat = kernel.reshape(9, kernel.shape[2], kernel.shape[3])
    contrast = flat - flat.mean(axis=0, keepdims=True)
    ramps = _ramp_basis()
    in_ramps = np.einsum("rp,pcf->rcf", ramps, contrast)
    contrast_energy = np.sum(contrast**2, axis=(0, 1))
    orientedness = np.sum(in_ramps**2, axis=(0, 1)) / np.maximum(contrast_energy, 1e-12)

    channel_sums = flat.sum(axis=0)
    chromatic = channel_sums - channel_sums.mean(axis=0, keepdims=True)
    norms = np.sqrt(np.sum(flat**2, axis=(0, 1)))
    colour = np.sqrt(np.sum(chromatic**2, axis=0)) / np.maximum(norms, 1e-12)
    return KernelStats(orientedness=orientedness, colour_selectivity=colour)


def _ramp_basis() -> np.ndarray:
    # Orthonormal left-right and top-bottom ramps over the 3x3 grid (rows of a (2, 9) array).
    coords = np.array([-1.0, 0.0, 1.0])
    left_right = np.tile(coords, 3)
    top_bottom = np.repeat(coords, 3)
    basis = np.stack([left_right, top_bottom])
    return basis / np.linalg.norm(basis, axis=1, keepdims=True)
