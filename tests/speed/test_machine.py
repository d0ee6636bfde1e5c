"""The course's one quiet rule and the step-mode label printed beside every timing."""

import pytest

from freezelab.speed.machine import quiet_check, step_mode


def test_quiet_rule_reads_the_one_minute_load_per_core_before_the_run():
    # 0.98 on 2 cores is 0.49 per core: quiet, whatever the 5-minute value and the load after.
    check = quiet_check(
        {"load_average_before": (0.98, 3.0, 3.0), "load_average_after": (4, 4, 4)}, 2
    )
    assert check.quiet is True
    assert check.load_per_core == pytest.approx(0.49)
    assert "0.49 (1 min), 1.50 (5 min) on 2 cores" in check.line
    assert "quiet by the course's rule" in check.line and "NOT" not in check.line
    assert "5-minute load was above the bar" in check.line  # 1.50 per core
    calm = quiet_check({"load_average_before": (0.98, 1.0, 3.0)}, 2)  # 0.50 per core: at the bar
    assert "5-minute" not in calm.line
    # 1.02 on 2 cores is 0.51 per core: NOT quiet.
    busy = quiet_check({"load_average_before": (1.02, 0.1, 0.1)}, 2)
    assert busy.quiet is False and "NOT quiet" in busy.line
    # Exactly 0.5 per core still counts as quiet ("at most 0.5").
    assert quiet_check({"load_average_before": (2.0, 0, 0)}, 4).quiet is True


def test_quiet_check_takes_a_result_with_a_setup_and_says_when_no_load_is_known():
    class Result:
        def __init__(self):
            self.setup = {"load_average_before": None}

    check = quiet_check(Result(), 2)
    assert check.quiet is None and "not checked" in check.line


@pytest.mark.parametrize("bad", [{"no": 1}, 3, None])
def test_quiet_check_rejects_a_setup_without_the_load(bad):
    with pytest.raises(ValueError, match="Received"):
        quiet_check(bad, 2)


def test_quiet_check_rejects_bad_cores():
    with pytest.raises(ValueError, match="cores=0"):
        quiet_check({"load_average_before": (0.1, 0.1, 0.1)}, 0)


@pytest.mark.parametrize(
    "setup, expected",
    [
        ({"backend": "tensorflow", "jit_compile": False}, "compiled graph, no XLA"),
        ({"backend": "tensorflow", "jit_compile": True}, "XLA"),
        ({"backend": "jax", "jit_compile": True}, "XLA (JAX)"),
        ({"backend": "jax", "jit_compile": False}, "eager (JAX with jit_compile=False)"),
        ({"backend": "torch", "jit_compile": False}, "eager (PyTorch with jit_compile=False)"),
        ({"backend": "torch", "jit_compile": True}, "torch.compile"),
        (
            {"backend": "tensorflow", "jit_compile": False, "run_eagerly": True},
            "eager (run_eagerly=True)",
        ),
    ],
)
def test_step_mode_never_calls_an_eager_pytorch_step_compiled(setup, expected):
    assert step_mode(setup) == expected


def test_step_mode_rejects_a_setup_without_backend():
    with pytest.raises(ValueError, match="Received"):
        step_mode({"jit_compile": False})


def test_quiet_check_reads_a_records_cores_from_its_device_line():
    # A committed record made on 2 cores: 1.18 / 2 = 0.59 per core, NOT quiet, whatever this machine has.
    record = {
        "device": "CPU (2 threads, Intel(R) Xeon(R))",
        "load_average_before": [1.18, 1.2, 0.7],
    }
    check = quiet_check(record)
    assert check.cores == 2 and check.quiet is False
    assert check.load_per_core == pytest.approx(0.59)
    assert quiet_check({**record, "device": "CPU (16 threads, x)"}).quiet is True
