"""The per-run record (analysis.training.experiment): the data a run sees, one model per seed, the
metric blocks of metrics.json, the saved model and predictions, the tables and figures of a model
notebook. Tiny arrays and stand-in models: each rule fails its test when it is wrong (`make
mutate` checks that)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from pydantic import ValidationError

from analysis.data import cache
from analysis.data.index import DataError
from analysis.models import networks as models
from analysis.stats import evaluate
from analysis.training import experiment, train
from analysis.training.experiment import SeedResult, StudyData
from analysis.training.train import FitResult

CLASS_IDS = [3, 5, 9]  # model output i <-> class id CLASS_IDS[i]
NAMES = {3: "drill", 4: "unused", 5: "ground", 9: "wheel"}
Y = {
    "train": [3, 3, 5, 9, 3, 5],
    "val": [3, 5, 9, 5],
    "test": [3, 5, 9, 9, 3],
}


def split(name: str, y, size=4, seed=0) -> cache.SplitArrays:
    n = len(y)
    x = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return cache.SplitArrays(
        split=name,
        x=x,
        y=np.asarray(y),
        files=[f"calibrated/{name}{i}.JPG" for i in range(n)],
        width=np.full(n, 40),
        height=np.full(n, 30),
        mode=["RGB"] * n,
    )


@pytest.fixture
def data() -> StudyData:
    splits = {s: split(s, y, seed=i) for i, (s, y) in enumerate(Y.items())}
    return StudyData(None, CLASS_IDS, NAMES, splits, 4)


def fit_result(
    f1=(0.2, 0.6, 0.5),
    acc=(0.3, 0.7, 0.8),
    stop="schedule_end",
    plateaued=False,
    seconds=10.0,
    ips=50.0,
) -> FitResult:
    f1 = list(f1)
    return FitResult(
        history={"accuracy": list(acc), "val_macro_f1": f1, "loss": [1.0] * len(f1)},
        best_epoch=f1.index(max(f1)) + 1,
        epochs_run=len(f1),
        stop_reason=stop,
        plateaued=plateaued,
        train_seconds=seconds,
        images_per_second=ips,
    )


# --- StudyData, load_data --------------------------------------------------------------------


def test_labels_are_output_indices_and_ids_map_back(data):
    assert data.labels("train").tolist() == [0, 0, 1, 2, 0, 1]
    assert data.labels("train").dtype == np.int64
    assert data.labels("test").tolist() == [0, 1, 2, 2, 0]
    assert data.ids(np.array([2, 0, 1])).tolist() == [9, 3, 5]
    assert data.ids([1]).tolist() == [5]


def test_the_labels_of_an_empty_split_are_still_integer_indices(data):
    # np.asarray([]) would be float64, and float labels cannot index the one-hot table in fit
    data.splits["val"] = split("val", [])
    labels = data.labels("val")
    assert labels.shape == (0,) and labels.dtype == np.int64


def test_load_data_reads_every_split_and_keeps_all_classes_in_a_slice(tiny_msl):
    d = experiment.load_data(str(tiny_msl), 8)
    assert set(d.splits) == {"train", "val", "test"}
    assert all(len(d.splits[s].x) == 4 and d.splits[s].x.shape[1:] == (8, 8, 3) for s in d.splits)
    assert d.class_ids == [0, 1, 2]  # class 3 has no image
    assert d.names == {0: "apxs", 1: "drill", 2: "ground", 3: "sun"}
    assert d.image_size == 8 and d.index.root == tiny_msl
    one = experiment.load_data(str(tiny_msl), 8, max_per_split=1)
    assert all(len(one.splits[s].x) == 1 for s in one.splits)
    assert one.class_ids == [0, 1, 2]  # the outputs come from the whole lists


def test_load_data_skips_bad_entries_only_when_asked(tiny_msl):
    lists = tiny_msl / "train-calibrated-shuffled.txt"
    assert lists.exists()
    lists.write_text(lists.read_text() + "calibrated/missing.JPG 1\n")
    with pytest.raises(DataError, match="not found"):
        experiment.load_data(str(tiny_msl), 8)
    d = experiment.load_data(str(tiny_msl), 8, skip_bad_entries=True)
    assert len(d.splits["train"].x) == 4 and len(d.index.skipped) == 1


# --- translation_shifts, translation_accuracy, selected_seed ---------------------------------


def test_translation_shifts_are_five_steps_up_to_the_fraction():
    assert experiment.translation_shifts(48, 0.25) == [0, 3, 6, 9, 12]
    assert experiment.translation_shifts(64, 0.25) == [0, 4, 8, 12, 16]
    assert experiment.translation_shifts(32, 0.2) == [0, 2, 3, 4, 6]  # 6.4 -> 6; 1.5, 4.5 to even
    assert experiment.translation_shifts(10, 0.1) == [0, 1]  # repeated shifts once
    assert experiment.translation_shifts(10, 0.0) == [0]


class ClassPixelModel:
    """Answers the class index pixel (1, 2) of the red channel encodes (value // 86)."""

    output_shape = (None, 3)

    def predict_on_batch(self, x):
        return np.eye(3, dtype="float32")[(x[:, 1, 2, 0] // 86).astype(int)]


def test_translation_accuracy_averages_the_four_directions(data):
    """Image i's pixel (1, 2) holds its class; the pixel a shift moves there (edge repeated
    beyond the border) holds the same class for the first k images only, k set per source."""
    k = {(1, 1): 2, (1, 3): 5, (0, 2): 9, (2, 2): 14, (1, 0): 17, (3, 2): 19}
    x = np.zeros((20, 4, 4, 3), np.uint8)
    for i in range(20):
        c = i % 3
        x[i, :, :, 0] = 40 + 86 * ((c + 2) % 3)
        x[i, 1, 2, 0] = 40 + 86 * c
        for (r, col), n in k.items():
            x[i, r, col, 0] = 40 + 86 * (c if i < n else (c + 1) % 3)
    y = np.asarray(CLASS_IDS)[np.arange(20) % 3]
    data.splits["test"] = cache.SplitArrays("test", x, y, [""] * 20, None, None, None)
    out = experiment.translation_accuracy(ClassPixelModel(), data, [0, 1, 2])
    assert list(out) == [0, 1, 2] and all(type(v) is float for v in out.values())
    assert out[0] == 1.0
    # 1 px right, left, down, up: pixel (1, 2) comes from (1, 1), (1, 3), (0, 2), (2, 2)
    assert out[1] == pytest.approx((2 + 5 + 9 + 14) / 80)
    # 2 px: from (1, 0), (1, 3) (edge), (0, 2) (edge), (3, 2)
    assert out[2] == pytest.approx((17 + 5 + 9 + 19) / 80)
    assert experiment.translation_accuracy(ClassPixelModel(), data, []) == {}


class CountingModel(ClassPixelModel):
    def __init__(self):
        self.batches = 0

    def predict_on_batch(self, x):
        self.batches += 1
        return super().predict_on_batch(x)


def test_no_shift_is_scored_once_and_every_other_shift_in_four_directions(data):
    model = CountingModel()
    experiment.translation_accuracy(model, data, [0])
    assert model.batches == 1  # five test images, one batch: the unshifted set, once
    experiment.translation_accuracy(model, data, [1])
    assert model.batches == 1 + 4


def seed_result(seed, preds, fit=None, translation=None, ms=2.0, model=None) -> SeedResult:
    return SeedResult(
        seed=seed,
        fit=fit or fit_result(),
        predictions={s: np.asarray(p) for s, p in preds.items()},
        inference_ms_per_image=ms,
        test_probabilities=np.full((len(preds["test"]), 3), 1 / 3),
        model=model,
        translation=translation or {},
    )


PRED_A = {"train": [3, 3, 5, 9, 5, 5], "val": [3, 5, 5, 5], "test": [3, 5, 9, 3, 3]}
PRED_B = {"train": [3, 3, 5, 9, 3, 5], "val": [3, 3, 9, 5], "test": [5, 5, 9, 9, 9]}


def test_the_selected_seed_is_the_best_on_val_the_first_of_a_tie():
    a = seed_result(1, PRED_A, fit_result(f1=(0.2, 0.6)))
    b = seed_result(2, PRED_A, fit_result(f1=(0.7, 0.1)))
    c = seed_result(3, PRED_A, fit_result(f1=(0.5, 0.7)))
    assert experiment.selected_seed([a, b, c]) == 1
    assert experiment.selected_seed([c, a, b]) == 0
    assert experiment.selected_seed([a]) == 0
    assert type(experiment.selected_seed([a, b])) is int


# --- model_metrics ---------------------------------------------------------------------------


@pytest.fixture
def two_seeds():
    a = seed_result(
        11,
        PRED_A,
        fit_result(f1=(0.2, 0.6, 0.5), acc=(0.3, 0.7, 0.8), seconds=10.0, ips=50.0),
        translation={0: 0.8, 4: 0.5, 2: 0.7},
        ms=2.0,
    )
    b = seed_result(
        22,
        PRED_B,
        fit_result(f1=(0.7, 0.65), acc=(0.4, 0.9), stop="early_stopping", seconds=20.0, ips=70.0),
        translation={0: 0.6, 4: 0.3, 2: 0.4},
        ms=4.0,
    )
    return [a, b]


def test_model_metrics_per_seed_rows(data, two_seeds):
    m = experiment.model_metrics(data, two_seeds)
    assert m["seeds"] == [11, 22]
    rows = m["per_seed"]
    assert [r["seed"] for r in rows] == [11, 22]
    for r, pred in zip(rows, (PRED_A, PRED_B), strict=True):
        for s in ("val", "test"):
            assert r[s] == evaluate.scores(np.asarray(Y[s]), np.asarray(pred[s]))
        train_scores = evaluate.scores(np.asarray(Y["train"]), np.asarray(pred["train"]))
        assert {k: v for k, v in r["train"].items() if k != "accuracy_during_training"} == (
            train_scores
        )
    # accuracy during training is the best epoch's, not the last one's
    assert rows[0]["train"]["accuracy_during_training"] == 0.7
    assert rows[1]["train"]["accuracy_during_training"] == 0.4
    assert {k: rows[0][k] for k in ("stop_reason", "plateaued", "best_epoch", "epochs_run")} == {
        "stop_reason": "schedule_end",
        "plateaued": False,
        "best_epoch": 2,
        "epochs_run": 3,
    }
    assert (rows[1]["stop_reason"], rows[1]["best_epoch"], rows[1]["epochs_run"]) == (
        "early_stopping",
        1,
        2,
    )


def test_model_metrics_means_and_stds_over_seeds(data, two_seeds):
    m = experiment.model_metrics(data, two_seeds)
    rows = m["per_seed"]
    for s in ("train", "val", "test"):
        for k in ("accuracy", "macro_f1", "balanced_accuracy"):
            values = [r[s][k] for r in rows]
            assert m[s][k] == pytest.approx(np.mean(values))
            assert m[s][f"{k}_std"] == pytest.approx(np.std(values, ddof=1))
            assert type(m[s][k]) is float
    assert m["train"]["accuracy_during_training"] == pytest.approx(0.55)
    assert m["train"]["accuracy_during_training_std"] == pytest.approx(np.std([0.7, 0.4], ddof=1))
    assert m["test"]["accuracy_per_seed"] == [0.8, 0.6]
    assert m["test"]["accuracy_ci95"] == evaluate.bootstrap_accuracy_ci(
        np.asarray(Y["test"]), np.stack([PRED_A["test"], PRED_B["test"]])
    )
    one = experiment.model_metrics(data, two_seeds[:1])
    assert one["val"]["macro_f1_std"] == 0.0 and one["seeds"] == [11]


def test_model_metrics_training_block_and_the_converged_rule(data, two_seeds):
    m = experiment.model_metrics(data, two_seeds)
    # seed 22 is the best on val (0.7 > 0.6) and is published; seed 11 neither stopped early
    # nor plateaued: not converged
    assert m["training"] == {
        "selection_metric": "val_macro_f1",
        "stop_reason": ["early_stopping", "schedule_end"],
        "converged": False,
        "selected_seed": 22,
    }
    two_seeds[0].fit.plateaued = True
    assert experiment.model_metrics(data, two_seeds)["training"]["converged"] is True
    two_seeds[1].fit.stop_reason = "schedule_end"
    training = experiment.model_metrics(data, two_seeds)["training"]
    assert training["converged"] is False and training["stop_reason"] == ["schedule_end"]
    two_seeds[1].fit.plateaued = True
    assert experiment.model_metrics(data, two_seeds)["training"]["converged"] is True


def test_model_metrics_class_blocks_use_the_first_seed(data, two_seeds):
    m = experiment.model_metrics(data, two_seeds)
    y_test = np.asarray(Y["test"])
    assert m["per_class"] == evaluate.per_class(y_test, PRED_A["test"], CLASS_IDS, NAMES)
    assert m["confusion_matrix"] == evaluate.confusion(y_test, PRED_A["test"], CLASS_IDS)
    assert m["baselines"] == evaluate.chance_and_majority(np.asarray(Y["train"]), y_test)
    assert m["shift"] == evaluate.split_shift(
        {s: np.asarray(y) for s, y in Y.items()},
        {s: [np.asarray(PRED_A[s]), np.asarray(PRED_B[s])] for s in ("val", "test")},
        CLASS_IDS,
        NAMES,
    )


def test_model_metrics_timing_history_and_translation(data, two_seeds):
    m = experiment.model_metrics(data, two_seeds)
    assert m["timing"] == {
        "train_seconds": 15.0,
        "inference_ms_per_image": 3.0,
        "epochs_run": [3, 2],
        "best_epoch": [2, 1],
        "train_images_per_second": 60.0,
    }
    assert m["history"] == [two_seeds[0].fit.history, two_seeds[1].fit.history]
    t = m["translation"]
    assert t["shifts"] == [0, 2, 4] and t["image_size"] == 4
    assert t["accuracy"] == pytest.approx([0.7, 0.55, 0.4])
    assert t["accuracy_std"] == pytest.approx([0.2 / 2**0.5, 0.3 / 2**0.5, 0.2 / 2**0.5])
    assert t["accuracy_per_seed"] == [[0.8, 0.7, 0.5], [0.6, 0.4, 0.3]]
    one = experiment.model_metrics(data, two_seeds[:1])["translation"]
    assert one["accuracy"] == [0.8, 0.7, 0.5] and one["accuracy_std"] == [0.0, 0.0, 0.0]
    two_seeds[0].translation = {0: 0.5, 8: 0.0}  # nothing right at 8 px: still a std of 0
    one = experiment.model_metrics(data, two_seeds[:1])["translation"]
    assert one["accuracy_std"] == [0.0, 0.0]
    for r in two_seeds:
        r.translation = {}
    assert "translation" not in experiment.model_metrics(data, two_seeds)


PROVENANCE = {
    "git_commit": "abc",
    "data_sha256": "0" * 64,
    "machine": "test",
    "python": "3.11",
    "keras": keras.__version__,
    "backend": "tensorflow",
    "tensorflow": None,
    "started": "2026-01-01T00:00:00",
    "finished": "2026-01-01T00:01:00",
}


def test_the_metric_blocks_make_a_valid_record(data, two_seeds):
    m = experiment.model_metrics(data, two_seeds)
    rec = experiment.record(
        run_name="cnn",
        profile="smoke",
        notebook="model.ipynb",
        params={"model": "cnn", "seeds": [11, 22]},
        provenance=PROVENANCE,
        figures={"learning_curves": "figures/cnn/learning_curves.png"},
        model={"name": "cnn_3"},
        **m,
    )
    assert rec["run"] == "cnn" and rec["profile"] == "smoke" and rec["notebook"] == "model.ipynb"
    assert rec["params"] == {"model": "cnn", "seeds": [11, 22]}
    assert rec["provenance"] == PROVENANCE
    assert rec["figures"] == {"learning_curves": "figures/cnn/learning_curves.png"}
    assert rec["model"] == {"name": "cnn_3"}
    assert rec["training"] == m["training"] and rec["test"]["accuracy"] == m["test"]["accuracy"]
    assert "same_computation_as" not in rec and "classes" not in rec
    json.dumps(rec)
    m["per_seed"][0]["best_epoch"] = 0  # epochs are 1-based
    with pytest.raises(ValidationError):
        experiment.record(
            run_name="cnn",
            profile="smoke",
            notebook="model.ipynb",
            params={},
            provenance=PROVENANCE,
            figures={},
            **m,
        )


def test_a_record_without_provenance_fields_is_refused():
    with pytest.raises(ValidationError, match="git_commit"):
        experiment.record(
            run_name="eda",
            profile="smoke",
            notebook="eda.ipynb",
            params={},
            provenance={k: v for k, v in PROVENANCE.items() if k != "git_commit"},
            figures={},
        )


# --- save_model, save_predictions ------------------------------------------------------------


def tiny_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_save_model_writes_the_selected_seed_and_its_description(data, two_seeds, tmp_path):
    for r, seed in zip(two_seeds, (1, 2), strict=True):
        r.model = tiny_model(seed)
        r.model.compile(optimizer="adamw", loss="categorical_crossentropy")
        r.model.train_on_batch(data.splits["train"].x[:2].astype("float32"), np.eye(3)[[0, 1]])
    info = experiment.save_model(tmp_path, data, two_seeds, {"permute_pixels": 1})
    path = tmp_path / "model.keras"
    assert (tmp_path / "model.json").read_text() == json.dumps(info, indent=1) + "\n"
    assert info == {
        "file": "model.keras",
        "seed": 22,  # the best on val
        "selected_by": "best val_macro_f1 over seeds",
        "class_ids": [3, 5, 9],
        "class_names": ["drill", "ground", "wheel"],
        "image_size": 4,
        "preprocessing": cache.PREPROCESSING,
        "input": "float32 RGB array (n, size, size, 3) with values 0..255; the model rescales",
        "permute_pixels": True,
        "bytes": path.stat().st_size,
    }
    loaded = keras.models.load_model(path)
    for a, b in zip(loaded.get_weights(), two_seeds[1].model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert not np.array_equal(loaded.get_weights()[0], two_seeds[0].model.get_weights()[0])
    info = experiment.save_model(tmp_path, data, two_seeds, {})
    assert info["permute_pixels"] is False


def test_save_predictions_holds_every_seed(data, two_seeds, tmp_path):
    two_seeds[1].test_probabilities = np.full((5, 3), 0.2)
    experiment.save_predictions(tmp_path / "p.npz", data, two_seeds)
    with np.load(tmp_path / "p.npz") as z:
        assert sorted(z.files) == sorted(
            [
                "files",
                "y_true",
                "y_pred",
                "val_files",
                "val_true",
                "val_pred",
                "test_probabilities",
                "class_ids",
                "seeds",
            ]
        )
        assert z["files"].tolist() == data.splits["test"].files
        assert z["y_true"].tolist() == Y["test"]
        assert z["y_pred"].tolist() == [PRED_A["test"], PRED_B["test"]]
        assert z["val_files"].tolist() == data.splits["val"].files
        assert z["val_true"].tolist() == Y["val"]
        assert z["val_pred"].tolist() == [PRED_A["val"], PRED_B["val"]]
        probs = z["test_probabilities"]
        assert probs.dtype == np.float16 and probs.shape == (2, 5, 3)
        assert np.allclose(probs[1], 0.2, atol=1e-3) and np.allclose(probs[0], 1 / 3, atol=1e-3)
        assert z["class_ids"].tolist() == CLASS_IDS
        assert z["seeds"].tolist() == [11, 22]


# --- train_seeds -----------------------------------------------------------------------------


class Clock:
    """time.perf_counter for experiment: each call half a second later."""

    def __init__(self):
        self.t = 100.0

    def perf_counter(self):
        self.t += 0.5
        return self.t


@pytest.fixture
def fake_training(monkeypatch):
    """train_seeds with `fit` (and the thread and seed settings) recorded, not run."""
    calls = []

    def fit(model, x_train, y_train, x_val, y_val, **kw):
        calls.append(("fit", model, x_train, y_train, x_val, y_val, kw))
        return fit_result(f1=(0.25, 0.5), stop="early_stopping")

    monkeypatch.setattr(train, "fit", fit)
    monkeypatch.setattr(train, "configure_threads", lambda: calls.append(("threads",)))
    monkeypatch.setattr(train, "seed_everything", lambda s: calls.append(("seed", s)))
    monkeypatch.setattr(experiment, "time", SimpleNamespace(perf_counter=Clock().perf_counter))
    return calls


PARAMS = {
    "seeds": [4, 7],
    "epochs": 2,
    "batch_size": 2,
    "class_weighting": "balanced",
    "class_weight_cap": 1.2,
    "augment": "none",
}


def test_train_seeds_trains_one_model_per_seed_and_predicts_every_split(data, fake_training):
    built, log = [], []

    def build(seed):
        built.append(tiny_model(seed))
        return built[-1]

    results = experiment.train_seeds(build, data, PARAMS, log=log.append)
    assert [c[0] for c in fake_training] == ["threads", "seed", "fit", "seed", "fit"]
    assert [c[1] for c in fake_training if c[0] == "seed"] == [4, 7]
    fits = [c for c in fake_training if c[0] == "fit"]
    for (_, model, x_train, y_train, x_val, y_val, kw), seed, m in zip(
        fits, [4, 7], built, strict=True
    ):
        assert model is m
        assert x_train is data.splits["train"].x and x_val is data.splits["val"].x
        assert y_train.tolist() == [0, 0, 1, 2, 0, 1] and y_val.tolist() == [0, 1, 2, 1]
        assert kw["recipe"] == train.Recipe.from_params(PARAMS)
        # balanced weights 6 / (3 * count): 2/3, 1, 2 -> capped at 1.2
        assert kw["weights"] == pytest.approx({0: 2 / 3, 1: 1.0, 2: 1.2})
        assert kw["seed"] == seed and kw["perm"] is None
    assert [r.seed for r in results] == [4, 7]
    for r, m in zip(results, built, strict=True):
        assert r.model is m and r.translation == {}
        assert r.fit.stop_reason == "early_stopping"
        probs = train.predict(m, data.splits["test"].x)
        assert np.array_equal(r.test_probabilities, probs)
        for s in ("train", "val", "test"):
            expected = data.ids(train.predict(m, data.splits[s].x).argmax(1))
            assert np.array_equal(r.predictions[s], expected)
        assert r.inference_ms_per_image == pytest.approx(1000 * 0.5 / 5)  # 5 test images
    assert log == [
        "--- seed 4 ---",
        "seed 4: early_stopping after 2 epochs (best 2), val macro-F1 0.500",
        "--- seed 7 ---",
        "seed 7: early_stopping after 2 epochs (best 2), val macro-F1 0.500",
    ]


def test_train_seeds_permutes_pixels_and_skips_translation(data, fake_training, monkeypatch):
    monkeypatch.setattr(
        experiment, "translation_accuracy", lambda *a: pytest.fail("permuted: no shift test")
    )
    p = {**PARAMS, "seeds": [1], "permute_pixels": True, "shift_fraction": 0.5}
    (r,) = experiment.train_seeds(tiny_model, data, p, log=lambda s: None)
    perm = train.pixel_permutation(4)
    _, model, x_train, _, x_val, _, kw = fake_training[-1]
    assert np.array_equal(kw["perm"], perm)
    assert x_train is data.splits["train"].x  # permuted on the fly, with the augmentation
    assert np.array_equal(x_val, train.permute(data.splits["val"].x, perm))
    for s in ("train", "val", "test"):
        expected = train.predict(model, train.permute(data.splits[s].x, perm)).argmax(1)
        assert np.array_equal(r.predictions[s], data.ids(expected))
    assert r.translation == {}


def test_train_seeds_measures_translation_when_asked(data, fake_training, monkeypatch):
    seen = []

    def translation(model, d, shifts):
        seen.append((model, d, shifts))
        return {s: 1.0 - s / 10 for s in shifts}

    monkeypatch.setattr(experiment, "translation_accuracy", translation)
    p = {**PARAMS, "seeds": [1], "shift_fraction": "0.5"}
    (r,) = experiment.train_seeds(tiny_model, data, p, log=lambda s: None)
    assert seen == [(r.model, data, [0, 1, 2])]  # 4 px image: shifts of 0 to 2 px
    assert r.translation == {0: 1.0, 1: 0.9, 2: 0.8}
    (r,) = experiment.train_seeds(tiny_model, data, {**p, "shift_fraction": 0}, log=print)
    assert r.translation == {} and len(seen) == 1


# --- build_model, tables, figures ------------------------------------------------------------


def test_build_model_baseline():
    m = experiment.build_model({"model": "baseline", "image_size": 8}, 5, seed=3)
    assert m.name == "baseline" and m.input_shape == (None, 8, 8, 3)
    assert m.output_shape == (None, 5) and m.get_layer("dropout").seed == 3


def test_build_model_cnn_with_its_kernels_filters_and_momentum():
    p = {"model": "cnn", "image_size": 8, "kernel_sizes": [3, 5], "filters": [2, 4]}
    m = experiment.build_model(p, 4, seed=2)
    assert m.input_shape == (None, 8, 8, 3) and m.output_shape == (None, 4)
    assert [layer.name for layer in m.layers if layer.name.startswith("conv")] == [
        "conv1_3x3",
        "conv2_5x5",
    ]
    assert m.get_layer("conv2_5x5").filters == 4 and m.get_layer("dropout").seed == 2
    assert m.get_layer("bn1").momentum == pytest.approx(0.9)
    m = experiment.build_model({**p, "bn_momentum": 0.5}, 4, seed=2)
    assert m.get_layer("bn2").momentum == pytest.approx(0.5)


def test_build_model_refuses_an_unknown_model():
    known = "'baseline', 'cnn', 'cnn_strided', 'cnn_stem2', 'cnn_valid', 'cnn_scrambled'"
    with pytest.raises(ValueError, match=f"model must be one of {known}, not 'vit'"):
        experiment.build_model({"model": "vit", "image_size": 8}, 3, seed=0)


def test_split_table(data):
    assert experiment.split_table(data) == [
        {"split": "train", "images": 6, "array": "(6, 4, 4, 3)", "classes present": 3},
        {"split": "val", "images": 4, "array": "(4, 4, 4, 3)", "classes present": 3},
        {"split": "test", "images": 5, "array": "(5, 4, 4, 3)", "classes present": 3},
    ]
    data.splits["val"].y = np.array([3, 3, 3, 5])
    assert experiment.split_table(data)[1]["classes present"] == 2


def test_layer_table_joins_the_receptive_fields():
    summary = {
        "receptive_field_per_layer": [{"layer": "conv1_3x3", "receptive_field": 3, "jump": 1}],
        "layers": [
            {"name": "scale", "output_shape": [8, 8, 3], "parameters": 0, "flops": 0},
            {"name": "conv1_3x3", "output_shape": [8, 8, 2], "parameters": 54, "flops": 2_500_000},
        ],
    }
    assert experiment.layer_table(summary) == [
        {
            "layer": "scale",
            "output": "8×8×3",
            "parameters": 0,
            "MFLOPs": 0.0,
            "receptive field": "",
        },
        {
            "layer": "conv1_3x3",
            "output": "8×8×2",
            "parameters": 54,
            "MFLOPs": 2.5,
            "receptive field": "3 px",
        },
    ]
    real = models.summary(models.build_cnn(8, 3, (3, 3), (2, 2)))
    rows = experiment.layer_table(real)
    assert [r["receptive field"] for r in rows if r["layer"].startswith("conv")] == ["3 px", "8 px"]


def test_score_table_and_seed_table(data, two_seeds):
    m = experiment.model_metrics(data, two_seeds)
    rows = experiment.score_table(m)
    assert [r["split"] for r in rows] == ["train", "val", "test"]
    t = m["test"]
    assert (
        rows[2]["accuracy"] == f"{t['accuracy']:.3f} ± {t['accuracy_std']:.3f}" == ("0.700 ± 0.141")
    )
    assert rows[1]["macro_f1"] == f"{m['val']['macro_f1']:.3f} ± {m['val']['macro_f1_std']:.3f}"
    b = m["train"]
    assert rows[0]["balanced_accuracy"] == (
        f"{b['balanced_accuracy']:.3f} ± {b['balanced_accuracy_std']:.3f}"
    )
    assert rows[0]["during training"] == "0.550"
    assert "during training" not in rows[1] and "during training" not in rows[2]
    seeds = experiment.seed_table(m)
    assert seeds[1] == {
        "seed": 22,
        "stop": "early_stopping",
        "plateaued": False,
        "epochs": 2,
        "best epoch": 1,
        "train (inference)": m["per_seed"][1]["train"]["accuracy"],
        "train (during training)": 0.4,
        "val macro-F1": m["per_seed"][1]["val"]["macro_f1"],
        "test accuracy": 0.6,  # 3 of 5
    }
    assert [s["seed"] for s in seeds] == [11, 22]


def test_the_notebook_parameters_include_the_recipe():
    assert set(train.Recipe.__dataclass_fields__) <= set(experiment.PARAMETERS)
    assert {"model", "seeds", "permute_pixels", "shift_fraction"} <= set(experiment.PARAMETERS)
