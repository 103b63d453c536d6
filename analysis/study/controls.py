"""The study's controlled experiments: the kernel-size family with Holm's correction and its
capacity control, the pixel-permutation (locality) finding with its noise control, and the
translation-robustness finding.

Each is built on the run-to-run comparisons in `analysis.study.comparisons` (`compare`,
`seed_values`, ...); `analysis.study.findings` states them.
"""

from __future__ import annotations

import numpy as np

from analysis.stats import verdicts
from analysis.stats.verdicts import SIG_LEVEL
from analysis.study.comparisons import compare, original_of, seed_values, summary_row


def holm(p_values: dict[str, float | None]) -> dict[str, float | None]:
    """Holm's step-down adjustment of a family of p-values (runs without a test are left out):
    the k-th smallest is multiplied by (m - k + 1), made monotone, capped at 1."""
    tested = sorted((p, n) for n, p in p_values.items() if p is not None)
    m, running, out = len(tested), 0.0, {n: None for n in p_values}
    for k, (p, n) in enumerate(tested):
        running = max(running, min(1.0, (m - k) * p))
        out[n] = running
    return out


def kernel_finding(
    runs: dict,
    preds: dict,
    reference: str,
    members: list[str],
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
) -> dict:
    """The kernel experiments: which one val chooses (mean val macro-F1 over seeds), each one
    against the reference on test (paired over seeds), and the capacity control: a run with 3×3
    kernels and more filters against the larger kernel whose parameters it matches."""
    names = [
        n
        for n in members
        if n in runs and "test" in runs[n] and runs[n].get("same_computation_as") != reference
    ]
    if reference in runs and reference not in names:
        names.insert(0, reference)
    if not names:
        return {}
    ref = runs.get(reference)
    rows = {n: summary_row(n, runs[n]) for n in names}
    out = {
        "runs": names,
        "rows": rows,
        "chosen_on_val": max(names, key=lambda n: (rows[n]["val_macro_f1"], n == reference)),
        "against_reference": {
            n: compare(n, reference, runs, preds, groups, replicas)
            for n in names
            if n != reference and ref
        },
    }
    # Several kernels are tested against one reference at once: Holm's correction says which
    # verdicts survive that multiplicity, and the verdict the site states is Holm's.
    adjusted = holm({n: c["accuracy"]["p_value"] for n, c in out["against_reference"].items()})
    out["holm"] = {
        n: {"p_adjusted": p, "difference": p is not None and p < SIG_LEVEL}
        for n, p in adjusted.items()
    }
    for n, p in adjusted.items():
        if p is not None:
            acc = out["against_reference"][n]["accuracy"]
            acc["p_holm"] = p
            acc["verdict"] = verdicts.decide(p, acc.get("bootstrap"), acc.get("replication"))
            out["against_reference"][n]["verdict"] = acc["verdict"]
    if ref:
        out["cost"] = {
            n: {
                "parameter_ratio": rows[n]["parameters"] / rows[reference]["parameters"],
                "flops_ratio": rows[n]["flops"] / rows[reference]["flops"],
                "train_time_ratio": rows[n]["train_seconds"] / rows[reference]["train_seconds"],
            }
            for n in names
        }
    filters = ref["params"].get("filters") if ref else None
    wide = [n for n in names if ref and runs[n]["params"].get("filters") != filters]
    controls = {}
    for w in wide:
        # The larger-kernel run with the nearest parameter count is what the control matches.
        others = [n for n in names if n not in wide and n != reference]
        if not others:
            continue
        target = min(others, key=lambda n: abs(rows[n]["parameters"] - rows[w]["parameters"]))
        controls[w] = {
            "matches": target,
            "parameter_ratio": rows[w]["parameters"] / rows[target]["parameters"],
            "comparison": compare(w, target, runs, preds, groups, replicas),
        }
    out["capacity_controls"] = controls
    return out


def permutation_finding(
    runs: dict,
    preds: dict,
    reference: str,
    baseline: str,
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
) -> dict:
    """What destroying locality costs each model kind, and the noise control.

    A fixed pixel shuffle only renames a dense network's inputs: the baseline on permuted
    pixels is the same model class as the baseline, so any "difference" between them is
    training noise, the yardstick for every other comparison. The CNN's loss is tested the
    same way, and the gap between the two losses per seed tells whether convolution's gain
    rests on locality."""
    out: dict = {"runs": {}}
    for name, m in runs.items():
        if not m.get("params", {}).get("permute_pixels"):
            continue
        original = original_of(name, runs)
        if original is None:
            continue
        out["runs"][original] = {
            "permuted": name,
            "comparison": compare(original, name, runs, preds, groups, replicas),
        }
    if baseline in out["runs"]:
        out["noise_control"] = out["runs"][baseline]
    if reference in out["runs"] and baseline in out["runs"]:
        cnn_perm, base_perm = out["runs"][reference]["permuted"], out["runs"][baseline]["permuted"]
        # Four independently trained runs: the interaction is tested unpaired (Welch–
        # Satterthwaite) with the hierarchical interval over the four runs' seeds and groups.
        names = (reference, cnn_perm, baseline, base_perm)
        terms = list(zip((1.0, -1.0, -1.0, 1.0), names, strict=True))
        effect = verdicts.welch_contrast(
            [(w, list(seed_values(runs[n]).values())) for w, n in terms]
        )
        effect["runs"] = list(names)
        effect["bootstrap"] = None
        if groups is not None and all(n in preds for n in names):
            effect["bootstrap"] = verdicts.hierarchical_bootstrap(
                [(w, verdicts.correct(preds[n])) for w, n in terms], groups
            )
        effect["ci95"] = effect["bootstrap"]["ci95"] if effect["bootstrap"] else None
        effect["verdict"] = verdicts.decide(effect["p_value"], effect["bootstrap"])
        out["locality_effect"] = effect
    return out


def translation_finding(runs: dict, reference: str, baseline: str) -> dict:
    """Accuracy lost when test images shift by up to a quarter of the side, per model kind;
    the relative drops compared over seeds. Both kinds are trained without augmentation, so
    neither has been shown shifted images: the difference is the architecture's."""
    out: dict = {}
    for name in (reference, baseline):
        t = runs.get(name, {}).get("translation")
        if not t:
            continue
        per_seed = np.asarray(t["accuracy_per_seed"])
        relative = 1 - per_seed[:, -1] / np.maximum(per_seed[:, 0], 1e-9)
        out[name] = {
            "shifts": t["shifts"],
            "image_size": t["image_size"],
            "max_shift_fraction": t["shifts"][-1] / t["image_size"],
            "unshifted": float(per_seed[:, 0].mean()),
            "shifted": float(per_seed[:, -1].mean()),
            "drop": float((per_seed[:, 0] - per_seed[:, -1]).mean()),
            "relative_drop": float(relative.mean()),
            "relative_drop_per_seed": relative.tolist(),
        }
    if reference in out and baseline in out:
        out["comparison"] = verdicts.welch(
            out[reference]["relative_drop_per_seed"], out[baseline]["relative_drop_per_seed"]
        )
        out["comparison"]["verdict"] = verdicts.decide(out["comparison"]["p_value"], None)
    return out
