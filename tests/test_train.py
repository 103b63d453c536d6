"""The training rules (analysis.training.train): the convergence check of a finished schedule, the
warm-up + cosine schedule, AdamW, class weights, the val selection and early stopping, the input
pipeline, `fit` and `predict`. Tiny arrays and a one-layer model: each rule fails its test when
it is wrong (`make mutate` checks that)."""

from __future__ import annotations

import math
import os
import time
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from analysis.stats import evaluate
from analysis.training import train
from analysis.training.train import PLATEAU_GAIN, Recipe, plateaued


def test_a_flat_tail_with_one_lucky_epoch_has_plateaued():
    # recipe-48px-long's val macro-F1, epochs 13-24: flat from epoch 16, one lucky epoch (0.724)
    curve = [0.5] * 12 + [0.662, 0.685, 0.669, 0.709, 0.707, 0.696]
    curve += [0.711, 0.707, 0.703, 0.709, 0.724, 0.716]
    assert plateaued(curve)


def test_a_curve_still_rising_has_not():
    # a 64 px run cut to 10 epochs: still climbing when the schedule ended
    assert not plateaued([0.1, 0.25, 0.3, 0.4, 0.5, 0.52, 0.55, 0.58, 0.62, 0.64])
    assert not plateaued([i / 100 for i in range(24)])  # +0.01 an epoch: tail mean +0.035


def test_the_tail_is_a_quarter_of_the_epochs_and_at_least_two():
    # 8 epochs: the tail is epochs 7-8; its mean 0.70 against the best before it
    assert plateaued([0.1] * 5 + [0.695, 0.70, 0.70])
    assert not plateaued([0.1] * 5 + [0.6, 0.70, 0.70])
    # 3 epochs: the tail is 2 epochs, judged against the first
    assert plateaued([0.5, 0.505, 0.505])
    assert not plateaued([0.3, 0.5, 0.5])


def test_twelve_epochs_have_a_tail_of_three():
    # tail of 3: mean 0.497 against 0.5, flat; a tail of 2 would see a gain of 0.02
    assert plateaued([0.5] * 9 + [0.45, 0.52, 0.52])
    # 16 epochs, tail of 4: mean 0.5125 against 0.5; a tail of 3 would see 0.52
    assert not plateaued([0.5] * 12 + [0.49, 0.52, 0.52, 0.52])


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_few_epochs_to_judge_is_not_a_plateau(n):
    assert not plateaued([0.5] * n)


def test_the_gain_is_strict_and_can_be_set():
    assert not plateaued([0.5, 0.5 + PLATEAU_GAIN, 0.5 + PLATEAU_GAIN])
    assert not plateaued([0.0, PLATEAU_GAIN, PLATEAU_GAIN])  # a gain of exactly 0.01
    assert not plateaued([0.5, 0.75, 0.75], gain=0.25)  # exact in binary: not < 0.25
    assert plateaued([0.5, 0.52, 0.52], gain=0.03)
    assert not plateaued([0.5, 0.52, 0.52], gain=0.02)


def lr_at(optimizer, step: int) -> float:
    """The learning rate the optimizer applies at a given step (what ValSelection logs)."""
    optimizer.iterations.assign(step)
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def test_warm_up_is_linear_to_the_peak_then_cosine_decays_to_zero():
    # 10 epochs of 5 steps, 2 warm-up epochs: 10 steps up, then 40 steps down
    opt = Recipe(epochs=10, warmup_epochs=2, learning_rate=1e-3).optimizer(5)
    expected = {
        0: 0.0,
        3: 3e-4,
        5: 5e-4,
        10: 1e-3,
        20: 1e-3 * 0.5 * (1 + math.cos(math.pi * 10 / 40)),
        30: 5e-4,
        45: 1e-3 * 0.5 * (1 + math.cos(math.pi * 35 / 40)),
        50: 0.0,
        60: 0.0,  # stays at zero past the end
    }
    for step, lr in expected.items():
        assert lr_at(opt, step) == pytest.approx(lr, abs=1e-9), step


def test_the_warm_up_never_takes_the_whole_run():
    # 3 epochs with a 5-epoch warm-up: warm-up is cut to epochs - 1 = 2 (8 steps), 4 to decay
    opt = Recipe(epochs=3, warmup_epochs=5, learning_rate=0.1).optimizer(4)
    assert lr_at(opt, 4) == pytest.approx(0.05)
    assert lr_at(opt, 8) == pytest.approx(0.1)
    assert lr_at(opt, 10) == pytest.approx(0.05)
    assert lr_at(opt, 12) == pytest.approx(0.0, abs=1e-9)


def test_one_epoch_starts_at_the_peak_and_decays_to_zero():
    opt = Recipe(epochs=1, warmup_epochs=2, learning_rate=0.2).optimizer(1)
    assert lr_at(opt, 0) == pytest.approx(0.2)
    assert lr_at(opt, 1) == pytest.approx(0.0, abs=1e-9)
    opt = Recipe(epochs=1, warmup_epochs=0, learning_rate=0.2).optimizer(4)
    assert lr_at(opt, 0) == pytest.approx(0.2)
    assert lr_at(opt, 2) == pytest.approx(0.1)
    assert lr_at(opt, 4) == pytest.approx(0.0, abs=1e-9)


def test_no_warm_up_epochs_starts_at_the_peak():
    opt = Recipe(epochs=4, warmup_epochs=0, learning_rate=0.4).optimizer(2)
    assert lr_at(opt, 0) == pytest.approx(0.4)
    assert lr_at(opt, 4) == pytest.approx(0.2)
    assert lr_at(opt, 8) == pytest.approx(0.0, abs=1e-9)


def test_a_constant_schedule_keeps_the_peak():
    opt = Recipe(epochs=5, schedule="constant", learning_rate=0.03).optimizer(7)
    for step in (0, 7, 35, 100):
        assert lr_at(opt, step) == pytest.approx(0.03)


def test_adamw_with_the_recipe_weight_decay():
    for schedule in ("cosine", "constant"):
        opt = Recipe(epochs=3, schedule=schedule, weight_decay=0.05).optimizer(2)
        assert isinstance(opt, keras.optimizers.AdamW)
        assert opt.weight_decay == pytest.approx(0.05)
    assert Recipe(epochs=3).optimizer(2).weight_decay == pytest.approx(1e-4)


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule must be 'cosine' or 'constant', not 'linear'"):
        Recipe(epochs=3, schedule="linear").optimizer(2)


def test_recipe_from_params_takes_its_fields_and_ignores_the_rest():
    r = Recipe.from_params({"epochs": 7, "learning_rate": 0.5, "patience": 3, "model": "cnn"})
    assert r == Recipe(epochs=7, learning_rate=0.5, patience=3)
    assert r.batch_size == 32 and r.class_weighting == "sqrt" and r.class_weight_cap == 10.0
    with pytest.raises(TypeError):
        Recipe.from_params({"learning_rate": 0.5})  # epochs has no default


# Six of class 0, two of class 1, one of class 2: balanced weights n / (k * count).
Y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])


def test_balanced_class_weights_and_absent_classes():
    w = train.class_weights(Y, 5, "balanced", cap=0.0)
    assert w == pytest.approx({0: 9 / 18, 1: 9 / 6, 2: 9 / 3, 3: 1.0, 4: 1.0})
    assert all(type(k) is int and type(v) is float for k, v in w.items())


def test_sqrt_class_weights_are_the_square_root():
    w = train.class_weights(Y, 3, "sqrt", cap=0.0)
    assert w == pytest.approx({0: 0.5**0.5, 1: 1.5**0.5, 2: 3.0**0.5})
    assert train.class_weights(Y, 3, "sqrt") == pytest.approx(w)  # default cap 10 not reached


def test_the_cap_limits_every_weight():
    assert train.class_weights(Y, 4, "balanced", cap=2.0) == pytest.approx(
        {0: 0.5, 1: 1.5, 2: 2.0, 3: 1.0}
    )
    assert train.class_weights(Y, 3, "balanced", cap=1.0) == pytest.approx({0: 0.5, 1: 1.0, 2: 1.0})
    # a class of one image among 61 would weigh 30.5; the recipe's default cap is 10
    rare = np.array([0] * 60 + [1])
    cap = Recipe(epochs=1).class_weight_cap
    assert train.class_weights(rare, 2, "balanced", cap) == pytest.approx({0: 61 / 120, 1: 10.0})
    assert train.class_weights(rare, 2, "balanced")[1] == pytest.approx(30.5)  # no cap: 0


def test_no_class_weighting_is_all_ones():
    assert train.class_weights(Y, 4, "none", cap=2.0) == {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}
    # the cap limits corrections only: a cap under one does not lower unweighted classes
    assert train.class_weights(Y, 3, "none", cap=0.5) == {0: 1.0, 1: 1.0, 2: 1.0}
    assert train.class_weights(Y, 3, "none") == {0: 1.0, 1: 1.0, 2: 1.0}


def test_an_unknown_class_weighting_is_refused():
    with pytest.raises(ValueError, match="must be 'balanced', 'sqrt' or 'none', not 'inverse'"):
        train.class_weights(Y, 3, "inverse")


def test_pixel_permutation_is_one_fixed_seeded_shuffle():
    p = train.pixel_permutation(4)
    assert np.array_equal(p, np.random.default_rng(2018).permutation(16))
    assert np.array_equal(
        train.pixel_permutation(3, seed=5), np.random.default_rng(5).permutation(9)
    )


def test_permute_moves_pixel_positions_alike_in_every_image_and_channel():
    x = np.arange(2 * 2 * 2 * 3).reshape(2, 2, 2, 3)
    perm = np.array([3, 0, 2, 1])
    out = train.permute(x, perm)
    assert out.shape == x.shape
    flat = x.reshape(2, 4, 3)
    for i in range(2):
        for pos in range(4):
            assert np.array_equal(out.reshape(2, 4, 3)[i, pos], flat[i, perm[pos]])


def test_shift_translates_and_repeats_the_edge():
    x = np.arange(9).reshape(1, 3, 3, 1)
    grid = x[0, :, :, 0]
    assert np.array_equal(train.shift(x, 0, 0), x)
    right = train.shift(x, 0, 1)[0, :, :, 0]
    assert np.array_equal(right, [[0, 0, 1], [3, 3, 4], [6, 6, 7]])
    down = train.shift(x, 1, 0)[0, :, :, 0]
    assert np.array_equal(down, [[0, 1, 2], [0, 1, 2], [3, 4, 5]])
    up_left = train.shift(x, -1, -2)[0, :, :, 0]
    assert np.array_equal(up_left, [[5, 5, 5], [8, 8, 8], [8, 8, 8]])
    assert np.array_equal(train.shift(x, 0, -1)[0, :, :, 0], grid[:, [1, 2, 2]])


class FakeModel:
    """What ValSelection touches: the optimizer's rate, weights, the stop flag."""

    def __init__(self, lr=0.25):
        self.optimizer = SimpleNamespace(learning_rate=np.float32(lr))
        self.weights_now = 0
        self.restored = None
        self.stop_training = False

    def get_weights(self):
        return [np.full(2, self.weights_now)]

    def set_weights(self, weights):
        self.restored = weights


def probs_for(pred, n_classes=2):
    return np.eye(n_classes)[np.asarray(pred)] * 0.8 + 0.1


Y_VAL = np.array([0, 0, 1, 1])
RIGHT, ALL_ZERO, ONE_WRONG = [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 1, 0]


def run_epochs(preds, patience=0):
    """Feed ValSelection one epoch per prediction vector; return it, the model and the logs."""
    queue = list(preds)
    model = FakeModel()
    cb = train.ValSelection(lambda: probs_for(queue.pop(0)), Y_VAL.tolist(), patience)
    cb.set_model(model)
    logs = []
    for epoch in range(len(preds)):
        if model.stop_training:
            break
        model.weights_now = epoch + 1
        logs.append({"loss": 1.0})
        cb.on_epoch_end(epoch, logs[-1])
    cb.on_train_end()
    return cb, model, logs


def test_val_selection_logs_the_val_scores_and_the_learning_rate():
    cb, _, logs = run_epochs([ONE_WRONG])
    s = evaluate.scores(Y_VAL, np.array(ONE_WRONG))
    assert logs[0]["loss"] == 1.0  # the dict Keras passes is updated in place
    assert logs[0]["val_accuracy"] == s["accuracy"] == 0.75
    assert logs[0]["val_macro_f1"] == pytest.approx(s["macro_f1"])
    assert logs[0]["val_balanced_accuracy"] == s["balanced_accuracy"]
    assert logs[0]["learning_rate"] == 0.25 and type(logs[0]["learning_rate"]) is float
    # val loss: mean negative log-probability of the true class
    assert logs[0]["val_loss"] == pytest.approx(-(3 * math.log(0.9) + math.log(0.1)) / 4)


def test_val_loss_clips_a_zero_probability():
    model = FakeModel()
    probs = np.array([[1.0, 0.0], [0.25, 0.75]])
    cb = train.ValSelection(lambda: probs, np.array([1, 1]), 0)
    cb.set_model(model)
    logs = {}
    cb.on_epoch_end(0, logs)
    assert logs["val_loss"] == pytest.approx(-(math.log(1e-7) + math.log(0.75)) / 2)
    cb.on_epoch_end(1, None)  # Keras may pass no logs


def test_val_loss_is_never_negative_when_rounding_lifts_a_probability_above_one():
    # float32 softmax can return 1 + 2**-23 for a confident class: its log must count as 0
    above_one = np.float32(1) + np.float32(2**-23)
    probs = np.array([[0.0, above_one], [above_one, 0.0]], dtype=np.float32)
    cb = train.ValSelection(lambda: probs, np.array([1, 0]), 0)
    cb.set_model(FakeModel())
    logs = {}
    cb.on_epoch_end(0, logs)
    assert logs["val_loss"] == 0.0


def test_val_selection_keeps_the_first_best_epoch_and_restores_its_weights():
    cb, model, logs = run_epochs([ALL_ZERO, ONE_WRONG, RIGHT, RIGHT, ONE_WRONG])
    assert len(logs) == 5 and not model.stop_training and cb.stopped_early is False
    assert cb.best_epoch == 3  # 1-based; the tie at epoch 4 does not replace it
    assert cb.best == logs[2]["val_macro_f1"] == 1.0
    assert np.array_equal(cb.best_weights[0], [3, 3])
    assert np.array_equal(model.restored[0], [3, 3])


def test_before_any_epoch_nothing_is_kept_or_restored():
    model = FakeModel()
    cb = train.ValSelection(lambda: None, Y_VAL, 2)
    cb.set_model(model)
    assert (cb.best, cb.best_epoch, cb.best_weights) == (-math.inf, 0, None)
    assert cb.stopped_early is False
    cb.on_train_end()
    assert model.restored is None


def test_early_stopping_after_patience_epochs_without_improvement():
    cb, model, logs = run_epochs([ONE_WRONG, ALL_ZERO, ALL_ZERO, RIGHT], patience=2)
    assert len(logs) == 3  # epochs 2 and 3 did not beat epoch 1: stop after epoch 3
    assert cb.stopped_early and model.stop_training and cb.best_epoch == 1
    cb, model, logs = run_epochs([ONE_WRONG, ALL_ZERO, RIGHT, ALL_ZERO, ALL_ZERO], patience=2)
    assert len(logs) == 5 and cb.stopped_early and cb.best_epoch == 3
    cb, model, logs = run_epochs([ONE_WRONG, ALL_ZERO], patience=1)
    assert len(logs) == 2 and cb.stopped_early
    cb, model, logs = run_epochs([ONE_WRONG, ALL_ZERO, RIGHT], patience=2)
    assert len(logs) == 3 and not cb.stopped_early and not model.stop_training


def test_no_patience_never_stops_early():
    cb, model, logs = run_epochs([RIGHT] + [ALL_ZERO] * 5, patience=0)
    assert len(logs) == 6 and not cb.stopped_early and not model.stop_training
    assert cb.best_epoch == 1 and np.array_equal(model.restored[0], [1, 1])


class BatchRecorder:
    """A model stand-in for predict: records the batches, answers the first pixel's class."""

    output_shape = (None, 3)

    def __init__(self):
        self.batches = []

    def predict_on_batch(self, x):
        self.batches.append((len(x), x.dtype))
        return np.eye(3, dtype="float32")[x[:, 0, 0, 0].astype(int) % 3]


def test_predict_goes_in_float32_slices_and_keeps_the_order():
    x = (np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3))).astype(
        np.uint8
    )
    model = BatchRecorder()
    probs = train.predict(model, x, batch_size=4)
    assert model.batches == [(4, np.float32), (4, np.float32), (2, np.float32)]
    assert np.array_equal(probs.argmax(1), np.arange(10) % 3)
    model = BatchRecorder()
    big = np.zeros((300, 1, 1, 3), np.uint8)
    assert train.predict(model, big).shape == (300, 3)
    assert [n for n, _ in model.batches] == [256, 44]


def test_predict_on_no_images_is_an_empty_array():
    out = train.predict(BatchRecorder(), np.zeros((0, 2, 2, 3), np.uint8))
    assert out.shape == (0, 3) and out.dtype == np.float32


def images(n=6, size=2):
    return np.arange(n * size * size * 3, dtype=np.uint8).reshape(n, size, size, 3)


def batches_of(ds):
    return [tuple(np.asarray(t) for t in b) for b in ds]


def test_the_dataset_batches_float_images_with_labels_and_weights():
    x, y = images(), np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2]]
    w = np.arange(6, dtype="float32")
    got = batches_of(train.make_dataset(x, y, w, 4, None, "none", None))
    assert [len(b[0]) for b in got] == [4, 2]
    xs, ys, ws = (np.concatenate([b[i] for b in got]) for i in range(3))
    assert xs.dtype == np.float32 and np.array_equal(xs, x.astype("float32"))  # no seed: no shuffle
    assert np.array_equal(ys, y) and np.array_equal(ws, w)


def test_the_dataset_shuffles_by_seed_every_epoch():
    x, y, w = images(8), np.eye(8, dtype="float32"), np.arange(8, dtype="float32")
    ds = train.make_dataset(x, y, w, 8, 3, "none", None)
    first, second = batches_of(ds)[0], batches_of(ds)[0]
    again = batches_of(train.make_dataset(x, y, w, 8, 3, "none", None))[0]
    order = first[2].astype(int)
    assert sorted(order) == list(range(8)) and list(order) != list(range(8))
    assert np.array_equal(first[0], x[order].astype("float32"))  # images follow their labels
    assert np.array_equal(first[1], y[order])
    assert list(second[2]) != list(first[2])  # reshuffled each epoch
    assert np.array_equal(again[2], first[2])  # the same seed, the same order


def test_the_dataset_augments_and_permutes():
    x, y, w = images(4, 4), np.eye(4, dtype="float32"), np.ones(4, "float32")
    perm = train.pixel_permutation(4)
    (b,) = batches_of(train.make_dataset(x, y, w, 4, None, "none", perm))
    assert np.array_equal(b[0], train.permute(x, perm).astype("float32"))
    (b,) = batches_of(train.make_dataset(x, y, w, 4, None, "standard", None))
    assert b[0].shape == x.shape and not np.allclose(b[0], x)


def dataset_ops(ds) -> dict[str, tuple[dict, list]]:
    """The pipeline's map and prefetch ops (from its graph), with their attributes and their
    constant inputs."""
    import tensorflow as tf

    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(ds._as_serialized_graph().numpy())
    consts = {n.name: n.attr["value"].tensor for n in graph.node if n.op == "Const"}
    return {
        n.op: (dict(n.attr), [tf.make_ndarray(consts[i]).tolist() for i in n.input if i in consts])
        for n in graph.node
        if n.op in ("MapDataset", "ParallelMapDatasetV2", "PrefetchDataset")
    }


def test_the_dataset_transforms_batches_in_parallel_in_a_fixed_order_and_prefetches():
    import tensorflow as tf

    x, y, w = images(4), np.eye(4, dtype="float32"), np.ones(4, "float32")
    ops = dataset_ops(train.make_dataset(x, y, w, 2, 1, "none", None))
    # parallel calls tuned by tf.data, yet batches leave in the order they came: same seed,
    # same batches (a parallel map may otherwise hand out whichever batch is ready first)
    attrs, inputs = ops["ParallelMapDatasetV2"]
    assert inputs == [tf.data.AUTOTUNE] and attrs["deterministic"].s == b"true"
    assert "MapDataset" not in ops
    assert ops["PrefetchDataset"][1] == [tf.data.AUTOTUNE]


def test_the_augmentation_is_seeded_by_the_run_seed_or_zero(monkeypatch):
    seeds = []
    monkeypatch.setattr(train, "augmentation", lambda seed, kind: seeds.append((seed, kind)))
    x, y, w = images(4), np.eye(4, dtype="float32"), np.ones(4, "float32")
    train.make_dataset(x, y, w, 4, None, "light", None)
    train.make_dataset(x, y, w, 4, 5, "standard", None)
    train.ArrayBatches(x, y, w, 4, 6, "strong", None)
    assert seeds == [(0, "light"), (5, "standard"), (6, "strong")]


def test_array_batches_are_the_pipeline_twin():
    x, y, w = images(6), np.eye(6, dtype="float32"), np.arange(6, dtype="float32")
    ab = train.ArrayBatches(x, y, w, 4, 7, "none", None)
    assert len(ab) == 2
    order = np.random.default_rng(7).permutation(6)
    assert np.array_equal(ab.order, order)
    xb, yb, wb = ab[1]
    assert xb.dtype == np.float32 and np.array_equal(xb, x[order[4:6]].astype("float32"))
    assert np.array_equal(yb, y[order[4:6]]) and np.array_equal(wb, w[order[4:6]])
    assert np.array_equal(ab[0][2], w[order[:4]])
    rng = np.random.default_rng(7)
    rng.permutation(6)
    ab.on_epoch_end()
    assert np.array_equal(ab.order, rng.permutation(6))  # a new order each epoch
    assert len(train.ArrayBatches(images(8), y, w, 4, 7, "none", None)) == 2


def test_array_batches_augment_and_permute():
    x, y, w = images(4, 4), np.eye(4, dtype="float32"), np.ones(4, "float32")
    perm = train.pixel_permutation(4)
    ab = train.ArrayBatches(x, y, w, 4, 1, "none", perm)
    xb, _, _ = ab[0]
    assert np.array_equal(xb, train.permute(x[ab.order], perm).astype("float32"))
    ab = train.ArrayBatches(x, y, w, 4, 1, "standard", None)
    xb, _, _ = ab[0]
    assert xb.shape == x.shape and not np.allclose(xb, x[ab.order])


def test_seed_everything_makes_draws_repeat_and_ops_deterministic(monkeypatch):
    import tensorflow as tf

    calls = []
    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism", lambda: calls.append(1))
    train.seed_everything(5)
    assert calls == [1]
    a = (np.random.random(), float(keras.random.uniform(())))
    train.seed_everything(5)
    assert (np.random.random(), float(keras.random.uniform(()))) == a
    train.seed_everything(6)
    assert np.random.random() != a[0]
    assert len(calls) == 3
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    train.seed_everything(5)
    assert len(calls) == 3  # only TensorFlow has the switch


def test_configure_threads_uses_every_core_for_one_op_at_a_time(monkeypatch):
    import tensorflow as tf

    calls = []
    monkeypatch.setattr(
        tf.config.threading, "set_intra_op_parallelism_threads", lambda n: calls.append(("in", n))
    )
    monkeypatch.setattr(
        tf.config.threading, "set_inter_op_parallelism_threads", lambda n: calls.append(("out", n))
    )
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    train.configure_threads()
    assert calls == [("in", 6), ("out", 1)]
    calls.clear()
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    train.configure_threads()
    assert calls == [("in", 1), ("out", 1)]

    def initialised(n):
        raise RuntimeError("cannot be modified after initialization")

    monkeypatch.setattr(tf.config.threading, "set_intra_op_parallelism_threads", initialised)
    train.configure_threads()  # keeps what the process has


def tiny_model(n_classes=3, size=4, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x))


def tiny_split(n=10, size=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 3


def spy(monkeypatch, name):
    calls = []
    real = getattr(train, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(train, name, wrapper)
    return calls


def test_fit_runs_the_schedule_and_keeps_the_best_epoch(monkeypatch, capsys):
    x, y = tiny_split()
    model = tiny_model()
    recipe = Recipe(
        epochs=3,
        batch_size=4,
        learning_rate=0.05,
        warmup_epochs=2,
        weight_decay=0.02,
        label_smoothing=0.2,
        augment="none",
    )
    weights = {0: 1.0, 1: 2.0, 2: 0.5}
    perm = train.pixel_permutation(4)
    x_val = train.permute(x, perm)
    calls = spy(monkeypatch, "make_dataset")
    capsys.readouterr()
    start = time.perf_counter()
    r = train.fit(model, x, y, x_val, y, recipe=recipe, weights=weights, seed=4, perm=perm)
    wall = time.perf_counter() - start
    # verbose 2 by default: one line per epoch with the val scores, no progress bar
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("Epoch")] == [
        "Epoch 1/3",
        "Epoch 2/3",
        "Epoch 3/3",
    ]
    epochs = [line for line in lines if line.startswith("3/3 - ")]
    assert len(epochs) == 3 and all("val_macro_f1: " in line for line in epochs)
    (args,) = calls  # the TensorFlow backend streams through tf.data
    assert args[0] is x and np.array_equal(args[1], np.eye(3)[y]) and args[1].dtype == np.float32
    assert np.array_equal(args[2], [weights[int(i)] for i in y]) and args[2].dtype == np.float32
    assert args[3:6] == (4, 4, "none") and args[6] is perm
    h = r.history
    assert set(h) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "val_macro_f1",
        "val_balanced_accuracy",
        "learning_rate",
    }
    assert all(len(v) == 3 and all(type(e) is float for e in v) for v in h.values())
    # 10 images in batches of 4: 3 steps an epoch; logged at the end of each epoch
    assert h["learning_rate"] == pytest.approx([0.025, 0.05, 0.0], abs=1e-7)
    assert (r.epochs_run, r.stop_reason) == (3, "schedule_end")
    f1 = h[train.SELECTION_METRIC]
    assert r.best_epoch == f1.index(max(f1)) + 1
    assert r.plateaued == plateaued(f1)
    assert model.loss.label_smoothing == pytest.approx(0.2)
    assert model.optimizer.weight_decay == pytest.approx(0.02)
    assert 0 < r.train_seconds <= wall
    assert r.images_per_second == pytest.approx(10 * 3 / r.train_seconds)
    # the model left behind is the best epoch's
    kept = evaluate.scores(y, train.predict(model, x_val).argmax(1))["macro_f1"]
    assert kept == pytest.approx(max(f1))


def test_fit_stops_early_and_weights_classes(monkeypatch):
    """Learning rate 0 and zero class weights: nothing changes, val never improves after epoch
    1, and the weighted loss is zero; other backends feed ArrayBatches, in order."""
    x, y = tiny_split(8)
    perm = train.pixel_permutation(4)
    model = tiny_model()
    recipe = Recipe(epochs=6, batch_size=2, learning_rate=0.0, patience=2, augment="none")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    calls, requested = [], []

    class Recorded(train.ArrayBatches):
        def __init__(self, *args):
            calls.append(args)
            super().__init__(*args)

        def __getitem__(self, i):
            requested.append(i)
            return super().__getitem__(i)

    monkeypatch.setattr(train, "ArrayBatches", Recorded)
    r = train.fit(
        model,
        x,
        y,
        train.permute(x, perm),
        y,
        recipe=recipe,
        weights={0: 0.0, 1: 0.0, 2: 0.0},
        seed=1,
        perm=perm,
        verbose=0,
    )
    (args,) = calls
    assert args[3:6] == (2, 1, "none") and args[6] is perm
    # ArrayBatches shuffles the images by the run's seed; Keras must not reorder its batches
    # (Keras may first peek at a batch or two to learn the shapes)
    assert requested[-12:] == [0, 1, 2, 3] * 3
    assert (r.epochs_run, r.best_epoch, r.stop_reason) == (3, 1, "early_stopping")
    assert len(r.history["loss"]) == 3 and r.history["loss"] == [0.0, 0.0, 0.0]
    assert r.images_per_second == pytest.approx(8 * 3 / r.train_seconds)


# --- The rules at their edges (issue 34, item 6): each test below fails when a constant of the
# rule moves by one step or a branch is taken the other way.


def test_the_plateau_threshold_is_a_hundredth_of_val_macro_f1():
    # three epochs: the last two judged against the first
    assert plateaued([0.5, 0.5095, 0.5095])  # gained 0.0095: flat (fails at a threshold 0.009)
    assert not plateaued([0.5, 0.5105, 0.5105])  # gained 0.0105: rising (passes at 0.011)
    assert plateaued([0.5, 0.5095, 0.5095], gain=0.009) is False  # the threshold is used


def _flat_on_a_tail_of(values: list[float], tail: int) -> bool:
    """The rule written out for one tail length: its mean against the best before it."""
    return sum(values[-tail:]) / tail - max(values[:-tail]) < 0.01


def _flat_on_a_tail_of_exactly(n: int, tail: int) -> list[float]:
    """n epochs that count as flat when the tail is `tail` epochs long, and not when it is one
    longer (it takes in the spike of 0.5 and is judged against the zeros before it) or one
    shorter (it loses the dip to 0.0 and sits 0.02 above the spike)."""
    return [0.0] * (n - tail - 1) + [0.5, 0.0] + [0.52] * (tail - 1)


def test_the_tail_is_a_quarter_of_the_epochs_rounded_down_and_at_least_two():
    for n in range(3, 101):
        tail = max(2, n // 4)
        curve = _flat_on_a_tail_of_exactly(n, tail)
        assert len(curve) == n
        neighbours = [t for t in (tail - 1, tail, tail + 1) if 0 < t < n]
        assert [t for t in neighbours if _flat_on_a_tail_of(curve, t)] == [tail], n
        assert plateaued(curve), n


class ScriptedModel:
    """What `fit` touches of a Keras model, with a scripted history instead of training."""

    output_shape = (None, 3)

    def __init__(self, history: dict[str, list[float]]):
        self.history = history

    def compile(self, **kwargs):
        pass

    def fit(self, batches, epochs, callbacks, verbose, shuffle):
        time.sleep(0.001)
        return SimpleNamespace(history=self.history)


@pytest.mark.parametrize("selection_flat", [True, False])
def test_the_plateau_is_judged_on_val_macro_f1_alone(monkeypatch, selection_flat):
    flat, rising = [0.5] * 8, [0.1 * i for i in range(8)]
    assert plateaued(flat) and not plateaued(rising)
    others = ("loss", "accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy")
    history = {k: list(rising if selection_flat else flat) for k in (*others, "learning_rate")}
    history["val_macro_f1"] = list(flat if selection_flat else rising)
    monkeypatch.setattr(train, "make_dataset", lambda *args: None)
    x, y = tiny_split(4)
    r = train.fit(
        ScriptedModel(history),
        x,
        y,
        x,
        y,
        recipe=Recipe(epochs=8),
        weights={0: 1.0, 1: 1.0, 2: 1.0},
        seed=0,
        verbose=0,
    )
    assert r.plateaued is selection_flat
    assert (r.epochs_run, r.stop_reason) == (8, "schedule_end")


def test_the_square_root_is_taken_before_the_cap():
    # one image among 61: balanced weight 30.5, its root 5.52 -- under the cap of 10, which
    # would leave sqrt(10) = 3.16 if it were applied first
    rare = np.array([0] * 60 + [1])
    assert train.class_weights(rare, 2, "sqrt", cap=10.0) == pytest.approx(
        {0: (61 / 120) ** 0.5, 1: 30.5**0.5}
    )
    # one image among 401: balanced 200.5, root 14.2 -- capped at 10 (not sqrt(10))
    rarer = np.array([0] * 400 + [1])
    recipe = Recipe(epochs=1)
    capped = train.class_weights(rarer, 2, recipe.class_weighting, recipe.class_weight_cap)
    assert capped == pytest.approx({0: (401 / 800) ** 0.5, 1: 10.0})
    # without the cap the root stands
    assert train.class_weights(rarer, 2, "sqrt", cap=0.0)[1] == pytest.approx(200.5**0.5)
    assert train.class_weights(rarer, 2, "sqrt")[1] == pytest.approx(200.5**0.5)
    # the cap binds only above it: one step under and over the weight
    assert train.class_weights(rarer, 2, "sqrt", cap=15.0)[1] == pytest.approx(200.5**0.5)
    assert train.class_weights(rarer, 2, "sqrt", cap=14.0)[1] == pytest.approx(14.0)
    assert train.class_weights(rarer, 2, "balanced", cap=201.0)[1] == pytest.approx(200.5)
    assert train.class_weights(rarer, 2, "balanced", cap=200.0)[1] == pytest.approx(200.0)


def test_the_recipe_defaults_warm_up_two_epochs_to_the_peak_then_decay_to_zero():
    recipe = Recipe(epochs=6)
    opt = recipe.optimizer(10)
    assert lr_at(opt, 0) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(opt, 10) == pytest.approx(5e-4)  # half-way up after one epoch
    assert lr_at(opt, 19) == pytest.approx(1e-3 * 19 / 20)
    assert lr_at(opt, 20) == pytest.approx(1e-3)  # the peak after two
    assert lr_at(opt, 40) == pytest.approx(5e-4)  # half-way down the 40 steps of decay
    last = 1e-3 * 0.5 * (1 + math.cos(math.pi * 39 / 40))
    assert lr_at(opt, 59) == pytest.approx(last, abs=1e-9)
    assert lr_at(opt, 60) == pytest.approx(0.0, abs=1e-12)  # zero at the last step
    assert (recipe.schedule, recipe.patience) == ("cosine", 0)  # no early stopping
    assert (recipe.label_smoothing, recipe.augment) == (0.1, "standard")


def test_the_warm_up_is_cut_only_when_it_would_take_the_whole_run():
    # warm-up of epochs - 1: kept whole (4 epochs: 3 up, 1 down)
    opt = Recipe(epochs=4, warmup_epochs=3, learning_rate=0.3).optimizer(2)
    assert lr_at(opt, 3) == pytest.approx(0.15)
    assert lr_at(opt, 6) == pytest.approx(0.3)
    assert lr_at(opt, 7) == pytest.approx(0.15)
    assert lr_at(opt, 8) == pytest.approx(0.0, abs=1e-9)
    # warm-up of exactly the run: cut to epochs - 1, the same schedule
    cut = Recipe(epochs=4, warmup_epochs=4, learning_rate=0.3).optimizer(2)
    for step in (3, 6, 7, 8):
        assert lr_at(cut, step) == pytest.approx(lr_at(opt, step), abs=1e-9)


# Five val images, four of class 0: always answering 0 scores a higher accuracy than a model
# that finds the rare class but confuses two common ones; macro-F1 ranks them the other way.
Y_SKEW = np.array([0, 0, 0, 0, 1])
MAJORITY, FINDS_THE_RARE = [0, 0, 0, 0, 0], [0, 0, 1, 1, 1]


def _skewed_epochs(preds, patience=0):
    queue = list(preds)
    model = FakeModel()
    cb = train.ValSelection(lambda: probs_for(queue.pop(0)), Y_SKEW, patience)
    cb.set_model(model)
    epochs = 0
    for epoch in range(len(preds)):
        if model.stop_training:
            break
        model.weights_now = epoch + 1
        cb.on_epoch_end(epoch, {})
        epochs += 1
    cb.on_train_end()
    return cb, model, epochs


def test_the_kept_epoch_is_the_best_on_val_macro_f1_not_on_accuracy():
    majority, rare = (evaluate.scores(Y_SKEW, np.array(p)) for p in (MAJORITY, FINDS_THE_RARE))
    assert majority["accuracy"] > rare["accuracy"] and majority["macro_f1"] < rare["macro_f1"]
    for preds, kept in (([FINDS_THE_RARE, MAJORITY], 1), ([MAJORITY, FINDS_THE_RARE], 2)):
        cb, model, _ = _skewed_epochs(preds)
        assert cb.best_epoch == kept and cb.best == pytest.approx(rare["macro_f1"])
        assert np.array_equal(model.restored[0], [kept, kept])
    # patience counts epochs without a better macro-F1: a better accuracy does not reset it
    cb, model, epochs = _skewed_epochs([FINDS_THE_RARE, MAJORITY, FINDS_THE_RARE], patience=1)
    assert epochs == 2 and cb.stopped_early and cb.best_epoch == 1
