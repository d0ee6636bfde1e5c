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

Step times are measured in the background (`freezelab.widgets.background`):
the kernel, the ticks and the counts stay responsive, a progress bar says
what runs, and Cancel stops it. With "live timing" on, every tick is timed
without a click, on a copy of the model (`freezelab.speed.live`). Changes
made to the model in code show on the panel at the next interaction, and at
once on `FreezePanel.refresh`.

Transformers (`freezelab.sources.vit.tiny_vit`, blocks named ``blockN_``)
get one row of checkboxes per block, and a **LoRA rank** menu (0 = off)
where attention layers can take LoRA. Keras cannot remove LoRA from a layer,
so a rank above 0 puts the panel on a copy (`freezelab.core.lora_choice`):
``panel.model`` is then that copy, with LoRA on each attention's query and
value projections and the same ticks; the model you passed keeps its weights
and gets no LoRA; another rank makes another copy from it; rank 0 goes back
to it. Train ``panel.model``. The counts come variable by variable
(`freezelab.widgets.variable_readout`) for attention layers and LoRA.

Key widgets carry CSS classes (``fl-trainable-count``, ``fl-layer-<name>``,
``fl-recompile-badge``, ``fl-lora-rank`` …) so a browser test can find them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager

import ipywidgets as widgets
import keras
from IPython.display import HTML

from freezelab.core.compile_guard import compile_status, recompile
from freezelab.core.freezing import get_mask
from freezelab.core.freezing import set_mask as set_model_mask
from freezelab.core.layers import weight_size
from freezelab.core.lora_choice import (
    check_lora_rank,
    keep_lora_rule,
    lora_attention_layers,
    lora_code,
    lora_copy,
    lora_rank_menu,
    lora_variables,
)
from freezelab.core.mask_text import mask_from_text, mask_to_text
from freezelab.core.models import describe_weights
from freezelab.core.peft import lora_layer_paths
from freezelab.speed.cost import FLOAT32_BYTES, optimizer_slots
from freezelab.speed.live import LiveTimer, follow_mask, live_readout
from freezelab.speed.readouts import PanelLayout, Readout
from freezelab.widgets.background import BackgroundJob
from freezelab.widgets.block_presets import freeze_leading_blocks, leading_frozen_blocks
from freezelab.widgets.follow import Follower
from freezelab.widgets.mask_code import COMPILE_LINE
from freezelab.widgets.panel_html import (
    PRE_STYLE,
    TICK_MEANING,
    backward_map_html,
    block_bars_html,
    mask_code_html,
    measured_vs_predicted_svg,
    panel_snapshot_html,
)
from freezelab.widgets.variable_readout import (
    VariableLayout,
    flags_note,
    needs_variable_readout,
)

Timer = Callable[..., object]
LORA_TIMING_NOTE = (
    "Timing is off while LoRA is on: the timer works on a copy of the model without "
    "LoRA. Set the LoRA rank to off to time a mask."
)
# The "frozen leading blocks" menu's value for a mask that is not a frozen prefix of blocks.
CUSTOM = "custom"
_BUTTON = {"width": "auto", "flex": "0 0 auto"}


class FreezePanel:
    """An interactive freeze mask for ``model``, shown as ipywidgets.

    Args:
        model: A built Keras model. Its flags are read at start and changed in
            place on every tick (with a LoRA rank above 0, those of the
            panel's copy instead: see the module docstring).
        timer: None (the default) times with a `freezelab.speed.live.LiveTimer`
            on a private copy of the model, in the background, following the
            ticks ("live timing"); or a function ``timer(model, mask=...,
            batch_size=...)`` returning a printable timing, run once per click
            in the background (it must not change the model's flags). Models
            without a fixed input size get no timing controls.
        timing_batch_size: Batch size of the timed steps (a positive integer).
        follow_interval: Seconds between checks for flags changed in code
            (``model.trainable = False`` in another cell): the panel follows
            within about this time while it exists. None turns it off.
        show_weights: Whether the header says which weights the model holds
            (False where the page around the panel says it already).

    Raises:
        ValueError: For a ``timing_batch_size`` that is not a positive integer.

    Attributes:
        widget: The root ipywidget.
        model: The model the ticks change: the one passed, or its LoRA copy.
        original_model: The model passed in.
        lora_rank: The LoRA rank in use (0: off, ``model`` is ``original_model``).
        layout: The `PanelLayout` (cached per-layer numbers).
        variable_layout: The `VariableLayout` behind the numbers for models
            with attention layers or LoRA, else None.
        checkboxes: Layer name to its checkbox (checked = trains).
        group_toggles: Block name to the checkbox that sets the whole block.
        live_timer: The `LiveTimer`, or None when a timer was given.
        job: The `BackgroundJob` that runs timings (progress bar, Cancel).
    """

    def __init__(
        self,
        model: keras.Model,
        timer: Timer | None = None,
        timing_batch_size: int = 8,
        follow_interval: float | None = 0.25,
        show_weights: bool = True,
    ):
        if (
            not isinstance(timing_batch_size, int)
            or isinstance(timing_batch_size, bool)
            or timing_batch_size < 1
        ):
            raise ValueError(
                "timing_batch_size must be a positive integer (examples per timed step). "
                f"Received: timing_batch_size={timing_batch_size!r}"
            )
        self.model = model
        self.original_model = model
        self.lora_rank = 0
        self._lock = threading.RLock()
        self._local = threading.local()
        self.follower: Follower | None = None
        self.layout = PanelLayout(model)
        self.variable_layout = _variable_layout(model, self.layout)
        self.timing_batch_size = timing_batch_size
        self.show_weights = show_weights
        self.live_timer = _live_timer(model, timing_batch_size) if timer is None else None
        self.timer = timer
        # No empty bar and disabled Cancel before the first timing.
        self.job = BackgroundJob("fl-time-job", hidden_until_started=True)
        self._last_timed: str | None = None
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
        if follow_interval is not None:
            self.follower = Follower(self, _out_of_date, _catch_up, follow_interval)

    @property
    def _quiet(self) -> bool:
        """Whether this thread's widget changes are the panel's own (observers ignore them)."""
        return getattr(self._local, "quiet", False)

    @_quiet.setter
    def _quiet(self, value: bool) -> None:
        self._local.quiet = value

    def close(self) -> None:
        """Stops following the model and closes the widgets."""
        if self.follower is not None:
            self.follower.stop()
        self.widget.close()

    @property
    def head_layers(self) -> list[str]:
        """The layers *train only the head* keeps trainable (after the last VGG block)."""
        return list(self.layout.head_layers)

    @property
    def has_block_menu(self) -> bool:
        """Whether the panel offers the "frozen leading blocks" menu (VGG-style block names)."""
        return hasattr(self, "block_slider")

    @property
    def can_time(self) -> bool:
        """Whether the panel has a timer (the live timer or one given)."""
        return self.live_timer is not None or self.timer is not None

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
        layout = self.variable_layout or self.layout
        return layout.readout(self.mask)

    @property
    def has_lora_menu(self) -> bool:
        """Whether the panel offers the LoRA rank menu (attention layers in blocks)."""
        return hasattr(self, "lora_menu")

    def set_lora_rank(self, rank: int) -> None:
        """Chooses the LoRA rank: 0 turns LoRA off, above 0 works on a copy with LoRA.

        Keras's ``enable_lora`` cannot be undone, so the model passed to the
        panel never gets LoRA: a rank above 0 builds ``panel.model`` anew as
        a copy of it (`freezelab.core.lora_choice.lora_copy`: same weights,
        LoRA on each attention's query and value projections, the current
        ticks), and rank 0 puts the panel back on the model passed, with the
        current ticks. A copy's LoRA factors start afresh: what a copy
        learned is lost when the rank changes. Timing is off while LoRA is
        on (the timer copies the model without its LoRA).

        Args:
            rank: An int from 0 to the model's highest useful rank
                (`freezelab.core.lora_choice.max_lora_rank`).

        Raises:
            ValueError: For a model without attention layers in blocks, one
                given with LoRA already enabled, or a rank that is not an int
                in range; nothing is changed then.
        """
        if lora_layer_paths(self.original_model):
            raise ValueError(
                "This model already had LoRA when the panel opened, and Keras cannot remove it "
                "or change its rank: open the panel on a model without LoRA to choose one. "
                f"Received: rank={rank!r}"
            )
        rank = check_lora_rank(rank, self.original_model)
        with self._lock:
            self._sync_from_model()
            if rank != self.lora_rank:
                mask = self.mask
                if rank == 0:
                    model = self.original_model
                    set_model_mask(model, mask)
                else:
                    model = lora_copy(self.original_model, rank, mask)
                self.model, self.lora_rank = model, rank
                self.variable_layout = _variable_layout(model, self.layout)
                if self.live_timer is not None and rank:
                    self.job.cancel()
            if self.has_lora_menu:
                with self._batch():
                    self.lora_menu.value = rank
            self.message.value = ""
            self._refresh_unlocked()

    def set_mask(self, mask: dict[str, bool] | str) -> None:
        """Ticks the boxes and sets the model's flags from a mask or its text form.

        Args:
            mask: A dict from layer name to bool (layers left out keep their
                flag) or a text form such as ``"F:block1-3 T:block4-5,head"``.

        Raises:
            ValueError: If the mask names a layer the model lacks, or the text
                form is malformed; nothing is changed then.
        """
        with self._lock:
            self._set_mask_unlocked(mask)

    def _set_mask_unlocked(self, mask: dict[str, bool] | str) -> None:
        self._sync_from_model()
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
            keep_lora_rule(self.model)
        self.message.value = ""
        self.refresh()

    def snapshot_html(self) -> str:
        """The panel as it stands now, as static HTML (ticks, counts, bars, map).

        Returns:
            An HTML fragment; see `freezelab.widgets.panel_html.panel_snapshot_html`.
        """
        groups = {
            group: [(name, self.checkboxes[name].value) for name in names]
            for group, names in self.layout.groups.items()
        }
        title = f"Freeze panel for {self.model.name}"
        if self.lora_rank:
            title += f" (a copy with LoRA rank {self.lora_rank})"
        return panel_snapshot_html(
            self.readout, groups, self.mask_text, title, compile_line=self._compile_line()
        )

    def snapshot(self) -> HTML:
        """The panel as it stands now, for display in a notebook without a kernel.

        Returns:
            An `IPython.display.HTML` of `snapshot_html`.
        """
        return HTML(self.snapshot_html())

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The panel's widget view, with static fallbacks for readers without a kernel.

        A saved notebook shows ``text/html`` (a snapshot of the panel when the
        cell ran) or ``text/plain`` where no kernel draws the widget (nbviewer,
        GitHub); JupyterLab with a kernel draws the widget itself.
        """
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data)
        data["text/plain"] = (
            f"Freeze panel for {self.model.name}: needs a running kernel; "
            "the cells below print every number"
        )
        if self.checkboxes:
            data["text/html"] = self.snapshot_html()
        return (data, metadata) if isinstance(bundle, tuple) else data

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
                    # The right margin keeps "block5 (2/3 train)" off the next checkbox.
                    layout=widgets.Layout(width="auto", min_width="110px", margin=_TOGGLE_MARGIN),
                )
                toggle.add_class(f"fl-group-{group}")
                toggle.observe(self._on_group_tick(group), names="value")
                self.group_toggles[group] = toggle
                boxes.insert(0, toggle)
            rows.append(widgets.HBox(boxes, layout=_WRAP))

        self.trainable_count = _html("fl-trainable-count")
        self.counts = _html("fl-counts")
        self.optimizer_state = _html("fl-optimizer-state")
        self.block_bars = _html("fl-block-bars")
        self.backward_map = _html("fl-backward-map")
        self.code = _html("fl-mask-code")
        self.badge = _html("fl-recompile-badge")
        self.message = _html("fl-message")
        self.lora_status = _html("fl-lora-status")
        self.flags_note = _html("fl-flags-note")
        self.text_box = widgets.Text(
            # "auto" fills the column inside the widget margins; "100%" adds them on top.
            description="mask text",
            continuous_update=False,
            layout=widgets.Layout(width="auto"),
        )
        self.text_box.add_class("fl-mask-text")
        self.text_box.observe(self._on_text, names="value")
        self.recompile_button = widgets.Button(
            description="apply and recompile", icon="refresh", layout=_BUTTON
        )
        self.recompile_button.add_class("fl-recompile")
        self.recompile_button.on_click(self._on_recompile)
        controls = [self.badge, self.recompile_button]
        timing_rows = []
        if self.can_time:
            self.time_button = widgets.Button(
                description="time this configuration", icon="clock-o", layout=_BUTTON
            )
            self.time_button.add_class("fl-time")
            self.time_button.on_click(self._on_time)
            controls.append(self.time_button)
            self.timing = _html("fl-timing")
            self.live_plot = _html("fl-live-plot")
            timing_rows = [
                self.job.widget,
                widgets.HBox([self.timing, self.live_plot], layout=_WRAP),
            ]
            if self.live_timer is not None:
                self.live_toggle = widgets.Checkbox(
                    value=False, description="live timing", indent=False, layout=_BUTTON
                )
                self.live_toggle.add_class("fl-live-timing")
                self.live_toggle.observe(lambda change: self._time_if_live(), names="value")
                controls.append(self.live_toggle)

        header = widgets.HTML(
            f"<b>Freeze panel: {_escape(self.model.name)}</b> · "
            f'<span class="fl-tick-meaning">{TICK_MEANING[0].upper()}{TICK_MEANING[1:]}.</span>'
            + (f"<br>{_escape(describe_weights(self.model))}" if self.show_weights else "")
        )
        header.add_class("fl-panel-header")
        self.widget = widgets.VBox(
            [
                header,
                self._build_presets(),
                widgets.HBox(
                    [
                        widgets.VBox(rows, layout=widgets.Layout(flex="1 1 360px")),
                        widgets.VBox(
                            [
                                widgets.HBox(
                                    [widgets.HTML("Trainable parameters:"), self.trainable_count]
                                ),
                                self.counts,
                                self.optimizer_state,
                                self.lora_status,
                                self.flags_note,
                                self.block_bars,
                            ],
                            layout=widgets.Layout(flex="1 1 360px"),
                        ),
                    ],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"),
                ),
                self.backward_map,
                self.text_box,
                self.code,
                widgets.HBox(controls, layout=_WRAP),
                *timing_rows,
                self.message,
            ],
            layout=widgets.Layout(max_width="100%", overflow="hidden"),
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
            button = widgets.Button(description=label, layout=_BUTTON)
            button.add_class(css)
            button.on_click(lambda _, make_mask=make_mask: self.set_mask(make_mask()))
            buttons.append(button)
        blocks = self.layout.block_groups
        if blocks:
            # Not None for "custom": a Dropdown whose value is None selects nothing and reads blank.
            options = [("custom", CUSTOM), ("none", 0)] + [
                (block if k == 1 else f"{blocks[0]}-{k}", k)
                for k, block in enumerate(blocks, start=1)
            ]
            self.block_slider = widgets.Dropdown(
                options=options,
                value=CUSTOM,
                description="frozen leading blocks",
                style={"description_width": "initial"},
                layout=_BUTTON,
            )
            self.block_slider.add_class("fl-freeze-blocks")
            self.block_slider.observe(self._on_leading_blocks, names="value")
            buttons.append(self.block_slider)
        ranks = lora_rank_menu(self.original_model)
        if ranks and not lora_layer_paths(self.original_model):
            self.lora_menu = widgets.Dropdown(
                options=[("off", 0)] + [(str(rank), rank) for rank in ranks[1:]],
                value=0,
                description="LoRA rank",
                tooltip=(
                    "LoRA on each attention's query and value projections; above 0 the panel "
                    "works on a copy (Keras cannot remove LoRA from a layer)"
                ),
                style={"description_width": "initial"},
                layout=_BUTTON,
            )
            self.lora_menu.add_class("fl-lora-rank")
            self.lora_menu.observe(self._on_lora_rank, names="value")
            buttons.append(self.lora_menu)
        return widgets.HBox(buttons, layout=_WRAP)

    # -- events ---------------------------------------------------------------

    def _on_layer_tick(self, name: str):
        def handle(change):
            if self._quiet:
                return
            with self._lock:
                self._sync_from_model(keep=name)
                set_model_mask(self.model, {name: change["new"]})
                keep_lora_rule(self.model)
                self.message.value = ""
                self.refresh()

        return handle

    def _on_leading_blocks(self, change):
        if self._quiet or change["new"] == CUSTOM:
            return
        self.set_mask(freeze_leading_blocks(self.layout, change["new"]))

    def _on_group_tick(self, group: str):
        def handle(change):
            if self._quiet:
                return
            self.set_mask({name: change["new"] for name in self.layout.groups[group]})

        return handle

    def _on_lora_rank(self, change):
        if not self._quiet:
            self._apply_or_show_error(self.set_lora_rank, change["new"])

    def _on_text(self, change):
        if not self._quiet:
            self._apply_or_show_error(self.set_mask, change["new"])

    def _apply_or_show_error(self, apply, value) -> None:
        # A value typed or chosen in the panel: a refusal is shown in the panel, not raised.
        try:
            apply(value)
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
        """Times the ticked mask in the background (the live timer follows later ticks)."""
        if self.lora_rank:
            self.timing.value = f"<pre{_PRE}>{_escape(LORA_TIMING_NOTE)}</pre>"
            return
        if self.live_timer is not None:
            self._start_live_timing()
            return
        mask, model, timer = dict(self.mask), self.model, self.timer
        self._last_timed = mask_to_text(mask)

        def work(progress):
            progress.report(0, None, f"timing {self._last_timed}")
            return timer(model, mask=mask, batch_size=self.timing_batch_size)

        def done(result):
            self.timing.value = f"<pre{_PRE}>{_escape(str(result))}</pre>"
            self._mark_stale()

        self.timing.value = ""
        self.job.start(work, on_done=done)

    def timing_text(self) -> str:
        """The step-time lines the panel shows for the current mask (live timer only).

        Returns:
            Predicted and measured step time, or an empty string without a
            live timer.
        """
        if self.live_timer is None:
            return ""
        return live_readout(self.live_timer, self.mask).text()

    def _start_live_timing(self) -> None:
        if self.job.running:  # The running job follows the mask: nothing to start.
            return
        timer = self.live_timer
        self.job.start(
            lambda progress: follow_mask(
                timer, lambda: self.mask, progress, on_update=self._show_live
            ),
            on_done=lambda _: self._show_live(),
            on_cancel=self._show_live,
            on_error=lambda _: self._show_live(),
        )
        self._show_live()

    def _time_if_live(self) -> None:
        if self.lora_rank:
            return
        if getattr(self, "live_toggle", None) is not None and self.live_toggle.value:
            self._start_live_timing()

    def _show_live(self) -> None:
        """Writes the live timer's readout for the current mask into the labels."""
        if self.live_timer is None:
            return
        if self.lora_rank:
            self.timing.value = f"<pre{_PRE}>{_escape(LORA_TIMING_NOTE)}</pre>"
            self.live_plot.value = ""
            return
        readout = live_readout(self.live_timer, self.mask)
        # The job's bar style says how its last run ended (set before the callbacks run).
        waiting = {
            "warning": "timing cancelled: tick, or press 'time this configuration'",
            "danger": "timing stopped by the error above",
        }.get(self.job.bar.bar_style, "time it, or switch live timing on")
        if self.job.running and self.job.bar.bar_style not in ("warning", "danger"):
            waiting = "timing runs"
        text = readout.text(waiting=waiting)
        self.timing.value = f"<pre{_PRE}>{_escape(text)}</pre>"
        self.live_plot.value = measured_vs_predicted_svg(readout.points, readout.mask_text)

    def _mark_stale(self) -> None:
        """Marks a given timer's result stale when the mask has changed since."""
        if self.live_timer is not None or not self.can_time or self._last_timed is None:
            return
        stale = self._last_timed != mask_to_text(self.mask)
        marker = f"stale: timed {self._last_timed}, the mask has changed since"
        text = self.timing.value.split('<p class="fl-stale"')[0]
        if stale and text:
            text += f'<p class="fl-stale" style="color:#b30">{_escape(marker)}</p>'
        self.timing.value = text

    def refresh(self) -> Readout:
        """Recomputes every readout from the ticks and writes it into the labels.

        The ticks are first brought in line with the model's own flags, so
        changes made in code (`freezelab.freeze`, ``layer.trainable = ...``,
        ``model.trainable = ...``) show here.

        Returns:
            The `Readout` shown.
        """
        with self._lock:
            return self._refresh_unlocked()

    def _refresh_unlocked(self) -> Readout:
        self._sync_from_model()
        readout = self.readout
        self.trainable_count.value = f"<b>{readout.trainable_params:,}</b>"
        self.counts.value = (
            f"{readout.trainable_share:.1%} of {readout.total_params:,} parameters train · "
            f"<span{_NOWRAP}>non-trainable: {readout.non_trainable_params:,}</span>"
        )
        self.optimizer_state.value = (
            f"Adam optimizer state ({optimizer_slots('adam')} slots × trainable parameters × "
            f"{FLOAT32_BYTES} bytes): "
            f"<b{_NOWRAP}>{readout.optimizer_state_mib:.1f} MiB</b>"
        )
        self.lora_status.value = self._lora_status_html()
        note = flags_note(self.model, readout)
        self.flags_note.value = f'<span style="color:#b30">{_escape(note)}</span>' if note else ""
        self.block_bars.value = block_bars_html(readout)
        self.backward_map.value = backward_map_html(readout)
        self.code.value = mask_code_html(self.mask, compile_line=self._compile_line())
        status = compile_status(self.model)
        colour = "#b30" if status.needs_recompile else "#2a7"
        label = "recompile needed" if status.needs_recompile else "compiled set in sync"
        if not status.compiled:
            label, colour = "not compiled yet", "#777"
        self.badge.value = (
            f'<span title="{_escape(status.message)}" style="color:{colour}"><b>{label}</b></span>'
        )
        self.recompile_button.disabled = not status.compiled
        if self.can_time:
            self.time_button.disabled = bool(self.lora_rank)
        with self._batch():
            for group, toggle in self.group_toggles.items():
                names = self.layout.groups[group]
                training = sum(self.checkboxes[n].value for n in names)
                toggle.value = training == len(names)
                toggle.description = group_toggle_label(group, training, len(names))
            self.text_box.value = mask_to_text(self.mask)
            if self.has_block_menu:
                blocks = leading_frozen_blocks(self.layout, self.mask)
                self.block_slider.value = CUSTOM if blocks is None else blocks
        if self.live_timer is not None:
            self._show_live()
            self._time_if_live()
        else:
            self._mark_stale()
        return readout

    def _compile_line(self) -> str:
        """The code box's last lines: LoRA's, when on, then the compile call."""
        if not self.lora_rank:
            return COMPILE_LINE
        names = [layer.name for layer in lora_attention_layers(self.model)]
        return f"{lora_code(names, self.lora_rank)}\n{COMPILE_LINE}"

    def _lora_status_html(self) -> str:
        """What LoRA adds, and which model the panel works on."""
        if not self.lora_rank and not lora_layer_paths(self.model):
            return ""
        factors, adapted = lora_variables(self.model)
        factor_params = sum(weight_size(v) for v in factors)
        adapted_params = sum(weight_size(v) for v in adapted)
        text = (
            f"LoRA: {factor_params:,} factor parameters train (always), on {len(adapted)} "
            f"projections whose {adapted_params:,} kernel parameters stay frozen"
        )
        if self.lora_rank:
            text += (
                f" · rank {self.lora_rank}, on a copy: train panel.model; the model you "
                f"passed ({self.original_model.name!r}) is unchanged, without LoRA"
            )
        else:
            text += " · enabled before the panel opened: Keras cannot remove it"
        return f'<span style="color:#555">{_escape(text)}</span>'

    def _sync_from_model(self, keep: str | None = None) -> None:
        """Ticks the boxes as the model's flags are (all but ``keep``, just ticked)."""
        if not self.checkboxes:
            return
        current = get_mask(self.model)
        with self._batch():
            for name, box in self.checkboxes.items():
                if name != keep and box.value != current.get(name, False):
                    box.value = current.get(name, False)

    @contextmanager
    def _batch(self):
        """Silences the observers while several widgets change at once."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet


def freeze_panel(
    model: keras.Model,
    timer: Timer | None = None,
    timing_batch_size: int = 8,
    follow_interval: float | None = 0.25,
) -> FreezePanel:
    """Opens the freeze panel on ``model``.

    Args:
        model: A built Keras model (VGG16 shows one row per block).
        timer: See `FreezePanel`.
        timing_batch_size: See `FreezePanel`.
        follow_interval: See `FreezePanel`.

    Returns:
        The `FreezePanel`; display it, read ``panel.mask`` or call ``panel.set_mask``.

    Raises:
        ValueError: If ``model`` is not a Keras model, or for a bad
            ``timing_batch_size``.
    """
    return FreezePanel(
        model, timer=timer, timing_batch_size=timing_batch_size, follow_interval=follow_interval
    )


def group_toggle_label(group: str, training: int, total: int) -> str:
    """The label of a block's toggle: "(all)" or "(none)", or how many of its layers train.

    A partly trained block's toggle is unticked (not every layer trains); its
    label then says so, e.g. ``"block5 (2/3 train)"``, so it does not read as
    frozen.

    Args:
        group: The block's name.
        training: How many of its layers are ticked (train).
        total: How many layers with weights it has.

    Returns:
        The label.
    """
    if training == total:
        return f"{group} (all)"
    if training == 0:
        return f"{group} (none)"
    return f"{group} ({training}/{total} train)"


def _variable_layout(model: keras.Model, layout: PanelLayout) -> VariableLayout | None:
    """The variable-by-variable numbers for attention layers or LoRA, else None."""
    return VariableLayout(model, layout) if needs_variable_readout(model) else None


def _out_of_date(panel: FreezePanel) -> bool:
    """Whether the model's flags differ from the panel's ticks (changed in code)."""
    return _current_mask(panel.model, panel.layout.layer_names) != panel.mask


def _catch_up(panel: FreezePanel) -> None:
    panel.refresh()


def _live_timer(model: keras.Model, batch_size: int) -> LiveTimer | None:
    """The panel's live timer, or None for a model it cannot time (no fixed input)."""
    try:
        return LiveTimer(model, batch_size=batch_size)
    except ValueError:
        return None


def _current_mask(model: keras.Model, names: list[str]) -> dict[str, bool]:
    current = get_mask(model)
    return {name: current.get(name, False) for name in names}


_WRAP = widgets.Layout(flex_flow="row wrap", align_items="center", max_width="100%")
_TOGGLE_MARGIN = "0 12px 0 0"
# Timing lines wrap in a narrow panel instead of running past its edge, between words.
_PRE = f' style="margin:0;{PRE_STYLE}"'
# A number stays on the line of its label or unit ("112.8 MiB", "non-trainable: 2,359,808").
_NOWRAP = ' style="white-space:nowrap"'


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
