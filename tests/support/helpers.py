"""Independent truths the tests compare freezelab against."""

import numpy as np


def keras_counts(model):
    """Trainable and non-trainable parameter counts from Keras's own weight lists."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return trainable, non_trainable
