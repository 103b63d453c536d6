"""The saved model of a smoke run: it reproduces the run's test predictions, `predict` and
`make predict` classify the held-in test slice as the run did, each kind of bad input gets one
error naming it (exit 2) while the rest is classified, and the TensorFlow Serving export
answers as the Keras model does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile

import numpy as np
import pytest

from analysis import paths
from analysis.training import experiment
from runner.__main__ import main
from runner.plan import load
from runner.serving import export, predict


@pytest.fixture(scope="module")
def artifact(smoke):
    """The smoke profile's reference CNN, as `predict` finds it."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RESULTS_DIR", str(smoke[1].parent))
    yield predict.find("cnn", "smoke")
    mp.undo()


@pytest.fixture(scope="module")
def recorded(artifact):
    """The run's own test predictions for the artifact's seed, by file."""
    with np.load(artifact.folder / "predictions.npz") as z:
        row = list(z["seeds"]).index(artifact.info["seed"])
        return {
            "files": [str(f) for f in z["files"]],
            "y_pred": z["y_pred"][row],
            "probabilities": z["test_probabilities"][row],
        }


@pytest.fixture(scope="module")
def test_slice(artifact, real_data, tmp_path_factory, recorded):
    """The smoke run's test images (the held-in slice), copied into one folder."""
    folder = tmp_path_factory.mktemp("slice")
    for f in recorded["files"]:
        shutil.copy(real_data / f, folder / f.rsplit("/", 1)[-1])
    return folder


def test_model_json_and_the_published_default(artifact, smoke):
    assert artifact.file.exists() and artifact.image_size == 32
    assert len(artifact.class_ids) == len(artifact.class_names) == 24
    metrics = json.loads((artifact.folder / "metrics.json").read_text())
    assert metrics["artifact"] == artifact.info
    assert predict.published_profile() == load(paths.PLAN_FILE, "smoke").published


def test_loading_the_model_reproduces_the_runs_test_predictions(artifact, recorded, real_data):
    metrics = json.loads((artifact.folder / "metrics.json").read_text())
    p = metrics["params"]
    data = experiment.load_data(str(real_data), p["image_size"], p["max_per_split"])
    assert data.splits["test"].files == recorded["files"]
    probs = artifact.probabilities(data.splits["test"].x)
    assert np.array_equal(data.ids(probs.argmax(axis=1)), recorded["y_pred"])
    assert np.array_equal(probs.astype("float16"), recorded["probabilities"])


def test_predict_on_the_held_in_slice_matches_the_run(
    artifact, recorded, test_slice, capsys, monkeypatch
):
    monkeypatch.setenv("RESULTS_DIR", str(artifact.folder.parents[1]))
    assert main(["predict", str(test_slice), "--profile", "smoke", "--json", "--top", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["run"], doc["profile"], doc["errors"]) == ("cnn", "smoke", [])
    by_name = {p["file"].rsplit("/", 1)[-1]: p["top"] for p in doc["predictions"]}
    assert len(by_name) == len(recorded["files"])
    column = {c: i for i, c in enumerate(artifact.class_ids)}
    for f, pred, probs in zip(
        recorded["files"], recorded["y_pred"], recorded["probabilities"], strict=True
    ):
        top = by_name[f.rsplit("/", 1)[-1]]
        assert len(top) == 3 and top[0]["class_id"] == int(pred), f
        assert top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]
        for t in top:
            assert t["probability"] == pytest.approx(float(probs[column[t["class_id"]]]), abs=2e-3)
            assert t["class_name"] == artifact.class_names[column[t["class_id"]]]


def test_make_predict_prints_one_line_per_image(artifact, recorded, test_slice):
    env = {**os.environ, "RESULTS_DIR": str(artifact.folder.parents[1])}
    for var in ("PROFILE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # not `make test`'s variables
        env.pop(var, None)
    done = subprocess.run(
        ["make", "-s", "predict", f"IMAGES={test_slice}", "PROFILE=smoke", "ARGS="],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(str(test_slice))]
    assert len(lines) == len(recorded["files"])
    assert all(line.count(" %") == 3 for line in lines), lines[:3]  # top-3 by default
    assert "cpu_feature_guard" not in done.stderr  # TensorFlow's start-up notes are quiet


def test_bad_inputs_are_named_and_the_rest_is_classified(
    artifact, test_slice, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("RESULTS_DIR", str(artifact.folder.parents[1]))
    good = sorted(test_slice.iterdir())[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.jpg").write_text("not an image")  # a non-image with an image's name
    (bad / "empty.JPG").write_bytes(b"")  # zero bytes
    (bad / "cut.jpg").write_bytes(good.read_bytes()[:200])  # a truncated JPEG
    shutil.copy(good, bad / good.name)
    (tmp_path / "no-images").mkdir()
    (tmp_path / "no-images" / "readme.txt").write_text("nothing here")
    args = [str(bad), str(tmp_path / "no-images"), str(tmp_path / "missing.jpg")]

    assert main(["predict", *args, "--profile", "smoke"]) == 2
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and out.startswith(str(bad / good.name))
    errors = err.strip().splitlines()
    assert all(line.startswith("error: ") for line in errors)
    for name in ("notes.jpg", "empty.JPG", "cut.jpg"):
        assert sum(str(bad / name) in line for line in errors) == 1, (name, errors)
    assert any(f"{tmp_path / 'no-images'}: no images in this folder" in e for e in errors)
    assert any(f"{tmp_path / 'missing.jpg'}: no such file or folder" in e for e in errors)
    assert len(errors) == 5


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named(artifact, test_slice, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(artifact.folder.parents[1]))
    locked = tmp_path / "locked.jpg"
    shutil.copy(sorted(test_slice.iterdir())[0], locked)
    locked.chmod(0)
    assert main(["predict", str(locked), "--profile", "smoke"]) == 2
    assert f"error: {locked}: not a readable image (PermissionError" in capsys.readouterr().err


def test_a_run_without_an_artifact_is_bad_input(artifact, test_slice, capsys, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(artifact.folder.parents[1]))
    assert main(["predict", str(test_slice), "--run", "eda", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    model = artifact.folder.parent / "eda" / "model.keras"
    assert err.strip().splitlines() == [
        f"error: {model}: run 'eda' of profile 'smoke' has no model artifact; train it with "
        "`make run RUN=eda PROFILE=smoke` (every model run saves one)"
    ]
    assert main(["predict", str(test_slice), "--run", "../smoke/cnn", "--profile", "smoke"]) == 2
    assert "not a run or profile name" in capsys.readouterr().err


def test_savedmodel_export_serves_the_same_probabilities(artifact, real_data, recorded, tmp_path):
    import tensorflow as tf

    tarball = export.package(artifact, tmp_path / "work")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        assert all(n == "1" or n.startswith("1/") for n in names), names
        assert "1/saved_model.pb" in names and "1/variables/variables.index" in names
        assert {m.uid for m in tar.getmembers()} == {0}
        tar.extractall(tmp_path / "served", filter="data")

    loaded = tf.saved_model.load(str(tmp_path / "served" / "1"))
    serve = loaded.signatures["serving_default"]
    ((name, spec),) = serve.structured_input_signature[1].items()
    assert (name, spec.dtype, tuple(spec.shape)) == ("image", tf.float32, (None, 32, 32, 3))
    from analysis.data.cache import decode_image

    x = np.stack([decode_image(real_data / f, 32)[0] for f in recorded["files"]])
    served = next(iter(serve(image=tf.constant(x.astype("float32"))).values())).numpy()
    keras_probs = artifact.probabilities(x)
    assert served.shape == keras_probs.shape
    np.testing.assert_allclose(served, keras_probs, atol=1e-6)
    assert np.array_equal(served.argmax(1), keras_probs.argmax(1))


COMMITTED = paths.ROOT / "results" / predict.published_profile() / "cnn"


@pytest.mark.skipif(
    not (COMMITTED / "model.keras").exists(), reason="the published cnn's model is not committed"
)
def test_the_committed_artifact_matches_its_run(real_data, tmp_path, capsys, monkeypatch):
    """What a fresh clone gets: `predict` from the committed model answers the published run's
    recorded predictions on its first test images."""
    monkeypatch.setenv("RESULTS_DIR", str(COMMITTED.parents[1]))
    with np.load(COMMITTED / "predictions.npz") as z:
        seed = json.loads((COMMITTED / "model.json").read_text())["seed"]
        row = list(z["seeds"]).index(seed)
        files, y_pred = [str(f) for f in z["files"][:64]], z["y_pred"][row][:64]
    for f in files:
        shutil.copy(real_data / f, tmp_path)
    assert main(["predict", str(tmp_path), "--json", "--top", "1"]) == 0
    got = {
        p["file"].rsplit("/", 1)[-1]: p["top"][0]["class_id"]
        for p in json.loads(capsys.readouterr().out)["predictions"]
    }
    assert [got[f.rsplit("/", 1)[-1]] for f in files] == [int(c) for c in y_pred]
