"""Accuracy per instrument for a model's saved predictions, and the val→test accuracy gap
split into the part due to the instrument mix and the part due to accuracy within instruments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.shift.image_names import parse_files

# --- accuracy per instrument and the val→test gap --------------------------------------------


def _per_seed(y_pred: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(y_pred)
    p = p[None, :] if p.ndim == 1 else p
    if p.ndim != 2 or p.shape[1] != n:
        raise ValueError(f"predictions of shape {np.shape(y_pred)} for {n} images")
    return p


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def accuracy_per_instrument(
    files: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray
) -> dict[str, dict]:
    """Accuracy on each instrument's images. `y_pred`: (n,) or (seeds, n) predicted ids.

    Returns instrument name -> {images, share, accuracy (mean over seeds), accuracy_std
    (sample std over seeds, ddof=1; 0 for one seed), accuracy_per_seed}; instruments with no
    image in `files` are left out."""
    y_true = np.asarray(y_true)
    if len(files) != len(y_true):
        raise ValueError(f"{len(files)} files but {len(y_true)} labels")
    preds = _per_seed(y_pred, len(y_true))
    names = np.asarray([k.instrument_name for k in parse_files(files)])
    out = {}
    for name in sorted(set(names.tolist())):
        mask = names == name
        per_seed = [float(np.mean(p[mask] == y_true[mask])) for p in preds]
        mean, std = _mean_std(per_seed)
        out[name] = {
            "images": int(mask.sum()),
            "share": float(mask.mean()),
            "accuracy": mean,
            "accuracy_std": std,
            "accuracy_per_seed": per_seed,
        }
    return out


def decompose(
    shares_a: dict[str, float],
    acc_a: dict[str, float],
    shares_b: dict[str, float],
    acc_b: dict[str, float],
) -> dict:
    """Split the accuracy change from split a to split b into a mix part and an accuracy part.

    With w_a(i), w_b(i) the instruments' shares and p_a(i), p_b(i) their accuracies, overall
    accuracy is A = Σ_i w(i) p(i), and the gap A_b − A_a (negative when b scores lower) splits
    exactly, in either order:

        mix first:      A_b − A_a = Σ (w_b − w_a) p_a  +  Σ w_b (p_b − p_a)
        accuracy first: A_b − A_a = Σ w_a (p_b − p_a)  +  Σ (w_b − w_a) p_b

    and symmetrically (the Shapley average of the two orders):

        mix      = Σ (w_b − w_a) (p_a + p_b) / 2
        accuracy = Σ (p_b − p_a) (w_a + w_b) / 2,      mix + accuracy = A_b − A_a.

    `mix` is the change the instrument mix alone would cause at fixed per-instrument accuracy;
    `accuracy` the change of each instrument's accuracy at fixed mix. `per_instrument` splits the
    Shapley parts by instrument: accuracy (p_b − p_a)(w_a + w_b)/2, and mix
    (w_b − w_a)((p_a + p_b)/2 − (A_a + A_b)/2), centred so that an instrument gaining share
    counts positively only when it scores above the average (the shares' changes sum to 0, so
    the centring leaves the total unchanged). An instrument with images
    in only one split has no accuracy in the other; it is taken as equal to the split where it
    has images (it then acts through the mix alone) and listed in `one_split_only`."""
    names = sorted(set(shares_a) | set(shares_b))
    wa = np.array([shares_a.get(i, 0.0) for i in names])
    wb = np.array([shares_b.get(i, 0.0) for i in names])
    one_side = [i for i in names if (i in acc_a) != (i in acc_b)]
    missing = [i for i in names if i not in acc_a and i not in acc_b]
    if missing:
        raise ValueError(f"no accuracy for instrument(s) {missing} in either split")
    pa = np.array([acc_a.get(i, acc_b.get(i)) for i in names], dtype=float)
    pb = np.array([acc_b.get(i, acc_a.get(i)) for i in names], dtype=float)
    total_a, total_b = float(wa @ pa), float(wb @ pb)
    centre = (total_a + total_b) / 2
    return {
        "a": total_a,
        "b": total_b,
        "gap": total_b - total_a,
        "mix_first": {"mix": float((wb - wa) @ pa), "accuracy": float(wb @ (pb - pa))},
        "accuracy_first": {"accuracy": float(wa @ (pb - pa)), "mix": float((wb - wa) @ pb)},
        "shapley": {
            "mix": float((wb - wa) @ (pa + pb) / 2),
            "accuracy": float((pb - pa) @ (wa + wb) / 2),
        },
        "per_instrument": {
            i: {
                "share_a": float(wa[k]),
                "share_b": float(wb[k]),
                "accuracy_a": float(pa[k]),
                "accuracy_b": float(pb[k]),
                "mix": float((wb[k] - wa[k]) * ((pa[k] + pb[k]) / 2 - centre)),
                "accuracy": float((pb[k] - pa[k]) * (wa[k] + wb[k]) / 2),
            }
            for k, i in enumerate(names)
        },
        "one_split_only": one_side,
    }


def gap_decomposition(
    val_files: Sequence[str],
    val_true: np.ndarray,
    val_pred: np.ndarray,
    test_files: Sequence[str],
    test_true: np.ndarray,
    test_pred: np.ndarray,
) -> dict:
    """A model's val→test accuracy gap with instrument as the factor (see `decompose`; a = val,
    b = test), per seed and as mean ± sample std over seeds: the gap, its two parts in each
    order and the Shapley parts, overall and per instrument (`per_instrument`: each
    instrument's Shapley terms; they sum to the Shapley parts). Predictions: (n,) or
    (seeds, n), the same seeds in the same order for val and test (predictions.npz's val_pred,
    y_pred)."""
    vp = _per_seed(val_pred, len(val_true))
    tp = _per_seed(test_pred, len(test_true))
    if len(vp) != len(tp):
        raise ValueError(f"{len(vp)} seeds of val predictions but {len(tp)} of test")
    per_seed = []
    for v, t in zip(vp, tp, strict=True):
        av = accuracy_per_instrument(val_files, val_true, v)
        at = accuracy_per_instrument(test_files, test_true, t)
        per_seed.append(
            decompose(
                {k: r["share"] for k, r in av.items()},
                {k: r["accuracy"] for k, r in av.items()},
                {k: r["share"] for k, r in at.items()},
                {k: r["accuracy"] for k, r in at.items()},
            )
        )

    def summary(get) -> dict:
        mean, std = _mean_std([get(d) for d in per_seed])
        return {"mean": mean, "std": std}

    return {
        "val_accuracy": summary(lambda d: d["a"]),
        "test_accuracy": summary(lambda d: d["b"]),
        "gap": summary(lambda d: d["gap"]),
        **{
            order: {part: summary(lambda d, o=order, p=part: d[o][p]) for part in parts}
            for order, parts in (
                ("mix_first", ("mix", "accuracy")),
                ("accuracy_first", ("accuracy", "mix")),
                ("shapley", ("mix", "accuracy")),
            )
        },
        "per_instrument": {
            i: {
                part: summary(lambda d, i=i, p=part: d["per_instrument"][i][p])
                for part in ("mix", "accuracy")
            }
            for i in per_seed[0]["per_instrument"]
        },
        "one_split_only": sorted({i for d in per_seed for i in d["one_split_only"]}),
        "per_seed": per_seed,
    }


def predictions_by_instrument(predictions: dict) -> dict:
    """Per-instrument accuracy and the gap decomposition from one run's predictions.npz (as a
    dict of arrays: files, y_true, y_pred and val_files, val_true, val_pred)."""
    out = {
        "test": accuracy_per_instrument(
            predictions["files"], predictions["y_true"], predictions["y_pred"]
        )
    }
    if "val_pred" in predictions:
        out["val"] = accuracy_per_instrument(
            predictions["val_files"], predictions["val_true"], predictions["val_pred"]
        )
        out["gap"] = gap_decomposition(
            predictions["val_files"],
            predictions["val_true"],
            predictions["val_pred"],
            predictions["files"],
            predictions["y_true"],
            predictions["y_pred"],
        )
    return out
