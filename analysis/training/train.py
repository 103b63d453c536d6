"""Training: the study's recipe, one seed at a time.

The recipe (chosen on val, see plan.yaml's `recipe` group and the "Training recipe" page):
AdamW with a linear warm-up and a cosine decay to zero, label smoothing, capped class weights,
augmentation in the input pipeline, and the epoch kept by a val metric (`SELECTION_METRIC`).
A run ends when its schedule has decayed to zero or when val has not improved for `patience`
epochs; `FitResult.stop_reason` says which, and whether val had plateaued by then.

The input pipeline streams the uint8 cache through tf.data under the TensorFlow backend
(augmentation and the optional pixel permutation happen there, on the fly). Under another
Keras backend (JAX on a GPU) a `keras.utils.PyDataset` does the same with the same layers.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from analysis.models.networks import augmentation
from analysis.stats import evaluate

# Val is 38 % "wheel": plain val accuracy rewards predicting the majority. Macro-F1 weighs every
# class alike and, unlike balanced accuracy, also charges a model for over-predicting a class.
SELECTION_METRIC = "val_macro_f1"

STOP_REASONS = ("schedule_end", "early_stopping")


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


def class_weights(
    y_index: np.ndarray, n_classes: int, mode: str, cap: float = 0.0
) -> dict[int, float]:
    """'balanced': n / (k * count) per class (scikit-learn); 'sqrt': its square root, a milder
    correction; 'none': all ones. `cap` > 0 limits any weight to `cap`: a class with two
    training images would otherwise weigh ~70 times a common one, and its few images dominate
    the gradient of every batch they are in."""
    if mode == "none":
        return {i: 1.0 for i in range(n_classes)}
    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"class_weighting must be 'balanced', 'sqrt' or 'none', not {mode!r}")
    present = np.unique(y_index)
    weights = compute_class_weight("balanced", classes=present, y=y_index)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    if cap > 0:
        weights = np.minimum(weights, cap)
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


@dataclass(frozen=True)
class Recipe:
    """How a model is trained; every field is a parameter of the model notebook."""

    epochs: int
    batch_size: int = 32
    learning_rate: float = 1e-3  # the peak, reached at the end of the warm-up
    warmup_epochs: int = 2
    schedule: str = "cosine"  # cosine decay to zero, or "constant"
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    class_weighting: str = "sqrt"
    class_weight_cap: float = 10.0
    augment: str = "standard"
    patience: int = 0  # 0: no early stopping, the decaying schedule ends the run

    @classmethod
    def from_params(cls, p: dict) -> Recipe:
        fields = cls.__dataclass_fields__
        return cls(**{k: p[k] for k in fields if k in p})

    def optimizer(self, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', not {self.schedule!r}")
        lr: float | keras.optimizers.schedules.LearningRateSchedule = self.learning_rate
        if self.schedule == "cosine":
            warmup = min(self.warmup_epochs, self.epochs - 1) * steps_per_epoch
            lr = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0 if warmup else self.learning_rate,
                decay_steps=max(1, self.epochs * steps_per_epoch - warmup),
                alpha=0.0,
                warmup_target=self.learning_rate if warmup else None,
                warmup_steps=warmup,
            )
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=self.weight_decay)


@dataclass
class FitResult:
    history: dict[str, list[float]]
    best_epoch: int  # 1-based, chosen on SELECTION_METRIC
    epochs_run: int
    stop_reason: str  # one of STOP_REASONS
    plateaued: bool  # the last quarter's mean val gained < PLATEAU_GAIN on the best before it
    train_seconds: float
    images_per_second: float


PLATEAU_GAIN = 0.01


def plateaued(values: list[float], gain: float = PLATEAU_GAIN) -> bool:
    """True when the last quarter of epochs (at least 2) scores on average less than `gain` above
    the best epoch before it: the curve has flattened, so more epochs of the same schedule would
    not have helped much. The mean, not the best, of the last quarter: near the end of the
    schedule val macro-F1 still moves about ±0.01 between epochs, so one lucky epoch must not
    decide it; a curve that still rises keeps its mean above the earlier best."""
    tail = max(2, len(values) // 4)
    if len(values) <= tail:
        return False
    return sum(values[-tail:]) / tail - max(values[:-tail]) < gain


class ValSelection(keras.callbacks.Callback):
    """Scores val after every epoch in inference mode (accuracy, macro-F1, balanced accuracy,
    loss), keeps the weights of the best epoch on SELECTION_METRIC, restores them at the end,
    and stops early after `patience` epochs without improvement (0: never)."""

    def __init__(self, predict_val, y_val: np.ndarray, patience: int):
        super().__init__()
        self.predict_val, self.y_val, self.patience = predict_val, np.asarray(y_val), patience
        self.best, self.best_epoch, self.best_weights = -math.inf, 0, None
        self.stopped_early = False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        probs = self.predict_val()
        pred = probs.argmax(axis=1)
        s = evaluate.scores(self.y_val, pred)
        p_true = np.clip(probs[np.arange(len(pred)), self.y_val], 1e-7, 1.0)
        logs.update(
            val_loss=float(-np.mean(np.log(p_true))),
            val_accuracy=s["accuracy"],
            val_macro_f1=s["macro_f1"],
            val_balanced_accuracy=s["balanced_accuracy"],
        )
        lr = self.model.optimizer.learning_rate
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))
        if logs[SELECTION_METRIC] > self.best:
            self.best, self.best_epoch = logs[SELECTION_METRIC], epoch + 1
            self.best_weights = self.model.get_weights()
        elif self.patience and epoch + 1 - self.best_epoch >= self.patience:
            self.stopped_early = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def make_dataset(x, y_onehot, weights, batch_size, seed, augment, perm):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y_onehot, weights))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    aug = augmentation(seed or 0, augment)
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


class ArrayBatches(keras.utils.PyDataset):
    """The tf.data pipeline's twin for other backends: shuffled, augmented, permuted batches."""

    def __init__(self, x, y_onehot, weights, batch_size, seed, augment, perm):
        super().__init__()
        self.x, self.y, self.w, self.batch_size, self.perm = x, y_onehot, weights, batch_size, perm
        self.rng = np.random.default_rng(seed)
        self.aug = augmentation(seed, augment)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        images = self.x[idx].astype("float32")
        if self.aug is not None:
            images = keras.ops.convert_to_numpy(self.aug(images, training=True))
        if self.perm is not None:
            images = permute(images, self.perm)
        return images, self.y[idx], self.w[idx]


def fit(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    recipe: Recipe,
    weights: dict[int, float],
    seed: int,
    perm: np.ndarray | None = None,
    verbose: int = 2,
) -> FitResult:
    """Train `model` by `recipe`; the best val epoch's weights are kept. Labels are contiguous
    class indices; x are uint8 images (val already permuted when `perm` is given)."""
    n_classes = model.output_shape[-1]
    steps = math.ceil(len(x_train) / recipe.batch_size)
    model.compile(
        optimizer=recipe.optimizer(steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],  # unweighted, on augmented batches with dropout on
    )
    y_onehot = np.eye(n_classes, dtype="float32")[y_train]
    sample_w = np.asarray([weights[int(i)] for i in y_train], dtype="float32")
    select = ValSelection(lambda: predict(model, x_val), y_val, recipe.patience)
    if keras.backend.backend() == "tensorflow":
        batches = make_dataset(
            x_train, y_onehot, sample_w, recipe.batch_size, seed, recipe.augment, perm
        )
    else:
        batches = ArrayBatches(
            x_train, y_onehot, sample_w, recipe.batch_size, seed, recipe.augment, perm
        )
    start = time.perf_counter()
    hist = model.fit(
        batches, epochs=recipe.epochs, callbacks=[select], verbose=verbose, shuffle=False
    )
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    epochs_run = len(history["loss"])
    return FitResult(
        history=history,
        best_epoch=select.best_epoch,
        epochs_run=epochs_run,
        stop_reason="early_stopping" if select.stopped_early else "schedule_end",
        plateaued=plateaued(history[SELECTION_METRIC]),
        train_seconds=seconds,
        images_per_second=len(x_train) * epochs_run / seconds,
    )


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for uint8 images, in inference mode (batch-norm statistics, no
    dropout), in slices so a large split never needs a float32 copy of itself."""
    out = [
        np.asarray(model.predict_on_batch(x[i : i + batch_size].astype("float32")))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), "float32")
