"""What the networks learned: first-layer filters, feature maps and Grad-CAM.

From a finished run's saved network (`model.keras`, `model.json`) and the test images decoded as
for training (analysis.data.cache), three kinds of figure, for the reference CNN and for the locally
connected network (run `locally-connected`, analysis.models.ablation), on the same test images:

- the first layer's filters as small RGB tiles, each normalised on its own (for the locally
  connected network, the filters of two positions: every position has its own);
- the feature maps each block passes on (after its ReLU and pooling) for a few test images;
- Grad-CAM maps (Selvaraju et al., 2017) for right and wrong answers on the two class pairs the
  reference run confuses most: the gradient of the class score (the logit, before the softmax)
  with respect to the last block's activations, averaged over positions to weigh each channel,
  the weighted sum of the channels through a ReLU, scaled to 0..1 and upsampled onto the image.

The runner's cross-run step calls `study` after the runs (like analysis.figures.gallery); no
notebook imports this module, so a change here retrains nothing. Keras and Matplotlib load lazily.

The computation lives in analysis.figures.learned_maps and the drawing in
analysis.figures.learned_draw. This module loads the networks and the test images and draws the
figures.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.figures.learned_draw import (
    _wrap,
    draw_feature_maps,
    draw_filters,
    draw_gradcam,
    save,
)
from analysis.figures.learned_maps import (
    LearnedError,
    _kernel,
    cam_layer,
    feature_maps,
    feature_picks,
    filter_layers,
    filters_differ,
    first_filters,
    grad_cam,
    pair_picks,
    pick_channels,
    predict,
    upsample,
)

LOCAL_RUN = (
    "locally-connected"  # the plan's run of analysis.models.ablation's locally connected network
)
MODEL_FILE = "model.keras"
PREFIX = "learned_"  # figure file names, beside the study's other figures


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
    """The run's saved network (its selected seed); importing analysis.models.ablation registers the
    locally connected layer, so either network loads."""
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise LearnedError(f"{run_dir}: no readable model.json ({exc})") from None
    if not (run_dir / info.get("file", MODEL_FILE)).exists():
        raise LearnedError(f"{run_dir / info.get('file', MODEL_FILE)}: missing")
    import keras

    from analysis.models import ablation  # noqa: F401  (registers LocallyConnected2D)

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


# --- the test images ------------------------------------------------------------------------------


def test_images(data_dir, size: int, files: list[str], limit: int = 0) -> np.ndarray:
    """The named test images decoded (and cached) at `size` by analysis.data.cache, as in
    training."""
    from analysis.data import cache
    from analysis.data.index import load_index

    split = cache.load_split(
        load_index(data_dir), "test", size, limit=limit or None, progress=False
    )
    where = {f: i for i, f in enumerate(split.files)}
    missing = [f for f in files if f not in where]
    if missing:
        raise LearnedError(f"{len(missing)} image(s) not in the test list, e.g. {missing[0]}")
    return split.x[[where[f] for f in files]]


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
    from analysis.figures import gallery

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
