"""HTML pictures of the freeze panel's readouts, cheap enough to redraw on every tick.

Both take a `freezelab.speed.readouts.Readout`; `freezelab.plotting.panel`
draws the same per-block bars as a static matplotlib figure, in the same
colours.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from freezelab.plotting.panel import (
    FLOW_COLOUR,
    FROZEN_COLOUR,
    FROZEN_EDGE,
    IDLE_COLOUR,
    LOWEST_TRAINABLE_COLOUR,
    MAP_LEGEND,
    TRAINABLE_COLOUR,
    backward_cell_kind,
)
from freezelab.speed.readouts import Readout
from freezelab.widgets.mask_code import COMPILE_LINE, mask_code

# How the panel names where its costs come from (a learner reads words, not a module path).
COST_SOURCE_WORDS = "FLOP count, forward + backward per layer"
TICK_MEANING = "ticked = trains (<code>layer.trainable = True</code>); untick to freeze"
# Every <pre> of the panel (code, timing lines) sets its own font, line height and line
# breaking: JupyterLab's output area breaks words anywhere (``word-break: break-all``, so
# "a fre|sh optimizer"), and in Voila a widget's HTML inherits a proportional font and a
# 28 px line height, so the code for a mask would read as double-spaced prose. Long words
# still wrap (``overflow-wrap: anywhere``), but only where a whole word does not fit.
PRE_STYLE = (
    "white-space:pre-wrap;overflow-wrap:anywhere;word-break:normal;"
    "font-family:Menlo,Consolas,DejaVu Sans Mono,monospace;line-height:1.4"
)


def block_bars_html(readout: Readout, max_width_px: int = 320) -> str:
    """One horizontal bar per block: trainable (green) and frozen (grey) parameters.

    Beside each bar, its numbers in words: ``"4,719,616 of 7,079,424 train"``.

    Bars share one scale (the largest block fills the bar's width, and the
    legend names that block), so block5's weight in the count is visible at
    a glance. Each drawn part has a 1 px border, so the light grey of the
    frozen part shows on a white page. The bar's width is
    relative: up to ``max_width_px``, narrower when the panel is, so the
    numbers beside it are never cut off (a row wraps rather than overflows).

    Args:
        readout: The panel's readout.
        max_width_px: Width of the largest bar in pixels where there is room.

    Returns:
        An HTML fragment.
    """
    largest = max((g.total_params for g in readout.groups), default=0) or 1
    largest_name = next((g.group for g in readout.groups if g.total_params == largest), "")
    lines = []
    for group in readout.groups:
        trained = 100 * group.trainable_params / largest
        frozen = 100 * group.frozen_params / largest
        lines.append(
            '<div style="display:flex;flex-wrap:wrap;align-items:center;column-gap:6px;'
            'font-size:12px;max-width:100%">'
            f'<span style="flex:0 0 52px;overflow-wrap:anywhere">{html.escape(group.group)}</span>'
            f'<span class="fl-bar" style="display:flex;flex:1 1 80px;min-width:60px;'
            f'max-width:{max_width_px}px">'
            f"{_bar_part(trained, TRAINABLE_COLOUR, TRAINABLE_COLOUR)}"
            f"{_bar_part(frozen, FROZEN_COLOUR, FROZEN_EDGE)}"
            "</span>"
            # Says what the numbers are: "4,719,616 / 7,079,424" left the learner to guess.
            f'<span style="white-space:nowrap">{group.trainable_params:,} of '
            f"{group.total_params:,} train</span></div>"
        )
    scale = f", relative to {html.escape(largest_name)}" if largest_name else ""
    legend = (
        f'<div style="font-size:11px;color:#555">'
        f"{_legend_entry(_solid(TRAINABLE_COLOUR, TRAINABLE_COLOUR), 'trainable')} "
        f"{_legend_entry(_solid(FROZEN_COLOUR, FROZEN_EDGE), 'frozen')} "
        f"(bar length: parameters per block{scale})</div>"
    )
    return '<div style="max-width:100%">' + "".join(lines) + legend + "</div>"


def _bar_part(percent: float, fill: str, edge: str) -> str:
    """One part of a block's bar; an empty part is not drawn (its border would show)."""
    if percent <= 0:
        return ""
    return (
        f'<span style="box-sizing:border-box;height:12px;width:{percent:.2f}%;'
        f'{_solid(fill, edge)}"></span>'
    )


def _solid(fill: str, edge: str) -> str:
    """A filled cell with a 1 px border, as CSS declarations."""
    return f"border:1px solid {edge};background:{fill}"


def _weightless(colour: str) -> str:
    """A layer without weights: white with a dashed border, so it never reads as frozen.

    Plain colours and a dashed border only: JupyterLab's sanitizer strips
    ``repeating-linear-gradient`` stripes from an untrusted notebook's HTML.
    """
    return f"border:1px dashed {colour};background:#fff"


def _swatch(style: str) -> str:
    """The ``style`` attribute of a 10 px legend swatch drawn with ``style``."""
    return f'style="display:inline-block;box-sizing:border-box;width:10px;height:10px;{style}"'


def _legend_entry(style: str, words: str) -> str:
    """A swatch and its words as one unit: a line breaks before the swatch, never after it.

    A swatch left at the end of a line reads as belonging to the words before it. The
    entry is an inline block, so a narrow panel still wraps the words inside it.
    """
    return (
        f'<span class="fl-legend-entry" style="display:inline-block">'
        f"<span {_swatch(style)}></span> {html.escape(words)}</span>"
    )


#: CSS of each kind of backward-map cell (`MAP_LEGEND`'s wording), the same in the legend.
_MAP_CELL_STYLE = {
    MAP_LEGEND[0]: _solid(TRAINABLE_COLOUR, TRAINABLE_COLOUR),
    MAP_LEGEND[1]: _solid(LOWEST_TRAINABLE_COLOUR, TRAINABLE_COLOUR),
    MAP_LEGEND[2]: _solid(FLOW_COLOUR, FLOW_COLOUR),
    MAP_LEGEND[3]: _solid(IDLE_COLOUR, FROZEN_EDGE),
    MAP_LEGEND[4]: _weightless(FLOW_COLOUR),
    MAP_LEGEND[5]: _weightless(FROZEN_EDGE),
}


def backward_map_html(readout: Readout) -> str:
    """A strip with one cell per computing layer showing what backprop still does.

    Green: the weight-gradient is computed (and the gradient flows through).
    Light green: the lowest trainable layer, whose input-gradient nobody needs.
    Orange: the layer is frozen but the gradient must still pass through it.
    Grey: nothing is backpropagated here (a frozen prefix). Layers without
    weights (pooling) are narrow white cells with a dashed border, orange
    where the gradient passes through them and grey where it does not:
    there is nothing in them to freeze. Tooltips and legend use the words of
    `freezelab.plotting.panel.MAP_LEGEND`, as the matplotlib map does. Each
    block's cells carry the block's name underneath, input on the left.

    Args:
        readout: The panel's readout.

    Returns:
        An HTML fragment, with the share of step compute the mask removes.
    """
    groups: list[tuple[str, list[str]]] = []
    for step in readout.backward:
        what = backward_cell_kind(step)
        width = 14 if step.has_weights else 5
        cell = (
            f'<span title="{html.escape(step.name)}: {what}" style="display:inline-block;'
            f"box-sizing:border-box;width:{width}px;height:18px;margin-right:1px;"
            f'{_MAP_CELL_STYLE[what]}"></span>'
        )
        if not groups or groups[-1][0] != step.group:
            groups.append((step.group, []))
        groups[-1][1].append(cell)
    blocks = "".join(
        '<span class="fl-map-block" style="display:inline-flex;flex-direction:column;'
        'margin-right:4px;line-height:14px">'
        f'<span style="white-space:nowrap">{"".join(cells)}</span>'
        f'<span class="fl-map-label" style="font-size:10px;color:#555">{html.escape(group)}'
        "</span></span>"
        for group, cells in groups
    )
    # Each entry keeps its swatch and the dot after its words; the line breaks between entries.
    legend = (
        '<div style="font-size:11px;color:#555">'
        + " ".join(_legend_entry(_MAP_CELL_STYLE[kind], f"{kind} ·") for kind in MAP_LEGEND)
        + " input → output</div>"
    )
    source = html.escape(cost_source_words(readout.cost_source))
    headline = (
        f"<div>Training-step compute removed by this mask, predicted by the FLOP model: "
        f"<b>{readout.saved_fraction:.1%}</b> "
        f'<span style="color:#777;font-size:11px">({source})</span></div>'
    )
    return (
        f'<div style="max-width:100%">{headline}'
        f'<div style="display:flex;flex-wrap:wrap;row-gap:2px">{blocks}</div>{legend}</div>'
    )


def cost_source_words(source: str) -> str:
    """Where the panel's costs come from, in words: the cost module's path becomes a phrase.

    Args:
        source: A `Readout`'s ``cost_source`` (``"freezelab.speed.cost"``,
            possibly followed by a note such as ``"rough estimate for ..."``).

    Returns:
        The same text with the module path replaced by `COST_SOURCE_WORDS`.
    """
    return source.replace("freezelab.speed.cost", COST_SOURCE_WORDS)


def mask_code_html(mask: dict[str, bool], compile_line: str = COMPILE_LINE) -> str:
    """The "Code for this mask" box: the plain Keras that sets these flags, then compiles.

    Args:
        mask: Layer name to True (trains), in model order.
        compile_line: The code's last lines (LoRA's, then the compile call).

    Returns:
        An HTML fragment with a heading and a ``<pre class="fl-code">`` of
        `freezelab.widgets.mask_code.mask_code`.
    """
    return (
        '<div class="fl-mask-code-box" style="max-width:100%">'
        "<b>Code for this mask</b> "
        '<span style="color:#555;font-size:12px">(on every backend: change flags, then '
        "compile() again with a fresh optimizer)</span>"
        '<pre class="fl-code" style="margin:2px 0;padding:4px;background:#f6f6f6;font-size:12px;'
        f'{PRE_STYLE}">'
        f"{html.escape(mask_code(mask, compile_line))}</pre></div>"
    )


def panel_snapshot_html(
    readout: Readout,
    groups: dict[str, Sequence[tuple[str, bool]]],
    mask_text: str,
    title: str,
    compile_line: str = COMPILE_LINE,
) -> str:
    """The freeze panel as it stands, as static HTML: readable with no kernel.

    A saved notebook keeps this where a live widget would need a running
    kernel (nbviewer, GitHub, a projector without a kernel): the ticks per
    block, the counts, Adam's memory, the per-block bars, the backward map
    and the Keras code for the mask.

    Args:
        readout: The panel's readout for the current mask.
        groups: Block name to ``(layer name, trains)`` pairs, in order.
        mask_text: The mask's short text form (``F:... T:...``).
        title: Heading, e.g. the model's name.
        compile_line: The code box's last lines (see `mask_code_html`).

    Returns:
        An HTML fragment.
    """
    rows = []
    mask = {name: trains for layers in groups.values() for name, trains in layers}
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
        f"{readout.total_params:,} parameters train · "
        f'<span style="white-space:nowrap">non-trainable: {readout.non_trainable_params:,}</span>'
        " · Adam state: "
        f'<b style="white-space:nowrap">{readout.optimizer_state_mib:.1f} MiB</b></div>'
    )
    return (
        '<div style="border:1px solid #ccc;padding:6px;font-size:12px">'
        f"<div><b>{html.escape(title)}</b> — static snapshot (☑ trains, ☐ frozen: "
        f"{TICK_MEANING}); "
        f"mask <code>{html.escape(mask_text)}</code>. Tick the live panel with a running kernel.</div>"
        f'<table style="margin:4px 0">{"".join(rows)}</table>'
        f"{counts}{block_bars_html(readout)}{backward_map_html(readout)}"
        f"{mask_code_html(mask, compile_line)}</div>"
    )


def measured_vs_predicted_svg(
    points: Sequence[tuple[str, float, float]],
    current: str = "",
    size_px: int = 200,
    reference: str = "T:all",
) -> str:
    """A small scatter of measured vs predicted step fractions, one dot per timed mask.

    Both axes run from 0 to 120 % of the fully trainable step, with ticks at
    0, 50 and 100 %; the diagonal is "the cost model is exact". The current
    mask's dot is ringed; the reference (the fully trainable step) is a
    larger hollow green ring, so the two stay apart where they overlap, and
    a legend under the plot says which is which. A mask measured slower than the fully trainable
    step (above 100 %) is drawn orange and says why in its tooltip and in a
    note under the plot (timing noise at small sizes, or per-step overhead);
    one above 120 % is a triangle at the top edge, with its value.

    Args:
        points: ``(mask text, predicted fraction, measured fraction)`` triples.
        current: Text form of the current mask.
        size_px: Side of the plot.
        reference: Text form of the fully trainable mask.

    Returns:
        An HTML fragment: the SVG, its legend, and a note when a dot is
        above 100 % (empty when there are no points).
    """
    if not points:
        return ""
    top, margin, pad = 1.2, 36, 8
    span = size_px - margin - pad

    def x_of(value: float) -> float:
        return margin + span * min(max(value, 0.0), top) / top

    def y_of(value: float) -> float:
        return size_px - margin - span * min(max(value, 0.0), top) / top

    parts = [
        f'<line x1="{x_of(0)}" y1="{y_of(0)}" x2="{x_of(top)}" y2="{y_of(top)}" '
        'stroke="#999" stroke-dasharray="3,3"/>',
        f'<line x1="{margin}" y1="{y_of(0)}" x2="{x_of(top)}" y2="{y_of(0)}" stroke="#555"/>',
        f'<line x1="{margin}" y1="{y_of(0)}" x2="{margin}" y2="{y_of(top)}" stroke="#555"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        label = f"{tick:.0%}"
        parts += [
            f'<text class="fl-tick" x="{x_of(tick):.1f}" y="{y_of(0) + 10:.1f}" '
            f'text-anchor="middle">{label}</text>',
            f'<text class="fl-tick" x="{margin - 3}" y="{y_of(tick) + 3:.1f}" '
            f'text-anchor="end">{label}</text>',
        ]
    parts += [
        f'<text x="{x_of(top / 2):.1f}" y="{size_px - 4}" text-anchor="middle">'
        "predicted, % of fully trainable step</text>",
        f'<text x="7" y="{y_of(top / 2):.1f}" text-anchor="middle" '
        f'transform="rotate(-90 7 {y_of(top / 2):.1f})">measured, %</text>',
    ]
    above = 0
    for text, predicted, measured in points:
        x, y = x_of(predicted), y_of(measured)
        ring = ' stroke="#222" stroke-width="2"' if text == current else ""
        tip = f"{html.escape(text)}: predicted {predicted:.0%}, measured {measured:.0%}"
        colour = TRAINABLE_COLOUR
        if measured > 1.0:
            above += 1
            colour = FLOW_COLOUR
            tip += (
                " (above 100 %: slower than the fully trainable step, which no mask can be in "
                "the cost model; timing noise at this size, or per-step overhead)"
            )
        if measured > top:
            parts.append(
                f'<polygon class="fl-off-scale" points="{x - 5:.1f},{y + 4:.1f} '
                f'{x + 5:.1f},{y + 4:.1f} {x:.1f},{y - 5:.1f}" fill="{colour}"{ring}>'
                f"<title>{tip}</title></polygon>"
                f'<text x="{x - 7:.1f}" y="{y + 4:.1f}" text-anchor="end">{measured:.0%}</text>'
            )
        elif text == reference:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="{colour}" '
                f'stroke-width="2"><title>{tip} (the reference)</title></circle>'
            )
        else:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"{ring}>'
                f"<title>{tip}</title></circle>"
            )
    svg = (
        f'<svg class="fl-live-scatter" width="{size_px}" height="{size_px}" '
        f'style="font-size:9px;max-width:100%">' + "".join(parts) + "</svg>"
    )
    legend = _scatter_legend({text for text, _, _ in points}, current, reference, size_px)
    if not above:
        return f"<div>{svg}{legend}</div>"
    note = (
        f'<div class="fl-above-note" style="font-size:10px;line-height:1.3;color:#8a5a00;'
        f'max-width:{size_px}px">'
        "Orange: measured above 100 % of the fully trainable step, which no mask costs in "
        "the cost model: timing noise at this size (few steps, small inputs) or per-step "
        "overhead.</div>"
    )
    return f"<div>{svg}{legend}{note}</div>"


def _scatter_legend(shown: set[str], current: str, reference: str, size_px: int) -> str:
    """Which dot of `measured_vs_predicted_svg` is the reference and which is this mask."""
    round_cell = "border-radius:50%;border:2px solid"
    entries = []
    if reference in shown:
        style = f"{round_cell} {TRAINABLE_COLOUR};background:#fff"
        entries.append(_legend_entry(style, "fully trainable step (reference)"))
    if current in shown and current != reference:
        entries.append(
            _legend_entry(f"{round_cell} #222;background:{TRAINABLE_COLOUR}", "this mask")
        )
    if shown - {current, reference}:
        style = f"border-radius:50%;background:{TRAINABLE_COLOUR}"
        entries.append(_legend_entry(style, "masks timed before"))
    return (
        f'<div class="fl-scatter-legend" style="font-size:10px;line-height:1.3;color:#555;'
        f'max-width:{size_px}px">' + " ".join(entries) + "</div>"
    )
