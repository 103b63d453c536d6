"""The data shift between the splits, explained: instruments, bursts and near-duplicates.

Pure functions over file names, image arrays and predictions. The MSL file name carries its
acquisition: `0830MR003651...JPG` is sol 830, Mastcam right (MR; ML = Mastcam left,
MH = MAHLI), sequence 003651. The splits were cut by sol, and the instruments' shares differ
sharply between them; test images come in bursts (one sequence, several near-identical frames).
This module measures both, and splits a model's val→test accuracy gap into the part due to the
instrument mix and the part due to per-instrument accuracy.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

INSTRUMENTS = {"MH": "MAHLI", "ML": "Mastcam left", "MR": "Mastcam right"}
# <sol: 4 digits><instrument: 2 letters><sequence: 6 digits>..., e.g. 0830MR0036510000500684E01
NAME = re.compile(r"^(?P<sol>\d{4})(?P<instrument>[A-Z]{2})(?P<sequence>\d{6})", re.IGNORECASE)

# The three groupings of related images, coarse to fine: a key function per grouping.
GROUPINGS = {
    "sol": lambda k: f"{k.sol:04d}",
    "sol_instrument": lambda k: f"{k.sol:04d}/{k.instrument}",
    "sol_instrument_sequence": lambda k: f"{k.sol:04d}/{k.instrument}/{k.sequence}",
}

HASH_SIZE = 8  # dHash: 8 rows x 8 horizontal differences = 64 bits
# Two images whose 64-bit dHashes differ in at most this many bits count as near-duplicates
# (about 10 % of the bits; the notebook reports the shares at other thresholds beside it).
NEAR_DUPLICATE_BITS = 6


# --- file names ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageKey:
    sol: int
    instrument: str  # the two-letter code: ML, MR or MH
    sequence: str  # six digits, as in the name

    @property
    def instrument_name(self) -> str:
        return INSTRUMENTS[self.instrument]


def parse_name(file: str) -> ImageKey:
    """(sol, instrument, sequence) of an MSL file name or split-list path
    (`calibrated/0830MR003651...JPG` -> sol 830, "MR", "003651").

    Raises ValueError naming the file when the name does not follow the pattern or names an
    instrument other than ML, MR or MH."""
    name = PurePosixPath(str(file).replace("\\", "/")).name
    m = NAME.match(name)
    if not m:
        raise ValueError(
            f"cannot parse MSL file name {file!r}: expected <sol: 4 digits><instrument: 2 letters>"
            "<sequence: 6 digits>..., e.g. 0830MR0036510000500684E01_DRCL.JPG"
        )
    code = m["instrument"].upper()
    if code not in INSTRUMENTS:
        raise ValueError(
            f"cannot parse MSL file name {file!r}: unknown instrument {code!r} "
            f"(known: {', '.join(sorted(INSTRUMENTS))})"
        )
    return ImageKey(int(m["sol"]), code, m["sequence"])


def parse_files(files: Iterable[str]) -> list[ImageKey]:
    return [parse_name(f) for f in files]


# --- instruments -----------------------------------------------------------------------------


def instrument_mix(files_by_split: dict[str, Sequence[str]]) -> dict[str, dict]:
    """Per split: image count, and the count and share of each instrument (by name; every
    instrument listed, 0 where a split has none)."""
    out = {}
    for split, files in files_by_split.items():
        counts = Counter(k.instrument_name for k in parse_files(files))
        n = len(files)
        out[split] = {
            "images": n,
            "instruments": {name: counts.get(name, 0) for name in sorted(INSTRUMENTS.values())},
            "instrument_shares": {
                name: (counts.get(name, 0) / n if n else 0.0)
                for name in sorted(INSTRUMENTS.values())
            },
        }
    return out


# --- groups (bursts) -------------------------------------------------------------------------


def group_keys(files: Sequence[str], grouping: str) -> list[str]:
    """Each file's group under `grouping` (a key of GROUPINGS), e.g. "0830/MR/003651"."""
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r} (known: {', '.join(GROUPINGS)})")
    key = GROUPINGS[grouping]
    return [key(k) for k in parse_files(files)]


def size_summary(sizes: Sequence[int]) -> dict:
    """How images spread over groups (or clusters) of the given sizes: the number of groups,
    their size distribution, and the share of images that share their group with another.

    `effective_images` is n² / Σ size²: the number of independent images the groups are worth
    if the images of one group were identical (the design effect at intra-group correlation 1);
    n when every group is a single image."""
    s = np.asarray(sizes, dtype=int)
    n = int(s.sum())
    if n == 0:
        return {
            "groups": 0,
            "images": 0,
            "largest": 0,
            "mean_size": 0.0,
            "median_size": 0.0,
            "singletons": 0,
            "share_in_groups_of_2_or_more": 0.0,
            "effective_images": 0.0,
            "size_counts": {},
        }
    return {
        "groups": len(s),
        "images": n,
        "largest": int(s.max()),
        "mean_size": float(s.mean()),
        "median_size": float(np.median(s)),
        "singletons": int(np.sum(s == 1)),
        "share_in_groups_of_2_or_more": float(s[s >= 2].sum() / n),
        "effective_images": float(n**2 / np.sum(s.astype(float) ** 2)),
        "size_counts": {str(k): v for k, v in sorted(Counter(s.tolist()).items())},
    }


def group_stats(files: Sequence[str], grouping: str) -> dict:
    """size_summary of the groups of `files` under `grouping`."""
    return size_summary(list(Counter(group_keys(files, grouping)).values()))


def groups_per_split(files_by_split: dict[str, Sequence[str]]) -> dict[str, dict[str, dict]]:
    """split -> grouping -> group_stats, for every grouping of GROUPINGS."""
    return {
        split: {g: group_stats(files, g) for g in GROUPINGS}
        for split, files in files_by_split.items()
    }


# --- perceptual hash and near-duplicates -----------------------------------------------------


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix that averages the input cells each output cell covers (box filter
    with fractional overlaps): an exact area-average resize along one axis."""
    edges_out = np.linspace(0, n_in, n_out + 1)
    w = np.zeros((n_out, n_in))
    for o in range(n_out):
        lo, hi = edges_out[o], edges_out[o + 1]
        for i in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            w[o, i] = max(0.0, min(hi, i + 1) - max(lo, i))
        w[o] /= w[o].sum()
    return w


def dhash(images: np.ndarray, hash_size: int = HASH_SIZE) -> np.ndarray:
    """Difference hash of each image: gray (ITU-R 601 luma), area-averaged down to
    hash_size rows x (hash_size + 1) columns, one bit per horizontal neighbour pair
    (1 where the right cell is brighter than the left), read row by row, first bit most
    significant. `images`: (n, h, w, 3) or (n, h, w), any numeric dtype. Returns (n,) uint64
    for hash_size 8 (hash_size² bits in all; at most 64)."""
    x = np.asarray(images)
    if x.ndim == 4:
        x = x[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    x = x.astype(np.float64)
    if x.ndim != 3:
        raise ValueError(f"expected (n, h, w) or (n, h, w, 3) images, got shape {images.shape}")
    if hash_size * hash_size > 64:
        raise ValueError(f"hash_size {hash_size}: at most 64 bits fit a uint64")
    rows = _area_weights(x.shape[1], hash_size)
    cols = _area_weights(x.shape[2], hash_size + 1)
    small = np.matmul(np.matmul(rows, x), cols.T)  # (n, hash_size, hash_size + 1)
    bits = (small[:, :, 1:] > small[:, :, :-1]).reshape(len(x), -1)
    weights = np.uint64(1) << np.arange(bits.shape[1] - 1, -1, -1, dtype=np.uint64)
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between two vectors of uint64 hashes: (len(a), len(b))."""
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    return np.bitwise_count(a[:, None] ^ b[None, :]).astype(np.int64)


def close_pairs(hashes: np.ndarray, threshold: int = NEAR_DUPLICATE_BITS) -> np.ndarray:
    """(m, 2) index pairs i < j whose hashes differ in at most `threshold` bits."""
    d = hamming(hashes, hashes)
    i, j = np.nonzero(np.triu(d <= threshold, k=1))
    return np.stack([i, j], axis=1)


def union_find(n: int, pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    """Connected components of n items linked by `pairs` (single linkage): a cluster id per
    item, numbered 0, 1, ... in order of each cluster's first item."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = [root(i) for i in range(n)]
    ids: dict[int, int] = {}
    return np.asarray([ids.setdefault(r, len(ids)) for r in roots], dtype=np.int64)


def combine_groupings(*labelings: Sequence) -> np.ndarray:
    """Join several labelings of the same images: two images share a combined group when they
    share a label under any one labeling, directly or through a chain (e.g. sequence groups
    joined by near-duplicate clusters that cross them). Ids as union_find numbers them."""
    n = len(labelings[0]) if labelings else 0
    if any(len(lab) != n for lab in labelings):
        raise ValueError(f"labelings of different lengths: {[len(lab) for lab in labelings]}")
    pairs = []
    for lab in labelings:
        first: dict = {}
        for i, v in enumerate(lab):
            pairs.append((first.setdefault(v, i), i))
    return union_find(n, pairs)


def near_duplicate_clusters(hashes: np.ndarray, threshold: int = NEAR_DUPLICATE_BITS) -> np.ndarray:
    """Cluster id per image: images linked by a chain of hashes at most `threshold` bits apart
    share a cluster (union-find over close_pairs)."""
    return union_find(len(hashes), close_pairs(hashes, threshold))


def cluster_stats(clusters: np.ndarray) -> dict:
    """size_summary of near-duplicate clusters: `share_in_groups_of_2_or_more` is the share of
    the split's images that have at least one near-duplicate in the split."""
    clusters = np.asarray(clusters)
    return size_summary(np.bincount(clusters).tolist() if len(clusters) else [])


def pairs_within_groups(pairs: np.ndarray, keys: Sequence[str]) -> float | None:
    """The share of near-duplicate pairs whose two images share a group key (None: no pairs).
    Near 1: the grouping captures the near-duplicates; a resampling of whole groups then
    keeps them together."""
    pairs = np.asarray(pairs).reshape(-1, 2)
    if not len(pairs):
        return None
    keys = np.asarray(keys)
    return float(np.mean(keys[pairs[:, 0]] == keys[pairs[:, 1]]))


def threshold_sweep(hashes: np.ndarray, thresholds: Iterable[int]) -> list[dict]:
    """The share of images with a near-duplicate, and the largest cluster, at each threshold."""
    d = hamming(hashes, hashes)
    out = []
    for t in thresholds:
        i, j = np.nonzero(np.triu(d <= t, k=1))
        s = cluster_stats(union_find(len(hashes), zip(i, j, strict=True)))
        out.append(
            {
                "threshold": int(t),
                "pairs": len(i),
                "share_in_clusters_of_2_or_more": s["share_in_groups_of_2_or_more"],
                "clusters": s["groups"],
                "largest": s["largest"],
            }
        )
    return out


def nearest_distance(hashes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Each image's Hamming distance to its nearest hash in `others` (another split)."""
    return hamming(hashes, others).min(axis=1)


def hex_hash(h: int | np.integer) -> str:
    return f"{int(h):016x}"


def near_duplicates(
    files: Sequence[str],
    hashes: np.ndarray,
    labels: np.ndarray,
    others: dict[str, np.ndarray] | None = None,
    threshold: int = NEAR_DUPLICATE_BITS,
) -> tuple[np.ndarray, dict]:
    """One split's near-duplicates: (cluster id per image, summary).

    The summary holds cluster_stats (`share_in_groups_of_2_or_more`: the share of the split's
    images with a near-duplicate in the split), the number of close pairs, the share of pairs
    whose two images share a label (`pairs_same_label`) and a group under each grouping
    (`pairs_within_group`), the groups of sequences joined by near-duplicate links
    (`joined_with_sequences`: the grouping that keeps every near-duplicate pair together), and
    for each split of `others` the share of this split's images within `threshold` bits of one
    of its images (`with_near_duplicate_in`)."""
    labels = np.asarray(labels)
    clusters = near_duplicate_clusters(hashes, threshold)
    pairs = close_pairs(hashes, threshold)
    same_label = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    return clusters, {
        **cluster_stats(clusters),
        "threshold": threshold,
        "pairs": len(pairs),
        "pairs_same_label": float(same_label.mean()) if len(pairs) else None,
        "pairs_within_group": {
            g: pairs_within_groups(pairs, group_keys(files, g)) for g in GROUPINGS
        },
        "joined_with_sequences": size_summary(
            np.bincount(
                combine_groupings(group_keys(files, "sol_instrument_sequence"), clusters)
            ).tolist()
            if len(clusters)
            else []
        ),
        "with_near_duplicate_in": {
            name: float(np.mean(nearest_distance(hashes, h) <= threshold))
            for name, h in (others or {}).items()
            if len(h) and len(hashes)
        },
    }


def image_keys(files: Sequence[str], clusters: np.ndarray, hashes: np.ndarray) -> dict[str, dict]:
    """file -> {sol, instrument (name), sequence, cluster (near-duplicate), joined (its
    sequence group joined with its near-duplicate cluster, combine_groupings), dhash (16 hex
    digits)}: the per-image keys the cross-run study groups by."""
    keys = parse_files(files)
    joined = combine_groupings(group_keys(files, "sol_instrument_sequence"), clusters)
    return {
        f: {
            "sol": k.sol,
            "instrument": k.instrument_name,
            "sequence": k.sequence,
            "cluster": int(c),
            "joined": int(j),
            "dhash": hex_hash(h),
        }
        for f, k, c, j, h in zip(files, keys, clusters, joined, hashes, strict=True)
    }


def groups_json(header: dict, splits: dict[str, dict[str, dict]]) -> str:
    """The per-image keys as JSON, one image per line (a small, diffable file):
    {<header keys>..., "splits": {split: {file: {...}}}}."""
    lines = ["{"]
    lines += [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
    lines.append('  "splits": {')
    for i, (split, rows) in enumerate(splits.items()):
        lines.append(f"    {json.dumps(split)}: {{")
        lines += [
            f"      {json.dumps(f)}: {json.dumps(r)}" + ("," if j < len(rows) - 1 else "")
            for j, (f, r) in enumerate(rows.items())
        ]
        lines.append("    }" + ("," if i < len(splits) - 1 else ""))
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def write_groups(path, header: dict, splits: dict[str, dict[str, dict]]) -> Path:
    """groups_json to `path`, through a temporary name and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(groups_json(header, splits))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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


# --- figures ---------------------------------------------------------------------------------


def instrument_figure(mix: dict[str, dict], path):
    """Stacked bars of the instrument shares per split, each share written on its bar."""
    from analysis.figures import _save, plt

    splits = list(mix)
    names = sorted(INSTRUMENTS.values())
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    left = np.zeros(len(splits))
    for name in names:
        vals = np.array([mix[s]["instrument_shares"][name] for s in splits]) * 100
        bars = ax.barh(splits, vals, left=left, label=name)
        ax.bar_label(
            bars,
            labels=[f"{v:.1f} %" if v >= 6 else "" for v in vals],
            label_type="center",
            fontsize=8,
        )
        left += vals
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("share of the split's images (%)")
    ax.set_title("Instrument mix per split")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    return _save(fig, path)


def group_size_figure(groups: dict[str, dict[str, dict]], path):
    """Per grouping (a panel each), the share of each split's images that lies in groups of
    each size: how bursty the splits are."""
    from analysis.figures import _save, plt

    groupings = list(next(iter(groups.values())))
    fig, axes = plt.subplots(1, len(groupings), figsize=(4.2 * len(groupings), 3.2), sharey=True)
    for ax, g in zip(np.atleast_1d(axes), groupings, strict=True):
        for split, by_grouping in groups.items():
            s = by_grouping[g]
            if not s["images"]:
                continue
            sizes = np.array([int(k) for k in s["size_counts"]])
            counts = np.array(list(s["size_counts"].values()))
            order = np.argsort(sizes)
            share = np.cumsum(sizes[order] * counts[order]) / s["images"]
            ax.step(sizes[order], share, where="post", label=f"{split} ({s['groups']} groups)")
        ax.set_xscale("log")
        ax.set_xlabel("group size (images)")
        ax.set_title(g.replace("_", " + "))
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("share of the split's images\nin groups of ≤ this size")
    fig.tight_layout()
    return _save(fig, path)
