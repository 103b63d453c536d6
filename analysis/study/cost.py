"""What the study costs: where each run's time went, from its own records, against the floor
its arithmetic sets on this machine.

Read, never measured here: a run's `run.json` (`seconds`: the whole run, Papermill included),
its `metrics.json` (`timing`: training seconds per seed, epochs, inference speed; newer runs
also `timing.phases`, each phase's wall seconds summed over seeds, and `timing.cpu`, the load
while it trained) and its executed notebook (Papermill's start, end and duration per cell, and
the per-epoch lines Keras printed). The floor needs bench/results.json (`make bench`): a run's
training FLOPs (forward FLOPs per image × 3 for a training step × images per epoch × epochs,
every seed) at its network's plain `model.fit` rate.

Nothing here imports TensorFlow or touches a run's inputs; no run imports this module.
"""

from __future__ import annotations

import json
import re
import statistics
from datetime import datetime
from pathlib import Path

# The parts of a run, in the order they happen. "start": Papermill starting the kernel, and the
# first cell importing the libraries (TensorFlow); "export": after the last cell (the notebook
# written and converted to HTML, the run folder moved into place); "other": the rest (tables,
# Markdown cells, Papermill between cells).
PHASES = (
    "start",
    "data_load",
    "build",
    "training",
    "val_scoring",
    "test_evaluation",
    "translation_test",
    "figures",
    "learned_figures",
    "save",
    "export",
    "earlier",
    "other",
)
# "earlier": the training of seeds an interrupted process finished and this one reused
# (runner/resume.py), taken from their records: their share of the run happened before run.json's
# clock started, so it is added to the whole run rather than lost from it.
TRAINING_STEP_PASSES = 3  # a training step: forward, and a backward pass of about twice its work
NOTEWORTHY = 0.10  # a non-training phase above this share of a run is explained on the page

# Which cell of a model notebook does what, by a call only that cell makes.
CELL_ROLES = (
    ("train_seeds(", "training"),
    ("load_data(", "data_load"),
    ("summary(build(0))", "build"),
    ("learned_figures(", "learned_figures"),
    ("run_figures(", "figures"),
    ("save_predictions(", "save"),
    ("from analysis import", "start"),
)
EPOCH_LINE = re.compile(r"^\s*(\d+)/(\d+) - \S+ - ([\d.]+)(us|ms|s)/step", re.MULTILINE)
UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
# The line the runner's resume cell prints for a seed it loads instead of training.
REUSED_LINE = re.compile(r"^--- seed (\d+): reused from ", re.MULTILINE)


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def cell_role(source: str) -> str:
    for marker, role in CELL_ROLES:
        if marker in source:
            return role
    return "other"


def cells(nb: dict) -> list[dict]:
    """The executed cells: role, duration (s), and the text they printed."""
    out = []
    for cell in nb.get("cells", []):
        pm = cell.get("metadata", {}).get("papermill", {})
        if cell.get("cell_type") != "code" or pm.get("duration") is None:
            continue
        source = "".join(cell.get("source", ""))
        text = "".join(
            "".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("name") == "stdout"
        )
        out.append(
            {
                "role": cell_role(source),
                "duration": float(pm["duration"]),
                "start": pm.get("start_time"),
                "text": text,
            }
        )
    return out


def notebook_span(nb: dict) -> tuple[float, float]:
    """(seconds from Papermill's start to the first cell's, Papermill's whole duration)."""
    pm = nb.get("metadata", {}).get("papermill", {})
    starts = [c["start"] for c in cells(nb) if c["start"]]
    lead = (_time(starts[0]) - _time(pm["start_time"])).total_seconds() if starts else 0.0
    return max(lead, 0.0), float(pm.get("duration") or 0.0)


def epoch_seconds(nb: dict) -> list[float]:
    """Every epoch's wall seconds, all seeds in order, from Keras's `steps/steps - 20s -
    170ms/step` lines (steps × time per step: finer than the rounded seconds). The time runs
    to the end of the epoch's callbacks, val scoring included."""
    text = "".join(c["text"] for c in cells(nb) if c["role"] == "training")
    return [
        int(steps) * float(per) * UNIT[unit]
        for done, steps, per, unit in EPOCH_LINE.findall(text)
        if done == steps
    ]


def reused_seeds(nb: dict) -> list[int]:
    """The seeds this process loaded from an interrupted run's store instead of training."""
    text = "".join(c["text"] for c in cells(nb) if c["role"] == "training")
    return [int(s) for s in REUSED_LINE.findall(text)]


def reused_epochs(metrics: dict, reused: list[int]) -> int:
    """Epochs the reused seeds ran (in an earlier process)."""
    return sum(r.get("epochs_run", 0) for r in metrics.get("per_seed", []) if r["seed"] in reused)


def earlier_seconds(metrics: dict, nb: dict) -> float:
    """Seconds in `model.fit` of the reused seeds: every seed's recorded fit time less the
    epochs this process printed (zero for a run that reused nothing)."""
    if not reused_seeds(nb) or "timing" not in metrics:
        return 0.0
    return max(training_seconds(metrics) - sum(epoch_seconds(nb)), 0.0)


def split_sizes(metrics: dict) -> dict[str, int]:
    """Images per split the run trained and scored on (its per-class counts)."""
    rows = metrics.get("shift", {}).get("per_class", [])
    sizes = {s: sum(r.get(s, 0) for r in rows) for s in ("train", "val", "test")} if rows else {}
    timing = metrics.get("timing", {})
    if timing.get("train_images"):
        sizes["train"] = int(timing["train_images"])  # a subset of train (train_fraction)
    return sizes


def training_seconds(metrics: dict) -> float:
    """Seconds in `model.fit` over all seeds (val scoring included): `train_seconds` is the
    mean over seeds."""
    t = metrics["timing"]
    return float(t["train_seconds"]) * len(t["epochs_run"])


def training_flops(metrics: dict) -> float:
    """Every seed's training arithmetic: forward FLOPs per image × 3 × images × epochs run."""
    fwd = metrics["model"]["flops_per_image"]
    n = split_sizes(metrics).get("train") or 0
    return TRAINING_STEP_PASSES * fwd * n * sum(metrics["timing"]["epochs_run"])


def breakdown(record: dict, metrics: dict, nb: dict) -> dict:
    """Where one run's wall time (`run.json` seconds) went, phase by phase; the phases add up to
    the whole. From `timing.phases` where the run recorded them; else from the notebook's cells,
    with val scoring, test evaluation and the translation test estimated from the inference
    speed the run measured (listed under `estimated`)."""
    earlier = earlier_seconds(metrics, nb)
    total = float(record["seconds"]) + earlier
    lead, span = notebook_span(nb)
    executed = cells(nb)
    by_role: dict[str, float] = {}
    for c in executed:
        by_role[c["role"]] = by_role.get(c["role"], 0.0) + c["duration"]
    phases = dict.fromkeys(PHASES, 0.0)
    phases["start"] = lead + by_role.get("start", 0.0)
    phases["export"] = max(total - earlier - span, 0.0) if span else 0.0
    phases["earlier"] = earlier
    timing = metrics.get("timing", {})
    estimated: list[str] = []
    recorded = timing.get("phases")
    if recorded:
        for name, seconds in recorded.items():
            key = name if name in phases and name not in ("start", "export", "other") else "other"
            phases[key] += float(seconds)
        source = "timing.phases"
    else:
        source = "notebook cells"
        for role in ("data_load", "build", "figures", "learned_figures", "save"):
            phases[role] += by_role.get(role, 0.0)
        cell = by_role.get("training", 0.0)
        fit = min(training_seconds(metrics) - earlier, cell) if timing else 0.0
        ms = float(timing.get("inference_ms_per_image") or 0.0) / 1000
        sizes = split_sizes(metrics)
        reused = reused_seeds(nb)  # trained, scored and tested in an earlier process
        seeds = len(timing.get("epochs_run", [])) - len(reused)
        epochs = sum(timing.get("epochs_run", [])) - reused_epochs(metrics, reused)
        val = min(sizes.get("val", 0) * epochs * ms, fit)
        phases["training"] = fit - val
        phases["val_scoring"] = val
        after = max(cell - fit, 0.0)
        evaluation = min(seeds * sum(sizes.values()) * ms, after)
        shifts = (metrics.get("translation") or {}).get("shifts") or []
        predictions = 1 + 4 * (len(shifts) - 1) if shifts else 0  # 4 directions per shift
        translation = min(seeds * sizes.get("test", 0) * predictions * ms, after - evaluation)
        phases["test_evaluation"] = evaluation
        phases["translation_test"] = translation
        phases["build"] += after - evaluation - translation  # every later seed's model
        estimated = ["val_scoring", "test_evaluation", "translation_test"]
    phases["other"] = max(total - sum(v for k, v in phases.items() if k != "other"), 0.0)
    return {"seconds": total, "phases": phases, "estimated": estimated, "source": source}


def network_for(bench: dict | None, run: str, metrics: dict) -> dict | None:
    """The benchmarked network a run trained: the one naming the run, else the same Keras model
    with the same parameter count (the same network at another image size or under another
    run's name); None when the benchmark has not measured it."""
    rows = usable(bench)
    for row in rows:
        if run in row.get("runs", []):
            return row
    m = metrics.get("model", {})
    for row in rows:
        if row.get("model") == m.get("name") and row.get("parameters") == m.get("parameters"):
            return row
    return None


def usable(bench: dict | None) -> list[dict]:
    """The benchmark's network rows, when it measured the way the floor needs (bench/run.py's
    figures, not a --quick smoke check)."""
    if not bench or bench.get("quick") or not isinstance(bench.get("networks"), list):
        return []
    return bench["networks"]


def floor_seconds(metrics: dict, row: dict) -> float:
    """The least time this run's training arithmetic takes at its network's plain-fit rate."""
    return training_flops(metrics) / (row["plain_gflops"] * 1e9)


def idle_epoch_seconds(metrics: dict, row: dict, bench: dict) -> float:
    """An epoch of this run on an idle machine (val scoring included), from the benchmark's
    epoch of the same network, scaled by the run's arithmetic per epoch where it differs."""
    ours = metrics["model"]["flops_per_image"] * (split_sizes(metrics).get("train") or 0)
    theirs = row["flops_per_image"] * bench["split"]["train"]
    return row["idle_epoch_seconds"] * (ours / theirs if theirs else 1.0)


def contention(epochs: list[float], idle: float) -> float:
    """Seconds the recorded epochs took beyond the idle epoch's time (zero for an epoch at or
    under it): the part of a run's time another process on the CPU most likely cost."""
    return sum(max(e - idle, 0.0) for e in epochs)


def run_cost(name: str, record: dict, metrics: dict, nb: dict, bench: dict | None) -> dict:
    """One run's row: its breakdown, its floor and its time corrected for contention."""
    b = breakdown(record, metrics, nb)
    epochs = epoch_seconds(nb)
    timing = metrics["timing"]
    fit = training_seconds(metrics)
    cpu = timing.get("cpu") or record.get("cpu") or {}
    reused = reused_seeds(nb)
    row = {
        "name": name,
        "seeds": len(timing["epochs_run"]),
        "epochs": sum(timing["epochs_run"]),
        "reused_seeds": reused,
        "reused_epochs": reused_epochs(metrics, reused),
        "seconds": b["seconds"],
        "phases": b["phases"],
        "shares": {k: v / b["seconds"] if b["seconds"] else 0.0 for k, v in b["phases"].items()},
        "estimated": b["estimated"],
        "source": b["source"],
        "split": split_sizes(metrics),
        "fit_seconds": fit,
        "median_epoch_seconds": statistics.median(epochs) if epochs else None,
        "training_gflop": training_flops(metrics) / 1e9,
        "shared": cpu.get("shared"),
        "load_mean": cpu.get("load_mean"),
        "floor_seconds": None,
        "idle_epoch_seconds": None,
        "contention_seconds": None,
    }
    net = network_for(bench, name, metrics)
    if net is not None:
        idle = idle_epoch_seconds(metrics, net, bench)
        if epochs:  # the epochs this process printed, and the reused seeds' as a whole
            earlier = b["phases"]["earlier"]
            extra = contention(epochs, idle) + max(earlier - idle * row["reused_epochs"], 0.0)
        else:
            extra = max(fit - idle * row["epochs"], 0.0)
        row.update(
            network=net["name"],
            gflops=net["plain_gflops"],
            floor_seconds=floor_seconds(metrics, net),
            idle_epoch_seconds=idle,
            contention_seconds=extra,
        )
        row["ratio"] = fit / row["floor_seconds"]
        row["corrected_fit_seconds"] = fit - extra
        row["corrected_seconds"] = b["seconds"] - extra
    return row


def totals(rows: list[dict], label: str) -> dict:
    """The rows summed: phases, seconds, and the floor where every row has one."""
    out = {
        "name": label,
        "runs": len(rows),
        "seconds": sum(r["seconds"] for r in rows),
        "fit_seconds": sum(r["fit_seconds"] for r in rows),
        "phases": {k: sum(r["phases"][k] for r in rows) for k in PHASES},
        "floor_seconds": None,
    }
    out["shares"] = {
        k: v / out["seconds"] if out["seconds"] else 0.0 for k, v in out["phases"].items()
    }
    if rows and all(r["floor_seconds"] is not None for r in rows):
        out["floor_seconds"] = sum(r["floor_seconds"] for r in rows)
        out["ratio"] = out["fit_seconds"] / out["floor_seconds"]
        out["contention_seconds"] = sum(r["contention_seconds"] for r in rows)
        out["corrected_fit_seconds"] = out["fit_seconds"] - out["contention_seconds"]
        out["corrected_seconds"] = out["seconds"] - out["contention_seconds"]
    return out


def noteworthy(rows: list[dict], share: float = NOTEWORTHY) -> dict[str, list[str]]:
    """Non-training phases above `share` of a run: phase -> the runs where it is (a resumed
    run's reused seeds were training, in an earlier process)."""
    out: dict[str, list[str]] = {}
    for r in rows:
        for phase, s in r["shares"].items():
            if phase not in ("training", "earlier") and s > share:  # "earlier" trained too
                out.setdefault(phase, []).append(r["name"])
    return out


MECHANISM_GROUPS = ("mechanisms", "data-size")


def study(results: Path, groups: dict[str, str], bench: dict | None) -> dict | None:
    """Every computed model run of a profile's results folder (`groups`: run -> plan group, in
    plan order), each run's cost and the totals of the study's runs and of the recipe search."""
    rows = []
    for name, group in groups.items():
        folder = Path(results) / name
        try:
            record = json.loads((folder / "run.json").read_text())
            metrics = json.loads((folder / "metrics.json").read_text())
            nb = json.loads((folder / f"{record['notebook']}.ipynb").read_text())
        except (OSError, KeyError, ValueError):
            continue
        if record.get("same_computation_as") or "timing" not in metrics or "seconds" not in record:
            continue
        rows.append({**run_cost(name, record, metrics, nb, bench), "group": group})
    if not rows:
        return None
    study_rows = [r for r in rows if r["group"] != "recipe"]
    recipe_rows = [r for r in rows if r["group"] == "recipe"]
    added = [r for r in study_rows if r["group"] in MECHANISM_GROUPS]
    return {
        "rows": study_rows,
        "recipe_rows": recipe_rows,
        "study": totals(study_rows, "The study's runs"),
        "recipe": totals(recipe_rows, "The recipe search"),
        # what the experiments that take convolution apart add to the published profile
        "mechanisms": totals(added, "Of these, the mechanism experiments"),
        "noteworthy": noteworthy(study_rows),
        "benchmarked": bool(usable(bench)),
        "phases": PHASES,
    }
