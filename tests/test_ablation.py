"""The mechanism experiments' networks and train subsets (analysis.models.ablation)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from analysis.data.cache import SplitArrays
from analysis.models import ablation
from analysis.models import networks as models

P = {"image_size": 12, "kernel_sizes": [3, 3], "filters": [4, 8], "bn_momentum": 0.9}


def direct_local(x, kernel, k, bias=None):
    """A locally connected layer by the definition: zero padding, one filter per position."""
    n, h, w, c = x.shape
    before = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (before, k - 1 - before), (before, k - 1 - before), (0, 0)))
    kern = kernel.reshape(h, w, k, k, c, -1)
    out = np.zeros((n, h, w, kern.shape[-1]))
    for i in range(h):
        for j in range(w):
            out[:, i, j] = np.einsum("bklc,klco->bo", xp[:, i : i + k, j : j + k], kern[i, j])
            if bias is not None:
                out[:, i, j] += bias.reshape(h, w, -1)[i, j]
    return out


@pytest.mark.parametrize(("k", "bias"), [(3, False), (5, True), (1, False)])
def test_locally_connected_equals_the_direct_computation(k, bias):
    x = np.random.default_rng(0).normal(size=(2, 6, 5, 3)).astype("float32")
    layer = ablation.LocallyConnected2D(4, k, use_bias=bias)
    y = np.asarray(layer(x))
    b = np.random.default_rng(1).normal(size=(30, 4)).astype("float32") if bias else None
    if bias:
        layer.bias.assign(b)
        y = np.asarray(layer(x))
    assert y.shape == (2, 6, 5, 4)
    np.testing.assert_allclose(y, direct_local(x, np.asarray(layer.kernel), k, b), atol=1e-5)


def test_positions_do_not_share_weights():
    layer = ablation.LocallyConnected2D(2, 3)
    x = np.ones((1, 4, 4, 1), "float32")
    layer(x)
    kernel = np.asarray(layer.kernel).copy()
    kernel[5] += 1.0  # one position's filter only (row 1, column 1)
    layer.kernel.assign(kernel)
    moved = np.asarray(layer(x)) - direct_local(x, kernel - (np.arange(16) == 5)[:, None, None], 3)
    changed = np.argwhere(np.abs(moved).sum(-1)[0] > 1e-6)
    assert changed.tolist() == [[1, 1]]


def test_patches_are_in_extract_patches_order():
    x = np.random.default_rng(2).normal(size=(1, 5, 5, 2)).astype("float32")
    ours = np.asarray(ablation.same_patches(x, 3))
    theirs = np.asarray(keras.ops.image.extract_patches(x, (3, 3), (1, 1), padding="same"))
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_locally_connected_network_parameters_are_analytic():
    net = ablation.build({**P, "model": "locally_connected"}, n_classes=5, seed=0)
    # block 1: 12×12 positions, 3·3·3 inputs, 4 filters; block 2 (after pooling): 6×6, 3·3·4, 8
    local = 12 * 12 * 27 * 4 + 6 * 6 * 36 * 8
    batch_norm = 4 * (4 + 8)  # gamma, beta, moving mean and variance per channel
    head = 8 * 5 + 5  # global average pooling -> softmax
    assert net.count_params() == local + batch_norm + head
    s = ablation.summary(net)
    cnn = models.summary(models.build_cnn(12, 5, (3, 3), (4, 8)))
    # a convolution's arithmetic and receptive field, without its sharing
    assert s["flops_per_image"] == cnn["flops_per_image"]
    assert [r["receptive_field"] for r in s["receptive_field_per_layer"]] == [
        r["receptive_field"] for r in cnn["receptive_field_per_layer"]
    ]


def test_flatten_head_and_dense_widths_have_their_parameters():
    flat = ablation.build({**P, "model": "cnn", "head": "flatten"}, n_classes=5, seed=0)
    gap = models.build_cnn(12, 5, (3, 3), (4, 8))
    assert [layer.name for layer in flat.layers][:-3] == [layer.name for layer in gap.layers][:-3]
    assert isinstance(flat.layers[-3], keras.layers.Flatten)
    # the same convolutions; the head sees 3×3×8 positions instead of 8 averages
    assert flat.count_params() - gap.count_params() == (3 * 3 * 8 - 8) * 5
    dense = ablation.build({**P, "model": "dense", "dense_units": [7, 3]}, n_classes=5, seed=0)
    assert dense.count_params() == (12 * 12 * 3 + 1) * 7 + (7 + 1) * 3 + (3 + 1) * 5
    base = ablation.build_dense(12, 5, (512, 256))
    assert base.count_params() == models.build_baseline(12, 5).count_params()
    assert ablation.build({**P, "model": "baseline"}, 5, 0).name == "baseline"


def test_build_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="model must be one of"):
        ablation.build({**P, "model": "transformer"}, 5, 0)
    with pytest.raises(ValueError, match="head must be one of"):
        ablation.build({**P, "model": "cnn", "head": "attention"}, 5, 0)
    with pytest.raises(ValueError, match="applies to the convolutional"):
        ablation.build({**P, "model": "baseline", "head": "flatten"}, 5, 0)


def test_design_text_names_the_variant():
    assert "locally connected" in ablation.design_text({"model": "locally_connected"})
    assert "Flatten" in ablation.design_text({"model": "cnn", "head": "flatten"})
    assert ablation.design_text({"model": "cnn"}) == models.DESIGN["cnn"]


def test_subsets_are_nested_stratified_and_deterministic():
    y = np.repeat([0, 1, 2, 7], [100, 40, 9, 1])
    tenth, quarter, half = (ablation.nested_subset(y, f) for f in (0.1, 0.25, 0.5))
    assert set(tenth) <= set(quarter) <= set(half)
    counts = {f: np.bincount(y[s], minlength=8) for f, s in ((0.1, tenth), (0.5, half))}
    assert counts[0.1][[0, 1, 2, 7]].tolist() == [10, 4, 1, 1]  # ceil, at least one each
    assert counts[0.5][[0, 1, 2, 7]].tolist() == [50, 20, 5, 1]
    assert np.array_equal(tenth, ablation.nested_subset(y, 0.1))
    assert np.all(np.diff(tenth) > 0)  # original order kept
    assert not np.array_equal(tenth, ablation.nested_subset(y, 0.1, seed=7))
    assert len(ablation.nested_subset(y, 1.0)) == len(y)
    with pytest.raises(ValueError, match="train_fraction"):
        ablation.nested_subset(y, 0.0)


def test_train_fraction_cuts_train_alone():
    def split(name, n):
        return SplitArrays(
            name,
            np.arange(n * 12).reshape(n, 2, 2, 3).astype("uint8"),
            np.arange(n) % 3,
            [f"{name}{i}" for i in range(n)],
            np.full(n, 256),
            np.full(n, 192),
            ["RGB"] * n,
        )

    @dataclasses.dataclass
    class Data:
        splits: dict

    data = Data({"train": split("train", 30), "val": split("val", 9), "test": split("test", 6)})
    cut = ablation.with_train_fraction(data, 0.5)
    tr = cut.splits["train"]
    assert len(tr.x) == len(tr.y) == len(tr.files) == len(tr.mode) == len(tr.width) == 15
    idx = ablation.nested_subset(data.splits["train"].y, 0.5)
    assert tr.files == [f"train{i}" for i in idx]
    assert np.array_equal(tr.x, data.splits["train"].x[idx])
    assert cut.splits["val"] is data.splits["val"] and cut.splits["test"] is data.splits["test"]
    assert ablation.with_train_fraction(data, 1.0) is data
