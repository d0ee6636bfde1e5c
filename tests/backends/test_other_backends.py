"""The backend-portable parts of freezelab, tested again on JAX and on PyTorch.

The whole suite runs on TensorFlow, the default backend. Keras picks its
backend once, at import, so each other backend gets its own pytest run in a
subprocess with ``KERAS_BACKEND`` set: the tests below (`PORTABLE`) are the
existing tests of freezing, parameter counts, the recompile guard, the cost
model, step timing, input gradients and gradient ascent, run where TensorFlow
cannot be imported (as on a GPU machine without it), chosen so that each
idea runs on each backend and the two runs stay within about three minutes on
two cores. Checks that are pure Python (argument validation, text) are not
repeated: the backend cannot change them. `test_what_differs.py` runs in the
same subprocess and holds what behaves differently from TensorFlow.

`TENSORFLOW_ONLY` names the existing tests that state TensorFlow's own
behaviour, with the reason they are not run elsewhere; README's "Backends"
section lists the same differences (tests/test_readme.py keeps them in step).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from freezelab.settings import in_ci

ROOT = Path(__file__).resolve().parents[2]
BACKEND_CHECKS = "tests/backends/test_what_differs.py"
WITHOUT_TF = "tests.backends.without_tensorflow"  # a plugin: `import tensorflow` fails
QUICK_XLA = "--xla_backend_optimization_level=0"

PORTABLE = {
    "tests/core/test_freezing.py": [
        "test_get_mask_agrees_with_keras_trainable_weights",
        "test_unfreeze_inside_frozen_nested_base_keeps_others_frozen",
    ],
    "tests/core/test_accounting.py": [
        "test_sequential_first_dense_frozen_matches_keras",
        "test_functional_middle_dense_frozen_matches_keras",
        "test_vgg_nested_base_frozen_matches_keras",
        "test_batchnorm_moving_statistics_are_non_trainable",
    ],
    "tests/core/test_compile_guard.py": [
        "test_not_compiled_is_not_a_trap",
        "test_unfreeze_after_fit_needs_fresh_optimizer",
        "test_change_before_first_fit_is_reported_but_not_yet_built",
    ],
    "tests/speed/test_cost.py": [
        "test_layer_costs_by_hand_on_a_tiny_model",
        "test_frozen_layer_above_a_trainable_one_keeps_its_input_gradient",
        "test_memory_estimate_against_keras_and_a_built_adam",
        "test_prefix_saves_more_than_the_same_block_frozen_alone",
    ],
    "tests/speed/test_timing.py": [
        "test_mask_is_compiled_in_with_a_fresh_optimizer",
        "test_model_is_left_as_it_was",
        "test_interleaved_timing_gives_each_mask_its_own_compiled_copy",
        "test_forward_timing_runs_no_training",
        "test_describe_device_names_the_cpu_here",
    ],
    "tests/vis/test_gradients.py": [
        "test_dense_gradient_is_the_weight_column",
        "test_extra_arrays_reach_the_loss",
        "test_image_input_through_a_one_by_one_convolution",
        "test_multi_output_model_gets_a_list_of_outputs",
        "test_model_runs_in_inference_mode",
        "test_new_weights_are_read_at_every_call",
    ],
    "tests/vis/test_gradcam.py": [
        "test_channel_weights_equal_hand_derived_gradients",
        "test_a_softmax_classifier_is_explained_by_its_logit",
        "test_a_second_call_sees_weights_changed_since_the_first",
    ],
    "tests/vis/test_ascent.py": [
        "test_vertical_edge_filter_draws_vertical_stripes",
        "test_ascent_raises_each_target_activation_at_least_tenfold",
        "test_one_at_a_time_equals_batched",
        "test_caffe_gradient_is_taken_in_rgb_order",
    ],
    "tests/vis/test_filter_target.py": [
        "test_chosen_filters_give_the_whole_layers_gradient_and_activation",
        "test_weights_changed_after_building_are_read",
    ],
    "tests/finetune/test_unfreezing.py": [
        "test_fit_in_stages_follows_the_same_schedule",
    ],
}

TENSORFLOW_ONLY = {
    "tests/core/test_compile_guard.py::test_change_after_fit_is_detected_and_really_ignored_by_keras": (
        "the silent recompile trap is TensorFlow's: on jax the next fit() fails, on torch the "
        "new flags take effect (test_what_differs.py checks both)"
    ),
    "tests/speed/test_timing.py::test_reports_median_spread_and_the_setup_honestly": (
        "asserts the backend's name is tensorflow"
    ),
    "tests/speed/test_timing.py::test_out_of_memory_gives_a_clear_message_with_the_batch_size": (
        "raises TensorFlow's own error class (test_what_differs.py raises this backend's)"
    ),
    "tests/finetune/test_unfreezing.py::test_callback_unfreezes_on_schedule_and_recompiles_each_stage": (
        "GradualUnfreezing recompiles inside one fit(), which only TensorFlow honours; elsewhere "
        "it refuses with a clear error (test_what_differs.py)"
    ),
}


def node_ids() -> list[str]:
    """The pytest node ids of `PORTABLE`, then the backend checks."""
    ids = [f"{module}::{name}" for module, names in PORTABLE.items() for name in names]
    return [*ids, BACKEND_CHECKS]


def run_on_backend(backend: str) -> tuple[subprocess.CompletedProcess, float]:
    """Runs `node_ids` under ``KERAS_BACKEND=backend``; returns the run and its seconds."""
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "FREEZELAB_QUICK": "1",
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
        # JAX compiles every new shape and step with XLA; these tests check values, not
        # speed, and unoptimised compiles build VGG16 about 3x faster (24 s -> 7 s here).
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {QUICK_XLA}".strip(),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", WITHOUT_TF, *node_ids()]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return done, time.monotonic() - started


def outcome_counts(output: str) -> dict[str, int]:
    """Counts from pytest's closing line, e.g. ``{"passed": 38, "skipped": 1}``."""
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    if not lines:
        return {}
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", lines[-1])}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_portable_tests_pass_on(backend):
    if importlib.util.find_spec(backend) is None:
        if in_ci():
            pytest.fail(f"{backend} is not installed; the test extra installs it")
        pytest.skip(f"{backend} is not installed (pip install -e '.[test]')")
    done, seconds = run_on_backend(backend)
    output = done.stdout + done.stderr
    counts = outcome_counts(done.stdout)
    print(f"KERAS_BACKEND={backend}: {counts} in {seconds:.0f} s")
    assert done.returncode == 0, output[-4000:]
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0, output[-4000:]
    # Every chosen test ran (parametrised ones count once or more): nothing was skipped.
    chosen = sum(len(names) for names in PORTABLE.values())
    assert counts.get("passed", 0) >= chosen, output[-4000:]
    assert counts.get("skipped", 0) == 0, output[-4000:]


def test_selection_names_tests_that_exist():
    # A renamed test would otherwise vanish from the other backends' runs.
    for module, names in PORTABLE.items():
        source = (ROOT / module).read_text()
        for name in names:
            assert re.search(rf"^def {name}\(", source, re.M), f"{module}::{name} not found"
    for node in TENSORFLOW_ONLY:
        module, name = node.split("::")
        assert re.search(rf"^def {name}\(", (ROOT / module).read_text(), re.M), node
        assert name not in PORTABLE.get(module, [])


def test_outcome_counts_reads_pytests_closing_line():
    assert outcome_counts("...\n3 passed, 1 skipped in 2.0s\n") == {"passed": 3, "skipped": 1}
    assert outcome_counts("1 failed, 2 passed, 1 error in 9s") == {
        "failed": 1,
        "passed": 2,
        "error": 1,
    }
    assert outcome_counts("no tests ran in 0.1s") == {}
