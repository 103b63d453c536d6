"""The study's science across runs: comparisons between runs and the findings the site states.

Pure functions over run records (metrics.json as dicts) and their predictions (predictions.npz
as dicts of arrays). The runner loads and writes; this module decides, by the rule declared in
`analysis.stats.verdicts`: test accuracy is the primary metric; runs of different networks are
compared unpaired (Welch's t-test over seeds) with a hierarchical bootstrap interval over seeds
and groups of related test images; a difference is claimed when both hold (and, where another
machine replicated both runs, there too). The seed-paired t-test and McNemar's test per seed
are kept as detail, never as the verdict.
"""

from __future__ import annotations

import numpy as np

from analysis.stats import bootstrap, verdicts
from analysis.stats.verdicts import DIFFERENCE, NO_DIFFERENCE, ONE_SEED, SIG_LEVEL


def seed_values(run: dict, split: str = "test", metric: str = "accuracy") -> dict[int, float]:
    """A run's per-seed values of a metric, by seed."""
    return {int(r["seed"]): float(r[split][metric]) for r in run.get("per_seed", [])}


def paired(a: dict, b: dict, split: str = "test", metric: str = "accuracy") -> dict:
    """a − b over the seeds both runs trained, with a paired t-test (scipy.stats.ttest_rel).

    Verdict: `difference` when p < SIG_LEVEL; a single shared seed gets no test at all."""
    from scipy import stats

    va, vb = seed_values(a, split, metric), seed_values(b, split, metric)
    seeds = sorted(set(va) & set(vb))
    diffs = np.asarray([va[s] - vb[s] for s in seeds])
    out = {
        "metric": metric,
        "split": split,
        "seeds": seeds,
        "a": [va[s] for s in seeds],
        "b": [vb[s] for s in seeds],
        "difference": float(diffs.mean()) if len(seeds) else None,
        "difference_std": float(diffs.std(ddof=1)) if len(seeds) > 1 else None,
        "same_sign_all_seeds": bool(len(seeds) and (np.all(diffs > 0) or np.all(diffs < 0))),
        "p_value": None,
        "verdict": ONE_SEED,
    }
    if len(seeds) >= 2:
        if np.ptp(diffs) < 1e-12:  # no spread: the t statistic is undefined
            p = 0.0 if diffs[0] != 0 else 1.0
        else:
            p = float(stats.ttest_rel([va[s] for s in seeds], [vb[s] for s in seeds]).pvalue)
        out.update(p_value=p, verdict=DIFFERENCE if p < SIG_LEVEL else NO_DIFFERENCE)
    return out


def same_test_images(pa: dict, pb: dict) -> bool:
    return np.array_equal(pa["files"], pb["files"]) and np.array_equal(pa["y_true"], pb["y_true"])


def mcnemar_per_seed(pa: dict, pb: dict) -> list[dict]:
    """McNemar's test between the two runs' predictions of each seed they share."""
    from analysis.stats import evaluate

    if not same_test_images(pa, pb):
        raise ValueError("paired tests need the same test images in the same order")
    row_a = {int(s): i for i, s in enumerate(pa["seeds"])}
    row_b = {int(s): i for i, s in enumerate(pb["seeds"])}
    return [
        {
            "seed": s,
            **evaluate.mcnemar(pa["y_true"], pa["y_pred"][row_a[s]], pb["y_pred"][row_b[s]]),
        }
        for s in sorted(set(row_a) & set(row_b))
    ]


def contrast(
    a: str,
    b: str,
    runs: dict,
    preds: dict,
    groups: np.ndarray | None = None,
    replica: tuple[list[float], list[float]] | None = None,
    *,
    family: str,
) -> dict:
    """a − b in test accuracy by the declared rule (`analysis.stats.verdicts.judge`): Welch's
    t-test over seeds, the hierarchical (seeds × image groups) bootstrap interval when both
    runs' test predictions and the groups are known, and the replication's own verdict (Welch
    over the other machine's seeds, in the family's replication family) when `replica` holds
    its per-seed accuracies of a and b. The seed-paired test stays beside it as detail
    (`paired_p_value`, `pairing_gain`), never the verdict's p."""
    va, vb = seed_values(runs[a]), seed_values(runs[b])
    detail = paired(runs[a], runs[b], "test", "accuracy")
    boot = None
    if groups is not None and a in preds and b in preds and same_test_images(preds[a], preds[b]):
        boot = bootstrap.hierarchical_bootstrap(
            [(1.0, verdicts.correct(preds[a])), (-1.0, verdicts.correct(preds[b]))], groups
        )
    rep = None
    if replica is not None:
        rep = verdicts.judge(
            [(1.0, replica[0]), (-1.0, replica[1])], f"{family} (replication)", metric="accuracy"
        )
        rep["replicates"] = family
    out = verdicts.judge(
        [(1.0, list(va.values())), (-1.0, list(vb.values()))],
        family,
        bootstrap=boot,
        replication=rep,
    )
    out.update(
        split="test",
        seeds_a=sorted(va),
        seeds_b=sorted(vb),
        seeds=detail["seeds"],  # the seeds both runs trained (what `paired` pairs)
        paired_p_value=detail["p_value"],
        pairing_gain=verdicts.pairing_gain(detail["a"], detail["b"]),
        difference_std=detail["difference_std"],
        same_sign_all_seeds=detail["same_sign_all_seeds"],
    )
    return out


def compare(
    a: str,
    b: str,
    runs: dict,
    preds: dict,
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
    *,
    family: str,
) -> dict | None:
    """Run a against run b: test accuracy by the declared rule (the one verdict, in `family`),
    test and val macro-F1 as secondary metrics (Welch over seeds, reported, never a verdict),
    McNemar per seed as detail. `replicas` maps a published run to its replication's per-seed
    test accuracies on another machine."""
    if a not in runs or b not in runs:
        return None
    rep = None
    if replicas and a in replicas and b in replicas:
        rep = (replicas[a], replicas[b])
    out = {
        "a": a,
        "b": b,
        "accuracy": contrast(a, b, runs, preds, groups, rep, family=family),
        "macro_f1": _secondary(runs[a], runs[b], "test", "macro_f1"),
        "val_macro_f1": _secondary(runs[a], runs[b], "val", "macro_f1"),
        "mcnemar": [],
    }
    if a in preds and b in preds:
        out["mcnemar"] = mcnemar_per_seed(preds[a], preds[b])
    return out


def _secondary(a: dict, b: dict, split: str, metric: str) -> dict:
    """A secondary metric: Welch over seeds, reported beside the verdict, never one itself (no
    `verdict` key: a p below 5 % here decides nothing)."""
    va, vb = seed_values(a, split, metric), seed_values(b, split, metric)
    detail = paired(a, b, split, metric)
    out = verdicts.welch(list(va.values()), list(vb.values()))
    out.update(
        split=split,
        metric=metric,
        secondary=True,
        paired_p_value=detail["p_value"],
    )
    return out


def differs_only_in(run: dict, other: dict, keys: set[str]) -> bool:
    """True when two runs' parameters are equal apart from `keys`."""
    pa = {k: v for k, v in run.get("params", {}).items() if k not in keys}
    pb = {k: v for k, v in other.get("params", {}).items() if k not in keys}
    return pa == pb


def original_of(name: str, runs: dict) -> str | None:
    """The run a pixel-permuted run was made from: the same parameters without the shuffle, or,
    failing that, without the shuffle and with another number of epochs (a permuted network
    learns slowly, so its control may train longer and still be the same comparison)."""
    for allowed in ({"permute_pixels"}, {"permute_pixels", "epochs"}):
        for other, m in runs.items():
            unshuffled = not m["params"].get("permute_pixels")
            if other != name and unshuffled and differs_only_in(runs[name], m, allowed):
                return other
    return None


def summary_row(name: str, m: dict) -> dict:
    """One line of a results table: means and sample standard deviations over seeds."""
    t, v = m["test"], m["val"]
    return {
        "run": name,
        "seeds": len(m.get("seeds", [])),
        "test_accuracy": t["accuracy"],
        "test_accuracy_std": t.get("accuracy_std", 0.0),
        "test_macro_f1": t["macro_f1"],
        "test_macro_f1_std": t.get("macro_f1_std", 0.0),
        "val_macro_f1": v["macro_f1"],
        "val_macro_f1_std": v.get("macro_f1_std", 0.0),
        "val_accuracy": v["accuracy"],
        "parameters": m["model"]["parameters"],
        "flops": m["model"]["flops_per_image"],
        "train_seconds": m["timing"]["train_seconds"],
        "stop_reason": m.get("training", {}).get("stop_reason", []),
        "converged": m.get("training", {}).get("converged"),
    }
