"""The mechanism experiments: convolution with one ingredient taken away at a time.

- `locally_connected`: the reference CNN's shape (kernels, filters, batch norm, pooling, head)
  with a separate filter at every position: locality kept, weight sharing removed.
- `dense`: the dense baseline's form with other widths (`dense_units`), e.g. about the reference
  CNN's 0.4 M parameters: parameter count matched, locality and sharing absent.
- `head="flatten"`: the reference CNN with a flatten head instead of global average pooling, so
  the last map's positions reach the classifier separately (what the translation test probes).
- `train_fraction`: nested, class-stratified subsets of train (val and test unchanged).

`cnn` and `baseline` with the default head are built by `analysis.training.experiment.build_model`,
the published runs' own builder, so a mechanism run differs from a published one only where named.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
from keras import layers

from analysis.figures.designs import DESIGN
from analysis.models import networks as models
from analysis.training import experiment

MODELS = ("cnn", "baseline", "dense", "locally_connected")
HEADS = ("gap", "flatten")
SUBSET_SEED = 2018  # one subset per fraction, the same for every training seed


def same_patches(x, k: int):
    """(n, h, w, c) -> (n, h, w, k·k·c): each position's k×k window under `same` zero padding,
    flattened as (row, column, channel) like `keras.ops.image.extract_patches`, but from
    k·k shifted slices: plain ops whose gradients every backend has (a pad and a sum)."""
    _, h, w, _ = x.shape
    before = (k - 1) // 2
    pad = [[0, 0], [before, k - 1 - before], [before, k - 1 - before], [0, 0]]
    xp = keras.ops.pad(x, pad)
    windows = [xp[:, i : i + h, j : j + w, :] for i in range(k) for j in range(k)]
    return keras.ops.concatenate(windows, axis=-1)


@keras.saving.register_keras_serializable(package="msl_study")
class LocallyConnected2D(layers.Layer):
    """A convolution without weight sharing: stride 1, `same` zero padding, and one
    (k·k·c_in × filters) kernel per output position. Keras 3 has no such layer; this one is
    patches and an einsum in `keras.ops`, so it runs on any backend."""

    def __init__(self, filters: int, kernel_size: int, use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.use_bias = int(filters), int(kernel_size), use_bias

    def build(self, input_shape):
        h, w, cin = (int(d) for d in input_shape[1:])
        k = self.kernel_size
        # Glorot-uniform with a convolution's fans, as Conv2D initialises each of its filters.
        limit = math.sqrt(6.0 / (k * k * cin + k * k * self.filters))
        self.kernel = self.add_weight(
            name="kernel",
            shape=(h * w, k * k * cin, self.filters),
            initializer=keras.initializers.RandomUniform(-limit, limit),
        )
        self.bias = (
            self.add_weight(name="bias", shape=(h * w, self.filters), initializer="zeros")
            if self.use_bias
            else None
        )

    def call(self, x):
        patches = same_patches(x, self.kernel_size)
        _, h, w, depth = patches.shape
        flat = keras.ops.reshape(patches, (-1, h * w, depth))
        out = keras.ops.einsum("bpi,pio->bpo", flat, self.kernel)
        if self.bias is not None:
            out = out + self.bias
        return keras.ops.reshape(out, (-1, h, w, self.filters))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "use_bias": self.use_bias,
        }


def build_locally_connected(
    image_size: int,
    n_classes: int,
    kernel_sizes: tuple[int, ...] = (3, 3, 3, 3),
    filters: tuple[int, ...] = models.CNN_FILTERS,
    dropout: float = 0.5,
    seed: int = 0,
    bn_momentum: float = 0.9,
    head: str = "gap",
) -> keras.Model:
    """`models.build_cnn`'s blocks with LocallyConnected2D in place of Conv2D."""
    if len(kernel_sizes) != len(filters):
        raise ValueError(f"kernel_sizes {kernel_sizes} needs one entry per block ({filters})")
    x = inputs = keras.Input((image_size, image_size, 3), dtype="float32", name="image")
    x = layers.Rescaling(1 / 255, name="scale")(x)
    for i, (k, f) in enumerate(zip(kernel_sizes, filters, strict=True), start=1):
        x = LocallyConnected2D(f, k, name=f"local{i}_{k}x{k}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    outputs = _head(x, head, n_classes, dropout, seed)
    return keras.Model(inputs, outputs, name="local_" + "-".join(str(k) for k in kernel_sizes))


def _head(x, head: str, n_classes: int, dropout: float, seed: int):
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")
    x = (layers.GlobalAveragePooling2D(name="gap") if head == "gap" else layers.Flatten())(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    return layers.Dense(n_classes, activation="softmax", name="classes")(x)


def build_cnn_flatten(image_size: int, n_classes: int, p: dict, seed: int) -> keras.Model:
    """The published CNN (models.build_cnn) up to its last pooling, then a flatten head."""
    base = experiment.build_model({**p, "model": "cnn"}, n_classes, seed)
    last_pool = f"pool{len(p['kernel_sizes'])}"
    outputs = _head(base.get_layer(last_pool).output, "flatten", n_classes, 0.5, seed)
    return keras.Model(base.input, outputs, name=base.name + "_flatten")


def build_dense(
    image_size: int, n_classes: int, units: tuple[int, ...], dropout: float = 0.3, seed: int = 0
) -> keras.Model:
    """The dense baseline's form (Flatten → Dense(ReLU) → Dropout → Dense(ReLU) … → softmax)
    with other widths: `units=(512, 256)` is the baseline itself."""
    x = inputs = keras.Input((image_size, image_size, 3), dtype="float32", name="image")
    x = layers.Rescaling(1 / 255, name="scale")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, u in enumerate(units):
        x = layers.Dense(int(u), activation="relu", name=f"dense_{u}")(x)
        if i == 0:
            x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="dense_" + "-".join(str(u) for u in units))


def build(p: dict, n_classes: int, seed: int) -> keras.Model:
    """The network a mechanism run's parameters name."""
    model, head = p["model"], p.get("head", "gap")
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")
    if model == "locally_connected":
        return build_locally_connected(
            p["image_size"],
            n_classes,
            tuple(p["kernel_sizes"]),
            tuple(p["filters"]),
            seed=seed,
            bn_momentum=p.get("bn_momentum", 0.9),
            head=head,
        )
    if head != "gap":
        if model != "cnn":
            raise ValueError(f"head={head!r} applies to the convolutional models, not {model!r}")
        return build_cnn_flatten(p["image_size"], n_classes, p, seed)
    if model == "dense":
        return build_dense(p["image_size"], n_classes, tuple(p["dense_units"]), seed=seed)
    return experiment.build_model(p, n_classes, seed)


def summary(model: keras.Model) -> dict:
    """`models.summary`, with the locally connected layers counted like the convolutions they
    replace: the same multiply-adds per image and the same receptive-field growth."""
    out = models.summary(model)
    rows = {r["name"]: r for r in out["layers"]}
    rf, jump, fields = 1, 1, []
    for layer in model.layers:
        if isinstance(layer, LocallyConnected2D | layers.Conv2D):
            k = layer.kernel_size if isinstance(layer, LocallyConnected2D) else layer.kernel_size[0]
            rf += (k - 1) * jump
            h, w, f = layer.output.shape[1:]
            if isinstance(layer, LocallyConnected2D):
                rows[layer.name]["flops"] = 2 * k * k * layer.input.shape[-1] * f * h * w
        elif isinstance(layer, layers.MaxPooling2D):
            rf, jump = rf + (layer.pool_size[0] - 1) * jump, jump * layer.strides[0]
        else:
            continue
        fields.append({"layer": layer.name, "receptive_field": rf, "jump": jump})
    out["receptive_field_per_layer"] = fields
    out["flops_per_image"] = int(sum(r["flops"] for r in out["layers"]))
    return out


def nested_subset(y: np.ndarray, fraction: float, seed: int = SUBSET_SEED) -> np.ndarray:
    """Indices of a class-stratified share of `y`, in their original order: of each class,
    ceil(fraction · count) images (at least one), taken from the front of one fixed shuffle of
    that class. The same shuffle serves every fraction, so a smaller subset is contained in
    every larger one, and every class with a training image keeps one."""
    if not 0 < fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1], not {fraction}")
    y = np.asarray(y)
    keep = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        order = np.random.default_rng([seed, int(c)]).permutation(members)
        keep.append(order[: max(1, math.ceil(fraction * len(members)))])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=int)


def with_train_fraction(data: experiment.StudyData, fraction: float) -> experiment.StudyData:
    """`data` with train cut to `nested_subset(fraction)`; val, test and outputs unchanged."""
    if fraction == 1:
        return data
    tr = data.splits["train"]
    idx = nested_subset(tr.y, fraction)
    sub = dataclasses.replace(
        tr,
        x=tr.x[idx],
        y=tr.y[idx],
        files=[tr.files[i] for i in idx],
        width=tr.width[idx],
        height=tr.height[idx],
        mode=[tr.mode[i] for i in idx],
    )
    return dataclasses.replace(data, splits={**data.splits, "train": sub})


def design_text(p: dict) -> str:
    if p["model"] == "locally_connected":
        return DESIGN["locally_connected"]
    if p["model"] == "dense":
        return DESIGN["dense"]
    if p.get("head", "gap") == "flatten":
        return DESIGN["flatten"]
    return models.DESIGN[p["model"]]
