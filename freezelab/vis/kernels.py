"""Pictures of first-layer convolution kernels, drawn from the weights themselves.

Unlike gradient ascent (`freezelab.vis.ascent`), which asks what input a
filter responds to, this draws the ``kh x kw x 3`` weights of a first-layer
filter as colours, so the same filters can be compared before and after
fine-tuning. Pure NumPy.
"""

from __future__ import annotations

import numpy as np


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
        ValueError: If the kernel does not take 3 input channels or ``count``
            is out of range.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(
            "kernel_pictures takes a first-layer kernel of shape (kh, kw, 3, filters). "
            f"Received: shape {kernel.shape}"
        )
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= kernel.shape[3]:
        raise ValueError(
            f"count must be an int from 1 to {kernel.shape[3]} (the number of filters). "
            f"Received: count={count!r}"
        )
    chosen = np.moveaxis(kernel[..., :count], -1, 0).astype(np.float64)
    if input_bgr:
        chosen = chosen[..., ::-1]
    if scale is None:
        scale = float(np.max(np.abs(chosen))) or 1.0
    return np.clip(0.5 + chosen / (2.0 * scale), 0.0, 1.0)
