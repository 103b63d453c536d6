"""Model builders and their analytic descriptions (parameters, FLOPs, receptive fields).

Written with Keras 3 layers only, so the same code runs under the TensorFlow or JAX backend.
Both models take images with values in [0, 255] and rescale to [0, 1] inside the graph, so the
cache stays uint8. Augmentation is not part of the models: it runs in the input pipeline
(analysis.training.train), before the optional pixel permutation, so every variant sees the same
augmented images.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

# Re-exported: the notebooks read `models.DESIGN[model]`.
from analysis.figures.designs import DESIGN  # noqa: F401

CNN_FILTERS = (32, 64, 128, 256)
DOWNSAMPLE = ("pool", "stride")  # a max-pooling layer after each block, or a stride-2 convolution
PADDING = ("same", "valid")


def _inputs(image_size: int) -> keras.KerasTensor:
    return keras.Input((image_size, image_size, 3), dtype="float32", name="image")


AUGMENTATIONS = ("none", "light", "standard", "strong")


def augmentation(seed: int, strength: str = "standard") -> keras.Sequential | None:
    """Label-preserving changes a rover image can undergo, applied to training batches only, in
    the input pipeline: a mirror, a shift, a zoom (another distance to the same hardware) and,
    from 'standard' on, the exposure and contrast changes between cameras and times of day.
    No vertical flip: sky and ground have a fixed place in these images."""
    if strength not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, not {strength!r}")
    if strength == "none":
        return None
    shift, zoom, colour = {"light": (0.08, 0.0, 0.0), "standard": (0.1, 0.1, 0.2)}.get(
        strength, (0.15, 0.2, 0.35)
    )
    steps = [
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed + 1),
    ]
    if zoom:
        steps.append(layers.RandomZoom(zoom, zoom, fill_mode="reflect", seed=seed + 2))
    if colour:
        steps += [
            # A pair, not a number: Keras 3 turns RandomContrast(f) into factors from
            # [1, 1 + f] only (contrast never lowered); (f, f) gives [1 - f, 1 + f].
            layers.RandomContrast((colour, colour), seed=seed + 3),
            layers.RandomBrightness(colour, value_range=(0, 255), seed=seed + 4),
        ]
    return keras.Sequential(steps, name=f"augment_{strength}")


def build_baseline(image_size: int, n_classes: int, seed: int = 0) -> keras.Model:
    """No convolution: every pixel is an independent input to a dense layer."""
    x = inputs = _inputs(image_size)
    x = layers.Rescaling(1 / 255, name="scale")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, activation="relu", name="dense_512")(x)
    x = layers.Dropout(0.3, seed=seed, name="dropout")(x)
    x = layers.Dense(256, activation="relu", name="dense_256")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="baseline")


SCRAMBLE_SEED = 2019  # not the pixel shuffle's 2018: the two shuffles are independent


# Not mutated (`make mutate`): Keras cannot build a layer whose __init__ mutmut has rewritten.
@keras.saving.register_keras_serializable(package="msl_study")
class ScrambleValues(layers.Layer):  # pragma: no mutate block
    """One fixed shuffle of every value of an image, positions and colour channels together:
    the same for every image, no weights. Behind a position shuffle it is still one fixed
    shuffle of all values, and it takes from the network what a position shuffle keeps: which
    three values are one pixel, and which input channel is which colour."""

    def __init__(self, seed: int = SCRAMBLE_SEED, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def build(self, input_shape):
        # Imported here: a module-level numpy would enter every run's code print by name.
        import numpy as np

        self.size = int(np.prod(input_shape[1:]))
        self.order = np.random.default_rng(self.seed).permutation(self.size)

    def call(self, x):
        flat = keras.ops.reshape(x, (-1, self.size))
        return keras.ops.reshape(keras.ops.take(flat, self.order, axis=1), (-1, *x.shape[1:]))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def build_cnn(
    image_size: int,
    n_classes: int,
    kernel_sizes: tuple[int, ...] = (3, 3, 3, 3),
    filters: tuple[int, ...] = CNN_FILTERS,
    dropout: float = 0.5,
    seed: int = 0,
    bn_momentum: float = 0.9,
    downsample: str = "pool",
    first_stride: int = 1,
    padding: str = "same",
    scramble: bool = False,
) -> keras.Model:
    """Conv(k, stride 1, same) -> BatchNorm -> ReLU -> MaxPool(2) per block, then global
    average pooling, dropout and a softmax layer.

    The architecture decisions the study tests, one at a time (the defaults are the reference):
    `downsample="stride"` halves each block's map with a stride-2 convolution instead of the
    pooling layer; `first_stride=2` makes the first convolution stride 2 (a stem that sees the
    image at half resolution from the start); `padding="valid"` lets each convolution shrink its
    map by k - 1 instead of padding it with zeros. Depth is the length of `kernel_sizes`.
    `scramble=True` puts `ScrambleValues` in front: a control, not a design choice.

    Batch-norm momentum 0.9 (Keras' default is 0.99): with ~120 steps an epoch, 0.99 averages
    the statistics over about one epoch of weights that have since moved, so inference-mode
    accuracy lags far behind what training measures while the learning rate is large."""
    if len(kernel_sizes) != len(filters):
        raise ValueError(f"kernel_sizes {kernel_sizes} needs one entry per block ({filters})")
    if downsample not in DOWNSAMPLE or padding not in PADDING or first_stride not in (1, 2):
        raise ValueError(
            f"downsample must be one of {DOWNSAMPLE} (not {downsample!r}), padding one of "
            f"{PADDING} (not {padding!r}), first_stride 1 or 2 (not {first_stride!r})"
        )
    x = inputs = _inputs(image_size)
    x = layers.Rescaling(1 / 255, name="scale")(x)
    if scramble:
        x = ScrambleValues(name="scramble")(x)
    for i, (k, f) in enumerate(zip(kernel_sizes, filters, strict=True), start=1):
        stride = 2 if downsample == "stride" or (i == 1 and first_stride == 2) else 1
        # No bias: batch normalisation's shift makes it redundant.
        x = layers.Conv2D(
            f, k, strides=stride, padding=padding, use_bias=False, name=f"conv{i}_{k}x{k}"
        )(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if downsample == "pool":
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="classes")(x)
    name = "cnn_" + "-".join(str(k) for k in kernel_sizes)
    if tuple(filters) != CNN_FILTERS:
        name += "_w" + "-".join(str(f) for f in filters)
    name += {"pool": "", "stride": "_strided"}[downsample]
    name += "_stem2" if first_stride == 2 else ""
    name += "_valid" if padding == "valid" else ""
    name += "_scrambled" if scramble else ""
    return keras.Model(inputs, outputs, name=name)


@dataclass
class LayerInfo:
    name: str
    kind: str
    output_shape: tuple
    parameters: int
    flops: int  # multiply-adds counted as 2 FLOPs, forward pass, one image
    receptive_field: int  # pixels of the input one output unit sees (per side)
    jump: int  # input pixels between two neighbouring output units


def describe(model: keras.Model) -> list[LayerInfo]:
    """Walk the model's layers and compute each one's parameters, FLOPs and receptive field
    from its configuration (the standard recurrence r' = r + (k - 1) * j, j' = j * s)."""
    rf, jump = 1, 1
    rows: list[LayerInfo] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = tuple(layer.output.shape[1:])
        flops = 0
        kind = type(layer).__name__
        if isinstance(layer, layers.Conv2D):
            k = layer.kernel_size[0]
            s = layer.strides[0]
            cin = layer.input.shape[-1]
            flops = 2 * k * k * cin * layer.filters * shape[0] * shape[1]
            rf, jump = rf + (k - 1) * jump, jump * s
        elif isinstance(layer, layers.MaxPooling2D | layers.AveragePooling2D):
            k, s = layer.pool_size[0], layer.strides[0]
            rf, jump = rf + (k - 1) * jump, jump * s
            flops = shape[0] * shape[1] * shape[2] * k * k
        elif isinstance(layer, layers.Dense):
            flops = 2 * layer.input.shape[-1] * layer.units
        elif isinstance(layer, layers.BatchNormalization | layers.ReLU):
            flops = 2 * int(_prod(shape))
        elif isinstance(layer, layers.GlobalAveragePooling2D):
            rf = None  # sees the whole image from here on
            flops = int(_prod(layer.input.shape[1:]))
        rows.append(
            LayerInfo(
                layer.name,
                kind,
                shape,
                layer.count_params(),
                flops,
                rf if rf is not None else -1,
                jump,
            )
        )
        if rf is None:
            rf = -1
    return rows


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out


def summary(model: keras.Model) -> dict:
    """The `model` block of metrics.json."""
    rows = describe(model)
    convs = [r for r in rows if r.kind == "Conv2D" or r.kind == "MaxPooling2D"]
    return {
        "name": model.name,
        "parameters": int(model.count_params()),
        "trainable_parameters": int(sum(int(_prod(w.shape)) for w in model.trainable_weights)),
        "flops_per_image": int(sum(r.flops for r in rows)),
        "receptive_field_per_layer": [
            {"layer": r.name, "receptive_field": r.receptive_field, "jump": r.jump} for r in convs
        ],
        "layers": [
            {
                "name": r.name,
                "kind": r.kind,
                "output_shape": list(r.output_shape),
                "parameters": r.parameters,
                "flops": r.flops,
            }
            for r in rows
        ],
    }
