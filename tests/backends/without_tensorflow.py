"""A pytest plugin (``-p tests.backends.without_tensorflow``) that hides TensorFlow.

Keras imports TensorFlow whenever it is installed, whatever the backend (its
serialisation checks for ``tf.TensorShape``), so "nothing imported it" proves
little on a machine that has it. Once this module is imported, ``import
tensorflow`` fails and ``importlib.util.find_spec("tensorflow")`` is None, as
where TensorFlow is not installed (the GPU machines have JAX and PyTorch
only), so Keras and PyTorch take their no-TensorFlow paths. It is Python's
own way to block an import: ``None`` in ``sys.modules``.
"""

from __future__ import annotations

import sys

if sys.modules.get("tensorflow") is not None:
    raise RuntimeError("TensorFlow was imported before tests.backends.without_tensorflow loaded")
sys.modules["tensorflow"] = None
