"""Every network of the plan, found from its runs: resolved parameters -> one build function.

A network is what a run trains, not how: the model, its shape parameters and the input size and
batch size. Runs that train the same network (`cnn`, `kernel-3x3`, `cnn-permuted`) share one
entry, named after the first of them. A run of a notebook that declares `model` is a model run;
its parameters are the notebook's own defaults under the plan's resolved values, so a new run
of the plan (a new notebook included) is covered without touching this file.
"""

from __future__ import annotations

import ast
import contextlib
import json
from pathlib import Path

# The parameters that change a network's shape, per model; the rest change how it is trained.
SHAPE = {
    "baseline": (),
    "cnn": ("kernel_sizes", "filters", "head"),
    "locally_connected": ("kernel_sizes", "filters", "head"),
    "dense": ("dense_units",),
}
SETTINGS = ("image_size", "batch_size")


def notebook_defaults(path: Path) -> dict:
    """The literal defaults of a notebook's `parameters` cell (`name: type = value` lines)."""
    nb = json.loads(Path(path).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            out = {}
            for node in ast.parse("".join(cell["source"])).body:
                target = (
                    getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
                )
                if isinstance(target, ast.Name) and getattr(node, "value", None) is not None:
                    with contextlib.suppress(ValueError):  # not a literal: left out
                        out[target.id] = ast.literal_eval(node.value)
            return out
    return {}


def resolved(defaults: dict, params: dict) -> dict:
    """A run's parameters as its notebook sees them: defaults, then the plan's values, then the
    notebooks' own rule that a nonzero `kernel_size` sets every block's kernel."""
    p = {**defaults, **params}
    if p.get("kernel_size"):
        p["kernel_sizes"] = [p["kernel_size"]] * len(p.get("filters") or [])
    p.setdefault("head", "gap")
    return p


def key(p: dict) -> tuple:
    """What makes two runs' networks the same (hashable)."""
    shape = SHAPE.get(p["model"], tuple(sorted(k for k in p if k in ("kernel_sizes", "filters"))))
    return (p["model"], *(json.dumps(p.get(k)) for k in (*shape, *SETTINGS)))


def discover(plan, groups_left_out: tuple[str, ...] = ("recipe",)) -> list[dict]:
    """The distinct networks among the plan's model runs, in plan order:
    [{"name", "runs", "params"}]. The recipe search (one seed per variant, the same networks at
    other settings) is left out unless asked for."""
    found: dict[tuple, dict] = {}
    for run in plan.runs.values():
        if run.group in groups_left_out:
            continue
        p = resolved(notebook_defaults(run.notebook_path), run.params)
        if "model" not in p:
            continue
        entry = found.setdefault(key(p), {"name": run.name, "runs": [], "params": p})
        entry["runs"].append(run.name)
    return list(found.values())


def builder(p: dict, n_classes: int):
    """`build(seed)` for a network's parameters: the mechanism builder (analysis.models.ablation,
    which builds the published models with their own builder) where it exists, else the study's."""
    try:
        from analysis.models import ablation
    except ImportError:  # a checkout without the mechanism experiments
        ablation = None
    if ablation is not None:
        return lambda seed: ablation.build(p, n_classes, seed)
    from analysis.training import experiment

    return lambda seed: experiment.build_model(p, n_classes, seed)


def summary(model) -> dict:
    """Parameters and forward FLOPs per image (locally connected layers counted like the
    convolutions they replace)."""
    try:
        from analysis.models import ablation

        return ablation.summary(model)
    except ImportError:
        from analysis.models import networks as models

        return models.summary(model)
