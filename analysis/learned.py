"""What the networks learned: first-layer filters, feature maps and Grad-CAM.

From a finished run's saved network (`model.keras`, `model.json`) and the test images decoded as
for training (analysis.cache), three kinds of figure, for the reference CNN and for the locally
connected network (run `locally-connected`, analysis.ablation), on the same test images:

- the first layer's filters as small RGB tiles, each normalised on its own (for the locally
  connected network, the filters of two positions: every position has its own);
- the feature maps each block passes on (after its ReLU and pooling) for a few test images;
- Grad-CAM maps (Selvaraju et al., 2017) for right and wrong answers on the two class pairs the
  reference run confuses most: the gradient of the class score (the logit, before the softmax)
  with respect to the last block's activations, averaged over positions to weigh each channel,
  the weighted sum of the channels through a ReLU, scaled to 0..1 and upsampled onto the image.

The runner's cross-run step calls `study` after the runs (like analysis.gallery); no notebook
imports this module, so a change here retrains nothing. Keras and Matplotlib load lazily.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LOCAL_RUN = "locally-connected"  # the plan's run of analysis.ablation's locally connected network
MODEL_FILE = "model.keras"
PREFIX = "learned_"  # figure file names, beside the study's other figures
DPI = 100
WIDTH = 7.0  # inches: 700 px at DPI, the page's content width, so 9 pt reads as 9 pt
FONT = 9
FEATURE_IMAGES = 3  # test images whose feature maps are shown
CHANNELS = 4  # feature maps shown per block and image (2 × 2)
PAIRS = 2  # the most confused (true, predicted) pairs of the reference run ...
MISTAKES = 2  # ... with this many of its mistakes, one correct image of each class
FILTER_COLUMNS = 16
RIGHT, WRONG, NEUTRAL = "#1b7f3b", "#c62828", "#444444"


class LearnedError(ValueError):
    """A run or data set the figures cannot be drawn from; the message names what is missing."""


# --- the networks ---------------------------------------------------------------------------------


@dataclass
class Network:
    run: str
    label: str  # "CNN", "locally connected"
    model: object  # keras.Model
    image_size: int
    seed: int
    class_ids: list[int]
    names: dict[int, str]


def load_network(run_dir: Path, label: str) -> Network:
    """The run's saved network (its selected seed); importing analysis.ablation registers the
    locally connected layer, so either network loads."""
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise LearnedError(f"{run_dir}: no readable model.json ({exc})") from None
    if not (run_dir / info.get("file", MODEL_FILE)).exists():
        raise LearnedError(f"{run_dir / info.get('file', MODEL_FILE)}: missing")
    import keras

    from analysis import ablation  # noqa: F401  (registers LocallyConnected2D)

    model = keras.saving.load_model(run_dir / info.get("file", MODEL_FILE), compile=False)
    ids = [int(c) for c in info["class_ids"]]
    return Network(
        run=run_dir.name,
        label=label,
        model=model,
        image_size=int(info["image_size"]),
        seed=int(info.get("seed", 0)),
        class_ids=ids,
        names=dict(zip(ids, info["class_names"], strict=True)),
    )


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
    convolution kernel: analysis.ablation flattens each window as (row, column, channel)."""
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

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        a = tf.convert_to_tensor(a)
        with tf.GradientTape() as tape:
            tape.watch(a)
            s = scores(a)
            total = tf.reduce_sum(s * tf.one_hot(classes, s.shape[-1], dtype=s.dtype))
        return tape.gradient(total, a).numpy()
    if backend == "jax":
        import jax

        def total(x):
            s = scores(x)
            return (s * jax.nn.one_hot(classes, s.shape[-1], dtype=s.dtype)).sum()

        return np.asarray(jax.grad(total)(jax.numpy.asarray(a)))
    raise LearnedError(f"Grad-CAM needs the tensorflow or jax backend, not {backend}")


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
    from analysis import gallery

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


def test_images(data_dir, size: int, files: list[str], limit: int = 0) -> np.ndarray:
    """The named test images decoded (and cached) at `size` by analysis.cache, as in training."""
    from analysis import cache
    from analysis.data import load_index

    split = cache.load_split(
        load_index(data_dir), "test", size, limit=limit or None, progress=False
    )
    where = {f: i for i, f in enumerate(split.files)}
    missing = [f for f in files if f not in where]
    if missing:
        raise LearnedError(f"{len(missing)} image(s) not in the test list, e.g. {missing[0]}")
    return split.x[[where[f] for f in files]]


# --- drawing --------------------------------------------------------------------------------------


def _figure(height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(WIDTH, height), dpi=DPI), plt


def _axes(fig, x: float, y: float, w: float, h: float):
    """Axes at (x, y) inches from the top-left corner, w × h inches, without ticks."""
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes([x / fw, 1 - (y + h) / fh, w / fw, h / fh])
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _text(fig, x: float, y: float, s: str, **kw):
    """Text at (x, y) inches from the top-left corner (its top-left, unless told)."""
    fw, fh = fig.get_size_inches()
    kw = {"fontsize": FONT, "va": "top", "ha": "left", **kw}
    return fig.text(x / fw, 1 - y / fh, s, **kw)


def _wrap(s: str, width: int) -> str:
    return "\n".join(textwrap.wrap(s, width)) or s


def draw_filters(panels: dict[str, np.ndarray], title: str):
    """Each panel: its filters in rows of FILTER_COLUMNS tiles under the panel's title."""
    tile, gap, head = (WIDTH - 0.2) / FILTER_COLUMNS, 0.05, 0.3
    rows = {name: -(-len(t) // FILTER_COLUMNS) for name, t in panels.items()}
    height = 0.35 + sum(head + r * tile + 0.1 for r in rows.values())
    fig, plt = _figure(height)
    _text(fig, 0.1, 0.05, title, fontsize=FONT + 1, weight="bold")
    y = 0.35
    for name, tiles in panels.items():
        _text(fig, 0.1, y + 0.03, name)
        y += head
        for i, t in enumerate(tiles):
            ax = _axes(
                fig,
                0.1 + (i % FILTER_COLUMNS) * tile,
                y + (i // FILTER_COLUMNS) * tile,
                tile - gap,
                tile - gap,
            )
            ax.imshow(t[..., :3] if t.shape[-1] >= 3 else t[..., 0], interpolation="nearest")
        y += rows[name] * tile + 0.1
    return fig, plt


def draw_feature_maps(images, titles: list[str], blocks: list[tuple[str, np.ndarray]], channels):
    """Rows: images; columns: the image, then each block's CHANNELS most varied maps (2 × 2),
    each channel on one colour scale across the images (dark: no response)."""
    n_blocks = len(blocks)
    img_w, left = 1.1, 0.1
    cell = (WIDTH - left - img_w - 0.1) / n_blocks  # one block's 2 × 2 maps plus its gap
    inner = (cell - 0.2) / 2
    head, row_h = 0.5, max(img_w, 2 * inner + 0.04) + 0.45
    fig, plt = _figure(head + len(images) * row_h + 0.05)
    size = images.shape[1]
    _text(fig, left, 0.05, f"image\n{size}×{size}", fontsize=FONT)
    for b, (_, maps) in enumerate(blocks):
        h, w, c = maps.shape[1:]
        x0 = left + img_w + 0.15 + b * cell
        _text(fig, x0, 0.05, f"block {b + 1}\n{h}×{w}, {c} maps")
    for r, image in enumerate(images):
        y0 = head + r * row_h
        _text(fig, left, y0, titles[r], fontsize=FONT)
        ax = _axes(fig, left, y0 + 0.4, img_w - 0.1, img_w - 0.1)
        ax.imshow(image.astype("uint8"), interpolation="nearest")
        for b, (_, maps) in enumerate(blocks):
            x0 = left + img_w + 0.15 + b * cell
            for j, ch in enumerate(channels[b]):
                top = float(maps[..., ch].max()) or 1.0
                ax = _axes(
                    fig,
                    x0 + (j % 2) * (inner + 0.04),
                    y0 + 0.4 + (j // 2) * (inner + 0.04),
                    inner,
                    inner,
                )
                ax.imshow(
                    maps[r, :, :, ch], cmap="viridis", vmin=0, vmax=top, interpolation="nearest"
                )
    return fig, plt


def draw_gradcam(rows: list[dict], networks: list[str]):
    """Rows: test images (dict: image, label, and per network: cam, title, ok); columns: the
    image, then each network's Grad-CAM map over it (jet, half transparent)."""
    label_w, tile, gap = 1.7, 1.45, 0.2
    head, row_h = 0.45, tile + 0.55
    fig, plt = _figure(head + len(rows) * row_h)
    size = rows[0]["image"].shape[0] if rows else 0
    _text(fig, label_w, 0.05, f"test image\n({size}×{size} pixels)")
    for j, net in enumerate(networks):
        _text(fig, label_w + (j + 1) * (tile + gap), 0.05, f"Grad-CAM:\n{net}", weight="bold")
    for r, row in enumerate(rows):
        y0 = head + r * row_h
        _text(fig, 0.1, y0 + 0.45, row["label"])
        ax = _axes(fig, label_w, y0 + 0.45, tile, tile)
        ax.imshow(row["image"].astype("uint8"), interpolation="nearest")
        for j, net in enumerate(networks):
            x = label_w + (j + 1) * (tile + gap)
            cell = row["nets"][net]
            ax = _axes(fig, x, y0 + 0.45, tile, tile)
            ax.imshow(row["image"].astype("uint8"), interpolation="nearest")
            ax.imshow(cell["cam"], cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
            colour = RIGHT if cell["ok"] else WRONG
            for spine in ax.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(2.5)
            _text(fig, x, y0 + 0.05, cell["title"], color=colour)
    return fig, plt


def text_boxes(fig) -> list:
    """The window extents (pixels) of every non-empty text on the figure, titles included."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
    return [t.get_window_extent(renderer) for t in texts if t.get_visible() and t.get_text()]


def overlapping(boxes) -> list[tuple[int, int]]:
    """Pairs of boxes that overlap (touching edges do not count)."""
    return [
        (i, j)
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i].x0 < boxes[j].x1
        and boxes[j].x0 < boxes[i].x1
        and boxes[i].y0 < boxes[j].y1
        and boxes[j].y0 < boxes[i].y1
    ]


def save(fig, plt, path: Path) -> Path:
    """A 256-colour PNG (as the predictions gallery's), written atomically."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    plt.close(fig)
    buf.seek(0)
    with Image.open(buf) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        small.save(tmp, format="PNG", optimize=True)
        tmp.replace(path)
    return path


# --- the entry points -----------------------------------------------------------------------------

NETWORKS = {"cnn": "CNN", "local": "locally connected"}
ROLES = {  # why an image is shown (the reference CNN's answer on it)
    "mistake": "picked as a\nCNN mistake",
    "correct A": "picked as a\nCNN right answer",
    "correct B": "picked as a\nCNN right answer",
    "example": "an example\nof its class",
}


def _answer(net: Network, probs: np.ndarray, true_id: int) -> dict:
    col = int(np.argmax(probs))
    pred = net.class_ids[col]
    return {
        "column": col,
        "pred_id": pred,
        "pred_name": net.names.get(pred, str(pred)),
        "probability": round(float(probs[col]), 4),
        "correct": pred == true_id,
    }


def render(reference_dir: Path, local_dir: Path | None, out_dir: Path, data_dir) -> dict:
    """Draw the figures of the reference run (and of the locally connected run, when given)
    into `out_dir`; returns the figures' file names and what they show, for the page."""
    from analysis import gallery

    try:
        p = gallery.load(reference_dir)
    except gallery.GalleryError as exc:
        raise LearnedError(str(exc)) from None
    nets = {"cnn": load_network(reference_dir, NETWORKS["cnn"])}
    if local_dir is not None:
        nets["local"] = load_network(local_dir, NETWORKS["local"])
    feat = feature_picks(p.y_true, p.y_pred, p.confidence)
    pairs = pair_picks(p)
    cam_idx = [i for pair in pairs for i, _ in pair["rows"]]
    idx = feat + cam_idx
    files = [p.files[i] for i in idx]
    out_dir = Path(out_dir)
    figures, layers, answers, cams, shown = {}, {}, {}, {}, {}
    for key, net in nets.items():
        images = test_images(data_dir, net.image_size, files, p.max_per_split)  # as the run
        shown[key] = images
        probs = predict(net.model, images)
        answers[key] = [
            _answer(net, pr, int(p.y_true[i])) for pr, i in zip(probs, idx, strict=True)
        ]
        first = first_filters(net.model)
        fig = draw_filters(first, f"First-layer filters: {net.label} (run {net.run})")
        figures[f"filters_{key}"] = save(*fig, out_dir / f"{PREFIX}filters_{key}.png").name
        blocks = feature_maps(net.model, images[: len(feat)])
        channels = [pick_channels(m) for _, m in blocks]
        titles = [_wrap(p.names.get(int(p.y_true[i]), str(p.y_true[i])), 16) for i in feat]
        fig = draw_feature_maps(images[: len(feat)], titles, blocks, channels)
        figures[f"features_{key}"] = save(*fig, out_dir / f"{PREFIX}features_{key}.png").name
        layer = cam_layer(net.model)
        columns = [a["column"] for a in answers[key][len(feat) :]]
        cams[key] = upsample(grad_cam(net.model, images[len(feat) :], columns, layer), p.image_size)
        layers[key] = {
            "run": net.run,
            "seed": net.seed,
            "image_size": net.image_size,
            "first_layer": filter_layers(net.model)[0].name,
            "kernel_size": _kernel(filter_layers(net.model)[0]),
            "filters": int(filter_layers(net.model)[0].output.shape[-1]),
            "filter_panels": list(first),
            # whether the panels' filters differ (a convolution has one panel: False)
            "filters_differ": filters_differ(first),
            "blocks": [
                {"layer": name, "shape": list(m.shape[1:]), "channels": ch}
                for (name, m), ch in zip(blocks, channels, strict=True)
            ],
            "cam_layer": layer,
            "cam_shape": list(net.model.get_layer(layer).output.shape[1:3]),
        }
    names = {k: n.label for k, n in nets.items()}
    pair_out, start = [], 0
    for n, pair in enumerate(pairs, start=1):
        rows, items = [], []
        a_name = p.names.get(pair["true_id"], str(pair["true_id"]))
        b_name = p.names.get(pair["pred_id"], str(pair["pred_id"]))
        for j, (i, role) in enumerate(pair["rows"]):
            at = start + j
            true_name = p.names.get(int(p.y_true[i]), str(p.y_true[i]))
            nets_row = {}
            for key in nets:
                ans = answers[key][len(feat) + at]
                nets_row[names[key]] = {
                    "cam": cams[key][at],
                    "title": _wrap(
                        f"says {ans['pred_name']}, {100 * ans['probability']:.0f} %", 22
                    ),
                    "ok": ans["correct"],
                }
            rows.append(
                {
                    "image": shown["cnn"][len(feat) + at],
                    "label": f"true class:\n{_wrap(true_name, 16)}\n\n{ROLES[role]}",
                    "nets": nets_row,
                }
            )
            corr = None
            if "local" in cams:
                x, y = cams["cnn"][at].ravel(), cams["local"][at].ravel()
                if x.std() > 0 and y.std() > 0:
                    corr = round(float(np.corrcoef(x, y)[0, 1]), 3)
            items.append(
                {
                    "file": p.files[i],
                    "role": role,
                    "true_name": true_name,
                    **{
                        k: {q: v for q, v in answers[k][len(feat) + at].items() if q != "column"}
                        for k in nets
                    },
                    "cam_correlation": corr,
                }
            )
        start += len(pair["rows"])
        fig = draw_gradcam(rows, [names[k] for k in nets])
        figures[f"gradcam_{n}"] = save(*fig, out_dir / f"{PREFIX}gradcam_{n}.png").name
        pair_out.append(
            {
                "true_name": a_name,
                "pred_name": b_name,
                "count": pair["count"],
                "figure": figures[f"gradcam_{n}"],
                "images": items,
            }
        )
    corrs = [it["cam_correlation"] for pr in pair_out for it in pr["images"]]
    corrs = [c for c in corrs if c is not None]
    return {
        "reference": nets["cnn"].run,
        "local_run": LOCAL_RUN,
        "networks": layers,
        "local": "local" in nets,
        "figures": figures,
        "feature_images": [
            {
                "file": p.files[i],
                "true_name": p.names.get(int(p.y_true[i]), str(p.y_true[i])),
                **{k: {q: v for q, v in answers[k][j].items() if q != "column"} for k in nets},
            }
            for j, i in enumerate(feat)
        ],
        "pairs": pair_out,
        "right": {k: sum(it[k]["correct"] for pr in pair_out for it in pr["images"]) for k in nets},
        "shown": sum(len(pr["images"]) for pr in pair_out),
        "cam_correlation_mean": round(float(np.mean(corrs)), 3) if corrs else None,
    }


def study(
    profile_dir: Path, reference: str, fig_dir: Path, data_dir=None, runs=None
) -> dict | None:
    """The runner's cross-run step: the figures of the reference run and, when its network is
    saved (and the run is current: in `runs`, when given), of the locally connected run. None
    while the reference network, its predictions or the data set is missing (the page says
    the figures are pending); without the locally connected network, the CNN's alone."""
    from analysis import paths

    profile_dir = Path(profile_dir)
    ref = profile_dir / reference
    if not (ref / MODEL_FILE).exists() or not (ref / "predictions.npz").exists():
        return None
    root = paths.data_dir(data_dir)
    if not (root / paths.SYNSET_FILE).exists():
        return None
    local = profile_dir / LOCAL_RUN
    tries = [None]
    if (local / MODEL_FILE).exists() and (runs is None or LOCAL_RUN in runs):
        tries.insert(0, local)
    for other in tries:
        try:
            return render(ref, other, fig_dir, root)
        except LearnedError:
            continue
        except (OSError, ValueError) as exc:  # the other network's file: the CNN's figures still
            if other is None:
                raise
            print(f"learned: {local / MODEL_FILE} left out ({exc})", file=sys.stderr)
    return None
