"""Editing how a figure looks never retrains a model (issue 32, item 5).

The presentation definitions (analysis.figures) leave a run's training print, its fingerprint,
for its figures print; a run whose figure code alone changed is redrawn from its record with
the one function the notebook and the site share (analysis.figures.runs.run_figures), no
notebook run; `runner adopt` moves records of the one print to the split one when their
training part is today's. On small fixture packages and on the real library."""

from __future__ import annotations

import json
import shutil
import textwrap
from functools import cache
from pathlib import Path

import pytest

from analysis import paths
from runner import adopt, codeprint, execute, layout, state
from runner.__main__ import main
from runner.plan import load

NOTEBOOK = """
from analysis import train
from analysis.figures import look
metrics = train.fit()
look.draw(metrics)
"""

FILES = {
    "train.py": "RATE = 0.5\n\n\ndef fit():\n    return {'loss': RATE}\n",
    "figures/__init__.py": "",
    "figures/look.py": textwrap.dedent(
        """
        from analysis import helper

        WIDTH = 7.0


        def draw(m):
            return helper.scale(m["loss"]) * WIDTH
        """
    ),
    "helper.py": "def scale(x):\n    return x * 2\n",  # reached by the figures alone
}


def split(tmp_path: Path, name: str, **edits: tuple[str, str]):
    root = tmp_path / name
    for file, text in FILES.items():
        old, new = edits.get(file.replace("/", "_").removesuffix(".py"), ("", ""))
        f = root / "analysis" / file
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text.replace(old, new) if old else text)
    (root / "analysis" / "__init__.py").touch()
    return codeprint.run_prints(codeprint.Library(root), NOTEBOOK)


def test_presentation_and_what_only_it_reaches_leave_the_training_print(tmp_path):
    training, figures = split(tmp_path, "base")
    assert {"analysis.train.fit", "analysis.train.RATE"} <= set(training.manifest)
    assert not [k for k in training.manifest if "figures" in k or "helper" in k]
    assert {"analysis.figures.look.draw", "analysis.figures.look.WIDTH"} <= set(figures.manifest)
    assert "analysis.helper.scale" in figures.manifest
    # the two parts are the whole print, and each value is computable from its manifest
    full = codeprint.code_print(codeprint.Library(tmp_path / "base"), NOTEBOOK)
    assert {**training.manifest, **figures.manifest} == full.manifest
    assert codeprint.value_of(training.manifest) == training.value


def test_a_style_edit_changes_the_figures_print_only_and_a_training_edit_the_training(tmp_path):
    training, figures = split(tmp_path, "base")
    for name, edit in [
        ("style", {"figures_look": ("WIDTH = 7.0", "WIDTH = 8.0")}),
        ("helper", {"helper": ("x * 2", "x * 3")}),
    ]:
        t, f = split(tmp_path, name, **edit)
        assert t.value == training.value and f.value != figures.value, name
    t, f = split(tmp_path, "train", train=("RATE = 0.5", "RATE = 0.25"))
    assert t.value != training.value and f.value == figures.value


# The real library.
NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
RUNS = paths.ROOT / "analysis" / "figures" / "runs.py"


@cache
def real() -> tuple[codeprint.Library, dict]:
    lib = codeprint.Library(paths.ROOT)
    return lib, {nb.stem: state.prints(nb, lib) for nb in NOTEBOOKS}


def test_editing_a_figure_s_style_retrains_nothing_and_redraws_the_model_runs():
    lib, before = real()
    text = RUNS.read_text()
    old = 'figsize=(FIG_WIDTH, 3.6), layout="constrained")'  # the learning curves' height
    assert text.count(old) == 1
    edited = lib.variant({"analysis.figures.runs": text.replace(old, old.replace("3.6", "4.2"))})
    redraw = set()
    for nb in NOTEBOOKS:
        training, figures = state.prints(nb, edited)
        assert training.value == before[nb.stem][0].value, nb.stem
        if figures.value != before[nb.stem][1].value:
            redraw.add(nb.stem)
    assert redraw == {"model", "ablation"}
    # the notebooks that draw from the images (eda, shift) keep their figure code in training
    assert not before["eda"][1].manifest and not before["shift"][1].manifest


def test_the_model_notebook_and_the_site_draw_with_one_function():
    _, before = real()
    for stem in ("model", "ablation"):
        assert state.REDRAW in before[stem][1].manifest
        training = before[stem][0].manifest
        assert not [k for k in training if codeprint.is_presentation(codeprint.module_of(k))]
    site = codeprint.code_print(
        codeprint.Library(paths.ROOT), (paths.ROOT / "runner/report/compare.py").read_text()
    )
    assert state.REDRAW in site.manifest


class NoNotebook:
    """A backend that fails the test if anything is submitted: nothing may run."""

    independent = False

    def start(self, *a, **k):
        raise AssertionError("a notebook was run")


@pytest.fixture
def stale_figures(real_data, tmp_path, monkeypatch):
    """The smoke profile's cnn, computed with today's training code (its record: the
    published cnn's metrics.json) but drawn by older figure code; in a results folder of its
    own (the session's smoke results stay as the smoke run left them)."""
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    plan = load(profile="smoke")
    run = plan.runs["cnn"]
    now = state.inputs([run], real_data)[run.name]
    folder = layout.run_dir("smoke", "cnn")
    folder.mkdir(parents=True)
    shutil.copy(paths.ROOT / "results" / "standard" / "cnn" / "metrics.json", folder)
    old = dict(now.figures.manifest)
    old["analysis.figures.runs.learning_curves"] = "0" * 16
    record = {
        "run": "cnn",
        "fingerprint": now.fingerprint,
        "notebook": run.notebook,
        "params": run.params,
        "code": now.code.value,
        "code_manifest": now.code.manifest,
        "figures_code": codeprint.value_of(old),
        "figures_manifest": old,
    }
    (folder / layout.RUN_RECORD).write_text(json.dumps(record))
    return plan, folder, now


def test_status_says_figures_to_redraw_and_why(stale_figures, real_data, capsys):
    plan, folder, now = stale_figures
    assert state.is_current(folder, now.fingerprint)
    changed = ["figures: analysis.figures.runs.learning_curves changed"]
    assert state.figures_why(folder, now) == changed
    main(["status", "--profile", "smoke", "--data-dir", str(real_data), "--why", "cnn"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["figures", "to", "redraw", "smoke/cnn"]
    assert lines[1].strip() == changed[0]


def test_run_redraws_the_figures_from_the_record_without_running_a_notebook(
    stale_figures, real_data, monkeypatch
):
    plan, folder, now = stale_figures
    monkeypatch.setattr(execute.compare, "refresh", lambda *a, **k: None)  # no study here
    out = execute.run_plan(plan, ["cnn"], real_data, backend=NoNotebook())
    assert out.redrawn == ["cnn"] and out.skipped == ["cnn"] and not out.executed
    metrics = json.loads((folder / "metrics.json").read_text())
    assert sorted(metrics["figures"]) == [
        "confusion_matrix",
        "learning_curves",
        "per_class_f1",
        "translation",
    ]
    for rel in metrics["figures"].values():
        assert (folder / rel).read_bytes()[:4] == b"\x89PNG", rel
    record = json.loads((folder / layout.RUN_RECORD).read_text())
    assert record["figures_code"] == now.figures.value
    assert record["fingerprint"] == now.fingerprint  # its training record untouched
    assert state.figures_current(folder, now)


def one_print_record(now: state.Inputs, run) -> dict:
    """A record as written before the split: one print of everything the notebook reached."""
    manifest = {**now.code.manifest, **now.figures.manifest}
    code = codeprint.value_of(manifest)
    return {
        "fingerprint": run.fingerprint(code, now.data),
        "code": code,
        "code_manifest": manifest,
    }


def test_adopt_moves_a_one_print_record_whose_training_part_is_today_s():
    run = load(profile="smoke").runs["cnn"]
    lib, prints = real()
    training, figures = prints["model"]
    now = state.Inputs(training, "data", run.fingerprint(training.value, "data"), figures)
    record = one_print_record(now, run)
    assert record["fingerprint"] != now.fingerprint  # stale under the split print
    assert adopt.judge_split(run, record, now).adopted
    # a definition moved into analysis.figures since is presentation too
    moved = dict(record["code_manifest"])
    moved["analysis.training.experiment.run_figures"] = moved.pop(state.REDRAW)
    assert adopt.judge_split(run, {**record, "code_manifest": moved}, now).adopted


def test_adopt_keeps_a_record_stale_when_its_training_code_or_inputs_differ():
    run = load(profile="smoke").runs["cnn"]
    _, prints = real()
    training, figures = prints["model"]
    now = state.Inputs(training, "data", run.fingerprint(training.value, "data"), figures)
    record = one_print_record(now, run)
    literal = dict(record["code_manifest"])
    literal["analysis.training.train.PLATEAU_GAIN"] = "0" * 16
    verdict = adopt.judge_split(run, {**record, "code_manifest": literal}, now)
    assert not verdict.adopted and "analysis.training.train.PLATEAU_GAIN changed" in verdict.reason
    other = state.Inputs(training, "other data", run.fingerprint(training.value, "x"), figures)
    assert not adopt.judge_split(run, record, other).adopted


def test_run_figures_draws_each_figure_of_a_model_run_from_its_record(tmp_path, monkeypatch):
    """What each drawing gets, from the published cnn's metrics.json: the notebook's call (the
    run's own trivial answers), the site's (its name as suffix, the study's answers)."""
    from analysis.figures import runs

    drawn = {}

    def recorder(name):
        def draw(*args):
            drawn[name] = args
            return args[1] if name == "translation" else args[-1]

        return draw

    for name in ("learning_curves", "confusion", "per_class_f1", "translation"):
        monkeypatch.setattr(runs, name, recorder(name))
    m = json.loads((paths.ROOT / "results" / "standard" / "cnn" / "metrics.json").read_text())
    figs = runs.run_figures(m, object(), tmp_path, "cnn")  # the notebook's data: not read
    assert figs == {k: tmp_path / f"{k}.png" for k in m["figures"]}
    assert {k: f"figures/{p.name}" for k, p in figs.items()} == m["figures"]
    names = {c["id"]: c["name"] for c in m["per_class"]}
    assert drawn["learning_curves"] == ("cnn", m["history"], figs["learning_curves"])
    assert drawn["confusion"] == ("cnn", m["confusion_matrix"], names, figs["confusion_matrix"])
    assert drawn["per_class_f1"] == ("cnn", m["per_class"], figs["per_class_f1"])
    assert drawn["translation"] == ({"cnn": m["translation"]}, figs["translation"], m["baselines"])
    site = runs.draw_runs({"cnn": m, "kernel-3x3": {**m, "same_computation_as": "cnn"}}, tmp_path)
    assert set(site) == {f"{k}/cnn" for k in m["figures"]}
    assert site["translation/cnn"] == tmp_path / "translation_cnn.png"
    assert drawn["translation"][2] == {}  # no study-wide answers given: none drawn
    del m["translation"]
    assert set(runs.run_figures(m, None, tmp_path, "cnn")) == set(figs) - {"translation"}
