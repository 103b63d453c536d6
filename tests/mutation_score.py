"""Mutation testing of the modules whose numbers the site publishes: `make mutate`.

    .venv/bin/python -m tests.mutation_score [--no-run] [--min 90]

Runs mutmut (configured in pyproject.toml, [tool.mutmut]: analysis/stats/evaluate.py, models.py and
study.py against tests/test_evaluate.py, test_models.py, test_study.py and
test_study_scout.py; the training rules and the per-run record, analysis/training/train.py and
experiment.py, against tests/test_train.py and test_experiment.py), then prints the score per
module and overall and every mutant that was not killed. A mutant counts as killed
when a test failed on it; "survived", "no tests" (no unit test calls the function) and
"timeout" count against the score: a hang is more often the test harness (TensorFlow in a
forked worker) than a mutant caught. mutmut remembers its work in mutants/, so a second run
only tests what changed. Exits 1 below the threshold, or when mutmut left mutants unchecked.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

MUTMUT = Path(sys.executable).with_name("mutmut")
# analysis.study.comparisons.x_paired__mutmut_5 (a function),
# analysis.models.networks.xǁLayerInfoǁ__init____mutmut_1 (a method)
LINE = re.compile(r"^\s*(?P<module>[\w.]+)\.x[_ǁ](?P<function>\S+?)__mutmut_\d+: (?P<status>.+)$")
KILLED = {"killed"}
UNFINISHED = {"not checked", "skipped"}


def tally(results: str) -> tuple[dict[str, Counter], list[str]]:
    """Status counts per module, and the lines of the mutants not killed."""
    counts: dict[str, Counter] = defaultdict(Counter)
    alive = []
    for line in results.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        counts[m["module"]][m["status"]] += 1
        if m["status"] not in KILLED:
            alive.append(line.strip())
    return counts, alive


def score(c: Counter) -> float:
    checked = sum(n for s, n in c.items() if s not in UNFINISHED)
    return 100.0 * sum(c[s] for s in KILLED) / checked if checked else 0.0


def row(name: str, c: Counter) -> str:
    return (
        f"{name:<20} {sum(c.values()):>8} {c['killed']:>8} {c['survived']:>9} "
        f"{c['no tests']:>9} {c['timeout']:>8} {score(c):5.1f} %"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-run", action="store_true", help="report the last run only")
    ap.add_argument("--min", type=float, default=90.0, help="least share killed, percent")
    ap.add_argument("--max-children", type=int, default=None)
    args = ap.parse_args(argv)
    if not args.no_run:
        cmd = [str(MUTMUT), "run"]
        if args.max_children:
            cmd += ["--max-children", str(args.max_children)]
        subprocess.run(cmd, check=False)
    out = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    counts, alive = tally(out)
    if not counts:
        print("error: mutmut reported no mutants (run `make mutate` first)", file=sys.stderr)
        return 1
    print("\nnot killed:")
    for line in alive:
        print(f"  {line}")
    print(
        f"\n{'module':<20} {'mutants':>8} {'killed':>8} {'survived':>9} {'no tests':>9} "
        f"{'timeout':>8} score"
    )
    total: Counter = Counter()
    for module in sorted(counts):
        total.update(counts[module])
        print(row(module, counts[module]))
    print(row("all", total))
    overall = score(total)
    unfinished = sum(total[s] for s in UNFINISHED)
    if unfinished:
        print(f"error: {unfinished} mutant(s) not checked; rerun `make mutate`", file=sys.stderr)
        return 1
    if overall < args.min:
        print(f"mutation score {overall:.1f} % is below {args.min:.0f} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
