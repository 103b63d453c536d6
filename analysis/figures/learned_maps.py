"""The computation behind analysis.figures.learned's figures, with no drawing: which layers a saved
network's filters, block outputs and Grad-CAM come from; the first layer's filters as normalised
RGB tiles (per position for a locally connected layer); the blocks' feature maps and the most
varied channels; class probabilities; Grad-CAM maps (the class score's gradient with respect to
the last block's activations, through the backend's automatic differentiation) and their
upsampling; and which test images the figures show. It also owns `LearnedError`, which
analysis.figures.learned re-exports. Keras loads lazily.
"""

from __future__ import annotations

import numpy as np

from analysis.figures import autodiff

FEATURE_IMAGES = 3  # test images whose feature maps are shown
CHANNELS = 4  # feature maps shown per block and image (2 × 2)
PAIRS = 2  # the most confused (true, predicted) pairs of the reference run ...
MISTAKES = 2  # ... with this many of its mistakes, one correct image of each class


class LearnedError(ValueError):
    """A run or data set the figures cannot be drawn from; the message names what is missing."""


# --- the layers -----------------------------------------------------------------------------------


def _is_spatial(layer) -> bool:
    return hasattr(layer, "kernel_size") and len(layer.output.shape) == 4


def _kernel(layer) -> int:
    k = layer.kernel_size
    return int(k[0] if isinstance(k, tuple | list) else k)


def filter_layers(model) -> list:
    """The convolution or locally connected layers, in order."""
    return [layer for layer in model.layers if _is_spatial(layer)]


def block_layers(model) -> list:
    """Each block's output: its pooling layer (after the ReLU), else its ReLU."""
    import keras

    pools = [x for x in model.layers if isinstance(x, keras.layers.MaxPooling2D)]
    return pools or [x for x in model.layers if isinstance(x, keras.layers.ReLU)]


def cam_layer(model) -> str:
    """The layer whose output Grad-CAM weighs: the activation that follows the last convolution
    (or locally connected layer) before any pooling, else that layer itself."""
    import keras

    layers = list(model.layers)
    spatial = [i for i, x in enumerate(layers) if _is_spatial(x)]
    if not spatial:
        raise LearnedError(f"{model.name}: no convolution or locally connected layer")
    last = spatial[-1]
    for x in layers[last + 1 :]:
        if isinstance(x, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
            break
        if isinstance(x, keras.layers.ReLU | keras.layers.Activation):
            return x.name
    return layers[last].name


# --- first-layer filters (pure) -------------------------------------------------------------------


def filter_tiles(kernel: np.ndarray) -> np.ndarray:
    """(k, k, c, f) kernel -> (f, k, k, c) tiles in 0..1, each filter scaled by its own min and
    max (a constant filter is mid-grey): the pattern each filter looks for, not its strength."""
    w = np.moveaxis(np.asarray(kernel, dtype="float64"), -1, 0)
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    out = np.where(span > 0, (w - lo) / np.where(span > 0, span, 1), 0.5)
    return out.astype("float32")


def local_kernel(kernel: np.ndarray, width: int, row: int, col: int, k: int, channels: int):
    """A locally connected layer's (h·w, k·k·c, f) kernel at one position, as a (k, k, c, f)
    convolution kernel: analysis.models.ablation flattens each window as (row, column, channel)."""
    flat = np.asarray(kernel)[row * width + col]
    return flat.reshape(k, k, channels, flat.shape[-1])


def positions(height: int, width: int) -> dict[str, tuple[int, int]]:
    """The two positions whose locally connected filters are shown: the centre, and one near
    the top-left corner (an eighth of the way in, clear of the zero padding)."""
    return {
        "centre": (height // 2, width // 2),
        "near the top-left corner": (height // 8, width // 8),
    }


def first_filters(model) -> dict[str, np.ndarray]:
    """Panel title -> (f, k, k, 3) tiles of the first layer: one panel for a convolution (its
    filters are used at every position), one per shown position for a locally connected layer."""
    layer = filter_layers(model)[0]
    kernel = np.asarray(layer.weights[0])
    if kernel.ndim == 4:
        return {"the same filters at every position": filter_tiles(kernel)}
    _, h, w, _ = layer.output.shape
    k, c = int(layer.kernel_size), int(layer.input.shape[-1])
    return {
        f"{where} (row {r}, column {q})": filter_tiles(local_kernel(kernel, int(w), r, q, k, c))
        for where, (r, q) in positions(int(h), int(w)).items()
    }


def filters_differ(panels: dict[str, np.ndarray]) -> bool:
    """Whether any two panels hold different filters (one panel: False)."""
    tiles = list(panels.values())
    return any(not np.allclose(tiles[0], t) for t in tiles[1:])


# --- feature maps and Grad-CAM (keras.ops; the gradient is the backend's) ------------------------


def _batches(x: np.ndarray, size: int = 16):
    for i in range(0, len(x), size):
        yield x[i : i + size]


def feature_maps(model, images: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(block layer name, (n, h, w, c) activations) for each block, in inference mode."""
    import keras

    blocks = block_layers(model)
    sub = keras.Model(model.inputs[0], [b.output for b in blocks])
    outs = [sub(np.asarray(b, dtype="float32"), training=False) for b in _batches(images)]
    return [
        (b.name, np.concatenate([keras.ops.convert_to_numpy(o[i]) for o in outs]))
        for i, b in enumerate(blocks)
    ]


def pick_channels(maps: np.ndarray, n: int = CHANNELS) -> list[int]:
    """The n channels whose maps vary most across positions (mean over the images): the ones
    with a pattern to see, rather than a flat response. Ties: lower channel first."""
    spread = np.asarray(maps).std(axis=(1, 2)).mean(axis=0)
    return [int(i) for i in np.argsort(-spread, kind="stable")[:n]]


def predict(model, images: np.ndarray) -> np.ndarray:
    """Class probabilities, in inference mode."""
    import keras

    whole = keras.Model(model.inputs[0], model.outputs[0])  # one input, one output: no list
    out = [whole(np.asarray(b, dtype="float32"), training=False) for b in _batches(images)]
    return np.concatenate([keras.ops.convert_to_numpy(o) for o in out])


def _split(model, layer_name: str):
    """The network up to `layer_name`, and a function from that layer's output to the class
    scores (the logits: a final softmax is left out). The networks here are chains of layers."""
    import keras

    layers = list(model.layers)
    names = [x.name for x in layers]
    body = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    tail = layers[names.index(layer_name) + 1 :]

    def scores(a):
        x = a
        for layer in tail[:-1]:
            x = layer(x, training=False)
        last = tail[-1]
        if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") in (
            "softmax",
            "sigmoid",
        ):
            x = keras.ops.matmul(x, last.kernel)
            return x + last.bias if last.use_bias else x
        return last(x, training=False)

    return body, scores


def _gradients(scores, a, classes: np.ndarray):
    """d(score of each image's class) / d(a), with the backend's automatic differentiation."""
    import keras

    def total(x):
        s = scores(x)
        return keras.ops.sum(s * keras.ops.one_hot(classes, s.shape[-1], dtype=s.dtype))

    try:
        return autodiff.gradient(total, a)
    except autodiff.BackendError as exc:
        raise LearnedError(f"Grad-CAM needs {exc}") from None


def grad_cam(model, images: np.ndarray, classes, layer_name: str | None = None) -> np.ndarray:
    """(n, h, w) Grad-CAM maps at the layer's resolution, each scaled to 0..1 by its maximum
    (all zeros when no position speaks for the class). `classes` are output columns."""
    import keras

    layer_name = layer_name or cam_layer(model)
    body, scores = _split(model, layer_name)
    classes = np.asarray(classes, dtype="int32")
    out = []
    for start in range(0, len(images), 16):
        x = np.asarray(images[start : start + 16], dtype="float32")
        a = keras.ops.convert_to_numpy(body(x, training=False))
        g = _gradients(scores, a, classes[start : start + 16])
        weights = g.mean(axis=(1, 2))  # one weight per channel
        cam = np.maximum(np.einsum("nhwc,nc->nhw", a, weights), 0)
        top = cam.max(axis=(1, 2), keepdims=True)
        out.append(np.where(top > 0, cam / np.where(top > 0, top, 1), 0))
    return np.concatenate(out).astype("float32")


def upsample(cam: np.ndarray, size: int) -> np.ndarray:
    """(n, h, w) maps -> (n, size, size), bilinear, clipped to 0..1."""
    import keras

    up = keras.ops.image.resize(
        np.asarray(cam, dtype="float32")[..., None], (size, size), interpolation="bilinear"
    )
    return np.clip(keras.ops.convert_to_numpy(up)[..., 0], 0, 1)


# --- which test images (pure; indices into the reference run's test predictions) ------------------


def feature_picks(y_true: np.ndarray, y_pred: np.ndarray, confidence: np.ndarray, n=FEATURE_IMAGES):
    """One correctly classified image from each of the n largest test classes (ties: lower id),
    the one with the most confident answer: clear examples of what the classes look like."""
    ids, counts = np.unique(y_true, return_counts=True)
    order = sorted(zip(-counts, ids, strict=True))
    out = []
    for _, c in order:
        idx = np.flatnonzero((y_true == c) & (y_pred == c))
        if len(idx):
            out.append(int(idx[np.argmax(confidence[idx])]))
        if len(out) == n:
            break
    return out


def pair_picks(p, k: int = PAIRS, mistakes: int = MISTAKES) -> list[dict]:
    """The k (true A, predicted B) pairs with the most mistakes in `p` (gallery.Predictions):
    each with its `mistakes` most confident mistakes, one correct image of A and one of B."""
    from analysis.figures import gallery

    out = []
    for t, q, wrong in gallery.confused_pairs(p, k):
        rows = [(i, "mistake") for i in wrong[:mistakes]]
        for c, role in ((t, "correct A"), (q, "correct B")):
            # a class the run never got right: an image of it all the same
            rows += [
                (i, role if p.correct[i] else "example") for i in gallery.correct_examples(p, c, 1)
            ]
        out.append({"true_id": t, "pred_id": q, "count": len(wrong), "rows": rows})
    return out
