"""Parameter-efficient fine-tuning strategies for a transformer, in plain Keras.

Five ways to choose what trains in a model whose layers carry block names
(``block1_attention`` …, see `freezelab.core.layers.block_of`):

* ``"head"``: only the layers after the last block (`block_labels`' ``head``);
* ``"top_blocks"``: the head and the last ``top_blocks`` blocks;
* ``"bitfit"``: BitFit-style, every bias and every LayerNormalization
  ``gamma`` / ``beta``, plus the head. BitFit as published (Ben Zaken et al.,
  2022) trains the bias terms only; this strategy also trains LayerNorm's
  scale ``gamma``;
* ``"lora"``: low-rank factors on each attention layer's query and value
  projections (the two that Hu et al., 2022, "LoRA", adapt in their main
  experiments), plus the head; the projections' own kernels and biases, and
  everything else, stay frozen;
* ``"full"``: everything.

Each strategy is what a learner would write: ``layer.trainable = ...``,
``variable.trainable = ...`` and Keras 3's own ``enable_lora(rank)``. Three
Keras 3.15.1 facts shape them:

* ``layer.trainable = value`` also sets the ``trainable`` flag of each of the
  layer's trainable variables and of its sublayers, so it undoes a
  per-variable choice, and would unfreeze a kernel that ``enable_lora``
  froze: LoRA comes after every ``trainable`` assignment.
* On TensorFlow an assignment of the value a layer already has is skipped
  (TensorFlow's ``AutoTrackable.__setattr__`` returns early when the new
  value ``is`` the old one), so ``layer.trainable = True`` on a trainable
  layer leaves its variables' flags as they were; on JAX and PyTorch it
  resets them. A strategy therefore starts from ``model.trainable = False``
  then ``True``, which resets every flag on every backend.
* ``enable_lora(rank)`` on ``MultiHeadAttention``'s ``query_dense`` (an
  ``EinsumDense`` with kernel ``(d, heads, d / heads)``) adds
  ``lora_kernel_a`` of shape ``(d, heads, rank)`` and ``lora_kernel_b`` of
  shape ``(rank, d / heads)``: ``d * heads * rank + rank * d / heads``
  scalars per projection, not the ``rank * (d + d)`` of a ``d x d`` matrix;
  it freezes only that kernel, not the projection's bias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from freezelab._validation import check_choice, check_int, check_model
from freezelab.core.accounting import count_params
from freezelab.core.keras_adapter import inner_layers
from freezelab.core.layers import iter_layers

PEFT_STRATEGIES = ("head", "top_blocks", "bitfit", "lora", "full")
#: Variable names the BitFit-style strategy trains: biases and LayerNormalization's
#: scale and offset (published BitFit keeps the scale ``gamma`` frozen).
BITFIT_VARIABLE_NAMES = ("bias", "gamma", "beta")


@dataclass(frozen=True)
class StrategyResult:
    """What a strategy left trainable.

    Attributes:
        strategy: The strategy's name, one of `PEFT_STRATEGIES`.
        trainable_params: Scalars in ``model.trainable_weights``.
        all_params: All scalars of the model, LoRA factors included.
        trainable_layers: Top-level layers with at least one trainable
            variable, in model order.
        lora_layers: Paths of the projections given LoRA factors, e.g.
            ``"block1_attention/query"``; empty for other strategies.
        rank: The LoRA rank, or None.
        top_blocks: How many top blocks train (``"top_blocks"``), or None.
    """

    strategy: str
    trainable_params: int
    all_params: int
    trainable_layers: tuple[str, ...]
    lora_layers: tuple[str, ...] = ()
    rank: int | None = None
    top_blocks: int | None = None

    @property
    def trainable_share(self) -> float:
        """Trainable parameters as a fraction of all."""
        return self.trainable_params / self.all_params if self.all_params else 0.0

    def peft_line(self) -> str:
        """The line Hugging Face PEFT's ``print_trainable_parameters()`` prints."""
        return peft_line(self.trainable_params, self.all_params)


def peft_line(trainable_params: int, all_params: int) -> str:
    """Formats counts as PEFT does: ``trainable params: X || all params: Y || trainable%: Z``.

    Args:
        trainable_params: Parameters that train.
        all_params: All parameters (adapters included).

    Returns:
        The line, with thousands separators and four decimals, as PEFT prints it.

    Raises:
        ValueError: For negative counts or ``trainable_params > all_params``.
    """
    trainable_params = check_int(trainable_params, "trainable_params", minimum=0)
    all_params = check_int(all_params, "all_params", minimum=1)
    if trainable_params > all_params:
        raise ValueError(
            f"trainable_params cannot exceed all_params ({all_params:,}). "
            f"Received: trainable_params={trainable_params}"
        )
    share = 100 * trainable_params / all_params
    return (
        f"trainable params: {trainable_params:,d} || all params: {all_params:,d} "
        f"|| trainable%: {share:.4f}"
    )


def apply_strategy(
    model: keras.Model,
    strategy: str,
    *,
    top_blocks: int = 1,
    rank: int = 4,
) -> StrategyResult:
    """Sets what trains in ``model`` for one fine-tuning strategy, in place.

    Compile the model after this (with a fresh optimizer), as after any
    change to ``trainable``.

    Args:
        model: A built model with ``blockN_`` layer names, e.g.
            `freezelab.sources.vit.tiny_vit`. LoRA cannot be removed from a
            layer once enabled, so the model must have none yet.
        strategy: One of `PEFT_STRATEGIES`.
        top_blocks: For ``"top_blocks"``: how many of the last blocks train.
        rank: For ``"lora"``: the rank of the factors.

    Returns:
        A `StrategyResult`; its counts equal Keras's own ``model.trainable_weights``.

    Raises:
        ValueError: For an unknown strategy, a rank or block count below 1 (or
            more blocks than the model has), a model without ``blockN_``
            layers or without attention layers (LoRA), or one where LoRA is
            already enabled.
    """
    check_model(model, "apply_strategy")
    check_choice(strategy, "strategy", PEFT_STRATEGIES)
    refs = iter_layers(model)
    blocks = _block_order(refs)
    if not blocks:
        raise ValueError(
            "apply_strategy needs layers named by block (`block1_...`, `block2_...`). "
            f"Received: model={model.name!r} with layers "
            f"{[ref.name for ref in refs[:6]]}..."
        )
    already = lora_layer_paths(model)
    if already:
        raise ValueError(
            "LoRA is already enabled in this model and Keras cannot remove it: apply "
            f"strategies to a freshly built or loaded model. Received: LoRA on {already}"
        )
    apply: dict[str, Callable[[], dict]] = {
        "head": lambda: _train_blocks(model, set()),
        "top_blocks": lambda: _train_top_blocks(model, blocks, top_blocks),
        "bitfit": lambda: _train_bitfit(model),
        "lora": lambda: _train_lora(model, rank),
        "full": lambda: _train_blocks(model, None),
    }
    extra = apply[strategy]()
    counts = count_params(model)
    trainable_layers = tuple(
        layer.name for layer in model.layers if layer.trainable and layer.trainable_weights
    )
    return StrategyResult(
        strategy=strategy,
        trainable_params=counts.trainable,
        all_params=counts.total,
        trainable_layers=trainable_layers,
        **extra,
    )


def _block_order(refs) -> list[str]:
    found: list[str] = []
    for ref in refs:
        if ref.block.startswith("block") and ref.block not in found:
            found.append(ref.block)
    return found


def _train_blocks(model: keras.Model, blocks: set[str] | None) -> dict:
    # None: everything trains. Otherwise the head and the named blocks. Through False
    # first: TensorFlow skips a True -> True assignment, keeping older per-variable flags.
    model.trainable = False
    model.trainable = True
    if blocks is None:
        return {}
    for ref in iter_layers(model):
        ref.layer.trainable = ref.block == "head" or ref.block in blocks
    return {}


def _train_top_blocks(model: keras.Model, blocks: list[str], top_blocks: int) -> dict:
    top_blocks = check_int(top_blocks, "top_blocks", minimum=1, maximum=len(blocks))
    _train_blocks(model, set(blocks[-top_blocks:]))
    return {"top_blocks": top_blocks}


def _train_bitfit(model: keras.Model) -> dict:
    _train_blocks(model, set())
    for ref in iter_layers(model):
        if ref.block == "head":
            continue
        ref.layer.trainable = True
        for variable in ref.layer.trainable_weights:
            variable.trainable = variable.name in BITFIT_VARIABLE_NAMES
    return {}


def _train_lora(model: keras.Model, rank: int) -> dict:
    rank = check_int(rank, "rank", minimum=1)
    attentions = [
        ref.layer
        for ref in iter_layers(model)
        if isinstance(ref.layer, keras.layers.MultiHeadAttention) and ref.block != "head"
    ]
    if not attentions:
        raise ValueError(
            "The LoRA strategy adapts MultiHeadAttention layers; the model has none. "
            f"Received: model={model.name!r}"
        )
    _train_blocks(model, set())
    for attention in attentions:
        # The attention layer must train for its LoRA factors to; its other parts must not.
        attention.trainable = True
        attention.key_dense.trainable = False
        attention.output_dense.trainable = False
        for projection in (attention.query_dense, attention.value_dense):
            projection.enable_lora(rank)  # freezes the projection's kernel, not its bias
            if projection.bias is not None:
                projection.bias.trainable = False
    return {"lora_layers": tuple(lora_layer_paths(model)), "rank": rank}


def lora_layer_paths(model: keras.Model) -> list[str]:
    """Paths of the layers inside ``model`` that have LoRA enabled.

    Args:
        model: A Keras model.

    Returns:
        Paths such as ``"block1_attention/query"``, in model order.
    """
    return [layer.path for layer in inner_layers(model) if getattr(layer, "lora_enabled", False)]


def merge_lora(model: keras.Model) -> keras.Model:
    """Returns a plain copy of ``model`` with each LoRA update merged into its kernel.

    The copy has no LoRA variables: each adapted kernel becomes ``kernel +
    (alpha / rank) * lora_kernel_a @ lora_kernel_b``, the value Keras itself
    uses in the forward pass (the layer's ``kernel`` property) and writes
    with ``save_weights``. Every other weight is copied as it is; ``model``
    is left unchanged. The copy's trainable flags are Keras's defaults (all
    trainable): set them again before training it.

    Args:
        model: A built Functional or Sequential model, with or without LoRA.

    Returns:
        A new model of the same architecture, without LoRA.

    Raises:
        ValueError: If ``model`` is not a built Functional or Sequential
            model, or a weight of the copy has no counterpart in ``model``.
    """
    check_model(model, "merge_lora")
    merged_kernels = {}
    for layer in inner_layers(model):
        if getattr(layer, "lora_enabled", False):
            # stop_gradient: on PyTorch the merged kernel is a tensor that requires grad.
            merged = keras.ops.stop_gradient(layer.kernel)
            merged_kernels[f"{layer.path}/kernel"] = keras.ops.convert_to_numpy(merged)
    copy = keras.models.clone_model(model, clone_function=_without_lora)
    values = {variable.path: variable for variable in model.weights}
    for variable in copy.weights:
        if variable.path in merged_kernels:
            variable.assign(merged_kernels[variable.path])
        elif variable.path in values:
            variable.assign(values[variable.path])
        else:
            raise ValueError(
                f"merge_lora found no weight {variable.path!r} in the model to copy. "
                f"Received: model={model.name!r}"
            )
    return copy


def _without_lora(layer: keras.layers.Layer) -> keras.layers.Layer:
    config = layer.get_config()
    config.pop("lora_rank", None)
    config.pop("lora_alpha", None)
    return layer.__class__.from_config(config)
