"""A LoRA rank chosen beside a freeze mask, as the freeze panel offers it.

Keras 3.15.1's ``enable_lora(rank)`` cannot be undone: a layer refuses a
second call ("This can only be done once per layer") and has no way to
remove its factors. A rank control that learners move up and down (0 = off,
2, 4, 8 …) therefore cannot work on the learner's model itself. The rule
here: LoRA always goes on a **copy**. `lora_copy` builds the model again,
copies its weights, enables LoRA on the projections lesson 07's strategy
adapts (each attention layer's query and value, through
`freezelab.core.peft.apply_strategy`), and sets the freeze mask; the
learner's model keeps its weights and never gets LoRA. Another rank builds
another copy from the same model; rank 0 is the model itself.

What trains in the copy is what Keras does after this plain code
(`lora_code` writes its second part)::

    for layer in model.layers:            # the freeze mask
        layer.trainable = layer.name in trains
    for name in ["block1_attention", ...]:  # then LoRA
        attention = model.get_layer(name)
        for projection in (attention.query_dense, attention.value_dense):
            projection.enable_lora(rank)
            projection.lora_kernel_a.trainable = True
            projection.lora_kernel_b.trainable = True

``enable_lora`` adds two factors per projection and freezes the
projection's kernel. In a frozen layer Keras creates the factors frozen too
(``Layer._track_variable`` in 3.15.1), so the code sets them trainable: the
factors are what LoRA trains on a frozen base. The layers' flags decide
everything else. So a tick keeps deciding a layer's own weights (biases, key
and output projections, …), the factors train whether or not their layer is
ticked, and the adapted kernels stay frozen. `keep_lora_rule` restores
exactly this after a later ``layer.trainable = ...``, which would otherwise
freeze the factors or unfreeze the kernel (Keras's setter reaches every
variable).
"""

from __future__ import annotations

import keras

from freezelab._validation import ArgumentTypeError, check_model, is_int
from freezelab.core.freezing import set_mask
from freezelab.core.keras_adapter import inner_layers
from freezelab.core.layers import block_names, iter_layers
from freezelab.core.models import set_weights_source, weights_source
from freezelab.core.peft import apply_strategy, lora_layer_paths

#: The ranks a rank menu offers, up to the model's `max_lora_rank`; 0 is "LoRA off".
LORA_RANK_MENU = (0, 1, 2, 4, 8, 16, 32, 64)
#: Names of the variables ``enable_lora`` adds start so (Dense/EinsumDense, Embedding).
LORA_FACTOR_PREFIX = "lora_"
#: Names of the variables ``enable_lora`` freezes: the adapted kernel or table.
ADAPTED_VARIABLE_NAMES = ("kernel", "embeddings")


def lora_attention_layers(model: keras.Model) -> list[keras.layers.MultiHeadAttention]:
    """The attention layers whose query and value projections LoRA would adapt.

    These are the layers `freezelab.core.peft.apply_strategy` adapts with
    ``"lora"``: every ``MultiHeadAttention`` outside the head of a model with
    ``blockN_`` layer names (blocks as `freezelab.core.layers.block_labels`
    names them). A model without block names, or without attention in its
    blocks, has none: the panel then offers no rank.

    Args:
        model: A Keras model.

    Returns:
        The layers, in model order; empty when LoRA is not offered.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    refs = iter_layers(model)
    if not block_names(refs):
        return []
    return [
        ref.layer
        for ref in refs
        if isinstance(ref.layer, keras.layers.MultiHeadAttention) and ref.block != "head"
    ]


def max_lora_rank(model: keras.Model) -> int:
    """The highest useful rank: the smallest input or output size of an adapted projection.

    A query or value projection of width ``d`` into ``h`` heads of size
    ``k`` gets factors ``(d, h, r)`` and ``(r, k)``; each head's update
    ``A @ B`` has rank at most ``min(d, k)``, so a larger ``r`` adds
    parameters without adding capacity.

    Args:
        model: A Keras model.

    Returns:
        The rank, or 0 for a model without layers to adapt.
    """
    sizes = []
    for attention in lora_attention_layers(model):
        for projection in (attention.query_dense, attention.value_dense):
            shape = _adapted_variable(projection).shape
            sizes.append(min(int(shape[0]), int(shape[-1])))
    return min(sizes, default=0)


def lora_rank_menu(model: keras.Model) -> list[int]:
    """The ranks a menu offers for ``model``: 0 (off), then `LORA_RANK_MENU` up to its maximum.

    Args:
        model: A Keras model.

    Returns:
        E.g. ``[0, 1, 2, 4, 8, 16]`` for the ViT teacher (head size 16);
        ``[]`` for a model without layers to adapt.
    """
    highest = max_lora_rank(model)
    return [rank for rank in LORA_RANK_MENU if rank <= highest] if highest else []


def check_lora_rank(rank: object, model: keras.Model) -> int:
    """Checks a LoRA rank for ``model``: an int from 0 (off) to `max_lora_rank`.

    Args:
        rank: The rank asked for.
        model: The model it is for.

    Returns:
        The rank as a Python int.

    Raises:
        ValueError: If ``model`` has no layers LoRA adapts, or ``rank`` is not
            an int from 0 to `max_lora_rank` (for bools, floats and strings
            the error is an `ArgumentTypeError`, also a ValueError).
    """
    highest = max_lora_rank(model)
    if not highest:
        raise ValueError(
            "LoRA is offered for models with attention layers in `blockN_` blocks (their query "
            f"and value projections, as lesson 07 adapts them); model {model.name!r} has none. "
            f"Received: rank={rank!r}"
        )
    accepted = (
        f"`rank` must be an int from 0 (LoRA off) to {highest} (the smallest input or output "
        f"size of an adapted projection; a higher rank adds no capacity), e.g. "
        f"{', '.join(str(r) for r in lora_rank_menu(model))}."
    )
    if not is_int(rank) or isinstance(rank, bool):
        raise ArgumentTypeError(f"{accepted} Received: rank={rank!r} of type {type(rank).__name__}")
    if not 0 <= int(rank) <= highest:
        raise ValueError(f"{accepted} Received: rank={rank!r}")
    return int(rank)


def lora_copy(model: keras.Model, rank: int, mask: dict[str, bool]) -> keras.Model:
    """A copy of ``model`` with LoRA of ``rank`` and the freeze ``mask``; ``model`` is unchanged.

    The copy has the same architecture, layer names and weights (and the
    same `freezelab.weights_source`). LoRA goes on the query and value
    projections of `lora_attention_layers`, through
    ``apply_strategy(copy, "lora", rank=rank)``; the flags are then set from
    ``mask`` and `keep_lora_rule` (see the module docstring): the factors
    train, the adapted kernels are frozen, each tick decides the rest of its
    layer. The copy is not compiled.

    Args:
        model: A built Functional or Sequential model without LoRA.
        rank: The rank, from 1 to `max_lora_rank`.
        mask: Layer name to trainable flag for the layers with weights, as
            `freezelab.get_mask` gives it (layers left out keep Keras's
            default, trainable).

    Returns:
        The new model.

    Raises:
        ValueError: For a rank out of range or 0 (no copy is needed then), a
            model that already has LoRA (Keras cannot remove it), or a mask
            naming layers the model lacks.
    """
    check_model(model, "lora_copy")
    rank = check_lora_rank(rank, model)
    if rank == 0:
        raise ValueError(
            "lora_copy builds a copy with LoRA: rank 0 (off) needs no copy; use the model "
            "itself. Received: rank=0"
        )
    already = lora_layer_paths(model)
    if already:
        raise ValueError(
            "This model already has LoRA, and Keras cannot remove it or change its rank: "
            "start from a model without LoRA (freshly built or loaded). "
            f"Received: LoRA on {already}"
        )
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    source = weights_source(model)
    if source != "unknown":
        set_weights_source(copy, source)
    apply_strategy(copy, "lora", rank=rank)
    # Through False first: TensorFlow skips a True -> True assignment (see freezelab.core.peft).
    copy.trainable = False
    copy.trainable = True
    set_mask(copy, mask)
    keep_lora_rule(copy)
    return copy


def lora_variables(model: keras.Model) -> tuple[list[keras.Variable], list[keras.Variable]]:
    """The LoRA factors of ``model`` and the kernels they adapt, found by Keras's names.

    ``enable_lora`` names its factors ``lora_kernel_a``/``lora_kernel_b``
    (``lora_embeddings_a``/``_b`` in ``Embedding``) and adapts the variable
    named ``kernel`` (``embeddings``).

    Args:
        model: A Keras model.

    Returns:
        ``(factors, adapted)``, each in model order; both empty without LoRA.
    """
    factors: list[keras.Variable] = []
    adapted: list[keras.Variable] = []
    for layer in inner_layers(model):
        if getattr(layer, "lora_enabled", False):
            for variable in layer.weights:
                if variable.name.startswith(LORA_FACTOR_PREFIX):
                    factors.append(variable)
                elif variable.name in ADAPTED_VARIABLE_NAMES:
                    adapted.append(variable)
    return factors, adapted


def keep_lora_rule(model: keras.Model) -> None:
    """Sets every LoRA factor trainable and every LoRA-adapted kernel frozen, in place.

    Call it after ``layer.trainable = ...`` on a model with LoRA: Keras's
    setter sets every variable of the layer, factors and kernel included.
    Nothing else changes; a model without LoRA is left as it is.

    Args:
        model: A Keras model.
    """
    factors, adapted = lora_variables(model)
    for variable in factors:
        variable.trainable = True
    for variable in adapted:
        variable.trainable = False


def lora_code(attention_names: list[str], rank: int) -> str:
    """The plain Keras lines that add LoRA of ``rank`` after a freeze mask's loop.

    Args:
        attention_names: Names of the attention layers (`lora_attention_layers`).
        rank: The rank (at least 1).

    Returns:
        Python source, lines separated by newlines.
    """
    names = ", ".join(f'"{name}"' for name in attention_names)
    if len(names) <= 70:
        loop = [f"for name in [{names}]:"]
    else:
        loop = ["for name in [", *(f'    "{name}",' for name in attention_names), "]:"]
    return "\n".join(
        [
            "# LoRA on each attention's query and value projections. enable_lora freezes the",
            "# kernel; a frozen layer makes the two factors frozen too, so they are set to train.",
            "# Keras cannot remove LoRA again: try another rank on a freshly built model.",
            *loop,
            "    attention = model.get_layer(name)",
            "    for projection in (attention.query_dense, attention.value_dense):",
            f"        projection.enable_lora({rank})",
            "        projection.lora_kernel_a.trainable = True",
            "        projection.lora_kernel_b.trainable = True",
        ]
    )


def _adapted_variable(layer: keras.layers.Layer) -> keras.Variable:
    for variable in layer.weights:
        if variable.name in ADAPTED_VARIABLE_NAMES:
            return variable
    raise ValueError(
        f"Layer {layer.path!r} has no kernel or embeddings variable for LoRA to adapt. "
        f"Received: variables {[v.name for v in layer.weights]}"
    )
