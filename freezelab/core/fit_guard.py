"""A guard that stops the recompile trap before ``fit()`` trains the wrong layers.

Once ``fit()`` has run, Keras keeps its train function and optimizer for the
trainable set fixed at ``compile()``. Freeze a layer afterwards and the next
``fit()`` keeps training it (TensorFlow), or fails deep inside the optimizer
(JAX), with no word about why. `compile_status` can tell, when asked; the
guard asks for you, before every ``fit()``::

    model = fl.guard(model)              # install once
    fl.freeze(model, "block5")           # ... after an earlier fit()
    model.fit(x, y)                      # StaleCompileError: names the layers and the fix

``fl.guard(model, on_stale="recompile")`` recompiles instead (same loss and
metrics, a fresh optimizer) and says so; ``"warn"`` only warns;
``"off"`` removes the guard. The guard wraps ``fit`` on that model object
only (not ``train_on_batch``, so step timings stay unchanged) and works on
every Keras backend.
"""

from __future__ import annotations

import functools
import warnings
import weakref

import keras

from freezelab._validation import check_choice, check_model
from freezelab.core.compile_guard import CompileStatus, compile_status, name_list, recompile

GUARD_MODES = ("raise", "recompile", "warn", "off")
_WRAPPER_MARK = "_freezelab_guard_mode"


class StaleCompileError(RuntimeError):
    """``fit()`` would train the trainable set fixed at ``compile()``, not the current flags."""


class StaleCompileWarning(UserWarning):
    """A guarded model in ``"warn"`` mode is about to fit a stale trainable set."""


def guard(model: keras.Model, on_stale: str = "raise") -> keras.Model:
    """Installs the recompile guard on ``model``: checked before every ``fit()``.

    Before each ``fit()``, the guard runs `compile_status`. When the train
    function or the optimizer was already built for another trainable set
    (`CompileStatus.fit_would_be_stale`), it acts as ``on_stale`` says. A
    change made after ``compile()`` but before the first ``fit()`` is
    honoured by Keras and passes.

    Args:
        model: A Keras model, compiled or not. Calling `guard` again changes
            the mode.
        on_stale: ``"raise"`` (a `StaleCompileError` naming the layers and the
            fix; nothing is trained), ``"recompile"`` (recompile with a fresh
            optimizer, print one line, then fit), ``"warn"`` (a
            `StaleCompileWarning`, then the stale fit), or ``"off"`` (remove
            the guard).

    Returns:
        The same model, so ``model = fl.guard(build())`` reads naturally.

    Raises:
        ValueError: If ``model`` is not a Keras model or ``on_stale`` is not
            one of the modes.
    """
    check_model(model, "guard", built=False)
    check_choice(on_stale, "on_stale", GUARD_MODES)
    installed = model.__dict__.get("fit")
    if on_stale == "off":
        if installed is not None and hasattr(installed, _WRAPPER_MARK):
            del model.fit
        return model
    if installed is not None and hasattr(installed, _WRAPPER_MARK):
        setattr(installed, _WRAPPER_MARK, on_stale)
        return model
    model.fit = _guarded_fit(model, on_stale)
    return model


def guard_mode(model: keras.Model) -> str:
    """The guard's mode on ``model``: ``"raise"``, ``"recompile"``, ``"warn"`` or ``"off"``.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    check_model(model, "guard_mode", built=False)
    installed = model.__dict__.get("fit")
    return getattr(installed, _WRAPPER_MARK, "off")


def check_before_fit(model: keras.Model, on_stale: str = "raise") -> CompileStatus:
    """What the guard does before ``fit()``; callable on its own.

    Args:
        model: A Keras model.
        on_stale: ``"raise"``, ``"recompile"`` or ``"warn"``, as in `guard`.

    Returns:
        The `CompileStatus` training will follow (after a recompile, if one
        was made).

    Raises:
        StaleCompileError: In ``"raise"`` mode, when the fit would be stale.
    """
    status = compile_status(model)
    if not status.fit_would_be_stale:
        return status
    if on_stale == "recompile":
        print(
            f"freezelab guard: trainable flags changed since compile() ({status.changes_text()}); "
            "recompiled with a fresh optimizer before fit()."
        )
        return recompile(model)
    message = stale_fit_message(status)
    if on_stale == "warn":
        warnings.warn(StaleCompileWarning(message), stacklevel=3)
        return status
    raise StaleCompileError(message)


def stale_fit_message(status: CompileStatus) -> str:
    """The guard's explanation: what changed, what fit() would do, and the fix.

    Args:
        status: A `CompileStatus` whose ``fit_would_be_stale`` is True.

    Returns:
        One paragraph naming the layers with weights that changed.
    """
    parts = []
    if status.newly_frozen:
        parts.append(
            f"frozen since compile() but still trained by the old train step: "
            f"{name_list(status.newly_frozen)}"
        )
    if status.newly_unfrozen:
        parts.append(
            f"unfrozen since compile() but left out by the old train step: "
            f"{name_list(status.newly_unfrozen)}"
        )
    if not parts:
        parts.append(f"changed since compile(): {status.changes_text()}")
    effect = status.stale_fit_effect(keras.backend.backend())
    return (
        "freezelab stopped this fit(): the model's trainable flags changed after it was "
        f"compiled and trained. {effect} Layers with "
        f"weights {'; '.join(parts)}. Fix: call fl.recompile(model) (same loss and metrics, "
        "a fresh optimizer), then fit again; or install the guard with "
        'fl.guard(model, on_stale="recompile") to do that before every fit().'
    )


def _guarded_fit(model: keras.Model, on_stale: str):
    model_ref = weakref.ref(model)  # The wrapper lives on the model: no cycle.
    original = type(model).fit

    @functools.wraps(original)
    def fit(*args, **kwargs):
        target = model_ref()
        check_before_fit(target, getattr(fit, _WRAPPER_MARK))
        return original(target, *args, **kwargs)

    setattr(fit, _WRAPPER_MARK, on_stale)
    return fit
