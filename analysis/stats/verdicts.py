"""How the study decides that two models differ: one primary metric, seeds and image groups.

Declared before the mechanism runs were computed (and applied to every comparison since):

- **Primary metric: test accuracy**, for every question about which model is better. It is the
  reference study's and MSLNet's metric, so the site's numbers stand beside theirs. Test
  macro-F1 and val macro-F1 are shown as secondary, never as the verdict. A recipe choice is
  the exception: it is decided on val (val macro-F1, the selection metric), never on test.
- **Unpaired across architectures.** Seed k of one network shares its batch order with seed k
  of another, but not its initial weights, so nothing makes the two related: differences are
  tested with Welch's t-test over the seeds' accuracies, not with a seed-paired test.
- **Images come in bursts.** Test images taken on one sol by one instrument in one sequence are
  near-copies: every interval resamples groups of related images and, within the same
  replicate, the seeds of each run (analysis.stats.bootstrap).
- **Verdict.** A difference is claimed when Welch's p < 0.05 (it holds across seeds) *and* the
  hierarchical 95 % interval excludes zero (it holds across image groups). Where a replication
  on another machine trained the same parameters, the difference must also hold there (Welch
  p < 0.05, same sign); a replication that does not confirm it turns the verdict into
  "not confirmed".
- **One function, named families.** Every verdict the site shows is a record of `judge`: its
  family, Welch's p, the Holm-adjusted p within the family (`holm_families`: questions asked of
  the same runs are one family), the interval (the hierarchical one, or Welch's interval over
  seeds where no per-image answers exist, labelled so), the smallest difference it could have
  detected (`detectable`, power 0.8) and the verdict decided on the adjusted p. A replication
  is judged the same way, within its family's replication family.
"""

from __future__ import annotations

import numpy as np

SIG_LEVEL = 0.05
DIFFERENCE = "difference"
NO_DIFFERENCE = "no difference shown"
NOT_CONFIRMED = "not confirmed by the replication"
ONE_SEED = "one seed: no test"
PRIMARY = {"split": "test", "metric": "accuracy"}
# Seeds' values closer than this are one value: a run's accuracies differ by multiples of
# 1/images, so seeds that agree agree exactly, and a test of "no spread" is not a t-test.
NO_SPREAD = 1e-12


def _no_spread(*samples: np.ndarray) -> bool:
    return all(np.ptp(v) < NO_SPREAD for v in samples)


def _p_without_spread(difference: float) -> float:
    """Seeds without spread on every side: any difference is certain, none is none."""
    return 0.0 if abs(difference) > NO_SPREAD else 1.0


def _se2_and_df(parts: list[tuple[float, np.ndarray]]) -> tuple[float, float]:
    """The squared standard error of Σ w · mean over independent runs' seeds, and its
    Welch–Satterthwaite degrees of freedom (each run: w² · variance / seeds, seeds − 1)."""
    pieces = [(w * w * v.var(axis=0, ddof=1) / len(v), len(v)) for w, v in parts]
    se2 = sum(p for p, _ in pieces)
    return se2, se2**2 / sum(p * p / (n - 1) for p, n in pieces)


def welch(a: list[float], b: list[float]) -> dict:
    """a − b in mean, with Welch's t-test (unequal variances) over the seeds' values."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    out = {
        "difference": float(a.mean() - b.mean()) if len(a) and len(b) else None,
        "a": a.tolist(),
        "b": b.tolist(),
        "test": "Welch's t-test over seeds",
        "p_value": None,
    }
    if len(a) < 2 or len(b) < 2:
        return out
    if _no_spread(a, b):  # the t statistic is undefined
        out["p_value"] = _p_without_spread(out["difference"])
    else:
        out["p_value"] = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return out


def welch_contrast(terms: list[tuple[float, list[float]]]) -> dict:
    """Σ w · mean(values) over independent runs, with a t-test whose degrees of freedom are
    Welch–Satterthwaite's: for [(1, a), (-1, b)] it is Welch's t-test; for four runs it tests
    an interaction such as (CNN − CNN permuted) − (baseline − baseline permuted)."""
    from scipy import stats

    parts = [(float(w), np.asarray(v)) for w, v in terms]
    estimate = sum(w * v.mean() for w, v in parts)
    out = {"difference": float(estimate), "test": "Welch–Satterthwaite t-test", "p_value": None}
    if any(len(v) < 2 for _, v in parts):
        return out
    if _no_spread(*(v for _, v in parts)):
        out["p_value"] = _p_without_spread(estimate)
        return out
    se2, df = _se2_and_df(parts)
    out["p_value"] = float(2 * stats.t.sf(abs(estimate) / np.sqrt(se2), df))
    out["df"] = float(df)
    return out


POWER = 0.8  # a null result states the difference the experiment would have caught this often


def detectable(
    a: list[float],
    b: list[float],
    bootstrap: dict | None = None,
    power: float = POWER,
    n_sim: int = 4000,
    seed: int = 0,
) -> dict | None:
    """The smallest difference in accuracy that the declared rule would have called a
    difference with probability `power`, given what this comparison measured: the seeds'
    spread (Welch's test, by simulation: normal seeds with the measured standard deviations,
    the same number of seeds, a shifted mean) and, when known, the hierarchical interval's
    width (the interval must exclude zero: a shift of (z_α/2 + z_power) standard errors, the
    standard error read off the interval). The rule needs both, so the larger one bounds what
    the experiment could detect. None with fewer than two seeds a side."""
    return detectable_contrast([(1.0, a), (-1.0, b)], bootstrap, power, n_sim, seed)


def decide(p_value: float | None, ci: dict | None, replication: dict | None = None) -> str:
    """The declared rule: Welch p < 0.05 and a hierarchical interval that excludes zero; where
    a replication exists, it must show a difference of the same sign."""
    if p_value is None:
        return ONE_SEED
    holds = p_value < SIG_LEVEL and (ci is None or ci["excludes_zero"])
    if not holds:
        return NO_DIFFERENCE
    if replication is not None and replication.get("p_value") is not None:
        # A judged replication holds by its own verdict (its family's adjusted p and its
        # interval); a bare test by its p.
        rep_holds = replication.get("verdict", DIFFERENCE) == DIFFERENCE and (
            replication.get("p_holm", replication["p_value"]) < SIG_LEVEL
        )
        same_sign = ci is None or (replication["difference"] > 0) == (ci["estimate"] > 0)
        if not (rep_holds and same_sign):
            return NOT_CONFIRMED
    return DIFFERENCE


def correct(pred: dict) -> np.ndarray:
    """(seeds, images) booleans: each seed's test answers against the truth."""
    return np.asarray(pred["y_pred"]) == np.asarray(pred["y_true"])[None, :]


def pairing_gain(a: list[float], b: list[float]) -> float | None:
    """Variance of a − b paired by seed index over its variance unpaired (below 1: pairing
    helps). Three seeds measure this poorly; it is shown beside every paired detail."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) != len(b) or len(a) < 2:
        return None
    unpaired = a.var(ddof=1) + b.var(ddof=1)
    return float((a - b).var(ddof=1) / unpaired) if unpaired > 0 else None


# --- one rule for every verdict ---------------------------------------------------------------

HIERARCHICAL = "hierarchical bootstrap (seeds × image groups)"
SEEDS_ONLY = "Welch interval over seeds only (no per-image predictions)"
# What every verdict record carries (`judge`); `incomplete` names the ones a record lacks.
RECORD_FIELDS = ("family", "family_size", "p_value", "p_holm", "ci95", "interval", "detectable")


def welch_interval(terms: list[tuple[float, list[float]]], level: float = 0.95) -> list | None:
    """The t interval of Σ w · mean(values) with Welch–Satterthwaite's degrees of freedom: the
    interval over seeds that Welch's test inverts (it excludes zero exactly when p < 1 − level).
    Used where no per-image predictions exist for a hierarchical one. None below two seeds."""
    from scipy import stats

    parts = [(float(w), np.asarray(v)) for w, v in terms]
    if any(len(v) < 2 for _, v in parts):
        return None
    estimate = sum(w * v.mean() for w, v in parts)
    if _no_spread(*(v for _, v in parts)):  # the interval is the estimate itself
        return [float(estimate), float(estimate)]
    se2, df = _se2_and_df(parts)
    half = float(stats.t.ppf((1 + level) / 2, df) * np.sqrt(se2))
    return [float(estimate - half), float(estimate + half)]


def detectable_contrast(
    terms: list[tuple[float, list[float]]],
    bootstrap: dict | None = None,
    power: float = POWER,
    n_sim: int = 4000,
    seed: int = 0,
) -> dict | None:
    """`detectable` for Σ w · mean over independent runs (an interaction of four runs, say):
    the smallest shift of the contrast that Welch–Satterthwaite's test calls at p < 0.05 with
    probability `power`, simulating normal seeds with each run's measured spread; and, with a
    hierarchical interval, the shift of (z_α/2 + z_power) of its standard errors."""
    from scipy import stats

    parts = [(float(w), np.asarray(v)) for w, v in terms]
    if any(len(v) < 2 for _, v in parts):
        return None
    welch_shift = 0.0  # seeds without spread: any shift at all is caught every time
    if not _no_spread(*(v for _, v in parts)):
        rng = np.random.default_rng(seed)
        # n_sim simulated experiments at once, one per column: each run's seeds down axis 0.
        draws = [(w, v.std(ddof=1) * rng.standard_normal((n_sim, len(v))).T) for w, v in parts]
        noise = sum(w * z.mean(axis=0) for w, z in draws)
        se2, df = _se2_and_df(draws)
        # An experiment rejects (p < SIG_LEVEL) when |shift + noise| passes t's two-sided
        # critical value in its own standard errors: above `up`, or below `down`.
        reach = stats.t.isf(SIG_LEVEL / 2, df) * np.sqrt(se2)
        welch_shift = _smallest_caught(np.sort(reach - noise), np.sort(-reach - noise), power)
    out = {"power": power, "welch": welch_shift, "interval": None}
    if bootstrap is not None:
        z = stats.norm.ppf(1 - SIG_LEVEL / 2)
        se = (bootstrap["ci95"][1] - bootstrap["ci95"][0]) / (2 * z)
        out["interval"] = float((z + stats.norm.ppf(power)) * se)
    out["difference"] = max(v for v in (out["welch"], out["interval"]) if v is not None)
    return out


def _smallest_caught(up: np.ndarray, down: np.ndarray, power: float) -> float:
    """The smallest shift s ≥ 0 at which a share `power` of the simulated experiments reject:
    experiment i rejects at s when s > up[i] or s < down[i] (both sorted). The share only
    rises where s passes an `up` bound (passing a `down` bound ends a rejection), so the answer
    is 0 or one of them: exact, no search tolerance. At a bound its own experiment does not
    yet reject; just above it, it does."""
    points = np.maximum(np.concatenate([[0.0], up]), 0.0)  # ascending, as `up` is
    rejecting = (
        np.searchsorted(up, points, "right") + len(down) - np.searchsorted(down, points, "right")
    )
    return float(points[np.argmax(rejecting / len(up) >= power)])


def judge(
    terms: list[tuple[float, list[float]]],
    family: str,
    *,
    bootstrap: dict | None = None,
    replication: dict | None = None,
    metric: str = "accuracy",
) -> dict:
    """The one verdict record of the study: Σ w · mean(seeds' values) over independent runs
    (`terms`: [(1, a), (-1, b)] for a − b; four terms for an interaction), with Welch's test
    (Welch–Satterthwaite for more than two runs), its interval — the hierarchical bootstrap
    when given (`bootstrap`, from bootstrap.hierarchical_bootstrap), else Welch's interval over
    seeds, labelled so — the smallest difference it could have detected, the replication's record
    (from `judge` too) and the verdict (`decide`). Holm's correction within `family` is
    `holm_families`' step; alone, a record is its family's only member."""
    parts = [(float(w), [float(x) for x in v]) for w, v in terms]
    t = welch_contrast(parts)
    empty = any(not v for _, v in parts)
    if bootstrap is not None:
        ci, kind = [float(x) for x in bootstrap["ci95"]], HIERARCHICAL
    else:
        ci, kind = welch_interval(parts), SEEDS_ONLY
    two = len(parts) == 2 and (parts[0][0], parts[1][0]) == (1.0, -1.0)
    name = "Welch's t-test over seeds" if two else "Welch–Satterthwaite t-test over seeds"
    out = {
        "family": family,
        "family_size": 1 if t["p_value"] is not None else 0,
        "metric": metric,
        "terms": [[w, v] for w, v in parts],
        "difference": None if empty else t["difference"],
        "p_value": t["p_value"],
        "p_holm": t["p_value"],
        "ci95": ci,
        "interval": kind,
        "detectable": detectable_contrast(parts, bootstrap),
        "test": name,  # the interval's kind is `interval`
        "replication": replication,
    }
    if two:
        out["a"], out["b"] = parts[0][1], parts[1][1]
    if "df" in t:
        out["df"] = t["df"]
    if bootstrap is not None:
        out["bootstrap"], out["image_groups"] = bootstrap, bootstrap["groups"]
    out["verdict"] = _decide_record(out)
    return out


def _decide_record(r: dict) -> str:
    """`decide` on a record: its Holm-adjusted p, its interval, its replication."""
    ci = r["ci95"]  # None only where one seed leaves no test (`decide` stops at the p)
    interval = ci and {"excludes_zero": ci[0] > 0 or ci[1] < 0, "estimate": r["difference"]}
    return decide(r["p_holm"], interval, r.get("replication"))


def holm(p_values: dict) -> dict:
    """Holm's step-down adjustment of a family of p-values (runs without a test are left out):
    the k-th smallest is multiplied by (m - k + 1), made monotone, capped at 1."""
    tested = sorted((p, n) for n, p in p_values.items() if p is not None)
    m, running, out = len(tested), 0.0, {n: None for n in p_values}
    for k, (p, n) in enumerate(tested):
        running = max(running, min(1.0, (m - k) * p))
        out[n] = running
    return out


def records(tree) -> list[dict]:
    """Every verdict record (a dict with a `verdict`) anywhere in a findings tree, in order."""
    out = []
    if isinstance(tree, dict):
        if "verdict" in tree:
            out.append(tree)
        for v in tree.values():
            out += records(v)
    elif isinstance(tree, list | tuple):
        for v in tree:
            out += records(v)
    return out


def _test_key(r: dict) -> str:
    """One test, however often the site shows it: a finding that repeats its comparison's
    record, or one comparison named twice, is one member of its family, not two."""
    import json

    return json.dumps([r["family"], r["metric"], r["terms"]])


def holm_families(found: list[dict]) -> None:
    """Holm's correction within each named family, and every verdict re-decided on its
    adjusted p (in place). Replications first: a primary verdict needs its replication's."""
    judged = [r for r in found if "terms" in r and "family" in r]
    for replications in (True, False):
        members: dict[str, dict[str, list[dict]]] = {}
        for r in judged:
            if bool(r.get("replicates")) == replications:
                members.setdefault(r["family"], {}).setdefault(_test_key(r), []).append(r)
        for tests in members.values():
            adjusted = holm({key: same[0]["p_value"] for key, same in tests.items()})
            size = sum(p is not None for p in adjusted.values())
            for key, same in tests.items():
                for r in same:
                    r["p_holm"], r["family_size"] = adjusted[key], size
                    r["verdict"] = _decide_record(r)


def incomplete(tree, path: str = "") -> list[tuple[str, list[str]]]:
    """Each verdict in a findings tree that lacks part of the rule: its family, Welch p,
    adjusted p, interval or detectable difference (a one-seed verdict has no test to lack).
    Returned as (path, missing fields)."""
    out = []
    if isinstance(tree, dict):
        if "verdict" in tree and tree["verdict"] != ONE_SEED:
            missing = [k for k in RECORD_FIELDS if tree.get(k) is None]
            if missing:
                out.append((path or ".", missing))
        for k, v in tree.items():
            out += incomplete(v, f"{path}.{k}")
    elif isinstance(tree, list | tuple):
        for i, v in enumerate(tree):
            out += incomplete(v, f"{path}[{i}]")
    return out
