"""What the pages may say about how runs were made — "by the same recipe", "identical but for
their kernels", "in the same order", "every run levelled off" — decided from the run records,
so that a template states such a claim only where the records bear it out and otherwise names
the difference. Pure functions of metrics.json records (dicts); the renderer registers them as
template globals.
"""

from __future__ import annotations

from collections.abc import Iterable

from analysis.study.scout import RECIPE

# Which images a run learns from and at what size: a run that differs in one of these did not
# see "the same training images". A missing key is the notebook's default (older records lack
# the newer parameters).
DATA = ("image_size", "max_per_split", "train_fraction", "permute_pixels")
DEFAULTS = {"train_fraction": 1.0, "head": "gap", "permute_pixels": False}
# How a run is trained, seeds aside: a difference in seeds is not a different recipe.
RECIPE_KEYS = tuple(sorted(RECIPE - {"seeds"}))


# How a page names a parameter that differs between runs.
PARAM_WORDS = {
    "learning_rate": "learning rate",
    "epochs": "training length",
    "batch_size": "batch size",
    "warmup_epochs": "warm-up",
    "weight_decay": "weight decay",
    "label_smoothing": "label smoothing",
    "class_weighting": "class weights",
    "class_weight_cap": "class-weight cap",
    "augment": "augmentation",
    "bn_momentum": "batch-norm momentum",
    "image_size": "input size",
    "train_fraction": "share of train",
    "permute_pixels": "pixel order",
    "max_per_split": "images per split",
    "data_sha256": "data set",
}


def in_words(keys: Iterable[str]) -> str:
    """Parameter names as a page says them: ["learning_rate", "epochs"] -> "learning rate and
    training length"."""
    order = list(PARAM_WORDS)
    keys = sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))
    words = [PARAM_WORDS.get(k, k.replace("_", " ")) for k in keys]
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1] if words else ""


def param(record: dict, key: str):
    return record["params"].get(key, DEFAULTS.get(key))


def differences(a: dict, b: dict, keys: Iterable[str]) -> dict[str, tuple]:
    """The parameters among `keys` on which two run records differ: key -> (a's, b's)."""
    return {k: (param(a, k), param(b, k)) for k in keys if param(a, k) != param(b, k)}


def recipe_differences(a: dict, b: dict) -> dict[str, tuple]:
    """Where two runs' training recipes differ (learning rate, epochs, …): {} means one recipe."""
    return differences(a, b, RECIPE_KEYS)


def data_differences(a: dict, b: dict) -> dict[str, tuple]:
    """Where two runs' training images differ: the data set itself (its sha256) or which part of
    it, at which size, they learn from."""
    out = differences(a, b, DATA)
    sha_a, sha_b = (r["provenance"]["data_sha256"] for r in (a, b))
    if sha_a != sha_b:
        out["data_sha256"] = (sha_a, sha_b)
    return out


def varying(records: Iterable[dict], keys: Iterable[str] | None = None) -> dict[str, list]:
    """The parameters (among `keys`; all but seeds when None) that take more than one value across
    `records`: key -> the values, in the records' order, one per record."""
    records = list(records)
    keys = set(keys) if keys is not None else {k for r in records for k in r["params"]} - {"seeds"}
    out = {}
    for k in sorted(keys):
        values = [param(r, k) for r in records]
        if any(v != values[0] for v in values):
            out[k] = values
    return out


def recipe_spread(records: Iterable[dict]) -> dict[str, list]:
    """The recipe parameters that differ between `records`, each with its distinct values in
    first-seen order: what "every model is trained the same way" would hide."""
    return {
        k: list(dict.fromkeys(map(_hashable, values)))
        for k, values in varying(records, RECIPE_KEYS).items()
    }


def recipe_of(record: dict, candidates: dict[str, dict]) -> str | None:
    """The first of `candidates` (name -> record) whose recipe `record` shares, or None."""
    return next((n for n, c in candidates.items() if not recipe_differences(record, c)), None)


def all_converged(records: Iterable[dict]) -> bool:
    """True when every record's training levelled off on val (the plateau rule, per run)."""
    records = list(records)
    return bool(records) and all(r["training"]["converged"] for r in records)


def same_order(first: dict[str, float], second: dict[str, float]) -> bool:
    """True when the names both dicts score rank the same way in both (highest first)."""
    shared = [n for n in first if n in second]
    return sorted(shared, key=lambda n: -first[n]) == sorted(shared, key=lambda n: -second[n])


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def rules() -> dict:
    """The study's fixed rules that pages name (the significance level, the power a null result
    is stated at, what counts as a noteworthy share of a run's time), read from the code that
    applies them so that the prose and the verdicts cannot disagree."""
    from analysis.stats import bootstrap, verdicts
    from analysis.study import cost

    return {
        "significance": verdicts.SIG_LEVEL,
        "power": verdicts.POWER,
        "bootstrap_replicates": bootstrap.N_BOOT,
        "training_step_passes": cost.TRAINING_STEP_PASSES,
        "noteworthy_share": cost.NOTEWORTHY,
    }


# Registered as template globals by runner.report.render.
GLOBALS = {
    "in_words": in_words,
    "recipe_differences": recipe_differences,
    "data_differences": data_differences,
    "varying": varying,
    "recipe_spread": recipe_spread,
    "recipe_of": recipe_of,
    "all_converged": all_converged,
    "same_order": same_order,
}
