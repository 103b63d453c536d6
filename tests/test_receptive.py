"""The effective receptive field (analysis.figures.receptive) against maps worked out by hand, and
the unit's window against automatic differentiation and the networks' own descriptions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from analysis.figures import receptive
from analysis.models import networks


def ones_chain(size: int, *convs: tuple[int, int, str], pool: bool = False) -> keras.Model:
    """Linear convolutions whose kernels are all ones (k, stride, padding), one channel."""
    x = inputs = keras.Input((size, size, 1))
    for i, (k, s, pad) in enumerate(convs):
        x = keras.layers.Conv2D(
            1, k, strides=s, padding=pad, use_bias=False, kernel_initializer="ones", name=f"c{i}"
        )(x)
    if pool:
        x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x)


def test_two_stacked_3x3_ones_kernels_spread_as_a_triangle_by_hand():
    # centre unit of a 9x9 map looks at pixels 2..6; the count of paths to each pixel is
    # [1, 2, 3, 2, 1] per axis: 81 in all, 9 to the centre pixel
    model = ones_chain(9, (3, 1, "same"), (3, 1, "same"))
    unit = receptive.centre_unit(model)
    assert (unit.layer, unit.row, unit.centre, unit.window) == ("c1", 4, 4.0, 5)
    erf = receptive.erf_map(model, np.random.default_rng(0).uniform(0, 1, (3, 9, 9, 1)), unit)
    tri = np.array([1, 2, 3, 2, 1.0])
    expected = np.zeros((9, 9))
    expected[2:7, 2:7] = np.outer(tri, tri) / 81
    np.testing.assert_allclose(erf, expected, atol=1e-7)
    # 9/81 in the centre pixel, 49/81 in the 3x3 around it, all of it in the 5x5
    assert receptive.used_side(erf, unit.centre, 0.1) == 1
    assert receptive.used_side(erf, unit.centre, 0.12) == 3
    assert receptive.used_side(erf, unit.centre, 49 / 81) == 3
    assert receptive.used_side(erf, unit.centre, 0.61) == 5
    assert receptive.used_side(erf, unit.centre, 0.95) == 5
    d = receptive.describe(erf, unit)
    assert d["used_of_window"] == 1.0 and d["window_in_image"] == 5
    # per axis the mean squared offset is (1*4 + 2*1 + 3*0 + 2*1 + 1*4) / 9; two axes add up
    assert d["radius_rms"] == pytest.approx(np.sqrt(2 * 12 / 9))


@pytest.mark.parametrize(
    "convs, pool, size, centre, window",
    [
        # valid: no padding, unit 3 of the 7-wide map starts at pixel 3
        ([(3, 1, "valid")], False, 9, 4.0, 3),
        # stride 2, 'same' on 8 px: padding 1 in all, none of it before, so unit 2 starts at 4
        ([(3, 2, "same")], False, 8, 5.0, 3),
        # padding 1 before, then pooling: unit 2 of the 4-wide map starts at pixel 3
        ([(3, 1, "same")], True, 8, 4.5, 4),
        # stride 2 on 9 px: 'same' pads 2, 1 before: unit 2 of 5 starts at pixel 3
        ([(3, 2, "same"), (3, 1, "same")], False, 9, 4.0, 7),
    ],
)
def test_the_units_window_is_where_its_gradient_reaches(convs, pool, size, centre, window):
    model = ones_chain(size, *convs, pool=pool)
    unit = receptive.centre_unit(model)
    assert (unit.centre, unit.window) == (centre, window)
    images = np.random.default_rng(1).uniform(0, 1, (64, size, size, 1))
    rows = np.flatnonzero(receptive.erf_map(model, images, unit).sum(axis=1) > 0)
    lo, hi = centre - (window - 1) / 2, centre + (window - 1) / 2
    # inside the window, and (where the image holds it) filling it
    assert rows.min() == max(lo, 0) and rows.max() == min(hi, size - 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"kernel_sizes": (5, 5, 5, 5)},
        {"kernel_sizes": (3, 3, 5, 5)},
        {"downsample": "stride"},
        {"first_stride": 2},
        {"padding": "valid"},
        {"kernel_sizes": (3, 3), "filters": (32, 64)},
    ],
)
def test_the_window_is_the_networks_described_receptive_field(kwargs):
    model = networks.build_cnn(128, 5, **kwargs)
    unit = receptive.centre_unit(model)
    described = networks.summary(model)["receptive_field_per_layer"][-1]
    assert unit.window == described["receptive_field"]
    assert unit.layer == receptive.last_spatial_layer(model)
    assert model.get_layer(unit.layer).output.shape[1] // 2 == unit.row


def test_a_network_without_a_spatial_map_or_gradient_is_refused():
    x = inputs = keras.Input((4, 4, 1))
    dense = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with pytest.raises(receptive.ReceptiveError, match="no spatial feature map"):
        receptive.centre_unit(dense)
    zeros = ones_chain(5, (3, 1, "same"))
    zeros.get_layer("c0").set_weights([np.zeros((3, 3, 1, 1))])
    with pytest.raises(receptive.ReceptiveError, match="zero on every image"):
        receptive.erf_map(zeros, np.ones((2, 5, 5, 1)))


def test_used_side_refuses_a_share_outside_zero_to_one():
    with pytest.raises(ValueError, match="share"):
        receptive.used_side(np.ones((3, 3)) / 9, 1.0, 0.0)
    assert receptive.used_side(np.ones((3, 3)) / 9, 1.0, 1.0) == 3


def test_sample_spaces_the_test_images_evenly():
    assert receptive.sample(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert receptive.sample(9, 3).tolist() == [0, 4, 8]
    assert len(set(receptive.sample(1000, 256))) == 256
