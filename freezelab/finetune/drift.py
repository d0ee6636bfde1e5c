"""How far fine-tuning moved each layer's weights.

Take a `snapshot_weights` before training and compare it with the model
afterwards: `weight_drift` gives each weighted layer's relative change
``||W1 - W0|| / ||W0||`` (kernel and bias taken together). A frozen layer must
show exactly 0.0; `verify_frozen_unchanged` checks that and says which layer
moved if one did. To show the first convolution's kernels before and after, see
`freezelab.vis.kernels.kernel_pictures`.

Pure NumPy over ``layer.get_weights()``: no TensorFlow import, any backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from freezelab.core.freezing import weighted_layers
from freezelab.core.layers import iter_layers


@dataclass(frozen=True)
class LayerDrift:
    """One layer's weight change between two snapshots.

    Attributes:
        name: Layer name.
        block: ``"block1"`` … ``"block5"``, ``"head"`` or ``""`` (see `iter_layers`).
        relative_change: ``||W1 - W0|| / ||W0||`` over all the layer's weights;
            for weights that started at zero, the plain norm ``||W1||``.
        trainable: Whether the layer was trainable during the run, when known.
    """

    name: str
    block: str
    relative_change: float
    trainable: bool | None = None


def snapshot_weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Copies every weighted layer's weights, by layer name.

    Args:
        model: A Keras model.

    Returns:
        Layer name to a list of NumPy copies of its weights, in model order.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    return {
        ref.name: [np.array(w, copy=True) for w in ref.layer.get_weights()]
        for ref in weighted_layers(model)
    }


def weight_drift(
    before: dict[str, list[np.ndarray]],
    model: keras.Model,
    mask: dict[str, bool] | None = None,
) -> list[LayerDrift]:
    """Relative change of each layer's weights since ``before``.

    Args:
        before: A `snapshot_weights` of the same model (or of a model with the
            same layer names and shapes) taken earlier.
        model: The model now.
        mask: The trainable mask the run used (`get_mask`), recorded in the
            result; None leaves ``trainable`` unknown.

    Returns:
        One `LayerDrift` per layer of ``before``, in model order.

    Raises:
        ValueError: If ``before`` is not a snapshot of this model: a layer is
            missing or a weight has another shape.
    """
    if not isinstance(before, dict):
        raise ValueError(
            "`before` must be a snapshot from snapshot_weights(model). "
            f"Received: {type(before).__name__}"
        )
    blocks = {ref.name: ref.block for ref in iter_layers(model)}
    now = snapshot_weights(model)
    drifts = []
    for name, old in before.items():
        if name not in now:
            raise ValueError(
                f"The snapshot holds layer {name!r}, which the model has no weights for. "
                f"Received: a snapshot of another model (model layers: {list(now)[:4]} …)"
            )
        new = now[name]
        shapes_old = [w.shape for w in old]
        shapes_new = [w.shape for w in new]
        if shapes_old != shapes_new:
            raise ValueError(
                f"Layer {name!r} has weights of shapes {shapes_new}, the snapshot "
                f"{shapes_old}. Received: a snapshot of another model."
            )
        drifts.append(
            LayerDrift(
                name=name,
                block=blocks.get(name, ""),
                relative_change=relative_change(old, new),
                trainable=None if mask is None else mask.get(name),
            )
        )
    return drifts


def relative_change(old: list[np.ndarray], new: list[np.ndarray]) -> float:
    """``||new - old|| / ||old||`` over several arrays taken together.

    Args:
        old: Arrays before.
        new: Arrays after, same shapes.

    Returns:
        The relative change; ``||new||`` when ``old`` is all zeros. Exactly
        0.0 when nothing changed.
    """
    diff = np.sqrt(sum(float(np.sum((n.astype(np.float64) - o) ** 2)) for o, n in zip(old, new)))
    base = np.sqrt(sum(float(np.sum(o.astype(np.float64) ** 2)) for o in old))
    return float(diff / base) if base > 0 else float(diff)


def verify_frozen_unchanged(drifts: list[LayerDrift]) -> list[str]:
    """Checks that no layer that was frozen during the run moved at all.

    Args:
        drifts: From `weight_drift` with the run's ``mask``.

    Returns:
        Names of the frozen layers checked (all exactly unchanged).

    Raises:
        ValueError: If no drift carries a trainable flag (pass ``mask`` to
            `weight_drift`).
        RuntimeError: If a frozen layer's weights changed, naming it and how
            much: the model was not recompiled after freezing, most likely.
    """
    if not drifts or all(d.trainable is None for d in drifts):
        raise ValueError(
            "These drifts do not say which layers were frozen: call "
            "weight_drift(before, model, mask=get_mask(model)). "
            f"Received: {len(drifts)} drifts without trainable flags"
        )
    frozen = [d for d in drifts if d.trainable is False]
    moved = [d for d in frozen if d.relative_change != 0.0]
    if moved:
        listed = ", ".join(f"{d.name} ({d.relative_change:.3g})" for d in moved)
        raise RuntimeError(
            f"Frozen layers moved during training: {listed}. A layer frozen after fit() "
            "keeps training until the model is recompiled; call freezelab.recompile(model)."
        )
    return [d.name for d in frozen]


def drift_by_block(drifts: list[LayerDrift]) -> dict[str, float]:
    """The largest relative change in each block, in model order.

    Args:
        drifts: From `weight_drift`.

    Returns:
        Block name (or layer name for layers without a block) to its largest
        layer drift.
    """
    result: dict[str, float] = {}
    for drift in drifts:
        key = drift.block or drift.name
        result[key] = max(result.get(key, 0.0), drift.relative_change)
    return result
