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
    # Worked out by hand: convolution weights (no bias), 4 batch-norm values per channel, the
    # dense head with its bias.
    channels = [3, 32, 64, 128, 256]
    conv = sum(
        k * k * cin * cout
        for k, cin, cout in zip(kernels, channels[:-1], channels[1:], strict=True)
    )
    assert s["parameters"] == conv + 4 * sum(channels[1:]) + 256 * 24 + 24
    assert s["trainable_parameters"] == conv + 2 * sum(channels[1:]) + 256 * 24 + 24
    by_name = {layer["name"].split("_")[0]: layer for layer in s["layers"]}
    k1, k2 = kernels[0], kernels[1]
    assert by_name["conv1"]["flops"] == 2 * k1 * k1 * 3 * 32 * 64 * 64
    assert by_name["conv1"]["parameters"] == k1 * k1 * 3 * 32  # no bias: batch norm follows
    # The second block sees 32 input channels at 32 x 32 (after one pooling).
    assert by_name["conv2"]["flops"] == 2 * k2 * k2 * 32 * 64 * 32 * 32
    assert by_name["classes"]["flops"] == 2 * 256 * 24


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
