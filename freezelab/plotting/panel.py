"""The freeze panel's per-block parameters as a static matplotlib figure.

The panel itself redraws HTML versions on every tick
(`freezelab.widgets.panel_html`), in the colours defined here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from freezelab.speed.readouts import Readout

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TRAINABLE_COLOUR = "#2a9d5c"
FROZEN_COLOUR = "#5b7fb5"
IDLE_COLOUR = "#d8d8d8"
FLOW_COLOUR = "#e0a030"


def plot_block_params(readout: Readout, ax: Axes | None = None) -> Axes:
    """Stacked horizontal bars of trainable vs frozen parameters per block.

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
    ax.barh(names, frozen, left=trained, color=FROZEN_COLOUR, label="frozen")
    ax.invert_yaxis()
    ax.set_xlabel("parameters (millions)")
    ax.legend(loc="lower right")
    ax.set_title(f"{readout.trainable_share:.1%} of {readout.total_params:,} parameters train")
    return ax
