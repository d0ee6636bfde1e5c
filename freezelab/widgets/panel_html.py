"""HTML pictures of the freeze panel's readouts, cheap enough to redraw on every tick.

Both take a `freezelab.speed.readouts.Readout`; `freezelab.plotting.panel`
draws the same per-block bars as a static matplotlib figure, in the same
colours.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from freezelab.plotting.panel import FLOW_COLOUR, FROZEN_COLOUR, IDLE_COLOUR, TRAINABLE_COLOUR
from freezelab.speed.readouts import Readout


def block_bars_html(readout: Readout, width_px: int = 320) -> str:
    """One horizontal bar per block: trainable (green) and frozen (grey) parameters.

    Bars share one scale (the largest block fills ``width_px``), so block5's
    weight in the count is visible at a glance.

    Args:
        readout: The panel's readout.
        width_px: Width of the largest bar in pixels.

    Returns:
        An HTML fragment.
    """
    largest = max((g.total_params for g in readout.groups), default=0) or 1
    lines = []
    for group in readout.groups:
        trained = round(width_px * group.trainable_params / largest)
        frozen = round(width_px * group.frozen_params / largest)
        lines.append(
            '<div style="display:flex;align-items:center;gap:6px;font-size:12px">'
            f'<span style="width:110px;overflow:hidden">{html.escape(group.group)}</span>'
            f'<span style="display:inline-flex;flex-shrink:0;width:{width_px}px">'
            f'<span style="height:12px;width:{trained}px;background:{TRAINABLE_COLOUR}"></span>'
            f'<span style="height:12px;width:{frozen}px;background:{FROZEN_COLOUR}"></span>'
            "</span>"
            f'<span style="white-space:nowrap">{group.trainable_params:,} / {group.total_params:,}</span>'
            "</div>"
        )
    legend = (
        f'<div style="font-size:11px;color:#555"><span style="color:{TRAINABLE_COLOUR}">■</span> '
        f'trainable <span style="color:{FROZEN_COLOUR}">■</span> frozen (parameters per block)</div>'
    )
    return "<div>" + "".join(lines) + legend + "</div>"


def backward_map_html(readout: Readout) -> str:
    """A strip with one cell per computing layer showing what backprop still does.

    Green: the weight-gradient is computed (and the gradient flows through).
    Orange: the layer is frozen but the gradient must still flow through it.
    Grey: nothing is backpropagated here (a frozen prefix).

    Args:
        readout: The panel's readout.

    Returns:
        An HTML fragment, with the share of step compute the mask removes.
    """
    cells = []
    for step in readout.backward:
        if step.computes_weight_grad:
            colour, what = TRAINABLE_COLOUR, "weight-gradient computed"
        elif step.gradient_flows and not step.has_weights:
            colour, what = FLOW_COLOUR, "no weights (pooling): gradient passes through"
        elif step.gradient_flows:
            colour, what = FLOW_COLOUR, "frozen, gradient flows through"
        else:
            colour, what = IDLE_COLOUR, "no backward pass"
        width = 14 if step.has_weights else 5
        cells.append(
            f'<span title="{html.escape(step.name)}: {what}" style="display:inline-block;'
            f'width:{width}px;height:18px;margin-right:1px;background:{colour}"></span>'
        )
    legend = (
        f'<div style="font-size:11px;color:#555"><span style="color:{TRAINABLE_COLOUR}">■</span>'
        f' weight-gradient <span style="color:{FLOW_COLOUR}">■</span> gradient flows through '
        f'<span style="color:{IDLE_COLOUR}">■</span> no backward · input → output</div>'
    )
    headline = (
        f"<div>Training-step compute removed by this mask, predicted by the FLOP model: "
        f"<b>{readout.saved_fraction:.1%}</b> "
        f'<span style="color:#777;font-size:11px">({html.escape(readout.cost_source)})</span>'
        "</div>"
    )
    return f"<div>{headline}<div>{''.join(cells)}</div>{legend}</div>"


def panel_snapshot_html(
    readout: Readout, groups: dict[str, Sequence[tuple[str, bool]]], mask_text: str, title: str
) -> str:
    """The freeze panel as it stands, as static HTML: readable with no kernel.

    A saved notebook keeps this where a live widget would need a running
    kernel (nbviewer, GitHub, a projector without a kernel): the ticks per
    block, the counts, Adam's memory, the per-block bars and the backward map.

    Args:
        readout: The panel's readout for the current mask.
        groups: Block name to ``(layer name, trains)`` pairs, in order.
        mask_text: The mask's short text form (``F:... T:...``).
        title: Heading, e.g. the model's name.

    Returns:
        An HTML fragment.
    """
    rows = []
    for group, layers in groups.items():
        ticks = " ".join(
            f'<span style="white-space:nowrap">{"☑" if trains else "☐"} {html.escape(name)}</span>'
            for name, trains in layers
        )
        rows.append(
            f'<tr><td style="padding-right:8px"><b>{html.escape(group)}</b></td>'
            f'<td style="text-align:left">{ticks}</td></tr>'
        )
    counts = (
        f"<div><b>{readout.trainable_params:,}</b> trainable · {readout.trainable_share:.1%} of "
        f"{readout.total_params:,} parameters train · non-trainable: "
        f"{readout.non_trainable_params:,} · Adam state: <b>{readout.optimizer_state_mib:.1f} MiB</b></div>"
    )
    return (
        '<div style="border:1px solid #ccc;padding:6px;font-size:12px">'
        f"<div><b>{html.escape(title)}</b> — static snapshot (☑ trains, ☐ frozen); "
        f"mask <code>{html.escape(mask_text)}</code>. Tick the live panel with a running kernel.</div>"
        f'<table style="margin:4px 0">{"".join(rows)}</table>'
        f"{counts}{block_bars_html(readout)}{backward_map_html(readout)}</div>"
    )


def measured_vs_predicted_svg(
    points: Sequence[tuple[str, float, float]], current: str = "", size_px: int = 180
) -> str:
    """A small scatter of measured vs predicted step fractions, one dot per timed mask.

    Both axes run from 0 to 1.2 (fractions of the fully trainable step); the
    diagonal is "the cost model is exact". The current mask's dot is ringed.

    Args:
        points: ``(mask text, predicted fraction, measured fraction)`` triples.
        current: Text form of the current mask.
        size_px: Side of the plot.

    Returns:
        An SVG fragment (empty when there are no points).
    """
    if not points:
        return ""
    top = 1.2
    pad = 24

    def position(value: float) -> float:
        return pad + (size_px - 2 * pad) * min(max(value, 0.0), top) / top

    dots = []
    for text, predicted, measured in points:
        x, y = position(predicted), size_px - position(measured)
        ring = ' stroke="#222" stroke-width="2"' if text == current else ""
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{TRAINABLE_COLOUR}"{ring}>'
            f"<title>{html.escape(text)}: predicted {predicted:.0%}, measured {measured:.0%}"
            "</title></circle>"
        )
    low, high = position(0.0), position(top)
    return (
        f'<svg class="fl-live-scatter" width="{size_px}" height="{size_px}" '
        f'style="font-size:9px">'
        f'<line x1="{low}" y1="{size_px - low}" x2="{high}" y2="{size_px - high}" '
        'stroke="#999" stroke-dasharray="3,3"/>'
        f'<text x="{pad}" y="{size_px - 6}">predicted →</text>'
        f'<text x="2" y="{pad - 8}">measured ↑ (fraction of full step)</text>'
        + "".join(dots)
        + "</svg>"
    )
