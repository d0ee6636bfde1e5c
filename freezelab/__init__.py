"""freezelab: learn how and why to freeze layers in transfer learning.

The top-level names are the ones lessons use most. ``import freezelab`` does
not import TensorFlow: freezing, counts, the cost model and timing run on any
Keras 3 backend (set ``KERAS_BACKEND`` to ``jax`` or ``torch`` before import).
The names of the later lessons (panel, timing, pictures, data, fine-tuning)
are imported on first use, so ``import freezelab`` stays quick.
"""

import importlib

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

# Name -> module that defines it; imported on first attribute access (PEP 562).
_LAZY = {
    "FreezePanel": "freezelab.widgets.freeze_panel",
    "freeze_panel": "freezelab.widgets.freeze_panel",
    "mask_to_text": "freezelab.mask_text",
    "mask_from_text": "freezelab.mask_text",
    "step_cost": "freezelab.cost",
    "layer_costs": "freezelab.cost",
    "memory_estimate": "freezelab.cost",
    "time_train_step": "freezelab.timing",
    "run_sweep": "freezelab.sweep",
    "predict_sweep": "freezelab.sweep",
    "sample_image": "freezelab.images",
    "sample_names": "freezelab.images",
    "feature_maps": "freezelab.activations",
    "heatmap": "freezelab.activations",
    "grad_cam": "freezelab.gradcam",
    "filter_pictures": "freezelab.ascent",
    "load_target_dataset": "freezelab.data",
    "TargetDataset": "freezelab.data",
    "load_teacher": "freezelab.teacher",
    "pretrained_base": "freezelab.teacher",
    "run_strategy": "freezelab.training",
    "Budget": "freezelab.training",
    "GradualUnfreezing": "freezelab.unfreezing",
    "UnfreezeSchedule": "freezelab.unfreezing",
    "fit_in_stages": "freezelab.unfreezing",
    "weight_drift": "freezelab.drift",
    "verify_frozen_unchanged": "freezelab.drift",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'freezelab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


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
    *_LAZY,
]
