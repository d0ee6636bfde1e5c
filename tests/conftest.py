import keras
import pytest

from freezelab.core.models import demo_functional, demo_sequential, load_vgg16, with_head


@pytest.fixture
def sequential():
    return demo_sequential()


@pytest.fixture
def functional():
    return demo_functional()


@pytest.fixture
def vgg_flat():
    """VGG16 (224, untrained) flattened under Flatten/Dense(128)/Dense(10)."""
    base = load_vgg16(weights=None, input_size=224, verbose=False)
    return with_head(base, (128, 10))


@pytest.fixture
def vgg_nested():
    """VGG16 (224, untrained) nested as one layer under Flatten/Dense(256)/Dense(10)."""
    base = load_vgg16(weights=None, input_size=224, verbose=False)
    return with_head(base, (256, 10), nested=True)


@pytest.fixture
def small_vgg_flat():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    return with_head(base, (16, 3))


@pytest.fixture(autouse=True)
def _clear_keras_session():
    """Resets Keras's global state after each test, without a full garbage collection.

    ``clear_session()`` calls ``gc.collect()`` by default, which took three quarters of the
    run time of tests/widgets, tests/plotting and tests/vis (101 s against 25 s without it,
    measured side by side on the 2-core machine); Python's own collector still runs.
    """
    yield
    keras.backend.clear_session(free_memory=False)
