"""The study's controlled experiments: the kernel-size family with Holm's correction and its
capacity control, the pixel-permutation (locality) finding with its noise control, and the
translation-robustness finding.

Each is built on the run-to-run comparisons in `analysis.study.comparisons` (`compare`,
`seed_values`, ...); `analysis.study.findings` states them.
"""

from __future__ import annotations

import numpy as np

from analysis.stats import bootstrap, verdicts
from analysis.stats.verdicts import SIG_LEVEL
from analysis.study.comparisons import (
    compare,
    differs_only_in,
    original_of,
    seed_values,
    summary_row,
)

# The families whose members are built here (Holm's correction within each).
LOCALITY = "locality"
COLOUR = "colour under the shuffle"
TRANSLATION = "translation"


def kernel_finding(
    runs: dict,
    preds: dict,
    reference: str,
    members: list[str],
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
    family: str = "kernels",
    control_family: str = "kernel capacity control",
) -> dict:
    """The kernel experiments: which one val chooses (mean val macro-F1 over seeds), each one
    against the reference on test (one family: Holm's correction within `family`), and the
    capacity control: a run with 3×3 kernels and more filters against the larger kernel whose
    parameters it matches (`control_family`)."""
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
            n: compare(n, reference, runs, preds, groups, replicas, family=family)
            for n in names
            if n != reference and ref
        },
    }
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
            "comparison": compare(w, target, runs, preds, groups, replicas, family=control_family),
        }
    out["capacity_controls"] = controls
    # Several kernels are tested against one reference at once: Holm's correction says which
    # verdicts survive that multiplicity, and the verdict the site states is Holm's.
    verdicts.holm_families(verdicts.records(out))
    out["holm"] = {
        n: {
            "p_adjusted": c["accuracy"]["p_holm"],
            "difference": c["accuracy"]["p_holm"] is not None
            and c["accuracy"]["p_holm"] < SIG_LEVEL,
        }
        for n, c in out["against_reference"].items()
    }
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
            "comparison": compare(original, name, runs, preds, groups, replicas, family=LOCALITY),
        }
    if baseline in out["runs"]:
        out["noise_control"] = out["runs"][baseline]
    if reference in out["runs"] and baseline in out["runs"]:
        cnn_perm, base_perm = out["runs"][reference]["permuted"], out["runs"][baseline]["permuted"]
        # Four independently trained runs: the interaction is tested unpaired (Welch–
        # Satterthwaite) with the hierarchical interval over the four runs' seeds and groups.
        names = (reference, cnn_perm, baseline, base_perm)
        terms = list(zip((1.0, -1.0, -1.0, 1.0), names, strict=True))
        boot = None
        if groups is not None and all(n in preds for n in names):
            boot = bootstrap.hierarchical_bootstrap(
                [(w, verdicts.correct(preds[n])) for w, n in terms], groups
            )
        effect = verdicts.judge(
            [(w, list(seed_values(runs[n]).values())) for w, n in terms],
            LOCALITY,
            bootstrap=boot,
        )
        effect["runs"] = list(names)
        out["locality_effect"] = effect
    if baseline in out["runs"]:
        colour = colour_finding(runs, preds, out["runs"][baseline]["permuted"], groups, replicas)
        if colour:
            out["colour"] = colour
    # The shuffled runs against their originals and the interaction: one family.
    verdicts.holm_families(verdicts.records(out))
    return out


def colour_finding(
    runs: dict,
    preds: dict,
    dense_shuffled: str,
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
) -> dict | None:
    """What a position shuffle leaves the CNN: each pixel's colour (its three values stay
    together) and every image's colour statistics, which global average pooling reads wherever
    the pixels are. The scrambled CNN (every value shuffled, channels too) is the shuffled CNN
    without them; its twin is the run with the same parameters on `model: cnn`. Two tests, one
    family: what colour is worth to the shuffled CNN (twin − scrambled), and whether the CNN
    without colour still beats the shuffled dense network (scrambled − dense). `share` is the
    part of the shuffled CNN's lead over the shuffled dense network that colour accounts for
    (means over seeds), with its interval from the hierarchical bootstrap when the runs' test
    answers and the image groups are given."""
    for name, m in runs.items():
        if m.get("params", {}).get("model") != "cnn_scrambled" or "test" not in m:
            continue
        twin = next(
            (
                other
                for other, o in runs.items()
                if o.get("params", {}).get("model") == "cnn"
                and "test" in o
                and differs_only_in(m, o, {"model"})
            ),
            None,
        )
        if twin is None:
            continue

        def acc(n: str) -> float:
            return float(runs[n]["test"]["accuracy"])

        lead = acc(twin) - acc(dense_shuffled)
        ctx = {"groups": groups, "replicas": replicas, "family": COLOUR}
        share_ci95 = None
        three = (twin, name, dense_shuffled)
        if lead > 0 and groups is not None and all(n in preds for n in three):
            drawn = bootstrap.bootstrap_accuracies(
                {n: verdicts.correct(preds[n]) for n in three}, groups
            )
            drawn_lead = drawn[twin] - drawn[dense_shuffled]
            ratio = (drawn[twin] - drawn[name]) / np.where(drawn_lead == 0, np.nan, drawn_lead)
            share_ci95 = [float(q) for q in np.nanquantile(ratio, [0.025, 0.975])]
        return {
            "scrambled": name,
            "positions_only": twin,
            "dense_shuffled": dense_shuffled,
            "colour": compare(twin, name, runs, preds, **ctx),
            "against_dense": compare(name, dense_shuffled, runs, preds, **ctx),
            "lead": lead,
            "share": (acc(twin) - acc(name)) / lead if lead > 0 else None,
            "share_ci95": share_ci95,
        }
    return None


def shift_drops(run: dict) -> list[float] | None:
    """Accuracy lost at the largest test-time shift, per seed, in accuracy (points when shown;
    not relative): the unshifted column minus the last one."""
    t = run.get("translation")
    if not t:
        return None
    per_seed = np.asarray(t["accuracy_per_seed"])
    return (per_seed[:, 0] - per_seed[:, -1]).tolist()


def translation_finding(runs: dict, reference: str, baseline: str) -> dict:
    """Accuracy lost when test images shift by up to a quarter of the side, per model kind;
    the losses compared over seeds in one unit, accuracy points (Welch, the interval over
    seeds: the shifted images have no stored per-image answers). Both kinds are trained without
    augmentation, so neither has been shown shifted images: the difference is the
    architecture's. The relative drops are kept beside it as description only."""
    out: dict = {}
    for name in (reference, baseline):
        t = runs.get(name, {}).get("translation")
        if not t:
            continue
        per_seed = np.asarray(t["accuracy_per_seed"])
        relative = 1 - per_seed[:, -1] / np.maximum(per_seed[:, 0], 1e-9)
        drops = shift_drops(runs[name])
        out[name] = {
            "shifts": t["shifts"],
            "image_size": t["image_size"],
            "max_shift_fraction": t["shifts"][-1] / t["image_size"],
            "unshifted": float(per_seed[:, 0].mean()),
            "shifted": float(per_seed[:, -1].mean()),
            "drop": float(np.mean(drops)),
            "drop_per_seed": drops,
            "relative_drop": float(relative.mean()),
            "relative_drop_per_seed": relative.tolist(),
        }
    if reference in out and baseline in out:
        out["comparison"] = verdicts.judge(
            [(1.0, out[reference]["drop_per_seed"]), (-1.0, out[baseline]["drop_per_seed"])],
            TRANSLATION,
            metric="accuracy lost at the largest shift",
        )
    return out
