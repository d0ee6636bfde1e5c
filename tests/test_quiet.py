"""Tests for freezelab._quiet: TensorFlow's start-up notices go, real messages stay."""

import os
import subprocess
import sys
import textwrap

import freezelab._quiet
from freezelab._quiet import startup_noise

QUIET = freezelab._quiet.__file__

REAL_NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796161171.945536    4389 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796161171.946104    4389 cudart_stub.cc:31] Could not find cuda drivers",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild",
    "E0000 00:00:1796161719.206598    7254 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
]


def test_known_startup_lines_are_noise_and_others_are_not():
    assert all(startup_noise(line) for line in REAL_NOISE)
    assert not startup_noise("E0000 00:00:17.1  7254 bfc_allocator.cc:1] Out of memory")
    assert not startup_noise("UserWarning: something the learner should see")


def test_import_keeps_real_stderr_lines_and_drops_the_notices(tmp_path):
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        textwrap.dedent(
            """
            import os
            os.write(2, b"I0000 00:00:1.5 12 port.cc:153] oneDNN custom operations are on.\\n")
            os.write(2, b"a real warning from the library\\n")

            class config:
                @staticmethod
                def list_physical_devices(kind):
                    os.write(2, b"E0000 00:00:2.5 12 cuda_platform.cc:52] failed call to cuInit\\n")
                    return []
            """
        )
    )
    # Load the module from its file: importing the package would import Keras as well.
    code = (
        "import importlib.util as u; "
        f"s = u.spec_from_file_location('quiet', {QUIET!r}); m = u.module_from_spec(s); "
        "s.loader.exec_module(m); print(m.import_tensorflow_quietly())"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.stdout.strip() == "True"
    assert done.stderr == "a real warning from the library\n"


def test_import_freezelab_prints_no_tensorflow_notices():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "tensorflow"
    done = subprocess.run(
        [sys.executable, "-c", "import freezelab as fl; fl.demo_sequential()"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line for line in done.stderr.splitlines() if startup_noise(line)] == []


def test_expected_retracing_hides_only_the_retracing_warning(caplog):
    import logging

    from freezelab._quiet import expected_retracing

    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        with expected_retracing():
            logger.warning("5 out of the last 5 calls to <f> triggered tf.function retracing.")
            logger.warning("something else")
        logger.warning("after: triggered tf.function retracing")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["something else", "after: triggered tf.function retracing"]
