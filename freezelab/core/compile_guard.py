"""The recompile trap: trainable flags changed after ``compile()``.

Keras 3 documents that the set of trainable weights is fixed when a model is
compiled. In practice (Keras 3.15): a change made after ``compile()`` but
before the first ``fit()`` is still honoured, because the train function is
built lazily; once ``fit()`` has run, the cached train function keeps updating
the old set — a layer you froze keeps moving — and nothing warns. A built
optimizer also rejects newly trainable variables ("Unknown variable").

This module tells which layers changed and recompiles with the same loss and
metrics and a fresh optimizer of the same configuration. Only layers that
hold weights are named: a pooling or input layer's flag changes nothing.
`freezelab.core.fit_guard` uses it to stop a stale ``fit()`` before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from freezelab._validation import ArgumentTypeError, check_model, describe
from freezelab.core.keras_adapter import (
    compile_arguments,
    compiled_trainable_state,
    inner_layers,
    optimizer_variables,
)
from freezelab.core.layers import iter_layers

RECOMPILE_ADVICE = (
    "Compile again with a new optimizer: model.compile(..., optimizer=<a new optimizer>); "
    "or freezelab.recompile(model), which keeps the loss and metrics and builds a fresh "
    "optimizer of the same configuration."
)


@dataclass(frozen=True)
class CompileStatus:
    """Whether ``model``'s trainable set still matches what it was compiled with.

    Attributes:
        compiled: Whether the model has been compiled at all.
        changed_layers: Layers with weights whose trainable state differs
            from compile time, in model order.
        train_function_built: True once ``fit()`` (or ``train_on_batch``) has
            built the cached train function; from then on a change is
            silently ignored on TensorFlow and refused on JAX
            (`CompileStatus.stale_fit_effect`).
        stale_optimizer_variables: Trainable weights now frozen that the built
            optimizer still updates.
        untracked_variables: Trainable weights the built optimizer has never
            seen (it would reject them).
        newly_frozen: The changed layers that trained at compile time and are
            frozen now (a stale ``fit()`` keeps training them).
        newly_unfrozen: The changed layers that were frozen at compile time
            and train now (a stale ``fit()`` leaves them put, or fails).
    """

    compiled: bool
    changed_layers: list[str] = field(default_factory=list)
    train_function_built: bool = False
    stale_optimizer_variables: list[str] = field(default_factory=list)
    untracked_variables: list[str] = field(default_factory=list)
    newly_frozen: list[str] = field(default_factory=list)
    newly_unfrozen: list[str] = field(default_factory=list)

    @property
    def needs_recompile(self) -> bool:
        """True when the flags differ from what the model was compiled with."""
        return self.compiled and bool(
            self.changed_layers or self.stale_optimizer_variables or self.untracked_variables
        )

    @property
    def fit_would_be_stale(self) -> bool:
        """True when the next ``fit()`` would not train the current flags.

        That is once a train function or the optimizer was built for the old
        set. A change made after ``compile()`` but before any training step
        is still honoured by Keras, so it is not stale (though a recompile
        makes it certain).
        """
        return self.needs_recompile and bool(
            self.train_function_built or self.stale_optimizer_variables or self.untracked_variables
        )

    def changes_text(self) -> str:
        """Which layers with weights changed, e.g. ``"frozen since: dense_64"``."""
        parts = []
        if self.newly_frozen:
            parts.append(f"frozen since: {name_list(self.newly_frozen)}")
        if self.newly_unfrozen:
            parts.append(f"unfrozen since: {name_list(self.newly_unfrozen)}")
        if not parts and self.changed_layers:
            parts.append(name_list(self.changed_layers))
        return "; ".join(parts) or "(weights only)"

    @property
    def message(self) -> str:
        """One paragraph for the learner."""
        if not self.compiled:
            return "The model is not compiled yet: compile() will use the current flags."
        if not self.needs_recompile:
            return "In sync: training follows the current trainable flags."
        if not self.fit_would_be_stale:
            return (
                f"Recompile advised: trainable flags changed since compile() on layers with "
                f"weights ({self.changes_text()}). No training step has run yet, so Keras "
                "3 still builds its train function from the current flags at the first "
                "fit() and the change takes effect; Keras documents the set as fixed at "
                f"compile(), so compiling again makes it certain. {RECOMPILE_ADVICE}"
            )
        if self.train_function_built:
            effect = self.stale_fit_effect(keras.backend.backend())
        else:
            effect = (
                "The optimizer was already built for the old set of weights, so the "
                "next fit() would not train the current flags."
            )
        return (
            f"Recompile needed: trainable flags changed since compile() on layers with "
            f"weights ({self.changes_text()}). {effect} {RECOMPILE_ADVICE}"
        )

    def stale_fit_effect(self, backend: str) -> str:
        """What the next ``fit()`` does with the changed flags on ``backend``.

        Checked with Keras 3.15 on TensorFlow 2.21, JAX 0.10 and PyTorch 2.13
        (CPU); see ``tests/backends/test_what_differs.py``.

        Args:
            backend: ``"tensorflow"``, ``"jax"`` or ``"torch"``.

        Returns:
            One or two sentences for the learner.
        """
        if backend not in ("tensorflow", "jax", "torch"):
            return "fit() has already built its train function for the old set."
        if backend == "jax":
            return (
                "On JAX, the optimizer was built for the old set, so the next fit() raises "
                "a ValueError, even after compile() unless the optimizer is new."
            )
        if backend == "torch":
            effects = []
            if self.newly_frozen:
                effects.append("freezing takes effect at the next fit()")
            if self.newly_unfrozen:
                effects.append(
                    'the optimizer built for the old set raises "Unknown variable" '
                    "for the layers unfrozen since"
                )
            return f"On PyTorch, {' but '.join(effects) or 'the next fit() may fail'}."
        effects = []
        if self.newly_frozen:
            effects.append("layers frozen since keep training")
        if self.newly_unfrozen:
            effects.append("layers unfrozen since stay put")
        return (
            "On TensorFlow, fit() has already built its train function, so the next "
            "fit() silently keeps the old set" + (f": {' and '.join(effects)}." if effects else ".")
        )

    def __str__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = "#b30" if self.needs_recompile else "#2a7"
        return f'<p style="color:{colour}"><b>{self.message}</b></p>'


def compile_status(model: keras.Model) -> CompileStatus:
    """Compares ``model``'s trainable flags with the ones it was compiled with.

    Two independent records are read: the per-layer flags Keras stores at
    ``compile()``, and, once the optimizer has been built by a training step,
    the exact variables it updates.

    Args:
        model: A Keras model, compiled or not.

    Returns:
        A `CompileStatus`. Only layers that hold weights are listed.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    check_model(model, "compile_status", built=False)
    if not getattr(model, "compiled", False):
        return CompileStatus(compiled=False)

    frozen_since: list[str] = []
    unfrozen_since: list[str] = []
    snapshot = compiled_trainable_state(model)
    if snapshot is not None:
        # Keras 3 trains a weight when the top model and the weight's own
        # layer are trainable; the snapshot holds both flags from compile().
        top_before = snapshot.get(model, model.trainable)
        inner = set(inner_layers(model))
        for ref in iter_layers(model):
            layer = ref.layer
            if not layer.weights or layer not in inner or layer not in snapshot:
                continue
            before = bool(top_before and snapshot[layer])
            now = bool(model.trainable and layer.trainable)
            if before and not now:
                frozen_since.append(ref.name)
            elif now and not before:
                unfrozen_since.append(ref.name)
    changed = [
        ref.name for ref in iter_layers(model) if ref.name in set(frozen_since + unfrozen_since)
    ]

    stale: list[str] = []
    untracked: list[str] = []
    optimizer = getattr(model, "optimizer", None)
    updated = optimizer_variables(optimizer) if optimizer is not None else None
    if updated is not None:
        tracked = {id(v) for v in updated}
        current = {id(v) for v in model.trainable_variables}
        stale = [v.path for v in updated if id(v) not in current]
        untracked = [v.path for v in model.trainable_variables if id(v) not in tracked]
        if not changed and (stale or untracked):
            changed = _layers_owning(model, set(stale) | set(untracked))

    return CompileStatus(
        compiled=True,
        changed_layers=changed,
        train_function_built=getattr(model, "train_function", None) is not None,
        stale_optimizer_variables=stale,
        untracked_variables=untracked,
        newly_frozen=frozen_since,
        newly_unfrozen=unfrozen_since,
    )


def recompile(
    model: keras.Model, optimizer: keras.optimizers.Optimizer | None = None
) -> CompileStatus:
    """Compiles ``model`` again with its loss and metrics and a fresh optimizer.

    The new optimizer has the same class and configuration (learning rate and
    all) as the old one, but no state, so it accepts newly trainable weights.

    Args:
        model: A compiled Keras model.
        optimizer: An optimizer (or an optimizer name such as ``"adam"``) to
            use instead of a fresh copy of the old one.

    Returns:
        The `CompileStatus` after recompiling (in sync).

    Raises:
        ValueError: If the model was never compiled, or ``model`` is not a
            Keras model.
        TypeError: If ``optimizer`` is neither None, a name nor a Keras
            optimizer (also a ValueError).
    """
    check_model(model, "recompile", built=False)
    if optimizer is not None and not isinstance(optimizer, (str, keras.optimizers.Optimizer)):
        raise ArgumentTypeError(
            "`optimizer` must be None (a fresh copy of the old one), an optimizer name such "
            f"as 'adam', or a Keras optimizer. Received: optimizer={describe(optimizer)} of "
            f"type {type(optimizer).__name__}"
        )
    config = compile_arguments(model)
    if config is None:
        raise ValueError(
            "recompile() needs a model that was compiled before, to reuse its loss "
            f"and metrics. Received: model {model.name!r}, which is not compiled. "
            "Call model.compile(...) instead."
        )
    if optimizer is None:
        optimizer = fresh_optimizer(model.optimizer)
    config["optimizer"] = optimizer
    model.compile(**config)
    return compile_status(model)


def fresh_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """A new, unbuilt optimizer with the same class and configuration.

    Args:
        optimizer: A Keras optimizer, built or not.

    Returns:
        A new optimizer instance without state.

    Raises:
        ValueError: If ``optimizer`` is not a Keras optimizer.
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ArgumentTypeError(
            f"Expected a Keras optimizer. Received: optimizer={describe(optimizer)} of type "
            f"{type(optimizer).__name__}"
        )
    return type(optimizer).from_config(optimizer.get_config())


def name_list(names: list[str], limit: int = 6, with_count: bool = True) -> str:
    """Names joined by commas, the middle elided past ``limit``: ``"a, b, …, z (13 layers)"``."""
    if len(names) <= limit:
        return ", ".join(names)
    shown = ", ".join([*names[: limit - 1], "…", names[-1]])
    return f"{shown} ({len(names)} layers)" if with_count else shown


def _layers_owning(model: keras.Model, paths: set[str]) -> list[str]:
    owners = []
    for ref in iter_layers(model):
        if any(w.path in paths for w in ref.layer.weights):
            owners.append(ref.name)
    return owners
