"""The freeze panel: tick layer checkboxes, watch what the choice costs.

A thin ipywidgets view over `freezelab.speed.readouts` (every number) and
`freezelab.core.mask_text` (the text form). Each tick sets the layer's
``trainable`` flag on the model itself (no rebuild, no recompile) and
refreshes the readouts::

    panel = freeze_panel(model)
    panel                      # shows the panel in a notebook
    panel.set_mask("F:block1-3 T:block4-5,head")
    panel.mask                 # {"block1_conv1": False, ...}, for the next cell
    print(panel.mask_text)     # paste it back with panel.set_mask(text)

Key widgets carry CSS classes (``fl-trainable-count``, ``fl-layer-<name>``,
``fl-recompile-badge`` …) so a browser test can find them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import ipywidgets as widgets
import keras

from freezelab.core.compile_guard import compile_status, recompile
from freezelab.core.freezing import get_mask
from freezelab.core.freezing import set_mask as set_model_mask
from freezelab.core.mask_text import mask_from_text, mask_to_text
from freezelab.core.models import describe_weights
from freezelab.speed.cost import FLOAT32_BYTES, optimizer_slots
from freezelab.speed.readouts import PanelLayout, Readout
from freezelab.widgets.panel_html import backward_map_html, block_bars_html

Timer = Callable[..., object]
_AUTO_WIDTH = {"width": "auto"}


class FreezePanel:
    """An interactive freeze mask for ``model``, shown as ipywidgets.

    Args:
        model: A built Keras model. Its flags are read at start and changed in
            place on every tick.
        timer: A function ``timer(model, mask=..., batch_size=...)`` returning a
            printable timing; by default `freezelab.speed.timing.time_train_step`
            when that module exists. Without one, no timing button is shown.
        timing_batch_size: Batch size for the timing button.

    Attributes:
        widget: The root ipywidget.
        layout: The `PanelLayout` (cached per-layer numbers).
        checkboxes: Layer name to its checkbox (checked = trains).
        group_toggles: Block name to the checkbox that sets the whole block.
    """

    def __init__(self, model: keras.Model, timer: Timer | None = None, timing_batch_size: int = 8):
        self.model = model
        self.layout = PanelLayout(model)
        self.timer = timer if timer is not None else _default_timer()
        self.timing_batch_size = timing_batch_size
        self._quiet = False
        self.checkboxes: dict[str, widgets.Checkbox] = {}
        self.group_toggles: dict[str, widgets.Checkbox] = {}
        if not self.layout.weighted:
            self.widget = _message(
                f"Model {model.name!r} has no layers with weights: there is nothing to "
                "freeze or train. Build or load a model with weights (e.g. "
                "freezelab.load_vgg16()) and open the panel on it.",
                "fl-no-weights",
            )
            return
        self._build(initial=_current_mask(model, self.layout.layer_names))
        self.refresh()

    # -- state from code ------------------------------------------------------

    @property
    def mask(self) -> dict[str, bool]:
        """Layer name to True (trains) for every layer with weights, as ticked."""
        return {name: box.value for name, box in self.checkboxes.items()}

    @property
    def mask_text(self) -> str:
        """The short text form of `mask` (see `freezelab.core.mask_text`)."""
        return mask_to_text(self.mask)

    @property
    def readout(self) -> Readout:
        """Every number the panel shows, for the current mask."""
        return self.layout.readout(self.mask)

    def set_mask(self, mask: dict[str, bool] | str) -> None:
        """Ticks the boxes and sets the model's flags from a mask or its text form.

        Args:
            mask: A dict from layer name to bool (layers left out keep their
                flag) or a text form such as ``"F:block1-3 T:block4-5,head"``.

        Raises:
            ValueError: If the mask names a layer the model lacks, or the text
                form is malformed; nothing is changed then.
        """
        if isinstance(mask, str):
            mask = mask_from_text(mask, self.layout.layer_names)
        if not isinstance(mask, dict):
            raise ValueError(
                "set_mask takes a dict from layer name to True/False or a mask text. "
                f"Received: {mask!r} of type {type(mask).__name__}"
            )
        unknown = [name for name in mask if name not in self.checkboxes]
        if unknown:
            raise ValueError(
                f"The mask names layers without weights in this model or not in it: "
                f"{unknown[:5]}. Layers: {self.layout.layer_names[:6]} … Received: {mask!r}"
            )
        bad = {name: flag for name, flag in mask.items() if not isinstance(flag, bool)}
        if bad:
            raise ValueError(f"Mask values must be True or False. Received: {bad!r}")
        with self._batch():
            for name, flag in mask.items():
                self.checkboxes[name].value = flag
            set_model_mask(self.model, mask)
        self.refresh()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # -- building -------------------------------------------------------------

    def _build(self, initial: dict[str, bool]) -> None:
        rows = []
        for group, names in self.layout.groups.items():
            boxes = []
            for name in names:
                box = widgets.Checkbox(
                    value=initial[name],
                    description=_short_name(name, group),
                    description_allow_html=False,
                    indent=False,
                    tooltip=name,
                    layout=widgets.Layout(width="auto", margin="0 8px 0 0"),
                )
                box.add_class("fl-layer-checkbox")
                box.add_class(f"fl-layer-{name}")
                box.observe(self._on_layer_tick(name), names="value")
                self.checkboxes[name] = box
                boxes.append(box)
            if len(names) > 1 or group.startswith("block") or group == "head":
                toggle = widgets.Checkbox(
                    value=all(initial[n] for n in names),
                    description=f"{group} (all)",
                    indent=False,
                    layout=widgets.Layout(width="110px"),
                )
                toggle.add_class(f"fl-group-{group}")
                toggle.observe(self._on_group_tick(group), names="value")
                self.group_toggles[group] = toggle
                boxes.insert(0, toggle)
            rows.append(widgets.HBox(boxes))

        self.trainable_count = _html("fl-trainable-count")
        self.counts = _html("fl-counts")
        self.optimizer_state = _html("fl-optimizer-state")
        self.block_bars = _html("fl-block-bars")
        self.backward_map = _html("fl-backward-map")
        self.badge = _html("fl-recompile-badge")
        self.message = _html("fl-message")
        self.text_box = widgets.Text(
            description="mask text", continuous_update=False, layout=widgets.Layout(width="100%")
        )
        self.text_box.add_class("fl-mask-text")
        self.text_box.observe(self._on_text, names="value")
        self.recompile_button = widgets.Button(
            description="apply and recompile", icon="refresh", layout=_AUTO_WIDTH
        )
        self.recompile_button.add_class("fl-recompile")
        self.recompile_button.on_click(self._on_recompile)
        controls = [self.badge, self.recompile_button]
        if self.timer is not None:
            self.time_button = widgets.Button(
                description="time this configuration", icon="clock-o", layout=_AUTO_WIDTH
            )
            self.time_button.add_class("fl-time")
            self.time_button.on_click(self._on_time)
            self.timing = _html("fl-timing")
            controls += [self.time_button, self.timing]

        header = widgets.HTML(
            f"<b>Freeze panel: {self.model.name}</b> · {describe_weights(self.model)}"
        )
        self.widget = widgets.VBox(
            [
                header,
                self._build_presets(),
                widgets.HBox(
                    [
                        widgets.VBox(rows, layout=widgets.Layout(min_width="420px")),
                        widgets.VBox(
                            [
                                widgets.HBox(
                                    [widgets.HTML("Trainable parameters:"), self.trainable_count]
                                ),
                                self.counts,
                                self.optimizer_state,
                                self.block_bars,
                            ]
                        ),
                    ]
                ),
                self.backward_map,
                self.text_box,
                widgets.HBox(controls),
                self.message,
            ]
        )
        self.widget.add_class("fl-freeze-panel")

    def _build_presets(self) -> widgets.HBox:
        buttons = []
        presets = [
            ("train everything", "fl-preset-all", self.layout.train_everything),
            ("freeze whole base", "fl-preset-base", lambda: self.layout.freeze_base(self.mask)),
        ]
        if self.layout.head_layers:
            presets.append(("train only the head", "fl-preset-head", self.layout.train_only_head))
        for label, css, make_mask in presets:
            button = widgets.Button(description=label, layout=_AUTO_WIDTH)
            button.add_class(css)
            button.on_click(lambda _, make_mask=make_mask: self.set_mask(make_mask()))
            buttons.append(button)
        blocks = self.layout.block_groups
        if blocks:
            self.block_slider = widgets.IntSlider(
                value=0,
                min=0,
                max=len(blocks),
                description="freeze blocks 1..k",
                continuous_update=False,
                style={"description_width": "initial"},
            )
            self.block_slider.add_class("fl-freeze-blocks")
            self.block_slider.observe(
                lambda change: self.set_mask(self.layout.freeze_first_blocks(change["new"])),
                names="value",
            )
            buttons.append(self.block_slider)
        return widgets.HBox(buttons)

    # -- events ---------------------------------------------------------------

    def _on_layer_tick(self, name: str):
        def handle(change):
            if self._quiet:
                return
            set_model_mask(self.model, {name: change["new"]})
            self.refresh()

        return handle

    def _on_group_tick(self, group: str):
        def handle(change):
            if self._quiet:
                return
            self.set_mask({name: change["new"] for name in self.layout.groups[group]})

        return handle

    def _on_text(self, change):
        if self._quiet:
            return
        try:
            self.set_mask(change["new"])
        except ValueError as error:
            self.message.value = f'<span style="color:#b30">{_escape(str(error))}</span>'

    def _on_recompile(self, _button=None):
        if not getattr(self.model, "compiled", False):
            self.message.value = (
                "The model is not compiled yet: compile() will use the current flags."
            )
            return
        recompile(self.model)
        self.refresh()
        self.message.value = "Recompiled with a fresh optimizer: training now follows the ticks."

    def _on_time(self, _button=None):
        self.timing.value = "timing…"
        self.time_button.disabled = True
        try:
            result = self.timer(self.model, mask=self.mask, batch_size=self.timing_batch_size)
            self.timing.value = f"<pre>{_escape(str(result))}</pre>"
        finally:
            self.time_button.disabled = False

    # -- model and readouts ---------------------------------------------------

    def refresh(self) -> Readout:
        """Recomputes every readout from the ticks and writes it into the labels.

        Returns:
            The `Readout` shown.
        """
        readout = self.readout
        self.trainable_count.value = f"<b>{readout.trainable_params:,}</b>"
        self.counts.value = (
            f"{readout.trainable_share:.1%} of {readout.total_params:,} parameters train · "
            f"non-trainable: {readout.non_trainable_params:,}"
        )
        self.optimizer_state.value = (
            f"Adam optimizer state ({optimizer_slots('adam')} slots × trainable × "
            f"{FLOAT32_BYTES} bytes): "
            f"<b>{readout.optimizer_state_mb:.1f} MB</b>"
        )
        self.block_bars.value = block_bars_html(readout)
        self.backward_map.value = backward_map_html(readout)
        status = compile_status(self.model)
        colour = "#b30" if status.needs_recompile else "#2a7"
        label = "recompile needed" if status.needs_recompile else "compiled set in sync"
        if not status.compiled:
            label, colour = "not compiled yet", "#777"
        self.badge.value = (
            f'<span title="{_escape(status.message)}" style="color:{colour}"><b>{label}</b></span>'
        )
        self.recompile_button.disabled = not status.compiled
        with self._batch():
            for group, toggle in self.group_toggles.items():
                toggle.value = all(self.checkboxes[n].value for n in self.layout.groups[group])
            self.text_box.value = mask_to_text(self.mask)
        return readout

    @contextmanager
    def _batch(self):
        """Silences the observers while several widgets change at once."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet


def freeze_panel(model: keras.Model, timer: Timer | None = None) -> FreezePanel:
    """Opens the freeze panel on ``model``.

    Args:
        model: A built Keras model (VGG16 shows one row per block).
        timer: See `FreezePanel`.

    Returns:
        The `FreezePanel`; display it, read ``panel.mask`` or call ``panel.set_mask``.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    return FreezePanel(model, timer=timer)


def _default_timer() -> Timer | None:
    try:
        from freezelab.speed.timing import time_train_step
    except ImportError:
        return None
    return time_train_step


def _current_mask(model: keras.Model, names: list[str]) -> dict[str, bool]:
    current = get_mask(model)
    return {name: current.get(name, False) for name in names}


def _short_name(name: str, group: str) -> str:
    prefix = f"{group}_"
    return name[len(prefix) :] if name.startswith(prefix) else name


def _html(css_class: str) -> widgets.HTML:
    label = widgets.HTML()
    label.add_class(css_class)
    return label


def _message(text: str, css_class: str) -> widgets.HTML:
    label = widgets.HTML(f'<p style="color:#b30"><b>{_escape(text)}</b></p>')
    label.add_class(css_class)
    return label


def _escape(text: str) -> str:
    import html

    return html.escape(text)
