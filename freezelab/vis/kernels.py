"""Pictures of first-layer convolution kernels, drawn from the weights themselves.

Unlike gradient ascent (`freezelab.vis.ascent`), which asks what input a
filter responds to, this draws the ``kh x kw x 3`` weights of a first-layer
filter as colours, so the same filters can be compared before and after
fine-tuning. Pure NumPy.
"""

from __future__ import annotations

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
