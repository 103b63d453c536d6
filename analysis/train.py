"""Training: a seeded, class-weighted fit with early stopping on the validation split.

The input pipeline streams the uint8 cache through tf.data (augmentation and the optional pixel
permutation happen there, on the fly); under another Keras backend it falls back to NumPy.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from analysis.models import augmentation


def seed_everything(seed: int) -> None:
    """Same seed, same machine -> same weights, same batches, same metrics."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def configure_threads() -> None:
    """One op at a time, each using every core: the fastest setting measured on 2 cores."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cores = os.cpu_count() or 1
        try:
            tf.config.threading.set_intra_op_parallelism_threads(cores)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised in this process; keep what it has
            pass


def class_weights(y_index: np.ndarray, n_classes: int, mode: str) -> dict[int, float]:
    """'balanced': n / (k * count) per class (scikit-learn); 'sqrt': its square root, a milder
    correction; 'none': all ones."""
    if mode == "none":
        return {i: 1.0 for i in range(n_classes)}
    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"class_weighting must be 'balanced', 'sqrt' or 'none', not {mode!r}")
    present = np.unique(y_index)
    weights = compute_class_weight("balanced", classes=present, y=y_index)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    out = {i: 1.0 for i in range(n_classes)}
    out.update({int(c): float(w) for c, w in zip(present, weights, strict=True)})
    return out


def pixel_permutation(image_size: int, seed: int = 2018) -> np.ndarray:
    """One fixed shuffle of pixel positions (the same for every image and channel)."""
    return np.random.default_rng(seed).permutation(image_size * image_size)


def permute(x: np.ndarray, perm: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h * w, c)[:, perm].reshape(n, h, w, c)


def shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate images by (dy, dx) pixels, repeating the edge into the uncovered border."""
    n, h, w, c = x.shape
    p = max(abs(dy), abs(dx))
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    return padded[:, p - dy : p - dy + h, p - dx : p - dx + w]


@dataclass
class FitResult:
    history: dict[str, list[float]]
    best_epoch: int  # 1-based, chosen on val accuracy
    epochs_run: int
    train_seconds: float
    images_per_second: float


def make_dataset(x, y, weights, batch_size, seed, augment, perm):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y, weights))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    aug = augmentation(seed or 0) if augment else None
    size = x.shape[1]

    def transform(images, labels, w):
        images = tf.cast(images, "float32")
        if aug is not None:
            images = aug(images, training=True)
        if perm is not None:
            flat = tf.reshape(images, (-1, size * size, 3))
            images = tf.reshape(tf.gather(flat, perm, axis=1), (-1, size, size, 3))
        return images, labels, w

    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def fit(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    weights: dict[int, float],
    seed: int,
    augment: bool,
    perm: np.ndarray | None = None,
    verbose: int = 2,
) -> FitResult:
    """Train with Adam and early stopping on val accuracy; the best val epoch's weights are kept.
    Labels are contiguous class indices; x are uint8 images (already permuted for val)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True
    )
    # Halve the step when val loss stalls: large steps make batch-norm statistics (and so
    # val accuracy) swing from epoch to epoch on this small, shifted data set.
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=max(1, patience // 3), min_lr=learning_rate / 32
    )
    sample_w = np.asarray([weights[int(i)] for i in y_train], dtype="float32")
    start = time.perf_counter()
    if keras.backend.backend() == "tensorflow":
        train_ds = make_dataset(x_train, y_train, sample_w, batch_size, seed, augment, perm)
        val_ds = make_dataset(
            x_val, y_val, np.ones(len(x_val), "float32"), batch_size, None, False, None
        )
        hist = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            callbacks=[stop, plateau],
            verbose=verbose,
            shuffle=False,  # the dataset shuffles itself, seeded
        )
    else:  # NumPy path for other backends (augmentation and permutation are TF-only here)
        xt = permute(x_train, perm) if perm is not None else x_train
        hist = model.fit(
            xt.astype("float32"),
            y_train,
            sample_weight=sample_w,
            validation_data=(x_val.astype("float32"), y_val),
            epochs=epochs,
            batch_size=batch_size,
            callbacks=[stop, plateau],
            verbose=verbose,
        )
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    val_acc = history.get("val_accuracy", [0.0])
    epochs_run = len(val_acc)
    return FitResult(
        history=history,
        best_epoch=int(np.argmax(val_acc)) + 1,
        epochs_run=epochs_run,
        train_seconds=seconds,
        images_per_second=len(x_train) * epochs_run / seconds,
    )


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Class probabilities for uint8 images."""
    return model.predict(x.astype("float32"), batch_size=batch_size, verbose=0)
