"""Model builders and their computed descriptions."""

from __future__ import annotations

import pytest

from analysis import models


def expected_receptive_fields(kernels):
    """Independent recurrence: r += (k - 1) * jump; jump *= stride (conv stride 1, pool 2x2/2)."""
    r, jump, out = 1, 1, []
    for k in kernels:
        r += (k - 1) * jump
        out.append(r)
        r += (2 - 1) * jump
        jump *= 2
        out.append(r)
    return out


@pytest.mark.parametrize("kernels", [(3, 3, 3, 3), (5, 5, 5, 5), (7, 7, 7, 7), (3, 3, 5, 5)])
def test_cnn_description(kernels):
    model = models.build_cnn(64, 24, kernels)
    s = models.summary(model)
    assert [r["receptive_field"] for r in s["receptive_field_per_layer"]] == (
        expected_receptive_fields(kernels)
    )
    assert s["parameters"] == model.count_params()
    conv1 = next(layer for layer in s["layers"] if layer["name"].startswith("conv1"))
    k = kernels[0]
    assert conv1["flops"] == 2 * k * k * 3 * 32 * 64 * 64
    assert conv1["parameters"] == k * k * 3 * 32  # no bias: batch norm follows


def test_kernels_change_only_the_kernels():
    small = models.summary(models.build_cnn(64, 24, (3, 3, 3, 3)))
    large = models.summary(models.build_cnn(64, 24, (5, 5, 5, 5)))
    shapes = [(lay["kind"], lay["output_shape"]) for lay in small["layers"]]
    assert shapes == [(lay["kind"], lay["output_shape"]) for lay in large["layers"]]
    assert large["parameters"] > small["parameters"]


def test_baseline_has_no_convolution():
    s = models.summary(models.build_baseline(32, 24))
    assert not any(layer["kind"] == "Conv2D" for layer in s["layers"])
    dense = next(layer for layer in s["layers"] if layer["name"] == "dense_512")
    assert dense["parameters"] == 32 * 32 * 3 * 512 + 512
