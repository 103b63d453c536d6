"""Does a published result hold under another framework and machine?

`bench/backend.py` retrains published runs under Keras's JAX backend on a GPU with the same
arrays, parameters and seeds. A seed there is not the same initialisation or batch order as the
same seed here (each backend has its own random generator), so the comparison is between the
two sets of seeds: their means, and how far apart they are against each side's seed spread.
A comparison's replication is judged by the study's one rule (`analysis.stats.verdicts.judge`,
Welch over the other machine's seeds) where the comparison is made (`comparisons.contrast`).
"""

from __future__ import annotations

import numpy as np

from analysis.stats import verdicts

# Parameters the runner adds for the notebook's own bookkeeping; they change no number.
BOOKKEEPING = {"run_name", "profile", "output_dir", "data_dir", "code_version", "skip_bad_entries"}


def _side(per_seed_test: list[float], val_best: list[float], timing: dict, converged) -> dict:
    acc, val = np.asarray(per_seed_test), np.asarray(val_best)
    return {
        "test_accuracy": float(acc.mean()),
        "test_accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
        "test_accuracy_per_seed": acc.tolist(),
        "val_macro_f1": float(val.mean()),
        "val_macro_f1_std": float(val.std(ddof=1)) if len(val) > 1 else 0.0,
        "converged": bool(converged),
        "seconds_per_epoch": timing["train_seconds"] / float(np.mean(timing["epochs_run"])),
    }


def same_parameters(published: dict, other: dict) -> bool:
    """The other run trained what the published run trained (bookkeeping aside)."""
    mine = {k: v for k, v in published.items() if k not in BOOKKEEPING}
    theirs = {k: v for k, v in other.items() if k not in BOOKKEEPING}
    return mine == theirs


def longer_schedule_of(name: str, runs: dict[str, dict]) -> str | None:
    """The run of `runs` that `name` repeats with more epochs and nothing else changed."""
    mine = {k: v for k, v in runs[name]["params"].items() if k not in BOOKKEEPING | {"epochs"}}
    for other, r in runs.items():
        theirs = {k: v for k, v in r["params"].items() if k not in BOOKKEEPING | {"epochs"}}
        if (
            other != name
            and theirs == mine
            and r["params"]["epochs"] < runs[name]["params"]["epochs"]
        ):
            return other
    return None


def counterpart(published: dict[str, dict], other_runs: dict[str, dict], name: str) -> str | None:
    """The other machine's run that trained what the published run `name` trained: the run of
    that name, else one saved under another name (a plan changed after the check was run)."""
    if name not in published:
        return None
    mine = published[name]["params"]
    if name in other_runs and same_parameters(mine, other_runs[name]["params"]):
        return name
    return next((o for o, r in other_runs.items() if same_parameters(mine, r["params"])), None)


def disagrees(rep: dict | None, here: dict) -> bool:
    """The replication's verdict (its record from `verdicts.judge`, Welch over the other
    machine's seeds) contradicts this one's: another verdict, or a difference of the other sign.
    No replication (or one without a test) contradicts nothing."""
    if not rep or rep.get("p_value") is None:
        return False
    if rep["verdict"] != here["verdict"]:
        return True
    return rep["verdict"] == verdicts.DIFFERENCE and (rep["difference"] > 0) != (
        here["difference"] > 0
    )


def comparison(published: dict[str, dict], other: dict, planned: set[str] | None = None) -> dict:
    """Rows of the cross-check: each run of `other` (a `bench/backend.json`) beside the
    published run of that name, when its metrics exist and their parameters still match.

    `published` maps run name -> metrics.json. A row's `status` is 'compared', 'pending' (no
    published result yet), 'changed' (the plan changed since the other run: not comparable) or
    'extra' (not a run of the plan, when `planned` names the plan's runs).
    """
    rows = []
    for name, r in other["runs"].items():
        row = {
            "run": name,
            "other": _side(
                [s["test"]["accuracy"] for s in r["per_seed"]],
                r["val_macro_f1_best"],
                r["timing"],
                r["converged"],
            ),
        }
        row["epochs"] = r["params"].get("epochs")
        m = published.get(name)
        # A run saved under another name that trained what a published run trained is that
        # run's check (the plan adopted its parameters after the check ran).
        twin = next(
            (
                p
                for p, pm in published.items()
                if p != name
                and (planned is None or p in planned)
                and same_parameters(pm["params"], r["params"])
            ),
            None,
        )
        if twin and not (m and same_parameters(m["params"], r["params"])):
            row["as"], m = twin, published[twin]
            row["status"] = "compared"
        elif planned is not None and name not in planned:
            row["status"] = "extra"
        elif m is None:
            row["status"] = "pending"
        elif not same_parameters(m["params"], r["params"]):
            row["status"] = "changed"
        else:
            row["status"] = "compared"
        if row["status"] == "compared":
            mine = _side(
                m["test"]["accuracy_per_seed"],
                [max(h["val_macro_f1"]) for h in m["history"]],
                m["timing"],
                m["training"]["converged"],
            )
            row["published"] = mine
            for key in ("test_accuracy", "val_macro_f1"):
                diff = row["other"][key] - mine[key]
                spread = max(row["other"][f"{key}_std"], mine[f"{key}_std"])
                row[f"{key}_difference"] = diff
                # Outside both sides' seed spread: the machines differ by more than seeds do.
                row[f"{key}_beyond_spread"] = bool(abs(diff) > spread)
            row["speedup"] = mine["seconds_per_epoch"] / row["other"]["seconds_per_epoch"]
        rows.append(row)
    for row in rows:
        row["longer_schedule_of"] = longer_schedule_of(row["run"], other["runs"])
    compared = [r for r in rows if r["status"] == "compared"]

    def largest(key: str) -> float | None:
        return max((abs(r[f"{key}_difference"]) for r in compared), default=None)

    return {
        "rows": rows,
        "compared": len(compared),
        "largest_test_difference": largest("test_accuracy"),
        "largest_val_difference": largest("val_macro_f1"),
        "val_beyond_spread": [r["run"] for r in compared if r["val_macro_f1_beyond_spread"]],
        # 'higher' or 'lower' when the other machine's val moved the same way on every run.
        "val_direction": {frozenset([True]): "higher", frozenset([False]): "lower"}.get(
            frozenset(r["val_macro_f1_difference"] > 0 for r in compared), "both"
        ),
        "test_beyond_spread": [r["run"] for r in compared if r["test_accuracy_beyond_spread"]],
        "median_speedup": float(np.median([r["speedup"] for r in compared])) if compared else None,
    }
