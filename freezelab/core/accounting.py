"""Parameter accounting: per-layer table and trainable / non-trainable totals.

The totals are computed from each layer's own variables with the rule Keras 3
applies (a weight trains when the top-level model is trainable and the
variable's own ``trainable`` flag is set), and the tests check them against
``model.trainable_weights`` and ``model.non_trainable_weights``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import keras

from freezelab._validation import check_bool, check_model
from freezelab.core.layers import iter_layers, unique_weights, weight_size
from freezelab.core.shapes import output_shape


@dataclass(frozen=True)
class LayerRow:
    """One line of the parameter table.

    Attributes:
        name: Layer name.
        block: ``blockN``, ``head``, ``input`` or ``""``.
        type: Layer class name, e.g. ``Conv2D``.
        output_shape: Output shape with ``None`` for the batch.
        params: All scalar weights of the layer.
        trainable_params: The part of ``params`` that trains.
        nested_in: Name of the nested model that holds the layer, or None.
    """

    name: str
    block: str
    type: str
    output_shape: tuple | None
    params: int
    trainable_params: int
    nested_in: str | None

    @property
    def non_trainable_params(self) -> int:
        """Weights of the layer that do not train."""
        return self.params - self.trainable_params

    @property
    def trainable(self) -> str:
        """``"yes"``, ``"no"``, ``"partly"`` or ``"-"`` (no weights)."""
        if self.params == 0:
            return "-"
        if self.trainable_params == self.params:
            return "yes"
        if self.trainable_params == 0:
            return "no"
        return "partly"


@dataclass(frozen=True)
class ParamCounts:
    """Trainable, non-trainable and total scalar parameter counts."""

    trainable: int
    non_trainable: int

    @property
    def total(self) -> int:
        """All parameters."""
        return self.trainable + self.non_trainable

    @property
    def trainable_share(self) -> float:
        """Trainable parameters as a fraction of all (0 for an empty model)."""
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (
            f"trainable: {self.trainable:,}  non-trainable: {self.non_trainable:,}  "
            f"total: {self.total:,}"
        )


def count_params(model: keras.Model) -> ParamCounts:
    """Counts trainable and non-trainable parameters of ``model``.

    Args:
        model: A built Keras model.

    Returns:
        The counts. They equal the sizes of ``model.trainable_weights`` and
        ``model.non_trainable_weights``.

    Raises:
        ValueError: If ``model`` is not a Keras model, or is not built (an
            unbuilt model has no weights yet: every count would be 0).
    """
    rows = layer_table(model, purpose="count_params")
    trainable = sum(row.trainable_params for row in rows)
    total = sum(row.params for row in rows)
    return ParamCounts(trainable=trainable, non_trainable=total - trainable)


def layer_table(model: keras.Model, purpose: str = "layer_table") -> list[LayerRow]:
    """Builds the per-layer parameter table of ``model``.

    Args:
        model: A built Keras model.
        purpose: The function asking, for the error message.

    Returns:
        One `LayerRow` per computing layer, nested models opened. A variable
        shared by several layers is counted at its first layer only.

    Raises:
        ValueError: If ``model`` is not a built Keras model.
    """
    check_model(model, purpose)
    refs = iter_layers(model)
    top_trainable = bool(model.trainable)
    params = dict.fromkeys((id(ref) for ref in refs), 0)
    trainable_params = dict(params)
    for ref, variable in unique_weights(refs):
        size = weight_size(variable)
        params[id(ref)] += size
        if top_trainable and variable.trainable:
            trainable_params[id(ref)] += size
    rows = [
        LayerRow(
            name=ref.name,
            block=ref.block,
            type=type(ref.layer).__name__,
            output_shape=output_shape(ref.layer),
            params=params[id(ref)],
            trainable_params=trainable_params[id(ref)],
            nested_in=ref.nested_in,
        )
        for ref in refs
    ]
    return rows


class ParamReport:
    """Table and totals of a model, shown as HTML in notebooks, text elsewhere.

    Args:
        model: A built Keras model.
        only_weighted: Leave out layers without weights (pooling, flatten…).
    """

    def __init__(self, model: keras.Model, only_weighted: bool = False):
        check_model(model, "param_report")
        only_weighted = check_bool(only_weighted, "only_weighted")
        self.model_name = model.name
        self.rows = layer_table(model, purpose="param_report")
        if only_weighted:
            self.rows = [row for row in self.rows if row.params]
        self.counts = count_params(model)

    def text(self) -> str:
        """The report as aligned plain text."""
        headers = ("layer", "block", "type", "output shape", "params", "trainable")
        lines = [
            (
                row.name,
                row.block,
                row.type,
                _shape_text(row.output_shape),
                f"{row.params:,}",
                row.trainable,
            )
            for row in self.rows
        ]
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
        right = {4}

        def fmt(cells):
            return "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        out = [f"Model: {self.model_name}", fmt(headers), fmt(["-" * w for w in widths])]
        out += [fmt(line) for line in lines]
        out.append(str(self.counts))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        cells = []
        for row in self.rows:
            style = {
                "yes": "",
                "no": ' style="color:#888"',
                "partly": "",
                "-": ' style="color:#888"',
            }
            cells.append(
                f"<tr{style[row.trainable]}><td>{html.escape(row.name)}</td>"
                f"<td>{html.escape(row.block)}</td><td>{row.type}</td>"
                f"<td>{html.escape(_shape_text(row.output_shape))}</td>"
                f'<td style="text-align:right">{row.params:,}</td>'
                f"<td>{_trainable_badge(row.trainable)}</td></tr>"
            )
        c = self.counts
        return (
            f"<div><b>Model: {html.escape(self.model_name)}</b>"
            "<table><thead><tr><th>layer</th><th>block</th><th>type</th>"
            "<th>output shape</th><th>params</th><th>trainable</th></tr></thead>"
            f"<tbody>{''.join(cells)}</tbody></table>"
            f"<p>Trainable: <b>{c.trainable:,}</b> ({c.trainable_share:.1%}) · "
            f"non-trainable: <b>{c.non_trainable:,}</b> · total: <b>{c.total:,}</b></p></div>"
        )


def param_report(model: keras.Model, only_weighted: bool = False) -> ParamReport:
    """Returns a `ParamReport` of ``model`` (HTML in notebooks, text elsewhere).

    Args:
        model: A built Keras model.
        only_weighted: Leave out layers without weights.

    Returns:
        The report.

    Raises:
        ValueError: If ``model`` is not a Keras model (None included) or is
            not built yet (its counts would all be 0).
    """
    return ParamReport(model, only_weighted=only_weighted)


def _trainable_badge(value: str) -> str:
    colours = {"yes": "#2a7", "no": "#57a", "partly": "#c80", "-": "#aaa"}
    label = {"yes": "trainable", "no": "frozen", "partly": "partly", "-": "-"}[value]
    return f'<span style="color:{colours[value]}">{label}</span>'


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
