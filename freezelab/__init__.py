"""freezelab: learn how and why to freeze layers in transfer learning.

The top-level names are the ones lessons use most. ``import freezelab`` does
not import TensorFlow: freezing, counts, the cost model and timing run on any
Keras 3 backend (set ``KERAS_BACKEND`` to ``jax`` or ``torch`` before import).
"""

from freezelab.accounting import ParamCounts, count_params, layer_table, param_report
from freezelab.compile_guard import CompileStatus, compile_status, recompile
from freezelab.freezing import (
    freeze,
    get_mask,
    select_layers,
    set_mask,
    set_trainable,
    unfreeze,
)
from freezelab.models import (
    demo_functional,
    demo_sequential,
    describe_weights,
    load_vgg16,
    weights_source,
    with_head,
)
from freezelab.pitfalls import check_pitfalls
from freezelab.settings import quick_mode

__version__ = "0.1.0"

__all__ = [
    "CompileStatus",
    "ParamCounts",
    "check_pitfalls",
    "compile_status",
    "count_params",
    "demo_functional",
    "demo_sequential",
    "describe_weights",
    "freeze",
    "get_mask",
    "layer_table",
    "load_vgg16",
    "param_report",
    "quick_mode",
    "recompile",
    "select_layers",
    "set_mask",
    "set_trainable",
    "unfreeze",
    "weights_source",
    "with_head",
]
