# ruff: noqa: E402 - TensorFlow must be imported quietly before the rest loads Keras.
"""freezelab: learn how and why to freeze layers in transfer learning.

Lessons and learners use one import and the names it exports::

    import freezelab as fl

    base = fl.load_vgg16(weights="auto", input_size=224)
    model = fl.with_head(base, head_units=(128, 10))
    fl.freeze(model, up_to="block3_pool")

The package is grouped by the course's parts: `freezelab.core` (layers,
freezing, counts, the recompile guard, pitfalls, models), `freezelab.speed`
(the cost model, timing, sweeps, the panel's readouts), `freezelab.vis`
(photos, activations, Grad-CAM, gradient ascent, kernel pictures),
`freezelab.sources` (the offline datasets, the source task, the teachers),
`freezelab.finetune` (strategies, unfreezing, drift, BatchNorm, PEFT
comparisons), and on top of them `freezelab.widgets` and
`freezelab.plotting`. The names of `freezelab.core` are imported at once;
the others on first use, so ``import freezelab`` stays quick.

Backends: with TensorFlow, Keras's default backend, ``import freezelab``
imports TensorFlow at once (quietly, before Keras does). With
``KERAS_BACKEND=jax`` or ``torch`` freezelab imports no TensorFlow and needs
none installed (tests/test_readme.py and tests/backends/ check both).
"""

import importlib

from freezelab._quiet import import_tensorflow_quietly

import_tensorflow_quietly()  # Before Keras loads TensorFlow: no start-up notices in lessons.

from freezelab.core.accounting import count_params, param_report
from freezelab.core.compile_guard import compile_status, recompile
from freezelab.core.fit_guard import StaleCompileError, guard
from freezelab.core.freezing import (
    freeze,
    get_mask,
    select_layers,
    set_mask,
    unfreeze,
)
from freezelab.core.mask_text import mask_from_text, mask_to_text
from freezelab.core.models import (
    demo_functional,
    demo_sequential,
    describe_weights,
    load_vgg16,
    weights_source,
    with_head,
)
from freezelab.core.pitfalls import check_pitfalls
from freezelab.settings import pick, quick_mode

__version__ = "0.1.0"

# Module -> the names it exports; imported on first attribute access (PEP 562).
_LAZY_MODULES = {
    "freezelab.speed.cost": ("block_shares", "layer_costs", "memory_estimate", "step_cost"),
    "freezelab.speed.timing": ("describe_device", "time_train_step"),
    "freezelab.speed.strategy_timing": ("time_strategies",),
    "freezelab.speed.sweep": ("predict_sweep", "run_sweep", "standard_cases"),
    "freezelab.speed.machine": ("quiet_check", "step_mode"),
    "freezelab.speed.claims": ("check_against_record", "record_statuses"),
    "freezelab.speed.coverage": ("prediction_coverage",),
    "freezelab.speed.floor_gap": ("floor_gap",),
    "freezelab.speed.summary": ("StepNumbers", "step_summary"),
    "freezelab.speed.probes": ("features_model",),
    "freezelab.speed.records": (
        "agreement_table",
        "matching_record",
        "record_times",
        "timing_records",
    ),
    "freezelab.verdicts": ("fewest_to_show", "paired_verdict", "sign_test_chance"),
    "freezelab.verdict_log": ("VerdictLog",),
    "freezelab.exercises": ("check_exercise",),
    "freezelab.vis.images": ("from_caffe", "sample_image", "to_caffe"),
    "freezelab.vis.activations": ("feature_maps", "heatmap", "overlay", "peak_location"),
    "freezelab.vis.gradcam": ("grad_cam",),
    "freezelab.vis.receptive_field": ("receptive_field",),
    "freezelab.vis.rank_test": ("rank_sum_test",),
    "freezelab.vis.chance": ("hits_verdict", "holm", "monte_carlo_chance"),
    "freezelab.vis.ascent": (
        "chroma_share",
        "filter_activation",
        "filter_pictures",
        "high_frequency_share",
        "start_pictures",
    ),
    "freezelab.vis.kernels": ("kernel_pictures", "kernel_stats"),
    "freezelab.sources.data": ("count_overlaps", "load_target_dataset"),
    "freezelab.sources.scenes": (
        "make_pair_scene",
        "make_scenes",
        "object_check",
    ),
    "freezelab.sources.source_task": ("make_source_images",),
    "freezelab.sources.teacher": ("load_teacher", "pretrained_base", "source_accuracy"),
    "freezelab.finetune.strategies": (
        "STRATEGIES",
        "Budget",
        "base_factory",
        "build_classifier",
        "forgotten_recompile_demo",
        "format_summary",
        "preprocess_images",
        "run_strategy",
        "subset_per_class",
    ),
    "freezelab.finetune.unfreezing": (
        "GradualUnfreezing",
        "UnfreezeSchedule",
        "fit_in_stages",
        "fit_recording_warnings",
    ),
    "freezelab.finetune.drift": (
        "drift_by_block",
        "snapshot_weights",
        "verify_frozen_unchanged",
        "weight_drift",
    ),
    "freezelab.finetune.seeds": ("compare_over_seeds", "strategies_over_seeds"),
    "freezelab.finetune.head_first": ("head_first_over_seeds", "train_head_until_flat"),
    "freezelab.finetune.head_damage": ("head_start_damage",),
    "freezelab.sources.shape_task": ("load_shape_dataset",),
    "freezelab.sources.stripe_task": ("load_stripe_dataset",),
    "freezelab.sources.vit": ("load_vit_teacher",),
    "freezelab.core.peft": ("apply_strategy", "merge_lora", "peft_line"),
    "freezelab.speed.memory_breakdown": ("kept_activations_by_layer", "memory_breakdown"),
    "freezelab.finetune.peft_compare": ("PeftArm", "compare_peft_strategies", "merge_gap"),
    "freezelab.sources.bn_teacher": ("bn_source_images", "load_bn_teacher"),
    "freezelab.finetune.batchnorm": (
        "bn_change",
        "bn_counts",
        "bn_input_shift",
        "bn_snapshot",
        "freeze_bn",
        "reestimate_bn_statistics",
        "training_inference_gap",
    ),
    "freezelab.finetune.bn_finetune": ("compare_arms",),
    "freezelab.finetune.bn_record": ("bn_record_report", "load_bn_record"),
    "freezelab.finetune.bn_verdicts": ("accuracy_both_ways", "both_ways_line", "holm_both_ways"),
    "freezelab.widgets.freeze_panel": ("freeze_panel",),
    "freezelab.widgets.feature_views": ("filter_grid_view", "heatmap_view"),
    "freezelab.widgets.app": ("freeze_lab_app",),
    "freezelab.plotting.panel": ("plot_backward_map", "plot_block_params"),
    "freezelab.plotting.timing": (
        "plot_block_shares",
        "plot_measured_vs_predicted",
        "plot_prediction_errors",
    ),
    "freezelab.plotting.features": (
        "plot_feature_maps",
        "plot_heatmap",
        "plot_image_grid",
        "plot_source_task",
    ),
    "freezelab.plotting.training": ("plot_drift", "plot_filters_before_after", "plot_histories"),
    "freezelab.plotting.bn_arms": ("plot_arms_by_step", "plot_bn_record", "plot_paired_arms"),
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'freezelab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "StaleCompileError",
    "check_pitfalls",
    "compile_status",
    "count_params",
    "demo_functional",
    "demo_sequential",
    "describe_weights",
    "freeze",
    "get_mask",
    "guard",
    "load_vgg16",
    "mask_from_text",
    "mask_to_text",
    "param_report",
    "pick",
    "quick_mode",
    "recompile",
    "select_layers",
    "set_mask",
    "unfreeze",
    "weights_source",
    "with_head",
    *_LAZY,
]
