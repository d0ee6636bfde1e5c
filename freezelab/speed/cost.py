"""What a training step costs, layer by layer, and what freezing removes.

A training step is a forward pass, a backward pass and an optimizer update.
For a convolution or a dense layer the backward pass does two jobs of about
the forward's size each:

* the **input gradient** (gradient with respect to the layer's input), which
  is only needed when some trainable layer lies *below* this one;
* the **weight gradient**, which is only needed when the layer itself trains.

So freezing a **prefix** of the network removes both jobs for the prefix (and
the input gradient of the first trainable layer), while freezing a layer
**above** a trainable one removes only its weight gradient: the gradient still
has to flow through it. The forward pass always remains, which is why
freezing alone cannot make a step much more than 3x cheaper.

Conventions: one multiply-add counts as **2 FLOPs** (``macs`` counts it once,
as published tables such as VGG16's 15.47 GMACs do). Bias additions and
element-wise work (activations, pooling, normalisation) are counted with one
FLOP per element and operation; they are small next to the convolutions.
Layers are treated as a chain in model order, which is exact for VGG-style
stacks and an over-estimate of backward work for branching models.

Transformers: ``MultiHeadAttention``, ``LayerNormalization``, ``Dense`` on
token sequences, GELU and position tables have formulas too, and layers whose
variables can train apart (a bias without its kernel, LoRA factors beside a
frozen kernel) are costed variable by variable: `step_cost` reads which
variables train from the model itself (see `trained_variables` and
`freezelab.speed.transformer_cost`).

Everything here is plain Python over layer configurations and shapes; no
backend computation runs, so it works on any Keras 3 backend.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import keras

from freezelab._validation import check_int, check_model, suggestion
from freezelab.core.freezing import get_mask
from freezelab.core.layers import iter_layers, unique_weights, weight_size
from freezelab.speed.transformer_cost import (
    LayerFormula,
    activation_flops,
    added_table_formula,
    attention_formula,
    dense_formula,
    is_added_table,
    layer_norm_formula,
    relative_name,
)

#: Optimizer state slots per trainable parameter (Adam keeps two moments).
OPTIMIZER_SLOTS = {
    "sgd": 0,
    "momentum": 1,
    "rmsprop": 1,
    "adagrad": 1,
    "adadelta": 2,
    "adam": 2,
    "adamw": 2,
    "nadam": 2,
    "adamax": 2,
    "lion": 1,
}

#: Bytes of one float32 weight, gradient or optimizer slot.
FLOAT32_BYTES = 4

#: What `layer_costs` does with a layer type it has no formula for.
UNKNOWN_LAYER_CHOICES = ("raise", "estimate")


@dataclass(frozen=True)
class LayerCost:
    """Cost of one computing layer for one forward and backward pass.

    All FLOP figures are for the whole batch, with a multiply-add counted as 2.

    Attributes:
        name: Layer name.
        block: ``blockN``, ``head``, ``input`` or ``""`` (see `iter_layers`).
        forward_flops: Forward pass.
        input_grad_flops: Gradient with respect to the layer's input.
        weight_grad_flops: Gradient with respect to its weights (0 without
            weights).
        params: Scalar weights held by the layer.
        activation_elements: Elements of the layer's output for the batch.
        type: Layer class name, e.g. ``"Conv2D"``.
        macs: Multiply-adds of the layer's main product (convolution or
            matrix product), 0 for other layers.
        activation_grad_flops: Backward of a fused activation and bias, paid
            once when either gradient is computed.
        estimated: True when the layer type has no formula here and the
            figures are a rough estimate (see `layer_costs`).
        formula: The backward pass as named pieces with, per variable, the
            pieces its gradient needs (`freezelab.speed.transformer_cost`),
            for layers whose variables can train apart (Dense, convolutions,
            attention, LayerNormalization, position tables); None otherwise.
    """

    name: str
    block: str
    forward_flops: int
    input_grad_flops: int
    weight_grad_flops: int
    params: int
    activation_elements: int
    type: str = ""
    macs: int = 0
    activation_grad_flops: int = 0
    estimated: bool = False
    formula: LayerFormula | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class LayerBackward:
    """Which backward work one layer still does under a freeze mask.

    Attributes:
        name: Layer name.
        block: Block of the layer.
        computes_weight_grad: The layer trains, so its weight gradient is
            computed.
        computes_input_grad: A trainable layer lies below, so the gradient
            must flow through this layer to its input.
        forward_flops: Forward FLOPs (always paid).
        backward_flops: Backward FLOPs still paid under the mask.
        has_weights: Whether the layer holds weights.
    """

    name: str
    block: str
    computes_weight_grad: bool
    computes_input_grad: bool
    forward_flops: int
    backward_flops: int
    has_weights: bool = False


@dataclass(frozen=True)
class StepCost:
    """Predicted FLOPs of one training step under a freeze mask.

    Attributes:
        forward_flops: Forward pass (the same under every mask).
        backward_flops: Backward work that remains under the mask.
        full_total_flops: Forward + backward with every layer trainable.
        layers: Per-layer view, in model order.
        batch_size: The batch the figures are for.
    """

    forward_flops: int
    backward_flops: int
    full_total_flops: int
    layers: list[LayerBackward]
    batch_size: int
    trainable_params: int = 0
    full_trainable_params: int = 0

    @property
    def trainable_share(self) -> float:
        """Trainable parameters under the mask / with every layer trainable."""
        if not self.full_trainable_params:
            return 0.0
        return self.trainable_params / self.full_trainable_params

    @property
    def total_flops(self) -> int:
        """Forward plus remaining backward FLOPs."""
        return self.forward_flops + self.backward_flops

    @property
    def relative_cost(self) -> float:
        """This mask's step cost as a fraction of the fully trainable step."""
        return self.total_flops / self.full_total_flops if self.full_total_flops else 1.0

    @property
    def saved_fraction(self) -> float:
        """Share of the fully trainable step's FLOPs that freezing removes."""
        return 1.0 - self.relative_cost

    @property
    def speedup(self) -> float:
        """Predicted speed-up over the fully trainable step (1 / relative_cost)."""
        return 1.0 / self.relative_cost if self.relative_cost else math.inf

    def time_fraction(self, forward_share: float, update_share: float = 0.0) -> float:
        """Step-time fraction from the measured parts of a fully trainable step.

        FLOPs are not time: a forward convolution is often faster per FLOP
        than its gradient kernels, every step pays a fixed cost (launching,
        the loss), and the optimizer update is limited by memory traffic, not
        arithmetic. So the fully trainable step is split into three measured
        terms, and only the last is scaled by FLOPs:

        * the **floor** (``forward_share``): a step with every layer frozen
          (forward pass, loss, fixed per-step cost), paid under every mask;
        * the **update** (``update_share``): computing the gradients' memory
          and applying the optimizer to every trainable parameter, scaled by
          the share of parameters that still train (`trainable_share`);
        * the **backward** (the rest), scaled by the backward FLOPs that remain.

        With ``update_share=0`` and ``forward_share`` equal to the forward
        pass's FLOP share it returns `relative_cost` exactly.

        Args:
            forward_share: Floor time / fully trainable step time, in (0, 1].
            update_share: Update time / fully trainable step time, in
                [0, 1 - forward_share].

        Returns:
            Predicted step time as a fraction of the fully trainable step.

        Raises:
            ValueError: If a share is out of range.
        """
        if not 0.0 < forward_share <= 1.0:
            raise ValueError(
                "forward_share is the forward pass's fraction of the step time, in (0, 1]. "
                f"Received: forward_share={forward_share!r}"
            )
        if not 0.0 <= update_share <= 1.0 - forward_share + 1e-12:
            raise ValueError(
                "update_share is the optimizer update's fraction of the step time, in "
                f"[0, 1 - forward_share] = [0, {1.0 - forward_share:.3f}]. "
                f"Received: update_share={update_share!r}"
            )
        full_backward = self.full_total_flops - self.forward_flops
        backward_share = self.backward_flops / full_backward if full_backward else 0.0
        backward_time = max(1.0 - forward_share - update_share, 0.0)
        return forward_share + update_share * self.trainable_share + backward_time * backward_share

    def block_table(self) -> str:
        """Per block: forward and remaining backward GFLOPs, and which gradients run.

        Each layer with weights is shown as ``W`` (weight gradient), ``I``
        (input gradient), ``WI`` (both) or ``-`` (no backward work).
        """
        blocks: dict[str, list[LayerBackward]] = {}
        for row in self.layers:
            if row.block != "input":
                blocks.setdefault(row.block or "(other)", []).append(row)
        lines = [f"{'block':<8}{'forward GF':>11}{'backward GF':>13}  gradients per layer"]
        for block, rows in blocks.items():
            marks = " ".join(_grad_mark(r) for r in rows if r.has_weights)
            forward = sum(r.forward_flops for r in rows) / 1e9
            backward = sum(r.backward_flops for r in rows) / 1e9
            lines.append(f"{block:<8}{forward:>11.3f}{backward:>13.3f}  {marks}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return (
            f"step: {self.total_flops / 1e9:.2f} GFLOPs (forward {self.forward_flops / 1e9:.2f}, "
            f"backward {self.backward_flops / 1e9:.2f}) = {self.relative_cost:.1%} of the fully "
            f"trainable step, predicted speed-up {self.speedup:.2f}x"
        )


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training step needs, by kind.

    Attributes:
        weights_bytes: Every weight of the model.
        gradients_bytes: One gradient per trainable weight.
        optimizer_bytes: Optimizer state (Adam: two moments per trainable
            weight).
        activations_bytes: Layer outputs kept for the backward pass: the
            input of the lowest trainable layer and every output above it.
    """

    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int

    @property
    def total_bytes(self) -> int:
        """Sum of the four parts."""
        return (
            self.weights_bytes
            + self.gradients_bytes
            + self.optimizer_bytes
            + self.activations_bytes
        )

    def __str__(self) -> str:
        parts = [
            ("weights", self.weights_bytes),
            ("gradients", self.gradients_bytes),
            ("optimizer", self.optimizer_bytes),
            ("activations", self.activations_bytes),
            ("total", self.total_bytes),
        ]
        return "  ".join(f"{label}: {value / 2**20:,.1f} MiB" for label, value in parts)


def layer_costs(model: keras.Model, batch_size: int = 1, unknown: str = "raise") -> list[LayerCost]:
    """Counts forward and backward FLOPs of every computing layer of ``model``.

    Args:
        model: A built Keras model with known input shape (nested models are
            opened, as in `iter_layers`).
        batch_size: Number of examples per step.
        unknown: What to do with a layer whose type has no formula here or
            whose shapes are unknown: ``"raise"`` (the default) or
            ``"estimate"``: a layer with a ``kernel`` does ``output positions
            x kernel size`` multiply-adds forward and as much again for each
            gradient; any other layer one FLOP per output element (or per
            parameter when its output is unknown). Such rows carry
            ``estimated=True``.

    Returns:
        One `LayerCost` per computing layer, in model order.

    Raises:
        ValueError: For a batch size that is not a positive int, an unknown
            ``unknown``, or (with ``unknown="raise"``) a layer whose shapes
            are unknown or whose type the cost model does not know.

    Example:
    >>> costs = layer_costs(freezelab.load_vgg16(weights=None))
    >>> sum(c.macs for c in costs) / 1e9  # 15.35 GMACs at 224x224
    """
    check_model(model, "layer_costs")
    batch_size = _check_batch_size(batch_size)
    if unknown not in UNKNOWN_LAYER_CHOICES:
        raise ValueError(
            f"unknown must be one of {UNKNOWN_LAYER_CHOICES}. Received: unknown={unknown!r}"
        )
    refs = iter_layers(model)
    params = dict.fromkeys((id(ref) for ref in refs), 0)
    for ref, variable in unique_weights(refs):
        params[id(ref)] += weight_size(variable)
    costs = []
    for ref in refs:
        try:
            costs.append(_layer_cost(ref.layer, ref.block, batch_size, params[id(ref)]))
        except ValueError:
            if unknown == "raise":
                raise
            costs.append(_estimated_cost(ref.layer, ref.block, batch_size, params[id(ref)]))
    return costs


def step_cost(
    model: keras.Model, mask: dict[str, bool] | None = None, batch_size: int = 1
) -> StepCost:
    """Predicts the FLOPs of one training step under a freeze mask.

    What trains is read variable by variable: for a layer the mask does not
    name (every layer when ``mask`` is None), the variables that train are
    those in ``model.trainable_weights``, so ``step_cost(model)`` costs the
    model as it is set to train now, including a per-variable choice such as
    BitFit (biases and LayerNormalization's ``gamma``/``beta`` train, kernels
    do not) or LoRA (``enable_lora`` factors train beside a frozen kernel).
    A layer the mask names trains all its variables (True) or none (False),
    as ``layer.trainable = ...`` would set them. Every layer above the lowest
    trainable variable passes the gradient down (its input gradient); a
    layer pays the gradients of its own trainable variables only, plus the
    part of its backward pass that they need (see
    `freezelab.speed.transformer_cost`).

    Args:
        model: A built Keras model.
        mask: Layer name to trainable flag, as `get_mask` returns it. Layers
            with weights that the mask does not name keep their current
            flags; None uses the model's current flags.
        batch_size: Number of examples per step.

    Returns:
        A `StepCost`; ``relative_cost`` compares with every layer trainable.

    Raises:
        ValueError: If the mask names a layer the model lacks or one without
            weights, or holds a value that is not a bool; see also
            `layer_costs`.
    """
    costs = layer_costs(model, batch_size)
    trains = _trains(model, mask)
    variables = trained_variables(model, mask)
    rows = backward_rows(costs, trains, variables)
    everything = backward_rows(costs, {c.name: True for c in costs if c.params})
    forward = sum(c.forward_flops for c in costs)
    trainable = 0
    for cost in costs:
        if cost.formula is not None and cost.name in variables:
            sizes = {part.name: part.params for part in cost.formula.parts}
            trainable += sum(sizes.get(name, 0) for name in variables[cost.name])
        elif cost.params and trains.get(cost.name, False):
            trainable += cost.params
    return StepCost(
        forward_flops=forward,
        backward_flops=sum(row.backward_flops for row in rows),
        full_total_flops=forward + sum(row.backward_flops for row in everything),
        layers=rows,
        batch_size=batch_size,
        trainable_params=trainable,
        full_trainable_params=sum(c.params for c in costs),
    )


def trained_variables(
    model: keras.Model, mask: dict[str, bool] | None = None
) -> dict[str, tuple[str, ...]]:
    """Which variables of each weighted layer train, as `step_cost` reads them.

    Args:
        model: A built Keras model.
        mask: As in `step_cost`: a layer it names trains all its variables
            (True) or none (False); the others keep their current flags.

    Returns:
        Layer name to the paths, inside the layer, of its variables that
        train (``"kernel"``, ``"query/bias"``, ``"value/lora_kernel_a"``…),
        for every layer with weights, in model order; a variable trains when
        it is in ``model.trainable_weights``.

    Raises:
        ValueError: As `step_cost` for a bad mask.
    """
    _trains(model, mask)  # validates the mask
    trainable_ids = {id(v) for v in model.trainable_weights}
    found: dict[str, tuple[str, ...]] = {}
    for ref in iter_layers(model):
        if not ref.layer.weights:
            continue
        if mask is not None and ref.name in mask:
            chosen = list(ref.layer.weights) if mask[ref.name] else []
        else:
            chosen = [v for v in ref.layer.weights if id(v) in trainable_ids]
        found[ref.name] = tuple(relative_name(ref.layer, v) for v in chosen)
    return found


def memory_estimate(
    model: keras.Model,
    mask: dict[str, bool] | None = None,
    batch_size: int = 1,
    optimizer: str = "adam",
) -> MemoryEstimate:
    """Estimates the memory of one training step under a freeze mask.

    Args:
        model: A built Keras model.
        mask: As in `step_cost`.
        batch_size: Number of examples per step.
        optimizer: Optimizer name (``"adam"``, ``"sgd"``, ``"rmsprop"``…) or
            a Keras optimizer instance; decides the state slots per weight.

    Returns:
        A `MemoryEstimate` in bytes.

    Raises:
        ValueError: For an unknown optimizer, or as `step_cost`.
    """
    slots = optimizer_slots(optimizer)
    costs = layer_costs(model, batch_size)
    trains = _trains(model, mask)
    weight_bytes = trainable_bytes = 0
    for ref, variable in unique_weights(iter_layers(model)):
        size = weight_size(variable) * _dtype_bytes(variable.dtype)
        weight_bytes += size
        if trains.get(ref.name, False) and variable.trainable:
            trainable_bytes += size
    activation_bytes = _stored_activation_bytes(model, costs, trains)
    return MemoryEstimate(
        weights_bytes=weight_bytes,
        gradients_bytes=trainable_bytes,
        optimizer_bytes=slots * trainable_bytes,
        activations_bytes=activation_bytes,
    )


def _grad_mark(row: LayerBackward) -> str:
    mark = ("W" if row.computes_weight_grad else "") + ("I" if row.computes_input_grad else "")
    return mark or "-"


class CostRow(Protocol):
    """The fields of a per-layer cost that `backward_rows` reads."""

    name: str
    block: str
    params: int
    forward_flops: float
    input_grad_flops: float
    weight_grad_flops: float
    activation_grad_flops: float


def backward_rows(
    costs: Sequence[CostRow],
    trains: Mapping[str, bool],
    variables: Mapping[str, Collection[str]] | None = None,
) -> list[LayerBackward]:
    """Applies the backward rule to per-layer costs under a freeze mask.

    A layer computes its weight-gradient when it has weights and trains; it
    computes its input-gradient when any layer below it trains (the gradient
    must flow through it to reach that layer). A frozen prefix therefore pays
    no backward at all, while a frozen layer above a trainable one still pays
    its input-gradient. The freeze panel calls this on its cached costs.

    Args:
        costs: Per-layer costs in model order (`LayerCost`, or any row with
            the same fields, such as the panel's cached rows).
        trains: Layer name to trainable flag; layers not named are frozen.
        variables: Optional layer name to the names of its variables that
            train (as `trained_variables` returns). A row with a ``formula``
            named here pays only the backward pieces those variables need
            (a bias gradient alone is a sum); it trains when the collection
            is not empty, whatever ``trains`` says.

    Returns:
        One `LayerBackward` per row, in order.
    """
    rows = []
    trainable_below = False
    for cost in costs:
        formula = getattr(cost, "formula", None)
        trained = None
        if formula is not None and variables is not None and cost.name in variables:
            trained = set(variables[cost.name])
            known = {part.name for part in formula.parts}
            if trained - known:  # a variable without a formula: count every gradient
                trained = known
            weight_grad = bool(trained)
        else:
            weight_grad = bool(cost.params) and trains.get(cost.name, False)
        input_grad = trainable_below
        backward = 0
        if formula is not None:
            if weight_grad:
                backward += formula.weight_grad_flops(trained, with_input=input_grad)
            if input_grad:
                backward += formula.input_grad_flops
        else:
            if weight_grad:
                backward += cost.weight_grad_flops
            if input_grad:
                backward += cost.input_grad_flops
        if weight_grad or input_grad:
            backward += cost.activation_grad_flops
        rows.append(
            LayerBackward(
                name=cost.name,
                block=cost.block,
                computes_weight_grad=weight_grad,
                computes_input_grad=input_grad,
                forward_flops=cost.forward_flops,
                backward_flops=backward,
                has_weights=bool(cost.params),
            )
        )
        trainable_below = trainable_below or weight_grad
    return rows


def _trains(model: keras.Model, mask: dict[str, bool] | None) -> dict[str, bool]:
    current = get_mask(model)
    if mask is None:
        return current
    if not isinstance(mask, dict):
        raise ValueError(
            "A mask is a dict from layer name to True/False, as get_mask() returns. "
            f"Received: mask of type {type(mask).__name__}"
        )
    all_names = [ref.name for ref in iter_layers(model)]
    for name, value in mask.items():
        if not isinstance(value, bool):
            raise ValueError(f"Mask values must be True or False. Received: {name!r}: {value!r}")
        if name not in current:
            if name in all_names:
                reason = "a layer without weights, which has nothing to freeze"
            else:
                reason = f"no layer of model {model.name!r}{suggestion(name, current)}"
            raise ValueError(
                f"The mask names {name!r}: {reason}. Accepted: the names get_mask() returns "
                f"({len(current)} layers with weights). Received: {name!r}"
            )
    return {**current, **mask}


def _stored_activation_bytes(model, costs: list[LayerCost], trains: dict[str, bool]) -> int:
    first_trainable = next(
        (i for i, c in enumerate(costs) if c.params and trains.get(c.name)), None
    )
    if first_trainable is None:
        return 0
    element_bytes = _dtype_bytes(getattr(model, "compute_dtype", None) or keras.config.floatx())
    start = max(first_trainable - 1, 0)
    return sum(c.activation_elements for c in costs[start:]) * element_bytes


def _layer_cost(layer, block: str, batch_size: int, params: int) -> LayerCost:
    kind = type(layer).__name__
    if isinstance(layer, keras.layers.InputLayer):
        elements = _elements(_shape(layer, "output"))
        return LayerCost(layer.name, block, 0, 0, 0, params, elements * batch_size, kind)
    in_shape, out_shape = _shape(layer, "input"), _shape(layer, "output")
    in_elements = _elements(in_shape) * batch_size
    out_elements = _elements(out_shape) * batch_size
    macs = 0
    activation_grad = 0
    formula = None
    if _is_conv(layer) or isinstance(layer, keras.layers.Dense):
        if _is_conv(layer):
            macs = _conv_macs(layer, in_shape, out_shape) * batch_size
        else:  # on vectors or token sequences: every leading axis is a row
            rows = _elements(in_shape[:-1]) * batch_size
            macs = rows * int(in_shape[-1]) * int(layer.units)
        formula = dense_formula(layer, out_elements, macs)
        fused = _fused_elementwise(layer, out_elements)
        forward = formula.forward_flops + fused
        input_grad = formula.input_grad_flops
        weight_grad = formula.weight_grad_flops()
        activation_grad = fused
    elif isinstance(layer, keras.layers.MultiHeadAttention):
        formula = attention_formula(layer, batch_size)
        macs = formula.macs
        forward = formula.forward_flops
        input_grad = formula.input_grad_flops
        weight_grad = formula.weight_grad_flops()
    elif isinstance(layer, keras.layers.LayerNormalization):
        formula = layer_norm_formula(layer, out_elements)
        forward = formula.forward_flops
        input_grad = formula.input_grad_flops
        weight_grad = formula.weight_grad_flops()
    elif kind == "Activation":
        per_element = activation_flops(layer) or 1
        forward = input_grad = per_element * out_elements
        weight_grad = 0
    elif kind in _FREE_LAYERS:
        forward = input_grad = weight_grad = 0
    elif kind in _POOLING_LAYERS:
        window = math.prod(layer.pool_size) if hasattr(layer, "pool_size") else 1
        work = out_elements * window if hasattr(layer, "pool_size") else in_elements
        forward = input_grad = work
        weight_grad = 0
    elif kind in _ELEMENTWISE_LAYERS:
        per_element = _ELEMENTWISE_LAYERS[kind]
        forward = per_element * out_elements
        input_grad = per_element * out_elements
        weight_grad = 2 * out_elements if params else 0
    elif is_added_table(layer):
        formula = added_table_formula(layer, out_elements)
        forward = formula.forward_flops
        input_grad = formula.input_grad_flops
        weight_grad = formula.weight_grad_flops()
    else:
        raise _unsupported(layer)
    return LayerCost(
        name=layer.name,
        block=block,
        forward_flops=forward,
        input_grad_flops=input_grad,
        weight_grad_flops=weight_grad,
        params=params,
        activation_elements=out_elements,
        type=kind,
        macs=macs,
        activation_grad_flops=activation_grad,
        formula=formula,
    )


def _estimated_cost(layer, block: str, batch_size: int, params: int) -> LayerCost:
    """A rough cost for a layer type without a formula (see `layer_costs`)."""
    kind = type(layer).__name__
    if isinstance(layer, keras.layers.InputLayer):
        return LayerCost(layer.name, block, 0, 0, 0, params, 0, kind, estimated=True)
    positions, elements = _output_sizes(layer)
    kernel = getattr(layer, "kernel", None)
    if kernel is not None and positions is not None:
        macs = positions * weight_size(kernel) * batch_size
        forward = input_grad = weight_grad = 2 * macs
    else:
        macs = 0
        forward = input_grad = (elements or params) * (batch_size if elements else 1)
        weight_grad = params
    return LayerCost(
        name=layer.name,
        block=block,
        forward_flops=forward,
        input_grad_flops=input_grad,
        weight_grad_flops=weight_grad,
        params=params,
        activation_elements=(elements or 0) * batch_size,
        type=kind,
        macs=macs,
        estimated=True,
    )


def _output_sizes(layer) -> tuple[int | None, int | None]:
    """Output positions (all axes but batch and channels) and elements per example."""
    try:
        shape = tuple(layer.output.shape)
    except Exception:
        return None, None
    if len(shape) < 2 or any(d is None for d in shape[1:]):
        return None, None
    return math.prod(int(d) for d in shape[1:-1]), math.prod(int(d) for d in shape[1:])


# Layers that only move or reshape data: no arithmetic.
_FREE_LAYERS = {
    "Flatten",
    "Reshape",
    "Permute",
    "Concatenate",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Identity",
    "RepeatVector",
}
_POOLING_LAYERS = {
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
}
# FLOPs per output element, forward (the input gradient is counted the same).
_ELEMENTWISE_LAYERS = {
    "Activation": 1,
    "ReLU": 1,
    "LeakyReLU": 1,
    "ELU": 1,
    "PReLU": 2,
    "Softmax": 3,
    "Dropout": 2,
    "SpatialDropout2D": 2,
    "GaussianNoise": 2,
    "Rescaling": 2,
    "Normalization": 2,
    "BatchNormalization": 5,
    "LayerNormalization": 5,
    "GroupNormalization": 5,
    "Add": 1,
    "Subtract": 1,
    "Multiply": 1,
    "Average": 2,
    "Maximum": 1,
    "Minimum": 1,
}


def _is_conv(layer) -> bool:
    return isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Conv3D)


def _conv_macs(layer, in_shape, out_shape) -> int:
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    in_channels = int(in_shape[-1] if channels_last else in_shape[0])
    spatial = out_shape[:-1] if channels_last else out_shape[1:]
    groups = int(getattr(layer, "groups", 1) or 1)
    per_output = math.prod(int(k) for k in layer.kernel_size) * (in_channels // groups)
    return _elements(spatial) * int(layer.filters) * per_output


def _fused_elementwise(layer, out_elements: int) -> int:
    bias = out_elements if getattr(layer, "use_bias", False) else 0
    return bias + activation_flops(layer) * out_elements


def _shape(layer, which: str) -> tuple[int, ...]:
    """Shape without the batch axis; raises a clear error when unknown."""
    try:
        tensor = getattr(layer, which)
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"Cannot read the {which} shape of layer {layer.name!r}: cost estimates need a "
            "built model whose layers are each called once (a Functional or Sequential model "
            f"with a known input shape). Received: layer {layer.name!r} ({error})"
        ) from None
    if isinstance(tensor, (list, tuple)):
        tensor = tensor[0]
    dims = tuple(tensor.shape)[1:]
    if any(d is None for d in dims):
        raise ValueError(
            f"Layer {layer.name!r} has an unknown size in its {which} shape, so its cost "
            "cannot be counted. Build the model with a fixed input size, e.g. "
            f"input_shape=(96, 96, 3). Received: {which} shape {tuple(tensor.shape)}"
        )
    return tuple(int(d) for d in dims)


def _elements(shape) -> int:
    return math.prod(int(d) for d in shape)


def _unsupported(layer) -> ValueError:
    known = sorted(
        {"Conv1D", "Conv2D", "Conv3D", "Dense", "InputLayer", "MultiHeadAttention"}
        | _FREE_LAYERS
        | _POOLING_LAYERS
        | set(_ELEMENTWISE_LAYERS)
    )
    return ValueError(
        f"The cost model does not know layers of type {type(layer).__name__}. "
        f"Supported: {', '.join(known)}, and a layer adding one learned table to its input "
        f"(a position embedding). Received: layer {layer.name!r} of type "
        f"{type(layer).__name__}"
    )


def optimizer_slots(optimizer: str | keras.optimizers.Optimizer = "adam") -> int:
    """State slots an optimizer keeps per trainable weight (Adam: two moments).

    Args:
        optimizer: An optimizer name (``"adam"``, ``"sgd"``…) or instance.

    Returns:
        The number of slots (0 for plain SGD).

    Raises:
        ValueError: For an optimizer the table does not know.
    """
    name = optimizer if isinstance(optimizer, str) else type(optimizer).__name__
    if not isinstance(name, str):
        name = str(name)
    key = name.lower()
    if key == "sgd" and getattr(optimizer, "momentum", 0):
        key = "momentum"
    if key not in OPTIMIZER_SLOTS:
        raise ValueError(
            f"Unknown optimizer for the memory estimate. Accepted: {', '.join(OPTIMIZER_SLOTS)} "
            f"or a Keras optimizer of those classes. Received: optimizer={optimizer!r}"
        )
    return OPTIMIZER_SLOTS[key]


def optimizer_state_bytes(
    trainable_params: int, optimizer: str | keras.optimizers.Optimizer = "adam"
) -> int:
    """Bytes of optimizer state for ``trainable_params`` float32 weights.

    Args:
        trainable_params: Weights that train.
        optimizer: As in `optimizer_slots`.

    Returns:
        ``slots x trainable_params x 4`` bytes.

    Raises:
        ValueError: For an unknown optimizer.
    """
    return optimizer_slots(optimizer) * trainable_params * FLOAT32_BYTES


def _dtype_bytes(dtype) -> int:
    name = getattr(dtype, "name", None) or str(dtype)
    for bits in (64, 32, 16, 8):
        if str(bits) in name:
            return bits // 8
    return 4


def _check_batch_size(batch_size) -> int:
    return check_int(batch_size, "batch_size", minimum=1)  # numpy integers accepted


@dataclass(frozen=True)
class BlockShare:
    """A block's share of the parameters and of the forward compute.

    Attributes:
        block: Block name (``block1`` … or ``head``).
        params: Parameters in the block.
        forward_flops: Forward FLOPs of the block (for the batch asked for).
        params_share: Fraction of all parameters of the model.
        compute_share: Fraction of all forward FLOPs of the model.
    """

    block: str
    params: int
    forward_flops: int
    params_share: float
    compute_share: float


def block_shares(model: keras.Model, batch_size: int = 1) -> list[BlockShare]:
    """Parameters versus compute, block by block.

    Shows why parameters are not compute: in VGG16 block5 holds about half
    the convolution parameters and about a tenth of the forward FLOPs.

    Args:
        model: A built Keras model.
        batch_size: Examples per step (shares do not depend on it).

    Returns:
        One `BlockShare` per block that does any work, in model order
        (layers without a block are grouped under their block label ``""``).

    Raises:
        ValueError: As `layer_costs`.
    """
    costs = [c for c in layer_costs(model, batch_size) if c.block != "input"]
    total_params = sum(c.params for c in costs) or 1
    total_flops = sum(c.forward_flops for c in costs) or 1
    order: list[str] = []
    for cost in costs:
        if cost.block not in order:
            order.append(cost.block)
    shares = []
    for block in order:
        params = sum(c.params for c in costs if c.block == block)
        flops = sum(c.forward_flops for c in costs if c.block == block)
        shares.append(BlockShare(block, params, flops, params / total_params, flops / total_flops))
    return shares
