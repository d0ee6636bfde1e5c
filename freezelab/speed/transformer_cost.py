"""FLOP formulas for a transformer's layers, variable by variable.

`freezelab.speed.cost` treats a layer's backward pass as two jobs (the
input gradient, the weight gradient). Inside a transformer that is too coarse:
BitFit trains a layer's bias but not its kernel, LoRA trains two small factors
beside a frozen kernel, and an attention layer's query projection can only
learn after the gradient has passed back through the output projection, the
attention weights and the softmax. So the layers here describe their backward
pass as named **pieces** (one matrix product or element-wise pass each), say
which pieces the input gradient needs, and, for each variable, which pieces
its gradient needs. A step pays the union of the pieces that the trainable
variables and (when something below trains) the input gradient need: a piece
shared by several variables is paid once.

Counting conventions (those of `freezelab.speed.cost`): a multiply-add is 2
FLOPs; an element-wise pass is one FLOP per element and operation (GELU: 5,
``0.5 * x * (1 + erf(x / sqrt(2)))``; softmax: 3); a sum over the batch (a
bias or position-table gradient) one FLOP per element summed. Formulas, for
``B`` examples of ``T`` query tokens and ``S`` key/value tokens, ``h`` heads
of ``k`` key and ``v`` value dimensions, inputs of width ``d``:

* ``MultiHeadAttention``: projections ``2·B·T·d·h·k`` (query), ``2·B·S·d·h·k``
  (key), ``2·B·S·d·h·v`` (value), ``2·B·T·h·v·d_out`` (output); scores
  ``QKᵀ`` ``2·B·h·T·S·k`` and ``weights·V`` ``2·B·h·T·S·v``; softmax
  ``3·B·h·T·S``; the query's scaling by ``1/sqrt(k)`` ``B·T·h·k``; biases one
  FLOP per output element. Backward: each projection's input gradient and
  kernel gradient cost its forward product; each of the two score products
  has two inputs and no weights, so passing the gradient through it costs
  twice its forward (one product per input); the softmax's backward 3 per
  element.
* ``Dense`` on token sequences: ``2·B·T·d_in·d_out``.
* ``LayerNormalization``: forward and input gradient 5 per element; ``gamma``
  gradient 2 per element (multiply by the normalised input, sum), ``beta`` 1.
* A position table added to the tokens: forward and input gradient 1 per
  element (as ``Add``), table gradient 1 per element (the sum over the batch).
* LoRA (Keras 3.15.1's ``enable_lora``): each call forms the adapted kernel
  ``kernel + (alpha / r) · A @ B`` (``2·K·r + 2·K`` FLOPs for a kernel of
  ``K`` scalars, whatever the batch), so the forward product is the frozen
  layer's. The factors' gradients go through the adapted kernel's gradient,
  which is the full kernel-gradient product ``2·B·T·d_in·d_out``, then
  ``2·K·r`` for each factor and ``K`` for the scale: LoRA saves optimizer
  state, not the kernel-gradient product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

#: FLOPs per element of an activation function, forward (its backward counts the same);
#: any other nonlinear activation counts 1, as in `freezelab.speed.cost`.
ACTIVATION_FLOPS = {"gelu": 5}
#: FLOPs per element of a softmax (as `freezelab.speed.cost` counts the Softmax layer).
SOFTMAX_FLOPS = 3


@dataclass(frozen=True)
class WeightPart:
    """One variable of a layer and the backward pieces its gradient needs.

    Attributes:
        name: The variable's path inside the layer, e.g. ``"kernel"``,
            ``"query/bias"`` or ``"value/lora_kernel_a"``.
        params: Scalars in the variable.
        needs: Names of the layer's backward pieces (see `LayerFormula`) that
            computing this variable's gradient requires, its own included.
    """

    name: str
    params: int
    needs: tuple[str, ...]


@dataclass(frozen=True)
class LayerFormula:
    """A layer's forward FLOPs and its backward pass as named pieces.

    Attributes:
        forward_flops: Forward pass for the batch.
        macs: Multiply-adds of the layer's products for the batch.
        pieces: Backward piece name to FLOPs, e.g. ``"kernel_grad"``.
        input_needs: The pieces the gradient with respect to the layer's
            input requires.
        parts: One `WeightPart` per variable that can train.
    """

    forward_flops: int
    macs: int
    pieces: dict[str, int]
    input_needs: tuple[str, ...]
    parts: tuple[WeightPart, ...]

    @property
    def input_grad_flops(self) -> int:
        """FLOPs of the input gradient (the union of `input_needs`)."""
        return sum(self.pieces[name] for name in set(self.input_needs))

    def weight_grad_flops(self, trained: set[str] | None = None, with_input: bool = False) -> int:
        """FLOPs of the gradients of the ``trained`` variables (all when None).

        Args:
            trained: Names of the variables that train; None for all.
            with_input: Whether the input gradient is computed too; its
                pieces are then not counted here again.

        Returns:
            The FLOPs of the pieces the trained variables need beyond those.
        """
        needed: set[str] = set()
        for part in self.parts:
            if trained is None or part.name in trained:
                needed.update(part.needs)
        if with_input:
            needed -= set(self.input_needs)
        return sum(self.pieces[name] for name in needed)


def activation_flops(layer: keras.layers.Layer) -> int:
    """FLOPs per element of ``layer``'s activation: 0 for none or linear, else `ACTIVATION_FLOPS`."""
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "") if activation is not None else "linear"
    if name == "linear":
        return 0
    return ACTIVATION_FLOPS.get(name, 1)


def dense_formula(layer, out_elements: int, macs: int) -> LayerFormula:
    """A Dense or convolution layer: one product, bias, LoRA factors when enabled.

    Args:
        layer: The layer (``Dense``, ``EinsumDense`` or a convolution).
        out_elements: Output elements for the batch.
        macs: Multiply-adds of its product for the batch.

    Returns:
        Its `LayerFormula` (without the fused activation, which
        `freezelab.speed.cost` counts apart).
    """
    pieces = {"input_grad": 2 * macs, "kernel_grad": 2 * macs}
    parts = [WeightPart("kernel", _size(_raw_kernel(layer)), ("kernel_grad",))]
    forward = 2 * macs
    bias = getattr(layer, "bias", None)
    if bias is not None:
        pieces["bias_grad"] = out_elements
        parts.append(WeightPart("bias", _size(bias), ("bias_grad",)))
    forward += _lora(layer, "", pieces, parts)
    return LayerFormula(forward, macs, pieces, ("input_grad",), tuple(parts))


def layer_norm_formula(layer, out_elements: int) -> LayerFormula:
    """LayerNormalization: 5 FLOPs per element forward and back; gamma 2, beta 1."""
    pieces = {"input_grad": 5 * out_elements}
    parts = []
    for name, per_element in (("gamma", 2), ("beta", 1)):
        variable = getattr(layer, name, None)
        if variable is not None:
            pieces[f"{name}_grad"] = per_element * out_elements
            parts.append(WeightPart(name, _size(variable), (f"{name}_grad",)))
    return LayerFormula(5 * out_elements, 0, pieces, ("input_grad",), tuple(parts))


def added_table_formula(layer, out_elements: int) -> LayerFormula:
    """A layer adding one learned table to its input (a position embedding)."""
    parts = tuple(
        WeightPart(_relative_name(layer, v), _size(v), ("table_grad",)) for v in layer.weights
    )
    pieces = {"input_grad": out_elements, "table_grad": out_elements}
    return LayerFormula(out_elements, 0, pieces, ("input_grad",), parts)


def is_added_table(layer) -> bool:
    """Whether ``layer`` adds its single weight to its input (output shape = input shape)."""
    if len(layer.weights) != 1:
        return False
    try:
        same = tuple(layer.input.shape) == tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return False
    table = tuple(layer.weights[0].shape)
    return same and table == tuple(layer.output.shape)[-len(table) :]


def attention_formula(layer: keras.layers.MultiHeadAttention, batch_size: int) -> LayerFormula:
    """MultiHeadAttention: four projections, two score products, softmax (module docstring).

    Args:
        layer: A built, called ``MultiHeadAttention`` layer.
        batch_size: Examples in the batch.

    Returns:
        Its `LayerFormula`; variables are named ``"query/kernel"``,
        ``"attention_output/bias"``, ``"value/lora_kernel_a"``…
    """
    inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    query_in, value_in = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
    key_in = inputs[2] if len(inputs) > 2 else value_in
    b = batch_size
    t, s = int(query_in.shape[1]), int(value_in.shape[1])
    h, k = (int(d) for d in _raw_kernel(layer.query_dense).shape[-2:])
    v = int(_raw_kernel(layer.value_dense).shape[-1])
    d_out = int(layer.output.shape[-1])
    products = {
        "query": b * t * int(query_in.shape[-1]) * h * k,
        "key": b * s * int(key_in.shape[-1]) * h * k,
        "value": b * s * int(value_in.shape[-1]) * h * v,
        "output": b * t * h * v * d_out,
    }
    outputs = {"query": b * t * h * k, "key": b * s * h * k, "value": b * s * h * v}
    outputs["output"] = b * t * d_out
    scores = b * h * t * s * k
    mix = b * h * t * s * v
    weights_elements = b * h * t * s
    forward = 2 * (sum(products.values()) + scores + mix)
    forward += SOFTMAX_FLOPS * weights_elements + outputs["query"]  # + scaling
    pieces = {
        "mix_weights_grad": 2 * mix,
        "mix_value_grad": 2 * mix,
        "softmax_grad": SOFTMAX_FLOPS * weights_elements,
        "scores_query_grad": 2 * scores,
        "scores_key_grad": 2 * scores,
        "scale_grad": outputs["query"],
    }
    to_weights = ("output/input_grad", "mix_weights_grad", "softmax_grad")
    paths = {
        "output": (),
        "value": ("output/input_grad", "mix_value_grad"),
        "query": (*to_weights, "scores_query_grad", "scale_grad"),
        "key": (*to_weights, "scores_key_grad"),
    }
    sublayers = {
        "query": layer.query_dense,
        "key": layer.key_dense,
        "value": layer.value_dense,
        "output": layer.output_dense,
    }
    parts: list[WeightPart] = []
    input_needs: list[str] = list(pieces)
    for role, dense in sublayers.items():
        prefix = dense.name
        pieces[f"{prefix}/input_grad"] = 2 * products[role]
        pieces[f"{prefix}/kernel_grad"] = 2 * products[role]
        if role != "output":
            input_needs.append(f"{prefix}/input_grad")
        parts.append(
            WeightPart(
                f"{prefix}/kernel",
                _size(_raw_kernel(dense)),
                (*_renamed(paths[role], layer), f"{prefix}/kernel_grad"),
            )
        )
        if dense.bias is not None:
            forward += outputs[role]
            pieces[f"{prefix}/bias_grad"] = outputs[role]
            parts.append(
                WeightPart(
                    f"{prefix}/bias",
                    _size(dense.bias),
                    (*_renamed(paths[role], layer), f"{prefix}/bias_grad"),
                )
            )
        path = (*_renamed(paths[role], layer), f"{prefix}/kernel_grad")
        forward += _lora(dense, f"{prefix}/", pieces, parts, path)
    input_needs.append(f"{layer.output_dense.name}/input_grad")
    macs = sum(products.values()) + scores + mix
    return LayerFormula(forward, macs, pieces, tuple(input_needs), tuple(parts))


def _renamed(names: tuple[str, ...], layer) -> tuple[str, ...]:
    return tuple(
        name.replace("output/", f"{layer.output_dense.name}/", 1)
        if name.startswith("output/")
        else name
        for name in names
    )


def _lora(dense, prefix: str, pieces: dict, parts: list, path: tuple[str, ...] = ()) -> int:
    """Adds a LoRA-enabled layer's factor pieces and parts; returns their forward FLOPs."""
    if not getattr(dense, "lora_enabled", False):
        return 0
    kernel = _size(_raw_kernel(dense))
    rank = int(dense.lora_rank)
    kernel_grad = path or (f"{prefix}kernel_grad",)
    pieces[f"{prefix}lora_scale_grad"] = kernel
    for factor in ("a", "b"):
        pieces[f"{prefix}lora_{factor}_grad"] = 2 * kernel * rank
        variable = getattr(dense, f"lora_kernel_{factor}")
        needs = (*kernel_grad, f"{prefix}lora_scale_grad", f"{prefix}lora_{factor}_grad")
        parts.append(WeightPart(f"{prefix}lora_kernel_{factor}", _size(variable), needs))
    return 2 * kernel * rank + 2 * kernel  # A @ B, the scaling and the addition


def _raw_kernel(layer):
    # With LoRA, `layer.kernel` is the adapted kernel (a tensor); `_kernel` is the variable.
    kernel = getattr(layer, "_kernel", None)
    return layer.kernel if kernel is None else kernel


def _relative_name(layer, variable) -> str:
    """The variable's path inside ``layer``: ``"query/kernel"`` for ``block1_attention/query/kernel``."""
    path = getattr(variable, "path", variable.name)
    marker = f"{layer.name}/"
    index = path.rfind(marker)
    return path[index + len(marker) :] if index >= 0 else variable.name


def relative_name(layer, variable) -> str:
    """The variable's path inside ``layer``, the name `WeightPart.name` uses.

    Args:
        layer: The layer holding ``variable``.
        variable: One of its variables.

    Returns:
        E.g. ``"query/kernel"`` for ``block1_attention/query/kernel``.
    """
    return _relative_name(layer, variable)


def _size(variable) -> int:
    return math.prod(int(d) for d in variable.shape)
