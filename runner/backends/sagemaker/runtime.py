"""How long a job may run (its MaxRuntimeInSeconds): the run's expected time, with a margin.

Expected time = epochs × seeds × images per epoch × seconds per image-epoch, where the seconds
are measured: the published profile's own runs (report/.published.json's results: each run's
`run.json` seconds, the whole run, over its epochs and training images), on the project's
2-core machine (AMD EPYC, about an ml.m5.xlarge: 4 vCPUs on 2 cores). A run without a published
record takes the slowest of its notebook's; the image's pixels scale the cost ((size/48)²).
No processing instance family is measured but that one: a GPU instance (g4dn, g5, ...) gets the
CPU's figure, a bound it does not reach, and a smaller CPU instance its share of vCPUs.

The margin (×3, plus half an hour for the image, the pip install and the data) keeps a slow but
healthy job from being stopped; a hung one stops there instead of after AWS's 24 h default.
SAGEMAKER_MAX_RUNTIME (--max-runtime) sets one limit for every job instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from analysis import paths
from runner.plan import Run

SETUP_S = 1800  # pull the image, install the lock, fetch the data, start Papermill
MARGIN = 3.0  # whole runs took up to 2.9 × the bench's training estimate: above that spread
NO_EPOCHS_S = 1800  # eda, shift: no training (measured 18 s and 9 s at 48 px)
MAX_RUNTIME_S = 777600  # the API's limit (9 days)
FULL_TRAIN = 3746  # the train split of the study's data (bench/results.json `split`)
REFERENCE_VCPUS = 4  # the measuring machine's 2 cores, as ml.*.xlarge counts them
VCPUS = {"medium": 2, "large": 2, "xlarge": 4}  # then <n>xlarge: 4n


def vcpus(instance_type: str) -> int:
    size = instance_type.rsplit(".", 1)[-1]
    m = re.fullmatch(r"(\d+)xlarge", size)
    return 4 * int(m[1]) if m else VCPUS.get(size, REFERENCE_VCPUS)


def _published() -> Path:
    info = json.loads((paths.REPORT_DIR / ".published.json").read_text())
    return paths.ROOT / info["results"]


@cache
def measured(results: Path | None = None) -> dict[str, tuple[str, float]]:
    """{run: (notebook, seconds per training image-epoch at 48 px)} of the published runs."""
    try:
        runs = sorted((results or _published()).iterdir())
    except (OSError, KeyError, ValueError):
        return {}
    out = {}
    for run in runs:
        try:
            record = json.loads((run / "run.json").read_text())
            metrics = json.loads((run / "metrics.json").read_text())
            timing = metrics["timing"]
            rows = metrics["shift"]["per_class"]
            images = int(timing.get("train_images") or sum(int(r["train"]) for r in rows))
            epochs = sum(timing["epochs_run"])
            pixels = (int(record["params"]["image_size"]) / 48) ** 2
            seconds = float(record["seconds"]) / (epochs * images * pixels)
        except (OSError, KeyError, TypeError, ValueError, ZeroDivisionError):
            continue  # a run that trains nothing (eda, shift), or an unreadable record
        out[run.name] = (str(record["notebook"]), seconds)
    return out


def train_images(run: Run, full: int) -> float:
    """Images one epoch trains on: the split (cut to max_per_split), times train_fraction."""
    cap = int(run.params.get("max_per_split") or 0)
    n = min(full, cap) if cap else full
    return n * float(run.params.get("train_fraction") or 1.0)


def expected_seconds(run: Run, table: dict[str, tuple[str, float]] | None = None) -> float:
    """The run's expected wall seconds on the measuring machine, without margin or set-up;
    0 for a run that trains nothing."""
    table = measured() if table is None else table
    epochs = run.params.get("epochs")
    if not epochs:
        return 0.0
    seeds = len(run.params.get("seeds") or [0])
    per = table.get(run.name, (None, None))[1]
    if per is None:
        same = [s for nb, s in table.values() if nb == run.notebook] or [
            s for _, s in table.values()
        ]
        per = max(same, default=None)
    if per is None:
        return float("nan")
    pixels = (int(run.params.get("image_size", 48)) / 48) ** 2
    return float(epochs) * seeds * train_images(run, FULL_TRAIN) * pixels * per


def max_runtime(run: Run, instance_type: str, override: int = 0) -> int:
    """MaxRuntimeInSeconds of the run's job: the override, else set-up + margin × expected."""
    if override:
        return int(override)
    expected = expected_seconds(run)
    if expected != expected:  # nothing measured (no published results): AWS's default
        return 86400
    slower = max(1.0, REFERENCE_VCPUS / vcpus(instance_type))
    work = MARGIN * expected * slower if expected else NO_EPOCHS_S
    return int(min(MAX_RUNTIME_S, SETUP_S + work))


def profile_estimate(runs: Iterable[Run], instance_type: str = "ml.m5.xlarge") -> dict:
    """A profile's jobs (runs with identical inputs are computed once), their expected instance
    hours (without each job's start) and the hours if every job ran to its limit."""
    jobs = {(r.notebook, json.dumps(r.params, sort_keys=True)): r for r in runs}
    seconds = sum(expected_seconds(r) for r in jobs.values())
    limits = sum(max_runtime(r, instance_type) for r in jobs.values())
    return {"jobs": len(jobs), "hours": seconds / 3600, "limit_hours": limits / 3600}


PRICE = 0.23  # ml.m5.xlarge, on-demand SageMaker Processing, us-east-1 (README's example)


def readme_table(profiles=("smoke", "quick", "standard", "full")) -> str:
    """The README's 'What each profile costs' table, from the plan and the published runs."""
    from runner.plan import load

    lines = [
        "| profile | runs | jobs | expected instance hours | expected cost | at most (hours) "
        "| at most (cost) |",
        "|---|---|---|---|---|---|---|",
    ]
    for profile in profiles:
        plan = load(profile=profile)
        e = profile_estimate(plan.runs.values())
        hours, most = round(e["hours"], 1), round(e["limit_hours"], 1)
        shown = f"{hours:.1f}" + (" (start only)" if hours == 0 else "")
        lines.append(
            f"| `{profile}` | {len(plan.runs)} | {e['jobs']} | {shown} | ${hours * PRICE:.2f} "
            f"| {most:.1f} | ${most * PRICE:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m runner.backends.sagemaker.runtime: the README's table
    print(readme_table())
