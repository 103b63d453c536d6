"""Descriptive statistics of the data set, computed from the index and the cache."""

from __future__ import annotations

from collections import Counter

import numpy as np

from analysis.data.cache import SplitArrays
from analysis.data.index import DataIndex


def class_table(index: DataIndex) -> list[dict]:
    """One row per class id: counts and shares per split."""
    counts = {s: Counter(e.label for e in entries) for s, entries in index.splits.items()}
    totals = {s: len(entries) for s, entries in index.splits.items()}
    rows = []
    for cid, name in sorted(index.classes.items()):
        row = {"id": cid, "name": name}
        for s in index.splits:
            row[s] = counts[s].get(cid, 0)
            row[f"{s}_share"] = row[s] / totals[s]
        rows.append(row)
    return rows


def split_table(index: DataIndex) -> dict[str, dict]:
    out = {}
    for s, entries in index.splits.items():
        labels = Counter(e.label for e in entries)
        top, n = labels.most_common(1)[0]
        sols = [e.sol for e in entries if e.sol is not None]
        out[s] = {
            "images": len(entries),
            "classes": len(labels),
            "majority_class": top,
            "majority_name": index.classes[top],
            "majority_share": n / len(entries),
            "sol_min": min(sols),
            "sol_max": max(sols),
            "instruments": dict(sorted(Counter(e.instrument for e in entries).items())),
        }
    return out


def missing_classes(index: DataIndex) -> dict:
    """Classes absent from each split, and classes with no labelled image at all."""
    present = {s: {e.label for e in entries} for s, entries in index.splits.items()}
    everywhere = set().union(*present.values())
    return {
        "no_image": sorted(set(index.classes) - everywhere),
        **{s: sorted(everywhere - p) for s, p in present.items()},
    }


def image_stats(arrays: dict[str, SplitArrays]) -> dict:
    """Original sizes and modes (from the cache's record of each file), and pixel statistics
    of the decoded train images (what the model sees, scaled to [0, 1])."""
    sizes = Counter()
    modes = Counter()
    for a in arrays.values():
        sizes.update(f"{w}x{h}" for w, h in zip(a.width, a.height, strict=True))
        modes.update(a.mode)
    x = arrays["train"].x.reshape(-1, 3).astype(np.float64) / 255
    return {
        "distinct_sizes": len(sizes),
        "most_common_sizes": [{"size": k, "images": v} for k, v in sizes.most_common(8)],
        "modes": dict(modes),
        "train_pixel_mean": x.mean(axis=0).round(4).tolist(),
        "train_pixel_std": x.std(axis=0).round(4).tolist(),
    }
