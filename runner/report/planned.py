"""The networks still to train, described from the plan: each pending run of a decision family
is built (not trained) from its plan entry, so the design tables give its receptive field, last
map and FLOPs before its run exists, the same numbers its record will hold."""

from __future__ import annotations

import ast
import sys
from functools import cache

from analysis import paths

FAMILIES = ("kernels-128", "depth-128", "stride-128", "padding-128")


def classes(runs: dict, reference: str) -> int | None:
    """The number of classes, read from the reference network's output layer."""
    layers = runs.get(reference, {}).get("model", {}).get("layers")
    return layers[-1]["output_shape"][-1] if layers else None


@cache
def defaults(notebook: str) -> dict:
    """The notebook's parameters cell: what a run gets for a parameter its plan entry omits."""
    import papermill

    found = papermill.inspect_notebook(str(paths.NOTEBOOKS_DIR / f"{notebook}.ipynb"))
    return {name: ast.literal_eval(info["default"]) for name, info in found.items()}


def params(notebook: str, overrides: dict) -> dict:
    """A run's parameters as its notebook resolves them (`kernel_size` > 0 sets every block)."""
    p = {**defaults(notebook), **overrides}
    if p.get("kernel_size"):
        p["kernel_sizes"] = [p["kernel_size"]] * len(p["filters"])
    return p


def networks(plan_info: dict, runs: dict, reference: str) -> dict[str, dict]:
    """`networks.summary` of each pending decision-family network (the `model` block of the
    metrics.json its run will write); nothing without the reference's record."""
    pending = [
        n
        for n, r in plan_info.items()
        if r["group"] in FAMILIES and r["notebook"] == "model" and n not in runs
    ]
    n_classes = classes(runs, reference)
    if not pending or n_classes is None:
        return {}
    # Keras only when a network is pending: a render of a complete study never imports it.
    from analysis.models import networks as nets
    from analysis.training import experiment

    described = {}
    for n in pending:
        p = params(plan_info[n]["notebook"], plan_info[n]["params"])
        try:
            model = experiment.build_model(p, n_classes, seed=0)
        except ValueError as e:  # a map shrinks to nothing at this profile's image size
            print(
                f"warning: {paths.PLAN_FILE}: runs.{n}: its network cannot be built at "
                f"{p['image_size']} px, so its design row stays blank ({e})",
                file=sys.stderr,
            )
            continue
        described[n] = nets.summary(model)
    return described
