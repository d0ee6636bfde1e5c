"""The freeze panel's pictures as static matplotlib figures.

`plot_block_params` draws the per-block parameter bars and `plot_backward_map`
the backward-cost map, so a lesson reads well without a running kernel. The
panel itself redraws HTML versions on every tick
(`freezelab.widgets.panel_html`), in the colours defined here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from freezelab.speed.readouts import BackwardStep, Readout

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TRAINABLE_COLOUR = "#2a9d5c"
IDLE_COLOUR = "#d8d8d8"
FLOW_COLOUR = "#e0a030"
#: Fill of the lowest trainable layer: it trains, but no trainable layer below needs its input-gradient.
LOWEST_TRAINABLE_COLOUR = "#a8dcb9"
#: Frozen parameters in the block bars: the grey of the backward map's frozen cells,
#: so green means "trains" and grey "frozen" in every picture of the panel.
FROZEN_COLOUR = IDLE_COLOUR
#: Border of grey (frozen, idle) parts, so they show on a white page.
FROZEN_EDGE = "#a0a0a0"


def plot_block_params(readout: Readout, ax: Axes | None = None) -> Axes:
    """Stacked horizontal bars of trainable (green) vs frozen (grey) parameters per block.

    Args:
        readout: A `Readout` (from `PanelLayout.readout` or `FreezePanel.readout`).
        ax: A matplotlib Axes to draw in; a new figure is made when None.

    Returns:
        The Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.4 * len(readout.groups) + 1))
    names = [g.group for g in readout.groups]
    trained = [g.trainable_params / 1e6 for g in readout.groups]
    frozen = [g.frozen_params / 1e6 for g in readout.groups]
    ax.barh(names, trained, color=TRAINABLE_COLOUR, label="trainable")
    ax.barh(
        names,
        frozen,
        left=trained,
        color=FROZEN_COLOUR,
        edgecolor=FROZEN_EDGE,
        linewidth=0.5,
        label="frozen",
    )
    ax.invert_yaxis()
    longest = max((t + f for t, f in zip(trained, frozen)), default=0.0) or 1.0
    ax.set_xlim(0, 1.08 * longest)  # the longest bar stays clear of the right edge
    ax.set_xlabel("parameters (millions)")
    ax.legend(loc="best")
    ax.set_title(
        f"{readout.trainable_share:.1%} of {readout.total_params:,} parameters train "
        "(counted, exact)"
    )
    return ax


#: Width of a cell for a layer with weights, and for a weightless layer (pooling).
WEIGHTED_WIDTH = 1.0
WEIGHTLESS_WIDTH = 0.4
_GAP = 0.08
_ROW_HEIGHT = 0.7
WEIGHTLESS_HATCH = "////"
#: Legend text of each kind of cell in `plot_backward_map`, in legend order.
MAP_LEGEND = (
    "trains: weight-gradient computed",
    "trains, lowest: nothing passed down",
    "frozen: gradient passes through",
    "frozen: no backward work",
    "no weights (pooling): gradient passes through",
    "no weights (pooling): no backward work",
)


def backward_cell_kind(step: BackwardStep) -> str:
    """Which of `MAP_LEGEND`'s kinds one layer's cell is.

    Args:
        step: One `BackwardStep` of a `Readout`.

    Returns:
        One of the `MAP_LEGEND` strings.
    """
    if not step.has_weights:
        return MAP_LEGEND[4] if step.gradient_flows else MAP_LEGEND[5]
    if step.computes_weight_grad:
        return MAP_LEGEND[0] if step.gradient_flows else MAP_LEGEND[1]
    return MAP_LEGEND[2] if step.gradient_flows else MAP_LEGEND[3]


_CELL_STYLE = {
    MAP_LEGEND[0]: {"facecolor": TRAINABLE_COLOUR, "edgecolor": TRAINABLE_COLOUR, "hatch": None},
    MAP_LEGEND[1]: {
        "facecolor": LOWEST_TRAINABLE_COLOUR,
        "edgecolor": TRAINABLE_COLOUR,
        "hatch": None,
    },
    MAP_LEGEND[2]: {"facecolor": FLOW_COLOUR, "edgecolor": FLOW_COLOUR, "hatch": None},
    MAP_LEGEND[3]: {"facecolor": IDLE_COLOUR, "edgecolor": IDLE_COLOUR, "hatch": None},
    MAP_LEGEND[4]: {"facecolor": "white", "edgecolor": FLOW_COLOUR, "hatch": WEIGHTLESS_HATCH},
    MAP_LEGEND[5]: {"facecolor": "white", "edgecolor": FROZEN_EDGE, "hatch": WEIGHTLESS_HATCH},
}


def plot_backward_map(readouts: Readout | Mapping[str, Readout], ax: Axes | None = None) -> Axes:
    """The backward-cost map: one row per mask, one cell per layer from input to output.

    A cell says what the backward pass still does at that layer under the
    mask (`freezelab.speed.cost.backward_rows`): green, the layer trains and
    its weight-gradient is computed; light green with a green edge, the
    lowest trainable layer, which trains but passes no gradient down (no
    trainable layer lies below it); orange, the layer is frozen but the
    gradient must pass through it to a trainable layer below; grey, no
    backward work at all (a frozen prefix). Layers without weights (pooling)
    are narrow hatched cells: they never train, but the gradient may pass
    through them. Vertical lines mark block boundaries; each row is labelled
    with its mask and the share of step FLOPs that the cost model predicts
    the mask removes.

    Args:
        readouts: One `Readout`, or mask label to `Readout` (one row each,
            top to bottom in order).
        ax: A matplotlib Axes to draw in; a new figure is made when None.

    Returns:
        The Axes.

    Raises:
        ValueError: If no readout is given, or the readouts are of different models.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    rows = {"": readouts} if isinstance(readouts, Readout) else dict(readouts)
    if not rows or not all(isinstance(r, Readout) for r in rows.values()):
        raise ValueError(
            "plot_backward_map needs a Readout or a non-empty mapping of labels to Readouts. "
            f"Received: readouts={readouts!r}"
        )
    layers = [[step.name for step in r.backward] for r in rows.values()]
    if any(names != layers[0] for names in layers):
        raise ValueError(
            "plot_backward_map draws masks of one model: every Readout must list the same "
            f"layers. Received layer lists of lengths {[len(n) for n in layers]}"
        )
    steps = next(iter(rows.values())).backward
    lefts, x = [], 0.0
    for step in steps:
        lefts.append(x)
        x += (WEIGHTED_WIDTH if step.has_weights else WEIGHTLESS_WIDTH) + _GAP
    right = x - _GAP
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.42 * right + 1.0), 1.0 * len(rows) + 1.2))
    for index, readout in enumerate(rows.values()):
        for step, left in zip(readout.backward, lefts):
            width = WEIGHTED_WIDTH if step.has_weights else WEIGHTLESS_WIDTH
            style = _CELL_STYLE[backward_cell_kind(step)]
            ax.add_patch(
                Rectangle(
                    (left, index - _ROW_HEIGHT / 2),
                    width,
                    _ROW_HEIGHT,
                    facecolor=style["facecolor"],
                    edgecolor=style["edgecolor"],
                    hatch=style["hatch"],
                    linewidth=1.0,
                    label=step.name,
                )
            )
    # Block boundaries and labels, from runs of layers of the same group.
    runs: list[tuple[str, float, float]] = []
    for step, left in zip(steps, lefts):
        end = left + (WEIGHTED_WIDTH if step.has_weights else WEIGHTLESS_WIDTH)
        if runs and runs[-1][0] == step.group:
            runs[-1] = (step.group, runs[-1][1], end)
        else:
            runs.append((step.group, left, end))
    for _, _, end in runs[:-1]:
        ax.axvline(end + _GAP / 2, color="#333333", linewidth=1.2, linestyle="--")
    top = ax.secondary_xaxis("top")
    top.set_xticks([(start + end) / 2 for _, start, end in runs])
    top.set_xticklabels([group for group, _, _ in runs], fontsize=9)
    top.tick_params(length=0)
    ax.set_xticks(
        [
            left + (WEIGHTED_WIDTH if s.has_weights else WEIGHTLESS_WIDTH) / 2
            for s, left in zip(steps, lefts)
        ]
    )
    ax.set_xticklabels([_short_layer_name(s.name, s.group) for s in steps], rotation=90, fontsize=7)
    ax.set_xlim(-0.2, right + 0.2)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [
            f"{label}\npredicted: removes {r.saved_fraction:.1%}\nof step FLOPs".lstrip("\n")
            for label, r in rows.items()
        ],
        fontsize=8,
    )
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("layers, input → output", fontsize=9)
    handles = [
        Patch(
            facecolor=_CELL_STYLE[kind]["facecolor"],
            edgecolor=_CELL_STYLE[kind]["edgecolor"],
            hatch=_CELL_STYLE[kind]["hatch"],
            label=kind,
        )
        for kind in MAP_LEGEND
    ]
    ax.legend(
        handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False
    )
    return ax


def _short_layer_name(name: str, group: str) -> str:
    """``block3_conv1`` in group ``block3`` reads ``conv1``; other names are kept."""
    prefix = f"{group}_"
    return name[len(prefix) :] if name.startswith(prefix) and name != prefix else name
