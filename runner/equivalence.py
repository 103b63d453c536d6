"""Adopting runs whose changed code only builds their networks, by building them both ways.

A change to a network builder (a new option of `build_cnn` with a default that keeps today's
network, a new branch of `build_model` for a new kind of network) changes the code print of
every run that reaches the builder, although the networks those runs trained are the same. The
print cannot see that; building can. A stale run moves to today's fingerprint when:
- its record's code print is the one the base revision (by default HEAD) gives its notebook, and
  its parameters and data are today's (so only the code changed since);
- every definition that differs between the base and today is reached only through the
  notebook's network builder (the library function its `build(seed)` calls), never by the
  training, evaluation or recording code around it;
- for every seed of the run, the network that builder returns, built as training builds it
  (`seed_everything(seed)` first), has the same configuration and the same initial weights,
  bit for bit, under the base and under today's code (`runner.buildcheck`, run once per tree).
Training, evaluation and recording are then the same code on the same network and data: the
run computes what it computed.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from analysis import paths
from analysis.training.provenance import write_json
from runner import adopt, codeprint, codescope, layout, state


@dataclass
class Tree:
    """One revision of the library: its root, its code prints and its builders."""

    root: Path

    def library(self) -> codeprint.Library:
        return codeprint.Library(self.root)

    def source(self, run) -> str:
        return state.notebook_source(self.root / run.notebook_path.relative_to(paths.ROOT))

    def builder(self, run) -> tuple[str, str] | None:
        """(module, function) the notebook's `build(seed)` calls in the library."""
        lib = self.library()
        nb = lib.parse(codeprint.NOTEBOOK, lib.package, self.source(run))
        stmts = nb.defs.get("build", [])
        refs, _ = codescope._references(lib, nb, stmts)
        called = sorted((r[1], r[2]) for r in refs if r[1] != codeprint.NOTEBOOK)
        found = [c for c in called if _is_function(lib, *c)]
        return found[0] if len(found) == 1 else None

    def print(self, run) -> codeprint.Print:
        """The run's training print under this tree (its fingerprint's code)."""
        notebook = self.root / run.notebook_path.relative_to(paths.ROOT)
        return state.code_print(notebook, self.library())

    def outside_builder(self, run, builder: tuple[str, str]) -> set[str]:
        """The manifest keys the notebook reaches other than through its builder."""
        module, name = builder
        lib = self.library()
        mod = lib.module(module)
        text = (lib.file(module) or Path()).read_text() if mod else ""
        tree = ast.parse(text)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                node.body = [ast.Pass()]
        hollow = lib.variant({module: ast.unparse(tree)})
        keys = set(codeprint.code_print(hollow, self.source(run)).manifest)
        return keys - {f"{module}.{name}"}


def _is_function(lib: codeprint.Library, module: str, name: str) -> bool:
    mod = lib.module(module)
    stmts = mod.defs.get(name, []) if mod else []
    return len(stmts) == 1 and isinstance(stmts[0], ast.FunctionDef)


def _bare(key: str) -> str:
    return key.rsplit(":", 1)[-1] if ":" in key else key.rsplit(".", 1)[-1]


def changed_keys(then: dict[str, str], now: dict[str, str]) -> set[str]:
    """Keys (of either manifest) whose definition differs, matched by their own name."""
    by_then: dict[str, list[str]] = {}
    by_now: dict[str, list[str]] = {}
    for k, v in then.items():
        by_then.setdefault(_bare(k), []).append(v)
    for k, v in now.items():
        by_now.setdefault(_bare(k), []).append(v)
    names = {
        n
        for n in set(by_then) | set(by_now)
        if sorted(by_then.get(n, [])) != sorted(by_now.get(n, []))
    }
    return {k for k in set(then) | set(now) if _bare(k) in names}


def build_digests(tree: Path, jobs: list[dict]) -> dict[str, list[str]]:
    """Each job's networks' digests, built by `tree`'s own code in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = Path(__file__).with_name("buildcheck.py")
    out = subprocess.run(
        [sys.executable, str(script)],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"building the networks under {tree} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@dataclass
class Candidate:
    run: object
    folder: Path
    record: dict
    metrics: dict
    builder_then: tuple[str, str]
    builder_now: tuple[str, str]
    trained_with: dict[str, str]  # the base revision's training print of the run


def adopt_equivalent(
    plan, data_dir: Path, base: str = "HEAD", root: Path = paths.ROOT, write: bool = True
) -> list[adopt.Verdict]:
    """Move the stale runs whose networks build the same under `base` and under `root`."""
    now_inputs = _inputs(plan, data_dir, root)
    with tempfile.TemporaryDirectory() as tmp:
        if not adopt.checkout(base, Path(tmp)):
            return []
        then, now = Tree(Path(tmp)), Tree(root)
        verdicts, candidates = [], []
        for name, run in plan.runs.items():
            folder = layout.run_dir(plan.profile, name)
            try:
                record = json.loads((folder / layout.RUN_RECORD).read_text())
                metrics = json.loads((folder / "metrics.json").read_text())
            except (OSError, ValueError):
                continue
            current = now_inputs[name]
            if "code_manifest" not in record or record["fingerprint"] == current.fingerprint:
                continue
            verdict, cand = _screen(run, folder, record, metrics, current, then, now)
            if verdict:
                verdicts.append(verdict)
            else:
                candidates.append(cand)
        if candidates:
            verdicts += _build_and_compare(candidates, then, now, now_inputs, write)
    return verdicts


def _inputs(plan, data_dir: Path, root: Path) -> dict[str, state.Inputs]:
    if root == paths.ROOT:
        return state.inputs(plan.runs.values(), data_dir)
    data = state.data_hash(data_dir)
    out = {}
    tree = Tree(root)
    for name, run in plan.runs.items():
        notebook = root / run.notebook_path.relative_to(paths.ROOT)
        code, figures = state.prints(notebook, tree.library())
        limit = int(run.params.get("max_per_split") or 0)
        d = data if not limit else state.data_hash(data_dir, False, limit)
        out[name] = state.Inputs(code, d, run.fingerprint(code.value, d), figures)
    return out


def _screen(run, folder, record, metrics, current, then: Tree, now: Tree):
    """A verdict when the run cannot move by building; else a candidate to build."""

    def no(reason):
        return adopt.Verdict(run.name, False, reason), None

    if not (then.root / run.notebook_path.relative_to(paths.ROOT)).is_file():
        return no("its notebook is not in the base revision")
    then_print = then.print(run)
    if "figures_code" in record:
        same_code = then_print.value == record.get("code")
    else:  # recorded under the one print, figures included: its training part is compared
        recorded = record.get("code_manifest", {})
        same_code = {k: recorded.get(k) for k in then_print.manifest} == then_print.manifest
    if not same_code:
        return no("its record is not the base revision's code")
    if run.fingerprint(record.get("code", ""), current.data) != record["fingerprint"]:
        return no("its parameters or data changed, not only its code")
    b_then, b_now = then.builder(run), now.builder(run)
    if b_then is None or b_now is None:
        return no("its notebook builds no network through one library function")
    # A definition that is presentation today (moved into analysis.figures since) left the
    # training print as the figures did: it is compared as figures are, by redrawing.
    changed = changed_keys(adopt.training_part(then_print.manifest, current), current.code.manifest)
    around = (then.outside_builder(run, b_then) | now.outside_builder(run, b_now)) & changed
    if around:
        return no("code outside its network builder changed: " + ", ".join(sorted(around)))
    return None, Candidate(run, folder, record, metrics, b_then, b_now, then_print.manifest)


def _seed_rule(tree: Tree, run) -> str:
    """module:function of the seed rule training applies before building (seed_everything)."""
    keys = [k for k in tree.print(run).manifest if k.endswith(".seed_everything")]
    if len(keys) != 1:
        raise RuntimeError(f"{tree.root}: the seed rule of {run.name} is not found")
    module, function = keys[0].rsplit(".", 1)
    return f"{module}:{function}"


def _jobs(candidates: list[Candidate], which: str, tree: Tree) -> list[dict]:
    jobs = []
    for c in candidates:
        module, function = c.builder_then if which == "then" else c.builder_now
        params = c.metrics.get("params") or c.record.get("params")
        jobs.append(
            {
                "run": c.run.name,
                "builder": f"{module}:{function}",
                "seed_rule": _seed_rule(tree, c.run),
                "params": params,
                "seeds": params.get("seeds", [0]),
                # The output layer's width: the classes the run's network predicts.
                "n_classes": c.metrics["model"]["layers"][-1]["output_shape"][-1],
            }
        )
    return jobs


def _build_and_compare(candidates, then: Tree, now: Tree, now_inputs, write: bool):
    before = build_digests(then.root, _jobs(candidates, "then", then))
    after = build_digests(now.root, _jobs(candidates, "now", now))
    verdicts = []
    for c in candidates:
        name = c.run.name
        if before.get(name) != after.get(name) or not before.get(name):
            verdicts.append(adopt.Verdict(name, False, "its networks build differently now"))
            continue
        verdicts.append(
            adopt.Verdict(name, True, "its networks build the same (configuration and weights)")
        )
        if write:
            current = now_inputs[name]
            if "figures_code" not in c.record:  # the figures it was drawn with, kept apart
                drawn = {
                    k: v for k, v in c.record["code_manifest"].items() if k not in c.trained_with
                }
                c.record.update(figures_code=codeprint.value_of(drawn), figures_manifest=drawn)
            c.record.update(
                fingerprint=current.fingerprint,
                code=current.code.value,
                code_manifest=current.code.manifest,
                adopted={"from": c.record["fingerprint"], "because": verdicts[-1].reason},
            )
            write_json(c.folder / layout.RUN_RECORD, c.record)
    return verdicts
