"""The one typed record of `metrics.json`: written by the notebooks (model runs and EDA), read by
the study analysis, the renderer and the tests. The README's "metrics.json" section describes
the same fields for readers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """A block whose named fields are checked; further keys are kept as they are."""

    model_config = ConfigDict(extra="allow")


class Provenance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    git_commit: str
    data_sha256: str
    machine: str
    python: str
    keras: str
    backend: str
    tensorflow: str | None
    started: str
    finished: str


class Scores(_Open):
    """Means over seeds (and `<name>_std`, the sample standard deviation, ddof=1)."""

    accuracy: float = Field(ge=0, le=1)
    macro_f1: float = Field(ge=0, le=1)
    balanced_accuracy: float = Field(ge=0, le=1)


class SeedScores(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int
    train: Scores
    val: Scores
    test: Scores
    stop_reason: str
    plateaued: bool
    best_epoch: int = Field(ge=1)
    epochs_run: int = Field(ge=1)


class Training(BaseModel):
    model_config = ConfigDict(extra="forbid")
    selection_metric: str
    stop_reason: list[str]
    converged: bool
    selected_seed: int


class Baselines(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chance: float
    majority_class: float
    majority_class_id: int
    prior_guess: float
    best_constant: float
    best_constant_id: int


class RunRecord(BaseModel):
    """metrics.json. Model runs fill the model blocks, the EDA run the data blocks."""

    model_config = ConfigDict(extra="forbid")
    run: str
    profile: str
    notebook: str
    params: dict[str, Any]
    provenance: Provenance
    same_computation_as: str | None = None  # a run whose inputs equal another's shares its result
    # model runs
    model: _Open | None = None
    artifact: _Open | None = None
    seeds: list[int] | None = None
    train: Scores | None = None
    val: Scores | None = None
    test: Scores | None = None
    per_seed: list[SeedScores] | None = None
    training: Training | None = None
    per_class: list[dict[str, Any]] | None = None
    confusion_matrix: dict[str, Any] | None = None
    baselines: Baselines | None = None
    shift: dict[str, Any] | None = None
    timing: dict[str, Any] | None = None
    history: list[dict[str, list[float]]] | None = None
    translation: dict[str, Any] | None = None
    # the EDA run
    data_checksums: dict[str, str] | None = None
    classes: list[dict[str, Any]] | None = None
    splits: dict[str, Any] | None = None
    missing_classes: dict[str, Any] | None = None
    unlisted_files: dict[str, Any] | None = None
    skipped_entries: list[dict[str, Any]] | None = None
    images: dict[str, Any] | None = None
    figures: dict[str, str]

    @property
    def is_model(self) -> bool:
        return self.test is not None


def build(**fields) -> dict:
    """Validate a run's fields and return them as metrics.json holds them."""
    dumped = RunRecord.model_validate(fields).model_dump(mode="json")
    return {k: v for k, v in dumped.items() if v is not None}


def read(path: Path) -> RunRecord:
    """Read and check a metrics.json; a broken file names itself."""
    try:
        return RunRecord.model_validate(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid metrics.json: {exc}") from exc
