"""Everything the freeze panel shows, computed from a model and a mask.

The panel (`freezelab.widgets.freeze_panel`) is a thin view: on each tick it
asks this module for a `Readout` and writes the numbers into its labels.
What does not depend on the mask (each layer's parameter count, FLOPs, block)
is gathered once into a `PanelLayout`; `PanelLayout.readout(mask)` is then
plain arithmetic over cached lists, fast enough for every checkbox tick.

The backward-cost rule is `freezelab.speed.cost.backward_rows`: a trainable layer
computes its weight-gradient; every layer *above* the lowest trainable layer
must pass the gradient through (its input-gradient); the forward pass always
runs. Per-layer costs come from `freezelab.speed.cost.layer_costs`, which
estimates layer types it has no formula for, so the panel works on any model
and says when a figure is rough.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras

from freezelab._validation import is_int
from freezelab.core.keras_adapter import trainable_capable
from freezelab.core.layers import block_names, iter_layers, unique_weights, weight_size
from freezelab.speed.cost import LayerBackward, backward_rows, layer_costs, optimizer_state_bytes

COST_MODULE = "freezelab.speed.cost"


@dataclass(frozen=True)
class LayerCostRow:
    """Mask-independent facts about one computing layer.

    Attributes:
        name: Layer name.
        block: ``blockN``, ``head``, ``input`` or ``""`` as `iter_layers` says.
        group: The panel group: the block, or the layer name when the model has
            no VGG block names.
        params: Parameters that train when the layer is trainable.
        fixed_params: Parameters that never train (e.g. BatchNorm statistics).
        forward_flops: FLOPs of the forward pass for one example.
        input_grad_flops: FLOPs to pass the gradient to the layer's input.
        weight_grad_flops: FLOPs to compute the layer's weight-gradient.
        activation_grad_flops: FLOPs through a fused activation, paid once
            whenever the layer has any backward work.
    """

    name: str
    block: str
    group: str
    params: int
    fixed_params: int
    forward_flops: float
    input_grad_flops: float
    weight_grad_flops: float
    activation_grad_flops: float = 0.0

    @property
    def has_weights(self) -> bool:
        """Whether the layer gets a checkbox in the panel."""
        return self.params + self.fixed_params > 0


@dataclass(frozen=True)
class GroupParams:
    """Trainable and frozen parameters of one panel group (a block)."""

    group: str
    trainable_params: int
    frozen_params: int

    @property
    def total_params(self) -> int:
        """All parameters of the group."""
        return self.trainable_params + self.frozen_params


@dataclass(frozen=True)
class BackwardStep:
    """What the backward pass still does at one layer.

    Attributes:
        name: Layer name.
        group: Panel group of the layer.
        has_weights: Whether the layer holds weights.
        computes_weight_grad: The layer trains, so its weight-gradient is computed.
        gradient_flows: A trainable layer lies below, so the gradient must pass
            through this layer (its input-gradient is computed).
    """

    name: str
    group: str
    has_weights: bool
    computes_weight_grad: bool
    gradient_flows: bool


@dataclass(frozen=True)
class Readout:
    """All the numbers the panel shows for one mask.

    Attributes:
        trainable_params: Parameters that train (as ``model.trainable_weights``).
        non_trainable_params: The rest.
        groups: Trainable vs frozen parameters per block (or per layer).
        backward: One `BackwardStep` per computing layer, in order.
        relative_cost: Training-step FLOPs under this mask divided by the FLOPs
            with every layer trainable.
        cost_source: Where the per-layer costs came from.
    """

    trainable_params: int
    non_trainable_params: int
    groups: tuple[GroupParams, ...]
    backward: tuple[BackwardStep, ...]
    relative_cost: float
    cost_source: str

    @property
    def total_params(self) -> int:
        """All parameters."""
        return self.trainable_params + self.non_trainable_params

    @property
    def trainable_share(self) -> float:
        """Trainable parameters as a fraction of all (0 for a model without any)."""
        return self.trainable_params / self.total_params if self.total_params else 0.0

    @property
    def optimizer_state_bytes(self) -> int:
        """Adam's state: two float32 slots (first and second moment) per trainable weight."""
        return optimizer_state_bytes(self.trainable_params, "adam")

    @property
    def optimizer_state_mb(self) -> float:
        """`optimizer_state_bytes` in megabytes (10**6 bytes)."""
        return self.optimizer_state_bytes / 1e6

    @property
    def optimizer_state_mib(self) -> float:
        """`optimizer_state_bytes` in MiB (2**20 bytes), the course's unit."""
        return self.optimizer_state_bytes / 2**20

    @property
    def saved_fraction(self) -> float:
        """Share of the fully trainable step's compute that this mask removes."""
        return 1.0 - self.relative_cost

    def summary(self) -> str:
        """A few lines with the headline numbers, for printing in a notebook."""
        return (
            f"trainable: {self.trainable_params:,} of {self.total_params:,} parameters "
            f"({self.trainable_share:.1%})\n"
            f"non-trainable: {self.non_trainable_params:,}\n"
            f"Adam optimizer state: {self.optimizer_state_mib:.1f} MiB\n"
            f"training-step compute removed: {self.saved_fraction:.1%} ({self.cost_source})"
        )

    def __str__(self) -> str:
        return self.summary()


class PanelLayout:
    """The mask-independent part of the panel, gathered once from a model.

    Args:
        model: A built Keras model.
        costs: Per-layer costs to use instead of looking them up (rows of
            `LayerCostRow`); mainly for tests.

    Attributes:
        rows: One `LayerCostRow` per computing layer, in model order.
        weighted: The rows of layers with weights (the panel's checkboxes).
        groups: Group name to the names of its weighted layers, in order.
        has_blocks: Whether the model has VGG block names.
        cost_source: ``"freezelab.speed.cost"``, with the estimated layer types named
            when the cost model had to estimate some.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """

    def __init__(self, model: keras.Model, costs: list[LayerCostRow] | None = None):
        refs = iter_layers(model)
        self.has_blocks = bool(block_names(refs))
        if costs is None:
            costs, self.cost_source = layer_cost_rows(model)
        else:
            self.cost_source = "given"
        self.rows: list[LayerCostRow] = costs
        self.weighted = [row for row in self.rows if row.has_weights]
        self.groups: dict[str, list[str]] = {}
        for row in self.weighted:
            self.groups.setdefault(row.group, []).append(row.name)
        self._index = {row.name: i for i, row in enumerate(self.rows)}
        self._full_cost = self._step_flops({row.name: True for row in self.weighted})[1]

    @property
    def layer_names(self) -> list[str]:
        """Names of the layers with weights, in order."""
        return [row.name for row in self.weighted]

    @property
    def head_layers(self) -> list[str]:
        """The head: layers after the VGG blocks, or the last weighted layer."""
        if self.has_blocks:
            return [row.name for row in self.weighted if row.block == "head"]
        return self.layer_names[-1:]

    @property
    def block_groups(self) -> list[str]:
        """The VGG block groups (``block1`` …), in order; empty for other models."""
        return block_names(self.weighted)

    def readout(self, mask: dict[str, bool]) -> Readout:
        """Computes every readout for ``mask``.

        Args:
            mask: Layer name to trainable flag for the weighted layers; layers
                left out count as frozen.

        Returns:
            The `Readout`.
        """
        trainable = non_trainable = 0
        group_sums: dict[str, list[int]] = {group: [0, 0] for group in self.groups}
        for row in self.weighted:
            sums = group_sums[row.group]
            if mask.get(row.name, False):
                trainable += row.params
                sums[0] += row.params
                sums[1] += row.fixed_params
            else:
                sums[1] += row.params + row.fixed_params
            non_trainable += row.fixed_params + (0 if mask.get(row.name, False) else row.params)
        steps, step_flops = self._step_flops(mask)
        backward = backward_map(self.rows, steps)
        relative = step_flops / self._full_cost if self._full_cost else 1.0
        return Readout(
            trainable_params=trainable,
            non_trainable_params=non_trainable,
            groups=tuple(GroupParams(g, s[0], s[1]) for g, s in group_sums.items()),
            backward=backward,
            relative_cost=relative,
            cost_source=self.cost_source,
        )

    def train_everything(self) -> dict[str, bool]:
        """The preset where every layer trains."""
        return {name: True for name in self.layer_names}

    def freeze_base(self, current: dict[str, bool]) -> dict[str, bool]:
        """The preset that freezes every layer outside the head; the head keeps its flags."""
        head = set(self.head_layers)
        return {name: (current.get(name, True) if name in head else False) for name in current}

    def train_only_head(self) -> dict[str, bool]:
        """The preset where the head trains and everything else is frozen."""
        head = set(self.head_layers)
        return {name: name in head for name in self.layer_names}

    def freeze_first_blocks(self, count: int) -> dict[str, bool]:
        """The preset that freezes blocks 1..``count`` and trains the rest.

        Args:
            count: How many VGG blocks to freeze, from 0 to the number of blocks.

        Returns:
            The mask.

        Raises:
            ValueError: If the model has no VGG blocks or ``count`` is out of range.
        """
        blocks = self.block_groups
        if not blocks:
            raise ValueError(
                "freeze_first_blocks needs a model with VGG block names (block1_conv1 …). "
                f"Received a model whose layers are: {', '.join(self.layer_names[:4])}"
            )
        if not is_int(count) or not 0 <= count <= len(blocks):
            raise ValueError(
                f"count must be an int from 0 to {len(blocks)} (blocks to freeze). "
                f"Received: count={count!r}"
            )
        frozen = set(blocks[:count])
        return {row.name: row.group not in frozen for row in self.weighted}

    def leading_frozen_blocks(self, mask: dict[str, bool]) -> int | None:
        """The k of `freeze_first_blocks` that gives ``mask``, or None for any other mask.

        Args:
            mask: Layer name to trainable flag for the weighted layers.

        Returns:
            k when ``mask`` freezes exactly blocks 1..k and trains the rest;
            None ("custom") otherwise, and for models without VGG blocks.
        """
        for count in range(len(self.block_groups) + 1):
            preset = self.freeze_first_blocks(count)
            if all(mask.get(name, False) == flag for name, flag in preset.items()):
                return count
        return None

    def _step_flops(self, mask: dict[str, bool]) -> tuple[list[LayerBackward], float]:
        steps = backward_rows(self.rows, mask)
        return steps, sum(step.forward_flops + step.backward_flops for step in steps)


def layer_cost_rows(model: keras.Model) -> tuple[list[LayerCostRow], str]:
    """Gathers each computing layer's parameters and costs.

    FLOPs come from `freezelab.speed.cost.layer_costs`, which estimates the
    layer types it has no formula for; the source says when it did.

    Args:
        model: A built Keras model.

    Returns:
        The rows, and a description of the cost source.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    refs = iter_layers(model)
    costs = layer_costs(model, batch_size=1, unknown="estimate")
    params = {id(ref): [0, 0] for ref in refs}  # [can train, never trains]
    for ref, variable in unique_weights(refs):
        params[id(ref)][0 if trainable_capable(ref.layer, variable) else 1] += weight_size(variable)
    rows = [
        LayerCostRow(
            name=ref.name,
            block=ref.block,
            group=ref.block if ref.block not in ("", "input") else ref.name,
            params=params[id(ref)][0],
            fixed_params=params[id(ref)][1],
            forward_flops=float(cost.forward_flops),
            input_grad_flops=float(cost.input_grad_flops),
            weight_grad_flops=float(cost.weight_grad_flops),
            activation_grad_flops=float(cost.activation_grad_flops),
        )
        for ref, cost in zip(refs, costs)
    ]
    estimated = sorted({cost.type for cost in costs if cost.estimated})
    if estimated:
        return rows, f"{COST_MODULE}, rough estimate for {', '.join(estimated)}"
    return rows, COST_MODULE


def backward_map(rows: Sequence, steps: Sequence) -> tuple[BackwardStep, ...]:
    """The backward-cost map: one `BackwardStep` per layer row, the input layer left out.

    Args:
        rows: The panel's layer rows (``name``, ``group``, ``has_weights``, ``block``).
        steps: The cost model's backward steps for the same rows, in order
            (``computes_weight_grad``, ``computes_input_grad``).

    Returns:
        The map's cells, in layer order.
    """
    return tuple(
        BackwardStep(
            name=row.name,
            group=row.group,
            has_weights=row.has_weights,
            computes_weight_grad=step.computes_weight_grad,
            gradient_flows=step.computes_input_grad,
        )
        for row, step in zip(rows, steps)
        if row.block != "input"
    )
