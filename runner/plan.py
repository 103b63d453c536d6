"""The experiment plan: YAML -> validated, resolved runs for one profile.

Everything is checked before anything runs, and every error names the offending key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analysis import paths

# Set by the runner for each execution; never written in the plan.
INJECTED = ("run_name", "profile", "output_dir", "data_dir", "code_version", "skip_bad_entries")


class PlanError(Exception):
    """The plan file is invalid; the message names the file and the key."""


RUN_NAME = r"^[a-z0-9][a-z0-9-]{0,40}$"  # a folder name, a page name and part of a job name


class RunSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notebook: str  # a stem in analysis/notebooks, or a path relative to the plan file
    title: str = ""
    group: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class PlanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str
    baseline: str
    published: str = "standard"
    defaults: dict[str, Any] = Field(default_factory=dict)
    runs: dict[str, RunSpec]
    profiles: dict[str, dict[str, Any] | None]


@dataclass(frozen=True)
class Run:
    name: str
    notebook_path: Path
    title: str
    group: str
    profile: str
    params: dict[str, Any] = field(hash=False)

    @property
    def notebook(self) -> str:
        """The notebook's stem, e.g. "cnn"; its executed copy is <stem>.ipynb."""
        return self.notebook_path.stem

    def fingerprint(self, code: str, data: str) -> str:
        """Everything that can change this run's results: its parameters, the code its
        notebook reaches (runner.codeprint: the notebook's code cells included) and its data."""
        h = hashlib.sha256(b"code-print/2\0" + self.notebook.encode())
        h.update(json.dumps(self.params, sort_keys=True).encode())
        h.update(code.encode())
        h.update(data.encode())
        return h.hexdigest()[:24]

    def with_params(self, params: dict) -> Run:
        return dataclasses.replace(self, params=params)


@dataclass
class Plan:
    file: Path
    spec: PlanSpec
    profile: str
    runs: dict[str, Run]

    @property
    def reference(self) -> str:
        return self.spec.reference

    @property
    def baseline(self) -> str:
        return self.spec.baseline

    @property
    def published(self) -> str:
        return self.spec.published

    def select(self, names: list[str] | None) -> list[Run]:
        if not names:
            return list(self.runs.values())
        unknown = [n for n in names if n not in self.runs]
        if unknown:
            raise PlanError(
                f"{self.file}: unknown run {', '.join(unknown)} (the plan has: "
                f"{', '.join(self.runs)})"
            )
        return [self.runs[n] for n in names]


@cache
def notebook_parameters(path: Path) -> dict[str, str]:
    """Parameter name -> inferred type name, read from the notebook's `parameters` cell."""
    import papermill

    if not path.exists():
        raise PlanError(f"notebook {path} does not exist")
    return {
        name: info["inferred_type_name"]
        for name, info in papermill.inspect_notebook(str(path)).items()
    }


def notebook_file(plan_file: Path, notebook: str) -> Path:
    if "/" in notebook or notebook.endswith(".ipynb"):
        return (plan_file.parent / notebook).resolve()
    return paths.NOTEBOOKS_DIR / f"{notebook}.ipynb"


def _type_ok(value: Any, declared: str) -> bool:
    declared = declared.replace("Optional[", "").rstrip("]").lower()
    checks = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "list": lambda v: isinstance(v, list),
        "dict": lambda v: isinstance(v, dict),
    }
    check = checks.get(declared.split("[")[0])
    return value is None or check is None or check(value)


def load(file: Path | str = paths.PLAN_FILE, profile: str = "standard") -> Plan:
    file = Path(file)
    try:
        raw = yaml.safe_load(file.read_text())
    except FileNotFoundError:
        raise PlanError(f"plan file {file} does not exist") from None
    except yaml.YAMLError as exc:
        raise PlanError(f"{file}: not valid YAML: {exc}") from None
    try:
        spec = PlanSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise PlanError(f"{file}: {key}: {err['msg']}") from None
    if profile not in spec.profiles:
        raise PlanError(
            f"{file}: unknown profile {profile!r} (the plan has: {', '.join(spec.profiles)})"
        )
    for key in ("reference", "baseline"):
        if getattr(spec, key) not in spec.runs:
            raise PlanError(f"{file}: {key}: {getattr(spec, key)!r} is not a run of the plan")
    if spec.published not in spec.profiles:
        raise PlanError(f"{file}: published: {spec.published!r} is not a profile of the plan")

    bad = [n for n in spec.runs if not re.match(RUN_NAME, n)]
    if bad:
        raise PlanError(f"{file}: runs.{bad[0]}: run names are lowercase letters, digits and '-'")
    notebooks = {name: notebook_file(file, r.notebook) for name, r in spec.runs.items()}
    for name, nb in notebooks.items():
        if not nb.exists():
            raise PlanError(f"{file}: runs.{name}.notebook: notebook {nb} does not exist")
    declared = {name: notebook_parameters(nb) for name, nb in notebooks.items()}
    known = set().union(*(d.keys() for d in declared.values()))

    def check_shared(values: dict, where: str) -> None:
        for key, value in values.items():
            if key in INJECTED:
                raise PlanError(f"{file}: {where}.{key}: set by the runner, not by the plan")
            if key not in known:
                raise PlanError(
                    f"{file}: {where}.{key}: unknown parameter (no notebook declares it; "
                    f"known: {', '.join(sorted(known - set(INJECTED)))})"
                )
            types = {d[key] for d in declared.values() if key in d}
            if not any(_type_ok(value, t) for t in types):
                raise PlanError(
                    f"{file}: {where}.{key}: expected {' or '.join(sorted(types))}, "
                    f"got {type(value).__name__} {value!r}"
                )

    check_shared(spec.defaults, "defaults")
    for pname, overrides in spec.profiles.items():
        overrides = dict(overrides or {})
        per_run = overrides.pop("runs", {}) or {}
        check_shared(overrides, f"profiles.{pname}")
        for rname, vals in per_run.items():
            if rname not in spec.runs:
                raise PlanError(f"{file}: profiles.{pname}.runs.{rname}: unknown run")
            _check_run_params(file, f"profiles.{pname}.runs.{rname}", vals, declared[rname])

    chosen = dict(spec.profiles[profile] or {})
    per_run = chosen.pop("runs", {}) or {}
    runs = {}
    for name, r in spec.runs.items():
        decl = declared[name]
        _check_run_params(file, f"runs.{name}.params", r.params, decl)
        params = {k: v for k, v in spec.defaults.items() if k in decl}
        params.update(r.params)
        params.update({k: v for k, v in chosen.items() if k in decl})
        params.update(per_run.get(name, {}))
        runs[name] = Run(name, notebooks[name], r.title or name, r.group, profile, params)
    return Plan(file, spec, profile, runs)


def _check_run_params(file: Path, where: str, values: dict, declared: dict[str, str]) -> None:
    for key, value in values.items():
        if key in INJECTED:
            raise PlanError(f"{file}: {where}.{key}: set by the runner, not by the plan")
        if key not in declared:
            raise PlanError(
                f"{file}: {where}.{key}: unknown parameter (the notebook declares: "
                f"{', '.join(k for k in declared if k not in INJECTED)})"
            )
        if not _type_ok(value, declared[key]):
            raise PlanError(
                f"{file}: {where}.{key}: expected {declared[key]}, got "
                f"{type(value).__name__} {value!r}"
            )
