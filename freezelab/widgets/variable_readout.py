"""The freeze panel's numbers variable by variable, for attention layers and LoRA.

`freezelab.speed.readouts.PanelLayout` counts a layer's parameters as one
lump that follows its tick. Two kinds of layer break that:

* a layer whose weights live in sublayers, such as ``MultiHeadAttention``
  (its ``query``/``key``/``value``/``output`` projections): Keras keeps them
  in the sublayers, and the lump counted them as weights that never train;
* a layer with LoRA (`freezelab.core.lora_choice`): its factors train
  whatever the tick says and its adapted kernel stays frozen.

`VariableLayout` sorts each variable once, when the panel opens: it follows
the tick, it always trains (a LoRA factor), or it never trains (a
statistic, an adapted kernel). `VariableLayout.readout` is then arithmetic
over those lists for any mask, like `PanelLayout.readout`, and returns the
same `Readout`; the backward map and the step's compute come from
`freezelab.speed.cost.backward_rows` with the variables that train, so the
transformer formulas of `freezelab.speed.transformer_cost` (attention pieces,
LoRA factors, bias-only gradients) apply. Groups and layer order are the
`PanelLayout`'s, so blocks are labelled by one rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from freezelab.core.keras_adapter import inner_layers, trainable_capable
from freezelab.core.layers import iter_layers, unique_weights, weight_size
from freezelab.core.lora_choice import lora_variables
from freezelab.speed.cost import backward_rows, layer_costs
from freezelab.speed.readouts import (
    COST_MODULE,
    GroupParams,
    PanelLayout,
    Readout,
    backward_map,
)
from freezelab.speed.transformer_cost import relative_name


@dataclass(frozen=True)
class VariableRow:
    """One layer with weights, its variables sorted by what decides whether they train.

    Attributes:
        name: Layer name.
        group: Its panel group (from the `PanelLayout`).
        ticked: Names inside the layer (``"query/bias"``…) of the variables
            that train when the layer is ticked.
        ticked_params: Their scalars.
        always: The variables that train whatever the tick (LoRA factors).
        always_params: Their scalars.
        never_params: Scalars that never train (statistics, LoRA-adapted kernels).
    """

    name: str
    group: str
    ticked: tuple[str, ...]
    ticked_params: int
    always: tuple[str, ...]
    always_params: int
    never_params: int


def needs_variable_readout(model: keras.Model) -> bool:
    """Whether ``model`` has layers `PanelLayout` miscounts: weights in sublayers, or LoRA.

    Args:
        model: A Keras model.

    Returns:
        True when a computing layer holds weights through inner layers (e.g.
        ``MultiHeadAttention``) or any layer has LoRA enabled.
    """
    for ref in iter_layers(model):
        for inner in inner_layers(ref.layer):
            if inner.weights or getattr(inner, "lora_enabled", False):
                return True
        if getattr(ref.layer, "lora_enabled", False):
            return True
    return False


class VariableLayout:
    """The mask-independent part of a variable-by-variable readout, gathered once.

    Args:
        model: A built Keras model with the same computing layers, by name
            and order, as the one ``layout`` was made from (a LoRA copy of
            it qualifies: LoRA adds variables, not layers).
        layout: The panel's `PanelLayout` (groups, order).

    Attributes:
        rows: One `VariableRow` per layer with weights, in order.
        costs: `freezelab.speed.cost.layer_costs` of ``model`` for one example.
        cost_source: As `Readout.cost_source`.

    Raises:
        ValueError: If the model's computing layers differ from the layout's.
    """

    def __init__(self, model: keras.Model, layout: PanelLayout):
        refs = iter_layers(model)
        names = [ref.name for ref in refs]
        if names != [row.name for row in layout.rows]:
            raise ValueError(
                "VariableLayout needs the layers the panel's layout was made from, in order. "
                f"Received: model {model.name!r} with layers {names[:6]}…"
            )
        self.layout = layout
        self.costs = layer_costs(model, batch_size=1, unknown="estimate")
        estimated = sorted({cost.type for cost in self.costs if cost.estimated})
        self.cost_source = (
            f"{COST_MODULE}, rough estimate for {', '.join(estimated)}"
            if estimated
            else COST_MODULE
        )
        sorted_vars: dict[str, dict[str, list]] = {
            ref.name: {"ticked": [], "always": [], "never": []} for ref in refs
        }
        factors, adapted = ({id(v) for v in found} for found in lora_variables(model))
        for ref, variable in unique_weights(refs):
            if id(variable) in factors:
                kind = "always"
            elif id(variable) in adapted or not _capable(ref.layer, variable):
                kind = "never"
            else:
                kind = "ticked"
            sorted_vars[ref.name][kind].append(
                (relative_name(ref.layer, variable), weight_size(variable))
            )
        groups = {row.name: row.group for row in layout.rows}
        self.rows = [
            VariableRow(
                name=name,
                group=groups[name],
                ticked=tuple(n for n, _ in sorted_vars[name]["ticked"]),
                ticked_params=sum(s for _, s in sorted_vars[name]["ticked"]),
                always=tuple(n for n, _ in sorted_vars[name]["always"]),
                always_params=sum(s for _, s in sorted_vars[name]["always"]),
                never_params=sum(s for _, s in sorted_vars[name]["never"]),
            )
            for name in layout.layer_names
        ]
        self._weighted = {row.name for row in layout.weighted}
        everything = backward_rows(self.costs, {name: True for name in self._weighted})
        self._full_flops = sum(c.forward_flops for c in self.costs) + sum(
            step.backward_flops for step in everything
        )

    def trained_variables(self, mask: dict[str, bool]) -> dict[str, tuple[str, ...]]:
        """Layer name to the variables that train under ``mask`` (names inside the layer).

        Args:
            mask: Layer name to trainable flag; layers left out count as frozen.

        Returns:
            For every layer with weights: its ticked variables when ticked,
            plus those that always train.
        """
        return {
            row.name: (row.ticked if mask.get(row.name, False) else ()) + row.always
            for row in self.rows
        }

    def readout(self, mask: dict[str, bool]) -> Readout:
        """Every number the panel shows for ``mask``, variable by variable.

        Args:
            mask: Layer name to trainable flag for the layers with weights;
                layers left out count as frozen.

        Returns:
            The `Readout`; its counts are those of Keras's
            ``trainable_weights`` / ``non_trainable_weights`` once the mask
            is applied (with `freezelab.core.lora_choice.keep_lora_rule`).
        """
        trainable = non_trainable = 0
        sums: dict[str, list[int]] = {group: [0, 0] for group in self.layout.groups}
        for row in self.rows:
            trains = row.always_params + (row.ticked_params if mask.get(row.name, False) else 0)
            frozen = row.ticked_params + row.always_params + row.never_params - trains
            trainable += trains
            non_trainable += frozen
            sums[row.group][0] += trains
            sums[row.group][1] += frozen
        variables = self.trained_variables(mask)
        trains_by_layer = {name: bool(found) for name, found in variables.items()}
        steps = backward_rows(self.costs, trains_by_layer, variables)
        step_flops = sum(step.forward_flops + step.backward_flops for step in steps)
        backward = backward_map(self.layout.rows, steps)
        return Readout(
            trainable_params=trainable,
            non_trainable_params=non_trainable,
            groups=tuple(GroupParams(g, s[0], s[1]) for g, s in sums.items()),
            backward=backward,
            relative_cost=step_flops / self._full_flops if self._full_flops else 1.0,
            cost_source=self.cost_source,
        )


def _capable(layer: keras.layers.Layer, variable: keras.Variable) -> bool:
    """Whether ``variable`` trains when unfrozen, asked of the (sub)layer that owns it."""
    return any(trainable_capable(owner, variable) for owner in [layer, *inner_layers(layer)])


def flags_note(model: keras.Model, readout: Readout) -> str:
    """A warning when Keras would train other weights than the panel counts, else "".

    The ticks set whole layers; a weight given its own flag in code (BitFit's
    biases, a projection's bias frozen inside a ticked attention layer)
    makes Keras's lists differ from the counts of the ticks. The panel then
    says so instead of showing numbers that are not Keras's.

    Args:
        model: The model the panel works on.
        readout: The panel's readout for its ticks.

    Returns:
        The warning, or an empty string when the counts equal the sizes of
        Keras's ``trainable_weights`` and ``non_trainable_weights``.
    """
    trainable = sum(weight_size(v) for v in model.trainable_weights)
    frozen = sum(weight_size(v) for v in model.non_trainable_weights)
    if (trainable, frozen) == (readout.trainable_params, readout.non_trainable_params):
        return ""
    return (
        f"Keras trains {trainable:,} parameters ({frozen:,} non-trainable), not the "
        f"{readout.trainable_params:,} counted from the ticks: some weights have their own "
        "trainable flag (set in code, e.g. BitFit's biases). Tick or untick a layer to set all "
        "its weights, or read model.trainable_weights."
    )
