"""A gradient with the backend's automatic differentiation (TensorFlow or JAX), for the figures
that read one from a trained network: Grad-CAM (analysis.figures.learned_maps) and the effective
receptive field (analysis.figures.receptive)."""

from __future__ import annotations

import numpy as np


class BackendError(ValueError):
    """A Keras backend without automatic differentiation here."""


def gradient(total, x: np.ndarray) -> np.ndarray:
    """d total(x) / dx as a NumPy array, where `total` maps a batch to a scalar tensor."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = total(x)
        return tape.gradient(value, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(total)(jax.numpy.asarray(x)))
    raise BackendError(f"the tensorflow or jax backend, not {backend}")
