"""Near-duplicate test images: a perceptual hash (dHash) per image, pairs within a few bits,
clusters of them (union-find), and how those clusters sit among the sol / instrument / sequence
groups of analysis.shift.image_names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from analysis.shift.image_names import GROUPINGS, group_keys, parse_files, size_summary

HASH_SIZE = 8  # dHash: 8 rows x 8 horizontal differences = 64 bits
# Two images whose 64-bit dHashes differ in at most this many bits count as near-duplicates
# (about 10 % of the bits; the notebook reports the shares at other thresholds beside it).
NEAR_DUPLICATE_BITS = 6

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
