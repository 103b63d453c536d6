"""Intervals that respect how test images come: in bursts of near-copies.

Test images taken on one sol by one instrument in one sequence are near-copies; an interval
that resamples single images treats them as independent evidence. Every interval on the site
resamples *groups* of related images (`GROUPINGS`, the one with the largest design effect on the
reference run's errors, `choose_grouping`) and, within the same replicate, the seeds of each
run: a hierarchical bootstrap (seeds, then groups). The verdict rule that reads these intervals
is analysis.stats.verdicts.
"""

from __future__ import annotations

import numpy as np

N_BOOT = 4000

# A test image's file name starts with its sol (4 digits), instrument (2 letters) and sequence
# (6 digits): 0830MR003651... The groupings are prefixes of the name.
GROUPINGS = {"sol": 4, "sol + instrument": 6, "sol + instrument + sequence": 12}


def group_ids(files, grouping: str) -> np.ndarray:
    """Integer group of each file under a grouping (`GROUPINGS`), by its name's prefix."""
    width = GROUPINGS[grouping]
    keys = [str(f).split("/")[-1][:width] for f in files]
    _, ids = np.unique(keys, return_inverse=True)
    return ids.astype(np.int64)


def design_effect(correct: np.ndarray, groups: np.ndarray) -> float:
    """Variance of the accuracy over resampled groups divided by its variance over resampled
    single images (the ratio estimator's linearised variance, with the n/(n-1) corrections):
    1 when groups are no more alike than random images, large when a burst is all right or all
    wrong together. `correct` is one value per image (e.g. the mean over seeds)."""
    c = np.asarray(correct)
    n = len(c)
    p = c.mean()
    var_iid = ((c - p) ** 2).sum() / (n - 1) / n
    g = np.asarray(groups)
    sums, sizes = np.bincount(g, c), np.bincount(g)
    used = sizes > 0
    m = used.sum()
    resid = sums[used] - p * sizes[used]
    var_grouped = m / (m - 1) * (resid**2).sum() / n**2 if m > 1 else np.inf
    return float(var_grouped / var_iid) if var_iid > 0 else 1.0


def choose_grouping(correct: np.ndarray, files) -> dict:
    """Every grouping's number of groups and design effect; the chosen one has the largest
    (the most conservative interval, the one that captures the bursts best)."""
    rows = {
        name: {
            "groups": int(group_ids(files, name).max()) + 1,
            "design_effect": design_effect(correct, group_ids(files, name)),
        }
        for name in GROUPINGS
    }
    chosen = max(rows, key=lambda name: rows[name]["design_effect"])
    return {"chosen": chosen, "groupings": rows, "images": len(files)}


def _group_sums(correct: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(seeds, images) -> (seeds, groups): correct answers per group and seed."""
    return np.stack([np.bincount(groups, row) for row in np.atleast_2d(correct)])


def hierarchical_bootstrap(
    terms: list[tuple[float, np.ndarray]],
    groups: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Percentile interval of Σ w · accuracy(run) over `terms` [(w, correct (seeds, images))],
    e.g. [(1, a), (-1, b)] for a − b. Each replicate draws every run's seeds with replacement
    (independently: runs of different networks are unrelated), then groups of test images with
    replacement (one draw for all runs: they answered the same images), and recomputes each
    run's accuracy over its drawn seeds and the drawn images."""
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    k = int(groups.max()) + 1
    sizes = np.bincount(groups)
    sums = [(float(w), _group_sums(c, groups)) for w, c in terms]
    # Each replicate's group draw as counts per group (multinomial over the k groups).
    counts = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot)
    n_images = counts @ sizes
    stat = np.zeros(n_boot)
    for w, s in sums:
        rows = rng.integers(len(s), size=(n_boot, len(s)))
        per_group = s[rows].mean(axis=1)  # (n_boot, k): drawn seeds' mean correct per group
        stat += w * (per_group * counts).sum(axis=1) / n_images
    estimate = sum(w * s.sum() / len(s) / sizes.sum() for w, s in sums)
    lo, hi = np.quantile(stat, [(1 - level) / 2, (1 + level) / 2])
    return {
        "estimate": float(estimate),
        "ci95": [float(lo), float(hi)],
        "excludes_zero": bool(lo > 0 or hi < 0),
        "groups": k,
        "replicates": n_boot,
    }


def bootstrap_accuracies(
    correct: dict[str, np.ndarray], groups: np.ndarray, n_boot: int = N_BOOT, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each run's test accuracy in every replicate of the hierarchical bootstrap (its seeds
    drawn with replacement, then one draw of image groups shared by all runs), for statistics
    that are not a weighted sum of accuracies, such as a share of a lead."""
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    k = int(groups.max()) + 1
    sizes = np.bincount(groups)
    counts = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot)
    n_images = counts @ sizes
    out = {}
    for name, c in correct.items():
        s = _group_sums(c, groups)
        rows = rng.integers(len(s), size=(n_boot, len(s)))
        out[name] = (s[rows].mean(axis=1) * counts).sum(axis=1) / n_images
    return out
